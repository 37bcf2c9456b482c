/* passthrough.c: the kernel's FUSE passthrough (Linux 6.9+, CONFIG_FUSE_PASSTHROUGH).
 *
 * A regular file of the tree opened in passthrough mode is read and written by the
 * kernel straight into the spool's file, with no request to hio-fs per write: `cp`
 * and `dd` into the mount then run at the speed of the spool's disk. Opens, flushes,
 * releases and attributes still come to hio-fs, so completion at the last release
 * and the spool's bookkeeping are unchanged; what hio-fs no longer sees is each
 * write, so handle.c squares sizes and the spool's budget at the flush
 * (fs_pt_settle) and reports ENOSPC there, as the SPEC allows.
 *
 * libfuse 3.14 (Debian 12) predates the feature (3.16), so this module speaks the
 * two protocol fields itself: it asks for FUSE_PASSTHROUGH in the INIT reply and puts
 * FOPEN_PASSTHROUGH and the backing id into OPEN and CREATE replies. It does that in
 * the session's writev (fuse_session_custom_io): the operation that decided sets a
 * thread-local mark, and libfuse sends its reply from the same thread right after.
 * Where the kernel, the privilege (CAP_SYS_ADMIN) or the configuration is missing,
 * the first backing registration fails and every file goes through hio-fs as before.
 *
 * The kernel's rule: while a FUSE inode has a passthrough file open, every open of it
 * must be passthrough to the same backing file (else the open fails with EIO). So
 * the backing id lives in struct fs_ino (one per backing inode), shared by all its
 * passthrough handles and closed with the last; handle.c keeps the cases where one
 * FUSE inode could meet two backing inodes (a copy before a rewrite) apart. */
#define FUSE_USE_VERSION 312
#include "fs.h"
#include "hio_log.h"
#include "hio_sync.h"

#include <errno.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

/* From <linux/fuse.h> 7.40 (Linux 6.9); Debian 12's headers are 6.1's. */
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_IOC_BACKING_OPEN _IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)
#define PT_FOPEN_PASSTHROUGH (1u << 7)
#define PT_INIT_EXT (1u << 30)		 /* flags: flags2 is valid */
#define PT_HANDLE_KILLPRIV_V2 (1u << 28) /* flags: hio-fs drops set-ID bits itself */
#define PT_INIT2_PASSTHROUGH (1u << 5)	 /* flags2: FUSE_PASSTHROUGH (1ULL << 37) */

/* Reply layouts (fuse_kernel.h): out header 16 B; fuse_init_out 64 B with flags at 12,
 * flags2 at 32 and max_stack_depth at 36; fuse_open_out 16 B (fh, open_flags at 8,
 * backing_id at 12), after a 128 B fuse_entry_out in a CREATE reply. */
#define PT_OUT_HDR 16
#define PT_INIT_OUT 64
#define PT_ENTRY_OUT 128
#define PT_OPEN_OUT 16
#define PT_REPLY_MAX (PT_OUT_HDR + PT_ENTRY_OUT + PT_OPEN_OUT)

/* Set by the operation whose reply this thread sends next; consumed by pt_writev. */
static _Thread_local int tls_init;	  /* op_init: patch the INIT reply */
static _Thread_local int32_t tls_backing; /* > 0: put this id into the OPEN/CREATE reply */

static struct fs *pt_fs; /* the one mount of this process (the writev has no fs) */

static ssize_t pt_read(int fd, void *buf, size_t len, void *ud)
{
	(void)ud;
	return read(fd, buf, len);
}

