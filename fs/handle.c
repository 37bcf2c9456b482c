/* handle.c: open files of the input tree. Each open handle is counted on its backing
 * inode (struct fs_ino), which says whether the file changed and who still writes
 * it; that decides when a file completes (at the release of its last writer). A
 * committed version is never written in place: an open for writing of an inode out/
 * still links for one gets a fresh copy first. */
#define FUSE_USE_VERSION 312 /* fs_own_new asks fuse_get_context for the caller */
#include "fs.h"
#include "hio_log.h"
#include "hio_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ------------------------------------------------------------ open inodes */

static size_t ino_slot(ino_t ino)
{
	return (size_t)(ino * 0x9E3779B97F4A7C15ull >> 56);
}

struct fs_ino *fs_ino_get(struct fs *fs, dev_t dev, ino_t ino, int create)
{
	struct fs_ino **pp = &fs->inos[ino_slot(ino)], *i;

	HIO_ASSERT_HELD(&fs->ino_mu);
	for (i = *pp; i; i = i->next)
		if (i->ino == ino && i->dev == dev)
			return i;
	if (!create || !(i = calloc(1, sizeof(*i))))
		return NULL;
	i->dev = dev;
	i->ino = ino;
	i->next = *pp;
	*pp = i;
	return i;
}

void fs_ino_put(struct fs *fs, struct fs_ino *i)
{
	struct fs_ino **pp = &fs->inos[ino_slot(i->ino)];

	HIO_ASSERT_HELD(&fs->ino_mu);
	if (i->refs > 0 || i->evicting || i->copying || i->pt_refs > 0 || i->pt_closing > 0)
		return;
	HIO_ASSERT(i->pt_id == 0);
	for (; *pp; pp = &(*pp)->next)
		if (*pp == i) {
			*pp = i->next;
			free(i);
			return;
		}
}

void fs_ino_wait(struct fs *fs, dev_t dev, ino_t ino, int copying)
{
	struct fs_ino *i;

	HIO_ASSERT_HELD(&fs->ino_mu);
	/* i may be freed while we sleep: looked up again after each wake-up. */
	while ((i = fs_ino_get(fs, dev, ino, 0)) && (i->evicting || (copying && i->copying)))
		hio_cond_wait_ms(&fs->ino_cv, &fs->ino_mu, -1);
}

void fs_ino_unbusy(struct fs *fs, struct fs_ino *i)
{
	pthread_mutex_lock(&fs->ino_mu);
	i->evicting = i->copying = 0;
	fs_ino_put(fs, i);
	pthread_cond_broadcast(&fs->ino_cv);
	pthread_mutex_unlock(&fs->ino_mu);
}

/* Set-user-ID, set-group-ID when group-executable, and file capabilities: what a write
 * or truncation by a caller without CAP_FSETID drops on a local disk. */
