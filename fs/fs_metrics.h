/* fs_metrics.h: the mount's /metrics (fs/metrics.c). */
#ifndef HIO_FS_METRICS_H
#define HIO_FS_METRICS_H
#include "fs.h"
#include "hio_stream.h"

#include <stddef.h>

struct fs_spool_stats {
	size_t pending, failing; /* in out/; whose last delivery failed */
	uint64_t failures;	 /* deliveries that failed, ever */
	int have_stream;
	struct hio_stream_stats stream;
	char mount_id[HIO_ID_LEN + 1];
};
/* spool.c: a snapshot (takes the spool's lock, then the stream's, not both at once). */
void fs_spool_stats(struct fs *fs, struct fs_spool_stats *st);

struct hio_metrics_srv;
/* Serves GET /metrics on listen and announces it to the master. NULL when it cannot
 * (logged). Call after the spool started; stop before it stops. */
struct hio_metrics_srv *fs_metrics_start(struct fs *fs, const char *listen);
void fs_metrics_stop(struct fs *fs, struct hio_metrics_srv *s);

#endif
