/* The master's result journal and index (master/results.c), driven through its own
 * functions, each test in a fresh state dir (master_fixture.h). */
#include "check.h"
#include "master_fixture.h"

#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static size_t journal_line_count(void)
{
	char jpath[PATH_MAX + 32], *line = NULL;
	size_t cap = 0, n = 0;
	FILE *f;

	snprintf(jpath, sizeof(jpath), "%s/results.journal", state_dir);
	f = fopen(jpath, "r");
	while (f && getline(&line, &cap, f) > 0)
		n++;
	free(line);
	if (f)
		fclose(f);
	return n;
}

/* Adds (pl, name, id, ts) to batch b; 0 added (or a duplicate), -1 refused. */
static int batch_add(struct rbatch *b, const char *name, const char *id, uint64_t ts, json_t *dup,
		     char tmpdir[PATH_MAX])
{
	struct reply out = {.fd = -1};
	struct rfile file;
	json_t *meta = entry_prepare(PL, name, id, ts, 0, tmpdir, &file);
	int rc = results_commit(b, tmpdir, meta, &file, 1, dup, &out);

	json_decref(meta);
	reply_clear(&out);
	return rc;
}

/* An upload's entries are journaled in one write at the end: until then none is in
 * the index, each id is claimed, and a failed write or an upload that never ends
 * leaves nothing of them behind. */
static void test_journal_batch(void)
{
	char a[HIO_ID_LEN + 1], b[HIO_ID_LEN + 1], c[HIO_ID_LEN + 1], tmp[3][PATH_MAX];
	struct reply out = {.fd = -1};
	json_t *stored = json_array(), *dup = json_array();
	struct rbatch *bt;
	struct master *m;
	struct pipeline *pl;
	size_t lines;
	int fd;

	fresh_dir();
	m = master_open();
	snprintf(a, sizeof(a), "%s", mid(0xb1));
	snprintf(b, sizeof(b), "%s", mid(0xb2));
	snprintf(c, sizeof(c), "%s", mid(0xb3));
	CHECK(commit(m, PL, "before", c, 1, 0) == 0);
	lines = journal_line_count();

	/* Two entries and the first one again. */
	bt = rbatch_new(m);
	CHECK(bt != NULL);
	CHECK(batch_add(bt, "p", a, 5, dup, tmp[0]) == 0);
	CHECK(batch_add(bt, "q", b, 6, dup, tmp[1]) == 0);
	CHECK(batch_add(bt, "p", a, 7, dup, tmp[2]) == 0);
	CHECK(json_array_size(dup) == 1 &&
	      strcmp(json_string_value(json_array_get(dup, 0)), a) == 0);
	CHECK(!path_exists(tmp[0]) && !path_exists(tmp[1]) && !path_exists(tmp[2]));
	CHECK(id_state(m, a) == IDR_STORING && id_state(m, b) == IDR_STORING);
	CHECK(strcmp(kept_id(m, PL, "p", NULL), "") == 0);
	CHECK(journal_line_count() == lines);
	CHECK(results_flush(bt, stored, &out) == 0);
	CHECK(json_array_size(stored) == 2);
	CHECK(journal_line_count() == lines + 2);
	CHECK(strcmp(kept_id(m, PL, "p", NULL), a) == 0 &&
	      strcmp(kept_id(m, PL, "q", NULL), b) == 0);
	CHECK(id_state(m, a) == IDR_DONE && result_dir_exists(a) && result_dir_exists(b));
	CHECK(results_flush(bt, stored, &out) == 0 && json_array_size(stored) == 2); /* empty */
	rbatch_free(bt);

	/* The journal write fails: none of the batch is stored, its ids are free. */
	snprintf(a, sizeof(a), "%s", mid(0xc1));
	snprintf(b, sizeof(b), "%s", mid(0xc2));
	bt = rbatch_new(m);
	CHECK(batch_add(bt, "p", a, 8, dup, tmp[0]) == 0);
	CHECK(batch_add(bt, "r", b, 9, dup, tmp[1]) == 0);
	fd = m->journal_fd;
	m->journal_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* writes fail: EBADF */
	CHECK(m->journal_fd >= 0);
	CHECK(results_flush(bt, stored, &out) == -1 && out.status == 500);
	close(m->journal_fd);
	m->journal_fd = fd;
	reply_clear(&out);
	out = (struct reply){.fd = -1};
	CHECK(json_array_size(stored) == 2 && json_array_size(dup) == 1);
	CHECK(id_state(m, a) == -1 && id_state(m, b) == -1);
	CHECK(!result_dir_exists(a) && !result_dir_exists(b));
	CHECK(strcmp(kept_id(m, PL, "p", NULL), mid(0xb1)) == 0);
	CHECK(strcmp(kept_id(m, PL, "r", NULL), "") == 0);
	rbatch_free(bt);
	/* Retried, they are stored (not duplicates). */
	CHECK(commit(m, PL, "p", a, 8, 0) == 0 && commit(m, PL, "r", b, 9, 0) == 0);
	CHECK(strcmp(kept_id(m, PL, "p", NULL), a) == 0);

	/* An upload that ends without its reply (the PE went away): nothing stays. */
	bt = rbatch_new(m);
	CHECK(batch_add(bt, "s", c, 10, dup, tmp[0]) == 0); /* c is stored: a duplicate */
	CHECK(batch_add(bt, "s", mid(0xd7), 10, dup, tmp[1]) == 0);
	CHECK(json_array_size(dup) == 2);
	rbatch_free(bt);
	CHECK(id_state(m, mid(0xd7)) == -1 && !result_dir_exists(mid(0xd7)));
	lines = journal_line_count();
	m = master_restart(m);
	CHECK(journal_line_count() == lines);
	CHECK(strcmp(kept_id(m, PL, "p", NULL), a) == 0 &&
	      strcmp(kept_id(m, PL, "q", NULL), mid(0xb2)) == 0);
	CHECK(strcmp(kept_id(m, PL, "s", NULL), "") == 0);
	pl = find_pl(m, PL);
	CHECK(pl && pl->n_done == 5 && pl->n_in == 5);

	/* A line longer than the first try's buffer (a long error) is journaled whole. */
	{
		char tmpdir[PATH_MAX], longerr[3001];
		struct rfile file;
		json_t *meta = entry_prepare(PL, "long", mid(0xe1), 11, 1, tmpdir, &file);

		memset(longerr, 'e', sizeof(longerr) - 1);
		longerr[sizeof(longerr) - 1] = '\0';
		json_object_set_new(meta, "error", json_string(longerr));
		bt = rbatch_new(m);
		CHECK(results_commit(bt, tmpdir, meta, &file, 1, dup, &out) == 0);
		CHECK(results_flush(bt, stored, &out) == 0 && json_array_size(stored) == 3);
		rbatch_free(bt);
		json_decref(meta);
		m = master_restart(m);
		pl = find_pl(m, PL);
		pthread_mutex_lock(&m->lock);
		{
			struct result *r = pl ? hio_hmap_get(&pl->results, "long") : NULL;

			CHECK(r && r->failed && r->error && strcmp(r->error, longerr) == 0);
		}
		pthread_mutex_unlock(&m->lock);
	}
	json_decref(stored);
	json_decref(dup);
	cleanup(m);
}

int main(void)
{
	hio_log_init("test_master_journal");
	hio_log_set_level(HIO_LOG_ERROR);
	test_journal_reload();
	test_journal_last_ts_wins();
	test_journal_duplicate();
	test_journal_torn_line();
	test_entry_without_files();
	test_journal_batch();
	return check_result("test_master_journal");
}
