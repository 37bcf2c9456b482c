/* results.c: the read-only results/ tree. A snapshot of the master's result index is
 * rebuilt when older than its time to live; readers keep using the old one while a new
 * one is fetched, and an unreachable master leaves the last one in place. A file is
 * fetched whole into an unlinked temporary file at open.
 *
 * Memory: a listing is fetched a page at a time (RESULTS_PAGE entries, GET
 * /v1/results?limit=&after=), each page parsed, added and freed before the next, into
 * a compact snapshot: 32-byte nodes, their paths in one buffer, children as index
 * chains, a sorted index to find a path. So a listing costs about 36 bytes a name
 * plus its path, plus one page of JSON while it is built; at most two snapshots live
 * (the one readers use and the one being built), and freed ones go back to the system
 * (malloc_trim). The time to live grows with the fetch time (RESULTS_TTL_FETCH_X
 * times it), so browsing a huge index spends a bounded share of its time refetching.
 *
 * Read-your-writes: once this mount saw one of its inputs acknowledged as processed,
 * a snapshot fetched before that is good for RESULTS_ACKED_TTL_MS only, and a name it
 * lacks is looked up in a new one, so `hio wait` then `cat results/x/stdout` works. */
#include "fs.h"
#include "hio_buf.h"
#include "hio_hmap.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESULTS_TTL_MS 1000
#define RESULTS_TTL_FETCH_X 4 /* a snapshot lives at least this many fetch times */
#define RESULTS_ACKED_TTL_MS 100
#define RESULTS_PAGE 2000		  /* entries asked for in one page */
#define RESULTS_PAGE_RESP_MAX (32u << 20) /* bytes of one page (the master ends one past 4 MiB) */
#define RESULTS_LIST_MAX (1024ull << 20)  /* bytes of all the pages of one listing */
#define RESULTS_NODES_MAX (16u << 20)	  /* names in one snapshot */
#define RESULTS_STRS_MAX (1u << 31)	  /* bytes of the paths of one snapshot */
#define RESULTS_FETCH_TIMEOUT_MS 600000
#define RESULTS_LIST_TIMEOUT_MS 5000 /* a stalled master delays a page this long, once */

/* Nodes refer to each other by index + 1 (0: none). 32 bytes: a listing of n names
 * costs 32 n, their paths, and 4 n for the sorted index. */
struct rnode {
	uint32_t path;	      /* offset in the snapshot's strs: relative to results/ */
	uint32_t first, next; /* children: the first, and the next sibling */
	uint8_t dir;
	uint8_t entry; /* 1 done, 2 failed: an input's own directory */
	uint64_t size, ts;
};

struct snap {
	_Atomic int refs;
	struct rnode *nodes;
	size_t n, cap;
	struct hio_buf strs; /* every node's path, NUL-terminated, RESULTS_STRS_MAX */
	/* While it is built: path -> index + 1, and each node's last child. Afterwards
	 * only order: the node indexes sorted by path, for a binary search. */
	struct hio_hmap ix;
	uint32_t *last;
	uint32_t *order;
	uint64_t from_ms; /* when its fetch began: it holds what was stored before */
	uint64_t at_ms;
	uint64_t ttl_ms;
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
	free(s->nodes);
	hio_buf_free(&s->strs);
	free(s->last);
	free(s->order);
	hio_hmap_free(&s->ix);
	free(s);
}

static const char *npath(const struct snap *s, const struct rnode *n)
{
	return s->strs.data + n->path;
}

static int order_cmp(const void *a, const void *b, void *ud)
{
	const struct snap *s = ud;

	return strcmp(npath(s, &s->nodes[*(const uint32_t *)a]),
		      npath(s, &s->nodes[*(const uint32_t *)b]));
}

static struct rnode *snap_find(struct snap *s, const char *path)
{
	size_t lo = 0, hi = s->n;

	if (!s->order) {
		void *v = hio_hmap_get(&s->ix, path);
		return v ? &s->nodes[(uintptr_t)v - 1] : NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, npath(s, &s->nodes[s->order[mid]]));
		if (c == 0)
			return &s->nodes[s->order[mid]];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Grows *p (of *cap elements of size sz) to hold need; 0 or -1. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
	size_t c = *cap ? *cap : 256;
	void *v;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(v = realloc(*p, c * sz)))
		return -1;
	*p = v;
	*cap = c;
	return 0;
}

/* The map's keys point into strs, which moves as it grows: the map is built again
 * from the nodes when it does (strs doubles, so that is O(n) in all). */
