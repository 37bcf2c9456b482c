/* Frame metas written by hand for the result upload: every message's RDONE (and RFILE
 * per file) went through json_pack and json_dumps, about 40k instructions a message
 * under callgrind, more than the rest of its upload. The master parses them with
 * jansson, so they are plain compact JSON: strings must be UTF-8, as jansson would
 * have required. */
#include "pe_meta.h"

#include "hio_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(struct pe_meta *w, size_t more)
{
	size_t cap;
	char *nb;

	if (w->bad || w->n + more <= w->cap)
		return;
	cap = w->cap ? w->cap : 256;
	while (cap < w->n + more)
		cap *= 2;
	nb = realloc(w->b, cap);
	if (!nb) {
		w->bad = 1;
		return;
	}
	w->b = nb;
	w->cap = cap;
}

static void raw(struct pe_meta *w, const char *s, size_t n)
{
	grow(w, n);
	if (w->bad)
		return;
	memcpy(w->b + w->n, s, n);
	w->n += n;
}

/* The length of the UTF-8 sequence at s (1..4), or 0 when it is not one (overlong,
 * surrogate, past U+10FFFF, cut short): jansson's rules. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

static void str(struct pe_meta *w, const char *s, int lossy)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	/* Escaped, each byte grows to 6 at most. */
	grow(w, 6 * strlen(s) + 2);
	if (w->bad)
		return;
	w->b[w->n++] = '"';
	while (*p) {
		size_t k = utf8_len(p);

		if (k == 0) {
			if (!lossy) {
				w->bad = 1;
				return;
			}
			w->b[w->n++] = '?'; /* text for a person: a stray byte is shown so */
			p++;
		} else if (*p == '"' || *p == '\\') {
			w->b[w->n++] = '\\';
			w->b[w->n++] = (char)*p++;
		} else if (*p < 0x20) {
			memcpy(w->b + w->n, "\\u00", 4);
			w->n += 4;
			w->b[w->n++] = hex[*p >> 4];
			w->b[w->n++] = hex[*p & 15];
			p++;
		} else {
			memcpy(w->b + w->n, p, k);
			w->n += k;
			p += k;
		}
	}
	w->b[w->n++] = '"';
}

/* ,"key": (or { first) */
static void key(struct pe_meta *w, const char *k)
{
	raw(w, w->n ? "," : "{", 1);
	raw(w, "\"", 1);
	raw(w, k, strlen(k));
	raw(w, "\":", 2);
}

void pe_meta_str(struct pe_meta *w, const char *k, const char *v)
{
	key(w, k);
	str(w, v, 0);
}

void pe_meta_text(struct pe_meta *w, const char *k, const char *v)
{
	key(w, k);
	str(w, v, 1);
}

void pe_meta_int(struct pe_meta *w, const char *k, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);

	key(w, k);
	raw(w, num, (size_t)n);
}

int pe_meta_head(struct pe_meta *w, int type, uint64_t body_len, uint8_t **out, size_t *len)
{
	struct hio_frame_hdr h = {.type = (uint8_t)type, .body_len = body_len};
	uint8_t *buf;

	raw(w, "}", 1);
	if (w->bad || w->n > HIO_FRAME_META_MAX || body_len > HIO_BODY_MAX)
		return -1;
	buf = malloc(HIO_FRAME_HDR_LEN + w->n);
	if (!buf)
		return -1;
	h.meta_len = (uint32_t)w->n;
	hio_frame_hdr_encode(buf, &h);
	memcpy(buf + HIO_FRAME_HDR_LEN, w->b, w->n);
	*out = buf;
	*len = HIO_FRAME_HDR_LEN + w->n;
	return 0;
}

void pe_meta_free(struct pe_meta *w)
{
	free(w->b);
	memset(w, 0, sizeof(*w));
}
