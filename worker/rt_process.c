/* The process runtime: each PE is a child process running the sibling hio-pe binary. */
#include "hio_log.h"
#include "hio_util.h"
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc {
	struct proc *next;
	pid_t pid;
	int ended;
	char workdir[PATH_MAX]; /* the PE's scratch space, removed when it ended */
};

struct rt_process {
	struct runtime rt;
	struct rt_conf conf;
	char *bin;
	char listen[300];
	struct proc *procs;
};

static int is_exec(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Next to hio-worker (installed), in ../pe/ (the build tree), else on PATH. */
static char *find_pe_bin(void)
{
	char *dir = hio_self_dir(), p[PATH_MAX];
	const char *path = getenv("PATH");

	if (dir) {
		snprintf(p, sizeof(p), "%s/hio-pe", dir);
		if (is_exec(p))
			goto found;
		snprintf(p, sizeof(p), "%s/../pe/hio-pe", dir);
		if (is_exec(p))
			goto found;
	}
	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(p, sizeof(p), "%.*s/hio-pe", (int)n, path);
		if (n && is_exec(p))
			goto found;
		path += n + (path[n] == ':');
	}
	free(dir);
	return NULL;
found:
	free(dir);
	return realpath(p, NULL);
}

extern char **environ;

/* A copy of environ's pointers, less HIO_TOKEN when drop (caller frees the array). */
static char **env_without_token(int drop)
{
	size_t n = 0, k = 0;
	char **e;

	while (environ[n])
		n++;
	e = malloc((n + 1) * sizeof(*e));
	if (!e)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!drop || strncmp(environ[i], "HIO_TOKEN=", 10) != 0)
			e[k++] = environ[i];
	e[k] = NULL;
	return e;
}

static void *proc_start(struct runtime *rt, const struct rt_spec *s, char *err, size_t errlen)
{
	struct rt_process *r = (struct rt_process *)rt;
	char tmo[32], ver[16], **envp;
	const char *argv[32];
	struct proc *pr;
	pid_t parent = getpid(), pid;
	int n = 0, nullfd;

	if (!s->exec || !*s->exec) {
		snprintf(err, errlen,
			 "pipeline %s has no exec command (the process runtime needs one)",
			 s->pipeline);
		return NULL;
	}
	pr = calloc(1, sizeof(*pr));
	if (!pr) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Per PE, so what a PE killed -9 leaves behind is found and removed. */
	snprintf(pr->workdir, sizeof(pr->workdir), "%s/%s", r->conf.workdir, s->pe_id);
	argv[n++] = r->bin;
	argv[n++] = "--master";
	argv[n++] = r->conf.master;
	if (s->token_file) {
		argv[n++] = "--token-file";
		argv[n++] = s->token_file;
	}
	argv[n++] = "--pipeline";
	argv[n++] = s->pipeline;
	argv[n++] = "--id";
	argv[n++] = s->pe_id;
	argv[n++] = "--worker";
	argv[n++] = r->conf.worker_id;
	argv[n++] = "--listen";
	argv[n++] = r->listen;
	argv[n++] = "--workdir";
	argv[n++] = pr->workdir;
	if (s->timeout_ms > 0) {
		snprintf(tmo, sizeof(tmo), "%ld", s->timeout_ms);
		argv[n++] = "--timeout-ms";
		argv[n++] = tmo;
	}
	if (s->version > 0) {
		snprintf(ver, sizeof(ver), "%d", s->version);
		argv[n++] = "--pipeline-version";
		argv[n++] = ver;
	}
	argv[n++] = s->serve ? "--serve" : "--exec";
	argv[n++] = s->exec;
	argv[n] = NULL;
	/* With a credential file the PE must not also inherit the worker's token. */
	envp = env_without_token(s->token_file != NULL);
	nullfd = envp ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
	if (nullfd < 0) {
		snprintf(err, errlen, "cannot open /dev/null: %s",
			 envp ? strerror(errno) : "out of memory");
		free(envp);
		free(pr);
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* Only async-signal-safe calls from here on. A PE must not outlive a
		 * worker that was killed -9: nobody would stop it or report it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(nullfd, 0);
		execve(r->bin, (char *const *)argv, envp);
		_exit(127);
	}
	close(nullfd);
	free(envp);
	if (pid < 0) {
		snprintf(err, errlen, "fork failed: %s", strerror(errno));
		free(pr);
		return NULL;
	}
	pr->pid = pid;
	pr->next = r->procs;
	r->procs = pr;
	return pr;
}

static void proc_stop(struct runtime *rt, void *h, int force)
{
	struct proc *pr = h;

	(void)rt;
	if (!pr->ended)
		kill(pr->pid, force ? SIGKILL : SIGTERM);
}

static int proc_poll(struct runtime *rt, struct rt_exit *ex)
{
	struct rt_process *r = (struct rt_process *)rt;
	int st;

	for (;;) {
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid <= 0)
			return 0;
		for (struct proc *pr = r->procs; pr; pr = pr->next) {
			if (pr->pid != pid)
				continue;
			pr->ended = 1;
			ex->h = pr;
			ex->clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
			if (WIFEXITED(st))
				snprintf(ex->why, sizeof(ex->why), "exited with status %d",
					 WEXITSTATUS(st));
			else if (WIFSIGNALED(st))
				snprintf(ex->why, sizeof(ex->why), "killed by signal %d",
					 WTERMSIG(st));
			else
				snprintf(ex->why, sizeof(ex->why), "ended (wait status %d)", st);
			return 1;
		}
		/* Not a PE of ours (cannot happen: the worker starts nothing else). */
	}
}

static long proc_pid(struct runtime *rt, void *h)
{
	(void)rt;
	return (long)((struct proc *)h)->pid;
}

static void proc_release(struct runtime *rt, void *h)
{
	struct rt_process *r = (struct rt_process *)rt;

	for (struct proc **pp = &r->procs; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			struct proc *pr = h;

			*pp = pr->next;
			if (hio_rm_rf(pr->workdir) < 0 && errno != ENOENT)
				hio_warn("cannot remove %s of an ended PE: %s; leaving it",
					 pr->workdir, strerror(errno));
			free(pr);
			return;
		}
}

static void proc_free(struct runtime *rt)
{
	struct rt_process *r = (struct rt_process *)rt;

	while (r->procs) {
		struct proc *pr = r->procs;

		r->procs = pr->next;
		free(pr);
	}
	free(r->bin);
	free(r);
}

struct runtime *rt_process_new(const struct rt_conf *conf, char *err, size_t errlen)
{
	struct rt_process *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->bin = find_pe_bin();
	if (!r->bin) {
		snprintf(err, errlen, "cannot find hio-pe next to hio-worker or on PATH");
		free(r);
		return NULL;
	}
	r->conf = *conf;
	snprintf(r->listen, sizeof(r->listen), strchr(conf->host, ':') ? "[%s]:0" : "%s:0",
		 conf->host);
	r->rt = (struct runtime){.name = "process",
				 .start = proc_start,
				 .stop = proc_stop,
				 .poll = proc_poll,
				 .pid = proc_pid,
				 .release = proc_release,
				 .free = proc_free};
	hio_info("process runtime: PEs run %s", r->bin);
	return &r->rt;
}
