/* Result uploads: finished messages are group-committed to the master in one
 * PUT /v1/results (RFILE* RDONE per entry), and only once it answered are the P2P
 * messages acknowledged. Whatever finishes while an upload is in flight goes into the
 * next one, so fast handlers share requests and slow ones are not held back. */
#include "hio_buf.h"
#include "hio_frame.h"
#include "hio_http.h"
#include "hio_jw.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_net.h"
#include "hio_sync.h"
#include "hio_util.h"
#include "pe_internal.h"
#include "pe_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define UP_BACKOFF_MAX_MS 2000
#define UP_STOP_GRACE_MS 10000		  /* when stopping, how long a failing upload is retried */
#define UP_DISK_FULL 507		  /* the master's answer when its state disk is full */
#define UP_DISK_FULL_TRIES 3		  /* tries of a result before it is failed instead */
#define UP_DISK_FULL_BACKOFF_MAX_MS 10000 /* retries of what still does not fit */

void pe_entry_free(struct pe *pe, struct pe_entry *e)
{
	if (e->it && e->it->sess)
		pe_session_unref(pe, e->it->sess);
	pe_item_free(e->it);
	pe_out_free(&e->out);
	free(e);
}

void pe_entry_pend(struct pe *pe, struct pe_entry *e)
{
	pthread_mutex_lock(&pe->mu);
	/* Bounded so that a master outage stops the executor, then the FIFO, then peers. */
	while (pe->un > 0 && (pe->un >= PE_BATCH_MAX * PE_PENDING_BATCHES ||
			      pe->ubytes + e->bytes > PE_BATCH_BYTES * PE_PENDING_BATCHES))
		pthread_cond_wait(&pe->cv_up, &pe->mu);
	e->next = NULL;
	if (pe->utail)
		pe->utail->next = e;
	else
		pe->uhead = e;
	pe->utail = e;
	pe->un++;
	pe->ubytes += e->bytes;
	{
		uint64_t now = hio_mono_us();

		if (pe->upend_us) {
			uint64_t gap = now - pe->upend_us;

			pe->ugap_us = pe->ugap_us ? (pe->ugap_us * 7 + gap) / 8 : gap;
		}
		pe->upend_us = now;
	}
	/* The uploader waits for a first entry, or lingers for a full batch or an idle
	 * executor (which wakes it itself): an entry in between needs no wakeup. */
	if (pe->un == 1 || pe->un >= PE_BATCH_MAX || pe->ubytes >= PE_BATCH_BYTES ||
	    (!pe->running && pe->fn == 0))
		pthread_cond_broadcast(&pe->cv_up);
	pthread_mutex_unlock(&pe->mu);
}

/* ---- the body: a sequence of segments, each a frame head and an optional body ---- */

struct seg {
	uint8_t *head;
	size_t hlen;
	const void *data;	     /* body in memory, or ... */
	const struct pe_rfile *file; /* ... in a file */
	uint64_t blen;
};

struct body {
	struct seg *segs;
	size_t n, cap, i;
	size_t hoff;
	uint64_t boff;
	uint64_t total;
	int fd;
	char err[160];
};

/* Adds a frame whose meta w has written after hio_frame_head_start(hb) (hb freed here,
 * whatever happens). */
static int body_add(struct body *b, int type, struct hio_buf *hb, struct hio_jw *w,
		    const void *data, const struct pe_rfile *file, uint64_t blen)
{
	struct seg *s;
	int rc = -1;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct seg *ns = realloc(b->segs, cap * sizeof(*ns));

		if (!ns)
			goto out;
		b->segs = ns;
		b->cap = cap;
	}
	s = &b->segs[b->n];
	memset(s, 0, sizeof(*s));
	if (hio_jw_end(w) < 0 || hio_frame_head_finish(hb, type, 0, blen, &s->head, &s->hlen) < 0)
		goto out;
	s->data = data;
	s->file = file;
	s->blen = blen;
	b->total += s->hlen + blen;
	b->n++;
	rc = 0;
out:
	hio_buf_free(hb);
	return rc;
}

/* RFILE {id, file}. */
static int body_add_file(struct body *b, const char *id, const char *name, const void *data,
			 const struct pe_rfile *file, uint64_t blen)
{
	struct hio_buf hb;
	struct hio_jw w;

	hio_frame_head_start(&hb);
	hio_jw_begin(&w, &hb);
	hio_jw_str(&w, "id", id);
	hio_jw_str(&w, "file", name);
	return body_add(b, HIO_F_RFILE, &hb, &w, data, file, blen);
}

