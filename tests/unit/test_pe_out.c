/* What the PE takes from an analysis's output (SPEC "Security": the PE uploads nothing
 * from outside HIO_OUTPUT). A file is pinned to its inode when the command ends; the
 * upload reads it only if it is still that inode, with one link and the same size, and
 * never through a symbolic link. An analysis that leaves a hard link or a symbolic link
 * to a file outside, or swaps a result for one after the check (a resident analysis
 * runs on), gets its message failed and nothing of the outside file read. A hard link
 * to the message's own input is fine. */
#include "check.h"
#include "hio_util.h"
#include "pe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(hio_write_all(fd, text, strlen(text)) == 0);
		close(fd);
	}
}

static const char *at(const char *rel)
{
	static char p[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", top, rel);
	return p[k];
}

/* The bytes the upload would read of o's file i, or "" when it refuses; why gets the
 * reason. */
static const char *upload_reads(hio_pe_out *o, size_t i, char *why, size_t whylen)
{
	static char buf[256];
	ssize_t n;
	int fd = pe_rfile_open(&o->files[i], why, whylen);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

int main(void)
{
	char why[320];
	hio_pe_out o;

	snprintf(top, sizeof(top), "/tmp/hio-test-pe-out.XXXXXX");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	put("secret", "the cluster token");

	/* An untouched file is read as it was left. */
	put("a", "result a");
	pe_out_init(&o, NULL);
	CHECK(hio_pe_out_add_file(&o, "a", at("a")) == 0);
	CHECK(strcmp(upload_reads(&o, 0, why, sizeof(why)), "result a") == 0);

	/* Swapped after the check: renamed over by another file, by a symbolic link to the
	 * secret, or hard-linked to from elsewhere: refused, the secret never read. */
	put("b", "other bytes");
	CHECK(rename(at("b"), at("a")) == 0);
	CHECK(strcmp(upload_reads(&o, 0, why, sizeof(why)), "") == 0);
	CHECK(strstr(why, "replaced") != NULL);
	pe_out_free(&o);

	put("c", "result c");
	pe_out_init(&o, NULL);
	CHECK(hio_pe_out_add_file(&o, "c", at("c")) == 0);
	CHECK(unlink(at("c")) == 0 && symlink(at("secret"), at("c")) == 0);
	CHECK(strcmp(upload_reads(&o, 0, why, sizeof(why)), "") == 0);
	pe_out_free(&o);

	put("d", "result d");
	pe_out_init(&o, NULL);
	CHECK(hio_pe_out_add_file(&o, "d", at("d")) == 0);
	CHECK(link(at("d"), at("d2")) == 0);
	CHECK(strcmp(upload_reads(&o, 0, why, sizeof(why)), "") == 0);
	CHECK(unlink(at("d2")) == 0);
	/* Written on after the check (same inode, new size): refused too. */
	put("d", "result d, and more");
	CHECK(strcmp(upload_reads(&o, 0, why, sizeof(why)), "") == 0);
	pe_out_free(&o);

	/* Offered as results: a hard link or a symbolic link to the secret is refused. */
	CHECK(link(at("secret"), at("hl")) == 0);
	CHECK(symlink(at("secret"), at("sl")) == 0);
	pe_out_init(&o, NULL);
	CHECK(hio_pe_out_add_file(&o, "hl", at("hl")) < 0);
	CHECK(hio_pe_out_add_file(&o, "sl", at("sl")) < 0);
	CHECK(o.n == 0);
	pe_out_free(&o);

	/* An output directory as an exec analysis leaves it: a hard link fails the message
	 * and says why; a symbolic link too; plain nested files are taken. */
	CHECK(mkdir(at("out"), 0700) == 0 && mkdir(at("out/sub"), 0700) == 0);
	put("out/sub/x", "x");
	put("stdout", "");
	pe_out_init(&o, NULL);
	pe_out_collect(&o, at("out"), at("stdout"), NULL);
	CHECK(!o.failed && o.n == 1 && strcmp(o.files[0].name, "sub/x") == 0);
	pe_out_free(&o);

	CHECK(link(at("secret"), at("out/leak")) == 0);
	pe_out_init(&o, NULL);
	pe_out_collect(&o, at("out"), at("stdout"), NULL);
	CHECK(o.failed && o.error && strstr(o.error, "links") != NULL);
	pe_out_free(&o);
	CHECK(unlink(at("out/leak")) == 0);

	/* A hard link to the message's own input is a result like any file (an analysis
	 * that keeps its input beside the result), and is read at the upload. */
	put("input", "the input's bytes");
	CHECK(link(at("input"), at("out/kept")) == 0);
	pe_out_init(&o, NULL);
	pe_out_collect(&o, at("out"), at("stdout"), at("input"));
	CHECK(!o.failed && o.n == 2);
	for (size_t i = 0; i < o.n; i++)
		if (strcmp(o.files[i].name, "kept") == 0)
			CHECK(strcmp(upload_reads(&o, i, why, sizeof(why)), "the input's bytes") ==
			      0);
	pe_out_free(&o);
	/* ... but not when the PE is told another input: then it is any outside file. */
	pe_out_init(&o, NULL);
	pe_out_collect(&o, at("out"), at("stdout"), at("secret"));
	CHECK(o.failed && o.error && strstr(o.error, "links") != NULL);
	pe_out_free(&o);
	CHECK(unlink(at("out/kept")) == 0);

	CHECK(symlink(at("secret"), at("out/sub/leak")) == 0);
	pe_out_init(&o, NULL);
	pe_out_collect(&o, at("out"), at("stdout"), NULL);
	CHECK(o.failed && o.error && strstr(o.error, "symlink") != NULL);
	pe_out_free(&o);

	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		CHECK(system(cmd) == 0);
	}
	return check_result("test_pe_out");
}
