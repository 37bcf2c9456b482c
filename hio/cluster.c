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

static int down_dir(const char *dir);

const struct option cli_up_opts[] = {{"pes", required_argument, 0, 'n'},
				     {"exec", required_argument, 0, 'e'},
				     {"runtime", required_argument, 0, 'r'},
				     {"image", required_argument, 0, 'i'},
				     {"mount", required_argument, 0, 'm'},
				     {"state-dir", required_argument, 0, 's'},
				     {"port", required_argument, 0, 'p'},
				     {"min-pes", required_argument, 0, 'a'},
				     {"max-pes", required_argument, 0, 'b'},
				     {"timeout-ms", required_argument, 0, 't'},
				     {"pipeline", required_argument, 0, 'P'},
				     {"spool-max", required_argument, 0, 'S'},
				     {"serve", required_argument, 0, 'R'},
				     {"retention", required_argument, 0, 'T'},
				     /* Passed on to hio-worker --runtime slurm. */
				     {"slurm-partition", required_argument, 0, 'L'},
				     {"slurm-account", required_argument, 0, 'L'},
				     {"slurm-time", required_argument, 0, 'L'},
				     {"slurm-cpus", required_argument, 0, 'L'},
				     {"slurm-mem", required_argument, 0, 'L'},
				     {"slurm-pe-bin", required_argument, 0, 'L'},
				     {"slurm-log-dir", required_argument, 0, 'L'},
				     {"slurm-pending-warn", required_argument, 0, 'L'},
				     {0, 0, 0, 0}};

