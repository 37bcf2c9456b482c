"""hio.Stream: the stream connector, speaking libhio's wire protocol (lib/stream.c).

Messages wait in one queue. Each of up to max_pes lanes is a thread that asks the
master for a free PE (POST /v1/pipelines/P/allocate), opens a P2P session (HELLO with
the allocation's ticket to that PE, WELCOME), pipelines MSG frames to it and collects the PE's ACKs on a reader
thread. A message that has waited spill_ms while the master has no PE free goes to the
master's durable backlog instead (POST /v1/pipelines/P/backlog, the same MSG frame).
When a session breaks, its unacknowledged messages go back to the head of the queue
with the same id, so the PE side de-duplicates a message that was in fact processed.

Lock order: Stream._mu is the only lock; it is never held across network or disk I/O.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import secrets
import socket
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple, Union

from . import _config, _frame
from ._http import MasterError, Rest, error_text, q

__all__ = ["Stream", "Ack", "StreamClosed"]

log = logging.getLogger("hio")

LANES_MAX = 64
DEFAULT_LANES = 4
DEFAULT_QUEUE = 32
DEFAULT_SPILL_MS = 1000
IDLE_RELEASE_S = 0.2   # a PE held this long with nothing to send goes back
# In flight per PE: what its last ACKs say it finishes in WINDOW_WORK_S, between
# WINDOW_SLOW and WINDOW_FAST (as libhio: lib/stream_internal.h says why).
WINDOW_SLOW = 2
WINDOW_FAST = 64
WINDOW_WORK_S = 0.128
WINDOW_BYTES = 2 << 20  # ... and at least WINDOW_SLOW, as libhio
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 2.0
# After the master said no PE is free, no lane asks again for this long (doubling to
# the max while the answer stays no), as libhio does: asking at every ACK made 3
# allocate requests a message while every PE was busy with this very stream.
NO_PE_RETRY_MIN_S = 0.02
NO_PE_RETRY_MAX_S = 0.25
HELLO_TIMEOUT_S = 5.0
BACKLOG_TIMEOUT_S = 600.0
CONTROL_TIMEOUT_S = 30.0
FILE_IO_LEN = 256 * 1024
SMALL_BODY = 64 * 1024  # bodies sent in one sendall with their head
# A PE that stops answering ends the session within about 5 s (HIO_NET_USER_TIMEOUT_MS,
# keepalive after 2 s idle, 3 probes 1 s apart), as hio_net_connect sets it.
USER_TIMEOUT_MS = 5000
KEEPIDLE_S, KEEPINTVL_S, KEEPCNT = 2, 1, 3
# A PE that stops without closing (SIGSTOP, a hung host) keeps its socket open: once
# the oldest message in flight waited CHECK_AFTER_S for its ACK, the lane asks the
# master every CHECK_AFTER_S whether the PE is gone (with CHECK_TIMEOUT_S deadlines).
# With the pipeline's timeout known, an ACK later than it plus ACK_GRACE_S plus the
# transfer at ACK_MIN_BPS ends the session too. As lib/stream.c.
CHECK_AFTER_S = 2.0
CHECK_TIMEOUT_S = 2.0
ACK_GRACE_S = 10.0
ACK_MIN_BPS = 1 << 20


class StreamClosed(RuntimeError):
    """send on a stream that is closing or closed."""


@dataclass(frozen=True)
class Ack:
    """What became of one message."""

    id: str
    name: str
    #: True: acknowledged (result stored by a PE, or durable in the backlog).
    ok: bool
    #: "pe", "backlog", or None when given up.
    via: Optional[str]
    #: "done", "failed", "duplicate" (via a PE) or "queued" (backlog); None when given up.
    status: Optional[str]
    #: Why it was given up.
    error: Optional[str]
    #: What the sender passed as user.
    user: Any


class _Msg:
    __slots__ = ("id", "name", "ts", "file", "data", "length", "user", "future", "queued",
                 "first", "sent", "tries", "writing", "finished")

    def __init__(self, name: str, id_: str, ts: int, file: Any, data: Optional[bytes],
                 length: int, user: Any) -> None:
        self.id, self.name, self.ts = id_, name, ts
        self.file, self.data, self.length, self.user = file, data, length, user
        self.future: "concurrent.futures.Future[Ack]" = concurrent.futures.Future()
        self.queued = self.first = self.sent = time.monotonic()
        self.tries = 0
        self.writing = False   # a lane or a backlog push is using file
        self.finished = False

    def meta(self) -> dict:
        return {"id": self.id, "name": self.name, "ts": self.ts}

    def changed(self) -> Optional[str]:
        """Why the body can no longer be sent as queued, or None."""
        if self.file is None:
            return None
        try:
            size = os.fstat(self.file.fileno()).st_size
        except OSError as e:
            return "cannot read %s: %s" % (self.name, e.strerror)
        if size != self.length:
            return "%s changed size while queued (%d, now %d bytes)" % (
                self.name, self.length, size)
        return None

    def chunks(self) -> Iterator[bytes]:
        """The frame's bytes, head first, for an HTTP body."""
        yield _frame.frame_head(_frame.MSG, self.meta(), self.length)
        if self.data is not None:
            yield self.data
            return
        off = 0
        while off < self.length:
            b = os.pread(self.file.fileno(), min(FILE_IO_LEN, self.length - off), off)
            if not b:
                raise OSError("%s shrank while being sent" % self.name)
            off += len(b)
            yield b


