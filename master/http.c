/* http.c: request plumbing over libmicrohttpd (a thread per connection, so long polls
 * simply block). Per request: route and token check on the first call, the body
 * streamed on the middle calls, the answer on the last; state freed when MHD reports
 * the request complete. */
#include "master.h"
#include "ops.h"

#include "hio_buf.h"
#include "hio_cred.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_net.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define URL_MAX 512 /* longer paths match no route */

enum route {
	R_NONE = 0,
	R_HEALTH,
	R_STATUS,
	R_WORKER_PUT,
	R_WORKER_DEL,
	R_WORKER_HB,
	R_WORKER_CMDS,
	R_PE_REGISTER,
	R_PE_HB,
	R_PE_GONE,
	R_PE_RELEASE,
	R_PE_GET,
	R_MOUNT_REPORT,
	R_MOUNT_DEL,
	R_PIPELINE,
	R_ALLOCATE,
	R_BACKLOG_PUSH,
	R_BACKLOG_NEXT,
	R_SERIES,
	R_RESULTS_LIST,
	R_RESULTS_PUT,
	R_RESULTS_DEL,
	R_RESULT_FILE,
};

/* What a route does with a request body. */
enum body { B_NONE = 0, B_JSON, B_JSON_OPT, B_PUSH, B_UPLOAD };

struct rdef {
	const char *pattern; /* ":id" captures an id, ":p" a pipeline name */
	const char *allow;
	const char *method[3];
	enum route route[3];
	enum body body[3];
};

static const struct rdef rdefs[] = {
    {"/v1/health", "GET", {"GET"}, {R_HEALTH}, {B_NONE}},
    {"/v1/status", "GET", {"GET"}, {R_STATUS}, {B_NONE}},
    {"/v1/workers/:id",
     "PUT, DELETE",
     {"PUT", "DELETE"},
     {R_WORKER_PUT, R_WORKER_DEL},
     {B_JSON, B_JSON_OPT}},
    {"/v1/workers/:id/heartbeat", "POST", {"POST"}, {R_WORKER_HB}, {B_JSON}},
    {"/v1/workers/:id/commands", "GET", {"GET"}, {R_WORKER_CMDS}, {B_NONE}},
    {"/v1/pes/:id", "GET", {"GET"}, {R_PE_GET}, {B_NONE}},
    {"/v1/pes/:id/register", "POST", {"POST"}, {R_PE_REGISTER}, {B_JSON}},
    {"/v1/pes/:id/heartbeat", "POST", {"POST"}, {R_PE_HB}, {B_JSON}},
    {"/v1/pes/:id/gone", "POST", {"POST"}, {R_PE_GONE}, {B_JSON_OPT}},
    {"/v1/pes/:id/release", "POST", {"POST"}, {R_PE_RELEASE}, {B_JSON_OPT}},
    {"/v1/mounts/:id",
     "POST, DELETE",
     {"POST", "DELETE"},
     {R_MOUNT_REPORT, R_MOUNT_DEL},
     {B_JSON, B_NONE}},
    {"/v1/pipelines/:p", "POST", {"POST"}, {R_PIPELINE}, {B_JSON}},
    {"/v1/pipelines/:p/allocate", "POST", {"POST"}, {R_ALLOCATE}, {B_JSON_OPT}},
    {"/v1/pipelines/:p/backlog", "POST", {"POST"}, {R_BACKLOG_PUSH}, {B_PUSH}},
    {"/v1/pipelines/:p/backlog/next", "GET", {"GET"}, {R_BACKLOG_NEXT}, {B_NONE}},
    {"/v1/pipelines/:p/series", "GET", {"GET"}, {R_SERIES}, {B_NONE}},
    {"/v1/results",
     "GET, PUT, DELETE",
     {"GET", "PUT", "DELETE"},
     {R_RESULTS_LIST, R_RESULTS_PUT, R_RESULTS_DEL},
     {B_NONE, B_UPLOAD, B_NONE}},
    {"/v1/results/file", "GET", {"GET"}, {R_RESULT_FILE}, {B_NONE}},
};

