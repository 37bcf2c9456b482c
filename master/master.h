/* master.h: hio-master's internal interface. One struct master holds everything; the
 * sections below follow the files that define their functions. Locks and threads: see
 * the comment at struct master and docs/master.md. */
#ifndef HIO_MASTER_H
#define HIO_MASTER_H
#include "autoscale.h"
#include "hio_buf.h"
#include "hio_frame.h"
#include "hio_hmap.h"
#include "hio_sync.h"
#include "hio_util.h"
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifndef HIO_RESULT_FILES_MAX
#define HIO_RESULT_FILES_MAX 10000 /* result files in one entry */
#endif

#define MASTER_WAIT_MAX_MS 30000	  /* cap of a long poll's wait */
#define MASTER_TEXT_MAX 255		  /* host, worker name, runtime, reason */
#define MASTER_EXEC_MAX (16u * 1024)	  /* a pipeline's command */
#define MASTER_IMAGE_MAX 1024		  /* a pipeline's container image */
#define MASTER_WORKERS_MAX 4096		  /* workers known at once */
#define MASTER_PES_MAX 65536		  /* PEs known at once */
#define MASTER_PIPELINES_MAX 1024	  /* pipelines known at once */
#define MASTER_WORKER_PES_MAX 10000	  /* max_pes of one worker, PEs in a heartbeat */
#define MASTER_CMDS_MAX 4096		  /* commands waiting for one worker */
#define MASTER_TIMEOUT_MAX_MS 604800000LL /* a pipeline's per-message timeout: a week */
#define MASTER_GONE_KEEP_MS 60000	  /* gone workers and PEs stay listed this long */
#define MASTER_WORKER_SILENT_MS 2000	  /* a worker missed two 1 s heartbeats */
#define MASTER_START_TIMEOUT_MS 30000	  /* a starting PE must register within this */
#define MASTER_DISK_FULL 507		  /* a result refused for a full state disk */
#define MASTER_RESERVE_LEASE_MS 2000	  /* a reservation without a session expires after */
#define MASTER_STOP_RETRY_MS 10000	  /* a stopping PE still alive gets its stop again */
#define MASTER_RECONCILE_MS 100		  /* reconcile period */
#define MASTER_BACKOFF_MAX_MS 30000	  /* start retry back-off cap after failed starts */
#define MASTER_UNREACHABLE_MS 10000	  /* a PE a sender cannot reach is not allocated */
#define MASTER_BACKLOG_MAX_DEFAULT (8ull * 1024 * 1024 * 1024)

/* --- an intrusive doubly linked list --- */
struct list {
	struct list *prev, *next;
};
#define list_entry(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define list_for_each_safe(pos, tmp, head)                                                         \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                           \
	     (pos) = (tmp), (tmp) = (pos)->next)
static inline void list_init(struct list *h)
{
	h->prev = h->next = h;
}
static inline int list_empty(const struct list *h)
{
	return h->next == h;
}
static inline void list_insert(struct list *n, struct list *prev, struct list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}
static inline void list_add_tail(struct list *h, struct list *n)
{
	list_insert(n, h->prev, h);
}
static inline void list_add_head(struct list *h, struct list *n)
{
	list_insert(n, h, h->next);
}
static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* --- the registry's types (registry.c) --- */
enum mpe_state { MPE_STARTING = 0, MPE_UP, MPE_STOPPING, MPE_GONE };

struct worker {
	struct list link; /* m->workers */
	char id[HIO_ID_LEN + 1];
	char name[MASTER_TEXT_MAX + 1];
	char host[MASTER_TEXT_MAX + 1];
	char runtime[MASTER_TEXT_MAX + 1];
	int max_pes;
	int gone;
	int draining; /* it said it is stopping: no start goes to it; a registration ends it */
	int polls;    /* command long polls in progress: keeps it allocated (not alive) */
	/* Bumped by each registration: a long poll from before it (a worker killed -9
	 * and restarted with the same id) must not take commands into a dead socket. */
	unsigned reg_gen;
	int idx; /* scratch: group number while building a snapshot */
	uint64_t hb_ms, gone_ms;
	/* Commands not yet acknowledged, each with a "seq" above the last one. A poll
	 * carries ack=S, the highest seq its worker took; commands up to S are dropped
	 * and the rest are answered again, so a command answered into a dead socket (a
	 * host that died while its poll was parked) reaches the next poll instead of
	 * being lost. Seqs start at the master's wall-clock start in ms * 1000, so an
	 * ack from before a master restart never covers a new command. */
	json_t *cmds;
	uint64_t cmd_seq; /* the last seq given */
};

