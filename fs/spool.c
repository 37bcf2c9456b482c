/* spool.c: completed versions in SPOOL/out, the sender that hands them to the stream
 * connector, and the per-input states behind user.hio.state (space.c: its bytes).
 *
 * out/<id> is a hard link to the version's inode and out/<id>.json its name and
 * version; both go only when a PE or the master's backlog acknowledged the message.
 * A delivery that fails is retried with backoff and never dropped. */
#include "fs.h"
#include "fs_metrics.h"
#include "hio_hmap.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_stream.h"
#include "hio_sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool_int.h"

static const char *const state_names[] = {"spooled",	"sent", "queued",
					  "processing", "done", "failed"};

void spool_version_free(struct fs_version *e)
{
	if (e) {
		free(e->name);
		free(e->side);
		free(e);
	}
}

/* ------------------------------------------------------------ states */

/* Records the state of version id of name; an older version never overwrites a newer
 * one. Returns the record, or NULL (older version, or out of memory). The caller holds
 * sp->mu. */
struct rec *spool_state_set(struct fs_spool *sp, const char *name, const char *id, uint64_t ts,
			    enum in_state st)
{
	struct rec *r;

	HIO_ASSERT_HELD(&sp->mu);
	r = hio_hmap_get(&sp->states, name);
	if (r && ts < r->ts)
		return NULL;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))) || !(r->name = strdup(name)) ||
		    hio_hmap_put(&sp->states, r->name, r) < 0) {
			if (r)
				free(r->name);
			free(r);
			return NULL;
		}
	}
	if (strcmp(r->id, id))
		r->v = NULL; /* another version: set by the caller when it is in out/ */
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->ts = ts;
	r->state = st;
	return r;
}

static void rec_free(struct rec *r)
{
	if (r) {
		free(r->name);
		free(r);
	}
}

/* Keeps the state map bounded: done and failed inputs are answered by the master's
 * index once forgotten here. The caller holds sp->mu. */
static void states_trim(struct fs_spool *sp)
{
	size_t n = 0;
	struct rec **v;

	HIO_ASSERT_HELD(&sp->mu);
	if (sp->states.len <= STATES_MAX || !(v = malloc(sp->states.len * sizeof(*v))))
		return;
	for (size_t i = 0; i < sp->states.cap; i++) {
		struct rec *r = sp->states.slots[i].val;
		if (sp->states.slots[i].key && (r->state == ST_DONE || r->state == ST_FAILED))
			v[n++] = r;
	}
	for (size_t i = 0; i < n; i++) {
		hio_hmap_del(&sp->states, v[i]->name);
		rec_free(v[i]);
	}
	free(v);
}

int fs_spool_state(struct fs *fs, const char *rel, char *out, size_t n)
{
	struct fs_spool *sp = fs->spool;
	struct rec *r;
	enum in_state st = ST_SPOOLED;
	uint64_t ts = 0, rts = 0;
	int have, idx;

	pthread_mutex_lock(&sp->mu);
	r = hio_hmap_get(&sp->states, rel);
	if ((have = r != NULL)) {
		st = r->state;
		ts = r->ts;
	}
	pthread_mutex_unlock(&sp->mu);
	if (have && st <= ST_SENT)
		goto out;
	/* Queued in the backlog, or unknown here: the master's index may know more. */
	idx = fs_results_entry_state(fs, rel, &rts);
	if (idx > 0 && (!have || rts >= ts))
		st = idx == 2 ? ST_FAILED : ST_DONE;
	else if (!have)
		return -ENODATA;
out:
	snprintf(out, n, "%s", state_names[st]);
	return 0;
}

/* A version still waiting for its hand-off is never sent: the sender drops it. The
 * caller holds sp->mu. */
static void cancel_waiting(struct fs_version *v)
{
	if (v && v->waiting) {
		v->waiting = 0;
		v->cancelled = 1;
	}
}

/* Moves the record of from (and its version in out/) to to; 1 when that version was
 * still waiting. The caller holds sp->mu. */
