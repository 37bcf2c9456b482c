/* scale.c: feeds the autoscaler (autoscale.c) from the registry on every reconcile
 * pass, logs and records each decision with its reason, measures the reaction from
 * backlog growth to a new idle PE, and keeps each pipeline's series (series.c). */
#include "master.h"

#include "hio_log.h"
#include "series.h"

#include <stdio.h>
#include <string.h>

static struct as_conf conf_of(const struct pipeline *pl)
{
	struct as_conf c = {
	    .min_pes = pl->min_pes,
	    .max_pes = pl->max_pes,
	    .idle_ms = pl->idle_ms > 0 ? (long)pl->idle_ms : AS_IDLE_MS_DEFAULT,
	    .up_cooldown_ms =
		pl->up_cooldown_ms > 0 ? (long)pl->up_cooldown_ms : AS_UP_COOLDOWN_MS_DEFAULT,
	    .down_cooldown_ms =
		pl->down_cooldown_ms > 0 ? (long)pl->down_cooldown_ms : AS_DOWN_COOLDOWN_MS_DEFAULT,
	    .drain_ms = AS_DRAIN_MS,
	};

	/* No max_pes configured: the default bound, or the start count if higher. */
	if (c.max_pes <= 0)
		c.max_pes = pl->pes > AS_MAX_DEFAULT ? pl->pes : AS_MAX_DEFAULT;
	return c;
}

/* The pipeline's series, made on first use; NULL past SERIES_PIPELINES_MAX. */
static struct series *series_of(struct master *m, struct pipeline *pl)
{
	if (pl->series || m->n_series >= SERIES_PIPELINES_MAX)
		return pl->series;
	pl->series = series_new();
	if (!pl->series)
		hio_warn("out of memory for the series of pipeline %s; it is not recorded",
			 pl->name);
	else
		m->n_series++;
	return pl->series;
}

static void record(struct master *m, struct pipeline *pl, const struct series_event *e)
{
	struct series *s = series_of(m, pl);

	if (s)
		series_event(s, e);
}

static void count_pes(struct master *m, uint64_t now)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		pl->n_starting = pl->n_idle = pl->n_busy = pl->n_stopping = pl->n_idle_long = 0;
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		struct pipeline *pl = p->pl;

		if (!pl)
			continue;
		switch (p->st) {
		case MPE_STARTING:
			pl->n_starting++;
			break;
		case MPE_STOPPING:
			pl->n_stopping++;
			break;
		case MPE_GONE:
			break;
		case MPE_UP:
			if (p->busy || p->reserved) {
				p->active_ms = now;
				pl->n_busy++;
				break;
			}
			pl->n_idle++;
			if (now - p->active_ms >= (uint64_t)conf_of(pl).idle_ms)
				pl->n_idle_long++;
			break;
		}
	}
}

static void decide(struct master *m, struct pipeline *pl, uint64_t now, int *room)
{
	struct as_conf c = conf_of(pl);
	struct as_input in = {.now_ms = now,
			      .queue = (long)pl->n_queued,
			      .edge = pl->edge,
			      .starting = pl->n_starting,
			      .idle = pl->n_idle,
			      .busy = pl->n_busy,
			      .idle_long = pl->n_idle_long,
			      .room = *room};
	struct series_event e = {.t_ms = now - m->start_ms};
	double done_rate;
	enum as_action a;
	int from = pl->as.desired;
	uint64_t prev_up = pl->as.last_up_ms;

	as_window_rates(&pl->win, pl->as.last_up_ms, &in.queue_rate, &done_rate);
	if (pl->n_busy > 0)
		in.pe_rate = done_rate / pl->n_busy;
	/* The growth this pass sees began with the last push before it. */
	if (!autoscale_wants_more(&c, &in)) {
		pl->want_ms = 0;
		/* A later growth that meets a bound is logged again. */
		if (pl->last_action == AS_BLOCKED)
			pl->last_action = AS_HOLD;
	} else if (!pl->want_ms)
		pl->want_ms = pl->push_ms ? pl->push_ms : now;
	a = autoscale_decide(&c, &pl->as, &in, e.reason, sizeof(e.reason));
	if (a == AS_HOLD || (a == AS_BLOCKED && pl->last_action == AS_BLOCKED))
		return;
	pl->last_action = a;
	e.action = autoscale_action_name(a);
	e.from = from;
	e.to = pl->as.desired;
	if (a == AS_BLOCKED)
		hio_info("autoscale %s: stays at %d PEs: %s", pl->name, from, e.reason);
	else
		hio_info("autoscale %s: %d -> %d PEs: %s", pl->name, from, pl->as.desired,
			 e.reason);
	if (a == AS_UP) {
		*room -= pl->as.desired - from;
		/* The PEs reconcile starts next carry these, to time their arrival. Only the
		 * first answer to a growth is timed from it; later ones waited on purpose
		 * (the cooldown). */
		pl->up_signal_ms = pl->want_ms > prev_up ? pl->want_ms : 0;
		pl->up_decision_ms = now;
	}
	record(m, pl, &e);
}

