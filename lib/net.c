#include "hio_net.h"
#include "hio_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static struct addrinfo *net_resolve(const char *host, int port, int passive, char *err,
				    size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL;
	char portstr[16];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host ? host : "*", gai_strerror(rc));
		return NULL;
	}
	return res;
}

int hio_net_listen(const char *host, int port, int *bound, char *err, size_t errlen)
{
	struct addrinfo *res = net_resolve(host, port, 1, err, errlen), *ai;
	int fd = -1, one = 1;

	if (!res)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		snprintf(err, errlen, "cannot listen on %s:%d: %s", host ? host : "*", port,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	if (bound) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		if (ss.ss_family == AF_INET6)
			*bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			*bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

int hio_net_connect(const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo *res = net_resolve(host, port, 0, err, errlen), *ai;
	int fd = -1, one = 1;

	if (!res)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		int flags, soerr = 0;
		socklen_t sl = sizeof(soerr);
		struct pollfd pfd;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				soerr = errno;
				goto next;
			}
			pfd.fd = fd;
			pfd.events = POLLOUT;
			int pr = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
			if (pr <= 0) {
				soerr = pr == 0 ? ETIMEDOUT : errno;
				goto next;
			}
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			if (soerr)
				goto next;
		}
		fcntl(fd, F_SETFL, flags);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		hio_net_set_liveness(fd);
		break;
	next:
		snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(soerr));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int hio_net_sendv(int fd, struct iovec *iov, int n)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};

	while (mh.msg_iovlen > 0) {
		if (mh.msg_iov[0].iov_len == 0) {
			mh.msg_iov++;
			mh.msg_iovlen--;
			continue;
		}
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (w > 0 && mh.msg_iovlen > 0) {
			if ((size_t)w >= mh.msg_iov[0].iov_len) {
				w -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + w;
				mh.msg_iov[0].iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}

int hio_net_send(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* sendfile(2) has no MSG_NOSIGNAL: SIGPIPE is blocked in this thread around it, and one
 * it raised is taken before the mask is restored, so a library caller's process never
 * sees it (as curl does, lib/sigpipe.h). */
int hio_net_sendfile(int fd, int fd_in, off_t off, size_t n)
{
	sigset_t pipe_set, old;
	int rc = 0, err = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (n > 0) {
		ssize_t w = sendfile(fd, fd_in, &off, n > (1u << 30) ? (1u << 30) : n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			rc = -1;
			break;
		}
		if (w == 0) {
			err = EIO; /* the file shrank under us */
			rc = -1;
			break;
		}
		n -= (size_t)w;
	}
	if (err == EPIPE && !sigismember(&old, SIGPIPE)) {
		const struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return rc;
}

void hio_net_set_liveness(int fd)
{
	unsigned int ut = HIO_NET_USER_TIMEOUT_MS;
	int one = 1, idle = HIO_NET_KEEPIDLE_S, intvl = 1, cnt = HIO_NET_KEEPCNT;

	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void hio_net_set_timeout(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int hio_net_split(const char *hostport, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(hostport, ':');
	size_t hl;
	long p;

	if (!colon)
		return -1;
	hl = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
		hostport++;
		hl -= 2;
	}
	if (hl >= hostlen)
		return -1;
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (hio_parse_long(colon + 1, 0, 65535, &p) < 0)
		return -1;
	*port = (int)p;
	return 0;
}

int hio_net_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!strcmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

int hio_net_is_wildcard(const char *host)
{
	return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*");
}

int hio_net_route_addr(const char *host, int port, char *out, size_t n)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[16];
	int fd = -1, rc = -1;

	snprintf(portstr, sizeof(portstr), "%d", port > 0 ? port : 9);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
		goto out;
	/* A UDP connect only picks the route and the source address; nothing is sent. */
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto out;
	if (getnameinfo((struct sockaddr *)&ss, sl, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST))
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	return rc;
}

int hio_net_first_addr(char *out, size_t n)
{
	struct ifaddrs *ifs = NULL, *i;
	int rc = -1;

	if (getifaddrs(&ifs) < 0)
		return -1;
	for (int fam = AF_INET; rc < 0 && fam >= 0; fam = fam == AF_INET ? AF_INET6 : -1)
		for (i = ifs; i && rc < 0; i = i->ifa_next) {
			if (!i->ifa_addr || i->ifa_addr->sa_family != fam ||
			    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (fam == AF_INET6 &&
			    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
				continue;
			if (getnameinfo(i->ifa_addr,
					fam == AF_INET ? sizeof(struct sockaddr_in)
						       : sizeof(struct sockaddr_in6),
					out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) == 0)
				rc = 0;
		}
	freeifaddrs(ifs);
	return rc;
}

int hio_net_url_split(const char *url, char *host, size_t hostlen, int *port)
{
	char hp[300];
	const char *p = strstr(url, "://");
	size_t n;

	if (!p || strncmp(url, "http", 4) != 0)
		return -1;
	p += 3;
	n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(hp))
		return -1;
	memcpy(hp, p, n);
	hp[n] = '\0';
	return hio_net_split(hp, host, hostlen, port);
}

static socklen_t local_addr(const char *id, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays 0: the abstract namespace, gone with the socket. */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "%s%s", HIO_NET_LOCAL_PREFIX, id);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path) - 1)
		return 0;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int hio_net_listen_local(const char *id, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t sl = local_addr(id, &sa);
	int fd;

	if (!sl) {
		snprintf(err, errlen, "id %s too long for a local socket name", id);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sl) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on the local socket @%s%s: %s",
			 HIO_NET_LOCAL_PREFIX, id, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int hio_net_connect_local(const char *id, uid_t uid)
{
	struct sockaddr_un sa;
	socklen_t sl = local_addr(id, &sa), cl;
	struct ucred cr;
	int fd;

	if (!sl) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A unix connect does not wait on the network: it succeeds, or fails at once
	 * (a full backlog blocks; SO_SNDTIMEO bounds that). */
	hio_net_set_timeout(fd, 3000);
	if (connect(fd, (struct sockaddr *)&sa, sl) < 0)
		goto fail;
	cl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0)
		goto fail;
	if (cr.uid != uid) {
		errno = EPERM;
		goto fail;
	}
	hio_net_set_timeout(fd, 0);
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}
