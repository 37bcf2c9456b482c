/* hio up / hio down: a whole local cluster in the background, remembered in the
 * state dir (token, master.url, *.pid, *.log). */
#include "cli.h"
#include "hio_log.h"
#include "hio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UP_MASTER_WAIT_MS 15000
#define UP_PES_WAIT_MS 60000
#define UP_MOUNT_WAIT_MS 15000
#define DOWN_GRACE_MS 15000
#define POLL_MS 20

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void state_path(char *out, size_t n, const char *dir, const char *file)
{
	snprintf(out, n, "%s/%s", dir, file);
}

static pid_t pid_read(const char *dir, const char *file)
{
	char path[PATH_MAX + 64];
	char *s;
	long v;

	state_path(path, sizeof(path), dir, file);
	s = hio_file_read(path, 64, NULL);
	if (!s)
		return 0;
	v = strtol(s, NULL, 10);
	free(s);
	return v > 1 ? (pid_t)v : 0;
}

static int pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Starts argv in the background, detached (own session), output to DIR/log.
 * Returns the pid and records it in DIR/pidfile, or -1. */
static pid_t spawn(const char *dir, const char *name, const char *const argv[])
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
static int child_died(pid_t pid, const char *what, const char *dir)
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

static char *need_program(const char *name)
{
	char *p = hio_find_program(name);

	if (!p)
		cli_fail("cannot find the program %s (looked in $HIO_BIN_DIR, next to hio, in the "
			 "build tree and in $PATH)",
			 name);
	return p;
}

/* Counts idle PEs of a pipeline in a status answer. */
static int idle_pes(json_t *st, const char *pipeline)
{
	json_t *pes = json_object_get(st, "pes"), *pe;
	size_t i;
	int n = 0;

	json_array_foreach(pes, i, pe)
	{
		const char *p = json_string_value(json_object_get(pe, "pipeline"));
		const char *s = json_string_value(json_object_get(pe, "state"));
		if (p && s && !strcmp(p, pipeline) && !strcmp(s, "idle"))
			n++;
	}
	return n;
}

