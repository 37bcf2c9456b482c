/* The docker runtime: each PE is a container of its pipeline's image, made and watched
 * through the Docker Engine API (docker_api.h). Containers use the host's network, so
 * a PE listens on the worker's --host like a process PE and connectors reach it
 * directly (P2P). Labels (hio.worker, hio.pe, hio.pipeline) let a restarted worker
 * find what its earlier run left: those containers are removed and reported gone, so
 * the master requeues what they held (see docs/docker.md for why not adopted). */
#include "docker_api.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_util.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DK_ID_MAX 80   /* a container id is 64 hex chars */
#define DK_POLL_MS 200 /* at most this often is the container list read */
#define DK_TOKEN_PATH "/run/hio/token"
#define DK_PE_WORKDIR "/tmp/hio-pe"
#define DK_LOG_LINES 20 /* of a container that failed, copied into the worker's log */

struct ctr {
	struct ctr *next;
	char id[DK_ID_MAX + 1];
	char pe[HIO_ID_LEN + 1];
	long pid;
	int ended;    /* seen exited, waiting to be reported */
	int reported; /* handed out by poll, waiting for release */
	int clean;
	char why[128];
};

/* Ids of PEs an earlier run of this worker left, for gone notices. */
struct left {
	struct left *next;
	char pe[HIO_ID_LEN + 1];
};

struct rt_docker {
	struct runtime rt;
	struct rt_conf conf;
	dk *d;
	char listen[300];
	char filter[256]; /* ?filters= for this worker's containers, URL-encoded */
	struct ctr *ctrs;
	struct left *left;
	uint64_t next_list;
};

/* Returns a new reference to a JSON array: the image's CMD, which the daemon puts after
 * its ENTRYPOINT (hio-pe in images FROM hio-pe), or NULL with err. */
static json_t *image_cmd(struct rt_docker *r, const char *image, char *err, size_t errlen)
{
	char path[512], e[256];
	json_t *img = NULL, *cfg, *cmd = NULL, *v;
	char *esc = hio_http_escape(image);
	long st;
	size_t i;

	if (!esc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof(path), "/images/%s/json", esc);
	free(esc);
	st = dk_call(r->d, "GET", path, NULL, &img, e, sizeof(e));
	if (st == 404) {
		snprintf(err, errlen,
			 "image %s is not on this host (the worker does not pull; build it with "
			 "docker/build or docker load it)",
			 image);
		return NULL;
	}
	if (st != 200) {
		snprintf(err, errlen, "cannot inspect image %s: %s", image, e);
		goto out;
	}
	cfg = json_object_get(img, "Config");
	if (json_array_size(json_object_get(cfg, "Entrypoint")) == 0 &&
	    json_array_size(json_object_get(cfg, "Cmd")) == 0) {
		snprintf(err, errlen, "image %s has no ENTRYPOINT or CMD (make it FROM hio-pe)",
			 image);
		goto out;
	}
	cmd = json_array();
	json_array_foreach(json_object_get(cfg, "Cmd"), i, v)
	{
		if (!json_is_string(v)) {
			snprintf(err, errlen, "image %s: CMD is not a list of strings", image);
			json_decref(cmd);
			cmd = NULL;
			goto out;
		}
		json_array_append(cmd, v);
	}
out:
	json_decref(img);
	return cmd;
}

