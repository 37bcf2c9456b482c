/* Result sets (hio_pe_out) and the exec handler: SPEC's processing contract, one
 * `/bin/sh -c COMMAND` per message. */
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_util.h"
#include "pe_internal.h"
#include "pe_scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXEC_KILL_GRACE 2000 /* ms between SIGTERM and SIGKILL on timeout */
#define EXEC_DEPTH_MAX 64

/* ---- result sets ---- */

void pe_out_init(hio_pe_out *o, struct pe_scratch *scratch)
{
	memset(o, 0, sizeof(*o));
	o->scratch = scratch;
}

int pe_is_stop_signal(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

void pe_out_drop_files(hio_pe_out *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->files[i].name);
		free(o->files[i].path);
		free(o->files[i].data);
	}
	free(o->files);
	o->files = NULL;
	o->n = o->cap = 0;
	o->bytes = 0;
}

void pe_out_free(hio_pe_out *o)
{
	pe_out_drop_files(o);
	free(o->error);
	o->error = NULL;
	if (o->dir)
		pe_scratch_put(o->scratch, o->dir, o->prepared, !o->foreign_input);
	o->dir = NULL;
	o->dir_ready = o->prepared = o->foreign_input = 0;
}

const char *hio_pe_out_dir(hio_pe_out *o)
{
	if (o->dir)
		return o->dir;
	if (!o->scratch) {
		errno = EINVAL;
		return NULL;
	}
	o->dir = pe_scratch_take(o->scratch, &o->dir_ready);
	return o->dir;
}

static struct pe_rfile *out_slot(hio_pe_out *o, const char *name)
{
	const char *why = NULL;
	struct pe_rfile *f;

	if (!name || !hio_name_valid(name, strlen(name), &why)) {
		hio_warn("result file name \"%s\" refused: %s", name ? name : "(null)",
			 why ? why : "missing");
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->files[i].name, name) == 0) {
			hio_warn("result file \"%s\" added twice; keeping the first", name);
			errno = EEXIST;
			return NULL;
		}
	if (o->n >= PE_OUT_FILES_MAX) {
		hio_warn("more than %d result files; refusing \"%s\"", PE_OUT_FILES_MAX, name);
		errno = EMFILE;
		return NULL;
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct pe_rfile *nf = realloc(o->files, cap * sizeof(*nf));

		if (!nf)
			return NULL;
		o->files = nf;
		o->cap = cap;
	}
	f = &o->files[o->n];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	if (!f->name)
		return NULL;
	return f;
}

int hio_pe_out_add(hio_pe_out *o, const char *name, const void *p, size_t n)
{
	struct pe_rfile *f = out_slot(o, name);
	char path[PATH_MAX];
	const char *dir;

	if (!f)
		return -1;
	if (n <= PE_MEM_MAX) {
		f->data = malloc(n ? n : 1);
		if (!f->data)
			goto fail;
		memcpy(f->data, p, n);
	} else {
		/* Big results go to disk so a batch of them does not sit in memory. */
		dir = hio_pe_out_dir(o);
		if (!dir)
			goto fail;
		snprintf(path, sizeof(path), "%s/r%zu", dir, o->n);
		if (hio_file_write_atomic(path, p, n, 0) < 0) {
			hio_warn("cannot write result \"%s\" to %s: %s; dropping it", name, path,
				 strerror(errno));
			goto fail;
		}
		f->path = strdup(path);
		if (!f->path)
			goto fail;
	}
	f->len = n;
	o->bytes += n;
	o->n++;
	return 0;
fail:
	free(f->name);
	free(f->data);
	f->data = NULL;
	return -1;
}

/* Adds path as result name, pinned to the inode st describes. */
static int out_add_pinned(hio_pe_out *o, const char *name, const char *path, const struct stat *st,
			  int links_ok)
{
	struct pe_rfile *f = out_slot(o, name);

	if (!f)
		return -1;
	f->path = strdup(path);
	if (!f->path) {
		free(f->name);
		return -1;
	}
	f->len = (uint64_t)st->st_size;
	f->pinned = 1;
	f->links_ok = links_ok;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	o->bytes += f->len;
	o->n++;
	return 0;
}

