/* Local handover, the PE's side: a MSG frame whose body is a descriptor the sender on
 * this host passed (docs/protocol.md, "Local handover"), taken into memory, linked for
 * the analysis, or copied in the kernel. */
#include "hio_log.h"
#include "hio_util.h"
#include "pe_internal.h"
#include "pe_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Copies len bytes of src (from offset 0) to dst in the kernel. 0 or -1/errno. */
static int copy_in_kernel(int src, int dst, uint64_t len)
{
	off_t off = 0;
	int sf = 0;

	while ((uint64_t)off < len) {
		size_t n =
		    len - (uint64_t)off > (1u << 30) ? (1u << 30) : (size_t)(len - (uint64_t)off);
		/* copy_file_range shares extents where it can; across file systems (tmpfs
		 * spool, ext4 workdir) it may refuse, and sendfile copies any file. */
		ssize_t w =
		    sf ? sendfile(dst, src, &off, n) : copy_file_range(src, &off, dst, NULL, n, 0);
		if (w < 0 && !sf &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			sf = 1;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO; /* the file is shorter than it was at the fstat */
			return -1;
		}
	}
	return 0;
}

/* A sealed file (the sender does not change it until the ACK) that the run-as analysis
 * can read and not write: another user's, 0644, no ACL. Root's analysis, or one that
 * owns the file, could change the sender's bytes, and a file it cannot read needs a
 * copy of its own. */
static int link_allowed(const struct pe *pe, int fd, const struct stat *st)
{
	const struct hio_pe_runas *ra = pe->analysis_as;

	if (!ra || ra->uid == 0 || st->st_uid == ra->uid || (st->st_mode & 07777) != 0644)
		return 0;
	errno = 0;
	return fgetxattr(fd, "system.posix_acl_access", NULL, 0) < 0 &&
	       (errno == ENODATA || errno == ENOTSUP);
}

/* Links the passed file at path: by descriptor (CAP_DAC_READ_SEARCH), else through
 * /proc. Fails with EXDEV when the workdir is another mount (a container's bind). */
static int link_passed(int fd, const char *path)
{
	char proc[64];

	if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/* A body handed over as a descriptor (local sessions): the file a sender on this host
 * passed with the frame. Linked into the workdir when sealed and link_allowed (and big,
 * or for the exec handler) (the analysis reads the sender's inode, which no rewrite
 * changes and it cannot write, and it outlives the sender's unlink), or else copied
 * into the PE's own place at once, so the sender's file may go after the ACK whatever
 * the analysis does. The analysis never holds the sender's descriptor. */
int pe_rx_take_fd(struct pe_rx *rx, struct pe_item *it, int sealed)
{
	struct pe *pe = rx->pe;
	struct stat st;
	int fd, link, rc = -1;

	if (!rx->sess || !rx->sess->local)
		return pe_rx_fail(rx, "%s", "a descriptor frame outside a local session");
	if (rx->nfdq == 0)
		return pe_rx_fail(rx, "%s", "a descriptor frame came without its descriptor");
	fd = rx->fdq[0];
	memmove(rx->fdq, rx->fdq + 1, (size_t)--rx->nfdq * sizeof(rx->fdq[0]));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != it->len) {
		close(fd);
		return pe_rx_fail(rx, "%s",
				  "the passed descriptor is not a regular file of the "
				  "frame's length");
	}
	/* The exec handler puts every input in a file, so a linked one saves the copies at
	 * any size; other handlers take small bodies from memory. */
	link = sealed && (it->len > PE_MEM_MAX || pe->handler == hio_pe_exec_handler) &&
	       link_allowed(pe, fd, &st);
	if (!link && it->len <= PE_MEM_MAX) {
		if (!(it->mem = pe_body_alloc((size_t)it->len))) {
			close(fd);
			return pe_rx_fail(rx, "%s", "out of memory");
		}
		errno = 0;
		if (hio_pread_full(fd, it->mem, (size_t)it->len, 0) != (ssize_t)it->len) {
			rc = pe_rx_fail(rx, "cannot read the passed file: %s",
					errno ? strerror(errno) : "shorter than announced");
			goto out;
		}
		rx->got = it->len;
		rc = 0;
		goto out;
	}
	if (asprintf(&it->path, "%s/in%" PRIu64, pe->workdir, pe_next_seq(pe)) < 0) {
		it->path = NULL;
		rc = pe_rx_fail(rx, "%s", "out of memory");
		goto out;
	}
	if (link) {
		if (link_passed(fd, it->path) == 0) {
			it->linked = 1;
			pe_metrics_linked();
			rx->got = it->len;
			rc = 0;
			goto out;
		}
		hio_debug("cannot link the passed file for message %s: %s; copying it", it->id,
			  strerror(errno));
	}
	int out = open(it->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || copy_in_kernel(fd, out, it->len) < 0 || close(out) < 0) {
		int e = errno;
		hio_warn("cannot copy the passed file into %s for message %s: %s; refusing it",
			 it->path, it->id, strerror(e));
		if (out >= 0)
			close(out);
		rc = pe_rx_fail(rx, "PE cannot store the message: %s", strerror(e));
		goto out;
	}
	rx->got = it->len;
	rc = 0;
out:
	close(fd);
	return rc;
}
