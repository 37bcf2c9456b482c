/* registry.c: workers, PEs and pipelines in memory, and the state changes that
 * ripple from one to another (a gone worker takes its PEs, a gone PE gives back its
 * backlog leases). Every function here runs with m->lock held, except the lifetime
 * ones at the end (master_init, master_free, registry_free), which run alone. */
#include "master.h"

#include "hio_log.h"
#include "series.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pipeline *pipeline_find(struct master *m, const char *name)
{
	HIO_ASSERT_HELD(&m->lock);
	return hio_hmap_get(&m->pipeline_ix, name);
}

struct pipeline *pipeline_get(struct master *m, const char *name)
{
	HIO_ASSERT_HELD(&m->lock);
	struct pipeline *pl = pipeline_find(m, name);

	if (pl)
		return pl;
	if (m->n_pipelines >= MASTER_PIPELINES_MAX) {
		hio_warn("refusing new pipeline %s: %d pipelines already known", name,
			 MASTER_PIPELINES_MAX);
		return NULL;
	}
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		goto oom;
	snprintf(pl->name, sizeof(pl->name), "%s", name);
	pl->pes = -1;
	pl->autoscale = 1;
	pl->as.desired = -1;
	list_init(&pl->queued);
	list_init(&pl->leased);
	hio_hmap_init(&pl->results);
	if (hio_hmap_put(&m->pipeline_ix, pl->name, pl) < 0)
		goto oom;
	list_add_tail(&m->pipelines, &pl->link);
	m->n_pipelines++;
	return pl;
oom:
	free(pl);
	hio_err("out of memory adding pipeline %s; the request fails", name);
	return NULL;
}

void pipeline_drop_new(struct master *m, struct pipeline *pl)
{
	HIO_ASSERT_HELD(&m->lock);
	HIO_ASSERT(!pl->configured && list_empty(&pl->queued) && list_empty(&pl->leased));
	hio_hmap_del(&m->pipeline_ix, pl->name);
	list_del(&pl->link);
	m->n_pipelines--;
	pipeline_free(pl);
}

void pipeline_free(struct pipeline *pl)
{
	for (size_t i = 0; i < pl->results.cap; i++)
		if (pl->results.slots[i].key)
			result_free(pl->results.slots[i].val);
	hio_hmap_free(&pl->results);
	series_free(pl->series);
	for (size_t i = 0; i < pl->n_vers; i++) {
		free(pl->vers[i].exec);
		free(pl->vers[i].image);
	}
	free(pl->vers);
	free(pl->sorted);
	free(pl->exec);
	free(pl->image);
	free(pl);
}

struct worker *worker_find(struct master *m, const char *id)
{
	HIO_ASSERT_HELD(&m->lock);
	return hio_hmap_get(&m->worker_ix, id);
}

struct mpe *mpe_find(struct master *m, const char *id)
{
	HIO_ASSERT_HELD(&m->lock);
	return hio_hmap_get(&m->pe_ix, id);
}

struct mpe *mpe_add(struct master *m, const char *id)
{
	HIO_ASSERT_HELD(&m->lock);
	struct mpe *p;

	if (m->n_pes >= MASTER_PES_MAX) {
		hio_warn("refusing PE %s: %d PEs already known", id, MASTER_PES_MAX);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto oom;
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (hio_hmap_put(&m->pe_ix, p->id, p) < 0)
		goto oom;
	p->created_ms = p->hb_ms = hio_mono_ms();
	p->local_uid = -1;
	list_add_tail(&m->pes, &p->link);
	m->n_pes++;
	return p;
oom:
	free(p);
	hio_err("out of memory adding PE %s; the request fails", id);
	return NULL;
}

void mpe_free(struct master *m, struct mpe *p)
{
	HIO_ASSERT_HELD(&m->lock);
	hio_hmap_del(&m->pe_ix, p->id);
	list_del(&p->link);
	m->n_pes--;
	free(p);
}

const char *mpe_state_name(const struct mpe *p)
{
	switch (p->st) {
	case MPE_STARTING:
		return "starting";
	case MPE_STOPPING:
		return "stopping";
	case MPE_GONE:
		return "gone";
	case MPE_UP:
		break;
	}
	/* A reserved PE is shown busy: a connector holds it even before it says so. */
	return p->busy || p->reserved ? "busy" : "idle";
}

int mpe_running(const struct mpe *p)
{
	return p->st == MPE_STARTING || p->st == MPE_UP;
}

int mpe_holds_slot(const struct mpe *p)
{
	return p->worker[0] && (p->st != MPE_GONE || (p->gone_with_worker && !p->exited));
}

void mpe_set_gone(struct master *m, struct mpe *p, const char *why)
{
	HIO_ASSERT_HELD(&m->lock);
	uint64_t now = hio_mono_ms();

	if (p->st == MPE_GONE)
		return;
	/* A PE that never registered most likely failed to start (bad command, missing
	 * image): back off so reconcile does not restart it ten times a second. */
	if (p->st == MPE_STARTING && !p->registered && p->pl) {
		int shift = p->pl->start_fails < 5 ? p->pl->start_fails : 5;
		uint64_t delay = 1000ull << shift;

		p->pl->start_fails++;
		if (delay > MASTER_BACKOFF_MAX_MS)
			delay = MASTER_BACKOFF_MAX_MS;
		p->pl->backoff_until_ms = now + delay;
		hio_warn("PE %s of pipeline %s never registered (%s); next start of that pipeline "
			 "in %llu ms",
			 p->id, p->pl->name, why, (unsigned long long)delay);
	} else {
		hio_info("PE %s (pipeline %s, worker %s) is gone: %s; its leased messages go back "
			 "to the queue",
			 p->id, p->pl ? p->pl->name : "-", p->worker[0] ? p->worker : "none", why);
	}
	p->st = MPE_GONE;
	p->gone_ms = now;
	p->reserved = 0;
	p->busy = 0;
	backlog_requeue_pe(m, p->id);
	pthread_cond_broadcast(&m->cond);
	reconcile_kick(m);
}

void worker_set_gone(struct master *m, struct worker *w, const char *why)
{
	HIO_ASSERT_HELD(&m->lock);
	struct list *pos, *tmp;

	if (w->gone)
		return;
	hio_info("worker %s (%s) is gone: %s; its PEs are gone with it", w->id, w->name, why);
	w->gone = 1;
	w->gone_ms = hio_mono_ms();
	json_array_clear(w->cmds);
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);

