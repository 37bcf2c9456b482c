#include "alloc.h"

#include <stdlib.h>

long alloc_pick_pe(const struct alloc_pe *pes, size_t n, int ngroups)
{
	long best = -1;
	int *count;

	if (n == 0)
		return -1;
	count = ngroups > 0 ? calloc((size_t)ngroups, sizeof(*count)) : NULL;
	/* Out of memory: any free PE is still a correct (if less packed) answer. */
	if (!count)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pes[i].group >= 0 && pes[i].group < ngroups)
			count[pes[i].group]++;
	for (size_t i = 0; i < n; i++) {
		int g = pes[i].group;

		if (g < 0 || g >= ngroups)
			continue;
		if (best < 0 || count[g] < count[pes[best].group])
			best = (long)i;
	}
	free(count);
	return best < 0 ? 0 : best;
}

long alloc_pick_start(const struct alloc_worker *w, size_t n)
{
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		if (w[i].pes >= w[i].max_pes)
			continue;
		if (best < 0 || w[i].pes > w[best].pes)
			best = (long)i;
	}
	return best;
}

long alloc_pick_stop(const struct alloc_stop *c, size_t n)
{
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		if (best < 0 || c[i].cls < c[best].cls ||
		    (c[i].cls == c[best].cls && c[i].worker_busy < c[best].worker_busy))
			best = (long)i;
	}
	return best;
}
