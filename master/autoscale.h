/* autoscale: the master's elasticity policy (paper, section II-C and Fig. 3) as a pure
 * function of its inputs and a small state, so it is tested with a simulated clock.
 * scale.c feeds it from the registry on every reconcile pass and applies the answer. */
#ifndef HIO_MASTER_AUTOSCALE_H
#define HIO_MASTER_AUTOSCALE_H
#include <stddef.h>
#include <stdint.h>

#define AS_IDLE_MS_DEFAULT 10000	 /* a PE idle this long may be released */
#define AS_UP_COOLDOWN_MS_DEFAULT 1000	 /* between two scale-ups */
#define AS_DOWN_COOLDOWN_MS_DEFAULT 5000 /* after any change, before a scale-down */
#define AS_DRAIN_MS 10000 /* a backlog that takes longer than this to drain wants PEs */
#define AS_MAX_DEFAULT 8  /* upper bound of a pipeline that set none */
#define AS_WINDOW_MS 2000 /* history kept for the rates */
#define AS_WINDOW_N 64	  /* samples kept for the rates */

struct as_conf {
	int min_pes, max_pes; /* the pipeline's bounds (max_pes >= min_pes) */
	long idle_ms, up_cooldown_ms, down_cooldown_ms, drain_ms;
};

struct as_input {
	uint64_t now_ms;
	long queue;		  /* messages waiting in the backlog (not leased) */
	long edge;		  /* and at the clients: files mounts hold that no PE has */
	double queue_rate;	  /* the change of queue + edge in messages/s since the last
				     scale-up, over at most AS_WINDOW_MS; > 0 grows */
	double pe_rate;		  /* messages/s one busy PE completes lately; 0: unknown */
	int starting, idle, busy; /* the pipeline's running PEs by state */
	int idle_long;		  /* idle PEs that have been idle for at least idle_ms */
	int room;		  /* PEs the live workers can still start (their max_pes) */
};

struct as_state {
	int desired; /* the count reconcile aims at; the caller seeds it */
	uint64_t last_up_ms, last_change_ms;
};

enum as_action {
	AS_HOLD = 0, /* nothing to do */
	AS_UP,	     /* desired raised */
	AS_DOWN,     /* desired lowered */
	AS_CLAMP,    /* desired moved back into changed bounds */
	AS_BLOCKED,  /* more PEs are wanted but a bound or the workers' room forbids them */
};

/* Decides the next desired count from in, updating s. The reason (why, with the
 * figures that led to it) goes to reason for every action but AS_HOLD. */
enum as_action autoscale_decide(const struct as_conf *c, struct as_state *s,
				const struct as_input *in, char *reason, size_t reason_len);
const char *autoscale_action_name(enum as_action a);
/* 1 when the backlog outgrows the PEs (more waits than idle and starting PEs will take,
 * and it is not draining fast enough): the condition a scale-up answers. */
int autoscale_wants_more(const struct as_conf *c, const struct as_input *in);

/* A short history of (time, queue, completed messages) for the rates in as_input. */
struct as_window {
	uint64_t t[AS_WINDOW_N];
	long queue[AS_WINDOW_N];
	uint64_t done[AS_WINDOW_N];
	size_t head, n; /* head: the slot of the newest sample */
};
/* Adds a sample; samples closer than 10 ms replace the newest one, and those older than
 * AS_WINDOW_MS fall out. */
void as_window_add(struct as_window *w, uint64_t t, long queue, uint64_t done);
/* The queue's change per second over the samples taken at or after since (0 when
 * fewer than two), and the completions per second over the whole window. */
void as_window_rates(const struct as_window *w, uint64_t since, double *queue_rate,
		     double *done_rate);

#endif
