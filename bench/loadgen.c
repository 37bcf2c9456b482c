/* loadgen: offers messages to a running cluster at a rate that follows stages, for the
 * elasticity benchmark (bench/fig3). Each stage runs SECONDS with a rate going linearly
 * from FROM to TO messages/s. Messages are SIZE bytes, sent through hio_stream (P2P to
 * a free PE, the master's backlog when none is free for 1 s).
 *   HIO_MASTER=URL HIO_TOKEN=T loadgen SIZE SECONDS:FROM:TO...
 * Prints one line per second: t offered_total acked_total, then a summary line:
 *   sent acked via_pe via_backlog given_up */
#include "hio_log.h"
#include "hio_stream.h"
#include "hio_util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STAGES_MAX 16
#define LOADGEN_LANES 32
#define LOADGEN_QUEUE 100000 /* the connector's buffer: the source never blocks */

struct stage {
	double secs, from, to;
};

static atomic_ulong acked;

static void on_ack(void *ud, const struct hio_ack *a)
{
	(void)ud;
	(void)a;
	atomic_fetch_add(&acked, 1);
}

static void sleep_until(uint64_t t_ms)
{
	uint64_t now = hio_mono_ms();
	struct timespec ts;

	if (t_ms <= now)
		return;
	ts.tv_sec = (time_t)((t_ms - now) / 1000);
	ts.tv_nsec = (long)((t_ms - now) % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct stage st[STAGES_MAX];
	struct hio_stream_opts o = {0};
	struct hio_stream_stats stats;
	size_t size, nst = 0;
	long n;
	unsigned long sent = 0;
	char *buf, err[256], name[64];
	uint64_t t0, next_print;
	double credit = 0;
	uint64_t step = 0;
	hio_stream *s;

	if (argc < 3) {
		fprintf(stderr,
			"usage: HIO_MASTER=URL HIO_TOKEN=T loadgen SIZE SECONDS:FROM:TO...\n");
		return 2;
	}
	if (hio_parse_long(argv[1], 0, 1L << 40, &n) < 0) {
		fprintf(stderr, "loadgen: SIZE is a whole number\n");
		return 2;
	}
	size = (size_t)n;
	for (int i = 2; i < argc && nst < STAGES_MAX; i++, nst++)
		if (sscanf(argv[i], "%lf:%lf:%lf", &st[nst].secs, &st[nst].from, &st[nst].to) !=
		    3) {
			fprintf(stderr, "loadgen: bad stage '%s' (want SECONDS:FROM:TO)\n",
				argv[i]);
			return 2;
		}
	hio_log_set_level(HIO_LOG_ERROR);
	buf = malloc(size ? size : 1);
	if (!buf)
		return 1;
	memset(buf, 'x', size);
	o.master = getenv("HIO_MASTER");
	o.token = getenv("HIO_TOKEN");
	o.max_pes = LOADGEN_LANES;
	o.queue_max = LOADGEN_QUEUE;
	o.compress = HIO_COMPRESS_OFF;
	o.on_ack = on_ack;
	s = hio_stream_open(&o, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "loadgen: %s\n", err);
		return 1;
	}
	t0 = hio_mono_ms();
	next_print = t0 + 1000;
	/* 10 ms steps: each adds rate/100 messages of credit, whole ones are sent. */
	for (size_t k = 0; k < nst; k++) {
		long steps = (long)(st[k].secs * 100);

		for (long i = 0; i < steps; i++) {
			uint64_t t = hio_mono_ms();
			double rate =
			    st[k].from + (st[k].to - st[k].from) * (double)i / (double)steps;

			credit += rate / 100.0;
			while (credit >= 1) {
				snprintf(name, sizeof(name), "s%zu/m%06lu", k + 1, sent);
				if (hio_stream_send_buf(s, buf, size, name, NULL, 0, NULL) < 0) {
					fprintf(stderr, "loadgen: send failed: %s\n",
						strerror(errno));
					return 1;
				}
				sent++;
				credit -= 1;
			}
			if (t >= next_print) {
				printf("%.1f %lu %lu\n", (double)(t - t0) / 1000.0, sent,
				       atomic_load(&acked));
				fflush(stdout);
				next_print += 1000;
			}
			/* Absolute times, so a slow send does not stretch the schedule. */
			sleep_until(t0 + 10 * ++step);
		}
	}
	if (hio_stream_flush(s, 600000) < 0)
		fprintf(stderr, "loadgen: not every message was acknowledged within 10 min\n");
	hio_stream_get_stats(s, &stats);
	printf("sent %lu acked %llu via_pe %llu via_backlog %llu given_up %llu\n", sent,
	       (unsigned long long)stats.acked, (unsigned long long)stats.via_pe,
	       (unsigned long long)stats.via_backlog, (unsigned long long)stats.given_up);
	hio_stream_close(s);
	free(buf);
	return 0;
}
