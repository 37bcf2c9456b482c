/* hio-pe: the processing engine daemon. Runs COMMAND once per message (SPEC "The
 * processing contract") or once per PE as a resident analysis (SPEC "Resident
 * analyses"); everything else is hio_pe_run (lib/pe/pe.c, docs/pe.md). */
#include "hio_config.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_pe.h"
#include "hio_util.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: hio-pe --master URL (--exec | --serve) COMMAND [options]\n"
		   "  --master URL        the master, e.g. http://127.0.0.1:7700\n"
		   "  --exec COMMAND      run per message through /bin/sh -c, with HIO_INPUT,\n"
		   "                      HIO_NAME, HIO_OUTPUT and HIO_MESSAGE_ID set\n"
		   "  --serve COMMAND     run once through /bin/sh -c and give it one message\n"
		   "                      after another (docs/protocol.md, resident protocol)\n"
		   "  --token-file F      this PE's credential or the cluster token (else\n"
		   "                      $HIO_TOKEN)\n"
		   "  --pipeline P        pipeline served (default: default)\n"
		   "  --id ID             PE id (default: a random one)\n"
		   "  --worker ID         the worker that started this PE\n"
		   "  --listen HOST:PORT  P2P address (default 127.0.0.1:0, 0 = any port)\n"
		   "  --advertise HOST    host connectors dial (default: the listen host)\n"
		   "  --workdir DIR       scratch space (default: $TMPDIR or /tmp)\n"
		   "  --timeout-ms N      per-message limit (default 600000)\n"
		   "  --max-output SIZE   result bytes one message may leave, bytes or with\n"
		   "                      K/M/G/T; more fails it (default $HIO_MAX_OUTPUT,\n"
		   "                      else 1G)\n"
		   "  --pipeline-version N  the analysis version it runs (the worker passes\n"
		   "                      it; recorded with each result)\n"
		   "  --heartbeat-ms N    heartbeat period (default 1000)\n"
		   "  --run-as USER       the analysis's user: a name, UID[:GID] or none\n"
		   "                      (default $HIO_RUN_AS; as root, a user of this\n"
		   "                      PE's own; else none, as this PE's user)\n"
		   "  --metrics-listen HOST:PORT  serve GET /metrics there (0 = any port;\n"
		   "                      default $HIO_METRICS_LISTEN, else off)\n"
		   "  --local MODE        on or off: senders on this host hand files over as\n"
		   "                      descriptors, no TCP (default $HIO_LOCAL_HANDOVER,\n"
		   "                      else on)\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "hio-pe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'hio-pe --help'.\n");
	return 2;
}

