"""Where the master and token come from: the rules of lib/config.c."""

import os
import tempfile
import unittest
from unittest import mock

from hio import _config


class Config(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.st = self.dir.name
        with open(os.path.join(self.st, "master.url"), "w") as f:
            f.write("http://127.0.0.1:4242\n")
        with open(os.path.join(self.st, "token"), "w") as f:
            f.write("  s3cret \n")

    def test_state_dir(self):
        c = _config.load(state_dir=self.st)
        self.assertEqual((c.master, c.token), ("http://127.0.0.1:4242", "s3cret"))

    def test_env_then_default_state_dir(self):
        env = {"HIO_MASTER": "http://h:1", "HIO_TOKEN": "t"}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(_config.load()[:2], ("http://h:1", "t"))
        # A state dir given by the caller wins over the environment.
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(_config.load(state_dir=self.st).token, "s3cret")
        with mock.patch.dict(os.environ, {"HIO_MASTER": "http://h:1"}, clear=True):
            self.assertRaisesRegex(_config.ConfigError, "HIO_TOKEN is missing", _config.load)
        with mock.patch.dict(os.environ, {"HIO_STATE_DIR": self.st}, clear=True):
            self.assertEqual(_config.load().master, "http://127.0.0.1:4242")
        with mock.patch.dict(os.environ, {"HOME": "/nonexistent"}, clear=True):
            self.assertEqual(_config.default_state_dir(), "/nonexistent/.hio")
            self.assertRaisesRegex(_config.ConfigError, "run 'hio up' first", _config.load)

    def test_bad_token_files(self):
        tok = os.path.join(self.st, "token")
        for content in ("", " \n", "x" * 257):
            with open(tok, "w") as f:
                f.write(content)
            self.assertRaises(_config.ConfigError, _config.load, state_dir=self.st)
        with open(tok, "w") as f:
            f.write("x" * 5000)
        self.assertRaisesRegex(_config.ConfigError, "larger than 4096", _config.load,
                               state_dir=self.st)

    def test_explicit_needs_both(self):
        self.assertEqual(_config.load("http://a:1", "t")[:2], ("http://a:1", "t"))
        self.assertRaises(_config.ConfigError, _config.load, "http://a:1")


if __name__ == "__main__":
    unittest.main()