int hio_pe_out_add_file(hio_pe_out *o, const char *name, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	/* Opened, not stat'ed by name: the checks are about the file the upload will
	 * find under this inode, not whatever the name points at (a symbolic link). */
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		hio_warn("result \"%s\": %s is not a regular file with one link; dropping it",
			 name ? name : "(null)", path);
		if (fd >= 0)
			close(fd);
		errno = EINVAL;
		return -1;
	}
	close(fd);
	return out_add_pinned(o, name, path, &st, 0);
}

int pe_rfile_open(const struct pe_rfile *f, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "result file %s cannot be opened: %s", f->name,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->len ||
	    (f->pinned &&
	     (st.st_dev != f->dev || st.st_ino != f->ino || (st.st_nlink != 1 && !f->links_ok)))) {
		snprintf(err, errlen,
			 "result file %s was replaced, linked or resized after the analysis "
			 "left it",
			 f->name);
		close(fd);
		return -1;
	}
	return fd;
}

void hio_pe_out_fail(hio_pe_out *o, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	o->failed = 1;
	if (n < 0)
		s = NULL;
	else if ((size_t)n > PE_ERROR_MAX)
		s[PE_ERROR_MAX] = '\0';
	free(o->error);
	o->error = s ? s : strdup("failed (no memory for the reason)");
}

void pe_out_error_line(const hio_pe_out *o, char *out, size_t n)
{
	const char *e = o->error ? o->error : "failed";
	size_t k = strcspn(e, "\n");

	if (k >= n)
		k = n - 1;
	memcpy(out, e, k);
	out[k] = '\0';
}

/* ---- the exec handler ---- */

#define EXEC_INPUT_BASE_MAX 200 /* bytes of the input's file name under input/ */

/* Writes an in-memory body to in, into the inode a reused scratch dir kept for it
 * when there is one (no inode is created per message). */
