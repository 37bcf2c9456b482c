/* The resident pipeline: hio_pe_run's executor when the handler is the resident one.
 * While the command works on one message, the next ones (up to its hello's
 * max_inflight, PIPE_INFLIGHT_MAX at most) are already prepared and written to its
 * stdin, so the PE's own work per message (taking it from the FIFO, its scratch
 * directory and input, the request, then collecting the output and handing it to the
 * uploader) overlaps the command's instead of adding to it.
 *
 * One thread, one poll(2): the command's stdin (requests written as far as the pipe
 * takes them), its stdout (replies parsed as they come), its stderr and an eventfd that
 * a FIFO push writes. docs/protocol.md "Resident protocol" has the rules kept here:
 * replies in request order; the head of the line (the oldest request without a reply)
 * is the message the command works on, and its time runs from when it became the head;
 * a fault fails the head only, and the requests behind it go to the restarted command
 * again, from a fresh scratch directory. */
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_pe.h"
#include "hio_util.h"
#include "pe_internal.h"
#include "pe_metrics.h"
#include "pe_serve.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_INFLIGHT_MAX 64	      /* requests in flight, whatever the hello allows */
#define PIPE_INLINE_BYTES (16u << 20) /* inline body bytes in flight (always admits one) */

struct job {
	struct job *next;
	struct pe_entry *e;
	char *line; /* the request's header line, n bytes */
	size_t n;
	const void *body; /* inline body (the item's memory), blen bytes */
	size_t blen;
	size_t woff; /* bytes of line and body written */
	char in[PATH_MAX], outdir[PATH_MAX], so[PATH_MAX];
};

struct pipeline {
	struct pe *pe;
	struct hio_pe_serve *s;
	struct hio_pe_serve_state *st;
	long timeout;
	struct job *head, *tail; /* in flight, in request order */
	struct job *wcur;	 /* the first not written whole (NULL: all are) */
	size_t n;
	uint64_t bytes;	  /* inline bytes in flight */
	struct job *redo; /* behind a fault: sent again before the FIFO's next */
	/* The head's time: from when it became the head (monotonic ms, wall clock us,
	 * histogram start). */
	uint64_t since, since_us, hist_t0;
};

static size_t window(const struct pipeline *p)
{
	long w = p->st->pid ? p->st->inflight : 1;

	return w < PIPE_INFLIGHT_MAX ? (size_t)w : PIPE_INFLIGHT_MAX;
}

static int has_room(const struct pipeline *p)
{
	return p->n < window(p) && (p->n == 0 || p->bytes < PIPE_INLINE_BYTES);
}

static void job_free(struct job *j)
{
	free(j->line);
	free(j);
}

/* A finished message (done or failed) goes to the uploader. */
static void finish(struct pipeline *p, struct pe_entry *e)
{
	if (!e->out.exit_set)
		e->out.exit_status = e->out.failed;
	if (pe_exec_check(p->pe, e) == 0)
		pe_entry_pend(p->pe, e);
	if (!p->head && !p->redo)
		pe_set_running(p->pe, 0);
}

/* Its scratch directory, input and request. 0, or -1 with the message finished
 * (failed) and j freed. */
static int prepare(struct pipeline *p, struct job *j)
{
	struct pe_item *it = j->e->it;
	struct hio_pe_msg msg = {.id = it->id,
				 .name = it->name,
				 .pipeline = p->pe->pipeline,
				 .ts = it->ts,
				 .data = it->mem ? it->mem : "",
				 .len = (size_t)it->len,
				 .path = it->path};

	if (pe_serve_prepare(&j->e->out, &msg, j->in, j->outdir, j->so, p->s->run_as) == 0) {
		if (pe_serve_request(p->st, &msg, j->in, j->outdir, &j->line, &j->n) == IO_OK) {
			j->body = it->path ? NULL : msg.data;
			j->blen = it->path ? 0 : msg.len;
			j->woff = 0;
			return 0;
		}
		hio_pe_out_fail(&j->e->out, "cannot make the request: %s", p->st->why);
	}
	finish(p, j->e);
	job_free(j);
	return -1;
}

