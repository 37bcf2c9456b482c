/* The log's rotation (lib/log.c) with stderr a file opened for appending, as hio's
 * daemons have it: 4 threads logging at once into a 4K log with 2 old files kept, a
 * rotation held up, a forked process sharing the file (taking turns, and at once),
 * bytes passed through with hio_log_raw, a log full at start, and bad HIO_LOG_MAX and
 * HIO_LOG_KEEP values. */
#include "check.h"
#include "hio_log.h"
#include "hio_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX 4096
#define KEEP 2
#define THREADS 4
#define LINES 2000	/* per thread */
#define FORK_LINES 1500 /* per process */
#define BURST 10	/* lines a process logs in its turn */
#define CHECK_MIN 256	/* lib/log.c's LOG_CHECK_MIN: what a process may write unseen */

static int saved_err = -1;
static char top[] = "/tmp/hio-test-log.XXXXXX";
static char dir[PATH_MAX]; /* the case's own directory in top */

/* Points stderr at DIR/name (new, opened for appending), DIR being a new directory for
 * the case, and starts the logger. */
static void log_to(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s/%s.d", top, name);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	dup2(fd, STDERR_FILENO);
	close(fd);
	hio_log_init("test_log_rotate");
}

static void log_back(void)
{
	dup2(saved_err, STDERR_FILENO);
}

/* DIR/name's contents (caller frees), or NULL when there is no such file. */
static char *slurp(const char *name, size_t *len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return hio_file_read(path, 64 << 20, len);
}

static int exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* Every entry of DIR is base, base.1 .. base.KEEP: nothing older kept, nothing else. */
static int only_rotated(const char *base)
{
	size_t bl = strlen(base);
	struct dirent *de;
	DIR *d = opendir(dir);
	int ok = d != NULL;

	while (d && (de = readdir(d))) {
		const char *n = de->d_name;

		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (strncmp(n, base, bl) != 0 ||
		    (n[bl] && !(n[bl] == '.' && n[bl + 1] >= '1' && n[bl + 1] <= '0' + KEEP &&
				!n[bl + 2]))) {
			fprintf(stderr, "unexpected file %s\n", n);
			ok = 0;
		}
	}
	if (d)
		closedir(d);
	return ok;
}

/* One whole line of ours, "2026-11-25T10:00:00.123Z test_log_rotate[PID] INFO: WHO N
 * line NUM": its WHO number and NUM in *who and *num; 0 when it is not one. */
static int parse_line(const char *l, size_t len, const char *who_word, int *who, int *num)
{
	char fmt[128];
	int y, mo, d, h, mi, s, ms, pid, used = -1;

	snprintf(fmt, sizeof(fmt),
		 "%%4d-%%2d-%%2dT%%2d:%%2d:%%2d.%%3dZ test_log_rotate[%%d] INFO: %s %%d line "
		 "%%6d%%n",
		 who_word);
	if (len < 24 || l[4] != '-' || l[10] != 'T' || l[23] != 'Z')
		return 0;
	if (sscanf(l, fmt, &y, &mo, &d, &h, &mi, &s, &ms, &pid, who, num, &used) != 10)
		return 0;
	return used == (int)len;
}

/* Checks each line of DIR/name: whole, of our format, and each WHO's numbers one
 * after another from the last file read (last[WHO], -1: none yet). Returns the file's
 * size, with the longest line in *longest. */
static size_t check_file(const char *name, const char *who_word, int nwho, int *last, int in_order,
			 size_t *longest)
{
	size_t len = 0, bad = 0, order = 0;
	char *data = slurp(name, &len);
	char *p = data;

	CHECK(data != NULL);
	if (!data)
		return 0;
	CHECK(len == 0 || data[len - 1] == '\n');
	while (p < data + len) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
		int who = -1, num = -1;

		if (!parse_line(p, ll, who_word, &who, &num) || who < 0 || who >= nwho) {
			if (bad++ < 3)
				fprintf(stderr, "%s: not a whole line: %.*s\n", name, (int)ll, p);
		} else if (in_order) {
			if (last[who] >= 0 && num != last[who] + 1 && order++ < 3)
				fprintf(stderr, "%s: %s %d line %d follows line %d\n", name,
					who_word, who, num, last[who]);
			last[who] = num;
		}
		if (ll + 1 > *longest)
			*longest = ll + 1;
		p += ll + 1;
	}
	CHECK(bad == 0);
	CHECK(order == 0);
	free(data);
	return len;
}

static void *thread_main(void *arg)
{
	int t = (int)(long)arg;

	for (int i = 0; i < LINES; i++)
		hio_info("thread %d line %06d", t, i);
	return NULL;
}