static int write_input(const char *dir, const char *in, const struct hio_pe_msg *msg)
{
	char body[PATH_MAX];
	int fd, rc;

	snprintf(body, sizeof(body), "%s/" PE_SCRATCH_BODY, dir);
	if (rename(body, in) < 0)
		return hio_file_write_atomic(in, msg->len ? msg->data : "", msg->len, 0);
	fd = open(in, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = msg->len ? hio_write_all(fd, msg->data, msg->len) : 0;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* Puts the input at DIR/input/<basename of name>, so tools that look at the file's
 * extension see the one the source gave. */
int pe_exec_input(const struct hio_pe_msg *msg, const char *dir, int dir_ready, char *in,
		  size_t inlen, int place)
{
	const char *base = strrchr(msg->name, '/');
	char d[PATH_MAX];

	base = base ? base + 1 : msg->name;
	/* Room for a temporary suffix within NAME_MAX: a long name keeps its tail, which
	 * holds the extension. */
	if (strlen(base) > EXEC_INPUT_BASE_MAX)
		base += strlen(base) - EXEC_INPUT_BASE_MAX;
	snprintf(d, sizeof(d), "%s/input", dir);
	if (!dir_ready && mkdir(d, 0700) < 0 && errno != EEXIST)
		return -1;
	if ((size_t)snprintf(in, inlen, "%s/%s", d, base) >= inlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!place)
		return 0;
	if (msg->path) {
		if (link(msg->path, in) == 0)
			return 0;
		if (symlink(msg->path, in) == 0)
			return 0;
		return -1;
	}
	return write_input(dir, in, msg);
}

static char *env_kv(const char *k, const char *v)
{
	char *s = NULL;

	if (asprintf(&s, "%s=%s", k, v) < 0)
		return NULL;
	return s;
}

/* environ less our own variables and the cluster token (the analysis has no use for
 * it), less any variable kv sets, plus kv (at most 5 "NAME=value"). */
char **pe_exec_env(const char *const *kv, int nkv)
{
	static const char *const drop[] = {
	    "HIO_INPUT=", "HIO_NAME=", "HIO_OUTPUT=", "HIO_MESSAGE_ID=", "HIO_TOKEN="};
	size_t n = 0, k = 0;
	char **env;

	if (nkv > 5)
		nkv = 5;
	while (environ && environ[n])
		n++;
	env = calloc(n + 6, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int skip = 0;

		for (size_t j = 0; j < sizeof(drop) / sizeof(drop[0]); j++)
			if (strncmp(environ[i], drop[j], strlen(drop[j])) == 0)
				skip = 1;
		for (int j = 0; j < nkv; j++) {
			size_t kl = strcspn(kv[j], "=") + 1;

			if (strncmp(environ[i], kv[j], kl) == 0)
				skip = 1;
		}
		if (!skip)
			env[k++] = environ[i];
	}
	for (int i = 0; i < nkv; i++)
		env[k++] = (char *)kv[i];
	return env;
}

void pe_tail_add(struct pe_tail *t, const char *b, size_t n)
{
	for (size_t off = 0; off < n;) {
		size_t room = sizeof(t->buf) - t->len, k = n - off;

		if (k > room)
			k = room;
		memcpy(t->buf + t->len, b + off, k);
		t->len += k;
		off += k;
		if (t->len == sizeof(t->buf)) {
			memmove(t->buf, t->buf + PE_TAIL_MAX, PE_TAIL_MAX);
			t->len = PE_TAIL_MAX;
			t->cut = 1;
		}
	}
}

static void tail_read(struct pe_tail *t, int fd)
{
	char b[4096];
	ssize_t r;

	while ((r = read(fd, b, sizeof(b))) > 0)
		pe_tail_add(t, b, (size_t)r);
}

/* Waits for pid while draining its stderr; on timeout kills its group. Returns the wait
 * status, with *timed_out set. */
static int exec_wait(pid_t pid, int errfd, long timeout_ms, struct pe_tail *t, int *timed_out)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)timeout_ms, kill_at = 0;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int status = 0, errfd_open = 1;

	*timed_out = 0;
	for (;;) {
		struct pollfd p[2];
		siginfo_t si = {0};
		uint64_t now = hio_mono_ms();
		int nfd = 0, wait_ms;

		/* WNOWAIT: the zombie keeps its pid (and so the group id) ours until the
		 * group was killed below. */
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
			break;
		if (!*timed_out && now >= deadline) {
			*timed_out = 1;
			kill(-pid, SIGTERM);
			kill_at = now + EXEC_KILL_GRACE;
		} else if (kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		if (!*timed_out)
			wait_ms = (int)(deadline - now);
		else
			wait_ms = kill_at ? (int)(kill_at - now) : 100;
		/* Without a pidfd (old kernel) exits are noticed on a short tick. */
		if (pfd < 0 && wait_ms > 20)
			wait_ms = 20;
		if (pfd >= 0)
			p[nfd++] = (struct pollfd){.fd = pfd, .events = POLLIN};
		if (errfd_open)
			p[nfd++] = (struct pollfd){.fd = errfd, .events = POLLIN};
		if (poll(p, (nfds_t)nfd, wait_ms) > 0 && errfd_open) {
			struct pollfd *e = &p[nfd - 1];

			if (e->revents & POLLIN)
				tail_read(t, errfd);
			else if (e->revents & (POLLHUP | POLLERR))
				errfd_open = 0;
		}
	}
	tail_read(t, errfd);
	/* Whatever the command left running in its group would keep writing into a
	 * directory that is about to be uploaded and removed. */
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pfd >= 0)
		close(pfd);
	return status;
}

struct walk {
	hio_pe_out *out;
	dev_t dev; /* HIO_OUTPUT's file system */
	/* The message's own input: a result may be a hard link to it (keeping the input
	 * beside its result is common, and a link costs nothing). */
	int have_in;
	dev_t in_dev;
	ino_t in_ino;
	char bad[PATH_MAX + 64];
	int has_stdout;
};