static void body_free(struct body *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->segs[i].head);
	free(b->segs);
	if (b->fd >= 0)
		close(b->fd);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

static void body_rewind(struct body *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->i = 0;
	b->hoff = 0;
	b->boff = 0;
	b->err[0] = '\0';
}

static int entry_encode(struct pe *pe, struct body *b, struct pe_entry *e)
{
	struct pe_item *it = e->it;
	hio_pe_out *o = &e->out;
	struct hio_buf hb;
	struct hio_jw w;
	char line[512];

	/* A file that is no longer what the analysis left fails the message here, before
	 * the request: refused halfway, the whole batch would be sent again and again. */
	for (size_t i = 0; !o->failed && i < o->n; i++) {
		char why[320];
		int fd;

		if (o->files[i].data)
			continue;
		if ((fd = pe_rfile_open(&o->files[i], why, sizeof(why))) < 0) {
			hio_warn("message %s (%s) failed: %s", it->id, it->name, why);
			pe_out_drop_files(o);
			hio_pe_out_fail(o, "%s; nothing of the output was stored", why);
			break;
		}
		close(fd);
	}
	if (o->failed) {
		const char *txt = o->error ? o->error : "failed";

		if (body_add_file(b, it->id, "error", txt, NULL, strlen(txt)) < 0)
			return -1;
	}
	for (size_t i = 0; i < o->n; i++) {
		struct pe_rfile *f = &o->files[i];

		if (body_add_file(b, it->id, f->name, f->data, f->data ? NULL : f, f->len) < 0)
			return -1;
	}
	hio_frame_head_start(&hb);
	hio_jw_begin(&w, &hb);
	hio_jw_str(&w, "id", it->id);
	hio_jw_str(&w, "name", it->name);
	hio_jw_int(&w, "ts", (long long)it->ts);
	hio_jw_str(&w, "pipeline", pe->pipeline);
	hio_jw_str(&w, "status", o->failed ? "failed" : "done");
	if (o->failed) {
		pe_out_error_line(o, line, sizeof(line));
		hio_jw_text(&w, "error", line);
	}
	if (pe->version)
		hio_jw_int(&w, "version", pe->version);
	/* Provenance (docs/protocol.md): which PE, on which host, ran it when, how long. */
	hio_jw_str(&w, "pe", pe->id);
	hio_jw_str(&w, "host", pe->adv_host);
	hio_jw_int(&w, "start", (long long)o->start_us);
	hio_jw_int(&w, "duration_ms", (long long)o->duration_ms);
	hio_jw_int(&w, "exit", o->exit_status);
	return body_add(b, HIO_F_RDONE, &hb, &w, NULL, NULL, 0);
}

/* Result files are read as the request goes, never loaded whole. Fills what curl asks
 * for across segments: one segment per call was one send(2) per result frame. */
static long body_read(void *ud, char *buf, size_t n)
{
	struct body *b = ud;
	size_t got = 0;

	while (got < n && b->i < b->n) {
		struct seg *s = &b->segs[b->i];
		size_t room = n - got;

		if (b->hoff < s->hlen) {
			size_t k = s->hlen - b->hoff < room ? s->hlen - b->hoff : room;

			memcpy(buf + got, s->head + b->hoff, k);
			b->hoff += k;
			got += k;
			continue;
		}
		if (b->boff < s->blen) {
			uint64_t left = s->blen - b->boff;
			size_t k = left < room ? (size_t)left : room;
			ssize_t r;

			if (s->data) {
				memcpy(buf + got, (const char *)s->data + b->boff, k);
				b->boff += k;
				got += k;
				continue;
			}
			if (b->fd < 0 &&
			    (b->fd = pe_rfile_open(s->file, b->err, sizeof(b->err))) < 0)
				return -1;
			r = pread(b->fd, buf + got, k, (off_t)b->boff);
			if (r <= 0) {
				snprintf(b->err, sizeof(b->err), "cannot read result file %s: %s",
					 s->file->name, r < 0 ? strerror(errno) : "short");
				return -1;
			}
			b->boff += (uint64_t)r;
			got += (size_t)r;
			continue;
		}
		if (b->fd >= 0)
			close(b->fd);
		b->fd = -1;
		b->i++;
		b->hoff = 0;
		b->boff = 0;
	}
	return (long)got;
}

/* ---- acknowledgements ---- */

/* Whether arr lists id. The master lists ids in the order of the upload's entries, so
 * the one after the last found (*next) is tried first: a batch is not n^2 compares. */