/* 4 threads, 8000 lines of some 70 bytes: some 140 rotations. The files kept hold the
 * newest lines, each thread's without a gap, in order, up to its last; each file is at
 * most max and a line per thread. */
static void test_threads(void)
{
	static const char *const files[] = {"t.log.2", "t.log.1", "t.log"};
	pthread_t th[THREADS];
	int last[THREADS];
	size_t longest = 0, size[3];
	int kept = 0;
	struct stat st;
	char path[PATH_MAX];

	setenv("HIO_LOG_MAX", "4K", 1);
	setenv("HIO_LOG_KEEP", "2", 1);
	log_to("t.log");
	for (long t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, thread_main, (void *)t) == 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	log_back();

	CHECK(only_rotated("t.log"));
	CHECK(exists("t.log.1") && exists("t.log.2"));
	memset(last, -1, sizeof(last));
	for (int i = 0; i < 3; i++)
		size[i] = check_file(files[i], "thread", THREADS, last, 1, &longest);
	for (int i = 0; i < 3; i++) {
		CHECK(size[i] <= MAX + THREADS * longest);
		if (size[i] > MAX + THREADS * longest)
			fprintf(stderr, "%s: %zu bytes\n", files[i], size[i]);
	}
	CHECK(size[0] >= MAX && size[1] >= MAX);
	/* A thread may have finished before the oldest file kept began; any other's
	 * lines run to its last. */
	for (int t = 0; t < THREADS; t++) {
		CHECK(last[t] == -1 || last[t] == LINES - 1);
		kept += last[t] >= 0;
	}
	CHECK(kept > 0);
	snprintf(path, sizeof(path), "%s/t.log", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
}

static int stall_lines;

static void *stall_main(void *arg)
{
	int t = (int)(long)arg;

	for (int i = 0; i < stall_lines; i++)
		hio_info("thread %d line %06d", t, i);
	return NULL;
}

/* A rotation that takes long (here another process's lock on the file, which the
 * rotating thread waits for a while, then rotates without): the other threads wait
 * rather than fill the full file further. */
static void test_stalled(void)
{
	char path[PATH_MAX];
	pthread_t th[THREADS];
	int last[THREADS], lk;
	size_t longest = 0, size;

	setenv("HIO_LOG_MAX", "4K", 1);
	setenv("HIO_LOG_KEEP", "2", 1);
	log_to("l.log");
	snprintf(path, sizeof(path), "%s/l.log", dir);
	lk = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(lk >= 0 && flock(lk, LOCK_EX) == 0);
	/* Some 11K: the first file rotated, the second not yet. */
	stall_lines = 40;
	for (long t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, stall_main, (void *)t) == 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	log_back();
	close(lk);

	CHECK(only_rotated("l.log") && exists("l.log.1"));
	memset(last, -1, sizeof(last));
	size = check_file(exists("l.log.2") ? "l.log.2" : "l.log.1", "thread", THREADS, last, 1,
			  &longest);
	CHECK(size >= MAX && size <= MAX + THREADS * longest);
	if (size > MAX + THREADS * longest)
		fprintf(stderr, "the first file: %zu bytes\n", size);
}

/* proc (0 or 1) logs FORK_LINES lines: in turns of BURST lines with the other process
 * (to and from its pipes), or, without pipes, once the other one is started too. */
static void fork_log(int proc, int to, int from)
{
	char c = 0;

	for (int i = 0; i < FORK_LINES; i++) {
		if (from >= 0 && i % BURST == 0 && (proc == 1 || i > 0) && read(from, &c, 1) != 1)
			return;
		hio_info("proc %d line %06d", proc, i);
		if (to >= 0 && i % BURST == BURST - 1 && write(to, &c, 1) != 1)
			return;
	}
}

/* Two processes share the file, as a worker and the PEs that inherit its stderr: no
 * file past NAME.KEEP, no torn line, each file at most max and what each process may
 * write before it looks at the size again. Taking turns, each follows the other's
 * rotations, so each one's lines kept run to its last without a gap; at once, the
 * two also race to rotate. */
static void test_fork(const char *name, int turns)
{
	char files[3][32];
	int last[2] = {-1, -1}, status = -1, p2c[2] = {-1, -1}, c2p[2] = {-1, -1}, go[2];
	size_t longest = 0, size;
	pid_t pid;
	char c = 0;

	snprintf(files[0], sizeof(files[0]), "%s.2", name);
	snprintf(files[1], sizeof(files[1]), "%s.1", name);
	snprintf(files[2], sizeof(files[2]), "%s", name);
	setenv("HIO_LOG_MAX", "4K", 1);
	setenv("HIO_LOG_KEEP", "2", 1);
	CHECK(pipe(go) == 0);
	CHECK(!turns || (pipe(p2c) == 0 && pipe(c2p) == 0));
	log_to(name);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (read(go[0], &c, 1) == 1)
			fork_log(1, c2p[1], p2c[0]);
		_exit(0);
	}
	CHECK(write(go[1], &c, 1) == 1);
	fork_log(0, p2c[1], c2p[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	log_back();
	for (int i = 0; i < 2; i++) {
		close(go[i]);
		if (turns) {
			close(p2c[i]);
			close(c2p[i]);
		}
	}

	CHECK(only_rotated(name));
	CHECK(exists(files[0]) && exists(files[1]));
	for (int i = 0; i < 3; i++) {
		size = check_file(files[i], "proc", 2, last, turns, &longest);
		CHECK(size <= MAX + 2 * (CHECK_MIN + longest));
		if (size > MAX + 2 * (CHECK_MIN + longest))
			fprintf(stderr, "%s: %zu bytes\n", files[i], size);
	}
	if (turns)
		CHECK(last[0] == FORK_LINES - 1 && last[1] == FORK_LINES - 1);
}

/* Bytes passed on with hio_log_raw count like lines. */
static void test_raw(void)
{
	char chunk[100];
	size_t len = 0;
	char *data;

	memset(chunk, 'x', sizeof(chunk));
	chunk[sizeof(chunk) - 1] = '\n';
	setenv("HIO_LOG_MAX", "4K", 1);
	setenv("HIO_LOG_KEEP", "2", 1);
	log_to("r.log");
	for (int i = 0; i < 100; i++)
		hio_log_raw(chunk, sizeof(chunk));
	log_back();
	CHECK(only_rotated("r.log") && exists("r.log.1"));
	data = slurp("r.log.1", &len);
	CHECK(data && len >= MAX && len <= MAX + sizeof(chunk));
	free(data);
}

/* A log already full when the program starts is rotated at once. */
static void test_full_at_start(void)
{
	char path[PATH_MAX], buf[5000];
	size_t len = 0;
	char *data;
	int fd;

	memset(buf, 'y', sizeof(buf));
	buf[sizeof(buf) - 1] = '\n';
	setenv("HIO_LOG_MAX", "4K", 1);
	setenv("HIO_LOG_KEEP", "2", 1);
	snprintf(dir, sizeof(dir), "%s/s.log.d", top);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/s.log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && hio_write_all(fd, buf, sizeof(buf)) == 0);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	hio_log_init("test_log_rotate");
	hio_info("thread 0 line 000000");
	log_back();
	data = slurp("s.log.1", &len);
	CHECK(data && len == sizeof(buf));
	free(data);
	data = slurp("s.log", &len);
	CHECK(data && strstr(data, "INFO: thread 0 line 000000\n") && len < 200);
	free(data);
}

/* Bad values: one warning each, naming the variable and the value; the defaults stay
 * (10M: no rotation here). off turns rotation off. */
static void test_settings(void)
{
	size_t len = 0;
	char *data;

	setenv("HIO_LOG_MAX", "12Q", 1);
	setenv("HIO_LOG_KEEP", "0", 1);
	log_to("w.log");
	for (int i = 0; i < 200; i++)
		hio_info("thread 0 line %06d", i);
	log_back();
	CHECK(!exists("w.log.1"));
	data = slurp("w.log", &len);
	CHECK(data && strstr(data, "WARN: HIO_LOG_MAX='12Q'"));
	CHECK(data && strstr(data, "WARN: HIO_LOG_KEEP='0'"));
	free(data);

	setenv("HIO_LOG_MAX", "100", 1); /* under 1K: a mistake, not a size to rotate at */
	setenv("HIO_LOG_KEEP", "2", 1);
	log_to("b.log");
	log_back();
	data = slurp("b.log", &len);
	CHECK(data && strstr(data, "WARN: HIO_LOG_MAX='100'"));
	free(data);

	setenv("HIO_LOG_MAX", "off", 1);
	log_to("o.log");
	for (int i = 0; i < 400; i++)
		hio_info("thread 0 line %06d", i);
	log_back();
	CHECK(!exists("o.log.1"));
	data = slurp("o.log", &len);
	CHECK(data && len > 4 * MAX && !strstr(data, "WARN"));
	free(data);
}

int main(void)
{
	setenv("HIO_LOG", "info", 1);
	saved_err = dup(STDERR_FILENO);
	if (saved_err < 0 || !mkdtemp(top)) {
		perror("test_log_rotate");
		return 1;
	}
	test_threads();
	test_stalled();
	test_fork("f.log", 1);
	test_fork("g.log", 0);
	test_raw();
	test_full_at_start();
	test_settings();
	if (!check_failures)
		hio_rm_rf(top);
	else
		fprintf(stderr, "files kept in %s\n", top);
	return check_result("test_log_rotate");
}
