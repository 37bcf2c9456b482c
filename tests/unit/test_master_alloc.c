/* The master's placement choices (master/alloc.c): fewest-idle worker first for
 * allocation, pack starts onto the fullest worker with room, stop idle PEs first from
 * the least busy worker. Includes a 100 workers x 50 PEs registry. */
#include "../../master/alloc.h"
#include "check.h"

#include <stdlib.h>

#define NW 100
#define NP 50

/* Free PEs of each worker in a simulated cluster: how many of its NP are idle. */
static int idle_of(int w)
{
	/* A spread with one unique minimum (worker 37 has 3) and ties elsewhere. */
	if (w == 37)
		return 3;
	return 5 + (w * 7) % (NP - 5);
}

static void test_big_cluster(void)
{
	struct alloc_pe *pes = calloc(NW * NP, sizeof(*pes));
	int *idle = calloc(NW, sizeof(*idle));
	size_t n = 0;
	long k;

	for (int w = 0; w < NW; w++)
		for (int i = 0; i < idle_of(w); i++)
			pes[n++].group = w;
	k = alloc_pick_pe(pes, n, NW);
	CHECK(k >= 0 && pes[k].group == 37);

	/* Allocate repeatedly, removing each pick: every pick comes from a worker holding
	 * the fewest free PEs at that moment, so workers drain one after another. */
	for (int w = 0; w < NW; w++)
		idle[w] = idle_of(w);
	for (int round = 0; round < 500 && n > 0; round++) {
		int min = NP + 1;

		k = alloc_pick_pe(pes, n, NW);
		CHECK(k >= 0 && (size_t)k < n);
		for (int w = 0; w < NW; w++)
			if (idle[w] > 0 && idle[w] < min)
				min = idle[w];
		CHECK(idle[pes[k].group] == min);
		idle[pes[k].group]--;
		pes[k] = pes[--n];
	}
	free(pes);
	free(idle);
}

static void test_pick_pe(void)
{
	/* Worker 0: 3 free, worker 1: 1 free, standalone (groups 2, 3): 1 each. */
	struct alloc_pe a[] = {{0}, {0}, {1}, {0}, {2}, {3}};

	CHECK(alloc_pick_pe(a, 0, 4) == -1);
	CHECK(alloc_pick_pe(a, 4, 2) == 2);
	/* Ties between worker 1 and the standalone PEs: the lowest index wins. */
	CHECK(alloc_pick_pe(a, 6, 4) == 2);
	CHECK(alloc_pick_pe(a, 1, 4) == 0);
	/* A standalone PE is a group of its own, never pooled with another. */
	{
		struct alloc_pe s[] = {{0}, {0}, {1}};

		CHECK(alloc_pick_pe(s, 3, 2) == 2);
	}
}

static void test_pick_start(void)
{
	struct alloc_worker w[] = {{2, 4}, {3, 4}, {4, 4}, {0, 8}};
	struct alloc_worker full[] = {{4, 4}, {1, 1}, {0, 0}};

	CHECK(alloc_pick_start(w, 4) == 1);
	CHECK(alloc_pick_start(full, 3) == -1);
	CHECK(alloc_pick_start(w, 0) == -1);
	CHECK(alloc_pick_start(&w[3], 1) == 0);
}

static void test_pick_stop(void)
{
	struct alloc_stop c[] = {
	    {ALLOC_BUSY, 0}, {ALLOC_IDLE, 5}, {ALLOC_STARTING, 0}, {ALLOC_IDLE, 2}, {ALLOC_IDLE, 2},
	};
	struct alloc_stop b[] = {{ALLOC_BUSY, 3}, {ALLOC_BUSY, 1}, {ALLOC_STARTING, 9}};

	CHECK(alloc_pick_stop(c, 5) == 3);
	CHECK(alloc_pick_stop(c, 3) == 1);
	CHECK(alloc_pick_stop(b, 3) == 2);
	CHECK(alloc_pick_stop(b, 2) == 1);
	CHECK(alloc_pick_stop(c, 0) == -1);
}

int main(void)
{
	test_pick_pe();
	test_pick_start();
	test_pick_stop();
	test_big_cluster();
	return check_result("test_master_alloc");
}
