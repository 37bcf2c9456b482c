/* results.c: the result store. An entry's files live in DIR/results/<id>/; every
 * stored id is one line of DIR/results.journal, from which the index (pipeline, name
 * -> newest entry) and the set of seen ids are rebuilt at start. */
#include "master.h"

#include "hio_jw.h"
#include "hio_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void result_free(struct result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].name);
	free(r->files);
	free(r->name);
	free(r->error);
	free(r->pe);
	free(r->host);
	free(r);
}

static struct result *result_new(const char *name, const char *id, uint64_t ts, int failed,
				 const char *error, const struct rfile *files, size_t nfiles)
{
	struct result *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->ts = ts;
	r->failed = failed;
	r->exit_status = -1;
	r->name = strdup(name);
	r->error = error ? strdup(error) : NULL;
	r->files = nfiles ? calloc(nfiles, sizeof(*r->files)) : NULL;
	if (!r->name || (error && !r->error) || (nfiles && !r->files))
		goto oom;
	for (; r->nfiles < nfiles; r->nfiles++) {
		r->files[r->nfiles].size = files[r->nfiles].size;
		r->files[r->nfiles].name = strdup(files[r->nfiles].name);
		if (!r->files[r->nfiles].name)
			goto oom;
	}
	return r;
oom:
	result_free(r);
	return NULL;
}

json_t *files_json(const struct rfile *files, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_pack("{s:s,s:I}", "name", files[i].name, "size",
							 (json_int_t)files[i].size)) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* A torn write is cut back so the next line starts clean. */
int journal_append(struct master *m, const char *lines, size_t len)
{
	int rc = 0;

	HIO_ASSERT(len && lines[len - 1] == '\n');
	/* One write per batch, so a crash tears at most its last line. */
	pthread_mutex_lock(&m->journal_lock);
	if (hio_write_all(m->journal_fd, lines, len) < 0 ||
	    (m->fsync && fsync(m->journal_fd) < 0)) {
		int e = errno;

		if (ftruncate(m->journal_fd, (off_t)m->journal_size) < 0)
			hio_err("cannot cut the journal back after a failed write: %s; the next "
				"start ignores the torn line",
				strerror(errno));
		errno = e;
		rc = -1;
	} else {
		m->journal_size += len;
		for (const char *p = lines; (p = memchr(p, '\n', len - (size_t)(p - lines))); p++)
			m->journal_lines++;
		/* Until the caller applies it to the index, compaction must wait. */
		atomic_fetch_add(&m->journal_unapplied, 1);
	}
	pthread_mutex_unlock(&m->journal_lock);
	return rc;
}

const struct plver *plver_find(const struct pipeline *pl, int v)
{
	for (size_t i = 0; v && i < pl->n_vers; i++)
		if (pl->vers[i].version == v)
			return &pl->vers[i];
	return NULL;
}

int plver_add(struct pipeline *pl, int v, const char *exec, const char *image)
{
	struct plver *nv;

	if (!v || (!exec && !image) || plver_find(pl, v))
		return 0;
	nv = realloc(pl->vers, (pl->n_vers + 1) * sizeof(*nv));
	if (!nv)
		return -1;
	pl->vers = nv;
	nv = &pl->vers[pl->n_vers];
	nv->version = v;
	nv->exec = exec ? strdup(exec) : NULL;
	nv->image = image ? strdup(image) : NULL;
	if ((exec && !nv->exec) || (image && !nv->image)) {
		free(nv->exec);
		free(nv->image);
		return -1;
	}
	pl->n_vers++;
	return 0;
}

/* The provenance fields of an RDONE meta or a journal line (checked by the caller or
 * here: -1 when one is malformed). */
