/* The master's durable state, driven through its own functions (no HTTP, no sleeps),
 * each test in a fresh state dir: the backlog queue (master/backlog.c, backlog_load.c)
 * and the result journal (master/results.c). A "restart" frees the in-memory state and
 * loads it again from the state dir the way main.c does. */
#include "../../master/master.h"
#include "check.h"

#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PL "pl1"
#define PE1 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee01"

/* pipeline_find for a test's main thread: the registry wants m->lock held. */
static struct pipeline *find_pl(struct master *m, const char *name)
{
	struct pipeline *pl;

	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, name);
	pthread_mutex_unlock(&m->lock);
	return pl;
}

static char state_dir[PATH_MAX];

/* A 32 hex character message id. */
static const char *mid(unsigned n)
{
	static char ids[16][HIO_ID_LEN + 1];
	static unsigned next;
	char *s = ids[next++ % 16];

	snprintf(s, HIO_ID_LEN + 1, "%032x", n);
	return s;
}

static void fresh_dir(void)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/hio-test-master-store-XXXXXX");
	if (!mkdtemp(state_dir)) {
		perror("mkdtemp");
		exit(2);
	}
}

/* What main.c does at start, minus token, listener, HTTP and reconcile thread. */
static struct master *master_open(void)
{
	struct master *m = calloc(1, sizeof(*m));

	if (!m)
		exit(2);
	CHECK(master_init(m) == 0);
	m->pe_lease_ms = 3000;
	m->worker_lease_ms = 5000;
	m->backlog_max = MASTER_BACKLOG_MAX_DEFAULT;
	snprintf(m->dir, sizeof(m->dir), "%s", state_dir);
	CHECK(pipelines_load(m) == 0);
	CHECK(results_load(m) == 0);
	CHECK(backlog_load(m) == 0);
	return m;
}

static void master_close(struct master *m)
{
	master_free(m);
}

static struct master *master_restart(struct master *m)
{
	master_close(m);
	return master_open();
}

