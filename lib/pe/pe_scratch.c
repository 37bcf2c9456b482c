#include "pe_scratch.h"

#include "hio_log.h"
#include "hio_util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directories kept for reuse: a PE holds at most one running message plus its pending
 * uploads (pe_internal.h: PE_BATCH_MAX * PE_PENDING_BATCHES), so this covers a busy PE. */
#define PE_SCRATCH_KEEP 160

struct pe_scratch {
	/* Guards free[] and next. A leaf: nothing is taken under it, and the directory
	 * is emptied outside it. */
	pthread_mutex_t mu;
	const char *workdir;
	char *free[PE_SCRATCH_KEEP];
	unsigned char ready[PE_SCRATCH_KEEP];
	size_t nfree;
	uint64_t next;
};

struct pe_scratch *pe_scratch_new(const char *workdir)
{
	struct pe_scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	s->workdir = workdir;
	return s;
}

char *pe_scratch_take(struct pe_scratch *s, int *ready)
{
	char *dir = NULL;
	uint64_t k;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (s->nfree > 0) {
		dir = s->free[--s->nfree];
		r = s->ready[s->nfree];
	}
	k = ++s->next;
	pthread_mutex_unlock(&s->mu);
	if (ready)
		*ready = r;
	if (dir)
		return dir;
	if (asprintf(&dir, "%s/s%" PRIu64, s->workdir, k) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (mkdir(dir, 0700) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* Empties input/: its first file with no other link becomes PE_SCRATCH_BODY (the
 * next input is written into that inode) when keep, the rest goes. */
static int empty_input(const char *dir, const char *input, int keep)
{
	char body[PATH_MAX], p[PATH_MAX];
	int have_body, rc = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (hio_dir_is_empty(input) == 1)
		return 0;
	snprintf(body, sizeof(body), "%s/" PE_SCRATCH_BODY, dir);
	have_body = lstat(body, &st) == 0;
	d = opendir(input);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", input, e->d_name) >= sizeof(p)) {
			rc = -1;
			continue;
		}
		/* Only a file of ours: one an analysis made (it runs as another user) may
		 * still be open to it or be changed by it later. */
		if (keep && !have_body && lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1 && st.st_uid == geteuid() && rename(p, body) == 0) {
			have_body = 1;
			continue;
		}
		if (hio_rm_rf(p) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

/* The entry's type: from readdir when the filesystem says it (no lstat), else lstat's.
 * 0 when it cannot be told. */
static mode_t entry_type(const struct dirent *e, const char *path)
{
	struct stat st;

	switch (e->d_type) {
	case DT_DIR:
		return S_IFDIR;
	case DT_REG:
		return S_IFREG;
	case DT_UNKNOWN:
		return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0;
	default:
		return S_IFLNK; /* anything else is removed, as a link is */
	}
}

/* Keeps output/ and input/ (emptied), stdout (truncated) and the body file. *kept: both
 * directories were there and are empty now. */
static int empty_dir(const char *dir, int *kept, int keep_input)
{
	char p[PATH_MAX];
	struct dirent *e;
	int rc = 0, dirs = 0;
	DIR *d;

	*kept = 0;
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		mode_t t;

		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, PE_SCRATCH_BODY))
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, n) >= sizeof(p) ||
		    !(t = entry_type(e, p))) {
			rc = -1;
			continue;
		}
		if (t == S_IFDIR && !strcmp(n, "output")) {
			if (hio_empty_dir(p) < 0)
				rc = -1;
			else
				dirs++;
		} else if (t == S_IFDIR && !strcmp(n, "input")) {
			if (empty_input(dir, p, keep_input) < 0)
				rc = -1;
			else
				dirs++;
		} else if (t == S_IFREG && !strcmp(n, "stdout")) {
			if (truncate(p, 0) < 0)
				rc = -1;
		} else if (hio_rm_rf(p) < 0) {
			rc = -1;
		}
	}
	closedir(d);
	*kept = dirs == 2;
	return rc;
}

void pe_scratch_put(struct pe_scratch *s, char *dir, int prepared, int keep_input)
{
	int kept = 0, both;

	if (!dir)
		return;
	if (empty_dir(dir, &both, keep_input) == 0) {
		pthread_mutex_lock(&s->mu);
		if (s->nfree < PE_SCRATCH_KEEP) {
			s->ready[s->nfree] = (unsigned char)(prepared && both);
			s->free[s->nfree++] = dir;
			kept = 1;
		}
		pthread_mutex_unlock(&s->mu);
	}
	if (kept)
		return;
	if (hio_rm_rf(dir) < 0)
		hio_warn("cannot remove scratch dir %s: %s; leaving it", dir, strerror(errno));
	free(dir);
}

void pe_scratch_free(struct pe_scratch *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfree; i++)
		free(s->free[i]);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
