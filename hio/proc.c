/* proc.c: the processes the CLI starts and stops in the background (up, master, join,
 * mount, down), remembered in a state dir as NAME.pid and NAME.log. */
#include "cli.h"
#include "hio_log.h"
#include "hio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DOWN_GRACE_MS 15000

void cli_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void cli_state_path(char *out, size_t n, const char *dir, const char *file)
{
	snprintf(out, n, "%s/%s", dir, file);
}

pid_t cli_pid_read(const char *dir, const char *file)
{
	char path[PATH_MAX + 64];
	char *s;
	long v;

	cli_state_path(path, sizeof(path), dir, file);
	s = hio_file_read(path, 64, NULL);
	if (!s)
		return 0;
	s[strcspn(s, "\r\n")] = '\0';
	if (hio_parse_long(s, 2, INT32_MAX, &v) < 0)
		v = 0;
	free(s);
	return (pid_t)v;
}

int cli_pid_alive(pid_t pid)
{
	char path[64], buf[256], *rp;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	/* A daemon that died but whose parent (PID 1 of a container may never reap) has
	 * not collected it is a zombie: dead for every purpose here. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the
	 * last ')'. */
	rp = strrchr(buf, ')');
	return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

/* Starts argv in the background, detached (own session), output to DIR/log.
 * Returns the pid and records it in DIR/pidfile, or -1. */
pid_t cli_spawn(const char *dir, const char *name, const char *const argv[])
{
	char logpath[PATH_MAX + 64], pidpath[PATH_MAX + 64], pidtxt[32];
	pid_t pid;
	int fd;

	snprintf(logpath, sizeof(logpath), "%s/%s.log", dir, name);
	snprintf(pidpath, sizeof(pidpath), "%s/%s.pid", dir, name);
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_fail("cannot open %s: %s", logpath, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(fd);
		cli_fail("cannot fork for %s: %s", name, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		setsid();
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "hio: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	snprintf(pidtxt, sizeof(pidtxt), "%d\n", (int)pid);
	if (hio_file_write_atomic(pidpath, pidtxt, strlen(pidtxt), 0) < 0)
		cli_fail("cannot write %s: %s", pidpath, strerror(errno));
	return pid;
}

/* A child that died during start-up is reaped here so its exit shows. */
int cli_child_died(pid_t pid, const char *what, const char *dir)
{
	int status;

	if (waitpid(pid, &status, WNOHANG) == pid) {
		cli_fail("%s exited during start-up (status %d); see %s/%s.log", what,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), dir,
			 what);
		return 1;
	}
	return 0;
}

char *cli_need_program(const char *name)
{
	char *p = hio_find_program(name);

	if (!p)
		cli_fail("cannot find the program %s (looked in $HIO_BIN_DIR, next to hio, in the "
			 "build tree and in $PATH)",
			 name);
	return p;
}

int cli_mount_ready(const char *mnt)
{
	char path[PATH_MAX + 16];
	struct stat st;

	/* hio-fs answers for results/ only once it serves the mount. */
	snprintf(path, sizeof(path), "%s/results", mnt);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SIGTERM, then SIGKILL after grace. Our own children are reaped; others polled. */
void cli_stop_pid(pid_t pid, const char *what)
{
	uint64_t deadline = hio_mono_ms() + DOWN_GRACE_MS;

	if (!cli_pid_alive(pid))
		return;
	kill(pid, SIGTERM);
	while (cli_pid_alive(pid)) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		if (hio_mono_ms() > deadline) {
			hio_warn("%s (pid %d) did not stop within %d s; killing it", what, (int)pid,
				 DOWN_GRACE_MS / 1000);
			kill(pid, SIGKILL);
			break;
		}
		cli_sleep_ms(CLI_POLL_MS);
	}
}

int cli_run_quiet(const char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 1);
		dup2(nul, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void cli_unmount(const char *mnt)
{
	const char *u[] = {"fusermount3", "-u", mnt, NULL};
	const char *lazy[] = {"fusermount3", "-u", "-z", mnt, NULL};

	if (cli_run_quiet(u) == 0)
		return;
	/* A reader still inside the mount (a shell, a file manager) keeps it busy. */
	hio_warn("mount %s is busy; detaching it lazily", mnt);
	if (cli_run_quiet(lazy) != 0)
		hio_warn("could not unmount %s; try 'fusermount3 -u -z %s'", mnt, mnt);
}

void cli_metrics_default(const char *host)
{
	char v[300];
	const char *e = getenv("HIO_METRICS_LISTEN");

	if (e && *e)
		return;
	snprintf(v, sizeof(v), strchr(host, ':') ? "[%s]:0" : "%s:0", host);
	if (setenv("HIO_METRICS_LISTEN", v, 1) < 0)
		fprintf(stderr, "hio: cannot turn /metrics on (%s); the daemons serve none\n",
			strerror(errno));
}

int cli_spool_max_check(const char *s)
{
	uint64_t v;

	if (hio_parse_size(s, 1, UINT64_MAX, &v) == 0)
		return 0;
	return cli_fail("--spool-max: '%s' is not a size: a whole number of bytes from 1, "
			"optionally with K, M, G or T (e.g. 512M, 10G)",
			s);
}
