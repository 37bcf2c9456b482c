/* metrics.c: the master's /metrics families, the table of metrics endpoints the
 * other daemons announce (served to Prometheus as HTTP service discovery), and the
 * recent failures the dashboard lists. See docs/operations.md. */
#include "ops.h"

#include "hio_cred.h"
#include "hio_log.h"
#include "hio_sync.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct hio_hist ops_alloc_hist, ops_store_hist;

struct target {
	char id[HIO_ID_LEN + 1];
	char job[32];
	char host[256];
	int port;
	uint64_t seen_ms;
};

/* Guards targets and n_targets. Lock order: a leaf; taken without m->lock. One table
 * per process, as there is one master per process. */
static pthread_mutex_t targets_mu = PTHREAD_MUTEX_INITIALIZER;
static struct target *targets;
static size_t n_targets, cap_targets;

static const char *const states[] = {"starting", "idle", "busy", "stopping"};

/* Caller holds m->lock. */
static void pipeline_families(struct master *m, struct hio_metrics_out *o)
{
	struct list *pos, *tmp, *ppos, *ptmp;

	HIO_ASSERT_HELD(&m->lock);
	hio_mo_family(o, "hio_master_queue_length", HIO_M_GAUGE,
		      "Messages waiting in the master's backlog, not leased");
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		hio_mo_u64(o, "hio_master_queue_length", "pipeline", pl->name, NULL, NULL,
			   pl->n_queued);
	}
	hio_mo_family(o, "hio_master_leased", HIO_M_GAUGE,
		      "Backlog messages leased to a PE, not yet stored");
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		hio_mo_u64(o, "hio_master_leased", "pipeline", pl->name, NULL, NULL, pl->n_leased);
	}
	hio_mo_family(o, "hio_master_pes", HIO_M_GAUGE, "PEs by pipeline and state");
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);
		uint64_t n[4] = {0};

		list_for_each_safe(ppos, ptmp, &m->pes)
		{
			struct mpe *p = list_entry(ppos, struct mpe, link);
			const char *st = mpe_state_name(p);

			for (size_t i = 0; p->pl == pl && i < 4; i++)
				n[i] += strcmp(st, states[i]) == 0;
		}
		for (size_t i = 0; i < 4; i++)
			hio_mo_u64(o, "hio_master_pes", "pipeline", pl->name, "state", states[i],
				   n[i]);
	}
	hio_mo_family(o, "hio_master_pes_desired", HIO_M_GAUGE,
		      "PE count the master aims at (-1: not managed)");
	list_for_each_safe(pos, tmp, &m->pipelines)
	{
		struct pipeline *pl = list_entry(pos, struct pipeline, link);

		hio_mo_double(o, "hio_master_pes_desired", "pipeline", pl->name, NULL, NULL,
			      pipeline_desired(m, pl));
	}
	static const struct {
		const char *name, *help;
		size_t off;
	} ctr[] = {
	    {"hio_master_messages_in_total", "Distinct messages the master saw (backlog or result)",
	     offsetof(struct pipeline, n_in)},
	    {"hio_master_messages_done_total", "Distinct messages whose result is stored, done",
	     offsetof(struct pipeline, n_done)},
	    {"hio_master_messages_failed_total", "Distinct messages whose result is stored, failed",
	     offsetof(struct pipeline, n_failed)},
	};
	for (size_t k = 0; k < sizeof(ctr) / sizeof(ctr[0]); k++) {
		hio_mo_family(o, ctr[k].name, HIO_M_COUNTER, ctr[k].help);
		list_for_each_safe(pos, tmp, &m->pipelines)
		{
			struct pipeline *pl = list_entry(pos, struct pipeline, link);
			uint64_t v;

			memcpy(&v, (const char *)pl + ctr[k].off, sizeof(v));
			hio_mo_u64(o, ctr[k].name, "pipeline", pl->name, NULL, NULL, v);
		}
	}
}

/* Caller holds m->lock. */
static void registry_families(struct master *m, struct hio_metrics_out *o)
{
	struct list *pos, *tmp;
	uint64_t up = 0, gone = 0;

	HIO_ASSERT_HELD(&m->lock);
	list_for_each_safe(pos, tmp, &m->workers)
	{
		struct worker *w = list_entry(pos, struct worker, link);

		up += !w->gone;
		gone += !!w->gone;
	}
	hio_mo_family(o, "hio_master_workers", HIO_M_GAUGE, "Workers known, by state");
	hio_mo_u64(o, "hio_master_workers", "state", "up", NULL, NULL, up);
	hio_mo_u64(o, "hio_master_workers", "state", "gone", NULL, NULL, gone);
	hio_mo_gauge(o, "hio_master_backlog_stored_bytes", "Frame bytes stored in the backlog",
		     (double)m->backlog_bytes);
	hio_mo_gauge(o, "hio_master_backlog_max_bytes", "The backlog's limit (--backlog-max)",
		     (double)m->backlog_max);
}

