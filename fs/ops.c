/* ops.c: the FUSE operations. Inputs pass through to SPOOL/tree (so Linux gives the
 * errno values tools expect); results/ goes to results.c. A file completes at the
 * release of its last writing handle; the flush before it has already put the version
 * in the spool, so close() reports a spool error (handle.c). */
#define FUSE_USE_VERSION 312
#include "fs.h"
#include "hio_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XATTR_STATE "user.hio.state"
#define XATTR_HIO_PREFIX "user.hio."

static struct fs *FS(void)
{
	return fuse_get_context()->private_data;
}

static const char *rel(const char *path)
{
	return fs_rel(path);
}

/* 1 for results/ and below; *sub gets the path inside results/ ("" for itself). */
static int in_results(const char *path, const char **sub)
{
	size_t n = sizeof(FS_RESULTS) - 1;

	if (!path || strncmp(path + 1, FS_RESULTS, n) != 0 || (path[n + 1] && path[n + 1] != '/'))
		return 0;
	if (sub)
		*sub = path[n + 1] ? path + n + 2 : "";
	return 1;
}

/* libfuse's name for a file removed while open (see op_init). */
static int is_hidden(const char *name)
{
	return strncmp(name, ".fuse_hidden", 12) == 0;
}

/* ------------------------------------------------------------ operations */

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = 1u << 20;
	/* st_ino is the backing file's, so it stays while the file exists; libfuse's own
	 * numbers changed each time the kernel forgot the inode (drop_caches). */
	cfg->use_ino = 1;
	cfg->nullpath_ok = 0; /* flush and release need the path: it names the input */
	/* A file removed while open becomes .fuse_hiddenN (hidden from listings) until its
	 * last close, so fstat() on it still works as on a local disk. */
	cfg->hard_remove = 0;
	cfg->entry_timeout = 1;
	cfg->attr_timeout = 1;
	cfg->negative_timeout = 0;
	fs_pt_init_reply(fuse_get_context()->private_data);
	return fuse_get_context()->private_data;
}

static void fix_stat(struct stat *st, const char *path)
{
	if (S_ISREG(st->st_mode)) {
		const char *base = path ? strrchr(path, '/') : NULL;

		st->st_mode &= ~FS_STUB_BIT;
		/* out/ links are the spool's business; a removed open file has none. */
		st->st_nlink = base && is_hidden(base + 1) ? 0 : 1;
	}
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs *fs = FS();
	const char *sub;

	if (fi && fi->fh) {
		if (fstat(((struct fs_handle *)fi->fh)->fd, st) < 0)
			return -errno;
		if (!((struct fs_handle *)fi->fh)->ino)
			st->st_mode = S_IFREG | 0444;
	} else if (in_results(path, &sub)) {
		return fs_results_getattr(fs, sub, st);
	} else if (fstatat(fs->tree_fd, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	}
	fix_stat(st, path);
	return 0;
}

/* What fs_results_readdir hands back to fill_one: FUSE's buffer and its filler. */
struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	const char *dir; /* the path inside results/ being listed */
};

static int fill_one(void *ud, const char *name, int dir)
{
	struct fill_ctx *fc = ud;
	struct stat st = {.st_mode = dir ? S_IFDIR : S_IFREG};

	st.st_ino = fs_results_ino(fc->dir, name);
	return fc->filler(fc->buf, name, &st, 0, 0);
}