static void sample(struct master *m, struct pipeline *pl, uint64_t now)
{
	struct series_sample x = {
	    .t_ms = now - m->start_ms,
	    .done = pl->n_done + pl->n_failed,
	    .queue = (uint32_t)pl->n_queued,
	    .leased = (uint32_t)pl->n_leased,
	    .starting = (uint32_t)pl->n_starting,
	    .idle = (uint32_t)pl->n_idle,
	    .busy = (uint32_t)pl->n_busy,
	    .stopping = (uint32_t)pl->n_stopping,
	};
	int want = pipeline_desired(m, pl);
	struct series *s = series_of(m, pl);

	x.desired = want > 0 ? (uint32_t)want : 0;
	pl->next_sample_ms = now + SERIES_INTERVAL_MS;
	if (s)
		series_add(s, &x);
}

void scale_tick(struct master *m, uint64_t now, int room)
{
	HIO_ASSERT_HELD(&m->lock);
	struct list *pos, *tmp;

	count_pes(m, now);
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		pl->edge = mounts_waiting(m, pl->name);
		as_window_add(&pl->win, now, (long)pl->n_queued + pl->edge,
			      pl->n_done + pl->n_failed);
		if (pl->autoscale && pl->pes >= 0)
			decide(m, pl, now, &room);
		/* Pipelines that manage PEs or have seen traffic get a series. */
		if (now >= pl->next_sample_ms && (pl->pes >= 0 || pl->n_in > 0))
			sample(m, pl, now);
	}
}

void scale_pe_ready(struct master *m, struct mpe *p, uint64_t now)
{
	HIO_ASSERT_HELD(&m->lock);
	struct series_event e = {.t_ms = now - m->start_ms, .action = "ready"};

	p->active_ms = now;
	if (!p->decision_ms || !p->pl)
		return;
	snprintf(e.pe, sizeof(e.pe), "%s", p->id);
	e.reaction_ms = p->signal_ms ? (long)(now - p->signal_ms) : -1;
	e.start_ms = (long)(now - p->decision_ms);
	if (p->signal_ms)
		hio_info("autoscale %s: PE %s idle %ld ms after the backlog began to grow (%ld "
			 "ms after the decision)",
			 p->pl->name, p->id, e.reaction_ms, e.start_ms);
	else
		hio_info("autoscale %s: PE %s idle %ld ms after the decision", p->pl->name, p->id,
			 e.start_ms);
	record(m, p->pl, &e);
	p->signal_ms = p->decision_ms = 0;
}

void scale_manual(struct master *m, struct pipeline *pl, int from, const char *what)
{
	HIO_ASSERT_HELD(&m->lock);
	struct series_event e = {.t_ms = hio_mono_ms() - m->start_ms, .action = "manual"};

	e.from = from;
	e.to = pipeline_desired(m, pl);
	snprintf(e.reason, sizeof(e.reason), "%s", what);
	pl->last_action = AS_HOLD;
	hio_info("autoscale %s: %d -> %d PEs: %s", pl->name, from, e.to, what);
	record(m, pl, &e);
}

void scale_pushed(struct master *m, struct pipeline *pl, uint64_t now)
{
	HIO_ASSERT_HELD(&m->lock);
	pl->push_ms = now;
	/* A push that makes the backlog outgrow the PEs (by the last pass's counts) gets
	 * a pass at once rather than at the next tick; inside the up cooldown the tick
	 * is soon enough, and so it is at a bound. */
	if (!pl->autoscale || pl->pes < 0 || pl->last_action == AS_BLOCKED ||
	    pl->n_queued <= (size_t)(pl->n_idle + pl->n_starting))
		return;
	if (!pl->as.last_up_ms || now - pl->as.last_up_ms >= (uint64_t)conf_of(pl).up_cooldown_ms)
		reconcile_kick(m);
}

void api_series(struct master *m, const char *name, uint64_t since, struct reply *out)
{
	struct pipeline *pl;
	json_t *o;

	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, name);
	if (!pl) {
		pthread_mutex_unlock(&m->lock);
		reply_err(out, 404, "unknown pipeline %s", name);
		return;
	}
	if (pl->series) {
		o = series_json(pl->series, since);
	} else {
		o = json_pack("{s:i,s:[],s:[]}", "interval_ms", SERIES_INTERVAL_MS, "samples",
			      "events");
	}
	if (o) {
		json_object_set_new(o, "pipeline", json_string(pl->name));
		json_object_set_new(o, "now_ms",
				    json_integer((json_int_t)(hio_mono_ms() - m->start_ms)));
		json_object_set_new(o, "autoscale", json_boolean(pl->autoscale && pl->pes >= 0));
	}
	pthread_mutex_unlock(&m->lock);
	if (!o) {
		reply_err(out, 500, "out of memory building the series");
		return;
	}
	reply_ok(out, 200, o);
}
