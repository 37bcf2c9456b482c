"""hio.Stream without a cluster: refusals, give-up when the master cannot be reached,
and a closed stream. Streaming itself is e2e_py_stream's, against real daemons."""

import socket
import unittest

import hio


def closed_port():
    """A loopback port nobody listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Offline(unittest.TestCase):
    def setUp(self):
        self.url = "http://127.0.0.1:%d" % closed_port()

    def test_refuses_bad_names_ids_options(self):
        with hio.Stream(self.url, "t", max_pes=1) as s:
            for bad in ("", "/abs", "a/../b", "a\0b"):
                self.assertRaises(ValueError, s.send_bytes, b"x", bad)
            self.assertRaises(ValueError, s.send_bytes, b"x", "n", id="XYZ")
            self.assertRaises(IsADirectoryError, s.send_file, "/", "n")
            self.assertRaises(FileNotFoundError, s.send_file, "/nonexistent/f")
        self.assertRaises(ValueError, hio.Stream, self.url, "t", pipeline="a/b")
        self.assertRaises(ValueError, hio.Stream, self.url, "t", max_pes=0)
        self.assertRaises(hio.MasterError, hio.Stream, "https://x", "t")

    def test_gives_up_when_the_master_is_away(self):
        acks = []
        s = hio.Stream(self.url, "t", max_pes=2, give_up_ms=300, on_ack=acks.append)
        fut = s.send_bytes(b"data", "a/b", id="ab" * 16, user=7)
        a = fut.result(timeout=30)
        self.assertFalse(a.ok)
        self.assertEqual((a.id, a.name, a.user, a.via), ("ab" * 16, "a/b", 7, None))
        self.assertIn("cannot reach the master", a.error)
        self.assertTrue(s.flush(timeout=5))
        s.close()
        self.assertEqual(acks, [a])
        self.assertEqual(s.stats["given_up"], 1)
        self.assertRaises(hio.StreamClosed, s.send_bytes, b"x", "late")

    def test_close_without_flush_reports_the_rest(self):
        s = hio.Stream(self.url, "t", max_pes=1)
        futs = [s.send_bytes(b"x", "f%d" % i) for i in range(3)]
        self.assertFalse(s.flush(timeout=0.2))
        s.close(flush=False)
        for f in futs:
            a = f.result(timeout=5)
            self.assertFalse(a.ok)
            self.assertEqual(a.error, "stream closed before acknowledgement")


class Client(unittest.TestCase):
    def test_unreachable_master(self):
        c = hio.Client("http://127.0.0.1:%d" % closed_port(), "t")
        with self.assertRaises(hio.MasterError) as cm:
            c.status()
        self.assertEqual(cm.exception.status, 0)
        self.assertRaises(ValueError, c.read, "../x")


if __name__ == "__main__":
    unittest.main()
