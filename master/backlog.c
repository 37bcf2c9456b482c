/* backlog.c: the durable per-pipeline queue. A message is the exact MSG frame a
 * connector would send P2P, kept in DIR/backlog/<pipeline>/<seq>-<id>.frame; the file
 * exists (renamed from .tmp) before the push is answered 201, and the queue is rebuilt
 * from those files at start. */
#include "master.h"

#include "hio_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hio_buf.h"

struct push {
	struct master *m;
	char pl[HIO_PIPELINE_MAX + 1];
	char dir[PATH_MAX];
	hio_frame_dec *dec;
	struct hio_buf head; /* header and meta, kept until they are checked */
	long long content_len;
	int validated, ended, dup;
	int fd;
	char tmp[PATH_MAX]; /* the temp file while it exists */
	char id[HIO_ID_LEN + 1];
	uint64_t ts, seq, size, held;
	unsigned status;
	char err[256];
};

static void push_fail(struct push *p, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void push_fail(struct push *p, unsigned status, const char *fmt, ...)
{
	va_list ap;

	if (p->status)
		return;
	p->status = status;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

int backlog_path(struct master *m, const struct mmsg *msg, const char *suffix, char *out, size_t n)
{
	return path_fmt(out, n, "%s/backlog/%s/%016llx-%s.frame%s", m->dir, msg->pl->name,
			(unsigned long long)msg->seq, msg->id, suffix);
}

/* Room is held as a push writes, PUSH_HOLD_STEP at a time, not for the size it
 * declares: a push that declares gigabytes and then stalls (a slow or hostile sender)
 * would otherwise hold the whole backlog, and every other push would get 503 (issue
 * 14). A declared size that cannot fit is still refused up front (room_fits). */
#define PUSH_HOLD_STEP (1u << 20)

/* 1 when n more bytes fit beside what is stored and held. Caller holds m->lock. */
static int room_fits(struct master *m, uint64_t n)
{
	HIO_ASSERT_HELD(&m->lock);
	return m->backlog_bytes + m->backlog_held + n <= m->backlog_max;
}

/* Holds room for p to write n more bytes. 0, or -1 when the backlog is full. */
static int hold_more(struct push *p, uint64_t n)
{
	struct master *m = p->m;
	uint64_t need, step;
	int rc = 0;

	if (p->size + n <= p->held)
		return 0;
	need = p->size + n - p->held;
	step = need > PUSH_HOLD_STEP ? need : PUSH_HOLD_STEP;
	pthread_mutex_lock(&m->lock);
	if (!room_fits(m, step))
		step = need; /* the last bytes may still fit where a whole step does not */
	if (room_fits(m, step)) {
		m->backlog_held += step;
		p->held += step;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int push_on_frame(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct push *p = ud;
	struct master *m = p->m;
	const char *id, *name, *why;
	json_t *ts = json_object_get(meta, "ts");
	char err[160];
	int rc = 0;

	if (p->ended) {
		push_fail(p, 400, "the body holds more than one frame");
		return -1;
	}
	if (h->type != HIO_F_MSG) {
		push_fail(p, 400, "the backlog takes one MSG frame (type %d), got type %d",
			  HIO_F_MSG, h->type);
		return -1;
	}
	if (!json_is_object(meta) ||
	    jget_str(meta, "id", JF_REQUIRED, HIO_ID_LEN, &id, err, sizeof(err)) < 0 ||
	    jget_str(meta, "name", JF_REQUIRED, HIO_NAME_MAX, &name, err, sizeof(err)) < 0) {
		push_fail(p, 400, "bad MSG meta: %s", json_is_object(meta) ? err : "not an object");
		return -1;
	}
	if (!hio_id_valid(id)) {
		push_fail(p, 400, "bad MSG meta: 'id' is not 32 lowercase hex characters");
		return -1;
	}
	if (!hio_name_valid(name, strlen(name), &why)) {
		push_fail(p, 400, "bad MSG meta: name: %s", why);
		return -1;
	}
	if (!json_is_integer(ts) || json_integer_value(ts) < 0) {
		push_fail(p, 400, "bad MSG meta: 'ts' must be a non-negative integer");
		return -1;
	}
	if (!(h->flags & HIO_FRAME_F_LZ4) && p->content_len >= 0 &&
	    (uint64_t)p->content_len != HIO_FRAME_HDR_LEN + (uint64_t)h->meta_len + h->body_len) {
		push_fail(p, 400, "Content-Length %lld does not match the frame's %llu bytes",
			  p->content_len,
			  (unsigned long long)(HIO_FRAME_HDR_LEN + h->meta_len + h->body_len));
		return -1;
	}
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->ts = (uint64_t)json_integer_value(ts);
	pthread_mutex_lock(&m->lock);
	p->dup = hio_hmap_get(&m->ids, id) != NULL;
	/* Without a Content-Length the frame's own size is the best estimate of room. */
	if (!p->dup && p->content_len < 0 &&
	    !room_fits(m, HIO_FRAME_HDR_LEN + (uint64_t)h->meta_len + h->body_len))
		rc = -1;
	pthread_mutex_unlock(&m->lock);
	if (rc < 0) {
		push_fail(p, 503, "backlog full");
		return -1;
	}
	p->validated = 1;
	return 0;
}

static int push_on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct push *p = ud;

	(void)h;
	(void)meta;
	p->ended = 1;
	return 0;
}

struct push *backlog_push_new(struct master *m, const char *pl, long long content_len,
			      struct reply *out)
{
	static const struct hio_frame_dec_cbs cbs = {push_on_frame, NULL, push_on_end};
	struct push *p = calloc(1, sizeof(*p));
	int full = 0;

	if (!p)
		goto oom;
	p->m = m;
	p->fd = -1;
	p->content_len = content_len;
	snprintf(p->pl, sizeof(p->pl), "%s", pl);
	hio_buf_init(&p->head, HIO_FRAME_HDR_LEN + HIO_FRAME_META_MAX);
	p->dec = hio_frame_dec_new(&cbs, p);
	if (!p->dec)
		goto oom;
	pthread_mutex_lock(&m->lock);
	p->seq = m->seq++;
	if (content_len >= 0 && !room_fits(m, (uint64_t)content_len))
		full = 1;
	pthread_mutex_unlock(&m->lock);
	if (full) {
		hio_warn("refusing a %lld byte push to pipeline %s: backlog full (%llu bytes max)",
			 content_len, pl, (unsigned long long)m->backlog_max);
		reply_err(out, 503, "backlog full");
		goto fail;
	}
	if (path_fmt(p->dir, sizeof(p->dir), "%s/backlog/%s", m->dir, pl) < 0 ||
	    hio_mkdir_p(p->dir) < 0) {
		hio_err("cannot create %s/backlog/%s: %s; the push fails", m->dir, pl,
			strerror(errno));
		reply_err(out, 500, "cannot create the backlog directory: %s", strerror(errno));
		goto fail;
	}
	return p;
oom:
	hio_err("out of memory starting a push to pipeline %s; the push fails", pl);
	reply_err(out, 500, "out of memory");
fail:
	backlog_push_free(p);
	return NULL;
}

static void push_write(struct push *p, const void *data, size_t n)
{
	if (hold_more(p, n) < 0) {
		push_fail(p, 503, "backlog full");
		return;
	}
	if (hio_write_all(p->fd, data, n) == 0) {
		p->size += n;
		return;
	}
	hio_err("cannot write %s: %s; the push fails", p->tmp, strerror(errno));
	if (errno == ENOSPC || errno == EDQUOT)
		push_fail(p, 503, "disk full: %s", strerror(errno));
	else
		push_fail(p, 500, "cannot store the message: %s", strerror(errno));
}

void backlog_push_feed(struct push *p, const char *data, size_t n)
{
	atomic_fetch_add(&p->m->backlog_rx, n);
	if (p->status)
		return;
	if (hio_frame_dec_feed(p->dec, data, n) < 0) {
		push_fail(p, 400, "bad MSG frame: %s", hio_frame_dec_error(p->dec));
		return;
	}
	if (p->dup)
		return;
	if (!p->validated) {
		/* Header and meta not complete yet: nothing touches the disk before they
		 * are checked, so hold the bytes (bounded by the frame limits). */
		if (hio_buf_append(&p->head, data, n) < 0)
			push_fail(p, 413, "frame header and meta exceed %u bytes",
				  HIO_FRAME_HDR_LEN + HIO_FRAME_META_MAX);
		return;
	}
	if (p->fd < 0) {
		if (path_fmt(p->tmp, sizeof(p->tmp), "%s/%016llx-%s.frame.tmp", p->dir,
			     (unsigned long long)p->seq, p->id) < 0) {
			push_fail(p, 500, "backlog path too long");
			p->tmp[0] = '\0';
			return;
		}
		p->fd = open(p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (p->fd < 0) {
			hio_err("cannot create %s: %s; the push fails", p->tmp, strerror(errno));
			push_fail(p, errno == ENOSPC ? 503 : 500, "cannot store the message: %s",
				  strerror(errno));
			p->tmp[0] = '\0';
			return;
		}
		push_write(p, p->head.data, p->head.len);
		hio_buf_free(&p->head);
		if (p->status)
			return;
	}
	push_write(p, data, n);
}

void backlog_push_finish(struct push *p, struct reply *out)
{
	struct master *m = p->m;
	struct pipeline *pl;
	struct ident *ident = NULL;
	struct mmsg *msg = NULL;
	char final[PATH_MAX];
	int dup = p->dup;

	if (!p->status && !p->ended)
		push_fail(p, 400, "truncated MSG frame (%s)",
			  p->validated ? "body incomplete" : "header or meta incomplete");
	if (!p->status && !hio_frame_dec_idle(p->dec))
		push_fail(p, 400, "trailing bytes after the MSG frame");
	if (p->status) {
		reply_err(out, p->status, "%s", p->err);
		return;
	}
	if (dup)
		goto answer;
	if ((m->fsync && fsync(p->fd) < 0) || close(p->fd) < 0) {
		p->fd = -1;
		hio_err("cannot flush %s: %s; the push fails", p->tmp, strerror(errno));
		reply_err(out, 500, "cannot store the message: %s", strerror(errno));
		return;
	}
	p->fd = -1;
	if (path_fmt(final, sizeof(final), "%s/%016llx-%s.frame", p->dir,
		     (unsigned long long)p->seq, p->id) < 0) {
		reply_err(out, 500, "backlog path too long");
		return;
	}
	/* Renamed before the lock is taken: no disk call runs under m->lock. The
	 * sequence number makes the name unique, so a concurrent push of the same id
	 * has its own file; the loser removes its own below, and a crash before that
	 * leaves two files that the start-up scan dedupes by id, keeping the first. */
	if (rename(p->tmp, final) < 0) {
		int e = errno;

		hio_err("cannot rename %s into place: %s; the push fails", p->tmp, strerror(e));
		reply_err(out, 500, "cannot store the message: %s", strerror(e));
		return;
	}
	p->tmp[0] = '\0';
	msg = calloc(1, sizeof(*msg));
	ident = calloc(1, sizeof(*ident));
	pthread_mutex_lock(&m->lock);
	/* A concurrent push of the same id may have won while this body streamed. */
	dup = hio_hmap_get(&m->ids, p->id) != NULL;
	if (dup)
		goto unlock;
	pl = pipeline_get(m, p->pl);
	if (ident)
		snprintf(ident->id, sizeof(ident->id), "%s", p->id);
	if (!pl || !msg || !ident || hio_hmap_put(&m->ids, ident->id, ident) < 0) {
		pthread_mutex_unlock(&m->lock);
		free(msg);
		free(ident);
		if (unlink(final) < 0)
			hio_warn("cannot remove %s: %s; it is queued at the next start", final,
				 strerror(errno));
		reply_err(out, 503, "no room for the message (pipelines or memory)");
		return;
	}
	snprintf(msg->id, sizeof(msg->id), "%s", p->id);
	ident->pl = pl;
	ident->msg = msg;
	msg->pl = pl;
	msg->seq = p->seq;
	msg->ts = p->ts;
	msg->size = p->size;
	list_add_tail(&pl->queued, &msg->link);
	pl->n_queued++;
	pl->n_in++;
	m->backlog_bytes += p->size;
	scale_pushed(m, pl, hio_mono_ms());
	msg = NULL;
	ident = NULL;
	pthread_cond_broadcast(&m->cond);
unlock:
	pthread_mutex_unlock(&m->lock);
	free(msg);
	free(ident);
	if (dup && unlink(final) < 0)
		hio_warn("cannot remove duplicate %s: %s; the start-up scan removes it", final,
			 strerror(errno));
	if (!dup && m->fsync && dir_sync(p->dir) < 0)
		hio_warn("cannot fsync %s: %s; the message may not survive a power cut", p->dir,
			 strerror(errno));
answer:
	if (dup)
		hio_debug("push of %s to %s: already known, not stored again", p->id, p->pl);
	reply_ok(out, 201, json_pack("{s:s,s:b}", "id", p->id, "duplicate", dup));
}

void backlog_push_free(struct push *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->tmp[0] && unlink(p->tmp) < 0 && errno != ENOENT)
		hio_warn("cannot remove %s: %s; it is removed at the next start", p->tmp,
			 strerror(errno));
	if (p->held) {
		pthread_mutex_lock(&p->m->lock);
		p->m->backlog_held -= p->held;
		pthread_mutex_unlock(&p->m->lock);
	}
	if (p->dec)
		hio_frame_dec_free(p->dec);
	hio_buf_free(&p->head);
	free(p);
}

static void requeue_front(struct master *m, struct mmsg *msg)
{
	list_del(&msg->link);
	list_add_head(&msg->pl->queued, &msg->link);
	msg->leased = 0;
	msg->pe[0] = '\0';
	msg->pl->n_leased--;
	msg->pl->n_queued++;
	pthread_cond_broadcast(&m->cond);
}

void backlog_requeue_pe(struct master *m, const char *pe)
{
	HIO_ASSERT_HELD(&m->lock);
	struct list *pos, *tmp, *q;

	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		/* Backwards, so the earliest lease ends up first in the queue. */
		for (q = pl->leased.prev; q != &pl->leased;) {
			struct mmsg *msg = list_entry(q, struct mmsg, link);

			q = q->prev;
			if (strcmp(msg->pe, pe) == 0)
				requeue_front(m, msg);
		}
	}
}

void backlog_lease_failed(struct master *m, const char *id, const char *pe)
{
	struct ident *ident;

	pthread_mutex_lock(&m->lock);
	ident = hio_hmap_get(&m->ids, id);
	if (ident && ident->msg && ident->msg->leased && strcmp(ident->msg->pe, pe) == 0) {
		hio_warn("backlog message %s did not reach PE %s; back to the front of %s", id, pe,
			 ident->msg->pl->name);
		requeue_front(m, ident->msg);
	}
	pthread_mutex_unlock(&m->lock);
}

void backlog_drop(struct master *m, struct mmsg *msg, char *path, size_t pathlen)
{
	HIO_ASSERT_HELD(&m->lock);
	struct ident *ident = hio_hmap_get(&m->ids, msg->id);

	if (backlog_path(m, msg, "", path, pathlen) < 0)
		path[0] = '\0';
	list_del(&msg->link);
	if (msg->leased)
		msg->pl->n_leased--;
	else
		msg->pl->n_queued--;
	m->backlog_bytes -= msg->size;
	if (ident && ident->msg == msg)
		ident->msg = NULL;
	free(msg);
}

void api_backlog_next(struct master *m, const char *pln, const char *pe, long wait_ms,
		      struct reply *out)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
	struct pipeline *pl;
	struct mmsg *msg;
	struct mpe *p;
	char path[PATH_MAX];
	struct stat st;
	int rc = 0, fd;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		p = mpe_find(m, pe);
		if (!p || p->st == MPE_GONE || !p->registered) {
			pthread_mutex_unlock(&m->lock);
			reply_err(out, 404, "unknown PE %s: register again", pe);
			return;
		}
		if (strcmp(p->pl->name, pln) != 0) {
			pthread_mutex_unlock(&m->lock);
			reply_err(out, 409, "PE %s serves pipeline %s, not %s", pe, p->pl->name,
				  pln);
			return;
		}
		pl = p->pl;
		/* A stopping PE gets no new work; it waits like one facing an empty queue
		 * so its pull loop does not spin. */
		if (p->st == MPE_UP && !list_empty(&pl->queued)) {
			char id[HIO_ID_LEN + 1];
			uint64_t seq;
			struct ident *ident;
			int e = 0;

			msg = list_entry(pl->queued.next, struct mmsg, link);
			snprintf(id, sizeof(id), "%s", msg->id);
			seq = msg->seq;
			if (backlog_path(m, msg, "", path, sizeof(path)) < 0) {
				pthread_mutex_unlock(&m->lock);
				reply_err(out, 500, "backlog path too long for %s", id);
				return;
			}
			/* The open runs unlocked; p->polls keeps p allocated meanwhile, and
			 * the head is checked again (by id and sequence, since msg may be
			 * freed and its memory reused) before it is leased. */
			p->polls++;
			pthread_mutex_unlock(&m->lock);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) < 0) {
				e = errno;
				if (fd >= 0)
					close(fd);
				fd = -1;
			}
			pthread_mutex_lock(&m->lock);
			p->polls--;
			ident = hio_hmap_get(&m->ids, id);
			msg = ident ? ident->msg : NULL;
			if (!msg || msg->leased || msg->seq != seq || p->st != MPE_UP ||
			    p->pl != pl || pl->queued.next != &msg->link) {
				/* Taken, acked or requeued meanwhile: look again. */
				if (fd >= 0)
					close(fd);
				continue;
			}
			if (fd < 0 && e != ENOENT) {
				pthread_mutex_unlock(&m->lock);
				hio_err("cannot open backlog message %s (%s): %s; it stays queued",
					id, path, strerror(e));
				reply_err(out, 500, "cannot open the message: %s", strerror(e));
				return;
			}
			if (fd < 0) {
				/* The file is gone: forget the message rather than block the
				 * queue behind it forever. */
				hio_err("backlog message %s of %s is lost: %s vanished; dropped "
					"from the queue",
					id, pln, path);
				ident = hio_hmap_del(&m->ids, id);
				pl->n_in--;
				backlog_drop(m, msg, path, sizeof(path));
				free(ident);
				continue;
			}
			list_del(&msg->link);
			list_add_tail(&pl->leased, &msg->link);
			pl->n_queued--;
			pl->n_leased++;
			msg->leased = 1;
			snprintf(msg->pe, sizeof(msg->pe), "%s", pe);
			p->busy = 1;
			p->active_ms = hio_mono_ms();
			snprintf(out->hdr_id, sizeof(out->hdr_id), "%s", msg->id);
			pthread_mutex_unlock(&m->lock);
			out->status = 200;
			out->fd = fd;
			out->fd_size = (uint64_t)st.st_size;
			return;
		}
		if (m->stopping || rc == ETIMEDOUT || wait_ms <= 0)
			break;
		/* polls > 0 keeps p allocated and alive while unlocked; see the sweep. */
		p->polls++;
		rc = hio_cond_wait_until(&m->cond, &m->lock, deadline);
		p->polls--;
	}
	pthread_mutex_unlock(&m->lock);
	out->status = 204;
}