/* The container's body: the image's command plus what this PE must know. */
static json_t *create_body(struct rt_docker *r, const struct rt_spec *s, json_t *cmd)
{
	char tmo[32], env[HIO_TOKEN_MAX + 16];
	const char *tok = getenv("HIO_TOKEN");
	json_t *b, *hc, *envs = json_array(), *binds = json_array();
	const char *args[] = {"--master", r->conf.master, "--pipeline", s->pipeline,
			      "--id",	  s->pe_id,	  "--worker",	r->conf.worker_id,
			      "--listen", r->listen,	  "--workdir",	DK_PE_WORKDIR};

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		json_array_append_new(cmd, json_string(args[i]));
	if (s->timeout_ms > 0) {
		snprintf(tmo, sizeof(tmo), "%ld", s->timeout_ms);
		json_array_append_new(cmd, json_string("--timeout-ms"));
		json_array_append_new(cmd, json_string(tmo));
	}
	if (s->version > 0) {
		snprintf(tmo, sizeof(tmo), "%d", s->version);
		json_array_append_new(cmd, json_string("--pipeline-version"));
		json_array_append_new(cmd, json_string(tmo));
	}
	/* The pipeline's exec wins over the image's (getopt keeps the last). */
	if (s->exec && *s->exec) {
		json_array_append_new(cmd, json_string(s->serve ? "--serve" : "--exec"));
		json_array_append_new(cmd, json_string(s->exec));
	}
	/* A mounted file keeps the token out of docker inspect's Env. */
	if (s->token_file) {
		char bind[4200];

		json_array_append_new(cmd, json_string("--token-file"));
		json_array_append_new(cmd, json_string(DK_TOKEN_PATH));
		snprintf(bind, sizeof(bind), "%s:" DK_TOKEN_PATH ":ro", s->token_file);
		json_array_append_new(binds, json_string(bind));
	} else if (tok) {
		snprintf(env, sizeof(env), "HIO_TOKEN=%s", tok);
		json_array_append_new(envs, json_string(env));
	}
	/* The output cap and the analysis's user follow the worker's environment, as for
	 * a process PE. */
	if (getenv("HIO_MAX_OUTPUT") && strlen(getenv("HIO_MAX_OUTPUT")) < 32) {
		snprintf(env, sizeof(env), "HIO_MAX_OUTPUT=%s", getenv("HIO_MAX_OUTPUT"));
		json_array_append_new(envs, json_string(env));
	}
	if (getenv("HIO_RUN_AS") && strlen(getenv("HIO_RUN_AS")) < 64) {
		snprintf(env, sizeof(env), "HIO_RUN_AS=%s", getenv("HIO_RUN_AS"));
		json_array_append_new(envs, json_string(env));
	}
	/* Init: a PE's command may leave orphans; PID 1 must reap them. */
	hc = json_pack("{s:s, s:o, s:b}", "NetworkMode", "host", "Binds", binds, "Init", 1);
	b = json_pack("{s:s, s:O, s:o, s:{s:s, s:s, s:s}, s:o}", "Image", s->image, "Cmd", cmd,
		      "Env", envs, "Labels", "hio.worker", r->conf.worker_id, "hio.pe", s->pe_id,
		      "hio.pipeline", s->pipeline, "HostConfig", hc);
	return b;
}

static void ctr_remove(struct rt_docker *r, const char *id)
{
	char path[128], err[256];
	long st;

	snprintf(path, sizeof(path), "/containers/%s?force=1", id);
	st = dk_call(r->d, "DELETE", path, NULL, NULL, err, sizeof(err));
	if ((st < 200 || st >= 300) && st != 404)
		hio_warn("cannot remove container %.12s: %s; it stays (labelled hio.worker=%s)", id,
			 err, r->conf.worker_id);
}

static void *dk_start(struct runtime *rt, const struct rt_spec *s, char *err, size_t errlen)
{
	struct rt_docker *r = (struct rt_docker *)rt;
	json_t *cmd, *body = NULL, *res = NULL, *info = NULL;
	struct ctr *c = NULL;
	char path[256], e[256];
	const char *id;
	long st;

	if (!s->image || !*s->image) {
		snprintf(err, errlen, "pipeline %s has no image (the docker runtime needs one)",
			 s->pipeline);
		return NULL;
	}
	cmd = image_cmd(r, s->image, err, errlen);
	if (!cmd)
		return NULL;
	body = create_body(r, s, cmd);
	c = calloc(1, sizeof(*c));
	if (!body || !c) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(path, sizeof(path), "/containers/create?name=hio-pe-%s", s->pe_id);
	st = dk_call(r->d, "POST", path, body, &res, e, sizeof(e));
	id = json_string_value(json_object_get(res, "Id"));
	if (st != 201 || !id || strlen(id) > DK_ID_MAX ||
	    strspn(id, "0123456789abcdef") != strlen(id)) {
		snprintf(err, errlen, "cannot create a container of %s: %s", s->image,
			 st == 201 ? "no valid Id in the answer" : e);
		goto fail;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->pe, sizeof(c->pe), "%s", s->pe_id);
	snprintf(path, sizeof(path), "/containers/%s/start", c->id);
	st = dk_call(r->d, "POST", path, NULL, NULL, e, sizeof(e));
	if (st != 204 && st != 304) {
		snprintf(err, errlen, "cannot start container %.12s of %s: %s", c->id, s->image, e);
		ctr_remove(r, c->id);
		goto fail;
	}
	/* The host pid, for the heartbeat (0 if the daemon does not say). */
	snprintf(path, sizeof(path), "/containers/%s/json", c->id);
	if (dk_call(r->d, "GET", path, NULL, &info, e, sizeof(e)) == 200)
		c->pid = (long)json_integer_value(
		    json_object_get(json_object_get(info, "State"), "Pid"));
	json_decref(info);
	json_decref(body);
	json_decref(cmd);
	json_decref(res);
	c->next = r->ctrs;
	r->ctrs = c;
	hio_info("PE %s runs in container %.12s of image %s", s->pe_id, c->id, s->image);
	return c;
fail:
	json_decref(body);
	json_decref(cmd);
	json_decref(res);
	free(c);
	return NULL;
}

