/* A minimal assertion kit for unit tests: CHECK records a failure and goes on,
 * so one run shows every broken expectation; main returns check_result(). */
#ifndef HIO_CHECK_H
#define HIO_CHECK_H
#include <stdio.h>

/* One pair for the whole test program: a fixture compiled apart (master_fixture.c)
 * counts in the same totals. */
__attribute__((weak)) int check_failures;
__attribute__((weak)) int check_count;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(cond)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

static inline int check_result(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}
#endif
