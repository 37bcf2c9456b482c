/* A frame's JSON meta written by hand (pe_meta.c), for the frames every message's upload
 * sends. Start from a zeroed struct, add fields, take the head, free. */
#ifndef HIO_PE_META_H
#define HIO_PE_META_H
#include <stddef.h>
#include <stdint.h>

struct pe_meta {
	char *b;
	size_t n, cap;
	int bad; /* out of memory, or a string that is not UTF-8 */
};

/* A string field; a value that is not UTF-8 makes the meta bad. */
void pe_meta_str(struct pe_meta *w, const char *key, const char *v);
/* A string field for people to read: a byte that is not UTF-8 becomes '?'. */
void pe_meta_text(struct pe_meta *w, const char *key, const char *v);
void pe_meta_int(struct pe_meta *w, const char *key, long long v);
/* Closes the object and makes the frame head (HIO_FRAME_HDR_LEN + meta, *out the
 * caller's). 0, or -1 when the meta is bad or too long. */
int pe_meta_head(struct pe_meta *w, int type, uint64_t body_len, uint8_t **out, size_t *len);
void pe_meta_free(struct pe_meta *w);

#endif
