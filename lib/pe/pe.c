/* hio_pe_run: the PE runtime (HarmonicPE). Threads:
 *   main       accepts P2P connections (pe_recv.c), one session reader at a time
 *   executor   runs the handler on each queued message, in order
 *   uploader   group-commits finished messages to the master, then acks (pe_upload.c)
 *   puller     long-polls the backlog while there is nothing else to do (pe_recv.c)
 *   heartbeat  registers and reports state; re-registers when the master forgot us
 * docs/pe.md has the whole picture. */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_pe.h"
#include "hio_sync.h"
#include "hio_util.h"
#include "pe_internal.h"

#include "hio_cred.h"
#include "pe_metrics.h"
#include "pe_scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The running PE, for hio_pe_stop() and signal handlers (one per process). A stop that
 * comes before hio_pe_run made its pipe is remembered in g_stop. */
static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_wake_fd = -1;

void hio_pe_stop(void)
{
	int fd = g_wake_fd;

	g_stop = 1;
	if (fd >= 0 && write(fd, "x", 1) < 0) {
		/* The pipe is full: a wake-up is already pending. */
	}
}

static void on_signal(int sig)
{
	int e = errno;

	(void)sig;
	hio_pe_stop();
	errno = e;
}

/* ---- small shared helpers ---- */

uint64_t pe_next_seq(struct pe *pe)
{
	uint64_t s;

	pthread_mutex_lock(&pe->mu);
	s = ++pe->seq;
	pthread_mutex_unlock(&pe->mu);
	return s;
}

void pe_kick_heartbeat_locked(struct pe *pe)
{
	HIO_ASSERT_HELD(&pe->mu);
	/* One pending is enough: the heartbeat looks at the state when it acts. Waking
	 * it again at each change woke it twice a message while the executor idled
	 * between messages (it then waits out PE_HB_MIN_GAP_MS anyway). */
	if (pe->hb_kick)
		return;
	pe->hb_kick = 1;
	/* Broadcast: pe_sleep waiters share the condition. */
	pthread_cond_broadcast(&pe->cv_hb);
}

int pe_sleep(struct pe *pe, long ms)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
	int stopping;

	pthread_mutex_lock(&pe->mu);
	while (!pe->stopping && hio_cond_wait_until(&pe->cv_hb, &pe->mu, deadline) != ETIMEDOUT)
		;
	stopping = pe->stopping;
	pthread_mutex_unlock(&pe->mu);
	return stopping;
}

int pe_stopping(struct pe *pe)
{
	int s;

	pthread_mutex_lock(&pe->mu);
	s = pe->stopping;
	pthread_mutex_unlock(&pe->mu);
	return s;
}

long pe_backoff_next(long cur, long max)
{
	cur = cur ? cur * 2 : 200;
	return cur > max ? max : cur;
}

int pe_lru_find(struct pe *pe, const char *id, int *failed)
{
	int found = 0;

	pthread_mutex_lock(&pe->mu);
	for (size_t i = 0; i < PE_LRU && !found; i++)
		if (pe->lru[i][0] && memcmp(pe->lru[i], id, HIO_ID_LEN) == 0) {
			*failed = pe->lru_failed[i];
			found = 1;
		}
	pthread_mutex_unlock(&pe->mu);
	return found;
}

void pe_lru_add(struct pe *pe, const char *id, int failed)
{
	pthread_mutex_lock(&pe->mu);
	memcpy(pe->lru[pe->lru_next], id, HIO_ID_LEN + 1);
	pe->lru_failed[pe->lru_next] = (char)failed;
	pe->lru_next = (pe->lru_next + 1) % PE_LRU;
	pthread_mutex_unlock(&pe->mu);
}

/* ---- the FIFO ---- */

void pe_item_free(struct pe_item *it)
{
	if (!it)
		return;
	if (it->path && unlink(it->path) < 0 && errno != ENOENT)
		hio_warn("cannot remove received file %s: %s", it->path, strerror(errno));
	free(it->path);
	if (it->mem)
		pe_body_free(it->mem, (size_t)it->len);
	free(it->name);
	free(it);
}

