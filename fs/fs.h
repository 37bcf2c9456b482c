/* fs.h: hio-fs internals shared by its files.
 *
 * The mount is a passthrough of SPOOL/tree (the namespace users see), plus a virtual,
 * read-only results/ served from the master. A completed input is snapshotted by a
 * hard link SPOOL/out/<id> (and SPOOL/out/<id>.json with its name and version), which
 * the sender streams and deletes once a PE or the master's backlog acknowledged it. A
 * file whose committed version out/ still links is copied on its next open for
 * writing, so a queued version never changes under the sender. */
#ifndef HIO_FS_H
#define HIO_FS_H
#include "hio_util.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define FS_RESULTS "results" /* the virtual directory at the mount's root */
#define FS_IGNORE_MAX 64     /* patterns in --ignore */
#define FS_STUB_BIT S_ISVTX  /* marks an evicted input: size kept, bytes gone */
/* Tools' temporary names: dotfiles (rsync's .name.XXXXXX), backups, swap files,
 * partial downloads, sqlite's journals. vim's 4913 probe is not listed (a directory of
 * that name would be held): it is removed at once, within the settle time. */
#define FS_DEFAULT_IGNORE ".*,*.tmp,*.part,*~,*.swp,*-journal,*-wal,*-shm"
#define FS_SETTLE_MS 200 /* default --settle */

struct fs_spool;
struct fs_results;
struct fs_version; /* spool_int.h: one completed version of an input, in out/ */

/* One backing inode with open handles: who writes it and whether it changed. */
struct fs_ino {
	dev_t dev;
	ino_t ino;
	int refs;    /* open handles */
	int writers; /* open handles that may write */
	int dirty;   /* written, created or truncated since it last completed */
	/* Prepared at a flush of its last writer (in out/, so close() can report an error
	 * and a crash keeps it) and committed at that writer's release: a close of one
	 * duplicate descriptor is not the last. It is a hard link to this inode, so it
	 * holds the bytes of the last write until the commit. */
	struct fs_version *prov;
	/* Work on the inode running without a lock; the entry stays while either is set.
	 * evicting (space.c): its bytes are going, every open waits (fs->ino_cv).
	 * copying (handle.c): a writer's open is giving the tree a fresh copy of this
	 * pending version; other writers' opens wait, readers do not. */
	int evicting;
	int copying;
	uint64_t size;
	/* passthrough.c: the kernel's id for this inode as a backing file while
	 * pt_refs handles have it open in passthrough (0: none). */
	int32_t pt_id;
	int pt_refs;
	int pt_closing; /* released passthrough handles whose reply is not out yet */
	struct fs_ino *next;
};

enum { FS_PT_UNKNOWN, FS_PT_ON, FS_PT_OFF }; /* fs.pt_state */
#define FS_PT_RESERVE (1ull << 30)	     /* default --passthrough-reserve */
/* A rewrite waits this long for passthrough readers of the old version to be released
 * (a close returns before its release arrives), then fails with ETXTBSY. */
#define FS_PT_RELEASE_WAIT_MS 1000

struct fs {
	char spool_dir[PATH_MAX];
	char tree_dir[PATH_MAX + 8];
	char out_dir[PATH_MAX + 8];
	int tree_fd; /* SPOOL/tree, O_DIRECTORY */
	int out_fd;  /* SPOOL/out */
	char master[512];
	char mountpoint[PATH_MAX];
	char token[HIO_TOKEN_MAX + 1];
	char pipeline[HIO_PIPELINE_MAX + 1];
	int compress; /* enum hio_compress */
	int fsync;
	int settle_ms; /* a committed version waits this long for a rename or removal */
	uint64_t spool_max;
	_Atomic uint64_t spool_used; /* bytes of distinct non-evicted inodes in tree/ and out/ */

	char *ignore[FS_IGNORE_MAX];
	int nignore;

