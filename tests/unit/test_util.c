/* Names, ids, tokens and the bounded buffer. */
#include "check.h"
#include "hio_buf.h"
#include "hio_hmap.h"
#include "hio_jw.h"
#include "hio_log.h"
#include "hio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int valid(const char *s)
{
	return hio_name_valid(s, strlen(s), NULL);
}

static int log_lines;
static char log_last[512];

static void capture(void *ud, enum hio_log_level lvl, const char *line)
{
	(void)ud;
	(void)lvl;
	log_lines++;
	snprintf(log_last, sizeof(log_last), "%s", line);
}

/* hio_rm_rf on what a hostile analysis leaves: 300 levels of 200-byte names (a path of
 * 60 KB, far past PATH_MAX), files at several depths, and a symbolic link to a directory
 * outside, which must not be followed. */
static void test_rm_deep(void)
{
	char top[] = "/tmp/hio-test-rm.XXXXXX", outside[PATH_MAX], name[201], path[PATH_MAX];
	int fd, ok = 1;
	struct stat st;

	CHECK(mkdtemp(top) != NULL);
	snprintf(outside, sizeof(outside), "%s-outside", top);
	CHECK(mkdir(outside, 0700) == 0);
	snprintf(path, sizeof(path), "%s/keep", outside);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	memset(name, 'd', 200);
	name[200] = '\0';
	fd = open(top, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 300 && fd >= 0 && ok; i++) {
		int sub;

		ok = mkdirat(fd, name, 0700) == 0;
		if (i % 50 == 0) {
			int f = openat(fd, "file", O_WRONLY | O_CREAT, 0600);
			ok = ok && f >= 0 && symlinkat(outside, fd, "link") == 0;
			if (f >= 0)
				close(f);
		}
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = sub;
	}
	CHECK(ok && fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(hio_rm_rf(top) == 0);
	CHECK(lstat(top, &st) < 0 && errno == ENOENT);
	CHECK(stat(path, &st) == 0); /* the symbolic link's target is untouched */
	unlink(path);
	rmdir(outside);
}

/* hio_log_limited: the first event logs, the next ones in the period are counted, and
 * the first line of the next period says how many were not logged. */
static void test_log_limited(void)
{
	struct hio_log_limit lim = {0};
	unsigned skipped = 99, quiet = 0;
	int spins = 0;

	CHECK(hio_log_limited(&lim, 3600 * 1000L, &skipped) == 1 && skipped == 0);
	for (int i = 0; i < 5; i++)
		CHECK(hio_log_limited(&lim, 3600 * 1000L, &skipped) == 0);
	/* A 1 ms period: the events until the next line are exactly what it reports. */
	lim.next_ms = 0;
	CHECK(hio_log_limited(&lim, 1, &skipped) == 1 && skipped == 5);
	while (!hio_log_limited(&lim, 1, &skipped) && ++spins < 100000000)
		quiet++;
	CHECK(skipped == quiet);
}

/* hio_dir_is_empty: nothing but "." and "..", whatever else is there (a file, a
 * directory, a name of 255 bytes, many names); an error for what is not a directory. */
static void test_dir_is_empty(void)
{
	char top[] = "/tmp/hio-test-dirempty-XXXXXX", p[PATH_MAX], name[256];
	int fd;

	CHECK(mkdtemp(top) != NULL);
	CHECK(hio_dir_is_empty(top) == 1);
	memset(name, 'n', 255);
	name[255] = '\0';
	snprintf(p, sizeof(p), "%s/%s", top, name);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(hio_dir_is_empty(top) == 0);
	CHECK(hio_dir_is_empty(p) == -1 && errno == ENOTDIR);
	CHECK(unlink(p) == 0 && hio_dir_is_empty(top) == 1);
	snprintf(p, sizeof(p), "%s/sub", top);
	CHECK(mkdir(p, 0700) == 0 && hio_dir_is_empty(top) == 0 && hio_dir_is_empty(p) == 1);
	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "%s/sub/%d-%s", top, i, name + 200);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		if (fd >= 0)
			close(fd);
	}
	snprintf(p, sizeof(p), "%s/sub", top);
	CHECK(hio_dir_is_empty(p) == 0);
	CHECK(hio_empty_dir(p) == 0 && hio_dir_is_empty(p) == 1);
	snprintf(p, sizeof(p), "%s/none", top);
	CHECK(hio_dir_is_empty(p) == -1 && errno == ENOENT);
	CHECK(hio_rm_rf(top) == 0);
}

/* The map against a plain array: puts, replaces and deletes (backward shift inside
 * long probe runs at 3/4 load), across growths, every key found or not as it should. */
