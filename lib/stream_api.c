/* The stream connector's API (hio_stream.h): opening a stream starts its lanes
 * (stream.c), sends queue messages for them, flush waits for their ACKs, close stops
 * them and gives up what was never acknowledged. */
#include "hio_log.h"
#include "hio_stream.h"
#include "hio_sync.h"
#include "hio_util.h"
#include "stream_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hio_stream *hio_stream_open(const struct hio_stream_opts *o, char *err, size_t errlen)
{
	hio_stream *s;
	const char *pipeline = o->pipeline ? o->pipeline : "default";

	if (!o->master || !o->token) {
		snprintf(err, errlen, "stream needs a master URL and a token");
		return NULL;
	}
	if (!hio_pipeline_valid(pipeline)) {
		snprintf(err, errlen, "bad pipeline name '%s' (letters, digits, . _ -)", pipeline);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->master = strdup(o->master);
	s->token = strdup(o->token);
	s->pipeline = strdup(pipeline);
	if (!s->master || !s->token || !s->pipeline)
		goto nomem;
	s->compress = o->compress;
	s->no_local = o->no_local;
	s->files_sealed = o->files_sealed;
	s->nlanes =
	    o->max_pes > 0 ? (o->max_pes > LANES_MAX ? LANES_MAX : o->max_pes) : DEFAULT_LANES;
	s->queue_max = o->queue_max > 0 ? o->queue_max : DEFAULT_QUEUE;
	s->give_up_ms = o->give_up_ms;
	s->spill_ms = o->spill_ms > 0 ? o->spill_ms : DEFAULT_SPILL_MS;
	s->no_pe_retry_ms = NO_PE_RETRY_MIN_MS;
	s->on_ack = o->on_ack;
	s->ack_ud = o->ack_ud;
	pthread_mutex_init(&s->mu, NULL);
	if (hio_cond_init(&s->cv) || hio_cond_init(&s->cv_free) || hio_cond_init(&s->cv_space) ||
	    hio_cond_init(&s->cv_done))
		goto nomem; /* ENOMEM or EAGAIN */
	for (int i = 0; i < s->nlanes; i++) {
		struct lane *l = &s->lanes[i];
		l->s = s;
		l->idx = i;
		l->sock = -1;
		if (pthread_create(&l->thread, NULL, stream_lane_main, l) != 0) {
			snprintf(err, errlen, "cannot start stream threads");
			s->nlanes = i;
			hio_stream_close(s);
			return NULL;
		}
	}
	return s;
nomem:
	snprintf(err, errlen, "out of memory");
	if (s) {
		free(s->master);
		free(s->token);
		free(s->pipeline);
		free(s);
	}
	return NULL;
}

static int enqueue(hio_stream *s, struct msg *m, const char *name, const char *id, uint64_t ts,
		   void *user)
{
	const char *why;

	if (!hio_name_valid(name, strlen(name), &why)) {
		hio_warn("refusing to send '%s': %s", name, why);
		stream_msg_free(m);
		errno = EINVAL;
		return -1;
	}
	if (id && !hio_id_valid(id)) {
		stream_msg_free(m);
		errno = EINVAL;
		return -1;
	}
	m->name = strdup(name);
	if (!m->name) {
		stream_msg_free(m);
		errno = ENOMEM;
		return -1;
	}
	if (id)
		memcpy(m->id, id, HIO_ID_LEN + 1);
	else
		hio_id_new(m->id);
	m->ts = ts ? ts : hio_now_us();
	m->user = user;
	m->flags = hio_frame_choose_flags(s->compress, m->data, m->fd, m->len);
	pthread_mutex_lock(&s->mu);
	while (s->q_len >= s->queue_max && !s->stopping && !stream_in_on_ack)
		hio_cond_wait_ms(&s->cv_space, &s->mu, -1);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		stream_msg_free(m);
		errno = ECANCELED;
		return -1;
	}
	m->first_ms = m->queued_ms = hio_mono_ms();
	if (s->q_tail)
		s->q_tail->next = m;
	else
		s->q_head = m;
	s->q_tail = m;
	s->q_len++;
	s->pending++;
	pthread_cond_signal(&s->cv);
	/* Lanes without a PE pausing after the master had none would only go back to
	 * sleep. */
	if (hio_mono_ms() >= s->no_pe_until_ms)
		pthread_cond_signal(&s->cv_free);
	/* A lane holding a PE may be waiting for its window: wake them all when it is the
	 * first message, otherwise one signal is enough. */
	if (s->q_len == 1)
		pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int hio_stream_send_file(hio_stream *s, const char *path, const char *name, const char *id,
			 uint64_t ts, void *user)
{
	struct msg *m = calloc(1, sizeof(*m));
	struct stat st;

	if (!m)
		return -1;
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0 || fstat(m->fd, &st) < 0) {
		int e = errno;
		stream_msg_free(m);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		stream_msg_free(m);
		errno = EISDIR;
		return -1;
	}
	m->len = (uint64_t)st.st_size;
	return enqueue(s, m, name, id, ts, user);
}

