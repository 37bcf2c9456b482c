"""hio._serve against the resident protocol, spoken by the test in place of a PE:
a real child process running a handler script, real pipes."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HANDLER = r'''
import hashlib, os, sys
from hio._serve import handler

kept = []

@handler
def process(msg):
    print("noise on stdout")  # must not reach the protocol
    if msg.name == "raise":
        raise RuntimeError("asked to raise")
    if msg.name == "path":
        with open(msg.path, "rb") as f:
            return b"from path: " + f.read()
    if msg.name == "bytes":
        return bytes(range(256))
    if msg.name.startswith("keep"):
        kept.append(msg)  # its body is read only after the reader's buffer moved on
        return None
    if msg.name == "kept":
        return " ".join(hashlib.sha256(m.data).hexdigest() for m in kept)
    if msg.name == "none":
        with open(os.path.join(msg.output, "r.txt"), "w") as f:
            f.write(msg.id)
        return None
    return "%s %s %d" % (msg.id, msg.name, len(msg.data))

print("module body runs before serving", file=sys.stderr)
'''


class Resident:
    """A handler script started the way hio-pe starts it, spoken to like hio-pe."""

    def __init__(self, script: str) -> None:
        self.dir = tempfile.TemporaryDirectory()
        path = os.path.join(self.dir.name, "h.py")
        with open(path, "w") as f:
            f.write(script)
        env = dict(os.environ, PYTHONPATH=PYDIR, HIO_SERVE="1")
        self.p = subprocess.Popen([sys.executable, path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def hello(self) -> dict:
        return json.loads(self.p.stdout.readline())

    def request(self, name: str, data: bytes, inline: bool = True, msg_id: str = "a" * 32):
        out = os.path.join(self.dir.name, "out-" + name)
        os.makedirs(out, exist_ok=True)
        os.makedirs(os.path.join(self.dir.name, "input"), exist_ok=True)
        path = os.path.join(self.dir.name, "input", name + ".bin")
        if not inline:
            with open(path, "wb") as f:
                f.write(data)
        h = {"id": msg_id, "name": name, "pipeline": "default", "ts": 1, "path": path,
             "output": out, "inline": inline, "len": len(data)}
        self.p.stdin.write(json.dumps(h).encode() + b"\n" + (data if inline else b""))
        self.p.stdin.flush()

    def reply(self):
        h = json.loads(self.p.stdout.readline())
        out = self.p.stdout.read(h.get("stdout", 0))
        err = self.p.stdout.read(h.get("error", 0))
        return h, out, err

    def close(self) -> int:
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass  # unflushed bytes for a handler that already exited
        rc = self.p.wait(timeout=10)
        self.p.stdout.close()
        self.p.stderr.close()
        self.dir.cleanup()
        return rc


class TestServe(unittest.TestCase):
    def setUp(self) -> None:
        self.r = Resident(HANDLER)
        self.addCleanup(self._close)

    def _close(self) -> None:
        if not self.r.p.stdout.closed:
            self.r.close()

    def test_hello(self) -> None:
        h = self.r.hello()
        self.assertEqual(h["hio"], "serve")
        self.assertEqual(h["version"], 1)
        self.assertGreaterEqual(h["max_inflight"], 1)

    def test_messages_in_order_and_eof_ends_it(self) -> None:
        self.r.hello()
        self.r.request("m1", b"x" * 1000, msg_id="1" * 32)
        self.r.request("m2", b"", msg_id="2" * 32)  # pipelined: sent before reply 1
        h, out, err = self.r.reply()
        self.assertEqual((h["id"], h["status"], out, err),
                         ("1" * 32, "done", ("1" * 32 + " m1 1000").encode(), b""))
        h, out, _ = self.r.reply()
        self.assertEqual((h["id"], out), ("2" * 32, ("2" * 32 + " m2 0").encode()))
        self.assertEqual(self.r.close(), 0)

    def test_data_read_lazily_from_path(self) -> None:
        self.r.hello()
        self.r.request("m", b"on disk" * 1000, inline=False)
        _, out, _ = self.r.reply()
        self.assertEqual(out, ("a" * 32 + " m 7000").encode())

    def test_inline_body_written_to_path_on_use(self) -> None:
        self.r.hello()
        self.r.request("path", b"inline bytes")
        h, out, _ = self.r.reply()
        self.assertEqual((h["status"], out), ("done", b"from path: inline bytes"))

    def test_kept_messages_keep_their_bodies(self) -> None:
        # Bodies are views of the reader's buffer until read; one a handler kept must
        # survive that buffer being reused (reset when drained, compacted when full:
        # 12 x 1 MiB goes around its 4.25 MiB more than twice).
        self.r.hello()
        bodies = [bytes([i]) * (1 << 20) for i in range(12)]
        for i, b in enumerate(bodies):
            self.r.request("keep%d" % i, b, msg_id="%032d" % i)
            if i % 3 == 2:  # some drained between requests, some pipelined
                for _ in range(3):
                    self.assertEqual(self.r.reply()[0]["status"], "done")
        self.r.request("kept", b"")
        h, out, _ = self.r.reply()
        want = " ".join(hashlib.sha256(b).hexdigest() for b in bodies)
        self.assertEqual((h["status"], out.decode()), ("done", want))

    def test_bytes_and_none_results(self) -> None:
        self.r.hello()
        self.r.request("bytes", b"")
        self.assertEqual(self.r.reply()[1], bytes(range(256)))
        self.r.request("none", b"", msg_id="b" * 32)
        h, out, _ = self.r.reply()
        self.assertEqual((h["status"], h["stdout"], out), ("done", 0, b""))
        with open(os.path.join(self.r.dir.name, "out-none", "r.txt")) as f:
            self.assertEqual(f.read(), "b" * 32)

    def test_exception_fails_only_that_message(self) -> None:
        self.r.hello()
        self.r.request("raise", b"")
        h, out, err = self.r.reply()
        self.assertEqual((h["status"], out), ("failed", b""))
        self.assertIn(b"Traceback", err)
        self.assertIn(b"RuntimeError: asked to raise", err)
        self.r.request("after", b"abc")
        h, out, _ = self.r.reply()
        self.assertEqual((h["status"], out), ("done", ("a" * 32 + " after 3").encode()))

    def test_print_goes_to_stderr(self) -> None:
        self.r.hello()
        self.r.request("m", b"")
        self.r.reply()
        self.r.p.stdin.close()
        self.r.p.wait(timeout=10)
        err = self.r.p.stderr.read()
        self.assertIn(b"noise on stdout", err)
        self.assertIn(b"module body runs before serving", err)

    def test_oversized_header_is_refused(self) -> None:
        self.r.hello()
        try:
            self.r.p.stdin.write(b"x" * (70 * 1024) + b"\n")
            self.r.p.stdin.flush()
        except BrokenPipeError:
            pass  # it may refuse and exit before the rest of the line is written
        self.assertEqual(self.r.p.wait(timeout=10), 3)
        self.assertIn(b"resident protocol error", self.r.p.stderr.read())


class TestBrokenScript(unittest.TestCase):
    def test_a_script_that_fails_does_not_serve(self) -> None:
        r = Resident("from hio._serve import handler\n@handler\ndef f(m):\n    pass\n"
                     "raise SystemError('broken at import')\n")
        self.assertEqual(r.p.stdout.read(), b"")  # no hello
        self.assertNotEqual(r.p.wait(timeout=10), 0)
        r.close()


if __name__ == "__main__":
    unittest.main()
