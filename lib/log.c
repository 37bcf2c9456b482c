#include "hio_log.h"
#include "hio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_prog[64] = "hio";
static enum hio_log_level log_level = HIO_LOG_INFO;

/* Set before the threads that log start (a program's set-up), read after. */
static hio_log_func log_func;
static void *log_func_ud;

/* Repeats: a warning or error whose text, digits aside, was logged less than
 * HIO_LOG_REPEAT_MS ago is counted instead of written ("retrying in 50 ms" while a peer is away
 * would otherwise fill the log); the next one written after that says how many were held back. A
 * small table of recent texts, replaced oldest first. */
#define HIO_LOG_REPEAT_MS 5000
#define HIO_LOG_REPEAT_SLOTS 32
struct log_recent {
	uint64_t key;	  /* FNV-1a of the text without its digits; 0: unused */
	uint64_t last_ms; /* when it was last written */
	unsigned held;	  /* repeats not written since */
};
/* Guards recent[]. A leaf: taken only inside hio_log, around no I/O (and by fork's
 * prepare handler, after rot_mu: see log_fork_prepare). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_recent recent[HIO_LOG_REPEAT_SLOTS];

static uint64_t text_key(const char *p)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *p; p++)
		if (*p < '0' || *p > '9')
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h ? h : 1;
}

/* 1: write it (with *held repeats to mention); 0: a repeat, counted. */
static int log_admit(const char *text, uint64_t now_ms, unsigned *held)
{
	uint64_t key = text_key(text);
	struct log_recent *r = NULL, *oldest = &recent[0];
	int write = 1;

	*held = 0;
	pthread_mutex_lock(&log_mu);
	for (int i = 0; i < HIO_LOG_REPEAT_SLOTS; i++) {
		if (recent[i].key == key) {
			r = &recent[i];
			break;
		}
		if (recent[i].last_ms < oldest->last_ms)
			oldest = &recent[i];
	}
	if (r && now_ms - r->last_ms < HIO_LOG_REPEAT_MS) {
		r->held++;
		write = 0;
	} else if (r) {
		*held = r->held;
		r->held = 0;
		r->last_ms = now_ms;
	} else {
		*oldest = (struct log_recent){.key = key, .last_ms = now_ms};
	}
	pthread_mutex_unlock(&log_mu);
	return write;
}

/* Rotation of the file behind fd 2 (a daemon's STATE/NAME.log, opened for appending):
 * once a line takes it to HIO_LOG_MAX, NAME.(keep-1) becomes NAME.keep ... NAME becomes
 * NAME.1, and a new NAME takes over fd 2 (and fd 1 when that is the same file). Other
 * processes may write to the same file (a worker's PEs inherit its stderr), so the size
 * that counts is the file's, from fstat, and a process that finds the file rotated by
 * another one only opens the name again. */
#define LOG_MAX_DEFAULT (10ULL << 20)
#define LOG_MAX_MIN 1024ULL
#define LOG_KEEP_DEFAULT 3
#define LOG_KEEP_MAX 100
/* fstat after every max/128 bytes written (within these bounds) and every LOG_CHECK_MS:
 * what other processes write counts too, and one of them may have rotated the file.
 * Each process sharing the file may so take it past max by that much and a line. */
#define LOG_CHECK_MIN 256ULL
#define LOG_CHECK_MAX (64ULL * 1024)
#define LOG_CHECK_MS 1000
#define LOG_RETRY_MS 10000   /* after a rotation failed */
#define LOG_LOCK_WAIT_MS 100 /* for another process rotating the same file */
#define LOG_NEVER UINT64_MAX
#define LOG_OPEN_FLAGS (O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK)

/* rot_max (0: no rotation) and rot_keep are set by hio_log_init, before the threads that
 * log start; rot_max drops to 0, under rot_mu, when fd 2 stops being a file to rotate.
 * Read with atomics, like the counters: bytes written since the last check, the counts
 * at which a writer checks the file's size or, the file being full, waits for its
 * rotation, and the monotonic time of the next check by time. */