static void reply_clear(struct reply *r)
{
	json_decref(r->json);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Pushes one MSG frame as the HTTP layer would, fed in small pieces.
 * 0 stored, 1 duplicate, -1 refused. */
static int push(struct master *m, const char *pl, const char *id, uint64_t ts)
{
	json_t *meta = json_pack("{s:s,s:s,s:I}", "id", id, "name", "in.txt", "ts", (json_int_t)ts);
	char body[64];
	uint8_t *head = NULL, *frame;
	size_t hlen = 0, blen, total;
	struct reply out = {.fd = -1};
	struct push *p;
	int rc = -1;

	blen = (size_t)snprintf(body, sizeof(body), "body of %s", id);
	if (hio_frame_head(HIO_F_MSG, 0, meta, blen, &head, &hlen) < 0)
		exit(2);
	json_decref(meta);
	total = hlen + blen;
	frame = malloc(total);
	memcpy(frame, head, hlen);
	memcpy(frame + hlen, body, blen);
	free(head);
	p = backlog_push_new(m, pl, (long long)total, &out);
	if (p) {
		for (size_t off = 0; off < total; off += 7)
			backlog_push_feed(p, (char *)frame + off,
					  total - off < 7 ? total - off : 7);
		backlog_push_finish(p, &out);
		backlog_push_free(p);
	}
	if (out.status == 201)
		rc = json_is_true(json_object_get(out.json, "duplicate")) ? 1 : 0;
	reply_clear(&out);
	free(frame);
	return rc;
}

/* Two pushes of the same id whose bodies stream at once: both pass the early
 * check, both store a file, the second to finish is a duplicate and removes its
 * own. 0 when exactly that happened. */
static int push_race(struct master *m, const char *pl, const char *id, uint64_t ts)
{
	json_t *meta = json_pack("{s:s,s:s,s:I}", "id", id, "name", "in.txt", "ts", (json_int_t)ts);
	char body[] = "raced body";
	uint8_t *head = NULL;
	size_t hlen = 0;
	struct reply out[2] = {{.fd = -1}, {.fd = -1}};
	struct push *p[2];
	int rc = -1;

	if (hio_frame_head(HIO_F_MSG, 0, meta, sizeof(body) - 1, &head, &hlen) < 0)
		exit(2);
	json_decref(meta);
	for (int i = 0; i < 2; i++) {
		p[i] = backlog_push_new(m, pl, (long long)(hlen + sizeof(body) - 1), &out[i]);
		if (!p[i])
			exit(2);
		backlog_push_feed(p[i], (char *)head, hlen);
		backlog_push_feed(p[i], body, sizeof(body) - 1);
	}
	for (int i = 0; i < 2; i++) {
		backlog_push_finish(p[i], &out[i]);
		backlog_push_free(p[i]);
	}
	if (out[0].status == 201 && out[1].status == 201 &&
	    !json_is_true(json_object_get(out[0].json, "duplicate")) &&
	    json_is_true(json_object_get(out[1].json, "duplicate")))
		rc = 0;
	reply_clear(&out[0]);
	reply_clear(&out[1]);
	free(head);
	return rc;
}

/* A registered, running PE of pipeline pl. */
static void pe_up(struct master *m, const char *pl, const char *id)
{
	struct mpe *p;

	pthread_mutex_lock(&m->lock);
	p = mpe_add(m, id);
	CHECK(p != NULL);
	if (p) {
		p->pl = pipeline_get(m, pl);
		p->st = MPE_UP;
		p->registered = 1;
	}
	pthread_mutex_unlock(&m->lock);
}

static void pe_gone(struct master *m, const char *id)
{
	struct mpe *p;

	pthread_mutex_lock(&m->lock);
	p = mpe_find(m, id);
	CHECK(p != NULL);
	if (p)
		mpe_set_gone(m, p, "test");
	pthread_mutex_unlock(&m->lock);
}

/* The next message for PE pe without waiting: its id into id (empty when none).
 * Returns the answer's status. */
static unsigned lease(struct master *m, const char *pl, const char *pe, char id[HIO_ID_LEN + 1])
{
	struct reply out = {.fd = -1};
	unsigned st;

	api_backlog_next(m, pl, pe, 0, &out);
	st = out.status;
	snprintf(id, HIO_ID_LEN + 1, "%s", out.hdr_id);
	if (st == 200)
		CHECK(out.fd >= 0 && out.fd_size > 0);
	reply_clear(&out);
	return st;
}

/* Ids of pl's queue (or leases), front first, joined by ','. */
static const char *ids_of(struct master *m, const char *pl, int leased)
{
	static char buf[16 * (HIO_ID_LEN + 1)];
	struct pipeline *p;
	struct list *pos, *tmp, *head;

	buf[0] = '\0';
	pthread_mutex_lock(&m->lock);
	p = pipeline_find(m, pl);
	if (p) {
		head = leased ? &p->leased : &p->queued;
		list_for_each_safe(pos, tmp, head)
		{
			struct mmsg *msg = list_entry(pos, struct mmsg, link);

			if (buf[0])
				strcat(buf, ",");
			strcat(buf, msg->id);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return buf;
}

static int path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Backlog files of pl ending in suffix. */
static int count_files(const char *pl, const char *suffix)
{
	char cmd[PATH_MAX + 128], line[64];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls -1 '%s/backlog/%s' 2>/dev/null | grep -c -- '%s$'",
		 state_dir, pl, suffix);
	f = popen(cmd, "r");
	if (f && fgets(line, sizeof(line), f)) {
		long v = 0;
		line[strcspn(line, "\n")] = '\0';
		if (hio_parse_long(line, 0, INT32_MAX, &v) == 0)
			n = (int)v;
	}
	if (f)
		pclose(f);
	return n;
}

/* Stores one result entry the way an upload's RDONE does: one file, in a temp dir
 * under results/tmp. 0 stored, 1 duplicate, -1 failed. */
static int commit(struct master *m, const char *pl, const char *name, const char *id, uint64_t ts,
		  int failed)
{
	static unsigned n;
	char tmpdir[PATH_MAX], path[PATH_MAX + 16];
	char out_txt[] = "out.txt";
	struct rfile file = {.name = out_txt};
	json_t *meta, *stored = json_array(), *dup = json_array();
	struct reply out = {.fd = -1};
	FILE *f;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "%s/results/tmp/t%u", state_dir, n++);
	CHECK(hio_mkdir_p(tmpdir) == 0);
	snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
	f = fopen(path, "w");
	if (!f)
		exit(2);
	file.size = (uint64_t)fprintf(f, "result %s ts %llu", id, (unsigned long long)ts);
	fclose(f);
	meta = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "name", name, "pipeline", pl, "status",
			 failed ? "failed" : "done", "ts", (json_int_t)ts);
	if (failed)
		json_object_set_new(meta, "error", json_string("it broke"));
	rc = results_commit(m, tmpdir, meta, &file, 1, stored, dup, &out);
	if (rc == 0) {
		CHECK(json_array_size(stored) + json_array_size(dup) == 1);
		rc = json_array_size(dup) == 1 ? 1 : 0;
		CHECK(strcmp(json_string_value(json_array_get(rc ? dup : stored, 0)), id) == 0);
	}
	CHECK(!path_exists(tmpdir)); /* moved into place or removed either way */
	json_decref(meta);
	json_decref(stored);
	json_decref(dup);
	reply_clear(&out);
	return rc;
}

