/* ui.c: routes of the operations endpoints (ops.h) and the dashboard's static files.
 * The files under /ui carry no data, so they are served without the token; the page
 * asks for it and sends it on every API call it makes (docs/operations.md). */
#include "ops.h"

#include "hio_log.h"

#include <stdlib.h>
#include <string.h>

#define FAILURES_DEFAULT 20

const struct ui_asset *ui_find(const char *path)
{
	if (!*path)
		path = "index.html";
	for (size_t i = 0; i < ui_assets_n; i++)
		if (strcmp(ui_assets[i].name, path) == 0)
			return &ui_assets[i];
	return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
			      void *data, size_t n, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(n, data, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(data);
		hio_err("cannot build a %u answer (out of memory); closing the connection", status);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static int ui_route(struct MHD_Connection *c, const char *url, const char *method,
		    struct reply *out, enum MHD_Result *ret)
{
	const struct ui_asset *a = ui_find(url[3] == '/' ? url + 4 : "");
	struct MHD_Response *r;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		out->allow = "GET, HEAD";
		reply_err(out, 405, "%s is not allowed on /ui (allowed: GET, HEAD)", method);
		return 2;
	}
	if (!a) {
		reply_err(out, 404, "no such file: %.200s", url);
		return 2;
	}
	r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return *ret = MHD_NO, 1;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	/* Everything comes from the master itself: no CDN, no inline script. */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	*ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return 1;
}

static int metrics_route(struct master *m, struct MHD_Connection *c, const char *method,
			 struct reply *out, enum MHD_Result *ret)
{
	struct hio_buf b;
	size_t n;
	char *text;

	if (strcmp(method, "GET") != 0) {
		out->allow = "GET";
		reply_err(out, 405, "%s is not allowed on /metrics (allowed: GET)", method);
		return 2;
	}
	hio_buf_init(&b, HIO_METRICS_TEXT_MAX);
	if (ops_metrics_render(m, &b) < 0) {
		hio_buf_free(&b);
		hio_err("metrics: the scrape is over %u bytes or memory is out; answering 500",
			HIO_METRICS_TEXT_MAX);
		reply_err(out, 500, "cannot render the metrics");
		return 2;
	}
	text = hio_buf_steal(&b, &n);
	*ret = answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, n,
		      MHD_RESPMEM_MUST_FREE);
	return 1;
}

/* "/v1/pipelines/P/failures": P into pl (valid name), or 0. */
static int failures_url(const char *url, char *pl, size_t n)
{
	static const char pre[] = "/v1/pipelines/", suf[] = "/failures";
	const char *s = url + sizeof(pre) - 1;
	size_t len;

	if (strncmp(url, pre, sizeof(pre) - 1) != 0)
		return 0;
	len = strcspn(s, "/");
	if (len == 0 || len >= n || strcmp(s + len, suf) != 0)
		return 0;
	memcpy(pl, s, len);
	pl[len] = '\0';
	return 1;
}

int ops_route(struct master *m, struct MHD_Connection *c, const char *url, const char *method,
	      struct reply *out, enum MHD_Result *ret)
{
	static const char tpre[] = "/v1/metrics/targets";
	char pl[HIO_PIPELINE_MAX + 2];
	const char *id = NULL;
	int is_targets = 0, is_failures;
	char role_pe[HIO_ID_LEN + 1] = "";
	enum hio_role role;

	if (strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0)
		return ui_route(c, url, method, out, ret);
	if (strncmp(url, tpre, sizeof(tpre) - 1) == 0) {
		id = url + sizeof(tpre) - 1;
		is_targets = *id == '\0' || *id == '/';
		id += *id == '/';
	}
	is_failures = failures_url(url, pl, sizeof(pl));
	if (strcmp(url, "/metrics") != 0 && !is_targets && !is_failures)
		return 0;
	role = ops_role(m, c, role_pe);
	if (role == HIO_ROLE_NONE) {
		reply_err(out, 401, "missing or wrong token (Authorization: Bearer TOKEN)");
		return 2;
	}
	/* Prometheus (the scrape credential) reads; a worker, PE or mount announces its
	 * own endpoint, a PE only under its own id; the rest is the cluster's. */
	if (role != HIO_ROLE_CLUSTER &&
	    !(role == HIO_ROLE_METRICS && strcmp(method, "GET") == 0 && !is_failures) &&
	    !(is_targets && *id &&
	      (role == HIO_ROLE_JOIN || (role == HIO_ROLE_PE && strcmp(id, role_pe) == 0)))) {
		reply_err(out, 403, "a %s credential may not %s %s", hio_role_name(role), method,
			  url);
		return 2;
	}
	if (is_failures) {
		const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
		long limit = FAILURES_DEFAULT;

		if (strcmp(method, "GET") != 0) {
			out->allow = "GET";
			reply_err(out, 405, "%s is not allowed here (allowed: GET)", method);
		} else if (!hio_pipeline_valid(pl)) {
			reply_err(out, 400, "bad pipeline name in the path");
		} else if (ls && hio_parse_long(ls, 1, OPS_FAILURES_MAX, &limit) < 0) {
			reply_err(out, 400, "limit must be 1..%d", OPS_FAILURES_MAX);
		} else {
			ops_failures(m, pl, limit, out);
		}
		return 2;
	}
	if (is_targets) {
		int put = *id != '\0', del = put && strcmp(method, "DELETE") == 0;

		if (!del && strcmp(method, put ? "PUT" : "GET") != 0) {
			out->allow = put ? "PUT, DELETE" : "GET";
			reply_err(out, 405, "%s is not allowed here (allowed: %s)", method,
				  out->allow);
		} else if (put && !hio_id_valid(id)) {
			reply_err(out, 400, "bad id in the path (32 lowercase hex characters)");
		} else {
			ops_targets(m, c, id, del ? -1 : put, out);
		}
		return 2;
	}
	return metrics_route(m, c, method, out, ret);
}
