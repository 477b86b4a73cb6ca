#!/usr/bin/env python3
"""Hostile files: inputs built to exhaust a scanner's memory or time.

    gen_hostile.py OUT_DIR            write every case into OUT_DIR
    gen_hostile.py OUT_DIR CASE...    write only the named cases
    gen_hostile.py --check OUT_DIR    verify the files in OUT_DIR are what
                                      they claim (exit 1 if one is not)
    gen_hostile.py --list             the case names

Plain python3, standard library only (the lz4 frame is written by hand).
Large files are sparse or built from repeated compressed blocks, so every
case is written in seconds however much it inflates to:

- zip_data0_bomb.pt, zip_datapkl_bomb.pt: torch ZIP checkpoints whose
  deflated data/0 (or data.pkl) is declared 400,000 bytes and inflates to
  4.8 GB;
- bytes960m.pkl.{gz,bz2,xz,lz4,zlib}: a protocol-4 pickle holding one
  960 MiB BINBYTES8, compressed;
- nested.pkl.gz.bz2.xz: the same pickle, gzip inside bzip2 inside xz;
- opcodes4g.pkl.gz: 4.3 GB of NONE/POP opcodes, gzip-compressed;
- many_tensors.safetensors: a 99.7 MB header of 1.68 million empty tensors;
- big_member.npz: an .npz whose deflated a.npy holds 4.8 GB;
- sparse3g.pkl: a 3 GiB sparse file starting with b'\\x80\\x02';
- bigint_system.pkl: os.system called with a 10 MiB LONG4 integer;
- bigint_plain.pkl: a pickle of a plain 10 MiB integer;
- dims65.npy, dims10000.npy: .npy headers with 65 and 10,000 dimensions;
- tensor_past_storage.pt: a tensor of 200 floats on a storage of 100;
- bytes3g.pkl: a valid (sparse) pickle of one 3 GiB BINBYTES8;
- header_past_end.safetensors: a header length beyond the file.
"""

import bz2
import gzip
import json
import lzma
import os
import pickletools
import random
import struct
import sys
import zipfile
import zlib

MiB = 1 << 20
GB = 10**9
CHUNK = MiB

# ---------------------------------------------------------------- deflate