static int fifo_admits(const struct pe *pe, const struct pe_item *it)
{
	return pe->fn == 0 || (pe->fn < PE_FIFO_MAX && pe->fbytes + it->len <= PE_FIFO_BYTES);
}

void pe_exec_wake(struct pe *pe)
{
	uint64_t one = 1;

	if (pe->exec_evfd >= 0 && write(pe->exec_evfd, &one, sizeof(one)) < 0) {
		/* The counter is full: a wake-up is pending anyway. */
	}
}

/* Wakes the executor for what was pushed with the wake deferred. The caller holds mu;
 * 1 when the resident pipeline must be woken (pe_exec_wake, after unlocking). */
static int fifo_wake_locked(struct pe *pe)
{
	int wake;

	HIO_ASSERT_HELD(&pe->mu);
	pe->fifo_wake_pending = 0;
	pthread_cond_broadcast(&pe->cv_fifo);
	/* The resident pipeline waits in poll(2), not on cv_fifo. */
	wake = pe->exec_waiting;
	pe->exec_waiting = 0;
	return wake;
}

int pe_fifo_push(struct pe *pe, struct pe_item *it, int defer_wake)
{
	int wake = 0;

	pthread_mutex_lock(&pe->mu);
	while (!pe->stopping && !fifo_admits(pe, it)) {
		/* The executor must hear of what is queued before we wait for it. */
		if (pe->fifo_wake_pending && fifo_wake_locked(pe)) {
			pthread_mutex_unlock(&pe->mu);
			pe_exec_wake(pe);
			pthread_mutex_lock(&pe->mu);
			continue;
		}
		pe->fifo_waiters++;
		pthread_cond_wait(&pe->cv_fifo, &pe->mu);
		pe->fifo_waiters--;
	}
	if (pe->stopping) {
		pthread_mutex_unlock(&pe->mu);
		return -1;
	}
	it->next = NULL;
	if (pe->ftail)
		pe->ftail->next = it;
	else
		pe->fhead = it;
	pe->ftail = it;
	/* The heartbeat only cares when the PE turns busy. */
	if (pe->fn == 0 && !pe->running)
		pe_kick_heartbeat_locked(pe);
	pe->fn++;
	pe->fbytes += it->len;
	pe_metrics_received(it->len, it->sess != NULL);
	if (defer_wake)
		pe->fifo_wake_pending = 1;
	else
		wake = fifo_wake_locked(pe);
	pthread_mutex_unlock(&pe->mu);
	if (wake)
		pe_exec_wake(pe);
	return 0;
}

void pe_fifo_wake(struct pe *pe)
{
	int wake = 0;

	pthread_mutex_lock(&pe->mu);
	if (pe->fifo_wake_pending)
		wake = fifo_wake_locked(pe);
	pthread_mutex_unlock(&pe->mu);
	if (wake)
		pe_exec_wake(pe);
}

static struct pe_item *fifo_pop_locked(struct pe *pe)
{
	struct pe_item *it = pe->fhead;

	HIO_ASSERT_HELD(&pe->mu);
	if (!it)
		return NULL;
	pe->fhead = it->next;
	if (!pe->fhead)
		pe->ftail = NULL;
	pe->fn--;
	pe->fbytes -= it->len;
	it->next = NULL;
	return it;
}

/* ---- the executor ---- */

static void run_handler(struct pe *pe, struct pe_entry *e)
{
	struct pe_item *it = e->it;
	struct hio_pe_msg msg = {.id = it->id,
				 .name = it->name,
				 .pipeline = pe->pipeline,
				 .ts = it->ts,
				 .data = it->mem,
				 .len = (size_t)it->len,
				 .path = it->path};
	void *map = NULL;
	uint64_t t0 = hio_mono_ms(), t_us = hio_hist_start();
	int rc, fd;

	if (!msg.data && it->len == 0)
		msg.data = "";
	/* The exec handler only needs the path; an in-process one gets the bytes mapped. */
	if (it->path && pe->handler != hio_pe_exec_handler && it->len > 0) {
		map = MAP_FAILED;
		fd = open(it->path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			map = mmap(NULL, (size_t)it->len, PROT_READ, MAP_PRIVATE, fd, 0);
			close(fd);
		}
		if (map == MAP_FAILED) {
			hio_pe_out_fail(&e->out, "cannot map the received message %s: %s", it->path,
					strerror(errno));
			return;
		}
		msg.data = map;
	}
	pe_metrics_busy(1);
	e->out.start_us = hio_now_us();
	rc = pe->handler(pe->handler_ud, &msg, &e->out);
	e->out.duration_ms = hio_mono_ms() - t0;
	pe_metrics_busy(0);
	if (!e->out.exit_set)
		e->out.exit_status = rc != 0 || e->out.failed;
	pe_metrics_processed(t_us);
	if (rc != 0 && !e->out.failed)
		hio_pe_out_fail(&e->out, "handler failed (returned %d)", rc);
	if (map)
		munmap(map, (size_t)it->len);
	hio_debug("message %s (%s): %s in %" PRIu64 " ms", it->id, it->name,
		  e->out.failed ? "failed" : "done", hio_mono_ms() - t0);
}

