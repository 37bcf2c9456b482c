/* Cost of one allocation decision in a registry of 100 workers x 50 PEs (paper II-C:
 * the free PE on the worker with the fewest idle PEs), next to a baseline measured in
 * the same run: one walk over the registry counting the free PEs, the least work of
 * any choice that looks at every PE.
 *   alloc      POST .../allocate + release through the master's own functions: lock,
 *              snapshot of the registry, alloc_pick_pe, the JSON answer
 *   pick       alloc_pick_pe alone on a snapshot of the free PEs
 *   walk       the baseline: one pass over the registry, counting free PEs
 *   tick       the autoscaler's pass over the registry (scale_tick), every 100 ms
 * Usage: bench/alloc [ROUNDS] */
#include "../master/alloc.h"
#include "../master/master.h"

#include "hio_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NW 100
#define NP 50

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void must(struct reply *r, const char *what)
{
	if (r->status != 200) {
		fprintf(stderr, "%s: %u %s\n", what, r->status,
			r->json ? json_string_value(json_object_get(r->json, "error")) : "");
		exit(1);
	}
	json_decref(r->json);
	r->json = NULL;
}

/* 100 workers of 50 PEs, each worker with a different number busy, so the idle counts
 * spread from 1 to 50. */
static struct master *build(void)
{
	struct master *m = calloc(1, sizeof(*m));
	char wid[HIO_ID_LEN + 1], pid[HIO_ID_LEN + 1];

	if (!m || master_init(m) < 0)
		exit(1);
	m->pe_lease_ms = 600000;
	m->worker_lease_ms = 600000;
	for (int w = 0; w < NW; w++) {
		struct reply r = {.fd = -1};
		json_t *b =
		    json_pack("{s:s,s:s,s:i}", "name", "bench", "host", "127.0.0.1", "max_pes", NP);

		snprintf(wid, sizeof(wid), "%032x", w + 1);
		api_worker_put(m, wid, b, &r);
		json_decref(b);
		must(&r, "worker");
		for (int i = 0; i < NP; i++) {
			struct reply rr = {.fd = -1};
			json_t *pb = json_pack("{s:s,s:s,s:s,s:i}", "worker", wid, "pipeline", "b",
					       "host", "127.0.0.1", "port", 1000 + i);

			snprintf(pid, sizeof(pid), "%016x%016x", w + 1, i + 1);
			api_pe_register(m, pid, pb, &rr);
			json_decref(pb);
			must(&rr, "pe");
			if (i < (w * 37) % NP) {
				json_t *hb = json_pack("{s:s}", "state", "busy");

				api_pe_heartbeat(m, pid, hb, &rr);
				json_decref(hb);
				must(&rr, "heartbeat");
			}
		}
	}
	return m;
}

static size_t walk(struct master *m, struct pipeline *pl)
{
	struct list *pos, *tmp;
	size_t n = 0;

	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);

		n += p->pl == pl && p->st == MPE_UP && !p->busy && !p->reserved;
	}
	return n;
}

int main(int argc, char **argv)
{
	long rounds = 20000;
	struct master *m;
	struct pipeline *pl;
	struct alloc_pe *snap;
	double t0, alloc_ns, pick_ns, scan_ns, tick_ns;

	if (argc > 1 && hio_parse_long(argv[1], 1, 100000000L, &rounds) < 0) {
		fprintf(stderr, "usage: alloc [ROUNDS]\n");
		return 2;
	}
	size_t nfree = 0, sink = 0;
	struct list *pos, *tmp;

	hio_log_set_level(HIO_LOG_ERROR);
	m = build();
	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, "b");
	pthread_mutex_unlock(&m->lock);
	snap = calloc(NW * NP, sizeof(*snap));
	if (!pl || !snap)
		return 1;
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);

		if (!p->busy)
			snap[nfree++].group = (int)(strtoul(p->worker + 24, NULL, 16) - 1);
	}

	t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		struct reply r = {.fd = -1};
		const char *id;
		char pid[HIO_ID_LEN + 1];

		api_allocate(m, "b", &r);
		id = json_string_value(json_object_get(json_object_get(r.json, "pe"), "id"));
		if (!id) {
			fprintf(stderr, "no PE allocated\n");
			return 1;
		}
		snprintf(pid, sizeof(pid), "%s", id);
		json_decref(r.json);
		r = (struct reply){.fd = -1};
		api_pe_release(m, pid, NULL, &r);
		json_decref(r.json);
	}
	alloc_ns = (now_ns() - t0) / (double)rounds;

	t0 = now_ns();
	for (long i = 0; i < rounds; i++)
		sink += (size_t)alloc_pick_pe(snap, nfree, NW);
	pick_ns = (now_ns() - t0) / (double)rounds;

	t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		pthread_mutex_lock(&m->lock);
		sink += walk(m, pl);
		pthread_mutex_unlock(&m->lock);
	}
	scan_ns = (now_ns() - t0) / (double)rounds;

	t0 = now_ns();
	for (long i = 0; i < rounds / 10 + 1; i++) {
		pthread_mutex_lock(&m->lock);
		scale_tick(m, hio_mono_ms(), 0);
		pthread_mutex_unlock(&m->lock);
	}
	tick_ns = (now_ns() - t0) / (double)(rounds / 10 + 1);

	printf("registry: %d workers x %d PEs, %zu free, %ld rounds\n", NW, NP, nfree, rounds);
	printf("%-12s | %12s | %s\n", "decision", "us/decision", "ratio to walk");
	printf("%-12s | %12.2f | %.1f\n", "alloc", alloc_ns / 1000, alloc_ns / scan_ns);
	printf("%-12s | %12.2f | %.1f\n", "pick", pick_ns / 1000, pick_ns / scan_ns);
	printf("%-12s | %12.2f | %.1f\n", "walk", scan_ns / 1000, 1.0);
	printf("%-12s | %12.2f | %.1f\n", "tick", tick_ns / 1000, tick_ns / scan_ns);
	if (sink == 42)
		printf("\n");
	free(snap);
	master_free(m);
	return 0;
}
