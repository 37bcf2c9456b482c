/* The frame codec: round trips (raw, LZ4, files, split at every byte), and every
 * malformed input refused before allocation. */
#include "check.h"
#include "hio_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct got {
	int frames;
	int type;
	char id[64];
	unsigned char *body;
	size_t body_len, body_cap;
};

static int on_frame(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct got *g = ud;
	const char *id = json_string_value(json_object_get(meta, "id"));

	g->type = h->type;
	snprintf(g->id, sizeof(g->id), "%s", id ? id : "");
	g->body_len = 0;
	return 0;
}

static int on_body(void *ud, const void *p, size_t n)
{
	struct got *g = ud;

	if (g->body_len + n > g->body_cap) {
		g->body_cap = (g->body_len + n) * 2;
		g->body = realloc(g->body, g->body_cap);
	}
	memcpy(g->body + g->body_len, p, n);
	g->body_len += n;
	return 0;
}

static int on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct got *g = ud;

	(void)h;
	(void)meta;
	g->frames++;
	return 0;
}

static const struct hio_frame_dec_cbs cbs = {on_frame, on_body, on_end};

struct mem {
	unsigned char *p;
	size_t len, cap;
};

static int mem_sink(void *ud, const void *p, size_t n)
{
	struct mem *m = ud;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->p = realloc(m->p, m->cap);
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

static unsigned char *make_body(size_t n, int compressible)
{
	unsigned char *b = malloc(n ? n : 1);
	unsigned x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		b[i] =
		    compressible ? (unsigned char)((i / 64) % 7 + 'a') : (unsigned char)(x >> 16);
	}
	return b;
}

/* Encodes with write() and src_read(), decodes both fed in step-sized pieces. */
static void roundtrip(size_t n, int compressible, int flags, size_t step)
{
	unsigned char *body = make_body(n, compressible);
	json_t *meta = json_pack("{s:s}", "id", "0123456789abcdef0123456789abcdef");
	struct mem enc = {0}, enc2 = {0};
	struct got g = {0};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &g);
	hio_frame_src *src;
	char buf[7777];
	long r;

	CHECK(hio_frame_write(mem_sink, &enc, HIO_F_MSG, flags, meta, body, -1, n) == 0);
	src = hio_frame_src_new(HIO_F_MSG, flags, meta, body, -1, n);
	CHECK(src != NULL);
	while ((r = hio_frame_src_read(src, buf, sizeof(buf))) > 0)
		mem_sink(&enc2, buf, (size_t)r);
	CHECK(r == 0);
	CHECK(enc.len == enc2.len && memcmp(enc.p, enc2.p, enc.len) == 0);
	if (!(flags & HIO_FRAME_F_LZ4))
		CHECK(hio_frame_src_size(src) == (int64_t)enc.len);
	if ((flags & HIO_FRAME_F_LZ4) && compressible && n > 100000)
		CHECK(enc.len < n / 2);
	for (size_t off = 0; off < enc.len; off += step) {
		size_t take = enc.len - off < step ? enc.len - off : step;
		CHECK(hio_frame_dec_feed(d, enc.p + off, take) == 0);
	}
	CHECK(g.frames == 1);
	CHECK(g.type == HIO_F_MSG);
	CHECK(strcmp(g.id, "0123456789abcdef0123456789abcdef") == 0);
	CHECK(g.body_len == n && (n == 0 || memcmp(g.body, body, n) == 0));
	CHECK(hio_frame_dec_idle(d));
	hio_frame_src_free(src);
	hio_frame_dec_free(d);
	json_decref(meta);
	free(body);
	free(enc.p);
	free(enc2.p);
	free(g.body);
}

static void test_roundtrips(void)
{
	size_t sizes[] = {0, 1, 1000, 65536, 1048576, 1048577, 3 * 1048576 + 17};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip(sizes[i], 0, 0, 100000);
		roundtrip(sizes[i], 1, HIO_FRAME_F_LZ4, 100000);
		roundtrip(sizes[i], 0, HIO_FRAME_F_LZ4, 4096);
	}
	/* Byte-at-a-time split through every state. */
	roundtrip(3000, 1, HIO_FRAME_F_LZ4, 1);
	roundtrip(300, 0, 0, 1);
}

/* Two frames, the bodies of the raw ones put in place by the caller as the PE does
 * (up to place bytes at a time, the rest fed), an LZ4 one never offered; and a
 * placement past the body refused. */
