/* fs-errno DIR: runs a fixed sequence of filesystem operations inside DIR (an empty
 * directory) and prints one line per operation, "<label>: ok" or "<label>: <ERRNO>", plus
 * lines of observed values (sizes, contents, modes, times, listings). The output depends
 * only on the filesystem's semantics, never on timing, so the output on hio-fs can be
 * diffed against the output on tmpfs. Lines whose label starts with "x-" are expected to
 * differ on hio-fs by design (hard links) or are informational; the comparison skips them.
 * Only libc; exit 0 when the sequence ran, 2 when DIR is unusable. */
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

static const struct {
	int e;
	const char *name;
} errnames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
    {ETXTBSY, "ETXTBSY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {ENODATA, "ENODATA"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {EOVERFLOW, "EOVERFLOW"},
    {EBADFD, "EBADFD"},
    {ENOTCONN, "ENOTCONN"},
    {ESTALE, "ESTALE"},
    {EDQUOT, "EDQUOT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNABORTED, "ECONNABORTED"},
    {ENOMEDIUM, "ENOMEDIUM"},
    {ECANCELED, "ECANCELED"},
    {ENOTRECOVERABLE, "ENOTRECOVERABLE"},
};

static const char *errname(int e)
{
	static char buf[32];

	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].e == e)
			return errnames[i].name;
	snprintf(buf, sizeof(buf), "errno-%d", e);
	return buf;
}

/* The running section: labels print as "<section>/<label>", except "x-" labels. */
static const char *section;

static void print_label(const char *label)
{
	if (section && strncmp(label, "x-", 2) != 0)
		printf("%s/", section);
	printf("%s: ", label);
}

/* res(label, rc): "label: ok" when rc >= 0, else the name of errno. Reads errno first. */
static void res(const char *label, long rc)
{
	int e = errno;

	print_label(label);
	printf("%s\n", rc < 0 ? errname(e) : "ok");
}

__attribute__((format(printf, 2, 3))) static void say(const char *label, const char *fmt, ...)
{
	va_list ap;

	print_label(label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Creates or truncates path and writes data; one line for the whole step. */
static void put(const char *label, const char *path, const char *data)
{
	size_t len = strlen(data);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0666);

	if (fd < 0) {
		res(label, -1);
		return;
	}
	if (write(fd, data, len) != (ssize_t)len) {
		res(label, -1);
		close(fd);
		return;
	}
	res(label, close(fd));
}

/* Small contents verbatim (escaped); larger ones as runs of data (d) and zero bytes (z). */
static void show_bytes(const char *label, const unsigned char *p, size_t n)
{
	char out[600];
	size_t o = 0;

	if (n <= 64) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "\"");
		for (size_t i = 0; i < n; i++) {
			if (p[i] == 0)
				o += (size_t)snprintf(out + o, sizeof(out) - o, "\\0");
			else if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
				o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", p[i]);
			else
				out[o++] = (char)p[i];
		}
		snprintf(out + o, sizeof(out) - o, "\"");
	} else {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "runs");
		for (size_t i = 0; i < n && o < sizeof(out) - 40;) {
			int zero = p[i] == 0;
			size_t j = i;

			while (j < n && (p[j] == 0) == zero)
				j++;
			o += (size_t)snprintf(out + o, sizeof(out) - o, " %c%zu", zero ? 'z' : 'd',
					      j - i);
			i = j;
		}
	}
	say(label, "size=%zu %s", n, out);
}

/* Reads everything from fd starting at offset 0 and shows it. */
static void show_fd(const char *label, int fd)
{
	size_t cap = 1 << 20, n = 0;
	unsigned char *buf = malloc(cap);
	ssize_t r;

	if (!buf) {
		say(label, "out of memory");
		return;
	}
	while (n < cap && (r = pread(fd, buf + n, cap - n, (off_t)n)) > 0)
		n += (size_t)r;
	if (r < 0)
		res(label, -1);
	else
		show_bytes(label, buf, n);
	free(buf);
}

static void show(const char *label, const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		res(label, -1);
		return;
	}
	show_fd(label, fd);
	close(fd);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "reg";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "lnk";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "sock";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	}
	return "?";
}

