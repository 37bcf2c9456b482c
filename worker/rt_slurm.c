/* The slurm runtime: each PE is a batch job of an existing SLURM cluster, submitted
 * with sbatch (a generated script that runs hio-pe on the job's node), watched with
 * squeue/scontrol and cancelled with scancel: SLURM's own tools work on every site's
 * login nodes, slurmrestd is optional and needs a JWT (docs/slurm.md says more).
 *
 * Jobs are named hio-<worker id>-<pe id>, so a restarted worker finds the jobs of its
 * earlier run (same worker id: keep --state-dir) and cancels them; their PEs are
 * reported gone so the master requeues what they held. Every call comes from the
 * worker's main thread; the tools run with a deadline and no lock held. */
#include "hio_log.h"
#include "hio_util.h"
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SL_POLL_MS 1000		/* at most this often is squeue run */
#define SL_CMD_TIMEOUT_MS 30000 /* a SLURM tool that takes longer is killed */
#define SL_OUT_MAX (8u << 20)	/* of a tool's stdout; squeue of a busy user is big */
#define SL_ERR_MAX 400		/* of a tool's stderr, kept for the error message */
#define SL_SCRIPT_MAX 16384
#define SL_LOG_TAIL 2000 /* bytes of a failed job's output copied into the worker log */
#define SL_NAME_PREFIX "hio-"
#define SL_TERM_BEFORE_LIMIT "60" /* s */

struct job {
	struct job *next;
	long id;
	char pe[HIO_ID_LEN + 1];
	char script[4200];
	char out[4200];
	uint64_t submitted_ms;
	int running;  /* seen RUNNING at least once */
	int warned;   /* pending too long, logged */
	int listed;   /* in the squeue answer being read */
	int cancel;   /* scancel asked by the worker */
	int ended;    /* seen in a final state, waiting to be reported */
	int reported; /* handed out by poll, waiting for release */
	int clean;
	char why[128];
};

/* Ids of PEs an earlier run of this worker left, for gone notices. */
struct left {
	struct left *next;
	char pe[HIO_ID_LEN + 1];
};

struct rt_slurm {
	struct runtime rt;
	struct rt_conf conf;
	struct rt_slurm_opts o;
	char *pe_bin;
	char prefix[64]; /* hio-<worker id>- */
	char master_host[256];
	struct job *jobs;
	struct left *left;
	long *cancelled; /* leftover job ids already cancelled, not to cancel twice */
	size_t ncancelled;
	uint64_t next_look;
};

/* ---- running the tools ---- */

/* Runs argv (a SLURM tool, found on PATH) with stdin /dev/null. Its exit status
 * (0..255; 256+N when killed by signal N), or -1 with err when it could not run or
 * was killed at the deadline. *out (caller frees) gets stdout, NUL-terminated; err
 * gets the start of stderr. */
static int run_tool(const char *const argv[], char **out, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, defs;
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, st = -1, rc;
	char ebuf[SL_ERR_MAX + 1] = "", *buf = NULL;
	size_t n = 0, en = 0;
	uint64_t deadline = hio_mono_ms() + SL_CMD_TIMEOUT_MS;
	pid_t pid;

	*out = NULL;
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot make a pipe for %s: %s", argv[0], strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	/* The worker blocks SIGTERM/SIGCHLD and ignores SIGPIPE; a tool must not. */
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&defs);
	sigaddset(&defs, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &defs);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (rc != 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(rc));
		goto out;
	}
	/* stdout grows to SL_OUT_MAX, stderr keeps its start; both until EOF. */
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd p[2] = {{.fd = po[0], .events = POLLIN},
				      {.fd = pe[0], .events = POLLIN}};
		uint64_t now = hio_mono_ms();
		const char *why = NULL;
		char tmp[4096], *nb;
		ssize_t k;

		if (now >= deadline)
			why = "did not answer in time";
		else if (poll(p, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			why = "cannot be polled";
		for (int i = 0; !why && i < 2; i++) {
			int *fd = i ? &pe[0] : &po[0];

			if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(*fd, tmp, sizeof(tmp));
			if (k <= 0) {
				close(*fd);
				*fd = -1;
			} else if (i) {
				k = (size_t)k < SL_ERR_MAX - en ? k : (ssize_t)(SL_ERR_MAX - en);
				memcpy(ebuf + en, tmp, (size_t)k);
				en += (size_t)k;
				ebuf[en] = '\0';
			} else if (n + (size_t)k >= SL_OUT_MAX) {
				why = "printed too much";
			} else if (!(nb = realloc(buf, n + (size_t)k + 1))) {
				why = "out of memory reading it";
			} else {
				buf = nb;
				memcpy(buf + n, tmp, (size_t)k);
				n += (size_t)k;
				buf[n] = '\0';
			}
		}
		if (why) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			snprintf(err, errlen, "%s %s; killed it", argv[0], why);
			goto out;
		}
	}
	while (waitpid(pid, &rc, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "cannot wait for %s: %s", argv[0], strerror(errno));
			goto out;
		}
	}
	st = WIFEXITED(rc) ? WEXITSTATUS(rc) : 256 + WTERMSIG(rc);
	ebuf[strcspn(ebuf, "\n")] = '\0';
	snprintf(err, errlen, "%s: %s", argv[0], en ? ebuf : "(no message)");
	if (!buf)
		buf = calloc(1, 1);
	*out = buf;
	buf = NULL;
out:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(buf);
	return *out ? st : -1;
}

/* ---- options ---- */

static int word_ok(const char *s, const char *extra)
{
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(extra, *p)))
			return 0;
	return *s != '\0';
}

int rt_slurm_opt(struct rt_slurm_opts *o, const char *name, const char *val, char *err,
		 size_t errlen)
{
	long v;

	if (strcmp(name, "slurm-partition") == 0 && word_ok(val, "._-,"))
		o->partition = val;
	else if (strcmp(name, "slurm-account") == 0 && word_ok(val, "._-"))
		o->account = val;
	else if (strcmp(name, "slurm-time") == 0 && word_ok(val, ":-") &&
		 strspn(val, "0123456789:-") == strlen(val))
		o->time = val;
	else if (strcmp(name, "slurm-mem") == 0 && strspn(val, "0123456789") > 0 &&
		 strspn(val, "0123456789") + (val[strspn(val, "0123456789")] != '\0') ==
		     strlen(val) &&
		 strchr("KMGT", val[strlen(val) - 1] & ~0x20))
		o->mem = val;
	else if (strcmp(name, "slurm-cpus") == 0 && hio_parse_long(val, 1, 4096, &v) == 0)
		o->cpus = v;
	else if (strcmp(name, "slurm-pending-warn") == 0 &&
		 hio_parse_long(val, 1, 86400 * 30, &v) == 0)
		o->pending_warn_s = v;
	else if (strcmp(name, "slurm-pe-bin") == 0 && val[0] == '/')
		o->pe_bin = val;
	else if (strcmp(name, "slurm-log-dir") == 0 && val[0] == '/')
		o->log_dir = val;
	else {
		snprintf(err, errlen,
			 "bad --%s \"%s\" (partition/account: names; time: SLURM's [D-]HH:MM:SS; "
			 "mem: N[K|M|G|T]; cpus: 1..4096; pending-warn: seconds; pe-bin, log-dir: "
			 "absolute paths)",
			 name, val);
		return -1;
	}
	return 0;
}

/* ---- the job script ---- */

/* Appends s to b in single quotes for sh. 0, or -1 when b is full. */
static int sh_quote(char *b, size_t cap, size_t *n, const char *s)
{
	int k;

	if (*n + 2 >= cap)
		return -1;
	b[(*n)++] = '\'';
	for (; *s; s++) {
		k = snprintf(b + *n, cap - *n, *s == '\'' ? "'\\''" : "%c", *s);
		if (k < 0 || (size_t)k >= cap - *n)
			return -1;
		*n += (size_t)k;
	}
	k = snprintf(b + *n, cap - *n, "' ");
	if (k < 0 || (size_t)k >= cap - *n)
		return -1;
	*n += (size_t)k;
	return 0;
}

/* The batch script: finds the node's address towards the master (what it advertises),
 * runs hio-pe in node-local scratch, and passes SLURM's SIGTERM on to it. */
