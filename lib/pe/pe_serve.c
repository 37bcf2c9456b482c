/* The resident handler: one `/bin/sh -c COMMAND` per PE, started at the first message,
 * given one message after another over its stdin and stdout in the resident protocol
 * (docs/protocol.md "Resident protocol"). The PE sends the next request only after the
 * reply to the last: the executor hands a handler one message at a time, so a hello's
 * max_inflight above 1 is accepted but not used. */
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_util.h"
#include "pe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVE_VERSION 1
#define SERVE_LINE_MAX (64u << 10)    /* one header line, its '\n' included */
#define SERVE_STDOUT_MAX (1ull << 30) /* a reply's stdout bytes */
#define SERVE_INFLIGHT_MAX 1024	      /* a hello's max_inflight */
#define SERVE_START_MS (120L * 1000)  /* from the start to the hello */
#define SERVE_KILL_GRACE 2000	      /* ms between SIGTERM and SIGKILL on timeout */
#define SERVE_CLOSE_MS 2000	      /* for the command to go after EOF on its stdin */

enum { IO_OK = 0, IO_EOF = -1, IO_TIMEOUT = -2, IO_PROTO = -3 };

struct hio_pe_serve_state {
	pid_t pid; /* 0: not running */
	int pidfd;
	int to, from, err; /* its stdin (ours to write), stdout, stderr; -1: closed */
	long inflight;	   /* from its hello */
	char rb[SERVE_LINE_MAX];
	size_t roff, rlen;   /* unread bytes of its stdout in rb */
	struct pe_tail tail; /* its stderr since the current message started */
	char why[256];	     /* the last I/O failure */
};

/* Copies what the command wrote to stderr to ours (its log lines belong in the PE's
 * log) and keeps the tail for the message's error file. */
static void drain_err(struct hio_pe_serve_state *st)
{
	char b[4096];
	ssize_t r;

	while (st->err >= 0 && (r = read(st->err, b, sizeof(b))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				break;
			return;
		}
		pe_tail_add(&st->tail, b, (size_t)r);
		/* Counted toward the log's rotation: a chatty command must not grow it past
		 * HIO_LOG_MAX. Our own stderr may be gone: the tail still reaches the error
		 * file. */
		hio_log_raw(b, (size_t)r);
	}
	close(st->err);
	st->err = -1;
}

/* Waits until fd is ready for events (draining stderr meanwhile). 1 ready, 0 at the
 * deadline. */
static int wait_fd(struct hio_pe_serve_state *st, int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = events},
				      {.fd = st->err, .events = POLLIN}};
		uint64_t now = hio_mono_ms();
		int n;

		if (now >= deadline)
			return 0;
		n = poll(p, st->err >= 0 ? 2 : 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			return 1; /* the read or write that follows says what is wrong */
		if (n > 0 && p[1].revents)
			drain_err(st);
		if (n > 0 && p[0].revents)
			return 1;
	}
}

/* Reads more of its stdout into rb. IO_OK, IO_EOF or IO_TIMEOUT. */
static int rb_more(struct hio_pe_serve_state *st, uint64_t deadline)
{
	ssize_t r;

	if (st->roff) {
		memmove(st->rb, st->rb + st->roff, st->rlen);
		st->roff = 0;
	}
	for (;;) {
		r = read(st->from, st->rb + st->rlen, sizeof(st->rb) - st->rlen);
		if (r > 0) {
			st->rlen += (size_t)r;
			return IO_OK;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			snprintf(st->why, sizeof(st->why), "its stdout %s",
				 r == 0 ? "closed" : strerror(errno));
			return IO_EOF;
		}
		if (errno == EAGAIN && !wait_fd(st, st->from, POLLIN, deadline))
			return IO_TIMEOUT;
	}
}

