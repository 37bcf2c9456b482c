/* Internals of the stream connector shared by stream.c and stream_master.c. */
#ifndef HIO_STREAM_INTERNAL_H
#define HIO_STREAM_INTERNAL_H
#include "hio_http.h"
#include "hio_stream.h"

#include <pthread.h>
#include <stdint.h>

/* One message, and who owns it. One party owns a message at a time; only the owner
 * reads, changes or frees it (msg_finish frees it):
 *  - the sending thread, until enqueue links it into the queue;
 *  - the queue (under s->mu), until a lane thread pops it: then that lane thread, while
 *    it spills it to the backlog or puts it back;
 *  - a lane's in-flight list (under s->mu) once session_send linked it: whoever unlinks
 *    it under s->mu owns it: the ACK reader on its ACK, the lane in session_close.
 * While sending is set the lane thread is still writing the message (the PE may ACK it
 * before the write call returns): the reader that unlinks it then only records the ACK
 * in acked and ack_status, and the lane thread finishes it once its write returns. */
struct msg {
	struct msg *next;
	char id[HIO_ID_LEN + 1];
	char *name;
	uint64_t ts;
	int fd;	      /* file body, or -1 */
	char *data;   /* memory body */
	int borrowed; /* data is the caller's (hio_stream_send_ref): not freed here */
	uint64_t len;
	int flags; /* frame flags, chosen once */
	void *user;
	uint64_t queued_ms; /* when it last entered the queue */
	uint64_t first_ms;
	uint64_t sent_ms;
	int tries;
	/* Under s->mu. */
	int sending;	     /* the lane thread is writing it */
	int acked;	     /* its ACK came while sending */
	char ack_status[16]; /* that ACK's status */
};

struct pe_addr {
	char id[HIO_ID_LEN + 1];
	char host[256];
	int port;
	long timeout_ms; /* the pipeline's per-message timeout; 0: none */
	/* The master's ticket to this PE (hio_cred.h), said in HELLO; "" (a master that
	 * gave none): the stream's own token. */
	char ticket[HIO_TOKEN_MAX + 1];
	/* The uid of the PE's local handover listener, from its registration; -1: none
	 * (another host, or a PE that does not listen locally). */
	long long local_uid;
};

/* The connector's limits and timings, its lanes and the stream itself: defined here so
 * the connector can live in more than one file (stream.c, stream_master.c). */
#define LANES_MAX 64
#define DEFAULT_LANES 8
#define DEFAULT_QUEUE 32
#define DEFAULT_SPILL_MS 1000
#define IDLE_RELEASE_MS 200 /* a PE held this long with nothing to send goes back */
/* In flight per PE: as many as its last ACKs say it finishes in WINDOW_WORK_US (the
 * most a message queued at one PE waits while another PE may be idle), between
 * WINDOW_SLOW (long analyses) and WINDOW_FAST. A window of 2 below 2 ms an ACK and 64
 * above made 1 MB messages (about 2 ms each) wait for their ACKs half the time. At
 * 1 KB a window of 64, the PE's result batch, sent a batch and waited for its ACKs
 * while the PE uploaded it; 256 (the PE's FIFO) overlaps them: 34,300 -> 39,600
 * msgs/s through the C API, medians of 5. */
#define WINDOW_SLOW 2
#define WINDOW_FAST 256
#define WINDOW_WORK_US 128000
/* ... and WINDOW_SLOW, or as many as stay under WINDOW_BYTES. 16 MiB of 1 MB messages
 * in flight ran a resident Python handler at 0.4x (pipe and cache traffic), 2 MiB at
 * 1.4x, and the C API fastest too (bench/serve, bench/c_api). */
#define WINDOW_BYTES (2u << 20)
/* Small messages the window lets go together share one sendmsg: up to this many, of
 * this many bytes in all (at 1 KB, a system call and a PE wakeup per message were
 * most of the C API's cost). */
#define SEND_BATCH_MAX 32
#define SEND_BATCH_BYTES (64u << 10)
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* After the master said no PE is free, no lane asks again for this long (doubling to
 * the max while the answer stays no): asking at every ACK made 3 allocate requests a
 * message while every PE was busy with this very stream (bench/serve_cpu). */
#define NO_PE_RETRY_MIN_MS 20
#define NO_PE_RETRY_MAX_MS 250
#define HELLO_TIMEOUT_MS 5000
/* Liveness of a session holding messages. A PE that stops (SIGSTOP, a hung host whose
 * kernel still ACKs TCP) keeps its socket open, so once the oldest message in flight
 * waited CHECK_AFTER_MS for its ACK, the lane asks the master (which saw the PE's
 * heartbeats stop) every CHECK_AFTER_MS whether the PE is gone. Independently, with
 * the pipeline's timeout known, an ACK later than that timeout plus ACK_GRACE_MS plus
 * the message's transfer at ACK_MIN_BYTES_PER_MS ends the session. */
#define CHECK_AFTER_MS 2000
#define ACK_GRACE_MS 10000
#define ACK_MIN_BYTES_PER_MS 1024 /* 1 MB/s */

