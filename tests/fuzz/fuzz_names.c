/* fuzz_names: the validators and parsers of lib/hio_util.h, each checked against a
 * plain restatement of its documented rule, so a change that loosens one (a name with a
 * ".." component, a token compared over a prefix only) fails here.
 *
 * Input: byte 0 picks the ranges the parsers are asked for; the rest is split at the
 * first NUL into two strings a and b (b may be empty). a is the name, id, pipeline and
 * number under test; a and b are the two tokens. The whole rest, NULs included, is also
 * a name of that many bytes. */
#include "fuzz.h"
#include "hio_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The UTF-8 rule restated from RFC 3629: sequences of 1..4 bytes, the shortest form,
 * no surrogate, nothing past U+10FFFF. */
static int utf8_ref(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned long cp;
		size_t k, j;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			k = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			k = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			k = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (i + k > n)
			return 0;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += k;
	}
	return 1;
}

/* hio_name_valid's rule: 1..HIO_NAME_MAX bytes of UTF-8, no NUL, relative, components
 * of 1..255 bytes, none "." or "..". */
static int name_ref(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n > HIO_NAME_MAX || memchr(s, '\0', n) || s[0] == '/')
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (i - start == 0 || i - start > 255)
			return 0;
		if (i - start == 1 && s[start] == '.')
			return 0;
		if (i - start == 2 && s[start] == '.' && s[start + 1] == '.')
			return 0;
		start = i + 1;
	}
	return utf8_ref((const unsigned char *)s, n);
}

static void check_name(const char *s, size_t n)
{
	const char *why = NULL;
	int ok = hio_name_valid(s, n, &why);

	FUZZ_CHECK(ok == 0 || ok == 1);
	FUZZ_CHECK(ok == name_ref(s, n));
	if (!ok) {
		FUZZ_CHECK(why && *why);
		return;
	}
	/* Spelled out as well: what a caller joins under a directory stays under it. */
	FUZZ_CHECK(n <= HIO_NAME_MAX && s[0] != '/' && !memchr(s, '\0', n));
	FUZZ_CHECK(!(n >= 2 && s[0] == '.' && s[1] == '.' && (n == 2 || s[2] == '/')));
	for (size_t i = 0; i + 3 <= n; i++)
		FUZZ_CHECK(!(s[i] == '/' && s[i + 1] == '.' && s[i + 2] == '.' &&
			     (i + 3 == n || s[i + 3] == '/')));
	/* NULL for why is allowed. */
	FUZZ_CHECK(hio_name_valid(s, n, NULL) == 1);
}

static void check_strip(const char *s)
{
	const char *r = hio_name_strip(s);

	FUZZ_CHECK(r >= s && r <= s + strlen(s));
	FUZZ_CHECK(r[0] != '/' && strncmp(r, "./", 2) != 0 && strncmp(r, "../", 3) != 0);
	FUZZ_CHECK(hio_name_strip(r) == r);
}

static void check_id(const char *s)
{
	size_t n = strlen(s);
	int ref = n == HIO_ID_LEN && strspn(s, "0123456789abcdef") == n;

	FUZZ_CHECK(hio_id_valid(s) == ref);
}

static void check_pipeline(const char *s)
{
	size_t n = strlen(s);
	int ref =
	    n >= 1 && n <= HIO_PIPELINE_MAX && s[0] != '.' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;

	FUZZ_CHECK(hio_pipeline_valid(s) == ref);
	/* A pipeline name is used as one directory name under the state dir. */
	if (ref)
		FUZZ_CHECK(name_ref(s, n) && !strchr(s, '/'));
}

/* hio_token_eq: equal lengths, 1..HIO_TOKEN_MAX bytes, every byte equal. Issue 14:
 * longer tokens were compared over their first bytes only. */
static void check_token(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int ref = la == lb && la > 0 && la <= HIO_TOKEN_MAX && !memcmp(a, b, la);
	char *copy = strdup(a);

	FUZZ_CHECK(copy);
	FUZZ_CHECK(hio_token_eq(a, b) == ref);
	FUZZ_CHECK(hio_token_eq(b, a) == ref);
	FUZZ_CHECK(hio_token_eq(a, copy) == (la > 0 && la <= HIO_TOKEN_MAX));
	FUZZ_CHECK(hio_token_eq(NULL, a) == 0 && hio_token_eq(a, NULL) == 0);
	/* A change past byte HIO_TOKEN_MAX must count too (the case). */
	if (la > 0) {
		copy[la - 1] ^= 1;
		if (copy[la - 1])
			FUZZ_CHECK(hio_token_eq(a, copy) == 0);
	}
	free(copy);
}