/* Reads one header line and parses it as a JSON object (*out, the caller's). */
static int read_header(struct hio_pe_serve_state *st, uint64_t deadline, json_t **out)
{
	json_error_t je;
	char *nl;
	int rc;

	*out = NULL;
	while (!(nl = memchr(st->rb + st->roff, '\n', st->rlen))) {
		if (st->rlen == sizeof(st->rb)) {
			snprintf(st->why, sizeof(st->why), "a header line longer than %u bytes",
				 SERVE_LINE_MAX);
			return IO_PROTO;
		}
		rc = rb_more(st, deadline);
		if (rc != IO_OK)
			return rc;
	}
	{
		size_t n = (size_t)(nl - (st->rb + st->roff));

		*out = json_loadb(st->rb + st->roff, n, 0, &je);
		st->roff += n + 1;
		st->rlen -= n + 1;
	}
	if (!json_is_object(*out)) {
		snprintf(st->why, sizeof(st->why), "a header line that is not a JSON object: %s",
			 *out ? "another JSON value" : je.text);
		json_decref(*out);
		*out = NULL;
		return IO_PROTO;
	}
	return IO_OK;
}

/* Reads n payload bytes into buf, or into fd when buf is NULL. */
static int read_payload(struct hio_pe_serve_state *st, uint64_t n, char *buf, int fd,
			uint64_t deadline)
{
	while (n > 0) {
		size_t k;
		int rc;

		if (!st->rlen && (rc = rb_more(st, deadline)) != IO_OK)
			return rc;
		k = st->rlen < n ? st->rlen : (size_t)n;
		if (buf) {
			memcpy(buf, st->rb + st->roff, k);
			buf += k;
		} else if (hio_write_all(fd, st->rb + st->roff, k) < 0) {
			snprintf(st->why, sizeof(st->why), "cannot write its stdout: %s",
				 strerror(errno));
			return IO_PROTO;
		}
		st->roff += k;
		st->rlen -= k;
		n -= k;
	}
	return IO_OK;
}

static int write_to(struct hio_pe_serve_state *st, const void *p, size_t n, uint64_t deadline)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(st->to, c, n);

		if (w > 0) {
			c += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			if (!wait_fd(st, st->to, POLLOUT, deadline))
				return IO_TIMEOUT;
		} else if (w < 0 && errno != EINTR) {
			snprintf(st->why, sizeof(st->why), "its stdin %s",
				 errno == EPIPE ? "closed" : strerror(errno));
			return IO_EOF;
		}
	}
	return IO_OK;
}

static void describe(int status, char *out, size_t n)
{
	if (WIFEXITED(status))
		snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, n, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, n, "ended with wait status %d", status);
}

/* Waits up to ms for the command to exit. 1 when it did. */
static int exited_within(struct hio_pe_serve_state *st, long ms)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)ms;

	for (;;) {
		siginfo_t si = {0};
		uint64_t now = hio_mono_ms();
		struct pollfd p = {.fd = st->pidfd, .events = POLLIN};

		if (waitid(P_PID, (id_t)st->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid)
			return 1;
		if (now >= deadline)
			return 0;
		if (st->pidfd < 0) /* no pidfd (old kernel): a short tick */
			p.fd = -1;
		poll(&p, 1, st->pidfd < 0 ? 20 : (int)(deadline - now));
	}
}

/* Ends the command and whatever it left in its group (SIGTERM first when grace_ms),
 * reaps it, closes our ends. The command's wait status. */
static int serve_kill(struct hio_pe_serve_state *st, long grace_ms)
{
	int status = 0;

	if (!st->pid)
		return 0;
	if (grace_ms > 0 && !exited_within(st, 0)) {
		kill(-st->pid, SIGTERM);
		exited_within(st, grace_ms);
	}
	/* The zombie (WNOWAIT above) kept the group id ours until now. */
	kill(-st->pid, SIGKILL);
	while (waitpid(st->pid, &status, 0) < 0 && errno == EINTR)
		;
	drain_err(st);
	{
		int *fds[] = {&st->pidfd, &st->to, &st->from, &st->err};

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (*fds[i] >= 0) {
				close(*fds[i]);
				*fds[i] = -1;
			}
	}
	st->pid = 0;
	st->roff = st->rlen = 0;
	return status;
}