struct req {
	enum route route;
	enum body body_kind;
	char id[HIO_ID_LEN + 1];
	char pl[HIO_PIPELINE_MAX + 1];
	struct hio_buf body;
	struct push *push;
	struct upload *upload;
	unsigned status; /* an error found while the body streamed, answered at the end */
	char err[200];
	char lease_id[HIO_ID_LEN + 1], lease_pe[HIO_ID_LEN + 1];
	uint64_t t0; /* first call, for the latency histograms (ops.h) */
	enum hio_role role;
	char role_pe[HIO_ID_LEN + 1]; /* HIO_ROLE_PE: the PE the credential is for */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	long n = results_stream_read(cls, buf, max);

	(void)pos;
	return n > 0	? (ssize_t)n
	       : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
			: MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	results_stream_free(cls);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r)
{
	struct MHD_Response *resp = NULL;
	const char *ctype = "application/json";
	enum MHD_Result ret;
	char *text = NULL;

	if (r->fd >= 0) {
		resp = MHD_create_response_from_fd64(r->fd_size, r->fd);
		if (!resp)
			close(r->fd);
		ctype = "application/octet-stream";
	} else if (r->stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read,
							 r->stream, stream_free);
		if (!resp)
			results_stream_free(r->stream);
	} else if (r->json && (text = json_dumps(r->json, JSON_COMPACT))) {
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			free(text);
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		ctype = NULL;
	}
	json_decref(r->json);
	r->json = NULL;
	if (!resp) {
		hio_err("cannot build a %u answer (out of memory); closing the connection",
			r->status);
		return MHD_NO;
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (r->hdr_id[0])
		MHD_add_response_header(resp, "X-Hio-Id", r->hdr_id);
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Matches url against pattern, capturing ":id" and ":p" segments into r. */
static int match(const char *pattern, const char *url, struct req *r, int *bad_param)
{
	const char *p = pattern, *u = url;

	while (*p && *u) {
		if (*p == ':') {
			const char *pe = strchrnul(p, '/'), *ue = strchrnul(u, '/');
			size_t n = (size_t)(ue - u);
			int is_id = strncmp(p, ":id", 3) == 0;
			char *dst = is_id ? r->id : r->pl;
			size_t cap = is_id ? sizeof(r->id) : sizeof(r->pl);

			if (n == 0)
				return 0;
			if (n >= cap) {
				*bad_param = is_id ? 1 : 2;
			} else {
				memcpy(dst, u, n);
				dst[n] = '\0';
				if (is_id ? !hio_id_valid(dst) : !hio_pipeline_valid(dst))
					*bad_param = is_id ? 1 : 2;
			}
			p = pe;
			u = ue;
			continue;
		}
		if (*p != *u)
			return 0;
		p++;
		u++;
	}
	return *p == '\0' && *u == '\0';
}

/* What a role may do (SPEC, Security). The cluster's credential does everything. A
 * worker's (join) registers and runs workers, reports their PEs gone and reads the
 * status (hio join checks with it). A PE's own
 * credential acts only as that PE: it registers, heartbeats, leaves and releases
 * itself, pulls its backlog, and uploads its results (checked per entry in upload.c). */
static int role_may(enum hio_role role, const char *role_pe, const struct req *r,
		    struct MHD_Connection *c)
{
	const char *q;

	switch (role) {
	case HIO_ROLE_CLUSTER:
		return 1;
	case HIO_ROLE_JOIN:
		return r->route == R_STATUS || r->route == R_WORKER_PUT ||
		       r->route == R_WORKER_DEL || r->route == R_WORKER_HB ||
		       r->route == R_WORKER_CMDS || r->route == R_PE_GONE;
	case HIO_ROLE_PE:
		switch (r->route) {
		case R_PE_REGISTER:
		case R_PE_HB:
		case R_PE_GONE:
		case R_PE_RELEASE:
			return strcmp(r->id, role_pe) == 0;
		case R_BACKLOG_NEXT:
			q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pe");
			return q && strcmp(q, role_pe) == 0;
		case R_RESULTS_PUT:
			return 1;
		default:
			return 0;
		}
	default:
		return 0;
	}
}

/* MHD hands over the URL already percent-decoded, so "/v1/pipelines/..%2fetc" arrives
 * as "/v1/pipelines/../etc" and matches no route. Name the bad member (1: id,
 * 2: pipeline) rather than answer 404 for what is a malformed request. */
static int bad_collection_member(const char *url)
{
	static const struct {
		const char *prefix;
		int kind;
	} cols[] = {{"/v1/workers/", 1}, {"/v1/pes/", 1}, {"/v1/pipelines/", 2}};
	char seg[HIO_PIPELINE_MAX + 2];

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		size_t pl = strlen(cols[i].prefix), n;
		const char *s = url + pl;

		if (strncmp(url, cols[i].prefix, pl) != 0)
			continue;
		n = strcspn(s, "/");
		if (n >= sizeof(seg))
			return cols[i].kind;
		memcpy(seg, s, n);
		seg[n] = '\0';
		if (cols[i].kind == 1 ? !hio_id_valid(seg) : !hio_pipeline_valid(seg))
			return cols[i].kind;
	}
	return 0;
}