/* Type and permission bits (stat, or lstat with nofollow). */
static void show_mode(const char *label, const char *path, int nofollow)
{
	struct stat st;

	if (fstatat(AT_FDCWD, path, &st, nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0)
		res(label, -1);
	else
		say(label, "type=%s mode=%04o", type_name(st.st_mode), st.st_mode & 07777);
}

static void show_size(const char *label, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		res(label, -1);
	else
		say(label, "size=%lld", (long long)st.st_size);
}

static void show_times(const char *label, const char *path, int nofollow)
{
	struct stat st;

	if (fstatat(AT_FDCWD, path, &st, nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0)
		res(label, -1);
	else
		say(label, "atime=%lld.%09ld mtime=%lld.%09ld", (long long)st.st_atim.tv_sec,
		    st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

/* The fixed "old" time that *-updates-mtime checks start from. */
#define OLD_SEC 1000000000

static int old_mtime_set;

static void set_old_mtime(const char *label, const char *path)
{
	struct timespec ts[2] = {{OLD_SEC, 0}, {OLD_SEC, 0}};
	int rc = utimensat(AT_FDCWD, path, ts, 0);

	old_mtime_set = rc == 0;
	res(label, rc);
}

/* Whether path's mtime moved away from OLD_SEC (set by set_old_mtime) -- no clocks read. */
static void mtime_moved(const char *label, const char *path)
{
	struct stat st;

	if (!old_mtime_set)
		say(label, "unknown (could not set the old mtime)");
	else if (stat(path, &st) < 0)
		res(label, -1);
	else
		say(label, "%s",
		    st.st_mtim.tv_sec == OLD_SEC && st.st_mtim.tv_nsec == 0 ? "no" : "yes");
}

struct dent {
	char name[256];
	char dtype;
	char ltype;
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static char dtype_char(unsigned char t)
{
	switch (t) {
	case DT_REG:
		return 'f';
	case DT_DIR:
		return 'd';
	case DT_LNK:
		return 'l';
	case DT_FIFO:
		return 'p';
	case DT_UNKNOWN:
		return '?';
	}
	return 'o';
}

static char mode_char(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return 'f';
	case S_IFDIR:
		return 'd';
	case S_IFLNK:
		return 'l';
	case S_IFIFO:
		return 'p';
	}
	return 'o';
}

/* Three lines: sorted names (with "." and ".."), the d_type of each, the lstat type of
 * each. */
static void list_dir(const char *label, const char *path)
{
	struct dent ents[64];
	size_t n = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	char line[4096], lbl[128];
	size_t o;

	if (!d) {
		res(label, -1);
		return;
	}
	errno = 0;
	while ((e = readdir(d)) && n < sizeof(ents) / sizeof(ents[0])) {
		struct stat st;

		snprintf(ents[n].name, sizeof(ents[n].name), "%s", e->d_name);
		ents[n].dtype = dtype_char(e->d_type);
		ents[n].ltype = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
				    ? '!'
				    : mode_char(st.st_mode);
		n++;
	}
	if (errno) {
		res(label, -1);
		closedir(d);
		return;
	}
	closedir(d);
	qsort(ents, n, sizeof(ents[0]), dent_cmp);
	o = 0;
	line[0] = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s", i ? " " : "",
				      ents[i].name);
	say(label, "%s", line);
	o = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s=%c", i ? " " : "",
				      ents[i].name, ents[i].dtype);
	snprintf(lbl, sizeof(lbl), "%s-dtype", label);
	say(lbl, "%s", line);
	o = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s=%c", i ? " " : "",
				      ents[i].name, ents[i].ltype);
	snprintf(lbl, sizeof(lbl), "%s-lstat", label);
	say(lbl, "%s", line);
}

/* Each section runs in its own subdirectory of DIR. */
static int enter(const char *name)
{
	char lbl[64];

	snprintf(lbl, sizeof(lbl), "section-%s", name);
	section = NULL;
	if (mkdir(name, 0755) < 0 || chdir(name) < 0) {
		res(lbl, -1);
		return -1;
	}
	section = name;
	return 0;
}

static void leave(void)
{
	section = NULL;
	if (chdir("..") < 0) {
		perror("fs-errno: chdir ..");
		exit(2);
	}
}

static void t_open(void)
{
	char n255[256], n256[257], p[300];
	char buf[8];
	int fd;

	if (enter("open") < 0)
		return;
	res("mkdir-d", mkdir("d", 0755));
	put("create-f", "f", "hello");
	show_mode("mode-created-file", "f", 0);
	show_mode("mode-created-dir", "d", 0);
	fd = open("f600", O_CREAT | O_EXCL | O_WRONLY, 0600);
	res("create-0600", fd);
	if (fd >= 0)
		close(fd);
	show_mode("mode-created-0600", "f600", 0);
	res("mkdir-0700", mkdir("d700", 0700));
	show_mode("mode-mkdir-0700", "d700", 0);

	res("open-excl-existing", open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	res("open-excl-existing-dir", open("d", O_CREAT | O_EXCL | O_WRONLY, 0644));
	res("open-missing", open("missing", O_RDONLY));
	res("open-missing-wronly", open("missing", O_WRONLY));
	res("open-dir-wronly", open("d", O_WRONLY));
	res("open-dir-rdwr", open("d", O_RDWR));
	fd = open("d", O_RDONLY);
	res("open-dir-rdonly", fd);
	if (fd >= 0) {
		res("read-dir-fd", read(fd, buf, sizeof(buf)));
		close(fd);
	}
	res("open-creat-dir", open("d", O_CREAT | O_WRONLY, 0644));
	res("open-directory-on-file", open("f", O_RDONLY | O_DIRECTORY));
	res("open-trailing-slash-file", open("f/", O_RDONLY));
	res("open-creat-trailing-slash", open("new/", O_CREAT | O_WRONLY, 0644));
	fd = open("f", O_CREAT | O_WRONLY, 0644);
	res("open-creat-existing", fd);
	if (fd >= 0)
		close(fd);
	show("content-after-creat-existing", "f");
	res("open-creat-missing-parent", open("nodir/x", O_CREAT | O_WRONLY, 0644));
	res("open-creat-under-file", open("f/x", O_CREAT | O_WRONLY, 0644));
	res("open-under-file", open("f/x", O_RDONLY));
	res("stat-under-file", access("f/x", F_OK));
	res("stat-missing", access("missing", F_OK));
	res("stat-missing-parent", access("nodir/x", F_OK));

	memset(n255, 'n', 255);
	n255[255] = 0;
	memset(n256, 'n', 256);
	n256[256] = 0;
	fd = open(n255, O_CREAT | O_WRONLY, 0644);
	res("open-creat-name-255", fd);
	if (fd >= 0)
		close(fd);
	res("stat-name-255", access(n255, F_OK));
	res("open-creat-name-256", open(n256, O_CREAT | O_WRONLY, 0644));
	res("open-name-256", open(n256, O_RDONLY));
	res("stat-name-256", access(n256, F_OK));
	res("mkdir-name-256", mkdir(n256, 0755));
	snprintf(p, sizeof(p), "d/%s", n256);
	res("open-creat-name-256-in-subdir", open(p, O_CREAT | O_WRONLY, 0644));
	snprintf(p, sizeof(p), "%s/x", n256);
	res("stat-component-256", access(p, F_OK));

	put("create-tr", "tr", "0123456789");
	fd = open("tr", O_WRONLY | O_TRUNC);
	res("open-trunc", fd);
	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) < 0)
			res("size-after-otrunc-fstat", -1);
		else
			say("size-after-otrunc-fstat", "%lld", (long long)st.st_size);
		res("read-wronly-fd", read(fd, buf, sizeof(buf)));
		close(fd);
	}
	show_size("size-after-otrunc", "tr");
	fd = open("f", O_RDONLY);
	if (fd >= 0) {
		res("write-rdonly-fd", write(fd, "x", 1));
		close(fd);
	}
	fd = open("f", O_RDWR);
	res("open-rdwr", fd);
	if (fd >= 0) {
		res("write-rdwr", write(fd, "J", 1));
		res("fsync", fsync(fd));
		res("fdatasync", fdatasync(fd));
		close(fd);
	}
	show("content-after-rdwr-write", "f");
	fd = open("d", O_RDONLY | O_DIRECTORY);
	res("open-directory", fd);
	if (fd >= 0) {
		res("fsync-dir", fsync(fd));
		close(fd);
	}
	leave();
}