static int make_script(struct rt_slurm *r, const struct rt_spec *s, char *b, size_t cap)
{
	char tmo[32], *cmd;
	size_t n = 0;
	int k;

	k = snprintf(b, cap,
		     "#!/bin/sh\n"
		     "# hio PE %s of pipeline %s, submitted by hio-worker %s\n"
		     "mh='%s'\n"
		     "ip=$(getent ahostsv4 \"$mh\" 2>/dev/null | awk 'NR==1{print $1}')\n"
		     "adv=$(ip -o route get \"${ip:-$mh}\" 2>/dev/null |"
		     " sed -n 's/.* src \\([^ ]*\\).*/\\1/p')\n"
		     "[ -n \"$adv\" ] || adv=$(hostname -f 2>/dev/null || hostname)\n"
		     "case \"$adv\" in *:*) l=\"[$adv]:0\" ;; *) l=\"$adv:0\" ;; esac\n"
		     "wd=\"${TMPDIR:-/tmp}/hio-pe-%s\"\n"
		     "rm -rf \"$wd\" && mkdir -p \"$wd\" || exit 1\n"
		     "echo \"hio PE %s on $(hostname) (job $SLURM_JOB_ID), advertising $adv\"\n"
		     "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT\n",
		     s->pe_id, s->pipeline, r->conf.worker_id, r->master_host, s->pe_id, s->pe_id);
	if (k < 0 || (size_t)k >= cap)
		return -1;
	n = (size_t)k;
	if (sh_quote(b, cap, &n, r->pe_bin) < 0 || sh_quote(b, cap, &n, "--master") < 0 ||
	    sh_quote(b, cap, &n, r->conf.master) < 0 || sh_quote(b, cap, &n, "--pipeline") < 0 ||
	    sh_quote(b, cap, &n, s->pipeline) < 0 || sh_quote(b, cap, &n, "--id") < 0 ||
	    sh_quote(b, cap, &n, s->pe_id) < 0 || sh_quote(b, cap, &n, "--worker") < 0 ||
	    sh_quote(b, cap, &n, r->conf.worker_id) < 0 || sh_quote(b, cap, &n, "--exec") < 0)
		return -1;
	/* scancel and a time limit signal every process of the job: the command must not
	 * die of the SIGTERM meant for hio-pe, which finishes the current message first
	 * (SIGKILL still ends a command past its timeout). */
	cmd = malloc(strlen(s->exec) + 32);
	if (!cmd)
		return -1;
	sprintf(cmd, "trap '' TERM; %s", s->exec);
	k = sh_quote(b, cap, &n, cmd);
	free(cmd);
	if (k < 0)
		return -1;
	if (s->token_file &&
	    (sh_quote(b, cap, &n, "--token-file") < 0 || sh_quote(b, cap, &n, s->token_file) < 0))
		return -1;
	if (s->timeout_ms > 0) {
		snprintf(tmo, sizeof(tmo), "%ld", s->timeout_ms);
		if (sh_quote(b, cap, &n, "--timeout-ms") < 0 || sh_quote(b, cap, &n, tmo) < 0)
			return -1;
	}
	if (s->version > 0) {
		snprintf(tmo, sizeof(tmo), "%d", s->version);
		if (sh_quote(b, cap, &n, "--pipeline-version") < 0 || sh_quote(b, cap, &n, tmo) < 0)
			return -1;
	}
	k = snprintf(b + n, cap - n,
		     "--listen \"$l\" --advertise \"$adv\" --workdir \"$wd\" </dev/null &\n"
		     "pid=$!\n"
		     "while :; do wait \"$pid\"; st=$?; kill -0 \"$pid\" 2>/dev/null || break; "
		     "done\n"
		     "rm -rf \"$wd\"\n"
		     "exit \"$st\"\n");
	return k < 0 || (size_t)k >= cap - n ? -1 : 0;
}

/* ---- start, stop ---- */

