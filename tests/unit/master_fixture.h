/* The fixture of the master's store tests (test_master_store.c: the backlog;
 * test_master_journal.c: the result journal): a master core on a fresh state dir,
 * driven through its own functions, no HTTP, no sleeps. A "restart" frees the
 * in-memory state and loads it again from the state dir the way main.c does.
 * CHECK failures inside these helpers count in the test's total (check.h). */
#ifndef HIO_MASTER_FIXTURE_H
#define HIO_MASTER_FIXTURE_H
#include "../../master/master.h"

#include <limits.h>
#include <stdint.h>

#define PL "pl1"
#define PE1 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee01"

/* The current test's state dir (fresh_dir). */
extern char state_dir[PATH_MAX];

/* pipeline_find for a test's main thread: the registry wants m->lock held. */
struct pipeline *find_pl(struct master *m, const char *name);

/* A 32 hex character message id. */
const char *mid(unsigned n);
void fresh_dir(void);

/* What main.c does at start, minus token, listener, HTTP and reconcile thread. */
struct master *master_open(void);
void master_close(struct master *m);
struct master *master_restart(struct master *m);
void reply_clear(struct reply *r);

/* Pushes one MSG frame as the HTTP layer would, fed in small pieces.
 * 0 stored, 1 duplicate, -1 refused. */
int push(struct master *m, const char *pl, const char *id, uint64_t ts);

/* Two pushes of the same id whose bodies stream at once: both pass the early
 * check, both store a file, the second to finish is a duplicate and removes its
 * own. 0 when exactly that happened. */
int push_race(struct master *m, const char *pl, const char *id, uint64_t ts);

/* A registered, running PE of pipeline pl. */
void pe_up(struct master *m, const char *pl, const char *id);
void pe_gone(struct master *m, const char *id);

/* The next message for PE pe without waiting: its id into id (empty when none).
 * Returns the answer's status. */
unsigned lease(struct master *m, const char *pl, const char *pe, char id[HIO_ID_LEN + 1]);

/* Ids of pl's queue (or leases), front first, joined by ','. */
const char *ids_of(struct master *m, const char *pl, int leased);
int path_exists(const char *path);

/* Backlog files of pl ending in suffix. */
int count_files(const char *pl, const char *suffix);

/* A finished entry as an upload's frames leave it: one file in a new temp dir under
 * results/tmp (its path into tmpdir, the file into file), and its RDONE meta (the
 * caller's to json_decref). */
json_t *entry_prepare(const char *pl, const char *name, const char *id, uint64_t ts, int failed,
		      char tmpdir[PATH_MAX], struct rfile *file);

/* Stores one result entry the way an upload's RDONE does: one file, in a temp dir
 * under results/tmp. 0 stored, 1 duplicate, -1 failed. */
int commit(struct master *m, const char *pl, const char *name, const char *id, uint64_t ts,
	   int failed);

/* Stores an entry without files as an upload's RDONE does: no temp dir. 0 stored, 1
 * duplicate, -1 failed. */
int commit_nofiles(struct master *m, const char *pl, const char *name, const char *id, uint64_t ts);

/* The id of the entry the index keeps for (pl, name), or "" */
const char *kept_id(struct master *m, const char *pl, const char *name, uint64_t *ts);
int id_state(struct master *m, const char *id);
int result_dir_exists(const char *id);
void cleanup(struct master *m);

#endif
