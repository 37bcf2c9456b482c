/* hio status, send, results, scale, wait: clients of a running cluster. */
#include "cli.h"
#include "hio_log.h"
#include "hio_stream.h"
#include "hio_util.h"
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEND_GIVE_UP_MS 120000
#define WAIT_POLL_MS 50
/* A mount that has not reported for this long is silent (killed, cut off): hio wait
 * waits for it. hio-fs reports every half second. */
#define WAIT_MOUNT_STALE_MS 5000
/* A report counts only when it reached the master this long after the wait began: one
 * already under way when a file closed may still say "nothing pending". */
#define WAIT_MOUNT_SLACK_MS 250

const struct option cli_common_opts[CLI_COMMON_NOPTS + 1] = {
    {"state-dir", required_argument, 0, OPT_STATE},
    {"pipeline", required_argument, 0, OPT_PIPELINE},
    {"json", no_argument, 0, OPT_JSON},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {0, 0, 0, 0}};
const struct option cli_send_opts[] = {{"compress", required_argument, 0, OPT_COMPRESS},
				       {"no-progress", no_argument, 0, OPT_NO_PROGRESS},
				       {0, 0, 0, 0}};
const struct option cli_scale_opts[] = {{"min-pes", required_argument, 0, OPT_MIN_PES},
					{"max-pes", required_argument, 0, OPT_MAX_PES},
					{"idle-ms", required_argument, 0, OPT_IDLE_MS},
					{0, 0, 0, 0}};
const struct option cli_wait_opts[] = {{"no-progress", no_argument, 0, OPT_NO_PROGRESS},
				       {0, 0, 0, 0}};

/* Parses the options every client command shares; returns the first positional index
 * or -1 on a bad option. */
int parse_common(int argc, char **argv, struct common *c, const struct option *extra,
		 int (*on_extra)(int opt, const char *arg, void *ud), void *ud)
{
	struct option opts[16];
	char err[128];
	int n = CLI_COMMON_NOPTS, o;

	memcpy(opts, cli_common_opts, sizeof(cli_common_opts));
	for (; extra && extra->name && n < 15; extra++)
		opts[n++] = *extra;
	opts[n] = (struct option){0, 0, 0, 0};
	c->pipeline = "default";
	c->timeout_s = -1;
	optind = 1;
	while ((o = cli_getopt(argc, argv, opts, NULL)) != -1) {
		switch (o) {
		case OPT_STATE:
			c->state_dir = optarg;
			break;
		case OPT_PIPELINE:
			c->pipeline = optarg;
			break;
		case OPT_JSON:
			c->json = 1;
			break;
		case OPT_TIMEOUT:
			if (hio_parse_flag("--timeout", optarg, 0, 86400L * 365, &c->timeout_s, err,
					   sizeof(err))) {
				cli_fail("%s", err);
				return -1;
			}
			break;
		default:
			if (!on_extra || on_extra(o, optarg, ud) < 0)
				return -1;
		}
	}
	if (!hio_pipeline_valid(c->pipeline)) {
		cli_fail("bad pipeline name '%s'", c->pipeline);
		return -1;
	}
	return optind;
}

/* ------------------------------------------------------------------ status */

static json_t *find_pipeline(json_t *st, const char *name)
{
	json_t *ps = json_object_get(st, "pipelines"), *p;
	size_t i;

	json_array_foreach(ps, i, p)
	{
		const char *n = json_string_value(json_object_get(p, "name"));
		if (n && !strcmp(n, name))
			return p;
	}
	return NULL;
}

