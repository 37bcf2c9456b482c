"""A small REST client for the master (HTTP/1.1, JSON, bearer token), one per thread."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any, Callable, Iterable, Optional, Tuple, Union

#: Bytes of a JSON answer (the CLI's RESULTS_MAX: a large results listing).
JSON_ANSWER_MAX = 256 << 20
#: Bytes of an error answer kept for the message.
ERROR_BODY_MAX = 4096
COPY_LEN = 256 * 1024

Body = Union[None, bytes, Iterable[bytes]]


class MasterError(Exception):
    """The master answered with an error status, or could not be reached."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        #: The HTTP status, or 0 when the master was not reached.
        self.status = status


class Rest:
    """Keeps one keep-alive connection; not thread-safe (one per thread)."""

    def __init__(self, master: str, token: str, timeout: float = 30.0) -> None:
        u = urllib.parse.urlsplit(master)
        if u.scheme != "http" or not u.hostname:
            raise MasterError("master URL must be http://HOST:PORT, got %r" % master)
        self.master = master
        self._host, self._port = u.hostname, u.port or 80
        self._base = u.path.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._conn: Optional[http.client.HTTPConnection] = None

    def close(self) -> None:
        if self._conn:
            self._conn.close()
            self._conn = None

    def _request(self, method: str, path: str, body: Body, headers: dict,
                 timeout: Optional[float]) -> http.client.HTTPResponse:
        hdrs = {"Authorization": "Bearer " + self._token}
        hdrs.update(headers)
        # A kept-alive connection the master closed fails on first use: that one
        # attempt goes again on a fresh connection (an iterable body cannot be replayed).
        for attempt in (0, 1):
            fresh = self._conn is None
            if fresh:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=timeout or self.timeout,
                    blocksize=COPY_LEN)
            conn = self._conn
            assert conn is not None
            conn.timeout = timeout or self.timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, self._base + path, body=body, headers=hdrs)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                self.close()
                if fresh or attempt or not isinstance(body, (bytes, type(None))):
                    raise MasterError("cannot reach the master at %s: %s"
                                      % (self.master, e)) from None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise MasterError("cannot reach the master at %s: %s"
                                  % (self.master, e)) from None
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: Body = None,
             content_type: str = "application/json", length: Optional[int] = None,
             timeout: Optional[float] = None) -> Tuple[int, bytes]:
        """One request; returns (status, body) for any status. The body is bounded."""
        headers = {}
        if body is not None:
            headers["Content-Type"] = content_type
            if length is not None:
                headers["Content-Length"] = str(length)
        resp = self._request(method, path, body, headers, timeout)
        try:
            data = resp.read(JSON_ANSWER_MAX + 1)
            if len(data) > JSON_ANSWER_MAX:
                self.close()
                raise MasterError("answer to %s %s larger than %d bytes"
                                  % (method, path, JSON_ANSWER_MAX), resp.status)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise MasterError("cannot read the answer to %s %s: %s" % (method, path, e)) from None
        if resp.will_close:
            self.close()
        return resp.status, data

    def json(self, method: str, path: str, obj: Any = None,
             ok: Iterable[int] = (200, 201)) -> Any:
        """A JSON request and answer; raises MasterError on any status outside ok."""
        body = None if obj is None else json.dumps(obj).encode()
        status, data = self.call(method, path, body)
        if status not in ok:
            raise MasterError("%s %s: HTTP %d %s" % (method, path, status, error_text(data)),
                              status)
        try:
            return json.loads(data) if data else {}
        except ValueError as e:
            raise MasterError("%s %s: the answer is not JSON: %s" % (method, path, e),
                              status) from None

    def download(self, path: str, sink: Callable[[bytes], Any],
                 timeout: Optional[float] = None) -> None:
        """GET path, handing the body to sink piece by piece; MasterError unless 200."""
        resp = self._request("GET", path, None, {}, timeout)
        if resp.status != 200:
            data = self._read(resp, ERROR_BODY_MAX, path)
            self.close()
            raise MasterError("GET %s: HTTP %d %s" % (path, resp.status, error_text(data)),
                              resp.status)
        while True:
            b = self._read(resp, COPY_LEN, path)
            if not b:
                break
            try:
                sink(b)
            except BaseException:
                self.close()  # the rest of the body is unread
                raise
        if resp.will_close:
            self.close()

    def _read(self, resp: http.client.HTTPResponse, n: int, path: str) -> bytes:
        try:
            return resp.read(n)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise MasterError("cannot read the answer to GET %s: %s" % (path, e)) from None


def error_text(data: bytes) -> str:
    """The master's {"error": ...}, or the start of whatever it said."""
    try:
        e = json.loads(data)
        if isinstance(e, dict) and isinstance(e.get("error"), str):
            return e["error"]
    except ValueError:
        pass
    return data[:ERROR_BODY_MAX].decode("utf-8", "replace")


def q(s: str) -> str:
    """A query or path component, escaped."""
    return urllib.parse.quote(s, safe="")
