/* Pixels: noise 0..15 everywhere (on a 0..255 scale), plus the GFP level in the green of
 * pixels inside a grid of 32x32 "cells" (one in three); red, blue and alpha are random
 * over their full range so that summing the wrong channel shows. 16-bit samples are the
 * 8-bit value times 256 plus a random low byte. */
#include "img.h"
#include "hio_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define OUTBUF (1u << 20)

struct out {
	int fd;
	unsigned char *buf;
	size_t n;
	int err;
};

static int flush(struct out *o)
{
	if (!o->err && o->n && hio_write_all(o->fd, o->buf, o->n) < 0)
		o->err = errno ? errno : EIO;
	o->n = 0;
	if (o->err)
		errno = o->err;
	return o->err ? -1 : 0;
}

/* Buffered, so an image goes out in 1 MiB writes, as instruments' savers do. */
static void put(struct out *o, const void *p, size_t n)
{
	const unsigned char *c = p;
	while (n && !o->err) {
		size_t k = OUTBUF - o->n < n ? OUTBUF - o->n : n;
		memcpy(o->buf + o->n, c, k);
		o->n += k, c += k, n -= k;
		if (o->n == OUTBUF)
			flush(o);
	}
}

static uint64_t next(uint64_t *x)
{
	/* xorshift64*: fast, and plenty for noise */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

int img_gfp_level(int t, int times)
{
	return times > 1 ? 200 * t / (times - 1) : 200;
}

uint64_t img_pixel_bytes(const struct img_spec *s)
{
	return (uint64_t)s->width * s->height * s->channels * (s->depth / 8);
}

/* One row of samples in file order: bytes for 8 bits, 16-bit in big (PNG) or little
 * (TIFF "II") endian. Returns the row's green sum. */
static uint64_t make_row(const struct img_spec *s, uint32_t y, uint64_t *rng, unsigned char *row,
			 int big_endian)
{
	int c = s->channels, g = c >= 3 ? 1 : 0, bps = s->depth / 8;
	uint64_t sum = 0;
	size_t k = 0;

	for (uint32_t x = 0; x < s->width; x++) {
		uint64_t r = next(rng);
		int cell = ((x >> 5) + (y >> 5)) % 3 == 0;
		for (int ch = 0; ch < c; ch++, r = (r >> 16) | (r << 48)) {
			unsigned v8, v;
			if (ch == g)
				v8 = (unsigned)(r & 15) + (cell ? (unsigned)s->gfp_level : 0);
			else
				v8 = (unsigned)(r & 255);
			v = bps == 2 ? v8 * 256 + (unsigned)((r >> 8) & 255) : v8;
			if (ch == g)
				sum += v;
			if (bps == 1) {
				row[k++] = (unsigned char)v;
			} else if (big_endian) {
				row[k++] = (unsigned char)(v >> 8);
				row[k++] = (unsigned char)v;
			} else {
				row[k++] = (unsigned char)v;
				row[k++] = (unsigned char)(v >> 8);
			}
		}
	}
	return sum;
}

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void chunk(struct out *o, const char *type, const unsigned char *data, uint32_t n)
{
	unsigned char h[8], crc[4];
	uLong c = crc32(0, (const Bytef *)type, 4);
	be32(h, n);
	memcpy(h + 4, type, 4);
	put(o, h, 8);
	/* crc32() with a NULL buffer returns the initial value, not c */
	if (n) {
		put(o, data, n);
		c = crc32(c, data, n);
	}
	be32(crc, (uint32_t)c);
	put(o, crc, 4);
}

static int write_png(struct out *o, const struct img_spec *s, unsigned char *row, size_t rowlen,
		     uint64_t *green)
{
	static const int color_type[] = {0, 0, 4, 2, 6};
	unsigned char ihdr[13], *z = malloc(OUTBUF);
	uint64_t rng = s->seed | 1;
	z_stream zs = {0};
	int rc = -1;

	if (!z || deflateInit(&zs, 1) != Z_OK) {
		free(z);
		errno = ENOMEM;
		return -1;
	}
	put(o, "\x89PNG\r\n\x1a\n", 8);
	be32(ihdr, s->width);
	be32(ihdr + 4, s->height);
	ihdr[8] = (unsigned char)s->depth;
	ihdr[9] = (unsigned char)color_type[s->channels];
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	chunk(o, "IHDR", ihdr, 13);
	for (uint32_t y = 0; y <= s->height; y++) {
		int last = y == s->height;
		if (!last) {
			row[0] = 0; /* filter: none */
			*green += make_row(s, y, &rng, row + 1, 1);
			zs.next_in = row;
			zs.avail_in = (uInt)(rowlen + 1);
		}
		do {
			zs.next_out = z;
			zs.avail_out = OUTBUF;
			if (deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR)
				goto out;
			if (OUTBUF - zs.avail_out)
				chunk(o, "IDAT", z, OUTBUF - zs.avail_out);
		} while (zs.avail_out == 0);
	}
	chunk(o, "IEND", NULL, 0);
	rc = 0;
out:
	deflateEnd(&zs);
	free(z);
	return rc;
}

static void le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
	le16(p, v & 0xffff), le16(p + 2, v >> 16);
}

