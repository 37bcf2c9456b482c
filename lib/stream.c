/* The stream connector. Each lane holds at most one PE session: a writer thread
 * (this file's stream_lane_main) that allocates PEs, sends frames and spills to the
 * backlog, and a reader thread per session that collects ACKs. Messages wait in
 * one shared queue; a lane without a PE takes one only after it waited spill_ms (1 s)
 * and the master still has no free PE, so data goes to the backlog only when no
 * PE is free. Threads, locks and who owns a message: docs/architecture.md, "Locks and
 * threads of the connector", and struct msg in stream_internal.h. The API that
 * opens, feeds and closes a stream is stream_api.c. */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_stream.h"
#include "hio_sync.h"
#include "stream_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

/* Set on a thread while it runs on_ack: a send from there must not wait for room in
 * the queue, which only lane threads (perhaps this very one) make. */
_Thread_local int stream_in_on_ack;

/* Reports and frees m. Called without s->mu. */
void stream_msg_finish(hio_stream *s, struct msg *m, int ok, enum hio_via via, const char *status,
		       const char *error)
{
	struct hio_ack a = {.id = m->id,
			    .name = m->name,
			    .ok = ok,
			    .via = via,
			    .status = status,
			    .error = error,
			    .user = m->user};

	if (!ok)
		hio_warn("giving up on %s (id %s): %s", m->name, m->id, error ? error : "unknown");
	if (s->on_ack) {
		stream_in_on_ack = 1;
		s->on_ack(s->ack_ud, &a);
		stream_in_on_ack = 0;
	}
	pthread_mutex_lock(&s->mu);
	if (ok) {
		s->st.acked++;
		if (via == HIO_VIA_PE)
			s->st.via_pe++;
		else
			s->st.via_backlog++;
	} else {
		s->st.given_up++;
	}
	if (--s->pending == 0)
		pthread_cond_broadcast(&s->cv_done);
	pthread_mutex_unlock(&s->mu);
	stream_msg_free(m);
}

/* Puts m back at the head of the queue (it keeps its place ahead of newer ones),
 * or gives it up when it has been trying for longer than give_up_ms. The caller holds
 * s->mu; returns m when the caller must finish it (after unlocking). */
static struct msg *requeue_locked(hio_stream *s, struct msg *m)
{
	HIO_ASSERT_HELD(&s->mu);
	m->tries++;
	s->st.resent++;
	if (s->give_up_ms > 0 && hio_mono_ms() - m->first_ms > (uint64_t)s->give_up_ms)
		return m;
	m->next = s->q_head;
	s->q_head = m;
	if (!s->q_tail)
		s->q_tail = m;
	s->q_len++;
	m->queued_ms = hio_mono_ms();
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->cv_free);
	return NULL;
}

static void requeue(hio_stream *s, struct msg *m, const char *why)
{
	struct msg *dead;

	pthread_mutex_lock(&s->mu);
	dead = requeue_locked(s, m);
	pthread_mutex_unlock(&s->mu);
	if (dead)
		stream_msg_finish(s, dead, 0, HIO_VIA_NONE, NULL, why);
}

/* The caller holds s->mu, and owns the message it gets. */
struct msg *stream_queue_pop_locked(hio_stream *s)
{
	struct msg *m = s->q_head;

	HIO_ASSERT_HELD(&s->mu);
	if (!m)
		return NULL;
	s->q_head = m->next;
	if (!s->q_head)
		s->q_tail = NULL;
	m->next = NULL;
	s->q_len--;
	/* Senders blocked on a full queue are woken once it is half empty, not at every
	 * message: each wake-up was a futex call on both sides. */
	if (s->q_len == s->queue_max / 2)
		pthread_cond_broadcast(&s->cv_space);
	return m;
}

/* ------------------------------------------------------------------ sessions */

/* On the reader thread. The message leaves the in-flight list here; whoever takes it
 * off owns it, unless the lane thread is still writing it (struct msg). The lane
 * thread waiting for room in its window is woken by the caller, once per burst of
 * ACKs (a PE acks a batch at once). 1 when the message was in flight. */
