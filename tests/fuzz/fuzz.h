/* Shared by the fuzz targets: a check that aborts, so libFuzzer (and the replay test)
 * stop at the first broken property with the input that broke it. assert() is not used
 * because a build with NDEBUG would silently drop every property. */
#ifndef HIO_FUZZ_H
#define HIO_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