static void t_dirs(void)
{
	if (enter("dirs") < 0)
		return;
	res("mkdir-d", mkdir("d", 0755));
	put("create-f", "f", "f");
	res("mkdir-existing-dir", mkdir("d", 0755));
	res("mkdir-existing-file", mkdir("f", 0755));
	res("mkdir-missing-parent", mkdir("nodir/x", 0755));
	res("mkdir-under-file", mkdir("f/x", 0755));
	res("mkdir-trailing-slash", mkdir("t/", 0755));
	res("stat-trailing-slash-dir", access("t/", F_OK));

	res("mkdir-ne", mkdir("ne", 0755));
	put("create-ne-x", "ne/x", "x");
	res("rmdir-nonempty", rmdir("ne"));
	res("mkdir-ne2", mkdir("ne2", 0755));
	res("mkdir-ne2-sub", mkdir("ne2/sub", 0755));
	res("rmdir-nonempty-subdir", rmdir("ne2"));
	res("rmdir-file", rmdir("f"));
	res("rmdir-missing", rmdir("missing"));
	res("rmdir-under-file", rmdir("f/x"));
	res("mkdir-e", mkdir("e", 0755));
	res("rmdir-empty", rmdir("e"));
	res("stat-removed-dir", access("e", F_OK));
	res("rmdir-emptied", (unlink("ne/x"), rmdir("ne")));

	res("unlink-dir", unlink("d"));
	res("unlink-missing", unlink("missing"));
	res("unlink-under-file", unlink("f/x"));
	res("unlink-missing-parent", unlink("nodir/x"));
	put("create-g", "g", "g");
	res("unlink-file", unlink("g"));
	res("stat-unlinked", access("g", F_OK));
	res("unlink-again", unlink("g"));
	list_dir("listing-dirs", ".");
	leave();
}

