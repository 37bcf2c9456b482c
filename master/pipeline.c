/* pipeline.c: pipeline configuration (POST /v1/pipelines/{p}), its persistence in
 * DIR/pipelines.json, and the desired PE count that reconcile aims at. */
#include "master.h"

#include "hio_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPELINES_FILE_MAX (16u * 1024 * 1024)

/* A configuration as sent: each field with whether it was present. NULL exec/image with
 * has_* set means "clear it". */
struct pconf {
	const char *exec, *image;
	int has_exec, has_image;
	long long timeout_ms, pes, min_pes, max_pes;
	int has_timeout, has_pes, has_min, has_max;
	int autoscale, has_autoscale;
	int serve, has_serve;
	long long idle_ms, up_cooldown_ms, down_cooldown_ms;
	int has_idle, has_up_cd, has_down_cd;
};

static int parse_conf(json_t *o, struct pconf *c, char *err, size_t errlen)
{
	long long t2 = 0;
	int has_t2 = 0;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}
	c->has_exec = json_object_get(o, "exec") != NULL;
	c->has_image = json_object_get(o, "image") != NULL;
	if (jget_str(o, "exec", 0, MASTER_EXEC_MAX, &c->exec, err, errlen) < 0 ||
	    jget_str(o, "image", 0, MASTER_IMAGE_MAX, &c->image, err, errlen) < 0 ||
	    jget_int(o, "timeout_ms", 0, 0, MASTER_TIMEOUT_MAX_MS, &c->timeout_ms, &c->has_timeout,
		     err, errlen) < 0 ||
	    jget_int(o, "timeout", 0, 0, MASTER_TIMEOUT_MAX_MS, &t2, &has_t2, err, errlen) < 0 ||
	    jget_int(o, "pes", 0, 0, MASTER_PES_MAX, &c->pes, &c->has_pes, err, errlen) < 0 ||
	    jget_int(o, "min_pes", 0, 0, MASTER_PES_MAX, &c->min_pes, &c->has_min, err, errlen) <
		0 ||
	    jget_int(o, "max_pes", 0, 0, MASTER_PES_MAX, &c->max_pes, &c->has_max, err, errlen) <
		0 ||
	    jget_bool(o, "autoscale", 0, &c->autoscale, &c->has_autoscale, err, errlen) < 0 ||
	    jget_bool(o, "serve", 0, &c->serve, &c->has_serve, err, errlen) < 0 ||
	    jget_int(o, "idle_ms", 0, 0, MASTER_TIMEOUT_MAX_MS, &c->idle_ms, &c->has_idle, err,
		     errlen) < 0 ||
	    jget_int(o, "up_cooldown_ms", 0, 0, MASTER_TIMEOUT_MAX_MS, &c->up_cooldown_ms,
		     &c->has_up_cd, err, errlen) < 0 ||
	    jget_int(o, "down_cooldown_ms", 0, 0, MASTER_TIMEOUT_MAX_MS, &c->down_cooldown_ms,
		     &c->has_down_cd, err, errlen) < 0)
		return -1;
	/* protocol.md spells it "timeout"; the milliseconds name wins when both come. */
	if (has_t2 && !c->has_timeout) {
		c->timeout_ms = t2;
		c->has_timeout = 1;
	}
	if (c->image && !text_valid(c->image, MASTER_IMAGE_MAX)) {
		snprintf(err, errlen, "field 'image' must be printable, no spaces");
		return -1;
	}
	return 0;
}

struct saved {
	char *exec, *image;
	long long timeout_ms, idle_ms, up_cooldown_ms, down_cooldown_ms;
	int pes, min_pes, max_pes, configured, autoscale, serve, version;
	struct as_state as;
};

/* The count and the autoscaler's switch. "pes" sets the count now (the autoscaler goes
 * on from it); turning the autoscaler off freezes the count it reached; turning it on
 * starts it from the count set by hand. */
