/* Internal to the PE runtime: pe.c (lifecycle, master client, executor), pe_recv.c
 * (P2P listener and sessions, the backlog puller), pe_upload.c (result batches, acks),
 * pe_exec.c (result sets, the exec handler), pe_orphans.c (escaped descendants),
 * pe_serve.c (the resident command) and pe_pipe.c (the resident pipeline). Not
 * installed. */
#ifndef HIO_PE_INTERNAL_H
#define HIO_PE_INTERNAL_H
#include "hio_frame.h"
#include "hio_pe.h"
#include "hio_util.h"

#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/types.h>

#define PE_MEM_MAX (1u << 20)	     /* message bodies up to this stay in memory */
#define PE_FIFO_MAX 256		     /* messages waiting for the executor */
#define PE_FIFO_BYTES (64ull << 20)  /* their bytes (always admits one) */
#define PE_BATCH_MAX 64		     /* result entries in one PUT /v1/results */
#define PE_BATCH_BYTES (8ull << 20)  /* result bytes in one upload (always takes one) */
#define PE_PENDING_BATCHES 2	     /* finished entries held before the executor waits */
#define PE_UPLOAD_LINGER_MS 2	     /* a busy PE's batch waits this long for more results */
#define PE_UPLOAD_LINGER_GAP_US 1000 /* ... when results come at least this often */
#define PE_OUT_FILES_MAX 10000	     /* result files of one message */
#define PE_ERROR_MAX (64u << 10)     /* text of a failed message's error file */
#define PE_HELLO_MS 3000	     /* a connector must say HELLO within this */
#define PE_PENDING_MAX 16	     /* connections not past HELLO yet; more are closed at once */
/* Descriptors a local session may have passed ahead of their frames (each comes with
 * its frame's first byte, so one is the most a well-behaved sender has in flight). */
#define PE_LOCAL_FDS 4
#define PE_STOP_GRACE_MS 1000  /* after a stop_signal: how long the PE's own stop may lag */
#define PE_STALL_MS 30000      /* no byte this long inside a frame: the sender is dropped */
#define PE_LRU 512	       /* ids remembered as stored */
#define PE_BACKOFF_MAX_MS 5000 /* registration and backlog retries */
#define PE_TIMEOUT_MS_DEFAULT (10L * 60 * 1000)
#define PE_OUTPUT_MAX_DEFAULT (1ull << 30) /* result bytes of one message */

/* One result file: bytes in memory (data) or in a local file (path). */
struct pe_rfile {
	char *name;
	char *path;
	void *data;
	uint64_t len;
	/* A file the analysis left (hio_pe_out_add_file): which inode it was when taken.
	 * The upload opens the path again (without following a symbolic link) and sends
	 * it only if it is still that inode with one link and the same size, so a file
	 * swapped or linked in after the check is never read. */
	int pinned;
	int links_ok; /* the message's own input, linked: more than one link is fine */
	dev_t dev;
	ino_t ino;
};

struct hio_pe_out {
	struct pe_rfile *files;
	size_t n, cap;
	uint64_t bytes;
	int failed;
	char *error; /* the text of the "error" file when failed */
	char *dir;   /* per-message scratch, taken lazily, given back after the upload */
	/* dir was prepared for a message before (pe_scratch_take's ready): input/ and
	 * output/ are there with their owners and modes. prepared: this message's were
	 * set up, so the next may skip it. */
	int dir_ready, prepared;
	/* The input is the sender's inode, linked (pe_item.linked): dir's input/ never
	 * keeps it as the next body, which would write into the sender's file. */
	int foreign_input;
	/* The command ended by a stop signal the PE did not send it (SIGTERM, SIGINT,
	 * SIGHUP): a runtime stopping the whole PE (scancel, docker stop, systemd) signals
	 * the command too. When the PE turns out to be stopping, the message is left
	 * unacknowledged (it goes elsewhere) instead of failed. */
	int stop_signal;
	struct pe_scratch *scratch;
	/* Provenance, sent with the result: when the handler started (wall clock, us), how
	 * long it ran, and the command's exit status (128 + N when killed by signal N; an
	 * in-process handler's: 0 done, 1 failed). exit_set: the exec handler set it. */
	uint64_t start_us, duration_ms;
	int exit_status, exit_set;
};

void pe_out_init(hio_pe_out *o, struct pe_scratch *scratch);
/* When hio_pe_contain_descendants() is on: kills and reaps every child of the process's
 * threads but keep (the resident command; 0: none), i.e. the orphans an analysis
 * left behind, their own orphans too. Bounded rounds; a no-op otherwise. Called when no
 * command of another message runs (the executor is the only thread that starts one). */
