/* util.c: the master's small helpers: JSON field getters, paths, replies. */
#include "master.h"

#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- JSON fields --- */

int jget_str(json_t *o, const char *key, int flags, size_t max, const char **out, char *err,
	     size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if ((flags & JF_REQUIRED) && !(v && (flags & JF_NULLABLE))) {
			snprintf(err, errlen, "field '%s' is required", key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "field '%s' must be a string", key);
		return -1;
	}
	/* A string holding NUL would be cut short by every C consumer downstream. */
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "field '%s' is longer than %zu bytes or holds NUL", key, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int jget_int(json_t *o, const char *key, int flags, long long min, long long max, long long *out,
	     int *present, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (present)
		*present = 0;
	if (!v || json_is_null(v)) {
		if (flags & JF_REQUIRED) {
			snprintf(err, errlen, "field '%s' is required", key);
			return -1;
		}
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "field '%s' must be an integer in %lld..%lld", key, min, max);
		return -1;
	}
	*out = json_integer_value(v);
	if (present)
		*present = 1;
	return 0;
}

int jget_bool(json_t *o, const char *key, int flags, int *out, int *present, char *err,
	      size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (present)
		*present = 0;
	if (!v || json_is_null(v)) {
		if (flags & JF_REQUIRED) {
			snprintf(err, errlen, "field '%s' is required", key);
			return -1;
		}
		return 0;
	}
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "field '%s' must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	if (present)
		*present = 1;
	return 0;
}

int text_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= max || c <= ' ' || c >= 0x7f || c == '"' || c == '\\')
			return 0;
	}
	return n > 0;
}

int line_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= max || c < ' ' || c == 0x7f)
			return 0;
	}
	return 1;
}

int path_fmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* --- answers of the JSON endpoints (struct reply), free of the HTTP layer --- */

void reply_err(struct reply *out, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(out->json);
	out->status = status;
	out->json = json_pack("{s:s}", "error", msg);
	/* A message quoting a request's bytes (a result name is any bytes but NUL and '/')
	 * may not be UTF-8, which JSON strings must be: without this the refusal went out
	 * with no body at all. Such bytes are shown as '?'. */
	if (!out->json) {
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
		out->json = json_pack("{s:s}", "error", msg);
	}
}

void reply_ok(struct reply *out, unsigned status, json_t *json)
{
	json_decref(out->json);
	out->json = json;
	out->status = status;
	if (!json && status != 204)
		reply_err(out, 500, "out of memory building the answer");
}

void master_note_disk_full(struct master *m)
{
	static struct hio_log_limit lim;
	unsigned skipped;

	atomic_store(&m->disk_full_ms, hio_now_us() / 1000);
	atomic_fetch_add(&m->disk_full_refused, 1);
	if (hio_log_limited(&lim, HIO_LOG_LIMIT_MS, &skipped))
		hio_err("the state disk of %s is full: results cannot be stored (%u more refused "
			"since the last such line); PEs fail those inputs after a few tries",
			m->dir, skipped);
}