static void t_rename(void)
{
	char n256[257];

	if (enter("rename") < 0)
		return;
	res("mkdir-rd", mkdir("rd", 0755));
	put("create-rd-in", "rd/in", "rd");
	res("mkdir-rd-sub", mkdir("rd/sub", 0755));
	put("create-rf", "rf", "rf");
	res("mkdir-red", mkdir("red", 0755));
	res("mkdir-rne", mkdir("rne", 0755));
	put("create-rne-keep", "rne/keep", "keep");

	res("rename-file-over-dir", rename("rf", "red"));
	res("rename-dir-over-file", rename("rd", "rf"));
	res("rename-dir-over-nonempty-dir", rename("rd", "rne"));
	res("rename-dir-into-own-subdir", rename("rd", "rd/sub/x"));
	res("rename-dir-onto-own-subdir", rename("rd", "rd/sub"));
	res("rename-subdir-over-parent", rename("rd/sub", "rd"));
	res("rename-missing-source", rename("missing", "x"));
	res("rename-missing-source-over-file", rename("missing", "rf"));
	res("rename-missing-target-parent", rename("rf", "nodir/x"));
	res("rename-target-under-file", rename("rf", "rf/x"));
	res("rename-file-trailing-slash", rename("rf", "rg/"));
	res("rename-same-name", rename("rf", "rf"));
	show("content-after-rename-same", "rf");
	memset(n256, 'n', 256);
	n256[256] = 0;
	res("rename-to-name-256", rename("rf", n256));
	res("rename-from-name-256", rename(n256, "rx"));

	res("rename-dir-over-empty-dir", rename("rd", "red"));
	res("stat-old-dir-after-rename", access("rd", F_OK));
	show("content-moved-dir-file", "red/in");
	show_mode("mode-moved-dir-sub", "red/sub", 0);

	put("create-ra", "ra", "A");
	put("create-rb", "rb", "B");
	res("rename-file-over-file", rename("ra", "rb"));
	show("content-target-after-overwrite", "rb");
	res("stat-source-after-overwrite", access("ra", F_OK));
	res("rename-file-new-name", rename("rb", "rc"));
	show("content-renamed", "rc");
	res("rename-file-other-dir", rename("rc", "red/rc"));
	show("content-renamed-other-dir", "red/rc");
	res("rename-dir-with-contents", rename("red", "rne/moved"));
	list_dir("listing-moved-dir", "rne/moved");
	res("rename-dir-over-empty-dir-other-parent", (mkdir("ed", 0755), rename("ed", "rne/e2")));

	put("create-na", "na", "na");
	put("create-nb", "nb", "nb");
	res("renameat2-noreplace-existing",
	    renameat2(AT_FDCWD, "na", AT_FDCWD, "nb", RENAME_NOREPLACE));
	show("content-na-after-noreplace", "na");
	show("content-nb-after-noreplace", "nb");
	res("renameat2-noreplace-existing-dir",
	    renameat2(AT_FDCWD, "na", AT_FDCWD, "rne", RENAME_NOREPLACE));
	res("renameat2-noreplace-new", renameat2(AT_FDCWD, "na", AT_FDCWD, "nc", RENAME_NOREPLACE));
	show("content-after-noreplace-new", "nc");
	res("stat-source-after-noreplace-new", access("na", F_OK));

	put("create-xa", "xa", "xa");
	put("create-xb", "xb", "xb");
	res("renameat2-exchange", renameat2(AT_FDCWD, "xa", AT_FDCWD, "xb", RENAME_EXCHANGE));
	show("content-xa-after-exchange", "xa");
	show("content-xb-after-exchange", "xb");
	res("renameat2-exchange-missing-target",
	    renameat2(AT_FDCWD, "xa", AT_FDCWD, "xmissing", RENAME_EXCHANGE));
	res("renameat2-exchange-missing-source",
	    renameat2(AT_FDCWD, "xmissing", AT_FDCWD, "xa", RENAME_EXCHANGE));
	res("mkdir-xd", mkdir("xd", 0755));
	put("create-xd-inner", "xd/inner", "inner");
	res("renameat2-exchange-file-dir",
	    renameat2(AT_FDCWD, "xa", AT_FDCWD, "xd", RENAME_EXCHANGE));
	show_mode("mode-xa-after-exchange", "xa", 0);
	show("content-xa-inner-after-exchange", "xa/inner");
	show("content-xd-after-exchange", "xd");
	res("renameat2-exchange-noreplace",
	    renameat2(AT_FDCWD, "xa", AT_FDCWD, "xb", RENAME_EXCHANGE | RENAME_NOREPLACE));
	list_dir("listing-rename", ".");
	leave();
}