static int prov_get(json_t *o, struct result *r)
{
	const char *pe = NULL, *host = NULL;
	long long start = 0, dur = 0, ex = -1, stored = 0;
	char err[160];

	if (jget_str(o, "pe", 0, HIO_ID_LEN, &pe, err, sizeof(err)) < 0 ||
	    jget_str(o, "host", 0, MASTER_TEXT_MAX, &host, err, sizeof(err)) < 0 ||
	    jget_int(o, "start", 0, 0, INT64_MAX, &start, NULL, err, sizeof(err)) < 0 ||
	    jget_int(o, "duration_ms", 0, 0, INT64_MAX, &dur, NULL, err, sizeof(err)) < 0 ||
	    jget_int(o, "exit", 0, 0, INT32_MAX, &ex, NULL, err, sizeof(err)) < 0 ||
	    jget_int(o, "stored", 0, 0, INT64_MAX, &stored, NULL, err, sizeof(err)) < 0 ||
	    (pe && !hio_id_valid(pe)) || (host && !text_valid(host, MASTER_TEXT_MAX)))
		return -1;
	r->start_us = (uint64_t)start;
	r->duration_ms = (uint64_t)dur;
	r->exit_status = (int)ex;
	r->stored_us = (uint64_t)stored;
	if ((pe && !(r->pe = strdup(pe))) || (host && !(r->host = strdup(host))))
		return -1;
	return 0;
}

/* Ends a journal line begun at b's length len: 0, or -1 with b cut back to len. */
static int line_end(struct hio_buf *b, struct hio_jw *w, size_t len)
{
	if (hio_jw_end(w) < 0 || hio_buf_append(b, "\n", 1) < 0) {
		hio_buf_truncate(b, len);
		return -1;
	}
	return 0;
}

int result_line_add(struct hio_buf *b, const char *pln, const struct result *r,
		    const struct plver *pv, int kept)
{
	size_t len = b->len;
	struct hio_jw w;

	hio_jw_begin(&w, b);
	hio_jw_str(&w, "pipeline", pln);
	hio_jw_str(&w, "name", r->name);
	hio_jw_str(&w, "id", r->id);
	hio_jw_int(&w, "ts", (long long)r->ts);
	hio_jw_str(&w, "state", r->failed ? "failed" : "done");
	hio_jw_open(&w, "files", '[');
	for (size_t i = 0; i < r->nfiles; i++) {
		hio_jw_open(&w, NULL, '{');
		hio_jw_str(&w, "name", r->files[i].name);
		hio_jw_int(&w, "size", (long long)r->files[i].size);
		hio_jw_close(&w, '}');
	}
	hio_jw_close(&w, ']');
	hio_jw_bool(&w, "kept", kept);
	if (r->error)
		hio_jw_text(&w, "error", r->error);
	if (r->version)
		hio_jw_int(&w, "version", r->version);
	/* Provenance, and the command or image of the version that made it. */
	hio_jw_int(&w, "stored", (long long)r->stored_us);
	if (r->pe)
		hio_jw_str(&w, "pe", r->pe);
	if (r->host)
		hio_jw_str(&w, "host", r->host);
	if (r->start_us)
		hio_jw_int(&w, "start", (long long)r->start_us);
	if (r->pe || r->start_us)
		hio_jw_int(&w, "duration_ms", (long long)r->duration_ms);
	if (r->exit_status >= 0)
		hio_jw_int(&w, "exit", r->exit_status);
	if (pv && pv->exec)
		hio_jw_str(&w, "exec", pv->exec);
	if (pv && pv->image)
		hio_jw_str(&w, "image", pv->image);
	return line_end(b, &w, len);
}

int rm_line_add(struct hio_buf *b, const char *pln, const char *name, const char *id)
{
	size_t len = b->len;
	struct hio_jw w;

	hio_jw_begin(&w, b);
	hio_jw_str(&w, "op", "rm");
	hio_jw_str(&w, "pipeline", pln);
	hio_jw_str(&w, "name", name);
	hio_jw_str(&w, "id", id);
	return line_end(b, &w, len);
}

/* tmpdir is NULL for an entry without files. */
static void rm_tmpdir(const char *tmpdir)
{
	if (tmpdir)
		hio_rm_rf(tmpdir);
}

/* An entry journaled in a batch, to apply to the index once the batch's write is
 * done (or to undo when it failed). */
struct rpend {
	struct result *res; /* owned */
	struct ident *ident;
	struct pipeline *pl;
	uint8_t new_ident, kept, renamed, failed;
};

struct rbatch {
	struct master *m;
	struct hio_buf lines; /* the pending entries' journal lines */
	struct rpend *p;
	size_t n, cap;
};

