/* hio_pe: the processing engine runtime (HarmonicPE). hio-pe is this with the
 * exec handler; a program may link libhio and run its own handler in-process. */
#ifndef HIO_PE_H
#define HIO_PE_H
#include <stddef.h>
#include <stdint.h>

struct hio_pe_msg {
	const char *id;
	const char *name;
	const char *pipeline;
	uint64_t ts;
	const void *data; /* the message's bytes (memory or a mapping), len bytes */
	size_t len;
	const char *path; /* a local file holding the same bytes */
};

/* Who the analysis runs as (SPEC, Security): a user and group of its own, set in the
 * child before the command starts, which needs a PE running as root. The PE's
 * workdir is then its group's only (0750), the input read-only to the analysis and
 * HIO_OUTPUT and HOME (WORKDIR/home) its own. */
struct hio_pe_runas {
	unsigned uid, gid;
};

typedef struct hio_pe_out hio_pe_out;
/* Adds a result file named name (relative, validated) with n bytes copied from p. 0/-1. */
int hio_pe_out_add(hio_pe_out *o, const char *name, const void *p, size_t n);
/* Adds a result file whose bytes are in the local file path (read at upload). 0/-1. */
int hio_pe_out_add_file(hio_pe_out *o, const char *name, const char *path);
/* The message failed: this text becomes results/<name>/error. */
void hio_pe_out_fail(hio_pe_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns 0 when done, non-zero when failed. Runs on the PE's executor thread. */
typedef int (*hio_pe_handler)(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out);

struct hio_pe_opts {
	const char *master; /* base URL */
	const char *token;
	const char *pipeline;	    /* NULL: "default" */
	const char *pe_id;	    /* given by the worker; NULL: the PE makes one */
	const char *worker_id;	    /* NULL: standalone */
	const char *listen_host;    /* NULL: 127.0.0.1 */
	int listen_port;	    /* 0: any */
	const char *advertise_host; /* what connectors dial; NULL: listen_host */
	const char *workdir;	    /* scratch space; NULL: a new dir under $TMPDIR */
	const char *exec;	    /* sh -c command per SPEC, or NULL with handler */
	hio_pe_handler handler;
	void *handler_ud;
	long timeout_ms;   /* per message; 0: 10 min */
	long heartbeat_ms; /* 0: 1000 */
	/* The pipeline's analysis version the master started this PE with (0: unknown),
	 * told at registration and recorded with every result. */
	int pipeline_version;
	/* Result bytes one message may leave (its files and stdout); a message past it
	 * fails with the reason and none of its files is stored. 0: 1 GiB. */
	uint64_t max_output;
	/* The exec and resident handlers' commands run as this user; NULL: as the PE.
	 * A handler running in-process is part of the PE and runs as it. */
	const struct hio_pe_runas *run_as;
	/* 1: no local handover listener, so senders on this host use TCP too (tests of
	 * the TCP path on one machine; docs/protocol.md). */
	int no_local;
};

/* Runs until hio_pe_stop(). Returns 0 on a clean stop, 1 on error. It takes no
 * process-wide signal: it never writes to a socket or pipe without MSG_NOSIGNAL or a
 * blocked SIGPIPE, and the analysis it starts gets every signal at its default. */
int hio_pe_run(const struct hio_pe_opts *opts);
/* Async-signal-safe: may be called from a signal handler or any thread. */
void hio_pe_stop(void);
/* For a program that is a PE and nothing else (hio-pe): SIGTERM and SIGINT call
 * hio_pe_stop(), SIGPIPE is ignored. 0, or -1 with errno. */
int hio_pe_set_signal_handlers(void);
/* For a program that is a PE and nothing else: makes it the subreaper of what the
 * analysis starts (PR_SET_CHILD_SUBREAPER), so a process that left the command's group
 * (setsid, a double fork) comes back to the PE as an orphan and is killed with the
 * message instead of outliving it (SPEC: every process the command started has ended
 * when the message's result is stored). Process-wide, hence the caller's choice.
 * 0, or -1 with errno. */
int hio_pe_contain_descendants(void);

/* A per-message scratch directory (absolute path), taken on first call and given back
 * once the message's result is uploaded: then emptied and reused for a later message.
 * It is empty when taken, but for entries named input, output and stdout, which the
 * exec handler keeps (emptied) between messages. NULL with errno on failure. */
const char *hio_pe_out_dir(hio_pe_out *o);

/* The exec handler (SPEC "The processing contract"): runs command through /bin/sh -c with
 * HIO_INPUT, HIO_NAME, HIO_OUTPUT and HIO_MESSAGE_ID, stdin /dev/null, in its own process
 * group. hio_pe_run uses it when opts->exec is set; ud is a struct hio_pe_exec. */
struct hio_pe_exec {
	const char *command;
	long timeout_ms; /* 0: 10 min; then SIGTERM to the group, SIGKILL 2 s later */
	const struct hio_pe_runas *run_as; /* NULL: as the PE */
	const char *home;		   /* HOME for run_as; NULL: unchanged */
};
int hio_pe_exec_handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out);

/* The resident handler (SPEC "Resident analyses", docs/protocol.md "Resident protocol"):
 * command runs once through /bin/sh -c, in its own process group, and gets messages over
 * its stdin and stdout; same results as the exec handler. It is started at the first
 * message (its start-up is outside that message's time) and again after it died or timed
 * out, which fails only the message it was working on. Use it as opts.handler with a
 * zeroed struct hio_pe_serve as handler_ud; hio_pe_serve_close after hio_pe_run
 * returned. hio_pe_run recognises it and pipelines: up to the command's max_inflight
 * requests are written ahead while it works (docs/pe.md). Called from a program's own
 * handler, it gives the command one message at a time. */
struct hio_pe_serve_state;
struct hio_pe_serve {
	const char *command;
	long timeout_ms;		   /* per message; 0: 10 min; then the group is killed */
	struct hio_pe_serve_state *st;	   /* internal, NULL at first */
	const struct hio_pe_runas *run_as; /* NULL: as the PE */
	const char *home;		   /* HOME for run_as; NULL: unchanged */
};
int hio_pe_serve_handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out);
/* Ends the resident process (EOF on its stdin, then SIGKILL to its group after 2 s). */
void hio_pe_serve_close(struct hio_pe_serve *s);

#endif
