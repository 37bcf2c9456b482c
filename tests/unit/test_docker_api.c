/* The docker runtime's parsing of what the daemon sends: the multiplexed log stream
 * and a container's exit state. */
#include "check.h"
#include "docker_api.h"

#include <string.h>

/* A frame header: stream, 0, 0, 0, big-endian length. */
static size_t frame(unsigned char *p, int stream, const char *text)
{
	size_t n = strlen(text);

	p[0] = (unsigned char)stream;
	p[1] = p[2] = p[3] = 0;
	p[4] = (unsigned char)(n >> 24);
	p[5] = (unsigned char)(n >> 16);
	p[6] = (unsigned char)(n >> 8);
	p[7] = (unsigned char)n;
	memcpy(p + 8, text, n);
	return 8 + n;
}

static int reason(const char *state_json, char *why, size_t len)
{
	json_t *st = json_loads(state_json, 0, NULL);
	int clean = dk_exit_reason(st, why, len);

	json_decref(st);
	return clean;
}

int main(void)
{
	unsigned char in[256];
	struct hio_buf b;
	char why[128];
	size_t n = 0;

	n += frame(in + n, 1, "out line\n");
	n += frame(in + n, 2, "err line\n");
	n += frame(in + n, 1, "");
	hio_buf_init(&b, 1024);
	CHECK(dk_demux(in, n, &b) == 0);
	CHECK(b.len == 18 && memcmp(b.data, "out line\nerr line\n", 18) == 0);
	hio_buf_free(&b);

	/* Truncated: the whole frames before it are kept. */
	hio_buf_init(&b, 1024);
	CHECK(dk_demux(in, n - 3 - 8, &b) == -1);
	CHECK(b.len == 9 && memcmp(b.data, "out line\n", 9) == 0);
	hio_buf_free(&b);

	/* A length beyond what arrived, a bad stream byte, padding not zero. */
	hio_buf_init(&b, 1024);
	n = frame(in, 1, "abc");
	in[7] = 200;
	CHECK(dk_demux(in, n, &b) == -1 && b.len == 0);
	n = frame(in, 3, "abc");
	CHECK(dk_demux(in, n, &b) == -1 && b.len == 0);
	n = frame(in, 1, "abc");
	in[2] = 1;
	CHECK(dk_demux(in, n, &b) == -1 && b.len == 0);
	CHECK(dk_demux(in, 0, &b) == 0 && b.len == 0);
	hio_buf_free(&b);

	/* The bound of the output holds. */
	hio_buf_init(&b, 4);
	n = frame(in, 1, "too long");
	CHECK(dk_demux(in, n, &b) == -1 && b.len == 0);
	hio_buf_free(&b);

	CHECK(reason("{\"ExitCode\": 0}", why, sizeof(why)) == 1);
	CHECK(strcmp(why, "exited with status 0") == 0);
	CHECK(reason("{\"ExitCode\": 2}", why, sizeof(why)) == 0);
	CHECK(strcmp(why, "exited with status 2") == 0);
	CHECK(reason("{\"ExitCode\": 137}", why, sizeof(why)) == 0);
	CHECK(strcmp(why, "killed by signal 9") == 0);
	CHECK(reason("{\"ExitCode\": 137, \"OOMKilled\": true}", why, sizeof(why)) == 0);
	CHECK(strcmp(why, "killed for memory (exit status 137)") == 0);
	CHECK(reason("{\"ExitCode\": \"x\"}", why, sizeof(why)) == 0);
	CHECK(strstr(why, "no exit status") != NULL);
	CHECK(reason("{}", why, sizeof(why)) == 0);
	CHECK(dk_exit_reason(NULL, why, sizeof(why)) == 0);
	return check_result("test_docker_api");
}