struct rbatch *rbatch_new(struct master *m)
{
	struct rbatch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->m = m;
	hio_buf_init(&b->lines, RBATCH_BUF_MAX);
	/* A PE's batch of small results in one allocation: growing it from 256 bytes by
	 * reallocs was 7% of the master at 1 KB. */
	if (hio_buf_reserve(&b->lines, RBATCH_BYTES_FIRST) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

int rbatch_full(const struct rbatch *b)
{
	return b->n >= RBATCH_ENTRIES || b->lines.len >= RBATCH_BYTES;
}

static int result_dir(struct master *m, const char *id, char *path, size_t len)
{
	return path_fmt(path, len, "%s/results/%s", m->dir, id);
}

/* Forgets a pending entry that will not be stored: its directory, its claim. */
static void rpend_undo(struct master *m, struct rpend *p)
{
	char dest[PATH_MAX];

	if (p->renamed && result_dir(m, p->res->id, dest, sizeof(dest)) == 0)
		hio_rm_rf(dest);
	pthread_mutex_lock(&m->lock);
	if (p->new_ident) {
		hio_hmap_del(&m->ids, p->ident->id);
		free(p->ident);
	} else {
		p->ident->result = IDR_NONE;
	}
	pthread_mutex_unlock(&m->lock);
	result_free(p->res);
}

static void rbatch_undo(struct rbatch *b)
{
	for (size_t i = 0; i < b->n; i++)
		rpend_undo(b->m, &b->p[i]);
	b->n = 0;
	hio_buf_reset(&b->lines);
}

void rbatch_free(struct rbatch *b)
{
	if (!b)
		return;
	rbatch_undo(b);
	hio_buf_free(&b->lines);
	free(b->p);
	free(b);
}

static void store_err(struct master *m, int e, const char *id, struct reply *out)
{
	if (e == ENOSPC || e == EDQUOT) {
		master_note_disk_full(m);
		reply_err(out, MASTER_DISK_FULL, "disk full: cannot store result %s: %s", id,
			  strerror(e));
		return;
	}
	reply_err(out, 500, "cannot store result %s: %s", id, strerror(e));
}

int results_commit(struct rbatch *b, const char *tmpdir, json_t *meta, struct rfile *files,
		   size_t nfiles, json_t *duplicate, struct reply *out)
{
	struct master *m = b->m;
	const char *id = json_string_value(json_object_get(meta, "id"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *pln = json_string_value(json_object_get(meta, "pipeline"));
	const char *error = json_string_value(json_object_get(meta, "error"));
	int failed = strcmp(json_string_value(json_object_get(meta, "status")), "failed") == 0;
	json_int_t version = json_integer_value(json_object_get(meta, "version"));
	uint64_t ts = (uint64_t)json_integer_value(json_object_get(meta, "ts"));
	char dest[PATH_MAX];
	struct result *res, *existing;
	struct plver pv = {0};
	struct ident *ident;
	struct pipeline *pl;
	struct rpend *p;
	int kept, new_ident = 0, e;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;

		p = cap <= RBATCH_ENTRIES ? realloc(b->p, cap * sizeof(*p)) : NULL;
		if (p) {
			b->p = p;
			b->cap = cap;
		}
	}
	res = b->n < b->cap ? result_new(name, id, ts, failed, error, files, nfiles) : NULL;
	if (res && version > 0 && version < INT32_MAX)
		res->version = (int)version;
	if (res && prov_get(meta, res) < 0) {
		result_free(res);
		res = NULL;
	}
	if (res)
		res->stored_us = hio_now_us();
	if (!res || result_dir(m, id, dest, sizeof(dest)) < 0) {
		rm_tmpdir(tmpdir);
		result_free(res);
		reply_err(out, 500, "out of memory or path too long storing %s", id);
		return -1;
	}
	pthread_mutex_lock(&m->lock);
	pl = pipeline_get(m, pln);
	ident = hio_hmap_get(&m->ids, id);
	if (pl && ident && ident->result != IDR_NONE) {
		pthread_mutex_unlock(&m->lock);
		rm_tmpdir(tmpdir);
		result_free(res);
		json_array_append_new(duplicate, json_string(id));
		return 0;
	}
	if (pl && !ident && (ident = calloc(1, sizeof(*ident)))) {
		snprintf(ident->id, sizeof(ident->id), "%s", id);
		ident->pl = pl;
		new_ident = 1;
		if (hio_hmap_put(&m->ids, ident->id, ident) < 0) {
			free(ident);
			ident = NULL;
		}
	}
	if (!pl || !ident) {
		pthread_mutex_unlock(&m->lock);
		rm_tmpdir(tmpdir);
		result_free(res);
		reply_err(out, 503, "no room to store %s (pipelines or memory)", id);
		return -1;
	}
	/* Claimed: a concurrent upload of the same id, or the same one again in this
	 * batch, now counts as a duplicate. */
	ident->result = IDR_STORING;
	/* The command of the version that made it, copied for the journal line. */
	if (res->version && res->version == pl->version &&
	    plver_add(pl, pl->version, pl->exec, pl->image) < 0)
		hio_warn("out of memory recording pipeline %s version %d", pln, pl->version);
	{
		const struct plver *f = plver_find(pl, res->version);

		pv.exec = f && f->exec ? strdup(f->exec) : NULL;
		pv.image = f && f->image ? strdup(f->image) : NULL;
	}
	existing = hio_hmap_get(&pl->results, name);
	kept = !existing || existing->ts < ts;
	pthread_mutex_unlock(&m->lock);

	p = &b->p[b->n];
	*p = (struct rpend){.res = res,
			    .ident = ident,
			    .pl = pl,
			    .new_ident = (uint8_t)new_ident,
			    .kept = (uint8_t)kept,
			    .failed = (uint8_t)failed};
	if (kept && tmpdir) {
		/* A directory already named by this id is debris of a crash before its
		 * journal line: the id has no stored result, so it is safe to replace. */
		int r = rename(tmpdir, dest);

		if (r < 0 && (errno == EEXIST || errno == ENOTEMPTY) && hio_rm_rf(dest) == 0)
			r = rename(tmpdir, dest);
		p->renamed = r == 0;
		if (!p->renamed) {
			e = errno;
			hio_err("cannot move result %s into %s: %s; the upload fails", id, dest,
				strerror(e));
			goto undo;
		}
	} else if (tmpdir) {
		rm_tmpdir(tmpdir);
	}
	e = result_line_add(&b->lines, pln, res, &pv, kept) < 0 ? ENOMEM : 0;
	free(pv.exec);
	free(pv.image);
	pv.exec = pv.image = NULL;
	if (e) {
		hio_err("cannot journal result %s: %s; the upload fails", id, strerror(e));
		goto undo;
	}
	b->n++;
	return 0;
undo:
	free(pv.exec);
	free(pv.image);
	if (!p->renamed)
		rm_tmpdir(tmpdir);
	rpend_undo(m, p);
	store_err(m, e, id, out);
	return -1;
}

/* Puts an entry whose line is journaled into the index and removes what it replaced:
 * the previous version's files, its backlog message. */
static void rpend_apply(struct master *m, struct rpend *p, json_t *stored)
{
	char oldpath[PATH_MAX] = "", msgpath[PATH_MAX] = "";
	struct result *res = p->res, *existing, *old = NULL;
	struct pipeline *pl = p->pl;
	struct ident *ident = p->ident;
	int kept = p->kept;
	char id[HIO_ID_LEN + 1];

	/* Once in the index, res is the index's: a concurrent rm may free it. */
	snprintf(id, sizeof(id), "%s", res->id);
	hio_debug("storing result %s of %s/%s (%s, %zu files)", id, pl->name, res->name,
		  p->failed ? "failed" : "done", res->nfiles);
	pthread_mutex_lock(&m->lock);
	ident->result = p->failed ? IDR_FAILED : IDR_DONE;
	if (p->new_ident)
		pl->n_in++;
	if (p->failed)
		pl->n_failed++;
	else
		pl->n_done++;
	existing = hio_hmap_get(&pl->results, res->name);
	/* A newer version may have been committed while this one was on disk. */
	if (kept && existing && existing->ts >= res->ts)
		kept = 0;
	if (kept && hio_hmap_put(&pl->results, res->name, res) == 0) {
		results_sorted_drop(pl);
		if (existing) {
			old = existing;
			if (old->nfiles)
				result_dir(m, old->id, oldpath, sizeof(oldpath));
		}
		res = NULL;
	}
	if (ident->msg)
		backlog_drop(m, ident->msg, msgpath, sizeof(msgpath));
	pthread_mutex_unlock(&m->lock);

	json_array_append_new(stored, json_string(id));
	if (res) {
		char dest[PATH_MAX];

		if (p->renamed && result_dir(m, res->id, dest, sizeof(dest)) == 0)
			hio_rm_rf(dest);
		result_free(res);
	}
	if (old) {
		if (oldpath[0])
			results_trash(m, oldpath);
		result_free(old);
	}
	if (msgpath[0] && unlink(msgpath) < 0 && errno != ENOENT)
		hio_warn("cannot remove acknowledged backlog file %s: %s", msgpath,
			 strerror(errno));
}

int results_flush(struct rbatch *b, json_t *stored, struct reply *out)
{
	struct master *m = b->m;
	char rdir[PATH_MAX];
	int e, renamed = 0;

	if (!b->n)
		return 0;
	for (size_t i = 0; i < b->n; i++)
		renamed |= b->p[i].renamed;
	/* The renames first, then the lines naming them: one fsync for the batch's. */
	if (renamed && m->fsync && path_fmt(rdir, sizeof(rdir), "%s/results", m->dir) == 0 &&
	    dir_sync(rdir) < 0)
		hio_warn("cannot fsync %s: %s", rdir, strerror(errno));
	if (journal_append(m, b->lines.data, b->lines.len) < 0) {
		e = errno;
		hio_err("cannot journal %zu results (the first %s): %s; the upload fails", b->n,
			b->p[0].res->id, strerror(e));
		store_err(m, e, b->p[0].res->id, out);
		rbatch_undo(b);
		return -1;
	}
	for (size_t i = 0; i < b->n; i++)
		rpend_apply(m, &b->p[i], stored);
	atomic_fetch_sub(&m->journal_unapplied, 1); /* in the index: compaction may go */
	b->n = 0;
	hio_buf_reset(&b->lines);
	return 0;
}

void api_results_file(struct master *m, const char *pln, const char *name, size_t name_len,
		      const char *file, size_t file_len, struct reply *out)
{
	char path[PATH_MAX];
	struct pipeline *pl;
	struct result *r;
	struct stat st;
	int fd = -1, e = ENOENT;

	(void)name_len;
	(void)file_len;
	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, pln);
	r = pl ? hio_hmap_get(&pl->results, name) : NULL;
	/* Only a file the index lists is served, so no request names a path of its own. */
	for (size_t i = 0; r && i < r->nfiles; i++) {
		if (strcmp(r->files[i].name, file) != 0)
			continue;
		if (path_fmt(path, sizeof(path), "%s/results/%s/%s", m->dir, r->id, file) == 0)
			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		break;
	}
	pthread_mutex_unlock(&m->lock);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if (r && e != ENOENT)
			hio_warn("cannot open result file %s: %s", path, strerror(e));
		reply_err(out, 404, "no result file %s for %s in pipeline %s", file, name, pln);
		return;
	}
	out->status = 200;
	out->fd = fd;
	out->fd_size = (uint64_t)st.st_size;
}

int results_drop(struct master *m, struct pipeline *pl, const char *name, const char *id)
{
	struct result *r = hio_hmap_get(&pl->results, name);
	struct ident *ident;

	HIO_ASSERT_HELD(&m->lock);
	if (!r || strcmp(r->id, id) != 0)
		return 0;
	hio_hmap_del(&pl->results, name);
	results_sorted_drop(pl);
	/* The id is forgotten with its entry (memory is bounded by what is kept), unless
	 * its message is still in the backlog or being stored. */
	ident = hio_hmap_get(&m->ids, id);
	if (ident && !ident->msg && (ident->result == IDR_DONE || ident->result == IDR_FAILED)) {
		hio_hmap_del(&m->ids, id);
		free(ident);
	}
	result_free(r);
	return 1;
}

/* {"op":"rm","pipeline":P,"name":N,"id":I}: an entry deleted. 0, or -1 when malformed. */
static int replay_rm(struct master *m, json_t *o)
{
	const char *pln, *name, *id, *why;
	struct pipeline *pl;
	char err[160];

	if (jget_str(o, "pipeline", JF_REQUIRED, HIO_PIPELINE_MAX, &pln, err, sizeof(err)) < 0 ||
	    jget_str(o, "name", JF_REQUIRED, HIO_NAME_MAX, &name, err, sizeof(err)) < 0 ||
	    jget_str(o, "id", JF_REQUIRED, HIO_ID_LEN, &id, err, sizeof(err)) < 0 ||
	    !hio_pipeline_valid(pln) || !hio_name_valid(name, strlen(name), &why) ||
	    !hio_id_valid(id))
		return -1;
	pl = pipeline_find(m, pln);
	if (pl)
		results_drop(m, pl, name, id);
	return 0;
}

/* Applies one journal line to the index. 0, or -1 when the line is not one of ours.
 * Caller holds m->lock. */
static int replay_line(struct master *m, json_t *o)
{
	const char *pln, *name, *id, *state, *error, *why;
	json_t *files = json_object_get(o, "files"), *f;
	struct rfile *rf = NULL;
	struct result *res = NULL, *existing;
	struct pipeline *pl;
	struct ident *ident;
	long long ts = 0, version = 0;
	int kept = 1, failed;
	size_t i, n;
	char err[160];

	HIO_ASSERT_HELD(&m->lock);

	if (json_is_string(json_object_get(o, "op")))
		return strcmp(json_string_value(json_object_get(o, "op")), "rm") == 0
			   ? replay_rm(m, o)
			   : -1;
	if (jget_str(o, "pipeline", JF_REQUIRED, HIO_PIPELINE_MAX, &pln, err, sizeof(err)) < 0 ||
	    jget_str(o, "name", JF_REQUIRED, HIO_NAME_MAX, &name, err, sizeof(err)) < 0 ||
	    jget_str(o, "id", JF_REQUIRED, HIO_ID_LEN, &id, err, sizeof(err)) < 0 ||
	    jget_str(o, "state", JF_REQUIRED, 16, &state, err, sizeof(err)) < 0 ||
	    jget_str(o, "error", 0, HIO_FRAME_META_MAX, &error, err, sizeof(err)) < 0 ||
	    jget_int(o, "ts", JF_REQUIRED, 0, INT64_MAX, &ts, NULL, err, sizeof(err)) < 0 ||
	    jget_int(o, "version", 0, 0, INT32_MAX, &version, NULL, err, sizeof(err)) < 0 ||
	    jget_bool(o, "kept", 0, &kept, NULL, err, sizeof(err)) < 0 || !hio_id_valid(id) ||
	    !hio_pipeline_valid(pln) || !hio_name_valid(name, strlen(name), &why) ||
	    !json_is_array(files) || json_array_size(files) > HIO_RESULT_FILES_MAX)
		return -1;
	failed = strcmp(state, "failed") == 0;
	n = json_array_size(files);
	rf = n ? calloc(n, sizeof(*rf)) : NULL;
	if (n && !rf)
		return -1;
	json_array_foreach(files, i, f)
	{
		rf[i].name = (char *)json_string_value(json_object_get(f, "name"));
		rf[i].size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		if (!rf[i].name || !hio_name_valid(rf[i].name, strlen(rf[i].name), &why)) {
			free(rf);
			return -1;
		}
	}
	res = result_new(name, id, (uint64_t)ts, failed, error, rf, n);
	free(rf);
	if (!res)
		return -1;
	res->version = (int)version;
	if (prov_get(o, res) < 0) {
		result_free(res);
		return -1;
	}
	pl = pipeline_get(m, pln);
	if (pl && plver_add(pl, res->version, json_string_value(json_object_get(o, "exec")),
			    json_string_value(json_object_get(o, "image"))) < 0) {
		result_free(res);
		return -1;
	}
	ident = hio_hmap_get(&m->ids, id);
	if (!pl || ident) {
		/* A repeated line (or no room): the first one counted. */
		result_free(res);
		return pl ? 0 : -1;
	}
	ident = calloc(1, sizeof(*ident));
	if (!ident) {
		result_free(res);
		return -1;
	}
	snprintf(ident->id, sizeof(ident->id), "%s", id);
	ident->pl = pl;
	ident->result = failed ? IDR_FAILED : IDR_DONE;
	if (hio_hmap_put(&m->ids, ident->id, ident) < 0) {
		free(ident);
		result_free(res);
		return -1;
	}
	pl->n_in++;
	if (failed)
		pl->n_failed++;
	else
		pl->n_done++;
	existing = hio_hmap_get(&pl->results, name);
	if (kept && (!existing || existing->ts < (uint64_t)ts) &&
	    hio_hmap_put(&pl->results, res->name, res) == 0) {
		results_sorted_drop(pl);
		result_free(existing);
		res = NULL;
	}
	result_free(res);
	return 0;
}

static int replay_journal(struct master *m, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, lines = 0, bad = 0;
	off_t good = 0, pos = 0;
	ssize_t n;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *o;
		int r;

		pos += n;
		if (line[n - 1] != '\n')
			break; /* torn last line: cut below */
		o = json_loadb(line, (size_t)n - 1, 0, NULL);
		/* Start-up is single-threaded; the lock is for the registry's check. */
		pthread_mutex_lock(&m->lock);
		r = o ? replay_line(m, o) : -1;
		pthread_mutex_unlock(&m->lock);
		if (r < 0) {
			bad++;
			hio_warn("%s: line %zu is not a result record; skipped", path, lines + 1);
		}
		json_decref(o);
		lines++;
		good = pos;
	}
	free(line);
	fclose(f);
	m->journal_size = (uint64_t)good;
	m->journal_lines = lines;
	if (pos > good) {
		if (truncate(path, good) < 0) {
			hio_err("cannot cut the torn end of %s: %s; not starting", path,
				strerror(errno));
			return -1;
		}
		hio_warn("%s ended in a torn line (a crash while writing); cut it off", path);
	}
	hio_info("replayed %zu result records from %s (%zu skipped)", lines, path, bad);
	return 0;
}

