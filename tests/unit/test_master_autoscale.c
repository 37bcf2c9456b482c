/* The autoscaler's decisions (master/autoscale.c) on a simulated clock: each rule on
 * its own, the rate window, the series ring, and a three-stage load like the paper's
 * Fig. 3 driven through a small cluster model. No sleeps: time is a number. */
#include "../../master/autoscale.h"
#include "../../master/series.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static const struct as_conf conf = {.min_pes = 1,
				    .max_pes = 8,
				    .idle_ms = 3000,
				    .up_cooldown_ms = 1000,
				    .down_cooldown_ms = 2000,
				    .drain_ms = 10000};

static struct as_input in_at(uint64_t now, long queue, double rate, int idle, int busy)
{
	return (struct as_input){.now_ms = now,
				 .queue = queue,
				 .queue_rate = rate,
				 .idle = idle,
				 .busy = busy,
				 .room = 100};
}

static void test_up(void)
{
	struct as_state s = {.desired = 1};
	struct as_input in = in_at(10000, 5, 5.0, 0, 1);
	char why[200];

	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 2); /* no rate known per PE: one at a time, at most doubling */
	CHECK(strstr(why, "backlog 5") != NULL);
	CHECK(s.last_up_ms == 10000);

	/* Inside the cooldown nothing moves, however the backlog grows. */
	in = in_at(10500, 50, 90.0, 0, 2);
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	CHECK(s.desired == 2);

	/* After it: a backlog that drains quickly needs nothing more. */
	in = in_at(11100, 5, -10.0, 0, 2);
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	/* One that drains slower than drain_ms (100 messages at 1/s) does. */
	in = in_at(11100, 100, -1.0, 0, 2);
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 3);

	/* A flat backlog with every PE busy is not draining: more. */
	in = in_at(12200, 30, 0.0, 0, 4);
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
}

static void test_step_from_rates(void)
{
	struct as_state s = {.desired = 2};
	struct as_input in = in_at(5000, 50, 20.0, 0, 2);
	char why[200];

	/* (20/s growth + 50 in 10 s) / 5 per PE = 5 more, capped at doubling: 2 more. */
	in.pe_rate = 5.0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 4);
	/* With 4 running the same need adds all 5, cut at max_pes 8. */
	in = in_at(6500, 50, 20.0, 0, 4);
	in.pe_rate = 5.0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 8);
	/* A small need still adds one. */
	s.desired = 2;
	in = in_at(8000, 3, 0.5, 0, 2);
	in.pe_rate = 50.0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 3);
}

static void test_idle_takes_backlog(void)
{
	struct as_state s = {.desired = 3};
	struct as_input in = in_at(5000, 2, 2.0, 2, 1);
	char why[200];

	CHECK(!autoscale_wants_more(&conf, &in));
	in.queue = 3;
	CHECK(autoscale_wants_more(&conf, &in));
	in.queue = 2;
	/* Two idle PEs will take two queued messages: no scale-up. */
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	/* Nor while starting PEs will take them. */
	in = in_at(5000, 2, 2.0, 0, 1);
	in.starting = 2;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	CHECK(s.desired == 3);
}

static void test_bounds(void)
{
	struct as_state s = {.desired = 8};
	struct as_input in = in_at(5000, 40, 10.0, 0, 8);
	char why[200];

	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_BLOCKED);
	CHECK(s.desired == 8);
	CHECK(strstr(why, "max_pes") != NULL);

	/* The workers are full: blocked, whatever the pipeline's bound. */
	s.desired = 3;
	in = in_at(5000, 40, 10.0, 0, 3);
	in.room = 0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_BLOCKED);
	CHECK(strstr(why, "no room") != NULL);
	/* Room for one: one, though more were wanted. */
	in.room = 1;
	in.pe_rate = 1.0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 4);

	/* Bounds that changed under the count pull it back in. */
	s.desired = 12;
	in = in_at(9000, 0, 0, 12, 0);
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_CLAMP);
	CHECK(s.desired == 8);
	s.desired = 0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_CLAMP);
	CHECK(s.desired == 1);
}

