/* raw_tcp: the baseline for the stream benchmarks. One client thread sends COUNT
 * messages of SIZE bytes over loopback TCP; the server reads each whole and answers
 * with one byte; the client waits for that byte before the next message.
 * Prints: size count seconds msgs/s MB/s */
#include "hio_net.h"
#include "hio_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t size;
static long count;
static int lfd;

static void *server(void *arg)
{
	char *buf = malloc(size ? size : 1);
	int fd = accept(lfd, NULL, NULL);

	(void)arg;
	for (long i = 0; i < count; i++) {
		if (hio_read_full(fd, buf, size) != (ssize_t)size || hio_net_send(fd, "k", 1) < 0)
			break;
	}
	close(fd);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	char err[256], ack;
	int port, fd;
	pthread_t th;
	char *msg;
	uint64_t t0, t1;

	if (argc != 3) {
		fprintf(stderr, "usage: raw_tcp SIZE COUNT\n");
		return 2;
	}
	long n;

	if (hio_parse_long(argv[1], 0, 1L << 40, &n) < 0 ||
	    hio_parse_long(argv[2], 1, 1L << 40, &count) < 0) {
		fprintf(stderr, "%s: SIZE and COUNT are whole numbers\n", argv[0]);
		return 2;
	}
	size = (size_t)n;
	lfd = hio_net_listen("127.0.0.1", 0, &port, err, sizeof(err));
	if (lfd < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pthread_create(&th, NULL, server, NULL);
	fd = hio_net_connect("127.0.0.1", port, 5000, err, sizeof(err));
	msg = calloc(1, size ? size : 1);
	t0 = hio_now_us();
	for (long i = 0; i < count; i++) {
		if (hio_net_send(fd, msg, size) < 0 || hio_read_full(fd, &ack, 1) != 1) {
			fprintf(stderr, "raw_tcp: transfer failed at message %ld\n", i);
			return 1;
		}
	}
	t1 = hio_now_us();
	pthread_join(th, NULL);
	double s = (double)(t1 - t0) / 1e6;
	printf("%zu %ld %.3f %.0f %.1f\n", size, count, s, count / s, size * count / s / 1e6);
	free(msg);
	close(fd);
	close(lfd);
	return 0;
}