void pe_kill_orphans(pid_t keep);
/* The same, at the PE's stop. */
void pe_kill_orphans_all(pid_t keep);
/* SIGTERM, SIGINT, SIGHUP: what stops a process group from outside. */
int pe_is_stop_signal(int sig);
/* Drops result files (a failed message keeps only its error). */
void pe_out_drop_files(hio_pe_out *o);
/* Opens result file f for reading, if it is still the file that was taken (same inode,
 * one link, same size; never through a symbolic link). The descriptor, or -1 with the
 * reason in err. */
int pe_rfile_open(const struct pe_rfile *f, char *err, size_t errlen);
/* Frees everything and gives the scratch directory back. */
void pe_out_free(hio_pe_out *o);

/* A P2P connection. fd stays open until the last reference goes, so acks for messages
 * already received can still be written after the reader stopped reading. */
struct pe;
struct pe_session {
	struct pe *pe;
	int fd;
	/* Serialises frames written on fd. Lock order: a leaf, nothing is taken while it
	 * is held. It is the one PE lock held across I/O, by design: it orders writes on
	 * this one socket, and the socket's SO_SNDTIMEO bounds each write. */
	pthread_mutex_t wmu;
	int closed; /* under wmu: no more writes */
	int local;  /* a unix socket on this host: bodies may come as descriptors */
	int refs;   /* under pe->mu: the reader plus queued/pending messages */
	char peer[64];
};

/* A received message, queued for the executor. */
struct pe_item {
	struct pe_item *next;
	char id[HIO_ID_LEN + 1];
	char *name;
	uint64_t ts;
	void *mem;  /* body when in memory */
	char *path; /* body file when not (owned, unlinked when freed) */
	int linked; /* path is a link to the sender's inode (pe_recv.c), not a copy */
	uint64_t len;
	struct pe_session *sess; /* NULL: leased from the backlog */
};

/* A finished message waiting for (or in) an upload. */
struct pe_entry {
	struct pe_entry *next;
	struct pe_item *it;
	hio_pe_out out;
	uint64_t bytes; /* result bytes, for batch sizing */
};

struct pe {
	/* Fixed after start. */
	char id[HIO_ID_LEN + 1];
	char pipeline[HIO_PIPELINE_MAX + 1];
	char token[HIO_TOKEN_MAX + 1];
	char p2p_ticket[HIO_TOKEN_MAX + 1]; /* what senders say in HELLO (hio_cred.h) */
	char *master;
	char *worker;
	char *listen_host;
	char *adv_host;
	char *workdir;		    /* absolute; ours, removed at the end */
	char *home;		    /* WORKDIR/home of a run-as analysis, or NULL */
	struct pe_scratch *scratch; /* per-message dirs under workdir */
	int port;		    /* the bound port */
	hio_pe_handler handler;
	void *handler_ud;
	struct hio_pe_exec exec;
	/* The user an exec or resident analysis runs as (pe_runas_setup), or NULL. */
	const struct hio_pe_runas *analysis_as;
	long timeout_ms;
	uint64_t max_output; /* result bytes of one message; more fails it */
	long heartbeat_ms;
	int version; /* hio_pe_opts.pipeline_version */
	int lfd;
	int ufd;     /* the local handover listener (hio_net_listen_local), or -1 */
	int wake[2]; /* self-pipe: hio_pe_stop and signals wake the main thread */
	/* With the resident handler: an eventfd that wakes the pipeline's poll(2) when the
	 * FIFO gets a message or the PE stops (-1 otherwise). */
	int exec_evfd;

