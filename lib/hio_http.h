/* hio_http: the one REST client, over libcurl. A handle keeps its connection
 * alive between calls; it is not thread-safe, so use one per thread.
 * Every call sends "Authorization: Bearer TOKEN" when a token was given. */
#ifndef HIO_HTTP_H
#define HIO_HTTP_H
#include "hio_buf.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HIO_JSON_BODY_MAX (1u * 1024 * 1024) /* a JSON request or response body */

typedef struct hio_http hio_http;

/* base is like "http://127.0.0.1:7700" (copied); token may be NULL (copied).
 * Call hio_http_global_init() once per process first. */
int hio_http_global_init(void);
hio_http *hio_http_new(const char *base, const char *token);
void hio_http_free(hio_http *h);
/* Sends every request over the unix socket at path (copied) instead of TCP; base then
 * only names the host, e.g. "http://localhost". Used for the Docker Engine API. */
int hio_http_set_unix_socket(hio_http *h, const char *path);
const char *hio_http_base(const hio_http *h);
/* The deadlines of this client's requests: connecting, and a whole request without its
 * own timeout_ms (0: 5 s and 30 s). A heartbeat's must be well inside its lease. Every
 * TCP connection also dies after 3 s of unacknowledged data (TCP_USER_TIMEOUT) and is
 * probed by keepalive when idle, so a cut-off peer costs seconds, not minutes. */
void hio_http_set_timeouts(hio_http *h, long connect_ms, long total_ms);

struct hio_http_req {
	const char *method;	  /* "GET", "POST", "PUT", "DELETE" */
	const char *path;	  /* with query, e.g. "/v1/status" */
	const char *content_type; /* NULL: none */
	const void *body;	  /* in-memory body, or NULL ... */
	size_t body_len;
	/* ... a streamed body: read returns bytes written to buf (0 = end, -1 = abort).
	 * read_len < 0 sends it chunked. */
	long (*read)(void *ud, char *buf, size_t n);
	void *read_ud;
	int64_t read_len;
	/* Response sink; when NULL the body is kept in resp->body up to resp_max. */
	int (*write)(void *ud, const void *p, size_t n);
	void *write_ud;
	size_t resp_max; /* 0: HIO_JSON_BODY_MAX */
	long timeout_ms; /* whole request; 0: 30 s */
};

struct hio_http_resp {
	long status;	     /* 0 when no HTTP answer came */
	struct hio_buf body; /* caller frees with hio_buf_free */
	char err[256];	     /* transport error (status 0); see body for the server's */
};

/* Returns 0 when an HTTP answer arrived (any status), -1 otherwise (resp->err says). */
int hio_http_do(hio_http *h, const struct hio_http_req *req, struct hio_http_resp *resp);

/* JSON call. body may be NULL (borrowed). On 2xx *out (may be NULL to ignore) gets the
 * parsed answer (caller decrefs). Returns the HTTP status, or -1 on transport failure;
 * err gets a one-line reason for anything but 2xx. */
long hio_http_json(hio_http *h, const char *method, const char *path, json_t *body, json_t **out,
		   char *err, size_t errlen);

/* URL-encodes s. Caller frees. */
char *hio_http_escape(const char *s);

#endif