static void mount_families(struct hio_metrics_out *o, json_t *mounts)
{
	static const struct {
		const char *name, *help, *key;
	} g[] = {
	    {"hio_mount_spooled_files", "Files a mount holds, not yet acknowledged", "spooled"},
	    {"hio_mount_waiting_files", "Files a mount holds that no PE has yet", "waiting"},
	    {"hio_mount_spool_bytes", "Bytes a mount's spool holds", "spool_bytes"},
	    {"hio_mount_spool_max_bytes", "A mount's spool limit", "spool_max"},
	    {"hio_mount_failing", "Files a mount could not deliver lately", "failing"},
	};
	size_t i;
	json_t *r;

	for (size_t k = 0; k < sizeof(g) / sizeof(g[0]); k++) {
		hio_mo_family(o, g[k].name, HIO_M_GAUGE, g[k].help);
		json_array_foreach(mounts, i, r)
		{
			hio_mo_double(o, g[k].name, "mount",
				      json_string_value(json_object_get(r, "id")), "mountpoint",
				      json_string_value(json_object_get(r, "mountpoint")),
				      (double)json_integer_value(json_object_get(r, g[k].key)));
		}
	}
}

int ops_metrics_render(struct master *m, struct hio_buf *b)
{
	struct hio_metrics_out o = {.b = b, .err = 0};
	json_t *mounts;
	size_t nt;

	pthread_mutex_lock(&m->lock);
	pipeline_families(m, &o);
	registry_families(m, &o);
	mounts = mounts_json(m);
	pthread_mutex_unlock(&m->lock);
	if (mounts) {
		mount_families(&o, mounts);
		json_decref(mounts);
	}
	hio_mo_counter(&o, "hio_master_http_received_bytes_total",
		       "Request body bytes the master received", atomic_load(&m->rx_bytes));
	hio_mo_counter(&o, "hio_master_backlog_received_bytes_total",
		       "Message bytes pushed into the backlog (data that did not go P2P)",
		       atomic_load(&m->backlog_rx));
	hio_mo_counter(&o, "hio_master_results_received_bytes_total",
		       "Result bytes uploaded by PEs", atomic_load(&m->results_rx));
	hio_mo_gauge(&o, "hio_master_uptime_seconds", "Seconds since the master started",
		     (double)(hio_mono_ms() - m->start_ms) / 1000.0);
	pthread_mutex_lock(&targets_mu);
	nt = n_targets;
	pthread_mutex_unlock(&targets_mu);
	hio_mo_gauge(&o, "hio_master_metrics_targets",
		     "Metrics endpoints of workers, PEs and mounts that announced themselves",
		     (double)nt);
	hio_mo_hist(&o, "hio_master_allocate_seconds",
		    "Time to answer an allocation (a PE reserved for a connector)",
		    &ops_alloc_hist);
	hio_mo_hist(&o, "hio_master_result_store_seconds",
		    "Result upload from its first byte until stored (journal written)",
		    &ops_store_hist);
	if (o.err)
		return -1;
	return hio_metrics_render(b);
}

/* ---- targets ---- */

/* Caller holds targets_mu. */
static void targets_expire(uint64_t now)
{
	HIO_ASSERT_HELD(&targets_mu);
	for (size_t i = 0; i < n_targets;)
		if (now - targets[i].seen_ms > HIO_METRICS_TARGET_TTL_MS)
			targets[i] = targets[--n_targets];
		else
			i++;
}

void ops_peer_host(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, n, "127.0.0.1");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, (socklen_t)n);
}

static json_t *sd_entry(const char *host, int port, const char *job, const char *id)
{
	char addr[300];

	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	return json_pack("{s:[s],s:{s:s,s:s}}", "targets", addr, "labels", "job", job, "hio_id",
			 id);
}

