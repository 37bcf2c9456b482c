/* hio-fs: the FUSE front door. `hio-fs [options] MASTER_URL MOUNTPOINT`: every file
 * completed under the mount streams to a free PE; results/ shows what came back. */
#define FUSE_USE_VERSION 312
#include "fs.h"
#include "fs_metrics.h"
#include "hio_config.h"
#include "hio_frame.h"
#include "hio_http.h"
#include "hio_log.h"
#include "hio_metrics.h"
#include "hio_sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SPOOL_MAX (10ull << 30)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hio-fs [options] MASTER_URL MOUNTPOINT\n"
		"  --token-file FILE   cluster token (default: $HIO_TOKEN)\n"
		"  --spool DIR         spool directory (default: $HIO_STATE_DIR/spool)\n"
		"  --spool-max SIZE    spool limit, bytes or with K/M/G (default 10G);\n"
		"                      writes past it fail with ENOSPC\n"
		"  --pipeline NAME     pipeline to stream to (default: default)\n"
		"  --ignore LIST       comma-separated patterns held until renamed\n"
		"                      (default: %s; '' holds none)\n"
		"  --settle MS         a completed file waits this long before it is sent,\n"
		"                      so a rename or removal right after still counts\n"
		"                      (default %d)\n"
		"  --compress MODE     auto, on or off (default auto)\n"
		"  --fsync             fsync each input before its close returns\n"
		"  --passthrough MODE  auto or off (default auto): with auto, on Linux 6.9+\n"
		"                      as root, the kernel writes files into the spool itself\n"
		"  --passthrough-reserve SIZE  free bytes the spool's disk and limit need for\n"
		"                      a writer to go passthrough (default 1G); a close fails\n"
		"                      with ENOSPC past the limit or under 1/8 of it free\n"
		"  --metrics-listen HOST:PORT  serve GET /metrics there (0 = any port;\n"
		"                      default $HIO_METRICS_LISTEN, else off)\n"
		"  -f                  stay in the foreground;  -d  FUSE debug;  -o OPT  FUSE "
		"options\n",
		FS_DEFAULT_IGNORE, FS_SETTLE_MS);
}

/* Our own long options; the rest (-f, -d, -o ..., the mount point) go to libfuse.
 * "--name value" and "--name=value" both work. */
static const char *const value_opts[] = {
    "token-file", "spool",	    "spool-max", "pipeline",	"ignore",
    "compress",	  "metrics-listen", "settle",	 "passthrough", "passthrough-reserve"};
static const char *metrics_listen; /* --metrics-listen */

/* A size option: 0, or -1 after saying what a size is. */
static int size_opt(const char *name, const char *val, uint64_t min, const char *eg, uint64_t *out)
{
	if (hio_parse_size(val, min, UINT64_MAX, out) == 0)
		return 0;
	fprintf(stderr,
		"hio-fs: --%s: '%s' is not a size: a whole number of bytes from %llu, "
		"optionally with K, M, G or T (e.g. %s)\n",
		name, val, (unsigned long long)min, eg);
	return -1;
}

static int take_opt(struct fs *fs, const char *name, const char *val, const char **token_file)
{
	if (!strcmp(name, "token-file")) {
		*token_file = val;
	} else if (!strcmp(name, "spool")) {
		if (!realpath(val, fs->spool_dir) &&
		    (hio_mkdir_p(val) < 0 || !realpath(val, fs->spool_dir))) {
			fprintf(stderr, "hio-fs: cannot use spool %s: %s\n", val, strerror(errno));
			return -1;
		}
	} else if (!strcmp(name, "spool-max")) {
		if (size_opt(name, val, 1, "512M, 10G", &fs->spool_max) < 0)
			return -1;
	} else if (!strcmp(name, "pipeline")) {
		if (!hio_pipeline_valid(val)) {
			fprintf(stderr, "hio-fs: bad pipeline name '%s'\n", val);
			return -1;
		}
		snprintf(fs->pipeline, sizeof(fs->pipeline), "%s", val);
	} else if (!strcmp(name, "ignore")) {
		if (fs_ignore_parse(fs, val) < 0) {
			fprintf(stderr, "hio-fs: at most %d --ignore patterns\n", FS_IGNORE_MAX);
			return -1;
		}
	} else if (!strcmp(name, "settle")) {
		uint64_t ms;
		if (hio_parse_size(val, 0, 60000, &ms) < 0 ||
		    strspn(val, "0123456789") != strlen(val)) {
			fprintf(stderr,
				"hio-fs: --settle: '%s' is not a number of milliseconds "
				"from 0 to 60000\n",
				val);
			return -1;
		}
		fs->settle_ms = (int)ms;
	} else if (!strcmp(name, "passthrough")) {
		if (strcmp(val, "auto") && strcmp(val, "off")) {
			fprintf(stderr, "hio-fs: --passthrough is auto or off\n");
			return -1;
		}
		fs->pt_state = strcmp(val, "off") ? FS_PT_UNKNOWN : FS_PT_OFF;
	} else if (!strcmp(name, "passthrough-reserve")) {
		if (size_opt(name, val, 0, "1G", &fs->pt_reserve) < 0)
			return -1;
	} else if (!strcmp(name, "metrics-listen")) {
		metrics_listen = val;
	} else if (!strcmp(name, "compress")) {
		if (!strcmp(val, "auto"))
			fs->compress = HIO_COMPRESS_AUTO;
		else if (!strcmp(val, "on"))
			fs->compress = HIO_COMPRESS_ON;
		else if (!strcmp(val, "off"))
			fs->compress = HIO_COMPRESS_OFF;
		else {
			fprintf(stderr, "hio-fs: --compress is auto, on or off\n");
			return -1;
		}
	}
	return 0;
}