/* First call: route, token, limits. Returns 0 to go on, -1 with out set to answer now
 * (MHD then skips the body and closes the connection). */
static int begin(struct master *m, struct MHD_Connection *c, struct req *r, const char *url,
		 const char *method, struct reply *out)
{
	const struct rdef *d = NULL;
	const char *cl;
	long long clen = -1;
	int bad = 0, k;

	if (strlen(url) < URL_MAX)
		for (size_t i = 0; !d && i < sizeof(rdefs) / sizeof(rdefs[0]); i++) {
			bad = 0;
			r->id[0] = r->pl[0] = '\0';
			if (match(rdefs[i].pattern, url, r, &bad))
				d = &rdefs[i];
		}
	/* Health is the one endpoint a probe may call without the token. */
	if (d && d->route[0] == R_HEALTH && strcmp(method, "GET") == 0) {
		reply_ok(out, 200, json_pack("{s:b}", "ok", 1));
		return -1;
	}
	r->role = ops_role(m, c, r->role_pe);
	if (r->role == HIO_ROLE_NONE) {
		ops_refused(c, method, url, HIO_ROLE_NONE);
		reply_err(out, 401, "missing or wrong token (Authorization: Bearer TOKEN)");
		return -1;
	}
	if (!d) {
		bad = bad_collection_member(url);
		if (bad)
			reply_err(out, 400, "bad %s in the path",
				  bad == 1 ? "id" : "pipeline name");
		else
			reply_err(out, 404, "no such endpoint: %.200s", url);
		return -1;
	}
	for (k = 0; k < 3 && d->method[k]; k++)
		if (strcmp(method, d->method[k]) == 0)
			break;
	if (k == 3 || !d->method[k]) {
		out->allow = d->allow;
		reply_err(out, 405, "%s is not allowed on %s (allowed: %s)", method, d->pattern,
			  d->allow);
		return -1;
	}
	if (bad) {
		reply_err(out, 400,
			  bad == 1 ? "bad id in the path (32 lowercase hex characters)"
				   : "bad pipeline name in the path ([A-Za-z0-9._-], "
				     "at most 64)");
		return -1;
	}
	r->route = d->route[k];
	r->body_kind = d->body[k];
	if (!role_may(r->role, r->role_pe, r, c)) {
		ops_refused(c, method, url, r->role);
		reply_err(out, 403, "a %s credential may not %s %s", hio_role_name(r->role), method,
			  d->pattern);
		return -1;
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		long v;

		/* Unparsable or out of range: treated as unknown, as MHD reads the body anyway. */
		clen = hio_parse_long(cl, 0, LONG_MAX, &v) == 0 ? v : -1;
	}
	if (r->body_kind == B_PUSH) {
		r->push = backlog_push_new(m, r->pl, clen, out);
		return r->push ? 0 : -1;
	}
	if (r->body_kind == B_UPLOAD) {
		r->upload = results_upload_new(m, r->role == HIO_ROLE_PE ? r->role_pe : NULL, out);
		return r->upload ? 0 : -1;
	}
	if (clen > (long long)HIO_JSON_BODY_MAX) {
		reply_err(out, 413, "body of %lld bytes is over the %u byte limit", clen,
			  HIO_JSON_BODY_MAX);
		return -1;
	}
	return 0;
}