static void *sl_start(struct runtime *rt, const struct rt_spec *s, char *err, size_t errlen)
{
	struct rt_slurm *r = (struct rt_slurm *)rt;
	char name[128], out_opt[4300], cpus[32], comment[128], *script = NULL, *ans = NULL;
	const char *argv[32];
	struct job *j = NULL;
	long id;
	int n = 0, st;

	if (!s->exec || !*s->exec) {
		snprintf(err, errlen,
			 "pipeline %s has no exec command (the slurm runtime needs one)",
			 s->pipeline);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	script = malloc(SL_SCRIPT_MAX);
	if (!j || !script) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(j->pe, sizeof(j->pe), "%s", s->pe_id);
	if (make_script(r, s, script, SL_SCRIPT_MAX) < 0) {
		snprintf(err, errlen, "the job script is over %d bytes (exec command too long?)",
			 SL_SCRIPT_MAX);
		goto fail;
	}
	/* Kept while the job lives, for whoever wonders what ran. */
	snprintf(j->script, sizeof(j->script), "%s/%s.sbatch", r->conf.workdir, s->pe_id);
	if (hio_mkdir_p(r->conf.workdir) < 0 ||
	    hio_file_write_atomic(j->script, script, strlen(script), 0) < 0) {
		snprintf(err, errlen, "cannot write the job script %s: %s", j->script,
			 strerror(errno));
		goto fail;
	}
	snprintf(name, sizeof(name), "--job-name=%s%s", r->prefix, s->pe_id);
	snprintf(comment, sizeof(comment), "--comment=hio worker %.32s pe %.32s pipeline",
		 r->conf.worker_id, s->pe_id);
	snprintf(j->out, sizeof(j->out), "%s/%s.out", r->o.log_dir, s->pe_id);
	snprintf(out_opt, sizeof(out_opt), "--output=%s", j->out);
	snprintf(cpus, sizeof(cpus), "--cpus-per-task=%ld", r->o.cpus);
	argv[n++] = "sbatch";
	argv[n++] = "--parsable";
	argv[n++] = name;
	argv[n++] = comment;
	argv[n++] = out_opt;
	argv[n++] = cpus;
	argv[n++] = "--ntasks=1";
	/* A preempted or failed PE is reported gone and replaced by the master; SLURM
	 * requeueing it as well would run the same PE id twice. */
	argv[n++] = "--no-requeue";
	argv[n++] = "--chdir=/tmp";
	/* Before its time limit, the job's shell (only) passes SIGTERM on to hio-pe, which
	 * then finishes its message instead of being killed in the middle of it. */
	argv[n++] = "--signal=B:TERM@" SL_TERM_BEFORE_LIMIT;
	if (r->o.partition) {
		argv[n++] = "--partition";
		argv[n++] = r->o.partition;
	}
	if (r->o.account) {
		argv[n++] = "--account";
		argv[n++] = r->o.account;
	}
	if (r->o.time) {
		argv[n++] = "--time";
		argv[n++] = r->o.time;
	}
	if (r->o.mem) {
		argv[n++] = "--mem";
		argv[n++] = r->o.mem;
	}
	argv[n++] = j->script;
	argv[n] = NULL;
	st = run_tool(argv, &ans, err, errlen);
	/* --parsable: "JOBID" or "JOBID;CLUSTER". */
	if (st == 0 && ans) {
		ans[strcspn(ans, ";\r\n")] = '\0';
		if (hio_parse_long(ans, 1, 0x7fffffffL, &id) < 0) {
			snprintf(err, errlen, "sbatch answered \"%.60s\", not a job id", ans);
			goto fail;
		}
	} else {
		if (st > 0)
			snprintf(err + strlen(err), errlen - strlen(err), " (exit %d)", st);
		goto fail;
	}
	j->id = id;
	j->submitted_ms = hio_mono_ms();
	j->next = r->jobs;
	r->jobs = j;
	hio_info("PE %s is SLURM job %ld (%s%s%s)", s->pe_id, id,
		 r->o.partition ? "partition " : "default partition",
		 r->o.partition ? r->o.partition : "", r->o.account ? ", with an account" : "");
	free(script);
	free(ans);
	return j;
fail:
	if (j && j->script[0])
		unlink(j->script);
	free(script);
	free(ans);
	free(j);
	return NULL;
}

/* scancel, with SIGKILL when force. 0, or -1 (logged). */
static int scancel(long id, int force, const char *pe)
{
	char ids[32], err[512], *ans = NULL;
	const char *argv[5];
	int st, n = 0;

	snprintf(ids, sizeof(ids), "%ld", id);
	argv[n++] = "scancel";
	/* --full: hio-pe runs in the batch step, which plain signals skip. */
	if (force) {
		argv[n++] = "--signal=KILL";
		argv[n++] = "--full";
	}
	argv[n++] = ids;
	argv[n] = NULL;
	st = run_tool(argv, &ans, err, sizeof(err));
	free(ans);
	if (st != 0) {
		hio_warn("cannot cancel SLURM job %ld (PE %s): %s; %s", id, pe, err,
			 force ? "it may run until its time limit"
			       : "trying again after the grace period");
		return -1;
	}
	return 0;
}

static void sl_stop(struct runtime *rt, void *h, int force)
{
	struct job *j = h;

	(void)rt;
	if (j->ended)
		return;
	/* scancel: SIGTERM to the job, SIGKILL after the site's KillWait; a pending job
	 * just leaves the queue. force is the worker's own grace running out. */
	j->cancel = 1;
	scancel(j->id, force, j->pe);
}

/* ---- watching ---- */

/* The value of KEY= in a line of "scontrol -o show job" into out. */
static void kv(const char *line, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (const char *p = line; (p = strstr(p, key)) != NULL; p += kl)
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			snprintf(out, len, "%.*s", (int)strcspn(p + kl + 1, " \n"), p + kl + 1);
			return;
		}
}

