/* hio_config: the one place that says where the master and the token are. */
#ifndef HIO_CONFIG_H
#define HIO_CONFIG_H
#include "hio_util.h"
#include <limits.h>

struct hio_client_conf {
	char master[512]; /* base URL, e.g. http://127.0.0.1:41234 */
	char token[HIO_TOKEN_MAX + 1];
	char state_dir[HIO_PATH_MAX];
};

/* $HIO_STATE_DIR, else $HOME/.hio, else /tmp/hio-UID. */
void hio_state_dir_default(char *out, size_t n);
/* With state_dir given: reads STATE/master.url and STATE/token. Without: HIO_MASTER and
 * HIO_TOKEN when HIO_MASTER is set, else the default state dir. 0, or -1 with err. */
int hio_client_conf_load(struct hio_client_conf *c, const char *state_dir, char *err,
			 size_t errlen);
/* Daemons: the token from token_file when given, else $HIO_TOKEN. 0, or -1 with err. */
int hio_token_load(const char *token_file, char out[HIO_TOKEN_MAX + 1], char *err, size_t errlen);

#endif
