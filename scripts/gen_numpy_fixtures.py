#!/usr/bin/env python3
"""Write small .npy fixtures and record what the real numpy does with each.

Usage: gen_numpy_fixtures.py [OUT_DIR]          (default: tests/fixtures/numpy)
       gen_numpy_fixtures.py --check [OUT_DIR]  (exit 1 unless OUT_DIR holds
                                                exactly what this writes)

Run it with the venv's Python (scripts/lib/venv.sh), whose numpy is the
reference. It writes:

- real `np.save` / `numpy.lib.format.write_array` outputs for every dtype
  family (bool, ints, uints, floats including float16 and longdouble,
  complex, bytes, str, void, datetime/timedelta with units, structured with
  nesting, subarrays, titles and padding, object, structured with objects),
  Fortran order, 0-d and empty arrays, formats 1.0, 2.0 and 3.0 and
  big-endian data;
- hand-built files with malformed or odd headers (bad magic, versions,
  truncation, lying lengths, non-dict headers, wrong keys, bad shapes and
  orders, Python 2 `3L`, oversized headers, comments, nesting at the
  tokenizer limit, negative or huge dimensions, short or trailing data,
  descriptors numpy accepts that Airlock deliberately does not interpret);
- manifest.json: for every file, what numpy does with it;
- dtype_strings.json: numpy's answer (`numpy.dtype(s)`) for about 300
  descriptor strings, valid and invalid; `descr_to_dtype` on about 80
  descriptor literals; and the same for every descriptor string numpy
  itself wrote into the fixtures ("written").

For each file the manifest records
- "header": numpy's own header reading (`read_magic`, `_check_version`,
  `_read_array_header` with no header size limit): the shape, order and
  dtype it yields, or the exception;
- "header_chars" and "py2_filter": the decoded header length numpy compares
  with its 10000-character limit, and whether the Python 2 retry was needed;
- "load": `np.load(path, allow_pickle=False)`, success or exception;
- "load_trusted": `np.load(path, allow_pickle=True)`, recorded only when the
  header parses and has no objects, so that no pickle is ever run.

Nothing here unpickles: object arrays are written by numpy, never loaded.
The output is deterministic for a given numpy and Python.
"""

import ast
import json
import os
import pathlib
import platform
import sys
import warnings

import numpy as np
from numpy.lib import _format_impl as npformat  # read_magic, _check_version, _read_array_header

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

MAGIC = b"\x93NUMPY"


def npy_bytes(header, data=b"", version=(1, 0), pad=True, length=None, encoding=None):
    """A .npy file with `header` (str or bytes) laid out as numpy lays it out."""
    if isinstance(header, str):
        header = header.encode(encoding or ("utf8" if version == (3, 0) else "latin1"))
    len_size = 2 if version == (1, 0) else 4
    if pad:
        total = len(MAGIC) + 2 + len_size + len(header) + 1
        header += b" " * ((64 - total % 64) % 64) + b"\n"
    n = len(header) if length is None else length
    return MAGIC + bytes(version) + n.to_bytes(len_size, "little") + header + data


def describe_dtype(dt):
    sub = dt.subdtype
    return {
        "itemsize": dt.itemsize,
        "hasobject": bool(dt.hasobject),
        "kind": dt.kind,
        "str": dt.str,
        "names": list(dt.names) if dt.names is not None else None,
        "offsets": [dt.fields[n][1] for n in dt.names] if dt.names is not None else None,
        "subarray_shape": list(sub[1]) if sub is not None else None,
        "descr": repr(dt.descr) if dt.names is not None else None,
    }


def error(e):
    return {"ok": False, "error": type(e).__name__, "message": str(e)[:300]}


