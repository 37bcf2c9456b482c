/* upload.c: PUT /v1/results, a stream of entries (RFILE* RDONE), parsed as it
 * arrives. RFILE bodies go straight to files in a temp dir per entry; RDONE hands the
 * entry to results_commit. Nothing is buffered whole. */
#include "master.h"

#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASTER_RESULT_ENTRY_MAX HIO_BODY_MAX /* bytes of all files of one entry */

struct upload {
	struct master *m;
	hio_frame_dec *dec;
	uint64_t seq;
	unsigned entries;
	/* the entry being received */
	int open;
	char id[HIO_ID_LEN + 1];
	char tmpdir[PATH_MAX];
	struct rfile *files;
	size_t nfiles, capfiles;
	struct hio_hmap names;
	uint64_t bytes;
	int fd;	  /* the RFILE being written, or -1 */
	int type; /* type of the frame being decoded */
	json_t *stored, *duplicate;
	struct rbatch *batch;	      /* entries received, journaled together at the end */
	char only_pe[HIO_ID_LEN + 1]; /* a PE's credential: its own entries only, or "" */
	unsigned status;
	char err[300];
};

static void up_fail(struct upload *u, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void up_fail(struct upload *u, unsigned status, const char *fmt, ...)
{
	va_list ap;

	if (u->status)
		return;
	u->status = status;
	va_start(ap, fmt);
	vsnprintf(u->err, sizeof(u->err), fmt, ap);
	va_end(ap);
}

static void io_fail(struct upload *u, const char *what, const char *path)
{
	int e = errno;

	if (e == ENOSPC || e == EDQUOT) {
		master_note_disk_full(u->m);
		up_fail(u, MASTER_DISK_FULL, "disk full: cannot %s a result file: %s", what,
			strerror(e));
		return;
	}
	hio_err("result upload: cannot %s %s: %s; the upload fails", what, path, strerror(e));
	up_fail(u, 500, "cannot %s a result file: %s", what, strerror(e));
}

/* Forgets the open entry; its temp dir is removed unless it was handed on. */
static void entry_reset(struct upload *u, int remove_dir)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	if (remove_dir && u->tmpdir[0] && hio_rm_rf(u->tmpdir) < 0)
		hio_warn("cannot remove %s: %s; it is removed at the next start", u->tmpdir,
			 strerror(errno));
	for (size_t i = 0; i < u->nfiles; i++)
		free(u->files[i].name);
	free(u->files);
	u->files = NULL;
	u->nfiles = u->capfiles = 0;
	hio_hmap_free(&u->names);
	u->tmpdir[0] = '\0';
	u->open = 0;
	u->bytes = 0;
}

static int entry_begin(struct upload *u, const char *id)
{
	if (u->open)
		return 0;
	if (path_fmt(u->tmpdir, sizeof(u->tmpdir), "%s/results/tmp/%016llx-%u", u->m->dir,
		     (unsigned long long)u->seq, u->entries++) < 0 ||
	    hio_mkdir_p(u->tmpdir) < 0) {
		io_fail(u, "create", u->tmpdir);
		u->tmpdir[0] = '\0';
		return -1;
	}
	snprintf(u->id, sizeof(u->id), "%s", id);
	u->open = 1;
	return 0;
}