struct pipeline;
struct series;
struct mpe {
	struct list link; /* m->pes */
	char id[HIO_ID_LEN + 1];
	char worker[HIO_ID_LEN + 1]; /* "" when standalone */
	struct pipeline *pl;
	char host[MASTER_TEXT_MAX + 1];
	int port;
	/* The uid its local listener runs as (docs/protocol.md, "Local handover"), which a
	 * sender on its host checks before it hands files over; -1: none. */
	long long local_uid;
	enum mpe_state st;
	int busy;	/* its last heartbeat said busy, or it just took a backlog lease */
	int registered; /* it registered at least once */
	int reserved;	/* allocated to a connector */
	int polls;	/* backlog long polls in progress */
	long pid;
	uint64_t created_ms, hb_ms, reserved_ms, stop_ms, gone_ms;
	uint64_t active_ms; /* last seen busy or reserved, or registered: idle since */
	/* Set on a PE started by a scale-up, to time it when it registers: the push after
	 * which the backlog outgrew the PEs (when this decision was the first to answer
	 * it) and the decision. 0: none. */
	uint64_t signal_ms, decision_ms;
	uint64_t done, failed;
	/* A sender could not open a session to it (release with "unreachable"): not
	 * allocated again before this, so no sender loops on an address it cannot reach. */
	uint64_t unreachable_until_ms;
	int version; /* its pipeline's analysis version when started; 0: unknown */
	int exited;  /* reported gone by its worker or itself: never listed again */
	/* Gone because its host went silent (its worker's heartbeats stopped too: a
	 * partition, perhaps): the one case in which the worker listing it again brings
	 * it back, once. Until that worker lists its PEs again, such a PE still holds
	 * its slot there, since the worker may well run it still (PE leases are shorter
	 * than worker leases, so the PEs of a cut host are given up first, and a start
	 * sent meanwhile would meet a full worker). A PE whose own heartbeats stopped
	 * while its worker's went on (stopped, hung) stays gone. */
	int gone_with_worker;
};

struct pipeline {
	struct list link; /* m->pipelines */
	char name[HIO_PIPELINE_MAX + 1];
	/* configuration (POST /v1/pipelines/{p}); persisted when configured */
	int configured;
	char *exec, *image;
	int serve; /* 1: exec runs resident (hio-pe --serve), not once per message */
	/* The analysis version: 1 at the first configuration, +1 at each change of exec,
	 * serve, image or timeout. PEs of another version are stopped (they finish the
	 * message in hand) and replaced, and each result records the version that made
	 * it, so no message is processed by a mix. Persisted in pipelines.json. */
	int version;
	long long timeout_ms;
	int pes; /* PE count set by hand, or the autoscaler's start; -1: not managed */
	int min_pes, max_pes;
	int autoscale;					     /* 1: the autoscaler moves the count */
	long long idle_ms, up_cooldown_ms, down_cooldown_ms; /* 0: the defaults */
	/* autoscaler (scale.c) */
	struct as_state as;
	struct as_window win;
	enum as_action last_action;
	uint64_t push_ms; /* the last push into the backlog */
	uint64_t want_ms; /* the push after which the backlog outgrew the PEs; 0: it does not */
	uint64_t up_signal_ms, up_decision_ms; /* the scale-up being applied, for new PEs */
	int n_starting, n_idle, n_busy, n_stopping, n_idle_long; /* scratch of a pass */
	long edge; /* files live mounts hold that no PE has (mounts_waiting), per pass */
	struct series *series; /* NULL until sampled, or when SERIES_PIPELINES_MAX is reached */
	uint64_t next_sample_ms;
	/* start failures: PEs that never registered delay the next start */
	int start_fails;
	uint64_t backoff_until_ms;
	/* backlog */
	struct list queued, leased;
	size_t n_queued, n_leased;
	/* counters over distinct message ids */
	uint64_t n_in, n_done, n_failed;
	struct hio_hmap results; /* name -> struct result */
	struct plver *vers;	 /* versions its results name, oldest first */
	size_t n_vers;
	/* results in name order, built by the first listing after a change (dropped by
	 * every change): pages of a listing cost their own size, not the index's. */
	struct result **sorted;
	size_t n_sorted;
};

