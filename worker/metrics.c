/* metrics.c: the worker's counters for GET /metrics: the PEs it runs and how often
 * they started and ended (unasked: crashed or killed). */
#include "wk_metrics.h"

#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_least64_t started, exited, exited_unasked;

/* Takes w->mu (lock order: after the metrics registry's). */
static void collect(struct hio_metrics_out *o, void *ud)
{
	struct wk *w = ud;
	uint64_t running = 0, stopping = 0;

	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->npes; i++) {
		running += !w->pes[i].stopping;
		stopping += !!w->pes[i].stopping;
	}
	pthread_mutex_unlock(&w->mu);
	hio_mo_family(o, "hio_worker_pes", HIO_M_GAUGE, "PE processes of this worker, by state");
	hio_mo_u64(o, "hio_worker_pes", "state", "running", NULL, NULL, running);
	hio_mo_u64(o, "hio_worker_pes", "state", "stopping", NULL, NULL, stopping);
	hio_mo_gauge(o, "hio_worker_max_pes", "PEs this worker runs at most", w->max_pes);
	hio_mo_counter(o, "hio_worker_pe_starts_total", "PEs this worker started",
		       atomic_load(&started));
	hio_mo_family(o, "hio_worker_pe_exits_total", HIO_M_COUNTER,
		      "PE processes that ended; asked=\"no\": crashed or killed from outside");
	hio_mo_u64(o, "hio_worker_pe_exits_total", "asked", "yes", NULL, NULL,
		   atomic_load(&exited) - atomic_load(&exited_unasked));
	hio_mo_u64(o, "hio_worker_pe_exits_total", "asked", "no", NULL, NULL,
		   atomic_load(&exited_unasked));
}

struct hio_metrics_srv *wk_metrics_start(struct wk *w, const char *listen)
{
	struct hio_metrics_srv_opts mo = {.listen = listen,
					  .token = w->token,
					  .master = w->master,
					  .job = "hio-worker",
					  .id = w->id};
	struct hio_metrics_srv *s;
	char err[256], host[256], pe_listen[300];
	int port;

	if (hio_metrics_add(collect, w) < 0) {
		hio_err("metrics: no room for the worker's collector; not serving /metrics");
		return NULL;
	}
	/* Each PE serves its own on a port of its choosing, announced the same way. Set
	 * before any thread of ours starts: setenv races with getenv elsewhere. */
	if (hio_net_split(listen, host, sizeof(host), &port) == 0) {
		snprintf(pe_listen, sizeof(pe_listen), strchr(host, ':') ? "[%s]:0" : "%s:0", host);
		if (setenv("HIO_METRICS_LISTEN", pe_listen, 1) < 0)
			hio_warn(
			    "metrics: cannot pass the metrics address to PEs; they serve none");
	}
	s = hio_metrics_serve(&mo, err, sizeof(err));
	if (!s) {
		hio_err("metrics: %s; not serving /metrics", err);
		hio_metrics_remove(collect, w);
		return NULL;
	}
	return s;
}

void wk_metrics_stop(struct wk *w, struct hio_metrics_srv *s)
{
	if (!s)
		return;
	hio_metrics_srv_stop(s);
	hio_metrics_remove(collect, w);
}

void wk_metrics_pe_started(void)
{
	atomic_fetch_add(&started, 1);
}

void wk_metrics_pe_exited(int unasked)
{
	atomic_fetch_add(&exited, 1);
	if (unasked)
		atomic_fetch_add(&exited_unasked, 1);
}
