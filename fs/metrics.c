/* metrics.c: the mount's counters for GET /metrics: what its spool holds, how full it
 * and its disk are, and what its stream connector sent, P2P or through the backlog. */
#include "fs_metrics.h"

#include "hio_log.h"
#include "hio_metrics.h"

#include <sys/statvfs.h>

/* Takes the spool's lock through fs_spool_stats (after the metrics registry's). */
static void collect(struct hio_metrics_out *o, void *ud)
{
	struct fs *fs = ud;
	struct fs_spool_stats st = {0};
	uint64_t used = atomic_load(&fs->spool_used);
	struct statvfs sv;

	fs_spool_stats(fs, &st);
	hio_mo_gauge(o, "hio_fs_spooled_files",
		     "Completed files the mount holds, not yet acknowledged", (double)st.pending);
	if (st.have_stream)
		hio_mo_gauge(o, "hio_fs_waiting_files",
			     "Spooled files no PE has yet (the autoscaler counts them)",
			     st.pending > st.stream.inflight
				 ? (double)(st.pending - st.stream.inflight)
				 : 0.0);
	hio_mo_gauge(o, "hio_fs_failing_files", "Spooled files whose last delivery failed",
		     (double)st.failing);
	hio_mo_counter(o, "hio_fs_delivery_failures_total", "Deliveries that failed (retried)",
		       st.failures);
	hio_mo_gauge(o, "hio_fs_spool_bytes", "Bytes the spool holds (inputs kept and pending)",
		     (double)used);
	hio_mo_gauge(o, "hio_fs_spool_max_bytes", "The spool's limit (--spool-max)",
		     (double)fs->spool_max);
	hio_mo_gauge(o, "hio_fs_spool_fill_ratio", "spool_bytes / spool_max_bytes",
		     fs->spool_max ? (double)used / (double)fs->spool_max : 0.0);
	/* The disk under the spool, which may fill before the limit does. */
	if (statvfs(fs->spool_dir, &sv) == 0) {
		hio_mo_gauge(o, "hio_fs_spool_disk_free_bytes",
			     "Free bytes on the file system holding the spool",
			     (double)sv.f_bavail * (double)sv.f_frsize);
		hio_mo_gauge(o, "hio_fs_spool_disk_size_bytes",
			     "Size of the file system holding the spool",
			     (double)sv.f_blocks * (double)sv.f_frsize);
	}
	hio_mo_gauge(o, "hio_fs_passthrough",
		     "1: the kernel writes inputs into the spool itself (FUSE passthrough); "
		     "0: unavailable or off; -1: no file written yet",
		     atomic_load(&fs->pt_state) == FS_PT_ON    ? 1
		     : atomic_load(&fs->pt_state) == FS_PT_OFF ? 0
							       : -1);
	hio_mo_counter(o, "hio_fs_passthrough_opens_total", "Files opened in passthrough mode",
		       atomic_load(&fs->pt_opens));
	if (!st.have_stream)
		return;
	hio_mo_counter(o, "hio_fs_files_acked_total",
		       "Files acknowledged: result stored (P2P) or durable in the backlog",
		       st.stream.acked);
	hio_mo_counter(o, "hio_fs_files_given_up_total", "Files given up unacknowledged",
		       st.stream.given_up);
	hio_mo_counter(o, "hio_fs_files_handed_over_total",
		       "Files passed to a PE on this host as descriptors (no copy through TCP)",
		       st.stream.handed_over);
	hio_mo_counter(o, "hio_fs_files_resent_total", "Files sent again after a broken session",
		       st.stream.resent);
	hio_mo_family(o, "hio_fs_files_sent_total", HIO_M_COUNTER,
		      "Files acknowledged, by the way they went");
	hio_mo_u64(o, "hio_fs_files_sent_total", "via", "p2p", NULL, NULL, st.stream.via_pe);
	hio_mo_u64(o, "hio_fs_files_sent_total", "via", "backlog", NULL, NULL,
		   st.stream.via_backlog);
	hio_mo_family(o, "hio_fs_sent_bytes_total", HIO_M_COUNTER,
		      "Bytes sent, P2P to PEs or through the master's backlog");
	hio_mo_u64(o, "hio_fs_sent_bytes_total", "via", "p2p", NULL, NULL, st.stream.bytes_p2p);
	hio_mo_u64(o, "hio_fs_sent_bytes_total", "via", "backlog", NULL, NULL,
		   st.stream.bytes_backlog);
}

struct hio_metrics_srv *fs_metrics_start(struct fs *fs, const char *listen)
{
	struct fs_spool_stats st = {0};
	struct hio_metrics_srv_opts mo = {
	    .listen = listen, .token = fs->token, .master = fs->master, .job = "hio-fs"};
	struct hio_metrics_srv *s;
	char err[256];

	fs_spool_stats(fs, &st);
	mo.id = st.mount_id;
	if (hio_metrics_add(collect, fs) < 0) {
		hio_err("metrics: no room for the mount's collector; not serving /metrics");
		return NULL;
	}
	s = hio_metrics_serve(&mo, err, sizeof(err));
	if (!s) {
		hio_err("metrics: %s; not serving /metrics", err);
		hio_metrics_remove(collect, fs);
	}
	return s;
}

void fs_metrics_stop(struct fs *fs, struct hio_metrics_srv *s)
{
	if (!s)
		return;
	hio_metrics_srv_stop(s);
	hio_metrics_remove(collect, fs);
}