def read_header(path):
    """numpy's header reading, without its header size limit."""
    with open(path, "rb") as f:
        try:
            version = npformat.read_magic(f)
            npformat._check_version(version)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                shape, fortran, dtype = npformat._read_array_header(f, version, max_header_size=2**64)
        except Exception as e:  # noqa: BLE001 - every failure is recorded
            return error(e), None
    py2 = any("Python 2" in str(w.message) for w in caught)
    result = {
        "ok": True,
        "shape": [str(int(d)) for d in shape],
        "shape_has_bool": any(isinstance(d, bool) for d in shape),
        "fortran_order": fortran,
        "dtype": describe_dtype(dtype),
    }
    return result, py2


def header_chars(data):
    """Length of the decoded header, as numpy compares it with max_header_size."""
    try:
        version = (data[6], data[7])
        len_size, encoding = {(1, 0): (2, "latin1"), (2, 0): (4, "latin1"), (3, 0): (4, "utf8")}[version]
        n = int.from_bytes(data[8 : 8 + len_size], "little")
        raw = data[8 + len_size : 8 + len_size + n]
        if len(raw) != n:
            return None
        return len(raw.decode(encoding))
    except Exception:  # noqa: BLE001 - no header to measure
        return None


def load(path, allow_pickle):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.load(path, allow_pickle=allow_pickle)
        return {"ok": True, "shape": [str(d) for d in a.shape], "dtype": a.dtype.str}
    except Exception as e:  # noqa: BLE001 - every failure is recorded
        return error(e)


def real_fixtures():
    """(name, description, array, version or None) written by numpy itself."""
    out = []

    def add(name, desc, arr, version=None):
        out.append((name, desc, arr, version))

    add("bool.npy", "bool", np.array([True, False, True]))
    for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        add(f"{t}.npy", t, np.arange(3, dtype=t))
    def filled(values, dtype):
        a = np.array(values, dtype=dtype)
        if a.dtype.kind in "fc" and a.dtype.itemsize // (2 if a.dtype.kind == "c" else 1) == 16:
            if np.finfo(np.longdouble).nmant == 63:
                # x87 extended precision: 10 value bytes in 16, the rest is
                # whatever memory held. Zero it so the output is reproducible.
                raw = a.view(np.uint8).reshape(len(a), -1, 16).copy()
                raw[:, :, 10:] = 0
                a = raw.reshape(-1).view(a.dtype)
        return a

    for t in ("float16", "float32", "float64", "longdouble"):
        add(f"{t}.npy", t, filled([0.5, -1.25, 3.0], t))
    for t in ("complex64", "complex128", "clongdouble"):
        add(f"{t}.npy", t, filled([1 + 2j, -0.5j], t))
    add("bytes_s3.npy", "fixed-size bytes", np.array([b"ab", b"cde"]))
    add("str_u3.npy", "fixed-size unicode", np.array(["ab", "cd\u00e9"]))
    add("void_v4.npy", "raw void", np.zeros(2, dtype="V4"))
    add("datetime_d.npy", "datetime64[D]", np.array(["2024-01-02", "NaT"], dtype="M8[D]"))
    add("datetime_ns.npy", "datetime64[ns]", np.array([0, 1], dtype="M8[ns]"))
    add("datetime_25us.npy", "datetime64[25us]", np.array([0, 1], dtype="M8[25us]"))
    add("datetime_generic.npy", "generic datetime64", np.array(["NaT"], dtype="M8"))
    add("timedelta_s.npy", "timedelta64[s]", np.array([1, -2], dtype="m8[s]"))
    add("timedelta_y.npy", "timedelta64[Y]", np.array([1], dtype="m8[Y]"))
    add(
        "struct_simple.npy",
        "structured int32 + float64",
        np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
    )
    add(
        "struct_nested.npy",
        "nested structured with a subarray field",
        np.zeros(2, dtype=[("x", [("y", "<i2"), ("z", "S3")]), ("w", "<f4", (2, 3))]),
    )
    add(
        "struct_titles.npy",
        "structured with a title",
        np.zeros(2, dtype=np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f8"], "titles": ["Alpha", None]})),
    )
    add(
        "struct_padding.npy",
        "structured with gaps and trailing padding",
        np.zeros(2, dtype=np.dtype({"names": ["a", "b"], "formats": ["u1", "<i4"], "offsets": [0, 4], "itemsize": 12})),
    )
    add(
        "struct_aligned.npy",
        "aligned structured (padding from alignment)",
        np.zeros(2, dtype=np.dtype([("a", "u1"), ("b", "<i8")], align=True)),
    )
    add(
        "struct_big_endian.npy",
        "structured with big-endian fields",
        np.zeros(2, dtype=[("a", ">i4"), ("b", ">f8"), ("c", ">U2")]),
    )
    add("object.npy", "object array (pickled payload)", np.array([1, "a", None], dtype=object))
    add(
        "struct_object.npy",
        "structured with an object field",
        np.array([(1, "x")], dtype=[("a", "<i4"), ("b", "O")]),
    )
    add(
        "struct_object_subarray.npy",
        "object subarray inside a nested field",
        np.zeros(1, dtype=[("outer", [("o", "O", (2,))])]),
    )
    add("fortran.npy", "Fortran order 2x3", np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)))
    add("fortran_3d.npy", "Fortran order 2x3x2", np.asfortranarray(np.arange(12, dtype="<u2").reshape(2, 3, 2)))
    add("scalar_0d.npy", "0-d array", np.array(3.5))
    add("empty_0.npy", "empty, shape (0,)", np.zeros((0,)))
    add("empty_3x0.npy", "empty, shape (3, 0)", np.zeros((3, 0), dtype="<i2"))
    add("multi_2x3x4.npy", "int8, shape (2, 3, 4)", np.arange(24, dtype="i1").reshape(2, 3, 4))
    for t in (">i4", ">f8", ">c16", ">U2", ">M8[s]", ">f2"):
        name = "big_endian_" + t[1:].replace("[", "_").replace("]", "") + ".npy"
        add(name, f"big-endian {t}", np.arange(2).astype(t))
    add("v1_0.npy", "format 1.0 via write_array", np.arange(3, dtype="<i4"), (1, 0))
    add("v2_0.npy", "format 2.0 via write_array", np.arange(3, dtype="<i4"), (2, 0))
    add("v3_0.npy", "format 3.0 via write_array", np.arange(3, dtype="<i4"), (3, 0))
    add(
        "v3_utf8_name.npy",
        "format 3.0 chosen by np.save for a non-latin-1 field name",
        np.zeros(2, dtype=[("\u03b1\u03b2", "<i4"), ("\u540d", "<f4")]),
    )
    add(
        "v2_utf8_name_latin1.npy",
        "format 2.0 with a latin-1 field name",
        np.zeros(1, dtype=[("caf\u00e9", "<i4")]),
        (2, 0),
    )
    return out


