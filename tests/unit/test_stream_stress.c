/* The stream connector under load: many small messages from several sending threads,
 * through an in-process PE (a C handler, nothing forked) and a real hio-master, for
 * several rounds, each with a new stream, and sends from on_ack. Every message must be acknowledged
 * exactly once, with its own id, and the counts must add up. A small message is acknowledged within
 * a millisecond of its last byte, which is when a lane thread that still looks at a message after
 * writing it (ownership of a message in flight, lib/stream.c) reads freed memory: run under ASan,
 * that is a report and a failed test. That window is a few instructions wide. To make it likely,
 * the whole process runs on one CPU and the stream's threads (lanes and ACK readers inherit the
 * opener's policy) are SCHED_IDLE: the PE thread a lane's write wakes preempts the lane right after
 * the write, and the ACK often comes back before the lane runs again. HIO_MASTER=URL HIO_TOKEN=T
 * test_stream_stress   (stream_stress.sh starts the master) */
#include "check.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_stream.h"
#include "hio_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 5
#define SENDERS 4
#define PER_SENDER 500
#define SENT (SENDERS * PER_SENDER)
/* Every tenth acknowledgement sends a follow-up from on_ack, which runs on a lane
 * thread when the ACK came during the write: that send must not wait for room in a
 * full queue that only this lane empties. */
#define FOLLOW_EVERY 10
#define PER_ROUND (SENT + SENT / FOLLOW_EVERY)
#define MSG_MAX 64
#define PE_IDLE_TIMEOUT_MS 30000
#define FLUSH_TIMEOUT_MS 120000

struct round {
	hio_stream *s;
	int no;
	char ids[PER_ROUND][HIO_ID_LEN + 1];
	pthread_mutex_t mu; /* guards the counts below; taken alone */
	int acks[PER_ROUND];
	int bad_ack; /* not ok, not via the PE, an unknown index or a wrong id */
	int done, duplicate, failed;
	int send_errors;
};

/* Messages whose bytes are not what was sent: n copies of one letter, or "ok" (the
 * follow-ups, sent by reference from a string literal). */
static _Atomic int bad_bytes;

static int handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out)
{
	const char *p = msg->data;

	(void)ud;
	(void)out;
	if (!(msg->len == 2 && !memcmp(p, "ok", 2)))
		for (size_t i = 0; i < msg->len; i++)
			if (p[i] != p[0] || p[0] < 'a' || p[0] > 'z') {
				bad_bytes++;
				break;
			}
	/* Fails the odd lengths: a "failed" status is acknowledged like a "done" one. */
	return (int)(msg->len & 1);
}

static struct hio_pe_opts pe_opts;

static void *pe_main(void *arg)
{
	(void)arg;
	hio_pe_run(&pe_opts);
	return NULL;
}

/* Polls the master's registry until the PE is idle, or gives up at the deadline. */
static int wait_pe_idle(const char *master, const char *token, const char *id)
{
	hio_http *h = hio_http_new(master, token);
	uint64_t deadline = hio_mono_ms() + PE_IDLE_TIMEOUT_MS;
	char err[256];
	int ok = 0;

	while (h && !ok && hio_mono_ms() < deadline) {
		json_t *st = NULL, *pe;
		size_t k;
		if (hio_http_json(h, "GET", "/v1/status", NULL, &st, err, sizeof(err)) == 200)
			json_array_foreach(json_object_get(st, "pes"), k, pe)
			{
				const char *pid = json_string_value(json_object_get(pe, "id"));
				const char *s = json_string_value(json_object_get(pe, "state"));
				if (pid && s && !strcmp(pid, id) && !strcmp(s, "idle"))
					ok = 1;
			}
		json_decref(st);
		if (!ok)
			usleep(10000);
	}
	hio_http_free(h);
	return ok;
}

