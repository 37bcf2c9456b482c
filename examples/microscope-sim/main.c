/* hio-microscope-sim: a time-lapse of a multi-well plate, saved the way instruments
 * save: for each time point, one image per well, at a chosen rate, written straight to
 * its final name or to NAME.tmp and then renamed. In the first --positive wells GFP
 * rises over time (paper IV-B, Fig. 5): a growing green level in a grid of "cells",
 * up to 200 (on 0..255) at the last time point in the first well, and a fraction of
 * that in the next ones (K-w)/K.
 *
 * The encoders are written here by hand (PNG through zlib, TIFF uncompressed), not with
 * libpng or libtiff, and the generator knows every pixel it wrote: --truth lists each
 * image's exact green sum, so tests check hio-gfp against an independent computation. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hio_log.h"
#include "hio_util.h"
#include "img.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: hio-microscope-sim [options] DIR\n"
		"  --wells N         wells of a 96-well plate, A01, A02, ... (default 4)\n"
		"  --times T         time points (default 5)\n"
		"  --positive K      the first K wells express GFP (default wells / 2)\n"
		"  --size MB         image size, e.g. 2.5, 5, 10 (default 2.5); width 1024\n"
		"  --width W --height H   instead of --size\n"
		"  --format tiff|png (default tiff, uncompressed like most instruments)\n"
		"  --depth 8|16      bits per sample (default 8)\n"
		"  --channels 1|3|4  gray, RGB, RGBA (default 3)\n"
		"  --rate R          images per second (default 0: as fast as possible)\n"
		"  --mode direct|rename   write the final name, or NAME.tmp then rename\n"
		"  --plate NAME      top directory under DIR (default plate1)\n"
		"  --truth FILE      append 'name green_sum pixels' per image\n"
		"  --seed S          pixel noise seed (default 1)\n");
}

/* A flag's number, or exit 2 with the reason (this is a program, not a library). */
static long flag_long(const char *flag, const char *v, long min, long max)
{
	char err[160];
	long n;

	if (hio_parse_flag(flag, v, min, max, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "hio-microscope-sim: %s\n", err);
		exit(2);
	}
	return n;
}

static double flag_double(const char *flag, const char *v, double min, double max)
{
	double d;

	if (hio_parse_double(v, min, max, &d) < 0) {
		fprintf(stderr, "hio-microscope-sim: %s: '%s' is not a number from %g to %g\n",
			flag, v, min, max);
		exit(2);
	}
	return d;
}