static int check_hello(struct hio_pe_serve_state *st, json_t *h)
{
	json_t *v = json_object_get(h, "version"), *mi = json_object_get(h, "max_inflight");

	if (!json_is_string(json_object_get(h, "hio")) ||
	    strcmp(json_string_value(json_object_get(h, "hio")), "serve") != 0) {
		snprintf(st->why, sizeof(st->why),
			 "its first line is not a hello {\"hio\":\"serve\"}");
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) != SERVE_VERSION) {
		snprintf(st->why, sizeof(st->why),
			 "it speaks resident protocol version %lld, this PE version %d",
			 json_is_integer(v) ? (long long)json_integer_value(v) : -1LL,
			 SERVE_VERSION);
		return -1;
	}
	if (!json_is_integer(mi) || json_integer_value(mi) < 1 ||
	    json_integer_value(mi) > SERVE_INFLIGHT_MAX) {
		snprintf(st->why, sizeof(st->why), "its hello's max_inflight is not 1..%d",
			 SERVE_INFLIGHT_MAX);
		return -1;
	}
	st->inflight = (long)json_integer_value(mi);
	return 0;
}

/* Starts the command and waits for its hello. 0, or -1 with st->why (nothing left
 * running). */
static int serve_start(struct hio_pe_serve *s, struct hio_pe_serve_state *st)
{
	char sh[] = "sh", dash_c[] = "-c";
	char *argv[] = {sh, dash_c, (char *)s->command, NULL};
	const char *kv[1] = {"HIO_SERVE=1"};
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, fa_ok = 0, at_ok = 0, rc;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char **env = pe_exec_env(kv, 1);
	json_t *hello = NULL;
	pid_t pid;
	int ret = -1;

	if (!env || pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(st->why, sizeof(st->why), "cannot make its pipes: %s",
			 env ? strerror(errno) : "out of memory");
		goto out;
	}
	if (pe_spawn_setup(&fa, &fa_ok, &at, &at_ok, in[0], outp[1], errp[1]) < 0) {
		snprintf(st->why, sizeof(st->why), "cannot set up posix_spawn");
		goto out;
	}
	rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
	if (rc != 0) {
		snprintf(st->why, sizeof(st->why), "cannot run /bin/sh: %s", strerror(rc));
		goto out;
	}
	st->pid = pid;
	st->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	st->to = in[1];
	st->from = outp[0];
	st->err = errp[0];
	in[1] = outp[0] = errp[0] = -1;
	fcntl(st->to, F_SETFL, O_NONBLOCK);
	fcntl(st->from, F_SETFL, O_NONBLOCK);
	fcntl(st->err, F_SETFL, O_NONBLOCK);
	rc = read_header(st, hio_mono_ms() + SERVE_START_MS, &hello);
	if (rc == IO_TIMEOUT)
		snprintf(st->why, sizeof(st->why), "no hello within %ld ms", SERVE_START_MS);
	if (rc != IO_OK || check_hello(st, hello) < 0) {
		char how[64];

		describe(serve_kill(st, 0), how, sizeof(how));
		snprintf(st->why + strlen(st->why), sizeof(st->why) - strlen(st->why), "; it %s",
			 how);
		goto out;
	}
	hio_info("resident command started (pid %d, protocol %d, max_inflight %ld): %s", (int)pid,
		 SERVE_VERSION, st->inflight, s->command);
	ret = 0;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	json_decref(hello);
	free(env);
	return ret;
}

/* Between messages the command should be quietly waiting: one that exited (or wrote
 * out of turn) is reaped (or killed) here, before it is given a message. */
