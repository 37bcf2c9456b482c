#include "hio_log.h"
#include "hio_util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
/* Guards recent[]. A leaf: taken only inside hio_log, around no I/O. */
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

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void hio_log_init(const char *prog)
{
	const char *env = getenv("HIO_LOG");

	snprintf(log_prog, sizeof(log_prog), "%s", prog);
	if (!env)
		return;
	for (int i = 0; i <= HIO_LOG_DEBUG; i++)
		if (strcasecmp(env, level_names[i]) == 0 ||
		    (i == HIO_LOG_WARN && strcasecmp(env, "warning") == 0))
			log_level = (enum hio_log_level)i;
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
	/* One write(2) per line keeps lines from threads whole. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
	}
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