static void feed(struct req *r, const char *data, size_t n)
{
	switch (r->body_kind) {
	case B_PUSH:
		backlog_push_feed(r->push, data, n);
		return;
	case B_UPLOAD:
		results_upload_feed(r->upload, data, n);
		return;
	default:
		break;
	}
	if (r->status)
		return;
	/* A chunked body has no Content-Length to refuse up front: stop storing at the
	 * cap, drain the rest, then answer 413. */
	if (hio_buf_append(&r->body, data, n) < 0) {
		r->status = 413;
		snprintf(r->err, sizeof(r->err), "body is over the %u byte limit",
			 HIO_JSON_BODY_MAX);
		hio_buf_free(&r->body);
	}
}

/* A query argument; *len gets its length (it may hold a NUL a C string would hide). */
static const char *arg(struct MHD_Connection *c, const char *key, size_t *len)
{
	const char *v = NULL;
	size_t n = 0;

	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v, &n) !=
		MHD_YES ||
	    !v)
		return NULL;
	if (len)
		*len = n;
	return v;
}

/* ?wait=MS, capped; -1 when malformed. */
static long wait_arg(struct MHD_Connection *c)
{
	const char *s = arg(c, "wait", NULL);
	long v;

	if (!s || !*s)
		return 0;
	/* Any wait over the cap (even past LONG_MAX) is the cap; garbage or a sign is not. */
	if (hio_parse_long(s, 0, LONG_MAX, &v) < 0)
		return errno == ERANGE ? MASTER_WAIT_MAX_MS : -1;
	return v > MASTER_WAIT_MAX_MS ? MASTER_WAIT_MAX_MS : v;
}

