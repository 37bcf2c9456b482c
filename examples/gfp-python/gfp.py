#!/usr/bin/env python3
"""The paper's GFP case study (IV-B) as a resident Python analysis: hio-gfp's results,
byte for byte, from a handler that stays warm across messages.

    hio up --pes 2 --serve 'python3 examples/gfp-python/gfp.py' --mount /hio

For each image (PNG or TIFF) the sum of its green channel (of the only channel of a gray
image) decides whether GFP is expressed. Each result holds ``summary.json`` (the same
fields, order and number formats as hio-gfp's), a copy of the image when positive, and
``stdout`` with hio-gfp's one line. HIO_GFP_THRESHOLD (default 20): positive when the mean
green value on a 0..255 scale is above it.

Pixels are read with Pillow and summed with numpy (Debian's python3-pil and
python3-numpy). Pillow reads 16-bit colour images as 8-bit, so those are refused (the
message fails with the reason); hio-gfp (C, libpng and libtiff) reads every variant.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
from PIL import Image

import hio

THRESHOLD_DEFAULT = 20.0


def _threshold() -> float:
    s = os.environ.get("HIO_GFP_THRESHOLD", "")
    try:
        v = float(s) if s else THRESHOLD_DEFAULT
    except ValueError:
        return THRESHOLD_DEFAULT
    return v if v >= 0 else THRESHOLD_DEFAULT


THRESHOLD = _threshold()

# Pillow's mode -> (samples per pixel, bits per sample) for what it reads exactly.
_MODES = {"L": (1, 8), "LA": (2, 8), "RGB": (3, 8), "RGBA": (4, 8),
          "I;16": (1, 16), "I;16L": (1, 16), "I;16B": (1, 16)}


def _png_header(data: bytes) -> tuple[int, int]:
    """(bit depth, samples per pixel) from a PNG's IHDR: Pillow reports 16-bit gray as
    mode I, which hides the depth."""
    depth, ctype = struct.unpack(">BB", data[24:26])
    return depth, {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype, 0)


def green_stats(data: bytes) -> dict:
    """format, width, height, channels, bit_depth, green_sum, pixels of one image."""
    with Image.open(io.BytesIO(data)) as im:
        fmt = {"PNG": "png", "TIFF": "tiff"}.get(im.format or "")
        if fmt is None:
            raise ValueError("not a PNG or TIFF image")
        if fmt == "png":
            depth, channels = _png_header(data)
        elif im.mode in _MODES:
            channels, depth = _MODES[im.mode]
            # The file's own BitsPerSample: Pillow shows 16-bit RGB as mode RGB.
            bits = im.tag_v2.get(258, depth)
            depth = bits[0] if isinstance(bits, tuple) else int(bits)
        else:
            channels, depth = 0, 0
        if channels == 0 or depth not in (8, 16) or (depth == 16 and channels > 1):
            raise ValueError(f"unsupported pixels (Pillow mode {im.mode}); hio-gfp reads them")
        a = np.asarray(im)
    g = a[..., 1] if channels >= 3 else (a[..., 0] if a.ndim == 3 else a)
    return {"format": fmt, "width": im.width, "height": im.height, "channels": channels,
            "bit_depth": depth, "green_sum": int(g.sum(dtype=np.uint64)),
            "pixels": im.width * im.height}


def _real(v: float) -> str:
    """A real as jansson writes it with JSON_REAL_PRECISION(10): %.10g, and ".0" when
    that looks like an integer."""
    s = "%.10g" % v
    return s if any(c in s for c in ".eEn") else s + ".0"


def summary_json(name: str, st: dict, threshold: float) -> tuple[str, bool, float, float]:
    """hio-gfp's summary.json text (json_dump_file with JSON_INDENT(1)), whether it is
    positive, the mean and the mean on a 0..255 scale."""
    mean = st["green_sum"] / st["pixels"] if st["pixels"] else 0.0
    mean8 = mean * 255.0 / float((1 << st["bit_depth"]) - 1)
    positive = mean8 > threshold
    import json
    fields = [("name", json.dumps(name)), ("format", json.dumps(st["format"])),
              ("width", str(st["width"])), ("height", str(st["height"])),
              ("channels", str(st["channels"])), ("bit_depth", str(st["bit_depth"])),
              ("green_sum", str(st["green_sum"])), ("pixels", str(st["pixels"])),
              ("mean_green", _real(mean)), ("mean_green_8bit", _real(mean8)),
              ("threshold", _real(threshold)), ("gfp_positive", "true" if positive else "false")]
    text = "{\n" + ",\n".join(f' "{k}": {v}' for k, v in fields) + "\n}"
    return text, positive, mean, mean8


@hio.handler
def process(msg: hio.Message) -> str:
    data = msg.data
    st = green_stats(data)
    text, positive, mean, mean8 = summary_json(msg.name, st, THRESHOLD)
    with open(os.path.join(msg.output, "summary.json"), "w", encoding="utf-8") as f:
        f.write(text)
    if positive:
        base = msg.name.rsplit("/", 1)[-1]
        keep = ("image." if not base or base == "summary.json" else "") + base
        with open(os.path.join(msg.output, keep), "wb") as f:
            f.write(data)
    return "%s green_sum %d mean %.2f (0..255: %.2f, threshold %.2f)\n" % (
        "positive" if positive else "negative", st["green_sum"], mean, mean8, THRESHOLD)