int cmd_status(int argc, char **argv)
{
	struct common c = {0};
	struct hio_client_conf conf;
	hio_http *h;
	json_t *st, *v;
	size_t i;

	if (parse_common(argc, argv, &c, NULL, NULL, NULL) < 0)
		return cli_fail("usage: hio status [--json] [--state-dir DIR]");
	if (!(h = cli_connect(c.state_dir, &conf)))
		return 1;
	st = cli_status(h);
	hio_http_free(h);
	if (!st)
		return 1;
	if (c.json) {
		json_dumpf(st, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(st);
		return 0;
	}
	printf("master %s\n", conf.master);
	{
		json_t *cnt = json_object_get(st, "counters");
		long long full_at = json_integer_value(json_object_get(cnt, "disk_full_at_ms"));
		long long ago = (long long)(hio_now_us() / 1000) - full_at;

		/* Shown for an hour after the last refusal: long enough to be noticed. */
		if (full_at > 0 && ago < 3600 * 1000LL)
			printf("master: STATE DISK FULL %llds ago: %lld result(s) refused; free "
			       "space in its state directory\n",
			       ago / 1000,
			       json_integer_value(json_object_get(cnt, "disk_full_refused")));
	}
	printf("%-34s %-10s %-8s %s\n", "WORKER", "STATE", "MAX_PES", "HOST");
	json_array_foreach(json_object_get(st, "workers"), i, v)
	    printf("%-34s %-10s %-8lld %s\n", json_string_value(json_object_get(v, "id")),
		   json_string_value(json_object_get(v, "state")),
		   (long long)json_integer_value(json_object_get(v, "max_pes")),
		   json_string_value(json_object_get(v, "host")));
	printf("%-34s %-10s %-12s %s\n", "PE", "STATE", "PIPELINE", "ADDRESS");
	json_array_foreach(json_object_get(st, "pes"), i, v)
	    printf("%-34s %-10s %-12s %s:%lld\n", json_string_value(json_object_get(v, "id")),
		   json_string_value(json_object_get(v, "state")),
		   json_string_value(json_object_get(v, "pipeline")),
		   json_string_value(json_object_get(v, "host")),
		   (long long)json_integer_value(json_object_get(v, "port")));
	printf("%-12s %8s %8s %8s %8s %5s %s\n", "PIPELINE", "QUEUE", "IN", "DONE", "FAILED", "PES",
	       "SCALE");
	json_array_foreach(json_object_get(st, "pipelines"), i, v)
	{
		char scale[64];

		if (json_is_true(json_object_get(v, "autoscale")))
			snprintf(scale, sizeof(scale), "auto %lld..%lld, aiming at %lld",
				 (long long)json_integer_value(json_object_get(v, "min_pes")),
				 (long long)json_integer_value(json_object_get(v, "max_pes")),
				 (long long)json_integer_value(json_object_get(v, "desired")));
		else
			snprintf(scale, sizeof(scale), "by hand");
		printf("%-12s %8lld %8lld %8lld %8lld %5lld %s\n",
		       json_string_value(json_object_get(v, "name")),
		       (long long)json_integer_value(json_object_get(v, "queue_length")),
		       (long long)json_integer_value(json_object_get(v, "in")),
		       (long long)json_integer_value(json_object_get(v, "done")),
		       (long long)json_integer_value(json_object_get(v, "failed")),
		       (long long)json_integer_value(json_object_get(v, "pes")), scale);
	}
	if (json_array_size(json_object_get(st, "mounts")))
		printf("%-24s %-12s %-14s %8s %8s %12s %8s %s\n", "MOUNT", "HOST", "STATE",
		       "SPOOLED", "WAITING", "SPOOL_MB", "FAILING", "LAST_ERROR");
	json_array_foreach(json_object_get(st, "mounts"), i, v)
	{
		const char *le = json_string_value(json_object_get(v, "last_error"));
		json_int_t age = json_integer_value(json_object_get(v, "age_ms"));
		json_int_t bytes = json_integer_value(json_object_get(v, "spool_bytes"));
		json_int_t max = json_integer_value(json_object_get(v, "spool_max"));
		json_int_t failing = json_integer_value(json_object_get(v, "failing"));
		char state[32];

		/* What needs a person first: a mount the master stopped hearing from (it may
		 * hold files nobody else knows of), a full spool (writes fail with ENOSPC),
		 * deliveries that keep failing. */
		if (age > WAIT_MOUNT_STALE_MS)
			snprintf(state, sizeof(state), "silent %llds", (long long)(age / 1000));
		else if (max > 0 && bytes >= max - max / 20)
			snprintf(state, sizeof(state), "spool full");
		else if (failing > 0)
			snprintf(state, sizeof(state), "failing");
		else
			snprintf(state, sizeof(state), "ok");
		printf("%-24s %-12s %-14s %8lld %8lld %12.1f %8lld %s\n",
		       json_string_value(json_object_get(v, "mountpoint")),
		       json_string_value(json_object_get(v, "host")), state,
		       (long long)json_integer_value(json_object_get(v, "spooled")),
		       (long long)json_integer_value(json_object_get(v, "waiting")),
		       (double)bytes / 1048576.0, (long long)failing, le ? le : "-");
	}
	json_decref(st);
	return 0;
}

/* ------------------------------------------------------------------ send */

static void on_send_ack(void *ud, const struct hio_ack *a)
{
	struct send_ctx *c = ud;

	pthread_mutex_lock(&c->mu);
	if (a->ok) {
		c->acked++;
		cli_progress_clear_for_stdout(&c->prog);
		printf("%s %s %s via %s\n", a->name, a->status, a->id,
		       a->via == HIO_VIA_PE ? "pe" : "backlog");
		fflush(stdout);
	} else {
		c->failed++;
		cli_fail("%s not sent: %s", a->name, a->error ? a->error : "unknown");
	}
	cli_progress_show(&c->prog, c->acked + c->failed, c->total, c->failed, 0);
	pthread_mutex_unlock(&c->mu);
}

/* cli_fail under the ack mutex, the progress line taken off first, so the two never
 * share a terminal line. */
static __attribute__((format(printf, 2, 3))) void send_fail(struct send_ctx *c, const char *fmt,
							    ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->mu);
	cli_fail("%s", msg);
	pthread_mutex_unlock(&c->mu);
}