int cmd_up(int argc, char **argv)
{
	const char *slurm_args[2 * 8];
	char slurm_opt[8][32];
	int nslurm = 0, li = 0;
	const char *exec_cmd = "cat \"$HIO_INPUT\" | wc -c", *runtime = "process", *image = NULL;
	const char *mount = NULL, *pipeline = "default", *spool_max = "10G", *retention = NULL;
	char dir[PATH_MAX], path[PATH_MAX + 64], listen[64], maxbuf[16], *url = NULL;
	char *master_bin = NULL, *worker_bin = NULL, *fs_bin = NULL;
	int pes = 2, port = 0, min_pes = -1, max_pes = -1, c, rc = 1, exec_given = 0, serve = 0;
	int started = 0;
	long timeout_ms = 0;
	pid_t mpid, wpid;
	hio_http *h = NULL;
	json_t *body = NULL, *st = NULL;
	char err[512];
	uint64_t deadline;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = cli_getopt(argc, argv, cli_up_opts, &li)) != -1) {
		switch (c) {
		case 'L':
			if (nslurm >= 8)
				return cli_fail("too many --slurm-* options");
			snprintf(slurm_opt[nslurm], sizeof(slurm_opt[0]), "--%s",
				 cli_up_opts[li].name);
			slurm_args[2 * nslurm] = slurm_opt[nslurm];
			slurm_args[2 * nslurm + 1] = optarg;
			nslurm++;
			break;
		case 'n':
			if (hio_parse_flag_int("--pes", optarg, 0, 1000, &pes, err, sizeof(err)))
				return cli_fail("%s", err);
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
		case 'T': { /* checked here, so a bad age names the flag before anything starts */
			long age;

			if (hio_parse_age(optarg, 100L * 366 * 86400, &age) < 0 || age == 0)
				return cli_fail(
				    "--retention: '%s' is not an age (a whole number above "
				    "0, then s, m, h, d or w; at most 100 years)",
				    optarg);
			retention = optarg;
			break;
		}
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
			if (hio_parse_flag_int("--port", optarg, 0, 65535, &port, err, sizeof(err)))
				return cli_fail("%s", err);
			break;
		case 'a':
			if (hio_parse_flag_int("--min-pes", optarg, 0, 1000, &min_pes, err,
					       sizeof(err)))
				return cli_fail("%s", err);
			break;
		case 'b':
			if (hio_parse_flag_int("--max-pes", optarg, 1, 1000, &max_pes, err,
					       sizeof(err)))
				return cli_fail("%s", err);
			break;
		case 't':
			if (hio_parse_flag("--timeout-ms", optarg, 1, 86400000L, &timeout_ms, err,
					   sizeof(err)))
				return cli_fail("%s", err);
			break;
		case 'P':
			pipeline = optarg;
			break;
		case 'S':
			if (cli_spool_max_check(optarg))
				return 1;
			spool_max = optarg;
			break;
		default:
			return cli_fail("usage: hio up [--pes N] [--exec CMD] ... (hio --help)");
		}
	}
	if (strcmp(runtime, "process") && strcmp(runtime, "docker") && strcmp(runtime, "slurm"))
		return cli_fail("--runtime must be process, docker or slurm");
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
	if (cli_pid_alive(cli_pid_read(dir, "master.pid")))
		return cli_fail("a cluster already runs with state dir %s; run 'hio down' first",
				dir);
	/* The master is gone but a worker or mount of that cluster may live on (the
	 * master crashed): a second worker or a second hio-fs on the same spool would
	 * run beside them, and hio down would know only the new ones. */
	if (cli_pid_alive(cli_pid_read(dir, "worker.pid")) ||
	    cli_pid_alive(cli_pid_read(dir, "fs.pid"))) {
		fprintf(stderr,
			"hio: the cluster of %s lost its master; stopping its worker and mount "
			"first\n",
			dir);
		down_dir(dir);
	}
	master_bin = cli_need_program("hio-master");
	worker_bin = cli_need_program("hio-worker");
	if (!master_bin || !worker_bin)
		goto out;
	if (mount && !(fs_bin = cli_need_program("hio-fs")))
		goto out;

	/* The token: kept across restarts so running clients and PEs stay valid. */
	cli_state_path(path, sizeof(path), dir, "token");
	if (access(path, R_OK) != 0) {
		char tok[65];
		hio_token_new(tok);
		if (hio_file_write_atomic(path, tok, strlen(tok), 1) < 0) {
			cli_fail("cannot write the token %s: %s", path, strerror(errno));
			goto out;
		}
	}
	cli_state_path(path, sizeof(path), dir, "master.url");
	unlink(path);

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	char tokpath[PATH_MAX + 64];
	cli_state_path(tokpath, sizeof(tokpath), dir, "token");
	const char *margv[] = {master_bin, "--state-dir",
			       dir,	   "--listen",
			       listen,	   "--token-file",
			       tokpath,	   retention ? "--retention" : NULL,
			       retention,  NULL};
	/* One machine: the worker, its PEs and the mount on loopback, like the master. */
	cli_metrics_default("127.0.0.1");
	started = 1; /* from here on, a failure stops whatever was started */
	mpid = cli_spawn(dir, "master", margv);
	if (mpid < 0)
		goto out;
	deadline = hio_mono_ms() + UP_MASTER_WAIT_MS;
	while (!(url = hio_file_read(path, 512, NULL))) {
		if (cli_child_died(mpid, "master", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("master did not start within %d s; see %s/master.log",
				 UP_MASTER_WAIT_MS / 1000, dir);
			goto out;
		}
		cli_sleep_ms(CLI_POLL_MS);
	}
	url[strcspn(url, "\r\n ")] = '\0';

	snprintf(maxbuf, sizeof(maxbuf), "%d", max_pes);
	/* The worker holds the join credential only (SPEC, Security). */
	char joinpath[PATH_MAX + 64];
	cli_state_path(joinpath, sizeof(joinpath), dir, "join-token");
	const char *wargv[32] = {worker_bin, "--master",    url,     "--token-file",
				 joinpath,   "--runtime",   runtime, "--max-pes",
				 maxbuf,     "--state-dir", dir};
	for (int i = 0; i < 2 * nslurm; i++)
		wargv[11 + i] = slurm_args[i];
	wpid = cli_spawn(dir, "worker", wargv);
	if (wpid < 0)
		goto out;

	struct hio_client_conf conf;
	h = cli_connect(dir, &conf);
	if (!h)
		goto out;
	/* In a container the image's command is the default; --exec overrides it. A
	 * pipeline the state dir already holds keeps its analysis unless --exec or
	 * --serve says otherwise (hio pipeline set changes it on a running master). */
	body = json_pack("{s:i}", "pes", pes);
	if (!exec_given && (st = cli_status(h))) {
		json_t *pls = json_object_get(st, "pipelines"), *pl;
		size_t k;

		json_array_foreach(pls, k, pl)
		{
			const char *n = json_string_value(json_object_get(pl, "name"));

			if (n && !strcmp(n, pipeline)) {
				fprintf(
				    stderr,
				    "hio: pipeline %s keeps its analysis (version %lld); give "
				    "--exec or --serve to change it\n",
				    pipeline,
				    (long long)json_integer_value(json_object_get(pl, "version")));
				exec_given = -1; /* kept */
			}
		}
		json_decref(st);
		st = NULL;
	}
	if (exec_given == 1 || (!exec_given && strcmp(runtime, "docker") != 0))
		json_object_set_new(body, "exec", json_string(exec_cmd));
	if (exec_given >= 0)
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
		if (cli_child_died(wpid, "worker", dir) || cli_child_died(mpid, "master", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("%d PE(s) not idle within %d s; see %s/worker.log", pes,
				 UP_PES_WAIT_MS / 1000, dir);
			goto out;
		}
		cli_sleep_ms(CLI_POLL_MS);
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
		pid_t fpid = cli_spawn(dir, "fs", fargv);
		if (fpid < 0)
			goto out;
		deadline = hio_mono_ms() + UP_MOUNT_WAIT_MS;
		while (!cli_mount_ready(mount)) {
			if (cli_child_died(fpid, "fs", dir))
				goto out;
			if (hio_mono_ms() > deadline) {
				cli_fail("mount %s not ready within %d s; see %s/fs.log", mount,
					 UP_MOUNT_WAIT_MS / 1000, dir);
				goto out;
			}
			cli_sleep_ms(CLI_POLL_MS);
		}
		cli_state_path(path, sizeof(path), dir, "mount");
		hio_file_write_atomic(path, mount, strlen(mount), 0);
	}
	printf("%s\n", url);
	rc = 0;
out:
	/* Everything or nothing: a half-started cluster would hold the state dir. */
	if (rc && started && down_dir(dir))
		fprintf(stderr, "hio: stopped what this hio up had started (logs stay in %s)\n",
			dir);
	json_decref(body);
	json_decref(st);
	hio_http_free(h);
	free(url);
	free(master_bin);
	free(worker_bin);
	free(fs_bin);
	return rc;
}