static void t_truncate(void)
{
	int fd;

	if (enter("truncate") < 0)
		return;
	put("create-t", "t", "abcdefghij");
	res("truncate-grow", truncate("t", 100));
	show_size("size-after-grow", "t");
	show("content-after-grow", "t");
	res("truncate-shrink", truncate("t", 3));
	show_size("size-after-shrink", "t");
	show("content-after-shrink", "t");
	res("truncate-regrow", truncate("t", 8));
	show("content-after-regrow", "t");
	res("truncate-same", truncate("t", 8));
	res("truncate-zero", truncate("t", 0));
	show_size("size-after-zero", "t");
	res("truncate-negative", truncate("t", -1));
	res("truncate-dir", (mkdir("d", 0755), truncate("d", 0)));
	res("truncate-missing", truncate("missing", 0));
	res("truncate-missing-creates-nothing", access("missing", F_OK));

	put("create-u", "u", "0123456789");
	fd = open("u", O_RDWR);
	res("open-u-rdwr", fd);
	if (fd >= 0) {
		struct stat st;

		res("ftruncate-grow", ftruncate(fd, 50));
		if (fstat(fd, &st) < 0)
			res("fstat-size-after-ftruncate", -1);
		else
			say("fstat-size-after-ftruncate", "%lld", (long long)st.st_size);
		show_size("size-after-ftruncate", "u");
		res("ftruncate-shrink", ftruncate(fd, 2));
		res("write-after-ftruncate", write(fd, "Z", 1));
		res("ftruncate-negative", ftruncate(fd, -1));
		close(fd);
	}
	show("content-after-ftruncate", "u");
	fd = open("u", O_RDONLY);
	if (fd >= 0) {
		res("ftruncate-rdonly-fd", ftruncate(fd, 0));
		close(fd);
	}
	show_size("size-after-ftruncate-rdonly", "u");

	/* Truncate while another handle writes: both views agree. */
	fd = open("u", O_WRONLY);
	if (fd >= 0) {
		res("pwrite-before-truncate", pwrite(fd, "wxyz", 4, 0));
		res("truncate-while-open", truncate("u", 1));
		res("pwrite-after-truncate", pwrite(fd, "!", 1, 4));
		close(fd);
	}
	show("content-truncate-while-open", "u");
	leave();
}