static int parse_ms(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

/* --run-as (or HIO_RUN_AS): "none", a user name, or UID[:GID]; unset: as root, a user
 * of this PE's own, HIO_RUNAS_UID_BASE plus a hash of its id, so no two PEs share
 * files (docs/pe.md, Isolation); as another user, none. 0 with *ra (unused for
 * none), or -1 with err. */
#define HIO_RUNAS_UID_BASE 1500000000u
#define HIO_RUNAS_UID_SPAN 500000000u
static int runas_parse(const char *v, const char *pe_id, struct hio_pe_runas *ra, char *err,
		       size_t errlen)
{
	long u, g;

	if (!v || !*v) {
		uint32_t h = 2166136261u;

		if (geteuid() != 0)
			return 0;
		for (const char *p = pe_id; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		ra->uid = ra->gid = HIO_RUNAS_UID_BASE + h % HIO_RUNAS_UID_SPAN;
		return 0;
	}
	if (strcmp(v, "none") == 0)
		return 0;
	if (geteuid() != 0) {
		snprintf(err, errlen, "--run-as %s needs hio-pe to run as root", v);
		return -1;
	}
	if (strchr(v, ':')) {
		char ub[16];
		size_t n = strcspn(v, ":");

		snprintf(ub, sizeof(ub), "%.*s", (int)(n < sizeof(ub) ? n : 0), v);
		if (n >= sizeof(ub) || hio_parse_long(ub, 1, INT32_MAX, &u) < 0 ||
		    hio_parse_long(v + n + 1, 1, INT32_MAX, &g) < 0) {
			snprintf(err, errlen, "bad --run-as \"%s\": want UID:GID, not root", v);
			return -1;
		}
	} else if (hio_parse_long(v, 1, INT32_MAX, &u) == 0) {
		g = u;
	} else {
		struct passwd *pw = getpwnam(v);

		if (!pw || pw->pw_uid == 0) {
			snprintf(err, errlen, "bad --run-as \"%s\": %s", v,
				 pw ? "root is not an analysis's user" : "no such user");
			return -1;
		}
		u = (long)pw->pw_uid;
		g = (long)pw->pw_gid;
	}
	ra->uid = (unsigned)u;
	ra->gid = (unsigned)g;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"token-file", required_argument, NULL, 't'},
	    {"pipeline", required_argument, NULL, 'p'},
	    {"id", required_argument, NULL, 'i'},
	    {"worker", required_argument, NULL, 'w'},
	    {"listen", required_argument, NULL, 'l'},
	    {"advertise", required_argument, NULL, 'a'},
	    {"workdir", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, 'T'},
	    {"heartbeat-ms", required_argument, NULL, 'H'},
	    {"pipeline-version", required_argument, NULL, 'V'},
	    {"exec", required_argument, NULL, 'e'},
	    {"serve", required_argument, NULL, 's'},
	    {"metrics-listen", required_argument, NULL, 'M'},
	    {"max-output", required_argument, NULL, 'O'},
	    {"run-as", required_argument, NULL, 'R'},
	    {"local", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	struct hio_pe_opts o = {0};
	struct hio_pe_serve serve = {0};
	const char *token_file = NULL, *metrics = NULL, *max_output = getenv("HIO_MAX_OUTPUT");
	const char *run_as = getenv("HIO_RUN_AS"), *local = getenv("HIO_LOCAL_HANDOVER");
	struct hio_pe_runas ra;
	char idbuf[HIO_ID_LEN + 1];
	struct hio_metrics_srv *ms = NULL;
	char token[HIO_TOKEN_MAX + 1], host[256] = "127.0.0.1", err[256];
	int c, rc;

	hio_log_init("hio-pe");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.master = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'p':
			if (!hio_pipeline_valid(optarg))
				return bad("bad --pipeline \"%s\": use [A-Za-z0-9._-], up to 64",
					   optarg);
			o.pipeline = optarg;
			break;
		case 'i':
			o.pe_id = optarg;
			break;
		case 'w':
			o.worker_id = optarg;
			break;
		case 'l':
			if (hio_net_split(optarg, host, sizeof(host), &o.listen_port) < 0 ||
			    o.listen_port < 0 || o.listen_port > 65535)
				return bad("bad --listen \"%s\": want HOST:PORT", optarg);
			break;
		case 'a':
			o.advertise_host = optarg;
			break;
		case 'L':
			local = optarg;
			break;
		case 'd':
			o.workdir = optarg;
			break;
		case 'T':
			if (parse_ms(optarg, &o.timeout_ms) < 0)
				return bad("bad --timeout-ms \"%s\": want a positive number",
					   optarg);
			break;
		case 'V': {
			long v;

			if (hio_parse_long(optarg, 1, INT32_MAX, &v) < 0)
				return bad("bad --pipeline-version \"%s\": want a positive whole "
					   "number",
					   optarg);
			o.pipeline_version = (int)v;
			break;
		}
		case 'H':
			if (parse_ms(optarg, &o.heartbeat_ms) < 0)
				return bad("bad --heartbeat-ms \"%s\": want a positive number",
					   optarg);
			break;
		/* The last of --exec and --serve wins, as a container's command line is
		 * the image's followed by the pipeline's. */
		case 'e':
			o.exec = optarg;
			serve.command = NULL;
			break;
		case 's':
			serve.command = optarg;
			o.exec = NULL;
			break;
		case 'M':
			metrics = optarg;
			break;
		case 'O':
			max_output = optarg;
			break;
		case 'R':
			run_as = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
			printf("hio-pe %s\n", HIO_VERSION);
			return 0;
		default:
			return bad("%s", "unknown option");
		}
	}
	if (optind < argc)
		return bad("unexpected argument \"%s\"", argv[optind]);
	if (!o.master)
		return bad("%s", "--master URL is required");
	if (!o.exec && !serve.command)
		return bad("%s", "--exec COMMAND or --serve COMMAND is required");
	if ((o.exec && !*o.exec) || (serve.command && !*serve.command))
		return bad("%s", "the command is empty");
	if (max_output && *max_output &&
	    hio_parse_size(max_output, 1, UINT64_MAX / 2, &o.max_output) < 0)
		return bad("bad --max-output (or HIO_MAX_OUTPUT) \"%s\": want a size such as "
			   "500M or 2G",
			   max_output);
	if (local && *local && strcmp(local, "on") && strcmp(local, "off"))
		return bad("bad --local (or HIO_LOCAL_HANDOVER) \"%s\": want on or off", local);
	o.no_local = local && !strcmp(local, "off");
	if (!o.pe_id) {
		hio_id_new(idbuf);
		o.pe_id = idbuf;
	} else if (!hio_id_valid(o.pe_id)) {
		return bad("bad --id \"%s\": want 32 lowercase hex characters", o.pe_id);
	}
	if (runas_parse(run_as, o.pe_id, &ra, err, sizeof(err)) < 0)
		return bad("%s", err);
	o.run_as = run_as && strcmp(run_as, "none") == 0 ? NULL : &ra;
	if (!o.run_as && geteuid() != 0)
		hio_info("the analysis runs as this PE's user (uid %u): it can read what this "
			 "user can; run the PEs as root for an analysis user of its own",
			 (unsigned)geteuid());
	if (hio_token_load(token_file, token, err, sizeof(err)) < 0)
		return bad("%s", err);
	o.token = token;
	o.listen_host = host;
	if (hio_pe_set_signal_handlers() < 0)
		return bad("cannot set signal handlers: %s", strerror(errno));
	if (hio_pe_contain_descendants() < 0)
		hio_warn("cannot become the subreaper of the analysis (%s); processes it "
			 "starts with setsid may outlive their message",
			 strerror(errno));
	metrics = hio_metrics_listen_arg(metrics);
	if (metrics) {
		struct hio_metrics_srv_opts mo = {.listen = metrics,
						  .token = token,
						  .master = o.master,
						  .job = "hio-pe",
						  .id = o.pe_id};

		if (hio_http_global_init() < 0)
			return bad("%s", "cannot initialise libcurl");
		ms = hio_metrics_serve(&mo, err, sizeof(err));
		if (!ms)
			return bad("%s", err);
	}
	if (serve.command) {
		serve.timeout_ms = o.timeout_ms;
		o.handler = hio_pe_serve_handler;
		o.handler_ud = &serve;
	}
	rc = hio_pe_run(&o);
	hio_pe_serve_close(&serve);
	hio_metrics_srv_stop(ms);
	return rc;
}