/* Its time starts: the command has answered everything before it. */
static void head_starts(struct pipeline *p)
{
	p->since = hio_mono_ms();
	p->since_us = hio_now_us();
	p->hist_t0 = hio_hist_start();
	memset(&p->st->tail, 0, sizeof(p->st->tail));
	pe_metrics_busy(1);
}

/* Writes requests as far as the command's stdin takes them. A write that fails (the
 * command closed its stdin or died) ends the writing; the head's reply, or its
 * absence, then says what happened. */
static void pump_writes(struct pipeline *p)
{
	struct hio_pe_serve_state *st = p->st;

	while (p->wcur && st->to >= 0) {
		struct job *j = p->wcur;
		struct iovec iov[2];
		int k = 0;
		ssize_t w;

		if (j->woff < j->n)
			iov[k++] = (struct iovec){j->line + j->woff, j->n - j->woff};
		if (j->blen) {
			size_t b = j->woff > j->n ? j->woff - j->n : 0;

			iov[k++] = (struct iovec){(char *)j->body + b, j->blen - b};
		}
		/* A large body is not copied into the pipe: it and the request line stay
		 * as they are until the job is freed, after its reply. */
		if (j->blen >= SERVE_SPLICE_MIN)
			w = pe_serve_vmsplice(st->to, iov, k);
		else
			w = pe_serve_writev(st->to, iov, k, 1);
		if (w > 0) {
			j->woff += (size_t)w;
			if (j->woff == j->n + j->blen)
				p->wcur = j->next;
			continue;
		}
		if (w < 0 && errno == EAGAIN)
			return;
		hio_info("resident command's stdin %s; no more requests are written to it",
			 w < 0 && errno != EPIPE ? strerror(errno) : "closed");
		close(st->to);
		st->to = -1;
	}
}

/* Sends j: after the ones in flight, or first, to a command started now if none runs.
 * 0, or -1 with j's message failed (the command did not start) and j freed. */
static int send_job(struct pipeline *p, struct job *j)
{
	struct hio_pe_serve_state *st = p->st;

	if (!p->head && st->pid)
		pe_serve_check_idle(st);
	if (!st->pid) {
		memset(&st->tail, 0, sizeof(st->tail));
		if (pe_serve_start(p->s, st) < 0) {
			struct pe_item *it = j->e->it;
			char what[400];

			snprintf(what, sizeof(what), "the resident command did not start: %s",
				 st->why);
			hio_warn("message %s (%s): %s; it is tried again at the next message",
				 it->id, it->name, what);
			pe_fail_tail(&j->e->out, what, &st->tail);
			finish(p, j->e);
			job_free(j);
			return -1;
		}
	}
	j->next = NULL;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	if (!p->wcur)
		p->wcur = j;
	p->n++;
	p->bytes += j->blen;
	/* The start-up above is not the message's time. */
	if (p->head == j)
		head_starts(p);
	return 0;
}

/* Takes messages (requests to send again first, then the FIFO) while there is room. */
static void fill(struct pipeline *p)
{
	while (has_room(p)) {
		struct job *j = p->redo;
		int dup;

		if (j) {
			p->redo = j->next;
		} else {
			struct pe_item *it = pe_fifo_take(p->pe, 0);
			struct pe_entry *e;

			if (!it)
				break;
			e = pe_entry_new(p->pe, it, &dup);
			if (!e) {
				if (!p->head && !p->redo)
					pe_set_running(p->pe, 0);
				continue;
			}
			if (dup) {
				finish(p, e);
				continue;
			}
			j = calloc(1, sizeof(*j));
			if (!j) {
				hio_pe_out_fail(&e->out, "out of memory for the resident pipeline");
				finish(p, e);
				continue;
			}
			j->e = e;
		}
		if (prepare(p, j) == 0 && send_job(p, j) == 0)
			pump_writes(p);
	}
}

/* The head's reply is complete (ok) or the head failed already (!ok): its result goes
 * to the uploader and the next request becomes the head. */
