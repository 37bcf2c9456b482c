/* api.c: the worker and PE endpoints and allocation. Each one checks its whole
 * body before taking m->lock, so a bad request changes nothing. */
#include "master.h"

#include "alloc.h"
#include "hio_cred.h"
#include "hio_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Checks a heartbeat's PE list entirely before anything is applied. */
static int check_worker_pes(json_t *pes, char *err, size_t errlen)
{
	size_t i;
	json_t *it;

	if (!json_is_array(pes) || json_array_size(pes) > MASTER_WORKER_PES_MAX) {
		snprintf(err, errlen, "field 'pes' must be an array of at most %d PEs",
			 MASTER_WORKER_PES_MAX);
		return -1;
	}
	json_array_foreach(pes, i, it)
	{
		const char *id, *pl, *st;
		long long pid;

		if (!json_is_object(it)) {
			snprintf(err, errlen, "pes[%zu] must be an object", i);
			return -1;
		}
		if (jget_str(it, "id", JF_REQUIRED, HIO_ID_LEN, &id, err, errlen) < 0 ||
		    jget_str(it, "pipeline", 0, HIO_PIPELINE_MAX, &pl, err, errlen) < 0 ||
		    jget_str(it, "state", 0, MASTER_TEXT_MAX, &st, err, errlen) < 0 ||
		    jget_int(it, "pid", 0, 0, INT32_MAX, &pid, NULL, err, errlen) < 0)
			return -1;
		if (!hio_id_valid(id) || (pl && !hio_pipeline_valid(pl))) {
			snprintf(err, errlen, "pes[%zu] has a bad id or pipeline", i);
			return -1;
		}
	}
	return 0;
}

/* The PEs a worker says it runs (registration and heartbeats; pes may be NULL): a PE this master
 * never heard of (it restarted) is listed as starting so it is counted, and so is one it gave up
 * while the worker was cut off (a partition, not an exit): either way its own registration brings
 * it up, and reconcile starts no extra PEs meanwhile (which a full worker would refuse, and then
 * the surplus would be stopped). Caller holds m->lock. */
static void worker_adopt_pes(struct master *m, struct worker *w, json_t *pes)
{
	HIO_ASSERT_HELD(&m->lock);
	uint64_t now = hio_mono_ms();
	struct list *pos, *tmp;
	size_t i;
	json_t *it;

	/* A PE given up with its silent host and not listed now has ended there: its
	 * slot is free again. */
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		int listed = 0;

		if (p->st != MPE_GONE || !p->gone_with_worker || strcmp(p->worker, w->id) != 0)
			continue;
		json_array_foreach(pes, i, it)
		{
			const char *pid = json_string_value(json_object_get(it, "id"));

			listed |= pid && strcmp(pid, p->id) == 0;
		}
		if (!listed)
			p->gone_with_worker = 0;
	}

	json_array_foreach(pes, i, it)
	{
		const char *pid = json_string_value(json_object_get(it, "id"));
		const char *pln = json_string_value(json_object_get(it, "pipeline"));
		const char *st = json_string_value(json_object_get(it, "state"));
		json_t *jpid = json_object_get(it, "pid");
		struct mpe *p = mpe_find(m, pid);

		if (!p && pln) {
			struct pipeline *pl = pipeline_get(m, pln);

			p = pl ? mpe_add(m, pid) : NULL;
			if (!p)
				continue;
			p->pl = pl;
			p->st = MPE_STARTING;
			snprintf(p->worker, sizeof(p->worker), "%s", w->id);
			hio_info("worker %s reports PE %s of pipeline %s; listed as starting",
				 w->id, pid, pln);
		} else if (p && p->st == MPE_GONE && !p->exited && p->gone_with_worker && p->pl &&
			   strcmp(p->worker, w->id) == 0 && !(st && strcmp(st, "stopping") == 0)) {
			p->st = MPE_STARTING;
			p->registered = 0;
			p->gone_with_worker = 0;
			p->created_ms = now;
			hio_info("worker %s still runs PE %s of pipeline %s; listed as starting "
				 "until it registers again",
				 w->id, pid, p->pl->name);
		}
		if (p && json_is_integer(jpid))
			p->pid = (long)json_integer_value(jpid);
	}
}

