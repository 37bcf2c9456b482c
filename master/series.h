/* series: a pipeline's recent history for GET /v1/pipelines/{p}/series: one sample of
 * queue length, PEs by state and completions per SERIES_INTERVAL_MS, and the
 * autoscaler's decisions, each in a bounded ring (the oldest entry makes room). No
 * locking here: the master calls it under m->lock. */
#ifndef HIO_MASTER_SERIES_H
#define HIO_MASTER_SERIES_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SERIES_INTERVAL_MS 1000 /* one sample per second */
#define SERIES_SAMPLES 3600	/* an hour of samples per pipeline */
#define SERIES_EVENTS 512	/* autoscaler decisions and PE-ready events per pipeline */
#define SERIES_PIPELINES_MAX 64 /* pipelines recorded at once (about 200 KB each) */
#define SERIES_REASON_MAX 191

struct series_sample {
	uint64_t t_ms; /* since the master started */
	uint64_t done; /* messages completed (done + failed) so far */
	uint32_t queue, leased, starting, idle, busy, stopping, desired;
};

struct series_event {
	uint64_t t_ms;
	const char *action; /* a static string: up, down, bounds, blocked, manual, ready */
	int from, to;	    /* desired count before and after (decisions) */
	char pe[33];	    /* ready: the PE that registered */
	long reaction_ms;   /* ready: since the push after which the backlog outgrew the
			       PEs, when the scale-up was the first answer to it; else -1 */
	long start_ms;	    /* ready: since the scale-up decision */
	char reason[SERIES_REASON_MAX + 1];
};

struct series;
/* NULL when out of memory. */
struct series *series_new(void);
void series_free(struct series *s);
void series_add(struct series *s, const struct series_sample *x);
void series_event(struct series *s, const struct series_event *e);
/* Samples and events with t_ms >= since as a new JSON object
 * {"interval_ms","samples":[...],"events":[...]}; NULL when out of memory. */
json_t *series_json(const struct series *s, uint64_t since);

#endif
