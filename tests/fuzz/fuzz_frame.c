/* fuzz_frame: the streaming frame decoder (lib/frame.c) on arbitrary bytes.
 *
 * Input: byte 0 picks the feeding pattern and when the receiver rejects a frame; the
 * rest is the stream. The stream is decoded three ways (whole, one byte at a time, in
 * chunks of sizes cycling over a pattern from byte 0) and the three must see the same
 * events, the same body bytes, the same outcome and the same error: the push parser's
 * state must not depend on where the bytes were split. Each frame decoded whole is then
 * encoded again (raw and LZ4, by hio_frame_write and by the pull source) and decoded,
 * and must come back with the same header, meta and body. */
#include "fuzz.h"
#include "hio_frame.h"

#include <stdlib.h>
#include <string.h>

#define KEEP_FRAMES 4		/* frames kept for the round trip */
#define KEEP_BODY (256u * 1024) /* larger bodies are not kept (only hashed) */

struct kept {
	int type;
	json_t *meta;
	unsigned char *body;
	size_t len;
};

struct trace {
	uint64_t hash; /* FNV-1a over every event and body byte */
	uint64_t frame_body;
	unsigned frames;
	unsigned reject_at; /* on_frame of this frame (1-based) returns -1; 0: never */
	int keep;
	struct kept kept[KEEP_FRAMES];
	unsigned n_kept;
	int body_open;
};

static void mix(struct trace *t, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		t->hash ^= c[i];
		t->hash *= 0x100000001b3ull;
	}
}

static int on_frame(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct trace *t = ud;
	char *text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	FUZZ_CHECK(json_is_object(meta));
	FUZZ_CHECK(h->type >= HIO_F_HELLO && h->type <= HIO_F_RDONE);
	FUZZ_CHECK(h->meta_len <= HIO_FRAME_META_MAX && h->body_len <= HIO_BODY_MAX);
	FUZZ_CHECK(!t->body_open);
	mix(t, "F", 1);
	mix(t, h, sizeof(*h));
	if (text)
		mix(t, text, strlen(text));
	free(text);
	t->frames++;
	t->frame_body = 0;
	t->body_open = 1;
	if (t->reject_at && t->frames == t->reject_at)
		return -1;
	if (t->keep && t->n_kept < KEEP_FRAMES) {
		struct kept *k = &t->kept[t->n_kept++];

		k->type = h->type;
		k->meta = json_incref(meta);
		k->body = h->body_len <= KEEP_BODY ? malloc(h->body_len + 1) : NULL;
		k->len = 0;
	}
	return 0;
}

static int on_body(void *ud, const void *p, size_t n)
{
	struct trace *t = ud;

	FUZZ_CHECK(t->body_open && n > 0);
	mix(t, p, n);
	t->frame_body += n;
	if (t->keep && t->n_kept && t->kept[t->n_kept - 1].body) {
		struct kept *k = &t->kept[t->n_kept - 1];

		FUZZ_CHECK(k->len + n <= KEEP_BODY);
		memcpy(k->body + k->len, p, n);
		k->len += n;
	}
	return 0;
}

static int on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct trace *t = ud;

	FUZZ_CHECK(t->body_open && json_is_object(meta));
	/* Every body byte the header announced, decompressed, and not one more. */
	FUZZ_CHECK(t->frame_body == h->body_len);
	mix(t, "E", 1);
	mix(t, &t->frame_body, sizeof(t->frame_body));
	t->body_open = 0;
	return 0;
}

static const struct hio_frame_dec_cbs cbs = {on_frame, on_body, on_end};

struct outcome {
	int rc, idle;
	char error[200];
};

/* Feeds p in pieces: step 0 whole, else sizes from the pattern in turn. */
static void decode(const uint8_t *p, size_t n, const uint8_t *pattern, size_t npat, struct trace *t,
		   struct outcome *o)
{
	hio_frame_dec *d = hio_frame_dec_new(&cbs, t);
	size_t off = 0, i = 0;

	FUZZ_CHECK(d);
	o->rc = 0;
	while (off < n || (n == 0 && i == 0)) {
		size_t take = npat ? pattern[i % npat] : n - off;

		i++;
		if (take > n - off)
			take = n - off;
		if (hio_frame_dec_feed(d, p + off, take) < 0) {
			o->rc = -1;
			break;
		}
		off += take;
		if (n == 0)
			break;
	}
	/* A dead decoder stays dead. */
	if (o->rc < 0)
		FUZZ_CHECK(hio_frame_dec_feed(d, "x", 1) < 0);
	o->idle = o->rc == 0 && hio_frame_dec_idle(d);
	snprintf(o->error, sizeof(o->error), "%s", o->rc < 0 ? hio_frame_dec_error(d) : "");
	hio_frame_dec_free(d);
}

struct mem {
	unsigned char *p;
	size_t len, cap;
};