static void test_down(void)
{
	struct as_state s = {.desired = 6, .last_change_ms = 10000};
	struct as_input in = in_at(11000, 0, 0, 4, 2);
	char why[200];

	in.idle_long = 3;
	/* Within the cooldown after the last change: held. */
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	CHECK(s.desired == 6);
	in.now_ms = 12000;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_DOWN);
	CHECK(s.desired == 3);
	CHECK(strstr(why, "idle for over 3000 ms") != NULL);
	/* Never below min_pes. */
	in = in_at(20000, 0, 0, 3, 0);
	in.idle_long = 3;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_DOWN);
	CHECK(s.desired == 1);
	in.now_ms = 30000;
	in.idle = in.idle_long = 1;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	CHECK(s.desired == 1);
	/* Idle PEs while a backlog waits are not released. */
	s.desired = 4;
	in = in_at(40000, 1, 0, 4, 0);
	in.idle_long = 4;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	CHECK(s.desired == 4);
}

/* Files a mount holds back are work as much as the backlog's (issue: 1,850 files in a
 * spool left the autoscaler at 2 of 4 PEs): they raise the count, say so in the reason,
 * and keep idle PEs from being released. */
static void test_edge(void)
{
	struct as_state s = {.desired = 2};
	struct as_input in = in_at(10000, 0, 0, 0, 2);
	char why[200];

	CHECK(!autoscale_wants_more(&conf, &in));
	in.edge = 1850;
	in.pe_rate = 2;
	CHECK(autoscale_wants_more(&conf, &in));
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_UP);
	CHECK(s.desired == 4); /* at most doubling */
	CHECK(strstr(why, "backlog 0 + 1850 at mounts") != NULL);
	/* Two idle PEs take two waiting files: no more wanted. */
	in = in_at(20000, 1, 0, 2, 2);
	in.edge = 1;
	CHECK(!autoscale_wants_more(&conf, &in));
	/* Draining fast enough (0.1 s left at this rate): no more wanted either. */
	in = in_at(20000, 0, -100, 0, 4);
	in.edge = 10;
	CHECK(!autoscale_wants_more(&conf, &in));
	/* Long-idle PEs are kept while a mount still holds files. */
	s = (struct as_state){.desired = 4};
	in = in_at(40000, 0, 0, 4, 0);
	in.idle_long = 4;
	in.edge = 3;
	in.queue_rate = -1;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_HOLD);
	CHECK(s.desired == 4);
	in.edge = 0;
	CHECK(autoscale_decide(&conf, &s, &in, why, sizeof(why)) == AS_DOWN);
	CHECK(strstr(why, "nothing waits") != NULL);
}

static void test_window(void)
{
	struct as_window w = {0};
	double qr, dr;

	as_window_rates(&w, 0, &qr, &dr);
	CHECK(qr == 0 && dr == 0);
	for (uint64_t t = 0; t <= 1000; t += 100)
		as_window_add(&w, 10000 + t, (long)t / 10, t / 20);
	as_window_rates(&w, 0, &qr, &dr);
	CHECK(qr > 99.9 && qr < 100.1); /* 100 messages in 1 s */
	CHECK(dr > 49.9 && dr < 50.1);
	/* Only what happened since a given time: from 10500 on. */
	as_window_add(&w, 11100, 40, 60);
	as_window_rates(&w, 10500, &qr, &dr);
	CHECK(qr < -16.6 && qr > -16.8); /* 50 -> 40 over 600 ms */
	/* Close samples replace the newest; old ones fall out of the window. */
	as_window_add(&w, 11105, 41, 60);
	CHECK(w.n == 12);
	as_window_add(&w, 20000, 0, 100);
	CHECK(w.n == 1);
	for (int i = 0; i < 3 * AS_WINDOW_N; i++)
		as_window_add(&w, 20000 + 11 * (uint64_t)(i + 1), i, 0);
	CHECK(w.n == AS_WINDOW_N);
}

static void test_series(void)
{
	struct series *s = series_new();
	struct series_sample x = {0};
	struct series_event e = {.action = "up", .from = 1, .to = 2};
	json_t *j;

	CHECK(s != NULL);
	if (!s)
		return;
	for (uint64_t i = 0; i < SERIES_SAMPLES + 10; i++) {
		x.t_ms = i * 1000;
		x.done = i * 3;
		x.queue = (uint32_t)i;
		series_add(s, &x);
	}
	for (int i = 0; i < SERIES_EVENTS + 5; i++) {
		e.t_ms = (uint64_t)i;
		series_event(s, &e);
	}
	j = series_json(s, 0);
	CHECK(j && json_array_size(json_object_get(j, "samples")) == SERIES_SAMPLES);
	CHECK(j && json_array_size(json_object_get(j, "events")) == SERIES_EVENTS);
	/* The oldest samples made room; throughput is per second between samples. */
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(j, "samples"), 0),
						 "queue")) == 10);
	CHECK(json_real_value(json_object_get(json_array_get(json_object_get(j, "samples"), 1),
					      "throughput")) == 3.0);
	json_decref(j);
	j = series_json(s, (SERIES_SAMPLES + 5) * 1000ull);
	CHECK(j && json_array_size(json_object_get(j, "samples")) == 5);
	json_decref(j);
	series_free(s);
}

