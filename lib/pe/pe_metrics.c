/* pe_metrics.c: what a PE counts for /metrics: messages in (P2P or backlog) and their
 * bytes, results stored by status, and how long processing and result storage take. */
#include "pe_metrics.h"

#include "hio_log.h"
#include "hio_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static atomic_uint_least64_t rx_p2p, rx_backlog, bytes_p2p, bytes_backlog;
static atomic_uint_least64_t st_done, st_failed, st_dup, uploads_failed, linked;
static atomic_int busy;
static struct hio_hist process_hist, upload_hist;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void collect(struct hio_metrics_out *o, void *ud)
{
	(void)ud;
	hio_mo_family(o, "hio_pe_messages_received_total", HIO_M_COUNTER,
		      "Messages this PE received, by the way they came");
	hio_mo_u64(o, "hio_pe_messages_received_total", "via", "p2p", NULL, NULL,
		   atomic_load(&rx_p2p));
	hio_mo_u64(o, "hio_pe_messages_received_total", "via", "backlog", NULL, NULL,
		   atomic_load(&rx_backlog));
	hio_mo_family(o, "hio_pe_received_bytes_total", HIO_M_COUNTER,
		      "Message bytes this PE received, by the way they came");
	hio_mo_u64(o, "hio_pe_received_bytes_total", "via", "p2p", NULL, NULL,
		   atomic_load(&bytes_p2p));
	hio_mo_u64(o, "hio_pe_received_bytes_total", "via", "backlog", NULL, NULL,
		   atomic_load(&bytes_backlog));
	hio_mo_family(o, "hio_pe_results_total", HIO_M_COUNTER,
		      "Results the master stored for this PE, by status");
	hio_mo_u64(o, "hio_pe_results_total", "status", "done", NULL, NULL, atomic_load(&st_done));
	hio_mo_u64(o, "hio_pe_results_total", "status", "failed", NULL, NULL,
		   atomic_load(&st_failed));
	hio_mo_u64(o, "hio_pe_results_total", "status", "duplicate", NULL, NULL,
		   atomic_load(&st_dup));
	hio_mo_counter(o, "hio_pe_result_uploads_failed_total",
		       "Result uploads the master refused or did not answer",
		       atomic_load(&uploads_failed));
	hio_mo_counter(o, "hio_pe_inputs_linked_total",
		       "Inputs passed on this host that the analysis read from the sender's own "
		       "file (a read-only link), not a copy",
		       atomic_load(&linked));
	hio_mo_gauge(o, "hio_pe_busy", "1 while the handler runs a message",
		     (double)atomic_load(&busy));
	hio_mo_hist(o, "hio_pe_process_seconds", "Time the handler (the command) took per message",
		    &process_hist);
	hio_mo_hist(o, "hio_pe_result_upload_seconds",
		    "Time to upload a batch of results until the master stored them", &upload_hist);
}

static void do_init(void)
{
	if (hio_metrics_add(collect, NULL) < 0)
		hio_warn("metrics: no room for the PE's collector; /metrics will lack it");
}

void pe_metrics_init(void)
{
	pthread_once(&once, do_init);
}

void pe_metrics_received(uint64_t bytes, int p2p)
{
	atomic_fetch_add(p2p ? &rx_p2p : &rx_backlog, 1);
	atomic_fetch_add(p2p ? &bytes_p2p : &bytes_backlog, bytes);
}

void pe_metrics_linked(void)
{
	atomic_fetch_add(&linked, 1);
}

void pe_metrics_busy(int on)
{
	atomic_store(&busy, on ? 1 : 0);
}

void pe_metrics_processed(uint64_t t0)
{
	hio_hist_done(&process_hist, t0);
}

void pe_metrics_stored(const char *status)
{
	if (strcmp(status, "done") == 0)
		atomic_fetch_add(&st_done, 1);
	else if (strcmp(status, "failed") == 0)
		atomic_fetch_add(&st_failed, 1);
	else
		atomic_fetch_add(&st_dup, 1);
}

void pe_metrics_upload(uint64_t t0, int ok)
{
	if (ok)
		hio_hist_done(&upload_hist, t0);
	else
		atomic_fetch_add(&uploads_failed, 1);
}