static void test_hmap(void)
{
	enum { N = 3000 };
	static char keys[N][16];
	static int live[N];
	struct hio_hmap h;
	size_t bad = 0, n = 0;

	hio_hmap_init(&h);
	CHECK(hio_hmap_get(&h, "x") == NULL && hio_hmap_del(&h, "x") == NULL);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		CHECK(hio_hmap_put(&h, keys[i], &live[i]) == 0);
		live[i] = 1;
	}
	CHECK(h.len == N);
	CHECK(hio_hmap_put(&h, keys[7], &live[7]) == 0 && h.len == N); /* a replace */
	for (int i = 0; i < N; i += 3) { /* every third goes, from the middle of runs */
		bad += hio_hmap_del(&h, keys[i]) != &live[i];
		live[i] = 0;
	}
	bad += hio_hmap_del(&h, keys[0]) != NULL;
	CHECK(hio_hmap_reserve(&h, 4 * N) == 0); /* a resize of a map with holes */
	for (int i = 0; i < N; i++) {
		void *v = hio_hmap_get(&h, keys[i]);

		bad += live[i] ? v != &live[i] : v != NULL;
		n += live[i];
	}
	CHECK(bad == 0 && h.len == n);
	hio_hmap_free(&h);
}

/* The hand-written JSON reads back through jansson as what was written: escapes,
 * UTF-8, numbers at their limits, nesting; a string that is not UTF-8 (or a full
 * buffer) fails the whole object and leaves the buffer as it was. */
static void test_jw(void)
{
	struct hio_buf b;
	struct hio_jw w;
	json_t *got, *want;

	hio_buf_init(&b, 4096);
	hio_buf_append(&b, "x", 1); /* written after what is there */
	hio_jw_begin(&w, &b);
	hio_jw_str(&w, "s", "a\"b\\c\n\x01/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	hio_jw_text(&w, "t", "ok\xff\xc3!");
	hio_jw_int(&w, "zero", 0);
	hio_jw_int(&w, "neg", -42);
	hio_jw_int(&w, "min", LLONG_MIN);
	hio_jw_int(&w, "max", LLONG_MAX);
	hio_jw_bool(&w, "yes", 1);
	hio_jw_bool(&w, "no", 0);
	hio_jw_open(&w, "empty", '[');
	hio_jw_close(&w, ']');
	hio_jw_open(&w, "files", '[');
	for (int i = 0; i < 2; i++) {
		hio_jw_open(&w, NULL, '{');
		hio_jw_str(&w, "name", i ? "b" : "a");
		hio_jw_int(&w, "size", i);
		hio_jw_close(&w, '}');
	}
	hio_jw_close(&w, ']');
	hio_jw_str(&w, "last", "");
	CHECK(hio_jw_end(&w) == 0);
	got = json_loadb(b.data + 1, b.len - 1, 0, NULL);
	want =
	    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b,s:b,s:[],s:[{s:s,s:I},{s:s,s:I}],s:s}", "s",
		      "a\"b\\c\n\x01/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "t", "ok\?\?!", "zero",
		      (json_int_t)0, "neg", (json_int_t)-42, "min", (json_int_t)LLONG_MIN, "max",
		      (json_int_t)LLONG_MAX, "yes", 1, "no", 0, "empty", "files", "name", "a",
		      "size", (json_int_t)0, "name", "b", "size", (json_int_t)1, "last", "");
	CHECK(got && want && json_equal(got, want));
	json_decref(got);
	json_decref(want);

	/* Not UTF-8 (a lone continuation byte, an overlong '/', a surrogate): refused. */
	{
		static const char *bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
					    "\xe2\x82"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t len = b.len;

			hio_jw_begin(&w, &b);
			hio_jw_str(&w, "id", "x");
			hio_jw_str(&w, "bad", bad[i]);
			hio_jw_int(&w, "n", 1);
			CHECK(hio_jw_end(&w) == -1 && b.len == len);
		}
	}
	/* Past the buffer's limit: refused, cut back. */
	{
		char big[3000];
		size_t len = b.len;

		memset(big, 'y', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		hio_jw_begin(&w, &b);
		hio_jw_str(&w, "a", big);
		hio_jw_str(&w, "b", big);
		CHECK(hio_jw_end(&w) == -1 && b.len == len);
	}
	hio_buf_free(&b);
}

/* Ids come from a pool of random bytes: distinct, and never the same in a forked
 * child as in its parent (the child's pool starts empty). */