static void dk_stop(struct runtime *rt, void *h, int force)
{
	struct rt_docker *r = (struct rt_docker *)rt;
	struct ctr *c = h;
	char path[160], err[256];
	long st;

	if (c->ended)
		return;
	/* kill, not stop: stop blocks for its grace period; the worker keeps its own. */
	snprintf(path, sizeof(path), "/containers/%s/kill?signal=%s", c->id,
		 force ? "SIGKILL" : "SIGTERM");
	st = dk_call(r->d, "POST", path, NULL, NULL, err, sizeof(err));
	/* 409: not running any more; the next poll reports it. */
	if ((st < 200 || st >= 300) && st != 409)
		hio_warn("cannot signal container %.12s of PE %s: %s; %s", c->id, c->pe, err,
			 force ? "it may stay" : "killing it after the grace period");
}

/* Why a container ended, from its inspect answer. */
static void ctr_ended(struct rt_docker *r, struct ctr *c)
{
	char path[128], e[256];
	json_t *info = NULL;

	c->ended = 1;
	snprintf(path, sizeof(path), "/containers/%s/json", c->id);
	if (dk_call(r->d, "GET", path, NULL, &info, e, sizeof(e)) != 200) {
		snprintf(c->why, sizeof(c->why), "container gone (%.90s)", e);
		return;
	}
	c->clean = dk_exit_reason(json_object_get(info, "State"), c->why, sizeof(c->why));
	json_decref(info);
	if (!c->clean) {
		char *logs = dk_logs_tail(r->d, c->id, DK_LOG_LINES);

		if (logs && *logs)
			hio_warn("PE %s (container %.12s) %s; its last log lines:\n%s", c->pe,
				 c->id, c->why, logs);
		free(logs);
	}
}

/* A container with this worker's label that it did not start (in this run): left by
 * an earlier run, or created by the daemon after that run was killed -9 mid-create.
 * Removed, and its PE remembered for a gone notice. Adopting it instead would need
 * its in-flight state, which only the PE has. */
static void take_leftover(struct rt_docker *r, json_t *it)
{
	const char *id = json_string_value(json_object_get(it, "Id"));
	const char *pe =
	    json_string_value(json_object_get(json_object_get(it, "Labels"), "hio.pe"));
	struct left *l;

	if (!id || strlen(id) > DK_ID_MAX || strspn(id, "0123456789abcdef") != strlen(id))
		return;
	hio_warn("container %.12s (PE %s) was left by an earlier run of worker %s; removing it "
		 "and reporting the PE gone",
		 id, pe && hio_id_valid(pe) ? pe : "?", r->conf.worker_id);
	ctr_remove(r, id);
	if (!pe || !hio_id_valid(pe) || !(l = calloc(1, sizeof(*l))))
		return;
	snprintf(l->pe, sizeof(l->pe), "%s", pe);
	l->next = r->left;
	r->left = l;
}

/* Looks at this worker's containers: marks those of its PEs that ended and takes the
 * ones it does not know as leftovers. Every call is on the main thread, so a container
 * this run creates is known before the next look. -1 with err when the daemon does
 * not answer. */
