/* main.c: hio-master's command line, startup (state, token, listener), and a clean
 * stop on SIGTERM/SIGINT. */
#include "master.h"

#include "hio_config.h"
#include "hio_cred.h"
#include "hio_log.h"
#include "hio_net.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hio-master --state-dir DIR [--listen HOST:PORT] [--token-file F]\n"
		"                  [--pe-lease-ms MS] [--worker-lease-ms MS]\n"
		"                  [--backlog-max-bytes N[K|M|G]] [--fsync] [--retention AGE]\n"
		"                  [--max-conns-per-ip N]\n"
		"  --state-dir DIR        backlog, results, pipelines.json, master.url live here\n"
		"  --listen HOST:PORT     default 127.0.0.1:0 (any free port)\n"
		"  --token-file F         cluster token; else $HIO_TOKEN, else DIR/token\n"
		"  --pe-lease-ms MS       a PE silent this long is gone (default 3000)\n"
		"  --worker-lease-ms MS   a worker silent this long is gone (default 5000)\n"
		"  --backlog-max-bytes N  cap of queued backlog bytes (default 8G)\n"
		"  --fsync                fsync backlog files, result files and the journal\n"
		"  --retention AGE        results stored longer ago than AGE expire (30d, 12h,\n"
		"                         90m, 3600s; default: kept until hio results rm)\n"
		"  --max-conns-per-ip N   REST connections one client address may hold at once\n"
		"                         (default 256; 0: no limit)\n");
}

struct args {
	const char *state_dir, *listen, *token_file;
};

static int parse_args(int argc, char **argv, struct master *m, struct args *a)
{
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, 'd'},
	    {"listen", required_argument, NULL, 'l'},
	    {"token-file", required_argument, NULL, 't'},
	    {"pe-lease-ms", required_argument, NULL, 'p'},
	    {"worker-lease-ms", required_argument, NULL, 'w'},
	    {"backlog-max-bytes", required_argument, NULL, 'b'},
	    {"fsync", no_argument, NULL, 'f'},
	    {"retention", required_argument, NULL, 'r'},
	    {"max-conns-per-ip", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	char err[128];
	long v;
	int c;

	a->listen = "127.0.0.1:0";
	m->conns_per_ip = MASTER_CONN_PER_IP_DEFAULT;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->state_dir = optarg;
			break;
		case 'l':
			a->listen = optarg;
			break;
		case 't':
			a->token_file = optarg;
			break;
		case 'p':
		case 'w':
			if (hio_parse_flag(c == 'p' ? "--pe-lease-ms" : "--worker-lease-ms", optarg,
					   100, 3600000, &v, err, sizeof(err)) < 0) {
				fprintf(stderr, "hio-master: %s (milliseconds)\n", err);
				return -1;
			}
			*(c == 'p' ? &m->pe_lease_ms : &m->worker_lease_ms) = v;
			break;
		case 'b':
			if (hio_parse_size(optarg, 0, (uint64_t)LONG_MAX, &m->backlog_max) < 0) {
				fprintf(stderr, "hio-master: --backlog-max-bytes wants bytes, e.g. "
						"512M or 8G\n");
				return -1;
			}
			break;
		case 'c':
			if (hio_parse_flag("--max-conns-per-ip", optarg, 0, MASTER_CONN_MAX, &v,
					   err, sizeof(err)) < 0) {
				fprintf(stderr, "hio-master: %s\n", err);
				return -1;
			}
			m->conns_per_ip = (int)v;
			break;
		case 'f':
			m->fsync = 1;
			break;
		case 'r':
			if (hio_parse_age(optarg, RESULTS_AGE_MAX_S, &v) < 0 || v == 0) {
				fprintf(
				    stderr,
				    "hio-master: --retention: '%s' is not an age (a whole "
				    "number above 0, then s, m, h, d or w; at most 100 years)\n",
				    optarg);
				return -1;
			}
			m->retention_s = v;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'v':
			printf("hio-master %s\n", HIO_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc || !a->state_dir) {
		fprintf(stderr, "hio-master: %s\n",
			a->state_dir ? "unexpected arguments" : "--state-dir is required");
		usage(stderr);
		return -1;
	}
	return 0;
}

static int load_token(struct master *m, const struct args *a)
{
	char path[PATH_MAX], err[256];

	if (a->token_file || getenv("HIO_TOKEN")) {
		if (hio_token_load(a->token_file, m->token, err, sizeof(err)) == 0 && m->token[0])
			return 0;
		hio_err("no usable token (%s); not starting", err);
		return -1;
	}
	if (path_fmt(path, sizeof(path), "%s/token", m->dir) == 0 &&
	    hio_token_read(path, m->token) == 0 && m->token[0])
		return 0;
	hio_err("no token: give --token-file, set HIO_TOKEN, or write %s/token; not starting",
		m->dir);
	return -1;
}