static int parse_args(struct fs *fs, int argc, char **argv, struct fuse_args *fargs,
		      const char **token_file)
{
	int have_master = 0;

	fuse_opt_add_arg(fargs, argv[0]);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t k;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(a, "--version")) {
			printf("hio-fs %s\n", HIO_VERSION);
			exit(0);
		}
		if (!strcmp(a, "--fsync")) {
			fs->fsync = 1;
			continue;
		}
		if (!strncmp(a, "--", 2)) {
			for (k = 0; k < sizeof(value_opts) / sizeof(value_opts[0]); k++) {
				size_t n = strlen(value_opts[k]);
				if (strncmp(a + 2, value_opts[k], n) ||
				    (a[2 + n] && a[2 + n] != '='))
					continue;
				const char *val = a[2 + n] == '=' ? a + 3 + n : argv[++i];
				if (!val) {
					fprintf(stderr, "hio-fs: --%s needs a value\n",
						value_opts[k]);
					return -1;
				}
				if (take_opt(fs, value_opts[k], val, token_file) < 0)
					return -1;
				break;
			}
			if (k == sizeof(value_opts) / sizeof(value_opts[0])) {
				fprintf(stderr, "hio-fs: unknown option %s\n", a);
				return -1;
			}
			continue;
		}
		if (!strcmp(a, "-o") && i + 1 < argc) {
			fuse_opt_add_arg(fargs, a);
			fuse_opt_add_arg(fargs, argv[++i]);
			continue;
		}
		if (a[0] != '-' && !have_master) {
			snprintf(fs->master, sizeof(fs->master), "%s", a);
			have_master = 1;
			continue;
		}
		fuse_opt_add_arg(fargs, a);
	}
	if (!have_master) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* A mount hides what its directory holds: an instrument writing into a directory that
 * already has its files would seem to lose them. 0 when dir is empty, else -1 with the
 * one-line reason on stderr. */
static int mountpoint_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d) {
		fprintf(stderr, "hio-fs: cannot mount on %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	if (n) {
		fprintf(stderr,
			"hio-fs: refusing to mount on %s: it is not empty (the mount would hide "
			"its files); use an empty directory\n",
			dir);
		return -1;
	}
	return 0;
}

/* fuse_daemonize points stdout and stderr at /dev/null, as suits a terminal. When
 * stderr is a file (a log, which hio_log rotates), the daemon keeps writing there:
 * daemonize(keep) puts it back, keep being log_keep()'s copy of it. */
