/* hio-gfp: the paper's case study (IV-B). For each image, the sum of its green channel
 * (of the only channel of a gray image) decides whether GFP is expressed; only then is
 * the image kept among the results.
 *
 * As a hio analysis (no arguments): reads HIO_INPUT, names it HIO_NAME, writes
 * $HIO_OUTPUT/summary.json and, when positive, a copy of the image beside it; prints
 * one line (the result `stdout`). Exit 1 on a corrupt or unsupported image, with the
 * reason on stderr (the result `error`).
 * By hand: `hio-gfp FILE...` prints each file's summary as one JSON line.
 *
 * HIO_GFP_THRESHOLD (default 20): positive when the mean green value, on a 0..255
 * scale (16-bit means are scaled by 255/65535), is above it. */
#include "gfp.h"
#include "hio_log.h"
#include "hio_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GFP_THRESHOLD_DEFAULT 20.0

static int decode(const char *path, struct gfp_stats *st, char *err, size_t errlen)
{
	unsigned char magic[8] = {0};
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	n = hio_read_full(fd, magic, sizeof(magic));
	close(fd);
	if (n == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8))
		return gfp_read_png(path, st, err, errlen);
	if (n >= 4 && (!memcmp(magic, "II*\0", 4) || !memcmp(magic, "MM\0*", 4)))
		return gfp_read_tiff(path, st, err, errlen);
	if (n >= 4 && (!memcmp(magic, "II+\0", 4) || !memcmp(magic, "MM\0+", 4)))
		return gfp_read_tiff(path, st, err, errlen); /* BigTIFF */
	snprintf(err, errlen, "not a PNG or TIFF image (%zd bytes, unknown signature)", n);
	return -1;
}

static json_t *summary(const char *name, const struct gfp_stats *st, double threshold)
{
	double mean = st->pixels ? (double)st->green_sum / (double)st->pixels : 0;
	double maxval = (double)((1u << st->depth) - 1);
	double mean8 = mean * 255.0 / maxval;

	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:f, s:f, s:b}", "name",
			 name, "format", st->format, "width", (int)st->width, "height",
			 (int)st->height, "channels", st->channels, "bit_depth", st->depth,
			 "green_sum", (json_int_t)st->green_sum, "pixels", (json_int_t)st->pixels,
			 "mean_green", mean, "mean_green_8bit", mean8, "threshold", threshold,
			 "gfp_positive", mean8 > threshold);
}

/* A copy of src as dst: a hard link when both sit on one filesystem, else the bytes. */
static int keep_image(const char *src, const char *dst)
{
	char buf[1 << 16];
	int in = -1, out = -1, rc = -1;
	ssize_t n;

	if (link(src, dst) == 0)
		return 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (in < 0 || out < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (hio_write_all(out, buf, (size_t)n) < 0)
			goto out;
	rc = n == 0 ? 0 : -1;
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		rc = -1;
	return rc;
}

static double threshold_from_env(void)
{
	const char *s = getenv("HIO_GFP_THRESHOLD");
	double v;

	if (!s || !*s)
		return GFP_THRESHOLD_DEFAULT;
	if (hio_parse_double(s, 0, 1e300, &v) < 0) {
		hio_warn("HIO_GFP_THRESHOLD=\"%s\" is not a number >= 0; using %.0f", s,
			 GFP_THRESHOLD_DEFAULT);
		return GFP_THRESHOLD_DEFAULT;
	}
	return v;
}

static int by_hand(int argc, char **argv, double threshold)
{
	struct gfp_stats st;
	char err[512];
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (decode(argv[i], &st, err, sizeof(err)) < 0) {
			hio_err("%s: %s", argv[i], err);
			rc = 1;
			continue;
		}
		json_t *o = summary(argv[i], &st, threshold);
		if (!o || json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10)) < 0) {
			hio_err("%s: cannot format the summary", argv[i]);
			rc = 1;
		}
		putchar('\n');
		json_decref(o);
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *in = getenv("HIO_INPUT"), *out = getenv("HIO_OUTPUT");
	const char *name = getenv("HIO_NAME"), *base;
	double threshold = threshold_from_env();
	char path[PATH_MAX], err[512];
	struct gfp_stats st;
	json_t *o = NULL;
	int rc = 1;

	hio_log_init("hio-gfp");
	if (argc > 1)
		return by_hand(argc, argv, threshold);
	if (!in || !out) {
		fprintf(stderr, "usage: hio-gfp FILE...  (or as a hio analysis, with HIO_INPUT "
				"and HIO_OUTPUT set)\n");
		return 2;
	}
	if (!name || !*name)
		name = in;
	if (decode(in, &st, err, sizeof(err)) < 0) {
		hio_err("%s: %s; the input is marked failed", name, err);
		return 1;
	}
	o = summary(name, &st, threshold);
	snprintf(path, sizeof(path), "%s/summary.json", out);
	if (!o || json_dump_file(o, path, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) < 0) {
		hio_err("%s: cannot write %s: %s", name, path, strerror(errno));
		goto out;
	}
	if (json_is_true(json_object_get(o, "gfp_positive"))) {
		base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		snprintf(path, sizeof(path), "%s/%s%s", out,
			 !*base || !strcmp(base, "summary.json") ? "image." : "", base);
		if (keep_image(in, path) < 0) {
			hio_err("%s: cannot keep the image as %s: %s", name, path, strerror(errno));
			goto out;
		}
	}
	printf("%s green_sum %llu mean %.2f (0..255: %.2f, threshold %.2f)\n",
	       json_is_true(json_object_get(o, "gfp_positive")) ? "positive" : "negative",
	       (unsigned long long)st.green_sum, json_real_value(json_object_get(o, "mean_green")),
	       json_real_value(json_object_get(o, "mean_green_8bit")), threshold);
	rc = 0;
out:
	json_decref(o);
	return rc;
}
