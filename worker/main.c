/* hio-worker: one per node. Registers with the master, starts and stops PEs on its
 * commands through a runtime (runtime.h), and reports them. Threads:
 *   main       signals (signalfd), runtime calls, child exits, "gone" notices
 *   heartbeat  registration and the 1 s heartbeat with the PE list (master_link.c)
 *   commands   long-polls the master for start/stop and hands them to main
 * docs/worker.md has the picture. */
#include "docker_api.h"
#include "hio_config.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_sync.h"
#include "hio_util.h"
#include "runtime.h"
#include "wk_metrics.h"
#include "worker.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A "gone" notice the master has not taken yet. */
struct gone {
	struct gone *next;
	char id[HIO_ID_LEN + 1];
	char reason[160];
};

/* ---- main thread: commands, exits, gone notices ---- */

static void gone_add(struct gone **q, const char *id, const char *reason)
{
	struct gone *g = calloc(1, sizeof(*g));

	if (!g) {
		hio_err("out of memory queueing the gone notice of PE %s; the master will notice "
			"by its missing heartbeats",
			id);
		return;
	}
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
	g->next = *q;
	*q = g;
}

/* Sends what is queued; what fails stays for the next tick. */
static void gone_flush(hio_http *h, struct gone **q)
{
	for (struct gone **pp = q; *pp;) {
		struct gone *g = *pp;
		json_t *b = json_pack("{s:s}", "reason", g->reason);
		char path[128], err[256];
		long st;

		snprintf(path, sizeof(path), "/v1/pes/%s/gone", g->id);
		st = b ? hio_http_json(h, "POST", path, b, NULL, err, sizeof(err)) : -1;
		json_decref(b);
		if ((st >= 200 && st < 300) || st == 404) {
			*pp = g->next;
			free(g);
			continue;
		}
		hio_warn("cannot tell the master PE %s is gone: %s; retrying", g->id, err);
		break;
	}
}

/* The index of PE id in w->pes, or -1. Caller holds w->mu. */
static int wpe_find(struct wk *w, const char *id)
{
	HIO_ASSERT_HELD(&w->mu);
	for (int i = 0; i < w->npes; i++)
		if (strcmp(w->pes[i].id, id) == 0)
			return i;
	return -1;
}

/* Writes PE id's own credential (from its start command) to WORKDIR/.credentials/ID,
 * mode 0600 in a 0700 dir: the PE reads it, its analysis (another user) cannot, and it
 * is on no command line. 0 with the path in out; -1 when there is none (a master that
 * sent none: the PE gets the worker's token) or it cannot be written (logged). */