/* A directory handle: the backing directory, or a path inside results/. */
struct dh {
	int fd;
	int root; /* the mount's root, which also lists results/ */
	char *rsub;
};

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dh *d = calloc(1, sizeof(*d));
	const char *sub;

	if (!d)
		return -ENOMEM;
	d->fd = -1;
	if (in_results(path, &sub)) {
		if (!(d->rsub = strdup(sub))) {
			free(d);
			return -ENOMEM;
		}
	} else if ((d->fd = openat(FS()->tree_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
		   0) {
		int e = errno;
		free(d);
		return -e;
	}
	d->root = !path[1];
	fi->fh = (uintptr_t)d;
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct dh *d = (struct dh *)fi->fh;

	if (d->fd >= 0)
		close(d->fd);
	free(d->rsub);
	free(d);
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dh *dh = (struct dh *)fi->fh;
	struct dirent *de;
	DIR *d;
	int fd;

	if (dh->rsub) {
		struct fill_ctx fc = {buf, filler, dh->rsub};
		/* With use_ino a d_ino of 0 would be passed on, and readdir() skips those. */
		struct stat dot = {.st_mode = S_IFDIR, .st_ino = fs_results_ino(dh->rsub, NULL)};
		filler(buf, ".", &dot, 0, 0);
		filler(buf, "..", &dot, 0, 0);
		return fs_results_readdir(FS(), dh->rsub, &fc, fill_one);
	}
	/* A fresh descriptor each time, so a rewinddir() listing starts over. */
	if ((fd = openat(dh->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		int e = errno;
		close(fd);
		return -e;
	}
	while ((de = readdir(d))) {
		struct stat st = {.st_ino = de->d_ino, .st_mode = DTTOIF(de->d_type)};

		if (is_hidden(de->d_name))
			continue;
		if (filler(buf, de->d_name, &st, 0, 0))
			break;
	}
	closedir(d);
	if (dh->root)
		filler(buf, FS_RESULTS,
		       &(struct stat){.st_mode = S_IFDIR, .st_ino = fs_results_ino("", NULL)}, 0,
		       0);
	return 0;
}

/* Changes under results/ are refused; results/ itself exists. */
static int refuse_results(const char *path, int exists_err)
{
	const char *sub;

	if (!in_results(path, &sub))
		return 0;
	return *sub ? -EROFS : exists_err;
}

/* As refuse_results for a node being made, whose name must also be UTF-8 (EILSEQ):
 * names travel in JSON, so such a file could never be streamed; refused when it is
 * made, the tool says so, instead of the file being dropped later. */
static int refuse_new(const char *path, int exists_err)
{
	int rc = refuse_results(path, exists_err);

	return rc ? rc : hio_utf8_valid(path, strlen(path)) ? 0 : -EILSEQ;
}

/* The node just made at r belongs to the caller (fs_own_new); if it cannot, it goes. */
static int own_new(const char *r, mode_t mode)
{
	struct fs *fs = FS();
	int rc = fs_own_new(fs, r, -1, mode);

	if (rc < 0)
		unlinkat(fs->tree_fd, r, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
	return rc;
}

static int op_mkdir(const char *path, mode_t mode)
{
	int rc = refuse_new(path, -EEXIST);

	if (rc)
		return rc;
	if (mkdirat(FS()->tree_fd, rel(path), 0700) < 0)
		return -errno;
	return own_new(rel(path), S_IFDIR | (mode & 07777));
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev)
{
	int rc = refuse_new(path, -EEXIST);

	if (rc)
		return rc;
	if (S_ISREG(mode)) /* a regular file made this way is an empty input */
		return -EPERM;
	if (mknodat(FS()->tree_fd, rel(path), (mode & S_IFMT) | 0600, rdev) < 0)
		return -errno;
	return own_new(rel(path), mode);
}

static int op_rmdir(const char *path)
{
	int rc = refuse_results(path, -EBUSY);

	if (rc)
		return rc;
	return unlinkat(FS()->tree_fd, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int op_unlink(const char *path)
{
	struct fs *fs = FS();
	int rc = refuse_results(path, -EISDIR), fd;

	if (rc)
		return rc;
	fd = openat(fs->tree_fd, rel(path), O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (unlinkat(fs->tree_fd, rel(path), 0) < 0) {
		rc = -errno;
	} else {
		if (fd >= 0)
			fs_space_unlinked(fs, fd);
		fs_spool_removed(fs, rel(path)); /* a version still settling is not sent */
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static int op_symlink(const char *target, const char *path)
{
	int rc = refuse_new(path, -EEXIST);

	if (rc)
		return rc;
	if (symlinkat(target, FS()->tree_fd, rel(path)) < 0)
		return -errno;
	return own_new(rel(path), S_IFLNK | 0777);
}

static int op_readlink(const char *path, char *buf, size_t n)
{
	ssize_t len;

	if (in_results(path, NULL))
		return -EINVAL;
	len = readlinkat(FS()->tree_fd, rel(path), buf, n - 1);
	if (len < 0)
		return -errno;
	buf[len] = 0;
	return 0;
}

static int op_link(const char *from, const char *to)
{
	if (in_results(from, NULL) || in_results(to, NULL))
		return -EROFS;
	if (!hio_utf8_valid(to, strlen(to)))
		return -EILSEQ;
	return fs_handle_link(FS(), rel(from), rel(to));
}

/* Every regular file under tree path r that is now final and not being written
 * completes (a held name, or a held directory, was renamed to a final one). */
static int complete_renamed(struct fs *fs, const char *r, int depth)
{
	struct stat st;
	int rc = 0;

	if (fs_ignored(fs, r) || fstatat(fs->tree_fd, r, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISREG(st.st_mode)) {
		struct fs_ino *i;
		int busy;

		if (st.st_mode & FS_STUB_BIT)
			return 0;
		pthread_mutex_lock(&fs->ino_mu);
		i = fs_ino_get(fs, st.st_dev, st.st_ino, 0);
		busy = i && i->writers > 0;
		if (busy)
			i->dirty = 1; /* its last writer completes it under the new name */
		pthread_mutex_unlock(&fs->ino_mu);
		return busy ? 0 : fs_spool_complete(fs, r);
	}
	if (!S_ISDIR(st.st_mode) || depth > 64)
		return 0;
	int fd = openat(fs->tree_fd, r, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		char child[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", r, de->d_name) >= (int)sizeof(child))
			continue;
		int crc = complete_renamed(fs, child, depth + 1);
		if (crc < 0 && !rc)
			rc = crc;
	}
	closedir(d);
	return rc;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct fs *fs = FS();
	const char *rf = rel(from), *rt = rel(to);
	struct stat st;
	int dfd, rc, replaced = 0, is_dir;

	if (in_results(from, NULL) || in_results(to, NULL))
		return -EROFS;
	if (!hio_utf8_valid(to, strlen(to)))
		return -EILSEQ;
	dfd = (flags & RENAME_EXCHANGE) ? -1
					: openat(fs->tree_fd, rt, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0 && fstat(dfd, &st) == 0 && S_ISREG(st.st_mode))
		replaced = 1;
	if (renameat2(fs->tree_fd, rf, fs->tree_fd, rt, flags) < 0) {
		rc = -errno;
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	if (dfd >= 0) {
		fs_space_unlinked(fs, dfd);
		close(dfd);
	}
	if (flags & RENAME_EXCHANGE)
		return 0;
	is_dir = fstatat(fs->tree_fd, rt, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
	if (fs_ignored(fs, rf) && !fs_ignored(fs, rt)) {
		rc = complete_renamed(fs, rt, 0);
	} else if (fs_spool_renamed(fs, rf, rt, is_dir) == 0 && replaced && !fs_ignored(fs, rt)) {
		/* It replaced an input, and its own version has gone out already (or it
		 * has none yet): a new version of the target (sed -i, mv over a file). */
		rc = complete_renamed(fs, rt, 0);
	} else {
		return 0;
	}
	if (rc < 0)
		hio_err("renamed %s to %s but cannot queue it: %s; rename it again to retry", rf,
			rt, strerror(-rc));
	return rc;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = FS();
	struct stat st;
	int fd, rc = refuse_results(path, -EROFS);

	if (rc)
		return rc;
	fd = fi && fi->fh ? ((struct fs_handle *)fi->fh)->fd : -1;
	if ((fd >= 0 ? fstat(fd, &st) : fstatat(fs->tree_fd, rel(path), &st, AT_SYMLINK_NOFOLLOW)) <
	    0)
		return -errno;
	if (S_ISREG(st.st_mode)) /* the stub mark is ours, not the user's */
		mode = (mode & ~FS_STUB_BIT) | (st.st_mode & FS_STUB_BIT);
	if (fd >= 0)
		return fchmod(fd, mode) < 0 ? -errno : 0;
	return fchmodat(fs->tree_fd, rel(path), mode, 0) < 0 ? -errno : 0;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	int rc = refuse_results(path, -EROFS);

	if (rc)
		return rc;
	if (fi && fi->fh)
		return fchown(((struct fs_handle *)fi->fh)->fd, uid, gid) < 0 ? -errno : 0;
	return fchownat(FS()->tree_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	int rc = refuse_results(path, -EROFS);

	if (rc)
		return rc;
	if (fi && fi->fh)
		return futimens(((struct fs_handle *)fi->fh)->fd, tv) < 0 ? -errno : 0;
	return utimensat(FS()->tree_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs *fs = FS();
	struct fs_handle *h;
	int rc = refuse_results(path, -EISDIR);

	if (rc)
		return rc;
	if (fi && fi->fh) {
		h = (struct fs_handle *)fi->fh;
		if (!h->ino)
			return -EROFS;
		h->wrote = 1;
		return fs_handle_truncate(fs, h, size);
	}
	/* truncate(2) by name: an open, a truncation and a close, so it completes. */
	if ((rc = fs_handle_open(fs, rel(path), O_WRONLY | (size == 0 ? O_TRUNC : 0), 0, 0, &h)) <
	    0)
		return rc;
	rc = fs_handle_truncate(fs, h, size);
	int crc = fs_handle_close(fs, h, path);
	return rc < 0 ? rc : crc;
}

/* Passthrough when the kernel and the spool allow it (passthrough.c); else writers use
 * direct I/O: no page-cache copy in FUSE, each write straight to the spool file. */
static void set_io_mode(struct fs *fs, struct fs_handle *h, struct fuse_file_info *fi)
{
	int32_t id = fs_pt_open(fs, h, !h->pt_deny);

	if (id > 0) {
		fi->direct_io = 0; /* the kernel lets direct_io override passthrough */
		fs_pt_reply(id);
		return;
	}
	fi->direct_io = (fi->flags & O_ACCMODE) == O_WRONLY || (fi->flags & O_DIRECT);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = FS();
	struct fs_handle *h;
	int rc = refuse_new(path, -EISDIR);

	if (rc)
		return rc;
	/* The sticky bit of a regular file is the spool's eviction mark (FS_STUB_BIT):
	 * dropped, as chmod does, rather than the file taken for an evicted one. */
	if ((rc = fs_handle_open(fs, rel(path), fi->flags, mode & ~FS_STUB_BIT, 1, &h)) < 0)
		return rc;
	fi->fh = (uintptr_t)h;
	set_io_mode(fs, h, fi);
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = FS();
	const char *sub;
	struct fs_handle *h;
	int rc;

	if (in_results(path, &sub)) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
			return -EROFS;
		if (!(h = calloc(1, sizeof(*h))))
			return -ENOMEM;
		if ((h->fd = fs_results_open(fs, sub)) < 0) {
			rc = h->fd;
			free(h);
			return rc;
		}
		fi->fh = (uintptr_t)h;
		return 0;
	}
	if ((rc = fs_handle_open(fs, rel(path), fi->flags, 0, 0, &h)) < 0)
		return rc;
	fi->fh = (uintptr_t)h;
	set_io_mode(fs, h, fi);
	return 0;
}

static int op_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fuse_bufvec *src = malloc(sizeof(*src));

	if (!src)
		return -ENOMEM;
	*src = FUSE_BUFVEC_INIT(size);
	src->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	src->buf[0].fd = ((struct fs_handle *)fi->fh)->fd;
	src->buf[0].pos = off;
	*bufp = src;
	return 0;
}

static int op_write_buf(const char *path, struct fuse_bufvec *buf, off_t off,
			struct fuse_file_info *fi)
{
	struct fs *fs = FS();
	struct fs_handle *h = (struct fs_handle *)fi->fh;
	size_t len = fuse_buf_size(buf);
	uint64_t end = (uint64_t)off + len, cur, grow;
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(len);
	ssize_t n;

	if (!h->ino)
		return -EROFS;
	fs_kill_priv(h->fd);
	pthread_mutex_lock(&fs->ino_mu);
	cur = h->ino->size;
	pthread_mutex_unlock(&fs->ino_mu);
	grow = end > cur ? end - cur : 0;
	if (grow && fs_space_reserve(fs, grow) < 0) {
		h->write_failed = 1;
		return -ENOSPC;
	}
	fs_handle_grown(fs, h, end, grow);
	dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	dst.buf[0].fd = h->fd;
	dst.buf[0].pos = off;
	n = fuse_buf_copy(&dst, buf, FUSE_BUF_SPLICE_NONBLOCK);
	if (n < (ssize_t)len) {
		h->write_failed = 1;
		fs_handle_resync(fs, h);
	}
	return (int)n;
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	/* Every close of every duplicate descriptor flushes; the file completes at the
	 * release (handle.c). The flush prepares its version, so close() reports ENOSPC. */
	return fs_handle_flush(FS(), (struct fs_handle *)fi->fh, path);
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)fi->fh;
	int rc = fs_handle_close(FS(), h, path);

	if (rc < 0)
		hio_err("cannot queue %s at its close: %s; write it again to retry",
			path ? path : "?", strerror(-rc));
	return 0;
}

static int op_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct fs_handle *h = fi ? (struct fs_handle *)fi->fh : NULL;

	if (!h || !h->ino)
		return h ? -EBADF : -EOPNOTSUPP;
	fs_kill_priv(h->fd);
	return fs_handle_fallocate(FS(), h, mode, off, len);
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int fd = ((struct fs_handle *)fi->fh)->fd;

	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct fs *fs = FS();
	uint64_t used = atomic_load(&fs->spool_used), fr;

	if (fstatvfs(fs->tree_fd, sv) < 0)
		return -errno;
	/* df shows the spool's limit, or the disk when that is smaller. */
	fr = sv->f_frsize ? sv->f_frsize : 4096;
	if (fs->spool_max / fr < sv->f_blocks)
		sv->f_blocks = fs->spool_max / fr;
	uint64_t room = used < fs->spool_max ? (fs->spool_max - used) / fr : 0;
	if (room < sv->f_bavail)
		sv->f_bavail = room;
	if (room < sv->f_bfree)
		sv->f_bfree = room;
	return 0;
}

/* xattrs: user.hio.* are ours (read-only); the rest pass through to the tree. */
static int tree_path(struct fs *fs, const char *path, char *out, size_t n)
{
	return snprintf(out, n, "%s/%s", fs->tree_dir, rel(path)) >= (int)n ? -ENAMETOOLONG : 0;
}

static int op_setxattr(const char *path, const char *name, const char *val, size_t n, int flags)
{
	char p[PATH_MAX * 2];
	int rc = refuse_results(path, -EROFS);

	if (rc)
		return rc;
	if (!strncmp(name, XATTR_HIO_PREFIX, sizeof(XATTR_HIO_PREFIX) - 1))
		return -EPERM;
	if ((rc = tree_path(FS(), path, p, sizeof(p))) < 0)
		return rc;
	return lsetxattr(p, name, val, n, flags) < 0 ? -errno : 0;
}

static int op_getxattr(const char *path, const char *name, char *val, size_t n)
{
	struct fs *fs = FS();
	char p[PATH_MAX * 2], state[32];
	ssize_t len;
	int rc;

	if (in_results(path, NULL))
		return -ENODATA;
	if (!strcmp(name, XATTR_STATE)) {
		if ((rc = fs_spool_state(fs, rel(path), state, sizeof(state))) < 0)
			return rc;
		len = (ssize_t)strlen(state);
		if (n == 0)
			return (int)len;
		if ((size_t)len > n)
			return -ERANGE;
		memcpy(val, state, (size_t)len);
		return (int)len;
	}
	if ((rc = tree_path(fs, path, p, sizeof(p))) < 0)
		return rc;
	len = lgetxattr(p, name, val, n);
	return len < 0 ? -errno : (int)len;
}

static int op_listxattr(const char *path, char *list, size_t n)
{
	struct fs *fs = FS();
	char p[PATH_MAX * 2], state[32];
	size_t extra = 0;
	ssize_t len;
	int rc;

	if (in_results(path, NULL))
		return 0;
	if (fs_spool_state(fs, rel(path), state, sizeof(state)) == 0)
		extra = sizeof(XATTR_STATE);
	if ((rc = tree_path(fs, path, p, sizeof(p))) < 0)
		return rc;
	len = llistxattr(p, n ? list : NULL, n);
	if (len < 0 && errno != ENOTSUP)
		return -errno;
	if (len < 0)
		len = 0;
	if (n == 0)
		return (int)(len + (ssize_t)extra);
	if ((size_t)len + extra > n)
		return -ERANGE;
	if (extra)
		memcpy(list + len, XATTR_STATE, extra);
	return (int)(len + (ssize_t)extra);
}

static int op_removexattr(const char *path, const char *name)
{
	char p[PATH_MAX * 2];
	int rc = refuse_results(path, -EROFS);

	if (rc)
		return rc;
	if (!strncmp(name, XATTR_HIO_PREFIX, sizeof(XATTR_HIO_PREFIX) - 1))
		return -EPERM;
	if ((rc = tree_path(FS(), path, p, sizeof(p))) < 0)
		return rc;
	return lremovexattr(p, name) < 0 ? -errno : 0;
}

const struct fuse_operations fs_ops = {
    .init = op_init,
    .getattr = op_getattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .rmdir = op_rmdir,
    .unlink = op_unlink,
    .symlink = op_symlink,
    .readlink = op_readlink,
    .link = op_link,
    .rename = op_rename,
    .chmod = op_chmod,
    .chown = op_chown,
    .utimens = op_utimens,
    .truncate = op_truncate,
    .create = op_create,
    .open = op_open,
    .read_buf = op_read_buf,
    .write_buf = op_write_buf,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .fallocate = op_fallocate,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
};
