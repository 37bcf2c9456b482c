/* The TIFF decoder: libtiff, one scanline at a time, any compression libtiff decodes
 * (none, LZW and deflate are the ones tested). Strip-based images only; with separate
 * planes only the green plane is read. */
#include "gfp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

/* libtiff reports through a process-wide handler; hio-gfp decodes one image at a time. */
static char last_error[256];

static void on_error(const char *module, const char *fmt, va_list ap)
{
	char msg[200];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(last_error, sizeof(last_error), "%s%s%s", module ? module : "", module ? ": " : "",
		 msg);
}

static void on_warning(const char *module, const char *fmt, va_list ap)
{
	(void)module; /* unknown tags and the like: the pixels are still valid */
	(void)fmt;
	(void)ap;
}

static void fail(char *err, size_t errlen, const char *what)
{
	if (last_error[0])
		snprintf(err, errlen, "TIFF: %s: %s", what, last_error);
	else
		snprintf(err, errlen, "TIFF: %s", what);
}

int gfp_read_tiff(const char *path, struct gfp_stats *st, char *err, size_t errlen)
{
	uint32_t w = 0, h = 0;
	uint16_t spp = 1, bits = 1, planar = PLANARCONFIG_CONTIG, fmt = SAMPLEFORMAT_UINT;
	uint16_t photo = 0;
	unsigned char *row = NULL;
	TIFF *t;
	int g, rc = -1, per_row;
	tmsize_t sz;

	memset(st, 0, sizeof(*st));
	st->format = "tiff";
	last_error[0] = '\0';
	TIFFSetErrorHandler(on_error);
	TIFFSetWarningHandler(on_warning);
	/* "m": no mmap, so a file that shrinks under us is a read error, not SIGBUS. */
	t = TIFFOpen(path, "rm");
	if (!t) {
		fail(err, errlen, "cannot open");
		return -1;
	}
	if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) ||
	    !TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) {
		fail(err, errlen, "no width, length or photometric tag");
		goto out;
	}
	TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits);
	TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
	if (w == 0 || h == 0 || w > GFP_DIM_MAX || h > GFP_DIM_MAX) {
		snprintf(err, errlen, "TIFF: size %ux%u is outside 1..%u", w, h, GFP_DIM_MAX);
		goto out;
	}
	if (bits != 8 && bits != 16) {
		snprintf(err, errlen, "TIFF: %u bits per sample is not supported (8 or 16)", bits);
		goto out;
	}
	if (fmt != SAMPLEFORMAT_UINT) {
		snprintf(err, errlen, "TIFF: sample format %u is not supported (unsigned only)",
			 fmt);
		goto out;
	}
	if (!((photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE) && spp <= 2) &&
	    !(photo == PHOTOMETRIC_RGB && (spp == 3 || spp == 4))) {
		snprintf(err, errlen,
			 "TIFF: photometric %u with %u samples is not supported (gray or RGB)",
			 photo, spp);
		goto out;
	}
	if (TIFFIsTiled(t)) {
		snprintf(err, errlen, "TIFF: tiled images are not supported");
		goto out;
	}
	g = gfp_green_index(spp);
	sz = TIFFScanlineSize(t);
	/* Contiguous: all samples in one scanline; separate: scanlines of one sample. */
	per_row = planar == PLANARCONFIG_SEPARATE ? 1 : spp;
	if (sz <= 0 || (uint64_t)sz < (uint64_t)w * per_row * (bits / 8)) {
		fail(err, errlen, "bad scanline size");
		goto out;
	}
	row = malloc((size_t)sz);
	if (!row) {
		snprintf(err, errlen, "out of memory for a row of %lld bytes", (long long)sz);
		goto out;
	}
	st->width = w;
	st->height = h;
	st->channels = spp;
	st->depth = bits;
	st->pixels = (uint64_t)w * h;
	for (uint32_t y = 0; y < h; y++) {
		if (TIFFReadScanline(t, row, y, planar == PLANARCONFIG_SEPARATE ? g : 0) < 0) {
			char what[48];
			snprintf(what, sizeof(what), "row %u of %u", y, h);
			fail(err, errlen, what);
			goto out;
		}
		st->green_sum += gfp_row_sum(row, w, per_row, per_row == 1 ? 0 : g, bits);
	}
	rc = 0;
out:
	free(row);
	TIFFClose(t);
	return rc;
}