static void test_body_placed(void)
{
	size_t n = 100000, place = 30000;
	unsigned char *body = make_body(n, 0), *dst = malloc(n);
	json_t *meta = json_pack("{s:s}", "id", "0123456789abcdef0123456789abcdef");
	struct mem enc = {0};
	struct got g = {0};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &g);
	size_t off = 0, placed = 0;

	CHECK(hio_frame_dec_body_left(d) == 0);
	CHECK(hio_frame_write(mem_sink, &enc, HIO_F_MSG, 0, meta, body, -1, n) == 0);
	CHECK(hio_frame_write(mem_sink, &enc, HIO_F_MSG, 0, meta, body, -1, n) == 0);
	CHECK(hio_frame_write(mem_sink, &enc, HIO_F_MSG, HIO_FRAME_F_LZ4, meta, body, -1, n) == 0);
	while (off < enc.len) {
		uint64_t left = hio_frame_dec_body_left(d);
		int before = g.frames;
		size_t take;

		if (left) {
			take = left < place ? (size_t)left : place;
			memcpy(dst + (n - left), enc.p + off, take);
			placed += take;
			CHECK(hio_frame_dec_body_placed(d, take) == 0);
		} else {
			/* a header, its meta and a body's first bytes, fed */
			take = enc.len - off < 1000 ? enc.len - off : 1000;
			CHECK(hio_frame_dec_feed(d, enc.p + off, take) == 0);
		}
		off += take;
		if (g.frames != before && g.frames <= 2) {
			/* the fed start through on_body, the rest where it was placed */
			CHECK(g.body_len < n && memcmp(g.body, body, g.body_len) == 0);
			CHECK(memcmp(dst + g.body_len, body + g.body_len, n - g.body_len) == 0);
		}
	}
	CHECK(g.frames == 3);
	CHECK(placed > 2 * (n - 1000));
	CHECK(g.body_len == n && memcmp(g.body, body, n) == 0); /* the LZ4 one, fed */
	CHECK(hio_frame_dec_idle(d));
	/* Past the body: refused, and the decoder is dead. */
	enc.len = 0;
	CHECK(hio_frame_write(mem_sink, &enc, HIO_F_MSG, 0, meta, body, -1, 10) == 0);
	CHECK(hio_frame_dec_feed(d, enc.p, enc.len - 10) == 0);
	CHECK(hio_frame_dec_body_left(d) == 10);
	CHECK(hio_frame_dec_body_placed(d, 11) < 0);
	CHECK(hio_frame_dec_feed(d, enc.p, 1) < 0);
	hio_frame_dec_free(d);
	json_decref(meta);
	free(body);
	free(dst);
	free(enc.p);
	free(g.body);
}

static void test_file_body_and_read_one(void)
{
	size_t n = 2 * 1048576 + 5;
	unsigned char *body = make_body(n, 1);
	char path[] = "/tmp/hio-test-frame-XXXXXX";
	int fd = mkstemp(path), sv[2];
	struct got g = {0};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &g);
	json_t *meta = json_pack("{s:s}", "id", "x");

	CHECK(fd >= 0);
	CHECK(write(fd, body, n) == (ssize_t)n);
	CHECK(hio_frame_choose_flags(HIO_COMPRESS_AUTO, NULL, fd, n) == HIO_FRAME_F_LZ4);
	CHECK(hio_frame_choose_flags(HIO_COMPRESS_OFF, NULL, fd, n) == 0);
	unsigned char *rnd = make_body(n, 0);
	CHECK(hio_frame_choose_flags(HIO_COMPRESS_AUTO, rnd, -1, n) == 0);
	free(rnd);
	/* Two pipelined frames through a socket: read_one must stop at each frame's end. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	if (fork() == 0) {
		close(sv[0]);
		hio_frame_send(sv[1], HIO_F_MSG, 0, meta, NULL, fd, n);
		hio_frame_send(sv[1], HIO_F_MSG, HIO_FRAME_F_LZ4, meta, NULL, fd, n);
		hio_frame_send_meta(sv[1], HIO_F_ACK, meta);
		_exit(0);
	}
	close(sv[1]);
	CHECK(hio_frame_dec_read_one(d, sv[0]) == 1);
	CHECK(g.frames == 1 && g.body_len == n && memcmp(g.body, body, n) == 0);
	CHECK(hio_frame_dec_read_one(d, sv[0]) == 1);
	CHECK(g.frames == 2 && g.body_len == n && memcmp(g.body, body, n) == 0);
	CHECK(hio_frame_dec_read_one(d, sv[0]) == 1);
	CHECK(g.frames == 3 && g.type == HIO_F_ACK && g.body_len == 0);
	CHECK(hio_frame_dec_read_one(d, sv[0]) == 0); /* clean EOF */
	close(sv[0]);
	close(fd);
	unlink(path);
	hio_frame_dec_free(d);
	json_decref(meta);
	free(body);
	free(g.body);
}