/* Stores an entry without files as an upload's RDONE does: no temp dir. 0 stored, 1
 * duplicate, -1 failed. */
static int commit_nofiles(struct master *m, const char *pl, const char *name, const char *id,
			  uint64_t ts)
{
	json_t *meta, *stored = json_array(), *dup = json_array();
	struct reply out = {.fd = -1};
	int rc;

	meta = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "name", name, "pipeline", pl, "status",
			 "done", "ts", (json_int_t)ts);
	rc = results_commit(m, NULL, meta, NULL, 0, stored, dup, &out);
	if (rc == 0) {
		CHECK(json_array_size(stored) + json_array_size(dup) == 1);
		rc = json_array_size(dup) == 1 ? 1 : 0;
	}
	json_decref(meta);
	json_decref(stored);
	json_decref(dup);
	reply_clear(&out);
	return rc;
}

/* The id of the entry the index keeps for (pl, name), or "" */
static const char *kept_id(struct master *m, const char *pl, const char *name, uint64_t *ts)
{
	static char id[HIO_ID_LEN + 1];
	struct pipeline *p;
	struct result *r;

	id[0] = '\0';
	pthread_mutex_lock(&m->lock);
	p = pipeline_find(m, pl);
	r = p ? hio_hmap_get(&p->results, name) : NULL;
	if (r) {
		snprintf(id, sizeof(id), "%s", r->id);
		if (ts)
			*ts = r->ts;
	}
	pthread_mutex_unlock(&m->lock);
	return id;
}

static int id_state(struct master *m, const char *id)
{
	struct ident *i;
	int st;

	pthread_mutex_lock(&m->lock);
	i = hio_hmap_get(&m->ids, id);
	st = i ? i->result : -1;
	pthread_mutex_unlock(&m->lock);
	return st;
}

static int result_dir_exists(const char *id)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/results/%s", state_dir, id);
	return path_exists(path);
}

static void cleanup(struct master *m)
{
	master_close(m);
	CHECK(hio_rm_rf(state_dir) == 0);
}

/* --- backlog --- */

