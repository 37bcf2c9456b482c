/* What brings messages into the PE: the P2P listener with one session at a time, and
 * the backlog puller. Both decode MSG frames with the same callbacks. */
#include "hio_frame.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_net.h"
#include "hio_sync.h"
#include "hio_util.h"
#include "pe_internal.h"
#include "pe_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define P2P_READ_BUF (64u << 10)
#define PLACE_READ_MAX (256u << 10) /* bytes of one read of a body into its place */
/* Between frames, after a large body, the next read stops here: what a 64 KiB read
 * took of the next body went through buf and was copied (issue 16); small messages
 * keep the large read, which takes many frames at once. */
#define P2P_HEAD_READ 4096u
#define P2P_BIG_BODY (32u << 10)
/* A body bound for a file (over PE_MEM_MAX) is read this much at a time: 64 KiB reads
 * were 160 read, write and poll calls per 10 MB, each dear under a hypervisor. */
#define P2P_FILE_READ (1u << 20)
#define P2P_SEND_TIMEOUT_MS 30000 /* an ack that cannot go out in this ends the session */
#define P2P_DRAIN_MS 200	  /* reading after ERROR so close() does not reset */
#define P2P_DRAIN_MAX (1u << 20)

/* ---- sessions ---- */

void pe_session_unref(struct pe *pe, struct pe_session *s)
{
	int last;

	pthread_mutex_lock(&pe->mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&pe->mu);
	if (!last)
		return;
	close(s->fd);
	pthread_mutex_destroy(&s->wmu);
	free(s);
}

/* Closing with unread input makes TCP send a reset, which can destroy the ERROR frame
 * before the peer reads it; so stop writing, and read a little until the peer closes. */
static void drain_and_keep(int fd)
{
	char buf[4096];
	size_t total = 0;
	uint64_t end = hio_mono_ms() + P2P_DRAIN_MS;

	for (;;) {
		uint64_t now = hio_mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (now >= end || total >= P2P_DRAIN_MAX)
			break;
		if (poll(&p, 1, (int)(end - now)) <= 0)
			break;
		r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		total += (size_t)r;
	}
}

static int send_error(int fd, const char *why)
{
	json_t *m = json_pack("{s:s}", "error", why);
	int rc = m ? hio_frame_send_meta(fd, HIO_F_ERROR, m) : -1;

	json_decref(m);
	return rc;
}

static void session_fail(struct pe_session *s, const char *why)
{
	pthread_mutex_lock(&s->wmu);
	if (!s->closed) {
		if (send_error(s->fd, why) < 0)
			hio_debug("cannot send ERROR to %s: %s", s->peer, strerror(errno));
		shutdown(s->fd, SHUT_WR);
		s->closed = 1;
	}
	pthread_mutex_unlock(&s->wmu);
}

static void peer_name(int fd, char *out, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(out, n, "%s:%d", host, port);
}

/* ---- MSG reception ---- */

int pe_rx_fail(struct pe_rx *rx, const char *fmt, const char *arg)
{
	snprintf(rx->err, sizeof(rx->err), fmt, arg);
	return -1;
}