static int exec_walk(struct walk *w, int dfd, const char *abs, const char *rel, int depth)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > EXEC_DEPTH_MAX) {
		snprintf(w->bad, sizeof(w->bad), "output nested deeper than %d at %s",
			 EXEC_DEPTH_MAX, rel);
		close(dfd);
		return -1;
	}
	d = fdopendir(dfd);
	if (!d) {
		snprintf(w->bad, sizeof(w->bad), "cannot read %s: %s", abs, strerror(errno));
		close(dfd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d))) {
		char a[PATH_MAX], r[PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(a, sizeof(a), "%s/%s", abs, de->d_name) >= sizeof(a) ||
		    (size_t)snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
			sizeof(r)) {
			snprintf(w->bad, sizeof(w->bad), "output path too long under %s", rel);
			rc = -1;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			snprintf(w->bad, sizeof(w->bad), "cannot stat output %s: %s", r,
				 strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				snprintf(w->bad, sizeof(w->bad), "cannot open output dir %s: %s", r,
					 strerror(errno));
				rc = -1;
			} else {
				rc = exec_walk(w, sub, a, r, depth + 1);
			}
		} else if (!S_ISREG(st.st_mode)) {
			snprintf(w->bad, sizeof(w->bad),
				 "output %s is a %s; only regular files are results", r,
				 S_ISLNK(st.st_mode) ? "symlink" : "special file");
			rc = -1;
		} else if (st.st_nlink != 1 &&
			   !(w->have_in && st.st_dev == w->in_dev && st.st_ino == w->in_ino)) {
			/* A hard link would upload a file from outside HIO_OUTPUT. */
			snprintf(w->bad, sizeof(w->bad),
				 "output %s has %ju links; a result must be a file of its own, "
				 "not a hard link",
				 r, (uintmax_t)st.st_nlink);
			rc = -1;
		} else if (st.st_dev != w->dev) {
			snprintf(w->bad, sizeof(w->bad),
				 "output %s is on another file system than HIO_OUTPUT (a mount "
				 "inside it)",
				 r);
			rc = -1;
		} else if (out_add_pinned(w->out, r, a, &st, st.st_nlink != 1) < 0) {
			snprintf(w->bad, sizeof(w->bad), "output file %s refused: %s", r,
				 errno == EMFILE ? "too many files" : "invalid name");
			rc = -1;
		} else if (strcmp(r, "stdout") == 0) {
			w->has_stdout = 1;
		}
	}
	closedir(d);
	return rc;
}

void pe_out_collect(hio_pe_out *out, const char *outdir, const char *stdout_path, const char *input)
{
	struct walk w = {.out = out};
	struct stat st;
	int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0) {
		hio_pe_out_fail(out, "cannot open HIO_OUTPUT %s: %s", outdir, strerror(errno));
		return;
	}
	/* Most messages of a resident handler leave it empty: one getdents64 says so. */
	if (hio_dir_fd_is_empty(dfd) == 1) {
		close(dfd);
	} else {
		if (fstat(dfd, &st) < 0 || lseek(dfd, 0, SEEK_SET) < 0) {
			hio_pe_out_fail(out, "cannot read HIO_OUTPUT %s: %s", outdir,
					strerror(errno));
			close(dfd);
			return;
		}
		w.dev = st.st_dev;
		if (input && stat(input, &st) == 0) {
			w.have_in = 1;
			w.in_dev = st.st_dev;
			w.in_ino = st.st_ino;
		}
		if (exec_walk(&w, dfd, outdir, "", 0) < 0) {
			hio_pe_out_fail(out, "%s", w.bad);
			return;
		}
	}
	if (stat(stdout_path, &st) == 0 && st.st_size > 0) {
		if (w.has_stdout)
			hio_warn(
			    "command wrote both stdout and HIO_OUTPUT/stdout; keeping the file");
		else if (hio_pe_out_add_file(out, "stdout", stdout_path) < 0)
			hio_pe_out_fail(out, "cannot keep stdout as a result");
	}
}

void pe_fail_tail(hio_pe_out *out, const char *what, const struct pe_tail *t)
{
	size_t len = t->len, off = 0;

	if (len > PE_TAIL_MAX) {
		off = len - PE_TAIL_MAX;
		len = PE_TAIL_MAX;
	}
	if (!len)
		hio_pe_out_fail(out, "%s\n", what);
	else
		hio_pe_out_fail(out, "%s\nstderr%s:\n%.*s", what,
				t->cut || off ? " (last 4 KiB)" : "", (int)len, t->buf + off);
}

