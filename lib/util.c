#include "hio_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t hio_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t hio_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t hio_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void random_bytes(unsigned char *raw, size_t nbytes)
{
	size_t got = 0;

	while (got < nbytes) {
		ssize_t r = getrandom(raw + got, nbytes - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* getrandom cannot fail on Linux >= 3.17 once seeded; keep ids unique
			 * anyway. */
			for (; got < nbytes; got++)
				raw[got] = (unsigned char)(rand() ^ (int)hio_now_us());
			break;
		}
		got += (size_t)r;
	}
}

static void hex_of(char *out, const unsigned char *raw, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

/* Ids draw on a pool of random bytes refilled ID_POOL_BYTES at a time: a getrandom
 * call per id was 6% of a client's CPU streaming 1 KB messages (bench/c_api). A fork
 * empties the child's pool (and the lock is not held across it), so a parent and its
 * child never hand out the same bytes. Tokens, which are secrets, do not use it. */
#define ID_POOL_BYTES (64 * (HIO_ID_LEN / 2))
static pthread_mutex_t id_pool_mu = PTHREAD_MUTEX_INITIALIZER; /* a leaf */
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;
static int id_pool_ok; /* the fork handlers are in place; else no pool */
static unsigned char id_pool[ID_POOL_BYTES];
static size_t id_pool_left;

static void id_pool_lock(void)
{
	pthread_mutex_lock(&id_pool_mu);
}

static void id_pool_unlock(void)
{
	pthread_mutex_unlock(&id_pool_mu);
}

static void id_pool_child(void)
{
	id_pool_left = 0;
	pthread_mutex_unlock(&id_pool_mu);
}

static void id_pool_init(void)
{
	id_pool_ok = pthread_atfork(id_pool_lock, id_pool_unlock, id_pool_child) == 0;
}

void hio_id_new(char out[HIO_ID_LEN + 1])
{
	unsigned char raw[HIO_ID_LEN / 2];

	pthread_once(&id_pool_once, id_pool_init);
	if (!id_pool_ok) {
		random_bytes(raw, sizeof(raw));
		hex_of(out, raw, sizeof(raw));
		return;
	}
	pthread_mutex_lock(&id_pool_mu);
	if (id_pool_left < sizeof(raw)) {
		random_bytes(id_pool, sizeof(id_pool));
		id_pool_left = sizeof(id_pool);
	}
	id_pool_left -= sizeof(raw);
	memcpy(raw, id_pool + id_pool_left, sizeof(raw));
	memset(id_pool + id_pool_left, 0, sizeof(raw));
	pthread_mutex_unlock(&id_pool_mu);
	hex_of(out, raw, sizeof(raw));
}

void hio_token_new(char out[65])
{
	unsigned char raw[32];

	random_bytes(raw, sizeof(raw));
	hex_of(out, raw, sizeof(raw));
}

void hio_timespec_in(struct timespec *ts, clockid_t clock, long ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int hio_id_valid(const char *id)
{
	if (!id)
		return 0;
	for (int i = 0; i < HIO_ID_LEN; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return id[HIO_ID_LEN] == '\0';
}

int hio_token_eq(const char *a, const char *b)
{
	size_t la, lb;
	unsigned char diff;

	if (!a || !b)
		return 0;
	la = strnlen(a, HIO_TOKEN_MAX + 1);
	lb = strnlen(b, HIO_TOKEN_MAX + 1);
	/* Past the maximum only a prefix would be compared: such a token is never one. */
	if (la > HIO_TOKEN_MAX || lb > HIO_TOKEN_MAX)
		return 0;
	diff = (unsigned char)(la != lb);
	/* Compare over the expected token's length whatever the input, so timing
	 * does not leak how many leading bytes matched. */
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ (i < lb ? b[i] : 0));
	return diff == 0 && la > 0;
}

int hio_name_valid(const char *name, size_t len, const char **why)
{
	const char *dummy;
	size_t start = 0;

	if (!why)
		why = &dummy;
	if (!name || len == 0) {
		*why = "empty name";
		return 0;
	}
	if (len > HIO_NAME_MAX) {
		*why = "name longer than 4096 bytes";
		return 0;
	}
	if (memchr(name, '\0', len)) {
		*why = "name holds a NUL byte";
		return 0;
	}
	if (name[0] == '/') {
		*why = "absolute name";
		return 0;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0) {
			*why = i == len ? "name ends with /" : "empty path component";
			return 0;
		}
		if (clen > 255) {
			*why = "path component longer than 255 bytes";
			return 0;
		}
		if ((clen == 1 && name[start] == '.') ||
		    (clen == 2 && name[start] == '.' && name[start + 1] == '.')) {
			*why = "name holds a . or .. component";
			return 0;
		}
		start = i + 1;
	}
	/* Names travel in JSON, which holds UTF-8 only: refused here, at the door, a
	 * Latin-1 name was a message no frame could carry, retried forever. */
	if (!hio_utf8_valid(name, len)) {
		*why = "name is not UTF-8";
		return 0;
	}
	return 1;
}

size_t hio_utf8_seq(const char *p, size_t left)
{
	const unsigned char *s = (const unsigned char *)p;
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

int hio_utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0, k; i < len; i += k)
		if (!(k = hio_utf8_seq(s + i, len - i)))
			return 0;
	return 1;
}