static ssize_t pt_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
				 unsigned int flags, void *ud)
{
	(void)ud;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t pt_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			      unsigned int flags, void *ud)
{
	(void)ud;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static int32_t le32(const unsigned char *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Gathers a small reply into buf; its length, or 0 when it does not fit. */
static size_t gather(const struct iovec *iov, int count, unsigned char *buf, size_t cap)
{
	size_t n = 0;

	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > cap - n)
			return 0;
		memcpy(buf + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	return n;
}

static void closing_done(void);
static ssize_t pt_reply(int fd, struct iovec *iov, int count);

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *ud)
{
	ssize_t r = pt_reply(fd, iov, count);

	(void)ud;
	closing_done(); /* a release's reply is out: the kernel let go of its file */
	return r;
}

static ssize_t pt_reply(int fd, struct iovec *iov, int count)
{
	unsigned char buf[PT_REPLY_MAX];
	int init = tls_init;
	int32_t id = tls_backing;
	size_t n;

	tls_init = 0;
	tls_backing = 0;
	if (!init && id <= 0)
		return writev(fd, iov, count);
	n = gather(iov, count, buf, sizeof(buf));
	/* A reply with an error is only a header: nothing to patch. */
	if (n < PT_OUT_HDR || le32(buf + 4) != 0)
		return writev(fd, iov, count);
	if (init && n == PT_OUT_HDR + PT_INIT_OUT) {
		unsigned char *o = buf + PT_OUT_HDR;
		/* Without it every write of a passthrough file first asks hio-fs for
		 * security.capability (file_remove_privs: FUSE sets no SB_NOSEC), a round
		 * trip per write. With it the kernel marks files without set-ID bits or
		 * capabilities S_NOSEC, and leaves dropping them to hio-fs (fs_kill_priv). */
		put32(o + 12, (uint32_t)le32(o + 12) | PT_INIT_EXT | PT_HANDLE_KILLPRIV_V2);
		put32(o + 32, (uint32_t)le32(o + 32) | PT_INIT2_PASSTHROUGH);
		put32(o + 36, 1); /* max_stack_depth: the spool is a plain file system */
	} else if (id > 0 && (n == PT_OUT_HDR + PT_OPEN_OUT ||
			      n == PT_OUT_HDR + PT_ENTRY_OUT + PT_OPEN_OUT)) {
		unsigned char *o = buf + n - PT_OPEN_OUT;
		put32(o + 8, (uint32_t)le32(o + 8) | PT_FOPEN_PASSTHROUGH);
		put32(o + 12, (uint32_t)id);
	} else {
		hio_warn("passthrough: a reply of %zu bytes is not an open's; sent as it was", n);
		return writev(fd, iov, count);
	}
	struct iovec one = {.iov_base = buf, .iov_len = n};
	return writev(fd, &one, 1);
}

int fs_pt_install(struct fs *fs, struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
	    .writev = pt_writev,
	    .read = pt_read,
	    .splice_receive = pt_splice_receive,
	    .splice_send = pt_splice_send,
	};
	int rc;

	if (fs->pt_state == FS_PT_OFF)
		return 0;
	pt_fs = fs;
	if ((rc = fuse_session_custom_io(se, &io, fuse_session_fd(se))) < 0) {
		hio_warn("passthrough: cannot take the session's I/O (%s); files go through "
			 "hio-fs",
			 strerror(-rc));
		fs->pt_state = FS_PT_OFF;
	}
	return 0;
}

void fs_pt_init_reply(struct fs *fs)
{
	if (fs->pt_state != FS_PT_OFF)
		tls_init = 1;
}

void fs_pt_reply(int32_t id)
{
	tls_backing = id;
}

/* Registers fd as a backing file; its id (> 0), or 0 when passthrough is off. */
static int32_t backing_open(struct fs *fs, int fd)
{
	struct pt_backing_map map = {.fd = fd};
	int rc = ioctl(fuse_session_fd(fs->pt_se), PT_IOC_BACKING_OPEN, &map);

	if (rc > 0) {
		if (atomic_exchange(&fs->pt_state, FS_PT_ON) != FS_PT_ON)
			hio_info("passthrough: on (the kernel writes inputs into the spool)");
		return rc;
	}
	/* ENOTTY or EINVAL: a kernel without it; EPERM: not root, or the INIT reply's
	 * request was refused. None changes while mounted. */
	int was = atomic_exchange(&fs->pt_state, FS_PT_OFF);
	if (was == FS_PT_UNKNOWN)
		hio_info("passthrough: unavailable (%s); files go through hio-fs", strerror(errno));
	else if (was == FS_PT_ON)
		hio_warn("passthrough: the kernel refused a backing file (%s); files go "
			 "through hio-fs from now on",
			 strerror(errno));
	return 0;
}

