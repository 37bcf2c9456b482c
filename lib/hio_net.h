/* hio_net: TCP helpers (cf. redis anet.c). All sockets are CLOEXEC. No call raises
 * SIGPIPE: hio_net_send uses MSG_NOSIGNAL, hio_net_sendfile blocks it in the thread. */
#ifndef HIO_NET_H
#define HIO_NET_H
#include <stddef.h>
#include <sys/types.h>

/* Listens on host:port (port 0 picks one; the bound port goes to *bound).
 * Returns the fd or -1 with a message in err. */
int hio_net_listen(const char *host, int port, int *bound, char *err, size_t errlen);
/* Connects with a timeout; TCP_NODELAY set. Returns fd or -1 with err. */
int hio_net_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen);
/* Sends all of p, no SIGPIPE. 0 or -1/errno. */
int hio_net_send(int fd, const void *p, size_t n);
/* Sends n bytes of file fd_in from offset off with sendfile(2). 0 or -1/errno. */
int hio_net_sendfile(int fd, int fd_in, off_t off, size_t n);
/* Sets SO_RCVTIMEO/SO_SNDTIMEO (0 = none). */
void hio_net_set_timeout(int fd, int ms);
/* "host:port" split; host written into host (size hostlen). 0 or -1. */
int hio_net_split(const char *hostport, char *host, size_t hostlen, int *port);

#endif
