/* hio-worker's link to the master: registration, heartbeats and command polling, each
 * on its own thread with its own HTTP handle. A master outage is logged once, retried
 * with backoff, and the PEs keep running meanwhile. */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_sync.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int wk_sleep(struct wk *w, long ms)
{
	uint64_t deadline = hio_mono_ms() + (uint64_t)ms;
	int stopping;

	pthread_mutex_lock(&w->mu);
	while (!w->stopping && hio_cond_wait_until(&w->cv, &w->mu, deadline) != ETIMEDOUT)
		;
	stopping = w->stopping;
	pthread_mutex_unlock(&w->mu);
	return stopping;
}

static long backoff_next(long b)
{
	b = b ? b * 2 : 250;
	return b > WK_BACKOFF_MAX_MS ? WK_BACKOFF_MAX_MS : b;
}

/* ---- heartbeat thread ---- */

static json_t *pes_json(struct wk *w)
{
	json_t *a = json_array();

	pthread_mutex_lock(&w->mu);
	for (int i = 0; a && i < w->npes; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "id", w->pes[i].id,
						   "pipeline", w->pes[i].pipeline, "state",
						   w->pes[i].stopping ? "stopping" : "running",
						   "pid", (json_int_t)w->pes[i].pid));
	pthread_mutex_unlock(&w->mu);
	return a;
}

static long wk_register(struct wk *w, hio_http *h, char *err, size_t errlen)
{
	char path[128];
	/* With the PEs it runs: a master that gave them up during a partition counts them
	 * again instead of starting others. */
	json_t *b = json_pack("{s:s, s:s, s:i, s:s, s:o}", "name", w->name, "host", w->host,
			      "max_pes", w->max_pes, "runtime", w->rt->name, "pes", pes_json(w));
	long st;

	snprintf(path, sizeof(path), "/v1/workers/%s", w->id);
	st = b ? hio_http_json(h, "PUT", path, b, NULL, err, errlen) : -1;
	json_decref(b);
	return st;
}