static void targets_get(struct master *m, struct reply *out)
{
	json_t *arr = json_array();
	char id[HIO_ID_LEN + 1] = "master";

	if (arr)
		json_array_append_new(arr,
				      sd_entry(m->listen_host, m->listen_port, "hio-master", id));
	pthread_mutex_lock(&targets_mu);
	targets_expire(hio_mono_ms());
	for (size_t i = 0; arr && i < n_targets; i++)
		if (json_array_append_new(arr, sd_entry(targets[i].host, targets[i].port,
							targets[i].job, targets[i].id)) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	pthread_mutex_unlock(&targets_mu);
	if (!arr) {
		reply_err(out, 500, "out of memory listing the metrics targets");
		return;
	}
	reply_ok(out, 200, arr);
}

void ops_targets(struct master *m, struct MHD_Connection *c, const char *id, int put,
		 struct reply *out)
{
	const char *job = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "job");
	const char *host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "host");
	const char *ps = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "port");
	struct target t = {0}, *slot = NULL;
	char scrape[HIO_TOKEN_MAX + 1];
	long port = 0;

	if (!put) {
		targets_get(m, out);
		return;
	}
	if (put < 0) {
		pthread_mutex_lock(&targets_mu);
		for (size_t i = 0; i < n_targets; i++)
			if (strcmp(targets[i].id, id) == 0) {
				targets[i] = targets[--n_targets];
				break;
			}
		pthread_mutex_unlock(&targets_mu);
		reply_ok(out, 200, json_object());
		return;
	}
	if (!job || strlen(job) >= sizeof(t.job) || !text_valid(job, sizeof(t.job) - 1)) {
		reply_err(out, 400, "job must be a short name, e.g. hio-pe");
		return;
	}
	if (!ps || hio_parse_long(ps, 1, 65535, &port) < 0) {
		reply_err(out, 400, "port must be 1..65535");
		return;
	}
	if (host && *host && strlen(host) < sizeof(t.host) &&
	    text_valid(host, sizeof(t.host) - 1) && strcmp(host, "0.0.0.0") != 0 &&
	    strcmp(host, "::") != 0)
		snprintf(t.host, sizeof(t.host), "%s", host);
	else if (host && *host && !text_valid(host, sizeof(t.host) - 1)) {
		reply_err(out, 400, "bad host");
		return;
	} else
		ops_peer_host(c, t.host, sizeof(t.host));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.job, sizeof(t.job), "%s", job);
	t.port = (int)port;
	t.seen_ms = hio_mono_ms();
	pthread_mutex_lock(&targets_mu);
	targets_expire(t.seen_ms);
	for (size_t i = 0; !slot && i < n_targets; i++)
		if (strcmp(targets[i].id, id) == 0)
			slot = &targets[i];
	if (!slot && n_targets == cap_targets && cap_targets < OPS_TARGETS_MAX) {
		size_t nc = cap_targets ? cap_targets * 2 : 16;
		struct target *nt = realloc(targets, nc * sizeof(*nt));

		if (nt) {
			targets = nt;
			cap_targets = nc;
		}
	}
	if (!slot && n_targets < cap_targets)
		slot = &targets[n_targets++];
	if (slot)
		*slot = t;
	pthread_mutex_unlock(&targets_mu);
	if (!slot) {
		reply_err(out, 503, "%d metrics targets are known already (or memory is out)",
			  OPS_TARGETS_MAX);
		return;
	}
	/* The announcer learns the scrape credential Prometheus presents (hio_cred.h). */
	hio_cred_metrics(m->token, scrape);
	reply_ok(out, 200, json_pack("{s:s}", "scrape_credential", scrape));
}

/* ---- recent failures ---- */

void ops_failures(struct master *m, const char *name, long limit, struct reply *out)
{
	struct result **top = calloc((size_t)limit, sizeof(*top));
	json_t *arr = json_array(), *ans;
	struct pipeline *pl;
	size_t n = 0;

	if (!top || !arr) {
		free(top);
		json_decref(arr);
		reply_err(out, 500, "out of memory listing failures");
		return;
	}
	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, name);
	/* The newest `limit` failed entries, newest first, by insertion. */
	for (size_t i = 0; pl && i < pl->results.cap; i++) {
		struct result *r = pl->results.slots[i].val;
		size_t j;

		if (!pl->results.slots[i].key || !r || !r->failed)
			continue;
		if (n == (size_t)limit && r->ts <= top[n - 1]->ts)
			continue;
		j = n < (size_t)limit ? n++ : n - 1;
		while (j > 0 && top[j - 1]->ts < r->ts) {
			top[j] = top[j - 1];
			j--;
		}
		top[j] = r;
	}
	for (size_t i = 0; i < n; i++) {
		char err[OPS_ERROR_TEXT + 1];
		size_t len;

		snprintf(err, sizeof(err), "%s", top[i]->error ? top[i]->error : "");
		len = strlen(err);
		/* Cut at a character boundary, or jansson refuses the string. */
		if (top[i]->error && len < strlen(top[i]->error)) {
			while (len > 0 && ((unsigned char)top[i]->error[len] & 0xC0) == 0x80)
				len--;
			err[len] = '\0';
		}
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s}", "name", top[i]->name,
						     "id", top[i]->id, "ts", (json_int_t)top[i]->ts,
						     "error", err));
	}
	pthread_mutex_unlock(&m->lock);
	free(top);
	ans = json_pack("{s:s,s:o}", "pipeline", name, "failures", arr);
	if (!ans) {
		reply_err(out, 500, "out of memory listing failures");
		return;
	}
	reply_ok(out, 200, ans);
}
