/* hio results [--failed] [--json], results show|get|rm, and hio retry: the result
 * index, read a page at a time (GET /v1/results?limit=&after=), so a listing of any
 * length costs one page of memory here and in the master. */
#include "cli.h"
#include "hio_log.h"
#include "hio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESULTS_PAGE 1000 /* entries asked for per page (the master's default) */
/* One page's answer: the master ends a page near 256 KiB, after at least one entry,
 * and one entry may list HIO_RESULT_FILES_MAX (10,000) names of up to 4 KiB. */
#define RESULTS_PAGE_RESP_MAX (64u << 20)
#define RESULTS_AGE_MAX_S (100L * 366 * 86400) /* --older-than: a century */

const struct option cli_results_opts[] = {{"failed", no_argument, 0, OPT_FAILED},
					  {"older-than", required_argument, 0, OPT_OLDER},
					  {0, 0, 0, 0}};
const struct option cli_retry_opts[] = {
    {"failed", no_argument, 0, OPT_FAILED}, {"from", required_argument, 0, OPT_FROM}, {0, 0, 0, 0}};

struct rflags {
	int failed;
	const char *older, *from;
};

static int results_opt(int opt, const char *arg, void *ud)
{
	struct rflags *f = ud;

	switch (opt) {
	case OPT_FAILED:
		f->failed = 1;
		return 0;
	case OPT_OLDER:
		f->older = arg;
		return 0;
	case OPT_FROM:
		f->from = arg;
		return 0;
	default:
		return -1;
	}
}

/* One call to the results endpoint: the answer's JSON on 2xx, else NULL after saying
 * why (the master's one-line reason). */
static json_t *results_call(hio_http *h, const char *method, const char *path, long *status)
{
	/* A deletion of many entries removes their directories before it answers. */
	struct hio_http_req req = {.method = method,
				   .path = path,
				   .resp_max = RESULTS_PAGE_RESP_MAX,
				   .timeout_ms = strcmp(method, "DELETE") ? 60000 : 3600000};
	struct hio_http_resp resp = {0};
	json_t *j = NULL, *e;

	*status = 0;
	if (hio_http_do(h, &req, &resp) < 0) {
		cli_fail("cannot reach the master: %s", resp.err);
		goto out;
	}
	*status = resp.status;
	j = resp.body.data ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
	if (resp.status / 100 != 2) {
		e = json_object_get(j, "error");
		cli_fail("%s", json_is_string(e) ? json_string_value(e) : "the master said no");
		json_decref(j);
		j = NULL;
	} else if (!json_is_object(j)) {
		cli_fail("the master's answer is not a JSON object");
		json_decref(j);
		j = NULL;
	}
out:
	hio_buf_free(&resp.body);
	return j;
}

/* Calls fn on every entry (of state failed when failed), a page at a time. 0, or 1
 * after saying why; fn returning non-zero stops with that. */
static int results_each(hio_http *h, const char *pipeline, int failed,
			int (*fn)(void *ud, json_t *entry), void *ud)
{
	char *ep = hio_http_escape(pipeline), *after = NULL;
	int rc = 0;

	if (!ep)
		return cli_fail("out of memory");
	do {
		char *ea = after ? hio_http_escape(after) : NULL;
		size_t plen = strlen(ep) + (ea ? strlen(ea) : 0) + 128;
		char *path = malloc(plen);
		json_t *page = NULL, *e, *next;
		long status;
		size_t i;

		if (path && (!after || ea))
			snprintf(path, plen, "/v1/results?pipeline=%s&limit=%d%s%s%s", ep,
				 RESULTS_PAGE, failed ? "&state=failed" : "", ea ? "&after=" : "",
				 ea ? ea : "");
		else
			free(path), path = NULL;
		free(ea);
		page = path ? results_call(h, "GET", path, &status) : NULL;
		if (!path)
			cli_fail("out of memory");
		free(path);
		free(after);
		after = NULL;
		if (!page) {
			rc = 1;
			break;
		}
		json_array_foreach(json_object_get(page, "results"), i, e)
		{
			if (rc == 0)
				rc = fn(ud, e);
		}
		next = json_object_get(page, "next");
		if (rc == 0 && json_is_string(next) && !(after = strdup(json_string_value(next))))
			rc = cli_fail("out of memory");
		json_decref(page);
	} while (rc == 0 && after);
	free(after);
	free(ep);
	return rc;
}

