/* status.c: GET /v1/status, one consistent snapshot taken under m->lock. */
#include "master.h"

#include <stdlib.h>

static json_t *workers_json(struct master *m)
{
	json_t *arr = json_array();
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);

		if (json_array_append_new(
			arr, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "id", w->id, "name", w->name,
				       "host", w->host, "runtime", w->runtime, "max_pes",
				       w->max_pes, "state", w->gone ? "gone" : "up")) < 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

static json_t *pes_json(struct master *m)
{
	json_t *arr = json_array();
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		json_t *o =
		    json_pack("{s:s,s:s?,s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:i}", "id", p->id, "worker",
			      p->worker[0] ? p->worker : NULL, "pipeline", p->pl ? p->pl->name : "",
			      "state", mpe_state_name(p), "host", p->host, "port", p->port, "pid",
			      (json_int_t)p->pid, "done", (json_int_t)p->done, "failed",
			      (json_int_t)p->failed, "version", p->version);

		if (json_array_append_new(arr, o) < 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

static json_t *pipelines_json(struct master *m)
{
	json_t *arr = json_array();
	struct list *pos, *tmp, *ppos, *ptmp;

	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);
		int running = 0;
		json_t *o;

		list_for_each_safe(ppos, ptmp, &m->pes)
		{
			struct mpe *p = list_entry(ppos, struct mpe, link);

			running += p->pl == pl && mpe_running(p);
		}
		o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:i,s:s?,s:s?,s:I,s:b,s:b}",
			      "name", pl->name, "queue_length", (json_int_t)pl->n_queued, "leased",
			      (json_int_t)pl->n_leased, "in", (json_int_t)pl->n_in, "done",
			      (json_int_t)pl->n_done, "failed", (json_int_t)pl->n_failed, "pes",
			      running, "desired", pipeline_desired(m, pl), "min_pes", pl->min_pes,
			      "max_pes", pl->max_pes, "exec", pl->exec, "image", pl->image,
			      "timeout_ms", (json_int_t)pl->timeout_ms, "autoscale",
			      pl->autoscale && pl->pes >= 0, "serve", pl->serve);
		if (o) {
			json_object_set_new(o, "version", json_integer(pl->version));
			/* Counted now, not at the last pass: status may come first. */
			json_object_set_new(o, "waiting_at_mounts",
					    json_integer(mounts_waiting(m, pl->name)));
		}
		if (json_array_append_new(arr, o) < 0)
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

void api_status(struct master *m, struct reply *out)
{
	json_t *w, *p, *pl, *mn, *counters, *ans;

	pthread_mutex_lock(&m->lock);
	w = workers_json(m);
	p = pes_json(m);
	pl = pipelines_json(m);
	mn = mounts_json(m);
	counters = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "disk_full_at_ms",
			     (json_int_t)atomic_load(&m->disk_full_ms), "disk_full_refused",
			     (json_int_t)atomic_load(&m->disk_full_refused), "rx_bytes",
			     (json_int_t)atomic_load(&m->rx_bytes), "backlog_bytes",
			     (json_int_t)atomic_load(&m->backlog_rx), "results_bytes",
			     (json_int_t)atomic_load(&m->results_rx), "backlog_stored_bytes",
			     (json_int_t)m->backlog_bytes, "backlog_max_bytes",
			     (json_int_t)m->backlog_max);
	pthread_mutex_unlock(&m->lock);
	ans = json_pack("{s:o*,s:o*,s:o*,s:o*,s:o*}", "workers", w, "pes", p, "pipelines", pl,
			"mounts", mn, "counters", counters);
	if (!ans || !w || !p || !pl || !mn || !counters) {
		json_decref(ans);
		reply_err(out, 500, "out of memory building the status");
		return;
	}
	reply_ok(out, 200, ans);
}
