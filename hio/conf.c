/* conf.c: hio's config files (conf.h): reading and checking them, the settings each
 * command gets, and hio config, which prints them with where each comes from. */
#include "conf.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLICONF_KEY_MAX 64  /* bytes in a key: the longest option name is 18 */
#define CLICONF_OPTS_MAX 64 /* options of one command (hio up has 22) */

struct setting {
	const struct cli_cmd *cmd; /* its [section]; NULL: before any, every command */
	char *flag;		   /* "--key"; the key is flag + 2 */
	char *value;		   /* "true" or "false" for an option without argument */
	int has_arg;
	int file, line;
};

static struct {
	char *path[CLICONF_FILES_MAX]; /* lowest precedence first */
	int found[CLICONF_FILES_MAX];
	int nfiles;
	int named; /* HIO_CONFIG chose the files: each must exist */
	struct setting *set;
	size_t nset, capset;
	/* What the running command got, to tell a value from a file from one typed. */
	const struct setting *applied[CLICONF_OPTS_MAX];
	size_t napplied;
	char **argv;
	/* Per option the command parsed: the setting its last value came from (NULL: the
	 * command line). */
	struct {
		const char *name;
		const struct setting *from;
	} seen[CLICONF_OPTS_MAX];
	size_t nseen;
} cf;

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Any option of cmd's, as getopt takes it. */
static const struct option *cmd_option(const struct cli_cmd *cmd, const char *key)
{
	const struct option *o;

	for (o = cmd->opts; o && o->name; o++)
		if (!strcmp(o->name, key))
			return o;
	if (cmd->flags & CLI_COMMON)
		for (o = cli_common_opts; o->name; o++)
			if (!strcmp(o->name, key))
				return o;
	return NULL;
}

static int in_no_file(const struct cli_cmd *cmd, const char *key)
{
	const char *p = cmd->no_file;
	size_t len = strlen(key), w;

	while (p && *p) {
		w = strcspn(p, " ");
		if (w == len && !strncmp(p, key, len))
			return 1;
		p += w;
		p += strspn(p, " ");
	}
	return 0;
}

/* The option a file's key gives cmd, or NULL. */
static const struct option *file_option(const struct cli_cmd *cmd, const char *key)
{
	return in_no_file(cmd, key) ? NULL : cmd_option(cmd, key);
}

static __attribute__((format(printf, 3, 4))) int bad(int file, int line, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	cli_fail("%s:%d: %s", cf.path[file], line, why);
	return CLICONF_EXIT_USAGE;
}