static void apply_count(struct pipeline *pl, const struct pconf *c, int pes)
{
	int on = c->has_autoscale ? c->autoscale : pl->autoscale;

	if (!c->has_pes && pl->autoscale && !on && pl->pes >= 0 && pl->as.desired >= 0)
		pes = pl->as.desired;
	if (c->has_pes || on != pl->autoscale) {
		pl->as.desired = pes;
		pl->as.last_change_ms = hio_mono_ms();
	}
	pl->pes = pes;
	pl->autoscale = on;
}

/* Applies c to pl after checking the combined bounds. 0, or -1 with err (pl unchanged). */
static int apply_conf(struct pipeline *pl, const struct pconf *c, char *err, size_t errlen)
{
	long long pes = c->has_pes ? c->pes : pl->pes;
	long long lo = c->has_min ? c->min_pes : pl->min_pes;
	long long hi = c->has_max ? c->max_pes : pl->max_pes;
	char *exec = NULL, *image = NULL;
	int changed;

	if (hi > 0 && lo > hi) {
		snprintf(err, errlen, "min_pes %lld is above max_pes %lld", lo, hi);
		return -1;
	}
	if (pes >= 0 && (pes < lo || (hi > 0 && pes > hi))) {
		snprintf(err, errlen, "pes %lld is outside min_pes..max_pes (%lld..%lld)", pes, lo,
			 hi);
		return -1;
	}
	if ((c->exec && !(exec = strdup(c->exec))) || (c->image && !(image = strdup(c->image)))) {
		free(exec);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	changed = !pl->configured ||
		  (c->has_exec &&
		   !((!exec && !pl->exec) || (exec && pl->exec && strcmp(exec, pl->exec) == 0))) ||
		  (c->has_image && !((!image && !pl->image) ||
				     (image && pl->image && strcmp(image, pl->image) == 0))) ||
		  (c->has_serve && c->serve != pl->serve) ||
		  (c->has_timeout && c->timeout_ms != pl->timeout_ms);
	if (changed)
		pl->version++;
	if (c->has_exec) {
		free(pl->exec);
		pl->exec = exec;
	}
	if (c->has_image) {
		free(pl->image);
		pl->image = image;
	}
	if (c->has_serve)
		pl->serve = c->serve;
	if (c->has_timeout)
		pl->timeout_ms = c->timeout_ms;
	if (c->has_idle)
		pl->idle_ms = c->idle_ms;
	if (c->has_up_cd)
		pl->up_cooldown_ms = c->up_cooldown_ms;
	if (c->has_down_cd)
		pl->down_cooldown_ms = c->down_cooldown_ms;
	apply_count(pl, c, (int)pes);
	pl->min_pes = (int)lo;
	pl->max_pes = (int)hi;
	pl->configured = 1;
	return 0;
}

static json_t *conf_json(const struct pipeline *pl)
{
	json_t *o = json_pack(
	    "{s:s,s:i,s:s?,s:b,s:s?,s:I,s:i,s:i,s:i,s:b,s:I,s:I,s:I}", "name", pl->name, "version",
	    pl->version, "exec", pl->exec, "serve", pl->serve, "image", pl->image, "timeout_ms",
	    (json_int_t)pl->timeout_ms, "pes", pl->pes, "min_pes", pl->min_pes, "max_pes",
	    pl->max_pes, "autoscale", pl->autoscale, "idle_ms", (json_int_t)pl->idle_ms,
	    "up_cooldown_ms", (json_int_t)pl->up_cooldown_ms, "down_cooldown_ms",
	    (json_int_t)pl->down_cooldown_ms);

	/* Unmanaged (-1) is saved as an absent "pes", which parse_conf reads back. */
	if (o && pl->pes < 0)
		json_object_del(o, "pes");
	return o;
}

/* Caller holds m->persist_lock (not m->lock), so files land in the order of changes. */
static int save_locked(struct master *m)
{
	char path[PATH_MAX];
	struct list *pos, *tmp;
	json_t *arr = json_array(), *root = NULL;
	char *text = NULL;
	int rc = -1;

	HIO_ASSERT_HELD(&m->persist_lock);
	if (!arr)
		goto out;
	pthread_mutex_lock(&m->lock);
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		if (pl->configured && json_array_append_new(arr, conf_json(pl)) < 0) {
			pthread_mutex_unlock(&m->lock);
			goto out;
		}
	}
	pthread_mutex_unlock(&m->lock);
	root = json_pack("{s:O}", "pipelines", arr);
	text = root ? json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	if (!text || path_fmt(path, sizeof(path), "%s/pipelines.json", m->dir) < 0)
		goto out;
	rc = hio_file_write_atomic(path, text, strlen(text), m->fsync);
	if (rc < 0)
		hio_err("cannot write %s: %s; the pipeline change is not saved", path,
			strerror(errno));
out:
	free(text);
	json_decref(root);
	json_decref(arr);
	return rc;
}