static void test_backlog_order_lease_requeue(void)
{
	char a[HIO_ID_LEN + 1], b[HIO_ID_LEN + 1], c[HIO_ID_LEN + 1], got[HIO_ID_LEN + 1];
	struct master *m;
	struct pipeline *pl;
	char expect[200];

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0xa1));
	snprintf(b, sizeof(b), "%s", mid(0xb2));
	snprintf(c, sizeof(c), "%s", mid(0xc3));
	CHECK(push(m, PL, a, 100) == 0);
	CHECK(push(m, PL, b, 200) == 0);
	CHECK(push(m, PL, c, 300) == 0);
	snprintf(expect, sizeof(expect), "%s,%s,%s", a, b, c);
	CHECK(strcmp(ids_of(m, PL, 0), expect) == 0);
	pl = find_pl(m, PL);
	CHECK(pl && pl->n_queued == 3 && pl->n_leased == 0 && pl->n_in == 3);
	CHECK(count_files(PL, ".frame") == 3 && count_files(PL, ".tmp") == 0);

	/* An unknown PE gets nothing. */
	CHECK(lease(m, PL, PE1, got) == 404);
	pe_up(m, PL, PE1);
	/* Oldest first. */
	CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, a) == 0);
	CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, b) == 0);
	snprintf(expect, sizeof(expect), "%s,%s", a, b);
	CHECK(strcmp(ids_of(m, PL, 1), expect) == 0);
	CHECK(strcmp(ids_of(m, PL, 0), c) == 0);
	CHECK(pl && pl->n_queued == 1 && pl->n_leased == 2);

	/* The same id again, queued or leased: 201 duplicate, nothing stored twice. */
	CHECK(push(m, PL, a, 100) == 1);
	CHECK(push(m, PL, c, 300) == 1);
	CHECK(pl && pl->n_queued == 1 && pl->n_leased == 2 && pl->n_in == 3);
	CHECK(count_files(PL, ".frame") == 3 && count_files(PL, ".tmp") == 0);

	/* The PE is gone: its leases go back to the head, earliest lease first. */
	pe_gone(m, PE1);
	snprintf(expect, sizeof(expect), "%s,%s,%s", a, b, c);
	CHECK(strcmp(ids_of(m, PL, 0), expect) == 0);
	CHECK(strcmp(ids_of(m, PL, 1), "") == 0);
	CHECK(pl && pl->n_queued == 3 && pl->n_leased == 0);
	CHECK(lease(m, PL, PE1, got) == 404);

	/* A lease whose answer did not leave goes back to the front too. */
	pe_up(m, PL, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02");
	CHECK(lease(m, PL, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02", got) == 200 && !strcmp(got, a));
	backlog_lease_failed(m, a, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02");
	CHECK(strcmp(ids_of(m, PL, 0), expect) == 0);
	/* Drained queue: 204. */
	for (int i = 0; i < 3; i++)
		CHECK(lease(m, PL, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02", got) == 200);
	CHECK(lease(m, PL, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee02", got) == 204 && got[0] == '\0');
	cleanup(m);
}

static void test_backlog_push_race(void)
{
	char got[HIO_ID_LEN + 1];
	struct master *m;
	struct pipeline *pl;

	fresh_dir();
	m = master_open();
	/* Two pushes of a new id at once: one is stored, the other's file is removed. */
	CHECK(push_race(m, PL, mid(0x77), 400) == 0);
	pl = find_pl(m, PL);
	CHECK(pl && pl->n_queued == 1 && pl->n_in == 1);
	CHECK(count_files(PL, ".frame") == 1 && count_files(PL, ".tmp") == 0);
	pe_up(m, PL, PE1);
	CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, mid(0x77)) == 0);
	CHECK(lease(m, PL, PE1, got) == 204);
	cleanup(m);
}

static void test_backlog_result_drops_copy(void)
{
	char a[HIO_ID_LEN + 1], b[HIO_ID_LEN + 1], got[HIO_ID_LEN + 1];
	struct master *m;
	struct pipeline *pl;

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0x1a));
	snprintf(b, sizeof(b), "%s", mid(0x2b));
	CHECK(push(m, PL, a, 1) == 0);
	CHECK(push(m, PL, b, 2) == 0);
	pe_up(m, PL, PE1);
	CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, a) == 0);
	/* a's result (leased copy) and b's (still queued) delete their backlog copies. */
	CHECK(commit(m, PL, "n-a", a, 10, 0) == 0);
	CHECK(strcmp(ids_of(m, PL, 1), "") == 0);
	CHECK(strcmp(ids_of(m, PL, 0), b) == 0);
	CHECK(commit(m, PL, "n-b", b, 10, 1) == 0);
	pl = find_pl(m, PL);
	CHECK(pl && pl->n_queued == 0 && pl->n_leased == 0 && pl->n_in == 2);
	CHECK(pl && pl->n_done == 1 && pl->n_failed == 1);
	CHECK(m->backlog_bytes == 0);
	CHECK(count_files(PL, ".frame") == 0);
	CHECK(id_state(m, a) == IDR_DONE && id_state(m, b) == IDR_FAILED);
	/* A stored id pushed again is a duplicate and is not queued again. */
	CHECK(push(m, PL, a, 1) == 1);
	CHECK(lease(m, PL, PE1, got) == 204);
	CHECK(count_files(PL, ".frame") == 0);
	/* The PE going away has no lease left to give back. */
	pe_gone(m, PE1);
	CHECK(strcmp(ids_of(m, PL, 0), "") == 0);
	cleanup(m);
}

static void test_backlog_restart(void)
{
	char ids[4][HIO_ID_LEN + 1], got[HIO_ID_LEN + 1], expect[200], path[PATH_MAX + 64];
	char keep[PATH_MAX + 64], frame3[PATH_MAX];
	struct master *m;
	struct pipeline *pl;
	uint64_t bytes, seq;
	int fd;

	fresh_dir();
	m = master_open();
	for (int i = 0; i < 4; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%s", mid(0x100u + (unsigned)i));
		CHECK(push(m, PL, ids[i], 1000 + (uint64_t)i) == 0);
	}
	/* Message 3 gets its result stored, but a crash left its backlog file behind:
	 * keep a second link to it and put it back after the commit. */
	pthread_mutex_lock(&m->lock);
	{
		struct ident *i3 = hio_hmap_get(&m->ids, ids[3]);

		CHECK(i3 && i3->msg && backlog_path(m, i3->msg, "", frame3, sizeof(frame3)) == 0);
	}
	pthread_mutex_unlock(&m->lock);
	snprintf(keep, sizeof(keep), "%s/keep", state_dir);
	CHECK(link(frame3, keep) == 0);
	CHECK(commit(m, PL, "n3", ids[3], 5, 0) == 0);
	CHECK(!path_exists(frame3));
	CHECK(rename(keep, frame3) == 0);

	pe_up(m, PL, PE1);
	CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, ids[0]) == 0);
	snprintf(expect, sizeof(expect), "%s,%s,%s", ids[0], ids[1], ids[2]);
	bytes = m->backlog_bytes;
	seq = m->seq;
	/* Leftovers of pushes never answered. */
	snprintf(path, sizeof(path), "%s/backlog/%s/%016llx-%s.frame.tmp", state_dir, PL, 99ull,
		 mid(0x999));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "HIO1", 4) == 4);
	if (fd >= 0)
		close(fd);
	CHECK(count_files(PL, ".tmp") == 1);

	m = master_restart(m);
	pl = find_pl(m, PL);
	/* Same queue, same order; the lease is gone with the old process. */
	CHECK(strcmp(ids_of(m, PL, 0), expect) == 0);
	CHECK(strcmp(ids_of(m, PL, 1), "") == 0);
	CHECK(pl && pl->n_queued == 3 && pl->n_leased == 0);
	CHECK(pl && pl->n_in == 4 && pl->n_done == 1);
	CHECK(m->backlog_bytes == bytes);
	CHECK(m->seq >= seq - 1 && m->seq > 0);
	CHECK(count_files(PL, ".tmp") == 0);
	/* The stored one's stale copy is deleted, not queued. */
	CHECK(!path_exists(frame3));
	CHECK(count_files(PL, ".frame") == 3);
	CHECK(id_state(m, ids[3]) == IDR_DONE);
	CHECK(push(m, PL, ids[0], 1000) == 1);
	CHECK(push(m, PL, ids[3], 1003) == 1);
	/* New pushes go behind, with fresh sequence numbers (no file name reused). */
	CHECK(push(m, PL, mid(0x200), 2000) == 0);
	CHECK(count_files(PL, ".frame") == 4);
	pe_up(m, PL, PE1);
	for (int i = 0; i < 3; i++)
		CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, ids[i]) == 0);
	CHECK(lease(m, PL, PE1, got) == 200 && strcmp(got, mid(0x200)) == 0);
	CHECK(lease(m, PL, PE1, got) == 204);

	/* Restart again with everything leased: all queued again, same order. */
	m = master_restart(m);
	snprintf(expect, sizeof(expect), "%s,%s,%s,%s", ids[0], ids[1], ids[2], mid(0x200));
	CHECK(strcmp(ids_of(m, PL, 0), expect) == 0);
	cleanup(m);
}