static void t_sparse(void)
{
	int fd;

	if (enter("sparse") < 0)
		return;
	fd = open("s", O_CREAT | O_WRONLY | O_EXCL, 0644);
	res("create-s", fd);
	if (fd >= 0) {
		res("pwrite-beyond-eof", pwrite(fd, "X", 1, 16384));
		res("pwrite-head", pwrite(fd, "head", 4, 0));
		close(fd);
	}
	show_size("size-sparse", "s");
	show("content-sparse", "s");
	fd = open("s", O_WRONLY);
	if (fd >= 0) {
		res("lseek-beyond-eof", lseek(fd, 100000, SEEK_SET));
		res("write-after-lseek", write(fd, "Y", 1));
		close(fd);
	}
	show_size("size-after-lseek-write", "s");
	show("content-after-lseek-write", "s");
	fd = open("s", O_RDONLY);
	if (fd >= 0) {
		char buf[4];

		say("read-at-eof", "%zd", pread(fd, buf, sizeof(buf), 100001));
		say("read-past-eof", "%zd", pread(fd, buf, sizeof(buf), 200000));
		say("lseek-end", "%lld", (long long)lseek(fd, 0, SEEK_END));
		close(fd);
	}
	leave();
}

static void t_append(void)
{
	int fd, fd2;

	if (enter("append") < 0)
		return;
	put("create-a", "a", "abc");
	fd = open("a", O_WRONLY | O_APPEND);
	res("open-append", fd);
	if (fd >= 0) {
		res("write-append", write(fd, "def", 3));
		say("offset-after-append", "%lld", (long long)lseek(fd, 0, SEEK_CUR));
		res("pwrite-append-at-0", pwrite(fd, "gh", 2, 0));
		res("lseek-append-start", lseek(fd, 0, SEEK_SET));
		res("write-append-after-lseek", write(fd, "ij", 2));
		close(fd);
	}
	show("content-append", "a");
	fd = open("a", O_WRONLY | O_APPEND);
	fd2 = open("a", O_WRONLY | O_APPEND);
	if (fd >= 0 && fd2 >= 0) {
		res("append-two-fds-1", write(fd, "1", 1));
		res("append-two-fds-2", write(fd2, "2", 1));
		res("append-two-fds-3", write(fd, "3", 1));
	}
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	show("content-append-two-fds", "a");
	fd = open("a", O_RDWR | O_APPEND);
	if (fd >= 0) {
		char buf[4] = {0};

		say("read-rdwr-append", "%zd \"%.3s\"", read(fd, buf, 3), buf);
		res("write-rdwr-append", write(fd, "@", 1));
		close(fd);
	}
	show("content-append-rdwr", "a");
	fd = open("b", O_CREAT | O_WRONLY | O_APPEND | O_EXCL, 0644);
	res("create-append", fd);
	if (fd >= 0) {
		res("write-create-append", write(fd, "new", 3));
		close(fd);
	}
	show("content-create-append", "b");
	leave();
}

