/* hio_log: the one logger. Lines go to stderr as
 *   2026-11-25T10:00:00.123Z hio-master[1234] WARN: what failed, on what, what next
 * Thread-safe (one write(2) per line). */
#ifndef HIO_LOG_H
#define HIO_LOG_H

enum hio_log_level { HIO_LOG_ERROR = 0, HIO_LOG_WARN, HIO_LOG_INFO, HIO_LOG_DEBUG };

/* prog is copied. Level also comes from HIO_LOG=error|warn|info|debug. */
void hio_log_init(const char *prog);
void hio_log_set_level(enum hio_log_level lvl);
int hio_log_enabled(enum hio_log_level lvl);
/* Sends every line to fn instead of stderr (fn NULL: back to stderr). line is the whole
 * formatted line without its newline; fn may be called on any thread, at once from
 * several, and must not log. For programs that embed libhio and have a logger. */
typedef void (*hio_log_func)(void *ud, enum hio_log_level lvl, const char *line);
void hio_log_set_func(hio_log_func fn, void *ud);
void hio_log(enum hio_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