static int id_in(json_t *arr, const char *id, size_t *next)
{
	const char *s = json_string_value(json_array_get(arr, *next));
	size_t i;
	json_t *v;

	if (s && strcmp(s, id) == 0) {
		(*next)++;
		return 1;
	}
	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0) {
			*next = i + 1;
			return 1;
		}
	}
	return 0;
}

/* A batch's ACK frames for one session, sent in one write when the batch is done or
 * the next entry is another session's: one send per message was a system call and a
 * wakeup of the connector's reader per message at 1 KB. At most PE_BATCH_MAX frames of
 * under 128 bytes each. */
#define PE_ACKS_MAX (PE_BATCH_MAX * 256)
struct acks {
	struct pe_session *s; /* referenced by an entry not yet freed */
	struct hio_buf b;
	size_t n;
};

static void acks_flush(struct acks *a)
{
	struct pe_session *s = a->s;

	if (s && a->n) {
		pthread_mutex_lock(&s->wmu);
		if (!s->closed && hio_net_send(s->fd, a->b.data, a->b.len) < 0) {
			hio_info(
			    "cannot ack %zu messages to %s: %s; the connector will resend them",
			    a->n, s->peer, strerror(errno));
			/* The session is useless without acks: make its reader stop too. */
			s->closed = 1;
			shutdown(s->fd, SHUT_RDWR);
		}
		pthread_mutex_unlock(&s->wmu);
	}
	hio_buf_reset(&a->b);
	a->n = 0;
	a->s = NULL;
}

static void acks_add(struct acks *a, struct pe_session *s, const char *id, const char *status)
{
	uint8_t *head = NULL;
	size_t hlen = 0;
	struct hio_buf hb;
	struct hio_jw w;

	/* Flushed before the buffer can fill, so only memory can be short: that ACK is not
	 * sent, and the connector resends the message (answered "duplicate"). */
	if (a->s != s || a->b.len + 256 > PE_ACKS_MAX)
		acks_flush(a);
	a->s = s;
	hio_frame_head_start(&hb);
	hio_jw_begin(&w, &hb);
	hio_jw_str(&w, "id", id);
	hio_jw_str(&w, "status", status);
	if (hio_jw_end(&w) < 0 || hio_frame_head_finish(&hb, HIO_F_ACK, 0, 0, &head, &hlen) < 0 ||
	    hio_buf_append(&a->b, head, hlen) < 0)
		hio_warn("out of memory for the ACK of message %s; the connector will resend it",
			 id);
	else
		a->n++;
	free(head);
	hio_buf_free(&hb);
}

/* The master answered 2xx: record, ack, free. The entries (and with them their
 * sessions) are freed after the acks went out. */
static void batch_stored(struct pe *pe, struct pe_entry *list, json_t *ans)
{
	json_t *stored = json_object_get(ans, "stored");
	json_t *dup = json_object_get(ans, "duplicate");
	struct acks a = {0};
	size_t next_stored = 0, next_dup = 0;

	hio_buf_init(&a.b, PE_ACKS_MAX);
	for (struct pe_entry *e = list; e; e = e->next) {
		int failed = e->out.failed;
		const char *st = failed ? "failed" : "done";

		/* Anything the master took but did not store anew it had stored before. */
		if ((json_is_array(dup) && id_in(dup, e->it->id, &next_dup)) ||
		    (json_is_array(stored) && !id_in(stored, e->it->id, &next_stored)))
			st = "duplicate";
		pthread_mutex_lock(&pe->mu);
		if (strcmp(st, "done") == 0)
			pe->n_done++;
		else if (strcmp(st, "failed") == 0)
			pe->n_failed++;
		pthread_mutex_unlock(&pe->mu);
		pe_metrics_stored(st);
		pe_lru_add(pe, e->it->id, failed);
		if (e->it->sess)
			acks_add(&a, e->it->sess, e->it->id, st);
		hio_debug("message %s (%s) stored: %s", e->it->id, e->it->name, st);
	}
	acks_flush(&a);
	hio_buf_free(&a.b);
	while (list) {
		struct pe_entry *e = list;

		list = e->next;
		pe_entry_free(pe, e);
	}
}

static void batch_drop(struct pe *pe, struct pe_entry *list, const char *why)
{
	while (list) {
		struct pe_entry *e = list;

		list = e->next;
		hio_err("result of message %s (%s) not stored: %s; not acknowledging it", e->it->id,
			e->it->name, why);
		pe_entry_free(pe, e);
	}
}

