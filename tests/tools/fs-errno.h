/* fs-errno's pieces: the helpers that run one operation and print its line
 * (fs-errno-lib.c), and the sequences of operations (fs-errno-*.c). */
#ifndef FS_ERRNO_H
#define FS_ERRNO_H
#include <sys/types.h>

const char *errname(int e);
/* "<section>/<label>: " and printf of the rest. */
void say(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void print_label(const char *label);
void res(const char *label, long rc);
void put(const char *label, const char *path, const char *data);
void show_bytes(const char *label, const unsigned char *p, size_t n);
void show_fd(const char *label, int fd);
void show(const char *label, const char *path);
const char *type_name(mode_t m);
void show_mode(const char *label, const char *path, int nofollow);
void show_size(const char *label, const char *path);
void show_times(const char *label, const char *path, int nofollow);
void set_old_mtime(const char *label, const char *path);
void mtime_moved(const char *label, const char *path);
int dent_cmp(const void *a, const void *b);
char dtype_char(unsigned char t);
char mode_char(mode_t m);
void list_dir(const char *label, const char *path);
int enter(const char *name);
void leave(void);

void t_open(void);
void t_dirs(void);
void t_rename(void);
void t_truncate(void);
void t_sparse(void);
void t_append(void);
void t_times(void);
void t_chmod(void);
void t_readdir(void);
void t_unlink_open(void);
void t_xattr(void);
void t_symlink(void);
void t_extra(void);

#endif
