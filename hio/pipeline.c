/* hio pipeline set|show|list: a pipeline's analysis and PE count on a running master
 * (POST /v1/pipelines/P; the configuration is read back from GET /v1/status). */
#include "cli.h"
#include "hio_util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char pipeline_usage[] =
    "usage: hio pipeline set P [--exec CMD | --serve CMD] [--image IMG] [--pes N] [--min-pes N]\n"
    "                          [--max-pes N] [--timeout-ms MS] [--state-dir DIR]\n"
    "       hio pipeline show P [--json] [--state-dir DIR]\n"
    "       hio pipeline list [--json] [--state-dir DIR]";

static json_t *find_pipeline(json_t *st, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(st, "pipelines"), i, p)
	{
		const char *n = json_string_value(json_object_get(p, "name"));
		if (n && !strcmp(n, name))
			return p;
	}
	return NULL;
}

static void print_pipeline(json_t *p)
{
	const char *exec = json_string_value(json_object_get(p, "exec"));
	const char *image = json_string_value(json_object_get(p, "image"));

	printf("%s\tversion=%lld\t%s=%s\timage=%s\tpes=%lld\tmin=%lld\tmax=%lld\tqueue=%lld\n",
	       json_string_value(json_object_get(p, "name")),
	       (long long)json_integer_value(json_object_get(p, "version")),
	       json_is_true(json_object_get(p, "serve")) ? "serve" : "exec", exec ? exec : "-",
	       image ? image : "-", (long long)json_integer_value(json_object_get(p, "pes")),
	       (long long)json_integer_value(json_object_get(p, "min_pes")),
	       (long long)json_integer_value(json_object_get(p, "max_pes")),
	       (long long)json_integer_value(json_object_get(p, "queue_length")));
}

static int pipeline_set(const char *state_dir, const char *name, json_t *body)
{
	struct hio_client_conf conf;
	char path[128], err[512];
	hio_http *h;
	json_t *ans = NULL;
	long code;

	if (!(h = cli_connect(state_dir, &conf)))
		return 1;
	snprintf(path, sizeof(path), "/v1/pipelines/%s", name);
	code = hio_http_json(h, "POST", path, body, &ans, err, sizeof(err));
	hio_http_free(h);
	if (code != 200)
		return cli_fail("cannot set pipeline %s: %s", name, err);
	/* A new version means the PEs roll: what is sent from now on meets only it. */
	printf("pipeline %s set (analysis version %lld)\n", name,
	       (long long)json_integer_value(json_object_get(ans, "version")));
	json_decref(ans);
	return 0;
}

static int pipeline_read(const char *state_dir, const char *name, int json)
{
	struct hio_client_conf conf;
	json_t *st, *p;
	size_t i;
	hio_http *h;
	int rc = 0;

	if (!(h = cli_connect(state_dir, &conf)))
		return 1;
	st = cli_status(h);
	hio_http_free(h);
	if (!st)
		return 1;
	if (name) {
		p = find_pipeline(st, name);
		if (!p)
			rc = cli_fail("no pipeline named '%s'", name);
		else if (json)
			json_dumpf(p, stdout, JSON_INDENT(2));
		else
			print_pipeline(p);
		if (p && json)
			putchar('\n');
	} else if (json) {
		json_dumpf(json_object_get(st, "pipelines"), stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_array_foreach(json_object_get(st, "pipelines"), i, p)
		{
			print_pipeline(p);
		}
	}
	json_decref(st);
	return rc;
}

const struct option cli_pipeline_opts[] = {{"exec", required_argument, 0, 'e'},
					   {"serve", required_argument, 0, 'R'},
					   {"image", required_argument, 0, 'i'},
					   {"pes", required_argument, 0, 'n'},
					   {"min-pes", required_argument, 0, 'a'},
					   {"max-pes", required_argument, 0, 'b'},
					   {"timeout-ms", required_argument, 0, 't'},
					   {"state-dir", required_argument, 0, 's'},
					   {"json", no_argument, 0, 'j'},
					   {0, 0, 0, 0}};

int cmd_pipeline(int argc, char **argv)
{
	const char *state_dir = NULL, *verb;
	json_t *body = json_object();
	char err[160];
	long v;
	int c, json = 0, rc = 1, nset = 0;

	if (argc < 2) {
		fprintf(stderr, "%s\n", pipeline_usage);
		goto out;
	}
	verb = argv[1];
	optind = 2;
	while ((c = cli_getopt(argc, argv, cli_pipeline_opts, NULL)) != -1) {
		const char *key = NULL, *flag = NULL;
		long max = 0;
		switch (c) {
		case 'e':
		case 'R':
			/* The same command field; "serve" says whether it runs resident. */
			json_object_set_new(body, "exec", json_string(optarg));
			json_object_set_new(body, "serve", json_boolean(c == 'R'));
			nset++;
			continue;
		case 'i':
			json_object_set_new(body, "image", json_string(optarg));
			nset++;
			continue;
		case 's':
			state_dir = optarg;
			continue;
		case 'j':
			json = 1;
			continue;
		case 'n':
			key = "pes", flag = "--pes", max = 1000;
			break;
		case 'a':
			key = "min_pes", flag = "--min-pes", max = 1000;
			break;
		case 'b':
			key = "max_pes", flag = "--max-pes", max = 1000;
			break;
		case 't':
			key = "timeout_ms", flag = "--timeout-ms", max = 86400000L;
			break;
		default:
			fprintf(stderr, "%s\n", pipeline_usage);
			goto out;
		}
		if (hio_parse_flag(flag, optarg, 0, max, &v, err, sizeof(err))) {
			cli_fail("%s", err);
			goto out;
		}
		json_object_set_new(body, key, json_integer(v));
		nset++;
	}
	if (!strcmp(verb, "set") && argc - optind == 1) {
		if (!hio_pipeline_valid(argv[optind])) {
			cli_fail("'%s' is not a pipeline name ([A-Za-z0-9._-], up to 64)",
				 argv[optind]);
			goto out;
		}
		if (!nset) {
			cli_fail(
			    "hio pipeline set %s: nothing to set (--exec, --image, --pes, ...)",
			    argv[optind]);
			goto out;
		}
		rc = pipeline_set(state_dir, argv[optind], body);
	} else if (!strcmp(verb, "show") && argc - optind == 1 && !nset) {
		rc = pipeline_read(state_dir, argv[optind], json);
	} else if (!strcmp(verb, "list") && argc == optind && !nset) {
		rc = pipeline_read(state_dir, NULL, json);
	} else {
		fprintf(stderr, "%s\n", pipeline_usage);
	}
out:
	json_decref(body);
	return rc;
}
