/* Internals of the stream connector shared by stream.c and stream_master.c. */
#ifndef HIO_STREAM_INTERNAL_H
#define HIO_STREAM_INTERNAL_H
#include "hio_http.h"
#include "hio_stream.h"

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
	int fd;	    /* file body, or -1 */
	char *data; /* memory body */
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
};

/* Closes m's file and frees m; only its owner calls it (struct msg). */
void stream_msg_free(struct msg *m);
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
