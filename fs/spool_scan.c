/* spool_scan.c: the spool at start-up (the tree's bytes counted, out/ replayed after a
 * crash) and the reporter that posts the spool's state to the master. */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_sync.h"
#include "spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ reports */

/* The spool's state goes to the master every REPORT_MS, and within REPORT_MIN_MS of a
 * change of the pending count, so `hio status` shows what waits at this mount and
 * whether deliveries keep failing, and `hio wait` knows when the mount has drained. */
void *spool_reporter_main(void *arg)
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
		size_t sent_pending = sp->pending, waiting;
		struct hio_stream_stats ss;
		json_t *j;
		uint64_t sent_ms;

		/* What no PE has yet: the autoscaler counts it as demand, which the master's
		 * backlog alone does not show while the spool holds the files back. The
		 * connector's lock is a leaf, so taking it under sp->mu keeps the order. */
		hio_stream_get_stats(sp->stream, &ss);
		waiting = sent_pending > ss.inflight ? sent_pending - (size_t)ss.inflight : 0;
		j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s?}", "host", host, "mountpoint",
			      fs->mountpoint, "pipeline", fs->pipeline, "spooled",
			      (json_int_t)sent_pending, "waiting", (json_int_t)waiting,
			      "spool_bytes", (json_int_t)atomic_load(&fs->spool_used), "spool_max",
			      (json_int_t)fs->spool_max, "failing", (json_int_t)sp->failing,
			      "last_error", sp->last_error[0] ? sp->last_error : NULL);
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
void spool_mount_id(struct fs *fs, char out[HIO_ID_LEN + 1])
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
void spool_scan_tree(struct fs *fs, int dfd, const char *prefix, int depth)
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
				spool_scan_tree(fs, sub, name, depth + 1);
		} else if (S_ISREG(st.st_mode) && !(st.st_mode & FS_STUB_BIT)) {
			atomic_fetch_add(&fs->spool_used, (uint64_t)st.st_size);
			if (st.st_nlink == 1 && st.st_size > 0 && !fs_ignored(fs, name))
				fs_space_evictable(fs, name);
		}
	}
	closedir(d);
}

static struct fs_version *sidecar_read(struct fs *fs, const char *id)
{
	char path[PATH_MAX + 64];
	struct fs_version *e = NULL;
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
	if (!(e = calloc(1, sizeof(*e))) || !(e->name = strdup(name)) ||
	    !(e->side = strdup(name))) {
		spool_version_free(e);
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
	uint64_t x = (*(struct fs_version *const *)a)->ts, y = (*(struct fs_version *const *)b)->ts;

	return x < y ? -1 : x > y;
}

int spool_replay_out(struct fs *fs)
{
	struct fs_spool *sp = fs->spool;
	int dfd = openat(fs->out_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct fs_version **v = NULL;
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
			struct fs_version *e = hio_id_valid(id) ? sidecar_read(fs, id) : NULL;
			if (e && fstatat(fs->out_fd, id, &st, 0) == 0) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct fs_version **nv = realloc(v, nc * sizeof(*nv));
					if (!nv) {
						spool_version_free(e);
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
			spool_version_free(e);
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
		struct rec *r = spool_state_set(sp, v[i]->name, v[i]->id, v[i]->ts, ST_SPOOLED);
		if (r)
			r->v = v[i];
		spool_pending_add(sp, 1);
		spool_queue(sp, v[i]);
	}
	pthread_mutex_unlock(&sp->mu);
	if (n)
		hio_info("replaying %zu spooled input(s) left by an earlier mount", n);
	free(v);
	return 0;
}