static int rx_on_frame(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct pe_rx *rx = ud;
	struct pe *pe = rx->pe;
	struct pe_item *it;
	json_t *jid, *jname, *jts;
	const char *why = NULL;
	char tbuf[16];

	if (rx->sess && !rx->hello_done) {
		if (h->type != HIO_F_HELLO)
			return pe_rx_fail(rx, "%s", "expected HELLO first");
		if (h->body_len)
			return pe_rx_fail(rx, "%s", "HELLO must not have a body");
		return 0;
	}
	if (h->type != HIO_F_MSG) {
		snprintf(tbuf, sizeof(tbuf), "%u", h->type);
		return pe_rx_fail(rx, "unexpected frame type %s (only MSG after WELCOME)", tbuf);
	}
	if (!rx->sess && rx->ready)
		return pe_rx_fail(rx, "%s", "more than one frame in a backlog answer");
	jid = json_object_get(meta, "id");
	jname = json_object_get(meta, "name");
	jts = json_object_get(meta, "ts");
	if (!json_is_string(jid) || !hio_id_valid(json_string_value(jid)))
		return pe_rx_fail(rx, "%s", "MSG meta: id must be 32 lowercase hex chars");
	if (!json_is_string(jname))
		return pe_rx_fail(rx, "%s", "MSG meta: name must be a string");
	if (!hio_name_valid(json_string_value(jname), json_string_length(jname), &why))
		return pe_rx_fail(rx, "MSG meta: bad name: %s", why ? why : "invalid");
	if (!json_is_integer(jts) || json_integer_value(jts) < 0)
		return pe_rx_fail(rx, "%s", "MSG meta: ts must be a non-negative integer");

	it = calloc(1, sizeof(*it));
	if (!it || !(it->name = strdup(json_string_value(jname)))) {
		free(it);
		return pe_rx_fail(rx, "%s", "out of memory");
	}
	memcpy(it->id, json_string_value(jid), HIO_ID_LEN + 1);
	it->ts = (uint64_t)json_integer_value(jts);
	it->len = h->body_len;
	rx->big = it->len >= P2P_BIG_BODY;
	rx->cur = it;
	rx->got = 0;
	if (h->flags & HIO_FRAME_F_FD)
		return pe_rx_take_fd(rx, it, json_is_true(json_object_get(meta, "sealed")));
	if (it->len <= PE_MEM_MAX) {
		it->mem = pe_body_alloc((size_t)it->len);
		if (!it->mem)
			return pe_rx_fail(rx, "%s", "out of memory");
		return 0;
	}
	/* Big bodies go straight to disk: memory stays bounded whatever peers send. */
	if (asprintf(&it->path, "%s/in%" PRIu64, pe->workdir, pe_next_seq(pe)) < 0) {
		it->path = NULL;
		return pe_rx_fail(rx, "%s", "out of memory");
	}
	rx->cur_fd = open(it->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (rx->cur_fd < 0) {
		hio_warn("cannot create %s for message %s: %s; refusing it", it->path, it->id,
			 strerror(errno));
		return pe_rx_fail(rx, "PE cannot store the message: %s", strerror(errno));
	}
	return 0;
}

static int rx_on_body(void *ud, const void *p, size_t n)
{
	struct pe_rx *rx = ud;
	struct pe_item *it = rx->cur;

	if (!it)
		return pe_rx_fail(rx, "%s", "body on a frame without one");
	if (n > it->len - rx->got)
		return pe_rx_fail(rx, "%s", "body longer than announced");
	if (it->mem) {
		memcpy((char *)it->mem + rx->got, p, n);
	} else if (hio_write_all(rx->cur_fd, p, n) < 0) {
		hio_warn("cannot write %s for message %s: %s; refusing it", it->path, it->id,
			 strerror(errno));
		return pe_rx_fail(rx, "PE cannot store the message: %s", strerror(errno));
	}
	rx->got += n;
	return 0;
}

/* Caller holds pe->mu. */
static void pending_del_locked(struct pe *pe, struct pe_session *s)
{
	HIO_ASSERT_HELD(&pe->mu);
	for (int i = 0; i < pe->npending; i++)
		if (pe->pending[i] == s) {
			pe->pending[i] = pe->pending[--pe->npending];
			return;
		}
}

static int rx_hello(struct pe_rx *rx, json_t *meta)
{
	struct pe *pe = rx->pe;
	struct pe_session *s = rx->sess;
	json_t *tok = json_object_get(meta, "token"), *pl = json_object_get(meta, "pipeline");
	json_t *w;
	int rc;

	/* The master's ticket to this PE; the PE's own token too, which is the cluster
	 * token for a PE run by hand (a PE credential is never a sender's). */
	if (!json_is_string(tok) || !(hio_token_eq(json_string_value(tok), pe->p2p_ticket) ||
				      (strncmp(pe->token, "hio-pe.", 7) != 0 &&
				       hio_token_eq(json_string_value(tok), pe->token)))) {
		static struct hio_log_limit lim;
		unsigned skipped;

		if (hio_log_limited(&lim, HIO_LOG_LIMIT_MS, &skipped))
			hio_warn("P2P connection from %s refused: wrong or missing token (%u more "
				 "refused since the last such line)",
				 s->peer, skipped);
		return pe_rx_fail(rx, "%s", "unauthorized");
	}
	if (!json_is_string(pl) || strcmp(json_string_value(pl), pe->pipeline) != 0) {
		hio_warn("P2P connection from %s refused: it wants pipeline %s, this PE serves %s",
			 s->peer, json_is_string(pl) ? json_string_value(pl) : "(none)",
			 pe->pipeline);
		return pe_rx_fail(rx, "wrong pipeline: this PE serves %s", pe->pipeline);
	}
	/* Authenticated: now it may take the PE's one session. */
	pthread_mutex_lock(&pe->mu);
	pending_del_locked(pe, s);
	if (pe->sess || pe->stopping) {
		pthread_mutex_unlock(&pe->mu);
		rx->busy = 1;
		return pe_rx_fail(rx, "%s", "busy");
	}
	pe->sess = s;
	pe_kick_heartbeat_locked(pe);
	pthread_mutex_unlock(&pe->mu);
	w = json_pack("{s:s}", "pe", pe->id);
	pthread_mutex_lock(&s->wmu);
	rc = w && !s->closed ? hio_frame_send_meta(s->fd, HIO_F_WELCOME, w) : -1;
	pthread_mutex_unlock(&s->wmu);
	json_decref(w);
	if (rc < 0) {
		rx->quiet = 1;
		return pe_rx_fail(rx, "%s", "cannot send WELCOME");
	}
	rx->hello_done = 1;
	hio_info("P2P session from %s started", s->peer);
	return 0;
}

static int rx_on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct pe_rx *rx = ud;
	struct pe *pe = rx->pe;
	struct pe_item *it = rx->cur;

	if (rx->sess && !rx->hello_done)
		return rx_hello(rx, meta);
	if (!it || rx->got != it->len)
		return pe_rx_fail(rx, "%s", "body shorter than announced");
	if (rx->cur_fd >= 0) {
		int rc = close(rx->cur_fd);

		rx->cur_fd = -1;
		if (rc < 0)
			return pe_rx_fail(rx, "PE cannot store the message: %s", strerror(errno));
	}
	rx->cur = NULL;
	(void)h;
	if (!rx->sess) {
		rx->ready = it;
		return 0;
	}
	pthread_mutex_lock(&pe->mu);
	rx->sess->refs++;
	pthread_mutex_unlock(&pe->mu);
	it->sess = rx->sess;
	/* session_main wakes the executor when what it read is decoded. */
	if (pe_fifo_push(pe, it, 1) < 0) {
		pe_session_unref(pe, it->sess);
		pe_item_free(it);
		rx->quiet = 1;
		return pe_rx_fail(rx, "%s", "stopping");
	}
	return 0;
}

