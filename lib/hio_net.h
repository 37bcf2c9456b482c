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
/* Sends all n buffers of iov in order (sendmsg, no SIGPIPE); iov is consumed (its
 * entries change as they go out). 0 or -1/errno. */
struct iovec;
int hio_net_sendv(int fd, struct iovec *iov, int n);
/* Sends n bytes of file fd_in from offset off with sendfile(2). 0 or -1/errno. */
int hio_net_sendfile(int fd, int fd_in, off_t off, size_t n);
/* Sets SO_RCVTIMEO/SO_SNDTIMEO (0 = none). */
void hio_net_set_timeout(int fd, int ms);
/* "host:port" split; host written into host (size hostlen). 0 or -1. */
/* A peer that stops answering (cut off, powered off) ends the connection within about
 * 5 s, whether data is in flight (TCP_USER_TIMEOUT) or it sits idle waiting for an
 * answer (keepalive: 2 s idle, then 3 probes 1 s apart). hio_net_connect sets it;
 * a server sets it on what it accepts. A peer that is only slow is not affected: its
 * kernel still acknowledges and answers probes. */
#define HIO_NET_USER_TIMEOUT_MS 5000
#define HIO_NET_KEEPIDLE_S 2
#define HIO_NET_KEEPCNT 3
void hio_net_set_liveness(int fd);
/* 1 when host is a loopback address (127/8, ::1, localhost), which only works for
 * peers on the same machine. */
int hio_net_is_loopback(const char *host);
/* 1 for "", 0.0.0.0, :: and *: listen on every address. */
int hio_net_is_wildcard(const char *host);
/* The local address this host uses to reach host:port (the route's source), numeric,
 * into out. Nothing is sent. 0 or -1. */
int hio_net_route_addr(const char *host, int port, char *out, size_t n);
/* The first non-loopback address of an interface that is up (IPv4 first), numeric,
 * into out: what a wildcard listener tells other hosts. 0 or -1 (none). */
int hio_net_first_addr(char *out, size_t n);
int hio_net_split(const char *hostport, char *host, size_t hostlen, int *port);

/* Local handover (docs/protocol.md): a PE also listens on the abstract unix socket
 * "hio-pe/ID" of its network namespace; a sender that reaches it is on the same host
 * and passes files as descriptors. The name is bound before the PE registers, so no
 * one learns the id in time to take it first; senders check the peer's uid too. */
#define HIO_NET_LOCAL_PREFIX "hio-pe/"
/* Listens on the abstract name HIO_NET_LOCAL_PREFIX id. fd, or -1 with err. */
int hio_net_listen_local(const char *id, char *err, size_t errlen);
/* Connects to it when it exists in this network namespace and its listener runs as
 * uid. fd, or -1 (errno ECONNREFUSED/ENOENT: not here; EPERM: another uid). */
int hio_net_connect_local(const char *id, uid_t uid);
/* http://HOST:PORT[/...] into host and port. 0 or -1. */
int hio_net_url_split(const char *url, char *host, size_t hostlen, int *port);

#endif