struct pe_item *pe_fifo_take(struct pe *pe, int wait)
{
	struct pe_item *it;

	pthread_mutex_lock(&pe->mu);
	while (wait && !pe->fhead && !pe->stopping)
		pthread_cond_wait(&pe->cv_fifo, &pe->mu);
	it = pe->stopping ? NULL : fifo_pop_locked(pe);
	if (it) {
		if (!pe->running)
			pe_kick_heartbeat_locked(pe);
		pe->running = 1;
		/* Room in the FIFO for a reader blocked on it (only then: a broadcast per
		 * message woke every waiter on cv_fifo for nothing). */
		if (pe->fifo_waiters)
			pthread_cond_broadcast(&pe->cv_fifo);
	}
	pthread_mutex_unlock(&pe->mu);
	return it;
}

static void set_running_locked(struct pe *pe, int on)
{
	HIO_ASSERT_HELD(&pe->mu);
	if (pe->running != on) {
		pe->running = on;
		/* The puller waits for an idle PE, the heartbeat reports it, and the
		 * uploader stops waiting for more results. */
		if (!on) {
			pthread_cond_broadcast(&pe->cv_idle);
			pthread_cond_broadcast(&pe->cv_up);
		}
		pe_kick_heartbeat_locked(pe);
	}
}

void pe_set_running(struct pe *pe, int on)
{
	pthread_mutex_lock(&pe->mu);
	set_running_locked(pe, on);
	pthread_mutex_unlock(&pe->mu);
}

/* The executor finished a message: idle unless another one waits. Going idle and busy
 * again between two queued messages woke the heartbeat, the puller and the uploader
 * twice a message (8 futex calls a message at 1 KB through the C API). */
static void executor_finished(struct pe *pe)
{
	pthread_mutex_lock(&pe->mu);
	if (!pe->fhead)
		set_running_locked(pe, 0);
	pthread_mutex_unlock(&pe->mu);
}

struct pe_entry *pe_entry_new(struct pe *pe, struct pe_item *it, int *dup)
{
	struct pe_entry *e = calloc(1, sizeof(*e));
	int failed = 0;

	*dup = 0;
	if (!e) {
		hio_err("out of memory for message %s; dropping it unacknowledged", it->id);
		if (it->sess)
			pe_session_unref(pe, it->sess);
		pe_item_free(it);
		return NULL;
	}
	e->it = it;
	pe_out_init(&e->out, pe->scratch);
	e->out.foreign_input = it->linked;
	if (pe_lru_find(pe, it->id, &failed)) {
		/* Stored already: an empty entry lets the master answer "duplicate". */
		hio_info("message %s (%s) was already processed; not running it again", it->id,
			 it->name);
		if (failed)
			hio_pe_out_fail(&e->out, "failed earlier");
		*dup = 1;
	}
	return e;
}