const char *hio_name_strip(const char *path)
{
	for (;;) {
		if (path[0] == '/')
			path++;
		else if (path[0] == '.' && path[1] == '/')
			path += 2;
		else if (path[0] == '.' && path[1] == '.' && path[2] == '/')
			path += 3;
		else
			return path;
	}
}

int hio_pipeline_valid(const char *p)
{
	size_t n;

	if (!p)
		return 0;
	n = strnlen(p, HIO_PIPELINE_MAX + 1);
	if (n == 0 || n > HIO_PIPELINE_MAX || p[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int hio_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t hio_pread_full(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)p + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t hio_read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

char *hio_file_read(const char *path, size_t max, size_t *len)
{
	struct stat st;
	char *data = NULL;
	ssize_t r;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		goto fail;
	r = hio_read_full(fd, data, (size_t)st.st_size);
	if (r < 0)
		goto fail;
	data[r] = '\0';
	if (len)
		*len = (size_t)r;
	close(fd);
	return data;
fail:
	saved = errno;
	free(data);
	close(fd);
	errno = saved;
	return NULL;
}

int hio_file_write_atomic(const char *path, const void *data, size_t len, int sync)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (hio_write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int hio_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Most calls find every parent there already (a result's temp dir, a spool
	 * dir): one mkdir instead of one per component. */
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		tmp[i] = c;
	}
	return 0;
}

/* Levels of directories held open at once while emptying; a deeper subtree is moved up
 * to the top first (RM_DEPTH_MAX descriptors at most, and no path of any length). */
#define RM_DEPTH_MAX 32

/* Removes what directory dfd holds. Subtrees below RM_DEPTH_MAX levels are renamed into
 * top_fd (*moved counts them) for the caller's next pass. Never follows a symbolic
 * link: entries are opened with O_NOFOLLOW relative to their parent. */
static int empty_at(int dfd, int top_fd, int depth, unsigned *moved)
{
	static unsigned seq;
	struct dirent *e;
	int rc = 0, fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		struct stat st;
		int sub;

		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = -1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(dfd, n, 0) < 0 && errno != ENOENT)
				rc = -1;
			continue;
		}
		if (depth + 1 >= RM_DEPTH_MAX) {
			char to[64];

			snprintf(to, sizeof(to), ".hio-rm-%ld-%u", (long)getpid(),
				 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
			if (renameat(dfd, n, top_fd, to) < 0)
				rc = -1;
			else
				(*moved)++;
			continue;
		}
		sub = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = -1;
			continue;
		}
		if (empty_at(sub, top_fd, depth + 1, moved) < 0)
			rc = -1;
		close(sub);
		/* Not empty when it held a subtree moved up: removed on the next pass. */
		if (unlinkat(dfd, n, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY && errno != ENOENT)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int hio_dir_fd_is_empty(int dfd)
{
	/* Room for "." and ".." and one more entry of any name. */
	_Alignas(struct dirent) char buf[2 * sizeof(struct dirent) + 512];
	ssize_t n;

	for (;;) {
		n = getdents64(dfd, buf, sizeof(buf));
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		for (ssize_t off = 0; off < n;) {
			const struct dirent *e = (const struct dirent *)(void *)(buf + off);

			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				return 0;
			off += e->d_reclen;
		}
	}
}

int hio_dir_is_empty(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, e;

	if (fd < 0)
		return -1;
	r = hio_dir_fd_is_empty(fd);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

int hio_empty_dir(const char *path)
{
	int rc, fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned moved;

	if (fd < 0)
		return -1;
	/* Nothing there (a message's HIO_OUTPUT, mostly): one getdents64, no walk. */
	if (hio_dir_fd_is_empty(fd) == 1) {
		close(fd);
		return 0;
	}
	/* Each pass removes RM_DEPTH_MAX levels of every deep subtree, so this ends. */
	do {
		moved = 0;
		rc = empty_at(fd, fd, 0, &moved);
	} while (moved > 0);
	close(fd);
	return rc;
}

int hio_path_searchable(const char *path)
{
	char p[HIO_PATH_MAX];
	struct stat st;
	char *slash;

	if (!path || path[0] != '/' || strlen(path) >= sizeof(p))
		return 0;
	strcpy(p, path);
	for (;;) {
		if (stat(p[0] ? p : "/", &st) < 0 || !S_ISDIR(st.st_mode) ||
		    !(st.st_mode & S_IXOTH))
			return 0;
		slash = strrchr(p, '/');
		if (!slash || p[0] == '\0')
			return 1;
		*slash = '\0';
	}
}

int hio_rm_rf(const char *path)
{
	struct stat st;
	int rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	rc = hio_empty_dir(path);
	if (rmdir(path) < 0)
		rc = -1;
	return rc;
}

int hio_token_read(const char *path, char out[HIO_TOKEN_MAX + 1])
{
	size_t len;
	char *data = hio_file_read(path, 4096, &len);
	char *s, *e;

	if (!data)
		return -1;
	s = data;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if (e == s || (size_t)(e - s) > HIO_TOKEN_MAX) {
		free(data);
		errno = EINVAL;
		return -1;
	}
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	free(data);
	return 0;
}

char *hio_self_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return strdup(buf[0] ? buf : "/");
}

static char *exec_at(const char *dir, const char *sub, const char *name)
{
	char path[PATH_MAX];

	if (!dir || !*dir)
		return NULL;
	if (snprintf(path, sizeof(path), "%s%s%s/%s", dir, sub ? "/" : "", sub ? sub : "", name) >=
	    (int)sizeof(path))
		return NULL;
	return access(path, X_OK) == 0 ? strdup(path) : NULL;
}

char *hio_find_program(const char *name)
{
	static const char *const build_dirs[] = {"../master", "../worker", "../pe",
						 "../fs",     "../hio",	   "../examples/gfp"};
	char *self = hio_self_dir(), *found;
	const char *path = getenv("PATH");

	found = exec_at(getenv("HIO_BIN_DIR"), NULL, name);
	if (!found)
		found = exec_at(self, NULL, name);
	for (size_t i = 0; !found && i < sizeof(build_dirs) / sizeof(build_dirs[0]); i++)
		found = exec_at(self, build_dirs[i], name);
	free(self);
	while (!found && path && *path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		char dir[PATH_MAX];
		if (n > 0 && n < sizeof(dir)) {
			memcpy(dir, path, n);
			dir[n] = '\0';
			found = exec_at(dir, NULL, name);
		}
		path = colon ? colon + 1 : NULL;
	}
	return found;
}

int hio_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s || !((*s >= '0' && *s <= '9') || (*s == '-' && min < 0))) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end) {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int hio_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	/* strtod also takes hex ("0x1p3"), "infinity" and leading space: not numbers a
	 * user means, and not what the flags' documentation promises. */
	if (!s || !*s || strspn(s, "0123456789.eE+-") != strlen(s)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || !isfinite(v)) {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int hio_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char num[32];
	size_t n = 0;
	long v;
	int shift = 0;

	/* The digits go to hio_parse_long; only the suffix is read here. */
	while (s && s[n] >= '0' && s[n] <= '9')
		n++;
	if (!s || n == 0 || n >= sizeof(num)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(num, s, n);
	num[n] = 0;
	switch (s[n]) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	case 0:
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (shift && s[n + 1]) {
		errno = EINVAL;
		return -1;
	}
	if (hio_parse_long(num, 0, LONG_MAX, &v) < 0)
		return -1;
	if ((uint64_t)v > (UINT64_MAX >> shift) || ((uint64_t)v << shift) < min ||
	    ((uint64_t)v << shift) > max) {
		errno = ERANGE;
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

int hio_parse_age(const char *s, long max_s, long *out)
{
	static const struct {
		char unit;
		long mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	char num[32];
	size_t n = 0;
	long v, mul = 1;

	/* The digits go to hio_parse_long; only the unit is read here. */
	while (s && s[n] >= '0' && s[n] <= '9')
		n++;
	if (!s || n == 0 || n >= sizeof(num) || (s[n] && s[n + 1])) {
		errno = EINVAL;
		return -1;
	}
	memcpy(num, s, n);
	num[n] = 0;
	if (s[n]) {
		size_t i = 0;

		while (i < sizeof(units) / sizeof(units[0]) && units[i].unit != s[n])
			i++;
		if (i == sizeof(units) / sizeof(units[0])) {
			errno = EINVAL;
			return -1;
		}
		mul = units[i].mul;
	}
	if (hio_parse_long(num, 0, LONG_MAX, &v) < 0)
		return -1;
	if (v > max_s / mul) {
		errno = ERANGE;
		return -1;
	}
	*out = v * mul;
	return 0;
}

int hio_parse_flag(const char *flag, const char *s, long min, long max, long *out, char *err,
		   size_t errlen)
{
	if (hio_parse_long(s, min, max, out) == 0)
		return 0;
	snprintf(err, errlen, "%s: '%s' is not a whole number from %ld to %ld", flag, s ? s : "",
		 min, max);
	return -1;
}

int hio_parse_flag_int(const char *flag, const char *s, int min, int max, int *out, char *err,
		       size_t errlen)
{
	long v;

	if (hio_parse_flag(flag, s, min, max, &v, err, errlen))
		return -1;
	*out = (int)v;
	return 0;
}
