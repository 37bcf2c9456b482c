/* reconcile.c: the reconcile thread. Every MASTER_RECONCILE_MS (or when kicked) it
 * expires leases (workers, PEs, starts that never registered), drops long-gone
 * entries, and turns the difference between running and desired PEs per pipeline
 * into start/stop commands for workers. */
#include "master.h"

#include "alloc.h"
#include "hio_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int worker_live(const struct master *m, const struct worker *w, uint64_t now)
{
	/* Only heartbeats count: a poll parked on a dead host's connection stays "in
	 * progress" until TCP gives up, and must not keep that host alive. */
	return !w->gone && now - w->hb_ms <= (uint64_t)m->worker_lease_ms;
}

static void sweep(struct master *m, uint64_t now)
{
	struct list *pos, *tmp;
	char why[96];

	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);

		if (!w->gone && !worker_live(m, w, now)) {
			snprintf(why, sizeof(why), "no heartbeat for %llu ms",
				 (unsigned long long)(now - w->hb_ms));
			worker_set_gone(m, w, why);
		}
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		uint64_t since = p->registered ? p->hb_ms : p->created_ms;
		uint64_t lease = p->registered ? (uint64_t)m->pe_lease_ms : MASTER_START_TIMEOUT_MS;

		/* Heartbeats only, as for workers: a parked backlog poll is no sign of life. */
		if (p->st != MPE_GONE && now - since > lease) {
			snprintf(why, sizeof(why),
				 p->registered ? "no heartbeat for %llu ms"
					       : "not registered after %llu ms",
				 (unsigned long long)(now - since));
			struct worker *w = p->worker[0] ? worker_find(m, p->worker) : NULL;

			mpe_set_gone(m, p, why);
			/* Its host went quiet as a whole: the worker may come back with it. */
			if (w && !w->gone && now - w->hb_ms > MASTER_WORKER_SILENT_MS)
				p->gone_with_worker = 1;
		}
		/* A stop command can be lost with the answer that carried it; repeat it
		 * while the PE keeps heartbeating. */
		if (p->st == MPE_STOPPING && now - p->stop_ms > MASTER_STOP_RETRY_MS) {
			struct worker *w = worker_find(m, p->worker);

			p->stop_ms = now;
			if (w && !w->gone)
				worker_push_cmd(m, w,
						json_pack("{s:s,s:s}", "op", "stop", "pe", p->id));
		}
		if (p->st == MPE_GONE && p->polls == 0 && now - p->gone_ms > MASTER_GONE_KEEP_MS)
			mpe_free(m, p);
	}
	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);

		if (w->gone && w->polls == 0 && now - w->gone_ms > MASTER_GONE_KEEP_MS) {
			hio_hmap_del(&m->worker_ix, w->id);
			list_del(&w->link);
			m->n_workers--;
			json_decref(w->cmds);
			free(w);
		}
	}
}

/* Starts one PE of pl on the fullest worker with room. 0, or -1 when none can. */
static int start_one(struct master *m, struct pipeline *pl, uint64_t now)
{
	struct alloc_worker *snap = NULL;
	struct worker **ws = NULL, *w;
	struct list *pos, *tmp;
	char id[HIO_ID_LEN + 1];
	struct mpe *p;
	json_t *cmd;
	size_t n = 0;
	long pick;
	int rc = -1;

	if (!m->n_workers)
		return -1;
	snap = calloc(m->n_workers, sizeof(*snap));
	ws = calloc(m->n_workers, sizeof(*ws));
	if (!snap || !ws)
		goto out;
	list_for_each_safe(pos, tmp, &m->workers)
	{
		w = list_entry(pos, struct worker, link);
		if (!worker_live(m, w, now) || w->draining)
			continue;
		w->idx = (int)n;
		snap[n].max_pes = w->max_pes;
		ws[n++] = w;
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		p = list_entry(pos, struct mpe, link);
		if (!mpe_holds_slot(p))
			continue;
		w = worker_find(m, p->worker);
		if (w && worker_live(m, w, now))
			snap[w->idx].pes++;
	}
	pick = alloc_pick_start(snap, n);
	if (pick < 0)
		goto out;
	w = ws[pick];
	hio_id_new(id);
	p = mpe_add(m, id);
	if (!p)
		goto out;
	p->pl = pl;
	p->version = pl->version;
	p->signal_ms = pl->up_signal_ms;
	p->decision_ms = pl->up_decision_ms;
	snprintf(p->worker, sizeof(p->worker), "%s", w->id);
	cmd = json_pack("{s:s,s:s,s:s,s:s?,s:b,s:s?,s:I,s:I,s:i}", "op", "start", "pe", id,
			"pipeline", pl->name, "exec", pl->exec, "serve", pl->serve, "image",
			pl->image, "timeout_ms", (json_int_t)pl->timeout_ms, "timeout",
			(json_int_t)pl->timeout_ms, "version", pl->version);
	if (worker_push_cmd(m, w, cmd) < 0) {
		mpe_free(m, p);
		goto out;
	}
	hio_info("starting PE %s of pipeline %s on worker %s (%d of %d)", id, pl->name, w->id,
		 snap[pick].pes + 1, w->max_pes);
	rc = 0;
out:
	free(snap);
	free(ws);
	return rc;
}