static void head_done(struct pipeline *p, int ok)
{
	struct job *j = p->head;
	struct pe_entry *e = j->e;

	p->head = j->next;
	if (!p->head)
		p->tail = NULL;
	if (p->wcur == j)
		p->wcur = j->next;
	p->n--;
	p->bytes -= j->blen;
	e->out.start_us = p->since_us;
	e->out.duration_ms = hio_mono_ms() - p->since;
	pe_metrics_processed(p->hist_t0);
	pe_metrics_busy(0);
	if (ok)
		pe_serve_result(p->st, &e->out, j->outdir, j->so, j->in);
	hio_debug("message %s (%s): %s in %" PRIu64 " ms", e->it->id, e->it->name,
		  e->out.failed ? "failed" : "done", e->out.duration_ms);
	/* Orphans the command left (setsid children of a handler) end with the reply; the
	 * command itself, our one legitimate child, stays. */
	pe_kill_orphans(p->st->pid);
	job_free(j);
	finish(p, e);
	/* After the hand-over, which may wait for the uploader: the next message's time
	 * starts when its reply can be read. */
	if (p->head)
		head_starts(p);
}

/* A fault (rc, an IO_ code): the command is killed, the head fails, and every request
 * behind it is sent again to the restarted command from a fresh scratch directory (the
 * old one may hold what the dead command wrote). */
static void fault(struct pipeline *p, int rc)
{
	struct job *j = p->head, *rest = j->next, **redo_tail;
	struct pe_item *it = j->e->it;

	pe_serve_fail(p->st, rc, p->timeout, it->id, it->name, &j->e->out);
	pe_kill_orphans(0);
	for (redo_tail = &rest; *redo_tail; redo_tail = &(*redo_tail)->next) {
		struct job *r = *redo_tail;

		hio_info("message %s (%s) was in flight behind it; sending it again to the "
			 "restarted command",
			 r->e->it->id, r->e->it->name);
		pe_out_free(&r->e->out);
		pe_out_init(&r->e->out, p->pe->scratch);
		r->e->out.foreign_input = r->e->it->linked;
		free(r->line);
		r->line = NULL;
	}
	/* Before the head is handed on, so the PE stays busy for them. */
	*redo_tail = p->redo;
	p->redo = rest;
	j->next = NULL;
	p->tail = j;
	p->wcur = NULL;
	p->n = 1;
	p->bytes = j->blen;
	head_done(p, 0);
}

/* Stopping with requests behind the head, which has its result: the command is told to
 * end (EOF on its stdin, SIGKILL 2 s later) before their scratch directories go, and
 * they are dropped unacknowledged, as the FIFO's are (the connector resends them, the
 * master requeues backlog leases). */
static void drop_rest(struct pipeline *p)
{
	struct job *lists[2] = {p->head, p->redo};

	if (p->head) {
		pe_serve_close(p->st);
		pe_kill_orphans(0);
	}
	for (int i = 0; i < 2; i++)
		while (lists[i]) {
			struct job *j = lists[i];

			lists[i] = j->next;
			hio_info("stopping: message %s (%s) left unprocessed", j->e->it->id,
				 j->e->it->name);
			pe_entry_free(p->pe, j->e);
			job_free(j);
		}
	p->head = p->tail = p->wcur = p->redo = NULL;
	p->n = 0;
	p->bytes = 0;
	pe_set_running(p->pe, 0);
}

/* Parses the replies that have come, reading the command's stdout until it has no
 * more. IO_OK, or IO_EOF/IO_PROTO for the head. */
static int written(const struct job *j)
{
	return j->woff == j->n + j->blen;
}

static int pump_reads(struct pipeline *p)
{
	struct hio_pe_serve_state *st = p->st;

	for (;;) {
		int rc;

		/* A request not written whole cannot have its reply yet: what comes is left
		 * for later (a command that answers early breaks the protocol at its next
		 * read, and times out at worst). */
		while (p->head && written(p->head)) {
			rc = pe_serve_reply_step(st, p->head->e->it->id, p->head->so);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
			head_done(p, 1);
			if (pe_stopping(p->pe) && p->head)
				drop_rest(p);
		}
		if (!p->head || !written(p->head))
			return IO_OK;
		rc = pe_serve_fill(st);
		if (rc <= 0)
			return rc;
	}
}