struct list_ctx {
	int json;
	size_t n;
};

/* A name in the plain listing: control bytes, the backslash and (in a list) the comma
 * are escaped as \n, \t, \\, \xHH, so a name cannot forge lines or fields. */
static void put_name(const char *s, int in_list)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch == '\\')
			fputs("\\\\", stdout);
		else if (ch < 0x20 || ch == 0x7f || (in_list && ch == ','))
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static int print_entry(void *ud, json_t *e)
{
	struct list_ctx *c = ud;
	json_t *f;
	size_t j;

	if (c->json) {
		char *t = json_dumps(e, JSON_COMPACT);

		if (!t)
			return cli_fail("out of memory");
		printf("%s  %s", c->n ? ",\n" : "[\n", t);
		free(t);
	} else {
		put_name(json_string_value(json_object_get(e, "name")), 0);
		printf("\t%s\t", json_string_value(json_object_get(e, "state")));
		json_array_foreach(json_object_get(e, "files"), j, f)
		{
			if (j)
				putchar(',');
			put_name(json_string_value(json_object_get(f, "name")), 1);
		}
		putchar('\n');
	}
	c->n++;
	return ferror(stdout) ? cli_fail("cannot write the listing: %s", strerror(errno)) : 0;
}

/* The entry of one input, or NULL after saying so. Names sort before any longer name
 * they are a prefix of, so the first entry of prefix=NAME is NAME's when it exists. */
static json_t *results_find(hio_http *h, const char *pipeline, const char *name)
{
	char *ep = hio_http_escape(pipeline), *en = hio_http_escape(name), *path = NULL;
	json_t *page = NULL, *e, *found = NULL;
	long status;

	if (ep && en && (path = malloc(strlen(ep) + strlen(en) + 64)))
		sprintf(path, "/v1/results?pipeline=%s&prefix=%s&limit=1", ep, en);
	page = path ? results_call(h, "GET", path, &status) : NULL;
	free(ep), free(en), free(path);
	e = json_array_get(json_object_get(page, "results"), 0);
	if (e && json_is_string(json_object_get(e, "name")) &&
	    !strcmp(json_string_value(json_object_get(e, "name")), name))
		found = json_incref(e);
	else if (page)
		cli_fail("no result entry named '%s' in pipeline %s", name, pipeline);
	json_decref(page);
	return found;
}

/* The process's umask (reading it means setting it; the CLI has one thread here). */
static mode_t umask_now(void)
{
	mode_t m = umask(022);

	umask(m);
	return m;
}

static int file_sink(void *ud, const void *p, size_t n)
{
	return hio_write_all(*(int *)ud, p, n);
}

