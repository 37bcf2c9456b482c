/* The resident command: one `/bin/sh -c COMMAND` per PE, started at the first message,
 * given messages over its stdin and stdout in the resident protocol (docs/protocol.md
 * "Resident protocol"). This file starts, watches and ends it and speaks the protocol;
 * hio_pe_serve_handler here gives it one message at a time (a program calling it from
 * its own handler), while hio_pe_run pipelines up to the hello's max_inflight
 * (pe_pipe.c). */
#include "pe_serve.h"
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_util.h"
#include "pe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The command's stdin holds this much: the pipeline writes requests ahead (1 MiB
 * bodies inline) without waiting on the command to read each; best effort. */
#define SERVE_PIPE_BYTES (1 << 20)

void pe_serve_drain_err(struct hio_pe_serve_state *st)
{
	char b[4096];
	ssize_t r;

	/* Its log lines belong in the PE's log; the tail goes to a failed message's error
	 * file. */
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
			pe_serve_drain_err(st);
		if (n > 0 && p[0].revents)
			return 1;
	}
}

int pe_serve_fill(struct hio_pe_serve_state *st)
{
	ssize_t r;

	if (st->from < 0) {
		snprintf(st->why, sizeof(st->why), "its stdout closed");
		return IO_EOF;
	}
	if (st->roff) {
		memmove(st->rb, st->rb + st->roff, st->rlen);
		st->roff = 0;
	}
	if (st->rlen == sizeof(st->rb))
		return 0; /* the parser decides: a line too long, or bytes it has to take */
	for (;;) {
		r = read(st->from, st->rb + st->rlen, sizeof(st->rb) - st->rlen);
		if (r > 0) {
			st->rlen += (size_t)r;
			return 1;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		snprintf(st->why, sizeof(st->why), "its stdout %s",
			 r == 0 ? "closed" : strerror(errno));
		return IO_EOF;
	}
}

/* One header line from rb as a JSON object (*out, the caller's): 1, 0 when the line is
 * not all there yet, IO_PROTO with st->why. */
static int take_line(struct hio_pe_serve_state *st, json_t **out)
{
	char *nl = memchr(st->rb + st->roff, '\n', st->rlen);
	json_error_t je;
	size_t n;

	*out = NULL;
	if (!nl) {
		if (st->rlen == sizeof(st->rb)) {
			snprintf(st->why, sizeof(st->why), "a header line longer than %u bytes",
				 SERVE_LINE_MAX);
			return IO_PROTO;
		}
		return 0;
	}
	n = (size_t)(nl - (st->rb + st->roff));
	*out = json_loadb(st->rb + st->roff, n, 0, &je);
	st->roff += n + 1;
	st->rlen -= n + 1;
	if (!json_is_object(*out)) {
		snprintf(st->why, sizeof(st->why), "a header line that is not a JSON object: %s",
			 *out ? "another JSON value" : je.text);
		json_decref(*out);
		*out = NULL;
		return IO_PROTO;
	}
	return 1;
}

void pe_serve_reply_reset(struct hio_pe_serve_state *st)
{
	struct serve_reply *r = &st->rep;

	if (r->fd >= 0)
		close(r->fd);
	free(r->err);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* A reply's header: checks it and sets up the payload's destinations. */
static int reply_header(struct hio_pe_serve_state *st, json_t *h, const char *id, const char *so)
{
	struct serve_reply *r = &st->rep;
	const char *status = json_string_value(json_object_get(h, "status"));
	const char *hid = json_string_value(json_object_get(h, "id"));
	json_t *jo = json_object_get(h, "stdout"), *je = json_object_get(h, "error");

	if (!hid || strcmp(hid, id) != 0) {
		snprintf(st->why, sizeof(st->why), "a reply for id %.40s, not %s",
			 hid ? hid : "(none)", id);
		return IO_PROTO;
	}
	if (!status || (strcmp(status, "done") != 0 && strcmp(status, "failed") != 0)) {
		snprintf(st->why, sizeof(st->why), "a reply whose status is not done or failed");
		return IO_PROTO;
	}
	if ((jo && (!json_is_integer(jo) || json_integer_value(jo) < 0 ||
		    (uint64_t)json_integer_value(jo) > SERVE_STDOUT_MAX)) ||
	    (je && (!json_is_integer(je) || json_integer_value(je) < 0 ||
		    (uint64_t)json_integer_value(je) > PE_ERROR_MAX))) {
		snprintf(st->why, sizeof(st->why),
			 "a reply whose stdout or error length is not 0..%llu or 0..%u",
			 (unsigned long long)SERVE_STDOUT_MAX, PE_ERROR_MAX);
		return IO_PROTO;
	}
	r->done = strcmp(status, "done") == 0;
	r->nout = jo ? (uint64_t)json_integer_value(jo) : 0;
	r->nerr = je ? (uint64_t)json_integer_value(je) : 0;
	r->got = 0;
	r->err = calloc(1, (size_t)r->nerr + 1);
	if (!r->err) {
		snprintf(st->why, sizeof(st->why), "out of memory");
		return IO_PROTO;
	}
	/* No stdout, no file: the scratch directory's stdout stays as it was (empty). */
	if (r->nout) {
		r->fd = open(so, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (r->fd < 0) {
			snprintf(st->why, sizeof(st->why), "cannot open %s: %s", so,
				 strerror(errno));
			return IO_PROTO;
		}
	}
	return 0;
}

int pe_serve_reply_step(struct hio_pe_serve_state *st, const char *id, const char *so)
{
	struct serve_reply *r = &st->rep;

	for (;;) {
		size_t k;

		if (r->phase == 0) {
			json_t *h;
			int rc = take_line(st, &h);

			if (rc <= 0)
				return rc;
			rc = reply_header(st, h, id, so);
			json_decref(h);
			if (rc < 0)
				return rc;
			r->phase = 1;
		}
		if (r->phase == 1 && r->got == r->nout) {
			if (r->fd >= 0 && close(r->fd) < 0) {
				r->fd = -1;
				snprintf(st->why, sizeof(st->why), "cannot write %s: %s", so,
					 strerror(errno));
				return IO_PROTO;
			}
			r->fd = -1;
			r->phase = 2;
			r->got = 0;
		}
		if (r->phase == 2 && r->got == r->nerr) {
			r->phase = 0;
			return 1;
		}
		if (!st->rlen)
			return 0;
		if (r->phase == 1) {
			k = st->rlen < r->nout - r->got ? st->rlen : (size_t)(r->nout - r->got);
			if (hio_write_all(r->fd, st->rb + st->roff, k) < 0) {
				snprintf(st->why, sizeof(st->why),
					 "cannot write its stdout to %s: %s", so, strerror(errno));
				return IO_PROTO;
			}
		} else {
			k = st->rlen < r->nerr - r->got ? st->rlen : (size_t)(r->nerr - r->got);
			memcpy(r->err + r->got, st->rb + st->roff, k);
		}
		st->roff += k;
		st->rlen -= k;
		r->got += k;
	}
}

static ssize_t serve_out(int fd, const struct iovec *iov, int n, int blocked, int spliced)
{
	sigset_t pipe_set, old;
	ssize_t w;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (!blocked)
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	do
		w = spliced ? vmsplice(fd, iov, (unsigned long)n, SPLICE_F_NONBLOCK)
			    : writev(fd, iov, n);
	while (w < 0 && errno == EINTR);
	err = errno;
	/* A SIGPIPE this write raised is taken while still blocked, so no handler of a
	 * library caller's (or the default action) ever sees it. */
	if (w < 0 && err == EPIPE && (blocked || !sigismember(&old, SIGPIPE))) {
		const struct timespec zero = {0, 0};

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	if (!blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return w;
}

ssize_t pe_serve_writev(int fd, const struct iovec *iov, int n, int blocked)
{
	return serve_out(fd, iov, n, blocked, 0);
}

ssize_t pe_serve_vmsplice(int fd, const struct iovec *iov, int n)
{
	return serve_out(fd, iov, n, 1, 1);
}

/* Writes the request (line, then body when inline) by the deadline. */
static int write_to(struct hio_pe_serve_state *st, const char *line, size_t n, const void *body,
		    size_t blen, uint64_t deadline)
{
	size_t off = 0, total = n + blen;

	while (off < total) {
		struct iovec iov[2];
		int k = 0;
		ssize_t w;

		if (off < n)
			iov[k++] = (struct iovec){(void *)(line + off), n - off};
		if (blen)
			iov[k++] = (struct iovec){(char *)body + (off > n ? off - n : 0),
						  blen - (off > n ? off - n : 0)};
		w = pe_serve_writev(st->to, iov, k, 0);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			if (!wait_fd(st, st->to, POLLOUT, deadline))
				return IO_TIMEOUT;
		} else {
			snprintf(st->why, sizeof(st->why), "its stdin %s",
				 w == 0 || errno == EPIPE ? "closed" : strerror(errno));
			return IO_EOF;
		}
	}
	return IO_OK;
}

void pe_serve_describe(int status, char *out, size_t n)
{
	if (WIFEXITED(status))
		snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, n, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, n, "ended with wait status %d", status);
}

int pe_serve_exited_within(struct hio_pe_serve_state *st, long ms)
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

int pe_serve_kill(struct hio_pe_serve_state *st, long grace_ms)
{
	int status = 0;

	if (!st->pid)
		return 0;
	if (grace_ms > 0 && !pe_serve_exited_within(st, 0)) {
		kill(-st->pid, SIGTERM);
		pe_serve_exited_within(st, grace_ms);
	}
	/* The zombie (WNOWAIT above) kept the group id ours until now. */
	kill(-st->pid, SIGKILL);
	while (waitpid(st->pid, &status, 0) < 0 && errno == EINTR)
		;
	pe_serve_drain_err(st);
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
	pe_serve_reply_reset(st);
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

/* The hello, by the deadline. */
static int read_hello(struct hio_pe_serve_state *st, uint64_t deadline)
{
	json_t *h = NULL;
	int rc;

	while ((rc = take_line(st, &h)) == 0) {
		rc = pe_serve_fill(st);
		if (rc < 0)
			return rc;
		if (rc == 0 && !wait_fd(st, st->from, POLLIN, deadline)) {
			snprintf(st->why, sizeof(st->why), "no hello within %ld ms",
				 SERVE_START_MS);
			return IO_TIMEOUT;
		}
	}
	if (rc < 0)
		return rc;
	rc = check_hello(st, h) < 0 ? IO_PROTO : IO_OK;
	json_decref(h);
	return rc;
}

int pe_serve_start(struct hio_pe_serve *s, struct hio_pe_serve_state *st)
{
	char sh[] = "sh", dash_c[] = "-c";
	char *argv[] = {sh, dash_c, (char *)s->command, NULL};
	const char *kv[2] = {"HIO_SERVE=1", NULL};
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, rc;
	char *home = NULL, **env;
	pid_t pid;
	int ret = -1;

	if (s->run_as && s->home && asprintf(&home, "HOME=%s", s->home) < 0)
		home = NULL;
	kv[1] = home;
	env = pe_exec_env(kv, home ? 2 : 1);

	if (!env || pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(st->why, sizeof(st->why), "cannot make its pipes: %s",
			 env ? strerror(errno) : "out of memory");
		goto out;
	}
	rc = pe_spawn_sh(&pid, in[0], outp[1], errp[1], argv, env, s->run_as);
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
	/* The command's ends, closed before the hello is awaited: while the PE held its
	 * stdout's write end, a command that died at once (a script it cannot read) was
	 * seen only at the hello's deadline, 120 s later, for every message. */
	close(in[0]);
	close(outp[1]);
	close(errp[1]);
	in[0] = outp[1] = errp[1] = -1;
	fcntl(st->to, F_SETPIPE_SZ, SERVE_PIPE_BYTES);
	fcntl(st->to, F_SETFL, O_NONBLOCK);
	fcntl(st->from, F_SETFL, O_NONBLOCK);
	fcntl(st->err, F_SETFL, O_NONBLOCK);
	pe_serve_reply_reset(st);
	if (read_hello(st, hio_mono_ms() + SERVE_START_MS) != IO_OK) {
		char how[64];

		pe_serve_describe(pe_serve_kill(st, 0), how, sizeof(how));
		snprintf(st->why + strlen(st->why), sizeof(st->why) - strlen(st->why), "; it %s",
			 how);
		goto out;
	}
	hio_info("resident command started (pid %d, protocol %d, max_inflight %ld): %s", (int)pid,
		 SERVE_VERSION, st->inflight, s->command);
	ret = 0;
out:
	free(home);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(env);
	return ret;
}

void pe_serve_check_idle(struct hio_pe_serve_state *st)
{
	struct pollfd p = {.fd = st->from, .events = POLLIN};
	siginfo_t si = {0};
	char how[64];

	pe_serve_drain_err(st);
	if (waitid(P_PID, (id_t)st->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
		pe_serve_describe(pe_serve_kill(st, 0), how, sizeof(how));
		hio_warn("resident command %s between messages; starting it again", how);
	} else if (st->rlen || (poll(&p, 1, 0) > 0 && p.revents)) {
		pe_serve_describe(pe_serve_kill(st, 0), how, sizeof(how));
		hio_warn("resident command wrote out of turn (or closed its stdout) between "
			 "messages; it was killed (it %s) and starts again",
			 how);
	}
}

int pe_serve_prepare(hio_pe_out *out, const struct hio_pe_msg *msg, char *in, char *outdir,
		     char *so, const struct hio_pe_runas *ra)
{
	const char *dir = hio_pe_out_dir(out);

	if (!dir) {
		hio_pe_out_fail(out, "cannot make a scratch dir: %s", strerror(errno));
		return 1;
	}
	snprintf(outdir, PATH_MAX, "%s/output", dir);
	snprintf(so, PATH_MAX, "%s/stdout", dir);
	/* A body in memory goes inline; one received to disk is linked into place. */
	if (pe_exec_input(msg, dir, out->dir_ready, in, PATH_MAX, msg->path != NULL) < 0) {
		hio_pe_out_fail(out, "cannot place the input in %s: %s", dir, strerror(errno));
		return 1;
	}
	if (!out->dir_ready && mkdir(outdir, 0700) < 0 && errno != EEXIST) {
		hio_pe_out_fail(out, "cannot make HIO_OUTPUT %s: %s", outdir, strerror(errno));
		return 1;
	}
	if (ra && pe_runas_prepare(ra, out->dir_ready, dir, msg->path, outdir, 1) < 0) {
		hio_pe_out_fail(out,
				"cannot give the analysis's user (uid %u) its input and "
				"HIO_OUTPUT in %s: %s",
				ra->uid, dir, strerror(errno));
		return 1;
	}
	out->prepared = 1;
	return 0;
}

/* Appends s as a JSON string at b + *off (room for it checked by the caller). Names
 * came in JSON, so they are UTF-8 already; only quotes, backslashes and control
 * characters need escaping. */
static void put_str(char *b, size_t *off, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = *off;

	b[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			b[o++] = '\\';
			b[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(b + o, "\\u00", 4);
			o += 4;
			b[o++] = hex[c >> 4];
			b[o++] = hex[c & 15];
		} else {
			b[o++] = (char)c;
		}
	}
	b[o++] = '"';
	*off = o;
}

int pe_serve_request(struct hio_pe_serve_state *st, const struct hio_pe_msg *msg, const char *in,
		     const char *outdir, char **line, size_t *n)
{
	const char *pl = msg->pipeline ? msg->pipeline : "default";
	/* Written by hand, not through jansson: packing and dumping an object cost more
	 * than the rest of the request. Each string grows at most 6 times escaped. */
	size_t cap = 160 + 6 * (strlen(msg->id) + strlen(msg->name) + strlen(pl) + strlen(in) +
				strlen(outdir));
	size_t o = 0;
	char *b = malloc(cap);

	*line = NULL;
	*n = 0;
	if (!b) {
		snprintf(st->why, sizeof(st->why), "out of memory");
		return IO_PROTO;
	}
	memcpy(b + o, "{\"id\":", 6);
	o += 6;
	put_str(b, &o, msg->id);
	memcpy(b + o, ",\"name\":", 8);
	o += 8;
	put_str(b, &o, msg->name);
	memcpy(b + o, ",\"pipeline\":", 12);
	o += 12;
	put_str(b, &o, pl);
	o +=
	    (size_t)snprintf(b + o, cap - o, ",\"ts\":%llu,\"path\":", (unsigned long long)msg->ts);
	put_str(b, &o, in);
	memcpy(b + o, ",\"output\":", 10);
	o += 10;
	put_str(b, &o, outdir);
	o += (size_t)snprintf(b + o, cap - o, ",\"inline\":%s,\"len\":%llu}\n",
			      msg->path ? "false" : "true", (unsigned long long)msg->len);
	if (o > SERVE_LINE_MAX) {
		snprintf(st->why, sizeof(st->why), "the request header is too long");
		free(b);
		return IO_PROTO;
	}
	*line = b;
	*n = o;
	return IO_OK;
}

void pe_serve_fail(struct hio_pe_serve_state *st, int rc, long timeout, const char *id,
		   const char *name, hio_pe_out *out)
{
	char what[400], how[64];

	if (rc == IO_TIMEOUT) {
		pe_serve_describe(pe_serve_kill(st, SERVE_KILL_GRACE), how, sizeof(how));
		snprintf(what, sizeof(what),
			 "timed out after %ld ms; the resident command was killed (it %s) and "
			 "starts again",
			 timeout, how);
	} else if (rc == IO_PROTO) {
		pe_serve_describe(pe_serve_kill(st, 0), how, sizeof(how));
		snprintf(what, sizeof(what),
			 "resident protocol error: %s; the command was killed (it %s) and starts "
			 "again",
			 st->why, how);
	} else {
		int status = pe_serve_kill(st, 0);

		pe_serve_describe(status, how, sizeof(how));
		snprintf(what, sizeof(what),
			 "the resident command %s while it held this message (%s); it starts "
			 "again",
			 how, st->why);
		if (WIFSIGNALED(status) && pe_is_stop_signal(WTERMSIG(status)))
			out->stop_signal = WTERMSIG(status);
	}
	hio_info("message %s (%s): %s", id, name, what);
	pe_fail_tail(out, what, &st->tail);
}

int pe_serve_result(struct hio_pe_serve_state *st, hio_pe_out *out, const char *outdir,
		    const char *so, const char *in)
{
	int rc;

	if (st->rep.done) {
		pe_out_collect(out, outdir, so, in);
		rc = out->failed;
	} else {
		hio_pe_out_fail(out, "%s",
				st->rep.err && *st->rep.err ? st->rep.err
							    : "failed (no reason given)");
		rc = 1;
	}
	pe_serve_reply_reset(st);
	return rc;
}

/* The reply to id, by the deadline. 1 complete, or an IO_ code. */
static int read_reply(struct hio_pe_serve_state *st, const char *id, const char *so,
		      uint64_t deadline)
{
	for (;;) {
		int rc = pe_serve_reply_step(st, id, so);

		if (rc != 0)
			return rc;
		rc = pe_serve_fill(st);
		if (rc < 0)
			return rc;
		if (rc == 0 && !wait_fd(st, st->from, POLLIN, deadline))
			return IO_TIMEOUT;
	}
}

struct hio_pe_serve_state *pe_serve_state(struct hio_pe_serve *s)
{
	if (!s->st) {
		s->st = calloc(1, sizeof(*s->st));
		if (!s->st)
			return NULL;
		s->st->pidfd = s->st->to = s->st->from = s->st->err = -1;
		s->st->rep.fd = -1;
	}
	return s->st;
}

int hio_pe_serve_handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out)
{
	struct hio_pe_serve *s = ud;
	struct hio_pe_serve_state *st = pe_serve_state(s);
	long timeout = s->timeout_ms > 0 ? s->timeout_ms : PE_TIMEOUT_MS_DEFAULT;
	char in[PATH_MAX], outdir[PATH_MAX], so[PATH_MAX];
	char *line = NULL;
	size_t n = 0;
	uint64_t deadline;
	int rc;

	if (!st) {
		hio_pe_out_fail(out, "out of memory for the resident handler");
		return 1;
	}
	if (pe_serve_prepare(out, msg, in, outdir, so, s->run_as))
		return 1;
	if (st->pid)
		pe_serve_check_idle(st);
	memset(&st->tail, 0, sizeof(st->tail));
	if (!st->pid && pe_serve_start(s, st) < 0) {
		char what[400];

		snprintf(what, sizeof(what), "the resident command did not start: %s", st->why);
		hio_warn("message %s (%s): %s; it is tried again at the next message", msg->id,
			 msg->name, what);
		pe_fail_tail(out, what, &st->tail);
		return 1;
	}
	/* The start-up above is not the message's time. */
	memset(&st->tail, 0, sizeof(st->tail));
	deadline = hio_mono_ms() + (uint64_t)timeout;
	rc = pe_serve_request(st, msg, in, outdir, &line, &n);
	if (rc == IO_OK)
		rc = write_to(st, line, n, msg->path ? NULL : msg->data, msg->path ? 0 : msg->len,
			      deadline);
	free(line);
	if (rc == IO_OK)
		rc = read_reply(st, msg->id, so, deadline);
	if (rc == 1) {
		rc = pe_serve_result(st, out, outdir, so, in);
	} else {
		pe_serve_fail(st, rc, timeout, msg->id, msg->name, out);
		rc = 1;
	}
	/* Orphans the resident left (setsid children of a handler) end with the message;
	 * the resident itself, our one legitimate child, stays. */
	pe_kill_orphans(st->pid);
	return rc;
}

void pe_serve_close(struct hio_pe_serve_state *st)
{
	if (!st || !st->pid)
		return;
	close(st->to);
	st->to = -1;
	if (!pe_serve_exited_within(st, SERVE_CLOSE_MS))
		hio_warn("resident command did not exit within %d ms of EOF on its stdin; "
			 "killing it",
			 SERVE_CLOSE_MS);
	pe_serve_kill(st, 0);
}

void hio_pe_serve_close(struct hio_pe_serve *s)
{
	struct hio_pe_serve_state *st = s->st;

	if (!st)
		return;
	pe_serve_close(st);
	/* What the resident started and left (a setsid child) ends with it; hio_pe_run's
	 * executor, which started it, has ended, so every thread's children are looked at. */
	pe_kill_orphans_all(0);
	pe_serve_reply_reset(st);
	free(st);
	s->st = NULL;
}