/* What hio_parse_long accepts: optional '-' (only when min < 0), digits, nothing else. */
static int long_syntax(const char *s, long min)
{
	const char *d = s;

	if (*d == '-' && min < 0)
		d++;
	return *d && strspn(d, "0123456789") == strlen(d);
}

static void check_long(const char *s, long min, long max)
{
	long v = 12345, sentinel = 12345;
	char err[200] = "";
	int rc;

	errno = 0;
	rc = hio_parse_long(s, min, max, &v);
	if (rc == 0) {
		FUZZ_CHECK(long_syntax(s, min));
		FUZZ_CHECK(v >= min && v <= max);
		FUZZ_CHECK(v == strtol(s, NULL, 10));
	} else {
		FUZZ_CHECK(rc == -1 && (errno == EINVAL || errno == ERANGE));
		FUZZ_CHECK(v == sentinel);
		/* Refused only for the syntax or the range. */
		if (errno == ERANGE)
			FUZZ_CHECK(long_syntax(s, min));
		else
			FUZZ_CHECK(!long_syntax(s, min));
	}
	v = sentinel;
	FUZZ_CHECK(hio_parse_flag("--x", s, min, max, &v, err, sizeof(err)) == rc);
	if (rc)
		FUZZ_CHECK(!strncmp(err, "--x: ", 5) && v == sentinel);
	if (min >= INT_MIN && max <= INT_MAX) {
		int iv = 7;

		FUZZ_CHECK(
		    hio_parse_flag_int("--x", s, (int)min, (int)max, &iv, err, sizeof(err)) == rc);
		if (!rc)
			FUZZ_CHECK(iv == v);
		else
			FUZZ_CHECK(iv == 7);
	}
}

static void check_size(const char *s, uint64_t min, uint64_t max)
{
	uint64_t v = 4242;
	size_t n = strspn(s, "0123456789");
	int rc = hio_parse_size(s, min, max, &v);

	if (rc == 0) {
		FUZZ_CHECK(v >= min && v <= max);
		FUZZ_CHECK(n > 0 && (s[n] == 0 || (strchr("KkMmGgTt", s[n]) && s[n + 1] == 0)));
	} else {
		FUZZ_CHECK(v == 4242 && (errno == EINVAL || errno == ERANGE));
	}
}

static void check_age(const char *s, long max_s)
{
	long v = 4242;
	size_t n = strspn(s, "0123456789");
	int rc = hio_parse_age(s, max_s, &v);

	if (rc == 0) {
		FUZZ_CHECK(v >= 0 && v <= max_s);
		FUZZ_CHECK(n > 0 && (s[n] == 0 || (strchr("smhdw", s[n]) && s[n + 1] == 0)));
	} else {
		FUZZ_CHECK(v == 4242 && (errno == EINVAL || errno == ERANGE));
	}
}

/* A decimal number with an optional fraction and exponent: nothing strtod takes
 * beyond that (hex, inf, nan, leading space). */
static void check_double(const char *s, double min, double max)
{
	double v = 42.5;
	int rc = hio_parse_double(s, min, max, &v);

	if (rc == 0) {
		FUZZ_CHECK(isfinite(v) && v >= min && v <= max);
		FUZZ_CHECK(*s && strspn(s, "0123456789.eE+-") == strlen(s));
	} else {
		FUZZ_CHECK(v == 42.5 && (errno == EINVAL || errno == ERANGE));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long lmins[] = {0, 1, -1, LONG_MIN, -100, 5};
	static const long lmaxs[] = {LONG_MAX, 64, 0, 1000000, 65535, 5};
	static const uint64_t smaxs[] = {UINT64_MAX, 1ull << 40, 4096, 0};
	char *a, *b, *nul;
	size_t n;
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	n = size - 1;
	/* a and b as C strings: a up to the first NUL, b after it. */
	a = malloc(n + 2);
	FUZZ_CHECK(a);
	memcpy(a, data + 1, n);
	a[n] = a[n + 1] = '\0';
	nul = memchr(a, '\0', n + 1);
	b = nul + 1;

	check_name((const char *)data + 1, n);
	check_name(a, strlen(a));
	check_strip(a);
	check_id(a);
	check_pipeline(a);
	check_token(a, b);
	check_long(a, lmins[ctl % 6], lmaxs[(ctl / 6) % 6]);
	check_size(a, ctl & 0x80 ? 1 : 0, smaxs[(ctl >> 4) & 3]);
	check_age(a, ctl & 0x40 ? 100L * 366 * 86400 : LONG_MAX);
	check_double(a, ctl & 1 ? -1e300 : 0, ctl & 2 ? 1e300 : 10);
	free(a);
	return 0;
}