struct lane {
	hio_stream *s;
	int idx;
	pthread_t thread;
	/* The session. sock, pe_id, reader and has_reader belong to the lane thread; its
	 * reader reads sock and pe_id, which do not change while the reader runs (the lane
	 * joins it before closing). The fields from broken on are under s->mu. */
	int sock;
	char pe_id[HIO_ID_LEN + 1];
	pthread_t reader;
	int has_reader;
	int local;  /* sock is a unix socket to a PE on this host: files go as descriptors */
	int broken; /* the reader saw the session end */
	int held;   /* a session is open (sock is the lane thread's own) */
	struct msg *inflight; /* sent, not acknowledged (singly linked, oldest first) */
	struct msg *inflight_tail;
	int inflight_n;
	uint64_t inflight_bytes;
	uint64_t last_ack_us; /* when the last burst of acks was read */
	uint64_t ack_gap_us;  /* moving average of the PE's time per message */
	int burst_acks;	      /* acks read since then */
	uint64_t last_work_ms;
	uint64_t checked_ms; /* the last liveness question to the master */
	long pe_timeout_ms;  /* the session's pipeline timeout (pe_addr) */
};

struct hio_stream {
	char *master, *token, *pipeline;
	enum hio_compress compress;
	int no_local;	  /* hio_stream_opts.no_local */
	int files_sealed; /* hio_stream_opts.files_sealed */
	int nlanes, queue_max;
	long give_up_ms, spill_ms;
	hio_ack_fn on_ack;
	void *ack_ud;

	/* Lock order: mu is the connector's only lock, and a leaf: no other lock is taken
	 * while it is held, and no socket, REST call, file close, log line or on_ack call
	 * happens under it. It guards the queue, pending, allocating, no_pe_*, stopping, st, and
	 * each lane's fields from broken on (with the messages on its in-flight list). */
	pthread_mutex_t mu;
	pthread_cond_t cv;	 /* held lanes: queue, their ACKs, session broke, stop */
	pthread_cond_t cv_free;	 /* lanes without a session: queue or stop changed */
	pthread_cond_t cv_space; /* room in the queue */
	pthread_cond_t cv_done;	 /* pending reached 0 */
	struct msg *q_head, *q_tail;
	int q_len;
	int pending;		 /* queued + in flight */
	int allocating;		 /* lanes asking the master for a PE or opening a session */
	uint64_t no_pe_until_ms; /* no lane asks for a PE before (the master had none) */
	long no_pe_retry_ms;	 /* the next such pause */
	int stopping;
	struct hio_stream_stats st;
	struct lane lanes[LANES_MAX];
};

/* Closes m's file and frees m; only its owner calls it (struct msg). */
void stream_msg_free(struct msg *m);
/* stream.c, for stream_api.c. */
/* Set on a thread while it runs on_ack: a send from there must not wait for room in
 * the queue, which only lane threads (perhaps this very one) make. */
extern _Thread_local int stream_in_on_ack;
/* Reports m to on_ack, counts it and frees it. Called without s->mu. */
void stream_msg_finish(hio_stream *s, struct msg *m, int ok, enum hio_via via, const char *status,
		       const char *error);
/* The head of the queue, now the caller's; NULL when empty. The caller holds s->mu. */
struct msg *stream_queue_pop_locked(hio_stream *s);
/* A lane's thread (arg: its struct lane). */
void *stream_lane_main(void *arg);
/* What a session reads from its PE: WELCOME, ACK or ERROR. */
struct stream_ack {
	char id[HIO_ID_LEN + 1];
	char status[16];
	char error[256];
	int got; /* the frame type */
};
/* hio_frame_dec on_end callback filling the struct stream_ack at ud. */
int stream_ack_on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta);
/* The MSG frame meta of m: {id, name, ts}. Caller decrefs. */
json_t *stream_msg_meta(const struct msg *m);
/* The head of m's MSG frame as the batched small messages send it (no flags), written
 * by hand (hio_jw.h): one allocation. 0, or -1 with errno. */
int stream_msg_head(const struct msg *m, uint8_t **out, size_t *len);
/* 1: a PE was reserved for us; 0: none free (use the backlog); -1: master unreachable
 * (err says why). */
int stream_allocate(hio_http *http, const char *pipeline, struct pe_addr *pe, char *err,
		    size_t errlen);
/* Gives a reserved PE back to the master; failures only cost the reservation's lease.
 * unreachable (or NULL): why no session could be opened, so the master does not hand
 * that PE out again at once. */
void stream_release_pe(hio_http *http, const char *pe_id, const char *unreachable);
/* 1: the master lists the PE alive; 0: gone or unknown to it; -1: cannot tell. */
int stream_pe_alive(hio_http *http, const char *pe_id);
/* 0 when the master holds m durably in its backlog; -1 otherwise (err says why). */
int stream_backlog_push(hio_http *http, const char *pipeline, const struct msg *m, char *err,
			size_t errlen);

#endif
