#!/usr/bin/env python3
"""Stores N result entries straight into a master (PUT /v1/results, RFILE and RDONE
frames, as PEs upload them), BATCH entries per request: a fast way to a large index.
Entry i is named PREFIX%07d; every FAIL_EVERY-th one failed (an "error" file), the
rest done (a "stdout" file holding "i\\n"). Provenance as a PE sends it.

usage: put_results.py MASTER_URL TOKEN_FILE N [PREFIX] [FAIL_EVERY]
(PUT_RESULTS_PE=ID: the entries name PE ID.)"""

import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
from hio import _frame  # noqa: E402

BATCH = 2000
# The PE the entries name; PUT_RESULTS_PE sets another (a PE credential uploads only
# entries naming its own PE).
PE_ID = os.environ.get("PUT_RESULTS_PE", "0123456789abcdef0123456789abcdef")


def entry(i: int, prefix: str, fail_every: int) -> bytes:
    mid = os.urandom(16).hex()
    failed = fail_every > 0 and i % fail_every == 0
    body = (b"exit status 3\n" if failed else b"%d\n" % i)
    meta = {"id": mid, "name": "%s%07d" % (prefix, i), "ts": int(time.time() * 1e6),
            "pipeline": "default", "status": "failed" if failed else "done",
            "pe": PE_ID, "host": "127.0.0.1", "start": int(time.time() * 1e6),
            "duration_ms": 7, "exit": 3 if failed else 0}
    if failed:
        meta["error"] = "exit status 3"
    return (_frame.encode_frame(_frame.RFILE, {"id": mid, "file": "error" if failed
                                               else "stdout"}, body)
            + _frame.encode_frame(_frame.RDONE, meta))


def main() -> int:
    url, token_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) > 4 else "r/"
    fail_every = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    with open(token_file) as f:
        token = f.read().strip()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    try:
        stored = put(conn, token, n, prefix, fail_every)
    finally:
        conn.close()
    if stored < 0:
        return 1
    print(stored)
    return 0 if stored == n else 1


def put(conn: http.client.HTTPConnection, token: str, n: int, prefix: str,
        fail_every: int) -> int:
    stored = 0
    for start in range(0, n, BATCH):
        body = b"".join(entry(i, prefix, fail_every) for i in range(start, min(n, start + BATCH)))
        conn.request("PUT", "/v1/results", body, {"Authorization": "Bearer " + token,
                                                 "Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            print("put_results: HTTP %d %s" % (resp.status, data[:300]), file=sys.stderr)
            return -1
        stored += len(json.loads(data).get("stored") or [])
    return stored


if __name__ == "__main__":
    sys.exit(main())
