/* results_list.c: GET /v1/results, one page at a time, and DELETE /v1/results.
 *
 * A page is the `limit` first names (in strcmp order) after the cursor that match the
 * filters, read from the pipeline's name order (an array of pointers, sorted again only
 * after a change), so a page costs its own size: the master holds at most one page of
 * JSON per request, and a listing of the whole index costs O(n) once sorted. The
 * unpaged form (no limit, no after), which hio-fs still uses, is streamed: the answer is
 * read a page at a time, each page taken under m->lock and released before it is sent. */
#include "master.h"

#include "hio_buf.h"
#include "hio_log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rquery_free(struct rquery *q)
{
	if (!q)
		return;
	free(q->prefix);
	free(q->after);
	free(q);
}

static json_t *result_json(const struct pipeline *pl, const struct result *r)
{
	const struct plver *pv = plver_find(pl, r->version);
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:o}", "name", r->name, "id", r->id, "ts",
			      (json_int_t)r->ts, "state", r->failed ? "failed" : "done", "files",
			      files_json(r->files, r->nfiles));
	int rc = o ? 0 : -1;

	if (o && r->error)
		rc |= json_object_set_new(o, "error", json_string(r->error));
	if (o && r->version)
		rc |= json_object_set_new(o, "version", json_integer(r->version));
	if (o && pv && pv->exec)
		rc |= json_object_set_new(o, "command", json_string(pv->exec));
	if (o && pv && pv->image)
		rc |= json_object_set_new(o, "image", json_string(pv->image));
	if (o && r->pe)
		rc |= json_object_set_new(o, "pe", json_string(r->pe));
	if (o && r->host)
		rc |= json_object_set_new(o, "host", json_string(r->host));
	if (o && r->start_us) {
		rc |= json_object_set_new(o, "start", json_integer((json_int_t)r->start_us));
		rc |=
		    json_object_set_new(o, "duration_ms", json_integer((json_int_t)r->duration_ms));
	}
	if (o && r->exit_status >= 0)
		rc |= json_object_set_new(o, "exit", json_integer(r->exit_status));
	if (o && r->stored_us)
		rc |= json_object_set_new(o, "stored", json_integer((json_int_t)r->stored_us));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Roughly the bytes of r's JSON, to end a page near RESULTS_PAGE_BYTES. */
static size_t result_cost(const struct result *r)
{
	size_t n = 200 + strlen(r->name) + (r->error ? strlen(r->error) : 0);

	for (size_t i = 0; i < r->nfiles; i++)
		n += 24 + strlen(r->files[i].name);
	return n;
}

static int matches(const struct rquery *q, const struct result *r)
{
	if (q->state == RS_DONE && r->failed)
		return 0;
	if (q->state == RS_FAILED && !r->failed)
		return 0;
	if (q->after && strcmp(r->name, q->after) <= 0)
		return 0;
	return strncmp(r->name, q->prefix, q->prefix_len) == 0;
}

static int cmp_result(const void *a, const void *b)
{
	return strcmp((*(struct result *const *)a)->name, (*(struct result *const *)b)->name);
}

void results_sorted_drop(struct pipeline *pl)
{
	free(pl->sorted);
	pl->sorted = NULL;
	pl->n_sorted = 0;
}

struct result **results_sorted(struct pipeline *pl)
{
	size_t n = 0;

	if (pl->sorted || !pl->results.len)
		return pl->sorted;
	pl->sorted = malloc(pl->results.len * sizeof(*pl->sorted));
	for (size_t i = 0; pl->sorted && i < pl->results.cap; i++)
		if (pl->results.slots[i].key)
			pl->sorted[n++] = pl->results.slots[i].val;
	if (pl->sorted)
		qsort(pl->sorted, n, sizeof(*pl->sorted), cmp_result);
	pl->n_sorted = n;
	return pl->sorted;
}