		if (p->st != MPE_GONE && strcmp(p->worker, w->id) == 0) {
			mpe_set_gone(m, p, "its worker is gone");
			p->gone_with_worker = 1;
		}
	}
	pthread_cond_broadcast(&m->cond);
	reconcile_kick(m);
}

int worker_push_cmd(struct master *m, struct worker *w, json_t *cmd)
{
	HIO_ASSERT_HELD(&m->lock);
	if (!cmd)
		goto fail;
	if (json_array_size(w->cmds) >= MASTER_CMDS_MAX) {
		hio_warn("worker %s has %d commands unacknowledged; dropping a new one (reconcile "
			 "retries)",
			 w->id, MASTER_CMDS_MAX);
		json_decref(cmd);
		return -1;
	}
	if (json_object_set_new(cmd, "seq", json_integer((json_int_t)++w->cmd_seq)) < 0) {
		json_decref(cmd);
		goto fail;
	}
	if (json_array_append_new(w->cmds, cmd) < 0) /* it takes cmd even when it fails */
		goto fail;
	pthread_cond_broadcast(&m->cond);
	return 0;
fail:
	hio_err("out of memory queueing a command for worker %s; reconcile retries", w->id);
	return -1;
}

void registry_free(struct master *m)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);

		json_decref(w->cmds);
		free(w);
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		free(list_entry(pos, struct mpe, link));
	}
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		pipeline_free(list_entry(pos, struct pipeline, link));
	}
	for (size_t i = 0; i < m->ids.cap; i++)
		if (m->ids.slots[i].key)
			free(m->ids.slots[i].val);
	hio_hmap_free(&m->ids);
	hio_hmap_free(&m->worker_ix);
	hio_hmap_free(&m->pe_ix);
	hio_hmap_free(&m->pipeline_ix);
	list_init(&m->workers);
	list_init(&m->pes);
	list_init(&m->pipelines);
}

/* ---- the master state's lifetime (main.c and the unit tests) ---- */

int master_init(struct master *m)
{
	m->journal_fd = -1;
	m->start_ms = hio_mono_ms();
	list_init(&m->workers);
	list_init(&m->pes);
	list_init(&m->pipelines);
	hio_hmap_init(&m->worker_ix);
	hio_hmap_init(&m->pe_ix);
	hio_hmap_init(&m->pipeline_ix);
	hio_hmap_init(&m->ids);
	/* Long-poll deadlines are monotonic, so a clock step cannot stretch or cut them. */
	if (pthread_mutex_init(&m->lock, NULL) || pthread_mutex_init(&m->journal_lock, NULL) ||
	    pthread_mutex_init(&m->persist_lock, NULL) || hio_cond_init(&m->cond) ||
	    hio_cond_init(&m->rc_cond))
		return -1;
	return 0;
}

void master_free(struct master *m)
{
	retention_free(m);
	results_close(m);
	backlog_free(m);
	registry_free(m);
	mounts_free(m);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->journal_lock);
	pthread_mutex_destroy(&m->persist_lock);
	pthread_cond_destroy(&m->cond);
	pthread_cond_destroy(&m->rc_cond);
	free(m);
}
