/* Internal to hio-worker: main.c (start-up, commands, child exits) and master_link.c
 * (registration, heartbeat and command polling threads). */
#ifndef HIO_WORKER_H
#define HIO_WORKER_H
#include "hio_util.h"
#include "runtime.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define WK_HB_MS 1000
#define WK_POLL_WAIT_MS 10000
#define WK_STOP_GRACE_MS 10000 /* SIGTERM, then SIGKILL this much later */
#define WK_BACKOFF_MAX_MS 5000
#define WK_PES_MAX 1024

struct wpe {
	char id[HIO_ID_LEN + 1];
	char pipeline[HIO_PIPELINE_MAX + 1];
	void *h;
	long pid;
	int stopping;
	uint64_t kill_at; /* 0: not yet due */
	int killed;
};

struct wk {
	char id[HIO_ID_LEN + 1];
	char name[256];
	char host[256];
	char token[HIO_TOKEN_MAX + 1];
	const char *master;
	const char *workdir;	/* PEs' scratch and their credentials (main's buffer) */
	const char *token_file; /* the worker's own, absolute; NULL: HIO_TOKEN */
	int max_pes;
	struct runtime *rt;
	int evfd;

	/* mu is the worker's only mutex (no order to keep); cv (on CLOCK_MONOTONIC) wakes
	 * the heartbeat and command threads on registration and on stopping. mu guards
	 * what follows. pes, npes and stopping are written only by the main thread (under mu),
	 * which may therefore read them without it. Nothing holds mu across a runtime call
	 * (docker's are HTTP, up to 30 s) or any other I/O: see docs/worker.md. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wpe pes[WK_PES_MAX];
	int npes;
	json_t *cmdq; /* commands for the main thread */
	int registered;
	int stopping;
};

/* Heartbeat thread: registers, then reports the PE list every WK_HB_MS. */
/* Tells the master this worker is stopping, so it sends no start while the PEs stop
 * (each would be refused and count as a failed start). Short deadlines: with the
 * master away the stop goes on at once. */
void wk_tell_stopping(struct wk *w);
void *wk_hb_main(void *arg);
/* Command thread: long-polls start/stop commands into cmdq and wakes main. */
void *wk_cmd_main(void *arg);

#endif