static int results_get(hio_http *h, const char *pipeline, const char *name, const char *dir)
{
	json_t *entry = results_find(h, pipeline, name), *f;
	size_t i;
	int rc = 1;

	if (!entry)
		return 1;
	json_array_foreach(json_object_get(entry, "files"), i, f)
	{
		const char *fname = json_string_value(json_object_get(f, "name"));
		char dst[PATH_MAX], tmp[PATH_MAX + 16], path[HIO_NAME_MAX * 3 + 512];
		char *en = hio_http_escape(name), *ef = hio_http_escape(fname ? fname : ""),
		     *ep = hio_http_escape(pipeline), *slash;
		struct hio_http_req req = {
		    .method = "GET", .path = path, .write = file_sink, .timeout_ms = 3600000};
		struct hio_http_resp resp;
		int fd, ok;

		if (!fname || !hio_name_valid(fname, strlen(fname), NULL) || !en || !ef || !ep ||
		    snprintf(dst, sizeof(dst), "%s/%s", dir, fname) >= (int)sizeof(dst)) {
			free(en), free(ef), free(ep);
			cli_fail("refusing result file name '%s'", fname ? fname : "(none)");
			goto out;
		}
		snprintf(path, sizeof(path), "/v1/results/file?pipeline=%s&name=%s&file=%s", ep, en,
			 ef);
		free(en), free(ef), free(ep);
		slash = strrchr(dst, '/');
		*slash = '\0';
		if (hio_mkdir_p(dst) < 0) {
			cli_fail("cannot create %s: %s", dst, strerror(errno));
			goto out;
		}
		/* A temporary name of its own, not dst + a suffix: a result file may have
		 * the longest name a directory takes (255 bytes). */
		snprintf(tmp, sizeof(tmp), "%s/.hio-get-XXXXXX", dst);
		*slash = '/';
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0644 & ~umask_now()) < 0) {
			close(fd);
			unlink(tmp);
			fd = -1;
		}
		if (fd < 0) {
			cli_fail("cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		req.write_ud = &fd;
		ok = hio_http_do(h, &req, &resp) == 0 && resp.status == 200;
		if (!ok)
			cli_fail("cannot fetch %s of %s: %s%s (HTTP %ld)", fname, name, resp.err,
				 resp.body.data ? resp.body.data : "", resp.status);
		hio_buf_free(&resp.body);
		if (close(fd) < 0 || !ok || rename(tmp, dst) < 0) {
			unlink(tmp);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(entry);
	return rc;
}

/* hio results rm NAME | --older-than AGE */
static int results_rm(hio_http *h, const char *pipeline, const char *name, const char *older)
{
	char *ep = hio_http_escape(pipeline), *en = name ? hio_http_escape(name) : NULL;
	char *path = NULL;
	json_t *ans = NULL;
	long age = 0, status;

	if (older && hio_parse_age(older, RESULTS_AGE_MAX_S, &age) < 0) {
		free(ep), free(en);
		return cli_fail("--older-than: '%s' is not an age (a whole number, then s, m, h, d "
				"or w; at most 100 years)",
				older);
	}
	if (ep && (!name || en) && (path = malloc(strlen(ep) + (en ? strlen(en) : 0) + 64))) {
		if (name)
			sprintf(path, "/v1/results?pipeline=%s&name=%s", ep, en);
		else
			sprintf(path, "/v1/results?pipeline=%s&older_than=%ld", ep, age);
	}
	free(ep), free(en);
	ans = path ? results_call(h, "DELETE", path, &status) : NULL;
	free(path);
	if (!ans)
		return 1;
	printf("deleted %lld\n", (long long)json_integer_value(json_object_get(ans, "deleted")));
	json_decref(ans);
	return 0;
}

int cmd_results(int argc, char **argv)
{
	static const char use[] = "usage: hio results [--failed] [--json] | hio results show NAME "
				  "| hio results get NAME DIR | hio results rm NAME|--older-than "
				  "AGE";
	struct common c = {0};
	struct rflags f = {0};
	struct hio_client_conf conf;
	struct list_ctx lc = {0};
	const char *sub;
	hio_http *h;
	json_t *e;
	int first, n, rc;

	first = parse_common(argc, argv, &c, cli_results_opts, results_opt, &f);
	if (first < 0)
		return cli_fail("%s", use);
	sub = first < argc ? argv[first] : NULL;
	n = argc - first;
	if (sub && strcmp(sub, "get") && strcmp(sub, "show") && strcmp(sub, "rm"))
		return cli_fail("unknown results command '%s' (%s)", sub, use + 7);
	if ((sub && !strcmp(sub, "get") && n != 3) || (sub && !strcmp(sub, "show") && n != 2) ||
	    (sub && !strcmp(sub, "rm") && (n == 2) == !!f.older) || (sub && n > 3) ||
	    (f.older && (!sub || strcmp(sub, "rm"))))
		return cli_fail("%s", use);
	if (!(h = cli_connect(c.state_dir, &conf)))
		return 1;
	if (sub && !strcmp(sub, "get")) {
		rc = results_get(h, c.pipeline, argv[first + 1], argv[first + 2]);
	} else if (sub && !strcmp(sub, "show")) {
		e = results_find(h, c.pipeline, argv[first + 1]);
		if (e)
			json_dumpf(e, stdout, JSON_INDENT(2)), putchar('\n');
		rc = !e;
		json_decref(e);
	} else if (sub) {
		rc = results_rm(h, c.pipeline, n == 2 ? argv[first + 1] : NULL, f.older);
	} else {
		lc.json = c.json;
		rc = results_each(h, c.pipeline, f.failed, print_entry, &lc);
		if (c.json && rc == 0)
			fputs(lc.n ? "\n]\n" : "[]\n", stdout);
		if (fflush(stdout) != 0 && rc == 0)
			rc = cli_fail("cannot write the listing: %s", strerror(errno));
	}
	hio_http_free(h);
	return rc;
}

/* ------------------------------------------------------------------ retry */

struct retry_ctx {
	hio_stream *s;
	const char *from;
	int queued, missing;
};

/* Sends FROM/NAME again under NAME: a new message, whose result replaces the old entry
 * (the newer input wins). The master keeps no input bytes once processed, so they are
 * read where they exist: an instrument PC's files, or a mount's. */
static int retry_one(void *ud, json_t *e)
{
	struct retry_ctx *r = ud;
	const char *name = json_string_value(json_object_get(e, "name"));
	char path[PATH_MAX];
	struct stat st;

	if (!name)
		return 0;
	if (snprintf(path, sizeof(path), "%s/%s", r->from, name) >= (int)sizeof(path) ||
	    stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		cli_fail("cannot retry %s: %s is not a readable file (give --from DIR, where the "
			 "input is)",
			 name, path);
		r->missing++;
		return 0;
	}
	if (hio_stream_send_file(r->s, path, name, NULL, 0, NULL) < 0) {
		cli_fail("cannot retry %s: %s", name, strerror(errno));
		r->missing++;
		return 0;
	}
	r->queued++;
	return 0;
}

int cmd_retry(int argc, char **argv)
{
	static const char use[] = "usage: hio retry [--from DIR] NAME...|--failed";
	struct common c = {0};
	struct rflags f = {0};
	struct hio_client_conf conf;
	struct send_ctx ctx = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct retry_ctx r = {0};
	char err[512];
	hio_http *h;
	int first, rc = 0;

	first = parse_common(argc, argv, &c, cli_retry_opts, results_opt, &f);
	if (first < 0 || (first < argc) == f.failed)
		return cli_fail("%s", use);
	r.from = f.from ? f.from : ".";
	if (!(h = cli_connect(c.state_dir, &conf)))
		return 1;
	r.s = cli_send_open(&c, &conf, HIO_COMPRESS_AUTO, &ctx, err, sizeof(err));
	if (!r.s) {
		hio_http_free(h);
		return cli_fail("%s", err);
	}
	if (f.failed) {
		rc = results_each(h, c.pipeline, 1, retry_one, &r);
	} else {
		for (int i = first; i < argc; i++) {
			json_t *e = results_find(h, c.pipeline, argv[i]);

			if (e)
				retry_one(&r, e);
			else
				r.missing++;
			json_decref(e);
		}
	}
	hio_stream_flush(r.s, -1);
	hio_stream_close(r.s);
	hio_http_free(h);
	if (rc == 0 && (ctx.failed || r.missing))
		rc = cli_fail("%d of %d input(s) not retried", ctx.failed + r.missing,
			      r.queued + r.missing);
	return rc;
}