/* --- result journal --- */

static void test_journal_reload(void)
{
	struct master *m;
	struct pipeline *pl;
	uint64_t ts = 0;
	char a[HIO_ID_LEN + 1], b[HIO_ID_LEN + 1];

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0x51));
	snprintf(b, sizeof(b), "%s", mid(0x52));
	CHECK(commit(m, PL, "one", a, 10, 0) == 0);
	CHECK(commit(m, "pl2", "two", b, 20, 1) == 0);
	m = master_restart(m);
	CHECK(strcmp(kept_id(m, PL, "one", &ts), a) == 0 && ts == 10);
	CHECK(strcmp(kept_id(m, "pl2", "two", &ts), b) == 0 && ts == 20);
	CHECK(id_state(m, a) == IDR_DONE && id_state(m, b) == IDR_FAILED);
	CHECK(result_dir_exists(a) && result_dir_exists(b));
	pl = find_pl(m, "pl2");
	CHECK(pl && pl->n_failed == 1 && pl->n_done == 0 && pl->n_in == 1);
	pthread_mutex_lock(&m->lock);
	{
		struct result *r = pl ? hio_hmap_get(&pl->results, "two") : NULL;

		CHECK(r && r->failed && r->error && strcmp(r->error, "it broke") == 0);
		CHECK(r && r->nfiles == 1 && strcmp(r->files[0].name, "out.txt") == 0 &&
		      r->files[0].size == strlen("result ") + HIO_ID_LEN + strlen(" ts 20"));
	}
	pthread_mutex_unlock(&m->lock);
	cleanup(m);
}

