/* A program outside the tree: built against the installed libhio through pkg-config
 * (tests/e2e/libhio_pc.sh), it streams COUNT buffers to a running cluster and prints
 * how many were acknowledged. Only installed headers are used. */
#include <hio_config.h>
#include <hio_log.h>
#include <hio_stream.h>
#include <hio_util.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long acked, failed;

static void on_ack(void *ud, const struct hio_ack *ack)
{
	(void)ud;
	pthread_mutex_lock(&mu);
	if (ack->ok)
		acked++;
	else
		failed++;
	pthread_mutex_unlock(&mu);
}

static void log_line(void *ud, enum hio_log_level lvl, const char *line)
{
	(void)lvl;
	fprintf(ud, "external: %s\n", line);
}

int main(int argc, char **argv)
{
	struct hio_client_conf conf;
	struct hio_stream_opts o = {0};
	char err[256], name[64], body[64];
	long count;
	hio_stream *s;

	if (argc != 3 || hio_parse_long(argv[2], 1, 100000, &count) < 0) {
		fprintf(stderr, "usage: %s STATE_DIR COUNT\n", argv[0]);
		return 2;
	}
	hio_log_init("external");
	hio_log_set_func(log_line, stderr);
	if (hio_client_conf_load(&conf, argv[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	o.master = conf.master;
	o.token = conf.token;
	o.on_ack = on_ack;
	s = hio_stream_open(&o, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "cannot open a stream: %s\n", err);
		return 1;
	}
	for (long i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "external/m%05ld.txt", i);
		snprintf(body, sizeof(body), "message %ld from outside the tree\n", i);
		if (hio_stream_send_buf(s, body, strlen(body), name, NULL, 0, NULL) < 0) {
			fprintf(stderr, "send %s failed\n", name);
			break;
		}
	}
	if (hio_stream_flush(s, 120000) < 0)
		fprintf(stderr, "flush timed out\n");
	hio_stream_close(s);
	printf("acked %ld failed %ld\n", acked, failed);
	return acked == count ? 0 : 1;
}