static int rfile_begin(struct upload *u, const struct hio_frame_hdr *h, json_t *meta)
{
	const char *id, *file, *why, *slash;
	char path[PATH_MAX], err[160];
	struct rfile *rf;

	if (jget_str(meta, "id", JF_REQUIRED, HIO_ID_LEN, &id, err, sizeof(err)) < 0 ||
	    jget_str(meta, "file", JF_REQUIRED, HIO_NAME_MAX, &file, err, sizeof(err)) < 0) {
		up_fail(u, 400, "bad RFILE meta: %s", err);
		return -1;
	}
	if (!hio_id_valid(id) || !hio_name_valid(file, strlen(file), &why)) {
		up_fail(u, 400, "bad RFILE meta: %s", hio_id_valid(id) ? why : "bad id");
		return -1;
	}
	if (u->open && strcmp(id, u->id) != 0) {
		up_fail(u, 400, "RFILE of %s inside the entry of %s (RDONE missing)", id, u->id);
		return -1;
	}
	if (u->open && u->nfiles >= HIO_RESULT_FILES_MAX) {
		up_fail(u, 413, "entry %s has more than %d files", id, HIO_RESULT_FILES_MAX);
		return -1;
	}
	if (u->bytes + h->body_len > MASTER_RESULT_ENTRY_MAX) {
		up_fail(u, 413, "entry %s is larger than %llu bytes", id,
			(unsigned long long)MASTER_RESULT_ENTRY_MAX);
		return -1;
	}
	if (entry_begin(u, id) < 0)
		return -1;
	if (hio_hmap_get(&u->names, file)) {
		up_fail(u, 400, "entry %s names file %s twice", id, file);
		return -1;
	}
	if (u->nfiles == u->capfiles) {
		size_t cap = u->capfiles ? u->capfiles * 2 : 8;
		struct rfile *n = realloc(u->files, cap * sizeof(*n));

		if (!n) {
			up_fail(u, 500, "out of memory");
			return -1;
		}
		u->files = n;
		u->capfiles = cap;
	}
	rf = &u->files[u->nfiles];
	rf->size = 0;
	rf->name = strdup(file);
	if (!rf->name || hio_hmap_put(&u->names, rf->name, rf->name) < 0) {
		free(rf->name);
		up_fail(u, 500, "out of memory");
		return -1;
	}
	u->nfiles++;
	if (path_fmt(path, sizeof(path), "%s/%s", u->tmpdir, file) < 0) {
		up_fail(u, 400, "result file name %s is too long", file);
		return -1;
	}
	/* Names were checked (no "..", not absolute), so parents stay inside tmpdir. */
	slash = strrchr(path, '/');
	if (strchr(file, '/')) {
		path[slash - path] = '\0';
		if (hio_mkdir_p(path) < 0) {
			up_fail(u, 400, "result file %s conflicts with another file of %s", file,
				id);
			return -1;
		}
		path[slash - path] = '/';
	}
	u->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		if (errno == EEXIST || errno == EISDIR || errno == ENOTDIR)
			up_fail(u, 400, "result file %s conflicts with another file of %s", file,
				id);
		else
			io_fail(u, "create", path);
		return -1;
	}
	return 0;
}

/* The provenance a PE reports (docs/protocol.md), all optional. 0, or -1 with err. */
static int prov_check(json_t *meta, char *err, size_t errlen)
{
	const char *pe, *host;
	long long v;

	if (jget_str(meta, "pe", 0, HIO_ID_LEN, &pe, err, errlen) < 0 ||
	    jget_str(meta, "host", 0, MASTER_TEXT_MAX, &host, err, errlen) < 0 ||
	    jget_int(meta, "start", 0, 0, INT64_MAX, &v, NULL, err, errlen) < 0 ||
	    jget_int(meta, "duration_ms", 0, 0, INT64_MAX, &v, NULL, err, errlen) < 0 ||
	    jget_int(meta, "exit", 0, 0, INT32_MAX, &v, NULL, err, errlen) < 0)
		return -1;
	if (json_object_get(meta, "stored")) {
		snprintf(err, errlen, "'stored' is the master's to set");
		return -1;
	}
	if (pe && !hio_id_valid(pe)) {
		snprintf(err, errlen, "'pe' must be a PE id");
		return -1;
	}
	if (host && !text_valid(host, MASTER_TEXT_MAX)) {
		snprintf(err, errlen, "'host' must be a host name or address");
		return -1;
	}
	return 0;
}

/* A PE's own credential uploads only entries it names itself the PE of, in the
 * pipeline it registered for. Unknown PE (the master restarted and it has not
 * registered again yet): 503, which the PE retries. */