static int cred_write(struct wk *w, const char *id, const char *cred, char *out, size_t n)
{
	char dir[PATH_MAX];

	if (!cred || strncmp(cred, "hio-pe.", 7) != 0 || strlen(cred) > HIO_TOKEN_MAX)
		return -1;
	snprintf(dir, sizeof(dir), "%s/.credentials", w->workdir);
	if ((size_t)snprintf(out, n, "%s/%s", dir, id) >= n)
		return -1;
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    hio_file_write_atomic(out, cred, strlen(cred), 0) < 0) {
		hio_warn("cannot write PE %s's credential to %s: %s; it gets the worker's", id, out,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static void cred_remove(struct wk *w, const char *id)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/.credentials/%s", w->workdir, id);
	if (unlink(p) < 0 && errno != ENOENT)
		hio_warn("cannot remove %s: %s", p, strerror(errno));
}

static void cmd_start(struct wk *w, json_t *c, struct gone **gq)
{
	const char *id = json_string_value(json_object_get(c, "pe"));
	const char *pl = json_string_value(json_object_get(c, "pipeline"));
	json_t *jt = json_object_get(c, "timeout_ms");
	struct rt_spec s = {.pe_id = id, .pipeline = pl};
	char err[256], why[320], credf[PATH_MAX];
	void *h;
	long pid;
	int full, known;

	if (!jt)
		jt = json_object_get(c, "timeout");
	s.exec = json_string_value(json_object_get(c, "exec"));
	s.serve = json_is_true(json_object_get(c, "serve"));
	s.image = json_string_value(json_object_get(c, "image"));
	s.timeout_ms =
	    json_is_integer(jt) && json_integer_value(jt) > 0 ? (long)json_integer_value(jt) : 0;
	json_t *jv = json_object_get(c, "version");
	s.version =
	    json_is_integer(jv) && json_integer_value(jv) > 0 && json_integer_value(jv) < INT32_MAX
		? (int)json_integer_value(jv)
		: 0;
	if (!id || !hio_id_valid(id) || !pl || !hio_pipeline_valid(pl)) {
		hio_warn("start command with a bad pe id or pipeline; ignoring it");
		return;
	}
	pthread_mutex_lock(&w->mu);
	known = wpe_find(w, id) >= 0;
	full = w->npes >= w->max_pes || w->stopping;
	pthread_mutex_unlock(&w->mu);
	if (known) {
		hio_info("start of PE %s repeated; it is already running", id);
		return;
	}
	if (full) {
		hio_warn("refusing to start PE %s of pipeline %s: %s", id, pl,
			 w->stopping ? "the worker is stopping" : "at the maximum of PEs");
		snprintf(why, sizeof(why), "refused: worker %s",
			 w->stopping ? "stopping" : "at its PE maximum");
		gone_add(gq, id, why);
		return;
	}
	s.token_file = cred_write(w, id, json_string_value(json_object_get(c, "credential")), credf,
				  sizeof(credf)) == 0
			   ? credf
			   : w->token_file;
	h = w->rt->start(w->rt, &s, err, sizeof(err));
	if (!h) {
		hio_err("cannot start PE %s of pipeline %s: %s; telling the master", id, pl, err);
		snprintf(why, sizeof(why), "cannot start: %s", err);
		gone_add(gq, id, why);
		if (s.token_file == credf)
			cred_remove(w, id);
		return;
	}
	pid = w->rt->pid(w->rt, h);
	pthread_mutex_lock(&w->mu);
	struct wpe *p = &w->pes[w->npes++];

	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->pipeline, sizeof(p->pipeline), "%s", pl);
	p->h = h;
	p->pid = pid;
	pthread_mutex_unlock(&w->mu);
	wk_metrics_pe_started();
	hio_info("started PE %s of pipeline %s (pid %ld)", id, pl, pid);
}

/* Asks p to stop. Main thread, without w->mu: for docker the stop is an HTTP call of up
 * to 30 s, and the heartbeat thread must not wait on it. p stays valid meanwhile, as
 * only the main thread adds or removes PEs. */
static void pe_stop_one(struct wk *w, struct wpe *p)
{
	void *h;

	pthread_mutex_lock(&w->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&w->mu);
		return;
	}
	p->stopping = 1;
	p->kill_at = hio_mono_ms() + WK_STOP_GRACE_MS;
	h = p->h;
	pthread_mutex_unlock(&w->mu);
	w->rt->stop(w->rt, h, 0);
}

static void cmd_stop(struct wk *w, json_t *c, struct gone **gq)
{
	const char *id = json_string_value(json_object_get(c, "pe"));
	int i, stopping = 0;
	long pid = 0;

	if (!id || !hio_id_valid(id)) {
		hio_warn("stop command with a bad pe id; ignoring it");
		return;
	}
	pthread_mutex_lock(&w->mu);
	i = wpe_find(w, id);
	if (i >= 0) {
		stopping = w->pes[i].stopping;
		pid = w->pes[i].pid;
	}
	pthread_mutex_unlock(&w->mu);
	/* Not ours (any more): say so, or the master keeps asking. */
	if (i < 0) {
		gone_add(gq, id, "not running on this worker");
		return;
	}
	if (!stopping) {
		hio_info("stopping PE %s (pid %ld)", id, pid);
		/* Only this thread removes PEs, so index i is still this PE. */
		pe_stop_one(w, &w->pes[i]);
	}
}

static void run_commands(struct wk *w, struct gone **gq)
{
	json_t *q, *c;
	size_t i;

	pthread_mutex_lock(&w->mu);
	q = w->cmdq;
	w->cmdq = json_array();
	pthread_mutex_unlock(&w->mu);
	if (!w->cmdq) {
		hio_err("out of memory for the command queue; stopping");
		w->cmdq = q;
		return;
	}
	json_array_foreach(q, i, c)
	{
		const char *op = json_string_value(json_object_get(c, "op"));

		if (op && strcmp(op, "start") == 0)
			cmd_start(w, c, gq);
		else if (op && strcmp(op, "stop") == 0)
			cmd_stop(w, c, gq);
		else
			hio_warn("unknown command op \"%s\"; ignoring it", op ? op : "(none)");
	}
	json_decref(q);
}