static void test_journal_last_ts_wins(void)
{
	char v20[HIO_ID_LEN + 1], v10[HIO_ID_LEN + 1], v30[HIO_ID_LEN + 1], v25[HIO_ID_LEN + 1];
	struct master *m;
	struct pipeline *pl;
	uint64_t ts = 0;

	fresh_dir();
	m = master_open();
	snprintf(v20, sizeof(v20), "%s", mid(0x20));
	snprintf(v10, sizeof(v10), "%s", mid(0x10));
	snprintf(v30, sizeof(v30), "%s", mid(0x30));
	snprintf(v25, sizeof(v25), "%s", mid(0x25));
	CHECK(commit(m, PL, "x", v20, 20, 0) == 0);
	/* An older version stored after a newer one: stored (its id is seen), not kept. */
	CHECK(commit(m, PL, "x", v10, 10, 0) == 0);
	CHECK(strcmp(kept_id(m, PL, "x", &ts), v20) == 0 && ts == 20);
	CHECK(id_state(m, v10) == IDR_DONE);
	CHECK(result_dir_exists(v20) && !result_dir_exists(v10));
	/* A newer one replaces it, and the replaced files go. */
	CHECK(commit(m, PL, "x", v30, 30, 0) == 0);
	CHECK(strcmp(kept_id(m, PL, "x", &ts), v30) == 0 && ts == 30);
	CHECK(!result_dir_exists(v20) && result_dir_exists(v30));
	pl = find_pl(m, PL);
	CHECK(pl && pl->results.len == 1 && pl->n_done == 3);

	m = master_restart(m);
	CHECK(strcmp(kept_id(m, PL, "x", &ts), v30) == 0 && ts == 30);
	CHECK(id_state(m, v10) == IDR_DONE && id_state(m, v20) == IDR_DONE);
	CHECK(result_dir_exists(v30) && !result_dir_exists(v20) && !result_dir_exists(v10));
	/* Still older after the restart: not kept. */
	CHECK(commit(m, PL, "x", v25, 25, 0) == 0);
	CHECK(strcmp(kept_id(m, PL, "x", &ts), v30) == 0);
	m = master_restart(m);
	CHECK(strcmp(kept_id(m, PL, "x", &ts), v30) == 0 && ts == 30);
	pl = find_pl(m, PL);
	CHECK(pl && pl->results.len == 1 && pl->n_done == 4 && pl->n_in == 4);

	/* Two uploads racing can journal an older version as kept after a newer one:
	 * replay still keeps the newest ts, whatever the line order. */
	master_close(m);
	{
		char jpath[PATH_MAX + 32];
		FILE *f;

		snprintf(jpath, sizeof(jpath), "%s/results.journal", state_dir);
		f = fopen(jpath, "a");
		CHECK(f != NULL);
		if (f) {
			fprintf(f,
				"{\"pipeline\":\"%s\",\"name\":\"x\",\"id\":\"%s\",\"ts\":7,"
				"\"state\":\"done\",\"files\":[],\"kept\":true}\n",
				PL, mid(0x07));
			fclose(f);
		}
	}
	m = master_open();
	CHECK(strcmp(kept_id(m, PL, "x", &ts), v30) == 0 && ts == 30);
	CHECK(id_state(m, mid(0x07)) == IDR_DONE);
	cleanup(m);
}

