/* The master's backlog queue (master/backlog.c, backlog_load.c), driven through its own
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

int main(void)
{
	hio_log_init("test_master_store");
	hio_log_set_level(HIO_LOG_ERROR);
	test_backlog_order_lease_requeue();
	test_backlog_push_race();
	test_backlog_result_drops_copy();
	test_backlog_restart();
	return check_result("test_master_store");
}
