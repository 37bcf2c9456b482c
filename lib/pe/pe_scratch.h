/* A pool of per-message scratch directories under a PE's workdir. A directory is
 * emptied and reused rather than removed, and the exec handler's fixed entries
 * (input/, output/, stdout, and the inode that held the last input) survive the
 * emptying, so a message costs no directory or file creation. Creating inodes is what
 * dominates a PE's cost per small message on a busy filesystem (ext4 without a
 * journal scans past every inode freed in the last minutes). */
#ifndef HIO_PE_SCRATCH_H
#define HIO_PE_SCRATCH_H

/* The name, inside a scratch directory, of the file kept for the next input's bytes. */
#define PE_SCRATCH_BODY ".hio-body"

struct pe_scratch;

/* A pool making directories under workdir (borrowed; must outlive the pool). NULL when
 * out of memory. */
struct pe_scratch *pe_scratch_new(const char *workdir);
/* An empty directory (but for the exec handler's entries, emptied), owned by the caller
 * until pe_scratch_put. *ready (may be NULL) is 1 when a message's preparation of it
 * (input/, output/ and their owners and modes) was done and both are still there, so
 * it need not be done again. NULL with errno when none can be made. Thread-safe. */
char *pe_scratch_take(struct pe_scratch *s, int *ready);
/* Gives dir back (takes ownership): emptied and kept for reuse, or removed when the pool
 * holds enough or emptying failed. prepared: the caller's message had it prepared.
 * keep_input 0: its input is the sender's inode (a linked input, pe_recv.c), which must
 * not become the next input's body. Thread-safe. */
void pe_scratch_put(struct pe_scratch *s, char *dir, int prepared, int keep_input);
/* Frees the pool; its directories stay for the workdir's own removal. */
void pe_scratch_free(struct pe_scratch *s);

#endif