static int lane_on_ack(struct lane *l, const char *id, const char *status)
{
	hio_stream *s = l->s;
	struct msg *m, *prev = NULL;
	int found;

	pthread_mutex_lock(&s->mu);
	for (m = l->inflight; m; prev = m, m = m->next)
		if (strcmp(m->id, id) == 0)
			break;
	if (m) {
		if (prev)
			prev->next = m->next;
		else
			l->inflight = m->next;
		if (l->inflight_tail == m)
			l->inflight_tail = prev;
		m->next = NULL;
		l->inflight_n--;
		l->inflight_bytes -= m->len;
		l->burst_acks++;
		l->last_work_ms = hio_mono_ms();
		hio_hist_observe_us(&hio_stream_ack_hist, (l->last_work_ms - m->sent_ms) * 1000);
	}
	found = m != NULL;
	if (m && m->sending) {
		/* The lane thread still reads m: it finishes m when its write returns. */
		m->acked = 1;
		snprintf(m->ack_status, sizeof(m->ack_status), "%s", status);
		m = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (m)
		stream_msg_finish(s, m, 1, HIO_VIA_PE, status, NULL);
	else if (!found)
		hio_debug("ack for unknown message %s on PE %s", id, l->pe_id);
	return found;
}

/* On the reader thread, after a burst of ACKs (all it had read): the PE's pace per
 * message is the time since the last burst over the ACKs in this one (a PE acks a
 * batch at once, so the gaps inside a burst say nothing), and the lane thread may send
 * again. */
static void lane_burst_end(struct lane *l)
{
	hio_stream *s = l->s;
	uint64_t now = hio_now_us();

	pthread_mutex_lock(&s->mu);
	if (l->last_ack_us && l->burst_acks) {
		uint64_t gap = (now - l->last_ack_us) / (uint64_t)l->burst_acks;

		l->ack_gap_us = l->ack_gap_us ? (l->ack_gap_us * 7 + gap) / 8 : gap;
		if (!l->ack_gap_us)
			l->ack_gap_us = 1;
	}
	l->last_ack_us = now;
	l->burst_acks = 0;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *reader_main(void *arg)
{
	struct lane *l = arg;
	struct stream_ack a = {0};
	struct hio_frame_dec_cbs cbs = {.on_end = stream_ack_on_end};
	hio_frame_dec *dec = hio_frame_dec_new(&cbs, &a);
	const char *why = "out of memory";
	int freed = 0; /* ACKs of this burst made room in the window */

	while (dec) {
		int r = hio_frame_dec_read_one(dec, l->sock);
		if (r <= 0) {
			why = r == 0 ? "PE closed the session" : hio_frame_dec_error(dec);
			break;
		}
		if (a.got == HIO_F_ACK) {
			if (hio_id_valid(a.id) && lane_on_ack(l, a.id, a.status))
				freed = 1;
			if (freed && hio_frame_dec_buffered(dec) == 0) {
				lane_burst_end(l);
				freed = 0;
			}
		} else if (a.got == HIO_F_ERROR) {
			hio_warn("PE %s ended the session: %s", l->pe_id, a.error);
			why = "PE refused";
			break;
		}
	}
	hio_debug("session with PE %s over: %s", l->pe_id, why);
	hio_frame_dec_free(dec);
	pthread_mutex_lock(&l->s->mu);
	l->broken = 1;
	pthread_cond_broadcast(&l->s->cv);
	pthread_mutex_unlock(&l->s->mu);
	return NULL;
}

/* Connects and says HELLO. 0 with l->sock set, or -1 (refused: *busy = 1). */
static int session_open(struct lane *l, const struct pe_addr *pe, int *busy, char *err,
			size_t errlen)
{
	hio_stream *s = l->s;
	struct stream_ack a = {0};
	struct hio_frame_dec_cbs cbs = {.on_end = stream_ack_on_end};
	hio_frame_dec *dec = NULL;
	json_t *hello;
	int fd, r;

	*busy = 0;
	l->local = 0;
	/* A PE on this host takes files as descriptors (hio_net.h); elsewhere, or when
	 * its socket is not there or not its uid's, TCP. */
	fd = -1;
	if (!s->no_local && pe->local_uid >= 0) {
		fd = hio_net_connect_local(pe->id, (uid_t)pe->local_uid);
		if (fd >= 0)
			l->local = 1;
		else if (errno == EPERM)
			hio_warn("PE %s: its local socket is not its registered user's; using TCP",
				 pe->id);
	}
	if (fd < 0)
		fd = hio_net_connect(pe->host, pe->port, HELLO_TIMEOUT_MS, err, errlen);
	if (fd < 0)
		return -1;
	hello = json_pack("{s:s, s:s}", "token", pe->ticket[0] ? pe->ticket : s->token, "pipeline",
			  s->pipeline);
	r = hio_frame_send_meta(fd, HIO_F_HELLO, hello);
	json_decref(hello);
	if (r < 0) {
		snprintf(err, errlen, "cannot send HELLO to %s:%d: %s", pe->host, pe->port,
			 strerror(errno));
		goto fail;
	}
	hio_net_set_timeout(fd, HELLO_TIMEOUT_MS);
	dec = hio_frame_dec_new(&cbs, &a);
	r = dec ? hio_frame_dec_read_one(dec, fd) : -1;
	if (r <= 0 || a.got != HIO_F_WELCOME) {
		if (a.got == HIO_F_ERROR) {
			snprintf(err, errlen, "PE %s refused the session: %s", pe->id, a.error);
			*busy = 1;
		} else {
			snprintf(err, errlen, "PE %s at %s:%d gave no WELCOME: %s", pe->id,
				 pe->host, pe->port,
				 dec ? hio_frame_dec_error(dec) : "out of memory");
		}
		goto fail;
	}
	hio_frame_dec_free(dec);
	hio_net_set_timeout(fd, 0);
	l->sock = fd;
	snprintf(l->pe_id, sizeof(l->pe_id), "%s", pe->id);
	pthread_mutex_lock(&s->mu);
	l->broken = 0;
	l->last_ack_us = 0;
	l->ack_gap_us = 0;
	l->burst_acks = 0;
	l->last_work_ms = hio_mono_ms();
	pthread_mutex_unlock(&s->mu);
	if (pthread_create(&l->reader, NULL, reader_main, l) != 0) {
		snprintf(err, errlen, "cannot start a reader thread");
		l->sock = -1;
		close(fd);
		return -1;
	}
	l->has_reader = 1;
	return 0;
fail:
	hio_frame_dec_free(dec);
	close(fd);
	return -1;
}

/* Ends the session; every message still in flight goes back to the queue. On the lane
 * thread, which is not writing any message then: the list is all its own once the
 * reader is joined. */
static void session_close(struct lane *l, hio_http *http, int release, const char *why)
{
	hio_stream *s = l->s;
	struct msg *m, *next, *dead = NULL;
	int unacked;

	if (l->sock < 0)
		return;
	shutdown(l->sock, SHUT_RDWR);
	if (l->has_reader)
		pthread_join(l->reader, NULL);
	l->has_reader = 0;
	close(l->sock);
	l->sock = -1;
	pthread_mutex_lock(&s->mu);
	l->held = 0;
	/* Requeue newest first so the oldest ends up at the head. */
	struct msg *rev = NULL;
	for (m = l->inflight; m; m = next) {
		next = m->next;
		m->next = rev;
		rev = m;
	}
	for (m = rev; m; m = next) {
		next = m->next;
		if (requeue_locked(s, m)) {
			m->next = dead;
			dead = m;
		}
	}
	unacked = l->inflight ? l->inflight_n : 0;
	l->inflight = l->inflight_tail = NULL;
	l->inflight_n = 0;
	l->inflight_bytes = 0;
	pthread_mutex_unlock(&s->mu);
	if (unacked)
		hio_info("PE %s: %d message(s) unacknowledged (%s); sending them again", l->pe_id,
			 unacked, why);
	for (m = dead; m; m = next) {
		next = m->next;
		stream_msg_finish(s, m, 0, HIO_VIA_NONE, NULL, why);
	}
	if (release)
		stream_release_pe(http, l->pe_id, NULL);
	l->pe_id[0] = '\0';
}

/* The caller holds s->mu. */
static int lane_window(struct lane *l)
{
	HIO_ASSERT_HELD(&l->s->mu);
	uint64_t w;

	if (!l->ack_gap_us)
		return WINDOW_SLOW;
	w = WINDOW_WORK_US / l->ack_gap_us;
	return w < WINDOW_SLOW ? WINDOW_SLOW : w > WINDOW_FAST ? WINDOW_FAST : (int)w;
}

/* Sends ms[0..n) on the lane's session; each stays in flight until its ACK. Each is on
 * the in-flight list before its first byte goes out, so an ACK never finds it missing;
 * and it is marked sending, so the reader that gets that ACK leaves it to this thread
 * until the write returns (struct msg). More than one (send_batchable messages) go in
 * one sendmsg. 0, or -1 with errno; either way the messages are no longer the
 * caller's. */
static int session_send(struct lane *l, struct msg **ms, int n)
{
	hio_stream *s = l->s;
	struct iovec iov[2 * SEND_BATCH_MAX];
	uint8_t *heads[SEND_BATCH_MAX] = {0};
	int acked[SEND_BATCH_MAX];
	int r = -1, e = ENOMEM;
	uint64_t t0;

	HIO_ASSERT(n >= 1 && n <= SEND_BATCH_MAX);
	pthread_mutex_lock(&s->mu);
	for (int k = 0; k < n; k++) {
		struct msg *m = ms[k];

		if (l->inflight_tail)
			l->inflight_tail->next = m;
		else
			l->inflight = m;
		l->inflight_tail = m;
		l->inflight_n++;
		l->inflight_bytes += m->len;
		m->sent_ms = hio_mono_ms();
		m->sending = 1;
		m->acked = 0;
	}
	pthread_mutex_unlock(&s->mu);
	t0 = hio_hist_start();
	if (n == 1) {
		struct msg *m = ms[0];
		json_t *meta = stream_msg_meta(m);

		/* Locally a file goes as its descriptor, and nothing is compressed: no
		 * network to save. */
		if (!meta)
			r = -1;
		else if (l->local && !m->data && m->fd >= 0) {
			if (s->files_sealed)
				json_object_set_new(meta, "sealed", json_true());
			r = hio_frame_send_fd(l->sock, HIO_F_MSG, meta, m->fd, m->len);
		} else
			r = hio_frame_send(l->sock, HIO_F_MSG, l->local ? 0 : m->flags, meta,
					   m->data, m->fd, m->len);
		e = meta ? errno : ENOMEM;
		json_decref(meta);
	} else {
		int k;

		for (k = 0; k < n; k++) {
			size_t hlen = 0;

			if (stream_msg_head(ms[k], &heads[k], &hlen) < 0)
				break;
			iov[2 * k] = (struct iovec){heads[k], hlen};
			iov[2 * k + 1] = (struct iovec){ms[k]->data, (size_t)ms[k]->len};
		}
		if (k == n) {
			r = hio_net_sendv(l->sock, iov, 2 * n);
			e = errno;
		}
		for (k = 0; k < n; k++)
			free(heads[k]);
	}
	if (r == 0)
		for (int k = 0; k < n; k++)
			hio_hist_done(&hio_stream_send_hist, t0);
	pthread_mutex_lock(&s->mu);
	for (int k = 0; k < n; k++) {
		struct msg *m = ms[k];

		m->sending = 0;
		if (r == 0)
			s->st.bytes_p2p += m->len;
		if (r == 0 && l->local && !m->data && m->fd >= 0)
			s->st.handed_over++;
		acked[k] = m->acked;
	}
	pthread_mutex_unlock(&s->mu);
	/* Acknowledged: the PE has all of it, whatever the write said. Otherwise a message
	 * stays in flight (session_close requeues it when the write failed). */
	for (int k = 0; k < n; k++)
		if (acked[k])
			stream_msg_finish(s, ms[k], 1, HIO_VIA_PE, ms[k]->ack_status, NULL);
	errno = e;
	return r;
}

/* A message that may share a sendmsg with others: small, in memory, and sent as it is
 * (no LZ4 frame to build). */
static int send_batchable(const struct lane *l, const struct msg *m)
{
	return m->data && m->len <= SEND_BATCH_BYTES && (l->local || !(m->flags & HIO_FRAME_F_LZ4));
}

/* ------------------------------------------------------------------ lanes */

/* Lanes holding a PE with nothing in flight: each takes the next message. The caller
 * holds s->mu. */
static int idle_held_locked(hio_stream *s)
{
	int n = 0;

	HIO_ASSERT_HELD(&s->mu);
	for (int i = 0; i < s->nlanes; i++)
		n += s->lanes[i].held && !s->lanes[i].broken && s->lanes[i].inflight_n == 0;
	return n;
}

/* Why the lane's session must end for its in-flight messages' sake, or NULL. Called
 * with s->mu held and nothing in flight being written; may drop s->mu to ask the
 * master, so the caller looks at the lane again afterwards. */
static const char *inflight_stuck_locked(struct lane *l, hio_http *http)
{
	hio_stream *s = l->s;
	struct msg *o = l->inflight;
	uint64_t now = hio_mono_ms(), since;
	int alive;

	HIO_ASSERT_HELD(&s->mu);
	if (!o)
		return NULL;
	/* The PE works on one message at a time: the oldest waits from when it was sent
	 * or from the previous ACK, whichever is later. */
	since = o->sent_ms > l->last_work_ms ? o->sent_ms : l->last_work_ms;
	if (s->give_up_ms > 0 && now - o->first_ms > (uint64_t)s->give_up_ms)
		return "a message in flight reached its give-up";
	if (l->pe_timeout_ms > 0 &&
	    now - since > ACK_GRACE_MS + o->len / ACK_MIN_BYTES_PER_MS + (uint64_t)l->pe_timeout_ms)
		return "no ACK within the pipeline's timeout";
	if (now - since < CHECK_AFTER_MS || now - l->checked_ms < CHECK_AFTER_MS)
		return NULL;
	l->checked_ms = now;
	pthread_mutex_unlock(&s->mu);
	alive = stream_pe_alive(http, l->pe_id);
	pthread_mutex_lock(&s->mu);
	return alive == 0 ? "the master reports the PE gone" : NULL;
}

void *stream_lane_main(void *arg)
{
	struct lane *l = arg;
	hio_stream *s = l->s;
	hio_http *http = hio_http_new(s->master, s->token);
	/* Liveness questions get their own client with short deadlines: with the master
	 * away they fail in 2 s, and the lane goes on feeding its PE meanwhile. */
	hio_http *check = hio_http_new(s->master, s->token);
	long backoff = BACKOFF_MIN_MS;
	char err[512];

	if (!http || !check) {
		hio_err("lane %d: cannot create an HTTP client; this lane stays idle", l->idx);
		hio_http_free(http);
		hio_http_free(check);
		return NULL;
	}
	hio_http_set_timeouts(check, 1000, 2000);
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct msg *m;

		if (l->sock >= 0) {
			/* Holding a PE: feed it while the window allows. */
			if (l->broken) {
				pthread_mutex_unlock(&s->mu);
				session_close(l, http, 0, "session with the PE broke");
				pthread_mutex_lock(&s->mu);
				continue;
			}
			const char *stuck = inflight_stuck_locked(l, check);
			if (stuck) {
				pthread_mutex_unlock(&s->mu);
				session_close(l, http, 0, stuck);
				pthread_mutex_lock(&s->mu);
				continue;
			}
			if (s->q_head && l->inflight_n < lane_window(l) &&
			    (l->inflight_n < WINDOW_SLOW || l->inflight_bytes < WINDOW_BYTES)) {
				struct msg *ms[SEND_BATCH_MAX];
				uint64_t bytes;
				int n = 1;

				/* What else the window takes goes in the same write. */
				ms[0] = stream_queue_pop_locked(s);
				bytes = ms[0]->len;
				while (n < SEND_BATCH_MAX && s->q_head &&
				       send_batchable(l, ms[0]) && send_batchable(l, s->q_head) &&
				       l->inflight_n + n < lane_window(l) &&
				       bytes + s->q_head->len <= SEND_BATCH_BYTES &&
				       l->inflight_bytes + bytes + s->q_head->len < WINDOW_BYTES) {
					bytes += s->q_head->len;
					ms[n++] = stream_queue_pop_locked(s);
				}
				pthread_mutex_unlock(&s->mu);
				if (session_send(l, ms, n) < 0) {
					hio_info("send to PE %s failed (%s); resending elsewhere",
						 l->pe_id, strerror(errno));
					session_close(l, http, 0, "send failed");
				}
				pthread_mutex_lock(&s->mu);
				continue;
			}
			if (!s->q_head && l->inflight_n == 0 &&
			    hio_mono_ms() - l->last_work_ms >= IDLE_RELEASE_MS) {
				pthread_mutex_unlock(&s->mu);
				session_close(l, http, 1, "idle");
				pthread_mutex_lock(&s->mu);
				continue;
			}
			hio_cond_wait_ms(&s->cv, &s->mu, s->q_head ? 50 : IDLE_RELEASE_MS);
			continue;
		}
		if (!s->q_head) {
			hio_cond_wait_ms(&s->cv_free, &s->mu, -1);
			continue;
		}
		/* PEs idle in hand or on their way cover what waits: reserving another would
		 * spread the load over every PE, so none ever idles long enough for the
		 * master to release it, and allocation could not pack. */
		if (s->q_len <= s->allocating + idle_held_locked(s)) {
			hio_cond_wait_ms(&s->cv_free, &s->mu, 50);
			continue;
		}
		uint64_t now = hio_mono_ms();
		if (now < s->no_pe_until_ms) {
			/* The master had no PE a moment ago: spill what waited long enough,
			 * otherwise ask again when the pause is over. */
			uint64_t age = now - s->q_head->queued_ms;
			if (age < (uint64_t)s->spill_ms) {
				uint64_t wait = s->no_pe_until_ms - now;
				if (wait > s->spill_ms - age)
					wait = s->spill_ms - age;
				hio_cond_wait_ms(&s->cv_free, &s->mu, (long)wait);
				continue;
			}
			/* No PE free: spill the oldest message, which waited long enough. */
			m = stream_queue_pop_locked(s);
			pthread_mutex_unlock(&s->mu);
			if (stream_backlog_push(http, s->pipeline, m, err, sizeof(err)) == 0) {
				pthread_mutex_lock(&s->mu);
				s->st.bytes_backlog += m->len;
				pthread_mutex_unlock(&s->mu);
				stream_msg_finish(s, m, 1, HIO_VIA_BACKLOG, "queued", NULL);
				backoff = BACKOFF_MIN_MS;
				pthread_mutex_lock(&s->mu);
			} else {
				hio_warn("%s; retrying in %ld ms", err, backoff);
				requeue(s, m, err);
				pthread_mutex_lock(&s->mu);
				hio_cond_wait_ms(&s->cv_free, &s->mu, backoff);
				backoff =
				    backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			}
			continue;
		}
		s->allocating++;
		pthread_mutex_unlock(&s->mu);

		struct pe_addr pe;
		uint64_t t_alloc = hio_hist_start();
		int a = stream_allocate(http, s->pipeline, &pe, err, sizeof(err)), opened = 0;
		if (a == 1)
			hio_hist_done(&hio_stream_alloc_hist, t_alloc);
		int busy;
		if (a == 1)
			opened = session_open(l, &pe, &busy, err, sizeof(err)) == 0;
		if (opened)
			l->pe_timeout_ms = pe.timeout_ms;
		pthread_mutex_lock(&s->mu);
		s->allocating--;
		l->held = opened;
		if (a == 1) {
			s->no_pe_retry_ms = NO_PE_RETRY_MIN_MS;
		} else if (a == 0) {
			s->no_pe_until_ms = hio_mono_ms() + (uint64_t)s->no_pe_retry_ms;
			s->no_pe_retry_ms = s->no_pe_retry_ms * 2 > NO_PE_RETRY_MAX_MS
						? NO_PE_RETRY_MAX_MS
						: s->no_pe_retry_ms * 2;
		}
		/* No broadcast: lanes held back above look again within 50 ms, and waking
		 * every lane after each allocation made them poll the master in turn. */
		pthread_mutex_unlock(&s->mu);
		if (a == 1) {
			backoff = BACKOFF_MIN_MS;
			if (!opened) {
				hio_info("%s; trying another PE or the backlog", err);
				/* Busy is a race with another sender; anything else means this
				 * host cannot reach that PE, which the master should know. */
				stream_release_pe(http, pe.id, busy ? NULL : err);
				pthread_mutex_lock(&s->mu);
				hio_cond_wait_ms(&s->cv_free, &s->mu, BACKOFF_MIN_MS);
				continue;
			}
			hio_debug("lane %d holds PE %s at %s:%d", l->idx, pe.id, pe.host, pe.port);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (a < 0) {
			hio_warn("cannot reach the master (%s); retrying in %ld ms", err, backoff);
			pthread_mutex_lock(&s->mu);
			hio_cond_wait_ms(&s->cv_free, &s->mu, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			/* Messages waiting past give_up_ms while the master is away are given up.
			 */
			if (s->give_up_ms > 0 && s->q_head &&
			    hio_mono_ms() - s->q_head->first_ms > (uint64_t)s->give_up_ms) {
				m = stream_queue_pop_locked(s);
				pthread_mutex_unlock(&s->mu);
				stream_msg_finish(s, m, 0, HIO_VIA_NONE, NULL, err);
				pthread_mutex_lock(&s->mu);
			}
			continue;
		}
		/* No PE free (a == 0): the pause above, then the backlog. */
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	session_close(l, http, 1, "stream closed");
	hio_http_free(http);
	hio_http_free(check);
	return NULL;
}
