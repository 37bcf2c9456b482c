"""Resident handlers: the Python side of hio's resident protocol (docs/protocol.md,
"Resident protocol", version 1).

``hio-pe --serve 'python3 handler.py'`` starts the script once per PE and hands it one
message after another over its stdin and stdout::

    import hio

    @hio.handler
    def process(msg):           # msg.name, msg.id, msg.path, msg.data, msg.output
        ...                     # write result files into msg.output
        return "printed"        # optional: becomes the result file stdout

An exception marks the message failed, with its traceback as the ``error`` result.

The PE writes up to ``max_inflight`` requests ahead; they are read as they come (read
ahead), so the PE's own work on the next message overlaps this one's, and handled one
after another in order.

hio/__init__.py must re-export ``handler``, ``serve`` and ``Message`` from here
(``from ._serve import Message, handler, serve``), so ``@hio.handler`` works.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import select
import sys
import traceback
import weakref
from typing import BinaryIO, Callable, Deque, Optional, Union

__all__ = ["Message", "handler", "serve", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
#: A header line, its newline included (the PE's SERVE_LINE_MAX).
LINE_MAX = 64 * 1024
#: Bytes of an inline message body (the PE inlines bodies it holds in memory, 1 MiB).
INLINE_MAX = 1 << 20
#: Bytes of a reply's stdout (the PE's SERVE_STDOUT_MAX).
STDOUT_MAX = 1 << 30
#: Bytes of a reply's error text (the PE's PE_ERROR_MAX); longer text keeps its end.
ERROR_MAX = 64 * 1024
#: Requests the PE may send before reading a reply (the hello's max_inflight): they
#: are read ahead and handled in order.
MAX_INFLIGHT = 16
#: The buffer stdin is read into: a few whole requests (header and inline body).
READ_BUFFER = 4 * (LINE_MAX + INLINE_MAX)

Result = Union[None, str, bytes, bytearray, memoryview]


class ProtocolError(Exception):
    """The PE sent something this version of the protocol does not allow."""


class Message:
    """One message: its name, id, input (``path`` and ``data``) and ``output`` dir."""

    __slots__ = ("id", "name", "pipeline", "ts", "output", "queued", "_path", "_data",
                 "_view", "_on_disk", "__weakref__")

    def __init__(self, header: dict, data: Optional[bytes],
                 view: Optional[memoryview] = None) -> None:
        self.id: str = header["id"]
        #: The input's relative name, e.g. ``plate1/A01/t003.tif``.
        self.name: str = header["name"]
        self.pipeline: str = header.get("pipeline", "default")
        self.ts: int = header.get("ts", 0)
        #: An empty directory; every regular file written under it is a result.
        self.output: str = header["output"]
        #: Requests read after this one and not answered yet when its handler was
        #: called (0 when the PE sends one at a time): how far the PE is ahead.
        self.queued: int = 0
        self._path: str = header["path"]
        self._data = data
        # An inline body still in the reader's buffer: copied into bytes only when
        # data is asked for, or before the buffer is reused (_detach), so a handler
        # that never reads it (or reads path) does not pay a copy of every body.
        self._view = view
        self._on_disk = data is None and view is None

    @property
    def path(self) -> str:
        """A file holding the input, named like the source's (its extension kept).
        An inline body is written there on first use."""
        if not self._on_disk:
            with open(self._path, "wb") as f:
                f.write(self._data if self._data is not None else self._view or b"")
            self._on_disk = True
        return self._path

    @property
    def data(self) -> bytes:
        """The input's bytes (read from ``path`` on first use when not inline)."""
        if self._data is None:
            if self._view is not None:
                self._detach()
            else:
                with open(self._path, "rb") as f:
                    self._data = f.read()
        return self._data

    def _detach(self) -> None:
        """Copies an inline body out of the reader's buffer, which is about to be
        reused."""
        if self._view is not None:
            if self._data is None:
                self._data = bytes(self._view)
            self._view.release()
            self._view = None

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, name={self.name!r})"


