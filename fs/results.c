/* results.c: the read-only results/ tree. A snapshot of the master's result index
 * (GET /v1/results) is rebuilt when older than RESULTS_TTL_MS; readers keep using the
 * old one while a new one is fetched, and an unreachable master leaves the last one
 * in place. A file is fetched whole into an unlinked temporary file at open.
 *
 * Read-your-writes: once this mount saw one of its inputs acknowledged as processed,
 * a snapshot fetched before that is good for RESULTS_ACKED_TTL_MS only, and a name it
 * lacks is looked up in a new one, so `hio wait` then `cat results/x/stdout` works. */
#include "fs.h"
#include "hio_hmap.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESULTS_TTL_MS 1000
#define RESULTS_ACKED_TTL_MS 100
#define RESULTS_LIST_MAX (256u << 20) /* bytes of one index listing */
#define RESULTS_FETCH_TIMEOUT_MS 600000
#define RESULTS_LIST_TIMEOUT_MS 5000 /* a stalled master delays a listing this long, once */

struct rnode {
	char *path; /* relative to results/, "" for results/ itself */
	int dir;
	int entry; /* 1 done, 2 failed: an input's own directory */
	uint64_t size, ts;
	size_t *kids, nkids, capkids;
};

struct snap {
	_Atomic int refs;
	struct rnode *nodes;
	size_t n, cap;
	struct hio_hmap ix; /* path -> index + 1 */
	uint64_t from_ms;   /* when its fetch began: it holds what was stored before */
	uint64_t at_ms;
};

struct fs_results {
	/* A leaf lock: guards cur and refreshing; the listing is fetched with it released
	 * (refreshing says one thread does it, cv wakes the others). */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct snap *cur;
	int refreshing;
	hio_http *http; /* used by the refreshing thread only */
	uint64_t started_us;
	_Atomic uint64_t acked_ms; /* the last result of this mount's inputs stored */
};

static void snap_unref(struct snap *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->nodes[i].path);
		free(s->nodes[i].kids);
	}
	free(s->nodes);
	hio_hmap_free(&s->ix);
	free(s);
}

static struct rnode *snap_find(struct snap *s, const char *path)
{
	void *v = hio_hmap_get(&s->ix, path);

	return v ? &s->nodes[(uintptr_t)v - 1] : NULL;
}

/* Adds a node (and its parents) unless path exists. Returns its index or -1. */
static long snap_add(struct snap *s, const char *path, int dir)
{
	struct rnode *n = snap_find(s, path);
	long parent = -1;
	char *p;

	if (n)
		return n - s->nodes;
	if (*path) {
		const char *slash = strrchr(path, '/');
		char *up = strndup(path, slash ? (size_t)(slash - path) : 0);
		parent = up ? snap_add(s, up, 1) : -1;
		free(up);
		if (parent < 0 || !s->nodes[parent].dir)
			return -1;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct rnode *v = realloc(s->nodes, cap * sizeof(*v));
		if (!v)
			return -1;
		s->nodes = v;
		s->cap = cap;
	}
	if (!(p = strdup(path)))
		return -1;
	n = &s->nodes[s->n];
	memset(n, 0, sizeof(*n));
	n->path = p;
	n->dir = dir;
	if (hio_hmap_put(&s->ix, p, (void *)(uintptr_t)(s->n + 1)) < 0) {
		free(p);
		return -1;
	}
	s->n++;
	if (parent >= 0) {
		struct rnode *pn = &s->nodes[parent];
		if (pn->nkids == pn->capkids) {
			size_t cap = pn->capkids ? pn->capkids * 2 : 4;
			size_t *k = realloc(pn->kids, cap * sizeof(*k));
			if (!k)
				return -1;
			pn->kids = k;
			pn->capkids = cap;
		}
		pn->kids[pn->nkids++] = s->n - 1;
	}
	return (long)(s->n - 1);
}