static int move_rec(struct fs *fs, struct fs_spool *sp, const char *from, const char *to)
{
	struct rec *r, *old;
	char *name = strdup(to);
	int moved = 0;

	HIO_ASSERT_HELD(&sp->mu);
	if (!name)
		return 0;
	r = hio_hmap_del(&sp->states, from);
	if ((old = hio_hmap_del(&sp->states, to))) {
		cancel_waiting(old->v); /* the target's own new bytes are gone, replaced */
		rec_free(old);
	}
	if (r && r->v && r->v->waiting && fs_ignored(fs, to)) {
		cancel_waiting(r->v); /* renamed to a held name before it went out */
		rec_free(r);
		r = NULL;
	}
	if (r) {
		if (r->v) { /* its version goes out (or is acknowledged) under the new name */
			char *vn = strdup(to);
			if (vn) {
				free(r->v->name);
				r->v->name = vn;
			}
			moved = r->v->waiting;
		}
		free(r->name);
		r->name = name;
		name = NULL;
		if (hio_hmap_put(&sp->states, r->name, r) < 0)
			rec_free(r);
	}
	free(name);
	return moved;
}

int fs_spool_renamed(struct fs *fs, const char *from, const char *to, int dir)
{
	struct fs_spool *sp = fs->spool;
	size_t fl = strlen(from), n = 0;
	struct rec **v = NULL;
	int moved;

	pthread_mutex_lock(&sp->mu);
	moved = move_rec(fs, sp, from, to);
	/* A directory: the records under it follow (one pass over the map, which holds
	 * at most STATES_MAX names; directory renames are rare). */
	if (dir && sp->states.len && (v = malloc(sp->states.len * sizeof(*v)))) {
		for (size_t i = 0; i < sp->states.cap; i++) {
			struct rec *r = sp->states.slots[i].val;
			if (sp->states.slots[i].key && !strncmp(r->name, from, fl) &&
			    r->name[fl] == '/')
				v[n++] = r;
		}
		for (size_t i = 0; i < n; i++) {
			char oldn[PATH_MAX], newn[PATH_MAX];

			snprintf(oldn, sizeof(oldn), "%s", v[i]->name);
			if (snprintf(newn, sizeof(newn), "%s%s", to, oldn + fl) < (int)sizeof(newn))
				move_rec(fs, sp, oldn, newn);
		}
		free(v);
	}
	pthread_mutex_unlock(&sp->mu);
	return moved;
}

void fs_spool_removed(struct fs *fs, const char *rel)
{
	struct fs_spool *sp = fs->spool;
	struct rec *r;

	pthread_mutex_lock(&sp->mu);
	if ((r = hio_hmap_del(&sp->states, rel))) {
		cancel_waiting(r->v); /* removed right after it was written: not streamed */
		rec_free(r);
	}
	pthread_mutex_unlock(&sp->mu);
}

/* ------------------------------------------------------------ out/ entries */

/* Appends v for the sender; the caller holds sp->mu. */
void spool_queue(struct fs_spool *sp, struct fs_version *v)
{
	HIO_ASSERT_HELD(&sp->mu);
	v->next = NULL;
	if (sp->tail)
		sp->tail->next = v;
	else
		sp->head = v;
	sp->tail = v;
	pthread_cond_broadcast(&sp->cv); /* the sender and the reporter share the condvar */
}

/* The caller holds sp->mu. The reporter tells the master soon, so `hio wait` sees it. */
void spool_pending_add(struct fs_spool *sp, int delta)
{
	HIO_ASSERT_HELD(&sp->mu);
	sp->pending = (size_t)((long)sp->pending + delta);
	pthread_cond_signal(&sp->cv_report);
}

static int sidecar_write(struct fs *fs, const char *id, const char *name, uint64_t ts)
{
	char path[PATH_MAX + 64];
	json_t *j = json_pack("{s:s,s:I}", "name", name, "ts", (json_int_t)ts);
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = -ENOMEM;

	snprintf(path, sizeof(path), "%s/%s.json", fs->out_dir, id);
	if (txt)
		rc = hio_file_write_atomic(path, txt, strlen(txt), fs->fsync) < 0 ? -errno : 0;
	free(txt);
	json_decref(j);
	return rc;
}