int pipelines_save(struct master *m)
{
	int rc;

	pthread_mutex_lock(&m->persist_lock);
	rc = save_locked(m);
	pthread_mutex_unlock(&m->persist_lock);
	return rc;
}

void api_pipeline_post(struct master *m, const char *name, json_t *body, struct reply *out)
{
	struct pipeline *pl;
	struct pconf c;
	struct saved old;
	json_t *ans;
	char err[200];
	int from, existed;

	if (parse_conf(body, &c, err, sizeof(err)) < 0) {
		reply_err(out, 400, "%s", err);
		return;
	}

	pthread_mutex_lock(&m->persist_lock);
	pthread_mutex_lock(&m->lock);
	existed = pipeline_find(m, name) != NULL;
	pl = pipeline_get(m, name);
	if (!pl) {
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->persist_lock);
		reply_err(out, 503, "no room for another pipeline");
		return;
	}
	old = (struct saved){.exec = pl->exec ? strdup(pl->exec) : NULL,
			     .image = pl->image ? strdup(pl->image) : NULL,
			     .timeout_ms = pl->timeout_ms,
			     .idle_ms = pl->idle_ms,
			     .up_cooldown_ms = pl->up_cooldown_ms,
			     .down_cooldown_ms = pl->down_cooldown_ms,
			     .pes = pl->pes,
			     .min_pes = pl->min_pes,
			     .max_pes = pl->max_pes,
			     .configured = pl->configured,
			     .autoscale = pl->autoscale,
			     .serve = pl->serve,
			     .version = pl->version,
			     .as = pl->as};
	from = pipeline_desired(m, pl);
	if ((pl->exec && !old.exec) || (pl->image && !old.image) ||
	    apply_conf(pl, &c, err, sizeof(err)) < 0) {
		if (!existed)
			pipeline_drop_new(m, pl);
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->persist_lock);
		free(old.exec);
		free(old.image);
		reply_err(out, 400, "%s", err[0] ? err : "out of memory");
		return;
	}
	pthread_mutex_unlock(&m->lock);

	if (save_locked(m) < 0) {
		/* Undo, so memory never promises what a restart would forget. */
		pthread_mutex_lock(&m->lock);
		free(pl->exec);
		free(pl->image);
		pl->exec = old.exec;
		pl->image = old.image;
		pl->timeout_ms = old.timeout_ms;
		pl->pes = old.pes;
		pl->min_pes = old.min_pes;
		pl->max_pes = old.max_pes;
		pl->configured = old.configured;
		pl->autoscale = old.autoscale;
		pl->serve = old.serve;
		pl->version = old.version;
		pl->idle_ms = old.idle_ms;
		pl->up_cooldown_ms = old.up_cooldown_ms;
		pl->down_cooldown_ms = old.down_cooldown_ms;
		pl->as = old.as;
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&m->persist_lock);
		reply_err(out, 500, "cannot save pipelines.json: %s", strerror(errno));
		return;
	}
	free(old.exec);
	free(old.image);
	pthread_mutex_lock(&m->lock);
	ans = conf_json(pl);
	hio_info("pipeline %s configured: version %d, pes %d (min %d, max %d, autoscale %s), %s %s",
		 pl->name, pl->version, pl->pes, pl->min_pes, pl->max_pes,
		 pl->autoscale ? "on" : "off", pl->serve ? "serve" : "exec",
		 pl->exec ? pl->exec : "(none)");
	if (pl->version != old.version && old.configured) {
		hio_info("pipeline %s: the analysis changed (version %d -> %d); its PEs roll",
			 pl->name, old.version, pl->version);
		/* Before the answer: no allocation or backlog lease made after it meets an
		 * old PE (stopping PEs get none). */
		reconcile_roll(m, pl, hio_mono_ms());
	}
	if (c.has_pes || pl->autoscale != old.autoscale)
		scale_manual(m, pl, from,
			     pl->autoscale ? "set by hand; the autoscaler goes on from here"
					   : "set by hand; the autoscaler is off");
	reconcile_kick(m);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->persist_lock);
	reply_ok(out, 200, ans);
}