/* Builds a snapshot from the index listing {results:[{name,ts,state,files:[{name,size}]}]}. */
static struct snap *snap_build(json_t *list)
{
	struct snap *s = calloc(1, sizeof(*s));
	json_t *r, *f;
	size_t i, j;

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	hio_hmap_init(&s->ix);
	if (snap_add(s, "", 1) < 0)
		goto fail;
	json_array_foreach(json_object_get(list, "results"), i, r)
	{
		const char *name = json_string_value(json_object_get(r, "name"));
		const char *state = json_string_value(json_object_get(r, "state"));
		uint64_t ts = (uint64_t)json_integer_value(json_object_get(r, "ts"));
		long e;

		if (!name || !state)
			continue;
		if ((e = snap_add(s, name, 1)) < 0)
			continue; /* a file of another entry already holds that name */
		s->nodes[e].entry = strcmp(state, "failed") == 0 ? 2 : 1;
		s->nodes[e].ts = ts;
		json_array_foreach(json_object_get(r, "files"), j, f)
		{
			const char *fn = json_string_value(json_object_get(f, "name"));
			char path[HIO_NAME_MAX * 2 + 2];
			long k;

			if (!fn ||
			    snprintf(path, sizeof(path), "%s/%s", name, fn) >= (int)sizeof(path))
				continue;
			if ((k = snap_add(s, path, 0)) < 0 || s->nodes[k].dir)
				continue;
			s->nodes[k].size = (uint64_t)json_integer_value(json_object_get(f, "size"));
			s->nodes[k].ts = ts;
		}
	}
	return s;
fail:
	snap_unref(s);
	return NULL;
}

static struct snap *fetch(struct fs *fs, struct fs_results *rs)
{
	char path[256], *pe = hio_http_escape(fs->pipeline);
	struct hio_http_req req = {.method = "GET",
				   .path = path,
				   .resp_max = RESULTS_LIST_MAX,
				   .timeout_ms = RESULTS_LIST_TIMEOUT_MS};
	struct hio_http_resp resp = {0};
	struct snap *s = NULL;
	json_t *j = NULL;

	if (!pe)
		return NULL;
	snprintf(path, sizeof(path), "/v1/results?pipeline=%s", pe);
	free(pe);
	if (hio_http_do(rs->http, &req, &resp) < 0 || resp.status != 200) {
		hio_debug("cannot list results from %s: %s (HTTP %ld); showing the last listing",
			  fs->master, resp.err, resp.status);
		goto out;
	}
	if (!(j = json_loadb(resp.body.data, resp.body.len, 0, NULL))) {
		hio_warn("the master's result listing is not JSON; showing the last listing");
		goto out;
	}
	s = snap_build(j);
out:
	json_decref(j);
	hio_buf_free(&resp.body);
	return s;
}

void fs_results_acked(struct fs *fs)
{
	if (fs->results)
		atomic_store(&fs->results->acked_ms, hio_mono_ms());
}

/* Whether s may answer: young enough, and for a missing name (miss), taken after the
 * last result this mount saw stored. */
static int snap_fresh(struct fs_results *rs, const struct snap *s, int miss)
{
	uint64_t age = hio_mono_ms() - s->at_ms;

	if (s->from_ms <= atomic_load(&rs->acked_ms))
		return !miss && age < RESULTS_ACKED_TTL_MS;
	return age < RESULTS_TTL_MS;
}

/* A reference to a snapshot fresh by snap_fresh when the master answers. Readers of a
 * name it holds take the current one while another thread refreshes. */
static struct snap *snap_get(struct fs *fs, int miss)
{
	struct fs_results *rs = fs->results;
	struct snap *s, *fresh;
	uint64_t from;

	pthread_mutex_lock(&rs->mu);
	for (;;) {
		s = rs->cur;
		if (s && (snap_fresh(rs, s, miss) || (rs->refreshing && !miss))) {
			atomic_fetch_add(&s->refs, 1);
			pthread_mutex_unlock(&rs->mu);
			return s;
		}
		if (!rs->refreshing)
			break;
		hio_cond_wait_ms(&rs->cv, &rs->mu, -1);
		/* One refresh per missing name: the one just finished may do. */
		if (miss && rs->cur && rs->cur->from_ms > atomic_load(&rs->acked_ms))
			miss = 0;
	}
	rs->refreshing = 1;
	pthread_mutex_unlock(&rs->mu);

	from = hio_mono_ms();
	fresh = fetch(fs, rs);

	pthread_mutex_lock(&rs->mu);
	if (fresh) {
		fresh->from_ms = from;
		fresh->at_ms = hio_mono_ms();
		snap_unref(rs->cur);
		rs->cur = fresh;
	} else if (rs->cur) {
		/* Retry after another TTL; meanwhile misses do not ask again either. */
		rs->cur->from_ms = from;
		rs->cur->at_ms = hio_mono_ms();
	} else if ((rs->cur = snap_build(NULL))) {
		rs->cur->at_ms = hio_mono_ms();
	}
	rs->refreshing = 0;
	pthread_cond_broadcast(&rs->cv);
	s = rs->cur;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&rs->mu);
	return s;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

uint64_t fs_results_ino(const char *dir, const char *name)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, dir);

	if (name && *dir)
		h = fnv(h, "/");
	if (name)
		h = fnv(h, name);
	return h | 1ull << 63;
}