static int rdone_pe_check(struct upload *u, json_t *meta, const char *pl)
{
	const char *pe = json_string_value(json_object_get(meta, "pe"));
	struct mpe *p;
	int ok, known;

	if (!pe || strcmp(pe, u->only_pe) != 0) {
		up_fail(u, 403, "a PE's credential uploads only its own results (pe %s)",
			u->only_pe);
		return -1;
	}
	pthread_mutex_lock(&u->m->lock);
	p = mpe_find(u->m, pe);
	known = p && p->pl;
	ok = known && strcmp(p->pl->name, pl) == 0;
	pthread_mutex_unlock(&u->m->lock);
	if (!known) {
		up_fail(u, 503, "PE %s is not registered (yet); retry", pe);
		return -1;
	}
	if (!ok) {
		up_fail(u, 403, "PE %s uploads only to its own pipeline, not %s", pe, pl);
		return -1;
	}
	return 0;
}

static int rdone_check(struct upload *u, const struct hio_frame_hdr *h, json_t *meta)
{
	const char *id, *name, *pl, *st, *error, *why;
	json_t *ts = json_object_get(meta, "ts");
	long long ver = 0;
	char err[160];

	if (h->body_len) {
		up_fail(u, 400, "an RDONE frame carries no body");
		return -1;
	}
	if (jget_str(meta, "id", JF_REQUIRED, HIO_ID_LEN, &id, err, sizeof(err)) < 0 ||
	    jget_str(meta, "name", JF_REQUIRED, HIO_NAME_MAX, &name, err, sizeof(err)) < 0 ||
	    jget_str(meta, "pipeline", JF_REQUIRED, HIO_PIPELINE_MAX, &pl, err, sizeof(err)) < 0 ||
	    jget_str(meta, "status", JF_REQUIRED, 16, &st, err, sizeof(err)) < 0 ||
	    jget_str(meta, "error", 0, HIO_FRAME_META_MAX, &error, err, sizeof(err)) < 0) {
		up_fail(u, 400, "bad RDONE meta: %s", err);
		return -1;
	}
	if (!hio_id_valid(id) || !hio_pipeline_valid(pl)) {
		up_fail(u, 400, "bad RDONE meta: bad %s", hio_id_valid(id) ? "pipeline" : "id");
		return -1;
	}
	if (!hio_name_valid(name, strlen(name), &why)) {
		up_fail(u, 400, "bad RDONE meta: name: %s", why);
		return -1;
	}
	if (!json_is_integer(ts) || json_integer_value(ts) < 0) {
		up_fail(u, 400, "bad RDONE meta: 'ts' must be a non-negative integer");
		return -1;
	}
	if (jget_int(meta, "version", 0, 0, INT32_MAX, &ver, NULL, err, sizeof(err)) < 0) {
		up_fail(u, 400, "bad RDONE meta: %s", err);
		return -1;
	}
	if (prov_check(meta, err, sizeof(err)) < 0) {
		up_fail(u, 400, "bad RDONE meta: %s", err);
		return -1;
	}
	if (strcmp(st, "done") != 0 && strcmp(st, "failed") != 0) {
		up_fail(u, 400, "bad RDONE meta: 'status' must be \"done\" or \"failed\"");
		return -1;
	}
	if (u->open && strcmp(id, u->id) != 0) {
		up_fail(u, 400, "RDONE of %s ends the entry of %s", id, u->id);
		return -1;
	}
	return u->only_pe[0] ? rdone_pe_check(u, meta, pl) : 0;
}

static int up_on_frame(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct upload *u = ud;

	u->type = h->type;
	if (!json_is_object(meta)) {
		up_fail(u, 400, "frame meta is not a JSON object");
		return -1;
	}
	if (h->type == HIO_F_RFILE)
		return rfile_begin(u, h, meta);
	if (h->type == HIO_F_RDONE)
		return rdone_check(u, h, meta);
	up_fail(u, 400, "unexpected frame type %d in a result upload (RFILE or RDONE only)",
		h->type);
	return -1;
}

static int up_on_body(void *ud, const void *p, size_t n)
{
	struct upload *u = ud;

	if (u->fd < 0) {
		up_fail(u, 400, "unexpected body bytes");
		return -1;
	}
	if (hio_write_all(u->fd, p, n) < 0) {
		io_fail(u, "write", u->files[u->nfiles - 1].name);
		return -1;
	}
	u->files[u->nfiles - 1].size += n;
	u->bytes += n;
	return 0;
}