/* Feeds bytes and expects the decoder to refuse them with a message. */
static void expect_refused(const unsigned char *p, size_t n, const char *what)
{
	struct got g = {0};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &g);
	int r = hio_frame_dec_feed(d, p, n);

	CHECK(r == -1);
	CHECK(g.frames == 0);
	if (r != -1)
		fprintf(stderr, "  not refused: %s\n", what);
	CHECK(strlen(hio_frame_dec_error(d)) > 5);
	hio_frame_dec_free(d);
	free(g.body);
}

static void test_malformed(void)
{
	unsigned char h[HIO_FRAME_HDR_LEN + 64];
	struct hio_frame_hdr hdr = {.type = HIO_F_MSG, .meta_len = 2, .body_len = 0};

	hio_frame_hdr_encode(h, &hdr);
	memcpy(h + HIO_FRAME_HDR_LEN, "{}", 2);
	h[0] = 'X';
	expect_refused(h, HIO_FRAME_HDR_LEN + 2, "bad magic");
	hio_frame_hdr_encode(h, &hdr);
	h[4] = 99;
	expect_refused(h, HIO_FRAME_HDR_LEN + 2, "bad type");
	hio_frame_hdr_encode(h, &hdr);
	h[5] = 0x80;
	expect_refused(h, HIO_FRAME_HDR_LEN + 2, "bad flags");
	hio_frame_hdr_encode(h, &hdr);
	h[7] = 1;
	expect_refused(h, HIO_FRAME_HDR_LEN + 2, "reserved bits");
	hdr.meta_len = HIO_FRAME_META_MAX + 1;
	hio_frame_hdr_encode(h, &hdr);
	expect_refused(h, HIO_FRAME_HDR_LEN, "oversized meta");
	hdr.meta_len = 2;
	hdr.body_len = HIO_BODY_MAX + 1;
	hio_frame_hdr_encode(h, &hdr);
	expect_refused(h, HIO_FRAME_HDR_LEN, "oversized body");
	hdr.body_len = 0;
	hdr.meta_len = 5;
	hio_frame_hdr_encode(h, &hdr);
	memcpy(h + HIO_FRAME_HDR_LEN, "[1,2]", 5);
	expect_refused(h, HIO_FRAME_HDR_LEN + 5, "meta not an object");
	memcpy(h + HIO_FRAME_HDR_LEN, "{\"a\":", 5);
	expect_refused(h, HIO_FRAME_HDR_LEN + 5, "meta not JSON");
	/* LZ4 chunk claiming more raw bytes than the body, and a corrupt chunk. */
	hdr.meta_len = 2;
	hdr.body_len = 10;
	hdr.flags = HIO_FRAME_F_LZ4;
	hio_frame_hdr_encode(h, &hdr);
	unsigned char *c = h + HIO_FRAME_HDR_LEN;
	memcpy(c, "{}", 2);
	unsigned char chunk1[8] = {0, 0, 0, 20, 0, 0, 0, 5};
	memcpy(c + 2, chunk1, 8);
	expect_refused(h, HIO_FRAME_HDR_LEN + 10, "chunk longer than body");
	unsigned char chunk2[8] = {0, 0, 0, 10, 0, 0, 0, 4};
	memcpy(c + 2, chunk2, 8);
	memcpy(c + 10, "\xff\xff\xff\xff", 4);
	expect_refused(h, HIO_FRAME_HDR_LEN + 14, "corrupt chunk");

	/* Truncated stream: not idle, and read_one reports it. */
	struct got g = {0};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &g);
	int sv[2];
	hdr.flags = 0;
	hdr.body_len = 100;
	hio_frame_hdr_encode(h, &hdr);
	memcpy(h + HIO_FRAME_HDR_LEN, "{}", 2);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(sv[1], h, HIO_FRAME_HDR_LEN + 2 + 10) > 0);
	close(sv[1]);
	CHECK(hio_frame_dec_read_one(d, sv[0]) == -1);
	CHECK(strstr(hio_frame_dec_error(d), "truncated") != NULL);
	close(sv[0]);
	hio_frame_dec_free(d);
	free(g.body);
}

/* A descriptor frame over a unix socket: the fd arrives with the header, no body bytes
 * follow (the next frame decodes right after it), and a decoder that did not allow
 * descriptors (every TCP session, the master's backlog) refuses the frame. */
