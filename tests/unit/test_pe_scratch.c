/* The PE's scratch pool: a directory given back is emptied and handed out again, keeping
 * the exec handler's entries (input/, output/, stdout, the input's inode) and nothing
 * else; beyond the pool's size directories are removed. */
#include "check.h"
#include "hio_util.h"
#include "pe_scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(hio_write_all(fd, text, strlen(text)) == 0);
		close(fd);
	}
}

/* Entries in dir, "." and ".." not counted; -1 when it cannot be read. */
static int entries(const char *dir)
{
	struct dirent *e;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static struct stat st_of(const char *dir, const char *name)
{
	struct stat st;
	char p[PATH_MAX];

	memset(&st, 0, sizeof(st));
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (lstat(p, &st) < 0)
		st.st_ino = 0;
	return st;
}

int main(void)
{
	char work[] = "/tmp/hio-test-scratch-XXXXXX", p[PATH_MAX], *a, *b, *many[200];
	struct pe_scratch *s;
	struct stat in_st;

	CHECK(mkdtemp(work) != NULL);
	s = pe_scratch_new(work);
	CHECK(s != NULL);

	/* A fresh directory is empty and distinct from the next one taken. */
	a = pe_scratch_take(s, NULL);
	b = pe_scratch_take(s, NULL);
	CHECK(a && b && strcmp(a, b) != 0);
	CHECK(entries(a) == 0);

	/* Used the way the exec handler and a command use it. */
	snprintf(p, sizeof(p), "%s/input", a);
	CHECK(mkdir(p, 0700) == 0);
	put_file(p, "t003.tif", "image bytes");
	in_st = st_of(p, "t003.tif");
	snprintf(p, sizeof(p), "%s/output", a);
	CHECK(mkdir(p, 0700) == 0);
	put_file(p, "summary.json", "{}");
	snprintf(p, sizeof(p), "%s/output/sub", a);
	CHECK(mkdir(p, 0700) == 0);
	put_file(p, "deep", "x");
	put_file(a, "stdout", "result line\n");
	put_file(a, "r0", "a big result");

	pe_scratch_put(s, a, 0, 1);
	a = pe_scratch_take(s, NULL);
	CHECK(a != NULL);
	if (a) {
		struct stat body = st_of(a, PE_SCRATCH_BODY);

		/* The same directory again, holding only the kept entries, emptied. */
		CHECK(entries(a) == 4);
		snprintf(p, sizeof(p), "%s/output", a);
		CHECK(entries(p) == 0);
		snprintf(p, sizeof(p), "%s/input", a);
		CHECK(entries(p) == 0);
		CHECK(st_of(a, "stdout").st_size == 0);
		CHECK(st_of(a, "r0").st_ino == 0);
		/* The input's inode is kept for the next input. */
		CHECK(body.st_ino != 0 && body.st_ino == in_st.st_ino);
	}

	/* An input that is a second link (a received file) is not kept as the body: the
	 * body from before stays, the link goes. */
	if (a) {
		char other[PATH_MAX];

		snprintf(other, sizeof(other), "%s/received", work);
		put_file(work, "received", "big body");
		snprintf(p, sizeof(p), "%s/input/x.bin", a);
		CHECK(link(other, p) == 0);
		pe_scratch_put(s, a, 0, 1);
		a = pe_scratch_take(s, NULL);
		CHECK(a != NULL);
		if (a) {
			snprintf(p, sizeof(p), "%s/input", a);
			CHECK(entries(p) == 0);
			CHECK(st_of(a, PE_SCRATCH_BODY).st_ino == in_st.st_ino);
		}
		CHECK(st_of(work, "received").st_nlink == 1);
		unlink(other);
	}

	/* A linked input (the sender's own inode, keep_input 0) is never kept as the body,
	 * even as the last link left: the next input would be written into that file. */
	if (a) {
		char b2[PATH_MAX];

		snprintf(b2, sizeof(b2), "%s/" PE_SCRATCH_BODY, a);
		unlink(b2);
		snprintf(p, sizeof(p), "%s/input", a);
		put_file(p, "sender.bin", "the sender's bytes");
		pe_scratch_put(s, a, 0, 0);
		a = pe_scratch_take(s, NULL);
		CHECK(a != NULL);
		if (a) {
			snprintf(p, sizeof(p), "%s/input", a);
			CHECK(entries(p) == 0);
			CHECK(st_of(a, PE_SCRATCH_BODY).st_ino == 0);
			put_file(a, PE_SCRATCH_BODY, ""); /* as the next case expects */
		}
	}

	/* An input file another user owns (a run-as analysis wrote it: the resident's
	 * inline input) is never kept as the body: it may still be open to that user. */
	if (a && geteuid() == 0) {
		char b2[PATH_MAX];

		snprintf(b2, sizeof(b2), "%s/" PE_SCRATCH_BODY, a);
		CHECK(unlink(b2) == 0);
		snprintf(p, sizeof(p), "%s/input", a);
		put_file(p, "theirs.bin", "the analysis's bytes");
		snprintf(p, sizeof(p), "%s/input/theirs.bin", a);
		CHECK(chown(p, 1500000123, 1500000123) == 0);
		pe_scratch_put(s, a, 0, 1);
		a = pe_scratch_take(s, NULL);
		CHECK(a != NULL);
		if (a) {
			snprintf(p, sizeof(p), "%s/input", a);
			CHECK(entries(p) == 0);
			CHECK(st_of(a, PE_SCRATCH_BODY).st_ino == 0);
		}
	}

	/* A directory a message prepared comes back ready while its input/ and output/
	 * are there; one that lost either, or was not prepared, does not. */
	{
		int ready = -1;
		char *c = pe_scratch_take(s, &ready);

		CHECK(c != NULL);
		if (c) {
			snprintf(p, sizeof(p), "%s/input", c);
			CHECK(mkdir(p, 0700) == 0 || errno == EEXIST);
			snprintf(p, sizeof(p), "%s/output", c);
			CHECK(mkdir(p, 0700) == 0 || errno == EEXIST);
			put_file(p, "r.txt", "result");
			pe_scratch_put(s, c, 1, 1);
			c = pe_scratch_take(s, &ready);
			CHECK(c != NULL && ready == 1);
		}
		if (c) {
			CHECK(entries(p) == 0); /* output/ emptied, kept */
			CHECK(rmdir(p) == 0);	/* an analysis took output/ away */
			put_file(c, "output", "not a directory");
			pe_scratch_put(s, c, 1, 1);
			c = pe_scratch_take(s, &ready);
			CHECK(c != NULL && ready == 0);
			CHECK(c && st_of(c, "output").st_ino == 0); /* the file went */
		}
		if (c) {
			CHECK(mkdir(p, 0700) == 0);
			pe_scratch_put(s, c, 0, 1); /* not prepared by its message */
			c = pe_scratch_take(s, &ready);
			CHECK(c != NULL && ready == 0);
			pe_scratch_put(s, c, 0, 1);
		}
	}

	/* More directories than the pool keeps: the surplus is removed when given back. */
	for (int i = 0; i < 200; i++)
		many[i] = pe_scratch_take(s, NULL);
	for (int i = 0; i < 200; i++) {
		CHECK(many[i] != NULL);
		pe_scratch_put(s, many[i], 0, 1);
	}
	pe_scratch_put(s, a, 0, 1);
	pe_scratch_put(s, b, 0, 1);
	/* 160 kept: the counted entries are the pool's directories alone. */
	CHECK(entries(work) == 160);

	pe_scratch_free(s);
	CHECK(hio_rm_rf(work) == 0);
	return check_result("test_pe_scratch");
}