static void up_fail_reply(struct upload *u, struct reply *r)
{
	const char *e = json_string_value(json_object_get(r->json, "error"));

	up_fail(u, r->status, "%s", e ? e : "storing the entry failed");
	json_decref(r->json);
	r->json = NULL;
}

/* Stores the entries received so far. */
static int up_flush(struct upload *u)
{
	struct reply r = {0};

	if (results_flush(u->batch, u->stored, &r) < 0) {
		up_fail_reply(u, &r);
		return -1;
	}
	return 0;
}

static int up_on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct upload *u = ud;
	struct reply r = {0};

	if (h->type == HIO_F_RFILE) {
		int fd = u->fd, rc = 0;

		u->fd = -1;
		if (u->m->fsync && fsync(fd) < 0)
			rc = -1;
		if (close(fd) < 0)
			rc = -1;
		if (rc < 0)
			io_fail(u, "flush", u->files[u->nfiles - 1].name);
		return rc;
	}
	/* RDONE. An entry without files has no directory: a mkdir and a rename a result
	 * were a third of the master's work storing small ones (bench/c_api). */
	if ((rbatch_full(u->batch) && up_flush(u) < 0) ||
	    results_commit(u->batch, u->open ? u->tmpdir : NULL, meta, u->files, u->nfiles,
			   u->duplicate, &r) < 0) {
		up_fail_reply(u, &r);
		entry_reset(u, 0);
		return -1;
	}
	entry_reset(u, 0);
	return 0;
}

struct upload *results_upload_new(struct master *m, const char *only_pe, struct reply *out)
{
	static const struct hio_frame_dec_cbs cbs = {up_on_frame, up_on_body, up_on_end};
	struct upload *u = calloc(1, sizeof(*u));

	if (!u)
		goto oom;
	u->m = m;
	u->fd = -1;
	if (only_pe)
		snprintf(u->only_pe, sizeof(u->only_pe), "%s", only_pe);
	hio_hmap_init(&u->names);
	u->stored = json_array();
	u->duplicate = json_array();
	u->dec = hio_frame_dec_new(&cbs, u);
	u->batch = rbatch_new(m);
	if (!u->stored || !u->duplicate || !u->dec || !u->batch)
		goto oom;
	pthread_mutex_lock(&m->lock);
	u->seq = m->seq++;
	pthread_mutex_unlock(&m->lock);
	return u;
oom:
	hio_err("out of memory starting a result upload; it fails");
	reply_err(out, 500, "out of memory");
	results_upload_free(u);
	return NULL;
}

void results_upload_feed(struct upload *u, const char *data, size_t n)
{
	atomic_fetch_add(&u->m->results_rx, n);
	if (u->status)
		return;
	if (hio_frame_dec_feed(u->dec, data, n) < 0)
		up_fail(u, 400, "bad result frame: %s", hio_frame_dec_error(u->dec));
}

void results_upload_finish(struct upload *u, struct reply *out)
{
	if (!u->status && !hio_frame_dec_idle(u->dec))
		up_fail(u, 400, "truncated result upload: the last frame is incomplete");
	if (!u->status && u->open)
		up_fail(u, 400, "truncated result upload: entry %s has no RDONE", u->id);
	/* Entries completed before a bad part are stored all the same; if this fails,
	 * they are not, and the reply says so (not in stored). */
	up_flush(u);
	if (u->status) {
		/* Entries completed before the bad part are stored; only the unfinished one
		 * is dropped. Say which. */
		reply_err(out, u->status, "%s", u->err);
		if (out->json) {
			json_object_set(out->json, "stored", u->stored);
			json_object_set(out->json, "duplicate", u->duplicate);
		}
		if (u->open)
			hio_warn("result upload: %s; entry %s dropped, %zu earlier entries kept",
				 u->err, u->id, json_array_size(u->stored));
		return;
	}
	reply_ok(out, 200, json_pack("{s:O,s:O}", "stored", u->stored, "duplicate", u->duplicate));
}

void results_upload_free(struct upload *u)
{
	if (!u)
		return;
	entry_reset(u, 1);
	rbatch_free(u->batch);
	if (u->dec)
		hio_frame_dec_free(u->dec);
	json_decref(u->stored);
	json_decref(u->duplicate);
	free(u);
}
