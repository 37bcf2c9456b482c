/* The hio command line: shared pieces of its subcommands. */
#ifndef HIO_CLI_H
#define HIO_CLI_H
#include "hio_config.h"
#include "hio_http.h"
#include <jansson.h>
#include <sys/types.h>

/* Prints "hio: <reason>" on stderr; returns 1 (the exit status for failures). */
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
int cmd_results(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_wait(int argc, char **argv);

#endif
