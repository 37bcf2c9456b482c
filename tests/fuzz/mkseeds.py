#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/ (docs/fuzzing.md): real frames, names,
numbers and request sequences in each target's input format. Run it again after a
format change; inputs the fuzzer found (crash-*, regress-*) are kept by hand, not here."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ID1 = "0123456789abcdef0123456789abcdef"
ID2 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


def frame(ftype, meta, body=b"", flags=0, chunks=None):
    m = json.dumps(meta, separators=(",", ":")).encode() if meta is not None else b""
    hdr = b"HIO1" + struct.pack(">BBxxIQ", ftype, flags, len(m), len(body))
    if chunks is None:
        return hdr + m + body
    # LZ4 body: chunks of (raw_len, encoded bytes); equal lengths mean stored raw.
    out = b""
    for raw_len, enc in chunks:
        out += struct.pack(">II", raw_len, len(enc)) + enc
    return hdr + m + out


def lz4_run(c, n):
    """A valid LZ4 block for n (>= 18) copies of byte c: one literal, a match, 9 literals."""
    match = n - 10
    ml = match - 4
    tok = (1 << 4) | min(ml, 15)
    ext = b""
    if ml >= 15:
        rest = ml - 15
        while rest >= 255:
            ext += b"\xff"
            rest -= 255
        ext += bytes([rest])
    return bytes([tok]) + c + b"\x01\x00" + ext + bytes([9 << 4]) + c * 9


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def msg(i, name="a/b.txt", body=b"hello"):
    return frame(3, {"id": "%032x" % i, "name": name, "ts": 1700000000000 + i}, body)


def rfile(i, fname, body):
    return frame(6, {"id": "%032x" % i, "file": fname}, body)


def rdone(i, name, status="done", **kw):
    meta = {"id": "%032x" % i, "name": name, "pipeline": "pl1", "status": status, "ts": 5}
    meta.update(kw)
    return frame(7, meta)


def frames():
    run = b"z" * 40
    seeds = {
        "hello": frame(1, {"version": 1, "token": "t"}),
        "welcome": frame(2, {}),
        "msg": msg(1),
        "msg_empty_meta": frame(3, None, b"abc"),
        "ack": frame(4, {"id": ID1}),
        "error": frame(5, {"error": "nope"}),
        "rfile_rdone": rfile(1, "out.txt", b"result") + rdone(1, "a.txt"),
        "lz4_stored": frame(3, {"id": ID1}, run, 1, [(40, run)]),
        "lz4_packed": frame(3, {"id": ID1}, run, 1, [(40, lz4_run(b"z", 40))]),
        "lz4_two": frame(6, {}, b"q" * 60, 1, [(20, lz4_run(b"q", 20)), (40, lz4_run(b"q", 40))]),
        "lz4_bad_chunk": frame(3, {}, run, 1, [(40, b"\xff" * 12)]),
        "two_frames": msg(1) + msg(2, body=b""),
        "truncated": msg(1)[:-2],
        "bad_magic": b"HIO2" + msg(1)[4:],
        "bad_meta": frame(3, None)[:8] + struct.pack(">IQ", 3, 0) + b"[1]",
        "reserved": msg(1)[:6] + b"\x01" + msg(1)[7:],
        "meta_unicode": frame(3, {"n": "\u00e9\u2603", "x": [1, 2.5, None, True]}),
    }
    for k, v in seeds.items():
        # byte 0: the feeding pattern and the frame the receiver refuses (none here)
        write("fuzz_frame", k, bytes([len(k) & 0x0F]) + v)
    write("fuzz_frame", "refuse_second", bytes([0x21]) + msg(1) + msg(2))


