/* hio_metrics: counters, gauges and latency histograms in Prometheus's text format
 * (exposition format 0.0.4), and the small HTTP endpoint that serves them.
 *
 * A daemon keeps its numbers where it likes (atomics, or fields under its own lock)
 * and registers a collector: at each scrape the collector writes its families through
 * the hio_mo_* calls. Histograms are struct hio_hist (atomics, lock-free observe) with
 * one fixed set of latency buckets, 0.5 ms to 60 s. See docs/operations.md. */
#ifndef HIO_METRICS_H
#define HIO_METRICS_H
#include "hio_buf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIO_METRICS_TEXT_MAX (4u << 20) /* one rendered scrape */
#define HIO_METRICS_COLLECTORS_MAX 32	/* collectors in one process */
#define HIO_HIST_BUCKETS 16		/* finite bucket bounds (then +Inf) */
#define HIO_METRICS_REPORT_MS 10000	/* an endpoint re-announces itself this often */
#define HIO_METRICS_TARGET_TTL_MS 30000 /* the master forgets a silent endpoint after */

enum hio_mtype { HIO_M_COUNTER, HIO_M_GAUGE, HIO_M_HISTOGRAM };

struct hio_hist {
	atomic_uint_least64_t bucket[HIO_HIST_BUCKETS + 1]; /* not cumulative; last: +Inf */
	atomic_uint_least64_t sum_us, count;
};

/* Monotonic microseconds: the start of a timed operation. */
uint64_t hio_hist_start(void);
void hio_hist_observe_us(struct hio_hist *h, uint64_t us);
/* Observes the time since t0 (from hio_hist_start). */
void hio_hist_done(struct hio_hist *h, uint64_t t0);

/* A scrape being written. Calls after an error (text over the limit, no memory) do
 * nothing; hio_metrics_render then fails. */
struct hio_metrics_out {
	struct hio_buf *b;
	int err;
};
/* # HELP and # TYPE of a family; its samples follow. */
void hio_mo_family(struct hio_metrics_out *o, const char *name, enum hio_mtype t, const char *help);
/* One sample with up to two labels (k NULL: none); label values are escaped. */
void hio_mo_u64(struct hio_metrics_out *o, const char *name, const char *k1, const char *v1,
		const char *k2, const char *v2, uint64_t v);
void hio_mo_double(struct hio_metrics_out *o, const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2, double v);
/* A whole family of one unlabelled metric: family, then the value. */
void hio_mo_counter(struct hio_metrics_out *o, const char *name, const char *help, uint64_t v);
void hio_mo_gauge(struct hio_metrics_out *o, const char *name, const char *help, double v);
/* A whole histogram family (name without _bucket; values in seconds). */
void hio_mo_hist(struct hio_metrics_out *o, const char *name, const char *help, struct hio_hist *h);

/* Collectors of this process. The registry's mutex is held while they run (lock
 * order: before any lock a collector takes), so a collector must not block on I/O. */
typedef void (*hio_metrics_fn)(struct hio_metrics_out *o, void *ud);
/* 0, or -1 when HIO_METRICS_COLLECTORS_MAX are registered. */
int hio_metrics_add(hio_metrics_fn fn, void *ud);
void hio_metrics_remove(hio_metrics_fn fn, void *ud);
/* Appends every collector's families (and libhio's own: the stream connector's) to b,
 * which should have max HIO_METRICS_TEXT_MAX. 0, or -1 when it did not fit. */
int hio_metrics_render(struct hio_buf *b);

/* libhio's stream connector (lib/stream.c) times these; rendered when used. */
extern struct hio_hist hio_stream_alloc_hist; /* allocate call to the master */
extern struct hio_hist hio_stream_send_hist;  /* one MSG frame written to a PE */
extern struct hio_hist hio_stream_ack_hist;   /* frame sent to its ACK (result stored) */

/* "Authorization" header value h carries "Bearer TOKEN" for token (constant time). */
int hio_metrics_bearer_ok(const char *h, const char *token);

/* --- the endpoint, for daemons that serve no HTTP of their own (libmicrohttpd) --- */
struct hio_metrics_srv_opts {
	const char *listen; /* "HOST:PORT"; port 0 picks one */
	const char *token;  /* required in Authorization: Bearer */
	/* When master is set, a thread announces the endpoint to it every
	 * HIO_METRICS_REPORT_MS (PUT /v1/metrics/targets/{id}) so Prometheus finds it
	 * through the master (docs/operations.md). */
	const char *master;
	const char *job; /* "hio-worker", "hio-pe", "hio-fs" */
	const char *id;	 /* the daemon's id; NULL: a new one */
};
struct hio_metrics_srv;
/* Serves GET /metrics. NULL with err when it cannot listen. */
struct hio_metrics_srv *hio_metrics_serve(const struct hio_metrics_srv_opts *o, char *err,
					  size_t errlen);
int hio_metrics_srv_port(const struct hio_metrics_srv *s);
void hio_metrics_srv_stop(struct hio_metrics_srv *s);
/* The --metrics-listen value: arg, else $HIO_METRICS_LISTEN, else NULL (off); "off"
 * is NULL too. */
const char *hio_metrics_listen_arg(const char *arg);

#endif
