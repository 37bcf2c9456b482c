/* dk: a small Docker Engine API client over the daemon's unix socket (through
 * hio_http, not the docker command). Everything the daemon answers is peer input:
 * bodies are capped and the JSON is checked by the callers. Not thread-safe. */
#ifndef HIO_WORKER_DOCKER_API_H
#define HIO_WORKER_DOCKER_API_H
#include "hio_buf.h"

#include <jansson.h>
#include <stddef.h>

#define DK_API "/v1.41" /* Docker 20.10; newer engines still serve it */
#define DK_SOCKET_DEFAULT "/var/run/docker.sock"
#define DK_BODY_MAX (4u * 1024 * 1024) /* a JSON answer (container lists grow with PEs) */
#define DK_LOGS_MAX (64u * 1024)       /* the log tail kept of a failed container */

typedef struct dk dk;

/* sock: the daemon's socket path (copied). NULL with err when out of memory. */
dk *dk_new(const char *sock, char *err, size_t errlen);
void dk_free(dk *d);

/* One call: path below DK_API, e.g. "/containers/create?name=x"; body may be NULL
 * (borrowed). Returns the HTTP status, or -1 when the daemon did not answer. On 2xx
 * *out (when out is not NULL) gets the parsed answer, or NULL for an empty one (caller
 * decrefs); otherwise err gets the daemon's message. */
long dk_call(dk *d, const char *method, const char *path, json_t *body, json_t **out, char *err,
	     size_t errlen);

/* Appends the payload of a multiplexed log stream (8-byte frame headers: stream 0..2,
 * 0, 0, 0, big-endian length) to out. Returns 0, or -1 at a malformed or truncated
 * frame or when out is full (what came before is kept). */
int dk_demux(const void *in, size_t n, struct hio_buf *out);

/* Why a container ended, from the "State" object of its inspect answer: "exited with
 * status N", "killed by signal N" (status 129..159), "killed for memory (exit status
 * N)". Returns 1 when it exited with status 0, else 0. */
int dk_exit_reason(json_t *state, char *why, size_t len);

/* The last lines of a container's stdout and stderr as text (caller frees), or NULL. */
char *dk_logs_tail(dk *d, const char *id, int lines);

#endif