	/* Locks of hio-fs, in the order they are taken (docs/fs.md, "Locks and threads"):
	 *   the spool's mu (spool.c)  before  the evictable list's mu (space.c);
	 *   ino_mu and the results' mu (results.c) are leaves: nothing else is taken
	 *   while one is held.
	 * None is held across disk or network I/O: slow work on an inode is announced by
	 * a flag in its fs_ino (evicting, copying) and done with no lock held.
	 * ino_mu guards inos[] and every struct fs_ino; ino_cv says a flag was cleared. */
	pthread_mutex_t ino_mu;
	pthread_cond_t ino_cv;
	unsigned evictions; /* evictions begun: an open whose fstat is older looks again */
	struct fs_ino *inos[256];
	struct fs_evict *evict; /* space.c: processed inputs, oldest first */

	struct fs_spool *spool;
	struct fs_results *results;

	/* passthrough.c: unknown until the first backing file is registered. */
	_Atomic int pt_state;
	uint64_t pt_reserve; /* free bytes a passthrough writer needs (disk and limit) */
	struct fuse_session *pt_se;
	_Atomic uint64_t pt_opens; /* handles opened in passthrough, ever */
};

/* --- ignore.c --- */
/* Parses a comma-separated pattern list into fs->ignore. 0, or -1 (too many). */
int fs_ignore_parse(struct fs *fs, const char *list);
void fs_ignore_free(struct fs *fs);
/* 1 when path's last component matches an ignore pattern (held until renamed). */
int fs_ignored(const struct fs *fs, const char *path);

/* --- spool.c: the out/ queue, the sender, the reporter and per-input states --- */
/* Opens SPOOL/{tree,out}, counts the space used and queues what out/ holds (a replay
 * after a crash); starts no thread. 0, or -1 with a logged reason. */
int fs_spool_start(struct fs *fs);
/* Starts the stream connector, the sender and the reporter: after FUSE daemonized,
 * since its fork keeps only the calling thread. 0, or -1 with a logged reason. */
int fs_spool_run(struct fs *fs);
/* Flushes nothing: unacknowledged entries stay in out/ for the next mount. */
void fs_spool_stop(struct fs *fs);
/* A new version of tree path rel (no leading '/'): a hard link out/<id> and its record
 * out/<id>.json, counted as pending but not queued. 0 and *v, or -errno (the caller's
 * close reports it). */
int fs_spool_prepare(struct fs *fs, const char *rel, struct fs_version **v);
/* Queues v under name rel (its name now), after the settle time. */
void fs_spool_commit(struct fs *fs, struct fs_version *v, const char *rel);
/* Gives prepared version v bytes of its own (a copy in place of its hard link), so its
 * file in the tree may be written in place. 0 or -errno (v keeps its link). */
int fs_spool_unshare(struct fs *fs, struct fs_version *v);
/* Drops a prepared version: its out/ entry goes, nothing is sent. NULL is a no-op. */
void fs_spool_discard(struct fs *fs, struct fs_version *v);
/* prepare + commit. 0 or -errno. */
int fs_spool_complete(struct fs *fs, const char *rel);
/* The state of input rel for user.hio.state into out (NUL-terminated). 0, or -ENODATA. */
int fs_spool_state(struct fs *fs, const char *rel, char *out, size_t n);
/* A rename moved input from to to: its state, and its version in out/, follow it; a
 * version of to still waiting is dropped, and so is from's when to is a held name.
 * With dir, every input under directory from follows too. 1 when from's version was
 * still waiting (it goes out under to), else 0. */
int fs_spool_renamed(struct fs *fs, const char *from, const char *to, int dir);
/* Input rel was removed: its version still waiting is dropped, its state forgotten. */
void fs_spool_removed(struct fs *fs, const char *rel);

/* --- space.c: the spool's byte budget and eviction --- */
/* The evictable list lives from fs_space_init (0, or -1 out of memory) to
 * fs_space_free. */
