#include "hio_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
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
		break;
	next:
		snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(soerr));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
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
	char *end;
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
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}