static void backing_close(struct fs *fs, int32_t id)
{
	uint32_t u = (uint32_t)id;

	if (ioctl(fuse_session_fd(fs->pt_se), PT_IOC_BACKING_CLOSE, &u) < 0)
		hio_warn("passthrough: cannot close backing id %d: %s", id, strerror(errno));
}

/* Room for a writer: the disk and the spool's limit each have pt_reserve free (the
 * limit after evicting processed inputs, as a write would). */
static int room_for_writer(struct fs *fs)
{
	struct statvfs sv;

	if (fstatvfs(fs->tree_fd, &sv) < 0 ||
	    (uint64_t)sv.f_bavail * (sv.f_frsize ? sv.f_frsize : 4096) < fs->pt_reserve)
		return 0;
	if (fs_space_reserve(fs, fs->pt_reserve) < 0)
		return 0;
	fs_space_release(fs, fs->pt_reserve);
	return 1;
}

/* The binding of an inode to its backing id lives while handles have it open
 * (pt_refs) and while the replies to their releases are still on their way
 * (pt_closing): until the kernel has the reply it may still hold the FUSE inode bound,
 * so a new open must join the same id, and a copy of the file under its name (a new
 * backing inode) must wait. pt_id is PT_PENDING while the first opener registers it:
 * an open that came in between must not answer without passthrough after the
 * kernel took that one's (the kernel fails such an open with EIO). */
#define PT_PENDING (-1)

static int bound(const struct fs_ino *i)
{
	return i->pt_refs + i->pt_closing > 0;
}

int32_t fs_pt_open(struct fs *fs, struct fs_handle *h, int alone)
{
	int32_t id = 0, mine = 0;
	int eligible;

	if (!h->ino || atomic_load(&fs->pt_state) == FS_PT_OFF)
		return 0;
	/* Only an open that creates the file starts passthrough: its FUSE inode is new, so
	 * the kernel cannot still hold it bound to another backing file. Starting it on an
	 * existing file failed some opens with EIO under 4 writers rewriting 5 names
	 * (about 3 in 6,000: the kernel still held the inode bound to an earlier backing
	 * file after hio-fs had released every handle it knew of). Readers and rewrites go
	 * through hio-fs unless the file is passthrough already. A write that must drop
	 * set-ID bits or capabilities (fs_kill_priv) comes here too. */
	eligible = h->writer && h->made && alone && !fs_priv_to_kill(h->fd) && room_for_writer(fs);
	pthread_mutex_lock(&fs->ino_mu);
	while (h->ino->pt_id == PT_PENDING)
		hio_cond_wait_ms(&fs->ino_cv, &fs->ino_mu, -1);
	if (h->ino->pt_id > 0) {
		id = h->ino->pt_id;
		h->ino->pt_refs++;
	} else if (eligible && h->ino->refs == 1 && atomic_load(&fs->pt_state) != FS_PT_OFF) {
		/* The first passthrough open: every other open of the file must be ours. */
		HIO_ASSERT(!bound(h->ino));
		h->ino->pt_id = PT_PENDING;
		h->ino->pt_refs++;
	} else {
		pthread_mutex_unlock(&fs->ino_mu);
		return 0;
	}
	pthread_mutex_unlock(&fs->ino_mu);
	if (id == 0) {
		mine = backing_open(fs, h->fd);
		pthread_mutex_lock(&fs->ino_mu);
		HIO_ASSERT(h->ino->pt_id == PT_PENDING);
		h->ino->pt_id = mine > 0 ? mine : 0;
		if (mine <= 0)
			h->ino->pt_refs--;
		pthread_cond_broadcast(&fs->ino_cv);
		pthread_mutex_unlock(&fs->ino_mu);
		if (mine <= 0)
			return 0;
		id = mine;
	}
	h->pt = 1;
	if (h->writer) {
		struct stat st;
		if (fstat(h->fd, &st) == 0) {
			h->pt_size = (uint64_t)st.st_size;
			h->pt_mtime = st.st_mtim;
		}
	}
	atomic_fetch_add(&fs->pt_opens, 1);
	return id;
}