int fs_space_init(struct fs *fs);
void fs_space_free(struct fs *fs);
/* A processed input whose bytes may go when the spool is full (name is copied). */
void fs_space_evictable(struct fs *fs, const char *name);
/* Reserves n more bytes of spool space, evicting processed inputs when needed.
 * 0 or -ENOSPC. */
int fs_space_reserve(struct fs *fs, uint64_t n);
/* Gives back n bytes (a file shrank, or its last link went). */
void fs_space_release(struct fs *fs, uint64_t n);
/* Accounts for an inode that lost a link: releases its bytes when it has none left.
 * fd is an O_PATH (or any) fd on it, opened before the unlink or rename. */
void fs_space_unlinked(struct fs *fs, int fd);

/* FUSE paths start with '/'; the tree is addressed relative to tree_fd. */
static inline const char *fs_rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

/* --- handle.c: open input files --- */
struct fs_handle { /* fi->fh of an open file */
	int fd;
	int writer;
	int wrote;	    /* data written (or cut) through this handle */
	int write_failed;   /* a write failed (ENOSPC...): not whole, so no input */
	struct fs_ino *ino; /* NULL for results/ files */
	int pt;		    /* opened in passthrough: writes do not come to hio-fs */
	int pt_deny;	    /* another inode of the same name is still open: no passthrough */
	int made;	    /* this open created the file */
	uint64_t pt_size;   /* size and mtime at the open or last fs_pt_settle */
	struct timespec pt_mtime;
};

/* Looks up (and with create, adds) the open-inode entry; the caller holds fs->ino_mu. */
struct fs_ino *fs_ino_get(struct fs *fs, dev_t dev, ino_t ino, int create);
/* Frees i when nothing uses it any more; the caller holds fs->ino_mu. */
void fs_ino_put(struct fs *fs, struct fs_ino *i);
/* Waits until the inode is not being evicted (and with copying, not being copied);
 * the caller holds fs->ino_mu, which the wait releases meanwhile. */
void fs_ino_wait(struct fs *fs, dev_t dev, ino_t ino, int copying);
/* Clears i's evicting and copying flags and wakes the waiters; takes fs->ino_mu. */
void fs_ino_unbusy(struct fs *fs, struct fs_ino *i);
/* Opens tree path r (flags as open(2); create: O_CREAT, counts as a write). On 0 *out
 * is a new handle the caller gives back with fs_handle_close; else -errno. */
int fs_handle_open(struct fs *fs, const char *r, int flags, mode_t mode, int create,
		   struct fs_handle **out);
/* At a flush (each close of each duplicate): prepares a version when h wrote and is
 * its file's last writer, so the close reports a spool error. path is the FUSE path
 * (NULL: removed). 0 or -errno. */
int fs_handle_flush(struct fs *fs, struct fs_handle *h, const char *path);
/* Closes and frees h (its release); when it was the last writer of a changed file,
 * the file completes: its version is committed. Returns that completion's result. */
int fs_handle_close(struct fs *fs, struct fs_handle *h, const char *path);
/* ftruncate with the spool's byte count kept; 0, -ENOSPC or -errno. */
int fs_handle_truncate(struct fs *fs, struct fs_handle *h, off_t size);
/* fallocate mode 0 through h, counted in the spool; 0 or -errno. */
int fs_handle_fallocate(struct fs *fs, struct fs_handle *h, int mode, off_t off, off_t len);
/* After h wrote up to end, for which grow bytes were reserved in the spool: the size,
 * the dirty and wrote marks, and the reservation squared with what the file really
 * grew by (another writer may have grown or cut it meanwhile). Takes ino_mu. */
void fs_handle_grown(struct fs *fs, struct fs_handle *h, uint64_t end, uint64_t grow);
/* Gives the node just made at tree path r (fd, or -1 to go by name) to the FUSE
 * caller: its uid, its gid (a set-group-ID parent's when it has one) and exactly mode
 * (with its S_IFMT type), which the kernel has masked with the caller's umask already;
 * hio-fs's own umask must not mask it again. 0 or -errno. */
