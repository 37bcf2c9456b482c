/* The hio command line: shared pieces of its subcommands. */
#ifndef HIO_CLI_H
#define HIO_CLI_H
#include "hio_config.h"
#include "hio_http.h"
#include <jansson.h>

/* Prints "hio: <reason>" on stderr; returns 1 (the exit status for failures). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Loads master URL and token (state_dir may be NULL) and opens a REST client.
 * NULL after printing the reason. Caller frees with hio_http_free. */
hio_http *cli_connect(const char *state_dir, struct hio_client_conf *conf);
/* GET /v1/status; NULL after printing the reason. Caller decrefs. */
json_t *cli_status(hio_http *h);

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_wait(int argc, char **argv);

#endif