int fs_spool_prepare(struct fs *fs, const char *rel, struct fs_version **out)
{
	struct fs_spool *sp = fs->spool;
	struct fs_version *v = calloc(1, sizeof(*v));
	int rc;

	if (!v || !(v->name = strdup(rel)) || !(v->side = strdup(rel))) {
		spool_version_free(v);
		return -ENOMEM;
	}
	hio_id_new(v->id);
	v->ts = hio_now_us();
	if (linkat(fs->tree_fd, rel, fs->out_fd, v->id, 0) < 0) {
		rc = -errno;
		hio_err("cannot spool %s: %s; its close reports it", rel, strerror(errno));
		spool_version_free(v);
		return rc;
	}
	if ((rc = sidecar_write(fs, v->id, rel, v->ts)) < 0) {
		hio_err("cannot write the spool record of %s: %s; its close reports it", rel,
			strerror(-rc));
		unlinkat(fs->out_fd, v->id, 0);
		spool_version_free(v);
		return rc;
	}
	hio_debug("spooled %s as %s", rel, v->id);
	pthread_mutex_lock(&sp->mu);
	spool_pending_add(sp, 1); /* hio wait waits for it from now on */
	pthread_mutex_unlock(&sp->mu);
	*out = v;
	return 0;
}

int fs_spool_unshare(struct fs *fs, struct fs_version *v)
{
	char tmp[HIO_ID_LEN + 16];
	struct stat st;
	int src, fd;

	snprintf(tmp, sizeof(tmp), ".unshare-%s", v->id);
	src = openat(fs->out_fd, v->id, O_RDONLY | O_CLOEXEC);
	if (src < 0 || fstat(src, &st) < 0) {
		fd = -errno;
		goto out;
	}
	if ((fd = fs_copy_replace(fs, src, st.st_mode, tmp, fs->out_fd, v->id)) >= 0)
		close(fd);
out:
	if (src >= 0)
		close(src);
	return fd < 0 ? fd : 0;
}

void fs_spool_commit(struct fs *fs, struct fs_version *v, const char *rel)
{
	struct fs_spool *sp = fs->spool;
	char *name = strcmp(v->name, rel) ? strdup(rel) : NULL;
	struct rec *r;

	pthread_mutex_lock(&sp->mu);
	if (name) { /* renamed since it was prepared; the sender rewrites the record */
		free(v->name);
		v->name = name;
	}
	r = hio_hmap_get(&sp->states, v->name);
	if (r && r->v && r->v != v)
		cancel_waiting(r->v); /* superseded before it went out */
	if ((r = spool_state_set(sp, v->name, v->id, v->ts, ST_SPOOLED)))
		r->v = v;
	states_trim(sp);
	v->waiting = 1;
	v->not_before_ms = hio_mono_ms() + (uint64_t)fs->settle_ms;
	spool_queue(sp, v);
	pthread_mutex_unlock(&sp->mu);
}

/* The version's bytes leave out/: acknowledged (safe with a PE or the backlog), or
 * never to be sent. */
static void version_unlink(struct fs *fs, struct fs_version *v)
{
	char side[HIO_ID_LEN + 8];
	int fd = openat(fs->out_fd, v->id, O_PATH | O_CLOEXEC);

	snprintf(side, sizeof(side), "%s.json", v->id);
	if (unlinkat(fs->out_fd, side, 0) < 0 && errno != ENOENT)
		hio_warn("cannot remove spool record %s: %s; it will be sent again on the next "
			 "mount",
			 side, strerror(errno));
	if (unlinkat(fs->out_fd, v->id, 0) == 0 && fd >= 0)
		fs_space_unlinked(fs, fd);
	if (fd >= 0)
		close(fd);
}

/* Forgets v's record when it still names v. The caller holds sp->mu. */
static void rec_forget(struct fs_spool *sp, struct fs_version *v)
{
	struct rec *r = hio_hmap_get(&sp->states, v->name);

	HIO_ASSERT_HELD(&sp->mu);
	if (r && r->v == v) {
		hio_hmap_del(&sp->states, v->name);
		rec_free(r);
	}
}

void fs_spool_discard(struct fs *fs, struct fs_version *v)
{
	struct fs_spool *sp = fs->spool;

	if (!v)
		return;
	version_unlink(fs, v);
	pthread_mutex_lock(&sp->mu);
	rec_forget(sp, v);
	spool_pending_add(sp, -1);
	pthread_mutex_unlock(&sp->mu);
	hio_debug("%s (%s) not streamed: removed, renamed or replaced first", v->name, v->id);
	spool_version_free(v);
}

