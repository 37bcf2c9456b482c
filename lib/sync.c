#include "hio_log.h"
#include "hio_sync.h"
#include "hio_util.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

void hio_assert_fail(const char *file, int line, const char *what)
{
	hio_err("%s:%d: assertion failed: %s; aborting", file, line, what);
	abort();
}

int hio_mutex_held(pthread_mutex_t *mu)
{
#ifdef __GLIBC__
	/* gettid() is a system call each time, and asserts run on every lock of a hot
	 * path (the connector made 8 a message); a thread's id never changes. */
	static _Thread_local pid_t tid;

	if (!tid)
		tid = gettid();
	return mu->__data.__owner == (int)tid;
#else
	(void)mu;
	return 1;
#endif
}

int hio_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	rc = pthread_condattr_init(&ca);
	if (rc)
		return rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}

int hio_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms)
{
	struct timespec ts;
	int rc;

	if (ms < 0)
		return pthread_cond_wait(cv, mu);
	hio_timespec_in(&ts, CLOCK_MONOTONIC, ms);
	rc = pthread_cond_timedwait(cv, mu, &ts);
	return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

int hio_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ms)
{
	uint64_t now = hio_mono_ms();

	if (now >= deadline_ms)
		return ETIMEDOUT;
	return hio_cond_wait_ms(cv, mu, (long)(deadline_ms - now));
}
