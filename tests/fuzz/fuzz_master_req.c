/* fuzz_master_req: the master's request handling without a network. A fresh master on
 * an empty state dir (made once per process, emptied per input) takes a sequence of
 * requests, each through the function http.c calls for its route after routing: the
 * JSON endpoints with a body parsed as parse_json does, and the streamed bodies of a
 * backlog push (backlog_push_*) and a result upload (results_upload_*) fed in pieces.
 *
 * Input: records of [op][sel][len hi][len lo][len bytes of body] (a short last record
 * takes what is left). op picks the endpoint, sel the path id, the pipeline name and a
 * small parameter (ack, since, limit, piece size). Path pieces come from a small table
 * of valid ones, as http.c refuses the others before any endpoint runs; the routing
 * itself (static in http.c) is not driven here.
 *
 * Properties: no crash or sanitizer report; every answer has a status in 100..599 and
 * a JSON body, and every refusal (4xx, 5xx) an "error" message; a refused JSON request
 * or push changed nothing in the registry, the backlog or the result index. */
#include "../../master/master.h"
#include "fuzz.h"
#include "hio_http.h"
#include "hio_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REQS 24

static const char *const ids[4] = {
    "0123456789abcdef0123456789abcdef", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "00000000000000000000000000000001", "fedcba9876543210fedcba9876543210"};
static const char *const pls[4] = {
    "pl1", "p.2", "x-_", "P234567890123456789012345678901234567890123456789012345678901234"};

static char state_dir[64];

static void quiet(void *ud, enum hio_log_level lvl, const char *line)
{
	(void)ud;
	(void)lvl;
	(void)line;
}

static struct master *master_open(void)
{
	struct master *m = calloc(1, sizeof(*m));

	FUZZ_CHECK(m && master_init(m) == 0);
	m->pe_lease_ms = 3000;
	m->worker_lease_ms = 5000;
	/* Small, so a few pushes reach "backlog full". */
	m->backlog_max = 64 * 1024;
	snprintf(m->dir, sizeof(m->dir), "%s", state_dir);
	snprintf(m->token, sizeof(m->token), "t");
	FUZZ_CHECK(pipelines_load(m) == 0);
	FUZZ_CHECK(results_load(m) == 0);
	FUZZ_CHECK(backlog_load(m) == 0);
	return m;
}

/* What a refused request must not have changed; time stamps left out. */
static uint64_t digest(struct master *m)
{
	uint64_t h = 0xcbf29ce484222325ull;
	struct list *pos, *tmp;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 0x100000001b3ull)

	pthread_mutex_lock(&m->lock);
	MIX(m->n_workers);
	MIX(m->n_pes);
	MIX(m->n_pipelines);
	MIX(m->ids.len);
	MIX(m->backlog_bytes);
	MIX(m->backlog_held);
	MIX(m->n_mounts);
	MIX(m->journal_size);
	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);
		MIX(w->gone);
		MIX(w->max_pes);
		MIX(w->draining);
		MIX(json_array_size(w->cmds));
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		MIX(p->st);
		MIX(p->reserved);
		MIX(p->port);
		MIX(p->done);
		MIX(p->failed);
	}
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);
		MIX(pl->configured);
		MIX(pl->version);
		MIX(pl->pes);
		MIX(pl->min_pes);
		MIX(pl->max_pes);
		MIX(pl->autoscale);
		MIX(pl->n_queued);
		MIX(pl->n_leased);
		MIX(pl->results.len);
	}
	pthread_mutex_unlock(&m->lock);
#undef MIX
	return h;
}

static void reply_check(struct reply *r, uint8_t op)
{
	FUZZ_CHECK(r->status >= 100 && r->status <= 599);
	if (r->status >= 400) {
		const char *e = json_string_value(json_object_get(r->json, "error"));
		char *text = r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;

		/* Which request, for the report of a failed check. */
		if (!e || !*e)
			fprintf(stderr, "op %u answered %u: %s\n", op % 22, r->status,
				text ? text : "(no body)");
		free(text);
		FUZZ_CHECK(e && *e);
	} else if (r->status != 204) {
		FUZZ_CHECK(r->json || r->fd >= 0 || r->stream);
	}
}

static void reply_done(struct reply *r)
{
	json_decref(r->json);
	if (r->fd >= 0)
		close(r->fd);
	if (r->stream) {
		char buf[4096];
		long n;

		/* Read to the end: the streamed listing's own checks run. */
		while ((n = results_stream_read(r->stream, buf, sizeof(buf))) > 0)
			;
		FUZZ_CHECK(n == 0);
		results_stream_free(r->stream);
	}
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* parse_json of http.c: an empty body is {} where the body is optional. */
static json_t *body_json(const uint8_t *p, size_t n, int optional, struct reply *out)
{
	json_error_t jerr;
	json_t *j;

	if (n == 0) {
		if (!optional)
			reply_err(out, 400, "a JSON object body is required");
		return optional ? json_object() : NULL;
	}
	j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		reply_err(out, 400, "malformed JSON");
		return NULL;
	}
	return j;
}

/* A streamed body, fed in pieces of piece bytes (0: all at once). */
static void push(struct master *m, const char *pl, const uint8_t *p, size_t n, unsigned piece,
		 int known_len, struct reply *out)
{
	struct push *ps = backlog_push_new(m, pl, known_len ? (long long)n : -1, out);

	if (!ps)
		return;
	for (size_t off = 0; off < n;) {
		size_t take = piece && piece < n - off ? piece : n - off;
		backlog_push_feed(ps, (const char *)p + off, take);
		off += take;
	}
	backlog_push_finish(ps, out);
	backlog_push_free(ps);
}

