/* backlog_load.c: rebuilds the backlog queues at start from the files
 * DIR/backlog/<pipeline>/<seq>-<id>.frame (all queued again, ordered by ts then
 * sequence), and frees them at the end.
 * Runs after the result journal, so messages whose result was stored before a crash
 * are acknowledged here. */
#include "master.h"

#include "hio_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct found {
	struct pipeline *pl;
	uint64_t seq, ts, size;
	char id[HIO_ID_LEN + 1];
};

struct finds {
	struct found *v;
	size_t n, cap;
};

/* "<16 hex>-<32 hex>.frame" -> seq and id. */
static int parse_name(const char *s, uint64_t *seq, char id[HIO_ID_LEN + 1])
{
	char hex[17];

	if (strlen(s) != 16 + 1 + HIO_ID_LEN + 6 || s[16] != '-' ||
	    strcmp(s + 17 + HIO_ID_LEN, ".frame") != 0)
		return -1;
	memcpy(hex, s, 16);
	hex[16] = '\0';
	if (strspn(hex, "0123456789abcdef") != 16)
		return -1;
	memcpy(id, s + 17, HIO_ID_LEN);
	id[HIO_ID_LEN] = '\0';
	if (!hio_id_valid(id))
		return -1;
	*seq = strtoull(hex, NULL, 16);
	return 0;
}

/* Checks that path holds a whole MSG frame for id; fills ts and size. */
static int check_frame(const char *path, const char *id, uint64_t *ts, uint64_t *size,
		       const char **why)
{
	uint8_t hdr[HIO_FRAME_HDR_LEN];
	struct hio_frame_hdr h;
	struct stat st;
	json_t *meta = NULL, *jts;
	char *buf = NULL;
	const char *name;
	int fd, rc = -1;

	*why = "cannot read it";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    hio_read_full(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		goto out;
	if (hio_frame_hdr_decode(hdr, &h, why) < 0)
		goto out;
	*why = "not a MSG frame";
	if (h.type != HIO_F_MSG)
		goto out;
	*why = "shorter than its header says";
	if ((uint64_t)st.st_size < HIO_FRAME_HDR_LEN + (uint64_t)h.meta_len ||
	    (!(h.flags & HIO_FRAME_F_LZ4) &&
	     (uint64_t)st.st_size != HIO_FRAME_HDR_LEN + (uint64_t)h.meta_len + h.body_len))
		goto out;
	buf = malloc(h.meta_len ? h.meta_len : 1); /* meta_len <= HIO_FRAME_META_MAX: decoded */
	if (!buf || hio_read_full(fd, buf, h.meta_len) != (ssize_t)h.meta_len)
		goto out;
	meta = json_loadb(buf, h.meta_len, 0, NULL);
	name = json_string_value(json_object_get(meta, "name"));
	jts = json_object_get(meta, "ts");
	*why = "its meta does not match its name";
	if (!meta || !json_is_string(json_object_get(meta, "id")) ||
	    strcmp(json_string_value(json_object_get(meta, "id")), id) != 0 || !name ||
	    !json_is_integer(jts) || json_integer_value(jts) < 0 ||
	    !hio_name_valid(name, strlen(name), why))
		goto out;
	*ts = (uint64_t)json_integer_value(jts);
	*size = (uint64_t)st.st_size;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	json_decref(meta);
	return rc;
}

static void scan_pipeline(struct master *m, const char *dir, const char *pln, struct finds *fs)
{
	struct pipeline *pl = NULL;
	struct dirent *de;
	char path[PATH_MAX], bad[PATH_MAX + 8];
	const char *why;
	size_t len;
	DIR *d = opendir(dir);

	if (!d) {
		hio_warn("cannot read %s: %s; its messages stay on disk, unqueued", dir,
			 strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		struct found f = {0};

		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || path_fmt(path, sizeof(path), "%s/%s", dir, de->d_name))
			continue;
		if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
			/* A push that was never answered 201: its sender still has it. */
			unlink(path);
			continue;
		}
		if (parse_name(de->d_name, &f.seq, f.id) < 0)
			continue;
		if (check_frame(path, f.id, &f.ts, &f.size, &why) < 0) {
			snprintf(bad, sizeof(bad), "%s.bad", path);
			hio_err("backlog file %s is damaged (%s); renamed to .bad and skipped",
				path, why);
			rename(path, bad);
			continue;
		}
		if (!pl) {
			/* Start-up is single-threaded; the lock is for pipeline_get's check. */
			pthread_mutex_lock(&m->lock);
			pl = pipeline_get(m, pln);
			pthread_mutex_unlock(&m->lock);
			if (!pl)
				break;
		}
		f.pl = pl;
		if (fs->n == fs->cap) {
			size_t cap = fs->cap ? fs->cap * 2 : 64;
			struct found *v = realloc(fs->v, cap * sizeof(*v));

			if (!v) {
				hio_err("out of memory rebuilding the backlog of %s", pln);
				break;
			}
			fs->v = v;
			fs->cap = cap;
		}
		fs->v[fs->n++] = f;
	}
	closedir(d);
}

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Queues one found message, or removes its file when the id is already known. */
static int enqueue(struct master *m, const struct found *f)
{
	struct mmsg *msg;
	struct ident *ident = hio_hmap_get(&m->ids, f->id);
	char path[PATH_MAX];

	if (ident) {
		struct mmsg tmp = {.pl = f->pl, .seq = f->seq};

		snprintf(tmp.id, sizeof(tmp.id), "%s", f->id);
		if (backlog_path(m, &tmp, "", path, sizeof(path)) == 0)
			unlink(path);
		return 0;
	}
	msg = calloc(1, sizeof(*msg));
	ident = calloc(1, sizeof(*ident));
	if (!msg || !ident)
		goto oom;
	snprintf(msg->id, sizeof(msg->id), "%s", f->id);
	snprintf(ident->id, sizeof(ident->id), "%s", f->id);
	if (hio_hmap_put(&m->ids, ident->id, ident) < 0)
		goto oom;
	ident->pl = f->pl;
	ident->msg = msg;
	msg->pl = f->pl;
	msg->seq = f->seq;
	msg->ts = f->ts;
	msg->size = f->size;
	list_add_tail(&f->pl->queued, &msg->link);
	f->pl->n_queued++;
	f->pl->n_in++;
	m->backlog_bytes += f->size;
	return 0;
oom:
	free(msg);
	free(ident);
	hio_err("out of memory rebuilding the backlog; not starting");
	return -1;
}