/* One attempt. Returns the HTTP status (or -1), *ans the JSON answer on 2xx. */
static long put_results(struct pe *pe, hio_http *h, struct pe_entry *list, json_t **ans, char *err,
			size_t errlen)
{
	struct body b = {.fd = -1};
	struct hio_http_resp resp = {0};
	struct hio_http_req req = {
	    .method = "PUT", .path = "/v1/results", .content_type = "application/octet-stream"};
	size_t k = 0;
	long st = -1;
	uint64_t t0 = hio_hist_start();

	*ans = NULL;
	hio_buf_init(&resp.body, HIO_JSON_BODY_MAX);
	for (struct pe_entry *e = list; e; e = e->next, k++)
		if (entry_encode(pe, &b, e) < 0) {
			snprintf(err, errlen, "cannot encode result of message %s", e->it->id);
			goto out;
		}
	body_rewind(&b);
	req.read = body_read;
	req.read_ud = &b;
	req.read_len = (int64_t)b.total;
	/* Scaled to the size, as if the link carried at least 1 MiB/s. */
	req.timeout_ms = 60000 + (long)(b.total >> 20) * 1000;
	if (hio_http_do(h, &req, &resp) < 0) {
		snprintf(err, errlen, "%s", b.err[0] ? b.err : resp.err);
		goto out;
	}
	st = resp.status;
	/* Refusals carry the entries stored before the bad one, so parse those too. */
	*ans = json_loadb(resp.body.data ? resp.body.data : "{}", resp.body.len, 0, NULL);
	if (!*ans)
		*ans = json_object();
	if (st < 200 || st >= 300) {
		const char *e = json_string_value(json_object_get(*ans, "error"));

		snprintf(err, errlen, "HTTP %ld: %s", st, e ? e : "no reason given");
	}
	hio_debug("uploaded %zu results (%" PRIu64 " bytes): HTTP %ld", k, b.total, st);
out:
	pe_metrics_upload(t0, st >= 200 && st < 300);
	body_free(&b);
	hio_buf_free(&resp.body);
	return st;
}

/* Settles the entries a refused upload still stored; returns the others. */
static struct pe_entry *settle_partial(struct pe *pe, struct pe_entry *list, json_t *ans)
{
	json_t *stored = json_object_get(ans, "stored"), *dup = json_object_get(ans, "duplicate");
	struct pe_entry *keep = NULL, **kt = &keep, *done = NULL, **dt = &done;
	size_t next_stored = 0, next_dup = 0;

	while (list) {
		struct pe_entry *e = list;

		list = e->next;
		e->next = NULL;
		if ((json_is_array(stored) && id_in(stored, e->it->id, &next_stored)) ||
		    (json_is_array(dup) && id_in(dup, e->it->id, &next_dup))) {
			*dt = e;
			dt = &e->next;
		} else {
			*kt = e;
			kt = &e->next;
		}
	}
	if (done)
		batch_stored(pe, done, ans);
	return keep;
}

static int stop_expired(struct pe *pe)
{
	int r;

	pthread_mutex_lock(&pe->mu);
	r = pe->stopping && hio_mono_ms() >= pe->stop_ms + UP_STOP_GRACE_MS;
	pthread_mutex_unlock(&pe->mu);
	return r;
}

static void upload(struct pe *pe, hio_http *h, struct pe_entry *list, int *down);

/* The master refused the batch as malformed or too large: find the entry it minds,
 * and store that one as failed with the reason, so its source gets an answer. */
static void upload_refused(struct pe *pe, hio_http *h, struct pe_entry *list, const char *err,
			   int *down)
{
	struct pe_entry *e = list;

	if (list->next) {
		while (list) {
			e = list;
			list = e->next;
			e->next = NULL;
			upload(pe, h, e, down);
		}
		return;
	}
	if (e->out.failed && e->out.n == 0 && e->out.error &&
	    strncmp(e->out.error, "master refused", 14) == 0) {
		batch_drop(pe, e, err);
		return;
	}
	hio_warn("master refused the result of message %s (%s): %s; storing it as failed",
		 e->it->id, e->it->name, err);
	pe_out_drop_files(&e->out);
	hio_pe_out_fail(&e->out, "master refused the result: %s", err);
	upload(pe, h, e, down);
}

