#include "hio_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hio_state_dir_default(char *out, size_t n)
{
	const char *env = getenv("HIO_STATE_DIR");
	const char *home = getenv("HOME");

	if (env && *env)
		snprintf(out, n, "%s", env);
	else if (home && *home)
		snprintf(out, n, "%s/.hio", home);
	else
		snprintf(out, n, "/tmp/hio-%u", (unsigned)getuid());
}

static int conf_from_state(struct hio_client_conf *c, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX + 32];
	char *url;
	size_t len;

	snprintf(c->state_dir, sizeof(c->state_dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/master.url", dir);
	url = hio_file_read(path, sizeof(c->master) - 1, &len);
	if (!url) {
		snprintf(err, errlen, "no cluster in %s (cannot read %s: %s); run 'hio up' first",
			 dir, path, strerror(errno));
		return -1;
	}
	while (len > 0 && (url[len - 1] == '\n' || url[len - 1] == ' ' || url[len - 1] == '\r'))
		url[--len] = '\0';
	snprintf(c->master, sizeof(c->master), "%s", url);
	free(url);
	snprintf(path, sizeof(path), "%s/token", dir);
	if (hio_token_read(path, c->token) < 0) {
		snprintf(err, errlen, "cannot read the cluster token %s: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int hio_client_conf_load(struct hio_client_conf *c, const char *state_dir, char *err, size_t errlen)
{
	const char *m = getenv("HIO_MASTER");
	const char *t = getenv("HIO_TOKEN");
	char def[PATH_MAX];

	memset(c, 0, sizeof(*c));
	if (state_dir)
		return conf_from_state(c, state_dir, err, errlen);
	if (m && *m) {
		if (!t || !*t || strlen(t) > HIO_TOKEN_MAX) {
			snprintf(err, errlen,
				 "HIO_MASTER is set but HIO_TOKEN is missing or too long");
			return -1;
		}
		snprintf(c->master, sizeof(c->master), "%s", m);
		snprintf(c->token, sizeof(c->token), "%s", t);
		return 0;
	}
	hio_state_dir_default(def, sizeof(def));
	return conf_from_state(c, def, err, errlen);
}

int hio_token_load(const char *token_file, char out[HIO_TOKEN_MAX + 1], char *err, size_t errlen)
{
	const char *t = getenv("HIO_TOKEN");

	if (token_file) {
		if (hio_token_read(token_file, out) < 0) {
			snprintf(err, errlen, "cannot read token file %s: %s", token_file,
				 strerror(errno));
			return -1;
		}
		return 0;
	}
	if (t && *t && strlen(t) <= HIO_TOKEN_MAX) {
		snprintf(out, HIO_TOKEN_MAX + 1, "%s", t);
		return 0;
	}
	snprintf(err, errlen, "no cluster token: give --token-file or set HIO_TOKEN");
	return -1;
}
