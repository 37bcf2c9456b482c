/* compact.c: results that expire (hio-master --retention AGE) and journal compaction, on
 * one thread that wakes every RETENTION_CHECK_MAX_MS (a tenth of the retention when
 * shorter, at least 1 s), so the state directory and the index are bounded by what is
 * kept, not by what was ever stored.
 *
 * Compaction rewrites results.journal as one line per entry kept, from the index. It
 * holds journal_lock throughout, so no line is appended meanwhile, and first waits until
 * every line already appended is in the index (journal_unapplied is 0): a line written
 * but not yet applied would otherwise be lost. It takes m->lock only to copy a batch of
 * lines (journal_lock, then lock: the one place both are held; nothing takes
 * journal_lock while holding lock), and writes with no lock but journal_lock held. */
#include "master.h"

#include "hio_buf.h"
#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define COMPACT_BATCH 1000 /* entries copied per hold of m->lock */

/* Replaced results' directories wait here for the thread rather than the upload that
 * replaced them: removing one (~10 system calls) in the request held the PE's next
 * upload back, and re-sending names already stored ran at 0.6x (bench/serve). At most
 * TRASH_MAX wait; beyond that, and once the thread stopped, the caller removes its
 * own. A crash leaves them as orphans for the next start (results.c). */
#define TRASH_MAX 4096

struct retention {
	pthread_t thread;
	pthread_mutex_t mu; /* a leaf: guards stop, trash, ntrash, for cv */
	pthread_cond_t cv;
	int stop;
	char *trash[TRASH_MAX];
	size_t ntrash;
};

/* Up to COMPACT_BATCH journal lines of pln's entries after *cursor (NULL: the first)
 * into b; *cursor moves on (freed and NULL at the end). Counts them in *n. -1: memory. */
static int copy_batch(struct master *m, const char *pln, char **cursor, struct hio_buf *b,
		      size_t *n)
{
	struct pipeline *pl;
	struct result **v;
	size_t i = 0, k = 0;
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, pln);
	v = pl ? results_sorted(pl) : NULL;
	if (pl && pl->results.len && !v)
		rc = -1;
	/* The first name after the cursor (a binary search: entries are in byte order). */
	if (v && *cursor) {
		size_t hi = pl->n_sorted;

		while (i < hi) {
			size_t mid = i + (hi - i) / 2;

			if (strcmp(v[mid]->name, *cursor) <= 0)
				i = mid + 1;
			else
				hi = mid;
		}
	}
	for (; rc == 0 && v && i < pl->n_sorted && k < COMPACT_BATCH; i++, k++) {
		if (result_line_add(b, pln, v[i], plver_find(pl, v[i]->version), 1) < 0)
			rc = -1;
	}
	free(*cursor);
	*cursor = NULL;
	if (rc == 0 && v && i < pl->n_sorted && k && !(*cursor = strdup(v[i - 1]->name)))
		rc = -1;
	pthread_mutex_unlock(&m->lock);
	*n += k;
	return rc;
}

static int write_journal(struct master *m, int fd, size_t *lines)
{
	struct hio_buf b;
	char **names = NULL;
	size_t np = 0;
	int rc = 0;

	/* The pipelines' names, copied: pipelines are never freed while serving. */
	pthread_mutex_lock(&m->lock);
	names = calloc(m->n_pipelines ? m->n_pipelines : 1, sizeof(*names));
	for (struct list *p = m->pipelines.next; names && p != &m->pipelines; p = p->next)
		if (np < m->n_pipelines &&
		    !(names[np++] = strdup(list_entry(p, struct pipeline, link)->name)))
			rc = -1;
	pthread_mutex_unlock(&m->lock);
	if (!names)
		return -1;
	hio_buf_init(&b, SIZE_MAX);
	for (size_t i = 0; rc == 0 && i < np; i++) {
		char *cursor = NULL;

		do {
			hio_buf_reset(&b);
			rc = copy_batch(m, names[i], &cursor, &b, lines);
			if (rc == 0 && b.len && hio_write_all(fd, b.data, b.len) < 0)
				rc = -1;
		} while (rc == 0 && cursor);
		free(cursor);
	}
	hio_buf_free(&b);
	for (size_t i = 0; i < np; i++)
		free(names[i]);
	free(names);
	return rc;
}

static size_t entries_kept(struct master *m)
{
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (struct list *p = m->pipelines.next; p != &m->pipelines; p = p->next)
		n += list_entry(p, struct pipeline, link)->results.len;
	pthread_mutex_unlock(&m->lock);
	return n;
}

