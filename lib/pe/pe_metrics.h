/* pe_metrics.h: the PE runtime's counters (pe_metrics.c), rendered by GET /metrics of
 * whatever endpoint the process serves (hio-pe: --metrics-listen). Lock-free. */
#ifndef HIO_PE_METRICS_H
#define HIO_PE_METRICS_H
#include <stdint.h>

/* Registers the collector once per process (hio_pe_run calls it). */
void pe_metrics_init(void);
/* A message entered the executor's queue; p2p: from a connector, else the backlog. */
void pe_metrics_received(uint64_t bytes, int p2p);
/* A passed input was linked for the analysis, not copied (pe_recv.c). */
void pe_metrics_linked(void);
/* The handler runs (1) or finished (0), for the busy gauge. */
void pe_metrics_busy(int on);
/* The handler of one message ran from t0 (hio_hist_start) until now. */
void pe_metrics_processed(uint64_t t0);
/* One entry's answer from the master: "done", "failed" or "duplicate". */
void pe_metrics_stored(const char *status);
/* One result upload took from t0 until now; ok: the master answered 2xx. */
void pe_metrics_upload(uint64_t t0, int ok);

#endif