/* One backlog message: DIR/backlog/<pipeline>/<seq %016llx>-<id>.frame */
struct mmsg {
	struct list link; /* pl->queued or pl->leased */
	char id[HIO_ID_LEN + 1];
	struct pipeline *pl;
	uint64_t seq, ts, size;
	int leased;
	char pe[HIO_ID_LEN + 1];
};

enum id_result { IDR_NONE = 0, IDR_STORING, IDR_DONE, IDR_FAILED };
/* Every message id the master knows: in the backlog, being stored, or stored. */
struct ident {
	char id[HIO_ID_LEN + 1];
	unsigned char result; /* enum id_result */
	struct pipeline *pl;
	struct mmsg *msg; /* its backlog copy, or NULL */
};

struct rfile {
	char *name;
	uint64_t size;
};
struct result {
	char *name; /* key in pl->results */
	char id[HIO_ID_LEN + 1];
	uint64_t ts;
	int failed;
	int version; /* the pipeline's analysis version that made it; 0: unknown */
	char *error;
	size_t nfiles;
	struct rfile *files;
	/* Provenance (docs/protocol.md). stored_us: the master's wall clock at commit, what
	 * rm --older-than and retention go by; the rest as the PE reported it. 0 / NULL /
	 * exit_status -1: unknown (a journal from before provenance, or an old PE). */
	uint64_t stored_us, start_us, duration_ms;
	int exit_status;
	char *pe, *host;
};

/* An analysis version's command or image, kept for the provenance of its results:
 * results hold only the number. Recorded when a result of the pipeline's current
 * version is stored, and rebuilt from the journal, whose lines carry them. */
struct plver {
	int version;
	char *exec, *image;
};

struct master {
	/* configuration, read-only once serving */
	char dir[PATH_MAX];
	char token[HIO_TOKEN_MAX + 1];
	char listen_host[256];
	int listen_port;
	long pe_lease_ms, worker_lease_ms;
	int fsync;
	uint64_t backlog_max;
	int conns_per_ip; /* REST connections one client address may hold; 0: no limit */

	/* Lock order: persist_lock, then lock; journal_lock, then lock (compaction only:
	 * docs/master.md); otherwise journal_lock is a leaf, never taken with
	 * another. lock guards the registry (workers, PEs, pipelines), the backlog queues,
	 * the id table, the result index and the mounts; nothing holds it across disk or
	 * network I/O (files are renamed, unlinked and written after unlocking). */
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* long polls (commands, backlog): broadcast on news */
	pthread_cond_t rc_cond; /* wakes the reconcile thread */
	int stopping;

	struct list workers, pes, pipelines;
	struct hio_hmap worker_ix, pe_ix, pipeline_ix;
	size_t n_workers, n_pes, n_pipelines;
	struct hio_hmap ids;	/* id -> struct ident */
	uint64_t backlog_bytes; /* stored frame bytes */
	uint64_t backlog_held;	/* reserved by pushes in progress */
	uint64_t seq;		/* next backlog / temp file sequence */

	/* journal_lock guards journal_fd, journal_size and journal_lines, and is held
	 * across one append's write (and fsync): it serialises the appends so a failed one
	 * can be cut back. Taken without lock; result uploads, deletions and compaction
	 * (which holds it throughout and takes lock briefly inside) wait on it. */
	pthread_mutex_t journal_lock;
	int journal_fd;
	uint64_t journal_size;
	size_t journal_lines; /* lines in it: compaction compares them with the entries kept */
	/* Appends written but not yet applied to the index (journal_append adds one, its
	 * caller takes it back after the index update): compaction, which rewrites the
	 * journal from the index, waits for 0 while it holds journal_lock. */
	atomic_int journal_unapplied;
	/* Results stored more than this many seconds ago expire (0: kept until rm). */
	long retention_s;
	struct retention *retention; /* its thread (compact.c) */
	/* persist_lock orders pipelines.json writes so the file on disk is the newest
	 * configuration; held across that write, never while holding lock (it is taken
	 * first, and lock is dropped before the write). Only configuration changes wait. */
	pthread_mutex_t persist_lock;