/* Removes DIR/results/<id> directories no index entry points at: debris of crashes
 * between rename and journal, or of replaced versions not yet removed. */
static void remove_orphans(struct master *m, const char *rdir)
{
	struct hio_hmap live;
	struct list *pos, *tmp;
	struct dirent *de;
	char path[PATH_MAX];
	size_t removed = 0;
	DIR *d;

	hio_hmap_init(&live);
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		for (size_t i = 0; i < pl->results.cap; i++) {
			struct result *r = pl->results.slots[i].val;

			if (pl->results.slots[i].key && hio_hmap_put(&live, r->id, r) < 0)
				goto out; /* out of memory: better keep debris than lose data */
		}
	}
	d = opendir(rdir);
	while (d && (de = readdir(d))) {
		if (!hio_id_valid(de->d_name) || hio_hmap_get(&live, de->d_name))
			continue;
		if (path_fmt(path, sizeof(path), "%s/%s", rdir, de->d_name) == 0 &&
		    hio_rm_rf(path) == 0)
			removed++;
	}
	if (d)
		closedir(d);
	if (removed)
		hio_info("removed %zu result directories no index entry refers to", removed);
out:
	hio_hmap_free(&live);
}

int results_load(struct master *m)
{
	char rdir[PATH_MAX], tdir[PATH_MAX], jpath[PATH_MAX];

	if (path_fmt(rdir, sizeof(rdir), "%s/results", m->dir) < 0 ||
	    path_fmt(tdir, sizeof(tdir), "%s/results/tmp", m->dir) < 0 ||
	    path_fmt(jpath, sizeof(jpath), "%s/results.journal", m->dir) < 0)
		return -1;
	/* Temp dirs belong to uploads that never finished: not acknowledged, so gone. */
	if (hio_rm_rf(tdir) < 0 || hio_mkdir_p(tdir) < 0) {
		hio_err("cannot reset %s: %s; not starting", tdir, strerror(errno));
		return -1;
	}
	if (replay_journal(m, jpath) < 0) {
		hio_err("cannot read %s: %s; not starting", jpath, strerror(errno));
		return -1;
	}
	remove_orphans(m, rdir);
	m->journal_fd = open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (m->journal_fd < 0) {
		hio_err("cannot open %s: %s; not starting", jpath, strerror(errno));
		return -1;
	}
	return 0;
}

void results_close(struct master *m)
{
	if (m->journal_fd >= 0)
		close(m->journal_fd);
	m->journal_fd = -1;
}
