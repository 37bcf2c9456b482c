/* pe_spawn.c: where and as whom the analysis runs. The PE's workdir (reachable by the
 * analysis's user), that user's part of it and of each scratch directory, and the
 * start of /bin/sh -c COMMAND: posix_spawn as the PE, or vfork and a user of its own
 * (docs/security.md). */
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_util.h"
#include "pe_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Our own directory (never the given one itself, which may hold other things). With
 * ra, the analysis's user must reach it: a base this call made is opened to search
 * (0711); one that stays closed is refused with what to change. */
char *pe_workdir_make(const char *base, const struct hio_pe_runas *ra)
{
	char tmpl[PATH_MAX], *abs;
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	int existed;

	if (!base)
		base = tmp && *tmp ? tmp : "/tmp";
	existed = stat(base, &st) == 0;
	if (hio_mkdir_p(base) < 0) {
		hio_err("cannot make workdir %s: %s; not starting", base, strerror(errno));
		return NULL;
	}
	if (ra && !existed && chmod(base, 0711) < 0) {
		hio_err("cannot open workdir %s to search: %s; not starting", base,
			strerror(errno));
		return NULL;
	}
	if (ra && !hio_path_searchable(base)) {
		hio_err("the analysis runs as uid %u (--run-as), which cannot reach workdir %s "
			"(it or a directory above it is not searchable by others); give a "
			"--workdir such as /var/tmp/hio, or --run-as none; not starting",
			ra->uid, base);
		return NULL;
	}
	if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/hio-pe-XXXXXX", base) >= sizeof(tmpl) ||
	    !mkdtemp(tmpl)) {
		hio_err("cannot make a scratch dir under %s: %s; not starting", base,
			strerror(errno));
		return NULL;
	}
	abs = realpath(tmpl, NULL);
	if (!abs)
		hio_err("cannot resolve %s: %s; not starting", tmpl, strerror(errno));
	return abs;
}

/* The workdir becomes the analysis's group's only (0750: it sees its own PE's
 * messages, nobody else gets in) and WORKDIR/home its HOME; the exec or resident
 * handler starts the command as that user. */
int pe_runas_setup(struct pe *pe, const struct hio_pe_runas *ra)
{
	if (asprintf(&pe->home, "%s/home", pe->workdir) < 0) {
		pe->home = NULL;
		hio_err("out of memory; not starting");
		return -1;
	}
	if (chown(pe->workdir, geteuid(), (gid_t)ra->gid) < 0 || chmod(pe->workdir, 0750) < 0 ||
	    mkdir(pe->home, 0700) < 0 || chown(pe->home, (uid_t)ra->uid, (gid_t)ra->gid) < 0) {
		hio_err("cannot give uid %u:%u its part of workdir %s: %s; not starting", ra->uid,
			ra->gid, pe->workdir, strerror(errno));
		return -1;
	}
	if (pe->handler == hio_pe_exec_handler) {
		pe->exec.run_as = ra;
		pe->exec.home = pe->home;
		pe->analysis_as = ra;
	} else if (pe->handler == hio_pe_serve_handler) {
		struct hio_pe_serve *sv = pe->handler_ud;

		if (!sv->run_as)
			sv->run_as = ra;
		if (!sv->home)
			sv->home = pe->home;
		if (sv->run_as == ra)
			pe->analysis_as = ra;
	}
	hio_info("the analysis runs as uid %u, gid %u", ra->uid, ra->gid);
	return 0;
}

/* A linked input (pe_recv.c) is the sender's inode, already 0644: a chmod would change
 * its ctime in the user's mount, so only a file of another mode is changed. */
static int make_readable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 07777) == 0644)
		return 0;
	return chmod(path, 0644);
}

