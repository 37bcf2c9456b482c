/* hio_util: small shared helpers (time, ids, tokens, names, files). */
#ifndef HIO_UTIL_H
#define HIO_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define HIO_ID_LEN 32	    /* hex chars of a message id */
#define HIO_NAME_MAX 4096   /* bytes in an input name */
#define HIO_PATH_MAX 4096   /* bytes in a local path (PATH_MAX, which strict C17 lacks) */
#define HIO_TOKEN_MAX 256   /* bytes in a cluster token */
#define HIO_PIPELINE_MAX 64 /* bytes in a pipeline name: [A-Za-z0-9._-] */

uint64_t hio_now_us(void);  /* wall clock, microseconds since the epoch */
uint64_t hio_mono_ms(void); /* monotonic milliseconds */
uint64_t hio_mono_us(void); /* monotonic microseconds */
/* Sets ts to ms from now on clock, for pthread_cond_timedwait on a condvar of that clock. */
void hio_timespec_in(struct timespec *ts, clockid_t clock, long ms);

/* The one number parser: all of s (no sign for min >= 0, no white space, no trailing
 * characters) is a decimal integer in [min, max]. 0, or -1 with errno EINVAL (not a
 * number) or ERANGE (outside the range), *out untouched. */
int hio_parse_long(const char *s, long min, long max, long *out);
/* A byte count: hio_parse_long's digits, then at most one of K, M, G, T (powers of
 * 1024), in [min, max]. 0, or -1 with errno EINVAL or ERANGE, *out untouched. */
int hio_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* An age: hio_parse_long's digits, then at most one of s, m, h, d, w (seconds,
 * minutes, hours, days, weeks; none: seconds), at most max_s seconds. 0 with *out in
 * seconds, or -1 with errno EINVAL or ERANGE, *out untouched. */
int hio_parse_age(const char *s, long max_s, long *out);
/* The same for a command-line flag: on failure err says, e.g.,
 * "--pes: 'abc' is not a whole number from 1 to 64". */
int hio_parse_flag(const char *flag, const char *s, long min, long max, long *out, char *err,
		   size_t errlen);
/* A decimal number with an optional fraction and exponent (strtod), all of s, finite,
 * in [min, max]. 0, or -1 with errno EINVAL or ERANGE. */
int hio_parse_double(const char *s, double min, double max, double *out);
/* An int-sized flag (min and max within int). */
int hio_parse_flag_int(const char *flag, const char *s, int min, int max, int *out, char *err,
		       size_t errlen);

/* Writes HIO_ID_LEN hex chars of randomness and a NUL into out. */
void hio_id_new(char out[HIO_ID_LEN + 1]);
int hio_id_valid(const char *id);
/* Constant-time comparison of two NUL-terminated tokens; 1 when equal. */
int hio_token_eq(const char *a, const char *b);
/* A fresh random token (64 hex chars) into out. */
void hio_token_new(char out[65]);

/* 1 when name (len bytes, may hold NULs) is a valid relative input name (UTF-8,
 * relative, no . or .. component, bounded).
 * On 0, *why (static string) says what is wrong. */
int hio_name_valid(const char *name, size_t len, const char **why);
/* The length (1..4) of the UTF-8 sequence at p, which has left (>= 1) bytes, or 0 when
 * it is not one (overlong, surrogate, past U+10FFFF, cut short): jansson's rules, so
 * what passes here passes through JSON. */
size_t hio_utf8_seq(const char *p, size_t left);
int hio_utf8_valid(const char *s, size_t len);
/* Strips any leading "/", "./" and "../" (repeatedly). Returns a pointer into path. */
const char *hio_name_strip(const char *path);
int hio_pipeline_valid(const char *p);

/* Full write/read loops that retry on EINTR. read_full returns bytes read (< n at EOF) or -1. */
int hio_write_all(int fd, const void *p, size_t n);
ssize_t hio_read_full(int fd, void *p, size_t n);
/* The same at offset off with pread(2) (the file position is left alone). */
ssize_t hio_pread_full(int fd, void *p, size_t n, off_t off);

/* Reads a whole file of at most max bytes. Returns malloc'ed NUL-terminated data
 * (caller frees) with its length in *len, or NULL with errno set (EFBIG when too big). */
char *hio_file_read(const char *path, size_t max, size_t *len);
/* Writes data to path via a temporary file and rename(2); fsync when sync. 0 or -1/errno. */
int hio_file_write_atomic(const char *path, const void *data, size_t len, int sync);
/* mkdir -p with mode 0700 for created dirs. 0 or -1/errno. */
int hio_mkdir_p(const char *path);
/* 1 when path and every directory above it exist and others may search them (o+x):
 * a user of no group of ours can reach what is below. */
int hio_path_searchable(const char *path);
/* rm -rf, never following a symbolic link, for trees of any depth and path length.
 * 0 or -1. */
int hio_rm_rf(const char *path);
/* Removes everything inside the directory path, keeping path itself (an empty one
 * costs one getdents64). 0 or -1. */
int hio_empty_dir(const char *path);
/* 1 when the directory open at dfd holds nothing but "." and "..", 0 when it holds
 * more, -1 with errno. One getdents64, where opendir and readdir make five system
 * calls; dfd's offset moves (lseek it to 0 before reading it again). */
int hio_dir_fd_is_empty(int dfd);
/* The same for the directory at path (open, getdents64, close). */
int hio_dir_is_empty(const char *path);
/* Reads a token file and trims white space into out. 0 or -1. */
int hio_token_read(const char *path, char out[HIO_TOKEN_MAX + 1]);
/* Directory holding the running executable (for finding sibling programs). Caller frees. */
char *hio_self_dir(void);
/* Finds one of hio's programs (e.g. "hio-pe"): $HIO_BIN_DIR, next to this executable,
 * in a sibling build folder (../pe/hio-pe in a meson build tree), then $PATH.
 * Returns a malloc'ed path (caller frees) or NULL. */
char *hio_find_program(const char *name);

#endif