int pe_exec_check(struct pe *pe, struct pe_entry *e)
{
	struct pe_item *it = e->it;

	/* Killed along with the PE (its runtime signals the whole group): the message did
	 * not fail, the PE went away; unacknowledged, it is sent again elsewhere. Past the
	 * grace the signal was the command's own business. */
	if (e->out.failed && e->out.stop_signal && pe_sleep(pe, PE_STOP_GRACE_MS)) {
		hio_info("stopping: message %s (%s) left unacknowledged: its command got signal "
			 "%d as the PE stopped",
			 it->id, it->name, e->out.stop_signal);
		pe_entry_free(pe, e);
		return -1;
	}
	if (!e->out.failed && e->out.bytes > pe->max_output) {
		/* Nothing of it is stored: a partial result would pass for a whole one. */
		hio_pe_out_fail(&e->out,
				"the output of %" PRIu64 " bytes is over the limit of %" PRIu64
				" bytes per message (hio-pe --max-output); nothing of it was "
				"stored",
				e->out.bytes, pe->max_output);
		hio_warn("message %s (%s) failed: its output of %" PRIu64
			 " bytes is over the limit of %" PRIu64 " bytes",
			 it->id, it->name, e->out.bytes, pe->max_output);
	}
	if (e->out.failed)
		pe_out_drop_files(&e->out);
	e->bytes = e->out.bytes + (e->out.error ? strlen(e->out.error) : 0);
	return 0;
}

static void *executor_main(void *arg)
{
	struct pe *pe = arg;

	/* The resident handler is pipelined: requests written ahead while the command works
	 * (pe_pipe.c). Any other handler runs one message at a time. */
	if (pe->handler == hio_pe_serve_handler)
		pe_serve_pipeline(pe, pe->handler_ud);
	for (;;) {
		struct pe_item *it = pe_fifo_take(pe, 1);
		struct pe_entry *e;
		int dup;

		if (!it)
			break;
		e = pe_entry_new(pe, it, &dup);
		if (!e) {
			pe_set_running(pe, 0);
			continue;
		}
		if (!dup)
			run_handler(pe, e);
		if (pe_exec_check(pe, e) < 0) {
			pe_set_running(pe, 0);
			continue;
		}
		pe_entry_pend(pe, e);
		executor_finished(pe);
	}
	/* Stopping: what is still queued was never acknowledged, so the connector resends
	 * it and the master requeues backlog leases when we say we are gone. */
	for (;;) {
		struct pe_item *it;

		pthread_mutex_lock(&pe->mu);
		it = fifo_pop_locked(pe);
		if (!it) {
			pe->exec_done = 1;
			pthread_cond_broadcast(&pe->cv_up);
			pthread_mutex_unlock(&pe->mu);
			break;
		}
		pthread_mutex_unlock(&pe->mu);
		hio_info("stopping: message %s (%s) left unprocessed", it->id, it->name);
		if (it->sess)
			pe_session_unref(pe, it->sess);
		pe_item_free(it);
	}
	return NULL;
}

/* ---- start and stop ---- */