/* DIR/join-token and DIR/metrics-token (mode 0600): the credentials an admin copies to
 * compute hosts and gives Prometheus (docs/security.md), derived from the token. */
static int write_derived(struct master *m)
{
	static const char *const names[] = {"join-token", "metrics-token"};
	char path[PATH_MAX], cred[HIO_TOKEN_MAX + 1];

	for (size_t i = 0; i < 2; i++) {
		if (i == 0)
			hio_cred_join(m->token, cred);
		else
			hio_cred_metrics(m->token, cred);
		if (path_fmt(path, sizeof(path), "%s/%s", m->dir, names[i]) < 0 ||
		    hio_file_write_atomic(path, cred, strlen(cred), 1) < 0) {
			hio_err("cannot write %s/%s: %s; not starting", m->dir, names[i],
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Listens and publishes DIR/master.url. Returns the listening fd or -1. */
static int listen_publish(struct master *m, const char *listen, char *url, size_t urllen)
{
	char host[256], err[256];
	int port, bound = 0, fd;

	if (hio_net_split(listen, host, sizeof(host), &port) < 0 || port < 0 || port > 65535) {
		hio_err("bad --listen %s (want HOST:PORT); not starting", listen);
		return -1;
	}
	fd = hio_net_listen(host, port, &bound, err, sizeof(err));
	if (fd < 0) {
		hio_err("cannot listen on %s: %s; not starting", listen, err);
		return -1;
	}
	snprintf(m->listen_host, sizeof(m->listen_host), "%s", host);
	m->listen_port = bound;
	/* A wildcard listener publishes an address other hosts can dial, not 0.0.0.0. */
	if (hio_net_is_wildcard(host)) {
		if (hio_net_first_addr(host, sizeof(host)) < 0) {
			hio_warn("listening on every address, but this host has no address other "
				 "than loopback; publishing 127.0.0.1");
			snprintf(host, sizeof(host), "127.0.0.1");
		}
	}
	snprintf(url, urllen, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, bound);
	return fd;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *mhd = NULL;
	struct master *m = calloc(1, sizeof(*m));
	struct args a = {0};
	char url[320], path[PATH_MAX];
	sigset_t set;
	int rc = 1, fd = -1, sig = 0;

	hio_log_init("hio-master");
	if (!m || master_init(m) < 0) {
		hio_err("cannot initialise (out of memory or threads); not starting");
		return 1;
	}
	m->pe_lease_ms = 3000;
	m->worker_lease_ms = 5000;
	m->backlog_max = MASTER_BACKLOG_MAX_DEFAULT;
	rc = parse_args(argc, argv, m, &a);
	if (rc != 0) {
		master_free(m);
		return rc < 0 ? 2 : 0;
	}
	rc = 1;
	if (path_fmt(m->dir, sizeof(m->dir), "%s", a.state_dir) < 0 || hio_mkdir_p(m->dir) < 0) {
		hio_err("cannot create state dir %s: %s; not starting", a.state_dir,
			strerror(errno));
		goto out;
	}
	if (load_token(m, &a) < 0 || write_derived(m) < 0)
		goto out;

	/* Signals go to sigwait in this thread only: every thread made later inherits
	 * the mask, and nobody dies of a peer closing a socket. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (pipelines_load(m) < 0 || results_load(m) < 0 || backlog_load(m) < 0)
		goto out;
	fd = listen_publish(m, a.listen, url, sizeof(url));
	if (fd < 0)
		goto out;
	mhd = http_start(m, fd);
	if (!mhd) {
		hio_err("cannot start the HTTP server on %s; not starting", url);
		close(fd);
		goto out;
	}
	/* A journal of mostly deleted or replaced entries is rewritten before serving (a
	 * failure leaves it as it is, and says so). */
	results_compact(m, 0);
	if (reconcile_start(m) < 0 || retention_start(m) < 0)
		goto out;
	if (path_fmt(path, sizeof(path), "%s/master.url", m->dir) < 0 ||
	    hio_file_write_atomic(path, url, strlen(url), 1) < 0) {
		hio_err("cannot write %s/master.url: %s; not starting", m->dir, strerror(errno));
		goto out;
	}
	hio_info("listening on %s (state in %s, pe lease %ld ms, worker lease %ld ms%s)", url,
		 m->dir, m->pe_lease_ms, m->worker_lease_ms, m->fsync ? ", fsync" : "");
	while (sigwait(&set, &sig) != 0)
		;
	hio_info("got %s; stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	unlink(path);
	rc = 0;
out:
	/* Long polls see m->stopping and return, so MHD can join their threads. */
	retention_stop(m);
	reconcile_stop(m);
	if (mhd)
		MHD_stop_daemon(mhd);
	master_free(m);
	if (rc == 0)
		hio_info("stopped");
	return rc;
}
