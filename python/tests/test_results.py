"""hio.Client's result calls against a real hio-master (HIO_BUILD's): 2,500 entries
stored as PEs upload them, read back a page at a time, filtered, found and deleted."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import hio
from hio import client as hio_client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "tools"))
import put_results  # noqa: E402

N = 2500


@unittest.skipUnless(os.environ.get("HIO_BUILD"), "needs HIO_BUILD (a built hio-master)")
class Results(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hio-pyres.")
        state = os.path.join(cls.dir, "state")
        os.mkdir(state)
        tok = os.path.join(cls.dir, "token")
        with open(tok, "w") as f:
            f.write(os.urandom(16).hex())
        cls.log = open(os.path.join(cls.dir, "master.log"), "wb")
        cls.master = subprocess.Popen(
            [os.path.join(os.environ["HIO_BUILD"], "master", "hio-master"), "--state-dir",
             state, "--listen", "127.0.0.1:0", "--token-file", tok],
            stdout=cls.log, stderr=subprocess.STDOUT)
        url_file = os.path.join(state, "master.url")
        deadline = time.monotonic() + 30
        while not os.path.exists(url_file) or not os.path.getsize(url_file):
            if time.monotonic() > deadline or cls.master.poll() is not None:
                raise RuntimeError("hio-master did not start")
            time.sleep(0.05)
        with open(url_file) as f:
            cls.url = f.read().strip()
        sys.argv = ["put_results", cls.url, tok, str(N), "r/", "10"]
        if put_results.main() != 0:
            raise RuntimeError("could not store the entries")
        with open(tok) as f:
            cls.client = hio.Client(cls.url, f.read().strip(), pipeline="default")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.master.terminate()
        cls.master.wait(30)
        cls.log.close()
        with open(os.path.join(cls.dir, "master.log"), errors="replace") as f:
            log = f.read()
        shutil.rmtree(cls.dir)
        if "Sanitizer" in log:
            raise AssertionError("sanitizer report from hio-master:\n" + log[-4000:])

    def test_pages_list_every_entry_in_order(self):
        calls = []
        orig = self.client._rest.json

        def counting(method, path, *a, **kw):
            calls.append(path)
            return orig(method, path, *a, **kw)

        self.client._rest.json = counting
        try:
            names = [r.name for r in self.client.iter_results()]
        finally:
            self.client._rest.json = orig
        self.assertEqual(names, ["r/%07d" % i for i in range(N)])
        self.assertEqual(len(calls), (N + hio_client.RESULTS_PAGE - 1) // hio_client.RESULTS_PAGE)
        self.assertIn("&after=r%2F0000999", calls[1])

    def test_state_prefix_and_provenance(self):
        failed = self.client.results(state="failed")
        self.assertEqual([r.name for r in failed], ["r/%07d" % i for i in range(0, N, 10)])
        self.assertEqual({(r.exit, r.error) for r in failed}, {(3, "exit status 3")})
        self.assertEqual([r.name for r in self.client.results(prefix="r/000124")],
                         ["r/%07d" % i for i in range(1240, 1250)])
        r = self.client.result("r/0000042")
        self.assertEqual((r.name, r.state, r.pe, r.host, r.exit, r.duration_ms),
                         ("r/0000042", "done", put_results.PE_ID, "127.0.0.1", 0, 7))
        self.assertEqual(r.files, [hio.ResultFile("stdout", 3)])
        self.assertIsNotNone(r.stored)
        self.assertIsNone(self.client.result("r/000004"))
        self.assertRaises(ValueError, self.client.results, state="lost")

    def test_bad_cursor_is_a_400(self):
        with self.assertRaises(hio.MasterError) as cm:
            self.client._rest.json("GET", "/v1/results?pipeline=default&after=..%2Fx")
        self.assertEqual(cm.exception.status, 400)

    def test_zz_delete(self):
        self.assertRaises(ValueError, self.client.delete)
        self.assertRaises(ValueError, self.client.delete, "x", 1)
        self.assertRaises(ValueError, self.client.delete, older_than_s=-1)
        self.assertEqual(self.client.delete("r/0000007"), 1)
        self.assertIsNone(self.client.result("r/0000007"))
        with self.assertRaises(hio.MasterError) as cm:
            self.client.delete("r/0000007")
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(self.client.delete(older_than_s=3600), 0)
        self.assertEqual(self.client.delete(older_than_s=0), N - 1)
        self.assertEqual(self.client.results(), [])


if __name__ == "__main__":
    unittest.main()
