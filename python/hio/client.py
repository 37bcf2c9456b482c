"""hio.Client: status, results and wait against a running cluster (the REST API of
docs/protocol.md; the same calls as hio status, results, results get and wait)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

from . import _config, _frame
from ._http import MasterError, Rest, error_text, q

__all__ = ["Client", "Result", "ResultFile", "MasterError"]

WAIT_POLL_S = 0.05
DEFAULT_WAIT_S = 600.0
# A mount that has not reported for this long is gone (killed, or cut off): hio wait
# says so rather than trusting its last report (hio-fs reports every half second).
WAIT_MOUNT_STALE_MS = 5000
# A mount's report counts only when it reached the master this long after the wait
# began: one already under way when a file closed may still say "nothing pending".
WAIT_MOUNT_SLACK_MS = 250
FETCH_TIMEOUT_S = 3600.0
# Entries asked for per page of GET /v1/results (the master's default; its answer ends
# near 256 KiB whatever the limit, so a page stays well inside JSON_ANSWER_MAX).
RESULTS_PAGE = 1000


@dataclass(frozen=True)
class ResultFile:
    name: str
    size: int


@dataclass(frozen=True)
class Result:
    """One result entry: an input's outcome and its files."""

    name: str
    id: str
    ts: int
    #: "done" or "failed".
    state: str
    files: List[ResultFile] = field(default_factory=list)
    error: Optional[str] = None
    #: Provenance (docs/protocol.md); None when the master does not know it.
    version: Optional[int] = None
    command: Optional[str] = None
    image: Optional[str] = None
    pe: Optional[str] = None
    host: Optional[str] = None
    #: Microseconds since the epoch: when the analysis started, when the master stored it.
    start: Optional[int] = None
    duration_ms: Optional[int] = None
    exit: Optional[int] = None
    stored: Optional[int] = None

    @classmethod
    def from_json(cls, e: Dict[str, Any]) -> "Result":
        files = [ResultFile(str(f.get("name", "")), int(f.get("size", 0)))
                 for f in e.get("files") or [] if isinstance(f, dict)]

        def text(k: str) -> Optional[str]:
            v = e.get(k)
            return v if isinstance(v, str) else None

        def num(k: str) -> Optional[int]:
            v = e.get(k)
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        return cls(str(e.get("name", "")), str(e.get("id", "")), int(e.get("ts", 0)),
                   str(e.get("state", "")), files, text("error"), num("version"),
                   text("command"), text("image"), text("pe"), text("host"), num("start"),
                   num("duration_ms"), num("exit"), num("stored"))


