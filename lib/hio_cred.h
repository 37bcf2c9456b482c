/* hio_cred: credentials with roles (SPEC, Security), derived from the cluster token.
 *
 * The cluster token is the one secret the master holds. Every other credential is an
 * HMAC-SHA256 of it, so the master checks one without storing it and a holder cannot
 * work back to the token:
 *   join   "hio-join.<mac(token, "hio join")>"          a worker (hio join)
 *   metrics "hio-metrics.<mac(token, "hio metrics")>"  scrapes /metrics (Prometheus);
 *          workers, PEs and mounts learn it when they announce their endpoint
 *   pe     "hio-pe.<ID>.<mac(token, "hio pe " ID)>"    PE ID only
 *   p2p    "hio-p2p.<mac(pe credential, "hio p2p")>"   a sender's ticket to PE ID,
 *          given with an allocation; the PE derives it from its own credential.
 * All outputs are NUL-terminated and at most HIO_TOKEN_MAX bytes. */
#ifndef HIO_CRED_H
#define HIO_CRED_H
#include <stddef.h>
#include <stdint.h>

#include "hio_util.h"

enum hio_role { HIO_ROLE_NONE = 0, HIO_ROLE_CLUSTER, HIO_ROLE_JOIN, HIO_ROLE_PE, HIO_ROLE_METRICS };

/* SHA-256 of n bytes; HMAC-SHA256 (RFC 2104) of msg under key. */
void hio_sha256(const void *p, size_t n, uint8_t out[32]);
void hio_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);

/* The join credential of a cluster token. */
void hio_cred_join(const char *token, char out[HIO_TOKEN_MAX + 1]);
/* The scrape credential of a cluster token. */
void hio_cred_metrics(const char *token, char out[HIO_TOKEN_MAX + 1]);
/* PE id's credential (id: hio_id_valid). 0, or -1 for a bad id. */
int hio_cred_pe(const char *token, const char *id, char out[HIO_TOKEN_MAX + 1]);
/* The P2P ticket of a PE credential. */
void hio_cred_p2p(const char *pe_cred, char out[HIO_TOKEN_MAX + 1]);
/* The role of presented under the cluster token (constant time in the secret parts);
 * for HIO_ROLE_PE, id_out (HIO_ID_LEN + 1) gets the PE's id. */
enum hio_role hio_cred_role(const char *token, const char *presented, char *id_out);
/* "cluster", "join", "pe", "metrics" or "none". */
const char *hio_role_name(enum hio_role r);

#endif