int fs_own_new(struct fs *fs, const char *r, int fd, mode_t mode);
/* link(2) from to to (tree paths): a copy that is a second input. 0 or -errno. */
int fs_handle_link(struct fs *fs, const char *from, const char *to);
/* Copies file from into to (copy_file_range, else read/write). 0 or -1/errno. */
int fs_copy_fd(int from, int to);
/* What replaces a shared inode: a new file out/TMP with mode and, when src >= 0, a copy
 * of it (its size reserved in the spool first; fsynced with --fsync), renamed to
 * dir/name. Its O_WRONLY descriptor (the caller closes it), or -errno with nothing
 * left behind. */
int fs_copy_replace(struct fs *fs, int src, mode_t mode, const char *tmp, int dir,
		    const char *name);
/* The kernel leaves dropping set-ID bits and capabilities to hio-fs (passthrough.c asks
 * for FUSE_HANDLE_KILLPRIV_V2): at each write, truncation or fallocate by the FUSE
 * caller, fd's file loses them as on a local disk, unless the caller is root. */
void fs_kill_priv(int fd);
/* 1 when a write by the FUSE caller would have to drop some (so it must come here). */
int fs_priv_to_kill(int fd);
/* Re-reads the file's size after a short write. */
void fs_handle_resync(struct fs *fs, struct fs_handle *h);

/* --- passthrough.c: the kernel writes and reads inputs itself (Linux 6.9+) --- */
struct fuse_session;
/* Takes the session's I/O (after the mount, before the loop) so replies can ask for
 * passthrough. 0; on failure passthrough is off. */
int fs_pt_install(struct fs *fs, struct fuse_session *se);
/* From the init operation: its reply asks the kernel for passthrough. */
void fs_pt_init_reply(struct fs *fs);
/* Decides whether h (just opened) goes passthrough; its backing id for the reply
 * (fs_pt_reply), or 0. alone: no other handle may hold the name's FUSE inode. */
int32_t fs_pt_open(struct fs *fs, struct fs_handle *h, int alone);
/* The next OPEN or CREATE reply this thread sends carries backing id id. */
void fs_pt_reply(int32_t id);
/* At a flush or release of a passthrough writer: counts what the kernel wrote into the
 * spool's budget and marks the file changed. 0, or -ENOSPC (the file is not whole or
 * the spool has no room: it will not stream). */
int fs_pt_settle(struct fs *fs, struct fs_handle *h);
/* Before h's release: drops its share of the backing id. */
void fs_pt_close(struct fs *fs, struct fs_handle *h);

/* --- ops.c --- */
extern const struct fuse_operations fs_ops;

/* --- results.c: the read-only results/ tree --- */
struct stat;
int fs_results_start(struct fs *fs);
void fs_results_stop(struct fs *fs);
/* path is relative to results/ ("" for results/ itself). */
int fs_results_getattr(struct fs *fs, const char *path, struct stat *st);
/* The st_ino of results/ path dir/name (name NULL: dir itself): a hash of the path,
 * with the top bit set so that it is not a backing inode's number, never 0. */
uint64_t fs_results_ino(const char *dir, const char *name);
/* One of this mount's inputs was processed: its result is in the master's index. */
void fs_results_acked(struct fs *fs);
/* Calls fill(buf, name) for each child of directory path; 0 or -errno. */
int fs_results_readdir(struct fs *fs, const char *path, void *buf,
		       int (*fill)(void *buf, const char *name, int dir));
/* The master's word on input name: 0 unknown, 1 done, 2 failed; *ts its version. */
int fs_results_entry_state(struct fs *fs, const char *name, uint64_t *ts);
/* Fetches a result file into an unlinked local file; returns its fd or -errno. */
int fs_results_open(struct fs *fs, const char *path);

#endif
