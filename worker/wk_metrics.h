/* wk_metrics.h: the worker's /metrics (worker/metrics.c). */
#ifndef HIO_WK_METRICS_H
#define HIO_WK_METRICS_H
#include "worker.h"

struct hio_metrics_srv;
/* Serves GET /metrics on listen ("HOST:PORT") and announces it to the master; PEs
 * started from now on inherit HIO_METRICS_LISTEN=HOST:0 and serve theirs. w->mu must
 * be initialised. NULL (logged) when it cannot. */
struct hio_metrics_srv *wk_metrics_start(struct wk *w, const char *listen);
void wk_metrics_stop(struct wk *w, struct hio_metrics_srv *s);
void wk_metrics_pe_started(void);
/* A PE process ended; unasked: it was not being stopped. */
void wk_metrics_pe_exited(int unasked);

#endif