static void test_journal_duplicate(void)
{
	char a[HIO_ID_LEN + 1];
	struct master *m;
	struct pipeline *pl;
	uint64_t ts = 0;

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0xd1));
	CHECK(commit(m, PL, "y", a, 5, 0) == 0);
	/* Same id again, even claiming a newer ts: a duplicate, the first one stays. */
	CHECK(commit(m, PL, "y", a, 50, 0) == 1);
	CHECK(commit(m, PL, "other", a, 5, 1) == 1);
	CHECK(strcmp(kept_id(m, PL, "y", &ts), a) == 0 && ts == 5);
	CHECK(strcmp(kept_id(m, PL, "other", NULL), "") == 0);
	pl = find_pl(m, PL);
	CHECK(pl && pl->n_done == 1 && pl->n_failed == 0 && pl->n_in == 1);
	m = master_restart(m);
	CHECK(commit(m, PL, "y", a, 60, 0) == 1);
	CHECK(strcmp(kept_id(m, PL, "y", &ts), a) == 0 && ts == 5);
	pl = find_pl(m, PL);
	CHECK(pl && pl->n_done == 1 && pl->n_in == 1);
	cleanup(m);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_journal_torn_line(void)
{
	char a[HIO_ID_LEN + 1], b[HIO_ID_LEN + 1], t[HIO_ID_LEN + 1], c[HIO_ID_LEN + 1];
	char jpath[PATH_MAX + 32], half[512];
	struct master *m;
	long good;
	FILE *f;
	int n;

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0xe1));
	snprintf(b, sizeof(b), "%s", mid(0xe2));
	snprintf(t, sizeof(t), "%s", mid(0xe3));
	snprintf(c, sizeof(c), "%s", mid(0xe4));
	CHECK(commit(m, PL, "a", a, 1, 0) == 0);
	CHECK(commit(m, PL, "b", b, 1, 0) == 0);
	master_close(m);

	/* A crash in the middle of writing t's line. */
	snprintf(jpath, sizeof(jpath), "%s/results.journal", state_dir);
	good = file_size(jpath);
	CHECK(good > 0);
	n = snprintf(
	    half, sizeof(half),
	    "{\"pipeline\":\"%s\",\"name\":\"t\",\"id\":\"%s\",\"ts\":1,\"state\":\"done\","
	    "\"files\":[],\"kept\":true}",
	    PL, t);
	f = fopen(jpath, "a");
	CHECK(f && fwrite(half, 1, (size_t)n / 2, f) == (size_t)n / 2);
	if (f)
		fclose(f);
	CHECK(file_size(jpath) == good + n / 2);

	m = master_open();
	CHECK(file_size(jpath) == good); /* the torn end is cut */
	CHECK(strcmp(kept_id(m, PL, "a", NULL), a) == 0);
	CHECK(strcmp(kept_id(m, PL, "b", NULL), b) == 0);
	CHECK(strcmp(kept_id(m, PL, "t", NULL), "") == 0);
	CHECK(id_state(m, t) == -1);
	/* Later entries still work, t included, and survive the next restart. */
	CHECK(commit(m, PL, "t", t, 2, 0) == 0);
	CHECK(commit(m, PL, "c", c, 3, 0) == 0);
	m = master_restart(m);
	CHECK(strcmp(kept_id(m, PL, "a", NULL), a) == 0);
	CHECK(strcmp(kept_id(m, PL, "b", NULL), b) == 0);
	CHECK(strcmp(kept_id(m, PL, "t", NULL), t) == 0);
	CHECK(strcmp(kept_id(m, PL, "c", NULL), c) == 0);
	CHECK(result_dir_exists(t) && result_dir_exists(c));
	/* Every line of the journal is whole JSON now. */
	f = fopen(jpath, "r");
	if (f) {
		char line[2048];
		int lines = 0;

		while (fgets(line, sizeof(line), f)) {
			json_t *o = json_loads(line, 0, NULL);

			CHECK(o != NULL && line[strlen(line) - 1] == '\n');
			json_decref(o);
			lines++;
		}
		fclose(f);
		CHECK(lines == 4);
	}
	cleanup(m);
}

