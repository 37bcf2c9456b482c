/* hio: the command line of an hio cluster. Subcommands live in cluster.c (up, down),
 * client.c, results.c, pipeline.c, remote.c (master, join, mount) and conf.c (config,
 * and the config files every command reads first). */
#include "cli.h"
#include "conf.h"
#include "hio_log.h"
#include "progress.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: hio COMMAND [options]     (hio COMMAND --help, hio --version)\n"
    "  up [--pes N] [--exec CMD | --serve CMD] [--runtime process|docker] [--image IMG] [--mount "
    "DIR]\n"
    "     [--state-dir DIR] [--port P] [--min-pes N] [--max-pes N] [--timeout-ms MS]\n"
    "     [--spool-max SIZE] [--retention AGE]\n"
    "                         start master, worker and N PEs (and the mount); print the URL\n"
    "  down [--state-dir DIR] stop everything 'up' started, unmount\n"
    "  status [--json]        workers, PEs, queues and counters\n"
    "  send [--pipeline P] [--compress auto|on|off] FILE|DIR...\n"
    "                         stream files without a mount, one line per acknowledged file\n"
    "  results [--failed] [--json]\n"
    "                         list result entries (of failed inputs), a page at a time\n"
    "  results show NAME      one entry with its provenance, as JSON\n"
    "  results get NAME DIR   copy one input's result files into DIR\n"
    "  results rm NAME|--older-than AGE\n"
    "                         delete entries and their files (AGE: 30d, 12h, 90m, 3600s)\n"
    "  retry [--from DIR] NAME...|--failed\n"
    "                         send inputs again from DIR (default .); the new result\n"
    "                         replaces the entry\n"
    "  scale [--pipeline P] [--min-pes N] [--max-pes N] [--idle-ms MS] N|auto\n"
    "                         N: set the PE count by hand (the autoscaler stops);\n"
    "                         auto: the autoscaler moves it within min..max (default)\n"
    "  wait [--timeout SEC]   wait until every input the mounts and the master hold is processed\n"
    "  pipeline set P [--exec CMD] [--image IMG] [--pes N] ..., pipeline show P, pipeline list\n"
    "                         a pipeline's analysis and PE count on a running master\n"
    "Several hosts (docs/deploy.md):\n"
    "  master [--listen ADDR:PORT] [--token-file F]\n"
    "                         a master alone, reachable from other hosts (default 0.0.0.0:7700)\n"
    "  join MASTER_URL --token-file F [--max-pes N] [--runtime R] [--advertise HOST]\n"
    "                         a worker on this compute host\n"
    "  mount MASTER_URL DIR --token-file F [--pipeline P] [--spool-max SIZE]\n"
    "                         the mount on this instrument PC\n"
    "  config [COMMAND]       the settings each command takes from the config files, and\n"
    "                         where each comes from\n"
    "Every command takes --state-dir DIR (default $HIO_STATE_DIR or ~/.hio); without it\n"
    "HIO_MASTER and HIO_TOKEN are used when set.\n"
    "Defaults for any command's options: /etc/hio/hio.conf, then ~/.config/hio/hio.conf\n"
    "(or $XDG_CONFIG_HOME/hio/hio.conf); HIO_CONFIG=FILE[:FILE...] reads those instead,\n"
    "HIO_CONFIG=none none. Flags, then HIO_STATE_DIR and HIO_MASTER, beat them.\n";

int cli_fail(const char *fmt, ...)
{
	char msg[4096], from[HIO_PATH_MAX + 32];
	size_t flag;
	va_list ap;
	int n;

	cli_progress_clear_active();
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) { /* too long to look at: as it is */
		fputs("hio: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	} else if ((flag = cliconf_flag_from(msg, from, sizeof(from)))) {
		fprintf(stderr, "hio: %.*s (from %s)%s\n", (int)flag, msg, from, msg + flag);
	} else {
		fprintf(stderr, "hio: %s\n", msg);
		if (!strncmp(msg, "usage:", 6))
			cliconf_note_usage();
	}
	return 1;
}