/* Reaps ended PEs; an exit nobody asked for is reported to the master at once, which
 * is what requeues the messages that PE had leased. */
static void reap(struct wk *w, struct gone **gq)
{
	struct rt_exit ex;
	char id[HIO_ID_LEN + 1];

	while (w->rt->poll(w->rt, &ex)) {
		struct wpe p = {0};
		int found = 0;

		pthread_mutex_lock(&w->mu);
		for (int i = 0; i < w->npes; i++)
			if (w->pes[i].h == ex.h) {
				p = w->pes[i];
				w->pes[i] = w->pes[--w->npes];
				found = 1;
				break;
			}
		pthread_mutex_unlock(&w->mu);
		w->rt->release(w->rt, ex.h);
		if (!found)
			continue;
		cred_remove(w, p.id);
		wk_metrics_pe_exited(!p.stopping);
		if (!p.stopping) {
			hio_warn("PE %s of pipeline %s (pid %ld) %s unasked; telling the master",
				 p.id, p.pipeline, p.pid, ex.why);
			gone_add(gq, p.id, ex.why);
		} else if (p.killed || !ex.clean) {
			hio_warn("PE %s (pid %ld) %s while stopping", p.id, p.pid, ex.why);
			gone_add(gq, p.id,
				 p.killed ? "killed after the stop grace period" : ex.why);
		} else {
			hio_info("PE %s (pid %ld) stopped", p.id, p.pid);
		}
	}
	/* Their leased messages go back to the queue once the master hears. */
	while (w->rt->leftover && w->rt->leftover(w->rt, id, sizeof(id)))
		gone_add(gq, id, "left by an earlier run of its worker; removed");
}

/* SIGKILLs the PEs past their stop grace. The main thread is the only one that writes
 * w->pes, so it reads them here without w->mu and takes it only to write; the stop
 * calls (HTTP for docker) run unlocked. */
static void kill_overdue(struct wk *w)
{
	uint64_t now = hio_mono_ms();

	for (int i = 0; i < w->npes; i++) {
		struct wpe *p = &w->pes[i];

		if (p->stopping && !p->killed && now >= p->kill_at) {
			pthread_mutex_lock(&w->mu);
			p->killed = 1;
			pthread_mutex_unlock(&w->mu);
			hio_warn("PE %s (pid %ld) still running %d ms after SIGTERM; killing it",
				 p->id, p->pid, WK_STOP_GRACE_MS);
			w->rt->stop(w->rt, p->h, 1);
		}
	}
}