static void upload(struct pe *pe, hio_http *h, struct pe_entry *list, int *down)
{
	long backoff = 0, backoff_max = UP_BACKOFF_MAX_MS;
	int full_tries = 0;
	char err[320];

	for (;;) {
		json_t *ans = NULL;
		long st = put_results(pe, h, list, &ans, err, sizeof(err));

		if (st == UP_DISK_FULL) {
			/* The master's disk is full: what it stored before is settled, each of
			 * the others gets a few tries of its own, then is failed with the reason
			 * (a few hundred bytes the master may still take) instead of sending its
			 * result again and again. */
			list = settle_partial(pe, list, ans);
			json_decref(ans);
			if (!list)
				return;
			if (list->next) {
				while (list) {
					struct pe_entry *e = list;

					list = e->next;
					e->next = NULL;
					upload(pe, h, e, down);
				}
				return;
			}
			backoff_max = UP_DISK_FULL_BACKOFF_MAX_MS;
			if (++full_tries >= UP_DISK_FULL_TRIES &&
			    !(list->out.failed && list->out.n == 0)) {
				hio_warn("message %s (%s) failed: the master cannot store its "
					 "result (%" PRIu64 " bytes) after %d tries: %s",
					 list->it->id, list->it->name, list->out.bytes, full_tries,
					 err);
				pe_out_drop_files(&list->out);
				hio_pe_out_fail(&list->out,
						"the master could not store the result after %d "
						"tries: %s",
						full_tries, err);
				full_tries = 0;
				backoff = 0;
				continue;
			}
			ans = NULL;
		}

		if (st >= 200 && st < 300) {
			if (*down)
				hio_info("result uploads to the master work again");
			*down = 0;
			batch_stored(pe, list, ans);
			json_decref(ans);
			return;
		}
		if (st == 400 || st == 413 || st == 422) {
			list = settle_partial(pe, list, ans);
			json_decref(ans);
			if (list)
				upload_refused(pe, h, list, err, down);
			return;
		}
		json_decref(ans);
		if (!*down)
			hio_warn("result upload to the master failed: %s; retrying with backoff "
				 "(nothing is acknowledged meanwhile)",
				 err);
		*down = 1;
		if (stop_expired(pe)) {
			batch_drop(pe, list, "stopping and the master is unreachable");
			return;
		}
		backoff = backoff ? backoff * 2 : 100;
		if (backoff > backoff_max)
			backoff = backoff_max;
		/* Not pe_sleep: it returns at once when stopping, and we still retry then. */
		usleep((useconds_t)backoff * 1000);
	}
}

void *pe_uploader_main(void *arg)
{
	struct pe *pe = arg;
	hio_http *h = hio_http_new(pe->master, pe->token);
	int down = 0;

	if (!h)
		hio_err("cannot make an HTTP client for result uploads; results are dropped "
			"unacknowledged");
	for (;;) {
		struct pe_entry *list, *last;
		uint64_t bytes;
		size_t k;

		pthread_mutex_lock(&pe->mu);
		while (!pe->uhead && !pe->exec_done)
			pthread_cond_wait(&pe->cv_up, &pe->mu);
		if (!pe->uhead) {
			pthread_mutex_unlock(&pe->mu);
			break;
		}
		/* Group commit: while the executor still has messages and their results
		 * come faster than one per PE_UPLOAD_LINGER_GAP_US, a batch that waits up
		 * to PE_UPLOAD_LINGER_MS for more saves a request and a journal append per
		 * message (at 3,000 messages/s, a third of a PE's CPU and most of the
		 * master's went to one upload per result). That much is added to those
		 * acks' latency; slower results (a process per message), an idle PE or a
		 * stopping one upload at once. */
		if (pe->un < PE_BATCH_MAX && pe->ubytes < PE_BATCH_BYTES && pe->ugap_us &&
		    pe->ugap_us < PE_UPLOAD_LINGER_GAP_US) {
			uint64_t until = hio_mono_ms() + PE_UPLOAD_LINGER_MS;

			while (pe->un < PE_BATCH_MAX && pe->ubytes < PE_BATCH_BYTES &&
			       (pe->running || pe->fn > 0) && !pe->stopping && !pe->exec_done &&
			       hio_cond_wait_until(&pe->cv_up, &pe->mu, until) == 0)
				;
		}
		/* Take what is there, up to a batch: always at least one entry. */
		list = last = pe->uhead;
		bytes = last->bytes;
		k = 1;
		while (last->next && k < PE_BATCH_MAX &&
		       bytes + last->next->bytes <= PE_BATCH_BYTES) {
			last = last->next;
			bytes += last->bytes;
			k++;
		}
		pe->uhead = last->next;
		if (!pe->uhead)
			pe->utail = NULL;
		last->next = NULL;
		pe->un -= k;
		pe->ubytes -= bytes;
		pthread_cond_broadcast(&pe->cv_up);
		pthread_mutex_unlock(&pe->mu);
		if (h)
			upload(pe, h, list, &down);
		else
			batch_drop(pe, list, "no HTTP client");
	}
	hio_http_free(h);
	return NULL;
}
