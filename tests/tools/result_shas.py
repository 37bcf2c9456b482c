#!/usr/bin/env python3
"""Counts the result files that are not the sha256 of their input, fetching each
through the master's API (GET /v1/results/file) in one process: a hio results get
per file costs a process start each. Prints the count; the first few to stderr.

usage: result_shas.py MASTER_URL TOKEN_FILE LIST [PIPELINE]
LIST has lines "PATH ...": PATH is the input (relative to the current directory) and
its name in the index; its result file stdout must hold PATH's sha256."""

import hashlib
import http.client
import sys
import urllib.parse


def main() -> int:
    url, token_file, listing = sys.argv[1], sys.argv[2], sys.argv[3]
    pipeline = sys.argv[4] if len(sys.argv) > 4 else "default"
    token = open(token_file).read().strip()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    bad = 0
    for line in open(listing):
        name = line.split()[0]
        with open(name, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        q = urllib.parse.urlencode({"pipeline": pipeline, "name": name, "file": "stdout"})
        try:
            conn.request("GET", "/v1/results/file?" + q,
                         headers={"Authorization": "Bearer " + token})
            r = conn.getresponse()
            got = r.read().decode(errors="replace").strip()
            if r.status != 200:
                got = "HTTP %d: %s" % (r.status, got)
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            got = str(e)
        if got != want:
            bad += 1
            if bad <= 5:
                print("  %s: expected %s, got %r" % (name, want, got[:80]), file=sys.stderr)
    print(bad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