static int write_file(const char *path, const char *tmp, const struct img_spec *s, uint64_t *green)
{
	int fd = open(tmp ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		hio_err("cannot create %s: %s; stopping", tmp ? tmp : path, strerror(errno));
		return -1;
	}
	if (img_write(fd, s, green) < 0) {
		hio_err("cannot write %s: %s; stopping", tmp ? tmp : path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		hio_err("closing %s: %s; stopping", tmp ? tmp : path, strerror(errno));
		return -1;
	}
	if (tmp && rename(tmp, path) < 0) {
		hio_err("cannot rename %s to %s: %s; stopping", tmp, path, strerror(errno));
		return -1;
	}
	return 0;
}

static double now_s(void)
{
	return (double)hio_mono_ms() / 1000.0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"wells", 1, 0, 'w'},  {"times", 1, 0, 't'}, {"positive", 1, 0, 'p'},
	    {"size", 1, 0, 's'},   {"width", 1, 0, 'W'}, {"height", 1, 0, 'H'},
	    {"format", 1, 0, 'f'}, {"depth", 1, 0, 'd'}, {"channels", 1, 0, 'c'},
	    {"rate", 1, 0, 'r'},   {"mode", 1, 0, 'm'},	 {"truth", 1, 0, 'T'},
	    {"seed", 1, 0, 'S'},   {"plate", 1, 0, 'P'}, {"help", 0, 0, 'h'},
	    {0, 0, 0, 0}};
	struct img_spec s = {.width = 1024, .depth = 8, .channels = 3, .format = IMG_TIFF};
	int wells = 4, times = 5, positive = -1, rename_mode = 0, c;
	double size_mb = 2.5, rate = 0, t0;
	const char *truth = NULL, *plate = "plate1";
	unsigned long seed = 1;
	FILE *tf = NULL;
	uint64_t bytes = 0;

	hio_log_init("hio-microscope-sim");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'w':
			wells = (int)flag_long("--wells", optarg, 1, 96);
			break;
		case 't':
			times = (int)flag_long("--times", optarg, 1, 10000);
			break;
		case 'p':
			positive = (int)flag_long("--positive", optarg, 0, 96);
			break;
		case 's':
			size_mb = flag_double("--size", optarg, 0.001, 4096);
			break;
		case 'W':
			s.width = (uint32_t)flag_long("--width", optarg, 1, 65535);
			break;
		case 'H':
			s.height = (uint32_t)flag_long("--height", optarg, 1, 65535);
			break;
		case 'f':
			s.format = !strcmp(optarg, "png") ? IMG_PNG : IMG_TIFF;
			break;
		case 'd':
			s.depth = (int)flag_long("--depth", optarg, 8, 16);
			break;
		case 'c':
			s.channels = (int)flag_long("--channels", optarg, 1, 4);
			break;
		case 'r':
			rate = flag_double("--rate", optarg, 0, 1e6);
			break;
		case 'm':
			rename_mode = !strcmp(optarg, "rename");
			break;
		case 'T':
			truth = optarg;
			break;
		case 'S':
			seed = (unsigned long)flag_long("--seed", optarg, 0, LONG_MAX);
			break;
		case 'P':
			plate = optarg;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1 || wells < 1 || wells > 96 || times < 1 || times > 10000 ||
	    (s.depth != 8 && s.depth != 16) || s.channels < 1 || s.channels > 4 ||
	    s.channels == 2 || s.width < 1 || s.width > 65535 || size_mb <= 0 || rate < 0) {
		usage();
		return 2;
	}
	if (positive < 0)
		positive = wells / 2;
	if (!s.height) {
		/* The uncompressed pixel bytes make up the size, as in the paper's 2.5/5/10 MB. */
		double row = (double)s.width * s.channels * (s.depth / 8);
		s.height = (uint32_t)(size_mb * 1048576.0 / row);
		if (s.height < 1)
			s.height = 1;
	}
	if (s.height > 65535) {
		hio_err("height %u is over 65535", s.height);
		return 2;
	}
	if (truth && !(tf = fopen(truth, "a"))) {
		hio_err("cannot open %s: %s", truth, strerror(errno));
		return 1;
	}
	t0 = now_s();
	for (int t = 0; t < times; t++) {
		for (int w = 0; w < wells; w++) {
			char dir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 40];
			uint64_t green = 0;
			int i = t * wells + w;

			if (rate > 0) {
				double due = t0 + i / rate, d = due - now_s();
				if (d > 0) {
					struct timespec ts = {(time_t)d,
							      (long)((d - (time_t)d) * 1e9)};
					nanosleep(&ts, NULL);
				}
			}
			snprintf(dir, sizeof(dir), "%s/%s/%c%02d", argv[optind], plate,
				 'A' + w / 12, w % 12 + 1);
			if (hio_mkdir_p(dir) < 0) {
				hio_err("cannot create %s: %s; stopping", dir, strerror(errno));
				return 1;
			}
			snprintf(path, sizeof(path), "%s/t%03d.%s", dir, t,
				 s.format == IMG_PNG ? "png" : "tif");
			snprintf(tmp, sizeof(tmp), "%s.tmp", path);
			/* Formulations differ: the first well rises fastest. */
			s.gfp_level =
			    w < positive ? img_gfp_level(t, times) * (positive - w) / positive : 0;
			s.seed = seed * 1000003ull + (uint64_t)i;
			if (write_file(path, rename_mode ? tmp : NULL, &s, &green) < 0)
				return 1;
			bytes += img_pixel_bytes(&s);
			if (tf)
				fprintf(tf, "%s/%c%02d/t%03d.%s %llu %llu\n", plate, 'A' + w / 12,
					w % 12 + 1, t, s.format == IMG_PNG ? "png" : "tif",
					(unsigned long long)green,
					(unsigned long long)s.width * s.height);
		}
	}
	if (tf && fclose(tf) != 0) {
		hio_err("writing %s failed", truth);
		return 1;
	}
	printf("hio-microscope-sim: %d images (%d wells x %d time points, %.1f MB) in %.2f s\n",
	       wells * times, wells, times, (double)bytes / 1e6, now_s() - t0);
	return 0;
}