static void upload(struct master *m, const uint8_t *p, size_t n, unsigned piece, struct reply *out)
{
	struct upload *u = results_upload_new(m, NULL, out);

	if (!u)
		return;
	for (size_t off = 0; off < n;) {
		size_t take = piece && piece < n - off ? piece : n - off;
		results_upload_feed(u, (const char *)p + off, take);
		off += take;
	}
	results_upload_finish(u, out);
	results_upload_free(u);
}

/* GET /v1/results with the body as the prefix. */
static void list(struct master *m, const char *pl, const uint8_t *p, size_t n, unsigned k,
		 struct reply *out)
{
	struct rquery *q = calloc(1, sizeof(*q));

	FUZZ_CHECK(q);
	snprintf(q->pl, sizeof(q->pl), "%s", pl);
	q->prefix = strndup((const char *)p, n);
	FUZZ_CHECK(q->prefix);
	q->prefix_len = strlen(q->prefix);
	q->state = (enum rstate)(k % 3);
	q->limit = 1 + k % 4;
	if (k & 8) {
		api_results_stream(m, q, out);
		return;
	}
	api_results_list(m, q, out);
	rquery_free(q);
}

/* One request. Returns 1 when its refusal must leave the state alone, 0 when not, -1
 * when http.c would have refused it before any endpoint (no answer here). */
static int request(struct master *m, uint8_t op, uint8_t sel, const uint8_t *p, size_t n,
		   struct reply *out)
{
	const char *id = ids[sel & 3], *pl = pls[(sel >> 2) & 3];
	unsigned k = sel >> 4;
	json_t *j = NULL;
	int opt = 1;

	switch (op % 22) {
	case 0:
	case 2:
	case 4:
	case 5:
	case 10:
	case 11:
		opt = 0;
		break;
	default:
		break;
	}
	switch (op % 22) {
	case 0:
	case 2:
	case 4:
	case 5:
	case 6:
	case 7:
	case 10:
	case 11:
		if (!(j = body_json(p, n, opt, out)))
			return 1;
		break;
	default:
		break;
	}
	switch (op % 22) {
	case 0:
		api_worker_put(m, id, j, out);
		break;
	case 1:
		api_worker_delete(m, id, out);
		break;
	case 2:
		api_worker_heartbeat(m, id, j, out);
		break;
	case 3:
		api_worker_commands(m, id, 0, (uint64_t)k << 40, out);
		break;
	case 4:
		api_pe_register(m, id, j, out);
		break;
	case 5:
		api_pe_heartbeat(m, id, j, out);
		break;
	case 6:
		api_pe_gone(m, id, j, out);
		break;
	case 7:
		api_pe_release(m, id, j, out);
		break;
	case 8:
		api_pe_get(m, id, out);
		break;
	case 9:
		api_allocate(m, pl, out);
		break;
	case 10:
		api_pipeline_post(m, pl, j, out);
		break;
	case 11:
		api_mount_report(m, id, j, out);
		break;
	case 12:
		api_mount_delete(m, id, out);
		break;
	case 13:
	case 14:
		push(m, pl, p, n, k * 3, op % 22 == 13, out);
		break;
	case 15:
	case 16:
		upload(m, p, n, k * 5, out);
		json_decref(j);
		return 0; /* entries before a bad one stay stored, by design */
	case 17:
		api_backlog_next(m, pl, id, 0, out);
		break;
	case 18:
		api_status(m, out);
		break;
	case 19:
		/* http.c takes a name only when hio_name_valid says so. */
		if (n && !hio_name_valid((const char *)p, n, NULL))
			return -1;
		api_results_delete(m, pl, n ? (const char *)p : NULL, k ? (long long)k * 100 : -1,
				   out);
		break;
	case 20:
		list(m, pl, p, n, k, out);
		break;
	case 21: {
		/* GET /v1/results/file: name and file split at the first '|'. */
		const uint8_t *bar = memchr(p, '|', n);
		size_t nl = bar ? (size_t)(bar - p) : n;

		if (!bar || !hio_name_valid((const char *)p, nl, NULL) ||
		    !hio_name_valid((const char *)bar + 1, n - nl - 1, NULL))
			return -1;
		/* As MHD hands them over: each its own C string. */
		char *name = strndup((const char *)p, nl);

		FUZZ_CHECK(name);
		api_results_file(m, pl, name, nl, (const char *)bar + 1, n - nl - 1, out);
		free(name);
		break;
	}
	}
	json_decref(j);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct master *m;
	size_t off = 0;

	if (!state_dir[0]) {
		hio_log_set_func(quiet, NULL);
		snprintf(state_dir, sizeof(state_dir), "/tmp/hio-fuzz-master-XXXXXX");
		FUZZ_CHECK(mkdtemp(state_dir));
	}
	FUZZ_CHECK(hio_empty_dir(state_dir) == 0);
	m = master_open();
	for (int r = 0; r < MAX_REQS && off + 2 <= size; r++) {
		uint8_t op = data[off], sel = data[off + 1];
		size_t len = 0;
		struct reply out = {.fd = -1};
		uint64_t before = digest(m);
		/* The name of a results delete is a C string: NUL-terminated here. */
		uint8_t *body;
		int rc;

		off += 2;
		if (off + 2 <= size)
			len = (size_t)data[off] << 8 | data[off + 1];
		off = off + 2 <= size ? off + 2 : size;
		if (len > size - off)
			len = size - off;
		body = malloc(len + 1);
		FUZZ_CHECK(body);
		memcpy(body, data + off, len);
		body[len] = 0;
		off += len;
		rc = request(m, op, sel, body, len, &out);
		if (rc == 1 && out.status >= 400)
			FUZZ_CHECK(digest(m) == before);
		if (rc >= 0)
			reply_check(&out, op);
		reply_done(&out);
		free(body);
	}
	master_free(m);
	return 0;
}