static int log_keep(void)
{
	struct stat st;

	if (fstat(STDERR_FILENO, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	return fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

static int daemonize(int foreground, int keep)
{
	struct stat o1, k;
	int same1 = keep >= 0 && fstat(STDOUT_FILENO, &o1) == 0 && fstat(keep, &k) == 0 &&
		    o1.st_dev == k.st_dev && o1.st_ino == k.st_ino;

	if (fuse_daemonize(foreground) != 0)
		return -1;
	if (keep >= 0 && !foreground &&
	    ((same1 && dup2(keep, STDOUT_FILENO) < 0) || dup2(keep, STDERR_FILENO) < 0))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct fs fs;
	struct fuse_args fargs = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts co = {0};
	struct fuse_loop_config *lc = NULL;
	struct fuse *fuse = NULL;
	const char *token_file = NULL;
	char err[256];
	int rc = 1, mounted = 0, log_fd = -1;
	struct hio_metrics_srv *ms = NULL;

	hio_log_init("hio-fs");
	fs.tree_fd = fs.out_fd = -1;
	fs.spool_max = DEFAULT_SPOOL_MAX;
	fs.pt_reserve = FS_PT_RESERVE;
	fs.settle_ms = FS_SETTLE_MS;
	fs.compress = HIO_COMPRESS_AUTO;
	snprintf(fs.pipeline, sizeof(fs.pipeline), "default");
	pthread_mutex_init(&fs.ino_mu, NULL);
	if (hio_cond_init(&fs.ino_cv) != 0) {
		fprintf(stderr, "hio-fs: cannot create a condition variable\n");
		return 1;
	}
	if (fs_ignore_parse(&fs, FS_DEFAULT_IGNORE) < 0)
		return 1;
	if (parse_args(&fs, argc, argv, &fargs, &token_file) < 0)
		goto out;
	if (!fs.spool_dir[0]) {
		char dir[PATH_MAX];
		hio_state_dir_default(dir, sizeof(dir));
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/spool");
		if (take_opt(&fs, "spool", dir, &token_file) < 0)
			goto out;
	}
	if (hio_token_load(token_file, fs.token, err, sizeof(err)) < 0) {
		fprintf(stderr, "hio-fs: %s\n", err);
		goto out;
	}
	if (fuse_parse_cmdline(&fargs, &co) != 0 || !co.mountpoint) {
		usage(stderr);
		goto out;
	}
	if (mountpoint_empty(co.mountpoint) < 0)
		goto out;
	if (!realpath(co.mountpoint, fs.mountpoint))
		snprintf(fs.mountpoint, sizeof(fs.mountpoint), "%s", co.mountpoint);
	/* The kernel checks permissions from the modes, as on a local disk. */
	fuse_opt_add_arg(&fargs, "-odefault_permissions");
	/* Any user may write into the mount (instrument software rarely runs as root);
	 * files are given to their creator (fs_own_new). Only root may give files away,
	 * and a user's hio-fs would need user_allow_other in /etc/fuse.conf. */
	if (geteuid() == 0)
		fuse_opt_add_arg(&fargs, "-oallow_other");
	if (hio_http_global_init() < 0 || fs_spool_start(&fs) < 0 || fs_results_start(&fs) < 0)
		goto out;
	if (!(fuse = fuse_new(&fargs, &fs_ops, sizeof(fs_ops), &fs)))
		goto out;
	if (fuse_mount(fuse, co.mountpoint) != 0)
		goto out;
	mounted = 1;
	fs.pt_se = fuse_get_session(fuse);
	fs_pt_install(&fs, fs.pt_se);
	log_fd = log_keep();
	if (daemonize(co.foreground, log_fd) != 0 ||
	    fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out;
	if (fs_spool_run(&fs) < 0) {
		hio_err("cannot start the sender thread; unmounting");
		goto out;
	}
	hio_info("serving %s on %s (pipeline %s, spool %s)", fs.master, co.mountpoint, fs.pipeline,
		 fs.spool_dir);
	metrics_listen = hio_metrics_listen_arg(metrics_listen);
	if (metrics_listen && !(ms = fs_metrics_start(&fs, metrics_listen)))
		goto out;
	if (!co.singlethread && !(lc = fuse_loop_cfg_create()))
		goto out;
	if (lc) {
		fuse_loop_cfg_set_clone_fd(lc, 0);
		/* Unset (UINT_MAX) unless given with -o: libfuse's defaults then apply. */
		if (co.max_idle_threads <= 100000)
			fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads);
		if (co.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(lc, co.max_threads);
	}
	rc = co.singlethread ? fuse_loop(fuse) : fuse_loop_mt(fuse, lc);
	rc = rc == 0 ? 0 : 1;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out:
	if (lc)
		fuse_loop_cfg_destroy(lc);
	fs_metrics_stop(&fs, ms);
	if (mounted)
		fuse_unmount(fuse);
	if (fuse)
		fuse_destroy(fuse);
	fs_spool_stop(&fs);
	fs_results_stop(&fs);
	fs_ignore_free(&fs);
	free(co.mountpoint);
	fuse_opt_free_args(&fargs);
	if (log_fd >= 0)
		close(log_fd);
	return rc;
}