def names():
    seeds = [
        b"a/b/c.txt", b"../etc/passwd", b"/abs", b"a//b", b"a/./b", b"a/..", b"a/../b",
        b"..a/b..", b"x" * 255 + b"/y", b"x" * 256, b"dir/", b".", b"a\x00b",
        ID1.encode(), ID1.upper().encode(), ID1.encode() + b"0", b"pl1", b".hidden",
        b"P" * 64, b"P" * 65, b"Pipe-line_1.0",
        b"tok\x00tok", b"tok\x00tom", b"t" * 256 + b"\x00" + b"t" * 256,
        b"t" * 257 + b"\x00" + b"t" * 257, b"t" * 300 + b"\x00" + b"t" * 299 + b"u",
        b"12345", b"-12", b"+5", b" 7", b"9223372036854775807", b"9223372036854775808",
        b"-9223372036854775808", b"0x10", b"10K", b"3G", b"17179869184T", b"5kb", b"30m", b"2w",
        b"100000000000000000000d", b"2.5", b"1e3", b"nan", b"inf", b"0x1p3", b"-1e300", b"",
        b"./a/../b", b"///a",
    ]
    for i, s in enumerate(seeds):
        write("fuzz_names", "seed%02d" % i, bytes([(i * 37) & 0xFF]) + s)


def rec(op, sel, body=b""):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    return bytes([op, sel]) + struct.pack(">H", len(body)) + body


def requests():
    worker = {"name": "w1", "host": "10.0.0.1", "runtime": "process", "max_pes": 4}
    pe = {"version": 1, "worker": ID1, "pipeline": "pl1", "host": "10.0.0.2", "port": 9000}
    pipeline = {"exec": "cat", "pes": 2, "timeout_ms": 1000}
    auto = {"exec": "wc", "autoscale": True, "min_pes": 0, "max_pes": 3, "serve": True}
    mount = {"host": "h", "mountpoint": "/mnt/x", "pipeline": "pl1", "spooled": 3,
             "spool_bytes": 10, "spool_max": 100, "failing": 0, "waiting": 1}
    hb = {"pes": [{"id": ID2, "pipeline": "pl1", "state": "idle", "pid": 12}]}
    upload = rfile(7, "out.txt", b"r1") + rdone(7, "a/b.txt", pe=ID2, host="h",
                                                     start=1, duration_ms=2, exit=0)
    failed = rdone(8, "c.txt", "failed", error="boom")
    seeds = {
        "worker_flow": rec(0, 0, worker) + rec(2, 0, hb) + rec(3, 0) + rec(1, 0),
        "pe_flow": rec(10, 0, pipeline) + rec(4, 1, pe) + rec(5, 1, {"state": "idle"})
        + rec(9, 0) + rec(7, 1, {}) + rec(8, 1) + rec(6, 1, {"reason": "bye"}),
        "pipeline_auto": rec(10, 4, auto) + rec(10, 4, {"pes": -5}) + rec(18, 0),
        "push_next": rec(13, 0, msg(1)) + rec(14, 0x30, msg(2)) + rec(13, 0, msg(1))
        + rec(4, 1, pe) + rec(17, 1) + rec(18, 0),
        "push_bad": rec(13, 0, msg(1)[:-1]) + rec(13, 0, msg(1) + b"x")
        + rec(13, 0, frame(4, {})),
        "upload": rec(15, 0, upload) + rec(16, 0x50, upload + failed) + rec(20, 0)
        + rec(20, 0x80, b"a") + rec(21, 0, b"a/b.txt|out.txt") + rec(19, 0, b"a/b.txt")
        + rec(19, 0x10),
        "upload_bad": rec(15, 0, rfile(7, "../x", b"") ) + rec(15, 0, rdone(9, "n")[:-3]),
        "mounts": rec(11, 0, mount) + rec(18, 0) + rec(12, 0) + rec(12, 1),
        "bad_json": rec(0, 0, b"{\"name\":") + rec(0, 0, b"[]") + rec(2, 0, b"")
        + rec(0, 0, b"{\"a\":1,\"a\":2}"),
        "lz4_push": rec(13, 0, frame(3, {"id": ID1, "name": "z", "ts": 1}, b"z" * 40, 1,
                                      [(40, lz4_run(b"z", 40))])),
    }
    for k, v in seeds.items():
        write("fuzz_master_req", k, v)


if __name__ == "__main__":
    frames()
    names()
    requests()
    sys.exit(0)