int hio_pe_exec_handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out)
{
	const struct hio_pe_exec *ex = ud;
	long timeout = ex->timeout_ms > 0 ? ex->timeout_ms : PE_TIMEOUT_MS_DEFAULT;
	char in[PATH_MAX], outdir[PATH_MAX], so[PATH_MAX], what[256];
	const char *kv[5] = {NULL, NULL, NULL, NULL, NULL};
	char sh[] = "sh", dash_c[] = "-c";
	char *argv[] = {sh, dash_c, (char *)ex->command, NULL};
	int errp[2] = {-1, -1}, sofd = -1, nullfd = -1, timed_out = 0;
	char **env = NULL;
	const char *dir;
	struct pe_tail *t = NULL;
	pid_t pid;
	int st, rc;

	dir = hio_pe_out_dir(out);
	if (!dir) {
		hio_pe_out_fail(out, "cannot make a scratch dir: %s", strerror(errno));
		return 1;
	}
	snprintf(outdir, sizeof(outdir), "%s/output", dir);
	snprintf(so, sizeof(so), "%s/stdout", dir);
	if (pe_exec_input(msg, dir, out->dir_ready, in, sizeof(in), 1) < 0) {
		hio_pe_out_fail(out, "cannot place the input in %s: %s", dir, strerror(errno));
		return 1;
	}
	if (!out->dir_ready && mkdir(outdir, 0700) < 0 && errno != EEXIST) {
		hio_pe_out_fail(out, "cannot make HIO_OUTPUT %s: %s", outdir, strerror(errno));
		return 1;
	}
	if (ex->run_as && pe_runas_prepare(ex->run_as, out->dir_ready, dir, in, outdir, 0) < 0) {
		hio_pe_out_fail(out,
				"cannot give the analysis's user (uid %u) its input and "
				"HIO_OUTPUT in %s: %s",
				ex->run_as->uid, dir, strerror(errno));
		return 1;
	}
	out->prepared = 1;
	t = calloc(1, sizeof(*t));
	kv[0] = env_kv("HIO_INPUT", in);
	kv[1] = env_kv("HIO_NAME", msg->name);
	kv[2] = env_kv("HIO_OUTPUT", outdir);
	kv[3] = env_kv("HIO_MESSAGE_ID", msg->id);
	kv[4] = ex->run_as && ex->home ? env_kv("HOME", ex->home) : NULL;
	if (!t || !kv[0] || !kv[1] || !kv[2] || !kv[3] || (ex->run_as && ex->home && !kv[4]) ||
	    !(env = pe_exec_env(kv, kv[4] ? 5 : 4))) {
		hio_pe_out_fail(out, "out of memory preparing the command");
		rc = 1;
		goto out;
	}
	sofd = open(so, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (sofd < 0 || nullfd < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		hio_pe_out_fail(out, "cannot set up the command's stdio: %s", strerror(errno));
		rc = 1;
		goto out;
	}
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	rc = pe_spawn_sh(&pid, nullfd, sofd, errp[1], argv, env, ex->run_as);
	if (rc != 0) {
		hio_pe_out_fail(out, "cannot run /bin/sh: %s", strerror(rc));
		rc = 1;
		goto out;
	}
	close(errp[1]);
	errp[1] = -1;
	close(sofd);
	sofd = -1;
	st = exec_wait(pid, errp[0], timeout, t, &timed_out);
	out->exit_set = WIFEXITED(st) || WIFSIGNALED(st);
	out->exit_status = WIFEXITED(st)     ? WEXITSTATUS(st)
			   : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
					     : 0;
	/* What escaped the group (setsid) is gone before the output is read, so it can
	 * neither add to this result nor write into a later message's. */
	pe_kill_orphans(0);
	if (timed_out)
		snprintf(what, sizeof(what), "timed out after %ld ms", timeout);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		what[0] = '\0';
	else if (WIFEXITED(st) && ex->run_as && (WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127))
		snprintf(what, sizeof(what),
			 "exit status %d (the analysis runs as uid %u: what it runs and reads "
			 "must be readable by other users, not under /root; or --run-as none)",
			 WEXITSTATUS(st), ex->run_as->uid);
	else if (WIFEXITED(st))
		snprintf(what, sizeof(what), "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st)) {
		snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(st));
		out->stop_signal = pe_is_stop_signal(WTERMSIG(st)) ? WTERMSIG(st) : 0;
	} else
		snprintf(what, sizeof(what), "ended with wait status %d", st);
	if (what[0]) {
		hio_info("message %s (%s): command %s", msg->id, msg->name, what);
		pe_fail_tail(out, what, t);
		rc = 1;
		goto out;
	}
	pe_out_collect(out, outdir, so, in);
	rc = out->failed;
out:
	for (int i = 0; i < 2; i++)
		if (errp[i] >= 0)
			close(errp[i]);
	if (sofd >= 0)
		close(sofd);
	if (nullfd >= 0)
		close(nullfd);
	for (int i = 0; i < 5; i++)
		free((char *)kv[i]);
	free(env);
	free(t);
	return rc;
}
