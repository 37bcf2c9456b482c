/* space.c: the spool's byte budget (--spool-max). Processed inputs keep their bytes
 * until the space is needed; then the oldest are evicted to stubs (same size and mtime,
 * no blocks, FS_STUB_BIT set). When nothing is left to evict, a write gets ENOSPC:
 * nothing pending is ever dropped for room. */
#include "fs.h"
#include "hio_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVICT_MAX 200000 /* processed inputs remembered as evictable (a remount rescans) */

/* Inputs whose bytes may be evicted, oldest first: a ring of names. */
struct fs_evict {
	pthread_mutex_t mu; /* a leaf, taken after the spool's mu; guards the ring only */
	char **names;
	size_t head, len, cap;
};

int fs_space_init(struct fs *fs)
{
	struct fs_evict *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return -1;
	pthread_mutex_init(&ev->mu, NULL);
	fs->evict = ev;
	return 0;
}

void fs_space_free(struct fs *fs)
{
	struct fs_evict *ev = fs->evict;

	if (!ev)
		return;
	for (size_t i = 0; i < ev->len; i++)
		free(ev->names[(ev->head + i) % ev->cap]);
	free(ev->names);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
	fs->evict = NULL;
}

void fs_space_evictable(struct fs *fs, const char *name)
{
	struct fs_evict *ev = fs->evict;
	char *dup;

	pthread_mutex_lock(&ev->mu);
	if (ev->len >= EVICT_MAX)
		goto out;
	if (ev->len == ev->cap) {
		size_t cap = ev->cap ? ev->cap * 2 : 1024;
		char **v = malloc(cap * sizeof(*v));
		if (!v)
			goto out;
		for (size_t i = 0; i < ev->len; i++)
			v[i] = ev->names[(ev->head + i) % ev->cap];
		free(ev->names);
		ev->names = v;
		ev->cap = cap;
		ev->head = 0;
	}
	if ((dup = strdup(name)))
		ev->names[(ev->head + ev->len++) % ev->cap] = dup;
out:
	pthread_mutex_unlock(&ev->mu);
}

/* The oldest evictable name (caller frees), or NULL. */
static char *evict_pop(struct fs_evict *ev)
{
	char *name = NULL;

	pthread_mutex_lock(&ev->mu);
	if (ev->len) {
		name = ev->names[ev->head];
		ev->head = (ev->head + 1) % ev->cap;
		ev->len--;
	}
	pthread_mutex_unlock(&ev->mu);
	return name;
}

void fs_space_release(struct fs *fs, uint64_t n)
{
	uint64_t cur = atomic_load(&fs->spool_used);

	while (!atomic_compare_exchange_weak(&fs->spool_used, &cur, cur > n ? cur - n : 0))
		;
}

void fs_space_unlinked(struct fs *fs, int fd)
{
	struct stat st;
	int open_now;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 0 ||
	    (st.st_mode & FS_STUB_BIT))
		return;
	pthread_mutex_lock(&fs->ino_mu);
	open_now = fs_ino_get(fs, st.st_dev, st.st_ino, 0) != NULL;
	pthread_mutex_unlock(&fs->ino_mu);
	/* An open one is accounted at its last close, one being evicted by its eviction. */
	if (!open_now)
		fs_space_release(fs, (uint64_t)st.st_size);
}

/* Makes input name a stub; returns the bytes freed. Its fs_ino is marked evicting
 * while the truncation runs without a lock, so an open of it waits and then sees the
 * stub (the mark is set only when nobody has the file open). */
static uint64_t evict_one(struct fs *fs, const char *name)
{
	int fd = openat(fs->tree_fd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct timespec tv[2];
	struct fs_ino *i = NULL;
	struct stat st;
	uint64_t freed = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size == 0 ||
	    (st.st_mode & FS_STUB_BIT))
		goto out;
	pthread_mutex_lock(&fs->ino_mu);
	if (!fs_ino_get(fs, st.st_dev, st.st_ino, 0) &&
	    (i = fs_ino_get(fs, st.st_dev, st.st_ino, 1))) {
		i->evicting = 1;
		fs->evictions++;
	}
	pthread_mutex_unlock(&fs->ino_mu);
	if (!i) /* open (or being copied): not evictable now */
		goto out;
	tv[0].tv_nsec = UTIME_OMIT;
	tv[1] = st.st_mtim;
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, st.st_size) < 0 ||
	    fchmod(fd, (st.st_mode & 07777) | FS_STUB_BIT) < 0) {
		hio_warn("cannot evict %s from the spool: %s; trying another", name,
			 strerror(errno));
		goto out;
	}
	if (futimens(fd, tv) < 0)
		hio_debug("cannot keep the mtime of %s: %s", name, strerror(errno));
	freed = (uint64_t)st.st_size;
	hio_debug("evicted %s (%llu bytes) from the spool", name, (unsigned long long)freed);
out:
	if (i)
		fs_ino_unbusy(fs, i);
	close(fd);
	return freed;
}

int fs_space_reserve(struct fs *fs, uint64_t n)
{
	uint64_t cur = atomic_load(&fs->spool_used);

	for (;;) {
		while (cur + n <= fs->spool_max) {
			if (atomic_compare_exchange_weak(&fs->spool_used, &cur, cur + n))
				return 0;
		}
		/* Full: give up the bytes of the oldest processed inputs. */
		char *name = evict_pop(fs->evict);
		if (!name)
			return -ENOSPC;
		fs_space_release(fs, evict_one(fs, name));
		free(name);
		cur = atomic_load(&fs->spool_used);
	}
}
