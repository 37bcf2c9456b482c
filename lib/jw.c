/* jw.c: compact JSON written by hand (hio_jw.h). */
#include "hio_jw.h"
#include "hio_util.h"

#include <string.h>

static void raw(struct hio_jw *w, const char *s, size_t n)
{
	if (!w->bad && hio_buf_append(w->b, s, n) < 0)
		w->bad = 1;
}

static void str(struct hio_jw *w, const char *s, int lossy)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	char *o;

	/* Escaped, each byte grows to 6 at most. */
	if (w->bad || len > (w->b->max - 2) / 6 || hio_buf_reserve(w->b, 6 * len + 2) < 0) {
		w->bad = 1;
		return;
	}
	o = w->b->data + w->b->len;
	*o++ = '"';
	while (*p) {
		size_t k =
		    hio_utf8_seq((const char *)p, len - (size_t)(p - (const unsigned char *)s));

		if (k == 0) {
			if (!lossy) {
				w->bad = 1;
				return;
			}
			*o++ = '?'; /* text for a person: a stray byte is shown so */
			p++;
		} else if (*p == '"' || *p == '\\') {
			*o++ = '\\';
			*o++ = (char)*p++;
		} else if (*p < 0x20) {
			memcpy(o, "\\u00", 4);
			o += 4;
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
			p++;
		} else {
			memcpy(o, p, k);
			o += k;
			p += k;
		}
	}
	*o++ = '"';
	w->b->len = (size_t)(o - w->b->data);
	w->b->data[w->b->len] = '\0';
}

/* ,"key": (the comma unless first at its level; the key unless in an array) */
static void key(struct hio_jw *w, const char *k)
{
	if (w->comma)
		raw(w, ",", 1);
	w->comma = 1;
	if (k) {
		raw(w, "\"", 1);
		raw(w, k, strlen(k));
		raw(w, "\":", 2);
	}
}

void hio_jw_begin(struct hio_jw *w, struct hio_buf *b)
{
	w->b = b;
	w->start = b->len;
	w->comma = 0;
	w->bad = 0;
	raw(w, "{", 1);
}

void hio_jw_str(struct hio_jw *w, const char *k, const char *v)
{
	key(w, k);
	str(w, v, 0);
}

void hio_jw_text(struct hio_jw *w, const char *k, const char *v)
{
	key(w, k);
	str(w, v, 1);
}

void hio_jw_int(struct hio_jw *w, const char *k, long long v)
{
	char num[24], *p = num + sizeof(num);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		*--p = '-';
	key(w, k);
	raw(w, p, (size_t)(num + sizeof(num) - p));
}

void hio_jw_bool(struct hio_jw *w, const char *k, int v)
{
	key(w, k);
	raw(w, v ? "true" : "false", v ? 4 : 5);
}

void hio_jw_open(struct hio_jw *w, const char *k, char c)
{
	key(w, k);
	raw(w, &c, 1);
	w->comma = 0;
}

void hio_jw_close(struct hio_jw *w, char c)
{
	raw(w, &c, 1);
	w->comma = 1;
}

int hio_jw_end(struct hio_jw *w)
{
	raw(w, "}", 1);
	if (w->bad) {
		hio_buf_truncate(w->b, w->start);
		return -1;
	}
	return 0;
}
