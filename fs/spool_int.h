/* spool_int.h: the spool's internals, shared by spool.c (states, versions, the sender)
 * and spool_scan.c (the start-up scan and replay, the reporter). */
#ifndef HIO_FS_SPOOL_INT_H
#define HIO_FS_SPOOL_INT_H
#include "fs.h"
#include "hio_hmap.h"
#include "hio_stream.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 60000
#define STATES_MAX 100000 /* input states kept; older done ones are answered by the index */
#define SIDECAR_MAX 16384 /* bytes of an out/<id>.json */
#define REPORT_MS 500	  /* how often the spool's state goes to the master */
#define REPORT_MIN_MS 100 /* at least this apart when the pending count changed */

enum in_state { ST_SPOOLED = 0, ST_SENT, ST_QUEUED, ST_PROCESSING, ST_DONE, ST_FAILED };

/* Lock: every field but id, ts and side is guarded by fs_spool.mu. */
struct fs_version {
	char id[HIO_ID_LEN + 1];
	uint64_t ts;
	char *name; /* the input's name now (a rename moves it) */
	char *side; /* the name out/<id>.json holds; the sender's own (no lock) */
	uint64_t not_before_ms;
	int tries;
	int waiting;   /* committed, not yet handed to the connector */
	int cancelled; /* removed or superseded while waiting: never sent */
	struct fs_version *next;
};

struct rec { /* the newest version of one input this mount knows of */
	char *name;
	char id[HIO_ID_LEN + 1];
	uint64_t ts;
	enum in_state state;
	struct fs_version *v; /* that version while it is in out/, else NULL */
};

struct fs_spool {
	struct fs *fs;
	/* Lock order: mu, then the evictable list's mu (on_ack marks an input evictable)
	 * or the stream connector's (a leaf: the reporter reads its counts); never ino_mu or the
	 * results' mu. Held for list and map updates only: links, sidecars, sends and reports to
	 * the master happen with it released. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t cv_report;	/* pending changed, stop */
	struct fs_version *head, *tail; /* waiting for the sender */
	size_t pending;			/* in out/: prepared, waiting or handed to the stream */
	int stop;
	int lock_fd; /* SPOOL/lock, flock'ed while this process runs (spool_lock) */
	pthread_t sender;
	int sender_started;
	hio_stream *stream;
	struct hio_hmap states; /* name -> struct rec */
	uint64_t failures;
	size_t failing; /* entries whose last delivery failed */
	char last_error[256];
	char mount_id[HIO_ID_LEN + 1];
	pthread_t reporter;
	int reporter_started;
};

void spool_version_free(struct fs_version *v);
/* The caller holds sp->mu for these three. */
struct rec *spool_state_set(struct fs_spool *sp, const char *name, const char *id, uint64_t ts,
			    enum in_state st);
void spool_queue(struct fs_spool *sp, struct fs_version *v);
void spool_pending_add(struct fs_spool *sp, int delta);

/* spool_scan.c */
/* The reporter thread: posts the spool's state to the master. */
void *spool_reporter_main(void *arg);
/* The mount's id, kept in SPOOL/mount.id. */
void spool_mount_id(struct fs *fs, char out[HIO_ID_LEN + 1]);
/* Counts tree bytes and lists processed inputs as evictable (dfd is consumed). */
void spool_scan_tree(struct fs *fs, int dfd, const char *prefix, int depth);
/* Queues what a previous mount left in out/. 0 or -1. */
int spool_replay_out(struct fs *fs);
#endif