/* Stops up to excess PEs of pl: idle ones first, from workers with the fewest busy PEs. */
static void stop_some(struct master *m, struct pipeline *pl, int excess, uint64_t now)
{
	struct alloc_stop *snap = NULL;
	struct mpe **cand = NULL;
	int *group = NULL, *busy = NULL;
	struct list *pos, *tmp;
	size_t n = 0;
	int groups = 0;

	snap = calloc(m->n_pes ? m->n_pes : 1, sizeof(*snap));
	cand = calloc(m->n_pes ? m->n_pes : 1, sizeof(*cand));
	group = calloc(m->n_pes ? m->n_pes : 1, sizeof(*group));
	busy = calloc(m->n_workers ? m->n_workers : 1, sizeof(*busy));
	if (!snap || !cand || !group || !busy)
		goto out;
	list_for_each_safe(pos, tmp, &m->workers)
	{
		list_entry(pos, struct worker, link)->idx = groups++;
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		struct worker *w = p->worker[0] ? worker_find(m, p->worker) : NULL;

		if (!w || !worker_live(m, w, now) || !mpe_running(p))
			continue;
		if (p->st == MPE_UP && (p->busy || p->reserved))
			busy[w->idx]++;
		if (p->pl != pl)
			continue;
		snap[n].cls = p->st == MPE_STARTING	 ? ALLOC_STARTING
			      : (p->busy || p->reserved) ? ALLOC_BUSY
							 : ALLOC_IDLE;
		group[n] = w->idx;
		cand[n++] = p;
	}
	for (size_t i = 0; i < n; i++)
		snap[i].worker_busy = busy[group[i]];
	while (excess-- > 0 && n > 0) {
		long k = alloc_pick_stop(snap, n);
		struct mpe *p = cand[k];
		struct worker *w = worker_find(m, p->worker);

		if (worker_push_cmd(m, w, json_pack("{s:s,s:s}", "op", "stop", "pe", p->id)) < 0)
			break;
		hio_info("stopping %s PE %s of pipeline %s on worker %s", mpe_state_name(p), p->id,
			 pl->name, w->id);
		if (snap[k].cls == ALLOC_BUSY)
			for (size_t i = 0; i < n; i++)
				if (group[i] == group[k])
					snap[i].worker_busy--;
		p->st = MPE_STOPPING;
		p->stop_ms = now;
		n--;
		snap[k] = snap[n];
		cand[k] = cand[n];
		group[k] = group[n];
	}
out:
	free(snap);
	free(cand);
	free(group);
	free(busy);
}

/* PEs the live workers can still start, all pipelines together. */
static int room_left(struct master *m, uint64_t now)
{
	struct list *pos, *tmp;
	long room = 0;

	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);

		w->idx = worker_live(m, w, now) && !w->draining ? w->max_pes : 0;
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		struct worker *w = mpe_holds_slot(p) ? worker_find(m, p->worker) : NULL;

		if (w && w->idx > 0)
			w->idx--;
	}
	list_for_each_safe(pos, tmp, &m->workers)
	{
		room += list_entry(pos, struct worker, link)->idx;
	}
	return room > MASTER_PES_MAX ? MASTER_PES_MAX : (int)room;
}

/* Stops the running PEs of pl that run another version of its analysis (each finishes
 * the message in hand; stopping PEs get no new work), so what is sent from now on meets
 * only the current one. */
void reconcile_roll(struct master *m, struct pipeline *pl, uint64_t now)
{
	HIO_ASSERT_HELD(&m->lock);
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		struct worker *w;

		if (p->pl != pl || !mpe_running(p) || !p->version || p->version == pl->version)
			continue;
		w = p->worker[0] ? worker_find(m, p->worker) : NULL;
		if (!w || w->gone ||
		    worker_push_cmd(m, w, json_pack("{s:s,s:s}", "op", "stop", "pe", p->id)) < 0)
			continue;
		hio_info("stopping PE %s of pipeline %s: it runs version %d of the analysis, now "
			 "%d",
			 p->id, pl->name, p->version, pl->version);
		p->st = MPE_STOPPING;
		p->stop_ms = now;
	}
}

static void reconcile(struct master *m, uint64_t now)
{
	struct list *pos, *tmp, *ppos, *ptmp;

	scale_tick(m, now, room_left(m, now));

	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);
		int want = pipeline_desired(m, pl), running = 0;

		if (want < 0)
			continue;
		reconcile_roll(m, pl, now);
		list_for_each_safe(ppos, ptmp, &m->pes)
		{
			struct mpe *p = list_entry(ppos, struct mpe, link);

			running += p->pl == pl && mpe_running(p);
		}
		if (running > want) {
			stop_some(m, pl, running - want, now);
			pl->up_signal_ms = pl->up_decision_ms = 0;
			continue;
		}
		if (now < pl->backoff_until_ms)
			continue;
		while (running < want && start_one(m, pl, now) == 0)
			running++;
		pl->up_signal_ms = pl->up_decision_ms = 0;
	}
}

static void *rc_main(void *arg)
{
	struct master *m = arg;

	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		uint64_t now = hio_mono_ms();

		sweep(m, now);
		reconcile(m, now);
		hio_cond_wait_ms(&m->rc_cond, &m->lock, MASTER_RECONCILE_MS);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int reconcile_start(struct master *m)
{
	int rc = pthread_create(&m->rc_thread, NULL, rc_main, m);

	if (rc) {
		hio_err("cannot start the reconcile thread: %s; not starting", strerror(rc));
		return -1;
	}
	m->rc_started = 1;
	return 0;
}

void reconcile_stop(struct master *m)
{
	pthread_mutex_lock(&m->lock);
	m->stopping = 1;
	pthread_cond_broadcast(&m->rc_cond);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->rc_started)
		pthread_join(m->rc_thread, NULL);
	m->rc_started = 0;
}

void reconcile_kick(struct master *m)
{
	HIO_ASSERT_HELD(&m->lock);
	pthread_cond_signal(&m->rc_cond);
}
