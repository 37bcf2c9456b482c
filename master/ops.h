/* ops.h: the master's operations endpoints (docs/operations.md): GET /metrics, the
 * Prometheus targets (PUT and GET /v1/metrics/targets), recent failures
 * (GET /v1/pipelines/{p}/failures) and the dashboard's static files (GET /ui). */
#ifndef HIO_MASTER_OPS_H
#define HIO_MASTER_OPS_H
#include "hio_cred.h"
#include "hio_metrics.h"
#include "master.h"

#include <microhttpd.h>
#include <stdarg.h>

#define OPS_TARGETS_MAX 4096 /* metrics endpoints remembered at once */
#define OPS_FAILURES_MAX 200 /* failures in one answer */
#define OPS_ERROR_TEXT 512   /* bytes of each failure's reason */

/* Timed by http.c: an allocation answered, a result upload committed. */
extern struct hio_hist ops_alloc_hist, ops_store_hist;

/* Called on a request's first call. 0: not one of the routes above, route it as
 * usual; 1: answered (*ret is for MHD); 2: out is filled, send it as any answer. */
int ops_route(struct master *m, struct MHD_Connection *c, const char *url, const char *method,
	      struct reply *out, enum MHD_Result *ret);

/* metrics.c */
int ops_metrics_render(struct master *m, struct hio_buf *b);
/* The connection's peer address, numeric ("127.0.0.1" when unknown). */
void ops_peer_host(struct MHD_Connection *c, char *out, size_t n);

/* --- access.c --- */
/* The role of the request's Authorization: Bearer credential (hio_cred.h); a PE's id
 * into pe_id (HIO_ID_LEN + 1). */
enum hio_role ops_role(struct master *m, struct MHD_Connection *c, char *pe_id);
/* Logs a refused request (role NONE: no or a wrong credential; else one its role may
 * not make), at most one line per 10 s and kind, counting the others. */
void ops_refused(struct MHD_Connection *c, const char *method, const char *url, enum hio_role role);
/* libmicrohttpd's log, one line per period (a flood repeats "connection limit"). */
void ops_mhd_log(void *cls, const char *fmt, va_list ap);
/* Connections at once: MASTER_CONN_MAX, less when the descriptor limit is lower. */
unsigned int ops_conn_limit(void);
/* put: 1 PUT (announce), -1 DELETE (withdraw), 0 GET (the list, id unused). */
void ops_targets(struct master *m, struct MHD_Connection *c, const char *id, int put,
		 struct reply *out);
void ops_failures(struct master *m, const char *pl, long limit, struct reply *out);

/* ui.c: the static file for a path under /ui, or NULL. */
struct ui_asset {
	const char *name, *ctype;
	const unsigned char *data;
	size_t len;
};
const struct ui_asset *ui_find(const char *path);
/* ui_assets.c, generated from ui/ by ui/embed.py. */
extern const struct ui_asset ui_assets[];
extern const size_t ui_assets_n;

#endif