/* One wait for the command (or a new message), then whatever became possible. */
static void step(struct pipeline *p)
{
	struct hio_pe_serve_state *st = p->st;
	struct pollfd fds[4];
	int nfd = 0, ierr = -1, ito = -1, iev = -1, rc, ms;
	uint64_t now, deadline = p->since + (uint64_t)p->timeout;

	/* Its stdout once the head is written whole (pump_reads); until then a command that
	 * died shows on its stdin. */
	if (written(p->head))
		fds[nfd++] = (struct pollfd){.fd = st->from, .events = POLLIN};
	if (st->err >= 0)
		fds[ierr = nfd++] = (struct pollfd){.fd = st->err, .events = POLLIN};
	if (p->wcur && st->to >= 0)
		fds[ito = nfd++] = (struct pollfd){.fd = st->to, .events = POLLOUT};
	if (has_room(p) && p->pe->exec_evfd >= 0) {
		struct pe *pe = p->pe;
		int more, stopping;

		/* Told by the next push, unless one came already. */
		pthread_mutex_lock(&pe->mu);
		stopping = pe->stopping;
		more = !stopping && pe->fhead != NULL;
		pe->exec_waiting = !stopping && !more;
		pthread_mutex_unlock(&pe->mu);
		if (more)
			return;
		if (!stopping)
			fds[iev = nfd++] = (struct pollfd){.fd = pe->exec_evfd, .events = POLLIN};
	}
	now = hio_mono_ms();
	ms = now >= deadline ? 0 : deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now);
	if (poll(fds, (nfds_t)nfd, ms) < 0 && errno != EINTR) {
		hio_err("poll on the resident command's pipes failed: %s; retrying",
			strerror(errno));
		return;
	}
	if (iev >= 0) {
		uint64_t v;

		if (fds[iev].revents && read(p->pe->exec_evfd, &v, sizeof(v)) < 0) {
			/* Another wake-up read it first. */
		}
		pthread_mutex_lock(&p->pe->mu);
		p->pe->exec_waiting = 0;
		pthread_mutex_unlock(&p->pe->mu);
	}
	if (ierr >= 0 && fds[ierr].revents)
		pe_serve_drain_err(st);
	if (ito >= 0 && fds[ito].revents)
		pump_writes(p);
	/* Replies are read before the clock is looked at: one that came in time counts,
	 * however late the PE gets to it. */
	rc = pump_reads(p);
	if (rc == IO_OK && p->head && hio_mono_ms() >= p->since + (uint64_t)p->timeout)
		rc = IO_TIMEOUT;
	if (rc != IO_OK && p->head)
		fault(p, rc);
}

void pe_serve_pipeline(struct pe *pe, struct hio_pe_serve *s)
{
	struct pipeline p = {.pe = pe, .s = s};
	sigset_t pipe_set;

	p.st = pe_serve_state(s);
	p.timeout = s->timeout_ms > 0 ? s->timeout_ms : PE_TIMEOUT_MS_DEFAULT;
	if (!p.st) {
		hio_err("out of memory for the resident handler; messages are left "
			"unacknowledged");
		return;
	}
	/* Writes to a command that died raise SIGPIPE: this thread never takes it, and
	 * pe_serve_writev consumes the pending one (the command starts with an empty mask,
	 * nothing pending). */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	for (;;) {
		/* Stopping: the head finishes (pump_reads then drops the rest). */
		if (pe_stopping(pe)) {
			if (!p.head)
				break;
		} else {
			fill(&p);
		}
		if (p.head) {
			step(&p);
			continue;
		}
		/* Nothing in flight: the next message (or the stop). */
		pthread_mutex_lock(&pe->mu);
		while (!pe->fhead && !pe->stopping && !p.redo)
			pthread_cond_wait(&pe->cv_fifo, &pe->mu);
		pthread_mutex_unlock(&pe->mu);
	}
	drop_rest(&p);
}