static void test_fd_frames(void)
{
	char path[] = "/tmp/hio-test-frame-XXXXXX";
	int fd = mkstemp(path), sv[2], got_fd = -1;
	struct got g = {0};
	hio_frame_dec *d = hio_frame_dec_new(&cbs, &g), *strict = hio_frame_dec_new(&cbs, &g);
	json_t *meta = json_pack("{s:s}", "id", "x");
	unsigned char buf[4096];
	union {
		struct cmsghdr c;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b)};
	size_t have = 0;

	CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(hio_frame_send_fd(sv[1], HIO_F_MSG, meta, fd, 10) == 0);
	CHECK(hio_frame_send_meta(sv[1], HIO_F_ACK, meta) == 0);
	close(sv[1]);
	for (;;) {
		ssize_t r = recvmsg(sv[0], &mh, 0);
		if (r <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				memcpy(&got_fd, CMSG_DATA(c), sizeof(int));
		have += (size_t)r;
		iov.iov_base = buf + have;
		iov.iov_len = sizeof(buf) - have;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	CHECK(got_fd >= 0);
	char peek[11] = {0};
	CHECK(got_fd >= 0 && pread(got_fd, peek, 10, 0) == 10 && !strcmp(peek, "0123456789"));
	hio_frame_dec_allow_fd(d);
	CHECK(hio_frame_dec_feed(d, buf, have) == 0);
	CHECK(g.frames == 2 && g.type == HIO_F_ACK && g.body_len == 0);
	CHECK(hio_frame_dec_idle(d));
	CHECK(hio_frame_dec_feed(strict, buf, have) < 0);
	CHECK(strstr(hio_frame_dec_error(strict), "descriptor") != NULL);
	/* Compressed and passed at once is malformed everywhere. */
	struct hio_frame_hdr h = {.type = HIO_F_MSG, .flags = HIO_FRAME_F_FD | HIO_FRAME_F_LZ4};
	uint8_t hb[HIO_FRAME_HDR_LEN];
	const char *why = NULL;
	hio_frame_hdr_encode(hb, &h);
	CHECK(hio_frame_hdr_decode(hb, &h, &why) < 0 && why && strstr(why, "compressed"));
	if (got_fd >= 0)
		close(got_fd);
	close(sv[0]);
	close(fd);
	unlink(path);
	hio_frame_dec_free(d);
	hio_frame_dec_free(strict);
	json_decref(meta);
	free(g.body);
}

/* A head's meta as the encoder sizes it: small, past its first guess, at the limit
 * and one byte over it (refused, EMSGSIZE); each small enough decoded back whole. */
static void test_head_meta_sizes(void)
{
	static const size_t sizes[] = {
	    0, 10, 480, 490, 2000, HIO_FRAME_META_MAX - 10, HIO_FRAME_META_MAX - 9};
	char *pad = malloc(HIO_FRAME_META_MAX + 1);

	CHECK(pad != NULL);
	if (!pad)
		return;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		/* {"id":"","p":"<pad>"} is 16 bytes around the pad */
		size_t padn = sizes[k] > 16 ? sizes[k] - 16 : 0;
		json_t *meta;
		uint8_t *head = NULL;
		size_t hlen = 0;
		int rc;

		memset(pad, 'x', padn);
		pad[padn] = '\0';
		meta = json_pack("{s:s,s:s}", "id", "", "p", pad);
		errno = 0;
		rc = hio_frame_head(HIO_F_MSG, 0, meta, 0, &head, &hlen);
		if (padn + 16 > HIO_FRAME_META_MAX) {
			CHECK(rc == -1 && errno == EMSGSIZE);
		} else {
			struct got g = {0};
			hio_frame_dec *d = hio_frame_dec_new(&cbs, &g);
			json_t *back = NULL;

			CHECK(rc == 0 && hlen == HIO_FRAME_HDR_LEN + padn + 16);
			CHECK(rc == 0 && d && hio_frame_dec_feed(d, head, hlen) == 0 &&
			      g.frames == 1);
			back = rc == 0 ? json_loadb((char *)head + HIO_FRAME_HDR_LEN,
						    hlen - HIO_FRAME_HDR_LEN, 0, NULL)
				       : NULL;
			CHECK(back && json_equal(back, meta));
			json_decref(back);
			hio_frame_dec_free(d);
			free(g.body);
		}
		free(head);
		json_decref(meta);
	}
	free(pad);
}

int main(void)
{
	test_fd_frames();
	test_roundtrips();
	test_body_placed();
	test_file_body_and_read_one();
	test_malformed();
	test_head_meta_sizes();
	return check_result("test_frame");
}