void api_worker_put(struct master *m, const char *id, json_t *body, struct reply *out)
{
	const char *name, *host, *runtime;
	json_t *pes = json_object_get(body, "pes");
	long long max_pes = 0;
	struct worker *w;
	char err[160];

	if ((pes && check_worker_pes(pes, err, sizeof(err)) < 0) ||
	    jget_str(body, "name", JF_REQUIRED, MASTER_TEXT_MAX, &name, err, sizeof(err)) < 0 ||
	    jget_str(body, "host", JF_REQUIRED, MASTER_TEXT_MAX, &host, err, sizeof(err)) < 0 ||
	    jget_str(body, "runtime", 0, MASTER_TEXT_MAX, &runtime, err, sizeof(err)) < 0 ||
	    jget_int(body, "max_pes", JF_REQUIRED, 0, MASTER_WORKER_PES_MAX, &max_pes, NULL, err,
		     sizeof(err)) < 0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	if (!text_valid(name, MASTER_TEXT_MAX) || !text_valid(host, MASTER_TEXT_MAX) ||
	    (runtime && !text_valid(runtime, MASTER_TEXT_MAX))) {
		reply_err(out, 400, "name, host and runtime must be printable, no spaces");
		return;
	}

	pthread_mutex_lock(&m->lock);
	w = worker_find(m, id);
	if (!w) {
		if (m->n_workers >= MASTER_WORKERS_MAX) {
			pthread_mutex_unlock(&m->lock);
			hio_warn("refusing worker %s: %d workers already known", id,
				 MASTER_WORKERS_MAX);
			reply_err(out, 503, "too many workers");
			return;
		}
		w = calloc(1, sizeof(*w));
		if (w) {
			snprintf(w->id, sizeof(w->id), "%s", id);
			w->cmds = json_array();
			w->cmd_seq = hio_now_us(); /* see struct worker */
		}
		if (!w || !w->cmds || hio_hmap_put(&m->worker_ix, w->id, w) < 0) {
			pthread_mutex_unlock(&m->lock);
			if (w)
				json_decref(w->cmds);
			free(w);
			hio_err("out of memory registering worker %s; it will retry", id);
			reply_err(out, 500, "out of memory");
			return;
		}
		list_add_tail(&m->workers, &w->link);
		m->n_workers++;
	}
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->host, sizeof(w->host), "%s", host);
	snprintf(w->runtime, sizeof(w->runtime), "%s", runtime ? runtime : "process");
	w->max_pes = (int)max_pes;
	w->gone = 0;
	w->draining = 0;
	w->hb_ms = hio_mono_ms();
	w->reg_gen++;
	/* Before reconcile looks: PEs it kept through a partition count as running (no
	 * list: it runs none). */
	worker_adopt_pes(m, w, pes);
	/* A worker that (re)joins is a new place to start PEs: starts that failed because
	 * the host was gone say nothing about it, so no pipeline waits out their backoff. */
	{
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, &m->pipelines)
		{
			struct pipeline *pl = list_entry(pos, struct pipeline, link);
			pl->start_fails = 0;
			pl->backoff_until_ms = 0;
		}
	}
	pthread_cond_broadcast(&m->cond);
	reconcile_kick(m);
	pthread_mutex_unlock(&m->lock);
	hio_info("worker %s (%s at %s, runtime %s) registered with room for %lld PEs", id, name,
		 host, runtime ? runtime : "process", max_pes);
	reply_ok(out, 200, json_object());
}