static void t_times(void)
{
	struct timespec ts[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
	struct timespec omit[2] = {{0, UTIME_OMIT}, {1600000000, 500000000}};
	struct timespec lnk[2] = {{1100000000, 1}, {1200000000, 2}};
	struct timespec dts[2] = {{1234567890, 1}, {1234567891, 999999999}};
	int fd;

	if (enter("times") < 0)
		return;
	put("create-tm", "tm", "x");
	res("utimensat", utimensat(AT_FDCWD, "tm", ts, 0));
	show_times("times-after-utimensat", "tm", 0);
	res("utimensat-omit-atime", utimensat(AT_FDCWD, "tm", omit, 0));
	show_times("times-after-omit", "tm", 0);
	fd = open("tm", O_RDONLY);
	if (fd >= 0) {
		struct timespec fts[2] = {{1300000000, 0}, {1400000000, 0}};

		res("futimens", futimens(fd, fts));
		close(fd);
	}
	show_times("times-after-futimens", "tm", 0);
	res("utimensat-missing", utimensat(AT_FDCWD, "missing", ts, 0));
	res("mkdir-td", mkdir("td", 0755));
	res("utimensat-dir", utimensat(AT_FDCWD, "td", dts, 0));
	show_times("times-dir", "td", 0);
	res("symlink-tml", symlink("tm", "tml"));
	res("utimensat-nofollow", utimensat(AT_FDCWD, "tml", lnk, AT_SYMLINK_NOFOLLOW));
	show_times("times-symlink-lstat", "tml", 1);
	show_times("times-target-after-nofollow", "tm", 0);

	set_old_mtime("old-mtime-write", "tm");
	fd = open("tm", O_WRONLY);
	if (fd >= 0) {
		res("write-for-mtime", write(fd, "y", 1));
		close(fd);
	}
	mtime_moved("write-updates-mtime", "tm");
	set_old_mtime("old-mtime-truncate", "tm");
	res("truncate-for-mtime", truncate("tm", 0));
	mtime_moved("truncate-updates-mtime", "tm");
	set_old_mtime("old-mtime-chmod", "tm");
	res("chmod-for-mtime", chmod("tm", 0600));
	mtime_moved("chmod-updates-mtime", "tm");
	set_old_mtime("old-mtime-read", "tm");
	show("read-for-mtime", "tm");
	mtime_moved("read-updates-mtime", "tm");

	set_old_mtime("old-mtime-dir-create", "td");
	put("create-in-dir", "td/a", "a");
	mtime_moved("create-updates-dir-mtime", "td");
	set_old_mtime("old-mtime-dir-rename", "td");
	res("rename-in-dir", rename("td/a", "td/b"));
	mtime_moved("rename-updates-dir-mtime", "td");
	set_old_mtime("old-mtime-dir-unlink", "td");
	res("unlink-in-dir", unlink("td/b"));
	mtime_moved("unlink-updates-dir-mtime", "td");
	set_old_mtime("old-mtime-dir-mkdir", "td");
	res("mkdir-in-dir", mkdir("td/s", 0755));
	mtime_moved("mkdir-updates-dir-mtime", "td");
	leave();
}

static void t_chmod(void)
{
	int fd;

	if (enter("chmod") < 0)
		return;
	put("create-c", "c", "c");
	res("chmod-0640", chmod("c", 0640));
	show_mode("mode-after-chmod-0640", "c", 0);
	res("chmod-0000", chmod("c", 0));
	show_mode("mode-after-chmod-0000", "c", 0);
	res("chmod-04755", chmod("c", 04755));
	show_mode("mode-after-chmod-04755", "c", 0);
	fd = open("c", O_RDONLY);
	if (fd >= 0) {
		res("fchmod-0600", fchmod(fd, 0600));
		close(fd);
	}
	show_mode("mode-after-fchmod", "c", 0);
	/* hio-fs marks evicted inputs with the sticky bit and hides it: informational. */
	res("chmod-sticky-file", chmod("c", 01644));
	show_mode("x-mode-after-chmod-sticky-file", "c", 0);
	show("content-after-chmod-sticky-file", "c");
	res("chmod-0600-again", chmod("c", 0600));
	res("chmod-missing", chmod("missing", 0644));
	res("mkdir-cd", mkdir("cd", 0755));
	res("chmod-dir-0700", chmod("cd", 0700));
	show_mode("mode-dir-after-chmod", "cd", 0);
	res("chmod-dir-01777", chmod("cd", 01777));
	show_mode("mode-dir-after-chmod-sticky", "cd", 0);
	res("symlink-cl", symlink("c", "cl"));
	res("chmod-via-symlink", chmod("cl", 0444));
	show_mode("mode-target-after-chmod-via-symlink", "c", 0);
	show_mode("mode-symlink", "cl", 1);
	res("chown", chown("c", 1000, 1000));
	{
		struct stat st;

		if (stat("c", &st) < 0)
			res("owner-after-chown", -1);
		else
			say("owner-after-chown", "%u:%u", (unsigned)st.st_uid, (unsigned)st.st_gid);
	}
	leave();
}

static void opendir_res(const char *label, const char *path)
{
	DIR *d = opendir(path);

	res(label, d ? 0 : -1);
	if (d)
		closedir(d);
}

static void t_readdir(void)
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
static void t_unlink_open(void)
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

static void t_xattr(void)
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

static void t_symlink(void)
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
static void t_extra(void)
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

int main(int argc, char **argv)
{
	DIR *d;
	struct dirent *e;
	int entries = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: fs-errno DIR (an empty directory)\n");
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "fs-errno: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	d = opendir(".");
	if (!d) {
		fprintf(stderr, "fs-errno: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			entries++;
	closedir(d);
	if (entries) {
		fprintf(stderr, "fs-errno: %s is not empty\n", argv[1]);
		return 2;
	}
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_open();
	t_dirs();
	t_rename();
	t_truncate();
	t_sparse();
	t_append();
	t_times();
	t_chmod();
	t_readdir();
	t_unlink_open();
	t_xattr();
	t_symlink();
	t_extra();
	return 0;
}
