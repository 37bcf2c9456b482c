/* hio_sync: invariants and the one way to wait on a condition variable.
 *
 * HIO_ASSERT(cond) aborts with a log line naming the file, line and condition. It is
 * on unless NDEBUG is defined (meson's b_ndebug); the test build always has it.
 * HIO_ASSERT_HELD(mu) checks that the calling thread holds mu: every function whose
 * comment says "the caller holds X" starts with it. It reads glibc's record of the
 * owner, which glibc keeps for every mutex type; elsewhere it checks nothing.
 *
 * Condition variables are always on CLOCK_MONOTONIC (hio_cond_init), so a wall clock
 * step never stretches or cuts a deadline. */
#ifndef HIO_SYNC_H
#define HIO_SYNC_H
#include <pthread.h>
#include <stdint.h>

void hio_assert_fail(const char *file, int line, const char *what) __attribute__((noreturn));
/* 1 when the calling thread holds mu (always 1 where that cannot be known). */
int hio_mutex_held(pthread_mutex_t *mu);

#ifdef NDEBUG
#define HIO_ASSERT(cond) ((void)0)
#define HIO_ASSERT_HELD(mu) ((void)0)
#else
#define HIO_ASSERT(cond) ((cond) ? (void)0 : hio_assert_fail(__FILE__, __LINE__, #cond))
#define HIO_ASSERT_HELD(mu)                                                                        \
	(hio_mutex_held(mu) ? (void)0 : hio_assert_fail(__FILE__, __LINE__, "holds " #mu))
#endif

/* pthread_cond_init on CLOCK_MONOTONIC. 0 or an errno value. */
int hio_cond_init(pthread_cond_t *cv);
/* Waits on cv (mu held) at most ms milliseconds (ms < 0: no deadline). 0 when woken
 * (spuriously, perhaps: callers loop on their predicate), ETIMEDOUT at the deadline. */
int hio_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms);
/* Same, until the monotonic time deadline_ms (hio_mono_ms()). */
int hio_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ms);

#endif
