/* hio_frame: the one frame codec, used for P2P sessions, backlog messages and
 * result uploads. Format and limits: docs/protocol.md. */
#ifndef HIO_FRAME_H
#define HIO_FRAME_H
#include "hio_buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HIO_FRAME_MAGIC "HIO1"
#define HIO_FRAME_HDR_LEN 20
#define HIO_FRAME_META_MAX (64u * 1024)		  /* JSON meta of one frame */
#define HIO_BODY_MAX (64ull * 1024 * 1024 * 1024) /* raw body of one frame */
#define HIO_CHUNK_MAX (1u * 1024 * 1024)	  /* raw bytes in one LZ4 chunk */
#define HIO_FRAME_F_LZ4 0x01
/* The body is not in the stream: it is the file whose descriptor came with the frame's
 * first byte (SCM_RIGHTS), over a unix socket on one host (docs/protocol.md, "Local
 * handover"). Only a decoder that allows it (hio_frame_dec_allow_fd) accepts it. */
#define HIO_FRAME_F_FD 0x02

enum hio_frame_type {
	HIO_F_HELLO = 1,
	HIO_F_WELCOME = 2,
	HIO_F_MSG = 3,
	HIO_F_ACK = 4,
	HIO_F_ERROR = 5,
	HIO_F_RFILE = 6,
	HIO_F_RDONE = 7,
};

enum hio_compress { HIO_COMPRESS_AUTO = 0, HIO_COMPRESS_OFF, HIO_COMPRESS_ON };

struct hio_frame_hdr {
	uint8_t type;
	uint8_t flags;
	uint32_t meta_len;
	uint64_t body_len;
};

void hio_frame_hdr_encode(uint8_t out[HIO_FRAME_HDR_LEN], const struct hio_frame_hdr *h);
/* Checks magic, type, flags, reserved bits and the limits. 0, or -1 with *why. */
int hio_frame_hdr_decode(const uint8_t in[HIO_FRAME_HDR_LEN], struct hio_frame_hdr *h,
			 const char **why);

/* --- Decoding: a push parser fed with whatever bytes arrived. --- */
typedef struct hio_frame_dec hio_frame_dec;
struct hio_frame_dec_cbs {
	/* Header and meta are complete. meta is borrowed (valid until on_end returns).
	 * Return 0 to go on, -1 to abort the decoder. */
	int (*on_frame)(void *ud, const struct hio_frame_hdr *h, json_t *meta);
	/* Raw (decompressed) body bytes, in order. NULL when the body is not wanted. */
	int (*on_body)(void *ud, const void *p, size_t n);
	/* The frame's body is complete. */
	int (*on_end)(void *ud, const struct hio_frame_hdr *h, json_t *meta);
};
/* cbs is copied. Caller frees with hio_frame_dec_free. */
hio_frame_dec *hio_frame_dec_new(const struct hio_frame_dec_cbs *cbs, void *ud);
void hio_frame_dec_free(hio_frame_dec *d);
/* Accepts HIO_FRAME_F_FD frames: on_frame sees the flag, no body bytes follow and
 * on_end comes right after it (the caller takes the descriptor). */
void hio_frame_dec_allow_fd(hio_frame_dec *d);
/* 0, or -1 on malformed input or a callback's -1; the decoder is then dead
 * and hio_frame_dec_error says why. */
int hio_frame_dec_feed(hio_frame_dec *d, const void *p, size_t n);
/* Receiving a body in place: while a frame's body is not compressed, how many of its
 * bytes are still to come (0 otherwise, and between frames). A caller with a place
 * for them may read up to that many there itself, skipping the copy through its read
 * buffer and on_body, and report them with hio_frame_dec_body_placed. */
uint64_t hio_frame_dec_body_left(const hio_frame_dec *d);
/* n (at most body_left) body bytes the caller placed itself; runs on_end when the body
 * is complete. 0, or -1 as hio_frame_dec_feed. */
int hio_frame_dec_body_placed(hio_frame_dec *d, size_t n);
/* 1 when between frames, so an EOF here is clean (otherwise truncated). */
int hio_frame_dec_idle(const hio_frame_dec *d);
const char *hio_frame_dec_error(const hio_frame_dec *d);
/* Reads from fd and feeds until one whole frame has been decoded (on_end ran).
 * Returns 1 for a frame, 0 on clean EOF, -1 on error/truncation (errno or dec error). */
int hio_frame_dec_read_one(hio_frame_dec *d, int fd);
/* Bytes read from the socket and not yet decoded: 0 means the next read_one blocks.
 * A reader acts once per burst of frames (wakes its waiters) when it drops to 0. */
size_t hio_frame_dec_buffered(const hio_frame_dec *d);

/* --- Encoding. --- */
/* Encodes a header plus meta into out (malloc'ed, caller frees); *len gets its size.
 * Returns 0, or -1 with errno: EMSGSIZE (meta or body over its limit), ENOMEM. */
int hio_frame_head(int type, int flags, json_t *meta, uint64_t body_len, uint8_t **out,
		   size_t *len);
/* A head whose meta is written in place (hio_jw.h), for the frames of every message:
 * start leaves room for the header in b (limited to a header and HIO_FRAME_META_MAX);
 * the caller appends the meta; finish encodes the header in front of it and hands b's
 * data over as *out (the caller's to free), or frees it. 0, or -1 with errno (after a
 * failed start, b takes no bytes and finish fails too). */
int hio_frame_head_start(struct hio_buf *b);
int hio_frame_head_finish(struct hio_buf *b, int type, int flags, uint64_t body_len, uint8_t **out,
			  size_t *len);
/* 1 when LZ4 shrinks sample to under 80%. */
int hio_frame_compress_pays(const void *sample, size_t n);
/* Decides the LZ4 flag for a body under a mode (data or the first bytes of fd at 0). */
int hio_frame_choose_flags(enum hio_compress mode, const void *data, int fd, uint64_t len);

/* A byte sink: returns 0 or -1. */
typedef int (*hio_sink_fn)(void *ud, const void *p, size_t n);

/* Writes one frame: header, meta, and a body of len bytes taken from data, or when
 * data is NULL from fd at offset 0. flags may carry HIO_FRAME_F_LZ4. */
int hio_frame_write(hio_sink_fn sink, void *ud, int type, int flags, json_t *meta, const void *data,
		    int fd, uint64_t len);
/* Same onto a socket, using sendfile(2) for uncompressed file bodies. 0 or -1/errno. */
int hio_frame_send(int sock, int type, int flags, json_t *meta, const void *data, int fd,
		   uint64_t len);
/* A pull source of one encoded frame, for bodies a consumer pulls (HTTP uploads).
 * Borrows data or fd (which must outlive it); meta is encoded at once. NULL on error. */
typedef struct hio_frame_src hio_frame_src;
hio_frame_src *hio_frame_src_new(int type, int flags, json_t *meta, const void *data, int fd,
				 uint64_t len);
/* Copies up to n next bytes into buf. Returns the count, 0 at the end, -1 on error. */
long hio_frame_src_read(hio_frame_src *s, void *buf, size_t n);
/* The encoded size when known in advance (not LZ4), else -1. */
int64_t hio_frame_src_size(const hio_frame_src *s);
void hio_frame_src_free(hio_frame_src *s);

/* One HIO_FRAME_F_FD frame onto a unix socket: header and meta, with fd (a regular file
 * of len bytes, read from offset 0 by the peer) passed along. 0 or -1/errno. */
int hio_frame_send_fd(int sock, int type, json_t *meta, int fd, uint64_t len);
/* A frame with no body. */
int hio_frame_send_meta(int sock, int type, json_t *meta);

#endif
