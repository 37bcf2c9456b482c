"""The hio frame codec (docs/protocol.md, "Frames"), the same bytes as lib/frame.c.

Python's standard library has no LZ4, so this side never compresses (flags 0), but
it decodes LZ4-chunked bodies from C peers with a small pure-Python block decoder.
Every length from a peer is checked against its limit before anything is allocated.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, List, NamedTuple, Optional

MAGIC = b"HIO1"
HDR_LEN = 20
#: JSON meta of one frame (HIO_FRAME_META_MAX).
META_MAX = 64 * 1024
#: Raw body of one frame (HIO_BODY_MAX).
BODY_MAX = 64 << 30
#: Raw bytes in one LZ4 chunk (HIO_CHUNK_MAX).
CHUNK_MAX = 1 << 20
F_LZ4 = 0x01
# The body came as a file descriptor: only on a PE's local unix socket, which this
# package does not speak, so a frame with it is refused (docs/protocol.md).
F_FD = 0x02

HELLO, WELCOME, MSG, ACK, ERROR, RFILE, RDONE = range(1, 8)
TYPE_NAMES = {1: "HELLO", 2: "WELCOME", 3: "MSG", 4: "ACK", 5: "ERROR", 6: "RFILE", 7: "RDONE"}

ID_LEN = 32
NAME_MAX = 4096
PIPELINE_MAX = 64
TOKEN_MAX = 256

_HDR = struct.Struct(">4sBBHIQ")
_CHUNK_HDR = struct.Struct(">II")


class FrameError(ValueError):
    """Bytes that break the frame format or one of its limits."""


class Header(NamedTuple):
    type: int
    flags: int
    meta_len: int
    body_len: int


class Frame(NamedTuple):
    type: int
    flags: int
    meta: dict
    body: bytes


def lz4_bound(n: int) -> int:
    """LZ4_compressBound: the largest encoding of n input bytes."""
    return n + n // 255 + 16


def encode_header(type_: int, flags: int, meta_len: int, body_len: int) -> bytes:
    return _HDR.pack(MAGIC, type_, flags, 0, meta_len, body_len)


def decode_header(b: bytes) -> Header:
    """Checks magic, type, flags, reserved bits and limits, like hio_frame_hdr_decode."""
    if len(b) != HDR_LEN:
        raise FrameError("short frame header")
    magic, type_, flags, reserved, meta_len, body_len = _HDR.unpack(b)
    if magic != MAGIC:
        raise FrameError("bad frame magic (not an hio peer?)")
    if type_ < HELLO or type_ > RDONE:
        raise FrameError("unknown frame type")
    if flags & ~(F_LZ4 | F_FD):
        raise FrameError("unknown frame flags")
    if flags & F_LZ4 and flags & F_FD:
        raise FrameError("a frame passed as a descriptor cannot be compressed")
    if reserved:
        raise FrameError("reserved frame bits set")
    if meta_len > META_MAX:
        raise FrameError("frame meta larger than 64 KiB")
    if body_len > BODY_MAX:
        raise FrameError("frame body larger than 64 GiB")
    if flags & F_FD:
        raise FrameError("a frame passed as a descriptor, where only bytes can come")
    return Header(type_, flags, meta_len, body_len)


def encode_meta(meta: Optional[dict]) -> bytes:
    if meta is None:
        return b""
    m = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()
    if len(m) > META_MAX:
        raise FrameError("frame meta larger than 64 KiB")
    return m


def frame_head(type_: int, meta: Optional[dict], body_len: int) -> bytes:
    """Header plus meta of an uncompressed frame whose body of body_len bytes follows."""
    if body_len < 0 or body_len > BODY_MAX:
        raise FrameError("frame body larger than 64 GiB")
    m = encode_meta(meta)
    return encode_header(type_, 0, len(m), body_len) + m


def encode_frame(type_: int, meta: Optional[dict], body: bytes = b"") -> bytes:
    """One whole uncompressed frame."""
    return frame_head(type_, meta, len(body)) + bytes(body)


def lz4_block_decompress(src: bytes, raw_len: int) -> bytes:
    """Decodes one LZ4 block (the format LZ4_compress_default writes) of raw_len bytes."""
    out = bytearray()
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                if i >= n:
                    raise FrameError("corrupt LZ4 chunk")
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        if i + lit > n or len(out) + lit > raw_len:
            raise FrameError("corrupt LZ4 chunk")
        out += src[i:i + lit]
        i += lit
        if i == n:
            break  # the last sequence has literals only
        if i + 2 > n:
            raise FrameError("corrupt LZ4 chunk")
        off = src[i] | src[i + 1] << 8
        i += 2
        mlen = (token & 15) + 4
        if token & 15 == 15:
            while True:
                if i >= n:
                    raise FrameError("corrupt LZ4 chunk")
                b = src[i]
                i += 1
                mlen += b
                if b != 255:
                    break
        if off == 0 or off > len(out) or len(out) + mlen > raw_len:
            raise FrameError("corrupt LZ4 chunk")
        start = len(out) - off
        if off >= mlen:
            out += out[start:start + mlen]
        else:  # overlapping copy: the last off bytes repeat
            pat = bytes(out[start:])
            reps, rest = divmod(mlen, off)
            out += pat * reps + pat[:rest]
    if len(out) != raw_len:
        raise FrameError("corrupt LZ4 chunk")
    return bytes(out)


class Decoder:
    """A push parser: feed() whatever bytes arrived, get the frames they complete.

    body_max bounds what this receiver accepts (bodies are gathered in memory); a frame
    announcing more is refused before any of it is read. After an error the decoder is
    dead and error says why.
    """

    def __init__(self, body_max: int = BODY_MAX) -> None:
        self.body_max = body_max
        self.error: Optional[str] = None
        self._buf = bytearray()
        self._hdr: Optional[Header] = None
        self._meta: Optional[dict] = None
        self._body = bytearray()
        self._left = 0

    @property
    def idle(self) -> bool:
        """True between frames, so an EOF here is clean (otherwise truncated)."""
        return self._hdr is None and not self._buf

    def _fail(self, why: str) -> FrameError:
        self.error = why
        return FrameError(why)

    def feed(self, data: bytes) -> List[Frame]:
        if self.error:
            raise FrameError(self.error)
        self._buf += data
        frames: List[Frame] = []
        try:
            while self._step(frames):
                pass
        except FrameError as e:
            self.error = str(e)
            raise
        return frames

    def _step(self, frames: List[Frame]) -> bool:
        """Consumes one piece (header, meta, body or chunk); False when more bytes are needed."""
        buf = self._buf
        if self._hdr is None:
            if len(buf) < HDR_LEN:
                return False
            h = decode_header(bytes(buf[:HDR_LEN]))
            if h.body_len > self.body_max:
                raise self._fail("frame body of %d bytes is over this receiver's %d"
                                 % (h.body_len, self.body_max))
            if len(buf) < HDR_LEN + h.meta_len:
                return False
            raw = bytes(buf[HDR_LEN:HDR_LEN + h.meta_len])
            del buf[:HDR_LEN + h.meta_len]
            try:
                meta = json.loads(raw) if raw else {}
            except ValueError as e:
                raise self._fail("frame meta is not a JSON object: %s" % e) from None
            if not isinstance(meta, dict):
                raise self._fail("frame meta is not a JSON object: wrong type")
            self._hdr, self._meta, self._left = h, meta, h.body_len
            self._body = bytearray()
        elif self._left and not self._hdr.flags & F_LZ4:
            if not buf:
                return False
            take = min(len(buf), self._left)
            self._body += buf[:take]
            del buf[:take]
            self._left -= take
        elif self._left:
            if len(buf) < 8:
                return False
            raw_len, enc_len = _CHUNK_HDR.unpack(bytes(buf[:8]))
            if raw_len == 0 or raw_len > CHUNK_MAX or raw_len > self._left:
                raise self._fail("bad LZ4 chunk length")
            if enc_len == 0 or (enc_len != raw_len and enc_len > lz4_bound(raw_len)):
                raise self._fail("bad LZ4 chunk encoded length")
            if len(buf) < 8 + enc_len:
                return False
            enc = bytes(buf[8:8 + enc_len])
            del buf[:8 + enc_len]
            self._body += enc if enc_len == raw_len else lz4_block_decompress(enc, raw_len)
            self._left -= raw_len
        if self._hdr is not None and self._left == 0:
            h, meta = self._hdr, self._meta
            frames.append(Frame(h.type, h.flags, meta if meta is not None else {},
                                bytes(self._body)))
            self._hdr, self._meta, self._body = None, None, bytearray()
        return True


def read_frame(sock: socket.socket, dec: Decoder, pending: List[Frame]) -> Optional[Frame]:
    """The next frame from sock (frames already decoded wait in pending); None on a
    clean EOF. Raises FrameError on malformed or truncated input, OSError on I/O."""
    while not pending:
        data = sock.recv(65536)
        if not data:
            if dec.idle:
                return None
            raise FrameError("connection closed in the middle of a frame (truncated)")
        pending.extend(dec.feed(data))
    return pending.pop(0)


def name_error(name: str) -> Optional[str]:
    """Why name is not a valid input name (hio_name_valid), or None when it is."""
    b = name.encode("utf-8", "surrogateescape")
    if not b:
        return "empty name"
    if len(b) > NAME_MAX:
        return "name longer than 4096 bytes"
    if b"\0" in b:
        return "name holds a NUL byte"
    if b.startswith(b"/"):
        return "absolute name"
    parts = b.split(b"/")
    for i, c in enumerate(parts):
        if not c:
            return "name ends with /" if i == len(parts) - 1 else "empty path component"
        if len(c) > 255:
            return "path component longer than 255 bytes"
        if c in (b".", b".."):
            return "name holds a . or .. component"
    return None


def name_strip(path: str) -> str:
    """Strips leading "/", "./" and "../" as hio send names a file (hio_name_strip)."""
    while True:
        if path.startswith("/"):
            path = path[1:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("../"):
            path = path[3:]
        else:
            return path


def id_valid(id_: Any) -> bool:
    """32 lowercase hex characters (hio_id_valid)."""
    return (isinstance(id_, str) and len(id_) == ID_LEN
            and all(c in "0123456789abcdef" for c in id_))


def pipeline_valid(p: Any) -> bool:
    """1..64 of [A-Za-z0-9._-], not starting with '.' (hio_pipeline_valid)."""
    if not isinstance(p, str) or not p or len(p) > PIPELINE_MAX or p[0] == ".":
        return False
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in p)