def base_header(descr="'<i4'", fortran="False", shape="(2,)"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def raw_fixtures():
    """(name, description, bytes) built by hand."""
    out = []

    def add(name, desc, data):
        out.append((name, desc, data))

    i4x2 = b"\x01\x00\x00\x00\x02\x00\x00\x00"
    good = npy_bytes(base_header(), i4x2)
    add("bad_magic.npy", "magic \\x93NUMPX", b"\x93NUMPX" + good[6:])
    add("not_npy_text.npy", "plain text", b"hello, world\n")
    add("empty_file.npy", "zero bytes", b"")
    add("short_magic.npy", "4 bytes of the magic", MAGIC[:4])
    add("truncated_magic.npy", "magic without the minor version", MAGIC + b"\x01")
    for v in ((4, 0), (1, 1), (0, 0), (2, 1)):
        data = bytearray(good)
        data[6:8] = bytes(v)
        add(f"version_{v[0]}_{v[1]}.npy", f"format version {v[0]}.{v[1]}", bytes(data))
    add("truncated_header_len_v2.npy", "format 2.0 with 2 of 4 length bytes", MAGIC + b"\x02\x00\x10\x00")
    add("truncated_header.npy", "file ends inside the header", good[:40])
    add("header_len_beyond_file.npy", "header length 500 in a short file", npy_bytes(base_header(), length=500))
    add("header_len_4gib.npy", "format 2.0 header length 0xffffffff", MAGIC + b"\x02\x00\xff\xff\xff\xff{}")
    add(
        "header_len_too_short.npy",
        "header length cuts the dict short",
        npy_bytes(base_header(), i4x2, pad=False, length=30),
    )
    padded = len(npy_bytes(base_header())) - 10
    add("header_len_too_long.npy", "header length runs 4 bytes into the data", npy_bytes(base_header(), i4x2, length=padded + 4))
    add("non_dict_list.npy", "header is a list", npy_bytes("[1, 2]"))
    add("non_dict_str.npy", "header is a string", npy_bytes("'descr'"))
    add("non_dict_tuple.npy", "header is a bare tuple", npy_bytes("'descr', '<i4'"))
    add("missing_key.npy", "no fortran_order", npy_bytes("{'descr': '<i4', 'shape': (2,), }", i4x2))
    add("extra_key.npy", "an extra key", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': 1}", i4x2))
    add("bytes_key.npy", "a bytes key", npy_bytes("{b'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", i4x2))
    add("dup_key.npy", "descr twice, the last wins", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'descr': '<i4'}", i4x2))
    add("bad_shape_list.npy", "shape is a list", npy_bytes(base_header(shape="[2]"), i4x2))
    add("bad_shape_float.npy", "shape has a float", npy_bytes(base_header(shape="(2.0,)"), i4x2))
    add("bad_shape_str.npy", "shape has a string", npy_bytes(base_header(shape="('2',)"), i4x2))
    add("bad_shape_int.npy", "shape is an int", npy_bytes(base_header(shape="2"), i4x2))
    add("bool_shape.npy", "shape (True, 2)", npy_bytes(base_header(shape="(True, 2)"), i4x2))
    add("fortran_order_int.npy", "fortran_order 0", npy_bytes(base_header(fortran="0"), i4x2))
    add("fortran_order_none.npy", "fortran_order None", npy_bytes(base_header(fortran="None"), i4x2))
    add("py2_long.npy", "Python 2 header with 2L, 3L", npy_bytes(base_header("'<i8'", shape="(2L, 3L)"), bytes(48)))
    add("py2_long_spaced.npy", "Python 2 L after a space", npy_bytes(base_header("'<i8'", shape="(2 L,)"), bytes(16)))
    add("py2_long_v2.npy", "Python 2 header in format 2.0", npy_bytes(base_header("'<i8'", shape="(2L,)"), bytes(16), version=(2, 0)))
    add("py2_long_v3.npy", "2L in format 3.0: no retry", npy_bytes(base_header("'<i8'", shape="(2L,)"), bytes(16), version=(3, 0)))
    big = base_header() + " " * 10100
    add("header_over_10000.npy", "a valid header padded past 10000 characters", npy_bytes(big, i4x2))
    add("header_over_10000_v2.npy", "the same in format 2.0", npy_bytes(big, i4x2, version=(2, 0)))
    add("header_10000_exactly.npy", "header of exactly 10000 characters", npy_bytes(base_header() + " " * (10000 - len(base_header()) - 1) + "\n", i4x2, pad=False))
    add("comment_in_header.npy", "a comment and newlines inside the dict", npy_bytes("{'descr': '<i4',  # the dtype\n 'fortran_order': False,\n 'shape': (2,)}", i4x2))
    add("crlf_header.npy", "CRLF line breaks inside the dict", npy_bytes("{'descr': '<i4',\r\n 'fortran_order': False,\r\n 'shape': (2,)}", i4x2))
    add("leading_spaces.npy", "spaces and a tab before the dict", npy_bytes(" \t {'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", i4x2))
    add("leading_newline_indent.npy", "an indented dict on the second line", npy_bytes("\n  {'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", i4x2))
    add("no_padding.npy", "header without alignment padding or newline", npy_bytes(base_header(), i4x2, pad=False))
    add("nul_in_header.npy", "a NUL byte inside the header", npy_bytes(base_header("'<i4\x00'"), i4x2))
    deep_ok = base_header(shape="(" * 199 + "2," + ")" * 199)
    add("nesting_200.npy", "200 brackets open at once", npy_bytes(deep_ok, i4x2))
    deep_bad = base_header(shape="(" * 200 + "2," + ")" * 200)
    add("nesting_201.npy", "201 brackets open at once", npy_bytes(deep_bad, i4x2))
    bad_utf8 = npy_bytes(base_header(), i4x2, version=(3, 0))
    bad_utf8 = bad_utf8[:20] + b"\xff" + bad_utf8[21:]
    add("utf8_invalid_v3.npy", "format 3.0 header that is not UTF-8", bad_utf8)
    add("latin1_name_v1.npy", "latin-1 field name written as a byte", npy_bytes(b"{'descr': [('caf\xe9', '<i4')], 'fortran_order': False, 'shape': (2,)}", i4x2))
    add("escapes_in_name.npy", "escapes in a field name", npy_bytes("{'descr': [('a\\x41\\u00e9\\n', '<i4')], 'fortran_order': False, 'shape': (2,)}", i4x2))
    add("titles_padding_subarray.npy", "hand-written titles, padding and a subarray field", npy_bytes(base_header("[(('T', 'a'), '<i4'), ('', '|V4'), ('b', '<f8', (2,))]", shape="(1,)"), bytes(24)))
    add("descr_i3.npy", "descr 'i3' numpy does not understand", npy_bytes(base_header("'i3'"), i4x2))
    add("descr_none.npy", "descr None", npy_bytes(base_header("None"), i4x2))
    add("descr_dup_field.npy", "two fields named a", npy_bytes(base_header("[('a', '<i4'), ('a', '<i4')]", shape="(1,)"), i4x2))
    add("descr_control_char.npy", "descr '\\x05' (numpy's type number 5, int32)", npy_bytes(base_header("'\\x05'"), i4x2))
    add("descr_a5.npy", "deprecated descr 'a5'", npy_bytes(base_header("'a5'", shape="(1,)"), b"abcde"))
    add("descr_strtol.npy", "descr 'i 4', read by numpy with strtol", npy_bytes(base_header("'i 4'"), i4x2))
    add("descr_stringdtype.npy", "descr 'T' (StringDType): not interpreted", npy_bytes(base_header("'T'"), bytes(32)))
    add("descr_commastring.npy", "descr 'i4,f8': not interpreted", npy_bytes(base_header("'i4,f8'", shape="(1,)"), bytes(12)))
    add("descr_inherit_tuple.npy", "descr ('<f8', None): not interpreted", npy_bytes(base_header("('<f8', None)", shape="(1,)"), bytes(8)))
    add("descr_datetime_divisor.npy", "descr 'M8[us/2]': not interpreted", npy_bytes(base_header("'M8[us/2]'", shape="(1,)"), bytes(8)))
    add("descr_subarray.npy", "top-level subarray descr, shape (2,)", npy_bytes(base_header("('<i4', (2,))"), bytes(16)))
    add("descr_subarray_one.npy", "top-level subarray of one value", npy_bytes(base_header("('<i4', (1,))"), i4x2))
    add("descr_subarray_empty.npy", "top-level subarray, shape (0,)", npy_bytes(base_header("('<i4', (2,))", shape="(0,)")))
    add("descr_flexible_size.npy", "('S', 5): a size for a flexible type", npy_bytes(base_header("('S', 5)", shape="(1,)"), b"hello"))
    add("object_garbage.npy", "object dtype over bytes that are no pickle", npy_bytes(base_header("'|O'"), b"not a pickle"))
    add("object_bool_shape.npy", "object dtype with shape (True, -1)", npy_bytes(base_header("'|O'", shape="(True, -1)"), b"x"))
    add("negative_dim.npy", "shape (-1,)", npy_bytes(base_header(shape="(-1,)"), i4x2))
    add("negative_dims_2.npy", "shape (-1, -2)", npy_bytes(base_header(shape="(-1, -2)"), i4x2))
    add("shape_2_63.npy", "shape (2**63,)", npy_bytes(base_header(shape="(9223372036854775808,)"), i4x2))
    add("shape_huge.npy", "shape (2**62,)", npy_bytes(base_header(shape="(4611686018427387904,)"), i4x2))
    add("shape_overflow.npy", "shape (2**32, 2**32): int64 product wraps to 0", npy_bytes(base_header(shape="(4294967296, 4294967296)"), i4x2))
    add("zero_dim_huge.npy", "shape (2**40, 0): empty", npy_bytes(base_header(shape="(1099511627776, 0)")))
    add("zero_dim_too_big.npy", "shape (2**61, 0) of int32: too big", npy_bytes(base_header(shape="(2305843009213693952, 0)")))
    add("s0_huge_count.npy", "descr S0 with 2**62 elements of 0 bytes", npy_bytes(base_header("'S0'", shape="(4611686018427387904,)")))
    add("lying_shape.npy", "shape (10,) over 2 elements of data", npy_bytes(base_header(shape="(10,)"), i4x2))
    add("trailing_bytes.npy", "bytes after the data", npy_bytes(base_header(), i4x2 + b"TRAILING DATA"))
    add("data_one_short.npy", "data one byte short", npy_bytes(base_header(), i4x2[:-1]))
    add("scalar_0d_hand.npy", "hand-written 0-d header", npy_bytes(base_header(shape="()"), i4x2[:4]))
    add("set_descr_empty.npy", "descr set(): an empty structured dtype", npy_bytes(base_header("set()"), b""))
    return out


DTYPE_STRINGS = [
    # What numpy writes.
    "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", "<f16", "<c8", "<c16", "<c32",
    "|S0", "|S5", "<U0", "<U3", "|V4", "|O", "<M8", "<M8[D]", "<M8[ns]", "<M8[25us]", "<m8[s]", "<m8[Y]",
    ">i4", ">f8", ">c16", ">U2", ">M8[s]", ">f2",
    # Byte orders and their absence.
    "i4", "=i4", "|i4", "<<i4", "<", "|", "", "<b1", ">u1", "<S5", "=S5", ">U5", "|U5", "<O", ">O", "<V3", ">V5",
    # Kind and size, read with strtol.
    "b1", "b2", "?1", "i1", "i3", "i0", "i 4", "i+4", "i-4", "i04", "i\t4", "i\x0b4", "i\r4", "i+08", " i4", "i4 ",
    "f3", "f0", "f10", "f12", "f16", "c4", "c24", "c32", "u3", "O4", "O8", "O16", "O0", "O00", "O08", "O+8", "|O4",
    ">O8", "c1", "T4", "M4", "m4", "M08", "m+8", "M 8", "Ms", "mX",
    "S", "S0", "S1", "S+5", "S 5", "S  5", "S\n5", "S5\n", "S+-5", "S0x5", "S-0", "S-1", "S2147483647", "S2147483648",
    "S999999999999999999999999999999", "V0", "V8", "V2147483647", "U0", "U2", "U+0", "U 3", "U536870911",
    "U536870912", "U1073741824", "U1073741825", "a", "a0", "a1", "a5", "<a", "<a5", ">a",
    # One-character codes and numpy's raw type numbers.
    "?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "n", "N", "p", "P", "e", "f", "d", "g", "F", "D", "G",
    "c", "|c", "<c", "M", "m", "O", "V", "U", "T", "<T", "<?", ">?", ">b", ">S", "<U", ">U", "=U", "<M", ">m", "Z",
    "\x00", "\x01", "\x05", "\t", "\n", "\r", "\x11", "\x12", "\x17", "\x18", "\x1f", "<\x05", ">\x05", ">\t",
    "\x00\x00", "S\x00", "i\x004", "i8\x00",
    # Datetime units.
    "M8", "m8", "<M8", ">M8[ns]", "M8[us]", "M8[0us]", "M8[-0us]", "M8[-1us]", "M8[ 5us]", "M8[+5us]", "M8[05us]",
    "M8[\t5us]", "M8[5 us]", "M8[ us]", "M8[us", "M8us", "M8[]", "M8[xx]", "M8[B]", "M8[1]", "M8[us]]", "M8[[us]",
    "M8[us]x", "M8[us]\x00", "M8[Y]", "M8[M]", "M8[W]", "M8[D]", "M8[h]", "M8[m]", "M8[s]", "M8[ms]", "M8[ps]",
    "M8[fs]", "M8[as]", "M8[\u03bcs]", "M8[5\u03bcs]", "M8[generic]", "M8[2generic]", "M8[us/2]", "M8[2D/3]",
    "M8[2147483647us]", "M8[2147483648us]", "M8[99999999999us]", "M8[1Y]", "datetime64", "datetime64[ns]",
    "<datetime64[ns]", "|datetime64", "timedelta64", "timedelta64[s]", ">timedelta64[ms]", "datetime6",
    "datetime64x", "datetime64[]", "Mx",
    # Comma strings and repeat prefixes.
    "i4,f8", "i4, f8", "i4,", "(2,)i4", "2i4", "1i4", "(2,3)f8", "<(2,)i4", "()i4", ">()i4", "f8[2]",
    # Names.
    "bool", "bool_", "byte", "ubyte", "short", "ushort", "intc", "uintc", "int", "uint", "long", "ulong", "longlong",
    "ulonglong", "intp", "uintp", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "half",
    "single", "double", "float", "longdouble", "float16", "float32", "float64", "float128", "csingle", "cdouble",
    "clongdouble", "complex", "complex64", "complex128", "complex256", "object", "object_", "bytes", "bytes_", "str",
    "str_", "unicode", "void", "int_", "Float32", "<float32", "=bool", "|bool", "bool ", "BOOL", "Int32", "int0",
    "uint0", "bool8", "object0", "str0", "bytes0", "void0", "float_", "complex_", "longfloat", "cfloat", "string_",
    "unicode_", "\u00e9", "S\u0665", "i\u0664",
]

DESCR_LITERALS = [
    "'<i4'", "('<i4', 1)", "('<i4', (1,))", "('<i4', ())", "('<i4', [])", "('<i4', [2])", "('<i4', 0)",
    "('<i4', -1)", "('<i4', (2, -1))", "('<i4', True)", "('<i4', (True, 2))", "('<i4', 2.0)", "('<i4', None)",
    "('<f8', None)", "('<i4', 'f4')", "('<i4', 'i2,i2')", "('<i4', (2,), 'junk')", "('<i4',)", "()", "('S', 5)",
    "('U', 5)", "('V', 5)", "('S0', 5)", "('S', (2,))", "('S', -1)", "('S', 0)", "('S', ())", "('U', 536870912)",
    "('S', 2147483648)", "('S', True)", "('O', 2)", "('|O', (2,))", "('|O', 0)", "(('<i4', (2,)), (3,))",
    "(('<i4', 0), 5)", "('<i4', (2147483648,))", "('<i4', (2147483647,))", "('|i1', (2147483647,))",
    "('<i4', 1099511627776)", "('<i4', (" + "1, " * 64 + "))", "('<i4', (" + "1, " * 65 + "))",
    "[]", "[('', '|V4')]", "[('', '<i4')]", "[('', '<i4', (2,))]", "[('a', '<i4'), ('', '|V4'), ('b', '<f8')]",
    "[('a', '<i4'), ('a', '<f8')]", "[(('t', 'a'), '<i4')]", "[(('a', 'a'), '<i4')]",
    "[(('t', 'a'), '<i4'), (('t', 'b'), '<i4')]", "[(('b', 'a'), '<i4'), ('b', '<i4')]", "[((5, 'a'), '<i4')]",
    "[((None, 'a'), '<i4')]", "[(5, '<i4')]", "[(b'a', '<i4')]", "[('a', '<i4', 2)]", "[('a', '<i4', ())]",
    "[('a',)]", "[('a', '<i4', 2, 3)]", "['ab']", "[['a', '<i4']]", "{'ab': 1}", "[('a', 'i1'), ('b', 'O')]",
    "[('a', [('b', '<i4'), ('c', 'O')])]", "[('a', 'O'), ('', '|V3'), ('b', 'O')]", "[('', 'V0')]", "[('a', 'S')]",
    "[('a', 'S2147483647'), ('b', 'S1')]", "[(('', ''), '<i4')]", "[(('', 'a'), '<i4')]", "b''", "b'<i4'", "{}",
    "set()", "None", "5", "1.5", "...", "[('a', b'<i4')]", "[('a', None)]", "([('a', '<i4')], (2,))", "([], 5)",
]


def dtype_result(make):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = make()
    except Exception as e:  # noqa: BLE001 - every failure is recorded
        return error(e)
    return {"ok": True, **describe_dtype(dt)}


def written_strings(descr, out):
    """Every dtype string inside a descriptor numpy wrote."""
    if isinstance(descr, str):
        out.add(descr)
    elif isinstance(descr, tuple):
        written_strings(descr[0], out)
    elif isinstance(descr, list):
        for field in descr:
            written_strings(field[1], out)


def write_json(path, obj):
    """JSON with one list item per line: small, and diffs stay readable."""
    parts = []
    for key, value in obj.items():
        if isinstance(value, list):
            items = ",\n  ".join(json.dumps(v, ensure_ascii=True, separators=(",", ":")) for v in value)
            parts.append(f"{json.dumps(key)}: [\n  {items}\n ]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value)}")
    path.write_text("{\n " + ",\n ".join(parts) + "\n}\n")


def main():
    args = sys.argv[1:]
    check = args[:1] == ["--check"]
    out = args[1 if check else 0] if len(args) > check else os.path.join(fx.ROOT, "tests", "fixtures", "numpy")
    if check:
        sys.exit(fx.check_dir(write, out))
    write(out)


def write(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.npy"):
        old.unlink()
    files = []
    written = set()
    for name, desc, arr, version in real_fixtures():
        path = out / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open(path, "wb") as f:
                if version is None:
                    np.save(f, arr)
                else:
                    npformat.write_array(f, arr, version=version)
        written_strings(npformat.dtype_to_descr(arr.dtype), written)
        files.append((name, desc, "numpy"))
    for name, desc, data in raw_fixtures():
        (out / name).write_bytes(data)
        files.append((name, desc, "hand-built"))

    manifest = []
    for name, desc, origin in files:
        path = out / name
        data = path.read_bytes()
        header, py2 = read_header(path)
        entry = {
            "file": name,
            "description": desc,
            "origin": origin,
            "size": len(data),
            "header": header,
            "header_chars": header_chars(data),
            "py2_filter": py2,
            "load": load(path, allow_pickle=False),
            "load_trusted": None,
        }
        if header["ok"] and not header["dtype"]["hasobject"]:
            entry["load_trusted"] = load(path, allow_pickle=True)
        manifest.append(entry)

    versions = {"numpy": np.__version__, "python": platform.python_version()}
    write_json(out / "manifest.json", {**versions, "files": manifest})
    strings = [{"descr": s, "numpy": dtype_result(lambda s=s: np.dtype(s))} for s in DTYPE_STRINGS]
    literals = [
        {"source": src, "numpy": dtype_result(lambda src=src: npformat.descr_to_dtype(ast.literal_eval(src)))}
        for src in DESCR_LITERALS
    ]
    written = [{"descr": s, "numpy": dtype_result(lambda s=s: np.dtype(s))} for s in sorted(written)]
    table = {**versions, "strings": strings, "literals": literals, "written": written}
    write_json(out / "dtype_strings.json", table)
    total = sum(p.stat().st_size for p in out.iterdir())
    accepted = sum(1 for s in strings if s["numpy"]["ok"])
    print(
        f"{len(manifest)} files, {len(strings)} dtype strings ({accepted} accepted by numpy), "
        f"{len(literals)} descriptor literals, {total} bytes in {out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    main()