static int ix_rebuild(struct snap *s)
{
	hio_hmap_free(&s->ix);
	for (size_t i = 0; i < s->n; i++)
		if (hio_hmap_put(&s->ix, npath(s, &s->nodes[i]), (void *)(uintptr_t)(i + 1)) < 0)
			return -1;
	return 0;
}

/* Ends the building: the map and the last children go, the arrays shrink to their
 * size, and the sorted index takes the map's place. 0 or -1. */
static int snap_seal(struct snap *s)
{
	void *v;

	hio_hmap_free(&s->ix);
	free(s->last);
	s->last = NULL;
	if (!(s->order = malloc((s->n ? s->n : 1) * sizeof(*s->order))))
		return -1;
	if ((v = realloc(s->nodes, (s->n ? s->n : 1) * sizeof(*s->nodes))))
		s->nodes = v;
	if ((v = realloc(s->strs.data, s->strs.len + 1))) {
		s->strs.data = v;
		s->strs.cap = s->strs.len + 1;
	}
	s->cap = s->n;
	for (size_t i = 0; i < s->n; i++)
		s->order[i] = (uint32_t)i;
	qsort_r(s->order, s->n, sizeof(*s->order), order_cmp, s);
	return 0;
}

/* Adds a node (and its parents) unless path exists. Returns its index or -1. */
static long snap_add(struct snap *s, const char *path, int dir)
{
	struct rnode *n = snap_find(s, path);
	size_t len = strlen(path), lcap = s->cap, off;
	long parent = -1;
	char *old;

	if (n)
		return n - s->nodes;
	if (*path) {
		const char *slash = strrchr(path, '/');
		size_t ulen = slash ? (size_t)(slash - path) : 0;
		char up[HIO_NAME_MAX * 2 + 2];

		if (ulen >= sizeof(up))
			return -1;
		memcpy(up, path, ulen);
		up[ulen] = '\0';
		parent = snap_add(s, up, 1);
		if (parent < 0 || !s->nodes[parent].dir)
			return -1;
	}
	old = s->strs.data;
	off = s->strs.len;
	if (s->n >= RESULTS_NODES_MAX ||
	    grow((void **)&s->nodes, &s->cap, s->n + 1, sizeof(*s->nodes)) < 0 ||
	    grow((void **)&s->last, &lcap, s->n + 1, sizeof(*s->last)) < 0 ||
	    hio_buf_append(&s->strs, path, len + 1) < 0 ||
	    (s->strs.data != old && ix_rebuild(s) < 0))
		return -1;
	n = &s->nodes[s->n];
	memset(n, 0, sizeof(*n));
	n->path = (uint32_t)off;
	s->last[s->n] = 0;
	n->dir = (uint8_t)dir;
	if (hio_hmap_put(&s->ix, npath(s, n), (void *)(uintptr_t)(s->n + 1)) < 0)
		return -1;
	s->n++;
	if (parent >= 0) {
		uint32_t *last = &s->last[parent];
		if (*last)
			s->nodes[*last - 1].next = (uint32_t)s->n;
		else
			s->nodes[parent].first = (uint32_t)s->n;
		*last = (uint32_t)s->n;
	}
	return (long)(s->n - 1);
}
/* A snapshot holding results/ itself, with room for about n names (the last listing's
 * count): its node arrays and map do not double, so no slack and no copies. */
static struct snap *snap_new(size_t n)
{
	struct snap *s = calloc(1, sizeof(*s));
	size_t lcap = 0;

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	hio_hmap_init(&s->ix);
	hio_buf_init(&s->strs, RESULTS_STRS_MAX);
	s->ttl_ms = RESULTS_TTL_MS;
	n += n / 16 + 1;
	if (grow((void **)&s->nodes, &s->cap, n, sizeof(*s->nodes)) < 0 ||
	    grow((void **)&s->last, &lcap, n, sizeof(*s->last)) < 0 ||
	    hio_hmap_reserve(&s->ix, n) < 0 || snap_add(s, "", 1) < 0) {
		snap_unref(s);
		return NULL;
	}
	return s;
}

/* Adds one page {results:[{name,ts,state,files:[{name,size}]}]} to s; returns how
 * many entries the page held, or -1 when out of memory or out of room. */