int results_compact(struct master *m, int force)
{
	char jpath[PATH_MAX], tpath[PATH_MAX];
	size_t kept = entries_kept(m), lines = 0, before;
	struct stat st;
	int fd = -1, nfd, e;

	pthread_mutex_lock(&m->journal_lock);
	before = m->journal_lines;
	if (!force && (before < COMPACT_MIN_LINES || before <= 2 * kept)) {
		pthread_mutex_unlock(&m->journal_lock);
		return 0;
	}
	while (atomic_load(&m->journal_unapplied) > 0) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL); /* an upload between its journal line and its index update */
	}
	if (path_fmt(jpath, sizeof(jpath), "%s/results.journal", m->dir) < 0 ||
	    path_fmt(tpath, sizeof(tpath), "%s/results.journal.tmp", m->dir) < 0)
		goto fail;
	fd = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	/* Always fsynced before the rename: the old journal is gone after it. */
	if (fd < 0 || write_journal(m, fd, &lines) < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0)
		goto fail;
	nfd = open(tpath, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (nfd < 0)
		goto fail;
	if (rename(tpath, jpath) < 0) {
		close(nfd);
		goto fail;
	}
	if (dir_sync(m->dir) < 0)
		hio_warn("cannot fsync %s: %s", m->dir, strerror(errno));
	close(fd);
	close(m->journal_fd);
	m->journal_fd = nfd;
	m->journal_size = (uint64_t)st.st_size;
	m->journal_lines = lines;
	pthread_mutex_unlock(&m->journal_lock);
	hio_info("compacted the result journal: %zu lines to %zu (%lld bytes)", before, lines,
		 (long long)st.st_size);
	return 1;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tpath);
	pthread_mutex_unlock(&m->journal_lock);
	hio_warn("cannot compact the result journal: %s; it stays as it is", strerror(e));
	return -1;
}

/* Deletes every pipeline's entries stored more than m->retention_s seconds ago. */
static void expire(struct master *m)
{
	char(*names)[HIO_PIPELINE_MAX + 1] = NULL;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	names = calloc(m->n_pipelines ? m->n_pipelines : 1, sizeof(*names));
	for (struct list *p = m->pipelines.next; names && p != &m->pipelines; p = p->next)
		if (n < m->n_pipelines)
			snprintf(names[n++], sizeof(names[0]), "%s",
				 list_entry(p, struct pipeline, link)->name);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < n; i++) {
		struct reply r = {.fd = -1};

		api_results_delete(m, names[i], NULL, m->retention_s, &r);
		if (r.status != 200)
			hio_warn("retention of pipeline %s: %s", names[i],
				 json_string_value(json_object_get(r.json, "error")));
		json_decref(r.json);
	}
	free(names);
}

/* Removes what waits in the trash. The caller holds t->mu; dropped meanwhile. */
static void trash_empty_locked(struct retention *t)
{
	HIO_ASSERT_HELD(&t->mu);
	while (t->ntrash > 0) {
		char *path = t->trash[--t->ntrash];

		pthread_mutex_unlock(&t->mu);
		if (hio_rm_rf(path) < 0)
			hio_warn("cannot remove replaced result %s: %s; it goes at the next start",
				 path, strerror(errno));
		free(path);
		pthread_mutex_lock(&t->mu);
	}
}

void results_trash(struct master *m, const char *path)
{
	struct retention *t = m->retention;
	char *p = NULL;

	if (t) {
		pthread_mutex_lock(&t->mu);
		if (!t->stop && t->ntrash < TRASH_MAX && (p = strdup(path))) {
			t->trash[t->ntrash++] = p;
			if (t->ntrash == 1)
				pthread_cond_signal(&t->cv);
		}
		pthread_mutex_unlock(&t->mu);
	}
	if (!p && hio_rm_rf(path) < 0)
		hio_warn("cannot remove replaced result %s: %s; it goes at the next start", path,
			 strerror(errno));
}

static void *retention_main(void *arg)
{
	struct master *m = arg;
	struct retention *t = m->retention;
	long period = RETENTION_CHECK_MAX_MS;
	uint64_t next;

	if (m->retention_s > 0 && m->retention_s * 100 < period)
		period = m->retention_s * 100 < 1000 ? 1000 : m->retention_s * 100;
	next = hio_mono_ms() + (uint64_t)period;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		uint64_t now = hio_mono_ms();

		if (t->ntrash > 0) {
			trash_empty_locked(t);
			continue;
		}
		if (now < next) {
			hio_cond_wait_ms(&t->cv, &t->mu, (long)(next - now));
			continue;
		}
		pthread_mutex_unlock(&t->mu);
		if (m->retention_s > 0)
			expire(m);
		results_compact(m, 0);
		next = hio_mono_ms() + (uint64_t)period;
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int retention_start(struct master *m)
{
	struct retention *t = calloc(1, sizeof(*t));
	int rc;

	if (!t) {
		hio_err("out of memory starting the retention thread; not starting");
		return -1;
	}
	pthread_mutex_init(&t->mu, NULL);
	/* On the monotonic clock, which hio_cond_wait_ms's deadlines are on: with the
	 * default clock every wait ended at once and the thread spun. */
	rc = hio_cond_init(&t->cv);
	if (rc) {
		hio_err("cannot start the retention thread: %s; not starting", strerror(rc));
		pthread_mutex_destroy(&t->mu);
		free(t);
		return -1;
	}
	m->retention = t;
	rc = pthread_create(&t->thread, NULL, retention_main, m);
	if (rc) {
		hio_err("cannot start the retention thread: %s; not starting", strerror(rc));
		m->retention = NULL;
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return -1;
	}
	return 0;
}

void retention_stop(struct master *m)
{
	struct retention *t = m->retention;

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	/* Uploads may still be answered (the HTTP server stops after this): they remove
	 * their own now, and t stays until retention_free. */
	pthread_mutex_lock(&t->mu);
	trash_empty_locked(t);
	pthread_mutex_unlock(&t->mu);
}

void retention_free(struct master *m)
{
	struct retention *t = m->retention;

	if (!t)
		return;
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
	m->retention = NULL;
}
