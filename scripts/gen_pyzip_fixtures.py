#!/usr/bin/env python3
"""Fixtures for the compression and Python-zipfile readers of airlock-formats.

Writes small files into tests/fixtures/compress/ and tests/fixtures/pyzip/,
each with a manifest.json recording what Python itself does with every file:

- compress/: the result of the Python reader the Rust side reproduces
  (zlib.decompress, gzip.open().read(), bz2.open().read(), lzma.open().read(),
  lz4.frame.open().read(), joblib's read_zfile): length and SHA-256 of the
  output, or the exception's class and message;
- pyzip/: whether zipfile.ZipFile(path) opens the file, its namelist and
  infolist, and for each distinct name ZipFile.open(name).read().

Run with the project venv (it has lz4, joblib and numpy):

    source scripts/lib/venv.sh; venv=$(airlock_venv)
    "$venv/bin/python" scripts/gen_pyzip_fixtures.py [FIXTURES_DIR]
    "$venv/bin/python" scripts/gen_pyzip_fixtures.py --check [FIXTURES_DIR]

FIXTURES_DIR (default tests/fixtures) gets compress/ and pyzip/; --check exits
1 unless both hold exactly what this writes.
"""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import pickle
import struct
import sys
import time
import warnings
import zipfile
import zlib

import joblib
import lz4.frame
import numpy as np
from joblib.numpy_pickle_compat import read_zfile, write_zfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

# Set by write(): where compress/ and pyzip/ go.
COMPRESS = PYZIP = None

PAYLOAD = pickle.dumps(
    {"weights": list(range(200)), "name": "model", "scale": 0.5, "tags": ["a", "b"] * 20},
    protocol=4,
)


def exc_name(e):
    t = type(e)
    if t.__module__ == "builtins":
        return t.__qualname__
    return "%s.%s" % (t.__module__.lstrip("_"), t.__qualname__)


