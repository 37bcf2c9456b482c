/* fs-errno: the helpers (see fs-errno.c). */
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

const char *errname(int e)
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

void print_label(const char *label)
{
	if (section && strncmp(label, "x-", 2) != 0)
		printf("%s/", section);
	printf("%s: ", label);
}

/* res(label, rc): "label: ok" when rc >= 0, else the name of errno. Reads errno first. */
void res(const char *label, long rc)
{
	int e = errno;

	print_label(label);
	printf("%s\n", rc < 0 ? errname(e) : "ok");
}

void say(const char *label, const char *fmt, ...)
{
	va_list ap;

	print_label(label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Creates or truncates path and writes data; one line for the whole step. */
void put(const char *label, const char *path, const char *data)
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
void show_bytes(const char *label, const unsigned char *p, size_t n)
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
void show_fd(const char *label, int fd)
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

void show(const char *label, const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		res(label, -1);
		return;
	}
	show_fd(label, fd);
	close(fd);
}

const char *type_name(mode_t m)
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
void show_mode(const char *label, const char *path, int nofollow)
{
	struct stat st;

	if (fstatat(AT_FDCWD, path, &st, nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0)
		res(label, -1);
	else
		say(label, "type=%s mode=%04o", type_name(st.st_mode), st.st_mode & 07777);
}

void show_size(const char *label, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		res(label, -1);
	else
		say(label, "size=%lld", (long long)st.st_size);
}

void show_times(const char *label, const char *path, int nofollow)
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

void set_old_mtime(const char *label, const char *path)
{
	struct timespec ts[2] = {{OLD_SEC, 0}, {OLD_SEC, 0}};
	int rc = utimensat(AT_FDCWD, path, ts, 0);

	old_mtime_set = rc == 0;
	res(label, rc);
}

/* Whether path's mtime moved away from OLD_SEC (set by set_old_mtime) -- no clocks read. */
void mtime_moved(const char *label, const char *path)
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

int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

char dtype_char(unsigned char t)
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

char mode_char(mode_t m)
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
void list_dir(const char *label, const char *path)
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
int enter(const char *name)
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

void leave(void)
{
	section = NULL;
	if (chdir("..") < 0) {
		perror("fs-errno: chdir ..");
		exit(2);
	}
}