static void check_idle(struct hio_pe_serve_state *st)
{
	struct pollfd p = {.fd = st->from, .events = POLLIN};
	siginfo_t si = {0};
	char how[64];

	drain_err(st);
	if (waitid(P_PID, (id_t)st->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
		describe(serve_kill(st, 0), how, sizeof(how));
		hio_warn("resident command %s between messages; starting it again", how);
	} else if (st->rlen || (poll(&p, 1, 0) > 0 && p.revents)) {
		describe(serve_kill(st, 0), how, sizeof(how));
		hio_warn("resident command wrote out of turn (or closed its stdout) between "
			 "messages; it was killed (it %s) and starts again",
			 how);
	}
}

static int send_request(struct hio_pe_serve_state *st, const struct hio_pe_msg *msg, const char *in,
			const char *outdir, uint64_t deadline)
{
	int inl = msg->path == NULL;
	json_t *h = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:b,s:I}", "id", msg->id, "name", msg->name,
			      "pipeline", msg->pipeline ? msg->pipeline : "default", "ts",
			      (json_int_t)msg->ts, "path", in, "output", outdir, "inline", inl,
			      "len", (json_int_t)msg->len);
	char *line = h ? json_dumps(h, JSON_COMPACT) : NULL;
	size_t n = line ? strlen(line) : 0;
	int rc;

	json_decref(h);
	if (!line || n + 1 > SERVE_LINE_MAX) {
		snprintf(st->why, sizeof(st->why), "%s",
			 line ? "the request header is too long" : "out of memory");
		free(line);
		return IO_PROTO;
	}
	line[n] = '\n'; /* over the NUL: the line is written by length */
	rc = write_to(st, line, n + 1, deadline);
	free(line);
	if (rc == IO_OK && inl && msg->len)
		rc = write_to(st, msg->data, msg->len, deadline);
	return rc;
}

/* The reply: its stdout bytes go to so, its error text to *errtext. 1 done, 0 failed,
 * or an IO_ code. */
static int read_reply(struct hio_pe_serve_state *st, const struct hio_pe_msg *msg, const char *so,
		      char **errtext, uint64_t deadline)
{
	json_t *h = NULL, *jo, *je;
	const char *status, *id;
	uint64_t nout, nerr;
	int rc, fd = -1, done;

	*errtext = NULL;
	rc = read_header(st, deadline, &h);
	if (rc != IO_OK)
		return rc;
	id = json_string_value(json_object_get(h, "id"));
	status = json_string_value(json_object_get(h, "status"));
	jo = json_object_get(h, "stdout");
	je = json_object_get(h, "error");
	rc = IO_PROTO;
	if (!id || strcmp(id, msg->id) != 0) {
		snprintf(st->why, sizeof(st->why), "a reply for id %.40s, not %s",
			 id ? id : "(none)", msg->id);
		goto out;
	}
	if (!status || (strcmp(status, "done") != 0 && strcmp(status, "failed") != 0)) {
		snprintf(st->why, sizeof(st->why), "a reply whose status is not done or failed");
		goto out;
	}
	done = strcmp(status, "done") == 0;
	if ((jo && (!json_is_integer(jo) || json_integer_value(jo) < 0 ||
		    (uint64_t)json_integer_value(jo) > SERVE_STDOUT_MAX)) ||
	    (je && (!json_is_integer(je) || json_integer_value(je) < 0 ||
		    (uint64_t)json_integer_value(je) > PE_ERROR_MAX))) {
		snprintf(st->why, sizeof(st->why),
			 "a reply whose stdout or error length is not 0..%llu or 0..%u",
			 (unsigned long long)SERVE_STDOUT_MAX, PE_ERROR_MAX);
		goto out;
	}
	nout = jo ? (uint64_t)json_integer_value(jo) : 0;
	nerr = je ? (uint64_t)json_integer_value(je) : 0;
	if (nout) {
		fd = open(so, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(st->why, sizeof(st->why), "cannot open %s: %s", so,
				 strerror(errno));
			goto out;
		}
		rc = read_payload(st, nout, NULL, fd, deadline);
		if (rc != IO_OK)
			goto out;
	}
	*errtext = calloc(1, (size_t)nerr + 1);
	if (!*errtext) {
		snprintf(st->why, sizeof(st->why), "out of memory");
		rc = IO_PROTO;
		goto out;
	}
	rc = read_payload(st, nerr, *errtext, -1, deadline);
	if (rc == IO_OK)
		rc = done;
out:
	if (fd >= 0)
		close(fd);
	json_decref(h);
	return rc;
}

static struct hio_pe_serve_state *state_get(struct hio_pe_serve *s)
{
	if (!s->st) {
		s->st = calloc(1, sizeof(*s->st));
		if (!s->st)
			return NULL;
		s->st->pidfd = s->st->to = s->st->from = s->st->err = -1;
	}
	return s->st;
}

