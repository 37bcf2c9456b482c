/* hio_jw: compact JSON written by hand, for what every message writes: the frame metas
 * of a result upload, a PE's ACKs, the master's journal lines. jansson builds a tree
 * first and then dumps it: about 40k instructions a meta under callgrind, and a quarter
 * of the master's CPU at 1 KB results (bench/c_api). Everything written here is read
 * back by jansson, so strings are UTF-8 as jansson requires. Everything else (requests,
 * replies, configuration) is built with jansson.
 *
 * The writer appends to the caller's hio_buf, whose limit holds. An error (memory, the
 * limit, a string that is not UTF-8) sticks: later calls do nothing, and hio_jw_end
 * cuts the buffer back to where hio_jw_begin found it. Keys are the caller's literals,
 * written as given. */
#ifndef HIO_JW_H
#define HIO_JW_H
#include "hio_buf.h"

struct hio_jw {
	struct hio_buf *b;
	size_t start; /* b's length at hio_jw_begin */
	int comma;    /* a value was written at this level: the next one needs ',' */
	int bad;
};

/* Opens the top object. */
void hio_jw_begin(struct hio_jw *w, struct hio_buf *b);
/* A field of the object being written, or (key NULL) an element of an array. */
void hio_jw_str(struct hio_jw *w, const char *key, const char *v); /* not UTF-8: error */
/* A string for people to read: a byte that is not UTF-8 becomes '?'. */
void hio_jw_text(struct hio_jw *w, const char *key, const char *v);
void hio_jw_int(struct hio_jw *w, const char *key, long long v);
void hio_jw_bool(struct hio_jw *w, const char *key, int v);
/* Opens ('[' or '{') and closes (']' or '}') a nested array or object. */
void hio_jw_open(struct hio_jw *w, const char *key, char c);
void hio_jw_close(struct hio_jw *w, char c);
/* Closes the top object. 0, or -1 (the buffer cut back to its length at begin). */
int hio_jw_end(struct hio_jw *w);

#endif