/* Copies the end of a failed job's output into the worker log, when it is readable
 * from here (a shared file system). */
static void log_tail(const struct job *j)
{
	char buf[SL_LOG_TAIL + 1];
	int fd = open(j->out, O_RDONLY | O_CLOEXEC);
	off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	ssize_t n;

	if (end < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	n = pread(fd, buf, SL_LOG_TAIL, end > SL_LOG_TAIL ? end - SL_LOG_TAIL : 0);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		hio_warn("PE %s (SLURM job %ld) output, last bytes:\n%s", j->pe, j->id, buf);
	}
}

/* Why job j ended, from scontrol (which knows jobs for MinJobAge after they end). */
static void job_ended(struct job *j, const char *state, const char *reason)
{
	char ids[32], err[512], st[32], why[64], ec[32], *ans = NULL;
	const char *argv[] = {"scontrol", "-o", "show", "job", ids, NULL};

	snprintf(ids, sizeof(ids), "%ld", j->id);
	snprintf(st, sizeof(st), "%s", state ? state : "");
	snprintf(why, sizeof(why), "%s", reason ? reason : "");
	ec[0] = '\0';
	if (run_tool(argv, &ans, err, sizeof(err)) == 0 && ans) {
		kv(ans, "JobState", st, sizeof(st));
		kv(ans, "Reason", why, sizeof(why));
		kv(ans, "ExitCode", ec, sizeof(ec));
	}
	free(ans);
	if (!st[0])
		snprintf(st, sizeof(st), "ENDED");
	j->ended = 1;
	/* What the worker asked for is a clean stop, whatever SLURM calls it. */
	j->clean = (strcmp(st, "COMPLETED") == 0 && strcmp(ec, "0:0") == 0) ||
		   (j->cancel && strcmp(st, "CANCELLED") == 0);
	snprintf(j->why, sizeof(j->why), "SLURM job %ld %s%s%s%s%s", j->id, st,
		 why[0] && strcmp(why, "None") ? ": " : "",
		 why[0] && strcmp(why, "None") ? why : "", ec[0] ? ", exit code " : "",
		 ec[0] ? ec : "");
	if (!j->clean)
		log_tail(j);
}

static int state_final(const char *st)
{
	static const char *const fin[] = {"COMPLETED",	   "CANCELLED", "FAILED",      "TIMEOUT",
					  "NODE_FAIL",	   "PREEMPTED", "BOOT_FAIL",   "DEADLINE",
					  "OUT_OF_MEMORY", "REVOKED",	"SPECIAL_EXIT"};

	for (size_t i = 0; i < sizeof(fin) / sizeof(fin[0]); i++)
		if (strcmp(st, fin[i]) == 0)
			return 1;
	return 0;
}

/* A job named like ours that this run did not submit: left by an earlier run (or
 * submitted by an sbatch that timed out here). Cancelled, its PE remembered for a
 * gone notice: adopting it would need the worker to take over a PE it never
 * started, and the master requeues what it held either way. */