const struct hio_frame_dec_cbs pe_rx_cbs = {
    .on_frame = rx_on_frame,
    .on_body = rx_on_body,
    .on_end = rx_on_end,
};

void pe_rx_reset(struct pe_rx *rx)
{
	while (rx->nfdq > 0)
		close(rx->fdq[--rx->nfdq]);
	if (rx->cur_fd >= 0)
		close(rx->cur_fd);
	rx->cur_fd = -1;
	pe_item_free(rx->cur);
	rx->cur = NULL;
	pe_item_free(rx->ready);
	rx->ready = NULL;
}

/* ---- the session reader ---- */

/* read(2) of the session; on a local session a recvmsg that also takes a descriptor
 * passed with the bytes (one at most: each rides on its own frame's first byte). */
static ssize_t sess_read(struct pe_session *s, struct pe_rx *rx, void *buf, size_t n)
{
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {buf, n};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t r;

	if (!s->local)
		return read(s->fd, buf, n);
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	r = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return r;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (rx->nfdq < PE_LOCAL_FDS)
				rx->fdq[rx->nfdq++] = fd;
			else
				close(fd);
		}
	}
	/* Descriptors that did not fit were closed by the kernel: a sender that passes
	 * more than one per frame broke the protocol. */
	if (mh.msg_flags & MSG_CTRUNC) {
		errno = EPROTO;
		return -1;
	}
	return r;
}