static uint64_t rot_max;
static long rot_keep = LOG_KEEP_DEFAULT;
static uint64_t rot_since, rot_check_at = LOG_NEVER, rot_full_at = LOG_NEVER, rot_next_ms;
/* Held by the one thread that checks or rotates the file: taken with trylock after a
 * line or when a check is due, and waited for only by a writer that finds the file
 * full. Guards rot_path, rot_dev, rot_ino and the setting of the counters' limits.
 * Lock order: a leaf, never held with log_mu (but by fork's prepare handler, before
 * log_mu); no line is logged under it.
 * It is held across the check's fstat and stat and the rotation's renames, open and
 * dup2s: that I/O is the rotation itself. Writers wait for it only when the file is
 * full, so that it grows past max by at most one line per thread, not by all that
 * threads would write during the rotation. No lock is held across a line's write(2). */
static pthread_mutex_t rot_mu = PTHREAD_MUTEX_INITIALIZER;
static char rot_path[HIO_PATH_MAX];
static dev_t rot_dev;
static ino_t rot_ino;

enum { ROT_DONE, ROT_FAILED };

static uint64_t rot_get(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static void rot_set(uint64_t *v, uint64_t x)
{
	__atomic_store_n(v, x, __ATOMIC_RELAXED);
}

/* A fork while another thread holds a lock would leave it held for good in the child,
 * which may log (hio-fs's fuse_daemonize). */
static void log_fork_prepare(void)
{
	pthread_mutex_lock(&rot_mu);
	pthread_mutex_lock(&log_mu);
}

static void log_fork_done(void)
{
	pthread_mutex_unlock(&log_mu);
	pthread_mutex_unlock(&rot_mu);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_once_init(void)
{
	pthread_atfork(log_fork_prepare, log_fork_done, log_fork_done);
}

/* rot_path, or NAME.k for k > 0. rot_path leaves room for ".100" (rot_track). */
static void rot_name(char *out, size_t len, long k)
{
	if (k)
		snprintf(out, len, "%s.%ld", rot_path, k);
	else
		snprintf(out, len, "%s", rot_path);
}

/* A full file named NAME.k (k from 1 to keep) beside a file NAME is a log that another
 * process rotated after this one inherited it (a PE starting as its worker rotates):
 * NAME is the log. Cuts path to NAME then and returns 1. */
static int rot_rotated_name(char *path)
{
	char *dot = strrchr(path, '.');
	struct stat st;
	long k;

	if (!dot || hio_parse_long(dot + 1, 1, rot_keep, &k) < 0)
		return 0;
	*dot = '\0';
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return 1;
	*dot = '.';
	return 0;
}

/* Takes the file behind fd 2 as the log, with *st its fstat: 0, or -1 when fd 2 is not
 * a file opened for appending that has a name (a pipe, a terminal, /dev/null, a
 * deleted file). Under rot_mu, or alone in hio_log_init. */
static int rot_track(struct stat *st)
{
	static const char deleted[] = " (deleted)";
	char path[HIO_PATH_MAX];
	int fl = fcntl(STDERR_FILENO, F_GETFL);
	struct stat pst;
	ssize_t n;

	if (fl < 0 || !(fl & O_APPEND) || fstat(STDERR_FILENO, st) < 0 || !S_ISREG(st->st_mode))
		return -1;
	n = readlink("/proc/self/fd/2", path, sizeof(path));
	if (n <= 0 || (size_t)n >= sizeof(path) - 8 || path[0] != '/')
		return -1;
	path[n] = '\0';
	if ((size_t)n > sizeof(deleted) - 1 && !strcmp(path + n - (sizeof(deleted) - 1), deleted))
		return -1;
	if (!((uint64_t)st->st_size >= rot_get(&rot_max) && rot_rotated_name(path)) &&
	    (stat(path, &pst) < 0 || pst.st_dev != st->st_dev || pst.st_ino != st->st_ino))
		return -1; /* the name is another file's (another mount namespace) */
	snprintf(rot_path, sizeof(rot_path), "%s", path);
	rot_dev = st->st_dev;
	rot_ino = st->st_ino;
	return 0;
}

/* Points fd 2, and fd 1 when it is the same file as fd 2 (*st), at a new open of
 * rot_path, and puts the new file's fstat in *st. 0, or -1 with errno. */
static int rot_reopen(struct stat *st)
{
	/* O_NONBLOCK: a FIFO put at the name must not hang the open (and is refused). */
	int fd = open(rot_path, LOG_OPEN_FLAGS | O_WRONLY | O_CREAT | O_APPEND, 0600);
	int same1, e;
	struct stat nst;

	if (fd < 0)
		return -1;
	same1 =
	    fstat(STDOUT_FILENO, &nst) == 0 && nst.st_dev == st->st_dev && nst.st_ino == st->st_ino;
	if (fstat(fd, &nst) < 0)
		e = errno;
	else if (!S_ISREG(nst.st_mode))
		e = EINVAL;
	else if (fcntl(fd, F_SETFL, O_APPEND) < 0 || (same1 && dup2(fd, STDOUT_FILENO) < 0) ||
		 dup2(fd, STDERR_FILENO) < 0)
		e = errno;
	else
		e = 0;
	close(fd);
	if (e) {
		errno = e;
		return -1;
	}
	*st = nst;
	rot_dev = st->st_dev;
	rot_ino = st->st_ino;
	return 0;
}

/* Rotates the file *st (fd 2's, at rot_path), then reopens the name; only reopens it
 * when another process rotated it first. A lock on the file (flock on an open of its
 * name, never on fd 2, which other processes may share) lets one process at a time
 * rotate it. */
static int rot_rotate(struct stat *st, char *why, size_t whylen)
{
	char from[HIO_PATH_MAX + 8], to[HIO_PATH_MAX + 8];
	struct stat lst, pst;
	int lk = open(rot_path, LOG_OPEN_FLAGS | O_RDONLY);
	int r = ROT_FAILED;

	if (lk < 0 && errno != ENOENT) {
		snprintf(why, whylen, "cannot open %s: %s", rot_path, strerror(errno));
		return ROT_FAILED;
	}
	if (lk < 0 || fstat(lk, &lst) < 0 || lst.st_dev != st->st_dev || lst.st_ino != st->st_ino)
		goto reopen;
	/* The holder is rotating (a few system calls) or stopped: it is waited for a
	 * moment only, never for good (a SIGSTOPped PE must not stop its worker's log),
	 * and past that the file is rotated without it, at worst twice. */
	for (int ms = 0; flock(lk, LOCK_EX | LOCK_NB) < 0 && ms < LOG_LOCK_WAIT_MS; ms++) {
		struct timespec ts = {.tv_nsec = 1000000L};

		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&ts, NULL);
	}
	/* Another process may have rotated it between the open and now. */
	if (stat(rot_path, &pst) < 0 || pst.st_dev != lst.st_dev || pst.st_ino != lst.st_ino)
		goto reopen;
	for (long k = rot_keep; k >= 1; k--) {
		rot_name(from, sizeof(from), k - 1);
		rot_name(to, sizeof(to), k);
		if (rename(from, to) == 0 || (errno == ENOENT && k > 1))
			continue;
		if (errno == ENOENT)
			goto reopen; /* moved away since the stat, by someone else */
		snprintf(why, whylen, "cannot rename %s to %s: %s", from, to, strerror(errno));
		goto out;
	}
reopen:
	if (rot_reopen(st) < 0) {
		snprintf(why, whylen, "cannot open %s: %s", rot_path, strerror(errno));
		goto out;
	}
	r = ROT_DONE;
out:
	/* Closed only now: another process that finds the file unlocked finds the new one
	 * at the name. */
	if (lk >= 0)
		close(lk);
	return r;
}

/* Under rot_mu: looks at the file behind fd 2, follows a rotation done by another
 * process, rotates a full file, and sets when to look again. A check by time also
 * looks at the name; one by size only once the file is full (a rotation leaves a full
 * file behind). why gets a warning to log once rot_mu is released. */
static void rot_check(int timed, char *why, size_t whylen)
{
	uint64_t seen = rot_get(&rot_since), max = rot_get(&rot_max), now = hio_mono_ms();
	uint64_t every = max / 128, size;
	struct stat st, pst;
	int r = ROT_DONE;

	if (!max)
		return;
	if (fstat(STDERR_FILENO, &st) < 0 || st.st_dev != rot_dev || st.st_ino != rot_ino) {
		/* The program pointed fd 2 elsewhere (hio-fs daemonizing: /dev/null). */
		if (rot_track(&st) < 0) {
			rot_set(&rot_max, 0);
			return;
		}
		timed = 1;
	}
	if (timed || (uint64_t)st.st_size >= max) {
		if (stat(rot_path, &pst) < 0 || pst.st_dev != st.st_dev ||
		    pst.st_ino != st.st_ino) {
			if (rot_reopen(&st) < 0) {
				snprintf(why, whylen, "cannot open %s: %s", rot_path,
					 strerror(errno));
				r = ROT_FAILED;
			}
		} else if ((uint64_t)st.st_size >= max) {
			r = rot_rotate(&st, why, whylen);
		}
	}
	size = (uint64_t)st.st_size;
	if (every < LOG_CHECK_MIN)
		every = LOG_CHECK_MIN;
	if (every > LOG_CHECK_MAX)
		every = LOG_CHECK_MAX;
	/* Lines written since seen was read stay counted: some twice, none lost. */
	__atomic_sub_fetch(&rot_since, seen, __ATOMIC_RELAXED);
	if (r == ROT_FAILED) {
		rot_set(&rot_check_at, LOG_NEVER);
		rot_set(&rot_full_at, LOG_NEVER);
		rot_set(&rot_next_ms, now + LOG_RETRY_MS);
		return;
	}
	if (size >= max) {
		/* Full already at the name (another process is about to rotate it): look
		 * again soon, without waiting. */
		rot_set(&rot_check_at, LOG_CHECK_MIN);
		rot_set(&rot_full_at, LOG_NEVER);
	} else {
		rot_set(&rot_check_at, max - size < every ? max - size : every);
		rot_set(&rot_full_at, max - size);
	}
	rot_set(&rot_next_ms, now + LOG_CHECK_MS);
}

/* wait: the file is full, wait for the thread rotating it (or rotate it); else only
 * when no other thread is at it. */
static void rot_run(int wait, int timed)
{
	char why[1024];
	int due;

	if (wait)
		pthread_mutex_lock(&rot_mu);
	else if (pthread_mutex_trylock(&rot_mu) != 0)
		return;
	why[0] = '\0';
	/* Again under the lock: the thread that held it may have just done it. */
	if (timed)
		due = hio_mono_ms() >= rot_get(&rot_next_ms);
	else
		due = rot_get(&rot_since) >= rot_get(wait ? &rot_full_at : &rot_check_at);
	if (due)
		rot_check(timed, why, sizeof(why));
	pthread_mutex_unlock(&rot_mu);
	if (why[0])
		hio_warn("log rotation: %s; trying again in %d s", why, LOG_RETRY_MS / 1000);
}

static void rot_before_write(void)
{
	if (!rot_get(&rot_max))
		return;
	if (rot_get(&rot_since) >= rot_get(&rot_full_at))
		rot_run(1, 0);
	else if (hio_mono_ms() >= rot_get(&rot_next_ms))
		rot_run(0, 1);
}

static void rot_after_write(size_t n)
{
	if (rot_get(&rot_max) &&
	    __atomic_add_fetch(&rot_since, n, __ATOMIC_RELAXED) >= rot_get(&rot_check_at))
		rot_run(0, 0);
}

/* HIO_LOG_MAX and HIO_LOG_KEEP, and the file behind fd 2. Bad values keep the default
 * and are logged, once rotation is set up. */
static void rot_init(void)
{
	const char *ms = getenv("HIO_LOG_MAX"), *ks = getenv("HIO_LOG_KEEP");
	uint64_t max = LOG_MAX_DEFAULT;
	long keep = LOG_KEEP_DEFAULT;
	int bad_max = 0, bad_keep = 0;
	char why[1024];
	struct stat st;

	if (ms && strcasecmp(ms, "off") == 0) {
		max = 0;
	} else if (ms &&
		   (hio_parse_size(ms, 0, UINT64_MAX, &max) < 0 || (max && max < LOG_MAX_MIN))) {
		max = LOG_MAX_DEFAULT;
		bad_max = 1;
	}
	if (ks && hio_parse_long(ks, 1, LOG_KEEP_MAX, &keep) < 0)
		bad_keep = 1;
	why[0] = '\0';
	pthread_mutex_lock(&rot_mu);
	rot_keep = keep;
	rot_set(&rot_max, max);
	rot_set(&rot_since, 0);
	rot_set(&rot_check_at, LOG_NEVER);
	rot_set(&rot_full_at, LOG_NEVER);
	if (max && rot_track(&st) == 0)
		rot_check(1, why, sizeof(why)); /* a log already full is rotated now */
	else
		rot_set(&rot_max, 0);
	pthread_mutex_unlock(&rot_mu);
	if (why[0])
		hio_warn("log rotation: %s; trying again in %d s", why, LOG_RETRY_MS / 1000);
	if (bad_max)
		hio_warn("HIO_LOG_MAX='%.64s' is not a size of 1K or more (like 10M), 0 or off; "
			 "using 10M",
			 ms);
	if (bad_keep)
		hio_warn("HIO_LOG_KEEP='%.64s' is not a whole number from 1 to %d; keeping %d "
			 "old logs",
			 ks, LOG_KEEP_MAX, LOG_KEEP_DEFAULT);
}

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void hio_log_init(const char *prog)
{
	const char *env = getenv("HIO_LOG");

	snprintf(log_prog, sizeof(log_prog), "%s", prog);
	pthread_once(&log_once, log_once_init);
	for (int i = 0; env && i <= HIO_LOG_DEBUG; i++)
		if (strcasecmp(env, level_names[i]) == 0 ||
		    (i == HIO_LOG_WARN && strcasecmp(env, "warning") == 0))
			log_level = (enum hio_log_level)i;
	rot_init();
}

void hio_log_set_level(enum hio_log_level lvl)
{
	log_level = lvl;
}

void hio_log_set_func(hio_log_func fn, void *ud)
{
	log_func = fn;
	log_func_ud = ud;
}

int hio_log_enabled(enum hio_log_level lvl)
{
	return lvl <= log_level;
}

void hio_log(enum hio_log_level lvl, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n, text;
	va_list ap;
	int r;

	if (!hio_log_enabled(lvl))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%d] %s: ", (long)tv.tv_usec / 1000,
		     log_prog, (int)getpid(), level_names[lvl]);
	if (r > 0)
		n += (size_t)r;
	text = n;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n] = '\0';
	if (lvl <= HIO_LOG_WARN) {
		unsigned held;
		uint64_t now_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
		if (!log_admit(line + text, now_ms, &held))
			return;
		if (held) {
			r = snprintf(line + n, sizeof(line) - n, " (%u more like it not shown)",
				     held);
			if (r > 0)
				n += (size_t)r;
			if (n > sizeof(line) - 2)
				n = sizeof(line) - 2;
		}
	}
	if (log_func) {
		line[n] = '\0';
		log_func(log_func_ud, lvl, line);
		return;
	}
	line[n++] = '\n';
	rot_before_write();
	/* One write(2) per line keeps lines from threads whole. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
	}
	rot_after_write(n);
}

void hio_log_raw(const void *p, size_t n)
{
	int rot = !log_func;

	if (rot)
		rot_before_write();
	if (write(STDERR_FILENO, p, n) < 0) {
		/* Nowhere left to report it. */
	}
	if (rot)
		rot_after_write(n);
}

int hio_log_limited(struct hio_log_limit *lim, long period_ms, unsigned *skipped)
{
	unsigned long long now = hio_mono_ms(), next;

	next = __atomic_load_n(&lim->next_ms, __ATOMIC_RELAXED);
	/* One thread wins the period: the others count themselves as skipped. */
	if (now >= next &&
	    __atomic_compare_exchange_n(&lim->next_ms, &next, now + (unsigned long long)period_ms,
					0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		*skipped = __atomic_exchange_n(&lim->skipped, 0, __ATOMIC_RELAXED);
		return 1;
	}
	__atomic_add_fetch(&lim->skipped, 1, __ATOMIC_RELAXED);
	return 0;
}
