/* access.c: who may use the master's HTTP server. The role of a request's credential
 * (shared by the API and the operations endpoints), the one log line per period for
 * refusals, and the server's limits: connections at once, and libmicrohttpd's own
 * complaints rate-limited. */
#include "ops.h"

#include "hio_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

enum hio_role ops_role(struct master *m, struct MHD_Connection *c, char *pe_id)
{
	const char *h =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return HIO_ROLE_NONE;
	h += 7;
	while (*h == ' ')
		h++;
	return hio_cred_role(m->token, h, pe_id);
}

void ops_refused(struct MHD_Connection *c, const char *method, const char *url, enum hio_role role)
{
	/* Logged, so an admin sees a client with a stale token or a prober; at most one
	 * line per period for each kind, so a flood cannot fill the disk. */
	static struct hio_log_limit lim_none, lim_role;
	struct hio_log_limit *lim = role == HIO_ROLE_NONE ? &lim_none : &lim_role;
	unsigned skipped;
	char peer[64];

	if (!hio_log_limited(lim, HIO_LOG_LIMIT_MS, &skipped))
		return;
	ops_peer_host(c, peer, sizeof(peer));
	if (role == HIO_ROLE_NONE)
		hio_warn("refused %s %.200s from %s: missing or wrong token (%u more refused "
			 "since the last such line)",
			 method, url, peer, skipped);
	else
		hio_warn("refused %s %.200s from %s: a %s credential may not do that (%u more "
			 "refused since the last such line)",
			 method, url, peer, hio_role_name(role), skipped);
}

/* A flood makes libmicrohttpd say the same thing per refused connection ("reached
 * connection limit"): one line per period, with the count of those not shown. */
static struct hio_log_limit mhd_log_limit;

void ops_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	unsigned skipped;
	size_t n;

	(void)cls;
	if (!hio_log_limited(&mhd_log_limit, HIO_LOG_LIMIT_MS, &skipped))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (skipped)
		hio_warn("libmicrohttpd: %s (and %u more messages of the server not shown)", msg,
			 skipped);
	else
		hio_warn("libmicrohttpd: %s", msg);
}

/* Connections at once: MASTER_CONN_MAX, less when the descriptor limit is lower (raised
 * to its hard limit first: a default soft limit of 1024 would cap the server below
 * what a lab's PEs need, and let a flood exhaust descriptors the journal needs). */
unsigned int ops_conn_limit(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024 - MASTER_CONN_RESERVE_FDS;
	want = MASTER_CONN_MAX + MASTER_CONN_RESERVE_FDS;
	if (rl.rlim_cur < want) {
		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		return rl.rlim_cur > 2 * MASTER_CONN_RESERVE_FDS
			   ? (unsigned int)(rl.rlim_cur - MASTER_CONN_RESERVE_FDS)
			   : (unsigned int)(rl.rlim_cur / 2);
	return MASTER_CONN_MAX;
}
