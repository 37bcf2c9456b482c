#include "series.h"

#include <stdlib.h>
#include <string.h>

struct series {
	struct series_sample *samples; /* ring of SERIES_SAMPLES */
	size_t s_head, s_n;	       /* s_head: where the next one goes */
	struct series_event *events;   /* ring of SERIES_EVENTS */
	size_t e_head, e_n;
};

struct series *series_new(void)
{
	struct series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->samples = calloc(SERIES_SAMPLES, sizeof(*s->samples));
	s->events = calloc(SERIES_EVENTS, sizeof(*s->events));
	if (!s->samples || !s->events) {
		series_free(s);
		return NULL;
	}
	return s;
}

void series_free(struct series *s)
{
	if (!s)
		return;
	free(s->samples);
	free(s->events);
	free(s);
}

void series_add(struct series *s, const struct series_sample *x)
{
	s->samples[s->s_head] = *x;
	s->s_head = (s->s_head + 1) % SERIES_SAMPLES;
	if (s->s_n < SERIES_SAMPLES)
		s->s_n++;
}

void series_event(struct series *s, const struct series_event *e)
{
	s->events[s->e_head] = *e;
	s->e_head = (s->e_head + 1) % SERIES_EVENTS;
	if (s->e_n < SERIES_EVENTS)
		s->e_n++;
}

static json_t *sample_json(const struct series_sample *x, const struct series_sample *prev)
{
	double tput = 0;

	/* Throughput over the interval that ends at this sample. */
	if (prev && x->t_ms > prev->t_ms && x->done >= prev->done)
		tput = (double)(x->done - prev->done) * 1000.0 / (double)(x->t_ms - prev->t_ms);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "t_ms", (json_int_t)x->t_ms,
			 "queue", (json_int_t)x->queue, "leased", (json_int_t)x->leased, "starting",
			 (json_int_t)x->starting, "idle", (json_int_t)x->idle, "busy",
			 (json_int_t)x->busy, "stopping", (json_int_t)x->stopping, "desired",
			 (json_int_t)x->desired, "done", (json_int_t)x->done, "throughput", tput);
}

static json_t *event_json(const struct series_event *e)
{
	if (e->pe[0])
		return json_pack("{s:I,s:s,s:s,s:I,s:I}", "t_ms", (json_int_t)e->t_ms, "action",
				 e->action, "pe", e->pe, "reaction_ms", (json_int_t)e->reaction_ms,
				 "start_ms", (json_int_t)e->start_ms);
	return json_pack("{s:I,s:s,s:i,s:i,s:s}", "t_ms", (json_int_t)e->t_ms, "action", e->action,
			 "from", e->from, "to", e->to, "reason", e->reason);
}

json_t *series_json(const struct series *s, uint64_t since)
{
	json_t *samples = json_array(), *events = json_array(), *o;
	const struct series_sample *prev = NULL;

	if (!samples || !events)
		goto fail;
	for (size_t k = 0; k < s->s_n; k++) {
		const struct series_sample *x =
		    &s->samples[(s->s_head + SERIES_SAMPLES - s->s_n + k) % SERIES_SAMPLES];

		if (x->t_ms >= since && json_array_append_new(samples, sample_json(x, prev)) < 0)
			goto fail;
		prev = x;
	}
	for (size_t k = 0; k < s->e_n; k++) {
		const struct series_event *e =
		    &s->events[(s->e_head + SERIES_EVENTS - s->e_n + k) % SERIES_EVENTS];

		if (e->t_ms >= since && json_array_append_new(events, event_json(e)) < 0)
			goto fail;
	}
	o = json_pack("{s:i,s:o,s:o}", "interval_ms", SERIES_INTERVAL_MS, "samples", samples,
		      "events", events);
	return o;
fail:
	json_decref(samples);
	json_decref(events);
	return NULL;
}