/* The release whose reply this thread sends next: its share of the binding ends when
 * that reply is written (pt_writev). */
static _Thread_local struct fs_ino *tls_closing;

static void closing_done(void)
{
	struct fs_ino *i = tls_closing;
	int32_t id = 0;

	if (!i)
		return;
	tls_closing = NULL;
	pthread_mutex_lock(&pt_fs->ino_mu);
	HIO_ASSERT(i->pt_closing > 0);
	if (--i->pt_closing == 0 && !bound(i)) {
		id = i->pt_id;
		i->pt_id = 0;
	}
	pthread_cond_broadcast(&pt_fs->ino_cv); /* a rewrite may wait for this */
	fs_ino_put(pt_fs, i);
	pthread_mutex_unlock(&pt_fs->ino_mu);
	if (id > 0)
		backing_close(pt_fs, id);
}

void fs_pt_close(struct fs *fs, struct fs_handle *h)
{
	if (!h->pt)
		return;
	closing_done(); /* a release of this thread whose reply never went (rare) */
	pthread_mutex_lock(&fs->ino_mu);
	HIO_ASSERT(h->ino->pt_refs > 0 && h->ino->pt_id > 0);
	h->ino->pt_refs--;
	h->ino->pt_closing++;
	pthread_mutex_unlock(&fs->ino_mu);
	tls_closing = h->ino;
	h->pt = 0;
}

int fs_pt_settle(struct fs *fs, struct fs_handle *h)
{
	struct statvfs sv;
	struct stat st;
	uint64_t size, cur;

	if (!h->pt || !h->writer)
		return 0;
	if (h->write_failed)
		return -ENOSPC;
	if (fstat(h->fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	if (size == h->pt_size && st.st_mtim.tv_sec == h->pt_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == h->pt_mtime.tv_nsec)
		return 0; /* nothing written since the open or the last settle */
	h->pt_size = size;
	h->pt_mtime = st.st_mtim;
	fs_kill_priv(h->fd); /* a writer that joined a passthrough file made set-ID later */
	pthread_mutex_lock(&fs->ino_mu);
	cur = h->ino->size;
	pthread_mutex_unlock(&fs->ino_mu);
	if (size > cur && fs_space_reserve(fs, size - cur) < 0) {
		hio_warn("passthrough: %llu bytes more than the spool's limit has room for; "
			 "the close fails with ENOSPC",
			 (unsigned long long)(size - cur));
		goto full;
	}
	if (size > cur)
		fs_handle_grown(fs, h, size, size - cur);
	else
		fs_handle_resync(fs, h); /* shrunk, or rewritten in place */
	pthread_mutex_lock(&fs->ino_mu);
	h->ino->dirty = 1;
	pthread_mutex_unlock(&fs->ino_mu);
	h->wrote = 1;
	/* A write the disk refused went straight back to the writer; the disk being (near)
	 * full now is the trace it leaves, so the file is not taken for whole. */
	if (fstatvfs(fs->tree_fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * (sv.f_frsize ? sv.f_frsize : 4096) < fs->pt_reserve / 8) {
		hio_warn("passthrough: the spool's disk has less than %llu bytes free; a write "
			 "may have failed, so the close fails with ENOSPC",
			 (unsigned long long)(fs->pt_reserve / 8));
		goto full;
	}
	return 0;
full:
	h->write_failed = 1;
	fs_handle_resync(fs, h);
	return -ENOSPC;
}
