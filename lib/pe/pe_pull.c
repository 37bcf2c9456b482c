/* pe_pull.c: the backlog puller. When the PE has nothing else to do it long-polls the
 * master's backlog and decodes the one MSG frame an answer holds with the same
 * callbacks as a P2P session (pe_recv.c). */
#include "hio_frame.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_util.h"
#include "pe_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define PE_PULL_WAIT_MS 5000

struct pull {
	struct pe_rx rx;
	hio_frame_dec *dec;
	int bad; /* not a frame: an error answer, or garbage */
};

/* Swallows the rest once decoding failed, so a non-200 answer's body ends cleanly. */
static int pull_write(void *ud, const void *p, size_t n)
{
	struct pull *pl = ud;

	if (!pl->bad && hio_frame_dec_feed(pl->dec, p, n) < 0)
		pl->bad = 1;
	return 0;
}

void *pe_puller_main(void *arg)
{
	struct pe *pe = arg;
	hio_http *h = hio_http_new(pe->master, pe->token);
	struct pe_outage out = {0};
	char path[512], *pe_q = NULL;
	long backoff = 0;

	if (!h || !(pe_q = hio_http_escape(pe->id))) {
		hio_err("cannot make an HTTP client for the backlog; serving P2P only");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/pipelines/%s/backlog/next?pe=%s&wait=%d", pe->pipeline,
		 pe_q, PE_PULL_WAIT_MS);
	for (;;) {
		struct hio_http_req req = {
		    .method = "GET", .path = path, .timeout_ms = PE_PULL_WAIT_MS + 300000};
		struct hio_http_resp resp = {0};
		struct pull pl = {.rx = {.pe = pe, .cur_fd = -1}};
		struct pe_rx *rx = &pl.rx;
		hio_frame_dec *dec;
		int rc, stopping;

		/* Only when nothing else is to be done: a leased message should not wait
		 * behind P2P work while other PEs might be idle. */
		pthread_mutex_lock(&pe->mu);
		while (!pe->stopping && (!pe->registered || pe->fn > 0 || pe->running))
			pthread_cond_wait(&pe->cv_idle, &pe->mu);
		stopping = pe->stopping;
		pthread_mutex_unlock(&pe->mu);
		if (stopping)
			break;
		if (backoff && pe_sleep(pe, backoff))
			break;

		dec = hio_frame_dec_new(&pe_rx_cbs, rx);
		if (!dec) {
			hio_err("out of memory for a frame decoder; backlog pull waits");
			backoff = pe_backoff_next(backoff, PE_BACKOFF_MAX_MS);
			continue;
		}
		pl.dec = dec;
		req.write = pull_write;
		req.write_ud = &pl;
		hio_buf_init(&resp.body, HIO_JSON_BODY_MAX);
		rc = hio_http_do(h, &req, &resp);
		if (rc == 0 && resp.status == 200 && rx->ready && !pl.bad &&
		    hio_frame_dec_idle(dec)) {
			struct pe_item *it = rx->ready;

			rx->ready = NULL;
			pe_outage_ok(&out, "backlog pull");
			backoff = 0;
			hio_debug("leased backlog message %s (%s, %" PRIu64 " bytes)", it->id,
				  it->name, it->len);
			if (pe_fifo_push(pe, it, 0) < 0)
				pe_item_free(it); /* stopping; requeued once we say gone */
		} else if (rc == 0 && resp.status == 200) {
			hio_warn("backlog answer for pipeline %s is not one MSG frame: %s; "
				 "backing off",
				 pe->pipeline,
				 rx->err[0] ? rx->err
				 : pl.bad   ? hio_frame_dec_error(dec)
					    : "no message in it");
			backoff = pe_backoff_next(backoff, PE_BACKOFF_MAX_MS);
		} else if (rc == 0 && resp.status == 204) {
			pe_outage_ok(&out, "backlog pull");
			backoff = 0;
		} else if (rc == 0 && resp.status == 404 && pe_stopping(pe)) {
			/* Our own "gone" ended the poll. */
		} else if (rc == 0 && resp.status == 404) {
			hio_warn("master does not know PE %s while pulling; registering again",
				 pe->id);
			pthread_mutex_lock(&pe->mu);
			pe->registered = 0;
			pe_kick_heartbeat_locked(pe);
			pthread_mutex_unlock(&pe->mu);
			backoff = pe_backoff_next(backoff, PE_BACKOFF_MAX_MS);
		} else {
			char why[320];
			json_t *j = rc == 0 ? json_loadb(resp.body.data ? resp.body.data : "",
							 resp.body.len, 0, NULL)
					    : NULL;
			const char *e = json_string_value(json_object_get(j, "error"));

			if (rc == 0)
				snprintf(why, sizeof(why), "HTTP %ld: %s", resp.status,
					 e ? e : "no reason given");
			else
				snprintf(why, sizeof(why), "%s", resp.err);
			json_decref(j);
			pe_outage_fail(&out, "backlog pull", why);
			backoff = pe_backoff_next(backoff, PE_BACKOFF_MAX_MS);
		}
		pe_rx_reset(rx);
		hio_frame_dec_free(dec);
		hio_buf_free(&resp.body);
	}
out:
	free(pe_q);
	hio_http_free(h);
	return NULL;
}