class Client:
    """Status, results and wait for one pipeline of a running cluster.

    Credentials as the command line finds them: master and token, else state_dir
    (STATE/master.url, STATE/token), else HIO_MASTER and HIO_TOKEN, else the default
    state dir ($HIO_STATE_DIR, ~/.hio). Not thread-safe: one Client per thread.
    """

    def __init__(self, master: Optional[str] = None, token: Optional[str] = None, *,
                 state_dir: Optional[str] = None, pipeline: str = "default",
                 timeout: float = 30.0) -> None:
        conf = _config.load(master, token, state_dir)
        if not _frame.pipeline_valid(pipeline):
            raise ValueError("bad pipeline name %r (letters, digits, . _ -)" % pipeline)
        self.master, self.pipeline = conf.master, pipeline
        self._rest = Rest(conf.master, conf.token, timeout)

    def close(self) -> None:
        self._rest.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def status(self) -> Dict[str, Any]:
        """GET /v1/status: {"workers", "pes", "pipelines", "mounts", "counters"}."""
        return self._rest.json("GET", "/v1/status", ok=(200,))

    def pipeline_status(self, st: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
        """This pipeline's entry of status() (queue_length, leased, in, done, failed...),
        or None when the master does not know it."""
        st = st if st is not None else self.status()
        for p in st.get("pipelines") or []:
            if isinstance(p, dict) and p.get("name") == self.pipeline:
                return p
        return None

    def results(self, prefix: str = "", state: Optional[str] = None) -> List[Result]:
        """The pipeline's result entries sorted by name, those whose name starts with
        prefix, and of one state ("done" or "failed") when given (both filtered by the
        master). Read a page at a time; iter_results() does not keep them all."""
        return list(self.iter_results(prefix, state))

    def iter_results(self, prefix: str = "", state: Optional[str] = None) -> Iterator[Result]:
        """results(), one page (GET /v1/results?limit=&after=) in memory at a time."""
        if state not in (None, "done", "failed"):
            raise ValueError("state must be None, \"done\" or \"failed\"")
        base = "/v1/results?pipeline=%s&limit=%d" % (q(self.pipeline), RESULTS_PAGE)
        if prefix:
            base += "&prefix=%s" % q(prefix)
        if state:
            base += "&state=%s" % state
        after: Optional[str] = None
        while True:
            path = base + ("&after=%s" % q(after) if after is not None else "")
            ans = self._rest.json("GET", path, ok=(200,))
            for e in ans.get("results") or []:
                if isinstance(e, dict):
                    yield Result.from_json(e)
            nxt = ans.get("next")
            if not isinstance(nxt, str):
                return
            after = nxt

    def delete(self, name: Optional[str] = None, older_than_s: Optional[int] = None) -> int:
        """Deletes one input's entry, or those stored more than older_than_s seconds ago
        (DELETE /v1/results, as hio results rm); returns how many."""
        if (name is None) == (older_than_s is None):
            raise ValueError("give one of name and older_than_s")
        path = "/v1/results?pipeline=%s" % q(self.pipeline)
        if name is not None:
            path += "&name=%s" % q(name)
        else:
            if not isinstance(older_than_s, int) or older_than_s < 0:
                raise ValueError("older_than_s must be a whole number of seconds, >= 0")
            path += "&older_than=%d" % older_than_s
        # A deletion of many entries removes their directories before it answers.
        status, data = self._rest.call("DELETE", path, timeout=FETCH_TIMEOUT_S)
        if status != 200:
            raise MasterError("DELETE %s: HTTP %d %s" % (path, status, error_text(data)),
                              status)
        ans = json.loads(data)
        return int(ans.get("deleted", 0)) if isinstance(ans, dict) else 0

    def result(self, name: str) -> Optional[Result]:
        """The entry of one input, or None. A name sorts before every longer name it is
        a prefix of, so it is the first entry of prefix=name when it exists."""
        path = "/v1/results?pipeline=%s&prefix=%s&limit=1" % (q(self.pipeline), q(name))
        ans = self._rest.json("GET", path, ok=(200,))
        for e in ans.get("results") or []:
            if isinstance(e, dict) and e.get("name") == name:
                return Result.from_json(e)
        return None

    def read(self, name: str, file: str = "stdout") -> bytes:
        """One result file of input name, in memory (GET /v1/results/file)."""
        self._check_name(name, file)
        buf = bytearray()
        self._rest.download(self._file_path(name, file), buf.extend, FETCH_TIMEOUT_S)
        return bytes(buf)

    def get(self, name: str, dest: str) -> List[str]:
        """Copies one input's result files into dest (as hio results get NAME DIR);
        returns the paths written. Each file appears whole (written to .part, renamed)."""
        r = self.result(name)
        if r is None:
            raise MasterError("no result entry named %r in pipeline %s" % (name, self.pipeline),
                              404)
        written = []
        for f in r.files:
            self._check_name(name, f.name)
            dst = os.path.join(dest, f.name)
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
            tmp = dst + ".part"
            try:
                with open(tmp, "wb") as out:
                    self._rest.download(self._file_path(name, f.name), out.write,
                                        FETCH_TIMEOUT_S)
                os.replace(tmp, dst)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            written.append(dst)
        return written

    def wait(self, timeout: Optional[float] = DEFAULT_WAIT_S) -> None:
        """Returns once every accepted input of the pipeline has its result: nothing
        queued or leased in the backlog, done + failed >= in, and every live mount of the
        pipeline reporting, after the wait began, an empty spool (as hio wait). Raises
        TimeoutError saying what it still waits for when timeout (seconds) passes."""
        start = time.monotonic()
        why = "the master"
        while True:
            st = self.status()
            p = self.pipeline_status(st)
            if p is None:
                why = "pipeline %s to exist" % self.pipeline
            else:
                queued, leased = int(p.get("queue_length", 0)), int(p.get("leased", 0))
                fin = int(p.get("done", 0)) + int(p.get("failed", 0))
                n_in = int(p.get("in", 0))
                if queued or leased:
                    why = "%d queued and %d leased in the backlog" % (queued, leased)
                elif fin < n_in:
                    why = "%d input(s) without a result" % (n_in - fin)
                else:
                    w = self._mounts_pending(st, (time.monotonic() - start) * 1000)
                    if w is None:
                        return
                    why = w
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError("pipeline %s still busy after %g s: waiting for %s"
                                   % (self.pipeline, timeout, why))
            time.sleep(WAIT_POLL_S)

    def _mounts_pending(self, st: Dict[str, Any], waited_ms: float) -> Optional[str]:
        """What a mount of this pipeline may still hold, or None when they are drained."""
        for mt in st.get("mounts") or []:
            if not isinstance(mt, dict) or mt.get("pipeline") != self.pipeline:
                continue
            where = "%s:%s" % (mt.get("host", "?"), mt.get("mountpoint", "?"))
            age, spooled = int(mt.get("age_ms", 0)), int(mt.get("spooled", 0))
            if age > WAIT_MOUNT_STALE_MS:
                return ("the mount %s, silent for %d s (it last said %d file(s) pending); "
                        "it may hold files the master has not seen"
                        % (where, age // 1000, spooled))
            if spooled > 0:
                return "%d file(s) in the spool of %s" % (spooled, where)
            if age + WAIT_MOUNT_SLACK_MS >= waited_ms:
                return "a fresh report from the mount %s" % where
        return None

    def _file_path(self, name: str, file: str) -> str:
        return "/v1/results/file?pipeline=%s&name=%s&file=%s" % (
            q(self.pipeline), q(name), q(file))

    @staticmethod
    def _check_name(name: str, file: str) -> None:
        for what, v in (("name", name), ("result file name", file)):
            why = _frame.name_error(v)
            if why:
                raise ValueError("refusing %s %r: %s" % (what, v, why))
