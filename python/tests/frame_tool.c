/* hio-frame-tool: the C codec (lib/frame.c) on the command line, so the Python codec's
 * tests compare against the real thing.
 *   hio-frame-tool encode TYPE FLAGS META_JSON [BODYFILE]   one frame on stdout
 *   hio-frame-tool decode                                    frames from stdin, one line
 *       each: "TYPE FLAGS BODY_LEN META_JSON" with the body appended to $BODY_OUT when set;
 *       "ERROR why" and exit 1 on malformed input */
#include "hio_frame.h"
#include "hio_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOOL_BODY_MAX (64u << 20)

static int stdout_sink(void *ud, const void *p, size_t n)
{
	(void)ud;
	return hio_write_all(1, p, n);
}

static int body_fd = -1;

static int on_body(void *ud, const void *p, size_t n)
{
	(void)ud;
	return body_fd < 0 ? 0 : hio_write_all(body_fd, p, n);
}

static int on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	char *m = json_dumps(meta, JSON_COMPACT);

	(void)ud;
	printf("%d %d %llu %s\n", h->type, h->flags, (unsigned long long)h->body_len, m ? m : "?");
	free(m);
	return 0;
}

static int encode(char **argv, int argc)
{
	long type, flags;
	json_error_t jerr;
	json_t *meta;
	size_t len = 0;
	char *body = NULL;
	int rc;

	if (hio_parse_long(argv[2], 0, 255, &type) < 0 ||
	    hio_parse_long(argv[3], 0, 255, &flags) < 0)
		return 2;
	meta = json_loads(argv[4], 0, &jerr);
	if (!meta) {
		fprintf(stderr, "hio-frame-tool: bad meta: %s\n", jerr.text);
		return 2;
	}
	if (argc == 6 && !(body = hio_file_read(argv[5], TOOL_BODY_MAX, &len))) {
		perror(argv[5]);
		json_decref(meta);
		return 1;
	}
	rc = hio_frame_write(stdout_sink, NULL, (int)type, (int)flags, meta, body ? body : "", -1,
			     len);
	json_decref(meta);
	free(body);
	return rc < 0;
}

static int decode(void)
{
	struct hio_frame_dec_cbs cbs = {.on_body = on_body, .on_end = on_end};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, NULL);
	const char *out = getenv("BODY_OUT");
	int r, rc = 0;

	if (!d)
		return 1;
	if (out && (body_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		perror(out);
		hio_frame_dec_free(d);
		return 1;
	}
	while ((r = hio_frame_dec_read_one(d, 0)) == 1)
		fflush(stdout);
	if (r < 0) {
		printf("ERROR %s\n", hio_frame_dec_error(d));
		rc = 1;
	}
	hio_frame_dec_free(d);
	if (body_fd >= 0)
		close(body_fd);
	return rc;
}

int main(int argc, char **argv)
{
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "encode"))
		return encode(argv, argc);
	if (argc == 2 && !strcmp(argv[1], "decode"))
		return decode();
	fprintf(stderr, "usage: see the comment at the top of python/tests/frame_tool.c\n");
	return 2;
}