void *wk_hb_main(void *arg)
{
	struct wk *w = arg;
	hio_http *h = hio_http_new(w->master, w->token);
	int down = 0;
	long backoff = 0;
	char path[128], err[256];

	if (!h) {
		hio_err("cannot make an HTTP client for heartbeats; the worker stays unregistered");
		return NULL;
	}
	/* Well inside the 3 s lease: a heartbeat stuck behind a dead connection fails
	 * and the next one reconnects, instead of waiting out a 30 s request. */
	hio_http_set_timeouts(h, 1000, 2000);
	snprintf(path, sizeof(path), "/v1/workers/%s/heartbeat", w->id);
	for (;;) {
		int registered;
		long st;

		pthread_mutex_lock(&w->mu);
		registered = w->registered;
		pthread_mutex_unlock(&w->mu);
		if (!registered) {
			st = wk_register(w, h, err, sizeof(err));
			if (st >= 200 && st < 300) {
				hio_info("registered as worker %s (%s, %s, up to %d PEs) with %s",
					 w->id, w->name, w->host, w->max_pes, w->master);
				pthread_mutex_lock(&w->mu);
				w->registered = 1;
				pthread_cond_broadcast(&w->cv);
				pthread_mutex_unlock(&w->mu);
				down = 0;
				backoff = 0;
				continue;
			}
			if (!down)
				hio_warn("registering with the master failed: %s; retrying with "
					 "backoff",
					 err);
			down = 1;
			backoff = backoff_next(backoff);
			if (wk_sleep(w, backoff))
				break;
			continue;
		}
		json_t *b = json_object();

		json_object_set_new(b, "pes", pes_json(w));
		st = hio_http_json(h, "POST", path, b, NULL, err, sizeof(err));
		json_decref(b);
		if (st == 404) {
			hio_warn("master does not know worker %s (restarted?); registering again",
				 w->id);
			pthread_mutex_lock(&w->mu);
			w->registered = 0;
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		if (st < 200 || st >= 300) {
			if (!down)
				hio_warn("heartbeat to the master failed: %s; PEs keep running, "
					 "retrying",
					 err);
			down = 1;
		} else if (down) {
			hio_info("heartbeats to the master work again");
			down = 0;
		}
		if (wk_sleep(w, WK_HB_MS))
			break;
	}
	hio_http_free(h);
	return NULL;
}

void wk_tell_stopping(struct wk *w)
{
	hio_http *h = hio_http_new(w->master, w->token);
	json_t *b = json_pack("{s:b}", "stopping", 1);
	char path[128], err[256];

	snprintf(path, sizeof(path), "/v1/workers/%s/heartbeat", w->id);
	if (h)
		hio_http_set_timeouts(h, 1000, 2000);
	if (!h || !b || hio_http_json(h, "POST", path, b, NULL, err, sizeof(err)) != 200)
		hio_info("cannot tell the master worker %s is stopping (%s); it may send starts "
			 "that are refused",
			 w->id, h && b ? err : "out of memory");
	json_decref(b);
	hio_http_free(h);
}

/* ---- command thread ---- */

void *wk_cmd_main(void *arg)
{
	struct wk *w = arg;
	hio_http *h = hio_http_new(w->master, w->token);
	int down = 0;
	long backoff = 0;
	uint64_t ack = 0;
	char path[192];

	if (!h) {
		hio_err("cannot make an HTTP client for commands; no PE will be started");
		return NULL;
	}
	for (;;) {
		struct hio_http_req req = {
		    .method = "GET", .path = path, .timeout_ms = WK_POLL_WAIT_MS + 5000};
		struct hio_http_resp resp;
		json_t *ans = NULL, *cmds, *c;
		int rc, stopping;
		size_t i;

		pthread_mutex_lock(&w->mu);
		while (!w->stopping && !w->registered)
			hio_cond_wait_ms(&w->cv, &w->mu, -1);
		stopping = w->stopping;
		pthread_mutex_unlock(&w->mu);
		if (stopping)
			break;
		/* ack: the highest command seq taken so far, so the master drops those
		 * and answers again any it sent into a connection that then failed. */
		snprintf(path, sizeof(path), "/v1/workers/%s/commands?wait=%d&ack=%llu", w->id,
			 WK_POLL_WAIT_MS, (unsigned long long)ack);
		rc = hio_http_do(h, &req, &resp);
		if (rc == 0 && resp.status == 200)
			ans = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0,
					 NULL);
		cmds = json_object_get(ans, "commands");
		if (rc == 0 && resp.status == 404) {
			hio_warn("master does not know worker %s while polling; registering again",
				 w->id);
			pthread_mutex_lock(&w->mu);
			w->registered = 0;
			pthread_cond_broadcast(&w->cv);
			pthread_mutex_unlock(&w->mu);
		} else if (!json_is_array(cmds)) {
			if (!down)
				hio_warn(
				    "polling the master for commands failed: %s; retrying with "
				    "backoff",
				    rc < 0		 ? resp.err
				    : resp.status == 200 ? "answer has no commands array"
							 : "unexpected HTTP status");
			down = 1;
			backoff = backoff_next(backoff);
		} else {
			if (down)
				hio_info("command polling works again");
			down = 0;
			backoff = 0;
			json_array_foreach(cmds, i, c)
			{
				json_int_t seq = json_integer_value(json_object_get(c, "seq"));

				if (seq > 0 && (uint64_t)seq > ack)
					ack = (uint64_t)seq;
			}
			if (json_array_size(cmds)) {
				uint64_t one = 1;

				pthread_mutex_lock(&w->mu);
				json_array_extend(w->cmdq, cmds);
				pthread_mutex_unlock(&w->mu);
				if (write(w->evfd, &one, sizeof(one)) < 0)
					hio_warn("cannot wake the main thread: %s",
						 strerror(errno));
			}
		}
		json_decref(ans);
		hio_buf_free(&resp.body);
		if (backoff && wk_sleep(w, backoff))
			break;
	}
	hio_http_free(h);
	return NULL;
}