void api_worker_delete(struct master *m, const char *id, struct reply *out)
{
	struct worker *w;

	pthread_mutex_lock(&m->lock);
	w = worker_find(m, id);
	if (w)
		worker_set_gone(m, w, "it deregistered");
	pthread_mutex_unlock(&m->lock);
	if (!w) {
		reply_err(out, 404, "unknown worker %s", id);
		return;
	}
	reply_ok(out, 200, json_object());
}

void api_worker_heartbeat(struct master *m, const char *id, json_t *body, struct reply *out)
{
	json_t *pes = json_object_get(body, "pes");
	struct worker *w;
	char err[160];

	if (pes && check_worker_pes(pes, err, sizeof(err)) < 0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	pthread_mutex_lock(&m->lock);
	w = worker_find(m, id);
	if (!w || w->gone) {
		pthread_mutex_unlock(&m->lock);
		reply_err(out, 404, "unknown worker %s: register again", id);
		return;
	}
	w->hb_ms = hio_mono_ms();
	if (json_is_true(json_object_get(body, "stopping")) && !w->draining) {
		w->draining = 1;
		hio_info("worker %s (%s) is stopping: no PE starts there any more", w->id, w->name);
	}
	worker_adopt_pes(m, w, pes);
	pthread_mutex_unlock(&m->lock);
	reply_ok(out, 200, json_object());
}

/* Drops the commands up to ack, and starts whose PE no longer waits for one (gone,
 * or registered: a repeat would start a second process under a live id). */
static void cmds_prune(struct master *m, struct worker *w, uint64_t ack)
{
	HIO_ASSERT_HELD(&m->lock);
	size_t i = 0;

	if (ack > w->cmd_seq)
		ack = 0; /* not one of ours (a worker from before a restart): drops nothing */
	while (i < json_array_size(w->cmds)) {
		json_t *c = json_array_get(w->cmds, i);
		json_int_t seq = json_integer_value(json_object_get(c, "seq"));
		const char *op = json_string_value(json_object_get(c, "op"));
		struct mpe *p = NULL;

		if (op && strcmp(op, "start") == 0)
			p = mpe_find(m, json_string_value(json_object_get(c, "pe")));
		if ((uint64_t)seq <= ack || (op && strcmp(op, "start") == 0 &&
					     (!p || p->st != MPE_STARTING || p->registered)))
			json_array_remove(w->cmds, i);
		else
			i++;
	}
}

/* Each start command carries the new PE's own credential, derived when sent, so it is
 * never stored or journaled; the worker hands it to that PE alone. */
static void cmds_add_credentials(struct master *m, json_t *cmds)
{
	char cred[HIO_TOKEN_MAX + 1];
	size_t i;
	json_t *c;

	json_array_foreach(cmds, i, c)
	{
		const char *op = json_string_value(json_object_get(c, "op"));
		const char *pe = json_string_value(json_object_get(c, "pe"));

		if (op && pe && strcmp(op, "start") == 0 && hio_cred_pe(m->token, pe, cred) == 0)
			json_object_set_new(c, "credential", json_string(cred));
	}
}

void api_worker_commands(struct master *m, const char *id, long wait_ms, uint64_t ack,
			 struct reply *out)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
	struct worker *w;
	json_t *cmds = NULL;
	int rc = 0, known = 1, first = 1;
	unsigned gen = 0;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		w = worker_find(m, id);
		if (!w || w->gone) {
			known = 0;
			break;
		}
		if (first) {
			gen = w->reg_gen;
			cmds_prune(m, w, ack);
		}
		first = 0;
		if (w->reg_gen != gen) {
			cmds = json_array();
			break;
		}
		if (json_array_size(w->cmds) > 0) {
			/* Kept until acknowledged; the answer is a copy, encoded unlocked. */
			cmds = json_deep_copy(w->cmds);
			break;
		}
		if (m->stopping || rc == ETIMEDOUT || wait_ms <= 0) {
			cmds = json_array();
			break;
		}
		/* polls > 0 keeps w allocated while unlocked; see reconcile's sweep. */
		w->polls++;
		rc = hio_cond_wait_until(&m->cond, &m->lock, deadline);
		w->polls--;
	}
	pthread_mutex_unlock(&m->lock);
	if (!known) {
		reply_err(out, 404, "unknown worker %s: register again", id);
		return;
	}
	if (!cmds) {
		hio_err("out of memory answering worker %s's command poll", id);
		reply_err(out, 500, "out of memory");
		return;
	}
	cmds_add_credentials(m, cmds);
	reply_ok(out, 200, json_pack("{s:o}", "commands", cmds));
}

