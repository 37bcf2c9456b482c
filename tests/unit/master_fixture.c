/* The master store tests' fixture (master_fixture.h). */
#include "master_fixture.h"
#include "check.h"

#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* pipeline_find for a test's main thread: the registry wants m->lock held. */
struct pipeline *find_pl(struct master *m, const char *name)
{
	struct pipeline *pl;

	pthread_mutex_lock(&m->lock);
	pl = pipeline_find(m, name);
	pthread_mutex_unlock(&m->lock);
	return pl;
}

char state_dir[PATH_MAX];

/* A 32 hex character message id. */
const char *mid(unsigned n)
{
	static char ids[16][HIO_ID_LEN + 1];
	static unsigned next;
	char *s = ids[next++ % 16];

	snprintf(s, HIO_ID_LEN + 1, "%032x", n);
	return s;
}

void fresh_dir(void)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/hio-test-master-store-XXXXXX");
	if (!mkdtemp(state_dir)) {
		perror("mkdtemp");
		exit(2);
	}
}

/* What main.c does at start, minus token, listener, HTTP and reconcile thread. */
struct master *master_open(void)
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

void master_close(struct master *m)
{
	master_free(m);
}

struct master *master_restart(struct master *m)
{
	master_close(m);
	return master_open();
}

void reply_clear(struct reply *r)
{
	json_decref(r->json);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Pushes one MSG frame as the HTTP layer would, fed in small pieces.
 * 0 stored, 1 duplicate, -1 refused. */
int push(struct master *m, const char *pl, const char *id, uint64_t ts)
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
int push_race(struct master *m, const char *pl, const char *id, uint64_t ts)
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
void pe_up(struct master *m, const char *pl, const char *id)
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

void pe_gone(struct master *m, const char *id)
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
unsigned lease(struct master *m, const char *pl, const char *pe, char id[HIO_ID_LEN + 1])
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
const char *ids_of(struct master *m, const char *pl, int leased)
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

int path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Backlog files of pl ending in suffix. */
int count_files(const char *pl, const char *suffix)
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
/* results_commit and results_flush of a batch of that one entry, as an upload of one
 * does. 0, or -1 with out set. */
static int commit_batch_of_one(struct master *m, const char *tmpdir, json_t *meta,
			       struct rfile *files, size_t n, json_t *stored, json_t *dup,
			       struct reply *out)
{
	struct rbatch *b = rbatch_new(m);
	int rc;

	CHECK(b != NULL);
	rc = results_commit(b, tmpdir, meta, files, n, dup, out);
	if (rc == 0)
		rc = results_flush(b, stored, out);
	rbatch_free(b);
	return rc;
}

json_t *entry_prepare(const char *pl, const char *name, const char *id, uint64_t ts, int failed,
		      char tmpdir[PATH_MAX], struct rfile *file)
{
	static unsigned n;
	static char out_txt[] = "out.txt";
	char path[PATH_MAX + 16];
	json_t *meta;
	FILE *f;

	snprintf(tmpdir, PATH_MAX, "%s/results/tmp/t%u", state_dir, n++);
	CHECK(hio_mkdir_p(tmpdir) == 0);
	snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
	f = fopen(path, "w");
	if (!f)
		exit(2);
	file->name = out_txt;
	file->size = (uint64_t)fprintf(f, "result %s ts %llu", id, (unsigned long long)ts);
	fclose(f);
	meta = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "name", name, "pipeline", pl, "status",
			 failed ? "failed" : "done", "ts", (json_int_t)ts);
	if (failed)
		json_object_set_new(meta, "error", json_string("it broke"));
	return meta;
}

int commit(struct master *m, const char *pl, const char *name, const char *id, uint64_t ts,
	   int failed)
{
	char tmpdir[PATH_MAX];
	struct rfile file;
	json_t *meta, *stored = json_array(), *dup = json_array();
	struct reply out = {.fd = -1};
	int rc;

	meta = entry_prepare(pl, name, id, ts, failed, tmpdir, &file);
	rc = commit_batch_of_one(m, tmpdir, meta, &file, 1, stored, dup, &out);
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
int commit_nofiles(struct master *m, const char *pl, const char *name, const char *id, uint64_t ts)
{
	json_t *meta, *stored = json_array(), *dup = json_array();
	struct reply out = {.fd = -1};
	int rc;

	meta = json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "name", name, "pipeline", pl, "status",
			 "done", "ts", (json_int_t)ts);
	rc = commit_batch_of_one(m, NULL, meta, NULL, 0, stored, dup, &out);
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
const char *kept_id(struct master *m, const char *pl, const char *name, uint64_t *ts)
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

int id_state(struct master *m, const char *id)
{
	struct ident *i;
	int st;

	pthread_mutex_lock(&m->lock);
	i = hio_hmap_get(&m->ids, id);
	st = i ? i->result : -1;
	pthread_mutex_unlock(&m->lock);
	return st;
}

int result_dir_exists(const char *id)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/results/%s", state_dir, id);
	return path_exists(path);
}

void cleanup(struct master *m)
{
	master_close(m);
	CHECK(hio_rm_rf(state_dir) == 0);
}
