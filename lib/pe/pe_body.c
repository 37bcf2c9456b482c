/* The PE's pool of message body buffers (pe_internal.h: pe_body_alloc, pe_body_free). */
#include "hio_sync.h"
#include "pe_internal.h"

#include <pthread.h>
#include <stdlib.h>

/* Bodies from PE_BODY_POOL_MIN up are kept for the next messages, PE_BODY_KEEP and
 * PE_BODY_KEEP_BYTES at most, their size rounded up to a power of two so one fits the
 * next: each was a fresh mmap (or heap the allocator trimmed) whose pages faulted in as
 * the socket was read into it, then unmapped (page faults and TLB flushes were a fifth
 * of the C API's time at 1 MB, issue 16). As many as a resident pipeline holds at once
 * (64 requests ahead, and the FIFO) are kept: with 8, most 100 KB bodies were fresh
 * again. Lock order: body_mu is a leaf. */
#define PE_BODY_POOL_MIN (64u << 10)
#define PE_BODY_KEEP 64
#define PE_BODY_KEEP_BYTES (8u << 20)
static pthread_mutex_t body_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	void *p;
	size_t cap;
} body_pool[PE_BODY_KEEP];
static size_t body_pool_bytes; /* under body_mu: the caps of those kept */

static size_t body_cap(size_t len)
{
	size_t c = PE_BODY_POOL_MIN;

	if (len < PE_BODY_POOL_MIN)
		return len ? len : 1;
	while (c < len)
		c <<= 1;
	return c;
}

void *pe_body_alloc(size_t len)
{
	size_t cap = body_cap(len);
	void *p = NULL;
	int best = -1;

	HIO_ASSERT(len <= PE_MEM_MAX);
	if (cap < PE_BODY_POOL_MIN)
		return malloc(cap);
	pthread_mutex_lock(&body_mu);
	for (int i = 0; i < PE_BODY_KEEP; i++)
		if (body_pool[i].p && body_pool[i].cap >= cap &&
		    (best < 0 || body_pool[i].cap < body_pool[best].cap))
			best = i;
	if (best >= 0) {
		p = body_pool[best].p;
		body_pool[best].p = NULL;
		body_pool_bytes -= body_pool[best].cap;
	}
	pthread_mutex_unlock(&body_mu);
	return p ? p : malloc(cap);
}

void pe_body_free(void *p, size_t len)
{
	size_t cap = body_cap(len);

	if (!p)
		return;
	if (cap >= PE_BODY_POOL_MIN) {
		pthread_mutex_lock(&body_mu);
		for (int i = 0; i < PE_BODY_KEEP && body_pool_bytes + cap <= PE_BODY_KEEP_BYTES;
		     i++)
			if (!body_pool[i].p) {
				body_pool[i].p = p;
				body_pool[i].cap = cap;
				body_pool_bytes += cap;
				p = NULL;
				break;
			}
		pthread_mutex_unlock(&body_mu);
	}
	free(p);
}