int pipeline_desired(struct master *m, struct pipeline *pl)
{
	HIO_ASSERT_HELD(&m->lock);
	(void)m;
	if (pl->pes >= 0)
		return pl->autoscale && pl->as.desired >= 0 ? pl->as.desired : pl->pes;
	/* Bounds alone still promise a floor. */
	return pl->min_pes > 0 ? pl->min_pes : -1;
}

int pipelines_load(struct master *m)
{
	char path[PATH_MAX], err[200];
	json_t *root = NULL, *arr, *it;
	json_error_t jerr;
	size_t len, i;
	char *text;
	int rc = -1;

	if (path_fmt(path, sizeof(path), "%s/pipelines.json", m->dir) < 0)
		return -1;
	text = hio_file_read(path, PIPELINES_FILE_MAX, &len);
	if (!text) {
		if (errno == ENOENT)
			return 0;
		hio_err("cannot read %s: %s; not starting", path, strerror(errno));
		return -1;
	}
	root = json_loadb(text, len, 0, &jerr);
	arr = json_object_get(root, "pipelines");
	if (!json_is_array(arr)) {
		hio_err("%s is not a {\"pipelines\":[...]} document (%s); fix or remove it", path,
			root ? "no array" : jerr.text);
		goto out;
	}
	json_array_foreach(arr, i, it)
	{
		const char *name = json_string_value(json_object_get(it, "name"));
		struct pipeline *pl;
		struct pconf c;
		int bad;

		if (!name || !hio_pipeline_valid(name)) {
			hio_err("%s: entry %zu has no valid name; fix or remove the file", path, i);
			goto out;
		}
		/* Start-up is single-threaded; the lock is for pipeline_get's check. */
		pthread_mutex_lock(&m->lock);
		bad = parse_conf(it, &c, err, sizeof(err)) < 0 || !(pl = pipeline_get(m, name)) ||
		      apply_conf(pl, &c, err, sizeof(err)) < 0;
		/* The version goes on from the saved one (files from before it have none). */
		json_t *jv = json_object_get(it, "version");
		if (!bad && json_is_integer(jv) && json_integer_value(jv) > 0 &&
		    json_integer_value(jv) < INT32_MAX)
			pl->version = (int)json_integer_value(jv);
		pthread_mutex_unlock(&m->lock);
		if (bad) {
			hio_err("%s: pipeline %s: %s; fix or remove the file", path, name, err);
			goto out;
		}
	}
	hio_info("loaded %zu pipeline configurations from %s", json_array_size(arr), path);
	rc = 0;
out:
	json_decref(root);
	free(text);
	return rc;
}