int backlog_load(struct master *m)
{
	struct finds fs = {0};
	struct dirent *de;
	char root[PATH_MAX], dir[PATH_MAX];
	uint64_t next = 0;
	int rc = -1;
	DIR *d;

	if (path_fmt(root, sizeof(root), "%s/backlog", m->dir) < 0 || hio_mkdir_p(root) < 0 ||
	    !(d = opendir(root))) {
		hio_err("cannot open %s/backlog: %s; not starting", m->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !hio_pipeline_valid(de->d_name) ||
		    path_fmt(dir, sizeof(dir), "%s/%s", root, de->d_name) < 0)
			continue;
		scan_pipeline(m, dir, de->d_name, &fs);
	}
	closedir(d);
	if (fs.n)
		qsort(fs.v, fs.n, sizeof(*fs.v), cmp_found);
	for (size_t i = 0; i < fs.n; i++) {
		if (enqueue(m, &fs.v[i]) < 0)
			goto out;
		if (fs.v[i].seq >= next)
			next = fs.v[i].seq + 1;
	}
	m->seq = next;
	hio_info("backlog rebuilt: %zu messages, %llu bytes", fs.n,
		 (unsigned long long)m->backlog_bytes);
	rc = 0;
out:
	free(fs.v);
	return rc;
}

void backlog_free(struct master *m)
{
	struct list *pos, *tmp, *q, *qtmp;

	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		list_for_each_safe(q, qtmp, &pl->queued)
		{
			free(list_entry(q, struct mmsg, link));
		}
		list_for_each_safe(q, qtmp, &pl->leased)
		{
			free(list_entry(q, struct mmsg, link));
		}
		list_init(&pl->queued);
		list_init(&pl->leased);
	}
}
