/* The stream connector's messages, the frames its sessions read, and its calls to the
 * master: allocate and release PEs, push a message into the backlog. One hio_http per
 * lane thread. */
#include "hio_jw.h"
#include "hio_log.h"
#include "stream_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void stream_msg_free(struct msg *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	if (!m->borrowed)
		free(m->data);
	free(m->name);
	free(m);
}

json_t *stream_msg_meta(const struct msg *m)
{
	return json_pack("{s:s, s:s, s:I}", "id", m->id, "name", m->name, "ts", (json_int_t)m->ts);
}

int stream_msg_head(const struct msg *m, uint8_t **out, size_t *len)
{
	struct hio_buf hb;
	struct hio_jw w;
	int rc;

	hio_frame_head_start(&hb);
	hio_jw_begin(&w, &hb);
	hio_jw_str(&w, "id", m->id);
	hio_jw_str(&w, "name", m->name);
	hio_jw_int(&w, "ts", (long long)m->ts);
	rc = hio_jw_end(&w) < 0 ? -1 : hio_frame_head_finish(&hb, HIO_F_MSG, 0, m->len, out, len);
	hio_buf_free(&hb);
	return rc;
}

int stream_ack_on_end(void *ud, const struct hio_frame_hdr *h, json_t *meta)
{
	struct stream_ack *a = ud;
	const char *v;

	a->got = h->type;
	if (h->type == HIO_F_ACK) {
		v = json_string_value(json_object_get(meta, "id"));
		snprintf(a->id, sizeof(a->id), "%s", v ? v : "");
		v = json_string_value(json_object_get(meta, "status"));
		snprintf(a->status, sizeof(a->status), "%s", v ? v : "done");
	} else if (h->type == HIO_F_ERROR || h->type == HIO_F_WELCOME) {
		v = json_string_value(json_object_get(meta, "error"));
		snprintf(a->error, sizeof(a->error), "%s", v ? v : "");
	}
	return 0;
}

static long src_read_cb(void *ud, char *buf, size_t n)
{
	return hio_frame_src_read(ud, buf, n);
}

int stream_backlog_push(hio_http *http, const char *pipeline, const struct msg *m, char *err,
			size_t errlen)
{
	json_t *meta = stream_msg_meta(m);
	hio_frame_src *src = hio_frame_src_new(HIO_F_MSG, m->flags, meta, m->data, m->fd, m->len);
	char path[HIO_PIPELINE_MAX + 64];
	struct hio_http_req req = {.method = "POST",
				   .path = path,
				   .content_type = "application/octet-stream",
				   .read = src_read_cb,
				   .read_ud = src,
				   .timeout_ms = 600000};
	struct hio_http_resp resp;
	int rc = -1;

	json_decref(meta);
	if (!src) {
		snprintf(err, errlen, "cannot encode the message");
		return -1;
	}
	snprintf(path, sizeof(path), "/v1/pipelines/%s/backlog", pipeline);
	req.read_len = hio_frame_src_size(src);
	if (hio_http_do(http, &req, &resp) < 0) {
		snprintf(err, errlen, "%s", resp.err);
	} else if (resp.status != 201 && resp.status != 200) {
		snprintf(err, errlen, "backlog refused %s: HTTP %ld %s", m->name, resp.status,
			 resp.body.data ? resp.body.data : "");
	} else {
		rc = 0;
	}
	hio_buf_free(&resp.body);
	hio_frame_src_free(src);
	return rc;
}

int stream_allocate(hio_http *http, const char *pipeline, struct pe_addr *pe, char *err,
		    size_t errlen)
{
	char path[HIO_PIPELINE_MAX + 64];
	json_t *ans = NULL, *p;
	long st;
	int rc = -1;

	snprintf(path, sizeof(path), "/v1/pipelines/%s/allocate", pipeline);
	st = hio_http_json(http, "POST", path, NULL, &ans, err, errlen);
	if (st < 200 || st >= 300)
		return -1;
	p = json_object_get(ans, "pe");
	if (json_is_object(p)) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *host = json_string_value(json_object_get(p, "host"));
		json_int_t port = json_integer_value(json_object_get(p, "port"));
		if (id && host && port > 0 && port < 65536 && strlen(id) <= HIO_ID_LEN) {
			snprintf(pe->id, sizeof(pe->id), "%s", id);
			snprintf(pe->host, sizeof(pe->host), "%s", host);
			pe->port = (int)port;
			const char *tk = json_string_value(json_object_get(p, "ticket"));

			snprintf(pe->ticket, sizeof(pe->ticket), "%s",
				 tk && strlen(tk) <= HIO_TOKEN_MAX ? tk : "");
			pe->timeout_ms = (long)json_integer_value(json_object_get(p, "timeout_ms"));
			json_t *lu = json_object_get(p, "local_uid");
			pe->local_uid = json_is_integer(lu) && json_integer_value(lu) >= 0 &&
						json_integer_value(lu) < UINT32_MAX
					    ? (long long)json_integer_value(lu)
					    : -1;
			if (pe->timeout_ms < 0)
				pe->timeout_ms = 0;
			rc = 1;
		} else {
			snprintf(err, errlen, "master gave a malformed PE address");
		}
	} else {
		rc = 0;
	}
	json_decref(ans);
	return rc;
}

void stream_release_pe(hio_http *http, const char *pe_id, const char *unreachable)
{
	char path[128], err[256];
	json_t *b = unreachable ? json_pack("{s:s}", "unreachable", unreachable) : NULL;

	snprintf(path, sizeof(path), "/v1/pes/%s/release", pe_id);
	if (hio_http_json(http, "POST", path, b, NULL, err, sizeof(err)) < 0)
		hio_debug("release of PE %s failed: %s", pe_id, err);
	json_decref(b);
}

int stream_pe_alive(hio_http *http, const char *pe_id)
{
	char path[128], err[256];
	json_t *ans = NULL;
	const char *st;
	long code;
	int rc;

	snprintf(path, sizeof(path), "/v1/pes/%s", pe_id);
	code = hio_http_json(http, "GET", path, NULL, &ans, err, sizeof(err));
	if (code == 404)
		rc = 0;
	else if (code < 200 || code >= 300)
		rc = -1;
	else
		rc = (st = json_string_value(json_object_get(ans, "state"))) &&
		     strcmp(st, "gone") != 0;
	json_decref(ans);
	return rc;
}
