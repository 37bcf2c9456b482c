/* hio master / hio join / hio mount: one role per host (SPEC "Deployment on several
 * hosts"). Each starts its daemon in the background with a state dir of its own, as
 * `hio up` does, returns once the daemon answers, and leaves STATE/master.url and
 * STATE/token behind so that every other command (status, wait, down) works there. */
#include "cli.h"
#include "hio_log.h"
#include "hio_net.h"
#include "hio_util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REMOTE_START_WAIT_MS 15000
#define MASTER_LISTEN_DEFAULT "0.0.0.0:7700"

/* The token file's contents into STATE/token (0600), so commands run here find it. */
static int keep_conf(const char *dir, const char *url, const char *token_file)
{
	char tok[HIO_TOKEN_MAX + 1], err[256], path[PATH_MAX + 16];

	if (hio_token_load(token_file, tok, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	cli_state_path(path, sizeof(path), dir, "token");
	if (hio_file_write_atomic(path, tok, strlen(tok), 1) < 0)
		return cli_fail("cannot write %s: %s", path, strerror(errno));
	cli_state_path(path, sizeof(path), dir, "master.url");
	if (hio_file_write_atomic(path, url, strlen(url), 1) < 0)
		return cli_fail("cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* The master answers GET /v1/status with this token: 1, else 0 with the reason in err. */
static int master_answers(const char *url, const char *token, char *err, size_t errlen)
{
	hio_http *h = hio_http_new(url, token);
	long code;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	code = hio_http_json(h, "GET", "/v1/status", NULL, NULL, err, errlen);
	hio_http_free(h);
	return code == 200;
}

static int state_dir_ready(const char *dir, const char *pidfile, const char *what)
{
	if (hio_mkdir_p(dir) < 0)
		return cli_fail("cannot create the state dir %s: %s", dir, strerror(errno));
	if (cli_pid_alive(cli_pid_read(dir, pidfile)))
		return cli_fail(
		    "a %s already runs with state dir %s; run 'hio down --state-dir %s' "
		    "first",
		    what, dir, dir);
	return 0;
}

const struct option cli_master_opts[] = {{"listen", required_argument, 0, 'l'},
					 {"state-dir", required_argument, 0, 's'},
					 {"token-file", required_argument, 0, 't'},
					 {0, 0, 0, 0}};

int cmd_master(int argc, char **argv)
{
	const char *listen = MASTER_LISTEN_DEFAULT, *token_file = NULL;
	char dir[PATH_MAX], path[PATH_MAX + 16], tokpath[PATH_MAX + 16], host[256], err[512];
	char tok[HIO_TOKEN_MAX + 1], *bin = NULL, *url = NULL;
	uint64_t deadline;
	int c, port, rc = 1;
	pid_t pid;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = cli_getopt(argc, argv, cli_master_opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 's':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		case 't':
			token_file = optarg;
			break;
		default:
			return cli_fail("usage: hio master [--listen ADDR:PORT] [--state-dir DIR] "
					"[--token-file F]");
		}
	}
	if (optind < argc)
		return cli_fail("hio master: unexpected argument '%s'", argv[optind]);
	if (hio_net_split(listen, host, sizeof(host), &port) < 0)
		return cli_fail("--listen: '%s' is not ADDR:PORT (e.g. 0.0.0.0:7700)", listen);
	if (state_dir_ready(dir, "master.pid", "master"))
		return 1;
	if (!(bin = cli_need_program("hio-master")))
		goto out;
	/* The token: given, or kept in the state dir across restarts. */
	cli_state_path(tokpath, sizeof(tokpath), dir, "token");
	if (token_file) {
		if (hio_token_load(token_file, tok, err, sizeof(err)) < 0) {
			cli_fail("%s", err);
			goto out;
		}
		if (hio_file_write_atomic(tokpath, tok, strlen(tok), 1) < 0) {
			cli_fail("cannot write %s: %s", tokpath, strerror(errno));
			goto out;
		}
	} else if (access(tokpath, R_OK) != 0) {
		hio_token_new(tok);
		if (hio_file_write_atomic(tokpath, tok, strlen(tok), 1) < 0) {
			cli_fail("cannot write the token %s: %s", tokpath, strerror(errno));
			goto out;
		}
	}
	if (hio_token_read(tokpath, tok) < 0) {
		cli_fail("cannot read the token %s", tokpath);
		goto out;
	}
	cli_state_path(path, sizeof(path), dir, "master.url");
	unlink(path);
	const char *margv[] = {bin,    "--state-dir",  dir,	"--listen",
			       listen, "--token-file", tokpath, NULL};
	pid = cli_spawn(dir, "master", margv);
	if (pid < 0)
		goto out;
	deadline = hio_mono_ms() + REMOTE_START_WAIT_MS;
	for (;;) {
		free(url);
		url = hio_file_read(path, 512, NULL);
		if (url) {
			url[strcspn(url, "\r\n ")] = '\0';
			if (master_answers(url, tok, err, sizeof(err)))
				break;
		}
		if (cli_child_died(pid, "master", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("the master did not answer within %d s; see %s/master.log",
				 REMOTE_START_WAIT_MS / 1000, dir);
			goto out;
		}
		cli_sleep_ms(CLI_POLL_MS);
	}
	printf("%s\n", url);
	if (hio_net_is_loopback(host))
		fprintf(stderr,
			"hio: the master listens on %s, which only this host reaches; for other "
			"hosts, start it with --listen 0.0.0.0:%d\n",
			host, port);
	else
		fprintf(
		    stderr,
		    "Copy %s/join-token to each compute host and %s to each instrument PC "
		    "(mode 0600), then:\n"
		    "  on a compute host:   hio join %s --token-file JOIN_TOKEN_FILE\n"
		    "  on an instrument PC: hio mount %s /hio --token-file TOKEN_FILE\n"
		    "  here:                hio pipeline set default --exec 'COMMAND' --state-dir "
		    "%s\n",
		    dir, tokpath, url, url, dir);
	rc = 0;
out:
	free(url);
	free(bin);
	return rc;
}

/* The worker's id is in STATE/worker.id once it started; 1 when the master lists it. */
static int worker_listed(const char *url, const char *token, const char *dir)
{
	char path[PATH_MAX + 16], err[256], *id;
	json_t *st = NULL, *w;
	hio_http *h;
	size_t i;
	int found = 0;

	cli_state_path(path, sizeof(path), dir, "worker.id");
	id = hio_file_read(path, 128, NULL);
	if (!id)
		return 0;
	id[strcspn(id, " \r\n")] = '\0';
	h = hio_http_new(url, token);
	if (h && hio_http_json(h, "GET", "/v1/status", NULL, &st, err, sizeof(err)) == 200) {
		json_array_foreach(json_object_get(st, "workers"), i, w)
		{
			const char *wid = json_string_value(json_object_get(w, "id"));
			const char *state = json_string_value(json_object_get(w, "state"));
			if (wid && !strcmp(wid, id) && (!state || strcmp(state, "gone") != 0))
				found = 1;
		}
	}
	json_decref(st);
	hio_http_free(h);
	free(id);
	return found;
}

const struct option cli_join_opts[] = {
    {"token-file", required_argument, 0, 't'}, {"max-pes", required_argument, 0, 'x'},
    {"runtime", required_argument, 0, 'r'},    {"advertise", required_argument, 0, 'a'},
    {"state-dir", required_argument, 0, 's'},  {0, 0, 0, 0}};

int cmd_join(int argc, char **argv)
{
	const char *token_file = NULL, *runtime = "process", *advertise = NULL, *url;
	char dir[PATH_MAX], host[256], adv[256], err[512], maxbuf[16] = "8";
	char tok[HIO_TOKEN_MAX + 1], *bin = NULL, *tf_abs = NULL;
	uint64_t deadline;
	int c, port, max_pes, rc = 1;
	pid_t pid;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = cli_getopt(argc, argv, cli_join_opts, NULL)) != -1) {
		switch (c) {
		case 't':
			token_file = optarg;
			break;
		case 'x':
			if (hio_parse_flag_int("--max-pes", optarg, 1, 1000, &max_pes, err,
					       sizeof(err)))
				return cli_fail("%s", err);
			snprintf(maxbuf, sizeof(maxbuf), "%d", max_pes);
			break;
		case 'r':
			runtime = optarg;
			break;
		case 'a':
			advertise = optarg;
			break;
		case 's':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1 || !token_file)
		goto usage;
	url = argv[optind];
	if (hio_net_url_split(url, host, sizeof(host), &port) < 0)
		return cli_fail("'%s' is not a master URL (http://HOST:PORT)", url);
	if (hio_token_load(token_file, tok, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	if (advertise) {
		snprintf(adv, sizeof(adv), "%s", advertise);
	} else if (hio_net_route_addr(host, port, adv, sizeof(adv)) < 0) {
		return cli_fail("cannot tell which address of this host reaches %s; give "
				"--advertise ADDR",
				host);
	}
	if (hio_net_is_loopback(adv) && !hio_net_is_loopback(host))
		return cli_fail("--advertise %s is loopback, which the master at %s cannot reach; "
				"give this host's address",
				adv, host);
	if (!master_answers(url, tok, err, sizeof(err)))
		return cli_fail("cannot reach the master at %s: %s", url, err);
	if (state_dir_ready(dir, "worker.pid", "worker"))
		return 1;
	if (keep_conf(dir, url, token_file))
		return 1;
	if (!(bin = cli_need_program("hio-worker")))
		goto out;
	/* The worker re-reads the token file by path: give it the absolute one we keep. */
	char tokpath[PATH_MAX + 16];
	cli_state_path(tokpath, sizeof(tokpath), dir, "token");
	tf_abs = realpath(tokpath, NULL);
	cli_metrics_default(adv);
	const char *wargv[] = {bin,
			       "--master",
			       url,
			       "--token-file",
			       tf_abs ? tf_abs : tokpath,
			       "--runtime",
			       runtime,
			       "--host",
			       adv,
			       "--max-pes",
			       maxbuf,
			       "--state-dir",
			       dir,
			       NULL};
	pid = cli_spawn(dir, "worker", wargv);
	if (pid < 0)
		goto out;
	deadline = hio_mono_ms() + REMOTE_START_WAIT_MS;
	while (!worker_listed(url, tok, dir)) {
		if (cli_child_died(pid, "worker", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("the worker did not register within %d s; see %s/worker.log",
				 REMOTE_START_WAIT_MS / 1000, dir);
			goto out;
		}
		cli_sleep_ms(CLI_POLL_MS);
	}
	printf("joined %s: PEs on this host advertise %s\n", url, adv);
	rc = 0;
out:
	free(tf_abs);
	free(bin);
	return rc;
usage:
	return cli_fail("usage: hio join MASTER_URL --token-file F [--max-pes N] [--runtime R] "
			"[--advertise HOST] [--state-dir DIR]");
}

const struct option cli_mount_opts[] = {{"token-file", required_argument, 0, 't'},
					{"pipeline", required_argument, 0, 'P'},
					{"spool-max", required_argument, 0, 'S'},
					{"state-dir", required_argument, 0, 's'},
					{0, 0, 0, 0}};

int cmd_mount(int argc, char **argv)
{
	const char *token_file = NULL, *pipeline = "default", *spool_max = "10G", *url, *mnt;
	char dir[PATH_MAX], host[256], err[512], spool[PATH_MAX + 16], path[PATH_MAX + 16];
	char tok[HIO_TOKEN_MAX + 1], tokpath[PATH_MAX + 16], *bin = NULL, *mnt_abs = NULL;
	uint64_t deadline;
	int c, port, rc = 1;
	pid_t pid;

	hio_state_dir_default(dir, sizeof(dir));
	optind = 1;
	while ((c = cli_getopt(argc, argv, cli_mount_opts, NULL)) != -1) {
		switch (c) {
		case 't':
			token_file = optarg;
			break;
		case 'P':
			if (!hio_pipeline_valid(optarg))
				return cli_fail("--pipeline: '%s' is not a pipeline name "
						"([A-Za-z0-9._-], up to 64)",
						optarg);
			pipeline = optarg;
			break;
		case 'S':
			if (cli_spool_max_check(optarg))
				return 1;
			spool_max = optarg;
			break;
		case 's':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2 || !token_file)
		goto usage;
	url = argv[optind];
	mnt = argv[optind + 1];
	if (hio_net_url_split(url, host, sizeof(host), &port) < 0)
		return cli_fail("'%s' is not a master URL (http://HOST:PORT)", url);
	if (hio_token_load(token_file, tok, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	/* The mount takes files while the master is away; only warn. */
	if (!master_answers(url, tok, err, sizeof(err)))
		fprintf(stderr,
			"hio: the master at %s does not answer now (%s); files wait in the "
			"spool until it does\n",
			url, err);
	if (state_dir_ready(dir, "fs.pid", "mount"))
		return 1;
	if (keep_conf(dir, url, token_file))
		return 1;
	if (hio_mkdir_p(mnt) < 0)
		return cli_fail("cannot create the mount point %s: %s", mnt, strerror(errno));
	if (!(mnt_abs = realpath(mnt, NULL)))
		return cli_fail("cannot resolve %s: %s", mnt, strerror(errno));
	if (!(bin = cli_need_program("hio-fs")))
		goto out;
	cli_state_path(tokpath, sizeof(tokpath), dir, "token");
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	{
		char here[256];

		/* The address this host reaches the master from: Prometheus, next to it,
		 * scrapes the mount there. */
		if (hio_net_route_addr(host, port, here, sizeof(here)) == 0)
			cli_metrics_default(here);
	}
	const char *fargv[] = {
	    bin,       "-f",	     "--token-file", tokpath, "--spool", spool, "--spool-max",
	    spool_max, "--pipeline", pipeline,	     url,     mnt_abs,	 NULL};
	pid = cli_spawn(dir, "fs", fargv);
	if (pid < 0)
		goto out;
	deadline = hio_mono_ms() + REMOTE_START_WAIT_MS;
	while (!cli_mount_ready(mnt_abs)) {
		if (cli_child_died(pid, "fs", dir))
			goto out;
		if (hio_mono_ms() > deadline) {
			cli_fail("mount %s not ready within %d s; see %s/fs.log", mnt_abs,
				 REMOTE_START_WAIT_MS / 1000, dir);
			goto out;
		}
		cli_sleep_ms(CLI_POLL_MS);
	}
	cli_state_path(path, sizeof(path), dir, "mount");
	hio_file_write_atomic(path, mnt_abs, strlen(mnt_abs), 0);
	printf("%s\n", mnt_abs);
	rc = 0;
out:
	free(mnt_abs);
	free(bin);
	return rc;
usage:
	return cli_fail("usage: hio mount MASTER_URL DIR --token-file F [--pipeline P] "
			"[--spool-max SIZE] [--state-dir DIR]");
}
