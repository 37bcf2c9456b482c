/* hio-probe: a test tool that speaks the wire protocol by hand, so tests can send
 * what a well-behaved peer never would.
 *   hio-probe hello HOST PORT TOKEN PIPELINE   HELLO, print WELCOME / ERROR: why / CLOSED
 *   hio-probe raw HOST PORT FILE               send FILE's bytes after a valid... nothing;
 *                                              print the first answer frame or CLOSED
 *   hio-probe session HOST PORT TOKEN PIPELINE FILE
 *                                              HELLO, then FILE's bytes; print the answer
 *   hio-probe frame ID NAME [BODYFILE]         write one MSG frame to stdout */
#include "hio_frame.h"
#include "hio_net.h"
#include "hio_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct answer {
	int type;
	char text[512];
};

static int on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct answer *a = ud;
	const char *e = json_string_value(json_object_get(meta, "error"));

	a->type = h->type;
	snprintf(a->text, sizeof(a->text), "%s", e ? e : "");
	return 0;
}

/* Prints the next frame from fd: WELCOME, ACK, ERROR: why, or CLOSED. */
static int print_answer(int fd)
{
	struct answer a = {0};
	struct hio_frame_dec_cbs cbs = {.on_end = on_end};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &a);
	int r;

	hio_net_set_timeout(fd, 10000);
	r = hio_frame_dec_read_one(d, fd);
	if (r <= 0)
		printf("CLOSED\n");
	else if (a.type == HIO_F_WELCOME)
		printf("WELCOME\n");
	else if (a.type == HIO_F_ERROR)
		printf("ERROR: %s\n", a.text);
	else
		printf("FRAME %d\n", a.type);
	hio_frame_dec_free(d);
	return 0;
}

static int dial(const char *host, const char *port)
{
	char err[256];
	long p;
	int fd;

	if (hio_parse_long(port, 1, 65535, &p) < 0) {
		fprintf(stderr, "hio-probe: bad port '%s'\n", port);
		return -1;
	}
	fd = hio_net_connect(host, (int)p, 5000, err, sizeof(err));
	if (fd < 0)
		fprintf(stderr, "hio-probe: %s\n", err);
	return fd;
}

static int send_file(int fd, const char *path)
{
	size_t len;
	char *data = hio_file_read(path, 1u << 30, &len);
	int rc;

	if (!data) {
		perror(path);
		return -1;
	}
	rc = hio_net_send(fd, data, len);
	free(data);
	return rc;
}

static int hello(int fd, const char *token, const char *pipeline)
{
	json_t *m = json_pack("{s:s, s:s}", "token", token, "pipeline", pipeline);
	int rc = hio_frame_send_meta(fd, HIO_F_HELLO, m);

	json_decref(m);
	return rc;
}

static int stdout_sink(void *ud, const void *p, size_t n)
{
	(void)ud;
	return hio_write_all(1, p, n);
}

int main(int argc, char **argv)
{
	int fd;

	if (argc == 6 && !strcmp(argv[1], "hello")) {
		if ((fd = dial(argv[2], argv[3])) < 0 || hello(fd, argv[4], argv[5]) < 0)
			return 1;
		return print_answer(fd);
	}
	if (argc == 5 && !strcmp(argv[1], "raw")) {
		if ((fd = dial(argv[2], argv[3])) < 0 || send_file(fd, argv[4]) < 0)
			return 1;
		shutdown(fd, SHUT_WR);
		return print_answer(fd);
	}
	if (argc == 7 && !strcmp(argv[1], "session")) {
		if ((fd = dial(argv[2], argv[3])) < 0 || hello(fd, argv[4], argv[5]) < 0)
			return 1;
		print_answer(fd);
		if (send_file(fd, argv[6]) < 0)
			return 1;
		shutdown(fd, SHUT_WR);
		return print_answer(fd);
	}
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "frame")) {
		size_t len = 0;
		char *body = argc == 5 ? hio_file_read(argv[4], 1u << 30, &len) : NULL;
		json_t *m = json_pack("{s:s, s:s, s:I}", "id", argv[2], "name", argv[3], "ts",
				      (json_int_t)hio_now_us());
		int rc =
		    hio_frame_write(stdout_sink, NULL, HIO_F_MSG, 0, m, body ? body : "", -1, len);
		json_decref(m);
		free(body);
		return rc < 0;
	}
	fprintf(stderr, "usage: see the comment at the top of tests/tools/hio-probe.c\n");
	return 2;
}
