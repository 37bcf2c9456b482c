"""The Python frame codec against the C one (hio-frame-tool, built from lib/frame.c):
the same bytes out, the same frames in, the same refusals."""

import json
import os
import random
import subprocess
import tempfile
import unittest

from hio import _frame as F

TOOL = os.environ.get("HIO_FRAME_TOOL")


def c_encode(type_, flags, meta, body=None):
    with tempfile.NamedTemporaryFile() as f:
        args = [TOOL, "encode", str(type_), str(flags), json.dumps(meta)]
        if body is not None:
            f.write(body)
            f.flush()
            args.append(f.name)
        return subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout


def c_decode(data):
    """(lines, bodies) as the C decoder saw data."""
    with tempfile.NamedTemporaryFile() as out:
        p = subprocess.run([TOOL, "decode"], input=data, stdout=subprocess.PIPE,
                           env=dict(os.environ, BODY_OUT=out.name))
        return p.returncode, p.stdout.decode().splitlines(), open(out.name, "rb").read()


def py_decode(data, piece=None):
    d = F.Decoder()
    frames = []
    step = piece or len(data) or 1
    for i in range(0, len(data), step):
        frames += d.feed(data[i:i + step])
    return d, frames


@unittest.skipUnless(TOOL, "HIO_FRAME_TOOL (the meson test sets it) is not set")
class AgainstC(unittest.TestCase):
    def setUp(self):
        rnd = random.Random(7)
        self.text = b"".join(b"line %d of a compressible body\n" % i for i in range(110000))
        self.noise = bytes(rnd.getrandbits(8) for _ in range(200000))

    def test_uncompressed_frames_are_byte_identical(self):
        cases = [(F.HELLO, {"token": "t0k", "pipeline": "default"}, None),
                 (F.MSG, {"id": "ab" * 16, "name": "plate1/A01/t003.tif", "ts": 17}, b"x" * 5000),
                 (F.ACK, {"id": "cd" * 16, "status": "duplicate"}, None),
                 (F.ERROR, {"error": "busy / ünïcode"}, None),
                 (F.MSG, {"id": "ef" * 16, "name": "empty", "ts": 1}, b"")]
        for t, meta, body in cases:
            with self.subTest(type=t):
                self.assertEqual(F.encode_frame(t, meta, body or b""), c_encode(t, 0, meta, body))

    def test_lz4_bodies_from_c_decode(self):
        for body in (self.text, self.noise, b"tiny"):
            meta = {"id": "01" * 16, "name": "n", "ts": 5}
            wire = c_encode(F.MSG, F.F_LZ4, meta, body)
            for piece in (None, 4093):
                d, frames = py_decode(wire, piece)
                self.assertEqual(len(frames), 1)
                self.assertEqual(frames[0].flags, F.F_LZ4)
                self.assertEqual(frames[0].meta, meta)
                self.assertEqual(frames[0].body, body)
                self.assertTrue(d.idle)
        # The text shrank on the wire: LZ4 sequences (matches) were really decoded.
        self.assertLess(len(c_encode(F.MSG, F.F_LZ4, {}, self.text)), len(self.text) // 4)

    def test_c_decodes_python_frames(self):
        frames = [(F.HELLO, {"token": "x", "pipeline": "p"}, b""),
                  (F.MSG, {"id": "23" * 16, "name": "a/b", "ts": 9}, self.noise[:70000]),
                  (F.ACK, {"id": "23" * 16, "status": "done"}, b"")]
        wire = b"".join(F.encode_frame(*f) for f in frames)
        rc, lines, bodies = c_decode(wire)
        self.assertEqual(rc, 0, lines)
        want = ["%d 0 %d %s" % (t, len(b), json.dumps(m, separators=(",", ":")))
                for t, m, b in frames]
        self.assertEqual(lines, want)
        self.assertEqual(bodies, self.noise[:70000])

    def test_same_refusals(self):
        good = F.encode_frame(F.MSG, {"id": "45" * 16, "name": "n", "ts": 1}, b"abc")
        lz = c_encode(F.MSG, F.F_LZ4, {}, self.text[:300000])
        hdr = lambda t=F.MSG, fl=0, res=0, ml=0, bl=0: \
            F._HDR.pack(F.MAGIC, t, fl, res, ml, bl)
        chunk = lambda raw, enc, data=b"", bl=100: \
            hdr(fl=F.F_LZ4, bl=bl) + F._CHUNK_HDR.pack(raw, enc) + data
        bad = {
            "bad frame magic (not an hio peer?)": b"XIO1" + good[4:],
            "unknown frame type": hdr(t=9),
            "unknown frame flags": hdr(fl=4),
            "a frame passed as a descriptor, where only bytes can come": hdr(fl=F.F_FD),
            "a frame passed as a descriptor cannot be compressed": hdr(fl=F.F_FD | F.F_LZ4),
            "reserved frame bits set": hdr(res=1),
            "frame meta larger than 64 KiB": hdr(ml=F.META_MAX + 1),
            "frame body larger than 64 GiB": hdr(bl=F.BODY_MAX + 1),
            "bad LZ4 chunk length": chunk(0, 1),
            "bad LZ4 chunk encoded length": chunk(100, F.lz4_bound(100) + 1),
            "corrupt LZ4 chunk": chunk(100, 3, b"\x00\x00\x00"),
        }
        # A chunk longer than HIO_CHUNK_MAX, and longer than what is left of the body.
        bad_len = [hdr(fl=F.F_LZ4, bl=2 << 20) + F._CHUNK_HDR.pack((1 << 20) + 1, 10),
                   chunk(5, 5, bl=3)]
        for why, data in bad.items():
            with self.subTest(why=why):
                rc, lines, _ = c_decode(data)
                self.assertEqual((rc, lines[-1]), (1, "ERROR " + why))
                with self.assertRaises(F.FrameError) as cm:
                    py_decode(data)
                self.assertEqual(str(cm.exception), why)
        for data in bad_len:
            self.assertEqual(c_decode(data)[1][-1], "ERROR bad LZ4 chunk length")
            self.assertRaisesRegex(F.FrameError, "bad LZ4 chunk length", py_decode, data)
        # Meta that is not an object, and a truncated frame: both refuse.
        notobj = hdr(ml=2) + b"[]"
        self.assertTrue(c_decode(notobj)[1][-1].startswith("ERROR frame meta is not a JSON"))
        self.assertRaisesRegex(F.FrameError, "not a JSON object", py_decode, notobj)
        for cut in (lz[:-1], good[:-1], good[:10]):
            rc, lines, _ = c_decode(cut)
            self.assertEqual(lines[-1], "ERROR connection closed in the middle of a frame "
                             "(truncated)")
            d, frames = py_decode(cut)
            self.assertEqual(frames, [])
            self.assertFalse(d.idle)


class Codec(unittest.TestCase):
    def test_receiver_limit_before_body(self):
        d = F.Decoder(body_max=10)
        with self.assertRaisesRegex(F.FrameError, "over this receiver's 10"):
            d.feed(F.frame_head(F.MSG, {}, 11))
        with self.assertRaises(F.FrameError):
            d.feed(b"")  # dead after an error

    def test_meta_limit_on_encode(self):
        with self.assertRaisesRegex(F.FrameError, "64 KiB"):
            F.encode_frame(F.ACK, {"x": "y" * F.META_MAX})

    def test_lz4_overlapping_match(self):
        # Literal "ab", then a match at offset 2 of length 8 (token 0x24): "ab" * 5.
        self.assertEqual(F.lz4_block_decompress(b"\x24ab\x02\x00", 10), b"ab" * 5)
        self.assertRaises(F.FrameError, F.lz4_block_decompress, b"\x24ab\x03\x00", 10)

    def test_names(self):
        for ok in ("a", "plate1/A01/t003.tif", "a b/ü"):
            self.assertIsNone(F.name_error(ok), ok)
        for bad, why in (("", "empty name"), ("/a", "absolute name"), ("a//b", "empty path"),
                         ("a/", "ends with /"), ("a/../b", ". or .."), ("./a", ". or .."),
                         ("a\0b", "NUL"), ("x" * 256, "longer than 255"),
                         ("a/" * 2049, "longer than 4096")):
            self.assertIn(why, F.name_error(bad) or "", bad)
        self.assertEqual(F.name_strip("/.././/x/./y"), "x/./y")

    def test_ids_and_pipelines(self):
        self.assertTrue(F.id_valid("0123456789abcdef" * 2))
        self.assertFalse(F.id_valid("0123456789ABCDEF" * 2))
        self.assertFalse(F.id_valid("ab" * 15))
        self.assertTrue(F.pipeline_valid("gfp-2.x_y"))
        for bad in ("", ".x", "a/b", "x" * 65, "é"):
            self.assertFalse(F.pipeline_valid(bad), bad)


if __name__ == "__main__":
    unittest.main()
