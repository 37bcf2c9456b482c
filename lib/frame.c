#include "hio_frame.h"
#include "hio_net.h"
#include "hio_util.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define FRAME_TYPE_MAX HIO_F_RDONE
#define CHUNK_HDR_LEN 8
#define SAMPLE_LEN (64u * 1024)
#define COMPRESS_MIN_LEN 4096u /* smaller bodies never pay for the chunk framing */
#define READ_BUF_LEN (64u * 1024)
#define FILE_IO_LEN (256u * 1024)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void hio_frame_hdr_encode(uint8_t out[HIO_FRAME_HDR_LEN], const struct hio_frame_hdr *h)
{
	memcpy(out, HIO_FRAME_MAGIC, 4);
	out[4] = h->type;
	out[5] = h->flags;
	out[6] = out[7] = 0;
	put32(out + 8, h->meta_len);
	put32(out + 12, (uint32_t)(h->body_len >> 32));
	put32(out + 16, (uint32_t)h->body_len);
}

int hio_frame_hdr_decode(const uint8_t in[HIO_FRAME_HDR_LEN], struct hio_frame_hdr *h,
			 const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (memcmp(in, HIO_FRAME_MAGIC, 4) != 0) {
		*why = "bad frame magic (not an hio peer?)";
		return -1;
	}
	h->type = in[4];
	h->flags = in[5];
	h->meta_len = get32(in + 8);
	h->body_len = (uint64_t)get32(in + 12) << 32 | get32(in + 16);
	if (h->type < 1 || h->type > FRAME_TYPE_MAX) {
		*why = "unknown frame type";
		return -1;
	}
	if (h->flags & ~(HIO_FRAME_F_LZ4 | HIO_FRAME_F_FD)) {
		*why = "unknown frame flags";
		return -1;
	}
	if ((h->flags & HIO_FRAME_F_LZ4) && (h->flags & HIO_FRAME_F_FD)) {
		*why = "a frame passed as a descriptor cannot be compressed";
		return -1;
	}
	if (in[6] || in[7]) {
		*why = "reserved frame bits set";
		return -1;
	}
	if (h->meta_len > HIO_FRAME_META_MAX) {
		*why = "frame meta larger than 64 KiB";
		return -1;
	}
	if (h->body_len > HIO_BODY_MAX) {
		*why = "frame body larger than 64 GiB";
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- decoding */

enum dec_state { D_HDR, D_META, D_BODY, D_CHUNK_HDR, D_CHUNK_DATA, D_DEAD };

struct hio_frame_dec {
	struct hio_frame_dec_cbs cbs;
	void *ud;
	enum dec_state st;
	struct hio_frame_hdr hdr;
	uint8_t small[HIO_FRAME_HDR_LEN]; /* header or chunk header being gathered */
	size_t small_len;
	char *meta_buf; /* HIO_FRAME_META_MAX, then reused */
	size_t meta_got;
	json_t *meta;
	uint64_t body_left; /* raw bytes still to deliver */
	uint32_t chunk_raw, chunk_enc;
	char *chunk_in, *chunk_out; /* LZ4 buffers, allocated on the first chunk */
	size_t chunk_got;
	int frames_done;
	int allow_fd;
	const char *error;
	char error_buf[160];
	uint8_t *rbuf; /* for hio_frame_dec_read_one */
	size_t rpos, rlen;
};

hio_frame_dec *hio_frame_dec_new(const struct hio_frame_dec_cbs *cbs, void *ud)
{
	hio_frame_dec *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cbs = *cbs;
	d->ud = ud;
	return d;
}

void hio_frame_dec_free(hio_frame_dec *d)
{
	if (!d)
		return;
	json_decref(d->meta);
	free(d->meta_buf);
	free(d->chunk_in);
	free(d->chunk_out);
	free(d->rbuf);
	free(d);
}

void hio_frame_dec_allow_fd(hio_frame_dec *d)
{
	d->allow_fd = 1;
}

int hio_frame_dec_idle(const hio_frame_dec *d)
{
	return d->st == D_HDR && d->small_len == 0;
}

const char *hio_frame_dec_error(const hio_frame_dec *d)
{
	return d->error ? d->error : "no error";
}

static int dec_fail(hio_frame_dec *d, const char *why)
{
	d->st = D_DEAD;
	d->error = why;
	return -1;
}

static int dec_end_frame(hio_frame_dec *d)
{
	int rc = 0;

	if (d->cbs.on_end && d->cbs.on_end(d->ud, &d->hdr, d->meta) < 0)
		rc = dec_fail(d, "frame rejected by receiver");
	json_decref(d->meta);
	d->meta = NULL;
	if (rc == 0) {
		d->st = D_HDR;
		d->small_len = 0;
	}
	d->frames_done++;
	return rc;
}

static int dec_body_begin(hio_frame_dec *d)
{
	json_error_t jerr;

	d->meta =
	    d->hdr.meta_len ? json_loadb(d->meta_buf, d->hdr.meta_len, 0, &jerr) : json_object();
	if (!d->meta || !json_is_object(d->meta)) {
		snprintf(d->error_buf, sizeof(d->error_buf), "frame meta is not a JSON object: %s",
			 d->meta ? "wrong type" : jerr.text);
		json_decref(d->meta);
		d->meta = NULL;
		return dec_fail(d, d->error_buf);
	}
	if (d->cbs.on_frame && d->cbs.on_frame(d->ud, &d->hdr, d->meta) < 0)
		return dec_fail(d, "frame rejected by receiver");
	d->body_left = d->hdr.flags & HIO_FRAME_F_FD ? 0 : d->hdr.body_len;
	if (d->body_left == 0)
		return dec_end_frame(d);
	d->st = (d->hdr.flags & HIO_FRAME_F_LZ4) ? D_CHUNK_HDR : D_BODY;
	d->small_len = 0;
	return 0;
}

static int dec_deliver(hio_frame_dec *d, const void *p, size_t n)
{
	if (d->cbs.on_body && d->cbs.on_body(d->ud, p, n) < 0)
		return dec_fail(d, "frame body rejected by receiver");
	d->body_left -= n;
	return 0;
}

static int dec_chunk_header(hio_frame_dec *d)
{
	d->chunk_raw = get32(d->small);
	d->chunk_enc = get32(d->small + 4);
	if (d->chunk_raw == 0 || d->chunk_raw > HIO_CHUNK_MAX || d->chunk_raw > d->body_left)
		return dec_fail(d, "bad LZ4 chunk length");
	if (d->chunk_enc == 0 || (d->chunk_enc != d->chunk_raw &&
				  d->chunk_enc > (uint32_t)LZ4_compressBound((int)d->chunk_raw)))
		return dec_fail(d, "bad LZ4 chunk encoded length");
	if (!d->chunk_in) {
		d->chunk_in = malloc((size_t)LZ4_compressBound(HIO_CHUNK_MAX));
		d->chunk_out = malloc(HIO_CHUNK_MAX);
		if (!d->chunk_in || !d->chunk_out)
			return dec_fail(d, "out of memory for an LZ4 chunk");
	}
	d->chunk_got = 0;
	d->st = D_CHUNK_DATA;
	return 0;
}

/* Consumes bytes up to the end of the current frame at most, so frames that follow
 * in the same buffer stay with the caller. Returns bytes consumed or -1. */
static ssize_t dec_feed_frame(hio_frame_dec *d, const uint8_t *p, size_t n)
{
	size_t used = 0;
	int start = d->frames_done;

	while (used < n && d->frames_done == start) {
		size_t take;

		switch (d->st) {
		case D_HDR:
			take = HIO_FRAME_HDR_LEN - d->small_len;
			if (take > n - used)
				take = n - used;
			memcpy(d->small + d->small_len, p + used, take);
			d->small_len += take;
			used += take;
			if (d->small_len < HIO_FRAME_HDR_LEN)
				break;
			if (hio_frame_hdr_decode(d->small, &d->hdr, &d->error) < 0) {
				d->st = D_DEAD;
				return -1;
			}
			if ((d->hdr.flags & HIO_FRAME_F_FD) && !d->allow_fd)
				return dec_fail(d,
						"a frame passed as a descriptor, where only bytes "
						"can come");
			if (!d->meta_buf && !(d->meta_buf = malloc(HIO_FRAME_META_MAX)))
				return dec_fail(d, "out of memory for frame meta");
			d->meta_got = 0;
			d->st = D_META;
			if (d->hdr.meta_len == 0 && dec_body_begin(d) < 0)
				return -1;
			break;
		case D_META:
			take = d->hdr.meta_len - d->meta_got;
			if (take > n - used)
				take = n - used;
			memcpy(d->meta_buf + d->meta_got, p + used, take);
			d->meta_got += take;
			used += take;
			if (d->meta_got == d->hdr.meta_len && dec_body_begin(d) < 0)
				return -1;
			break;
		case D_BODY:
			take = n - used;
			if (take > d->body_left)
				take = (size_t)d->body_left;
			if (dec_deliver(d, p + used, take) < 0)
				return -1;
			used += take;
			if (d->body_left == 0 && dec_end_frame(d) < 0)
				return -1;
			break;
		case D_CHUNK_HDR:
			take = CHUNK_HDR_LEN - d->small_len;
			if (take > n - used)
				take = n - used;
			memcpy(d->small + d->small_len, p + used, take);
			d->small_len += take;
			used += take;
			if (d->small_len == CHUNK_HDR_LEN && dec_chunk_header(d) < 0)
				return -1;
			break;
		case D_CHUNK_DATA:
			take = d->chunk_enc - d->chunk_got;
			if (take > n - used)
				take = n - used;
			memcpy(d->chunk_in + d->chunk_got, p + used, take);
			d->chunk_got += take;
			used += take;
			if (d->chunk_got < d->chunk_enc)
				break;
			if (d->chunk_enc == d->chunk_raw) {
				if (dec_deliver(d, d->chunk_in, d->chunk_raw) < 0)
					return -1;
			} else {
				int r = LZ4_decompress_safe(d->chunk_in, d->chunk_out,
							    (int)d->chunk_enc, (int)d->chunk_raw);
				if (r != (int)d->chunk_raw)
					return dec_fail(d, "corrupt LZ4 chunk");
				if (dec_deliver(d, d->chunk_out, d->chunk_raw) < 0)
					return -1;
			}
			d->small_len = 0;
			d->st = D_CHUNK_HDR;
			if (d->body_left == 0 && dec_end_frame(d) < 0)
				return -1;
			break;
		case D_DEAD:
			return -1;
		}
	}
	return (ssize_t)used;
}

int hio_frame_dec_feed(hio_frame_dec *d, const void *p, size_t n)
{
	const uint8_t *c = p;

	if (d->st == D_DEAD)
		return -1;
	while (n > 0) {
		ssize_t used = dec_feed_frame(d, c, n);
		if (used < 0)
			return -1;
		c += used;
		n -= (size_t)used;
	}
	return 0;
}

uint64_t hio_frame_dec_body_left(const hio_frame_dec *d)
{
	return d->st == D_BODY ? d->body_left : 0;
}

int hio_frame_dec_body_placed(hio_frame_dec *d, size_t n)
{
	if (d->st != D_BODY || n > d->body_left)
		return dec_fail(d, "body placed beyond the frame (a bug of the caller)");
	d->body_left -= n;
	return d->body_left == 0 ? dec_end_frame(d) : 0;
}

int hio_frame_dec_read_one(hio_frame_dec *d, int fd)
{
	int start = d->frames_done;

	if (d->st == D_DEAD)
		return -1;
	if (!d->rbuf && !(d->rbuf = malloc(READ_BUF_LEN))) {
		dec_fail(d, "out of memory for the read buffer");
		return -1;
	}
	for (;;) {
		if (d->rpos < d->rlen) {
			ssize_t used = dec_feed_frame(d, d->rbuf + d->rpos, d->rlen - d->rpos);
			if (used < 0)
				return -1;
			d->rpos += (size_t)used;
			if (d->frames_done != start)
				return 1;
		}
		ssize_t r = read(fd, d->rbuf, READ_BUF_LEN);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(d->error_buf, sizeof(d->error_buf), "read failed: %s",
				 strerror(errno));
			dec_fail(d, d->error_buf);
			return -1;
		}
		if (r == 0) {
			if (hio_frame_dec_idle(d))
				return 0;
			dec_fail(d, "connection closed in the middle of a frame (truncated)");
			return -1;
		}
		d->rpos = 0;
		d->rlen = (size_t)r;
	}
}

size_t hio_frame_dec_buffered(const hio_frame_dec *d)
{
	return d->rlen - d->rpos;
}

/* ---------------------------------------------------------------- encoding */

/* Room for the meta in a head's first allocation: most metas (MSG, ACK, RDONE) fit, so
 * a head is one malloc; json_dumps grew its string from 16 bytes by doubling. */
#define FRAME_META_GUESS 496

int hio_frame_head(int type, int flags, json_t *meta, uint64_t body_len, uint8_t **out, size_t *len)
{
	struct hio_frame_hdr h = {
	    .type = (uint8_t)type, .flags = (uint8_t)flags, .body_len = body_len};
	uint8_t *buf, *n;
	size_t mlen = 0;

	if (body_len > HIO_BODY_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	buf = malloc(HIO_FRAME_HDR_LEN + FRAME_META_GUESS);
	if (!buf)
		return -1;
	if (meta) {
		mlen = json_dumpb(meta, (char *)buf + HIO_FRAME_HDR_LEN, FRAME_META_GUESS,
				  JSON_COMPACT);
		if (!mlen || mlen > HIO_FRAME_META_MAX) {
			free(buf);
			errno = mlen ? EMSGSIZE : ENOMEM;
			return -1;
		}
		if (mlen > FRAME_META_GUESS) {
			n = realloc(buf, HIO_FRAME_HDR_LEN + mlen);
			if (!n) {
				free(buf);
				return -1;
			}
			buf = n;
			if (json_dumpb(meta, (char *)buf + HIO_FRAME_HDR_LEN, mlen, JSON_COMPACT) !=
			    mlen) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
		}
	}
	h.meta_len = (uint32_t)mlen;
	hio_frame_hdr_encode(buf, &h);
	*out = buf;
	*len = HIO_FRAME_HDR_LEN + mlen;
	return 0;
}

int hio_frame_head_start(struct hio_buf *b)
{
	static const uint8_t room[HIO_FRAME_HDR_LEN];

	hio_buf_init(b, HIO_FRAME_HDR_LEN + HIO_FRAME_META_MAX);
	/* Most metas fit without growing it: one allocation for the head. */
	if (hio_buf_reserve(b, HIO_FRAME_HDR_LEN + FRAME_META_GUESS) < 0 ||
	    hio_buf_append(b, room, sizeof(room)) < 0) {
		b->max = 0; /* no meta either: finish fails */
		return -1;
	}
	return 0;
}

int hio_frame_head_finish(struct hio_buf *b, int type, int flags, uint64_t body_len, uint8_t **out,
			  size_t *len)
{
	struct hio_frame_hdr h = {.type = (uint8_t)type,
				  .flags = (uint8_t)flags,
				  .meta_len = (uint32_t)(b->len - HIO_FRAME_HDR_LEN),
				  .body_len = body_len};

	if (b->len < HIO_FRAME_HDR_LEN || body_len > HIO_BODY_MAX) {
		int e = b->len < HIO_FRAME_HDR_LEN ? ENOMEM : EMSGSIZE;

		hio_buf_free(b);
		errno = e;
		return -1;
	}
	hio_frame_hdr_encode((uint8_t *)b->data, &h);
	*out = (uint8_t *)hio_buf_steal(b, len);
	return 0;
}

int hio_frame_compress_pays(const void *sample, size_t n)
{
	int bound, r;
	char *dst;

	if (n == 0 || n > (size_t)LZ4_MAX_INPUT_SIZE)
		return 0;
	bound = LZ4_compressBound((int)n);
	dst = malloc((size_t)bound);
	if (!dst)
		return 0;
	r = LZ4_compress_default(sample, dst, (int)n, bound);
	free(dst);
	return r > 0 && (uint64_t)r * 10 < (uint64_t)n * 8;
}

int hio_frame_choose_flags(enum hio_compress mode, const void *data, int fd, uint64_t len)
{
	uint8_t *sample;
	size_t n;
	ssize_t r;
	int pays;

	if (mode == HIO_COMPRESS_OFF || len == 0)
		return 0;
	if (mode == HIO_COMPRESS_ON)
		return HIO_FRAME_F_LZ4;
	if (len < COMPRESS_MIN_LEN)
		return 0;
	n = len < SAMPLE_LEN ? (size_t)len : SAMPLE_LEN;
	if (data)
		return hio_frame_compress_pays(data, n) ? HIO_FRAME_F_LZ4 : 0;
	sample = malloc(n);
	if (!sample)
		return 0;
	r = pread(fd, sample, n, 0);
	pays = r > 0 && hio_frame_compress_pays(sample, (size_t)r);
	free(sample);
	return pays ? HIO_FRAME_F_LZ4 : 0;
}

/* Reads len bytes of the body at off from data or fd into buf (for fd) or points at data. */
static const void *body_at(const void *data, int fd, uint64_t off, size_t n, char *buf)
{
	if (data)
		return (const char *)data + off;
	ssize_t r = pread(fd, buf, n, (off_t)off);
	if (r != (ssize_t)n) {
		if (r >= 0)
			errno = EIO; /* the file shrank while being sent */
		return NULL;
	}
	return buf;
}

static int write_lz4_body(hio_sink_fn sink, void *ud, const void *data, int fd, uint64_t len)
{
	char *raw = data ? NULL : malloc(HIO_CHUNK_MAX);
	char *enc = malloc(CHUNK_HDR_LEN + (size_t)LZ4_compressBound(HIO_CHUNK_MAX));
	uint64_t off = 0;
	int rc = -1;

	if ((!data && !raw) || !enc)
		goto out;
	while (off < len) {
		size_t n = len - off > HIO_CHUNK_MAX ? HIO_CHUNK_MAX : (size_t)(len - off);
		const char *src = body_at(data, fd, off, n, raw);
		int e;

		if (!src)
			goto out;
		e = LZ4_compress_default(src, enc + CHUNK_HDR_LEN, (int)n,
					 LZ4_compressBound(HIO_CHUNK_MAX));
		put32((uint8_t *)enc, (uint32_t)n);
		if (e <= 0 || (size_t)e >= n) {
			/* Incompressible chunk: store it, the receiver sees enc_len == raw_len. */
			put32((uint8_t *)enc + 4, (uint32_t)n);
			if (sink(ud, enc, CHUNK_HDR_LEN) < 0 || sink(ud, src, n) < 0)
				goto out;
		} else {
			put32((uint8_t *)enc + 4, (uint32_t)e);
			if (sink(ud, enc, CHUNK_HDR_LEN + (size_t)e) < 0)
				goto out;
		}
		off += n;
	}
	rc = 0;
out:
	free(raw);
	free(enc);
	return rc;
}

int hio_frame_write(hio_sink_fn sink, void *ud, int type, int flags, json_t *meta, const void *data,
		    int fd, uint64_t len)
{
	uint8_t *head;
	size_t hlen;
	int rc = -1;

	if (hio_frame_head(type, flags, meta, len, &head, &hlen) < 0)
		return -1;
	if (sink(ud, head, hlen) < 0)
		goto out;
	if (flags & HIO_FRAME_F_LZ4) {
		rc = write_lz4_body(sink, ud, data, fd, len);
		goto out;
	}
	if (data) {
		rc = len ? sink(ud, data, (size_t)len) : 0;
		goto out;
	}
	char *buf = malloc(FILE_IO_LEN);
	if (!buf)
		goto out;
	for (uint64_t off = 0; off < len;) {
		size_t n = len - off > FILE_IO_LEN ? FILE_IO_LEN : (size_t)(len - off);
		if (!body_at(NULL, fd, off, n, buf) || sink(ud, buf, n) < 0) {
			free(buf);
			goto out;
		}
		off += n;
	}
	free(buf);
	rc = 0;
out:
	free(head);
	return rc;
}

static int sock_sink(void *ud, const void *p, size_t n)
{
	return hio_net_send(*(int *)ud, p, n);
}

int hio_frame_send(int sock, int type, int flags, json_t *meta, const void *data, int fd,
		   uint64_t len)
{
	uint8_t *head;
	size_t hlen;
	int rc = -1;

	if (flags & HIO_FRAME_F_LZ4)
		return hio_frame_write(sock_sink, &sock, type, flags, meta, data, fd, len);
	if (hio_frame_head(type, flags, meta, len, &head, &hlen) < 0)
		return -1;
	if (data || len == 0) {
		/* One sendmsg for head and a memory body: small messages cost one syscall. */
		struct iovec iov[2] = {{head, hlen}, {(void *)data, (size_t)len}};

		rc = hio_net_sendv(sock, iov, 2);
		goto out;
	}
	if (hio_net_send(sock, head, hlen) < 0)
		goto out;
	rc = hio_net_sendfile(sock, fd, 0, (size_t)len);
out:
	free(head);
	return rc;
}

int hio_frame_send_fd(int sock, int type, json_t *meta, int fd, uint64_t len)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	uint8_t *head;
	size_t hlen, off = 0;
	int rc = -1;

	if (hio_frame_head(type, HIO_FRAME_F_FD, meta, len, &head, &hlen) < 0)
		return -1;
	memset(&ctl, 0, sizeof(ctl));
	while (off < hlen) {
		struct iovec iov = {head + off, hlen - off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		/* The descriptor rides on the frame's first byte, so the peer has it by the
		 * time it decodes the header. */
		if (off == 0) {
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		ssize_t w = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		off += (size_t)w;
	}
	rc = 0;
out:
	free(head);
	return rc;
}

int hio_frame_send_meta(int sock, int type, json_t *meta)
{
	return hio_frame_send(sock, type, 0, meta, NULL, -1, 0);
}

/* ---------------------------------------------------------------- pull source */

struct hio_frame_src {
	uint8_t *head;
	size_t head_len, head_off;
	const void *data;
	int fd;
	int lz4;
	uint64_t len, off;	 /* raw body */
	char *raw, *enc;	 /* LZ4 buffers */
	size_t enc_len, enc_off; /* current encoded chunk (with its header) */
};

hio_frame_src *hio_frame_src_new(int type, int flags, json_t *meta, const void *data, int fd,
				 uint64_t len)
{
	hio_frame_src *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->data = data;
	s->fd = fd;
	s->len = len;
	s->lz4 = (flags & HIO_FRAME_F_LZ4) != 0;
	if (hio_frame_head(type, flags, meta, len, &s->head, &s->head_len) < 0)
		goto fail;
	if (s->lz4) {
		s->raw = data ? NULL : malloc(HIO_CHUNK_MAX);
		s->enc = malloc(CHUNK_HDR_LEN + (size_t)LZ4_compressBound(HIO_CHUNK_MAX));
		if ((!data && !s->raw) || !s->enc)
			goto fail;
	}
	return s;
fail:
	hio_frame_src_free(s);
	return NULL;
}

int64_t hio_frame_src_size(const hio_frame_src *s)
{
	return s->lz4 ? -1 : (int64_t)(s->head_len + s->len);
}

void hio_frame_src_free(hio_frame_src *s)
{
	if (!s)
		return;
	free(s->head);
	free(s->raw);
	free(s->enc);
	free(s);
}

/* Encodes the next chunk into s->enc; stored chunks keep header and data together. */
static int src_next_chunk(hio_frame_src *s)
{
	size_t n = s->len - s->off > HIO_CHUNK_MAX ? HIO_CHUNK_MAX : (size_t)(s->len - s->off);
	const char *src = body_at(s->data, s->fd, s->off, n, s->raw);
	int e;

	if (!src)
		return -1;
	e = LZ4_compress_default(src, s->enc + CHUNK_HDR_LEN, (int)n,
				 LZ4_compressBound(HIO_CHUNK_MAX));
	put32((uint8_t *)s->enc, (uint32_t)n);
	if (e <= 0 || (size_t)e >= n) {
		memcpy(s->enc + CHUNK_HDR_LEN, src, n);
		e = (int)n;
	}
	put32((uint8_t *)s->enc + 4, (uint32_t)e);
	s->enc_len = CHUNK_HDR_LEN + (size_t)e;
	s->enc_off = 0;
	s->off += n;
	return 0;
}

long hio_frame_src_read(hio_frame_src *s, void *buf, size_t n)
{
	size_t got = 0;
	char *out = buf;

	while (got < n) {
		size_t take;
		if (s->head_off < s->head_len) {
			take = s->head_len - s->head_off;
			if (take > n - got)
				take = n - got;
			memcpy(out + got, s->head + s->head_off, take);
			s->head_off += take;
		} else if (s->lz4) {
			if (s->enc_off == s->enc_len) {
				if (s->off == s->len)
					break;
				if (src_next_chunk(s) < 0)
					return -1;
			}
			take = s->enc_len - s->enc_off;
			if (take > n - got)
				take = n - got;
			memcpy(out + got, s->enc + s->enc_off, take);
			s->enc_off += take;
		} else {
			if (s->off == s->len)
				break;
			take = s->len - s->off > n - got ? n - got : (size_t)(s->len - s->off);
			if (s->data) {
				memcpy(out + got, (const char *)s->data + s->off, take);
			} else {
				ssize_t r = pread(s->fd, out + got, take, (off_t)s->off);
				if (r <= 0) {
					if (r == 0)
						errno = EIO; /* the file shrank while being sent */
					return -1;
				}
				take = (size_t)r;
			}
			s->off += take;
		}
		got += take;
	}
	return (long)got;
}
