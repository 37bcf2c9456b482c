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

int main(void)
{
	hio_log_init("test_master_journal");
	hio_log_set_level(HIO_LOG_ERROR);
	test_journal_reload();
	test_journal_last_ts_wins();
	test_journal_duplicate();
	test_journal_torn_line();
	test_entry_without_files();
	return check_result("test_master_journal");
}