static void on_ack(void *ud, const struct hio_ack *a)
{
	struct round *r = ud;
	intptr_t i = (intptr_t)a->user - 1;
	char name[64];

	if (i >= 0 && i < SENT && i % FOLLOW_EVERY == 0) {
		intptr_t f = SENT + i / FOLLOW_EVERY;
		snprintf(name, sizeof(name), "stress/%d/%d/again", r->no, (int)i);
		/* By reference: a literal stays valid and unchanged until its ack. */
		if (hio_stream_send_ref(r->s, "ok", 2, name, r->ids[f], 0, (void *)(f + 1)) < 0) {
			pthread_mutex_lock(&r->mu);
			r->send_errors++;
			pthread_mutex_unlock(&r->mu);
		}
	}

	pthread_mutex_lock(&r->mu);
	if (i < 0 || i >= PER_ROUND || !a->ok || a->via != HIO_VIA_PE || strcmp(a->id, r->ids[i])) {
		fprintf(stderr, "round %d: bad ack for %s (id %s, ok %d, via %d): %s\n", r->no,
			a->name, a->id, a->ok, (int)a->via, a->error ? a->error : "");
		r->bad_ack++;
	} else {
		r->acks[i]++;
		if (a->status && !strcmp(a->status, "done"))
			r->done++;
		else if (a->status && !strcmp(a->status, "failed"))
			r->failed++;
		else if (a->status && !strcmp(a->status, "duplicate"))
			r->duplicate++;
	}
	pthread_mutex_unlock(&r->mu);
}

struct sender {
	struct round *r;
	int first;
	pthread_t th;
};

static void *sender_main(void *arg)
{
	struct sender *sd = arg;
	struct round *r = sd->r;
	char buf[MSG_MAX], name[64];

	for (int i = sd->first; i < sd->first + PER_SENDER; i++) {
		size_t n = 1 + (size_t)i % MSG_MAX;
		memset(buf, 'a' + i % 26, n);
		snprintf(name, sizeof(name), "stress/%d/%d", r->no, i);
		if (hio_stream_send_buf(r->s, buf, n, name, r->ids[i], 0,
					(void *)(intptr_t)(i + 1)) < 0) {
			pthread_mutex_lock(&r->mu);
			r->send_errors++;
			pthread_mutex_unlock(&r->mu);
		}
	}
	return NULL;
}

struct idle_open {
	const struct hio_stream_opts *so;
	char *err;
	size_t errlen;
	hio_stream *s;
	int sched_ok;
};

/* Opens the stream from a SCHED_IDLE thread, so the connector's threads inherit it. */
static void *open_idle(void *arg)
{
	struct idle_open *io = arg;

	io->sched_ok =
	    pthread_setschedparam(pthread_self(), SCHED_IDLE, &(struct sched_param){0}) == 0;
	io->s = hio_stream_open(io->so, io->err, io->errlen);
	return NULL;
}

