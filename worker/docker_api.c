#include "docker_api.h"
#include "hio_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dk {
	hio_http *h;
};

dk *dk_new(const char *sock, char *err, size_t errlen)
{
	dk *d = calloc(1, sizeof(*d));

	/* The host part is ignored on a unix socket; the daemon wants one anyway. */
	if (!d || !(d->h = hio_http_new("http://docker", NULL)) ||
	    hio_http_set_unix_socket(d->h, sock) < 0) {
		snprintf(err, errlen, "out of memory for the Docker API client");
		dk_free(d);
		return NULL;
	}
	return d;
}

void dk_free(dk *d)
{
	if (!d)
		return;
	hio_http_free(d->h);
	free(d);
}

long dk_call(dk *d, const char *method, const char *path, json_t *body, json_t **out, char *err,
	     size_t errlen)
{
	struct hio_http_req req = {.method = method, .resp_max = DK_BODY_MAX};
	struct hio_http_resp resp;
	char full[2048], *text = NULL;
	json_t *j = NULL;
	long st = -1;

	if (out)
		*out = NULL;
	if (snprintf(full, sizeof(full), "%s%s", DK_API, path) >= (int)sizeof(full)) {
		snprintf(err, errlen, "Docker API path too long");
		return -1;
	}
	req.path = full;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			snprintf(err, errlen, "cannot encode a Docker API request");
			return -1;
		}
		req.body = text;
		req.body_len = strlen(text);
		req.content_type = "application/json";
	}
	if (hio_http_do(d->h, &req, &resp) < 0) {
		snprintf(err, errlen, "docker daemon: %s", resp.err);
		goto out;
	}
	st = resp.status;
	if (resp.body.len)
		j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	if (st >= 200 && st < 300) {
		if (out) {
			*out = j;
			j = NULL;
		}
	} else {
		const char *m = json_string_value(json_object_get(j, "message"));

		snprintf(err, errlen, "%s %s: HTTP %ld: %s", method, path, st,
			 m ? m : "no details");
	}
out:
	json_decref(j);
	free(text);
	hio_buf_free(&resp.body);
	return st;
}

char *dk_logs_tail(dk *d, const char *id, int lines)
{
	struct hio_http_req req = {.method = "GET", .resp_max = DK_LOGS_MAX};
	struct hio_http_resp resp;
	struct hio_buf out;
	char path[256];

	snprintf(path, sizeof(path), DK_API "/containers/%.80s/logs?stdout=1&stderr=1&tail=%d", id,
		 lines);
	req.path = path;
	if (hio_http_do(d->h, &req, &resp) < 0 || resp.status != 200) {
		hio_buf_free(&resp.body);
		return NULL;
	}
	/* Without a TTY the stream is multiplexed (dk_demux). */
	hio_buf_init(&out, DK_LOGS_MAX);
	dk_demux(resp.body.data, resp.body.len, &out);
	hio_buf_free(&resp.body);
	return hio_buf_steal(&out, NULL);
}

int dk_demux(const void *in, size_t n, struct hio_buf *out)
{
	const unsigned char *p = in;
	size_t i = 0;

	while (i < n) {
		const unsigned char *hd = p + i;
		size_t len;

		if (n - i < 8 || hd[0] > 2 || hd[1] || hd[2] || hd[3])
			return -1;
		len = (size_t)hd[4] << 24 | (size_t)hd[5] << 16 | (size_t)hd[6] << 8 | hd[7];
		if (len > n - i - 8 || hio_buf_append(out, hd + 8, len) < 0)
			return -1;
		i += 8 + len;
	}
	return 0;
}

int dk_exit_reason(json_t *state, char *why, size_t len)
{
	json_t *jc = json_object_get(state, "ExitCode");
	long code = json_is_integer(jc) ? (long)json_integer_value(jc) : -1;

	if (!json_is_integer(jc))
		snprintf(why, len, "ended (no exit status from the docker daemon)");
	else if (json_is_true(json_object_get(state, "OOMKilled")))
		snprintf(why, len, "killed for memory (exit status %ld)", code);
	else if (code > 128 && code < 160)
		snprintf(why, len, "killed by signal %ld", code - 128);
	else
		snprintf(why, len, "exited with status %ld", code);
	return code == 0;
}
