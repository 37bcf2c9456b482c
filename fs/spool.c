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
#include <sys/stat.h>
#include <unistd.h>

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 60000
#define STATES_MAX 100000 /* input states kept; older done ones are answered by the index */
#define SIDECAR_MAX 16384 /* bytes of an out/<id>.json */
#define REPORT_MS 500	  /* how often the spool's state goes to the master */
#define REPORT_MIN_MS 100 /* at least this apart when the pending count changed */

enum in_state { ST_SPOOLED = 0, ST_SENT, ST_QUEUED, ST_PROCESSING, ST_DONE, ST_FAILED };
static const char *const state_names[] = {"spooled",	"sent", "queued",
					  "processing", "done", "failed"};

struct entry {
	char id[HIO_ID_LEN + 1];
	uint64_t ts;
	char *name;
	uint64_t not_before_ms;
	int tries;
	struct entry *next;
};

struct rec { /* the newest version of one input this mount knows of */
	char *name;
	char id[HIO_ID_LEN + 1];
	uint64_t ts;
	enum in_state state;
};

struct fs_spool {
	struct fs *fs;
	/* Lock order: mu, then the evictable list's mu (on_ack marks an input evictable);
	 * never ino_mu or the results' mu. Held for list and map updates only: links,
	 * sidecars, sends and reports to the master happen with it released. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t cv_report;  /* pending changed, stop */
	struct entry *head, *tail; /* waiting for the sender */
	size_t pending;		   /* in out/: waiting or handed to the stream (pending_add) */
	int stop;
	pthread_t sender;
	int sender_started;
	hio_stream *stream;
	struct hio_hmap states; /* name -> struct rec */
	uint64_t failures;
	size_t failing; /* entries whose last delivery failed */
	char last_error[256];
	char mount_id[HIO_ID_LEN + 1];
	pthread_t reporter;
	int reporter_started;
};

static void entry_free(struct entry *e)
{
	if (e) {
		free(e->name);
		free(e);
	}
}

/* ------------------------------------------------------------ states */

/* Records the state of version id of name; an older version never overwrites a newer
 * one. The caller holds sp->mu. */
static void state_set(struct fs_spool *sp, const char *name, const char *id, uint64_t ts,
		      enum in_state st)
{
	struct rec *r;

	HIO_ASSERT_HELD(&sp->mu);
	r = hio_hmap_get(&sp->states, name);
	if (r && ts < r->ts)
		return;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))) || !(r->name = strdup(name)) ||
		    hio_hmap_put(&sp->states, r->name, r) < 0) {
			if (r)
				free(r->name);
			free(r);
			return;
		}
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->ts = ts;
	r->state = st;
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
		free(v[i]->name);
		free(v[i]);
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

void fs_spool_renamed(struct fs *fs, const char *from, const char *to)
{
	struct fs_spool *sp = fs->spool;
	struct rec *r;

	pthread_mutex_lock(&sp->mu);
	if ((r = hio_hmap_del(&sp->states, from))) {
		struct rec *old = hio_hmap_del(&sp->states, to);
		char *name = strdup(to);

		if (old) {
			free(old->name);
			free(old);
		}
		if (name) {
			free(r->name);
			r->name = name;
		}
		if (!name || hio_hmap_put(&sp->states, r->name, r) < 0) {
			free(r->name);
			free(r);
		}
	}
	pthread_mutex_unlock(&sp->mu);
}

/* ------------------------------------------------------------ out/ entries */

/* Appends e for the sender; the caller holds sp->mu. */
static void queue_entry(struct fs_spool *sp, struct entry *e)
{
	HIO_ASSERT_HELD(&sp->mu);
	e->next = NULL;
	if (sp->tail)
		sp->tail->next = e;
	else
		sp->head = e;
	sp->tail = e;
	pthread_cond_broadcast(&sp->cv); /* the sender and the reporter share the condvar */
}

/* The caller holds sp->mu. The reporter tells the master soon, so `hio wait` sees it. */
static void pending_add(struct fs_spool *sp, int delta)
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

