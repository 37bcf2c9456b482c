/* img: synthetic fluorescence images and hand-written encoders for them. */
#ifndef IMG_H
#define IMG_H

#include <stdint.h>

enum img_format { IMG_TIFF, IMG_PNG };

struct img_spec {
	enum img_format format;
	uint32_t width, height;
	int depth;     /* 8 or 16 bits per sample */
	int channels;  /* 1 gray, 3 RGB, 4 RGBA */
	int gfp_level; /* added to the green of "cell" pixels, 0..200 on a 0..255 scale */
	uint64_t seed;
};

/* GFP level at time point t of times: from 0 at the first to 200 at the last. */
int img_gfp_level(int t, int times);
/* Bytes of the uncompressed pixels. */
uint64_t img_pixel_bytes(const struct img_spec *s);
/* Writes the whole file to fd; *green gets the exact sum of the green samples (of the
 * only colour sample of a gray image). 0, or -1 with errno set. */
int img_write(int fd, const struct img_spec *s, uint64_t *green);

#endif
