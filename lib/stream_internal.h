/* Internals of the stream connector shared by stream.c and stream_master.c. */
#ifndef HIO_STREAM_INTERNAL_H
#define HIO_STREAM_INTERNAL_H
#include "hio_http.h"
#include "hio_stream.h"

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
};

struct pe_addr {
	char id[HIO_ID_LEN + 1];
	char host[256];
	int port;
};

/* The MSG frame meta of m: {id, name, ts}. Caller decrefs. */
json_t *stream_msg_meta(const struct msg *m);
/* 1: a PE was reserved for us; 0: none free (use the backlog); -1: master unreachable
 * (err says why). */
int stream_allocate(hio_http *http, const char *pipeline, struct pe_addr *pe, char *err,
		    size_t errlen);
/* Gives a reserved PE back to the master; failures only cost the reservation's lease. */
void stream_release_pe(hio_http *http, const char *pe_id);
/* 0 when the master holds m durably in its backlog; -1 otherwise (err says why). */
int stream_backlog_push(hio_http *http, const char *pipeline, const struct msg *m, char *err,
			size_t errlen);

#endif
