/* hio_buf: a growable byte buffer with a hard limit (like curl's dynbuf).
 * Always NUL-terminated after its data so text can be used as a C string. */
#ifndef HIO_BUF_H
#define HIO_BUF_H
#include <stddef.h>

struct hio_buf {
	char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* appends that would pass this fail with -1 */
};

void hio_buf_init(struct hio_buf *b, size_t max);
/* Returns 0, or -1 (buffer unchanged) when max would be passed or memory is out. */
int hio_buf_append(struct hio_buf *b, const void *p, size_t n);
/* Room for extra more bytes without another allocation; 0, or -1 as append. */
int hio_buf_reserve(struct hio_buf *b, size_t extra);
int hio_buf_printf(struct hio_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hio_buf_reset(struct hio_buf *b);
/* Drops what was appended after the first len bytes (len <= b->len). */
void hio_buf_truncate(struct hio_buf *b, size_t len);
/* Hands the data to the caller (free() it); the buffer is left empty. */
char *hio_buf_steal(struct hio_buf *b, size_t *len);
void hio_buf_free(struct hio_buf *b);

#endif
