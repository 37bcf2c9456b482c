/* fs-errno DIR: runs a fixed sequence of filesystem operations inside DIR (an empty
 * directory) and prints one line per operation, "<label>: ok" or "<label>: <ERRNO>", plus
 * lines of observed values (sizes, contents, modes, times, listings). The output depends
 * only on the filesystem's semantics, never on timing, so the output on hio-fs can be
 * diffed against the output on tmpfs. Lines whose label starts with "x-" are expected to
 * differ on hio-fs by design (hard links) or are informational; the comparison skips them.
 * Only libc; exit 0 when the sequence ran, 2 when DIR is unusable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs-errno.h"

int main(int argc, char **argv)
{
	DIR *d;
	struct dirent *e;
	int entries = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: fs-errno DIR (an empty directory)\n");
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "fs-errno: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	d = opendir(".");
	if (!d) {
		fprintf(stderr, "fs-errno: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			entries++;
	closedir(d);
	if (entries) {
		fprintf(stderr, "fs-errno: %s is not empty\n", argv[1]);
		return 2;
	}
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_open();
	t_dirs();
	t_rename();
	t_truncate();
	t_sparse();
	t_append();
	t_times();
	t_chmod();
	t_readdir();
	t_unlink_open();
	t_xattr();
	t_symlink();
	t_extra();
	return 0;
}
