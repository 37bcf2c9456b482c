#include "hio_http.h"
#include "hio_log.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hio_http {
	CURL *curl;
	char *base;
	char *auth;	 /* "Authorization: Bearer ..." or NULL */
	char *unix_path; /* NULL: TCP */
	long connect_ms; /* 0: HIO_HTTP_CONNECT_MS */
	long total_ms;	 /* a request's default deadline; 0: HIO_HTTP_TIMEOUT_MS */
};

/* A connection whose sent data stays unacknowledged this long is dead (a host cut off
 * or powered off): TCP_USER_TIMEOUT ends it instead of minutes of retransmission
 * backoff, and keepalive probes find an idle one (a parked long poll) as quickly. */
#define HIO_HTTP_USER_TIMEOUT_MS 3000
#define HIO_HTTP_KEEPALIVE_S 2
#define HIO_HTTP_CONNECT_MS 5000
#define HIO_HTTP_TIMEOUT_MS 30000

static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	unsigned int ut = HIO_HTTP_USER_TIMEOUT_MS;

	(void)ud;
	if (purpose == CURLSOCKTYPE_IPCXN)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	return CURL_SOCKOPT_OK;
}

void hio_http_set_timeouts(hio_http *h, long connect_ms, long total_ms)
{
	h->connect_ms = connect_ms;
	h->total_ms = total_ms;
}

int hio_http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

hio_http *hio_http_new(const char *base, const char *token)
{
	hio_http *h = calloc(1, sizeof(*h));
	size_t blen;

	if (!h)
		return NULL;
	h->curl = curl_easy_init();
	h->base = strdup(base);
	if (!h->curl || !h->base)
		goto fail;
	blen = strlen(h->base);
	while (blen > 0 && h->base[blen - 1] == '/')
		h->base[--blen] = '\0';
	if (token && *token) {
		size_t n = strlen(token) + 32;
		h->auth = malloc(n);
		if (!h->auth)
			goto fail;
		snprintf(h->auth, n, "Authorization: Bearer %s", token);
	}
	return h;
fail:
	hio_http_free(h);
	return NULL;
}

void hio_http_free(hio_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->base);
	free(h->auth);
	free(h->unix_path);
	free(h);
}

int hio_http_set_unix_socket(hio_http *h, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -1;
	free(h->unix_path);
	h->unix_path = p;
	return 0;
}

const char *hio_http_base(const hio_http *h)
{
	return h->base;
}

struct sink_ctx {
	CURL *curl;
	const struct hio_http_req *req;
	struct hio_http_resp *resp;
	int too_big;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink_ctx *c = ud;
	size_t n = size * nmemb;
	long status = 0;

	if (c->req->write) {
		/* Only 2xx bodies go to the caller's sink; error bodies are kept for the message.
		 */
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300)
			return c->req->write(c->req->write_ud, p, n) < 0 ? 0 : n;
	}
	if (hio_buf_append(&c->resp->body, p, n) < 0) {
		c->too_big = 1;
		return 0;
	}
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	const struct hio_http_req *req = ud;
	long r = req->read(req->read_ud, buf, size * nmemb);

	return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

int hio_http_do(hio_http *h, const struct hio_http_req *req, struct hio_http_resp *resp)
{
	CURL *c = h->curl;
	struct curl_slist *hdrs = NULL;
	struct sink_ctx sc = {.curl = h->curl, .req = req, .resp = resp};
	char url[8192], ctype[128];
	CURLcode cc;
	int rc = -1;

	resp->status = 0;
	resp->err[0] = '\0';
	hio_buf_init(&resp->body, req->resp_max ? req->resp_max : HIO_JSON_BODY_MAX);
	if (snprintf(url, sizeof(url), "%s%s", h->base, req->path) >= (int)sizeof(url)) {
		snprintf(resp->err, sizeof(resp->err), "URL too long");
		return -1;
	}
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (h->unix_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 h->connect_ms ? h->connect_ms : (long)HIO_HTTP_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
			 req->timeout_ms ? req->timeout_ms
			 : h->total_ms	 ? h->total_ms
					 : (long)HIO_HTTP_TIMEOUT_MS);
	if (!h->unix_path) {
		curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, (long)HIO_HTTP_KEEPALIVE_S);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 1L);
		curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sc);
	if (h->auth)
		hdrs = curl_slist_append(hdrs, h->auth);
	/* Expect: 100-continue costs a round trip per upload on loopback. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (req->content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->content_type);
		hdrs = curl_slist_append(hdrs, ctype);
	}
	if (req->read) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, req);
		if (req->read_len >= 0)
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->read_len);
		else
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
	} else if (req->body || strcmp(req->method, "POST") == 0 ||
		   strcmp(req->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (cc != CURLE_OK) {
		if (sc.too_big)
			snprintf(resp->err, sizeof(resp->err),
				 "%s %s: answer larger than %zu bytes", req->method, url,
				 resp->body.max);
		else
			snprintf(resp->err, sizeof(resp->err), "%s %s: %s", req->method, url,
				 curl_easy_strerror(cc));
		resp->status = 0;
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	return rc;
}

long hio_http_json(hio_http *h, const char *method, const char *path, json_t *body, json_t **out,
		   char *err, size_t errlen)
{
	struct hio_http_req req = {.method = method, .path = path};
	struct hio_http_resp resp;
	char *text = NULL;
	long status;

	if (out)
		*out = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			snprintf(err, errlen, "cannot encode the request as JSON");
			return -1;
		}
		req.body = text;
		req.body_len = strlen(text);
		req.content_type = "application/json";
	}
	if (hio_http_do(h, &req, &resp) < 0) {
		snprintf(err, errlen, "%s", resp.err);
		status = -1;
		goto out;
	}
	status = resp.status;
	json_t *j = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
	if (status >= 200 && status < 300) {
		if (out)
			*out = j ? j : json_object();
		else
			json_decref(j);
	} else {
		const char *e = j ? json_string_value(json_object_get(j, "error")) : NULL;
		snprintf(err, errlen, "%s %s: HTTP %ld: %s", method, path, status,
			 e ? e : (resp.body.len ? resp.body.data : "no details"));
		json_decref(j);
	}
out:
	free(text);
	hio_buf_free(&resp.body);
	return status;
}

char *hio_http_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *r = e ? strdup(e) : NULL;

	curl_free(e);
	return r;
}