class _Lane:
    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.thread: Optional[threading.Thread] = None
        # The session: sock and reader belong to the lane thread; the rest is under _mu.
        self.sock: Optional[socket.socket] = None
        self.reader: Optional[threading.Thread] = None
        self.pe_id = ""
        self.broken = False
        self.inflight: Dict[str, _Msg] = {}  # oldest first
        self.inflight_bytes = 0
        self.last_ack = 0.0
        self.ack_gap = 0.0
        self.last_work = 0.0
        self.checked = 0.0     # the last liveness question to the master
        self.pe_timeout = 0.0  # the session's pipeline timeout, s (0: none)


def _set_liveness(s: socket.socket) -> None:
    opts = [(socket.IPPROTO_TCP, "TCP_NODELAY", 1),
            (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
            (socket.SOL_SOCKET, "SO_KEEPALIVE", 1),
            (socket.IPPROTO_TCP, "TCP_KEEPIDLE", KEEPIDLE_S),
            (socket.IPPROTO_TCP, "TCP_KEEPINTVL", KEEPINTVL_S),
            (socket.IPPROTO_TCP, "TCP_KEEPCNT", KEEPCNT)]
    for level, name, val in opts:
        if hasattr(socket, name):
            s.setsockopt(level, getattr(socket, name), val)


class Stream:
    """Streams files and bytes to a pipeline's PEs, P2P, with the backlog fallback.

    Credentials: master and token, else state_dir (STATE/master.url, STATE/token), else
    HIO_MASTER and HIO_TOKEN, else the default state dir, as the hio command line.

    Each send returns a Future that resolves to an Ack once the message is acknowledged
    (its result stored by a PE, or durable in the master's backlog) or given up; on_ack,
    when given, is called with the same Ack on an internal thread: keep it short, since
    acks of that PE wait for it (a send from it blocks while the queue is full).
    Used as a context manager, leaving the block waits for every ack, then closes::

        with hio.Stream(state_dir="/tmp/st") as s:
            for p in paths:
                s.send_file(p)
    """

    def __init__(self, master: Optional[str] = None, token: Optional[str] = None, *,
                 state_dir: Optional[str] = None, pipeline: str = "default",
                 max_pes: int = DEFAULT_LANES, queue_max: int = DEFAULT_QUEUE,
                 spill_ms: int = DEFAULT_SPILL_MS, give_up_ms: int = 0,
                 on_ack: Optional[Callable[[Ack], Any]] = None) -> None:
        """max_pes: PEs held at once (1..64). queue_max: messages waiting to go; a send
        blocks past it. spill_ms: how long a message waits for a free PE before it goes
        to the backlog. give_up_ms: a message unacknowledged this long is given up
        (0: never)."""
        conf = _config.load(master, token, state_dir)
        if not _frame.pipeline_valid(pipeline):
            raise ValueError("bad pipeline name %r (letters, digits, . _ -)" % pipeline)
        if not 1 <= max_pes <= LANES_MAX or queue_max < 1 or spill_ms < 0 or give_up_ms < 0:
            raise ValueError("max_pes must be 1..%d, queue_max >= 1, spill_ms and "
                             "give_up_ms >= 0" % LANES_MAX)
        self.master, self.pipeline = conf.master, pipeline
        self._token = conf.token
        Rest(conf.master, conf.token)  # checks the URL now, not on a lane thread
        self._queue_max = queue_max
        self._spill_s = spill_ms / 1000.0
        self._give_up_s = give_up_ms / 1000.0
        self._on_ack = on_ack
        self._mu = threading.Lock()
        self._cv = threading.Condition(self._mu)        # held lanes: queue, ACKs, stop
        self._cv_free = threading.Condition(self._mu)   # lanes without a PE: queue, stop
        self._cv_space = threading.Condition(self._mu)  # room in the queue
        self._cv_done = threading.Condition(self._mu)   # pending reached 0
        self._q: Deque[_Msg] = deque()
        self._pending = 0      # queued + in flight
        self._allocating = 0   # lanes asking the master for a PE or opening a session
        self._no_pe_until = 0.0  # no lane asks for a PE before (the master had none)
        self._no_pe_retry = NO_PE_RETRY_MIN_S
        self._stopping = False
        self._closed = False
        self._stats = {"acked": 0, "given_up": 0, "via_pe": 0, "via_backlog": 0,
                       "resent": 0, "duplicates": 0, "bytes_p2p": 0, "bytes_backlog": 0}
        self._lanes = [_Lane(i) for i in range(max_pes)]
        for lane in self._lanes:
            lane.thread = threading.Thread(target=self._lane_main, args=(lane,),
                                           name="hio-lane-%d" % lane.idx, daemon=True)
            lane.thread.start()

    # ------------------------------------------------------------------ API

    def send_file(self, path: Union[str, "os.PathLike[str]"], name: Optional[str] = None, *,
                  id: Optional[str] = None, ts: Optional[int] = None,
                  user: Any = None) -> "concurrent.futures.Future[Ack]":
        """Queues a file, opened now (a later rename or unlink does not matter). name
        defaults to the path less any leading /, ./ or ../ (as hio send names it)."""
        path = os.fspath(path)
        nm = name if name is not None else _frame.name_strip(path)
        self._check(nm, id)
        f = open(path, "rb")
        try:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError("%s is not a regular file" % path)
            m = _Msg(nm, id or secrets.token_hex(16), ts or time.time_ns() // 1000, f, None,
                     st.st_size, user)
            return self._enqueue(m)
        except BaseException:
            f.close()
            raise

    def send_bytes(self, data: Union[bytes, bytearray, memoryview], name: str, *,
                   id: Optional[str] = None, ts: Optional[int] = None,
                   user: Any = None) -> "concurrent.futures.Future[Ack]":
        """Queues a copy of data as the input name."""
        self._check(name, id)
        b = bytes(data)
        m = _Msg(name, id or secrets.token_hex(16), ts or time.time_ns() // 1000, None, b,
                 len(b), user)
        return self._enqueue(m)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every message sent so far was acknowledged or given up.
        False when timeout (seconds) passed first."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._mu:
            while self._pending > 0:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv_done.wait(left)
        return True

    def close(self, flush: bool = True, timeout: Optional[float] = None) -> None:
        """Waits for the acks (when flush), then stops: messages still unacknowledged
        are reported given up. The PEs held go back to the master."""
        if self._closed:
            return
        if flush:
            self.flush(timeout)
        with self._mu:
            self._stopping = True
            self._cv.notify_all()
            self._cv_free.notify_all()
            self._cv_space.notify_all()
        for lane in self._lanes:
            if lane.thread:
                lane.thread.join()
        with self._mu:
            left = list(self._q)
            self._q.clear()
        for m in left:
            self._finish(m, False, None, None, "stream closed before acknowledgement")
        self._closed = True

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(flush=exc_type is None)

    @property
    def stats(self) -> Dict[str, int]:
        """Counts so far: acked, given_up, via_pe, via_backlog, resent, duplicates
        (acks saying the PE side had it already), bytes_p2p, bytes_backlog."""
        with self._mu:
            return dict(self._stats)

    # ------------------------------------------------------------------ queue

    @staticmethod
    def _check(name: str, id_: Optional[str]) -> None:
        why = _frame.name_error(name)
        if why:
            raise ValueError("cannot send %r: %s" % (name, why))
        if id_ is not None and not _frame.id_valid(id_):
            raise ValueError("message id must be 32 lowercase hex characters")

    def _enqueue(self, m: _Msg) -> "concurrent.futures.Future[Ack]":
        with self._mu:
            while len(self._q) >= self._queue_max and not self._stopping:
                self._cv_space.wait()
            if self._stopping:
                if m.file:
                    m.file.close()
                raise StreamClosed("the stream is closed")
            m.first = m.queued = time.monotonic()
            self._q.append(m)
            self._pending += 1
            self._cv.notify_all()
            if time.monotonic() >= self._no_pe_until:
                self._cv_free.notify()
        return m.future

    def _pop_locked(self) -> _Msg:
        m = self._q.popleft()
        self._cv_space.notify()
        return m

    def _requeue_locked(self, m: _Msg) -> Optional[_Msg]:
        """Puts m back at the head (ahead of newer ones), or returns it when it has been
        trying for longer than give_up_ms (the caller finishes it after unlocking)."""
        m.tries += 1
        self._stats["resent"] += 1
        if self._give_up_s and time.monotonic() - m.first > self._give_up_s:
            return m
        m.queued = time.monotonic()
        self._q.appendleft(m)
        self._cv.notify_all()
        self._cv_free.notify_all()
        return None

    def _finish(self, m: _Msg, ok: bool, via: Optional[str], status: Optional[str],
                error: Optional[str]) -> None:
        """Reports m. Called without _mu."""
        a = Ack(m.id, m.name, ok, via, status, error, m.user)
        if not ok:
            log.warning("giving up on %s (id %s): %s", m.name, m.id, error or "unknown")
        with self._mu:
            m.finished = True
            if not m.writing and m.file:
                m.file.close()
            st = self._stats
            if ok:
                st["acked"] += 1
                st["via_pe" if via == "pe" else "via_backlog"] += 1
                st["duplicates"] += status == "duplicate"
            else:
                st["given_up"] += 1
        if self._on_ack:
            try:
                self._on_ack(a)
            except Exception:
                log.exception("on_ack raised for %s; going on", m.name)
        if not m.future.done():
            m.future.set_result(a)
        with self._mu:
            self._pending -= 1
            if self._pending == 0:
                self._cv_done.notify_all()

    def _done_writing(self, m: _Msg) -> None:
        with self._mu:
            m.writing = False
            if m.finished and m.file:
                m.file.close()

    @contextlib.contextmanager
    def _unlocked(self) -> Iterator[None]:
        self._mu.release()
        try:
            yield
        finally:
            self._mu.acquire()

    # ------------------------------------------------------------------ sessions

    def _session_open(self, lane: _Lane, pe: dict) -> Tuple[bool, str, bool]:
        """Connects and says HELLO. (True, "", False) with lane.sock set, or (False,
        why, busy): busy when the PE refused (another sender won it), else it is
        unreachable from here."""
        host, port = pe["host"], pe["port"]
        try:
            sock = socket.create_connection((host, port), timeout=HELLO_TIMEOUT_S)
        except OSError as e:
            return (False, "cannot connect to PE %s at %s:%d: %s" % (pe["id"], host, port, e),
                    False)
        try:
            _set_liveness(sock)
            sock.sendall(_frame.encode_frame(
                _frame.HELLO, {"token": pe.get("ticket") or self._token,
                               "pipeline": self.pipeline}))
            dec = _frame.Decoder(body_max=_frame.META_MAX)
            pending: List[_frame.Frame] = []
            f = _frame.read_frame(sock, dec, pending)
            if f is None or f.type != _frame.WELCOME:
                busy = f is not None and f.type == _frame.ERROR
                if busy:
                    why = "PE %s refused the session: %s" % (pe["id"], f.meta.get("error"))
                else:
                    why = "PE %s at %s:%d gave no WELCOME" % (pe["id"], host, port)
                sock.close()
                return False, why, busy
            sock.settimeout(None)
        except (OSError, _frame.FrameError) as e:
            sock.close()
            return False, "PE %s at %s:%d gave no WELCOME: %s" % (pe["id"], host, port, e), False
        lane.sock, lane.pe_id = sock, pe["id"]
        lane.pe_timeout = pe.get("timeout_ms", 0) / 1000.0
        lane.broken = False
        lane.last_ack = lane.ack_gap = 0.0
        lane.last_work = time.monotonic()
        lane.reader = threading.Thread(target=self._reader_main, args=(lane, sock, dec,
                                                                        pending),
                                       name="hio-ack-%d" % lane.idx, daemon=True)
        lane.reader.start()
        return True, "", False

    def _reader_main(self, lane: _Lane, sock: socket.socket, dec: _frame.Decoder,
                     pending: List[_frame.Frame]) -> None:
        why = "PE closed the session"
        try:
            while True:
                f = _frame.read_frame(sock, dec, pending)
                if f is None:
                    break
                if f.type == _frame.ACK:
                    id_ = f.meta.get("id")
                    status = f.meta.get("status")
                    if _frame.id_valid(id_):
                        self._on_pe_ack(lane, id_, status if isinstance(status, str)
                                        else "done")
                elif f.type == _frame.ERROR:
                    why = "PE refused: %s" % f.meta.get("error")
                    log.warning("PE %s ended the session: %s", lane.pe_id,
                                f.meta.get("error"))
                    break
        except (OSError, _frame.FrameError) as e:
            why = str(e)
        log.debug("session with PE %s over: %s", lane.pe_id, why)
        with self._mu:
            lane.broken = True
            self._cv.notify_all()

    def _on_pe_ack(self, lane: _Lane, id_: str, status: str) -> None:
        now = time.monotonic()
        with self._mu:
            m = lane.inflight.pop(id_, None)
            if m:
                lane.inflight_bytes -= m.length
                if lane.last_ack:
                    gap = now - lane.last_ack
                    lane.ack_gap = (lane.ack_gap * 7 + gap) / 8 if lane.ack_gap else gap
                lane.last_ack = lane.last_work = now
                self._cv.notify_all()
        if m:
            self._finish(m, True, "pe", status, None)
        else:
            log.debug("ack for unknown message %s on PE %s", id_, lane.pe_id)

    def _session_close(self, lane: _Lane, rest: Rest, release: bool, why: str) -> None:
        """Ends the session; every message still in flight goes back to the queue.
        Called without _mu, by the lane thread."""
        if lane.sock is None:
            return
        with contextlib.suppress(OSError):
            lane.sock.shutdown(socket.SHUT_RDWR)
        if lane.reader:
            lane.reader.join()
        lane.reader = None
        lane.sock.close()
        dead = []
        with self._mu:
            lane.sock = None
            back = list(lane.inflight.values())
            if back:
                log.info("PE %s: %d message(s) unacknowledged (%s); sending them again",
                         lane.pe_id, len(back), why)
            for m in reversed(back):  # newest first, so the oldest ends at the head
                if self._requeue_locked(m):
                    dead.append(m)
            lane.inflight.clear()
            lane.inflight_bytes = 0
        for m in dead:
            self._finish(m, False, None, None, why)
        if release:
            self._release(rest, lane.pe_id)
        lane.pe_id = ""

    def _session_send(self, lane: _Lane, m: _Msg) -> Tuple[Optional[str], bool]:
        """Sends m on the lane's session, where it stays in flight until its ACK.
        (None, False), or why the session can no longer be used and whether m itself
        cannot be sent (its file shrank). Called without _mu."""
        sock = lane.sock
        assert sock is not None
        with self._mu:
            lane.inflight[m.id] = m
            lane.inflight_bytes += m.length
            m.writing = True
            m.sent = time.monotonic()
        try:
            head = _frame.frame_head(_frame.MSG, m.meta(), m.length)
            if m.data is not None:
                if m.length <= SMALL_BODY:
                    sock.sendall(head + m.data)
                else:
                    sock.sendall(head)
                    sock.sendall(m.data)
            else:
                sock.sendall(head)
                sent = sock.sendfile(m.file, 0, m.length) if m.length else 0
                if sent != m.length:
                    return "%s shrank while being sent" % m.name, True
        except OSError as e:
            return "send failed: %s" % e, False
        finally:
            self._done_writing(m)
        with self._mu:
            self._stats["bytes_p2p"] += m.length
        return None, False

    # ------------------------------------------------------------------ master

    def _allocate(self, rest: Rest) -> Tuple[int, Optional[dict], str]:
        """(1, pe): a PE was reserved for us; (0, None): none free (use the backlog);
        (-1, None, why): master unreachable."""
        try:
            ans = rest.json("POST", "/v1/pipelines/%s/allocate" % q(self.pipeline))
        except MasterError as e:
            return -1, None, str(e)
        pe = ans.get("pe") if isinstance(ans, dict) else None
        if not isinstance(pe, dict):
            return 0, None, ""
        id_, host, port = pe.get("id"), pe.get("host"), pe.get("port")
        tmo, ticket = pe.get("timeout_ms", 0), pe.get("ticket")
        if (isinstance(id_, str) and isinstance(host, str) and isinstance(port, int)
                and 0 < port < 65536 and len(id_) <= _frame.ID_LEN):
            # The master's ticket to this PE is what HELLO says (docs/security.md).
            ok = isinstance(ticket, str) and 0 < len(ticket) <= 256
            return 1, {"id": id_, "host": host, "port": port,
                       "ticket": ticket if ok else "",
                       "timeout_ms": tmo if isinstance(tmo, int) and tmo > 0 else 0}, ""
        return -1, None, "master gave a malformed PE address"

    def _release(self, rest: Rest, pe_id: str, unreachable: Optional[str] = None) -> None:
        """Gives a reserved PE back; a failure only costs the reservation's lease.
        unreachable: why no session could be opened, so the master does not hand that
        PE out again at once."""
        try:
            rest.json("POST", "/v1/pes/%s/release" % q(pe_id),
                      {"unreachable": unreachable} if unreachable else None)
        except MasterError as e:
            log.debug("release of PE %s failed: %s", pe_id, e)

    def _pe_alive(self, rest: Rest, pe_id: str) -> Optional[bool]:
        """True: the master lists the PE alive; False: gone or unknown; None: no answer."""
        try:
            ans = rest.json("GET", "/v1/pes/%s" % q(pe_id))
        except MasterError as e:
            return False if e.status == 404 else None
        return not (isinstance(ans, dict) and ans.get("state") == "gone")

    def _stuck_locked(self, lane: _Lane, check: Rest) -> Optional[str]:
        """Why the lane's session must end for its in-flight messages' sake, or None.
        Needs _mu; may release it to ask the master."""
        if not lane.inflight:
            return None
        o = next(iter(lane.inflight.values()))
        now = time.monotonic()
        # The PE works on one message at a time: the oldest waits from when it was sent
        # or from the previous ACK, whichever is later.
        since = max(o.sent, lane.last_work)
        if self._give_up_s and now - o.first > self._give_up_s:
            return "a message in flight reached its give-up"
        if lane.pe_timeout and now - since > ACK_GRACE_S + o.length / ACK_MIN_BPS + lane.pe_timeout:
            return "no ACK within the pipeline's timeout"
        if now - since < CHECK_AFTER_S or now - lane.checked < CHECK_AFTER_S:
            return None
        lane.checked = now
        with self._unlocked():
            alive = self._pe_alive(check, lane.pe_id)
        return "the master reports the PE gone" if alive is False else None

    def _backlog_push(self, rest: Rest, m: _Msg) -> Optional[str]:
        """None once the master holds m durably in its backlog, else why not."""
        head_len = len(_frame.frame_head(_frame.MSG, m.meta(), m.length))
        with self._mu:
            m.writing = True
        try:
            st, data = rest.call("POST", "/v1/pipelines/%s/backlog" % q(self.pipeline),
                                 body=m.chunks(), content_type="application/octet-stream",
                                 length=head_len + m.length, timeout=BACKLOG_TIMEOUT_S)
        except MasterError as e:
            return str(e)
        finally:
            self._done_writing(m)
        if st not in (200, 201):
            return "backlog refused %s: HTTP %d %s" % (m.name, st, error_text(data))
        return None

    # ------------------------------------------------------------------ lanes

    def _idle_held_locked(self) -> int:
        """Lanes holding a PE with nothing in flight: each takes the next message."""
        return sum(1 for ln in self._lanes
                   if ln.sock is not None and not ln.broken and not ln.inflight)

    def _window(self, lane: _Lane) -> int:
        if not lane.ack_gap:
            return WINDOW_SLOW
        return max(WINDOW_SLOW, min(WINDOW_FAST, int(WINDOW_WORK_S / lane.ack_gap)))

    def _lane_main(self, lane: _Lane) -> None:
        rest = Rest(self.master, self._token, timeout=CONTROL_TIMEOUT_S)
        # Liveness questions have their own connection and short deadlines, so with the
        # master away the lane goes on feeding its PE.
        check = Rest(self.master, self._token, timeout=CHECK_TIMEOUT_S)
        while True:
            try:
                self._lane_loop(lane, rest, check)
                break
            except Exception:  # a bug must not strand the queue: say so, go on
                log.exception("lane %d failed; it starts over in %.0f ms", lane.idx,
                              BACKOFF_MAX_S * 1000)
                time.sleep(BACKOFF_MAX_S)
        self._session_close(lane, rest, True, "stream closed")
        rest.close()
        check.close()

    def _lane_loop(self, lane: _Lane, rest: Rest, check: Rest) -> None:
        backoff = BACKOFF_MIN_S
        with self._mu:
            while not self._stopping:
                if lane.sock is not None:
                    backoff = self._feed_locked(lane, rest, check)
                    continue
                if not self._q:
                    self._cv_free.wait()
                    continue
                # PEs idle in hand or on their way cover what waits: reserving another
                # would spread the load so no PE idles long enough to be released.
                if len(self._q) <= self._allocating + self._idle_held_locked():
                    self._cv_free.wait(0.05)
                    continue
                now = time.monotonic()
                if now < self._no_pe_until:
                    # The master had no PE a moment ago: spill what waited long
                    # enough, otherwise ask again when the pause is over.
                    age = now - self._q[0].queued
                    if age < self._spill_s:
                        self._cv_free.wait(min(self._no_pe_until - now,
                                               self._spill_s - age))
                        continue
                    backoff = self._spill_locked(rest, backoff)
                    continue
                self._allocating += 1
                with self._unlocked():
                    a, pe, err = self._allocate(rest)
                    opened = False
                    if a == 1:
                        assert pe is not None
                        opened, err, busy = self._session_open(lane, pe)
                        if not opened:
                            log.info("%s; trying another PE or the backlog", err)
                            # Busy is a race with another sender; anything else means
                            # this host cannot reach that PE: the master should know.
                            self._release(rest, pe["id"], None if busy else err)
                self._allocating -= 1
                if a == 1:
                    self._no_pe_retry = NO_PE_RETRY_MIN_S
                elif a == 0:
                    self._no_pe_until = time.monotonic() + self._no_pe_retry
                    self._no_pe_retry = min(self._no_pe_retry * 2, NO_PE_RETRY_MAX_S)
                if a == 1:
                    backoff = BACKOFF_MIN_S
                    if not opened:
                        self._cv_free.wait(BACKOFF_MIN_S)
                    continue
                if a < 0:
                    log.warning("cannot reach the master (%s); retrying in %.2f s", err,
                                backoff)
                    self._cv_free.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                    if (self._give_up_s and self._q
                            and time.monotonic() - self._q[0].first > self._give_up_s):
                        m = self._pop_locked()
                        with self._unlocked():
                            self._finish(m, False, None, None, err)
                    continue
                # a == 0, no PE free: the pause above, then the backlog.

    def _feed_locked(self, lane: _Lane, rest: Rest, check: Rest) -> float:
        """One step of a lane that holds a PE: send, close a broken, stuck or idle
        session, or wait. Needs _mu."""
        if lane.broken:
            with self._unlocked():
                self._session_close(lane, rest, False, "session with the PE broke")
            return BACKOFF_MIN_S
        stuck = self._stuck_locked(lane, check)
        if stuck:
            with self._unlocked():
                self._session_close(lane, rest, False, stuck)
            return BACKOFF_MIN_S
        if (self._q and len(lane.inflight) < self._window(lane)
                and (len(lane.inflight) < WINDOW_SLOW
                     or lane.inflight_bytes < WINDOW_BYTES)):
            m = self._pop_locked()
            with self._unlocked():
                why = m.changed()
                if why:
                    self._finish(m, False, None, None, why)
                    return BACKOFF_MIN_S
                why, bad = self._session_send(lane, m)
                if why:
                    log.info("PE %s: %s; resending elsewhere", lane.pe_id, why)
                    if bad:
                        with self._mu:
                            lane.inflight.pop(m.id, None)
                            lane.inflight_bytes -= m.length
                        self._finish(m, False, None, None, why)
                    self._session_close(lane, rest, False, why)
            return BACKOFF_MIN_S
        if (not self._q and not lane.inflight
                and time.monotonic() - lane.last_work >= IDLE_RELEASE_S):
            with self._unlocked():
                self._session_close(lane, rest, True, "idle")
            return BACKOFF_MIN_S
        self._cv.wait(0.05 if self._q else IDLE_RELEASE_S)
        return BACKOFF_MIN_S

    def _spill_locked(self, rest: Rest, backoff: float) -> float:
        """No PE free: the oldest message goes to the backlog once it has waited
        spill_ms. Needs _mu; returns the next backoff."""
        if not self._q:
            return backoff
        age = time.monotonic() - self._q[0].queued
        if age < self._spill_s:
            self._cv_free.wait(self._spill_s - age)
            return backoff
        m = self._pop_locked()
        with self._unlocked():
            why = m.changed()
            if why:
                self._finish(m, False, None, None, why)
                return backoff
            err = self._backlog_push(rest, m)
            if err is None:
                with self._mu:
                    self._stats["bytes_backlog"] += m.length
                self._finish(m, True, "backlog", "queued", None)
                return BACKOFF_MIN_S
            log.warning("%s; retrying in %.2f s", err, backoff)
            with self._mu:
                dead = self._requeue_locked(m)
            if dead:
                self._finish(dead, False, None, None, err)
        self._cv_free.wait(backoff)
        return min(backoff * 2, BACKOFF_MAX_S)