/* Runs until SIGTERM/SIGINT, then stops every PE. */
static void main_loop(struct wk *w, int sfd)
{
	hio_http *h = hio_http_new(w->master, w->token);
	struct gone *gq = NULL;
	uint64_t next_gone = 0;
	int stopping = 0;

	if (!h)
		hio_err("cannot make an HTTP client for gone notices; the master will rely on "
			"missing heartbeats");
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
				      {.fd = w->evfd, .events = POLLIN}};
		int npes;

		if (poll(p, 2, 200) < 0 && errno != EINTR)
			hio_warn("poll failed: %s; going on", strerror(errno));
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) &&
				    !stopping) {
					hio_info("worker %s stopping: stopping its PEs", w->id);
					stopping = 1;
					pthread_mutex_lock(&w->mu);
					w->stopping = 1;
					pthread_cond_broadcast(&w->cv);
					pthread_mutex_unlock(&w->mu);
					wk_tell_stopping(w);
					/* No start adds a PE now (w->stopping); the stops run
					 * unlocked, one by one. */
					for (int i = 0; i < w->npes; i++)
						pe_stop_one(w, &w->pes[i]);
				}
			}
		}
		if (p[1].revents & POLLIN) {
			uint64_t n;

			if (read(w->evfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
				hio_warn("eventfd read failed: %s", strerror(errno));
			run_commands(w, &gq);
		}
		reap(w, &gq);
		kill_overdue(w);
		if (h && gq && hio_mono_ms() >= next_gone) {
			gone_flush(h, &gq);
			next_gone = gq ? hio_mono_ms() + 1000 : 0;
		}
		pthread_mutex_lock(&w->mu);
		npes = w->npes;
		pthread_mutex_unlock(&w->mu);
		if (stopping && npes == 0)
			break;
	}
	/* One last try for the notices; then the master's own timeouts take over. */
	if (h && gq)
		gone_flush(h, &gq);
	while (gq) {
		struct gone *g = gq;

		gq = g->next;
		free(g);
	}
	hio_http_free(h);
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: hio-worker --master URL [options]\n"
		   "  --master URL        the master, e.g. http://127.0.0.1:7700\n"
		   "  --token-file F      the cluster token (else $HIO_TOKEN)\n"
		   "  --id ID             worker id, 32 hex chars (default: kept in the state\n"
		   "                      dir, else a new one)\n"
		   "  --name N            display name (default: the host name)\n"
		   "  --max-pes N         PEs this worker runs at most (default 8)\n"
		   "  --runtime R         how PEs run: process (default), docker or slurm\n"
		   "  --docker-socket S   the Docker Engine API socket (default " DK_SOCKET_DEFAULT
		   ")\n"
		   "  --host HOST         address PEs listen on and advertise (default: the\n"
		   "                      address this host reaches the master from)\n"
		   "  --state-dir DIR     keeps the worker id and the PEs' scratch space\n"
		   "  --slurm-partition P, --slurm-account A, --slurm-time [D-]HH:MM:SS,\n"
		   "  --slurm-cpus N, --slurm-mem N[K|M|G|T]: per PE job (default: the site's)\n"
		   "  --slurm-pending-warn S  log a job pending longer (default 20)\n"
		   "  --slurm-pe-bin PATH  hio-pe on the compute nodes (default: the local one)\n"
		   "  --slurm-log-dir DIR  job output (default: the scratch dir)\n"
		   "  --metrics-listen HOST:PORT  serve GET /metrics there (0 = any port), and\n"
		   "                      let PEs serve theirs on HOST (default\n"
		   "                      $HIO_METRICS_LISTEN, else off)\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hio-worker: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'hio-worker --help'.\n");
	return 2;
}