	/* Guards the FIFO, the upload queue, the state and the counters below. Lock order:
	 * taken first (before a scratch pool's mu); never held across I/O, a REST call or
	 * the handler. Functions named *_locked need it held (HIO_ASSERT_HELD). */
	pthread_mutex_t mu;
	pthread_cond_t cv_fifo; /* FIFO got a message, or room for a waiting reader, stop */
	pthread_cond_t cv_idle; /* the PE turned idle or registered, stop (the puller) */
	pthread_cond_t cv_up;	/* pending entries changed, the PE went idle, executor ended */
	pthread_cond_t cv_hb;	/* state changed, registration needed, stop */
	/* All below under mu. */
	struct pe_item *fhead, *ftail;
	size_t fn;
	uint64_t fbytes;
	int running;	       /* a handler is running (the pipeline: a message is in flight) */
	int exec_waiting;      /* the pipeline sleeps in poll(2): a push writes exec_evfd */
	int fifo_waiters;      /* readers waiting for room in the FIFO */
	int fifo_wake_pending; /* pushed with the executor's wake deferred */
	struct pe_entry *uhead, *utail;
	size_t un;
	uint64_t ubytes;
	uint64_t upend_us; /* when the last result was queued (hio_mono_us) */
	uint64_t ugap_us;  /* moving average of the time between results */
	int exec_done;
	/* The active P2P session: taken by a connection only once its HELLO carried the
	 * token, so a peer that never authenticates cannot hold the PE. */
	struct pe_session *sess;
	/* Connections still before their HELLO, each with its own reader (bounded). */
	struct pe_session *pending[PE_PENDING_MAX];
	int npending;
	pthread_t *readers; /* session readers not yet joined (main thread only) */
	size_t nreaders, capreaders;
	int stopping;
	uint64_t stop_ms;
	int registered;
	int hb_kick;
	uint64_t n_done, n_failed, seq;
	char lru[PE_LRU][HIO_ID_LEN + 1];
	char lru_failed[PE_LRU];
	size_t lru_next;
};

/* pe.c */
uint64_t pe_next_seq(struct pe *pe);
/* Queues it (blocks while the FIFO is full). 0, or -1 when stopping (item not taken).
 * defer_wake: the executor is woken by the next pe_fifo_wake (or push that waits), so
 * a burst of messages read at once wakes it once, not once a message. */
int pe_fifo_push(struct pe *pe, struct pe_item *it, int defer_wake);
void pe_fifo_wake(struct pe *pe);
/* The executor's next message (the PE is running from then on), waiting for one when
 * wait; NULL when stopping or (without wait) none is queued. */
struct pe_item *pe_fifo_take(struct pe *pe, int wait);
/* The executor has a message (on) or none (0) any more; the puller and heartbeat hear. */
void pe_set_running(struct pe *pe, int on);
/* Wakes the resident pipeline's poll(2) (no-op without one). */
void pe_exec_wake(struct pe *pe);
/* A new entry for a message taken from the FIFO, or NULL when out of memory (the message
 * then goes unacknowledged). *dup: it was stored before; the entry is ready as it is. */
struct pe_entry *pe_entry_new(struct pe *pe, struct pe_item *it, int *dup);
/* After the handler: a command killed as the PE stops leaves its message
 * unacknowledged (the entry is freed, -1); an output over --max-output fails it. 0: the
 * entry goes to the uploader (pe_entry_pend). */
int pe_exec_check(struct pe *pe, struct pe_entry *e);
void pe_item_free(struct pe_item *it);
/* A buffer for a body of len bytes (<= PE_MEM_MAX) kept in memory, and its return:
 * large ones are reused (pe_body.c). */
void *pe_body_alloc(size_t len);
void pe_body_free(void *p, size_t len);
void pe_kick_heartbeat_locked(struct pe *pe);
/* 1 (and *failed) when id was stored in this process lifetime. */
int pe_lru_find(struct pe *pe, const char *id, int *failed);
void pe_lru_add(struct pe *pe, const char *id, int failed);
/* Waits ms or until stop; 1 when stopping. */
int pe_sleep(struct pe *pe, long ms);
long pe_backoff_next(long cur, long max);
int pe_stopping(struct pe *pe);
/* Master outages are logged once each, not per try. */
struct pe_outage {
	int down;
};
void pe_outage_fail(struct pe_outage *o, const char *what, const char *err);
void pe_outage_ok(struct pe_outage *o, const char *what);
/* pe_master.c: registers, then heartbeats until the PE stops (a thread). */
void *pe_heartbeat_main(void *arg);
/* pe_master.c: tells the master this PE is gone (at stop; logged when it cannot). */
void pe_say_gone(struct pe *pe);

/* pe_recv.c */
void pe_session_unref(struct pe *pe, struct pe_session *s);
/* Serves the P2P socket until the wake pipe is written (runs on the main thread). */
void pe_accept_loop(struct pe *pe);
/* After stopping was set: ends the session's reading (acks can still go out), joins it. */
void pe_recv_stop(struct pe *pe);
/* Receives MSG frames through hio_frame_dec (also used for backlog answers). */
struct pe_rx {
	struct pe *pe;
	struct pe_session *sess; /* NULL: a backlog answer */
	int hello_done;
	struct pe_item *cur;
	int cur_fd;
	uint64_t got;
	struct pe_item *ready; /* backlog: the decoded message, pushed after HTTP 200 */
	int quiet;	       /* aborted by stop: no ERROR frame */
	int busy;	       /* refused after HELLO: another session holds the PE */
	int big;	       /* the last MSG's body was large (pe_recv.c, P2P_HEAD_READ) */
	int fdq[PE_LOCAL_FDS]; /* passed descriptors, oldest first, waiting for their frame */
	int nfdq;
	char err[256];
};
extern const struct hio_frame_dec_cbs pe_rx_cbs;
/* Records why reception failed (fmt with one %s) in rx->err. Always -1. */
int pe_rx_fail(struct pe_rx *rx, const char *fmt, const char *arg);
/* pe_handover.c: the body of MSG frame it is the descriptor queued first in rx (a
 * local session). sealed: the sender said the file will not change until the ACK. 0,
 * or -1 after pe_rx_fail. */
