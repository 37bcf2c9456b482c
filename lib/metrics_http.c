/* metrics_http.c: GET /metrics over libmicrohttpd for the daemons that serve no HTTP
 * of their own (worker, PE, mount), and the thread that announces the endpoint to the
 * master so Prometheus finds it there (GET /v1/metrics/targets on the master). */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_sync.h"
#include "hio_util.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hio_metrics_srv {
	struct MHD_Daemon *d;
	int fd, port;
	char token[HIO_TOKEN_MAX + 1];
	/* The scrape credential the master gave the last announcement ("" before);
	 * guarded by mu. */
	char scrape[HIO_TOKEN_MAX + 1];
	char host[256];
	char *master, *job;
	char id[HIO_ID_LEN + 1];
	/* Guards stop; a leaf. The reporter waits on cv with it held, never doing I/O. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	pthread_t rep;
	int rep_started;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
			      char *text, size_t n)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result err_answer(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *t = NULL;
	int n = asprintf(&t, "{\"error\":\"%s\"}", msg);

	if (n < 0)
		return MHD_NO;
	return answer(c, status, "application/json", t, (size_t)n);
}

/* This daemon's own credential, or the scrape credential the master handed out. */
static int bearer_ok(struct hio_metrics_srv *s, const char *h)
{
	char scrape[HIO_TOKEN_MAX + 1];

	if (hio_metrics_bearer_ok(h, s->token))
		return 1;
	pthread_mutex_lock(&s->mu);
	memcpy(scrape, s->scrape, sizeof(scrape));
	pthread_mutex_unlock(&s->mu);
	return scrape[0] && hio_metrics_bearer_ok(h, scrape);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct hio_metrics_srv *s = cls;
	struct hio_buf b;
	char *text;
	size_t n;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (!bearer_ok(
		s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
		return err_answer(c, 401, "missing or wrong token (Authorization: Bearer TOKEN)");
	if (strcmp(url, "/metrics") != 0)
		return err_answer(c, 404, "no such endpoint (only /metrics)");
	if (strcmp(method, "GET") != 0)
		return err_answer(c, 405, "only GET is allowed on /metrics");
	hio_buf_init(&b, HIO_METRICS_TEXT_MAX);
	if (hio_metrics_render(&b) < 0) {
		hio_buf_free(&b);
		hio_err("metrics: the scrape is over %u bytes or memory is out; answering 500",
			HIO_METRICS_TEXT_MAX);
		return err_answer(c, 500, "cannot render the metrics");
	}
	text = hio_buf_steal(&b, &n);
	return answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, n);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	hio_warn("metrics endpoint: libmicrohttpd: %s", msg);
}

/* The announcement's answer names the scrape credential: {"scrape_credential": C}. */
static void learn_scrape(struct hio_metrics_srv *s, const struct hio_buf *body)
{
	json_t *j = json_loadb(body->data, body->len, 0, NULL);
	const char *c = json_string_value(json_object_get(j, "scrape_credential"));

	if (c && strlen(c) <= HIO_TOKEN_MAX) {
		pthread_mutex_lock(&s->mu);
		snprintf(s->scrape, sizeof(s->scrape), "%s", c);
		pthread_mutex_unlock(&s->mu);
	}
	json_decref(j);
}

static void announce(struct hio_metrics_srv *s, hio_http *h, int *failing)
{
	char path[512], err[256] = "out of memory";
	char *host = hio_http_escape(s->host), *job = hio_http_escape(s->job);
	struct hio_http_req req = {.method = "PUT", .path = path, .timeout_ms = 5000};
	struct hio_http_resp resp = {0};
	long st = -1;

	/* A short deadline: stopping joins this thread. */
	if (host && job) {
		snprintf(path, sizeof(path), "/v1/metrics/targets/%s?job=%s&host=%s&port=%d", s->id,
			 job, host, s->port);
		if (hio_http_do(h, &req, &resp) == 0) {
			st = resp.status;
			snprintf(err, sizeof(err), "HTTP %ld", st);
			if (st >= 200 && st < 300)
				learn_scrape(s, &resp.body);
		} else {
			snprintf(err, sizeof(err), "%s", resp.err);
		}
		hio_buf_free(&resp.body);
	}
	free(host);
	free(job);
	if (st < 200 || st >= 300) {
		if (!*failing)
			hio_warn("metrics: cannot announce the endpoint to the master: %s; "
				 "retrying every %d s",
				 err, HIO_METRICS_REPORT_MS / 1000);
		*failing = 1;
	} else if (*failing) {
		hio_info("metrics: the endpoint is announced to the master again");
		*failing = 0;
	}
}

static void *reporter_main(void *arg)
{
	struct hio_metrics_srv *s = arg;
	hio_http *h = hio_http_new(s->master, s->token);
	int failing = 0;

	if (!h) {
		hio_err("metrics: cannot make an HTTP client; the endpoint stays unannounced");
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		pthread_mutex_unlock(&s->mu);
		announce(s, h, &failing);
		pthread_mutex_lock(&s->mu);
		uint64_t until = hio_mono_ms() + HIO_METRICS_REPORT_MS;
		while (!s->stop && hio_cond_wait_until(&s->cv, &s->mu, until) == 0)
			;
	}
	pthread_mutex_unlock(&s->mu);
	/* Gone at once from Prometheus's targets rather than after the TTL. */
	{
		char path[128];
		struct hio_http_req req = {.method = "DELETE", .path = path, .timeout_ms = 2000};
		struct hio_http_resp resp = {0};

		snprintf(path, sizeof(path), "/v1/metrics/targets/%s", s->id);
		if (hio_http_do(h, &req, &resp) < 0 || resp.status != 200)
			hio_debug("metrics: cannot withdraw the endpoint from the master (%s); "
				  "it expires there",
				  resp.status ? "refused" : resp.err);
		hio_buf_free(&resp.body);
	}
	hio_http_free(h);
	return NULL;
}

const char *hio_metrics_listen_arg(const char *arg)
{
	const char *e = getenv("HIO_METRICS_LISTEN");

	if (arg && *arg)
		e = arg;
	return e && *e && strcmp(e, "off") != 0 ? e : NULL;
}

struct hio_metrics_srv *hio_metrics_serve(const struct hio_metrics_srv_opts *o, char *err,
					  size_t errlen)
{
	struct hio_metrics_srv *s = calloc(1, sizeof(*s));
	int port = 0;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	hio_cond_init(&s->cv);
	if (!o->listen || hio_net_split(o->listen, s->host, sizeof(s->host), &port) < 0 ||
	    port < 0 || port > 65535) {
		snprintf(err, errlen, "bad --metrics-listen \"%s\": want HOST:PORT",
			 o->listen ? o->listen : "");
		goto fail;
	}
	if (!o->token || strlen(o->token) > HIO_TOKEN_MAX) {
		snprintf(err, errlen, "the metrics endpoint needs the cluster token");
		goto fail;
	}
	snprintf(s->token, sizeof(s->token), "%s", o->token);
	s->fd = hio_net_listen(s->host, port, &s->port, err, errlen);
	if (s->fd < 0)
		goto fail;
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
	    s->fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)64, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "cannot start the metrics endpoint on %s", o->listen);
		goto fail;
	}
	hio_info("metrics at http://%s:%d/metrics", s->host, s->port);
	if (o->master) {
		if (o->id && hio_id_valid(o->id))
			snprintf(s->id, sizeof(s->id), "%s", o->id);
		else
			hio_id_new(s->id);
		s->master = strdup(o->master);
		s->job = strdup(o->job ? o->job : "hio");
		if (!s->master || !s->job) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (pthread_create(&s->rep, NULL, reporter_main, s) == 0)
			s->rep_started = 1;
		else
			hio_warn("metrics: cannot start the thread that announces the endpoint; "
				 "Prometheus must be told its address by hand");
	}
	return s;
fail:
	hio_metrics_srv_stop(s);
	return NULL;
}

int hio_metrics_srv_port(const struct hio_metrics_srv *s)
{
	return s->port;
}

void hio_metrics_srv_stop(struct hio_metrics_srv *s)
{
	if (!s)
		return;
	if (s->rep_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->rep, NULL);
	}
	if (s->d)
		MHD_stop_daemon(s->d); /* closes the listening socket it was given */
	else if (s->fd >= 0)
		close(s->fd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->master);
	free(s->job);
	free(s);
}