int fs_spool_complete(struct fs *fs, const char *rel)
{
	struct fs_spool *sp = fs->spool;
	struct entry *e = calloc(1, sizeof(*e));
	int rc;

	if (!e || !(e->name = strdup(rel))) {
		entry_free(e);
		return -ENOMEM;
	}
	hio_id_new(e->id);
	e->ts = hio_now_us();
	if (linkat(fs->tree_fd, rel, fs->out_fd, e->id, 0) < 0) {
		rc = -errno;
		hio_err("cannot spool %s: %s; its close reports it", rel, strerror(errno));
		entry_free(e);
		return rc;
	}
	if ((rc = sidecar_write(fs, e->id, rel, e->ts)) < 0) {
		hio_err("cannot write the spool record of %s: %s; its close reports it", rel,
			strerror(-rc));
		unlinkat(fs->out_fd, e->id, 0);
		entry_free(e);
		return rc;
	}
	hio_debug("spooled %s as %s", rel, e->id);
	pthread_mutex_lock(&sp->mu);
	state_set(sp, rel, e->id, e->ts, ST_SPOOLED);
	states_trim(sp);
	pending_add(sp, 1);
	queue_entry(sp, e);
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

/* The entry's bytes leave out/; the version is safe with a PE or the backlog. */
static void entry_done(struct fs *fs, struct entry *e)
{
	char side[HIO_ID_LEN + 8];
	int fd = openat(fs->out_fd, e->id, O_PATH | O_CLOEXEC);

	snprintf(side, sizeof(side), "%s.json", e->id);
	if (unlinkat(fs->out_fd, side, 0) < 0 && errno != ENOENT)
		hio_warn("cannot remove spool record %s: %s; it will be sent again on the next "
			 "mount",
			 side, strerror(errno));
	if (unlinkat(fs->out_fd, e->id, 0) == 0 && fd >= 0)
		fs_space_unlinked(fs, fd);
	if (fd >= 0)
		close(fd);
}

static void on_ack(void *ud, const struct hio_ack *ack)
{
	struct fs *fs = ud;
	struct fs_spool *sp = fs->spool;
	struct entry *e = ack->user;

	if (ack->ok) {
		enum in_state st = ST_DONE;

		if (ack->via == HIO_VIA_BACKLOG)
			st = ST_QUEUED;
		else if (ack->status && !strcmp(ack->status, "failed"))
			st = ST_FAILED;
		entry_done(fs, e);
		if (st != ST_QUEUED)
			fs_results_acked(fs);
		pthread_mutex_lock(&sp->mu);
		if (e->tries > 0)
			sp->failing--;
		state_set(sp, e->name, e->id, e->ts, st);
		fs_space_evictable(fs, e->name);
		pending_add(sp, -1);
		pthread_mutex_unlock(&sp->mu);
		hio_debug("%s acknowledged (%s)", e->name, ack->status ? ack->status : "?");
		entry_free(e);
		return;
	}
	pthread_mutex_lock(&sp->mu);
	if (sp->stop) { /* stays in out/ for the next mount */
		pending_add(sp, -1);
		pthread_mutex_unlock(&sp->mu);
		entry_free(e);
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
	state_set(sp, e->name, e->id, e->ts, ST_SPOOLED);
	queue_entry(sp, e);
	pthread_mutex_unlock(&sp->mu);
	hio_warn("delivery of %s failed (%s); it stays in the spool, retry %d in %ld ms", e->name,
		 ack->error ? ack->error : "unknown", e->tries, delay);
}

static void *sender_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_spool *sp = fs->spool;
	char path[PATH_MAX + 64];

	pthread_mutex_lock(&sp->mu);
	while (!sp->stop) {
		struct entry *e = sp->head;

		if (!e) {
			hio_cond_wait_ms(&sp->cv, &sp->mu, -1);
			continue;
		}
		if (e->not_before_ms > hio_mono_ms()) {
			hio_cond_wait_until(&sp->cv, &sp->mu, e->not_before_ms);
			continue;
		}
		sp->head = e->next;
		if (!sp->head)
			sp->tail = NULL;
		state_set(sp, e->name, e->id, e->ts, ST_SENT);
		pthread_mutex_unlock(&sp->mu);
		snprintf(path, sizeof(path), "%s/%s", fs->out_dir, e->id);
		/* Blocks while the connector's queue is full: that is the back-pressure. */
		if (hio_stream_send_file(sp->stream, path, e->name, e->id, e->ts, e) < 0) {
			int err = errno;
			pthread_mutex_lock(&sp->mu);
			if (err == ENOENT || err == EINVAL) {
				hio_err("cannot send %s (%s): %s; dropped from the spool", e->name,
					e->id, strerror(err));
				pending_add(sp, -1);
				entry_free(e);
				continue;
			}
			if (!sp->stop)
				hio_warn("cannot queue %s: %s; retrying in %d ms", e->name,
					 strerror(err), RETRY_MIN_MS);
			e->not_before_ms = hio_mono_ms() + RETRY_MIN_MS;
			queue_entry(sp, e);
			continue;
		}
		pthread_mutex_lock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* ------------------------------------------------------------ reports */

/* The spool's state goes to the master every REPORT_MS, and within REPORT_MIN_MS of a
 * change of the pending count, so `hio status` shows what waits at this mount and
 * whether deliveries keep failing, and `hio wait` knows when the mount has drained. */
static void *reporter_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_spool *sp = fs->spool;
	hio_http *h = hio_http_new(fs->master, fs->token);
	char host[256] = "", path[128], err[256];
	int warned = 0;

	if (!h)
		return NULL;
	gethostname(host, sizeof(host) - 1);
	snprintf(path, sizeof(path), "/v1/mounts/%s", sp->mount_id);
	pthread_mutex_lock(&sp->mu);
	while (!sp->stop) {
		size_t sent_pending = sp->pending;
		json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s?}", "host", host,
				      "mountpoint", fs->mountpoint, "pipeline", fs->pipeline,
				      "spooled", (json_int_t)sent_pending, "spool_bytes",
				      (json_int_t)atomic_load(&fs->spool_used), "spool_max",
				      (json_int_t)fs->spool_max, "failing", (json_int_t)sp->failing,
				      "last_error", sp->last_error[0] ? sp->last_error : NULL);
		uint64_t sent_ms;

		pthread_mutex_unlock(&sp->mu);
		long st = j ? hio_http_json(h, "POST", path, j, NULL, err, sizeof(err)) : -1;
		json_decref(j);
		if (st != 200 && !warned++)
			hio_debug("cannot report the spool to the master: %s; retrying", err);
		if (st == 200)
			warned = 0;
		sent_ms = hio_mono_ms();
		pthread_mutex_lock(&sp->mu);
		while (!sp->stop) {
			uint64_t now = hio_mono_ms(), due = sent_ms + REPORT_MS;

			if (sp->pending != sent_pending)
				due = sent_ms + REPORT_MIN_MS;
			if (now >= due)
				break;
			hio_cond_wait_until(&sp->cv_report, &sp->mu, due);
		}
	}
	/* A clean stop with nothing pending leaves: hio wait stops waiting for this mount.
	 * With files pending it stays on the master's list (silent) until a mount of this
	 * spool, under the same id, reports them again. */
	if (sp->pending == 0) {
		pthread_mutex_unlock(&sp->mu);
		hio_http_set_timeouts(h, 1000, 2000);
		if (hio_http_json(h, "DELETE", path, NULL, NULL, err, sizeof(err)) != 200)
			hio_debug("cannot deregister the mount: %s", err);
	} else {
		pthread_mutex_unlock(&sp->mu);
	}
	hio_http_free(h);
	return NULL;
}