int cli_getopt(int argc, char **argv, const struct option *opts, int *longindex)
{
	int li = -1, c = getopt_long(argc, argv, "", opts, &li);

	if (longindex)
		*longindex = li;
	if (c != -1 && c != '?' && c != ':' && li >= 0)
		cliconf_saw(opts[li].name, optarg);
	return c;
}

hio_http *cli_connect(const char *state_dir, struct hio_client_conf *conf)
{
	char err[512];
	hio_http *h;

	if (hio_client_conf_load(conf, state_dir, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		return NULL;
	}
	h = hio_http_new(conf->master, conf->token);
	if (!h)
		cli_fail("out of memory");
	return h;
}

json_t *cli_status(hio_http *h)
{
	char err[512];
	json_t *st = NULL;
	long code = hio_http_json(h, "GET", "/v1/status", NULL, &st, err, sizeof(err));

	if (code != 200) {
		cli_fail("cannot get the cluster status: %s", err);
		json_decref(st);
		return NULL;
	}
	return st;
}

/* The order of hio --help. */
static const struct cli_cmd cmds[] = {
    {.name = "up", .fn = cmd_up, .opts = cli_up_opts, .words = 1},
    {.name = "down", .fn = cmd_down, .opts = cli_down_opts, .words = 1},
    {.name = "status", .fn = cmd_status, .flags = CLI_COMMON | CLI_CLIENT, .words = 1},
    {.name = "send",
     .fn = cmd_send,
     .opts = cli_send_opts,
     .flags = CLI_COMMON | CLI_CLIENT,
     .words = 1},
    {.name = "results",
     .fn = cmd_results,
     .opts = cli_results_opts,
     .flags = CLI_COMMON | CLI_CLIENT,
     .words = 1,
     .no_file = "failed older-than"},
    {.name = "retry",
     .fn = cmd_retry,
     .opts = cli_retry_opts,
     .flags = CLI_COMMON | CLI_CLIENT,
     .words = 1,
     .no_file = "failed"},
    {.name = "scale",
     .fn = cmd_scale,
     .opts = cli_scale_opts,
     .flags = CLI_COMMON | CLI_CLIENT,
     .words = 1},
    {.name = "wait",
     .fn = cmd_wait,
     .opts = cli_wait_opts,
     .flags = CLI_COMMON | CLI_CLIENT,
     .words = 1},
    /* set, show and list share one table: what only set takes would turn every show
     * and list into a usage error. */
    {.name = "pipeline",
     .fn = cmd_pipeline,
     .opts = cli_pipeline_opts,
     .flags = CLI_CLIENT,
     .words = 2,
     .no_file = "exec serve image pes min-pes max-pes timeout-ms"},
    {.name = "master", .fn = cmd_master, .opts = cli_master_opts, .words = 1},
    {.name = "join", .fn = cmd_join, .opts = cli_join_opts, .words = 1},
    {.name = "mount", .fn = cmd_mount, .opts = cli_mount_opts, .words = 1},
    {.name = "config", .fn = cmd_config, .words = 1},
};

const struct cli_cmd *cli_commands(size_t *n)
{
	*n = sizeof(cmds) / sizeof(cmds[0]);
	return cmds;
}

const struct cli_cmd *cli_command(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(name, cmds[i].name))
			return &cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	char **cargv;
	int cargc, rc;

	signal(SIGPIPE, SIG_IGN);
	hio_log_init("hio");
	if (!getenv("HIO_LOG"))
		hio_log_set_level(HIO_LOG_WARN);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("hio %s\n", HIO_VERSION);
		return 0;
	}
	/* hio CMD ... --help: the command's help, whatever else the line says (up to a
	 * "--", after which words are the command's own: file names, say), and whatever
	 * the config files say. */
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if ((!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) && cli_help(argv[1]))
			return 0;
	if (!(cmd = cli_command(argv[1]))) {
		fputs(usage, stderr);
		return cli_fail("unknown command '%s'", argv[1]) + 1;
	}
	if (hio_http_global_init() < 0)
		return cli_fail("cannot initialise libcurl");
	rc = cliconf_load();
	if (rc == 0) {
		cargv = cliconf_argv(cmd, argc - 1, argv + 1, &cargc);
		rc = cargv ? cmd->fn(cargc, cargv) : cli_fail("out of memory");
	}
	cliconf_free();
	return rc;
}