static int priv_of(int fd, mode_t *mode)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	*mode = st.st_mode & 07777;
	if ((st.st_mode & S_ISUID) || (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		return 1;
	return fgetxattr(fd, "security.capability", NULL, 0) >= 0 ? 2 : 0;
}

/* The caller: root has CAP_FSETID (the kernel asks for the flag only without it). */
static int caller_may_keep_priv(void)
{
	struct fuse_context *c = fuse_get_context();

	return !c || c->uid == 0;
}

int fs_priv_to_kill(int fd)
{
	mode_t m;

	return !caller_may_keep_priv() && priv_of(fd, &m) != 0;
}

void fs_kill_priv(int fd)
{
	mode_t m = 0, n;
	int p;

	if (caller_may_keep_priv() || !(p = priv_of(fd, &m)))
		return;
	n = m & ~(mode_t)S_ISUID;
	if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		n &= ~(mode_t)S_ISGID;
	if (n != m && fchmod(fd, n) < 0)
		hio_warn("cannot drop the set-ID bits of a file written by uid %u: %s",
			 (unsigned)fuse_get_context()->uid, strerror(errno));
	if (fremovexattr(fd, "security.capability") < 0 && errno != ENODATA)
		hio_debug("cannot drop security.capability: %s", strerror(errno));
}

/* Brings the byte count back in line with the file after a failed or short write. */
void fs_handle_resync(struct fs *fs, struct fs_handle *h)
{
	struct stat st;
	uint64_t was;

	if (fstat(h->fd, &st) < 0)
		return;
	pthread_mutex_lock(&fs->ino_mu);
	was = h->ino->size;
	h->ino->size = (uint64_t)st.st_size;
	pthread_mutex_unlock(&fs->ino_mu);
	if (was > (uint64_t)st.st_size)
		fs_space_release(fs, was - (uint64_t)st.st_size);
	else if ((uint64_t)st.st_size > was)
		atomic_fetch_add(&fs->spool_used, (uint64_t)st.st_size - was);
}

/* Sets the file behind h to size bytes, keeping the spool's byte count. */
int fs_handle_truncate(struct fs *fs, struct fs_handle *h, off_t size)
{
	uint64_t old;

	fs_kill_priv(h->fd);
	pthread_mutex_lock(&fs->ino_mu);
	old = h->ino->size;
	pthread_mutex_unlock(&fs->ino_mu);
	if ((uint64_t)size > old && fs_space_reserve(fs, (uint64_t)size - old) < 0)
		return -ENOSPC;
	if (ftruncate(h->fd, size) < 0) {
		int e = errno;
		if ((uint64_t)size > old)
			fs_space_release(fs, (uint64_t)size - old);
		return -e;
	}
	pthread_mutex_lock(&fs->ino_mu);
	h->ino->size = (uint64_t)size;
	h->ino->dirty = 1;
	pthread_mutex_unlock(&fs->ino_mu);
	if ((uint64_t)size < old)
		fs_space_release(fs, old - (uint64_t)size);
	return 0;
}

/* A pending version shares its inode with the tree (out/<id> is a hard link). Before
 * anyone writes it again, the tree gets a fresh inode: empty for a truncating open,
 * else a copy. The shared inode is marked copying (fs_ino.copying) while the copy runs
 * without a lock, so a second writer's open waits for it and then finds the fresh
 * inode, instead of replacing the file a second time. */
int fs_copy_fd(int from, int to)
{
	char buf[1 << 16];
	ssize_t n;

	for (;;) {
		n = copy_file_range(from, NULL, to, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n < 0)
			break;
	}
	if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
		return -1;
	while ((n = read(from, buf, sizeof(buf))) > 0)
		if (hio_write_all(to, buf, (size_t)n) < 0)
			return -1;
	return n < 0 ? -1 : 0;
}

int fs_copy_replace(struct fs *fs, int src, mode_t mode, const char *tmp, int dir, const char *name)
{
	struct stat st = {0};
	int fd = -1, rc;

	if (src >= 0 && fstat(src, &st) < 0)
		return -errno;
	if (st.st_size && fs_space_reserve(fs, (uint64_t)st.st_size) < 0)
		return -ENOSPC;
	fd = openat(fs->out_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    mode & 07777 & ~FS_STUB_BIT);
	if (fd < 0 || (src >= 0 && fs_copy_fd(src, fd) < 0) || (fs->fsync && fsync(fd) < 0) ||
	    renameat(fs->out_fd, tmp, dir, name) < 0) {
		rc = -errno;
		if (fd >= 0) {
			unlinkat(fs->out_fd, tmp, 0);
			close(fd);
		}
		if (st.st_size)
			fs_space_release(fs, (uint64_t)st.st_size);
		return rc;
	}
	return fd;
}

static int cow_if_shared(struct fs *fs, const char *r, int trunc, int *old_open)
{
	char tmp[64], id[HIO_ID_LEN + 1];
	struct stat st, again;
	struct fs_ino *i;
	int nfd = -1, ofd = -1, rc = 0;
	uint64_t pt_deadline = 0;

retry:
	if (fstatat(fs->tree_fd, r, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	pthread_mutex_lock(&fs->ino_mu);
	i = fs_ino_get(fs, st.st_dev, st.st_ino, 0);
	if (i && (i->copying || i->evicting)) {
		fs_ino_wait(fs, st.st_dev, st.st_ino, 1);
		pthread_mutex_unlock(&fs->ino_mu);
		goto retry; /* copied (r is another inode now), or its version is out */
	}
	/* Not shared, or shared only with the version an open writer prepares at a flush:
	 * that one is committed at the last writer's release, with this writer's bytes.
	 * While a writer has it open, a second link can only be that version, even before
	 * the flush has set prov (fs_spool_prepare links it first); marking it copying
	 * then would race that writer's release, which marks it too. */
	if (st.st_nlink < 2 || (i && (i->prov || i->writers > 0))) {
		pthread_mutex_unlock(&fs->ino_mu);
		return 0;
	}
	/* The copy takes the name, and with it the FUSE inode, while readers of the old
	 * inode still hold that FUSE inode: in passthrough the kernel binds it to the old
	 * inode's backing file, and a rewrite cannot be given another (passthrough.c). */
	if (i && (i->pt_refs > 0 || i->pt_closing > 0)) {
		/* close(2) returns before its release reaches us: a reader that just closed
		 * is given that long. */
		uint64_t now = hio_mono_ms();
		if (!pt_deadline)
			pt_deadline = now + FS_PT_RELEASE_WAIT_MS;
		if (now < pt_deadline) {
			hio_cond_wait_ms(&fs->ino_cv, &fs->ino_mu, (long)(pt_deadline - now));
			pthread_mutex_unlock(&fs->ino_mu);
			goto retry;
		}
		pthread_mutex_unlock(&fs->ino_mu);
		hio_info("%s is still open for reading in passthrough; it cannot be rewritten "
			 "until that close (ETXTBSY)",
			 r);
		return -ETXTBSY;
	}
	if (i && i->refs > 0)
		*old_open = 1;
	if (!i && !(i = fs_ino_get(fs, st.st_dev, st.st_ino, 1))) {
		pthread_mutex_unlock(&fs->ino_mu);
		return -ENOMEM;
	}
	HIO_ASSERT(!i->copying && !i->evicting && i->writers == 0);
	i->copying = 1;
	pthread_mutex_unlock(&fs->ino_mu);
	/* Another opener may have finished its copy between our stat and the mark. */
	if (fstatat(fs->tree_fd, r, &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_ino != st.st_ino ||
	    again.st_dev != st.st_dev) {
		fs_ino_unbusy(fs, i);
		goto retry;
	}
	hio_id_new(id);
	snprintf(tmp, sizeof(tmp), ".cow-%s", id);
	if ((!trunc && (ofd = openat(fs->tree_fd, r, O_RDONLY | O_CLOEXEC)) < 0) ||
	    (nfd = fs_copy_replace(fs, trunc ? -1 : ofd, st.st_mode, tmp, fs->tree_fd, r)) < 0) {
		rc = ofd < 0 && !trunc ? -errno : nfd;
		hio_warn("cannot copy %s before it is written again: %s; the open fails", r,
			 strerror(-rc));
		goto out;
	}
	if (fchown(nfd, st.st_uid, st.st_gid) < 0)
		hio_debug("cannot keep the owner of %s: %s", r, strerror(errno));
	/* A chown drops set-ID bits: the copy gets the mode back after it. */
	if (fchmod(nfd, st.st_mode & 07777 & ~FS_STUB_BIT) < 0)
		hio_debug("cannot keep the mode of %s: %s", r, strerror(errno));
out:
	if (nfd >= 0)
		close(nfd);
	if (ofd >= 0)
		close(ofd);
	fs_ino_unbusy(fs, i);
	return rc;
}

/* 1 when h's inode holds a version no writer may change: being linked into out/ at a
 * release (copying), or linked there with no writer left to commit it. The caller
 * holds fs->ino_mu; the fstat is not disk I/O (the inode is open). */
static int shared_now(struct fs_handle *h)
{
	struct stat st;

	if (h->ino->copying)
		return 1;
	return !h->ino->prov && h->ino->writers == 0 && fstat(h->fd, &st) == 0 && st.st_nlink >= 2;
}

int fs_own_new(struct fs *fs, const char *r, int fd, mode_t mode)
{
	const struct fuse_context *c = fuse_get_context();
	char dir[PATH_MAX];
	const char *slash = strrchr(r, '/');
	struct stat pst;
	gid_t gid = c->gid;
	int is_dir = S_ISDIR(mode), is_lnk = S_ISLNK(mode);

	mode &= 07777;
	/* Only root can give a file away; a hio-fs run by a user is mounted without
	 * allow_other, so the caller is that user already. */
	if (geteuid() == 0 && c->uid != (uid_t)-1) {
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - r) : 1, slash ? r : ".");
		/* A set-group-ID directory gives its group (and, to a directory, the bit),
		 * as on a local disk: the node made by root has them already. */
		if (fstatat(fs->tree_fd, dir, &pst, 0) == 0 && (pst.st_mode & S_ISGID)) {
			gid = (gid_t)-1;
			if (is_dir)
				mode |= S_ISGID;
		}
		if ((fd >= 0 ? fchown(fd, c->uid, gid)
			     : fchownat(fs->tree_fd, r, c->uid, gid, AT_SYMLINK_NOFOLLOW)) < 0)
			return -errno;
	}
	if (is_lnk) /* a link has no mode of its own; fchmodat would follow it */
		return 0;
	if (fd >= 0)
		return fchmod(fd, mode) < 0 ? -errno : 0;
	return fchmodat(fs->tree_fd, r, mode, 0) < 0 ? -errno : 0;
}

/* Opens tree path r for a handle. created: the file was just made (counts as a write). */
int fs_handle_open(struct fs *fs, const char *r, int flags, mode_t mode, int create,
		   struct fs_handle **out)
{
	int acc = flags & O_ACCMODE, writer = acc != O_RDONLY, trunc = !!(flags & O_TRUNC);
	struct fs_handle *h = calloc(1, sizeof(*h));
	struct stat st;
	unsigned gen;
	int rc;

	if (!h)
		return -ENOMEM;
	h->fd = -1;
reopen:
	if (writer && (rc = cow_if_shared(fs, r, trunc, &h->pt_deny)) < 0)
		goto fail;
	/* O_TRUNC is applied below so the freed bytes are counted. */
	/* O_DIRECT is the kernel's business (the handle uses direct_io): the spool's disk
	 * would refuse FUSE's unaligned buffers with EINVAL. */
	/* A create tries O_EXCL first, so only a file this open really made is given
	 * to the caller (an O_CREAT open of an existing file keeps its owner and mode). */
	int made = 0, oflags = (flags & ~(O_TRUNC | O_DIRECT)) | O_CLOEXEC;
	if (create) {
		/* Again if the file went between the two opens, as O_CREAT would make it. */
		for (int tries = 0; tries < 8; tries++) {
			h->fd = openat(fs->tree_fd, r, oflags | O_CREAT | O_EXCL, 0600);
			made = h->fd >= 0;
			if (h->fd >= 0 || errno != EEXIST || (flags & O_EXCL))
				break;
			h->fd = openat(fs->tree_fd, r, oflags & ~O_CREAT);
			if (h->fd >= 0 || errno != ENOENT)
				break;
		}
	} else {
		h->fd = openat(fs->tree_fd, r, oflags);
	}
	if (h->fd < 0) {
		rc = -errno;
		goto fail;
	}
	h->made = made;
	if (made && (rc = fs_own_new(fs, r, h->fd, mode)) < 0) {
		unlinkat(fs->tree_fd, r, 0);
		goto fail;
	}
again:
	pthread_mutex_lock(&fs->ino_mu);
	gen = fs->evictions;
	pthread_mutex_unlock(&fs->ino_mu);
	if (fstat(h->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & FS_STUB_BIT)) {
		/* An evicted input: its bytes are gone, only a full overwrite makes sense. */
		if (!writer || !trunc) {
			rc = -EIO;
			goto fail;
		}
		if (fchmod(h->fd, st.st_mode & 07777 & ~FS_STUB_BIT) < 0 ||
		    ftruncate(h->fd, 0) < 0) {
			rc = -errno;
			goto fail;
		}
		st.st_size = 0;
	}
	h->writer = writer;
	pthread_mutex_lock(&fs->ino_mu);
	h->ino = fs_ino_get(fs, st.st_dev, st.st_ino, 0);
	if (fs->evictions != gen || (h->ino && h->ino->evicting)) {
		/* An eviction runs or began since the fstat, perhaps of this file: once it
		 * is over, look again (the file may be a stub now). */
		h->ino = NULL;
		fs_ino_wait(fs, st.st_dev, st.st_ino, 0);
		pthread_mutex_unlock(&fs->ino_mu);
		goto again;
	}
	h->ino = fs_ino_get(fs, st.st_dev, st.st_ino, 1);
	if (h->ino && writer && shared_now(h)) {
		/* A version of it was committed (or is being linked) since cow_if_shared
		 * looked: open again, so it is copied first. */
		fs_ino_put(fs, h->ino);
		h->ino = NULL;
		pthread_mutex_unlock(&fs->ino_mu);
		close(h->fd);
		h->fd = -1;
		flags &= ~O_EXCL; /* it exists now, perhaps made by this very open */
		goto reopen;
	}
	if (h->ino) {
		if (h->ino->refs++ == 0)
			h->ino->size = (uint64_t)st.st_size;
		if (writer) {
			h->ino->writers++;
			if (create)
				h->ino->dirty = 1;
		}
	}
	pthread_mutex_unlock(&fs->ino_mu);
	if (!h->ino) {
		rc = -ENOMEM;
		goto fail;
	}
	if (writer && trunc && !made && (rc = fs_handle_truncate(fs, h, 0)) < 0)
		goto fail_registered;
	*out = h;
	return 0;
fail_registered:
	pthread_mutex_lock(&fs->ino_mu);
	h->ino->refs--;
	h->ino->writers--;
	fs_ino_put(fs, h->ino);
	pthread_mutex_unlock(&fs->ino_mu);
fail:
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	return rc;
}

/* A changed file completes at the release of its last writing handle: a flush comes
 * at every close of every duplicate descriptor (a shell's { a; b; } > f closes three),
 * the release once, when the last reference goes. The flush of the last writer
 * prepares the version (a hard link in out/ and its record), so its close() reports
 * ENOSPC or EIO and a crash after it keeps the file; later writes through the same
 * handle land in that linked inode, and the release commits it with them. */
int fs_handle_flush(struct fs *fs, struct fs_handle *h, const char *path)
{
	struct fs_version *v = NULL, *extra = NULL;
	int prep, rc;

	if ((rc = fs_pt_settle(fs, h)) < 0)
		return rc;
	if (!h->ino || !h->writer || !h->wrote || h->write_failed)
		return 0;
	pthread_mutex_lock(&fs->ino_mu);
	prep = h->ino->dirty && h->ino->writers == 1 && path && !fs_ignored(fs, fs_rel(path));
	if (prep && h->ino->prov)
		prep = 0; /* already in out/: the link holds these bytes too */
	pthread_mutex_unlock(&fs->ino_mu);
	if (!prep)
		return 0;
	if (fs->fsync && fsync(h->fd) < 0)
		return -errno;
	if ((rc = fs_spool_prepare(fs, fs_rel(path), &v)) < 0)
		return rc;
	pthread_mutex_lock(&fs->ino_mu);
	if (h->ino->prov)
		extra = v; /* a concurrent flush of a duplicate got there first */
	else
		h->ino->prov = v;
	pthread_mutex_unlock(&fs->ino_mu);
	fs_spool_discard(fs, extra);
	return 0;
}

/* GNU tar extracts a symbolic link as an empty file without permissions first and
 * replaces it at the end; such a file is no input. */
static int is_placeholder(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_size == 0 && (st.st_mode & 07777) == 0;
}

/* The last writer of a changed file went: v (prepared at a flush) or a new version
 * is committed under the file's name now, unless that name is held or gone. */
static int complete_at_release(struct fs *fs, struct fs_handle *h, const char *path,
			       struct fs_version *v)
{
	int rc;

	if (!path || fs_ignored(fs, fs_rel(path)) || is_placeholder(h->fd)) {
		fs_spool_discard(fs, v); /* removed (.fuse_hidden), renamed to a held name */
		return 0;
	}
	if (h->write_failed) {
		hio_warn("not streaming %s: a write to it failed, so it is incomplete; write it "
			 "again to stream it",
			 path);
		fs_spool_discard(fs, v);
		return 0;
	}
	if (!v) {
		if (fs->fsync && fsync(h->fd) < 0)
			return -errno;
		if ((rc = fs_spool_prepare(fs, fs_rel(path), &v)) < 0)
			return rc;
	}
	/* A reader that opened while this file was written in passthrough holds its FUSE
	 * inode bound to this inode (passthrough.c): a rewrite then has to reuse it, not
	 * copy it aside, so the version gets the copy instead, before anyone sends it. No
	 * new passthrough reader can come now: the writer's share went first. */
	pthread_mutex_lock(&fs->ino_mu);
	int pt_readers = h->ino->pt_refs;
	pthread_mutex_unlock(&fs->ino_mu);
	if (pt_readers > 0 && (rc = fs_spool_unshare(fs, v)) < 0)
		hio_warn("cannot copy %s's version apart from its readers: %s; rewriting it "
			 "while they read may fail with ETXTBSY",
			 path, strerror(-rc));
	fs_spool_commit(fs, v, fs_rel(path));
	return 0;
}

/* Drops h; completes its file when it was the last writer (the writer count drops and
 * is tested in one step, so two last closes at once cannot both miss it). Returns the
 * completion's result (release cannot report it; truncate does). */
int fs_handle_close(struct fs *fs, struct fs_handle *h, const char *path)
{
	int rc = 0, drop_bytes = 0, complete = 0;
	struct fs_version *v = NULL;
	uint64_t size = 0;
	struct stat st;

	if (h->pt) {
		/* Written after the last flush (through a mapping): counted here, and a
		 * file that cannot be whole is not streamed (complete_at_release says). */
		(void)fs_pt_settle(fs, h);
		fs_pt_close(fs, h);
	}
	if (h->ino) {
		pthread_mutex_lock(&fs->ino_mu);
		h->ino->refs--;
		if (h->writer && --h->ino->writers == 0) {
			v = h->ino->prov;
			h->ino->prov = NULL;
			complete = v || h->ino->dirty;
			h->ino->dirty = 0;
			/* Writers' opens wait until the version is in out/ (then they copy
			 * it); the mark also keeps the entry until fs_ino_unbusy. */
			if (complete) {
				/* Opens wait on copying, and cow_if_shared never marks an
				 * inode with writers: nobody else holds the mark. */
				HIO_ASSERT(!h->ino->copying && !h->ino->evicting);
				h->ino->copying = 1;
			}
		}
		if (h->ino->refs == 0) {
			/* Removed while open: its bytes leave the spool now. */
			drop_bytes = fstat(h->fd, &st) == 0 && st.st_nlink == 0 &&
				     !(st.st_mode & FS_STUB_BIT);
			size = h->ino->size;
		}
		fs_ino_put(fs, h->ino);
		pthread_mutex_unlock(&fs->ino_mu);
		if (complete) {
			rc = complete_at_release(fs, h, path, v);
			fs_ino_unbusy(fs, h->ino);
		}
	}
	if (drop_bytes)
		fs_space_release(fs, size);
	close(h->fd);
	free(h);
	return rc;
}

/* fallocate(2) mode 0 (posix_fallocate): the file grows to off + len, counted in the
 * spool like a write; other modes are not supported (EOPNOTSUPP). */
int fs_handle_fallocate(struct fs *fs, struct fs_handle *h, int mode, off_t off, off_t len)
{
	uint64_t end = (uint64_t)off + (uint64_t)len, cur, grow;

	if (mode != 0)
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0)
		return -EINVAL;
	pthread_mutex_lock(&fs->ino_mu);
	cur = h->ino->size;
	pthread_mutex_unlock(&fs->ino_mu);
	grow = end > cur ? end - cur : 0;
	if (grow && fs_space_reserve(fs, grow) < 0)
		return -ENOSPC;
	if (fallocate(h->fd, 0, off, len) < 0) {
		int e = errno;
		if (grow)
			fs_space_release(fs, grow);
		return -e;
	}
	fs_handle_grown(fs, h, end, grow);
	return 0;
}

void fs_handle_grown(struct fs *fs, struct fs_handle *h, uint64_t end, uint64_t grow)
{
	uint64_t actual = 0;

	pthread_mutex_lock(&fs->ino_mu);
	if (end > h->ino->size) {
		actual = end - h->ino->size;
		h->ino->size = end;
	}
	h->ino->dirty = 1;
	pthread_mutex_unlock(&fs->ino_mu);
	h->wrote = 1;
	/* Another writer of the same file may have grown (or cut) it meanwhile. */
	if (grow > actual)
		fs_space_release(fs, grow - actual);
	else if (actual > grow)
		atomic_fetch_add(&fs->spool_used, actual - grow);
}

/* link(2) into the tree: a second input with the same bytes, as a copy. A real hard link
 * would make one inode two inputs, and out/ versions rely on the tree holding one link
 * to an input's inode; tar -x and cp -a of trees with hard links need only that the
 * name appears with the bytes, mode, owner and mtime. */
int fs_handle_link(struct fs *fs, const char *from, const char *to)
{
	int src = openat(fs->tree_fd, from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), dst = -1, rc = 0;
	struct timespec tv[2];
	struct stat st;

	if (src < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(src, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EPERM;
		goto out;
	}
	if (st.st_mode & FS_STUB_BIT) {
		rc = -EIO; /* evicted: its bytes are gone */
		goto out;
	}
	if (fs_space_reserve(fs, (uint64_t)st.st_size) < 0) {
		rc = -ENOSPC;
		goto out;
	}
	dst = openat(fs->tree_fd, to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dst < 0) {
		rc = -errno;
		fs_space_release(fs, (uint64_t)st.st_size);
		goto out;
	}
	tv[0] = st.st_atim;
	tv[1] = st.st_mtim;
	if (fs_copy_fd(src, dst) < 0 || fchmod(dst, st.st_mode & 07777) < 0 ||
	    futimens(dst, tv) < 0) {
		rc = -errno;
		hio_warn("cannot link %s to %s (a copy): %s; the link fails", from, to,
			 strerror(errno));
		unlinkat(fs->tree_fd, to, 0);
		fs_space_release(fs, (uint64_t)st.st_size);
		goto out;
	}
	if (fchown(dst, st.st_uid, st.st_gid) < 0)
		hio_debug("cannot keep the owner of %s: %s", to, strerror(errno));
	if (!fs_ignored(fs, to) && (rc = fs_spool_complete(fs, to)) < 0)
		hio_err("linked %s to %s but cannot queue it: %s; write it again to retry", from,
			to, strerror(-rc));
out:
	if (dst >= 0)
		close(dst);
	close(src);
	return rc;
}