static void take_leftover(struct rt_slurm *r, long id, const char *name, const char *st)
{
	const char *pe = name + strlen(r->prefix);
	struct left *l;
	long *nc;

	for (size_t i = 0; i < r->ncancelled; i++)
		if (r->cancelled[i] == id)
			return;
	hio_warn("SLURM job %ld (PE %s, %s) was left by an earlier run of worker %s; cancelling "
		 "it and reporting the PE gone",
		 id, hio_id_valid(pe) ? pe : "?", st, r->conf.worker_id);
	if (scancel(id, 0, pe) < 0)
		return; /* tried again at the next look */
	nc = realloc(r->cancelled, (r->ncancelled + 1) * sizeof(*nc));
	if (nc) {
		r->cancelled = nc;
		r->cancelled[r->ncancelled++] = id;
	}
	if (!hio_id_valid(pe) || !(l = calloc(1, sizeof(*l))))
		return;
	snprintf(l->pe, sizeof(l->pe), "%s", pe);
	l->next = r->left;
	r->left = l;
}

static struct job *job_find(struct rt_slurm *r, long id)
{
	for (struct job *j = r->jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

/* One look at this user's jobs: what ended, what waits too long, what an earlier run
 * left. -1 with err when squeue does not answer. */
static int look(struct rt_slurm *r, char *err, size_t errlen)
{
	const char *argv[] = {"squeue", "--me", "-h", "-t", "all", "-o", "%i|%T|%r|%N|%j", NULL};
	char *ans = NULL, *line, *save = NULL;
	uint64_t now = hio_mono_ms();
	int st;

	r->next_look = now + SL_POLL_MS;
	st = run_tool(argv, &ans, err, errlen);
	if (st != 0) {
		free(ans);
		return -1;
	}
	for (line = strtok_r(ans, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5], *p = line;
		struct job *j;
		long id;
		int k = 0;

		while (k < 5 && p) {
			f[k++] = p;
			p = strchr(p, '|');
			if (p)
				*p++ = '\0';
		}
		/* Array jobs print 123_4; ours are never arrays, so those do not parse. */
		if (k < 5 || hio_parse_long(f[0], 1, 0x7fffffffL, &id) < 0 ||
		    strncmp(f[4], r->prefix, strlen(r->prefix)) != 0)
			continue;
		j = job_find(r, id);
		if (!j) {
			if (!state_final(f[1]))
				take_leftover(r, id, f[4], f[1]);
			continue;
		}
		j->listed = 1;
		if (j->ended)
			continue;
		if (state_final(f[1])) {
			job_ended(j, f[1], f[2]);
		} else if (strcmp(f[1], "RUNNING") == 0 && !j->running) {
			j->running = 1;
			hio_info("PE %s: SLURM job %ld runs on %s after %llu ms in the queue",
				 j->pe, j->id, f[3], (unsigned long long)(now - j->submitted_ms));
		} else if (strcmp(f[1], "PENDING") == 0 && j->running && !j->cancel) {
			/* Requeued despite --no-requeue (a site's job_submit plugin): the PE
			 * process is gone; a second run of its id would confuse the master. */
			scancel(j->id, 0, j->pe);
			j->cancel = 1;
			j->ended = 1;
			snprintf(j->why, sizeof(j->why), "SLURM job %ld requeued (%s); cancelled",
				 j->id, f[2]);
		} else if (strcmp(f[1], "PENDING") == 0 && !j->warned &&
			   now - j->submitted_ms > (uint64_t)r->o.pending_warn_s * 1000) {
			j->warned = 1;
			hio_warn("PE %s: SLURM job %ld still pending after %ld s (reason: %s); it "
				 "stays queued and joins when it runs",
				 j->pe, j->id, r->o.pending_warn_s, f[2]);
		}
	}
	/* Not listed at all: purged (MinJobAge passed) or never known. scontrol says. */
	for (struct job *j = r->jobs; j; j = j->next) {
		if (!j->listed && !j->ended)
			job_ended(j, NULL, "no longer listed by squeue");
		j->listed = 0;
	}
	free(ans);
	return 0;
}

static int sl_poll(struct runtime *rt, struct rt_exit *ex)
{
	struct rt_slurm *r = (struct rt_slurm *)rt;
	char err[512];

	if (hio_mono_ms() >= r->next_look && look(r, err, sizeof(err)) < 0)
		hio_warn("cannot list SLURM jobs: %s; looking again shortly", err);
	for (struct job *j = r->jobs; j; j = j->next)
		if (j->ended && !j->reported) {
			j->reported = 1;
			ex->h = j;
			ex->clean = j->clean;
			snprintf(ex->why, sizeof(ex->why), "%s", j->why);
			return 1;
		}
	return 0;
}

static long sl_pid(struct runtime *rt, void *h)
{
	(void)rt;
	/* The job id: what `squeue`, `scontrol show job` and `scancel` take. */
	return ((struct job *)h)->id;
}

static void sl_release(struct runtime *rt, void *h)
{
	struct rt_slurm *r = (struct rt_slurm *)rt;

	for (struct job **pp = &r->jobs; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			struct job *j = h;

			*pp = j->next;
			unlink(j->script);
			unlink(j->out);
			free(j);
			return;
		}
}

static int sl_leftover(struct runtime *rt, char *pe, size_t len)
{
	struct rt_slurm *r = (struct rt_slurm *)rt;
	struct left *l = r->left;

	if (!l)
		return 0;
	r->left = l->next;
	snprintf(pe, len, "%s", l->pe);
	free(l);
	return 1;
}

static void sl_free(struct runtime *rt)
{
	struct rt_slurm *r = (struct rt_slurm *)rt;

	while (r->jobs) {
		struct job *j = r->jobs;

		r->jobs = j->next;
		free(j);
	}
	while (r->left) {
		struct left *l = r->left;

		r->left = l->next;
		free(l);
	}
	free(r->cancelled);
	free(r->pe_bin);
	free(r);
}

/* The master's host from its URL, for the job's route lookup. */
static void url_host(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	if (*p == '[') {
		p++;
		n = strcspn(p, "]");
	} else {
		n = strcspn(p, ":/");
	}
	snprintf(out, len, "%.*s", (int)n, p);
}

struct runtime *rt_slurm_new(const struct rt_conf *conf, const struct rt_slurm_opts *o, char *err,
			     size_t errlen)
{
	struct rt_slurm *r = calloc(1, sizeof(*r));
	char e[512];

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->conf = *conf;
	r->o = *o;
	if (r->o.cpus < 1)
		r->o.cpus = 1;
	if (r->o.pending_warn_s < 1)
		r->o.pending_warn_s = RT_SLURM_PENDING_WARN_S;
	if (!r->o.log_dir)
		r->o.log_dir = conf->workdir;
	r->pe_bin = o->pe_bin ? strdup(o->pe_bin) : hio_find_program("hio-pe");
	if (!r->pe_bin) {
		snprintf(err, errlen,
			 "cannot find hio-pe (give --slurm-pe-bin PATH, as the "
			 "compute nodes see it)");
		free(r);
		return NULL;
	}
	url_host(conf->master, r->master_host, sizeof(r->master_host));
	if (!word_ok(r->master_host, ".-:")) {
		snprintf(err, errlen, "cannot take the master's host from %s", conf->master);
		sl_free(&r->rt);
		return NULL;
	}
	snprintf(r->prefix, sizeof(r->prefix), SL_NAME_PREFIX "%s-", conf->worker_id);
	r->rt = (struct runtime){.name = "slurm",
				 .start = sl_start,
				 .stop = sl_stop,
				 .poll = sl_poll,
				 .pid = sl_pid,
				 .release = sl_release,
				 .leftover = sl_leftover,
				 .free = sl_free};
	/* What an earlier run left is cancelled now, before any new PE is submitted. */
	if (look(r, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "cannot talk to SLURM (squeue): %s", e);
		sl_free(&r->rt);
		return NULL;
	}
	hio_info("slurm runtime: PEs are jobs named %s<pe> running %s, %ld CPU(s) each%s%s%s%s",
		 r->prefix, r->pe_bin, r->o.cpus, r->o.mem ? ", mem " : "",
		 r->o.mem ? r->o.mem : "", r->o.time ? ", time " : "", r->o.time ? r->o.time : "");
	return &r->rt;
}
