/* alloc: the master's placement choices as pure functions over a snapshot of the
 * registry, so they can be tested without one (paper, section II-C). */
#ifndef HIO_MASTER_ALLOC_H
#define HIO_MASTER_ALLOC_H
#include <stddef.h>

/* One free PE: idle, not reserved, fresh heartbeat. group is its worker's number in
 * 0..ngroups-1; each standalone PE has a group of its own. */
struct alloc_pe {
	int group;
};
/* Picks a PE of the group with the fewest free PEs (ties: the lowest index), so load
 * packs onto workers that are already busy and idle ones can be drained. Returns its
 * index, or -1 when n is 0. */
long alloc_pick_pe(const struct alloc_pe *pes, size_t n, int ngroups);

/* A live worker: PEs it has (not gone) and its maximum. */
struct alloc_worker {
	int pes;
	int max_pes;
};
/* The worker with the most PEs that is still under its maximum (pack); -1 if none. */
long alloc_pick_start(const struct alloc_worker *w, size_t n);

enum alloc_class { ALLOC_IDLE = 0, ALLOC_STARTING = 1, ALLOC_BUSY = 2 };
/* A PE that could be stopped: its class and the number of busy PEs on its worker. */
struct alloc_stop {
	enum alloc_class cls;
	int worker_busy;
};
/* Idle PEs first, then starting, then busy; within a class the one whose worker has the
 * fewest busy PEs (ties: the lowest index). -1 when n is 0. */
long alloc_pick_stop(const struct alloc_stop *c, size_t n);

#endif