/* An entry without files gets no directory; replacing it by one with a file, and
 * that by one without, leaves only the newest entry's directory (or none); all of it
 * survives a restart. */
static void test_entry_without_files(void)
{
	char a[HIO_ID_LEN + 1], b[HIO_ID_LEN + 1], c[HIO_ID_LEN + 1];
	struct master *m;
	struct pipeline *pl;

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0x71));
	snprintf(b, sizeof(b), "%s", mid(0x72));
	snprintf(c, sizeof(c), "%s", mid(0x73));
	CHECK(commit_nofiles(m, PL, "n", a, 1) == 0);
	CHECK(strcmp(kept_id(m, PL, "n", NULL), a) == 0 && id_state(m, a) == IDR_DONE);
	CHECK(!result_dir_exists(a));
	CHECK(commit_nofiles(m, PL, "n", a, 1) == 1); /* the same id again: a duplicate */
	CHECK(commit(m, PL, "n", b, 2, 0) == 0);
	CHECK(strcmp(kept_id(m, PL, "n", NULL), b) == 0 && result_dir_exists(b));
	CHECK(commit_nofiles(m, PL, "n", c, 3) == 0);
	CHECK(strcmp(kept_id(m, PL, "n", NULL), c) == 0);
	CHECK(!result_dir_exists(b) && !result_dir_exists(c));
	m = master_restart(m);
	CHECK(strcmp(kept_id(m, PL, "n", NULL), c) == 0 && id_state(m, c) == IDR_DONE);
	pl = find_pl(m, PL);
	pthread_mutex_lock(&m->lock);
	{
		struct result *r = pl ? hio_hmap_get(&pl->results, "n") : NULL;

		CHECK(r && !r->failed && r->nfiles == 0);
	}
	pthread_mutex_unlock(&m->lock);
	cleanup(m);
}

int main(void)
{
	hio_log_init("test_master_store");
	hio_log_set_level(HIO_LOG_ERROR);
	test_backlog_order_lease_requeue();
	test_backlog_push_race();
	test_backlog_result_drops_copy();
	test_backlog_restart();
	test_journal_reload();
	test_journal_last_ts_wins();
	test_journal_duplicate();
	test_journal_torn_line();
	test_entry_without_files();
	return check_result("test_master_store");
}
