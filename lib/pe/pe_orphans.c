/* Escaped descendants: what an analysis started and left running outside its process
 * group (setsid, a double fork) comes back to the PE, its subreaper, as an orphan, and
 * is killed when its message ends (docs/pe.md, "The processing contract"). */
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_util.h"
#include "pe_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PE_ORPHAN_ROUNDS 16 /* a killed orphan's children become ours: look again */

static int contain_on; /* set once, before any thread, by hio_pe_contain_descendants */

int hio_pe_contain_descendants(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return -1;
	contain_on = 1;
	return 0;
}

/* Kills and reaps pid, an orphan an analysis left. */
static void kill_one(pid_t pid)
{
	hio_info("killing pid %ld, left running by an analysis", (long)pid);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The parent pid in /proc/PID/stat ("pid (comm) S ppid ..."; comm may hold anything). */
static pid_t proc_ppid(const char *pid)
{
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;
	long long pp;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %*c %lld", &pp) != 1)
		return -1;
	return (pid_t)pp;
}

/* One round over every process of the system (a kernel without
 * /proc/PID/task/TID/children). The number killed. */
static int round_all(pid_t self, pid_t keep)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		long v;

		if (hio_parse_long(de->d_name, 1, INT32_MAX, &v) < 0 || (pid_t)v == keep ||
		    proc_ppid(de->d_name) != self)
			continue;
		/* Threads of this process are not in /proc's top level; any child that is
		 * not the resident is something an analysis left behind. */
		kill_one((pid_t)v);
		found++;
	}
	closedir(d);
	return found;
}

/* Kills the children listed in buf (a /proc/.../children file's n bytes) but keep.
 * The number killed. */
static int kill_list(char *buf, ssize_t n, pid_t keep)
{
	char *p, *end;
	int found = 0;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = buf;; p = end) {
		long v = strtol(p, &end, 10);

		/* Each pid ends in a space: one cut by a full buffer is not taken for
		 * another. */
		if (end == p || *end != ' ')
			break;
		if (v > 0 && (pid_t)v != keep) {
			kill_one((pid_t)v);
			found++;
		}
	}
	return found;
}

/* Kills the children listed in one /proc/.../children file but keep. The number
 * killed, or -1 when the file cannot be opened. */
static int kill_listed(const char *path, pid_t keep)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	/* A child that appears or goes during the read may shift the list: the caller
	 * looks again while a round finds anything. */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return kill_list(buf, n, keep);
}

/* One round over this process's own children: each thread's
 * /proc/self/task/TID/children lists the children it started or was given. A few small
 * reads instead of one per process of the system. The number killed, or -1 when the
 * kernel has no such file. */
static int round_threads(pid_t keep)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int found = 0, any = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[96];
		int k;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name);
		k = kill_listed(path, keep); /* -1: a thread that ended meanwhile */
		if (k >= 0) {
			any = 1;
			found += k;
		}
	}
	closedir(d);
	return any ? found : -1;
}

static void kill_rounds(pid_t keep)
{
	pid_t self = getpid();

	for (int round = 0; round < PE_ORPHAN_ROUNDS; round++) {
		int found = round_threads(keep);

		if (found < 0)
			found = round_all(self, keep);
		if (!found)
			return;
	}
}

/* The main thread's children list, held open: read again from offset 0, a seq_file
 * lists the children as they are now. -2: not opened yet; -1: cannot be. */
static int leader_fd = -2;
static pthread_once_t leader_once = PTHREAD_ONCE_INIT;

static void leader_open(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children", (long)getpid());
	leader_fd = open(path, O_RDONLY | O_CLOEXEC);
}

/* 0 when the main thread has no child but keep; 1 when it has, or when that cannot
 * be told cheaply. The caller's own children are the command it started (reaped, or
 * keep). */
static int any_orphan(pid_t keep)
{
	char buf[4096], *p, *end;
	ssize_t n;

	pthread_once(&leader_once, leader_open);
	if (leader_fd < 0)
		return 1;
	n = pread(leader_fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return 1;
	buf[n] = '\0';
	for (p = buf;; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			return 0;
		if ((pid_t)v != keep)
			return 1;
	}
}

void pe_kill_orphans(pid_t keep)
{
	/* Every thread's children, not only the caller's: the kernel hands an orphan to
	 * the first live thread of the subreaper (find_new_reaper, find_alive_thread:
	 * the thread list from its head, the main thread, which lives as long as the
	 * PE), not the one that started the command; reading only the caller's list
	 * left 19 setsid children of --exec analyses running (e2e_escape). So the main
	 * thread's list is the one to look at after each message: one pread of a file
	 * held open, where opening every thread's list was ~25 system calls a message
	 * (bench/serve_cpu). Anything there, and the full rounds run. */
	if (contain_on && any_orphan(keep))
		kill_rounds(keep);
}

void pe_kill_orphans_all(pid_t keep)
{
	if (contain_on)
		kill_rounds(keep);
}