int fs_spool_complete(struct fs *fs, const char *rel)
{
	struct fs_version *v;
	int rc = fs_spool_prepare(fs, rel, &v);

	if (rc == 0)
		fs_spool_commit(fs, v, rel);
	return rc;
}

static void on_ack(void *ud, const struct hio_ack *ack)
{
	struct fs *fs = ud;
	struct fs_spool *sp = fs->spool;
	struct fs_version *e = ack->user;
	char name[PATH_MAX];
	struct rec *r;
	int tries;

	if (ack->ok) {
		enum in_state st = ST_DONE;

		if (ack->via == HIO_VIA_BACKLOG)
			st = ST_QUEUED;
		else if (ack->status && !strcmp(ack->status, "failed"))
			st = ST_FAILED;
		version_unlink(fs, e);
		if (st != ST_QUEUED)
			fs_results_acked(fs);
		pthread_mutex_lock(&sp->mu);
		if (e->tries > 0)
			sp->failing--;
		if ((r = spool_state_set(sp, e->name, e->id, e->ts, st)))
			r->v = NULL;
		fs_space_evictable(fs, e->name);
		spool_pending_add(sp, -1);
		pthread_mutex_unlock(&sp->mu);
		hio_debug("%s acknowledged (%s)", e->id, ack->status ? ack->status : "?");
		spool_version_free(e);
		return;
	}
	pthread_mutex_lock(&sp->mu);
	if (sp->stop) { /* stays in out/ for the next mount */
		spool_pending_add(sp, -1);
		pthread_mutex_unlock(&sp->mu);
		spool_version_free(e);
		return;
	}
	if (e->tries == 0)
		sp->failing++;
	snprintf(sp->last_error, sizeof(sp->last_error), "%s: %s", e->name,
		 ack->error ? ack->error : "unknown");
	long delay = RETRY_MIN_MS << (e->tries < 6 ? e->tries : 6);
	if (delay > RETRY_MAX_MS)
		delay = RETRY_MAX_MS;
	e->tries++;
	e->not_before_ms = hio_mono_ms() + (uint64_t)delay;
	sp->failures++;
	spool_state_set(sp, e->name, e->id, e->ts, ST_SPOOLED);
	snprintf(name, sizeof(name), "%s", e->name); /* e is the sender's once queued */
	tries = e->tries;
	spool_queue(sp, e);
	pthread_mutex_unlock(&sp->mu);
	hio_warn("delivery of %s failed (%s); it stays in the spool, retry %d in %ld ms", name,
		 ack->error ? ack->error : "unknown", tries, delay);
}