hio_stream *cli_send_open(const struct common *c, const struct hio_client_conf *conf,
			  enum hio_compress comp, struct send_ctx *ctx, char *err, size_t errlen)
{
	struct hio_stream_opts so = {0};

	so.master = conf->master;
	so.token = conf->token;
	so.pipeline = c->pipeline;
	so.compress = comp;
	so.give_up_ms = c->timeout_s > 0 ? c->timeout_s * 1000 : SEND_GIVE_UP_MS;
	so.on_ack = on_send_ack;
	so.ack_ud = ctx;
	return hio_stream_open(&so, err, errlen);
}

/* Sends path (a file, or every regular file below a directory). Returns files queued;
 * what could not be queued is reported and counted in *bad. */
static int send_path(hio_stream *s, const char *path, int *bad, struct send_ctx *c)
{
	struct stat st;
	const char *name;
	int n = 0;

	if (stat(path, &st) < 0) {
		send_fail(c, "cannot read %s: %s", path, strerror(errno));
		(*bad)++;
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		struct dirent **ents;
		int k = scandir(path, &ents, NULL, alphasort);
		if (k < 0) {
			send_fail(c, "cannot list %s: %s", path, strerror(errno));
			(*bad)++;
			return 0;
		}
		for (int i = 0; i < k; i++) {
			char sub[PATH_MAX];
			const char *d = ents[i]->d_name;
			if (strcmp(d, ".") && strcmp(d, "..") &&
			    snprintf(sub, sizeof(sub), "%s%s%s", path,
				     path[strlen(path) - 1] == '/' ? "" : "/",
				     d) < (int)sizeof(sub))
				n += send_path(s, sub, bad, c);
			free(ents[i]);
		}
		free(ents);
		return n;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	name = hio_name_strip(path);
	if (hio_stream_send_file(s, path, name, NULL, 0, NULL) < 0) {
		if (errno == EINVAL) {
			const char *why = "bad name";
			hio_name_valid(name, strlen(name), &why);
			send_fail(c, "cannot send %s: %s", path, why);
		} else {
			send_fail(c, "cannot send %s: %s", path, strerror(errno));
		}
		(*bad)++;
		return 0;
	}
	return 1;
}

struct send_opts {
	enum hio_compress comp;
	int progress;
};

static int send_opt(int opt, const char *arg, void *ud)
{
	struct send_opts *o = ud;

	if (opt == OPT_NO_PROGRESS) {
		o->progress = 0;
		return 0;
	}
	if (opt != OPT_COMPRESS)
		return -1;
	if (!strcmp(arg, "auto"))
		o->comp = HIO_COMPRESS_AUTO;
	else if (!strcmp(arg, "on"))
		o->comp = HIO_COMPRESS_ON;
	else if (!strcmp(arg, "off"))
		o->comp = HIO_COMPRESS_OFF;
	else
		return -1;
	return 0;
}

int cmd_send(int argc, char **argv)
{
	struct common c = {0};
	struct hio_client_conf conf;
	struct send_ctx ctx = {.mu = PTHREAD_MUTEX_INITIALIZER, .total = -1};
	struct send_opts sopt = {.comp = HIO_COMPRESS_AUTO, .progress = 1};
	hio_stream *s;
	char err[512];
	int first, bad = 0, queued = 0;

	first = parse_common(argc, argv, &c, cli_send_opts, send_opt, &sopt);
	if (first < 0 || first >= argc)
		return cli_fail("usage: hio send [--pipeline P] [--compress auto|on|off] "
				"[--no-progress] FILE|DIR...");
	cli_progress_init(&ctx.prog, "send", "sent", sopt.progress);
	if (hio_client_conf_load(&conf, c.state_dir, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	s = cli_send_open(&c, &conf, sopt.comp, &ctx, err, sizeof(err));
	if (!s)
		return cli_fail("%s", err);
	for (int i = first; i < argc; i++)
		queued += send_path(s, argv[i], &bad, &ctx);
	pthread_mutex_lock(&ctx.mu);
	ctx.total = queued;
	cli_progress_show(&ctx.prog, ctx.acked + ctx.failed, ctx.total, ctx.failed, 0);
	pthread_mutex_unlock(&ctx.mu);
	hio_stream_flush(s, -1);
	hio_stream_close(s);
	/* The acks are all in: no callback runs any more. */
	cli_progress_show(&ctx.prog, ctx.acked + ctx.failed, ctx.total, ctx.failed, 1);
	if (ctx.failed || bad)
		return cli_fail("%d of %d file(s) not sent", ctx.failed + bad, queued + bad);
	return 0;
}

/* ------------------------------------------------------------------ scale, wait */

/* hio scale's bounds and idle delay, sent along when given. */
static int scale_opt(int opt, const char *arg, void *ud)
{
	json_t *body = ud;
	const char *key = opt == OPT_MIN_PES   ? "min_pes"
			  : opt == OPT_MAX_PES ? "max_pes"
					       : "idle_ms";
	const char *flag = opt == OPT_MIN_PES	? "--min-pes"
			   : opt == OPT_MAX_PES ? "--max-pes"
						: "--idle-ms";
	char err[128];
	long v;

	if (opt != OPT_MIN_PES && opt != OPT_MAX_PES && opt != OPT_IDLE_MS)
		return -1;
	if (hio_parse_flag(flag, arg, 0, 100000000L, &v, err, sizeof(err))) {
		cli_fail("%s", err);
		return -1;
	}
	return json_object_set_new(body, key, json_integer(v));
}

/* N sets the count and turns the autoscaler off for the pipeline, so a count set by
 * hand stays; "auto" turns it on again, going on from the current count. */
int cmd_scale(int argc, char **argv)
{
	struct common c = {0};
	struct hio_client_conf conf;
	char path[128], err[512];
	hio_http *h;
	json_t *body = json_object();
	long code;
	int first, n, rc = 1;

	first = parse_common(argc, argv, &c, cli_scale_opts, scale_opt, body);
	if (first < 0 || argc - first != 1) {
		cli_fail("usage: hio scale [--pipeline P] [--min-pes N] [--max-pes N] "
			 "[--idle-ms MS] N|auto");
		goto out;
	}
	if (!strcmp(argv[first], "auto")) {
		json_object_set_new(body, "autoscale", json_true());
	} else {
		if (hio_parse_flag_int("N", argv[first], 0, 1000, &n, err, sizeof(err))) {
			cli_fail("the PE count must be a number from 0 to 1000, or auto");
			goto out;
		}
		json_object_set_new(body, "pes", json_integer(n));
		json_object_set_new(body, "autoscale", json_false());
	}
	if (!(h = cli_connect(c.state_dir, &conf)))
		goto out;
	snprintf(path, sizeof(path), "/v1/pipelines/%s", c.pipeline);
	code = hio_http_json(h, "POST", path, body, NULL, err, sizeof(err));
	hio_http_free(h);
	if (code != 200) {
		cli_fail("cannot scale %s: %s", c.pipeline, err);
		goto out;
	}
	rc = 0;
out:
	json_decref(body);
	return rc;
}

/* Every mount of the pipeline has nothing pending, said in a report that reached the
 * master well after the wait began (an older one may predate a file just closed). A
 * silent mount (killed, cut off from the master) is pending whatever it last said: it
 * may hold accepted files the master never heard of. A mount that stops cleanly with
 * nothing pending deregisters. What is still pending goes into why. */
static int mounts_drained(json_t *st, const char *pipeline, uint64_t waited_ms, char *why,
			  size_t whylen)
{
	json_t *mounts = json_object_get(st, "mounts"), *mt;
	size_t i;

	json_array_foreach(mounts, i, mt)
	{
		const char *pl = json_string_value(json_object_get(mt, "pipeline"));
		const char *host = json_string_value(json_object_get(mt, "host"));
		const char *mp = json_string_value(json_object_get(mt, "mountpoint"));
		json_int_t age = json_integer_value(json_object_get(mt, "age_ms"));
		json_int_t spooled = json_integer_value(json_object_get(mt, "spooled"));

		if (!pl || strcmp(pl, pipeline))
			continue;
		if (age > WAIT_MOUNT_STALE_MS) {
			snprintf(why, whylen,
				 "the mount %s:%s, silent for %lld s (it last said %lld file(s) "
				 "pending); it may hold files the master has not seen",
				 host ? host : "?", mp ? mp : "?", (long long)(age / 1000),
				 (long long)spooled);
			return 0;
		}
		if (spooled > 0) {
			snprintf(why, whylen, "%lld file(s) in the spool of %s:%s",
				 (long long)spooled, host ? host : "?", mp ? mp : "?");
			return 0;
		}
		if ((uint64_t)age + WAIT_MOUNT_SLACK_MS >= waited_ms) {
			snprintf(why, whylen, "a fresh report from the mount %s:%s",
				 host ? host : "?", mp ? mp : "?");
			return 0;
		}
	}
	return 1;
}

static int progress_opt(int opt, const char *arg, void *ud)
{
	(void)arg;
	if (opt != OPT_NO_PROGRESS)
		return -1;
	*(int *)ud = 0;
	return 0;
}

int cmd_wait(int argc, char **argv)
{
	struct common c = {0};
	struct hio_client_conf conf;
	hio_http *h;
	uint64_t start, deadline;
	struct cli_progress prog;
	char why[512] = "the master";
	int rc = 1, progress = 1;

	if (parse_common(argc, argv, &c, cli_wait_opts, progress_opt, &progress) < 0)
		return cli_fail("usage: hio wait [--pipeline P] [--timeout SEC] [--no-progress]");
	cli_progress_init(&prog, "wait", "done", progress);
	if (!(h = cli_connect(c.state_dir, &conf)))
		return 1;
	start = hio_mono_ms();
	deadline = start + (uint64_t)(c.timeout_s > 0 ? c.timeout_s : 600) * 1000;
	for (;;) {
		json_t *st = cli_status(h), *p;
		if (!st)
			break;
		p = find_pipeline(st, c.pipeline);
		if (p) {
			json_int_t in = json_integer_value(json_object_get(p, "in"));
			json_int_t fin = json_integer_value(json_object_get(p, "done")) +
					 json_integer_value(json_object_get(p, "failed"));
			json_int_t queued = json_integer_value(json_object_get(p, "queue_length"));
			json_int_t leased = json_integer_value(json_object_get(p, "leased"));
			cli_progress_show(&prog, fin, in,
					  json_integer_value(json_object_get(p, "failed")), 0);
			if (queued || leased)
				snprintf(why, sizeof(why),
					 "%lld queued and %lld leased in the backlog",
					 (long long)queued, (long long)leased);
			else if (fin < in)
				snprintf(why, sizeof(why), "%lld input(s) without a result",
					 (long long)(in - fin));
			else if (mounts_drained(st, c.pipeline, hio_mono_ms() - start, why,
						sizeof(why))) {
				cli_progress_show(&prog, fin, in,
						  json_integer_value(json_object_get(p, "failed")),
						  1);
				json_decref(st);
				rc = 0;
				break;
			}
		} else {
			snprintf(why, sizeof(why), "pipeline %s to exist", c.pipeline);
		}
		json_decref(st);
		if (hio_mono_ms() > deadline) {
			cli_fail("pipeline %s still busy after %ld s: waiting for %s", c.pipeline,
				 c.timeout_s > 0 ? c.timeout_s : 600, why);
			break;
		}
		struct timespec ts = {0, WAIT_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	hio_http_free(h);
	return rc;
}
