/* hio_log: the one logger. Lines go to stderr as
 *   2026-11-25T10:00:00.123Z hio-master[1234] WARN: what failed, on what, what next
 * Thread-safe (one write(2) per line).
 * When stderr is a regular file opened for appending (a daemon's STATE/NAME.log), the
 * logger rotates it: once a line takes it to HIO_LOG_MAX bytes (a size, default 10M;
 * 0 or off: never), NAME.1 .. NAME.(HIO_LOG_KEEP - 1) move up one, NAME becomes NAME.1
 * and a new NAME replaces stderr (and stdout, when that is the same file). Lines stay
 * whole. Processes sharing the file (children that inherited it) each follow a
 * rotation done by one of them. */
#ifndef HIO_LOG_H
#define HIO_LOG_H
#include <stddef.h>

enum hio_log_level { HIO_LOG_ERROR = 0, HIO_LOG_WARN, HIO_LOG_INFO, HIO_LOG_DEBUG };

/* prog is copied. Level also comes from HIO_LOG=error|warn|info|debug; the rotation's
 * settings from HIO_LOG_MAX and HIO_LOG_KEEP (1 to 100 old files, default 3), a bad one
 * logged and replaced by the default. A program that points stderr elsewhere later
 * (daemonizing) needs nothing more: the logger notices by itself. */
void hio_log_init(const char *prog);
void hio_log_set_level(enum hio_log_level lvl);
int hio_log_enabled(enum hio_log_level lvl);
/* Sends every line to fn instead of stderr (fn NULL: back to stderr). line is the whole
 * formatted line without its newline; fn may be called on any thread, at once from
 * several, and must not log. For programs that embed libhio and have a logger; no
 * rotation then (the caller owns the output). */
typedef void (*hio_log_func)(void *ud, enum hio_log_level lvl, const char *line);
void hio_log_set_func(hio_log_func fn, void *ud);
void hio_log(enum hio_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes that are not a line of ours (a child's stderr passed on) to stderr, counted
 * toward the rotation like lines (but written as they come, so a rotation may fall
 * inside one of their lines). */
void hio_log_raw(const void *p, size_t n);

/* A line that peers can cause (a refused token, a flood of connections) must neither
 * go unlogged nor flood the log: such a site keeps a static hio_log_limit and calls
 * hio_log_limited(&lim, period_ms, &skipped) before logging. It returns 1 at most once
 * per period (the first event logs at once) with *skipped the events not logged since
 * the last line, else 0 and counts the event. Lock-free, any thread. */
struct hio_log_limit {
	unsigned long long next_ms; /* monotonic; 0 = log the next event */
	unsigned skipped;
};
int hio_log_limited(struct hio_log_limit *lim, long period_ms, unsigned *skipped);
#define HIO_LOG_LIMIT_MS 10000 /* the period of every such site in hio */

#define hio_err(...) hio_log(HIO_LOG_ERROR, __VA_ARGS__)
#define hio_warn(...) hio_log(HIO_LOG_WARN, __VA_ARGS__)
#define hio_info(...) hio_log(HIO_LOG_INFO, __VA_ARGS__)
#define hio_debug(...)                                                                             \
	do {                                                                                       \
		if (hio_log_enabled(HIO_LOG_DEBUG))                                                \
			hio_log(HIO_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
