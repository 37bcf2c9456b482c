/* hmap.c: a string-keyed hash map; open addressing, linear probing, backward-shift
 * deletion. */
#include "hio_hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

void hio_hmap_init(struct hio_hmap *h)
{
	h->slots = NULL;
	h->cap = h->len = 0;
}

void hio_hmap_free(struct hio_hmap *h)
{
	free(h->slots);
	hio_hmap_init(h);
}

/* key's slot, or the free slot that ends its probe run. */
static struct hio_hslot *hmap_slot(const struct hio_hmap *h, const char *key, size_t hash)
{
	size_t i;

	if (!h->cap)
		return NULL;
	for (i = hash & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
		const struct hio_hslot *s = &h->slots[i];

		if (!s->key || (s->hash == hash && strcmp(s->key, key) == 0))
			return &h->slots[i];
	}
}

void *hio_hmap_get(const struct hio_hmap *h, const char *key)
{
	struct hio_hslot *s = h->cap ? hmap_slot(h, key, hmap_hash(key)) : NULL;

	return s && s->key ? s->val : NULL;
}

static int hmap_resize(struct hio_hmap *h, size_t cap)
{
	struct hio_hmap n;

	n.slots = calloc(cap, sizeof(*n.slots));
	if (!n.slots)
		return -1;
	n.cap = cap;
	n.len = 0;
	for (size_t i = 0; i < h->cap; i++) {
		size_t j;

		if (!h->slots[i].key)
			continue;
		/* Keys are distinct: the first free slot of the run is this one's. */
		for (j = h->slots[i].hash & (cap - 1); n.slots[j].key; j = (j + 1) & (cap - 1))
			;
		n.slots[j] = h->slots[i];
		n.len++;
	}
	free(h->slots);
	*h = n;
	return 0;
}

static int hmap_grow(struct hio_hmap *h)
{
	return hmap_resize(h, h->cap ? h->cap * 2 : 16);
}

int hio_hmap_reserve(struct hio_hmap *h, size_t n)
{
	size_t cap = h->cap ? h->cap : 16;

	while (n * 4 > cap * 3)
		cap *= 2;
	return cap == h->cap ? 0 : hmap_resize(h, cap);
}

int hio_hmap_put(struct hio_hmap *h, const char *key, void *val)
{
	size_t hash = hmap_hash(key);
	struct hio_hslot *s;

	/* Keep the load under 3/4 so probes stay short and a free slot always exists. */
	if ((h->len + 1) * 4 > h->cap * 3 && hmap_grow(h) < 0)
		return -1;
	s = hmap_slot(h, key, hash);
	if (!s->key)
		h->len++;
	s->key = key;
	s->val = val;
	s->hash = hash;
	return 0;
}

void *hio_hmap_del(struct hio_hmap *h, const char *key)
{
	struct hio_hslot *s = h->cap ? hmap_slot(h, key, hmap_hash(key)) : NULL;
	size_t i, j, home;
	void *val;

	if (!s || !s->key)
		return NULL;
	val = s->val;
	i = (size_t)(s - h->slots);
	/* Shift later members of the probe run back so lookups never stop early. */
	for (j = (i + 1) & (h->cap - 1); h->slots[j].key; j = (j + 1) & (h->cap - 1)) {
		home = h->slots[j].hash & (h->cap - 1);
		if (((j - home) & (h->cap - 1)) >= ((j - i) & (h->cap - 1))) {
			h->slots[i] = h->slots[j];
			i = j;
		}
	}
	h->slots[i].key = NULL;
	h->slots[i].val = NULL;
	h->slots[i].hash = 0;
	h->len--;
	return val;
}
