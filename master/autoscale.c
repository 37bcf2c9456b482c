#include "autoscale.h"

#include <stdio.h>

const char *autoscale_action_name(enum as_action a)
{
	switch (a) {
	case AS_UP:
		return "up";
	case AS_DOWN:
		return "down";
	case AS_CLAMP:
		return "bounds";
	case AS_BLOCKED:
		return "blocked";
	case AS_HOLD:
		break;
	}
	return "hold";
}

/* All the work that waits for a PE: the backlog's, and what mounts hold back. */
static long waiting(const struct as_input *in)
{
	return in->queue + in->edge;
}

/* "backlog 12" or "backlog 12 + 180 at mounts": the figures a decision was made on. */
static void describe(char *out, size_t n, const struct as_input *in)
{
	if (in->edge > 0)
		snprintf(out, n, "backlog %ld + %ld at mounts", in->queue, in->edge);
	else
		snprintf(out, n, "backlog %ld", in->queue);
}

/* PEs to add: enough to absorb the growth and drain what waits within drain_ms at the
 * rate one PE completes, at least one, and never more than doubling at once, so a wrong
 * estimate costs one cooldown rather than a cluster's worth of starts. */
static int up_step(const struct as_conf *c, const struct as_input *in, int running)
{
	double need = 1;
	int cap = running > 1 ? running : 1;

	if (in->pe_rate > 0) {
		double growth = in->queue_rate > 0 ? in->queue_rate : 0;
		double drain =
		    (double)waiting(in) * 1000.0 / (double)(c->drain_ms > 0 ? c->drain_ms : 1);

		need = (growth + drain) / in->pe_rate;
	}
	if (need >= cap)
		return cap;
	/* Rounded up: a fraction of a PE's work still needs a PE. */
	return need <= 1 ? 1 : (int)need + (need > (int)need);
}

/* The work waiting (backlog and mounts) outgrows the PEs: more waits than the idle and
 * starting PEs will take, and it is not draining, or drains slower than drain_ms. */
int autoscale_wants_more(const struct as_conf *c, const struct as_input *in)
{
	long w = waiting(in);

	if (w <= (long)in->idle + in->starting)
		return 0;
	if (in->queue_rate >= 0)
		return 1;
	return (double)w * 1000.0 / -in->queue_rate > (double)c->drain_ms;
}

enum as_action autoscale_decide(const struct as_conf *c, struct as_state *s,
				const struct as_input *in, char *reason, size_t reason_len)
{
	int running = in->starting + in->idle + in->busy;
	int lo = c->min_pes, hi = c->max_pes > c->min_pes ? c->max_pes : c->min_pes;
	int cur = s->desired, next;
	char what[80];

	reason[0] = '\0';
	describe(what, sizeof(what), in);
	if (cur < lo || cur > hi) {
		next = cur < lo ? lo : hi;
		snprintf(reason, reason_len, "%d PEs is outside the bounds %d..%d", cur, lo, hi);
		s->desired = next;
		s->last_change_ms = in->now_ms;
		return AS_CLAMP;
	}
	if (autoscale_wants_more(c, in)) {
		int room_cap = running + in->room, add;

		if (cur >= hi || cur >= room_cap) {
			snprintf(reason, reason_len, "%s (%+.1f/s) wants more PEs, but %s (%d)",
				 what, in->queue_rate,
				 cur >= hi ? "the pipeline is at max_pes"
					   : "the workers have no room",
				 cur >= hi ? hi : room_cap);
			return AS_BLOCKED;
		}
		if (s->last_up_ms && in->now_ms - s->last_up_ms < (uint64_t)c->up_cooldown_ms)
			return AS_HOLD;
		add = up_step(c, in, running);
		next = cur + add;
		if (next > hi)
			next = hi;
		if (next > room_cap)
			next = room_cap;
		snprintf(reason, reason_len,
			 "%s (%+.1f/s) outgrows %d idle + %d starting PEs (%.1f msg/s per PE)",
			 what, in->queue_rate, in->idle, in->starting, in->pe_rate);
		s->desired = next;
		s->last_up_ms = s->last_change_ms = in->now_ms;
		return AS_UP;
	}
	if (waiting(in) == 0 && in->idle_long > 0 && cur > lo) {
		int base = cur < running ? cur : running;

		if (in->now_ms - s->last_change_ms < (uint64_t)c->down_cooldown_ms)
			return AS_HOLD;
		next = base - in->idle_long;
		if (next < lo)
			next = lo;
		if (next >= cur)
			return AS_HOLD;
		snprintf(reason, reason_len, "%d PE(s) idle for over %ld ms and nothing waits",
			 in->idle_long, c->idle_ms);
		s->desired = next;
		s->last_change_ms = in->now_ms;
		return AS_DOWN;
	}
	return AS_HOLD;
}

void as_window_add(struct as_window *w, uint64_t t, long queue, uint64_t done)
{
	if (w->n > 0 && t < w->t[w->head] + 10) {
		/* Kicks come in bursts; keep the newest figures without losing the history. */
		w->queue[w->head] = queue;
		w->done[w->head] = done;
		return;
	}
	w->head = (w->head + 1) % AS_WINDOW_N;
	w->t[w->head] = t;
	w->queue[w->head] = queue;
	w->done[w->head] = done;
	if (w->n < AS_WINDOW_N)
		w->n++;
	/* Drop from the tail what is older than the window. */
	while (w->n > 1 &&
	       t - w->t[(w->head + AS_WINDOW_N - (w->n - 1)) % AS_WINDOW_N] > AS_WINDOW_MS)
		w->n--;
}

void as_window_rates(const struct as_window *w, uint64_t since, double *queue_rate,
		     double *done_rate)
{
	size_t newest = w->head, oldest, first = w->head;

	*queue_rate = *done_rate = 0;
	if (w->n < 2)
		return;
	oldest = (w->head + AS_WINDOW_N - (w->n - 1)) % AS_WINDOW_N;
	/* The oldest sample at or after since. */
	for (size_t k = w->n - 1; k > 0; k--) {
		size_t i = (w->head + AS_WINDOW_N - k) % AS_WINDOW_N;

		if (w->t[i] >= since) {
			first = i;
			break;
		}
	}
	if (w->t[newest] > w->t[first])
		*queue_rate = (double)(w->queue[newest] - w->queue[first]) * 1000.0 /
			      (double)(w->t[newest] - w->t[first]);
	if (w->t[newest] > w->t[oldest])
		*done_rate = (double)(w->done[newest] - w->done[oldest]) * 1000.0 /
			     (double)(w->t[newest] - w->t[oldest]);
}