int pe_runas_prepare(const struct hio_pe_runas *ra, int ready, const char *dir,
		     const char *readable, const char *outdir, int own_input)
{
	char d[PATH_MAX];

	if (ready)
		return readable ? make_readable(readable) : 0;
	/* Reached through the workdir (0750, the analysis's group): the scratch is
	 * readable and not writable; HIO_OUTPUT is the analysis's own, and input/ too
	 * when the resident writes its inline input there itself. Every path changed
	 * here is in a directory of ours, so no link the analysis made is followed:
	 * readable is the placed input in our input/, or the received file it links. */
	snprintf(d, sizeof(d), "%s/input", dir);
	if (chmod(dir, 0755) < 0 || (readable && make_readable(readable) < 0) ||
	    chown(outdir, (uid_t)ra->uid, (gid_t)ra->gid) < 0)
		return -1;
	if (own_input ? chown(d, (uid_t)ra->uid, (gid_t)ra->gid) < 0 && errno != ENOENT
		      : chmod(d, 0755) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Default signals: the PE ignores SIGPIPE and catches SIGTERM/SIGINT. */
static int pe_spawn_setup(posix_spawn_file_actions_t *fa, int *fa_ok, posix_spawnattr_t *at,
			  int *at_ok, int in, int out, int err)
{
	sigset_t none, def;

	if (posix_spawn_file_actions_init(fa) != 0)
		return -1;
	*fa_ok = 1;
	if (posix_spawnattr_init(at) != 0)
		return -1;
	*at_ok = 1;
	sigemptyset(&none);
	sigemptyset(&def);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaddset(&def, s);
	if (posix_spawn_file_actions_adddup2(fa, in, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, out, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, err, 2) != 0 ||
	    /* Not every descriptor of a threaded PE is close-on-exec in time (libcurl's, a
	     * session's being accepted): the command gets 0, 1 and 2 only. */
	    posix_spawn_file_actions_addclosefrom_np(fa, 3) != 0 ||
	    posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					     POSIX_SPAWN_SETSIGDEF) != 0 ||
	    posix_spawnattr_setpgroup(at, 0) != 0 || posix_spawnattr_setsigdefault(at, &def) != 0 ||
	    posix_spawnattr_setsigmask(at, &none) != 0)
		return -1;
	return 0;
}

/* The child of a run-as spawn (vfork: it shares the PE's memory until it execs, so
 * only async-signal-safe calls and raw system calls; credentials are per task, so
 * setting them here changes only the child). Any
 * failure is said on fd 2 and ends the child with 126, as sh does for a command it
 * cannot run. */
static void runas_child(int in, int out, int err, char *const argv[], char *const env[],
			const struct hio_pe_runas *ra)
{
	static const char msg[] = "hio-pe: cannot become the analysis's user\n";
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	gid_t g = (gid_t)ra->gid;

	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	setpgid(0, 0);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (syscall(SYS_setgroups, 1, &g) != 0 ||
	    syscall(SYS_setresgid, ra->gid, ra->gid, ra->gid) != 0 ||
	    syscall(SYS_setresuid, ra->uid, ra->uid, ra->uid) != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(126);
	}
	execve("/bin/sh", argv, env);
	_exit(127);
}

int pe_spawn_sh(pid_t *pid, int in, int out, int err, char *const argv[], char *const env[],
		const struct hio_pe_runas *ra)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int fa_ok = 0, at_ok = 0, rc;
	pid_t p;

	if (ra) {
		/* posix_spawn cannot change the user, so this does what it does: vfork (no
		 * copy of the PE's page tables, which made fork() cost 3 ms a message,
		 * bench/run_as), then the user is set in the child, which touches only its
		 * own stack and makes only async-signal-safe calls until it execs. */
		p = vfork();
		if (p < 0)
			return errno;
		if (p == 0)
			runas_child(in, out, err, argv, env, ra);
		*pid = p;
		return 0;
	}
	if (pe_spawn_setup(&fa, &fa_ok, &at, &at_ok, in, out, err) < 0)
		rc = ENOMEM;
	else
		rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	return rc;
}
