/* hio_stream: the stream connector. Sends messages P2P to PEs the master
 * allocates, falling back to the master's backlog when no PE is free, and reports
 * each message once it is acknowledged (its result stored, or durable in the
 * backlog). Thread-safe: any thread may send; acks arrive on internal threads. */
#ifndef HIO_STREAM_H
#define HIO_STREAM_H
#include "hio_frame.h"
#include "hio_util.h"
#include <stdint.h>

typedef struct hio_stream hio_stream;

enum hio_via { HIO_VIA_NONE = 0, HIO_VIA_PE, HIO_VIA_BACKLOG };

struct hio_ack {
	const char *id;
	const char *name;
	int ok; /* 1: acknowledged; 0: given up (error says why) */
	enum hio_via via;
	const char *status; /* "done", "failed", "duplicate" (via PE) or "queued" (backlog) */
	const char *error;
	void *user; /* what the sender passed */
};
/* Called on an internal thread, without stream locks held; may call send again (which
 * then does not block on a full queue). */
typedef void (*hio_ack_fn)(void *ud, const struct hio_ack *ack);

struct hio_stream_opts {
	const char *master; /* base URL */
	const char *token;
	const char *pipeline; /* NULL: "default" */
	enum hio_compress compress;
	int max_pes;	 /* PEs held at once; 0: 8 */
	int queue_max;	 /* messages waiting to go; send blocks past it; 0: 32 */
	long spill_ms;	 /* a message waiting this long with no PE free goes to the
			  * master's backlog; 0: 1000 */
	long give_up_ms; /* a message unacknowledged this long is given up; 0: never */
	/* 1: always TCP. Else a PE on this host (reachable on its local socket, its uid
	 * as registered) gets files as descriptors and buffers uncompressed over a unix
	 * socket (docs/protocol.md, "Local handover"). */
	int no_local;
	/* 1: a file this stream sends never changes in place until its ACK (hio-fs's spool
	 * versions: a rewrite copies first). A PE on this host may then give a run-as
	 * analysis the file itself, read-only, instead of a copy (docs/protocol.md). */
	int files_sealed;
	hio_ack_fn on_ack;
	void *ack_ud;
};

/* Copies what it needs from opts. NULL with err on bad options. */
hio_stream *hio_stream_open(const struct hio_stream_opts *opts, char *err, size_t errlen);
/* Queues a file (opened now, so a later rename or unlink does not matter). id NULL: a new
 * one; ts 0: now. Blocks while the queue is full. 0, or -1 with errno (bad name: EINVAL). */
int hio_stream_send_file(hio_stream *s, const char *path, const char *name, const char *id,
			 uint64_t ts, void *user);
/* Same for a buffer (copied). */
int hio_stream_send_buf(hio_stream *s, const void *p, size_t n, const char *name, const char *id,
			uint64_t ts, void *user);
/* Same without the copy: the n bytes at p stay the caller's, and must stay valid and
 * unchanged until this message's on_ack has run (or hio_stream_close returned). Saves
 * a copy and a fresh buffer's page faults per message (big messages, or one buffer
 * sent many times). */
int hio_stream_send_ref(hio_stream *s, const void *p, size_t n, const char *name, const char *id,
			uint64_t ts, void *user);
/* Waits until every queued message was acknowledged or given up. timeout_ms < 0: forever.
 * 0, or -1 on timeout. */
int hio_stream_flush(hio_stream *s, long timeout_ms);
/* Stops accepting messages and wakes any send blocked on a full queue (it fails with
 * ECANCELED), so the sending threads can be joined before hio_stream_close. */
void hio_stream_cancel(hio_stream *s);
/* Stops; messages not yet acknowledged are reported with ok = 0. Frees s. */
void hio_stream_close(hio_stream *s);

struct hio_stream_stats {
	uint64_t acked, given_up, via_pe, via_backlog, resent, bytes_p2p, bytes_backlog;
	uint64_t handed_over; /* files passed to a PE on this host as descriptors */
	/* Gauges: messages sent to a PE and not yet acknowledged, and those accepted but
	 * handed to no PE yet (the queue): the work waiting at this client. */
	uint64_t inflight, queued;
};
void hio_stream_get_stats(hio_stream *s, struct hio_stream_stats *st);

#endif