/* Stops what a cluster of dir runs (mount, worker, master) and forgets it. Returns
 * how many of its daemons were still running. */
static int down_dir(const char *dir)
{
	char path[PATH_MAX + 64], *mnt;
	pid_t fs = cli_pid_read(dir, "fs.pid"), worker = cli_pid_read(dir, "worker.pid"),
	      master = cli_pid_read(dir, "master.pid");
	int alive = cli_pid_alive(fs) + cli_pid_alive(worker) + cli_pid_alive(master);

	cli_state_path(path, sizeof(path), dir, "mount");
	mnt = hio_file_read(path, PATH_MAX, NULL);
	if (mnt) {
		cli_unmount(mnt);
		free(mnt);
		unlink(path);
	}
	cli_stop_pid(fs, "hio-fs");
	cli_stop_pid(worker, "hio-worker");
	cli_stop_pid(master, "hio-master");
	static const char *const files[] = {"fs.pid", "worker.pid", "master.pid", "master.url"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cli_state_path(path, sizeof(path), dir, files[i]);
		unlink(path);
	}
	return alive;
}

const struct option cli_down_opts[] = {{"state-dir", required_argument, 0, 's'}, {0, 0, 0, 0}};

int cmd_down(int argc, char **argv)
{
	char dir[PATH_MAX];
	int c;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = cli_getopt(argc, argv, cli_down_opts, NULL)) != -1) {
		if (c != 's')
			return cli_fail("usage: hio down [--state-dir DIR]");
		snprintf(dir, sizeof(dir), "%s", optarg);
	}
	if (!down_dir(dir))
		fprintf(stderr, "hio: no cluster runs with state dir %s\n", dir);
	return 0;
}