/* Little-endian baseline TIFF: header, IFD, BitsPerSample array, one strip of pixels. */
static void write_tiff(struct out *o, const struct img_spec *s, unsigned char *row, size_t rowlen,
		       uint64_t *green)
{
	unsigned char hdr[512] = {'I', 'I', 42, 0, 8, 0, 0, 0};
	int n = s->channels == 4 ? 11 : 10, c = s->channels;
	uint32_t bps_at = 8 + 2 + 12 * (uint32_t)n + 4, data_at = bps_at + 8;
	unsigned char *e = hdr + 10;
	uint64_t rng = s->seed | 1;
	struct {
		unsigned tag, type;
		uint32_t count, value;
	} ent[] = {
	    {256, 4, 1, s->width},
	    {257, 4, 1, s->height},
	    {258, 3, (uint32_t)c, c > 2 ? bps_at : (uint32_t)s->depth},
	    {259, 3, 1, 1},		 /* no compression */
	    {262, 3, 1, c >= 3 ? 2 : 1}, /* RGB or min-is-black */
	    {273, 4, 1, data_at},
	    {277, 3, 1, (uint32_t)c},
	    {278, 4, 1, s->height},
	    {279, 4, 1, (uint32_t)(rowlen * s->height)},
	    {284, 3, 1, 1}, /* contiguous */
	    {338, 3, 1, 2}, /* unassociated alpha */
	};

	le16(hdr + 8, (unsigned)n);
	for (int i = 0; i < n; i++, e += 12) {
		le16(e, ent[i].tag);
		le16(e + 2, ent[i].type);
		le32(e + 4, ent[i].count);
		if (ent[i].type == 3 && ent[i].count == 1)
			le16(e + 8, ent[i].value);
		else
			le32(e + 8, ent[i].value);
	}
	le32(e, 0); /* no next IFD */
	for (int i = 0; i < 4; i++)
		le16(hdr + bps_at + 2 * i, (unsigned)s->depth);
	put(o, hdr, data_at);
	for (uint32_t y = 0; y < s->height; y++) {
		*green += make_row(s, y, &rng, row, 0);
		put(o, row, rowlen);
	}
}

int img_write(int fd, const struct img_spec *s, uint64_t *green)
{
	size_t rowlen = (size_t)s->width * s->channels * (s->depth / 8);
	struct out o = {.fd = fd, .buf = malloc(OUTBUF)};
	unsigned char *row = malloc(rowlen + 1);
	int rc = -1;

	*green = 0;
	if (!o.buf || !row) {
		errno = ENOMEM;
		goto out;
	}
	if (s->format == IMG_PNG) {
		if (write_png(&o, s, row, rowlen, green) < 0)
			goto out;
	} else {
		write_tiff(&o, s, row, rowlen, green);
	}
	rc = flush(&o);
out:
	free(o.buf);
	free(row);
	return rc;
}