static int key_valid(const char *k)
{
	size_t n = strlen(k);

	return n > 0 && n <= CLICONF_KEY_MAX && k[0] != '-' &&
	       strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int add_setting(const struct cli_cmd *cmd, const char *key, const char *val, int has_arg,
		       int file, int line)
{
	struct setting *s;

	if (cf.nset == cf.capset) {
		size_t cap = cf.capset ? 2 * cf.capset : 16;
		struct setting *n = realloc(cf.set, cap * sizeof(*n));

		if (!n)
			return cli_fail("out of memory");
		cf.set = n;
		cf.capset = cap;
	}
	s = &cf.set[cf.nset];
	*s = (struct setting){.cmd = cmd, .has_arg = has_arg, .file = file, .line = line};
	s->flag = malloc(strlen(key) + 3);
	s->value = strdup(val);
	if (!s->flag || !s->value) {
		free(s->flag);
		free(s->value);
		return cli_fail("out of memory");
	}
	sprintf(s->flag, "--%s", key);
	cf.nset++;
	return 0;
}

/* One line, NUL-terminated; *section is the [command] it is under (NULL: none yet). */
static int parse_line(int file, int line, char *s, const struct cli_cmd **section)
{
	const struct option *o = NULL;
	char *eq, *key, *val;
	size_t n, i, ncmds;
	const struct cli_cmd *cmds = cli_commands(&ncmds);

	s = trim(s);
	if (!*s || *s == '#')
		return 0;
	n = strlen(s);
	if (*s == '[') {
		if (s[n - 1] != ']')
			return bad(file, line, "a section is '[command]' on a line of its own");
		s[n - 1] = '\0';
		s = trim(s + 1);
		*section = cli_command(s);
		if (!*section || (!(*section)->opts && !((*section)->flags & CLI_COMMON)))
			return bad(file, line,
				   "unknown section '[%.64s]' (a section is a hio command that "
				   "takes options)",
				   s);
		return 0;
	}
	if (!(eq = strchr(s, '=')))
		return bad(file, line, "expected 'key = value' or '[command]'");
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (!key_valid(key))
		return bad(file, line, "'%.64s' is not a key (an option's long name without --)",
			   key);
	if (*section) {
		o = cmd_option(*section, key);
		if (o && in_no_file(*section, key))
			return bad(file, line, "hio %s takes '%s' from the command line only",
				   (*section)->name, key);
		if (!o)
			return bad(file, line, "unknown key '%s' for hio %s", key,
				   (*section)->name);
	} else {
		for (i = 0; i < ncmds && !o; i++)
			o = file_option(&cmds[i], key);
		if (!o)
			return bad(file, line,
				   "unknown key '%s' (no hio command takes it from a file)", key);
	}
	/* Quotes keep white space at either end; everything between them is the value. */
	n = strlen(val);
	if (*val == '"') {
		if (n < 2 || val[n - 1] != '"')
			return bad(file, line, "'%s': the value's closing quote must end the line",
				   key);
		val[n - 1] = '\0';
		val++;
	}
	if (o->has_arg == no_argument) {
		if (strcmp(val, "true") && strcmp(val, "false"))
			return bad(file, line, "'%s' takes true or false", key);
	} else if (!*val) {
		return bad(file, line, "'%s' wants a value", key);
	}
	return add_setting(*section, key, val, o->has_arg != no_argument, file, line);
}

static int read_file(int file)
{
	const char *path = cf.path[file];
	const struct cli_cmd *section = NULL;
	char buf[CLICONF_LINE_MAX + 1], *s;
	int c = 0, line = 0, rc = 0;
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f) {
		if (errno == ENOENT && !cf.named)
			return 0;
		cli_fail("cannot read %s: %s", path, strerror(errno));
		return CLICONF_EXIT_USAGE;
	}
	cf.found[file] = 1;
	while (rc == 0 && c != EOF) {
		n = 0;
		while ((c = getc(f)) != EOF && c != '\n' && c != '\0' && n < CLICONF_LINE_MAX)
			buf[n++] = (char)c;
		if (c == EOF && ferror(f)) {
			cli_fail("cannot read %s: %s", path, strerror(errno));
			rc = CLICONF_EXIT_USAGE;
			break;
		}
		if (c == EOF && n == 0)
			break;
		if (++line > CLICONF_LINES_MAX) {
			rc = bad(file, line, "more than %d lines", CLICONF_LINES_MAX);
			break;
		}
		if (c == '\0') {
			rc = bad(file, line, "a NUL byte (not a text file)");
			break;
		}
		if (c != EOF && c != '\n') {
			rc = bad(file, line, "line longer than %d bytes", CLICONF_LINE_MAX);
			break;
		}
		buf[n] = '\0';
		s = buf;
		/* An editor's byte order mark is no part of the first key. */
		if (line == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
			s += 3;
		rc = parse_line(file, line, s, &section);
	}
	fclose(f);
	return rc;
}

static int add_path(const char *dir, size_t len, const char *file)
{
	size_t n = len + strlen(file) + 1;

	if (cf.nfiles == CLICONF_FILES_MAX) {
		cli_fail("HIO_CONFIG names more than %d files", CLICONF_FILES_MAX);
		return CLICONF_EXIT_USAGE;
	}
	if (!(cf.path[cf.nfiles] = malloc(n)))
		return cli_fail("out of memory");
	snprintf(cf.path[cf.nfiles++], n, "%.*s%s", (int)len, dir, file);
	return 0;
}

int cliconf_load(void)
{
	const char *env = getenv("HIO_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME"), *p;
	int rc = 0;

	if (env) {
		cf.named = 1;
		if (!strcmp(env, "none"))
			return 0;
		for (p = env; *p && rc == 0; p += *p == ':') {
			size_t w = strcspn(p, ":");

			if (w)
				rc = add_path(p, w, "");
			p += w;
		}
	} else {
		rc = add_path(CLICONF_SYSTEM_FILE, strlen(CLICONF_SYSTEM_FILE), "");
		/* XDG base directories: a relative XDG_CONFIG_HOME is to be ignored. */
		if (rc == 0 && xdg && xdg[0] == '/')
			rc = add_path(xdg, strlen(xdg), "/" CLICONF_USER_FILE);
		else if (rc == 0 && home && *home)
			rc = add_path(home, strlen(home), "/.config/" CLICONF_USER_FILE);
	}
	for (int i = 0; i < cf.nfiles && rc == 0; i++)
		rc = read_file(i);
	return rc;
}

/* s gives cmd a setting: it is in cmd's section, or before any section with a key
 * cmd takes from a file. */
static int applies(const struct setting *s, const struct cli_cmd *cmd)
{
	return s->cmd ? s->cmd == cmd : file_option(cmd, s->flag + 2) != NULL;
}

/* The settings cmd gets: per key the last line that gives it (files lowest precedence
 * first, then lines in order, so a later file and, within a file, a command's section
 * beat keys before any section), in file and line order. over[i]: the setting got[i]
 * beat, or NULL. Returns how many. */
static size_t resolve(const struct cli_cmd *cmd, const struct setting **got,
		      const struct setting **over)
{
	size_t n = 0, i, j;

	for (i = 0; i < cf.nset; i++) {
		const struct setting *s = &cf.set[i], *beaten = NULL;

		if (!applies(s, cmd))
			continue;
		for (j = 0; j < n && strcmp(got[j]->flag, s->flag); j++)
			;
		if (j < n) {
			beaten = got[j];
			memmove(got + j, got + j + 1, (n - j - 1) * sizeof(*got));
			memmove(over + j, over + j + 1, (n - j - 1) * sizeof(*over));
			n--;
		}
		/* One per option the command takes: never more than CLICONF_OPTS_MAX. */
		if (n < CLICONF_OPTS_MAX) {
			got[n] = s;
			over[n++] = beaten;
		}
	}
	return n;
}

/* The environment variable that beats a file's key for cmd, or NULL: a flag beats the
 * environment, which beats the files. */
static const char *env_beats(const struct cli_cmd *cmd, const char *key)
{
	const char *v;

	if (strcmp(key, "state-dir"))
		return NULL;
	/* hio_client_conf_load: without --state-dir, HIO_MASTER names the master. */
	if ((cmd->flags & CLI_CLIENT) && (v = getenv("HIO_MASTER")) && *v)
		return "HIO_MASTER";
	if ((v = getenv("HIO_STATE_DIR")) && *v) /* hio_state_dir_default */
		return "HIO_STATE_DIR";
	return NULL;
}

char **cliconf_argv(const struct cli_cmd *cmd, int argc, char **argv, int *argc_out)
{
	const struct setting *got[CLICONF_OPTS_MAX], *over[CLICONF_OPTS_MAX];
	size_t n = resolve(cmd, got, over), i;
	int j = 0, k;

	/* "hio pipeline" without its verb: nothing to insert before, the usage says so. */
	if (argc < cmd->words)
		n = 0;
	if (!(cf.argv = calloc((size_t)argc + 2 * n + 1, sizeof(*cf.argv))))
		return NULL;
	for (k = 0; k < cmd->words && k < argc; k++)
		cf.argv[j++] = argv[k];
	for (i = 0; i < n; i++) {
		const struct setting *s = got[i];

		if (env_beats(cmd, s->flag + 2))
			continue;
		if (!s->has_arg && strcmp(s->value, "true"))
			continue; /* false: as without the flag */
		cf.applied[cf.napplied++] = s;
		cf.argv[j++] = s->flag;
		if (s->has_arg)
			cf.argv[j++] = s->value;
	}
	for (; k < argc; k++)
		cf.argv[j++] = argv[k];
	*argc_out = j;
	return cf.argv;
}

void cliconf_saw(const char *name, const char *arg)
{
	const struct setting *from = NULL;
	size_t i;

	/* By address: the value getopt hands over is the very string the file gave. */
	for (i = 0; arg && i < cf.napplied; i++)
		if (cf.applied[i]->value == arg)
			from = cf.applied[i];
	for (i = 0; i < cf.nseen && strcmp(cf.seen[i].name, name); i++)
		;
	if (i == CLICONF_OPTS_MAX)
		return;
	if (i == cf.nseen)
		cf.seen[cf.nseen++].name = name;
	cf.seen[i].from = from;
}

size_t cliconf_flag_from(const char *msg, char *from, size_t n)
{
	size_t len, i;

	if (strncmp(msg, "--", 2))
		return 0;
	len = strspn(msg + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
	for (i = 0; i < cf.nseen; i++) {
		const struct setting *s = cf.seen[i].from;

		if (s && strlen(cf.seen[i].name) == len &&
		    !strncmp(cf.seen[i].name, msg + 2, len)) {
			snprintf(from, n, "%s:%d", cf.path[s->file], s->line);
			return len + 2;
		}
	}
	return 0;
}

void cliconf_note_usage(void)
{
	if (!cf.napplied)
		return;
	fputs("hio: the config files added", stderr);
	for (size_t i = 0; i < cf.napplied; i++) {
		const struct setting *s = cf.applied[i];

		fprintf(stderr, "%s %s%s%.64s%s (%s:%d)", i ? "," : ":", s->flag,
			s->has_arg ? " '" : "", s->has_arg ? s->value : "", s->has_arg ? "'" : "",
			cf.path[s->file], s->line);
	}
	fputc('\n', stderr);
}

void cliconf_free(void)
{
	for (size_t i = 0; i < cf.nset; i++) {
		free(cf.set[i].flag);
		free(cf.set[i].value);
	}
	for (int i = 0; i < cf.nfiles; i++)
		free(cf.path[i]);
	free(cf.set);
	free(cf.argv);
	memset(&cf, 0, sizeof(cf));
}

/* ------------------------------------------------------------------ hio config */

/* A value as a file would hold it: quoted when white space at an end needs it. */
static void put_value(const char *v)
{
	size_t n = strlen(v);

	if (n && !is_space(v[0]) && !is_space(v[n - 1]) && v[0] != '"')
		fputs(v, stdout);
	else
		printf("\"%s\"", v);
}

/* cmd's settings, one line each: "[cmd] key = value<TAB># where from". */
static void show_cmd(const struct cli_cmd *cmd)
{
	const struct setting *got[CLICONF_OPTS_MAX], *over[CLICONF_OPTS_MAX];
	const char *env_sd = env_beats(cmd, "state-dir");
	size_t n = resolve(cmd, got, over), i;
	int sd_shown = 0;

	for (i = 0; i < n; i++) {
		const struct setting *s = got[i];
		const char *env = env_beats(cmd, s->flag + 2);

		printf("[%s] %s = ", cmd->name, s->flag + 2);
		if (env && !strcmp(env, "HIO_STATE_DIR")) {
			put_value(getenv(env));
			printf("\t# %s (over %s:%d)\n", env, cf.path[s->file], s->line);
			sd_shown = 1;
			continue;
		}
		put_value(s->value);
		printf("\t# %s:%d", cf.path[s->file], s->line);
		if (env)
			printf(", not used: %s names the master", env);
		else if (over[i])
			printf(" (over %s:%d)", cf.path[over[i]->file], over[i]->line);
		putchar('\n');
	}
	if (!sd_shown && env_sd && !strcmp(env_sd, "HIO_STATE_DIR") &&
	    cmd_option(cmd, "state-dir")) {
		printf("[%s] state-dir = ", cmd->name);
		put_value(getenv(env_sd));
		printf("\t# %s\n", env_sd);
	}
}

int cmd_config(int argc, char **argv)
{
	const struct cli_cmd *cmds, *only = NULL;
	size_t ncmds, i;

	cmds = cli_commands(&ncmds);
	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return cli_fail("usage: hio config [COMMAND]");
	if (argc == 2 && !(only = cli_command(argv[1])))
		return cli_fail("unknown command '%s'", argv[1]);
	if (cf.named && !cf.nfiles)
		puts("# HIO_CONFIG is none or empty: no config file read");
	for (int f = 0; f < cf.nfiles; f++)
		printf("# %s: %s%s\n", cf.path[f], cf.found[f] ? "read" : "not found",
		       cf.named ? " (HIO_CONFIG)" : "");
	for (i = 0; i < ncmds; i++)
		if (!only || only == &cmds[i])
			show_cmd(&cmds[i]);
	if (fflush(stdout) != 0)
		return cli_fail("cannot write: %s", strerror(errno));
	return 0;
}