static long snap_add_page(struct snap *s, json_t *page)
{
	json_t *r, *f, *list = json_object_get(page, "results");
	size_t i, j;

	json_array_foreach(list, i, r)
	{
		const char *name = json_string_value(json_object_get(r, "name"));
		const char *state = json_string_value(json_object_get(r, "state"));
		uint64_t ts = (uint64_t)json_integer_value(json_object_get(r, "ts"));
		long e;

		if (!name || !state)
			continue;
		if (s->n >= RESULTS_NODES_MAX)
			return -1;
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
	return (long)json_array_size(list);
}

/* The whole listing, a page at a time; NULL when the master did not answer every page
 * (the caller keeps the last listing then). */
static struct snap *fetch(struct fs *fs, struct fs_results *rs, size_t hint_n)
{
	char *pe = hio_http_escape(fs->pipeline), *after = NULL, *path = NULL;
	struct snap *s = snap_new(hint_n);
	uint64_t bytes = 0;
	int ok = 0;

	if (!pe || !s)
		goto out;
	for (;;) {
		struct hio_http_req req = {.method = "GET",
					   .resp_max = RESULTS_PAGE_RESP_MAX,
					   .timeout_ms = RESULTS_LIST_TIMEOUT_MS};
		struct hio_http_resp resp = {0};
		const char *next;
		json_t *j;

		free(path);
		if (asprintf(&path, "/v1/results?pipeline=%s&limit=%d%s%s", pe, RESULTS_PAGE,
			     after ? "&after=" : "", after ? after : "") < 0) {
			path = NULL;
			goto out;
		}
		req.path = path;
		if (hio_http_do(rs->http, &req, &resp) < 0 || resp.status != 200) {
			hio_debug("cannot list results from %s: %s (HTTP %ld); showing the last "
				  "listing",
				  fs->master, resp.err, resp.status);
			hio_buf_free(&resp.body);
			goto out;
		}
		bytes += resp.body.len;
		j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
		hio_buf_free(&resp.body);
		if (!j) {
			hio_warn(
			    "the master's result listing is not JSON; showing the last listing");
			goto out;
		}
		if (snap_add_page(s, j) < 0) {
			hio_warn(
			    "the result listing of %s passes %u names; showing the last listing",
			    fs->pipeline, RESULTS_NODES_MAX);
			json_decref(j);
			goto out;
		}
		next = json_string_value(json_object_get(j, "next"));
		free(after);
		after = next ? hio_http_escape(next) : NULL;
		json_decref(j);
		if (!next)
			break;
		if (!after)
			goto out;
		if (bytes > RESULTS_LIST_MAX) {
			hio_warn("the result listing of %s passes %llu bytes; showing the last "
				 "listing",
				 fs->pipeline, (unsigned long long)RESULTS_LIST_MAX);
			goto out;
		}
	}
	ok = snap_seal(s) == 0;
out:
	free(pe);
	free(after);
	free(path);
	if (!ok) {
		snap_unref(s);
		s = NULL;
	}
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
	return age < s->ttl_ms;
}

/* A reference to a snapshot fresh by snap_fresh when the master answers. Readers of a
 * name it holds take the current one while another thread refreshes. */
static struct snap *snap_get(struct fs *fs, int miss)
{
	struct fs_results *rs = fs->results;
	struct snap *s, *fresh, *old = NULL;
	size_t hint_n = 0;
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
	if (rs->cur)
		hint_n = rs->cur->n;
	pthread_mutex_unlock(&rs->mu);

	from = hio_mono_ms();
	fresh = fetch(fs, rs, hint_n);

	pthread_mutex_lock(&rs->mu);
	if (fresh) {
		fresh->from_ms = from;
		fresh->at_ms = hio_mono_ms();
		if ((fresh->at_ms - from) * RESULTS_TTL_FETCH_X > fresh->ttl_ms)
			fresh->ttl_ms = (fresh->at_ms - from) * RESULTS_TTL_FETCH_X;
		old = rs->cur;
		rs->cur = fresh;
	} else if (rs->cur) {
		/* Retry after another TTL; meanwhile misses do not ask again either. */
		rs->cur->from_ms = from;
		rs->cur->at_ms = hio_mono_ms();
	} else if ((rs->cur = snap_new(0)) && snap_seal(rs->cur) == 0) {
		rs->cur->at_ms = hio_mono_ms();
	}
	rs->refreshing = 0;
	pthread_cond_broadcast(&rs->cv);
	s = rs->cur;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&rs->mu);
	/* The old listing's memory and the pages' go back to the system, not just to
	 * malloc: a big index would otherwise keep hio-fs at its peak for good. */
	snap_unref(old);
	malloc_trim(0);
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
	for (uint32_t i = n->first; i; i = s->nodes[i - 1].next) {
		const struct rnode *k = &s->nodes[i - 1];
		const char *kp = npath(s, k), *slash = strrchr(kp, '/');
		if (fill(buf, slash ? slash + 1 : kp, k->dir))
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