	atomic_uint_least64_t rx_bytes, backlog_rx, results_rx;
	/* A result refused because the state disk was full (ENOSPC, EDQUOT): when the last
	 * one was (wall-clock ms, 0: never) and how many; shown by GET /v1/status. */
	atomic_uint_least64_t disk_full_ms, disk_full_refused;

	uint64_t start_ms; /* hio_mono_ms() at master_init: time zero of the series */
	size_t n_series;   /* pipelines with a series */

	struct mount_rep *mounts; /* hio-fs mounts that reported lately (mounts.c) */
	size_t n_mounts;

	pthread_t rc_thread;
	int rc_started;
};

/* An endpoint's answer: api.c and the others fill it, http.c sends it. */
struct reply {
	unsigned status;
	json_t *json;		       /* answer, or NULL for none */
	int fd;			       /* >= 0: answer with this file's bytes (fd is handed over) */
	uint64_t fd_size;	       /* bytes to send from fd */
	char hdr_id[HIO_ID_LEN + 1];   /* X-Hio-Id header when not empty */
	const char *allow;	       /* Allow header (405) */
	struct results_stream *stream; /* answer with what it reads (freed with the answer) */
};

/* --- util.c --- */
/* Fill an answer (no HTTP involved, so unit tests link without MHD). */
void reply_err(struct reply *out, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_ok(struct reply *out, unsigned status, json_t *json);
#define JF_REQUIRED 1
#define JF_NULLABLE 2
/* Field getters: 0 with *out set (NULL/absent leaves *present 0), or -1 with err. */
int jget_str(json_t *o, const char *key, int flags, size_t max, const char **out, char *err,
	     size_t errlen);
int jget_int(json_t *o, const char *key, int flags, long long min, long long max, long long *out,
	     int *present, char *err, size_t errlen);
int jget_bool(json_t *o, const char *key, int flags, int *out, int *present, char *err,
	      size_t errlen);
/* Printable ASCII, no spaces or quotes, 1..max bytes: hosts, worker names, runtimes. */
int text_valid(const char *s, size_t max);
/* No control characters, at most max bytes (may be empty): free text that gets logged. */
int line_valid(const char *s, size_t max);
/* snprintf into out; -1 (ENAMETOOLONG) when it does not fit. */
int path_fmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* fsync a directory (after a rename into it). */
int dir_sync(const char *dir);

/* --- registry.c (callers hold m->lock unless noted) --- */
struct pipeline *pipeline_find(struct master *m, const char *name);
/* NULL when MASTER_PIPELINES_MAX is reached or memory is out. */
struct pipeline *pipeline_get(struct master *m, const char *name);
struct worker *worker_find(struct master *m, const char *id);
struct mpe *mpe_find(struct master *m, const char *id);
/* A new PE (state starting) with that id; NULL when full or out of memory. */
struct mpe *mpe_add(struct master *m, const char *id);
/* Unlinks and frees a PE. */
void mpe_free(struct master *m, struct mpe *p);
/* These two read p only (the caller holds m->lock to keep p alive). */
const char *mpe_state_name(const struct mpe *p);
int mpe_running(const struct mpe *p);	 /* starting, idle or busy */
int mpe_holds_slot(const struct mpe *p); /* counts against its worker's max_pes */
void mpe_set_gone(struct master *m, struct mpe *p, const char *why);
void worker_set_gone(struct master *m, struct worker *w, const char *why);
/* Queues a command for a worker and wakes its long poll. Takes cmd. 0 or -1. */
int worker_push_cmd(struct master *m, struct worker *w, json_t *cmd);
/* Frees every worker, PE and pipeline; at shutdown, alone, without m->lock. */
void registry_free(struct master *m);
void pipeline_free(struct pipeline *pl);
/* Removes a pipeline pipeline_get just made for a request that was then refused, so a
 * refused POST creates nothing. Caller holds m->lock, without a break since the get. */
void pipeline_drop_new(struct master *m, struct pipeline *pl);
/* Initialises the lists, maps, locks and condvars of a zeroed master (0 or -1). */
int master_init(struct master *m);
/* Frees results, backlog, registry, locks and m itself. */
void master_free(struct master *m);

/* --- api.c: JSON endpoints (they take m->lock themselves) --- */
void api_worker_put(struct master *m, const char *id, json_t *body, struct reply *out);
void api_worker_delete(struct master *m, const char *id, struct reply *out);
void api_worker_heartbeat(struct master *m, const char *id, json_t *body, struct reply *out);
void api_worker_commands(struct master *m, const char *id, long wait_ms, uint64_t ack,
			 struct reply *out);
void api_pe_register(struct master *m, const char *id, json_t *body, struct reply *out);
void api_pe_heartbeat(struct master *m, const char *id, json_t *body, struct reply *out);
void api_pe_gone(struct master *m, const char *id, json_t *body, struct reply *out);
void api_pe_release(struct master *m, const char *id, json_t *body, struct reply *out);
void api_pe_get(struct master *m, const char *id, struct reply *out);
void api_allocate(struct master *m, const char *pl, struct reply *out);

/* --- pipeline.c --- */
void api_pipeline_post(struct master *m, const char *name, json_t *body, struct reply *out);
/* The PE count reconcile aims at; -1: unmanaged. The one place for desired-count
 * policy (the autoscaler plugs in here). Caller holds m->lock. */
int pipeline_desired(struct master *m, struct pipeline *pl);
int pipelines_load(struct master *m);
/* Writes pipelines.json (takes persist_lock, then m->lock briefly). */
int pipelines_save(struct master *m);

/* --- scale.c: the autoscaler and the series (callers hold m->lock) --- */
/* One pass: PE counts per pipeline, the autoscaler's decisions, a series sample when
 * due. room: PEs the live workers can still start. */
void scale_tick(struct master *m, uint64_t now, int room);
/* A PE registered: records the reaction time when a scale-up started it. */
void scale_pe_ready(struct master *m, struct mpe *p, uint64_t now);
/* A hand-made change of the count or of autoscale (POST /v1/pipelines), for the log
 * and the series. */
void scale_manual(struct master *m, struct pipeline *pl, int from, const char *what);
/* A push queued a message: the autoscaler looks at once when the backlog grows. */
void scale_pushed(struct master *m, struct pipeline *pl, uint64_t now);
/* GET /v1/pipelines/{p}/series?since=MS (takes m->lock itself). */
void api_series(struct master *m, const char *pl, uint64_t since, struct reply *out);

/* --- reconcile.c --- */
int reconcile_start(struct master *m);
void reconcile_stop(struct master *m);
/* Stops the running PEs of pl that run another analysis version than pl's (they
 * finish the message in hand). Caller holds m->lock. */
void reconcile_roll(struct master *m, struct pipeline *pl, uint64_t now);
void reconcile_kick(struct master *m); /* caller holds m->lock */

/* --- backlog.c --- */
struct push;
/* Starts a push into pipeline pl; content_len < 0 when unknown. NULL with out set. */
struct push *backlog_push_new(struct master *m, const char *pl, long long content_len,
			      struct reply *out);
void backlog_push_feed(struct push *p, const char *data, size_t n);
void backlog_push_finish(struct push *p, struct reply *out);
void backlog_push_free(struct push *p);
void api_backlog_next(struct master *m, const char *pl, const char *pe, long wait_ms,
		      struct reply *out);
/* The answer carrying msg id to pe was not delivered: put it back in front. */
void backlog_lease_failed(struct master *m, const char *id, const char *pe);
/* Moves pe's leases back to the front of their queue. Caller holds m->lock. */
void backlog_requeue_pe(struct master *m, const char *pe);
/* Drops a message (its result was stored). Caller holds m->lock; the file path to
 * unlink after unlocking goes to path. */
void backlog_drop(struct master *m, struct mmsg *msg, char *path, size_t pathlen);
int backlog_path(struct master *m, const struct mmsg *msg, const char *suffix, char *out, size_t n);

/* --- backlog_load.c: the backlog directory at start-up, and its teardown --- */
int backlog_load(struct master *m);
void backlog_free(struct master *m);

/* --- upload.c: POST /v1/results, streamed --- */
struct upload;
/* only_pe: the upload comes with PE only_pe's own credential (http.c); NULL: any. */
struct upload *results_upload_new(struct master *m, const char *only_pe, struct reply *out);
void results_upload_feed(struct upload *u, const char *data, size_t n);
void results_upload_finish(struct upload *u, struct reply *out);
void results_upload_free(struct upload *u);

/* --- results.c: the result index and its journal --- */
/* A batch of finished entries of one upload, stored together: their journal lines
 * go in one write (and fsync), not one each (bench/c_api at 1 KB: a write per entry
 * was 13% of the master). An entry is in the index, and reported stored, only once
 * its batch is journaled; until then its id is claimed (a second upload of it is a
 * duplicate) and its files are in place under DIR/results/<id>. Owned by its upload;
 * used by one thread. */
#define RBATCH_ENTRIES 256	       /* entries in a batch before it is flushed */
#define RBATCH_BYTES (256u << 10)      /* journal bytes in a batch before it is flushed */
#define RBATCH_BYTES_FIRST (32u << 10) /* allocated at first: 64 lines of 500 bytes */
/* The hard limit of the lines buffer: a full batch and one more line of the largest
 * entry an upload admits (HIO_RESULT_FILES_MAX names of HIO_NAME_MAX, escaped). */
#define RBATCH_BUF_MAX (RBATCH_BYTES + (256u << 20))
struct rbatch;
struct rbatch *rbatch_new(struct master *m);
/* Undoes the entries not flushed: their files removed, their ids free again. */
void rbatch_free(struct rbatch *b);
/* 1 when the batch should be flushed before the next entry. */
int rbatch_full(const struct rbatch *b);
/* Adds one finished entry whose files are in tmpdir (renamed or removed; NULL: an
 * entry without files, which has no directory), or its id to duplicate. 0, or -1
 * with out set (the entry dropped; the batch's others still pending). */
int results_commit(struct rbatch *b, const char *tmpdir, json_t *meta, struct rfile *files,
		   size_t nfiles, json_t *duplicate, struct reply *out);
/* Journals the pending entries in one write, then puts them in the index and adds
 * their ids to stored. 0, or -1 with out set: then none of them is stored. */
int results_flush(struct rbatch *b, json_t *stored, struct reply *out);
void api_results_file(struct master *m, const char *pl, const char *name, size_t name_len,
		      const char *file, size_t file_len, struct reply *out);
int results_load(struct master *m);
void results_close(struct master *m);
void result_free(struct result *r);
/* Appends len bytes of whole lines (each ending in '\n') to the journal in one write,
 * under journal_lock. 0, or -1 with errno (the journal cut back). */
int journal_append(struct master *m, const char *lines, size_t len);
json_t *files_json(const struct rfile *files, size_t n);
/* Appends r's journal line (pv: its version's command, or NULL) to b, or the line of
 * an rm of name's entry id. 0, or -1 (memory, b's limit; b unchanged). */
int result_line_add(struct hio_buf *b, const char *pln, const struct result *r,
		    const struct plver *pv, int kept);
int rm_line_add(struct hio_buf *b, const char *pln, const char *name, const char *id);
/* The command and image of pl's version v, or NULL. Caller holds m->lock. */
const struct plver *plver_find(const struct pipeline *pl, int v);
/* Records them (copied) unless known; 0 or -1 (memory). Caller holds m->lock. */
int plver_add(struct pipeline *pl, int v, const char *exec, const char *image);
/* Drops name's entry when it is still id's (an rm, live or replayed): frees it and
 * forgets the id. Caller holds m->lock. 1 dropped, 0 not there. */
int results_drop(struct master *m, struct pipeline *pl, const char *name, const char *id);

/* --- results_list.c: GET and DELETE /v1/results --- */
#define RESULTS_PAGE_DEFAULT 1000		/* entries in a page when limit is not given */
#define RESULTS_PAGE_MAX 10000			/* the largest limit */
#define RESULTS_PAGE_BYTES (4u << 20)		/* a page ends after the entry that passes this */
#define RESULTS_AGE_MAX_S (100LL * 366 * 86400) /* older_than, retention: a century */
enum rstate { RS_ANY = 0, RS_DONE, RS_FAILED };
struct rquery {
	char pl[HIO_PIPELINE_MAX + 1];
	char *prefix; /* owned; "" for all */
	size_t prefix_len;
	enum rstate state;
	char *after; /* owned; NULL: from the first name */
	size_t limit;
};
void rquery_free(struct rquery *q);
/* Drops pl's name order after a change of its results. Caller holds m->lock. */
void results_sorted_drop(struct pipeline *pl);
/* pl's results in name order, pl->n_sorted of them (built now when a change dropped
 * it), or NULL (none, or out of memory). Caller holds m->lock. */
struct result **results_sorted(struct pipeline *pl);
/* One page: {results:[...], next: NAME|null}. */
void api_results_list(struct master *m, struct rquery *q, struct reply *out);
/* The whole listing, read a page at a time (out->stream is set; the query is taken). */
void api_results_stream(struct master *m, struct rquery *q, struct reply *out);
struct results_stream;
/* Up to max bytes of the streamed answer: > 0, 0 at its end, -1 on error. */
long results_stream_read(struct results_stream *s, char *buf, size_t max);
void results_stream_free(struct results_stream *s);
/* DELETE /v1/results?pipeline=P&name=N | older_than=SECONDS. */
void api_results_delete(struct master *m, const char *pl, const char *name, long long older_s,
			struct reply *out);

/* --- compact.c: retention and journal compaction --- */
#define COMPACT_MIN_LINES 10000 /* a journal this short is never compacted */
#define RETENTION_CHECK_MAX_MS 60000
/* Rewrites the journal from the index when it holds over twice the lines of the
 * entries kept (and COMPACT_MIN_LINES). 1 compacted, 0 not needed, -1 failed. */
int results_compact(struct master *m, int force);
/* The thread that expires results (m->retention_s) and compacts the journal. */
int retention_start(struct master *m);
/* Stops the thread; what waits in its trash is removed first. */
void retention_stop(struct master *m);
/* After the HTTP server stopped: frees what retention_start made. */
void retention_free(struct master *m);
/* Removes the directory at path (a replaced result's) on that thread, or now when it
 * is not running or too much waits. */
void results_trash(struct master *m, const char *path);

/* --- status.c --- */
void api_status(struct master *m, struct reply *out);

/* --- mounts.c: what each hio-fs reports of its spool, for hio status --- */
#define MOUNTS_MAX 256				      /* mounts remembered at once */
#define MOUNT_SILENT_TTL_MS (7ULL * 24 * 3600 * 1000) /* a silent mount is forgotten */
#define MOUNT_SILENT_MS 5000 /* reports come every 0.5 s: later than this is "silent" */
void api_mount_report(struct master *m, const char *id, json_t *body, struct reply *out);
/* A mount that stopped cleanly with nothing pending: hio wait no longer waits for it. */
void api_mount_delete(struct master *m, const char *id, struct reply *out);
json_t *mounts_json(struct master *m); /* needs m->lock */
/* Files the live mounts of pipeline hold that no PE has yet. Needs m->lock. */
long mounts_waiting(struct master *m, const char *pipeline);
void mounts_free(struct master *m);

/* --- http.c --- */
struct MHD_Daemon;
/* REST connections at once: bounded so a flood cannot take the descriptors the master
 * needs for its own files, and per client address (--max-conns-per-ip) so one peer's
 * idle or slow connections leave room for everyone else. A connection idle this long is
 * closed (above the longest long poll, MASTER_WAIT_MAX_MS). */
#define MASTER_CONN_MAX 4096
#define MASTER_CONN_PER_IP_DEFAULT 256
#define MASTER_CONN_RESERVE_FDS 512 /* descriptors kept for files and clients */
#define MASTER_CONN_IDLE_S 35
struct MHD_Daemon *http_start(struct master *m, int listen_fd);

/* Counts a result refused for a full state disk (util.c). */
void master_note_disk_full(struct master *m);
#endif