/* The first index in v[0..n) whose name is greater than key (or not less, !strictly). */
static size_t lower_bound(struct result **v, size_t n, const char *key, int strictly)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v[mid]->name, key);

		if (c < 0 || (strictly && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* One page appended to arr, *next set to the last name when more match (malloc'd),
 * else NULL. 0, or -1 out of memory. Takes m->lock. */
static int results_page(struct master *m, const struct rquery *q, json_t *arr, char **next)
{
	struct result **v = NULL, *last = NULL;
	struct pipeline *pl;
	size_t i = 0, taken = 0, bytes = 0;
	int rc = 0;

	*next = NULL;
	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, q->pl);
	if (pl && pl->results.len && !(v = results_sorted(pl)))
		rc = -1;
	if (v) {
		/* From the cursor, or the prefix's first name when that is later. */
		i = q->after ? lower_bound(v, pl->n_sorted, q->after, 1) : 0;
		if (q->prefix_len && (i == pl->n_sorted || strcmp(v[i]->name, q->prefix) < 0))
			i = lower_bound(v, pl->n_sorted, q->prefix, 0);
	}
	for (; rc == 0 && v && i < pl->n_sorted; i++) {
		struct result *r = v[i];

		if (strncmp(r->name, q->prefix, q->prefix_len) != 0)
			break; /* past the prefix's names */
		if (!matches(q, r))
			continue;
		/* One more matches after a full page: the page says where to go on. A page
		 * of big entries (many files each) ends early, after at least one, so an
		 * answer stays small whatever limit was asked for. */
		if (taken == q->limit || (taken && bytes > RESULTS_PAGE_BYTES)) {
			*next = strdup(last->name);
			rc = *next ? 0 : -1;
			break;
		}
		if (json_array_append_new(arr, result_json(pl, r)) < 0)
			rc = -1;
		bytes += result_cost(r);
		last = r;
		taken++;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

void api_results_list(struct master *m, struct rquery *q, struct reply *out)
{
	json_t *arr = json_array();
	char *next = NULL;

	if (!arr || results_page(m, q, arr, &next) < 0) {
		json_decref(arr);
		reply_err(out, 500, "out of memory listing results");
		return;
	}
	reply_ok(
	    out, 200,
	    json_pack("{s:o,s:o}", "results", arr, "next", next ? json_string(next) : json_null()));
	free(next);
}

struct results_stream {
	struct master *m;
	struct rquery *q;
	char *text; /* the part of the answer not yet read */
	size_t len, off;
	int started, done;
};

void api_results_stream(struct master *m, struct rquery *q, struct reply *out)
{
	struct results_stream *s = calloc(1, sizeof(*s));

	if (!s) {
		rquery_free(q);
		reply_err(out, 500, "out of memory listing results");
		return;
	}
	s->m = m;
	s->q = q;
	q->limit = RESULTS_PAGE_DEFAULT;
	out->status = 200;
	out->stream = s;
}

/* The next page's text: entries joined by commas, with the answer's head and tail. */
static int stream_fill(struct results_stream *s)
{
	json_t *arr = json_array();
	char *next = NULL;
	struct hio_buf b;
	size_t i;
	json_t *e;
	int rc = -1;

	hio_buf_init(&b, SIZE_MAX);
	if (!arr || results_page(s->m, s->q, arr, &next) < 0)
		goto out;
	if (!s->started && hio_buf_append(&b, "{\"results\":[", 12) < 0)
		goto out;
	json_array_foreach(arr, i, e)
	{
		char *t = json_dumps(e, JSON_COMPACT);
		int bad = !t || ((s->started || i) && hio_buf_append(&b, ",", 1) < 0) ||
			  hio_buf_append(&b, t, strlen(t)) < 0;

		free(t);
		if (bad)
			goto out;
	}
	s->started |= json_array_size(arr) > 0;
	if (!next && hio_buf_append(&b, "],\"next\":null}", 14) < 0)
		goto out;
	free(s->q->after);
	s->q->after = next;
	next = NULL;
	s->done = !s->q->after;
	free(s->text);
	s->text = hio_buf_steal(&b, &s->len);
	s->off = 0;
	rc = 0;
out:
	free(next);
	hio_buf_free(&b);
	json_decref(arr);
	return rc;
}

long results_stream_read(struct results_stream *s, char *buf, size_t max)
{
	size_t k;

	while (s->off == s->len) {
		if (s->done)
			return 0;
		if (stream_fill(s) < 0) {
			hio_err("out of memory streaming a result listing; it ends early");
			return -1;
		}
	}
	k = s->len - s->off < max ? s->len - s->off : max;
	memcpy(buf, s->text + s->off, k);
	s->off += k;
	return (long)k;
}

void results_stream_free(struct results_stream *s)
{
	if (!s)
		return;
	rquery_free(s->q);
	free(s->text);
	free(s);
}

#define RM_BATCH 1000 /* entries deleted per journal write and lock hold */

struct rm_item {
	char *name;
	char id[HIO_ID_LEN + 1];
};

/* Up to RM_BATCH entries to delete: the one named, or those stored before cutoff. */
static size_t rm_collect(struct master *m, const char *pln, const char *name, uint64_t cutoff,
			 struct rm_item *v)
{
	struct pipeline *pl;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, pln);
	if (pl && name) {
		struct result *r = hio_hmap_get(&pl->results, name);

		if (r && (v[0].name = strdup(r->name))) {
			memcpy(v[0].id, r->id, sizeof(v[0].id));
			n = 1;
		}
	}
	for (size_t i = 0; pl && !name && i < pl->results.cap && n < RM_BATCH; i++) {
		struct result *r = pl->results.slots[i].val;

		/* Entries from before provenance have no stored time: their input's. */
		if (!pl->results.slots[i].key || (r->stored_us ? r->stored_us : r->ts) >= cutoff)
			continue;
		if (!(v[n].name = strdup(r->name)))
			break;
		memcpy(v[n].id, r->id, sizeof(v[n].id));
		n++;
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* Journals, drops and removes a batch. 0, or -1 (errno) when the journal write failed:
 * then nothing of the batch is deleted. */
static int rm_apply(struct master *m, const char *pln, struct rm_item *v, size_t n, size_t *deleted)
{
	struct hio_buf b;
	struct pipeline *pl;
	char path[PATH_MAX];
	int rc = 0;

	hio_buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (rm_line_add(&b, pln, v[i].name, v[i].id) < 0) {
			errno = ENOMEM;
			rc = -1;
		}
	}
	/* The journal first: a crash after it loses nothing (the start-up removes the
	 * directories no entry points at); one before it keeps the entries whole. */
	if (rc == 0 && n && journal_append(m, b.data, b.len) < 0)
		rc = -1;
	hio_buf_free(&b);
	if (rc < 0)
		return -1;
	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, pln);
	for (size_t i = 0; pl && i < n; i++)
		if (results_drop(m, pl, v[i].name, v[i].id))
			(*deleted)++;
		else
			v[i].id[0] = '\0'; /* replaced meanwhile: its directory is the new one's */
	pthread_mutex_unlock(&m->lock);
	if (n)
		atomic_fetch_sub(&m->journal_unapplied, 1); /* in the index: compaction may go */
	for (size_t i = 0; i < n; i++)
		if (v[i].id[0] &&
		    path_fmt(path, sizeof(path), "%s/results/%s", m->dir, v[i].id) == 0 &&
		    hio_rm_rf(path) < 0)
			hio_warn("cannot remove %s: %s; the next start removes it", path,
				 strerror(errno));
	return 0;
}

void api_results_delete(struct master *m, const char *pln, const char *name, long long older_s,
			struct reply *out)
{
	struct rm_item *v = calloc(RM_BATCH, sizeof(*v));
	uint64_t now = hio_now_us(), age_us = older_s > 0 ? (uint64_t)older_s * 1000000 : 0;
	/* By name, the cutoff is unused; by age, entries stored before it go. */
	uint64_t cutoff = age_us < now ? now - age_us : 0;
	size_t n, deleted = 0;
	int rc = 0;

	if (!v) {
		reply_err(out, 500, "out of memory deleting results");
		return;
	}
	do {
		n = rm_collect(m, pln, name, cutoff, v);
		rc = rm_apply(m, pln, v, n, &deleted);
		for (size_t i = 0; i < n; i++)
			free(v[i].name);
	} while (rc == 0 && !name && n == RM_BATCH);
	free(v);
	if (rc < 0) {
		int e = errno;

		reply_err(out, e == ENOSPC || e == EDQUOT ? 503 : 500,
			  "cannot journal the deletion (%zu deleted before): %s", deleted,
			  strerror(e));
		return;
	}
	if (name && !deleted) {
		reply_err(out, 404, "no result entry named %s in pipeline %s", name, pln);
		return;
	}
	hio_info("deleted %zu result entries of pipeline %s", deleted, pln);
	reply_ok(out, 200, json_pack("{s:I}", "deleted", (json_int_t)deleted));
}
