/* fs-errno: readdir, unlink while open, xattrs, symlinks and the rest. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs-errno.h"

static void opendir_res(const char *label, const char *path)
{
	DIR *d = opendir(path);

	res(label, d ? 0 : -1);
	if (d)
		closedir(d);
}

void t_readdir(void)
{
	struct stat st;

	if (enter("readdir") < 0)
		return;
	res("mkdir-r", mkdir("r", 0755));
	put("create-r-b", "r/b", "b");
	put("create-r-a", "r/a", "a");
	put("create-r-c", "r/c", "c");
	res("mkdir-r-y", mkdir("r/y", 0755));
	res("mkdir-r-x", mkdir("r/x", 0755));
	res("symlink-r-l", symlink("a", "r/l"));
	list_dir("readdir", "r");
	if (stat("r", &st) < 0)
		res("nlink-dir", -1);
	else
		say("nlink-dir", "%lu", (unsigned long)st.st_nlink);
	if (stat("r/a", &st) < 0)
		res("nlink-file", -1);
	else
		say("nlink-file", "%lu", (unsigned long)st.st_nlink);
	res("unlink-r-b", unlink("r/b"));
	res("rmdir-r-y", rmdir("r/y"));
	list_dir("readdir-after-remove", "r");
	res("mkdir-empty", mkdir("empty", 0755));
	list_dir("readdir-empty", "empty");
	opendir_res("opendir-file", "r/a");
	opendir_res("opendir-missing", "missing");
	leave();
}

/* A file unlinked while open stays readable and writable through its descriptor, and
 * the directory lists nothing in its place. */
void t_unlink_open(void)
{
	int fd;

	if (enter("unlink-open") < 0)
		return;
	put("create-uo", "uo", "data");
	fd = open("uo", O_RDWR);
	res("open-uo", fd);
	if (fd >= 0) {
		struct stat st;

		res("unlink-open-file", unlink("uo"));
		res("stat-unlinked-open-file", access("uo", F_OK));
		if (fstat(fd, &st) < 0)
			res("fstat-unlinked", -1);
		else
			say("fstat-unlinked", "size=%lld nlink=%lu", (long long)st.st_size,
			    (unsigned long)st.st_nlink);
		show_fd("read-unlinked", fd);
		res("write-unlinked", pwrite(fd, "more", 4, 4));
		show_fd("read-unlinked-after-write", fd);
		list_dir("listing-while-open", ".");
		put("create-same-name", "uo", "new");
		show("content-new-same-name", "uo");
		show_fd("read-old-after-new", fd);
		close(fd);
	}
	list_dir("listing-after-close", ".");

	put("create-ro", "ro", "old");
	fd = open("ro", O_RDONLY);
	if (fd >= 0) {
		put("create-rn", "rn", "replacement");
		res("rename-over-open-file", rename("rn", "ro"));
		show_fd("read-replaced-open-file", fd);
		show("content-after-rename-over-open", "ro");
		list_dir("listing-rename-over-open", ".");
		close(fd);
	}
	leave();
}

static void show_xattr(const char *label, const char *path, const char *name)
{
	char buf[256];
	ssize_t n = getxattr(path, name, buf, sizeof(buf));

	if (n < 0)
		res(label, -1);
	else
		show_bytes(label, (unsigned char *)buf, (size_t)n);
}

static void list_xattrs(const char *label, const char *path)
{
	char buf[4096], out[4096];
	ssize_t n = listxattr(path, buf, sizeof(buf));
	const char *names[64];
	size_t k = 0, o = 0;

	if (n < 0) {
		res(label, -1);
		return;
	}
	/* hio-fs's own user.hio.* attributes are not part of the comparison. */
	for (ssize_t i = 0; i < n && k < 64; i += (ssize_t)strlen(buf + i) + 1)
		if (strncmp(buf + i, "user.hio.", 9) != 0)
			names[k++] = buf + i;
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	out[0] = 0;
	for (size_t i = 0; i < k; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "", names[i]);
	say(label, "%s", k ? out : "(none)");
}

void t_xattr(void)
{
	char small[1];
	ssize_t xn;

	if (enter("xattr") < 0)
		return;
	put("create-xf", "xf", "x");
	list_xattrs("listxattr-fresh", "xf");
	res("getxattr-missing", getxattr("xf", "user.test", small, 0));
	res("setxattr", setxattr("xf", "user.test", "v1", 2, 0));
	show_xattr("getxattr", "xf", "user.test");
	xn = getxattr("xf", "user.test", NULL, 0);
	if (xn < 0)
		res("getxattr-size", -1);
	else
		say("getxattr-size", "%zd", xn);
	res("getxattr-small-buffer", getxattr("xf", "user.test", small, sizeof(small)));
	res("setxattr-create-existing", setxattr("xf", "user.test", "v2", 2, XATTR_CREATE));
	res("setxattr-replace-existing", setxattr("xf", "user.test", "v22", 3, XATTR_REPLACE));
	show_xattr("getxattr-after-replace", "xf", "user.test");
	res("setxattr-replace-missing", setxattr("xf", "user.other", "o", 1, XATTR_REPLACE));
	res("setxattr-create-new", setxattr("xf", "user.other", "o", 1, XATTR_CREATE));
	res("setxattr-empty-value", setxattr("xf", "user.empty", "", 0, 0));
	show_xattr("getxattr-empty-value", "xf", "user.empty");
	list_xattrs("listxattr", "xf");
	res("removexattr", removexattr("xf", "user.test"));
	res("removexattr-again", removexattr("xf", "user.test"));
	res("getxattr-removed", getxattr("xf", "user.test", small, sizeof(small)));
	list_xattrs("listxattr-after-remove", "xf");
	res("getxattr-missing-file", getxattr("missing", "user.test", small, sizeof(small)));
	res("setxattr-missing-file", setxattr("missing", "user.test", "v", 1, 0));
	res("mkdir-xd", mkdir("xd", 0755));
	res("setxattr-dir", setxattr("xd", "user.test", "dir", 3, 0));
	show_xattr("getxattr-dir", "xd", "user.test");
	res("symlink-xl", symlink("xf", "xl"));
	res("lsetxattr-symlink", lsetxattr("xl", "user.test", "l", 1, 0));
	res("setxattr-via-symlink", setxattr("xl", "user.vialink", "t", 1, 0));
	show_xattr("getxattr-target-via-symlink", "xf", "user.vialink");
	res("rename-keeps-xattr", rename("xf", "xg"));
	show_xattr("getxattr-after-rename", "xg", "user.vialink");
	res("setxattr-bad-namespace", setxattr("xg", "bogus.test", "v", 1, 0));
	leave();
}

