/* The PNG decoder: libpng, row by row (the whole image only when interlaced). libpng
 * reports errors by longjmp, so everything the jump must free lives in struct ctx,
 * outside the function that calls setjmp. */
#include "gfp.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An interlaced image is decoded whole; this bounds that buffer. */
#define GFP_PNG_IMAGE_MAX (1ull << 30)

struct ctx {
	FILE *f;
	png_structp png;
	png_infop info;
	unsigned char *buf;
	png_bytep *rows;
	char *err;
	size_t errlen;
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct ctx *c = png_get_error_ptr(png);
	/* libpng's own words for a short read name no cause */
	snprintf(c->err, c->errlen, "PNG: %s%s", msg,
		 strcmp(msg, "Read Error") ? "" : ": the file ends early (truncated)");
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg; /* a warning leaves the pixels valid; errors alone fail the input */
}

static int decode(struct ctx *c, struct gfp_stats *st)
{
	png_uint_32 w, h;
	int depth, type, interlace, passes, g;
	size_t rowbytes;

	if (setjmp(png_jmpbuf(c->png)))
		return -1;
	png_init_io(c->png, c->f);
	png_set_user_limits(c->png, GFP_DIM_MAX, GFP_DIM_MAX);
	png_set_chunk_malloc_max(c->png, 8u << 20);
	png_read_info(c->png, c->info);
	png_get_IHDR(c->png, c->info, &w, &h, &depth, &type, &interlace, NULL, NULL);
	if ((uint64_t)w * h > GFP_PIXELS_MAX) {
		snprintf(c->err, c->errlen, "PNG: %ux%u pixels is over the limit", w, h);
		return -1;
	}
	st->depth = depth;
	if (type == PNG_COLOR_TYPE_PALETTE) {
		png_set_palette_to_rgb(c->png);
		st->depth = 8;
	}
	if (depth < 8)
		png_set_packing(c->png); /* one byte per sample, values kept as stored */
	if (depth == 16)
		png_set_swap(c->png); /* native order for the uint16 sum */
	passes = png_set_interlace_handling(c->png);
	png_read_update_info(c->png, c->info);
	st->channels = png_get_channels(c->png, c->info);
	st->width = w;
	st->height = h;
	st->pixels = (uint64_t)w * h;
	rowbytes = png_get_rowbytes(c->png, c->info);
	g = gfp_green_index(st->channels);
	if (passes > 1) {
		if ((uint64_t)rowbytes * h > GFP_PNG_IMAGE_MAX) {
			snprintf(c->err, c->errlen,
				 "PNG: interlaced image of %zu x %u bytes is over %llu", rowbytes,
				 h, (unsigned long long)GFP_PNG_IMAGE_MAX);
			return -1;
		}
		c->buf = malloc(rowbytes * h);
		c->rows = malloc(sizeof(*c->rows) * h);
		if (!c->buf || !c->rows) {
			snprintf(c->err, c->errlen, "out of memory for %zu x %u bytes", rowbytes,
				 h);
			return -1;
		}
		for (png_uint_32 y = 0; y < h; y++)
			c->rows[y] = c->buf + (size_t)y * rowbytes;
		png_read_image(c->png, c->rows);
		for (png_uint_32 y = 0; y < h; y++)
			st->green_sum +=
			    gfp_row_sum(c->rows[y], w, st->channels, g, depth > 8 ? 16 : 8);
	} else {
		c->buf = malloc(rowbytes);
		if (!c->buf) {
			snprintf(c->err, c->errlen, "out of memory for a row of %zu bytes",
				 rowbytes);
			return -1;
		}
		for (png_uint_32 y = 0; y < h; y++) {
			png_read_row(c->png, c->buf, NULL);
			st->green_sum +=
			    gfp_row_sum(c->buf, w, st->channels, g, depth > 8 ? 16 : 8);
		}
	}
	/* Reads up to IEND, so a file cut after the pixel data still fails. */
	png_read_end(c->png, NULL);
	return 0;
}

int gfp_read_png(const char *path, struct gfp_stats *st, char *err, size_t errlen)
{
	struct ctx c = {.err = err, .errlen = errlen};
	int rc = -1;

	memset(st, 0, sizeof(*st));
	st->format = "png";
	c.f = fopen(path, "rb");
	if (!c.f) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
	if (!c.png || !(c.info = png_create_info_struct(c.png))) {
		snprintf(err, errlen, "PNG: cannot create the decoder");
		goto out;
	}
	rc = decode(&c, st);
out:
	png_destroy_read_struct(c.png ? &c.png : NULL, c.info ? &c.info : NULL, NULL);
	free(c.rows);
	free(c.buf);
	fclose(c.f);
	return rc;
}