/* A model cluster: PEs that take 200 ms per message, start 100 ms after a scale-up,
 * take new messages lowest index first (packing) and pull the backlog when free. */
#define SIM_PES 8
#define SIM_SERVICE_MS 200
#define SIM_START_MS 100
struct sim {
	uint64_t busy_until[SIM_PES], active[SIM_PES], up_at[SIM_PES];
	int running;
	long queue;
	uint64_t done;
};

static void sim_step(struct sim *c, uint64_t now, int arrivals)
{
	for (int i = 0; i < c->running; i++)
		if (c->busy_until[i] && c->busy_until[i] <= now) {
			c->busy_until[i] = 0;
			c->done++;
		}
	c->queue += arrivals;
	for (int i = 0; i < c->running && c->queue > 0; i++)
		if (!c->busy_until[i] && c->up_at[i] <= now) {
			c->busy_until[i] = now + SIM_SERVICE_MS;
			c->active[i] = now;
			c->queue--;
		}
}

static void test_three_stages(void)
{
	struct as_conf cf = conf;
	struct as_state s = {.desired = 1};
	struct as_window w = {0};
	struct sim c = {.running = 1};
	double acc = 0;
	long q_end_1 = -1, q_end_2 = -1;
	int max_1 = 0, max_2 = 0, end_3 = 0;
	char why[200];

	/* Stage 1 (0-40 s) rising to 15/s, stage 2 (40-80 s) 30/s, stage 3 (80-120 s)
	 * 2/s. One PE does 5/s. */
	for (uint64_t now = 0; now <= 120000; now += 10) {
		double rate = now < 40000   ? 2.0 + 13.0 * (double)now / 40000.0
			      : now < 80000 ? 30.0
					    : 2.0;
		int arrivals;

		acc += rate / 100.0;
		arrivals = (int)acc;
		acc -= arrivals;
		sim_step(&c, now, arrivals);
		if (now % 100 == 0) {
			struct as_input in = {.now_ms = now, .queue = c.queue, .room = 100};
			double dr;

			as_window_add(&w, now, c.queue, c.done);
			as_window_rates(&w, s.last_up_ms, &in.queue_rate, &dr);
			for (int i = 0; i < c.running; i++) {
				if (c.up_at[i] > now)
					in.starting++;
				else if (c.busy_until[i])
					in.busy++;
				else {
					in.idle++;
					in.idle_long += now - c.active[i] >= (uint64_t)cf.idle_ms;
				}
			}
			in.pe_rate = in.busy ? dr / in.busy : 0;
			autoscale_decide(&cf, &s, &in, why, sizeof(why));
			/* Reconcile: start or stop (idle ones, from the top) to the count. */
			while (c.running < s.desired) {
				c.up_at[c.running] = now + SIM_START_MS;
				c.active[c.running] = now + SIM_START_MS;
				c.busy_until[c.running++] = 0;
			}
			while (c.running > s.desired && !c.busy_until[c.running - 1])
				c.running--;
		}
		if (now < 40000 && c.running > max_1)
			max_1 = c.running;
		if (now >= 40000 && now < 80000 && c.running > max_2)
			max_2 = c.running;
		if (now == 39000)
			q_end_1 = c.queue;
		if (now == 79000)
			q_end_2 = c.queue;
		end_3 = c.running;
	}
	CHECK(max_1 >= 3);    /* 15/s needs 3 PEs */
	CHECK(max_2 >= 6);    /* 30/s needs 6 */
	CHECK(max_2 > max_1); /* the higher stage got more */
	CHECK(q_end_1 <= 10); /* the queue came back near zero in each stage */
	CHECK(q_end_2 <= 10);
	CHECK(end_3 <= 2); /* 2/s needs one: the rest were released */
	CHECK(c.queue == 0);
	fprintf(
	    stderr,
	    "three stages: peak PEs %d then %d, queue at stage ends %ld, %ld, %d PEs at the end\n",
	    max_1, max_2, q_end_1, q_end_2, end_3);
}

int main(void)
{
	test_up();
	test_step_from_rates();
	test_idle_takes_backlog();
	test_bounds();
	test_down();
	test_edge();
	test_window();
	test_series();
	test_three_stages();
	return check_result("test_master_autoscale");
}