static int opts_take(struct pe *pe, const struct hio_pe_opts *o)
{
	const char *lh = o->listen_host ? o->listen_host : "127.0.0.1";
	const char *ah = o->advertise_host ? o->advertise_host : lh;
	const char *pl = o->pipeline ? o->pipeline : "default";

	if (!o->master || !*o->master) {
		hio_err("no master URL given; not starting");
		return -1;
	}
	if (!o->token || !*o->token || strlen(o->token) > HIO_TOKEN_MAX) {
		hio_err("no usable cluster token given; not starting");
		return -1;
	}
	if (!hio_pipeline_valid(pl)) {
		hio_err("pipeline name \"%s\" is not valid ([A-Za-z0-9._-], at most %d); "
			"not starting",
			pl, HIO_PIPELINE_MAX);
		return -1;
	}
	if (o->pe_id && !hio_id_valid(o->pe_id)) {
		hio_err("PE id \"%s\" is not valid (32 lowercase hex chars); not starting",
			o->pe_id);
		return -1;
	}
	if (o->worker_id && !hio_id_valid(o->worker_id)) {
		hio_err("worker id \"%s\" is not valid (32 lowercase hex chars); not starting",
			o->worker_id);
		return -1;
	}
	if (!!o->exec == !!o->handler) {
		hio_err("give exactly one of an exec command and a handler; not starting");
		return -1;
	}
	if (o->pe_id)
		snprintf(pe->id, sizeof(pe->id), "%s", o->pe_id);
	else
		hio_id_new(pe->id);
	snprintf(pe->pipeline, sizeof(pe->pipeline), "%s", pl);
	snprintf(pe->token, sizeof(pe->token), "%s", o->token);
	/* Senders come with the master's ticket to this PE, derived from the PE's own
	 * credential; given the cluster token instead (a PE run by hand), derive that
	 * credential from it, and take the token itself too. */
	{
		char cred[HIO_TOKEN_MAX + 1];

		if (strncmp(pe->token, "hio-pe.", 7) == 0)
			snprintf(cred, sizeof(cred), "%s", pe->token);
		else if (hio_cred_pe(pe->token, pe->id, cred) < 0)
			cred[0] = '\0';
		if (cred[0])
			hio_cred_p2p(cred, pe->p2p_ticket);
	}
	/* A wildcard address is no use to a connector. */
	if (!strcmp(ah, "0.0.0.0") || !strcmp(ah, "::") || !*ah) {
		hio_warn("listening on %s without an advertise host; advertising 127.0.0.1", lh);
		ah = "127.0.0.1";
	}
	pe->master = strdup(o->master);
	pe->listen_host = strdup(lh);
	pe->adv_host = strdup(ah);
	pe->worker = o->worker_id ? strdup(o->worker_id) : NULL;
	pe->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PE_TIMEOUT_MS_DEFAULT;
	pe->max_output = o->max_output > 0 ? o->max_output : PE_OUTPUT_MAX_DEFAULT;
	pe->heartbeat_ms = o->heartbeat_ms > 0 ? o->heartbeat_ms : 1000;
	pe->version = o->pipeline_version > 0 ? o->pipeline_version : 0;
	if (o->exec) {
		pe->exec.command = strdup(o->exec);
		pe->exec.timeout_ms = pe->timeout_ms;
		pe->handler = hio_pe_exec_handler;
		pe->handler_ud = &pe->exec;
	} else {
		pe->handler = o->handler;
		pe->handler_ud = o->handler_ud;
	}
	if (!pe->master || !pe->listen_host || !pe->adv_host || (o->worker_id && !pe->worker) ||
	    (o->exec && !pe->exec.command)) {
		hio_err("out of memory; not starting");
		return -1;
	}
	return 0;
}

static void pe_free(struct pe *pe)
{
	pe_scratch_free(pe->scratch);
	if (pe->workdir && hio_rm_rf(pe->workdir) < 0)
		hio_warn("cannot remove workdir %s: %s; leaving it", pe->workdir, strerror(errno));
	free(pe->workdir);
	free(pe->home);
	free(pe->master);
	free(pe->worker);
	free(pe->listen_host);
	free(pe->adv_host);
	free((char *)pe->exec.command);
	if (pe->lfd >= 0)
		close(pe->lfd);
	for (int i = 0; i < 2; i++)
		if (pe->wake[i] >= 0)
			close(pe->wake[i]);
	if (pe->exec_evfd >= 0)
		close(pe->exec_evfd);
	free(pe);
}

int hio_pe_set_signal_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	/* Peers that vanish must cost an EPIPE, not the process. */
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	return 0;
}