def outcome(fn, path=None):
    try:
        data = fn()
    except Exception as e:  # noqa: BLE001 - every exception is a result here
        message = str(e)
        if path is not None:
            # No machine-specific paths in the committed manifest.
            for p in {path, os.path.abspath(path), os.path.realpath(path)}:
                message = message.replace(p, os.path.basename(path))
        return {"ok": False, "exception": exc_name(e), "message": message}
    return {"ok": True, "len": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ---------------------------------------------------------------- compress

READERS = {
    "zlib": lambda p: zlib.decompress(open(p, "rb").read()),
    "gzip": lambda p: gzip.open(p).read(),
    "bzip2": lambda p: bz2.open(p).read(),
    "xz": lambda p: lzma.open(p).read(),
    "lzma": lambda p: lzma.open(p).read(),
    "lz4": lambda p: lz4.frame.open(p).read(),
    "joblib-zfile": lambda p: read_zfile(open(p, "rb")),
}


def gzip_member(data, flags=0, header_extra=b""):
    head = struct.pack("<BBBBLBB", 0x1F, 0x8B, 8, flags, 0, 0, 255) + header_extra
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return head + body + struct.pack("<LL", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def joblib_dump(method):
    buf = io.BytesIO()
    obj = {"coef": np.arange(50, dtype=np.float64), "name": "model", "n": 3}
    joblib.dump(obj, buf, compress=(method, 3))
    return buf.getvalue()


def compress_fixtures():
    d = PAYLOAD
    gz = gzip.compress(d, mtime=0)
    bz = bz2.compress(d)
    xz = lzma.compress(d)
    alone = lzma.compress(d, format=lzma.FORMAT_ALONE)
    l4 = lz4.frame.compress(d)
    zl = zlib.compress(d)
    zf = io.BytesIO()
    write_zfile(zf, d)
    zf = zf.getvalue()
    files = {
        # zlib
        "plain.zlib": ("zlib", zl, "a zlib stream"),
        "trailing.zlib": ("zlib", zl + b"trailing garbage", "bytes after the stream"),
        "truncated.zlib": ("zlib", zl[:-20], "the stream is cut"),
        "adler.zlib": ("zlib", zl[:-1] + bytes([zl[-1] ^ 1]), "wrong Adler-32"),
        "corrupt.zlib": ("zlib", zl[:2] + b"\xff" * 20 + zl[22:], "invalid deflate data"),
        # gzip
        "plain.gz": ("gzip", gz, "gzip.compress"),
        "members.gz": ("gzip", gz + gzip.compress(b"second member", mtime=0), "two members"),
        "padded.gz": ("gzip", gz + b"\0" * 7, "zero padding after the member"),
        "padded_members.gz": ("gzip", gz + b"\0" * 3 + gz, "padding between members"),
        "trailing.gz": ("gzip", gz + b"trailing garbage", "garbage after the member"),
        "trailing1.gz": ("gzip", gz + b"x", "one byte of garbage"),
        "truncated.gz": ("gzip", gz[:-30], "cut inside the deflate data"),
        "truncated_trailer.gz": ("gzip", gz[:-3], "cut inside the trailer"),
        "truncated_second.gz": ("gzip", gz + gz[:15], "second member cut"),
        "badcrc.gz": ("gzip", gz[:-8] + struct.pack("<L", zlib.crc32(d) ^ 1) + gz[-4:], "wrong CRC"),
        "badsize.gz": ("gzip", gz[:-4] + struct.pack("<L", len(d) + 1), "wrong ISIZE"),
        "method.gz": ("gzip", gz[:2] + b"\x07" + gz[3:], "method 7"),
        "header_fields.gz": (
            "gzip",
            gzip_member(
                d,
                flags=2 | 4 | 8 | 16,
                header_extra=struct.pack("<H", 4) + b"abcd" + b"name.pkl\0" + b"a comment\0" + b"\x12\x34",
            ),
            "FEXTRA, FNAME, FCOMMENT and FHCRC (never checked)",
        ),
        "empty.gz": ("gzip", b"", "an empty file"),
        # bzip2
        "plain.bz2": ("bzip2", bz, "bz2.compress"),
        "streams.bz2": ("bzip2", bz + bz2.compress(b"second stream"), "two streams"),
        "trailing.bz2": ("bzip2", bz + b"trailing garbage", "garbage after the stream: ignored"),
        "trailing_magic.bz2": ("bzip2", bz + b"BZh9", "a new stream's magic, then nothing: EOFError"),
        "truncated.bz2": ("bzip2", bz[:-20], "the stream is cut"),
        "corrupt.bz2": ("bzip2", bz[:20] + b"\0" * 30 + bz[50:], "corrupt block"),
        "notbz2.bz2": ("bzip2", b"BZh0" + bz[4:], "block size digit 0"),
        # xz and lzma
        "plain.xz": ("xz", xz, "lzma.compress"),
        "check_none.xz": ("xz", lzma.compress(d, check=lzma.CHECK_NONE), "no check"),
        "check_crc32.xz": ("xz", lzma.compress(d, check=lzma.CHECK_CRC32), "CRC-32 check"),
        "check_sha256.xz": ("xz", lzma.compress(d, check=lzma.CHECK_SHA256), "SHA-256 check"),
        "streams.xz": ("xz", xz + lzma.compress(b"second stream"), "two streams"),
        "padded.xz": ("xz", xz + b"\0" * 4, "stream padding, which liblzma reads as a new stream: EOFError"),
        "trailing.xz": ("xz", xz + b"trailing garbage", "garbage after the stream: ignored"),
        "truncated.xz": ("xz", xz[:-30], "the stream is cut"),
        "corrupt.xz": ("xz", xz[:40] + bytes(b ^ 0x55 for b in xz[40:60]) + xz[60:], "corrupt block data"),
        "badheader.xz": ("xz", xz[:7] + b"\x05" + xz[8:], "stream flags CRC mismatch"),
        "plain.lzma": ("lzma", alone, "FORMAT_ALONE"),
        "streams.lzma": ("lzma", alone + lzma.compress(b"second", format=lzma.FORMAT_ALONE), "two streams"),
        "truncated.lzma": ("lzma", alone[:-10], "the stream is cut"),
        "xz_then_lzma.xz": ("xz", xz + alone, "an xz stream, then a legacy one"),
        # lz4
        "plain.lz4": ("lz4", l4, "lz4.frame.compress"),
        "checksums.lz4": (
            "lz4",
            lz4.frame.compress(d, block_checksum=True, content_checksum=True, store_size=True),
            "block and content checksums, content size",
        ),
        "linked.lz4": (
            "lz4",
            lz4.frame.compress(d * 30, block_linked=True, block_size=lz4.frame.BLOCKSIZE_MAX64KB),
            "linked blocks",
        ),
        "frames.lz4": ("lz4", l4 + lz4.frame.compress(b"second frame"), "two frames"),
        "trailing.lz4": ("lz4", l4 + b"trailing garbage", "garbage after the frame: raises"),
        "truncated.lz4": ("lz4", l4[:-10], "the frame is cut"),
        # joblib ZF
        "plain.zf": ("joblib-zfile", zf, "joblib < 0.10 compat format"),
        "py2space.zf": ("joblib-zfile", zf[:21] + b" " + zf[21:], "one more space (joblib <= 0.8.4)"),
        "badlen.zf": ("joblib-zfile", b"ZF" + hex(len(d) + 1).encode().ljust(19) + zf[21:], "length field disagrees"),
        "badhex.zf": ("joblib-zfile", b"ZF" + b"0xzz".ljust(19) + zf[21:], "length field not hexadecimal"),
        # joblib.dump with each compressor
        "joblib_zlib.pkl.z": ("zlib", joblib_dump("zlib"), "joblib.dump compress=zlib"),
        "joblib_gzip.pkl.gz": ("gzip", joblib_dump("gzip"), "joblib.dump compress=gzip"),
        "joblib_bz2.pkl.bz2": ("bzip2", joblib_dump("bz2"), "joblib.dump compress=bz2"),
        "joblib_lzma.pkl.lzma": ("lzma", joblib_dump("lzma"), "joblib.dump compress=lzma"),
        "joblib_xz.pkl.xz": ("xz", joblib_dump("xz"), "joblib.dump compress=xz"),
        "joblib_lz4.pkl.lz4": ("lz4", joblib_dump("lz4"), "joblib.dump compress=lz4"),
        # a bomb: 200 MB of zeros in a few hundred bytes
        "bomb.bz2": ("bzip2", bz2.compress(b"\0" * 200_000_000, 9), "decompression bomb"),
        "bomb.xz": ("xz", lzma.compress(b"\0" * 200_000_000), "decompression bomb"),
        "bomb.lzma": ("lzma", lzma.compress(b"\0" * 200_000_000, format=lzma.FORMAT_ALONE), "decompression bomb"),
    }
    os.makedirs(COMPRESS, exist_ok=True)
    manifest = []
    for name, (kind, data, note) in sorted(files.items()):
        path = os.path.join(COMPRESS, name)
        with open(path, "wb") as f:
            f.write(data)
        entry = {"file": name, "kind": kind, "note": note, "python": outcome(lambda: READERS[kind](path), path)}
        if name.startswith("joblib_"):
            entry["joblib_load"] = outcome(lambda: pickle.dumps(sorted(joblib.load(path))))["ok"]
        if name.startswith("bomb"):
            entry["expect_limit"] = True
        manifest.append(entry)
    with open(os.path.join(COMPRESS, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return len(manifest)


# ------------------------------------------------------------------- pyzip


def build(members, compression=zipfile.ZIP_STORED, comment=b""):
    """A zip written by zipfile: members are (name, data) or ZipInfo pairs."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "w", compression) as z:
            for name, data in members:
                z.writestr(name, data)
            z.comment = comment
    return bytearray(buf.getvalue())


def eocd(b):
    at = b.rfind(b"PK\x05\x06")
    return at


def centrals(b):
    """Offsets of the central headers, from the end record."""
    e = eocd(b)
    count, size, off = struct.unpack_from("<HLL", b, e + 10)
    out = []
    p = off
    for _ in range(count):
        assert b[p : p + 4] == b"PK\x01\x02", p
        out.append(p)
        n, m, k = struct.unpack_from("<HHH", b, p + 28)
        p += 46 + n + m + k
    return out


def local_of(b, central):
    return struct.unpack_from("<L", b, central + 42)[0]


def patch(b, at, fmt, value):
    struct.pack_into(fmt, b, at, value)


def both(b, i, central_field, local_field, fmt, value):
    c = centrals(b)[i]
    patch(b, c + central_field, fmt, value)
    if local_field is not None:
        patch(b, local_of(b, c) + local_field, fmt, value)


class Unseekable(io.RawIOBase):
    def __init__(self):
        self.buf = io.BytesIO()

    def writable(self):
        return True

    def write(self, b):
        return self.buf.write(b)


def zip_fixtures():
    # zipfile (and np.savez through it) stamps members with the current
    # local time: pin it so that regenerating gives the same bytes.
    fixed = time.gmtime(1_700_000_000)
    time.localtime = lambda secs=None: fixed
    time.time = lambda: 1_700_000_000.0
    files = {}
    npy = io.BytesIO()
    np.save(npy, np.arange(10, dtype=np.int32))
    npy = npy.getvalue()
    two = [("a.npy", npy), ("b.pkl", PAYLOAD)]

    files["stored.zip"] = (build(two), "stored members")
    files["deflate.zip"] = (build(two, zipfile.ZIP_DEFLATED), "deflate members")
    files["bzip2.zip"] = (build(two, zipfile.ZIP_BZIP2), "bzip2 members")
    files["lzma.zip"] = (build(two, zipfile.ZIP_LZMA), "LZMA members")
    b = io.BytesIO()
    np.savez(b, x=np.arange(5), y=np.ones((2, 3)))
    files["savez.npz"] = (bytearray(b.getvalue()), "np.savez")
    b = io.BytesIO()
    np.savez_compressed(b, x=np.arange(500), y=np.zeros((20, 30)))
    files["savez_compressed.npz"] = (bytearray(b.getvalue()), "np.savez_compressed")
    files["empty.zip"] = (build([]), "no members")
    files["duplicate.zip"] = (
        build([("a.npy", b"first"), ("b.pkl", PAYLOAD), ("a.npy", b"second")]),
        "duplicate names: the last wins",
    )
    z = build([("a.npyXevil.pkl", b"hidden"), ("b.pkl", PAYLOAD)])
    for c in centrals(z)[:1]:
        patch(z, c + 46 + 5, "<B", 0)
        patch(z, local_of(z, c) + 30 + 5, "<B", 0)
    files["nul_name.zip"] = (z, "NUL in a name: cut there")
    files["utf8_name.zip"] = (build([("donn\u00e9es/\u00fc.npy", npy)]), "UTF-8 flag")
    z = build([("cafX.npy", npy)])
    c = centrals(z)[0]
    patch(z, c + 46 + 3, "<B", 0x82)
    patch(z, local_of(z, c) + 30 + 3, "<B", 0x82)
    files["cp437_name.zip"] = (z, "a non-ASCII name without the UTF-8 flag: cp437")
    z = build([("aXb.npy", npy)])
    c = centrals(z)[0]
    patch(z, c + 8, "<H", 0x800)
    patch(z, c + 46 + 1, "<B", 0xFF)
    files["bad_utf8_name.zip"] = (z, "UTF-8 flag on invalid UTF-8: UnicodeDecodeError")
    z = build([("\u00fc.npy", npy)])
    c = centrals(z)[0]
    patch(z, local_of(z, c) + 6, "<H", 0)
    files["utf8_local_flag.zip"] = (z, "UTF-8 flag only in the central header: names differ")
    files["prepended.zip"] = (bytearray(b"#!/bin/sh\n" + b"J" * 990) + build(two), "data before the archive")
    z = build(two)
    c = centrals(z)[0]
    patch(z, local_of(z, c) + 30, "<B", ord("c"))
    files["name_mismatch.zip"] = (z, "local name differs")
    z = build(two)
    both(z, 0, 8, 6, "<H", 1)
    files["encrypted.zip"] = (z, "encrypted flag")
    z = build(two)
    c = centrals(z)[0]
    patch(z, local_of(z, c) + 6, "<H", 1)
    files["encrypted_local_only.zip"] = (z, "encrypted flag in the local header only")
    z = build(two)
    both(z, 0, 8, 6, "<H", 0x20)
    files["patch_flag.zip"] = (z, "patched data flag")
    z = build(two)
    both(z, 0, 8, 6, "<H", 0x40)
    files["strong_encryption.zip"] = (z, "strong encryption flag")
    z = build(two)
    both(z, 0, 10, 8, "<H", 9)
    files["unsupported_method.zip"] = (z, "method 9 (deflate64)")
    z = build(two)
    both(z, 1, 16, 14, "<L", zlib.crc32(PAYLOAD) ^ 0xFF)
    files["bad_crc.zip"] = (z, "wrong CRC-32")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zz:
        with zz.open("big.npy", "w", force_zip64=True) as f:
            f.write(npy)
        zz.writestr("b.pkl", PAYLOAD)
    files["zip64_member.zip"] = (bytearray(buf.getvalue()), "a member written with force_zip64")
    # A ZIP64 end record and locator inserted before the end record.
    z = build(two)
    e = eocd(z)
    count, size, off = struct.unpack_from("<HLL", z, e + 10)
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, off)
    loc = struct.pack("<4sLQL", b"PK\x06\x07", 0, e, 1)
    end = bytearray(z[e:])
    patch(end, 8, "<H", 0xFFFF)
    patch(end, 10, "<H", 0xFFFF)
    patch(end, 12, "<L", 0xFFFFFFFF)
    patch(end, 16, "<L", 0xFFFFFFFF)
    files["zip64_end_record.zip"] = (z[:e] + z64 + loc + end, "ZIP64 end record")
    loc_bad = struct.pack("<4sLQL", b"PK\x06\x07", 0, 12345, 1)
    files["zip64_locator_offset.zip"] = (z[:e] + z64 + loc_bad + end, "ZIP64 locator with a wrong offset: ignored")
    files["comment.zip"] = (build(two, comment=b"an archive comment"), "archive comment")
    fake = b"PK\x05\x06" + b"\0" * 18
    files["comment_hides_entries.zip"] = (
        build(two, comment=b"x" + fake),
        "an end record inside the comment: Python takes the last one",
    )
    files["trailing_data.zip"] = (build(two) + b"T" * 100, "bytes after the end record")
    z = build(two)
    e = eocd(z)
    size = struct.unpack_from("<L", z, e + 12)[0]
    t = z[:e] + b"\0" * 10 + z[e:]
    patch(t, e + 10 + 12, "<L", size + 10)
    files["truncated_cd.zip"] = (t, "central directory size larger than its entries")
    t = z[:e] + b"\0" * 50 + z[e:]
    patch(t, e + 50 + 12, "<L", size + 50)
    files["bad_cd_magic.zip"] = (t, "junk in the central directory")
    files["truncated_file.zip"] = (build(two)[:200], "the file is cut")
    z = build(two)
    c = centrals(z)[1]
    patch(z, c + 6, "<B", 64)
    files["extract_version.zip"] = (z, "version needed 6.4")
    # Quoted overlap: entry "outer" stores entry "inner"'s local header and data.
    inner_data = b"inner payload"
    inner_local = struct.pack(
        "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, zlib.crc32(inner_data), len(inner_data), len(inner_data), 5, 0
    ) + b"inner" + inner_data
    outer_local = struct.pack(
        "<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, zlib.crc32(inner_local), len(inner_local), len(inner_local), 5, 0
    ) + b"outer"
    body = outer_local + inner_local

    def central(name, crc, size, off):
        return struct.pack(
            "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, crc, size, size, len(name), 0, 0, 0, 0, 0, off
        ) + name

    cd = central(b"outer", zlib.crc32(inner_local), len(inner_local), 0) + central(
        b"inner", zlib.crc32(inner_data), len(inner_data), len(outer_local)
    )
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(cd), len(body), 0)
    files["overlap.zip"] = (bytearray(body + cd + end), "one entry's data holds another entry")
    # Deflate without a final block (sync flush), correct CRC: read fine.
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    comp = c.compress(PAYLOAD) + c.flush(zlib.Z_SYNC_FLUSH)
    z = build([("b.pkl", PAYLOAD)], zipfile.ZIP_DEFLATED)
    lo = local_of(z, centrals(z)[0])
    old = struct.unpack_from("<L", z, lo + 18)[0]
    z = z[: lo + 30 + 5] + comp + z[lo + 30 + 5 + old :]
    # Re-point the central directory after the size change.
    e = eocd(z)
    delta = len(comp) - old
    patch(z, e + 16, "<L", struct.unpack_from("<L", z, e + 16)[0] + delta)
    patch(z, lo + 18, "<L", len(comp))
    patch(z, centrals(z)[0] + 20, "<L", len(comp))
    files["deflate_no_final_block.zip"] = (z, "deflate data without a final block")
    z = build([("a.npy", npy)])
    short = npy[:40]
    both(z, 0, 20, 18, "<L", len(short))
    both(z, 0, 16, 14, "<L", zlib.crc32(short))
    files["stored_short_compress_size.zip"] = (z, "stored, compressed size below the file size")
    z = build([("b.pkl", PAYLOAD)], zipfile.ZIP_DEFLATED)
    both(z, 0, 24, 22, "<L", 100)
    both(z, 0, 16, 14, "<L", zlib.crc32(PAYLOAD[:100]))
    files["deflate_small_file_size.zip"] = (z, "deflate, file size below the data: cut there")
    z = build(two)
    patch(z, local_of(z, centrals(z)[0]), "<L", 0x04034B51)
    files["local_bad_magic.zip"] = (z, "bad local header signature")
    z = build(two)
    patch(z, centrals(z)[1] + 42, "<L", len(z) + 1000)
    files["offset_past_end.zip"] = (z, "local header offset past the end")
    z = build(two)
    e = eocd(z)
    patch(z, e + 16, "<L", struct.unpack_from("<L", z, e + 16)[0] + 1000)
    files["negative_concat.zip"] = (z, "central directory offset too large: negative shift")
    zi = zipfile.ZipInfo("a.npy")
    zi.extra = struct.pack("<HH", 0x1234, 100) + b"ab"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zz:
        zz.writestr(zi, npy)
    files["corrupt_extra.zip"] = (bytearray(buf.getvalue()), "extra field overruns")
    zi = zipfile.ZipInfo("a.npy")
    zi.extra = struct.pack("<HHQ", 1, 8, len(npy))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zz:
        zz.writestr(zi, npy)
    z = bytearray(buf.getvalue())
    c = centrals(z)[0]
    patch(z, c + 20, "<L", 0xFFFFFFFF)
    patch(z, c + 24, "<L", 0xFFFFFFFF)
    files["zip64_extra_short.zip"] = (z, "ZIP64 extra lacks the compressed size")
    z = build(two, zipfile.ZIP_DEFLATED)
    lo = local_of(z, centrals(z)[1])
    for i in range(10):
        z[lo + 30 + 5 + 20 + i] ^= 0xA5
    files["deflate_corrupt.zip"] = (z, "corrupt deflate data")
    z = build(two, zipfile.ZIP_BZIP2)
    lo = local_of(z, centrals(z)[1])
    for i in range(10):
        z[lo + 30 + 5 + 12 + i] ^= 0xA5
    files["bzip2_corrupt.zip"] = (z, "corrupt bzip2 data")
    z = build(two, zipfile.ZIP_LZMA)
    lo = local_of(z, centrals(z)[1])
    patch(z, lo + 30 + 5 + 2, "<H", 4)
    files["lzma_bad_props.zip"] = (z, "LZMA properties size 4")
    z = build([("a.npy", b"abc")])
    both(z, 0, 20, 18, "<L", 10000)
    both(z, 0, 24, 22, "<L", 10000)
    files["member_past_end.zip"] = (z, "sizes reach past the end of the file: EOFError")
    u = Unseekable()
    with zipfile.ZipFile(u, "w", zipfile.ZIP_DEFLATED) as zz:
        for name, data in two:
            zz.writestr(name, data)
    files["data_descriptor.zip"] = (bytearray(u.buf.getvalue()), "written to a pipe: data descriptors")

    os.makedirs(PYZIP, exist_ok=True)
    manifest = []
    for name, (data, note) in sorted(files.items()):
        path = os.path.join(PYZIP, name)
        with open(path, "wb") as f:
            f.write(bytes(data))
        entry = {"file": name, "note": note}
        try:
            zf = zipfile.ZipFile(path)
        except Exception as e:  # noqa: BLE001
            entry["open"] = {"ok": False, "exception": exc_name(e), "message": str(e)}
            manifest.append(entry)
            continue
        entry["open"] = {"ok": True}
        entry["namelist"] = zf.namelist()
        entry["infolist"] = [
            {
                "filename": i.filename,
                "orig_filename": i.orig_filename,
                "flag_bits": i.flag_bits,
                "compress_type": i.compress_type,
                "CRC": i.CRC,
                "compress_size": i.compress_size,
                "file_size": i.file_size,
                "header_offset": i.header_offset,
            }
            for i in zf.infolist()
        ]
        reads = {}
        for n in dict.fromkeys(zf.namelist()):
            reads[n] = outcome(lambda: zf.open(n).read())
        entry["reads"] = reads
        zf.close()
        manifest.append(entry)
    with open(os.path.join(PYZIP, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return len(manifest)


def write(root):
    global COMPRESS, PYZIP
    COMPRESS, PYZIP = os.path.join(root, "compress"), os.path.join(root, "pyzip")
    n = compress_fixtures()
    m = zip_fixtures()
    print("wrote %d compressed files and %d archives (Python %s)" % (n, m, sys.version.split()[0]))


def check(root):
    import tempfile

    with tempfile.TemporaryDirectory(prefix="airlock-check-") as tmp:
        write(tmp)
        status = 0
        for sub in ("compress", "pyzip"):
            made, problems = fx.compare_trees(os.path.join(tmp, sub), os.path.join(root, sub))
            status |= fx.report(len(made), problems, os.path.join(root, sub))
    return status


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    args = sys.argv[1:]
    if args[:1] == ["--check"]:
        sys.exit(check(args[1] if len(args) > 1 else os.path.join(fx.ROOT, "tests", "fixtures")))
    write(args[0] if args else os.path.join(fx.ROOT, "tests", "fixtures"))
