#include "hio_log.h"

#include <stdarg.h>
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
	size_t n;
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
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
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
