/* The resident command and its protocol (docs/protocol.md "Resident protocol"), shared
 * by the one-at-a-time handler (pe_serve.c, hio_pe_serve_handler called directly) and
 * the pipeline that hio_pe_run drives instead when that handler is its handler
 * (pe_pipe.c). Not installed. Everything here runs on one thread at a time: the
 * executor's. */
#ifndef HIO_PE_SERVE_H
#define HIO_PE_SERVE_H
#include "hio_pe.h"
#include "pe_internal.h"

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SERVE_VERSION 1
#define SERVE_LINE_MAX (64u << 10)    /* one header line, its '\n' included */
#define SERVE_STDOUT_MAX (1ull << 30) /* a reply's stdout bytes */
#define SERVE_INFLIGHT_MAX 1024	      /* a hello's max_inflight */
#define SERVE_START_MS (120L * 1000)  /* from the start to the hello */
#define SERVE_KILL_GRACE 2000	      /* ms between SIGTERM and SIGKILL on timeout */
#define SERVE_CLOSE_MS 2000	      /* for the command to go after EOF on its stdin */
#define SERVE_SPLICE_MIN (32u << 10)  /* inline bodies from this size are vmspliced */

enum { IO_OK = 0, IO_EOF = -1, IO_TIMEOUT = -2, IO_PROTO = -3 };

/* A reply being read: its header, then its stdout bytes (to a file), then its error
 * text. Replies are parsed as their bytes come, so the pipeline never blocks on one. */
struct serve_reply {
	int phase; /* 0 header, 1 stdout bytes, 2 error bytes */
	int done;  /* the header said "done" */
	uint64_t nout, nerr, got;
	int fd;	   /* the message's stdout file, phase 1 */
	char *err; /* nerr + 1 bytes */
};

struct hio_pe_serve_state {
	pid_t pid; /* 0: not running */
	int pidfd;
	int to, from, err; /* its stdin (ours to write), stdout, stderr; -1: closed */
	long inflight;	   /* from its hello */
	char rb[SERVE_LINE_MAX];
	size_t roff, rlen;   /* unread bytes of its stdout in rb */
	struct pe_tail tail; /* its stderr since the current message started */
	struct serve_reply rep;
	char why[256]; /* the last I/O failure */
};

/* The state of s, made at first use. NULL when out of memory. */
struct hio_pe_serve_state *pe_serve_state(struct hio_pe_serve *s);
/* Starts the command and waits for its hello. 0, or -1 with st->why (nothing left
 * running). */
int pe_serve_start(struct hio_pe_serve *s, struct hio_pe_serve_state *st);
/* Ends the command and whatever it left in its group (SIGTERM first when grace_ms),
 * reaps it, closes our ends, forgets a half-read reply. The command's wait status. */
int pe_serve_kill(struct hio_pe_serve_state *st, long grace_ms);
/* Waits up to ms for the command to exit. 1 when it did. */
int pe_serve_exited_within(struct hio_pe_serve_state *st, long ms);
/* Between messages the command should be quietly waiting: one that exited (or wrote
 * out of turn) is reaped (or killed) here, before it is given a message. */
void pe_serve_check_idle(struct hio_pe_serve_state *st);
/* Copies what the command wrote to stderr to ours and keeps the tail. */
void pe_serve_drain_err(struct hio_pe_serve_state *st);
void pe_serve_describe(int status, char *out, size_t n);
/* Takes the message's scratch directory and places its input (linked when received to
 * disk; an inline body is the command's to write): in, outdir and so (PATH_MAX each)
 * get the input's path, HIO_OUTPUT and the stdout file. 0, or 1 with the message
 * failed. */
int pe_serve_prepare(hio_pe_out *out, const struct hio_pe_msg *msg, char *in, char *outdir,
		     char *so, const struct hio_pe_runas *ra);
/* The request's header line with its '\n' (*line, the caller's to free; *n bytes).
 * IO_OK, or IO_PROTO with st->why. */
int pe_serve_request(struct hio_pe_serve_state *st, const struct hio_pe_msg *msg, const char *in,
		     const char *outdir, char **line, size_t *n);
/* Reads what the command's stdout has now, without blocking: IO_OK (bytes or none
 * yet), IO_EOF with st->why. */
int pe_serve_fill(struct hio_pe_serve_state *st);
/* Parses the reply to message id from the bytes read so far; its stdout goes to the
 * file so. 1 complete (st->rep.done, st->rep.err), 0 more bytes needed, IO_PROTO with
 * st->why. */
int pe_serve_reply_step(struct hio_pe_serve_state *st, const char *id, const char *so);
/* Forgets a reply in progress (closes its file, frees its text). */
void pe_serve_reply_reset(struct hio_pe_serve_state *st);
/* Kills the command (SIGTERM first for a timeout) and fails the message it held (id,
 * name) with the reason rc (an IO_ code) and the tail of its stderr. */
void pe_serve_fail(struct hio_pe_serve_state *st, int rc, long timeout, const char *id,
		   const char *name, hio_pe_out *out);
/* A complete reply (st->rep) becomes the message's result: its output collected, or
 * its error text. 0 done, 1 failed. */
int pe_serve_result(struct hio_pe_serve_state *st, hio_pe_out *out, const char *outdir,
		    const char *so, const char *in);
/* EOF on its stdin, SIGKILL to its group after SERVE_CLOSE_MS (docs/protocol.md "End"). */
void pe_serve_close(struct hio_pe_serve_state *st);
/* Writes on the command's stdin without a SIGPIPE reaching the process (a dead reader
 * is EPIPE): blocked: the caller's thread blocks SIGPIPE already (the pipeline), else
 * it is blocked around the write. */
ssize_t pe_serve_writev(int fd, const struct iovec *iov, int n, int blocked);
/* The same from a caller that blocks SIGPIPE, without copying: the pipe refers to the
 * caller's pages (vmsplice(2)), which must stay unchanged until the command has read
 * them, i.e. until its reply to that request (or its end). */
ssize_t pe_serve_vmsplice(int fd, const struct iovec *iov, int n);

#endif
