/* gfp: the green-channel sum of one image (paper IV-B), from PNG (libpng) or TIFF
 * (libtiff). The decoders stream row by row, so memory stays one row per image. */
#ifndef GFP_H
#define GFP_H

#include <stddef.h>
#include <stdint.h>

/* Refused before any allocation: a header claiming more is a failed input. */
#define GFP_DIM_MAX 100000u
#define GFP_PIXELS_MAX (1ull << 32)

struct gfp_stats {
	const char *format; /* static string: "png" or "tiff" */
	uint32_t width, height;
	int channels; /* samples per pixel as stored: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
	int depth;    /* bits per sample: 8 or 16 */
	uint64_t green_sum, pixels;
};

/* Each returns 0 and fills st, or -1 with a one-line reason in err. path is read only. */
int gfp_read_png(const char *path, struct gfp_stats *st, char *err, size_t errlen);
int gfp_read_tiff(const char *path, struct gfp_stats *st, char *err, size_t errlen);

/* The channel holding green: 1 in RGB(A), else the only colour channel. */
static inline int gfp_green_index(int channels)
{
	return channels >= 3 ? 1 : 0;
}

/* Sums sample g of each pixel of one row of n pixels with c samples of depth bits;
 * 16-bit samples in native byte order. */
static inline uint64_t gfp_row_sum(const unsigned char *row, uint32_t n, int c, int g, int depth)
{
	uint64_t s = 0;
	if (depth == 8) {
		for (uint32_t i = 0; i < n; i++)
			s += row[(size_t)i * c + g];
	} else {
		const uint16_t *r16 = (const uint16_t *)row;
		for (uint32_t i = 0; i < n; i++)
			s += r16[(size_t)i * c + g];
	}
	return s;
}

#endif