static json_t *parse_json(struct req *r, struct reply *out)
{
	json_error_t jerr;
	json_t *j;

	if (r->body.len == 0) {
		if (r->body_kind == B_JSON)
			reply_err(out, 400, "a JSON object body is required");
		return r->body_kind == B_JSON ? NULL : json_object();
	}
	j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		reply_err(out, 400, "malformed JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			  jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		reply_err(out, 400, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* GET /v1/results: prefix, state, after and limit checked into a query. */
static void results_list_route(struct master *m, struct MHD_Connection *c, const char *pl,
			       struct reply *out)
{
	size_t plen = 0, alen = 0;
	const char *prefix = arg(c, "prefix", &plen), *after = arg(c, "after", &alen), *why;
	const char *state = arg(c, "state", NULL), *limit = arg(c, "limit", NULL);
	struct rquery *q = calloc(1, sizeof(*q));
	long lim = RESULTS_PAGE_DEFAULT;

	if (!q) {
		reply_err(out, 500, "out of memory listing results");
		return;
	}
	snprintf(q->pl, sizeof(q->pl), "%s", pl);
	if (prefix && (plen > HIO_NAME_MAX || strlen(prefix) != plen)) {
		reply_err(out, 400, "bad prefix");
		goto bad;
	}
	if (after && !hio_name_valid(after, alen, &why)) {
		reply_err(out, 400, "bad after (a result name, the 'next' of the last page): %s",
			  why);
		goto bad;
	}
	if (limit && hio_parse_long(limit, 1, RESULTS_PAGE_MAX, &lim) < 0) {
		reply_err(out, 400, "limit must be a whole number, 1..%d", RESULTS_PAGE_MAX);
		goto bad;
	}
	if (state && strcmp(state, "done") != 0 && strcmp(state, "failed") != 0) {
		reply_err(out, 400, "state must be done or failed");
		goto bad;
	}
	q->state = !state ? RS_ANY : !strcmp(state, "done") ? RS_DONE : RS_FAILED;
	q->prefix = strndup(prefix ? prefix : "", plen);
	q->prefix_len = plen;
	q->after = after ? strndup(after, alen) : NULL;
	q->limit = (size_t)lim;
	if (!q->prefix || (after && !q->after)) {
		reply_err(out, 500, "out of memory listing results");
		goto bad;
	}
	/* Without limit and after: the whole index, as before pages, streamed. */
	if (!limit && !after) {
		api_results_stream(m, q, out);
		return;
	}
	api_results_list(m, q, out);
bad:
	rquery_free(q);
}

/* DELETE /v1/results?pipeline=P&name=N | older_than=SECONDS */
static void results_delete_route(struct master *m, struct MHD_Connection *c, const char *pl,
				 struct reply *out)
{
	const char *older = arg(c, "older_than", NULL), *why;
	size_t nlen = 0;
	const char *name = arg(c, "name", &nlen);
	long v = 0;

	if (!name == !older) {
		reply_err(out, 400, "give one of name and older_than");
		return;
	}
	if (name && !hio_name_valid(name, nlen, &why)) {
		reply_err(out, 400, "bad name: %s", why);
		return;
	}
	if (older && hio_parse_long(older, 0, RESULTS_AGE_MAX_S, &v) < 0) {
		reply_err(out, 400, "older_than must be seconds, 0..%lld",
			  (long long)RESULTS_AGE_MAX_S);
		return;
	}
	api_results_delete(m, pl, name, older ? v : -1, out);
}

static void get_routes(struct master *m, struct MHD_Connection *c, struct req *r, struct reply *out)
{
	const char *pl = arg(c, "pipeline", NULL), *name, *file, *pe, *why;
	size_t nlen = 0, flen = 0;
	long wait;

	if (!pl)
		pl = "default";
	switch (r->route) {
	case R_STATUS:
		api_status(m, out);
		return;
	case R_PE_GET:
		api_pe_get(m, r->id, out);
		return;
	case R_SERIES: {
		const char *since = arg(c, "since", NULL);
		long v = 0;

		if (since && *since) {
			if (hio_parse_long(since, 0, LONG_MAX, &v) < 0) {
				reply_err(out, 400, "since must be milliseconds");
				return;
			}
		}
		api_series(m, r->pl, (uint64_t)v, out);
		return;
	}
	case R_WORKER_CMDS:
	case R_BACKLOG_NEXT:
		wait = wait_arg(c);
		if (wait < 0) {
			reply_err(out, 400, "wait must be milliseconds, 0..%d", MASTER_WAIT_MAX_MS);
			return;
		}
		if (r->route == R_WORKER_CMDS) {
			const char *as = arg(c, "ack", NULL);
			long ack = 0;

			if (as && *as && hio_parse_long(as, 0, LONG_MAX, &ack) < 0) {
				reply_err(out, 400, "ack must be a command seq, a whole number");
				return;
			}
			api_worker_commands(m, r->id, wait, (uint64_t)ack, out);
			return;
		}
		pe = arg(c, "pe", NULL);
		if (!pe || !hio_id_valid(pe)) {
			reply_err(out, 400, "pe must be a PE id");
			return;
		}
		api_backlog_next(m, r->pl, pe, wait, out);
		if (out->status == 200) {
			snprintf(r->lease_id, sizeof(r->lease_id), "%s", out->hdr_id);
			snprintf(r->lease_pe, sizeof(r->lease_pe), "%s", pe);
		}
		return;
	default:
		break;
	}
	if (!hio_pipeline_valid(pl)) {
		reply_err(out, 400, "bad pipeline name");
		return;
	}
	if (r->route == R_RESULTS_LIST) {
		results_list_route(m, c, pl, out);
		return;
	}
	if (r->route == R_RESULTS_DEL) {
		results_delete_route(m, c, pl, out);
		return;
	}
	name = arg(c, "name", &nlen);
	file = arg(c, "file", &flen);
	if (!name || !hio_name_valid(name, nlen, &why)) {
		reply_err(out, 400, "bad name: %s", name ? why : "missing");
		return;
	}
	if (!file || !hio_name_valid(file, flen, &why)) {
		reply_err(out, 400, "bad file: %s", file ? why : "missing");
		return;
	}
	api_results_file(m, pl, name, nlen, file, flen, out);
}

static void dispatch(struct master *m, struct MHD_Connection *c, struct req *r, struct reply *out)
{
	json_t *j = NULL;

	if (r->status) {
		reply_err(out, r->status, "%s", r->err);
		return;
	}
	if (r->body_kind == B_PUSH) {
		backlog_push_finish(r->push, out);
		return;
	}
	if (r->body_kind == B_UPLOAD) {
		results_upload_finish(r->upload, out);
		if (out->status < 300)
			hio_hist_done(&ops_store_hist, r->t0);
		return;
	}
	/* DELETE /v1/mounts/:id has no body either, but is answered below. */
	if (r->body_kind == B_NONE && r->route != R_MOUNT_DEL) {
		get_routes(m, c, r, out);
		return;
	}
	j = parse_json(r, out);
	if (!j)
		return;
	/* A loopback address from a peer on another host could never be reached by the
	 * others (SPEC: refused, with one line that says what to change). */
	if (r->route == R_WORKER_PUT || r->route == R_PE_REGISTER) {
		const char *host = json_string_value(json_object_get(j, "host"));
		char peer[64];

		ops_peer_host(c, peer, sizeof(peer));
		if (host && hio_net_is_loopback(host) && !hio_net_is_loopback(peer)) {
			reply_err(out, 400,
				  "host %s is loopback, but this %s connects from %s, so no other "
				  "host could reach it: give this host's address (hio join "
				  "--advertise, hio-worker --host)",
				  host, r->route == R_WORKER_PUT ? "worker" : "PE", peer);
			hio_warn("refused a %s at %s: it advertises loopback (%s)",
				 r->route == R_WORKER_PUT ? "worker" : "PE", peer, host);
			json_decref(j);
			return;
		}
	}
	switch (r->route) {
	case R_WORKER_PUT:
		api_worker_put(m, r->id, j, out);
		break;
	case R_WORKER_DEL:
		api_worker_delete(m, r->id, out);
		break;
	case R_WORKER_HB:
		api_worker_heartbeat(m, r->id, j, out);
		break;
	case R_PE_REGISTER:
		api_pe_register(m, r->id, j, out);
		break;
	case R_PE_HB:
		api_pe_heartbeat(m, r->id, j, out);
		break;
	case R_PE_GONE:
		api_pe_gone(m, r->id, j, out);
		break;
	case R_PE_RELEASE:
		api_pe_release(m, r->id, j, out);
		break;
	case R_MOUNT_REPORT:
		api_mount_report(m, r->id, j, out);
		break;
	case R_MOUNT_DEL:
		api_mount_delete(m, r->id, out);
		break;
	case R_PIPELINE:
		api_pipeline_post(m, r->pl, j, out);
		break;
	case R_ALLOCATE:
		api_allocate(m, r->pl, out);
		if (out->status == 200)
			hio_hist_done(&ops_alloc_hist, r->t0);
		break;
	default:
		reply_err(out, 500, "unrouted request");
		break;
	}
	json_decref(j);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct master *m = cls;
	struct req *r = *con_cls;
	struct reply out = {.fd = -1};
	enum MHD_Result ret = MHD_NO;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			hio_err("out of memory for a request to %s; closing the connection", url);
			return MHD_NO;
		}
		hio_buf_init(&r->body, HIO_JSON_BODY_MAX);
		*con_cls = r;
		r->t0 = hio_hist_start();
		switch (ops_route(m, c, url, method, &out, &ret)) {
		case 1:
			return ret;
		case 2:
			return send_reply(c, &out);
		default:
			break;
		}
		if (begin(m, c, r, url, method, &out) < 0)
			return send_reply(c, &out);
		return MHD_YES;
	}
	if (*upload_data_size) {
		atomic_fetch_add(&m->rx_bytes, *upload_data_size);
		feed(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	dispatch(m, c, r, &out);
	return send_reply(c, &out);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct master *m = cls;
	struct req *r = *con_cls;

	(void)c;
	if (!r)
		return;
	/* The frame never fully left: the PE does not have it, so it must not stay leased. */
	if (r->lease_id[0] && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		backlog_lease_failed(m, r->lease_id, r->lease_pe);
	backlog_push_free(r->push);
	results_upload_free(r->upload);
	hio_buf_free(&r->body);
	free(r);
	*con_cls = NULL;
}

struct MHD_Daemon *http_start(struct master *m, int listen_fd)
{
	unsigned int limit = ops_conn_limit();

	hio_info("REST connections: at most %u at once, %d per client address, closed after "
		 "%d s idle",
		 limit, m->conns_per_ip, MASTER_CONN_IDLE_S);
	return MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, ops_mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)MASTER_CONN_IDLE_S,
	    MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)m->conns_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
	    MHD_OPTION_END);
}