class _Requests:
    """The protocol's stdin: requests parsed from what has been read. ``take(False)``
    never blocks: it returns a request only when its bytes are already here.

    Reads land in one buffer allocated once (a read of a fresh 1 MiB bytes object per
    call cost more than the rest of a large message's handling), and a header is parsed
    once, however many reads its body takes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray(READ_BUFFER)
        self.mv = memoryview(self.buf)
        self.start = self.end = 0  # unparsed bytes: buf[start:end]
        # Messages whose body is a view of buf (weak: one handled and dropped needs
        # no copy); each is detached before buf is written over.
        self.lent: list = []
        self.head: Optional[dict] = None  # a header whose inline body is still coming
        self.eof = False
        # The descriptor stays blocking: a read that waits is one syscall, and a
        # look without waiting is one poll (no EAGAIN raised and caught per look).
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN)

    def _read(self, block: bool) -> bool:
        """Reads what the pipe holds (waiting for something when block). False: nothing
        came (or EOF)."""
        if self.eof or (not block and not self.poller.poll(0)):
            return False
        if self.start == self.end or self.end == len(self.buf):
            for ref in self.lent:
                m = ref()
                if m is not None:
                    m._detach()
            self.lent.clear()
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buf):
            # Full: what is not parsed yet (less than one request) moves to the front.
            n = self.end - self.start
            self.buf[:n] = bytes(self.mv[self.start:self.end])
            self.start, self.end = 0, n
        k = os.readv(self.fd, [self.mv[self.end:]])
        if not k:
            self.eof = True
            return False
        self.end += k
        return True

    def take(self, block: bool) -> Optional[Message]:
        """The next request, or None: EOF (the PE is stopping), or without block none
        whole yet."""
        while True:
            msg = self._parse()
            if msg is not None:
                return msg
            if not self._read(block):
                if self.eof and block and (self.head is not None or self.end > self.start):
                    raise ProtocolError("stdin ended inside a request")
                return None

    def _parse(self) -> Optional[Message]:
        if self.head is None:
            nl = self.buf.find(b"\n", self.start, min(self.end, self.start + LINE_MAX))
            if nl < 0:
                if self.end - self.start >= LINE_MAX:
                    raise ProtocolError(f"a request header over {LINE_MAX} bytes")
                return None
            h = json.loads(bytes(self.mv[self.start:nl]))
            if not isinstance(h, dict) or not all(
                isinstance(h.get(k), str) for k in ("id", "name", "path", "output")
            ):
                raise ProtocolError("a request without id, name, path and output")
            n = h.get("len", 0)
            if h.get("inline") and (not isinstance(n, int) or n < 0 or n > INLINE_MAX):
                raise ProtocolError(f"an inline length outside 0..{INLINE_MAX}")
            self.head = h
            self.start = nl + 1
        h = self.head
        if h.get("inline"):
            n = h.get("len", 0)
            if self.end - self.start < n:
                return None  # its body is still coming
            msg = Message(h, None, self.mv[self.start:self.start + n])
            self.lent.append(weakref.ref(msg))
            self.start += n
        else:
            msg = Message(h, None)
        self.head = None
        return msg


def _as_bytes(r: Result) -> bytes:
    if r is None:
        return b""
    if isinstance(r, str):
        return r.encode()
    if isinstance(r, (bytes, bytearray, memoryview)):
        return bytes(r)
    raise TypeError(f"a handler returns str, bytes or None, not {type(r).__name__}")


def _reply(f: BinaryIO, msg_id: str, ok: bool, out: bytes, err: bytes) -> None:
    if len(err) > ERROR_MAX:
        err = err[-ERROR_MAX:]
    head = {"id": msg_id, "status": "done" if ok else "failed", "stdout": len(out),
            "error": len(err)}
    f.write(json.dumps(head, separators=(",", ":")).encode() + b"\n")
    if out:
        f.write(out)
    if err:
        f.write(err)
    f.flush()


def _take_stdio() -> tuple[int, BinaryIO]:
    """The protocol's own copies of stdin (a descriptor, read by _Requests) and stdout;
    fds 0 and 1 become /dev/null and stderr, so a handler's print() lands in the PE's
    log, not in the protocol."""
    sys.stdout.flush()
    proto_in = os.dup(0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=LINE_MAX)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    # fd 1 was a pipe, so print() was block-buffered: a handler that then dies
    # (os._exit, a crash, the timeout's SIGKILL) would lose what it printed.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    return proto_in, proto_out


def serve(fn: Callable[[Message], Result], max_inflight: int = MAX_INFLIGHT) -> None:
    """Serves messages to fn until the PE closes stdin. fn's return value (str or
    bytes) becomes the result file ``stdout``; an exception fails the message with the
    traceback as its ``error``. max_inflight (1..1024): requests the PE may send ahead,
    read as they come and handled in order."""
    if not 1 <= max_inflight <= 1024:
        raise ValueError("max_inflight must be 1..1024")
    proto_in, proto_out = _take_stdio()
    hello = {"hio": "serve", "version": PROTOCOL_VERSION, "max_inflight": max_inflight}
    proto_out.write(json.dumps(hello, separators=(",", ":")).encode() + b"\n")
    proto_out.flush()
    requests = _Requests(proto_in)
    pending: Deque[Message] = collections.deque()
    while True:
        if not pending:
            msg = requests.take(True)
            if msg is None:
                return  # EOF: the PE is stopping
            pending.append(msg)
        # Read ahead what has come, so the PE can write more while this one runs.
        while len(pending) < max_inflight:
            more = requests.take(False)
            if more is None:
                break
            pending.append(more)
        if requests.eof:
            return  # the PE stopped; it reads no more replies
        msg = pending.popleft()
        msg.queued = len(pending)
        try:
            out = _as_bytes(fn(msg))
            if len(out) > STDOUT_MAX:
                raise ValueError(f"the returned stdout is over {STDOUT_MAX} bytes; "
                                 "write big results into msg.output")
        except Exception:
            _reply(proto_out, msg.id, False, b"", traceback.format_exc().encode())
        else:
            _reply(proto_out, msg.id, True, out, b"")
        # Dropped before the next read: a body no handler kept is never copied.
        msg = out = None


def handler(fn: Callable[[Message], Result]) -> Callable[[Message], Result]:
    """Decorator: fn is served once the script that defines it has run to its end
    (so code below the decorated function runs first). Only for a function defined
    in the main script; elsewhere it returns fn unchanged (call serve(fn))."""
    if getattr(fn, "__module__", None) == "__main__":
        atexit.register(_serve_at_exit, fn)
    return fn


def _serve_at_exit(fn: Callable[[Message], Result]) -> None:
    # A script that failed before its end has already printed its traceback; serving
    # then would hide that it is broken.
    if getattr(sys, "last_value", None) is not None:
        return
    try:
        serve(fn)
    except ProtocolError as e:
        print(f"hio: resident protocol error: {e}", file=sys.stderr)
        os._exit(3)