void t_symlink(void)
{
	char buf[1100], target[1001];
	ssize_t n;
	int fd;

	if (enter("symlink") < 0)
		return;
	put("create-f", "f", "target");
	res("mkdir-d", mkdir("d", 0755));
	res("symlink", symlink("f", "sl"));
	n = readlink("sl", buf, sizeof(buf) - 1);
	if (n < 0)
		res("readlink", -1);
	else
		say("readlink", "\"%.*s\"", (int)n, buf);
	show_mode("lstat-symlink", "sl", 1);
	show_size("stat-via-symlink-size", "sl");
	{
		struct stat st;

		if (lstat("sl", &st) < 0)
			res("lstat-symlink-size", -1);
		else
			say("lstat-symlink-size", "%lld", (long long)st.st_size);
	}
	show("content-via-symlink", "sl");
	res("symlink-existing", symlink("x", "f"));
	res("symlink-existing-symlink", symlink("x", "sl"));
	res("symlink-missing-parent", symlink("x", "nodir/l"));
	res("readlink-file", readlink("f", buf, sizeof(buf)));
	res("readlink-dir", readlink("d", buf, sizeof(buf)));
	res("readlink-missing", readlink("missing", buf, sizeof(buf)));
	n = readlink("sl", buf, 0);
	res("readlink-zero-buffer", n);

	res("symlink-dangling", symlink("nowhere", "dl"));
	res("open-dangling", open("dl", O_RDONLY));
	res("stat-dangling", access("dl", F_OK));
	show_mode("lstat-dangling", "dl", 1);
	res("open-nofollow", open("sl", O_RDONLY | O_NOFOLLOW));
	fd = open("sl", O_RDONLY | O_NOFOLLOW | O_PATH);
	res("open-nofollow-opath", fd);
	if (fd >= 0)
		close(fd);
	res("symlink-loop1", symlink("loop2", "loop1"));
	res("symlink-loop2", symlink("loop1", "loop2"));
	res("stat-loop", access("loop1", F_OK));
	res("open-loop", open("loop1", O_RDONLY));

	memset(target, 'a', 1000);
	for (int i = 1; i < 1000; i += 2)
		target[i] = '/';
	target[1000] = 0;
	res("symlink-long-target", symlink(target, "long"));
	n = readlink("long", buf, sizeof(buf));
	if (n < 0)
		res("readlink-long", -1);
	else
		say("readlink-long", "len=%zd same=%s", n,
		    n == 1000 && !memcmp(buf, target, 1000) ? "yes" : "no");

	res("symlink-dir", symlink("d", "sd"));
	put("create-via-symlink-dir", "sd/via", "via");
	show("content-via-symlink-dir", "d/via");
	res("rmdir-symlink-to-dir", rmdir("sd"));
	res("rmdir-symlink-to-dir-slash", rmdir("sd/"));
	res("unlink-symlink-to-dir", unlink("sd"));
	show_mode("dir-after-symlink-unlink", "d", 0);

	fd = open("dl", O_CREAT | O_WRONLY, 0644);
	res("creat-via-dangling-symlink", fd);
	if (fd >= 0)
		close(fd);
	show_mode("target-created-via-dangling", "nowhere", 1);
	res("creat-excl-via-symlink", open("sl", O_CREAT | O_EXCL | O_WRONLY, 0644));
	res("rename-symlink", rename("sl", "sl2"));
	n = readlink("sl2", buf, sizeof(buf) - 1);
	if (n < 0)
		res("readlink-renamed", -1);
	else
		say("readlink-renamed", "\"%.*s\"", (int)n, buf);
	res("symlink-relative-up", symlink("../f", "d/up"));
	show("content-via-relative-up", "d/up");
	res("symlink-absolute", symlink("/proc/self/cwd/f", "abs"));
	show("content-via-absolute", "abs");
	list_dir("listing-symlink", ".");
	leave();
}

/* Informational lines (x-): differ by design on hio-fs or are not meant to be compared. */
void t_extra(void)
{
	struct stat st;
	int fd;

	if (enter("extra") < 0)
		return;
	put("x-create-f", "f", "f");
	res("x-link", link("f", "hl"));
	if (stat("f", &st) < 0)
		res("x-nlink-after-link", -1);
	else
		say("x-nlink-after-link", "%lu", (unsigned long)st.st_nlink);
	res("x-link-missing", link("missing", "hl2"));
	res("x-mkfifo", mkfifo("fifo", 0644));
	fd = open(".", O_TMPFILE | O_RDWR, 0600);
	res("x-o-tmpfile", fd);
	if (fd >= 0)
		close(fd);
	fd = open("f", O_WRONLY);
	if (fd >= 0) {
		int r = posix_fallocate(fd, 0, 8192);

		errno = r;
		res("x-fallocate", r ? -1 : 0);
		close(fd);
	}
	leave();
}