int pe_rx_take_fd(struct pe_rx *rx, struct pe_item *it, int sealed);
void pe_rx_reset(struct pe_rx *rx);
/* pe_pull.c: the backlog puller thread. */
void *pe_puller_main(void *arg);

/* pe_pipe.c: the executor's loop for the resident handler (s), until the PE stops. */
void pe_serve_pipeline(struct pe *pe, struct hio_pe_serve *s);

/* pe_upload.c */
void *pe_uploader_main(void *arg);
/* Adds a finished message (blocks while too many wait). */
void pe_entry_pend(struct pe *pe, struct pe_entry *e);
void pe_entry_free(struct pe *pe, struct pe_entry *e);

/* pe_exec.c, shared with the resident handler (pe_serve.c) */
/* First line of the error text, for RDONE's "error" field. */
void pe_out_error_line(const hio_pe_out *o, char *out, size_t n);
/* The input's place, DIR/input/<basename of the name> (in, inlen); with place, the
 * bytes are put there (a link to msg->path, else written). dir_ready: input/ is there
 * (a reused scratch dir, pe_scratch_take), so it is not made again. 0, or -1 with
 * errno. */
int pe_exec_input(const struct hio_pe_msg *msg, const char *dir, int dir_ready, char *in,
		  size_t inlen, int place);
/* Every regular file under outdir becomes a result (a special file, a bad name or a
 * hard link to anything but input fails the message), plus stdout_path as "stdout"
 * when it is not empty. input: the message's input file (NULL: none). */
void pe_out_collect(hio_pe_out *out, const char *outdir, const char *stdout_path,
		    const char *input);
/* The last PE_TAIL_MAX bytes of a command's stderr, for its error file. */
#define PE_TAIL_MAX 4096
struct pe_tail {
	char buf[2 * PE_TAIL_MAX];
	size_t len;
	int cut; /* bytes were dropped before buf */
};
void pe_tail_add(struct pe_tail *t, const char *b, size_t n);
/* Fails the message with what, then the tail when there is one. */
void pe_fail_tail(hio_pe_out *out, const char *what, const struct pe_tail *t);
/* environ less HIO_TOKEN and the per-message HIO_ variables, plus kv (n of them, at
 * most 4); the strings are borrowed. NULL when out of memory. */
char **pe_exec_env(const char *const *kv, int n);
/* Starts /bin/sh with argv and env: fds in/out/err as 0/1/2 and nothing else, its own
 * process group, every signal at its default and none blocked; as user ra when not
 * NULL (vfork, then setgroups/setresgid/setresuid and no_new_privs), else posix_spawn.
 * 0 with *pid, or an errno value. */
/* --- pe_spawn.c --- */
/* Our own directory under base (NULL: $TMPDIR or /tmp), reachable by ra's user when
 * ra. Malloc'ed absolute path, or NULL after logging why. */
char *pe_workdir_make(const char *base, const struct hio_pe_runas *ra);
/* The workdir becomes ra's group's, WORKDIR/home ra's HOME, and the exec or resident
 * handler starts its command as ra. 0, or -1 after logging why. */
int pe_runas_setup(struct pe *pe, const struct hio_pe_runas *ra);
/* Scratch dir's modes for a run-as analysis (docs/security.md): readable (a path of
 * ours, or NULL) made 0644, outdir its own, input/ its own when own_input (the
 * resident writes inline inputs there). With ready (a reused directory a message
 * prepared, hio_pe_out's dir_ready) only readable's mode is set. 0, or -1 with errno. */
int pe_runas_prepare(const struct hio_pe_runas *ra, int ready, const char *dir,
		     const char *readable, const char *outdir, int own_input);
int pe_spawn_sh(pid_t *pid, int in, int out, int err, char *const argv[], char *const env[],
		const struct hio_pe_runas *ra);

#endif