static int mem_sink(void *ud, const void *p, size_t n)
{
	struct mem *m = ud;

	if (m->len + n > m->cap) {
		size_t cap = (m->len + n) * 2;
		unsigned char *np = realloc(m->p, cap);
		if (!np)
			return -1;
		m->p = np;
		m->cap = cap;
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

/* Encodes k with flags, decodes it back, and compares. */
static void round_trip(const struct kept *k, int flags)
{
	struct mem enc = {0}, pulled = {0};
	struct trace t = {.hash = 0xcbf29ce484222325ull, .keep = 1};
	struct outcome o;
	hio_frame_src *src;
	char buf[777]; /* an odd size, so reads straddle the chunk boundaries */
	char *text = json_dumps(k->meta, JSON_COMPACT);
	size_t tlen = text ? strlen(text) : 0;
	long r;

	free(text);
	/* Meta that was under the limit can dump longer (1e5 becomes 100000.0): then the
	 * encoder must refuse it, which is not this check. */
	if (tlen > HIO_FRAME_META_MAX) {
		FUZZ_CHECK(hio_frame_write(mem_sink, &enc, k->type, flags, k->meta, k->body, -1,
					   k->len) < 0);
		free(enc.p);
		return;
	}
	FUZZ_CHECK(hio_frame_write(mem_sink, &enc, k->type, flags, k->meta, k->body, -1, k->len) ==
		   0);
	/* The pull source (HTTP uploads) must give the very same bytes. */
	src = hio_frame_src_new(k->type, flags, k->meta, k->body, -1, k->len);
	FUZZ_CHECK(src);
	while ((r = hio_frame_src_read(src, buf, sizeof(buf))) > 0)
		FUZZ_CHECK(mem_sink(&pulled, buf, (size_t)r) == 0);
	FUZZ_CHECK(r == 0);
	if (!(flags & HIO_FRAME_F_LZ4))
		FUZZ_CHECK(hio_frame_src_size(src) == (int64_t)enc.len);
	hio_frame_src_free(src);
	FUZZ_CHECK(pulled.len == enc.len && (enc.len == 0 || !memcmp(pulled.p, enc.p, enc.len)));

	decode(enc.p, enc.len, NULL, 0, &t, &o);
	FUZZ_CHECK(o.rc == 0 && o.idle);
	FUZZ_CHECK(t.frames == 1 && t.n_kept == 1);
	FUZZ_CHECK(t.kept[0].type == k->type);
	FUZZ_CHECK(json_equal(t.kept[0].meta, k->meta));
	FUZZ_CHECK(t.kept[0].body && t.kept[0].len == k->len);
	FUZZ_CHECK(k->len == 0 || !memcmp(t.kept[0].body, k->body, k->len));
	json_decref(t.kept[0].meta);
	free(t.kept[0].body);
	free(enc.p);
	free(pulled.p);
}

static void header_round_trip(const uint8_t *p, size_t n)
{
	struct hio_frame_hdr h;
	uint8_t again[HIO_FRAME_HDR_LEN];
	const char *why = NULL;

	if (n < HIO_FRAME_HDR_LEN)
		return;
	if (hio_frame_hdr_decode(p, &h, &why) < 0) {
		FUZZ_CHECK(why && *why);
		return;
	}
	/* A header that decodes is canonical: encoding it gives the same 20 bytes. */
	hio_frame_hdr_encode(again, &h);
	FUZZ_CHECK(!memcmp(again, p, HIO_FRAME_HDR_LEN));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t patterns[4][5] = {
	    {1}, {7, 13, 1, 20, 3}, {19, 2, 64, 5, 1}, {255, 1, 128, 9, 33}};
	struct trace t[3];
	struct outcome o[3];
	const uint8_t *p;
	size_t n;
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	p = data + 1;
	n = size - 1;
	header_round_trip(p, n);
	for (int k = 0; k < 3; k++) {
		memset(&t[k], 0, sizeof(t[k]));
		t[k].hash = 0xcbf29ce484222325ull;
		t[k].reject_at = (ctl >> 4) & 3; /* the receiver refuses a frame, sometimes */
		t[k].keep = k == 0;
	}
	decode(p, n, NULL, 0, &t[0], &o[0]);
	decode(p, n, patterns[0], 1, &t[1], &o[1]);
	decode(p, n, patterns[1 + (ctl & 3) % 3], 5, &t[2], &o[2]);
	for (int k = 1; k < 3; k++) {
		FUZZ_CHECK(t[k].hash == t[0].hash);
		FUZZ_CHECK(t[k].frames == t[0].frames);
		FUZZ_CHECK(o[k].rc == o[0].rc && o[k].idle == o[0].idle);
		FUZZ_CHECK(!strcmp(o[k].error, o[0].error));
	}
	for (unsigned i = 0; i < t[0].n_kept; i++) {
		struct kept *k = &t[0].kept[i];

		/* Only whole frames: a body cut short by the end of input or a refusal is
		 * not a frame the encoder was given. */
		if (k->body && (i + 1 < t[0].n_kept || !t[0].body_open)) {
			round_trip(k, 0);
			round_trip(k, HIO_FRAME_F_LZ4);
		}
		json_decref(k->meta);
		free(k->body);
	}
	return 0;
}
