"""hio: HarmonicIO's Python package, standard library only.

- ``hio.Stream``: stream files and bytes to a pipeline's PEs, P2P, with the master's
  backlog when no PE is free (the wire protocol of libhio).
- ``hio.Client``: status, results, get and wait against a running cluster.
- ``hio.handler`` / ``hio.serve`` / ``hio.Message``: resident handlers for
  ``hio-pe --serve`` (from hio._serve, when it is installed).

See docs/python.md.
"""

from __future__ import annotations

from ._config import ConfigError
from ._frame import FrameError
from ._http import MasterError
from .client import Client, Result, ResultFile
from .stream import Ack, Stream, StreamClosed

__version__ = "0.1.0"

__all__ = ["Stream", "Ack", "StreamClosed", "Client", "Result", "ResultFile",
           "MasterError", "ConfigError", "FrameError"]

try:
    from ._serve import Message, handler, serve
except ModuleNotFoundError as e:  # only a missing hio._serve; its own errors propagate
    if e.name != __name__ + "._serve":
        raise
else:
    __all__ += ["Message", "handler", "serve"]
