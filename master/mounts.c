/* mounts.c: POST /v1/mounts/{id}. Each hio-fs reports its spool every few seconds, so
 * `hio status` shows files waiting at the edge (and deliveries that keep failing),
 * not only what reached the master. Kept in memory: a report is fresh state. */
#include "master.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mount_rep {
	char id[HIO_ID_LEN + 1];
	char host[256], mountpoint[1024], pipeline[HIO_PIPELINE_MAX + 1], last_error[256];
	long long spooled, waiting, spool_bytes, spool_max, failing;
	uint64_t seen_ms;
};

/* A mount leaves by DELETE when it stops cleanly with nothing pending. One that went
 * silent (killed, cut off) stays, shown "silent", for MOUNT_SILENT_TTL_MS: it may hold
 * accepted files the master never heard of, and `hio wait` must not forget them; a
 * remount of the same spool reports under the same id. Needs m->lock. */
static void mounts_expire(struct master *m)
{
	HIO_ASSERT_HELD(&m->lock);
	uint64_t now = hio_mono_ms();

	for (size_t i = 0; i < m->n_mounts;) {
		if (now - m->mounts[i].seen_ms > MOUNT_SILENT_TTL_MS)
			m->mounts[i] = m->mounts[--m->n_mounts];
		else
			i++;
	}
}

void api_mount_report(struct master *m, const char *id, json_t *body, struct reply *out)
{
	const char *host, *mp, *pl, *le = NULL;
	long long spooled, waiting = 0, bytes, max, failing;
	struct mount_rep *r = NULL;
	int have_waiting = 0;
	char err[160];

	if (jget_str(body, "host", JF_REQUIRED, 255, &host, err, sizeof(err)) < 0 ||
	    jget_str(body, "mountpoint", JF_REQUIRED, 1023, &mp, err, sizeof(err)) < 0 ||
	    jget_str(body, "pipeline", JF_REQUIRED, HIO_PIPELINE_MAX, &pl, err, sizeof(err)) < 0 ||
	    jget_str(body, "last_error", JF_NULLABLE, 255, &le, err, sizeof(err)) < 0 ||
	    jget_int(body, "spooled", JF_REQUIRED, 0, INT64_MAX, &spooled, NULL, err, sizeof(err)) <
		0 ||
	    jget_int(body, "spool_bytes", JF_REQUIRED, 0, INT64_MAX, &bytes, NULL, err,
		     sizeof(err)) < 0 ||
	    jget_int(body, "spool_max", JF_REQUIRED, 0, INT64_MAX, &max, NULL, err, sizeof(err)) <
		0 ||
	    jget_int(body, "failing", JF_REQUIRED, 0, INT64_MAX, &failing, NULL, err, sizeof(err)) <
		0 ||
	    jget_int(body, "waiting", 0, 0, INT64_MAX, &waiting, &have_waiting, err, sizeof(err)) <
		0) {
		reply_err(out, 400, "%s", err);
		return;
	}
	if (!hio_pipeline_valid(pl)) {
		reply_err(out, 400, "field 'pipeline' is not a valid pipeline name");
		return;
	}
	/* A mount that does not say (an older one) is taken to hold back all it spools. */
	if (!have_waiting)
		waiting = spooled;
	if (waiting > spooled) {
		reply_err(out, 400, "field 'waiting' (%lld) is more than 'spooled' (%lld)", waiting,
			  spooled);
		return;
	}

	pthread_mutex_lock(&m->lock);
	mounts_expire(m);
	for (size_t i = 0; i < m->n_mounts && !r; i++)
		if (!strcmp(m->mounts[i].id, id))
			r = &m->mounts[i];
	if (!r && m->n_mounts < MOUNTS_MAX) {
		if (!m->mounts)
			m->mounts = calloc(MOUNTS_MAX, sizeof(*m->mounts));
		if (m->mounts)
			r = &m->mounts[m->n_mounts++];
	}
	if (!r) {
		pthread_mutex_unlock(&m->lock);
		reply_err(out, 503, "too many mounts report (at most %d)", MOUNTS_MAX);
		return;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(r->mountpoint, sizeof(r->mountpoint), "%s", mp);
	snprintf(r->pipeline, sizeof(r->pipeline), "%s", pl);
	snprintf(r->last_error, sizeof(r->last_error), "%s", le ? le : "");
	r->spooled = spooled;
	r->waiting = waiting;
	r->spool_bytes = bytes;
	r->spool_max = max;
	r->failing = failing;
	r->seen_ms = hio_mono_ms();
	pthread_mutex_unlock(&m->lock);
	reply_ok(out, 200, json_object());
}

long mounts_waiting(struct master *m, const char *pipeline)
{
	HIO_ASSERT_HELD(&m->lock);
	uint64_t now = hio_mono_ms();
	long long n = 0;

	/* A silent mount's files flow nowhere: no PE would get them sooner. */
	for (size_t i = 0; i < m->n_mounts; i++)
		if (now - m->mounts[i].seen_ms <= MOUNT_SILENT_MS &&
		    !strcmp(m->mounts[i].pipeline, pipeline))
			n += m->mounts[i].waiting;
	return n > LONG_MAX ? LONG_MAX : (long)n;
}

void api_mount_delete(struct master *m, const char *id, struct reply *out)
{
	int found = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_mounts; i++)
		if (!strcmp(m->mounts[i].id, id)) {
			m->mounts[i] = m->mounts[--m->n_mounts];
			found = 1;
			break;
		}
	pthread_mutex_unlock(&m->lock);
	if (!found) {
		reply_err(out, 404, "no mount %s reports here", id);
		return;
	}
	reply_ok(out, 200, json_object());
}

json_t *mounts_json(struct master *m)
{
	HIO_ASSERT_HELD(&m->lock);
	json_t *arr = json_array();
	uint64_t now = hio_mono_ms();

	mounts_expire(m);
	for (size_t i = 0; arr && i < m->n_mounts; i++) {
		const struct mount_rep *r = &m->mounts[i];
		json_t *o = json_pack(
		    "{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s?,s:I,s:b}", "id", r->id, "host",
		    r->host, "mountpoint", r->mountpoint, "pipeline", r->pipeline, "spooled",
		    (json_int_t)r->spooled, "waiting", (json_int_t)r->waiting, "spool_bytes",
		    (json_int_t)r->spool_bytes, "spool_max", (json_int_t)r->spool_max, "failing",
		    (json_int_t)r->failing, "last_error", r->last_error[0] ? r->last_error : NULL,
		    "age_ms", (json_int_t)(now - r->seen_ms), "silent",
		    now - r->seen_ms > MOUNT_SILENT_MS);

		if (json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

void mounts_free(struct master *m)
{
	free(m->mounts);
	m->mounts = NULL;
	m->n_mounts = 0;
}
