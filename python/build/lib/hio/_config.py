"""Where the master and the token are: the same rules as lib/config.c.

An explicit master and token win; else a state dir given by the caller (STATE/master.url
and STATE/token); else HIO_MASTER and HIO_TOKEN when HIO_MASTER is set; else the default
state dir ($HIO_STATE_DIR, $HOME/.hio, /tmp/hio-UID).
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional

from ._frame import TOKEN_MAX

#: Bytes read of a token file (hio_token_read).
TOKEN_FILE_MAX = 4096
#: Bytes of a master URL (struct hio_client_conf's master).
URL_MAX = 511


class ConfigError(Exception):
    """No usable master URL or token."""


class Conf(NamedTuple):
    master: str
    token: str
    state_dir: Optional[str]


def default_state_dir() -> str:
    env = os.environ.get("HIO_STATE_DIR")
    if env:
        return env
    home = os.environ.get("HOME")
    if home:
        return os.path.join(home, ".hio")
    return "/tmp/hio-%d" % os.getuid()


def _read_small(path: str, limit: int) -> str:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ConfigError("%s is larger than %d bytes" % (path, limit))
    return data.decode("utf-8", "replace")


def read_token(path: str) -> str:
    """A token file's contents, white space trimmed; 1..256 bytes."""
    t = _read_small(path, TOKEN_FILE_MAX).strip(" \t\r\n")
    if not t or len(t.encode()) > TOKEN_MAX:
        raise ConfigError("cannot read the cluster token %s: empty or longer than %d bytes"
                          % (path, TOKEN_MAX))
    return t


def _from_state(d: str) -> Conf:
    url_path = os.path.join(d, "master.url")
    try:
        url = _read_small(url_path, URL_MAX).rstrip(" \r\n")
    except OSError as e:
        raise ConfigError("no cluster in %s (cannot read %s: %s); run 'hio up' first"
                          % (d, url_path, e.strerror)) from None
    try:
        token = read_token(os.path.join(d, "token"))
    except OSError as e:
        raise ConfigError("cannot read the cluster token %s: %s"
                          % (os.path.join(d, "token"), e.strerror)) from None
    return Conf(url, token, d)


def load(master: Optional[str] = None, token: Optional[str] = None,
         state_dir: Optional[str] = None) -> Conf:
    """The master URL and token to use, by the rules above. Raises ConfigError."""
    if master or token:
        if not (master and token):
            raise ConfigError("give both master and token, or neither")
        return Conf(master, token, None)
    if state_dir:
        return _from_state(state_dir)
    m, t = os.environ.get("HIO_MASTER"), os.environ.get("HIO_TOKEN")
    if m:
        if not t or len(t.encode()) > TOKEN_MAX:
            raise ConfigError("HIO_MASTER is set but HIO_TOKEN is missing or too long")
        return Conf(m, t, None)
    return _from_state(default_state_dir())