/* The id from --id, else the one kept in STATE/worker.id, else a new one (kept). */
static int worker_id(const char *given, const char *state, char out[HIO_ID_LEN + 1])
{
	char path[PATH_MAX], *s;
	size_t n;

	if (given) {
		if (!hio_id_valid(given))
			return bad("bad --id \"%s\": want 32 lowercase hex chars", given);
		snprintf(out, HIO_ID_LEN + 1, "%s", given);
		return 0;
	}
	hio_id_new(out);
	if (!state)
		return 0;
	snprintf(path, sizeof(path), "%s/worker.id", state);
	s = hio_file_read(path, 128, &n);
	if (s) {
		s[strcspn(s, " \t\r\n")] = '\0';
		if (hio_id_valid(s)) {
			snprintf(out, HIO_ID_LEN + 1, "%s", s);
			free(s);
			return 0;
		}
		hio_warn("%s does not hold a worker id; making a new one", path);
		free(s);
	}
	if (hio_file_write_atomic(path, out, HIO_ID_LEN, 1) < 0)
		hio_warn("cannot keep the worker id in %s: %s; the next start gets a new one", path,
			 strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"token-file", required_argument, NULL, 't'},
	    {"id", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, 'n'},
	    {"max-pes", required_argument, NULL, 'x'},
	    {"runtime", required_argument, NULL, 'r'},
	    {"host", required_argument, NULL, 'H'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"docker-socket", required_argument, NULL, 'D'},
	    {"slurm-partition", required_argument, NULL, 'S'},
	    {"slurm-account", required_argument, NULL, 'S'},
	    {"slurm-time", required_argument, NULL, 'S'},
	    {"slurm-cpus", required_argument, NULL, 'S'},
	    {"slurm-mem", required_argument, NULL, 'S'},
	    {"slurm-pending-warn", required_argument, NULL, 'S'},
	    {"slurm-pe-bin", required_argument, NULL, 'S'},
	    {"slurm-log-dir", required_argument, NULL, 'S'},
	    {"metrics-listen", required_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	const char *token_file = NULL, *id = NULL, *runtime = "process", *state = NULL;
	const char *dsock = DK_SOCKET_DEFAULT, *metrics = NULL;
	struct hio_metrics_srv *ms = NULL;
	char err[256], workdir[PATH_MAX], *tf_abs = NULL;
	struct rt_conf rc = {0};
	struct rt_slurm_opts so = {0};
	pthread_t t_hb, t_cmd;
	int ok_hb = 0, ok_cmd = 0, sfd = -1, c, li = 0, ret = 1, own_workdir = 0;
	struct wk *w = calloc(1, sizeof(*w));
	sigset_t sigs;

	hio_log_init("hio-worker");
	if (!w) {
		fprintf(stderr, "hio-worker: out of memory\n");
		return 1;
	}
	w->max_pes = 8;
	w->evfd = -1;
	while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
		switch (c) {
		case 'm':
			w->master = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'n':
			snprintf(w->name, sizeof(w->name), "%s", optarg);
			break;
		case 'x':
			if (hio_parse_flag_int("--max-pes", optarg, 1, WK_PES_MAX, &w->max_pes, err,
					       sizeof(err)) < 0) {
				ret = bad("%s", err);
				goto out;
			}
			break;
		case 'r':
			runtime = optarg;
			break;
		case 'H':
			snprintf(w->host, sizeof(w->host), "%s", optarg);
			break;
		case 's':
			state = optarg;
			break;
		case 'D':
			dsock = optarg;
			break;
		case 'S':
			if (rt_slurm_opt(&so, lo[li].name, optarg, err, sizeof(err)) < 0) {
				ret = bad("%s", err);
				goto out;
			}
			break;
		case 'M':
			metrics = optarg;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		case 'v':
			printf("hio-worker %s\n", HIO_VERSION);
			ret = 0;
			goto out;
		default: {
			ret = bad("%s", "unknown option");
			goto out;
		}
		}
	}
	if (optind < argc) {
		ret = bad("unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (!w->master) {
		ret = bad("%s", "--master URL is required");
		goto out;
	}
	if (strcmp(runtime, "process") != 0 && strcmp(runtime, "docker") != 0 &&
	    strcmp(runtime, "slurm") != 0) {
		ret =
		    bad("unknown runtime \"%s\" (this build has: process, docker, slurm)", runtime);
		goto out;
	}
	char mh[256];
	int mp;

	if (hio_net_url_split(w->master, mh, sizeof(mh), &mp) < 0) {
		ret = bad("'%s' is not a master URL (http://HOST:PORT)", w->master);
		goto out;
	}
	/* By default, what the master's peers can use: the source address of the route
	 * to it (loopback for a master on this machine, the LAN address otherwise). */
	if ((!w->host[0] || hio_net_is_wildcard(w->host)) &&
	    hio_net_route_addr(mh, mp, w->host, sizeof(w->host)) < 0) {
		ret =
		    bad("cannot tell which address of this host reaches %s; give --host ADDR", mh);
		goto out;
	}
	if (hio_net_is_loopback(w->host) && !hio_net_is_loopback(mh)) {
		ret = bad("--host %s is loopback, which the master at %s and its peers cannot "
			  "reach; give this host's address",
			  w->host, mh);
		goto out;
	}
	if (strpbrk(w->host, " \t\r\n")) {
		ret = bad("bad --host \"%s\"", w->host);
		goto out;
	}
	if (hio_token_load(token_file, w->token, err, sizeof(err)) < 0) {
		ret = bad("%s", err);
		goto out;
	}
	if (token_file && !(tf_abs = realpath(token_file, NULL))) {
		ret = bad("cannot resolve --token-file %s", token_file);
		goto out;
	}
	if (!w->name[0] && gethostname(w->name, sizeof(w->name) - 1) < 0)
		snprintf(w->name, sizeof(w->name), "worker");
	if (state && hio_mkdir_p(state) < 0) {
		fprintf(stderr, "hio-worker: cannot make --state-dir %s: %s\n", state,
			strerror(errno));
		goto out;
	}
	if ((ret = worker_id(id, state, w->id)) != 0)
		goto out;
	ret = 1;
	if (hio_http_global_init() < 0) {
		hio_err("cannot initialise libcurl; not starting");
		goto out;
	}
	/* A vanished master must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	rc.master = w->master;
	rc.token_file = w->token_file = tf_abs;
	rc.worker_id = w->id;
	rc.host = w->host;
	if (state) {
		snprintf(workdir, sizeof(workdir), "%s/work", state);
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(workdir, sizeof(workdir), "%s/hio-worker-%s", tmp && *tmp ? tmp : "/tmp",
			 w->id);
		own_workdir = 1;
	}
	/* As root, process PEs run their analyses as users of their own (hio-pe
	 * --run-as), which must reach their scratch below the workdir: a state dir under
	 * /root is not reachable, so the work goes to /var/tmp. (Docker and slurm PEs
	 * keep their scratch elsewhere, and the daemon or the compute node must find the
	 * credential files in the state dir.) */
	if (geteuid() == 0 && !own_workdir && strcmp(runtime, "process") == 0 &&
	    !hio_path_searchable(state)) {
		hio_info("state dir %s is not searchable by other users (the analyses' run-as "
			 "users); PE scratch goes to /var/tmp/hio-worker-%s",
			 state, w->id);
		snprintf(workdir, sizeof(workdir), "/var/tmp/hio-worker-%s", w->id);
		own_workdir = 1;
	}
	rc.workdir = workdir;
	w->workdir = workdir;
	/* PEs of an earlier run died with it (PR_SET_PDEATHSIG); their scratch is junk. */
	if (hio_rm_rf(workdir) < 0 && errno != ENOENT)
		hio_warn("cannot clear %s: %s; old PE scratch stays", workdir, strerror(errno));
	if (hio_mkdir_p(workdir) < 0 || chmod(workdir, 0711) < 0)
		hio_warn("cannot make %s: %s; PEs will try", workdir, strerror(errno));
	if (strcmp(runtime, "docker") == 0)
		w->rt = rt_docker_new(&rc, dsock, err, sizeof(err));
	else if (strcmp(runtime, "slurm") == 0)
		w->rt = rt_slurm_new(&rc, &so, err, sizeof(err));
	else
		w->rt = rt_process_new(&rc, err, sizeof(err));
	if (!w->rt) {
		hio_err("%s; not starting", err);
		goto out;
	}
	/* Signals arrive on a descriptor, in the main thread only; blocked before any
	 * thread starts so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->cmdq = json_array();
	if (sfd < 0 || w->evfd < 0 || !w->cmdq) {
		hio_err("cannot set up signal and event descriptors: %s; not starting",
			strerror(errno));
		goto out;
	}
	if (pthread_mutex_init(&w->mu, NULL) || hio_cond_init(&w->cv)) {
		hio_err("cannot initialise the worker's lock: %s; not starting", strerror(errno));
		goto out;
	}
	metrics = hio_metrics_listen_arg(metrics);
	if (metrics && !(ms = wk_metrics_start(w, metrics)))
		goto out_mu;
	hio_info("worker %s (%s) starting: master %s, host %s, up to %d PEs, runtime %s", w->id,
		 w->name, w->master, w->host, w->max_pes, w->rt->name);
	ok_hb = pthread_create(&t_hb, NULL, wk_hb_main, w) == 0;
	ok_cmd = ok_hb && pthread_create(&t_cmd, NULL, wk_cmd_main, w) == 0;
	if (!ok_cmd) {
		hio_err("cannot start worker threads; stopping");
		pthread_mutex_lock(&w->mu);
		w->stopping = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	} else {
		main_loop(w, sfd);
		ret = 0;
	}
	if (ok_hb)
		pthread_join(t_hb, NULL);
	{
		hio_http *h = hio_http_new(w->master, w->token);
		char path[128];
		long st = -1;

		snprintf(path, sizeof(path), "/v1/workers/%s", w->id);
		if (h)
			st = hio_http_json(h, "DELETE", path, NULL, NULL, err, sizeof(err));
		if (st < 200 || st >= 300)
			hio_warn("cannot deregister worker %s: %s; the master will notice by the "
				 "missing heartbeats",
				 w->id, h ? err : "out of memory");
		hio_http_free(h);
	}
	/* The command poll ends at the latest when its long poll does. */
	if (ok_cmd)
		pthread_join(t_cmd, NULL);
	hio_info("worker %s stopped", w->id);
out_mu:
	wk_metrics_stop(w, ms);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
out:
	if (w->rt)
		w->rt->free(w->rt);
	if (own_workdir && hio_rm_rf(workdir) < 0 && errno != ENOENT)
		hio_warn("cannot remove %s: %s; leaving it", workdir, strerror(errno));
	if (sfd >= 0)
		close(sfd);
	if (w->evfd >= 0)
		close(w->evfd);
	json_decref(w->cmdq);
	free(tf_abs);
	free(w);
	return ret;
}
