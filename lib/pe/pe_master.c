/* pe_master.c: the PE's side of the master's REST API: registration, heartbeats and
 * leaving, with outages logged once rather than per try. */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_pe.h"
#include "hio_sync.h"
#include "hio_util.h"
#include "pe_internal.h"
#include "pe_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PE_HB_MIN_GAP_MS 50 /* state-change heartbeats at most this often */

/* ---- master client: outages are logged once, not per try ---- */

void pe_outage_fail(struct pe_outage *o, const char *what, const char *err)
{
	if (!o->down)
		hio_warn("%s failed: %s; retrying with backoff, working on meanwhile", what, err);
	o->down = 1;
}

void pe_outage_ok(struct pe_outage *o, const char *what)
{
	if (o->down)
		hio_info("%s works again", what);
	o->down = 0;
}

static long pe_register(struct pe *pe, hio_http *h, char *err, size_t errlen)
{
	char path[256];
	json_t *b = json_pack("{s:s, s:s, s:i}", "pipeline", pe->pipeline, "host", pe->adv_host,
			      "port", pe->port);
	long st;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (pe->worker)
		json_object_set_new(b, "worker", json_string(pe->worker));
	if (pe->version)
		json_object_set_new(b, "version", json_integer(pe->version));
	if (pe->ufd >= 0)
		json_object_set_new(b, "local_uid", json_integer((json_int_t)geteuid()));
	snprintf(path, sizeof(path), "/v1/pes/%s/register", pe->id);
	st = hio_http_json(h, "POST", path, b, NULL, err, errlen);
	json_decref(b);
	return st;
}

void *pe_heartbeat_main(void *arg)
{
	struct pe *pe = arg;
	hio_http *h = hio_http_new(pe->master, pe->token);
	struct pe_outage out = {0};
	uint64_t next_hb = 0, last_hb = 0;
	int sent_busy = -1, sent_session = -1;
	long backoff = 0;
	char path[256], err[256];

	if (!h) {
		hio_err("cannot make an HTTP client for heartbeats; the PE stays unregistered");
		return NULL;
	}
	/* Well inside the 3 s lease: a heartbeat stuck behind a dead connection fails
	 * and the next one reconnects, instead of waiting out a 30 s request. */
	hio_http_set_timeouts(h, 1000, 2000);
	snprintf(path, sizeof(path), "/v1/pes/%s/heartbeat", pe->id);
	for (;;) {
		int registered, busy, session;
		uint64_t done, failed, now = hio_mono_ms();
		json_t *b;
		long st, wait;

		pthread_mutex_lock(&pe->mu);
		registered = pe->registered;
		busy = pe->running || pe->fn > 0;
		session = pe->sess != NULL;
		/* A kick only matters when what the master allocates by changed. */
		if (pe->hb_kick && registered && busy == sent_busy && session == sent_session)
			pe->hb_kick = 0;
		if (!registered)
			wait = backoff;
		else if (pe->hb_kick && now >= last_hb + PE_HB_MIN_GAP_MS)
			wait = 0;
		else if (pe->hb_kick)
			wait = (long)(last_hb + PE_HB_MIN_GAP_MS - now);
		else
			wait = next_hb > now ? (long)(next_hb - now) : 0;
		if (wait > 0 && !pe->stopping) {
			hio_cond_wait_ms(&pe->cv_hb, &pe->mu, wait);
			pthread_mutex_unlock(&pe->mu);
			continue;
		}
		if (pe->stopping) {
			pthread_mutex_unlock(&pe->mu);
			break;
		}
		pe->hb_kick = 0;
		done = pe->n_done;
		failed = pe->n_failed;
		pthread_mutex_unlock(&pe->mu);

		if (!registered) {
			st = pe_register(pe, h, err, sizeof(err));
			if (st >= 200 && st < 300) {
				pe_outage_ok(&out, "registering with the master");
				hio_info("registered as PE %s of pipeline %s at %s:%d with %s",
					 pe->id, pe->pipeline, pe->adv_host, pe->port, pe->master);
				pthread_mutex_lock(&pe->mu);
				pe->registered = 1;
				pe->hb_kick = 1;
				pthread_cond_broadcast(&pe->cv_idle);
				pthread_mutex_unlock(&pe->mu);
				backoff = 0;
				/* Registering made us idle at the master: report the truth now. */
				sent_busy = sent_session = -1;
			} else {
				pe_outage_fail(&out, "registering with the master", err);
				backoff = pe_backoff_next(backoff, PE_BACKOFF_MAX_MS);
			}
			continue;
		}
		b = json_pack("{s:s, s:b, s:I, s:I}", "state", busy ? "busy" : "idle", "session",
			      session, "done", (json_int_t)done, "failed", (json_int_t)failed);
		st = b ? hio_http_json(h, "POST", path, b, NULL, err, sizeof(err)) : -1;
		json_decref(b);
		last_hb = hio_mono_ms();
		next_hb = last_hb + (uint64_t)pe->heartbeat_ms;
		sent_busy = busy;
		sent_session = session;
		if (st == 404) {
			hio_warn("master does not know PE %s (restarted?); registering again",
				 pe->id);
			pthread_mutex_lock(&pe->mu);
			pe->registered = 0;
			pthread_mutex_unlock(&pe->mu);
		} else if (st < 200 || st >= 300) {
			pe_outage_fail(&out, "heartbeat to the master", err);
			/* Unanswered: back off instead of hammering on each state change. */
			next_hb = last_hb + (uint64_t)pe->heartbeat_ms * 2;
		} else {
			pe_outage_ok(&out, "heartbeat to the master");
		}
	}
	hio_http_free(h);
	return NULL;
}

void pe_say_gone(struct pe *pe)
{
	hio_http *h = hio_http_new(pe->master, pe->token);
	json_t *b = json_pack("{s:s}", "reason", "stopped");
	char path[256], err[256];
	long st = -1;

	snprintf(path, sizeof(path), "/v1/pes/%s/gone", pe->id);
	if (h && b)
		st = hio_http_json(h, "POST", path, b, NULL, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "out of memory");
	if (st < 200 || st >= 300)
		hio_warn("cannot tell the master PE %s is gone: %s; it will notice by the missing "
			 "heartbeats",
			 pe->id, err);
	json_decref(b);
	hio_http_free(h);
}