void api_pe_register(struct master *m, const char *id, json_t *body, struct reply *out)
{
	const char *worker, *pln, *host;
	long long port = 0, version = 0, local_uid = -1;
	struct pipeline *pl;
	struct mpe *p;
	char err[160];

	if (jget_int(body, "version", 0, 0, INT32_MAX, &version, NULL, err, sizeof(err)) < 0 ||
	    jget_str(body, "worker", 0, HIO_ID_LEN, &worker, err, sizeof(err)) < 0 ||
	    jget_str(body, "pipeline", JF_REQUIRED, HIO_PIPELINE_MAX, &pln, err, sizeof(err)) < 0 ||
	    jget_str(body, "host", JF_REQUIRED, MASTER_TEXT_MAX, &host, err, sizeof(err)) < 0 ||
	    jget_int(body, "port", JF_REQUIRED, 1, 65535, &port, NULL, err, sizeof(err)) < 0 ||
	    jget_int(body, "local_uid", 0, 0, UINT32_MAX - 1, &local_uid, NULL, err, sizeof(err)) <
		0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	if (worker && !hio_id_valid(worker)) {
		reply_err(out, 400, "field 'worker' is not a valid id");
		return;
	}
	if (!hio_pipeline_valid(pln)) {
		reply_err(out, 400, "bad pipeline name");
		return;
	}
	if (!text_valid(host, MASTER_TEXT_MAX)) {
		reply_err(out, 400, "field 'host' must be printable, no spaces");
		return;
	}

	pthread_mutex_lock(&m->lock);
	pl = pipeline_get(m, pln);
	p = mpe_find(m, id);
	if (pl && !p)
		p = mpe_add(m, id);
	if (!pl || !p) {
		pthread_mutex_unlock(&m->lock);
		reply_err(out, 503, "no room for another PE or pipeline");
		return;
	}
	if (p->st == MPE_STARTING && !p->registered) {
		pl->start_fails = 0;
		pl->backoff_until_ms = 0;
	}
	/* A stopping PE keeps its fate; anything else is a fresh process, so no stale
	 * reservation or busy flag survives. */
	if (p->st != MPE_STOPPING)
		p->st = MPE_UP;
	p->registered = 1;
	p->pl = pl;
	/* What the PE says wins: after a master restart, only it knows. */
	if (version > 0)
		p->version = (int)version;
	snprintf(p->worker, sizeof(p->worker), "%s", worker ? worker : "");
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->port = (int)port;
	p->local_uid = local_uid;
	p->busy = 0;
	p->reserved = 0;
	p->hb_ms = hio_mono_ms();
	scale_pe_ready(m, p, p->hb_ms);
	reconcile_kick(m);
	pthread_mutex_unlock(&m->lock);
	hio_info("PE %s of pipeline %s registered at %s:%lld (worker %s)", id, pln, host, port,
		 worker ? worker : "none");
	reply_ok(out, 200, json_object());
}

void api_pe_heartbeat(struct master *m, const char *id, json_t *body, struct reply *out)
{
	const char *state;
	long long done = 0, failed = 0;
	int session = 0, has_session, has_done, has_failed;
	struct mpe *p;
	char err[160];

	if (jget_str(body, "state", JF_REQUIRED, 16, &state, err, sizeof(err)) < 0 ||
	    jget_bool(body, "session", 0, &session, &has_session, err, sizeof(err)) < 0 ||
	    jget_int(body, "done", 0, 0, INT64_MAX, &done, &has_done, err, sizeof(err)) < 0 ||
	    jget_int(body, "failed", 0, 0, INT64_MAX, &failed, &has_failed, err, sizeof(err)) < 0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	if (strcmp(state, "idle") != 0 && strcmp(state, "busy") != 0) {
		reply_err(out, 400, "field 'state' must be \"idle\" or \"busy\"");
		return;
	}

	pthread_mutex_lock(&m->lock);
	p = mpe_find(m, id);
	if (!p || p->st == MPE_GONE || !p->registered) {
		pthread_mutex_unlock(&m->lock);
		reply_err(out, 404, "unknown PE %s: register again", id);
		return;
	}
	p->hb_ms = hio_mono_ms();
	p->busy = strcmp(state, "busy") == 0;
	if (p->busy)
		p->active_ms = p->hb_ms;
	if (has_done)
		p->done = (uint64_t)done;
	if (has_failed)
		p->failed = (uint64_t)failed;
	/* The reservation is a lease: a connector that never connected must not hold the
	 * PE forever, but a fresh one may still be on its way. */
	if (p->reserved && has_session && !session &&
	    p->hb_ms - p->reserved_ms > MASTER_RESERVE_LEASE_MS)
		p->reserved = 0;
	pthread_mutex_unlock(&m->lock);
	reply_ok(out, 200, json_object());
}

void api_pe_gone(struct master *m, const char *id, json_t *body, struct reply *out)
{
	const char *reason;
	struct mpe *p;
	char err[160], why[MASTER_TEXT_MAX + 32];

	if (jget_str(body, "reason", 0, MASTER_TEXT_MAX, &reason, err, sizeof(err)) < 0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	if (reason && !line_valid(reason, MASTER_TEXT_MAX)) {
		reply_err(out, 400, "field 'reason' holds control characters");
		return;
	}
	snprintf(why, sizeof(why), "reported gone (%s)", reason ? reason : "no reason");
	pthread_mutex_lock(&m->lock);
	p = mpe_find(m, id);
	if (p) {
		mpe_set_gone(m, p, why);
		p->exited = 1;
	}
	pthread_mutex_unlock(&m->lock);
	if (!p) {
		reply_err(out, 404, "unknown PE %s", id);
		return;
	}
	reply_ok(out, 200, json_object());
}

void api_pe_release(struct master *m, const char *id, json_t *body, struct reply *out)
{
	const char *why = NULL;
	char err[160], host[MASTER_TEXT_MAX + 1] = "";
	struct mpe *p;
	int port = 0;

	if (body && jget_str(body, "unreachable", 0, MASTER_TEXT_MAX, &why, err, sizeof(err)) < 0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	pthread_mutex_lock(&m->lock);
	p = mpe_find(m, id);
	if (p) {
		p->reserved = 0;
		p->active_ms = hio_mono_ms();
		if (why) {
			p->unreachable_until_ms = p->active_ms + MASTER_UNREACHABLE_MS;
			snprintf(host, sizeof(host), "%s", p->host);
			port = p->port;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (!p) {
		reply_err(out, 404, "unknown PE %s", id);
		return;
	}
	if (why)
		hio_warn("PE %s at %s:%d is unreachable from a sender (%s); not allocated for %d "
			 "s",
			 id, host, port, why, MASTER_UNREACHABLE_MS / 1000);
	reply_ok(out, 200, json_object());
}

/* What a connector asks of a PE it holds messages on: is it still there? */
void api_pe_get(struct master *m, const char *id, struct reply *out)
{
	struct mpe *p;
	json_t *ans = NULL;

	pthread_mutex_lock(&m->lock);
	p = mpe_find(m, id);
	if (p)
		ans = json_pack("{s:s,s:s,s:s,s:s,s:i}", "id", p->id, "pipeline",
				p->pl ? p->pl->name : "", "state", mpe_state_name(p), "host",
				p->host, "port", p->port);
	pthread_mutex_unlock(&m->lock);
	if (!p) {
		reply_err(out, 404, "unknown PE %s", id);
		return;
	}
	if (!ans) {
		reply_err(out, 500, "out of memory");
		return;
	}
	reply_ok(out, 200, ans);
}

/* Snapshot of the free PEs of pl for alloc_pick_pe. Workers get group numbers in list
 * order; a standalone PE (or one whose worker is unknown) a number of its own. */
static long pick_free_pe(struct master *m, struct pipeline *pl, struct mpe ***cand_out)
{
	struct alloc_pe *snap = NULL;
	struct mpe **cand = NULL;
	struct worker *last = NULL;
	struct list *pos, *tmp;
	uint64_t now = hio_mono_ms();
	size_t n = 0;
	int groups = 0;
	long pick = -1;

	*cand_out = NULL;
	if (!m->n_pes)
		return -1;
	snap = malloc(m->n_pes * sizeof(*snap));
	cand = malloc(m->n_pes * sizeof(*cand));
	if (!snap || !cand)
		goto out;
	list_for_each_safe(pos, tmp, &m->workers)
	{
		list_entry(pos, struct worker, link)->idx = groups++;
	}
	list_for_each_safe(pos, tmp, &m->pes)
	{
		struct mpe *p = list_entry(pos, struct mpe, link);
		struct worker *w;

		if (p->pl != pl || p->st != MPE_UP || p->busy || p->reserved ||
		    now - p->hb_ms > (uint64_t)m->pe_lease_ms || now < p->unreachable_until_ms)
			continue;
		/* PEs of a worker mostly sit together in the list: reuse the last lookup. */
		if (!last || strcmp(last->id, p->worker) != 0)
			last = p->worker[0] ? worker_find(m, p->worker) : NULL;
		w = last;
		snap[n].group = w && !w->gone ? w->idx : groups++;
		cand[n++] = p;
	}
	pick = alloc_pick_pe(snap, n, groups);
out:
	free(snap);
	if (pick < 0)
		free(cand);
	else
		*cand_out = cand;
	return pick;
}

void api_allocate(struct master *m, const char *pln, struct reply *out)
{
	char cred[HIO_TOKEN_MAX + 1], ticket[HIO_TOKEN_MAX + 1];
	struct pipeline *pl;
	struct mpe **cand = NULL, *p;
	json_t *ans;
	long pick = -1;

	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, pln);
	if (pl)
		pick = pick_free_pe(m, pl, &cand);
	if (pick < 0) {
		pthread_mutex_unlock(&m->lock);
		reply_ok(out, 200, json_pack("{s:b}", "backlog", 1));
		return;
	}
	p = cand[pick];
	free(cand);
	p->reserved = 1;
	p->reserved_ms = p->active_ms = hio_mono_ms();
	/* The sender's ticket to this PE's P2P port (hio_cred.h). */
	hio_cred_pe(m->token, p->id, cred);
	hio_cred_p2p(cred, ticket);
	ans = json_pack("{s:{s:s,s:s,s:i,s:I,s:s}}", "pe", "id", p->id, "host", p->host, "port",
			p->port, "timeout_ms", (json_int_t)pl->timeout_ms, "ticket", ticket);
	if (ans && p->local_uid >= 0)
		json_object_set_new(json_object_get(ans, "pe"), "local_uid",
				    json_integer((json_int_t)p->local_uid));
	hio_debug("allocated PE %s of pipeline %s", p->id, pln);
	pthread_mutex_unlock(&m->lock);
	reply_ok(out, 200, ans);
}
