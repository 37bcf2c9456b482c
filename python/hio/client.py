"""hio.Client: status, results and wait against a running cluster (the REST API of
docs/protocol.md; the same calls as hio status, results, results get and wait)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import _config, _frame
from ._http import MasterError, Rest, q

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

    @classmethod
    def from_json(cls, e: Dict[str, Any]) -> "Result":
        files = [ResultFile(str(f.get("name", "")), int(f.get("size", 0)))
                 for f in e.get("files") or [] if isinstance(f, dict)]
        err = e.get("error")
        return cls(str(e.get("name", "")), str(e.get("id", "")), int(e.get("ts", 0)),
                   str(e.get("state", "")), files, err if isinstance(err, str) else None)


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
        prefix (filtered by the master), and of one state ("done" or "failed") when
        given. The master answers in one listing: its API has no pages yet."""
        path = "/v1/results?pipeline=%s" % q(self.pipeline)
        if prefix:
            path += "&prefix=%s" % q(prefix)
        ans = self._rest.json("GET", path, ok=(200,))
        out = [Result.from_json(e) for e in ans.get("results") or [] if isinstance(e, dict)]
        return [r for r in out if state is None or r.state == state]

    def result(self, name: str) -> Optional[Result]:
        """The entry of one input, or None."""
        for r in self.results(prefix=name):
            if r.name == name:
                return r
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
