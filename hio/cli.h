/* The hio command line: shared pieces of its subcommands. */
#ifndef HIO_CLI_H
#define HIO_CLI_H
#include "hio_config.h"
#include "hio_http.h"
#include "hio_stream.h"
#include "progress.h"
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

/* Prints "hio: <reason>" on stderr; returns 1 (the exit status for failures). A reason
 * that starts with a flag whose value came from a config file says which file and line
 * ("--pes (from FILE:LINE): ..."). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Loads master URL and token (state_dir may be NULL) and opens a REST client.
 * NULL after printing the reason. Caller frees with hio_http_free. */
hio_http *cli_connect(const char *state_dir, struct hio_client_conf *conf);
/* GET /v1/status; NULL after printing the reason. Caller decrefs. */
json_t *cli_status(hio_http *h);

/* help.c: prints CMD's help on stdout; 0 when CMD has none. */
int cli_help(const char *cmd);
/* proc.c: background daemons remembered in a state dir (NAME.pid, NAME.log). */
#define CLI_POLL_MS 20 /* how often start-up and shutdown waits look again */
void cli_sleep_ms(long ms);
void cli_state_path(char *out, size_t n, const char *dir, const char *file);
/* The pid in DIR/file, or 0. */
pid_t cli_pid_read(const char *dir, const char *file);
int cli_pid_alive(pid_t pid);
/* Starts argv in the background, detached (own session), output to DIR/NAME.log; records
 * the pid in DIR/NAME.pid. The pid, or -1 after printing the reason. */
pid_t cli_spawn(const char *dir, const char *name, const char *const argv[]);
/* 1 (after printing the reason and where its log is) when the child already exited. */
int cli_child_died(pid_t pid, const char *what, const char *dir);
/* One of hio's programs (hio_find_program), or NULL after printing where it looked. */
char *cli_need_program(const char *name);
/* 1 when hio-fs serves the mount at mnt (its results/ answers). */
int cli_mount_ready(const char *mnt);
/* SIGTERM, then SIGKILL after the grace period; reaps it. */
void cli_stop_pid(pid_t pid, const char *what);
/* Runs argv with output discarded; its exit status, or -1. */
int cli_run_quiet(const char *const argv[]);
/* fusermount3 -u, lazily when busy. */
void cli_unmount(const char *mnt);
/* SPEC: every daemon serves /metrics. The daemons serve it only when told
 * (--metrics-listen, HIO_METRICS_LISTEN), so a program embedding them opts in; the
 * commands that start them (up, join, mount) turn it on, on host (an address of this
 * host the master's Prometheus discovery can hand out; port 0: each daemon picks one).
 * A HIO_METRICS_LISTEN already set wins; "off" turns it off. Call before spawning. */
void cli_metrics_default(const char *host);
/* hio-fs --spool-max's check, made before anything starts: 0, or 1 after printing the
 * flag's error (as hio-fs would). */
int cli_spool_max_check(const char *s);

/* One hio command: its name, entry point and the long options it takes, so that a
 * config file's keys are checked against the very tables getopt parses (conf.c). */
enum {
	CLI_COMMON = 1, /* takes cli_common_opts too (parse_common) */
	CLI_CLIENT = 2	/* without --state-dir, finds the master by HIO_MASTER */
};
struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const struct option *opts; /* its own options, {0} ended; NULL: none */
	int flags;
	int words; /* words before its options: 2 for "pipeline set" (verb first) */
	/* Options a file never gives it, space separated: they choose what the command
	 * does, not how, and from a file would break its other uses. */
	const char *no_file;
};
/* main.c: every command, in the order of hio --help. */
const struct cli_cmd *cli_commands(size_t *n);
const struct cli_cmd *cli_command(const char *name);
/* getopt_long with no short options that also notes where each option's value came
 * from (a config file or the command line), so cli_fail can say so. */
int cli_getopt(int argc, char **argv, const struct option *opts, int *longindex);

/* The options tables of the commands (the cli_cmd table points at them). */
extern const struct option cli_up_opts[], cli_down_opts[], cli_send_opts[], cli_scale_opts[],
    cli_wait_opts[], cli_results_opts[], cli_retry_opts[], cli_master_opts[], cli_join_opts[],
    cli_mount_opts[], cli_pipeline_opts[];

/* client.c: the options every client command shares. */
enum {
	OPT_STATE = 1000,
	OPT_JSON,
	OPT_PIPELINE,
	OPT_COMPRESS,
	OPT_TIMEOUT,
	OPT_MIN_PES,
	OPT_MAX_PES,
	OPT_IDLE_MS,
	OPT_FAILED,
	OPT_OLDER,
	OPT_FROM,
	OPT_NO_PROGRESS
};

/* --state-dir, --pipeline, --json, --timeout */
#define CLI_COMMON_NOPTS 4
extern const struct option cli_common_opts[CLI_COMMON_NOPTS + 1];

struct common {
	const char *state_dir;
	const char *pipeline;
	int json;
	long timeout_s;
};

/* Parses the common options and extra ones (on_extra gets those); returns the first
 * positional index or -1 on a bad option. */
int parse_common(int argc, char **argv, struct common *c, const struct option *extra,
		 int (*on_extra)(int opt, const char *arg, void *ud), void *ud);

struct send_ctx {
	/* Guards the counts, the progress line and stdout's ack lines (the connector's ack
	 * threads print). A leaf: the ack callback runs without stream locks and takes
	 * nothing else. */
	pthread_mutex_t mu;
	int acked, failed;
	long long total;	  /* files queued; -1 while the arguments are still being walked */
	struct cli_progress prog; /* zeroed: no progress line */
};
/* A stream connector for hio send and retry: one line per acknowledged file on stdout,
 * one per file given up on stderr, counted in ctx. NULL with err. */
hio_stream *cli_send_open(const struct common *c, const struct hio_client_conf *conf,
			  enum hio_compress comp, struct send_ctx *ctx, char *err, size_t errlen);

int cmd_up(int argc, char **argv);
/* remote.c: one role per host (SPEC "Deployment on several hosts"). */
int cmd_master(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_mount(int argc, char **argv);
/* pipeline.c */
int cmd_pipeline(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_send(int argc, char **argv);
/* results.c */
int cmd_results(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_wait(int argc, char **argv);
/* conf.c */
int cmd_config(int argc, char **argv);

#endif