int fs_results_getattr(struct fs *fs, const char *path, struct stat *st)
{
	struct snap *s = snap_get(fs, 0);
	struct rnode *n = s ? snap_find(s, path) : NULL;
	uint64_t ts;

	if (!n && s) {
		snap_unref(s);
		s = snap_get(fs, 1);
		n = s ? snap_find(s, path) : NULL;
	}

	memset(st, 0, sizeof(*st));
	if (!n) {
		snap_unref(s);
		return s ? -ENOENT : -EIO;
	}
	ts = n->ts ? n->ts : fs->results->started_us;
	st->st_mode = n->dir ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = n->dir ? 2 : 1;
	st->st_ino = (ino_t)fs_results_ino(path, NULL);
	st->st_size = n->dir ? 0 : (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = (time_t)(ts / 1000000);
	st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = st->st_atim.tv_nsec =
	    (long)(ts % 1000000) * 1000;
	snap_unref(s);
	return 0;
}

int fs_results_readdir(struct fs *fs, const char *path, void *buf,
		       int (*fill)(void *buf, const char *name, int dir))
{
	struct snap *s = snap_get(fs, 0);
	struct rnode *n = s ? snap_find(s, path) : NULL;
	int rc = 0;

	if (!n || !n->dir) {
		rc = !n ? -ENOENT : -ENOTDIR;
		goto out;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		const struct rnode *k = &s->nodes[n->kids[i]];
		const char *slash = strrchr(k->path, '/');
		if (fill(buf, slash ? slash + 1 : k->path, k->dir))
			break;
	}
out:
	snap_unref(s);
	return rc;
}

int fs_results_entry_state(struct fs *fs, const char *name, uint64_t *ts)
{
	struct snap *s = snap_get(fs, 0);
	struct rnode *n = s ? snap_find(s, name) : NULL;
	int st = n ? n->entry : 0;

	if (n)
		*ts = n->ts;
	snap_unref(s);
	return st;
}

static int write_fd(void *ud, const void *p, size_t n)
{
	return hio_write_all(*(int *)ud, p, n);
}

int fs_results_open(struct fs *fs, const char *path)
{
	struct snap *s = snap_get(fs, 0);
	struct rnode *n = s ? snap_find(s, path) : NULL;
	struct hio_http_resp resp = {0};
	char *q = NULL, *ename = NULL, *efile = NULL, *epl = NULL;
	const char *slash = strrchr(path, '/');
	hio_http *h = NULL;
	int fd = -1, rc;

	if (!n || n->dir || !slash) {
		rc = !n ? -ENOENT : -EISDIR;
		goto out;
	}
	char *entry = strndup(path, (size_t)(slash - path));
	ename = entry ? hio_http_escape(entry) : NULL;
	free(entry);
	efile = hio_http_escape(slash + 1);
	epl = hio_http_escape(fs->pipeline);
	rc = -ENOMEM;
	if (!ename || !efile || !epl ||
	    asprintf(&q, "/v1/results/file?pipeline=%s&name=%s&file=%s", epl, ename, efile) < 0) {
		q = NULL;
		goto out;
	}
	fd = open(fs->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		hio_warn("cannot make a temporary file in %s for result %s: %s", fs->spool_dir,
			 path, strerror(errno));
		goto out;
	}
	if (!(h = hio_http_new(fs->master, fs->token)))
		goto out;
	struct hio_http_req req = {.method = "GET",
				   .path = q,
				   .write = write_fd,
				   .write_ud = &fd,
				   .timeout_ms = RESULTS_FETCH_TIMEOUT_MS};
	if (hio_http_do(h, &req, &resp) < 0 || resp.status != 200) {
		hio_warn("cannot fetch result %s: %s (HTTP %ld); the open fails", path,
			 resp.status ? "the master refused" : resp.err, resp.status);
		rc = resp.status == 404 ? -ENOENT : -EIO;
		goto out;
	}
	rc = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	hio_buf_free(&resp.body);
	hio_http_free(h);
	free(q);
	free(ename);
	free(efile);
	free(epl);
	snap_unref(s);
	return rc;
}

int fs_results_start(struct fs *fs)
{
	struct fs_results *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -1;
	pthread_mutex_init(&rs->mu, NULL);
	if (hio_cond_init(&rs->cv) != 0) {
		free(rs);
		return -1;
	}
	rs->started_us = hio_now_us();
	if (!(rs->http = hio_http_new(fs->master, fs->token))) {
		free(rs);
		return -1;
	}
	fs->results = rs;
	return 0;
}

void fs_results_stop(struct fs *fs)
{
	struct fs_results *rs = fs->results;

	if (!rs)
		return;
	snap_unref(rs->cur);
	hio_http_free(rs->http);
	pthread_cond_destroy(&rs->cv);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
	fs->results = NULL;
}