int hio_pe_serve_handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out)
{
	struct hio_pe_serve *s = ud;
	struct hio_pe_serve_state *st = state_get(s);
	long timeout = s->timeout_ms > 0 ? s->timeout_ms : PE_TIMEOUT_MS_DEFAULT;
	char in[PATH_MAX], outdir[PATH_MAX], so[PATH_MAX], what[400], how[64];
	char *errtext = NULL;
	const char *dir;
	uint64_t deadline;
	int rc;

	if (!st) {
		hio_pe_out_fail(out, "out of memory for the resident handler");
		return 1;
	}
	dir = hio_pe_out_dir(out);
	if (!dir) {
		hio_pe_out_fail(out, "cannot make a scratch dir: %s", strerror(errno));
		return 1;
	}
	snprintf(outdir, sizeof(outdir), "%s/output", dir);
	snprintf(so, sizeof(so), "%s/stdout", dir);
	/* A body in memory goes inline; one received to disk is linked into place. */
	if (pe_exec_input(msg, dir, in, sizeof(in), msg->path != NULL) < 0) {
		hio_pe_out_fail(out, "cannot place the input in %s: %s", dir, strerror(errno));
		return 1;
	}
	if (mkdir(outdir, 0700) < 0 && errno != EEXIST) {
		hio_pe_out_fail(out, "cannot make HIO_OUTPUT %s: %s", outdir, strerror(errno));
		return 1;
	}
	if (st->pid)
		check_idle(st);
	memset(&st->tail, 0, sizeof(st->tail));
	if (!st->pid && serve_start(s, st) < 0) {
		snprintf(what, sizeof(what), "the resident command did not start: %s", st->why);
		hio_warn("message %s (%s): %s; it is tried again at the next message", msg->id,
			 msg->name, what);
		pe_fail_tail(out, what, &st->tail);
		return 1;
	}
	/* The start-up above is not the message's time. */
	memset(&st->tail, 0, sizeof(st->tail));
	deadline = hio_mono_ms() + (uint64_t)timeout;
	rc = send_request(st, msg, in, outdir, deadline);
	if (rc == IO_OK)
		rc = read_reply(st, msg, so, &errtext, deadline);
	if (rc == 1) {
		pe_out_collect(out, outdir, so, in);
		rc = out->failed;
	} else if (rc == 0) {
		hio_pe_out_fail(out, "%s",
				errtext && *errtext ? errtext : "failed (no reason given)");
		rc = 1;
	} else {
		if (rc == IO_TIMEOUT) {
			describe(serve_kill(st, SERVE_KILL_GRACE), how, sizeof(how));
			snprintf(what, sizeof(what),
				 "timed out after %ld ms; the resident command was killed (it %s) "
				 "and starts again",
				 timeout, how);
		} else if (rc == IO_PROTO) {
			describe(serve_kill(st, 0), how, sizeof(how));
			snprintf(what, sizeof(what),
				 "resident protocol error: %s; the command was killed (it %s) and "
				 "starts again",
				 st->why, how);
		} else {
			int status = serve_kill(st, 0);

			describe(status, how, sizeof(how));
			snprintf(what, sizeof(what),
				 "the resident command %s while it held this message (%s); it "
				 "starts again",
				 how, st->why);
			if (WIFSIGNALED(status) && pe_is_stop_signal(WTERMSIG(status)))
				out->stop_signal = WTERMSIG(status);
		}
		hio_info("message %s (%s): %s", msg->id, msg->name, what);
		pe_fail_tail(out, what, &st->tail);
		rc = 1;
	}
	free(errtext);
	/* Orphans the resident left (setsid children of a handler) end with the message;
	 * the resident itself, our one legitimate child, stays. */
	pe_kill_orphans(st->pid);
	return rc;
}

void hio_pe_serve_close(struct hio_pe_serve *s)
{
	struct hio_pe_serve_state *st = s->st;

	if (!st)
		return;
	if (st->pid) {
		close(st->to);
		st->to = -1;
		if (!exited_within(st, SERVE_CLOSE_MS))
			hio_warn("resident command did not exit within %d ms of EOF on its stdin; "
				 "killing it",
				 SERVE_CLOSE_MS);
		serve_kill(st, 0);
	}
	/* What the resident started and left (a setsid child) ends with it. */
	pe_kill_orphans(0);
	free(st);
	s->st = NULL;
}
