/* hio_hmap: a string-keyed hash map. The key string belongs to the value (the map
 * neither copies nor frees keys or values); not thread-safe. */
#ifndef HIO_HMAP_H
#define HIO_HMAP_H
#include <stddef.h>

struct hio_hslot {
	const char *key;
	void *val;
	size_t hash; /* of key: probes compare it before the string, resizes reuse it */
};
struct hio_hmap {
	struct hio_hslot *slots;
	size_t cap, len;
};
void hio_hmap_init(struct hio_hmap *h);
void hio_hmap_free(struct hio_hmap *h); /* frees the table, not the keys or values */
void *hio_hmap_get(const struct hio_hmap *h, const char *key);
/* Adds or replaces. 0, or -1 when out of memory. */
int hio_hmap_put(struct hio_hmap *h, const char *key, void *val);
/* Room for n keys without growing: one table instead of doublings. 0 or -1. */
int hio_hmap_reserve(struct hio_hmap *h, size_t n);
void *hio_hmap_del(struct hio_hmap *h, const char *key); /* the removed value or NULL */

#endif