static void *session_main(void *arg)
{
	struct pe_session *s = arg;
	struct pe *pe = s->pe;
	struct pe_rx rx;
	hio_frame_dec *dec = NULL;
	char *buf = malloc(P2P_READ_BUF);
	char *fbuf = NULL; /* P2P_FILE_READ, taken at the first body bound for a file */
	uint64_t hello_end = hio_mono_ms() + PE_HELLO_MS;
	const char *why = NULL;

	memset(&rx, 0, sizeof(rx));
	rx.pe = pe;
	rx.sess = s;
	rx.cur_fd = -1;
	dec = hio_frame_dec_new(&pe_rx_cbs, &rx);
	if (!buf || !dec) {
		hio_err("out of memory for a P2P session from %s; closing it", s->peer);
		why = "PE out of memory";
		goto out;
	}
	if (s->local)
		hio_frame_dec_allow_fd(dec);
	for (;;) {
		uint64_t left;
		int placed, rc;
		ssize_t r;
		char *rbuf;

		if (!rx.hello_done) {
			uint64_t now = hio_mono_ms();
			struct pollfd p = {.fd = s->fd, .events = POLLIN};
			int pr = now >= hello_end ? 0 : poll(&p, 1, (int)(hello_end - now));

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0) {
				static struct hio_log_limit lim;
				unsigned skipped;

				if (hio_log_limited(&lim, HIO_LOG_LIMIT_MS, &skipped))
					hio_warn("P2P connection from %s sent no HELLO within %d "
						 "ms; closing it (%u more since the last such "
						 "line)",
						 s->peer, PE_HELLO_MS, skipped);
				why = "no HELLO in time";
				break;
			}
		} else if (!hio_frame_dec_idle(dec)) {
			/* Inside a frame the sender must keep sending: one that trickles or
			 * stops mid-message would hold the PE for ever. */
			struct pollfd p = {.fd = s->fd, .events = POLLIN};
			int pr = poll(&p, 1, PE_STALL_MS);

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0) {
				hio_warn("P2P session from %s sent nothing for %d ms inside a "
					 "message; ending it",
					 s->peer, PE_STALL_MS);
				why = "stalled inside a message";
				break;
			}
		}
		/* A body kept in memory is read where it goes: no copy through buf. */
		left = hio_frame_dec_body_left(dec);
		placed = left && rx.cur && rx.cur->mem;
		rbuf = buf;
		if (left && rx.cur && rx.cur_fd >= 0 && left > P2P_READ_BUF &&
		    (fbuf || (fbuf = malloc(P2P_FILE_READ))))
			rbuf = fbuf;
		if (placed)
			r = sess_read(s, &rx, (char *)rx.cur->mem + rx.got,
				      left < PLACE_READ_MAX ? (size_t)left : PLACE_READ_MAX);
		else if (rbuf == fbuf)
			r = sess_read(s, &rx, fbuf,
				      left < P2P_FILE_READ ? (size_t)left : P2P_FILE_READ);
		else
			r = sess_read(s, &rx, buf, rx.big && !left ? P2P_HEAD_READ : P2P_READ_BUF);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			hio_info("P2P session from %s: read failed: %s; ending it", s->peer,
				 strerror(errno));
			break;
		}
		if (r == 0) {
			/* A half-closed peer still reads: tell it why its message is lost. */
			if (!hio_frame_dec_idle(dec) && !pe_stopping(pe)) {
				hio_info("P2P session from %s closed inside a frame; dropping "
					 "that message",
					 s->peer);
				why = "truncated frame: the connection ended inside it";
			} else {
				hio_info("P2P session from %s ended", s->peer);
			}
			break;
		}
		if (placed) {
			rx.got += (uint64_t)r;
			rc = hio_frame_dec_body_placed(dec, (size_t)r);
		} else {
			rc = hio_frame_dec_feed(dec, rbuf, (size_t)r);
		}
		pe_fifo_wake(pe);
		if (rc < 0) {
			if (!rx.quiet) {
				why = rx.err[0] ? rx.err : hio_frame_dec_error(dec);
				if (rx.busy)
					hio_info("P2P connection from %s refused: a session is "
						 "already active",
						 s->peer);
				else
					hio_warn("P2P session from %s: %s; sending ERROR and "
						 "closing",
						 s->peer, why);
			}
			break;
		}
	}
out:
	if (why)
		session_fail(s, why);
	pe_rx_reset(&rx);
	hio_frame_dec_free(dec);
	free(buf);
	free(fbuf);
	/* The slot is free before the drain, so the next connector is not told "busy". */
	pthread_mutex_lock(&pe->mu);
	if (pe->sess == s)
		pe->sess = NULL;
	pending_del_locked(pe, s);
	pe_kick_heartbeat_locked(pe);
	pthread_mutex_unlock(&pe->mu);
	if (why) {
		drain_and_keep(s->fd);
		shutdown(s->fd, SHUT_RDWR);
	}
	pe_session_unref(pe, s);
	return NULL;
}

/* ---- the listener ---- */

static void refuse(int fd, const char *why)
{
	if (send_error(fd, why) == 0) {
		shutdown(fd, SHUT_WR);
		drain_and_keep(fd);
	}
	close(fd);
}