/* The mount's id, kept in SPOOL/mount.id, so a remount of the same spool (after a crash)
 * reports as the same mount and the master does not keep a silent one forever. */
static void spool_mount_id(struct fs *fs, char out[HIO_ID_LEN + 1])
{
	char path[PATH_MAX + 16], *s;

	snprintf(path, sizeof(path), "%s/mount.id", fs->spool_dir);
	s = hio_file_read(path, 128, NULL);
	if (s) {
		s[strcspn(s, " \r\n")] = '\0';
		if (hio_id_valid(s)) {
			snprintf(out, HIO_ID_LEN + 1, "%s", s);
			free(s);
			return;
		}
		free(s);
	}
	hio_id_new(out);
	if (hio_file_write_atomic(path, out, HIO_ID_LEN, 1) < 0)
		hio_warn("cannot keep the mount id in %s: %s; a remount reports as a new mount",
			 path, strerror(errno));
}

/* ------------------------------------------------------------ start: scan and replay */

/* Counts tree bytes (each inode once) and lists processed inputs as evictable. */
static void scan_tree(struct fs *fs, int dfd, const char *prefix, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		char name[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, ".fuse_hidden", 12)) {
			/* removed while open when the last mount ended */
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "/" : "",
			     de->d_name) >= (int)sizeof(name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 256) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				scan_tree(fs, sub, name, depth + 1);
		} else if (S_ISREG(st.st_mode) && !(st.st_mode & FS_STUB_BIT)) {
			atomic_fetch_add(&fs->spool_used, (uint64_t)st.st_size);
			if (st.st_nlink == 1 && st.st_size > 0 && !fs_ignored(fs, name))
				fs_space_evictable(fs, name);
		}
	}
	closedir(d);
}

static struct entry *sidecar_read(struct fs *fs, const char *id)
{
	char path[PATH_MAX + 64];
	struct entry *e = NULL;
	const char *name, *why;
	json_int_t ts;
	json_t *j = NULL;
	char *txt;

