/* metrics.c: histograms, the registry of collectors and the text renderer
 * (Prometheus exposition format 0.0.4). */
#include "hio_metrics.h"

#include "hio_util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Upper bounds in microseconds: 0.5 ms .. 60 s, then +Inf. */
static const uint64_t bounds_us[HIO_HIST_BUCKETS] = {
    500,    1000,   2500,    5000,    10000,   25000,	 50000,	   100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};

struct hio_hist hio_stream_alloc_hist, hio_stream_send_hist, hio_stream_ack_hist;

uint64_t hio_hist_start(void)
{
	return hio_mono_us();
}

void hio_hist_observe_us(struct hio_hist *h, uint64_t us)
{
	size_t i = 0;

	while (i < HIO_HIST_BUCKETS && us > bounds_us[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void hio_hist_done(struct hio_hist *h, uint64_t t0)
{
	uint64_t now = hio_hist_start();

	hio_hist_observe_us(h, now > t0 ? now - t0 : 0);
}

/* ---- the writer ---- */

static void put(struct hio_metrics_out *o, const char *s, size_t n)
{
	if (!o->err && hio_buf_append(o->b, s, n) < 0)
		o->err = 1;
}

static void puts_(struct hio_metrics_out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Label values: backslash, double quote and line feed escaped. HELP text: the same
 * but for the quote, which the format leaves alone there. */
static void put_escaped(struct hio_metrics_out *o, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(o, "\\\\");
		else if (*s == '\n')
			puts_(o, "\\n");
		else if (quote && *s == '"')
			puts_(o, "\\\"");
		else
			put(o, s, 1);
	}
}

static const char *type_name(enum hio_mtype t)
{
	return t == HIO_M_COUNTER ? "counter" : t == HIO_M_GAUGE ? "gauge" : "histogram";
}

void hio_mo_family(struct hio_metrics_out *o, const char *name, enum hio_mtype t, const char *help)
{
	puts_(o, "# HELP ");
	puts_(o, name);
	puts_(o, " ");
	put_escaped(o, help, 0);
	puts_(o, "\n# TYPE ");
	puts_(o, name);
	puts_(o, " ");
	puts_(o, type_name(t));
	puts_(o, "\n");
}

static void put_labels(struct hio_metrics_out *o, const char *k1, const char *v1, const char *k2,
		       const char *v2)
{
	if (!k1 && !k2)
		return;
	puts_(o, "{");
	if (k1) {
		puts_(o, k1);
		puts_(o, "=\"");
		put_escaped(o, v1 ? v1 : "", 1);
		puts_(o, "\"");
	}
	if (k2) {
		puts_(o, k1 ? "," : "");
		puts_(o, k2);
		puts_(o, "=\"");
		put_escaped(o, v2 ? v2 : "", 1);
		puts_(o, "\"");
	}
	puts_(o, "}");
}

void hio_mo_u64(struct hio_metrics_out *o, const char *name, const char *k1, const char *v1,
		const char *k2, const char *v2, uint64_t v)
{
	char num[32];

	puts_(o, name);
	put_labels(o, k1, v1, k2, v2);
	snprintf(num, sizeof(num), " %" PRIu64 "\n", v);
	puts_(o, num);
}

void hio_mo_double(struct hio_metrics_out *o, const char *name, const char *k1, const char *v1,
		   const char *k2, const char *v2, double v)
{
	char num[48];

	puts_(o, name);
	put_labels(o, k1, v1, k2, v2);
	snprintf(num, sizeof(num), " %.15g\n", v);
	puts_(o, num);
}

void hio_mo_counter(struct hio_metrics_out *o, const char *name, const char *help, uint64_t v)
{
	hio_mo_family(o, name, HIO_M_COUNTER, help);
	hio_mo_u64(o, name, NULL, NULL, NULL, NULL, v);
}

void hio_mo_gauge(struct hio_metrics_out *o, const char *name, const char *help, double v)
{
	hio_mo_family(o, name, HIO_M_GAUGE, help);
	hio_mo_double(o, name, NULL, NULL, NULL, NULL, v);
}

void hio_mo_hist(struct hio_metrics_out *o, const char *name, const char *help, struct hio_hist *h)
{
	char metric[160], le[32];
	uint64_t cum = 0, count;

	hio_mo_family(o, name, HIO_M_HISTOGRAM, help);
	snprintf(metric, sizeof(metric), "%s_bucket", name);
	for (size_t i = 0; i < HIO_HIST_BUCKETS; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		snprintf(le, sizeof(le), "%g", (double)bounds_us[i] / 1e6);
		hio_mo_u64(o, metric, "le", le, NULL, NULL, cum);
	}
	cum += atomic_load_explicit(&h->bucket[HIO_HIST_BUCKETS], memory_order_relaxed);
	/* Observations land between the loads above: count is never below the buckets. */
	count = atomic_load_explicit(&h->count, memory_order_relaxed);
	if (count < cum)
		count = cum;
	hio_mo_u64(o, metric, "le", "+Inf", NULL, NULL, count);
	snprintf(metric, sizeof(metric), "%s_sum", name);
	hio_mo_double(o, metric, NULL, NULL, NULL, NULL,
		      (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
	snprintf(metric, sizeof(metric), "%s_count", name);
	hio_mo_u64(o, metric, NULL, NULL, NULL, NULL, count);
}

/* ---- the registry ---- */

/* Guards collectors and n_collectors, and is held while they run. Lock order: before
 * every lock a collector takes (a daemon's own). */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	hio_metrics_fn fn;
	void *ud;
} collectors[HIO_METRICS_COLLECTORS_MAX];
static size_t n_collectors;

int hio_metrics_add(hio_metrics_fn fn, void *ud)
{
	int rc = -1;

	pthread_mutex_lock(&reg_mu);
	if (n_collectors < HIO_METRICS_COLLECTORS_MAX) {
		collectors[n_collectors].fn = fn;
		collectors[n_collectors].ud = ud;
		n_collectors++;
		rc = 0;
	}
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

void hio_metrics_remove(hio_metrics_fn fn, void *ud)
{
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < n_collectors; i++)
		if (collectors[i].fn == fn && collectors[i].ud == ud) {
			collectors[i] = collectors[--n_collectors];
			break;
		}
	pthread_mutex_unlock(&reg_mu);
}

static void stream_collect(struct hio_metrics_out *o)
{
	if (!atomic_load(&hio_stream_alloc_hist.count) && !atomic_load(&hio_stream_send_hist.count))
		return;
	hio_mo_hist(o, "hio_stream_allocate_seconds",
		    "Stream connector: time to get a PE allocated by the master",
		    &hio_stream_alloc_hist);
	hio_mo_hist(o, "hio_stream_p2p_send_seconds",
		    "Stream connector: time to write one message to a PE (P2P transfer)",
		    &hio_stream_send_hist);
	hio_mo_hist(o, "hio_stream_ack_seconds",
		    "Stream connector: message sent to a PE until its result is stored",
		    &hio_stream_ack_hist);
}

int hio_metrics_render(struct hio_buf *b)
{
	struct hio_metrics_out o = {.b = b, .err = 0};

	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < n_collectors; i++)
		collectors[i].fn(&o, collectors[i].ud);
	pthread_mutex_unlock(&reg_mu);
	stream_collect(&o);
	return o.err ? -1 : 0;
}

int hio_metrics_bearer_ok(const char *h, const char *token)
{
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	return hio_token_eq(h, token);
}