static void test_id_pool(void)
{
	enum { N = 5000 };
	char id[HIO_ID_LEN + 1], child[HIO_ID_LEN + 1] = "", next[HIO_ID_LEN + 1];
	struct hio_hmap seen;
	static char ids[N][HIO_ID_LEN + 1];
	size_t dup = 0, bad = 0;
	int pfd[2], st = 0;
	pid_t pid;

	hio_hmap_init(&seen);
	for (int i = 0; i < N; i++) {
		hio_id_new(ids[i]);
		bad += !hio_id_valid(ids[i]);
		dup += hio_hmap_get(&seen, ids[i]) != NULL;
		CHECK(hio_hmap_put(&seen, ids[i], ids[i]) == 0);
	}
	CHECK(bad == 0 && dup == 0);
	hio_hmap_free(&seen);
	hio_id_new(id); /* the pool is part used */
	CHECK(pipe(pfd) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		hio_id_new(child);
		_exit(write(pfd[1], child, HIO_ID_LEN) == HIO_ID_LEN ? 0 : 1);
	}
	close(pfd[1]);
	CHECK(read(pfd[0], child, HIO_ID_LEN) == HIO_ID_LEN);
	close(pfd[0]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	hio_id_new(next);
	CHECK(hio_id_valid(child) && strcmp(child, next) != 0 && strcmp(child, id) != 0);
}

int main(void)
{
	char id[HIO_ID_LEN + 1], id2[HIO_ID_LEN + 1], big[5000];
	const char *why = NULL;
	struct hio_buf b;

	test_hmap();
	test_id_pool();
	test_jw();

	/* The one number parser: whole strings, in range, or an error that names the flag. */
	{
		long v = -7;
		double d = 0;
		char err[128];
		int iv = 0;

		CHECK(hio_parse_long("5", 0, 10, &v) == 0 && v == 5);
		CHECK(hio_parse_long("0", 0, 10, &v) == 0 && v == 0);
		CHECK(hio_parse_long("-3", -5, 5, &v) == 0 && v == -3);
		v = 42;
		CHECK(hio_parse_long("5x", 0, 10, &v) < 0 && errno == EINVAL && v == 42);
		CHECK(hio_parse_long("abc", 0, 10, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_long("", 0, 10, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_long(" 5", 0, 10, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_long("5 ", 0, 10, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_long("-1", 0, 10, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_long("+1", 0, 10, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_long("11", 0, 10, &v) < 0 && errno == ERANGE);
		CHECK(hio_parse_long("99999999999999999999", 0, 10, &v) < 0 && errno == ERANGE);
		CHECK(hio_parse_long(NULL, 0, 10, &v) < 0 && errno == EINVAL && v == 42);
		CHECK(hio_parse_flag("--port", "99999", 0, 65535, &v, err, sizeof(err)) < 0);
		CHECK(!strcmp(err, "--port: '99999' is not a whole number from 0 to 65535"));
		CHECK(hio_parse_flag_int("--pes", "5", 0, 9, &iv, err, sizeof(err)) == 0 &&
		      iv == 5);
		/* Ages: a unit of s, m, h, d or w, or none (seconds). */
		CHECK(hio_parse_age("90", 1000, &v) == 0 && v == 90);
		CHECK(hio_parse_age("2m", 1000, &v) == 0 && v == 120);
		CHECK(hio_parse_age("3h", 100000, &v) == 0 && v == 10800);
		CHECK(hio_parse_age("7d", 1000000, &v) == 0 && v == 604800);
		CHECK(hio_parse_age("1w", 1000000, &v) == 0 && v == 604800);
		CHECK(hio_parse_age("0s", 10, &v) == 0 && v == 0);
		v = 42;
		CHECK(hio_parse_age("1y", 1000, &v) < 0 && errno == EINVAL && v == 42);
		CHECK(hio_parse_age("2dd", 1000000, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_age("-1d", 1000000, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_age("d", 1000000, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_age("", 1000000, &v) < 0 && errno == EINVAL);
		CHECK(hio_parse_age("2d", 100000, &v) < 0 && errno == ERANGE && v == 42);
		CHECK(hio_parse_age("99999999999999999999w", LONG_MAX, &v) < 0 && errno == ERANGE);
		CHECK(hio_parse_double("2.5", 0, 10, &d) == 0 && d == 2.5);
		CHECK(hio_parse_double("1e3", 0, 1e4, &d) == 0 && d == 1000);
		CHECK(hio_parse_double("2.5mb", 0, 10, &d) < 0 && errno == EINVAL);
		CHECK(hio_parse_double("nan", 0, 10, &d) < 0);
		CHECK(hio_parse_double("inf", 0, 1e308, &d) < 0);
		CHECK(hio_parse_double("11", 0, 10, &d) < 0 && errno == ERANGE);
	}

	/* The logger holds back repeats that differ only in their numbers. */
	hio_log_init("test_util");
	hio_log_set_func(capture, NULL);
	for (int i = 0; i < 100; i++)
		hio_warn("cannot reach 10.0.0.%d; retrying in %d ms", i % 7, 50 * i);
	CHECK(log_lines == 1);
	hio_warn("another line");
	CHECK(log_lines == 2 && strstr(log_last, "another line"));
	/* Information lines are events, each written. */
	hio_info("resident command started (pid %d)", 1);
	hio_info("resident command started (pid %d)", 2);
	CHECK(log_lines == 4);
	hio_log_set_func(NULL, NULL);

	CHECK(valid("a"));
	CHECK(valid("plate1/A01/t003.tif"));
	CHECK(valid(".hidden/x"));
	CHECK(valid("a..b/c"));
	CHECK(!valid(""));
	CHECK(!valid("/etc/passwd"));
	CHECK(!valid("../x"));
	CHECK(!valid("a/../../x"));
	CHECK(!valid("a/./b"));
	CHECK(!valid("a//b"));
	CHECK(!valid("a/"));
	CHECK(!valid(".."));
	CHECK(!hio_name_valid("a\0b", 3, &why));
	CHECK(why && strstr(why, "NUL"));
	/* UTF-8 only: names travel in JSON. */
	CHECK(valid("caf\xc3\xa9/\xe6\x97\xa5\xf0\x9f\x94\xac.tif"));
	why = NULL;
	CHECK(!hio_name_valid("caf\xe9.txt", 8, &why));
	CHECK(why && strcmp(why, "name is not UTF-8") == 0);
	CHECK(!valid("a\xc3"));		   /* cut short */
	CHECK(!valid("\xc0\xaf"));	   /* an overlong '/' */
	CHECK(!valid("\xed\xa0\x80"));	   /* a surrogate */
	CHECK(!valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
	/* The length bounds the check: a sequence cut by it is not read past it. */
	CHECK(hio_utf8_valid("\xc3\xa9", 2) && !hio_utf8_valid("\xc3\xa9", 1));
	CHECK(hio_utf8_seq("\xe2\x82\xac", 3) == 3 && hio_utf8_seq("\xe2\x82\xac", 2) == 0);
	memset(big, 'a', sizeof(big));
	for (int i = 100; i < 4096; i += 100)
		big[i] = '/';
	CHECK(hio_name_valid(big, 4096, NULL));
	CHECK(!hio_name_valid(big, 4097, &why));

	CHECK(strcmp(hio_name_strip("/data/x.tif"), "data/x.tif") == 0);
	CHECK(strcmp(hio_name_strip("./a/b"), "a/b") == 0);
	CHECK(strcmp(hio_name_strip("../../x"), "x") == 0);
	CHECK(strcmp(hio_name_strip(".//./x"), "x") == 0);

	hio_id_new(id);
	hio_id_new(id2);
	CHECK(hio_id_valid(id));
	CHECK(strcmp(id, id2) != 0);
	CHECK(!hio_id_valid("0123"));
	CHECK(!hio_id_valid("0123456789ABCDEF0123456789abcdef"));
	CHECK(!hio_id_valid(NULL));

	CHECK(hio_token_eq("secret", "secret"));
	CHECK(!hio_token_eq("secret", "secreT"));
	CHECK(!hio_token_eq("secret", "secret2"));
	CHECK(!hio_token_eq("secret", ""));
	CHECK(!hio_token_eq("", ""));
	CHECK(!hio_token_eq("secret", NULL));
	{
		/* Two tokens over the maximum that differ only past it were equal before. */
		char l1[HIO_TOKEN_MAX + 8], l2[HIO_TOKEN_MAX + 8];

		memset(l1, 'a', sizeof(l1) - 1);
		l1[sizeof(l1) - 1] = '\0';
		memcpy(l2, l1, sizeof(l2));
		l2[HIO_TOKEN_MAX + 3] = 'b';
		CHECK(!hio_token_eq(l1, l2));
		CHECK(!hio_token_eq(l1, l1));
		l1[HIO_TOKEN_MAX] = '\0'; /* exactly the maximum: a valid length */
		CHECK(hio_token_eq(l1, l1));
	}

	CHECK(hio_pipeline_valid("default"));
	CHECK(hio_pipeline_valid("gfp-2.0_x"));
	CHECK(!hio_pipeline_valid("a/b"));
	CHECK(!hio_pipeline_valid(".."));
	CHECK(!hio_pipeline_valid(""));

	hio_buf_init(&b, 10);
	CHECK(hio_buf_append(&b, "12345", 5) == 0);
	CHECK(hio_buf_printf(&b, "%d", 6789) == 0);
	CHECK(b.len == 9 && strcmp(b.data, "123456789") == 0);
	CHECK(hio_buf_append(&b, "ab", 2) == -1);
	CHECK(b.len == 9);
	CHECK(hio_buf_append(&b, "a", 1) == 0);
	hio_buf_free(&b);
	test_rm_deep();
	test_dir_is_empty();
	test_log_limited();
	return check_result("test_util");
}