	snprintf(path, sizeof(path), "%s/%s.json", fs->out_dir, id);
	if (!(txt = hio_file_read(path, SIDECAR_MAX, NULL)))
		return NULL;
	if (!(j = json_loads(txt, 0, NULL)) ||
	    json_unpack(j, "{s:s,s:I}", "name", &name, "ts", &ts) < 0 ||
	    !hio_name_valid(name, strlen(name), &why) || ts <= 0)
		goto out;
	if (!(e = calloc(1, sizeof(*e))) || !(e->name = strdup(name))) {
		entry_free(e);
		e = NULL;
		goto out;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->ts = (uint64_t)ts;
out:
	json_decref(j);
	free(txt);
	return e;
}

/* Queues what a previous mount left in out/, oldest first by name order of ids is
 * random, so the versions' timestamps decide; removes half-written leftovers. */
static int cmp_entry_ts(const void *a, const void *b)
{
	uint64_t x = (*(struct entry *const *)a)->ts, y = (*(struct entry *const *)b)->ts;

	return x < y ? -1 : x > y;
}

static int replay_out(struct fs *fs)
{
	struct fs_spool *sp = fs->spool;
	int dfd = openat(fs->out_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct entry **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		size_t len = strlen(nm);
		char id[HIO_ID_LEN + 1];
		struct stat st;

		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (len == HIO_ID_LEN + 5 && !strcmp(nm + HIO_ID_LEN, ".json")) {
			snprintf(id, sizeof(id), "%.*s", HIO_ID_LEN, nm);
			struct entry *e = hio_id_valid(id) ? sidecar_read(fs, id) : NULL;
			if (e && fstatat(fs->out_fd, id, &st, 0) == 0) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct entry **nv = realloc(v, nc * sizeof(*nv));
					if (!nv) {
						entry_free(e);
						continue;
					}
					v = nv;
					cap = nc;
				}
				v[n++] = e;
				if (st.st_nlink == 1 && !(st.st_mode & FS_STUB_BIT))
					atomic_fetch_add(&fs->spool_used, (uint64_t)st.st_size);
				continue;
			}
			entry_free(e);
			hio_warn("spool record %s is unreadable or has no data; removed", nm);
			unlinkat(fs->out_fd, nm, 0);
			continue;
		}
		if (len == HIO_ID_LEN && hio_id_valid(nm)) {
			char side[HIO_ID_LEN + 8];
			snprintf(side, sizeof(side), "%s.json", nm);
			if (fstatat(fs->out_fd, side, &st, 0) == 0)
				continue; /* taken with its record */
		}
		/* Data without a record (crash inside a completion whose close then
		 * failed), or a temporary file. */
		unlinkat(fs->out_fd, nm, 0);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_entry_ts);
	pthread_mutex_lock(&sp->mu);
	for (size_t i = 0; i < n; i++) {
		state_set(sp, v[i]->name, v[i]->id, v[i]->ts, ST_SPOOLED);
		pending_add(sp, 1);
		queue_entry(sp, v[i]);
	}
	pthread_mutex_unlock(&sp->mu);
	if (n)
		hio_info("replaying %zu spooled input(s) left by an earlier mount", n);
	free(v);
	return 0;
}

int fs_spool_start(struct fs *fs)
{
	struct fs_spool *sp = calloc(1, sizeof(*sp));
	int tfd;

	if (!sp || fs_space_init(fs) < 0) {
		free(sp);
		return -1;
	}
	fs->spool = sp;
	sp->fs = fs;
	pthread_mutex_init(&sp->mu, NULL);
	if (hio_cond_init(&sp->cv) != 0 || hio_cond_init(&sp->cv_report) != 0) {
		hio_err("cannot create the spool's condition variables; not mounting");
		return -1;
	}
	hio_hmap_init(&sp->states);

	snprintf(fs->tree_dir, sizeof(fs->tree_dir), "%s/tree", fs->spool_dir);
	snprintf(fs->out_dir, sizeof(fs->out_dir), "%s/out", fs->spool_dir);
	if (hio_mkdir_p(fs->tree_dir) < 0 || hio_mkdir_p(fs->out_dir) < 0) {
		hio_err("cannot create the spool in %s: %s; not mounting", fs->spool_dir,
			strerror(errno));
		return -1;
	}
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
		scan_tree(fs, tfd, "", 0);
	if (replay_out(fs) < 0) {
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

	so.master = fs->master;
	so.token = fs->token;
	so.pipeline = fs->pipeline;
	so.compress = (enum hio_compress)fs->compress;
	so.on_ack = on_ack;
	so.ack_ud = fs;
	if (!(sp->stream = hio_stream_open(&so, err, sizeof(err)))) {
		hio_err("cannot start streaming to %s: %s; unmounting", fs->master, err);
		return -1;
	}
	if (pthread_create(&sp->sender, NULL, sender_main, fs) != 0)
		return -1;
	sp->sender_started = 1;
	if (pthread_create(&sp->reporter, NULL, reporter_main, fs) != 0)
		return -1;
	sp->reporter_started = 1;
	return 0;
}

void fs_spool_stop(struct fs *fs)
{
	struct fs_spool *sp = fs->spool;
	struct entry *e;

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
		entry_free(e);
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