static int mount_ready(const char *mnt)
{
	char path[PATH_MAX + 16];
	struct stat st;

	/* hio-fs answers for results/ only once it serves the mount. */
	snprintf(path, sizeof(path), "%s/results", mnt);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pes", required_argument, 0, 'n'},	     {"exec", required_argument, 0, 'e'},
	    {"runtime", required_argument, 0, 'r'},  {"image", required_argument, 0, 'i'},
	    {"mount", required_argument, 0, 'm'},    {"state-dir", required_argument, 0, 's'},
	    {"port", required_argument, 0, 'p'},     {"min-pes", required_argument, 0, 'a'},
	    {"max-pes", required_argument, 0, 'b'},  {"timeout-ms", required_argument, 0, 't'},
	    {"pipeline", required_argument, 0, 'P'}, {"spool-max", required_argument, 0, 'S'},
	    {"serve", required_argument, 0, 'R'},    {0, 0, 0, 0}};
	const char *exec_cmd = "cat \"$HIO_INPUT\" | wc -c", *runtime = "process", *image = NULL;
	const char *mount = NULL, *pipeline = "default", *spool_max = "10G";
	char dir[PATH_MAX], path[PATH_MAX + 64], listen[64], maxbuf[16], *url = NULL;
	char *master_bin = NULL, *worker_bin = NULL, *fs_bin = NULL;
	int pes = 2, port = 0, min_pes = -1, max_pes = -1, c, rc = 1, exec_given = 0, serve = 0;
	long timeout_ms = 0;
	pid_t mpid, wpid;
	hio_http *h = NULL;
	json_t *body = NULL, *st = NULL;
	char err[512];
	uint64_t deadline;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			pes = atoi(optarg);
			break;
		case 'e':
		case 'R': /* the same command, run resident (SPEC "Resident analyses") */
			exec_cmd = optarg;
			exec_given = 1;
			serve = c == 'R';
			break;
		case 'r':
			runtime = optarg;
			break;
		case 'i':
			image = optarg;
			break;
		case 'm':
			mount = optarg;
			break;
		case 's':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'a':
			min_pes = atoi(optarg);
			break;
		case 'b':
			max_pes = atoi(optarg);
			break;
		case 't':
			timeout_ms = atol(optarg);
			break;
		case 'P':
			pipeline = optarg;
			break;
		case 'S':
			spool_max = optarg;
			break;
		default:
			return cli_fail("usage: hio up [--pes N] [--exec CMD] ... (hio --help)");
		}
	}
	if (pes < 0 || pes > 1000 || port < 0 || port > 65535)
		return cli_fail("--pes must be 0..1000 and --port 0..65535");
	if (strcmp(runtime, "process") && strcmp(runtime, "docker"))
		return cli_fail("--runtime must be process or docker");
	if (!strcmp(runtime, "docker") && !image)
		return cli_fail("--runtime docker needs --image IMG");
	/* The autoscaler moves the count within min..max; --pes is where it starts. */
	if (max_pes < 0)
		max_pes = pes > 8 ? pes : 8;
	if (min_pes < 0)
		min_pes = pes < 1 ? pes : 1;
	if (max_pes < pes || min_pes > pes)
		return cli_fail("--pes (%d) must be within --min-pes (%d) and --max-pes (%d)", pes,
				min_pes, max_pes);
	if (hio_mkdir_p(dir) < 0)
		return cli_fail("cannot create the state dir %s: %s", dir, strerror(errno));
	if (pid_alive(pid_read(dir, "master.pid")))
		return cli_fail("a cluster already runs with state dir %s; run 'hio down' first",
				dir);
	master_bin = need_program("hio-master");
	worker_bin = need_program("hio-worker");
	if (!master_bin || !worker_bin)
		goto out;
	if (mount && !(fs_bin = need_program("hio-fs")))
		goto out;

	/* The token: kept across restarts so running clients and PEs stay valid. */
	state_path(path, sizeof(path), dir, "token");
	if (access(path, R_OK) != 0) {
		char tok[65];
		hio_token_new(tok);
		if (hio_file_write_atomic(path, tok, strlen(tok), 1) < 0) {
			cli_fail("cannot write the token %s: %s", path, strerror(errno));
			goto out;
		}
	}
	state_path(path, sizeof(path), dir, "master.url");
	unlink(path);

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	char tokpath[PATH_MAX + 64];
	state_path(tokpath, sizeof(tokpath), dir, "token");
	const char *margv[] = {master_bin, "--state-dir",  dir,	    "--listen",
			       listen,	   "--token-file", tokpath, NULL};
	mpid = spawn(dir, "master", margv);
	if (mpid < 0)
		goto out;
	deadline = hio_mono_ms() + UP_MASTER_WAIT_MS;
	while (!(url = hio_file_read(path, 512, NULL))) {
		if (child_died(mpid, "master", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("master did not start within %d s; see %s/master.log",
				 UP_MASTER_WAIT_MS / 1000, dir);
			goto out;
		}
		sleep_ms(POLL_MS);
	}
	url[strcspn(url, "\r\n ")] = '\0';

	snprintf(maxbuf, sizeof(maxbuf), "%d", max_pes);
	const char *wargv[] = {worker_bin, "--master",	  url,	   "--token-file",
			       tokpath,	   "--runtime",	  runtime, "--max-pes",
			       maxbuf,	   "--state-dir", dir,	   NULL};
	wpid = spawn(dir, "worker", wargv);
	if (wpid < 0)
		goto out;

	struct hio_client_conf conf;
	h = cli_connect(dir, &conf);
	if (!h)
		goto out;
	/* In a container the image's command is the default; --exec overrides it. */
	body = json_pack("{s:i}", "pes", pes);
	if (exec_given || strcmp(runtime, "docker") != 0)
		json_object_set_new(body, "exec", json_string(exec_cmd));
	json_object_set_new(body, "serve", json_boolean(serve));
	if (image)
		json_object_set_new(body, "image", json_string(image));
	if (timeout_ms > 0)
		json_object_set_new(body, "timeout_ms", json_integer(timeout_ms));
	json_object_set_new(body, "min_pes", json_integer(min_pes));
	json_object_set_new(body, "max_pes", json_integer(max_pes));
	snprintf(path, sizeof(path), "/v1/pipelines/%s", pipeline);
	if (hio_http_json(h, "POST", path, body, NULL, err, sizeof(err)) != 200) {
		cli_fail("cannot configure pipeline %s: %s", pipeline, err);
		goto out;
	}
	deadline = hio_mono_ms() + UP_PES_WAIT_MS;
	for (;;) {
		json_decref(st);
		st = NULL;
		if (hio_http_json(h, "GET", "/v1/status", NULL, &st, err, sizeof(err)) == 200 &&
		    idle_pes(st, pipeline) >= pes)
			break;
		if (child_died(wpid, "worker", dir) || child_died(mpid, "master", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("%d PE(s) not idle within %d s; see %s/worker.log", pes,
				 UP_PES_WAIT_MS / 1000, dir);
			goto out;
		}
		sleep_ms(POLL_MS);
	}
	if (mount) {
		if (hio_mkdir_p(mount) < 0) {
			cli_fail("cannot create the mount point %s: %s", mount, strerror(errno));
			goto out;
		}
		char spool[PATH_MAX + 16];
		snprintf(spool, sizeof(spool), "%s/spool", dir);
		const char *fargv[] = {
		    fs_bin,	   "-f",      "--token-file", tokpath,	"--spool", spool,
		    "--spool-max", spool_max, "--pipeline",   pipeline, url,	   mount,
		    NULL};
		pid_t fpid = spawn(dir, "fs", fargv);
		if (fpid < 0)
			goto out;
		deadline = hio_mono_ms() + UP_MOUNT_WAIT_MS;
		while (!mount_ready(mount)) {
			if (child_died(fpid, "fs", dir))
				goto out;
			if (hio_mono_ms() > deadline) {
				cli_fail("mount %s not ready within %d s; see %s/fs.log", mount,
					 UP_MOUNT_WAIT_MS / 1000, dir);
				goto out;
			}
			sleep_ms(POLL_MS);
		}
		state_path(path, sizeof(path), dir, "mount");
		hio_file_write_atomic(path, mount, strlen(mount), 0);
	}
	printf("%s\n", url);
	rc = 0;
out:
	json_decref(body);
	json_decref(st);
	hio_http_free(h);
	free(url);
	free(master_bin);
	free(worker_bin);
	free(fs_bin);
	return rc;
}

/* SIGTERM, then SIGKILL after grace. Our own children are reaped; others polled. */
static void stop_pid(pid_t pid, const char *what)
{
	uint64_t deadline = hio_mono_ms() + DOWN_GRACE_MS;

	if (!pid_alive(pid))
		return;
	kill(pid, SIGTERM);
	while (pid_alive(pid)) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		if (hio_mono_ms() > deadline) {
			hio_warn("%s (pid %d) did not stop within %d s; killing it", what, (int)pid,
				 DOWN_GRACE_MS / 1000);
			kill(pid, SIGKILL);
			break;
		}
		sleep_ms(POLL_MS);
	}
}