static void session_start(struct pe *pe, int fd, int local)
{
	struct timeval tv = {.tv_sec = P2P_SEND_TIMEOUT_MS / 1000};
	struct pe_session *s;
	char peer[64];
	int stopping, full;

	if (local) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
			snprintf(peer, sizeof(peer), "local pid %d", (int)cr.pid);
		else
			snprintf(peer, sizeof(peer), "local");
	} else {
		peer_name(fd, peer, sizeof(peer));
	}
	pthread_mutex_lock(&pe->mu);
	stopping = pe->stopping;
	full = pe->npending >= PE_PENDING_MAX;
	pthread_mutex_unlock(&pe->mu);
	if (stopping) {
		refuse(fd, "busy");
		return;
	}
	/* Whether the PE is free is decided at HELLO; until then a connection holds only
	 * one of a bounded number of places (an unauthenticated flood is cut off here,
	 * not by the PE's session). */
	if (full) {
		static struct hio_log_limit lim;
		unsigned skipped;

		if (hio_log_limited(&lim, HIO_LOG_LIMIT_MS, &skipped))
			hio_warn("P2P connection from %s closed: %d connections have not said "
				 "HELLO yet (%u more closed since the last such line)",
				 peer, PE_PENDING_MAX, skipped);
		close(fd);
		return;
	}
	/* Readers that ended (they may still be draining a refused peer) are reaped here. */
	for (size_t i = 0; i < pe->nreaders;) {
		if (pthread_tryjoin_np(pe->readers[i], NULL) == 0)
			pe->readers[i] = pe->readers[--pe->nreaders];
		else
			i++;
	}
	if (pe->nreaders == pe->capreaders) {
		size_t cap = pe->capreaders ? pe->capreaders * 2 : 4;
		pthread_t *nr = realloc(pe->readers, cap * sizeof(*nr));

		if (!nr) {
			hio_err("out of memory for a P2P session from %s; refusing it", peer);
			refuse(fd, "PE out of memory");
			return;
		}
		pe->readers = nr;
		pe->capreaders = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		hio_err("out of memory for a P2P session from %s; refusing it", peer);
		refuse(fd, "PE out of memory");
		return;
	}
	/* A peer that stops reading must not wedge the uploader's acks forever. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* A vanished peer must not hold the one session slot for long (a local one's
	 * socket closes with its process). */
	if (!local)
		hio_net_set_liveness(fd);
	s->pe = pe;
	s->fd = fd;
	s->local = local;
	s->refs = 1;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	pthread_mutex_init(&s->wmu, NULL);
	pthread_mutex_lock(&pe->mu);
	pe->pending[pe->npending++] = s;
	pthread_mutex_unlock(&pe->mu);
	if (pthread_create(&pe->readers[pe->nreaders], NULL, session_main, s) != 0) {
		hio_err("cannot start a reader for the P2P session from %s; refusing it", peer);
		pthread_mutex_lock(&pe->mu);
		pending_del_locked(pe, s);
		pthread_mutex_unlock(&pe->mu);
		pthread_mutex_destroy(&s->wmu);
		free(s);
		refuse(fd, "PE out of resources");
		return;
	}
	pe->nreaders++;
}

void pe_accept_loop(struct pe *pe)
{
	for (;;) {
		struct pollfd p[3] = {{.fd = pe->wake[0], .events = POLLIN},
				      {.fd = pe->lfd, .events = POLLIN},
				      {.fd = pe->ufd, .events = POLLIN}};
		int fd, local;

		if (poll(p, pe->ufd >= 0 ? 3 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			hio_err("poll on the P2P listener failed: %s; stopping", strerror(errno));
			return;
		}
		if (p[0].revents)
			return;
		local = pe->ufd >= 0 && (p[2].revents & POLLIN);
		if (!local && !(p[1].revents & POLLIN))
			continue;
		fd = accept4(local ? pe->ufd : pe->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				hio_warn("accept on the P2P port failed: %s; pausing 100 ms",
					 strerror(errno));
				poll(NULL, 0, 100);
			}
			continue;
		}
		session_start(pe, fd, local);
	}
}

void pe_recv_stop(struct pe *pe)
{
	pthread_mutex_lock(&pe->mu);
	/* fd is valid while pe->sess or pending points at it: the reader clears both before
	 * its unref. */
	if (pe->sess)
		shutdown(pe->sess->fd, SHUT_RD);
	for (int i = 0; i < pe->npending; i++)
		shutdown(pe->pending[i]->fd, SHUT_RD);
	pthread_mutex_unlock(&pe->mu);
	for (size_t i = 0; i < pe->nreaders; i++)
		pthread_join(pe->readers[i], NULL);
	pe->nreaders = 0;
	free(pe->readers);
	pe->readers = NULL;
}