/* A memory body: copied, or the caller's (borrowed, hio_stream_send_ref). */
static int send_mem(hio_stream *s, const void *p, size_t n, int copy, const char *name,
		    const char *id, uint64_t ts, void *user)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	m->fd = -1;
	m->len = n;
	m->borrowed = !copy;
	m->data = copy ? malloc(n ? n : 1) : (char *)p; /* borrowed: only read */
	if (!m->data) {
		stream_msg_free(m);
		return -1;
	}
	if (copy)
		memcpy(m->data, p, n);
	return enqueue(s, m, name, id, ts, user);
}

int hio_stream_send_buf(hio_stream *s, const void *p, size_t n, const char *name, const char *id,
			uint64_t ts, void *user)
{
	return send_mem(s, p, n, 1, name, id, ts, user);
}

int hio_stream_send_ref(hio_stream *s, const void *p, size_t n, const char *name, const char *id,
			uint64_t ts, void *user)
{
	return send_mem(s, p, n, 0, name, id, ts, user);
}

int hio_stream_flush(hio_stream *s, long timeout_ms)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	while (s->pending > 0) {
		if (timeout_ms < 0) {
			hio_cond_wait_ms(&s->cv_done, &s->mu, -1);
		} else if (hio_cond_wait_until(&s->cv_done, &s->mu, deadline) == ETIMEDOUT &&
			   s->pending > 0) {
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void hio_stream_cancel(hio_stream *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->cv_free);
	pthread_cond_broadcast(&s->cv_space);
	pthread_mutex_unlock(&s->mu);
}

void hio_stream_close(hio_stream *s)
{
	struct msg *m;

	if (!s)
		return;
	hio_stream_cancel(s);
	for (int i = 0; i < s->nlanes; i++)
		pthread_join(s->lanes[i].thread, NULL);
	/* Lanes requeued what they had in flight; nothing is acknowledged any more. */
	pthread_mutex_lock(&s->mu);
	while ((m = stream_queue_pop_locked(s))) {
		pthread_mutex_unlock(&s->mu);
		stream_msg_finish(s, m, 0, HIO_VIA_NONE, NULL,
				  "stream closed before acknowledgement");
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->cv_free);
	pthread_cond_destroy(&s->cv_space);
	pthread_cond_destroy(&s->cv_done);
	free(s->master);
	free(s->token);
	free(s->pipeline);
	free(s);
}

void hio_stream_get_stats(hio_stream *s, struct hio_stream_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->queued = (uint64_t)s->q_len;
	st->inflight = 0;
	for (int i = 0; i < s->nlanes; i++)
		st->inflight += (uint64_t)s->lanes[i].inflight_n;
	pthread_mutex_unlock(&s->mu);
}