static int look(struct rt_docker *r, char *err, size_t errlen)
{
	char path[400];
	json_t *list = NULL, *it;
	size_t i;

	r->next_list = hio_mono_ms() + DK_POLL_MS;
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s", r->filter);
	if (dk_call(r->d, "GET", path, NULL, &list, err, errlen) != 200 || !json_is_array(list)) {
		json_decref(list);
		return -1;
	}
	for (struct ctr *c = r->ctrs; c; c = c->next) {
		const char *state = NULL;
		int seen = 0;

		json_array_foreach(list, i, it)
		{
			const char *id = json_string_value(json_object_get(it, "Id"));

			if (id && strcmp(id, c->id) == 0) {
				seen = 1;
				state = json_string_value(json_object_get(it, "State"));
				break;
			}
		}
		if (!c->ended && (!seen || (state && (strcmp(state, "exited") == 0 ||
						      strcmp(state, "dead") == 0))))
			ctr_ended(r, c);
	}
	json_array_foreach(list, i, it)
	{
		const char *id = json_string_value(json_object_get(it, "Id"));
		struct ctr *c = r->ctrs;

		while (c && (!id || strcmp(c->id, id) != 0))
			c = c->next;
		if (!c)
			take_leftover(r, it);
	}
	json_decref(list);
	return 0;
}

static int dk_poll(struct runtime *rt, struct rt_exit *ex)
{
	struct rt_docker *r = (struct rt_docker *)rt;
	char err[256];

	if (hio_mono_ms() >= r->next_list && look(r, err, sizeof(err)) < 0)
		hio_warn("cannot list containers: %s; looking again shortly", err);
	for (struct ctr *c = r->ctrs; c; c = c->next)
		if (c->ended && !c->reported) {
			c->reported = 1;
			ex->h = c;
			ex->clean = c->clean;
			snprintf(ex->why, sizeof(ex->why), "%s", c->why);
			return 1;
		}
	return 0;
}

static long dk_pid(struct runtime *rt, void *h)
{
	(void)rt;
	return ((struct ctr *)h)->pid;
}

static void dk_release(struct runtime *rt, void *h)
{
	struct rt_docker *r = (struct rt_docker *)rt;

	for (struct ctr **pp = &r->ctrs; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			struct ctr *c = h;

			*pp = c->next;
			ctr_remove(r, c->id);
			free(c);
			return;
		}
}

static int dk_leftover(struct runtime *rt, char *pe, size_t len)
{
	struct rt_docker *r = (struct rt_docker *)rt;
	struct left *l = r->left;

	if (!l)
		return 0;
	r->left = l->next;
	snprintf(pe, len, "%s", l->pe);
	free(l);
	return 1;
}

static void dk_rt_free(struct runtime *rt)
{
	struct rt_docker *r = (struct rt_docker *)rt;

	while (r->ctrs) {
		struct ctr *c = r->ctrs;

		r->ctrs = c->next;
		free(c);
	}
	while (r->left) {
		struct left *l = r->left;

		r->left = l->next;
		free(l);
	}
	dk_free(r->d);
	free(r);
}

struct runtime *rt_docker_new(const struct rt_conf *conf, const char *sock, char *err,
			      size_t errlen)
{
	struct rt_docker *r = calloc(1, sizeof(*r));
	char filter[128], e[256], *esc;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->conf = *conf;
	snprintf(r->listen, sizeof(r->listen), strchr(conf->host, ':') ? "[%s]:0" : "%s:0",
		 conf->host);
	snprintf(filter, sizeof(filter), "{\"label\":[\"hio.worker=%s\"]}", conf->worker_id);
	esc = hio_http_escape(filter);
	r->d = esc ? dk_new(sock, err, errlen) : NULL;
	if (!r->d) {
		if (!esc)
			snprintf(err, errlen, "out of memory");
		free(esc);
		free(r);
		return NULL;
	}
	snprintf(r->filter, sizeof(r->filter), "%s", esc);
	free(esc);
	r->rt = (struct runtime){.name = "docker",
				 .start = dk_start,
				 .stop = dk_stop,
				 .poll = dk_poll,
				 .pid = dk_pid,
				 .release = dk_release,
				 .leftover = dk_leftover,
				 .free = dk_rt_free};
	/* What an earlier run left is removed now, before any new PE starts. */
	if (look(r, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "cannot talk to the docker daemon: %s", e);
		dk_rt_free(&r->rt);
		return NULL;
	}
	hio_info("docker runtime: PEs are containers on %s, host network", sock);
	return &r->rt;
}