int hio_pe_run(const struct hio_pe_opts *opts)
{
	pthread_t t_exec, t_up, t_hb, t_pull;
	int ok_exec = 0, ok_up = 0, ok_hb = 0, ok_pull = 0, rc = 1;
	char err[256];
	struct pe *pe;

	pe = calloc(1, sizeof(*pe));
	if (!pe) {
		hio_err("out of memory; not starting");
		return 1;
	}
	pe->lfd = -1;
	pe->ufd = -1;
	pe->wake[0] = pe->wake[1] = -1;
	pe->exec_evfd = -1;
	if (opts_take(pe, opts) < 0)
		goto out;
	pe_metrics_init();
	if (hio_http_global_init() < 0) {
		hio_err("cannot initialise libcurl; not starting");
		goto out;
	}
	pe->workdir = pe_workdir_make(opts->workdir, opts->run_as);
	if (!pe->workdir || (opts->run_as && pe_runas_setup(pe, opts->run_as) < 0))
		goto out;
	pe->scratch = pe_scratch_new(pe->workdir);
	if (!pe->scratch) {
		hio_err("out of memory; not starting");
		goto out;
	}
	pe->lfd = hio_net_listen(pe->listen_host, opts->listen_port, &pe->port, err, sizeof(err));
	if (pe->lfd < 0) {
		hio_err("%s; not starting", err);
		goto out;
	}
	/* A connection reset between poll and accept must not block the accept loop. */
	fcntl(pe->lfd, F_SETFL, O_NONBLOCK);
	/* Bound before the registration makes the id known (hio_net.h). Without it senders
	 * on this host use TCP like everyone else. */
	if (!opts->no_local) {
		pe->ufd = hio_net_listen_local(pe->id, err, sizeof(err));
		if (pe->ufd < 0)
			hio_warn("%s; senders on this host will use TCP", err);
		else
			fcntl(pe->ufd, F_SETFL, O_NONBLOCK);
	}
	if (pipe2(pe->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		hio_err("cannot make a wake-up pipe: %s; not starting", strerror(errno));
		goto out;
	}
	/* Made before any thread, so pe_exec_wake reads a fixed descriptor. */
	if (pe->handler == hio_pe_serve_handler &&
	    (pe->exec_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		hio_err("cannot make an eventfd: %s; not starting", strerror(errno));
		goto out;
	}
	pthread_mutex_init(&pe->mu, NULL);
	if (hio_cond_init(&pe->cv_fifo) || hio_cond_init(&pe->cv_idle) ||
	    hio_cond_init(&pe->cv_up) || hio_cond_init(&pe->cv_hb)) {
		hio_err("cannot make condition variables; not starting");
		goto out;
	}
	g_wake_fd = pe->wake[1];
	if (g_stop)
		hio_pe_stop();

	ok_exec = pthread_create(&t_exec, NULL, executor_main, pe) == 0;
	ok_up = ok_exec && pthread_create(&t_up, NULL, pe_uploader_main, pe) == 0;
	ok_hb = ok_up && pthread_create(&t_hb, NULL, pe_heartbeat_main, pe) == 0;
	ok_pull = ok_hb && pthread_create(&t_pull, NULL, pe_puller_main, pe) == 0;
	if (!ok_pull) {
		hio_err("cannot start PE threads; stopping");
	} else {
		hio_info("PE %s serving pipeline %s on %s:%d (advertised %s:%d), workdir %s",
			 pe->id, pe->pipeline, pe->listen_host, pe->port, pe->adv_host, pe->port,
			 pe->workdir);
		pe_accept_loop(pe);
		rc = 0;
	}

	hio_info("PE %s stopping: finishing the current message", pe->id);
	pthread_mutex_lock(&pe->mu);
	pe->stopping = 1;
	pe->stop_ms = hio_mono_ms();
	pthread_cond_broadcast(&pe->cv_fifo);
	pthread_cond_broadcast(&pe->cv_idle);
	pthread_cond_broadcast(&pe->cv_up);
	pthread_cond_broadcast(&pe->cv_hb);
	pthread_mutex_unlock(&pe->mu);
	pe_exec_wake(pe);
	close(pe->lfd);
	pe->lfd = -1;
	if (pe->ufd >= 0)
		close(pe->ufd);
	pe->ufd = -1;
	pe_recv_stop(pe);
	if (ok_exec)
		pthread_join(t_exec, NULL);
	if (ok_up)
		pthread_join(t_up, NULL);
	/* No heartbeat may follow "gone": a 404 would make us register again. */
	if (ok_hb)
		pthread_join(t_hb, NULL);
	/* After the last upload, so the master requeues only what we did not finish; it
	 * also ends the puller's long poll at once (404), which makes stopping quick. */
	if (ok_up)
		pe_say_gone(pe);
	if (ok_pull)
		pthread_join(t_pull, NULL);
	hio_info("PE %s stopped: %" PRIu64 " done, %" PRIu64 " failed", pe->id, pe->n_done,
		 pe->n_failed);
	g_wake_fd = -1;
	g_stop = 0;
	pthread_mutex_destroy(&pe->mu);
	pthread_cond_destroy(&pe->cv_fifo);
	pthread_cond_destroy(&pe->cv_idle);
	pthread_cond_destroy(&pe->cv_up);
	pthread_cond_destroy(&pe->cv_hb);
out:
	pe_free(pe);
	return rc;
}
