#!/usr/bin/env python3
"""Backlog pushes straight to a master (POST /v1/pipelines/P/backlog, one MSG frame).

  backlog_push.py URL TOKEN_FILE push N SIZE PREFIX
      N pushes of SIZE-byte messages named PREFIXi; prints one HTTP status a line.
  backlog_push.py URL TOKEN_FILE declare SIZE
      one push whose Content-Length says SIZE bytes, sending only the frame's head;
      prints the status the master answers with before the body.
  backlog_push.py URL TOKEN_FILE stall DECLARED SENT
      a chunked push whose frame declares a DECLARED-byte body, of which SENT bytes are
      sent; then it stalls (a 1-byte chunk every 5 s, so it is slow, not idle) until
      SIGTERM. Prints "stalled" once SENT bytes are out."""

import http.client
import os
import signal
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
from hio import _frame  # noqa: E402

PIPELINE = "default"


def frame_head(name: str, body_len: int) -> bytes:
    meta = {"id": os.urandom(16).hex(), "name": name, "ts": int(time.time() * 1e6)}
    return _frame.frame_head(3, meta, body_len)


def chunk(b: bytes) -> bytes:
    return b"%x\r\n" % len(b) + b + b"\r\n"


def main() -> int:
    url, token_file, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(token_file) as f:
        token = f.read().strip()
    u = urllib.parse.urlsplit(url)
    path = "/v1/pipelines/%s/backlog" % PIPELINE
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"}
    if mode == "push":
        n, size, prefix = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        for i in range(n):
            conn.request("POST", path, frame_head(prefix + str(i), size) + b"x" * size, auth)
            r = conn.getresponse()
            r.read()
            print(r.status, flush=True)
        return 0
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    if mode == "declare":
        size = int(sys.argv[4])
        head = frame_head("declared", size)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, token, len(head) + size)).encode()
                  + head)
        status = s.recv(4096).split(b" ", 2)[1].decode()
        print(status, flush=True)
        return 0
    declared, sent = int(sys.argv[4]), int(sys.argv[5])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Transfer-Encoding: chunked\r\n\r\n" % (path, token)).encode())
    s.sendall(chunk(frame_head("stalled", declared)))
    for off in range(0, sent, 1 << 16):
        s.sendall(chunk(b"s" * min(1 << 16, sent - off)))
    print("stalled", flush=True)
    next_byte = time.monotonic() + 5
    while not stop:
        time.sleep(0.2)  # the trickle's pace, not a wait for anything
        if time.monotonic() >= next_byte:
            s.sendall(chunk(b"s"))
            next_byte += 5
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