def deflate_zeros(prefix, n_zeros, suffix=b"", wbits=-15):
    """A deflate (or zlib, wbits=15) stream of prefix + n_zeros zero bytes +
    suffix, built from one 1 MiB block of zeros compressed once and repeated:
    after a full flush each block starts afresh, so the copies are
    identical. n_zeros is rounded down to whole MiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "deflate blocks of zeros are not stationary"
    tail = c.compress(suffix) + c.flush()
    count = n_zeros // CHUNK
    return head, block, count, tail


def deflate_bytes(prefix, n_zeros, suffix=b"", wbits=-15):
    head, block, count, tail = deflate_zeros(prefix, n_zeros, suffix, wbits)
    return b"".join([head, block * count, tail])


def zlib_zeros(prefix, n_zeros, suffix):
    """A zlib stream (header, deflate, Adler-32) of prefix + zeros + suffix."""
    body = deflate_bytes(prefix, n_zeros, suffix)
    adler = zlib.adler32(prefix)
    zeros = bytes(CHUNK)
    for _ in range(n_zeros // CHUNK):
        adler = zlib.adler32(zeros, adler)
    adler = zlib.adler32(suffix, adler)
    return b"\x78\xda" + body + struct.pack(">I", adler)


# --------------------------------------------------------------------- lz4


def xxh32(data, seed=0):
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    m = 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & m  # noqa: E731
    n, i = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & m, (seed + p2) & m, seed, (seed - p1) & m]
        while i + 16 <= n:
            for k in range(4):
                lane = struct.unpack_from("<I", data, i + 4 * k)[0]
                v[k] = (rotl((v[k] + lane * p2) & m, 13) * p1) & m
            i += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & m
    else:
        h = (seed + p5) & m
    h = (h + n) & m
    while i + 4 <= n:
        h = (rotl((h + struct.unpack_from("<I", data, i)[0] * p3) & m, 17) * p4) & m
        i += 4
    while i < n:
        h = (rotl((h + data[i] * p5) & m, 11) * p1) & m
        i += 1
    h ^= h >> 15
    h = (h * p2) & m
    h ^= h >> 13
    h = (h * p3) & m
    return h ^ (h >> 16)


def lz4_frame(blocks):
    """An LZ4 frame (independent 4 MiB blocks, no checksums) of raw blocks:
    each item is (compressed, payload) bytes."""
    desc = bytes([0x60, 0x70])  # version 01, independent blocks; 4 MiB max
    out = [struct.pack("<I", 0x184D2204), desc, bytes([(xxh32(desc) >> 8) & 0xFF])]
    for compressed, payload in blocks:
        if compressed:
            out.append(struct.pack("<I", len(payload)) + payload)
        else:
            out.append(struct.pack("<I", len(payload) | 0x80000000) + payload)
    out.append(b"\x00\x00\x00\x00")
    return b"".join(out)


def lz4_zero_block(size):
    """One LZ4 block of `size` zero bytes: a literal zero, a match at offset
    1 up to the last five bytes, five literal zeros."""
    match = size - 1 - 5
    ext = match - 4 - 15
    lengths = b"\xff" * (ext // 255) + bytes([ext % 255])
    seq1 = b"\x1f\x00" + struct.pack("<H", 1) + lengths
    seq2 = b"\x50" + bytes(5)
    return seq1 + seq2


# --------------------------------------------------------------------- zip


def zip_archive(members):
    """A ZIP archive of (name, method, crc, comp_size, uncomp_size, data)
    where data is the stored or deflated bytes as they go in the file.
    Sizes over 4 GiB get ZIP64 extra fields."""
    out, central, pos = [], [], 0
    for name, method, crc, csize, usize, data in members:
        name = name.encode()
        z64 = usize >= 0xFFFFFFFF or csize >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, usize, csize) if z64 else b""
        c32 = 0xFFFFFFFF if z64 else csize
        u32 = 0xFFFFFFFF if z64 else usize
        version = 45 if z64 else 20
        local = struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, version, 0, method, 0, 0x21, crc, c32, u32,
            len(name), len(extra),
        )
        out.append(local + name + extra + data)
        cextra = struct.pack("<HHQQ", 1, 16, usize, csize) if z64 else b""
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, method, 0, 0x21,
                crc, c32, u32, len(name), len(cextra), 0, 0, 0, 0, pos,
            )
            + name
            + cextra
        )
        pos += len(local) + len(name) + len(extra) + len(data)
    cdir = b"".join(central)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cdir), pos, 0)
    return b"".join(out) + cdir + eocd


def stored(name, data):
    return (name, 0, zlib.crc32(data), len(data), len(data), data)


def state_dict_pickle(storage_numel, size):
    """What torch.save({'w': tensor}) writes for a float tensor of `size`
    elements on a storage of `storage_numel`."""
    return (
        b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02"
        b"((X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05"
        b"X\x03\x00\x00\x00cpuq\x06J" + struct.pack("<i", storage_numel) + b"tq\x07QK\x00J"
        + struct.pack("<i", size)
        + b"\x85q\x08K\x01\x85q\t\x89ccollections\nOrderedDict\nq\n)Rq\x0btq\x0cRq\rs."
    )


def torch_zip(pkl, data0):
    """archive/{data.pkl,byteorder,data/0,version}; each member a full
    tuple for zip_archive."""
    return zip_archive(
        [
            pkl,
            stored("archive/byteorder", b"little"),
            data0,
            stored("archive/version", b"3\n"),
        ]
    )


DECLARED = 400_000
BOMB = 4_800 * MiB  # 5.03 GB of zeros behind the declared bytes


def deflated_bomb(name, prefix):
    body = deflate_bytes(prefix, BOMB)
    crc = zlib.crc32(prefix + bytes(DECLARED - len(prefix)))
    return (name, 8, crc, len(body), DECLARED, body)


def zip_data0_bomb():
    pkl = state_dict_pickle(DECLARED // 4, DECLARED // 4)
    return torch_zip(stored("archive/data.pkl", pkl), deflated_bomb("archive/data/0", b""))


def zip_datapkl_bomb():
    pkl = state_dict_pickle(100, 100)
    return torch_zip(
        deflated_bomb("archive/data.pkl", pkl), stored("archive/data/0", bytes(400))
    )


# ----------------------------------------------------------------- pickles

PAYLOAD = 960 * MiB
BIG_HEAD = b"\x80\x04\x8e" + struct.pack("<Q", PAYLOAD)
SEGMENT = 64 * MiB


# 1 MiB of incompressible bytes at the start of the payload: the files are
# then large enough (about 1 MB) that the bomb's ratio stays under 1000:1,
# as real compressed data does, and only an absolute limit stops it.
NOISE = random.Random(0).randbytes(MiB)


def members(compress):
    """The 960 MiB BINBYTES8 pickle as concatenated members (Python's gzip,
    bz2, lzma and lz4 readers read every member)."""
    first = compress(BIG_HEAD + NOISE + bytes(SEGMENT - MiB))
    seg = compress(bytes(SEGMENT))
    return b"".join([first, seg * (PAYLOAD // SEGMENT - 1), compress(b".")])


def lz4_member(data):
    blocks = []
    for i in range(0, len(data), 4 * MiB):
        part = data[i : i + 4 * MiB]
        if part == bytes(len(part)) and len(part) >= 64:
            blocks.append((True, lz4_zero_block(len(part))))
        else:
            blocks.append((False, part))
    return lz4_frame(blocks)


COMPRESSORS = {
    "gz": lambda d: gzip.compress(d, 9, mtime=0),
    "bz2": lambda d: bz2.compress(d, 9),
    "xz": lambda d: lzma.compress(d, preset=0),
    "lz4": lz4_member,
}


def big_bytes_pickle_plain():
    """The uncompressed 960 MiB pickle, for nesting (written in memory once)."""
    return BIG_HEAD + bytes(PAYLOAD) + b"."


def nested():
    inner = members(COMPRESSORS["gz"])
    return lzma.compress(bz2.compress(inner, 9), preset=0)


OPCODES = 4_300 * MiB


def opcodes4g():
    seg = gzip.compress(b"N0" * (SEGMENT // 2), 9, mtime=0)
    return b"".join(
        [gzip.compress(b"\x80\x02", mtime=0), seg * (OPCODES // SEGMENT), gzip.compress(b"N.", mtime=0)]
    )


BIGINT = 10 * MiB


def bigint_system():
    return (
        b"\x80\x02cos\nsystem\n\x8b" + struct.pack("<i", BIGINT) + b"\x7f" * BIGINT + b"\x85R."
    )


def bigint_plain():
    return b"\x80\x02\x8b" + struct.pack("<i", BIGINT) + b"\x7f" * BIGINT + b"."


# ------------------------------------------------------------ safetensors

TENSORS = 1_680_000


def many_tensors():
    entry = '"t{}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    body = "{" + ",".join(entry.format(i) for i in range(TENSORS)) + "}"
    header = body.encode()
    return struct.pack("<Q", len(header)) + header


def header_past_end():
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    return struct.pack("<Q", 1 << 20) + header + bytes(4)


# ------------------------------------------------------------------ numpy


def npy_header(descr, shape):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h = d.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h if len(h) < 65536 else (
        b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h)) + h
    )


def npy_dims(n):
    shape = "(" + ", ".join(["1"] * n) + ",)"
    return npy_header("<f4", shape) + bytes(4)


NPZ_MEMBER = 4_800 * MiB


def big_member_npz():
    head = npy_header("|u1", "(%d,)" % NPZ_MEMBER)
    body = deflate_bytes(head, NPZ_MEMBER)
    crc = zlib.crc32(head)
    zeros = bytes(CHUNK)
    for _ in range(NPZ_MEMBER // CHUNK):
        crc = zlib.crc32(zeros, crc)
    usize = len(head) + NPZ_MEMBER
    return zip_archive([("a.npy", 8, crc, len(body), usize, body)])


# ------------------------------------------------------------ the cases


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_streamed(path, parts):
    with open(path, "wb") as f:
        for p in parts:
            f.write(p)


def write_sparse(path, head, size, tail=b""):
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size - len(tail))
        f.seek(size - len(tail))
        f.write(tail)


def zlib_case(path):
    write(path, zlib_zeros(BIG_HEAD + NOISE, PAYLOAD - MiB, b"."))


CASES = {
    "zip_data0_bomb.pt": lambda p: write(p, zip_data0_bomb()),
    "zip_datapkl_bomb.pt": lambda p: write(p, zip_datapkl_bomb()),
    "bytes960m.pkl.gz": lambda p: write(p, members(COMPRESSORS["gz"])),
    "bytes960m.pkl.bz2": lambda p: write(p, members(COMPRESSORS["bz2"])),
    "bytes960m.pkl.xz": lambda p: write(p, members(COMPRESSORS["xz"])),
    "bytes960m.pkl.lz4": lambda p: write(p, members(COMPRESSORS["lz4"])),
    "bytes960m.pkl.zlib": zlib_case,
    "nested.pkl.gz.bz2.xz": lambda p: write(p, nested()),
    "opcodes4g.pkl.gz": lambda p: write(p, opcodes4g()),
    "many_tensors.safetensors": lambda p: write(p, many_tensors()),
    "big_member.npz": lambda p: write(p, big_member_npz()),
    "sparse3g.pkl": lambda p: write_sparse(p, b"\x80\x02", 3 << 30),
    "bigint_system.pkl": lambda p: write(p, bigint_system()),
    "bigint_plain.pkl": lambda p: write(p, bigint_plain()),
    "dims65.npy": lambda p: write(p, npy_dims(65)),
    "dims10000.npy": lambda p: write(p, npy_dims(10_000)),
    "tensor_past_storage.pt": lambda p: write(
        p,
        torch_zip(
            stored("archive/data.pkl", state_dict_pickle(100, 200)),
            stored("archive/data/0", bytes(400)),
        ),
    ),
    "bytes3g.pkl": lambda p: write_sparse(
        p, b"\x80\x04\x8e" + struct.pack("<Q", 3 << 30), 3 + 8 + (3 << 30) + 1, b"."
    ),
    "header_past_end.safetensors": lambda p: write(p, header_past_end()),
}

# ------------------------------------------------------------------ check


def inflated_size(data, wbits=-15, limit=None):
    """Bytes a deflate/zlib stream inflates to, in bounded memory."""
    d = zlib.decompressobj(wbits)
    total, buf = 0, data
    while buf and not d.eof:
        total += len(d.decompress(buf, 64 * MiB))
        buf = d.unconsumed_tail
        if limit is not None and total > limit:
            return total
    return total + len(d.flush())


def stream_size(opener, path):
    total = 0
    with opener(path) as f:
        while True:
            b = f.read(64 * MiB)
            if not b:
                return total
            total += len(b)


def zip_member(path, name):
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        h = f.read(30)
        n, e = struct.unpack_from("<HH", h, 26)
        f.seek(info.header_offset + 30 + n + e)
        return info, f.read(info.compress_size)


def check_zip_bomb(path, name, pickle_member):
    info, body = zip_member(path, name)
    assert info.file_size == DECLARED, info.file_size
    got = inflated_size(body)
    assert got >= BOMB, got
    with zipfile.ZipFile(path) as z:
        pkl = z.read("archive/data.pkl") if not pickle_member else None
    if pkl is not None:
        pickletools.dis(pkl, out=open(os.devnull, "w"))
    return "%s inflates to %d bytes, declared %d" % (name, got, DECLARED)


def check_pickle_head(path, size):
    assert os.path.getsize(path) == size, os.path.getsize(path)
    return "%d bytes" % size


def check_lz4(path):
    try:
        import lz4.frame
    except ImportError:
        with open(path, "rb") as f:
            assert struct.unpack("<I", f.read(4))[0] == 0x184D2204
        return "lz4 frame (lz4 module missing: content not verified)"
    return check_stream(lambda p: lz4.frame.open(p, "rb"), path, PAYLOAD + 12)


def check_stream(opener, path, size):
    with opener(path) as f:
        head = f.read(11)
    got = stream_size(opener, path)
    assert got == size, (got, size)
    return "decompresses to %d bytes, starts %r" % (got, head[:3])


def check_zlib(path):
    with open(path, "rb") as f:
        data = f.read()
    got = inflated_size(data, 15)
    assert got == PAYLOAD + 12, got
    return "zlib stream of %d bytes" % got


def check_nested(path):
    inner = bz2.decompress(lzma.decompress(open(path, "rb").read()))
    got = 0
    d = zlib.decompressobj(31)
    buf = inner
    while buf:
        got += len(d.decompress(buf, 64 * MiB))
        buf = d.unconsumed_tail
        if d.eof:
            buf = d.unused_data
            d = zlib.decompressobj(31) if buf else d
    assert got == PAYLOAD + 12, got
    return "xz(bz2(gzip)) of %d bytes" % got


def check_safetensors_many(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    assert len(header) == TENSORS and n < 100_000_000, (len(header), n)
    return "%d tensors in a %d-byte header" % (len(header), n)


def check_past_end(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
    assert n > os.path.getsize(path)
    return "header length %d, file %d bytes" % (n, os.path.getsize(path))


def check_npz(path):
    info, body = zip_member(path, "a.npy")
    assert info.file_size == NPZ_MEMBER + 128, info.file_size
    got = inflated_size(body)
    assert got == info.file_size, got
    return "a.npy inflates to %d bytes" % got


def check_npy(path, dims):
    with open(path, "rb") as f:
        data = f.read()
    hl = struct.unpack_from("<H" if data[6] == 1 else "<I", data, 8)[0]
    start = 10 if data[6] == 1 else 12
    header = data[start : start + hl].decode("latin1")
    assert header.count("1,") == dims, header[:80]
    return "%d dimensions" % dims


def check_tensor_past(path):
    with zipfile.ZipFile(path) as z:
        pkl = z.read("archive/data.pkl")
        assert len(z.read("archive/data/0")) == 400
    pickletools.dis(pkl, out=open(os.devnull, "w"))
    assert struct.pack("<i", 200) in pkl
    return "tensor of 200 floats, storage of 400 bytes"


def check_dis(path):
    with open(path, "rb") as f:
        head = f.read(7)
    assert head[:3] in (b"\x80\x02\x8b", b"\x80\x02c"), head
    assert os.path.getsize(path) > BIGINT
    ops = [op.name for op, _, _ in pickletools.genops(open(path, "rb").read())]
    assert "LONG4" in ops and ops[-1] == "STOP", ops
    return "LONG4 of %d bytes" % BIGINT


def check_sparse(path, size, head):
    with open(path, "rb") as f:
        got = f.read(len(head))
    assert got == head and os.path.getsize(path) == size
    return "%d bytes starting %r" % (size, head[:4])


CHECKS = {
    "zip_data0_bomb.pt": lambda p: check_zip_bomb(p, "archive/data/0", False),
    "zip_datapkl_bomb.pt": lambda p: check_zip_bomb(p, "archive/data.pkl", True),
    "bytes960m.pkl.gz": lambda p: check_stream(gzip.open, p, PAYLOAD + 12),
    "bytes960m.pkl.bz2": lambda p: check_stream(bz2.open, p, PAYLOAD + 12),
    "bytes960m.pkl.xz": lambda p: check_stream(lzma.open, p, PAYLOAD + 12),
    "bytes960m.pkl.lz4": check_lz4,
    "bytes960m.pkl.zlib": check_zlib,
    "nested.pkl.gz.bz2.xz": check_nested,
    "opcodes4g.pkl.gz": lambda p: check_stream(gzip.open, p, 2 + OPCODES // SEGMENT * SEGMENT + 2),
    "many_tensors.safetensors": check_safetensors_many,
    "big_member.npz": check_npz,
    "sparse3g.pkl": lambda p: check_sparse(p, 3 << 30, b"\x80\x02"),
    "bigint_system.pkl": check_dis,
    "bigint_plain.pkl": check_dis,
    "dims65.npy": lambda p: check_npy(p, 65),
    "dims10000.npy": lambda p: check_npy(p, 10_000),
    "tensor_past_storage.pt": check_tensor_past,
    "bytes3g.pkl": lambda p: check_sparse(
        p, 3 + 8 + (3 << 30) + 1, b"\x80\x04\x8e" + struct.pack("<Q", 3 << 30)
    ),
    "header_past_end.safetensors": check_past_end,
}


def main(argv):
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if argv[:1] == ["--list"]:
        print("\n".join(CASES))
        return 0
    check = argv[:1] == ["--check"]
    if check:
        argv = argv[1:]
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out, names = argv[0], argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print("unknown case(s): %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    failed = 0
    for name in names:
        path = os.path.join(out, name)
        if check:
            try:
                print("ok   %-28s %s" % (name, CHECKS[name](path)))
            except Exception as e:  # noqa: BLE001 - report every failing case
                failed += 1
                print("FAIL %-28s %r" % (name, e))
        else:
            CASES[name](path)
            print("%-28s %d bytes" % (name, os.path.getsize(path)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