static void run_round(const char *master, const char *token, int no)
{
	struct round *r = calloc(1, sizeof(*r));
	struct hio_stream_opts so = {0};
	struct hio_stream_stats st;
	struct sender sd[SENDERS];
	char err[256];
	int once = 0, dup_ids = 0;

	CHECK(r != NULL);
	if (!r)
		return;
	r->no = no;
	pthread_mutex_init(&r->mu, NULL);
	for (int i = 0; i < PER_ROUND; i++)
		hio_id_new(r->ids[i]);
	for (int i = 0; i < PER_ROUND; i++)
		for (int j = i + 1; j < PER_ROUND; j++)
			dup_ids += !strcmp(r->ids[i], r->ids[j]);
	CHECK(dup_ids == 0);
	so.master = master;
	so.token = token;
	so.max_pes = 1;
	so.queue_max = 64;
	so.spill_ms = 600000; /* everything through the one PE: the backlog is not tested here */
	so.compress = HIO_COMPRESS_OFF;
	/* Odd rounds over TCP, even ones over the PE's local socket: small messages share
	 * a write on both (lib/stream.c, session_send). */
	so.no_local = no % 2;
	so.on_ack = on_ack;
	so.ack_ud = r;
	{
		/* The opener is a thread of its own: leaving SCHED_IDLE again needs
		 * CAP_SYS_NICE or RLIMIT_NICE, which a container may not grant. */
		struct idle_open io = {.so = &so, .err = err, .errlen = sizeof(err)};
		pthread_t th;

		CHECK(pthread_create(&th, NULL, open_idle, &io) == 0);
		pthread_join(th, NULL);
		CHECK(io.sched_ok);
		r->s = io.s;
	}
	CHECK(r->s != NULL);
	if (!r->s) {
		fprintf(stderr, "round %d: %s\n", no, err);
		free(r);
		return;
	}
	for (int k = 0; k < SENDERS; k++) {
		sd[k] = (struct sender){.r = r, .first = k * PER_SENDER};
		CHECK(pthread_create(&sd[k].th, NULL, sender_main, &sd[k]) == 0);
	}
	for (int k = 0; k < SENDERS; k++)
		pthread_join(sd[k].th, NULL);
	CHECK(hio_stream_flush(r->s, FLUSH_TIMEOUT_MS) == 0);
	hio_stream_get_stats(r->s, &st);
	hio_stream_close(r->s);

	for (int i = 0; i < PER_ROUND; i++) {
		once += r->acks[i] == 1;
		if (r->acks[i] != 1)
			fprintf(stderr, "round %d: message %d acknowledged %d times\n", no, i,
				r->acks[i]);
	}
	fprintf(stderr,
		"round %d: %d acknowledged once (done %d, failed %d, duplicate %d), acked %llu, "
		"via pe %llu, resent %llu, given up %llu\n",
		no, once, r->done, r->failed, r->duplicate, (unsigned long long)st.acked,
		(unsigned long long)st.via_pe, (unsigned long long)st.resent,
		(unsigned long long)st.given_up);
	CHECK(r->send_errors == 0);
	CHECK(r->bad_ack == 0);
	CHECK(once == PER_ROUND);
	CHECK(r->done + r->failed + r->duplicate == PER_ROUND);
	/* The handler fails odd lengths: half of the first messages, none of the follow-ups.
	 * A message sent again after a broken session may come back as a duplicate. */
	if (st.resent == 0)
		CHECK(r->failed == SENT / 2 && r->duplicate == 0);
	CHECK(st.acked == PER_ROUND);
	CHECK(st.via_pe == PER_ROUND);
	CHECK(st.given_up == 0);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int main(void)
{
	const char *master = getenv("HIO_MASTER"), *token = getenv("HIO_TOKEN");
	char pe_id[HIO_ID_LEN + 1];
	pthread_t pe;

	if (!master || !token) {
		fprintf(stderr, "test_stream_stress: set HIO_MASTER and HIO_TOKEN "
				"(tests/unit/stream_stress.sh does)\n");
		return 2;
	}
	hio_log_init("test_stream_stress");
	hio_log_set_level(HIO_LOG_WARN);
	hio_http_global_init();
	/* One CPU for every thread of this process (threads inherit it). */
	cpu_set_t cpus, one;
	CHECK(sched_getaffinity(0, sizeof(cpus), &cpus) == 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &cpus)) {
			CPU_SET(c, &one);
			break;
		}
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	hio_id_new(pe_id);
	pe_opts = (struct hio_pe_opts){
	    .master = master, .token = token, .pe_id = pe_id, .handler = handler};
	CHECK(pthread_create(&pe, NULL, pe_main, NULL) == 0);
	if (!wait_pe_idle(master, token, pe_id)) {
		fprintf(stderr, "test_stream_stress: the in-process PE did not become idle\n");
		hio_pe_stop();
		pthread_join(pe, NULL);
		return 1;
	}
	for (int no = 0; no < ROUNDS; no++) {
		run_round(master, token, no);
		/* The stream gave its PE back on close: the next round allocates it again. */
		CHECK(wait_pe_idle(master, token, pe_id));
	}
	hio_pe_stop();
	pthread_join(pe, NULL);
	CHECK(bad_bytes == 0);
	return check_result("test_stream_stress");
}