static int run_quiet(const char *const argv[])
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

static void unmount(const char *mnt)
{
	const char *u[] = {"fusermount3", "-u", mnt, NULL};
	const char *lazy[] = {"fusermount3", "-u", "-z", mnt, NULL};

	if (run_quiet(u) == 0)
		return;
	/* A reader still inside the mount (a shell, a file manager) keeps it busy. */
	hio_warn("mount %s is busy; detaching it lazily", mnt);
	if (run_quiet(lazy) != 0)
		hio_warn("could not unmount %s; try 'fusermount3 -u -z %s'", mnt, mnt);
}

int cmd_down(int argc, char **argv)
{
	static const struct option opts[] = {{"state-dir", required_argument, 0, 's'},
					     {0, 0, 0, 0}};
	char dir[PATH_MAX], path[PATH_MAX + 64];
	char *mnt;
	pid_t fs, worker, master;
	int c;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 's')
			return cli_fail("usage: hio down [--state-dir DIR]");
		snprintf(dir, sizeof(dir), "%s", optarg);
	}
	fs = pid_read(dir, "fs.pid");
	worker = pid_read(dir, "worker.pid");
	master = pid_read(dir, "master.pid");
	if (!pid_alive(fs) && !pid_alive(worker) && !pid_alive(master))
		fprintf(stderr, "hio: no cluster runs with state dir %s\n", dir);
	state_path(path, sizeof(path), dir, "mount");
	mnt = hio_file_read(path, PATH_MAX, NULL);
	if (mnt) {
		unmount(mnt);
		free(mnt);
		unlink(path);
	}
	stop_pid(fs, "hio-fs");
	stop_pid(worker, "hio-worker");
	stop_pid(master, "hio-master");
	static const char *const files[] = {"fs.pid", "worker.pid", "master.pid", "master.url"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		state_path(path, sizeof(path), dir, files[i]);
		unlink(path);
	}
	return 0;
}