static void *sender_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_spool *sp = fs->spool;
	char path[PATH_MAX + 64], name[PATH_MAX];

	pthread_mutex_lock(&sp->mu);
	while (!sp->stop) {
		struct fs_version *e = sp->head;

		if (!e) {
			hio_cond_wait_ms(&sp->cv, &sp->mu, -1);
			continue;
		}
		/* A committed version settles first: a rename or removal right after the
		 * close (sed -i, an editor's probe file) still moves or cancels it. */
		if (e->not_before_ms > hio_mono_ms()) {
			hio_cond_wait_until(&sp->cv, &sp->mu, e->not_before_ms);
			continue;
		}
		sp->head = e->next;
		if (!sp->head)
			sp->tail = NULL;
		if (e->cancelled) {
			pthread_mutex_unlock(&sp->mu);
			fs_spool_discard(fs, e);
			pthread_mutex_lock(&sp->mu);
			continue;
		}
		e->waiting = 0;
		spool_state_set(sp, e->name, e->id, e->ts, ST_SENT);
		snprintf(name, sizeof(name), "%s", e->name);
		pthread_mutex_unlock(&sp->mu);
		/* Renamed after its record was written: a replay must use the new name. */
		if (strcmp(e->side, name) && sidecar_write(fs, e->id, name, e->ts) == 0) {
			char *s = strdup(name);
			if (s) {
				free(e->side);
				e->side = s;
			}
		}
		snprintf(path, sizeof(path), "%s/%s", fs->out_dir, e->id);
		/* Blocks while the connector's queue is full: that is the back-pressure. */
		if (hio_stream_send_file(sp->stream, path, name, e->id, e->ts, e) < 0) {
			int err = errno;
			pthread_mutex_lock(&sp->mu);
			if (err == ENOENT || err == EINVAL) {
				hio_err("cannot send %s (%s): %s; dropped from the spool", name,
					e->id, strerror(err));
				spool_pending_add(sp, -1);
				spool_version_free(e);
				continue;
			}
			if (!sp->stop)
				hio_warn("cannot queue %s: %s; retrying in %d ms", name,
					 strerror(err), RETRY_MIN_MS);
			e->not_before_ms = hio_mono_ms() + RETRY_MIN_MS;
			spool_queue(sp, e);
			continue;
		}
		pthread_mutex_lock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* ------------------------------------------------------------ start and stop */

/* SPOOL/lock, locked for the life of this hio-fs: a second one on the same spool
 * (another mount, a restart while the old one still runs) would send the same
 * versions twice and evict inputs under the other's feet. The lock goes with the
 * process, so a crash never leaves it stale. The descriptor, or -1. */
static int spool_lock(struct fs *fs)
{
	char path[PATH_MAX + 16], pid[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/lock", fs->spool_dir);
	if (hio_mkdir_p(fs->spool_dir) < 0 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		hio_err("cannot create the spool's lock %s: %s; not mounting", path,
			strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			hio_err("the spool %s is in use by another hio-fs (pid %s); not mounting: "
				"stop that one first (hio down or hio umount), or give this one "
				"its own --spool",
				fs->spool_dir, pid[0] ? pid : "unknown");
		else
			hio_err("cannot lock the spool %s: %s; not mounting", fs->spool_dir,
				strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

/* The pid in SPOOL/lock names this process for a refused second one (after
 * fuse_daemonize: the lock went with the descriptor to the background child). */
static void spool_lock_note_pid(struct fs *fs)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	if (ftruncate(fs->spool->lock_fd, 0) < 0 ||
	    pwrite(fs->spool->lock_fd, pid, (size_t)n, 0) != n)
		hio_debug("cannot write the pid into the spool's lock: %s", strerror(errno));
}

int fs_spool_start(struct fs *fs)
{
	struct fs_spool *sp;
	int tfd, lock_fd = spool_lock(fs);

	if (lock_fd < 0)
		return -1;
	sp = calloc(1, sizeof(*sp));
	if (!sp || fs_space_init(fs) < 0) {
		free(sp);
		close(lock_fd);
		return -1;
	}
	fs->spool = sp;
	sp->fs = fs;
	sp->lock_fd = lock_fd;
	pthread_mutex_init(&sp->mu, NULL);
	if (hio_cond_init(&sp->cv) != 0 || hio_cond_init(&sp->cv_report) != 0) {
		hio_err("cannot create the spool's condition variables; not mounting");
		return -1;
	}
	hio_hmap_init(&sp->states);

	snprintf(fs->tree_dir, sizeof(fs->tree_dir), "%s/tree", fs->spool_dir);
	snprintf(fs->out_dir, sizeof(fs->out_dir), "%s/out", fs->spool_dir);
	int fresh = access(fs->tree_dir, F_OK) < 0;
	if (hio_mkdir_p(fs->tree_dir) < 0 || hio_mkdir_p(fs->out_dir) < 0) {
		hio_err("cannot create the spool in %s: %s; not mounting", fs->spool_dir,
			strerror(errno));
		return -1;
	}
	/* The mount's root is tree/: like /tmp, anyone may create in it and only an
	 * owner remove or rename, for any user may write into the mount. Only when the
	 * spool is new, so a chmod of the mount's root by its admin stays. */
	if (fresh && geteuid() == 0 && chmod(fs->tree_dir, 01777) < 0)
		hio_warn("cannot open %s to every user: %s", fs->tree_dir, strerror(errno));
	spool_mount_id(fs, sp->mount_id);
	fs->tree_fd = open(fs->tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fs->out_fd = open(fs->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->tree_fd < 0 || fs->out_fd < 0) {
		hio_err("cannot open the spool in %s: %s; not mounting", fs->spool_dir,
			strerror(errno));
		return -1;
	}
	tfd = openat(fs->tree_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd >= 0)
		spool_scan_tree(fs, tfd, "", 0);
	if (spool_replay_out(fs) < 0) {
		hio_err("cannot read the spool's queue %s: %s; not mounting", fs->out_dir,
			strerror(errno));
		return -1;
	}
	hio_info("spool %s: %llu of %llu bytes used", fs->spool_dir,
		 (unsigned long long)atomic_load(&fs->spool_used),
		 (unsigned long long)fs->spool_max);

	return 0;
}

/* Every thread of the spool, the stream connector's lanes included, starts here, after
 * FUSE daemonized: the fork of fuse_daemonize() keeps only the calling thread, so a
 * thread started before it would be missing in the daemon (files accepted, never sent). */
int fs_spool_run(struct fs *fs)
{
	struct fs_spool *sp = fs->spool;
	struct hio_stream_opts so = {0};
	char err[256];

	spool_lock_note_pid(fs);
	so.master = fs->master;
	so.token = fs->token;
	so.pipeline = fs->pipeline;
	so.compress = (enum hio_compress)fs->compress;
	/* A rewrite of a spooled version copies it first (cow_if_shared, handle.c). */
	so.files_sealed = 1;
	so.on_ack = on_ack;
	so.ack_ud = fs;
	if (!(sp->stream = hio_stream_open(&so, err, sizeof(err)))) {
		hio_err("cannot start streaming to %s: %s; unmounting", fs->master, err);
		return -1;
	}
	if (pthread_create(&sp->sender, NULL, sender_main, fs) != 0)
		return -1;
	sp->sender_started = 1;
	if (pthread_create(&sp->reporter, NULL, spool_reporter_main, fs) != 0)
		return -1;
	sp->reporter_started = 1;
	return 0;
}

void fs_spool_stop(struct fs *fs)
{
	struct fs_spool *sp = fs->spool;
	struct fs_version *e;

	if (!sp)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->stop = 1;
	pthread_cond_broadcast(&sp->cv);
	pthread_cond_broadcast(&sp->cv_report);
	pthread_mutex_unlock(&sp->mu);
	if (sp->stream)
		hio_stream_cancel(sp->stream);
	if (sp->sender_started)
		pthread_join(sp->sender, NULL);
	if (sp->reporter_started)
		pthread_join(sp->reporter, NULL);
	if (sp->stream)
		hio_stream_close(sp->stream); /* unacknowledged ones come back with ok = 0 */
	while ((e = sp->head)) {
		sp->head = e->next;
		if (e->cancelled) /* removed or replaced: a replay must not send it */
			version_unlink(fs, e);
		spool_version_free(e);
	}
	if (sp->pending)
		hio_info("%zu input(s) stay in the spool for the next mount", sp->pending);
	for (size_t i = 0; i < sp->states.cap; i++) {
		struct rec *r = sp->states.slots[i].val;
		if (sp->states.slots[i].key) {
			free(r->name);
			free(r);
		}
	}
	hio_hmap_free(&sp->states);
	pthread_cond_destroy(&sp->cv);
	pthread_cond_destroy(&sp->cv_report);
	pthread_mutex_destroy(&sp->mu);
	if (fs->tree_fd >= 0)
		close(fs->tree_fd);
	if (fs->out_fd >= 0)
		close(fs->out_fd);
	close(sp->lock_fd); /* last: until here this process still sends from the spool */
	free(sp);
	fs->spool = NULL;
	fs_space_free(fs);
}

void fs_spool_stats(struct fs *fs, struct fs_spool_stats *st)
{
	struct fs_spool *sp = fs->spool;

	if (!sp)
		return;
	pthread_mutex_lock(&sp->mu);
	st->pending = sp->pending;
	st->failing = sp->failing;
	st->failures = sp->failures;
	snprintf(st->mount_id, sizeof(st->mount_id), "%s", sp->mount_id);
	pthread_mutex_unlock(&sp->mu);
	/* Set once at start, closed only after the metrics endpoint stopped. */
	if (sp->stream) {
		hio_stream_get_stats(sp->stream, &st->stream);
		st->have_stream = 1;
	}
}
