#!/usr/bin/env python3
"""Hand-built torch ZIP checkpoints probing the edges of weights_only loading.

Each file is a minimal `torch.save`-layout ZIP (archive/data.pkl written opcode
by opcode, archive/version, storages under archive/data/) built to sit on one
edge of `torch.load(weights_only=True)`: storage bounds, location tags, BUILD
on allowlisted types, REDUCE argument types, odd opcodes, member names. None
of them does anything but build data or fail; what torch does with each is
recorded by `scripts/torch_parity.py` (weights_only=True only: there is no
benign manifest here) into expected.json, and the scanner's prediction is
compared with it.

The ZIP members carry a fixed time (ZIP_TIME, when the committed files were
first written), so every run writes the same bytes.

Usage: gen_wo_edge_fixtures.py OUT_DIR
       gen_wo_edge_fixtures.py --check DIR   (exit 1 unless DIR holds exactly
                                             the files this script writes,
                                             byte for byte; expected.json is
                                             torch_parity.py's)
"""

import os
import struct
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

ZIP_TIME = "2026-11-26T16:46:34Z"

def S(s):
    """BINUNICODE."""
    return b"X" + struct.pack("<I", len(s)) + s


def storage(cls=b"torch\nFloatStorage", key=b"0", loc=b"cpu", numel=b"K\x02"):
    return b"(" + S(b"storage") + b"c" + cls + b"\n" + S(key) + S(loc) + numel + b"tQ"


def rebuild(st, size=b"K\x02\x85", stride=b"K\x01\x85", off=b"K\x00"):
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + st + off + size + stride
            + b"\x89ccollections\nOrderedDict\n)R" + b"tR")


CASES = {
    "ok": (b"\x80\x02" + rebuild(storage()) + b".", {"data/0": b"\0" * 8}),
    "size_past_storage": (b"\x80\x02" + rebuild(storage(), size=b"K\x04\x85") + b".", {"data/0": b"\0" * 8}),
    "offset_past_storage": (b"\x80\x02" + rebuild(storage(), off=b"K\x05") + b".", {"data/0": b"\0" * 8}),
    "negative_numel": (b"\x80\x02" + rebuild(storage(numel=b"J\xff\xff\xff\xff")) + b".", {"data/0": b""}),
    "bytes_storage_tag": (b"\x80\x02(U\x07storagectorch\nFloatStorage\n" + S(b"0") + S(b"cpu") + b"K\x02tQ.",
                          {"data/0": b"\0" * 8}),
    "legacy_tensor_classes": (b"\x80\x02ctorch\nFloatTensor\n)R.", {}),
    "size_build_empty": (b"\x80\x02ctorch\nSize\n)R}b.", {}),
    "device_newobj": (b"\x80\x02ctorch\ndevice\n" + S(b"cpu") + b"\x85\x81.", {}),
    "setitem_on_list": (b"\x80\x02]K\x01K\x02s.", {}),
    "dict_build_empty": (b"\x80\x02}}b.", {}),
    "stop_inside_mark": (b"\x80\x02K\x01(K\x02.", {}),
    "protocol3_bytes": (b"\x80\x03C\x02ab.", {}),
    "bytearray_empty": (b"\x80\x02c__builtin__\nbytearray\n)R.", {}),
    "counter_setitems": (b"\x80\x02ccollections\nCounter\n)R(K\x01K\x02u.", {}),
    "complex_build_truthy": (b"\x80\x02c__builtin__\ncomplex\nG?\xf0\x00\x00\x00\x00\x00\x00"
                             b"G\x00\x00\x00\x00\x00\x00\x00\x00\x86\x81K\x01b.", {}),
    "ordereddict_build_none": (b"\x80\x02ccollections\nOrderedDict\n)RNb.", {}),
    "ordereddict_build_pairs": (b"\x80\x02ccollections\nOrderedDict\n)R]\x85b.", {}),
    "ordereddict_build_int": (b"\x80\x02ccollections\nOrderedDict\n)RK\x01b.", {}),
    "binstring_utf8": (b"\x80\x02U\x02\xc3\xa9.", {}),
    "setitems_odd": (b"\x80\x02}(K\x01u.", {}),
    "long1_empty": (b"\x80\x02\x8a\x00.", {}),
    "tuple1_after_mark": (b"\x80\x02K\x01(\x85.", {}),
    "function_newobj": (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)\x81.", {}),
    # For conversion refusals: a class that is neither data nor dangerous,
    # a storage record of the wrong size, a storage record that is missing.
    "unknown_class": (b"\x80\x02}(" + S(b"model") + b"csklearn.linear_model\nLinearRegression\n)\x81}b" + S(b"w")
                      + rebuild(storage()) + b"u.", {"data/0": b"\0" * 8}),
    # The same class called (REDUCE) rather than made by __new__: its code
    # runs, so it is not data even with an empty state.
    "unknown_class_called": (b"\x80\x02}(" + S(b"model") + b"csklearn.linear_model\nLinearRegression\n)R}b"
                             + S(b"w") + rebuild(storage()) + b"u.", {"data/0": b"\0" * 8}),
    "storage_size_mismatch": (b"\x80\x02" + rebuild(storage()) + b".", {"data/0": b"\0" * 12}),
    "storage_record_missing": (b"\x80\x02" + rebuild(storage()) + b".", {}),
    # Bytes after data.pkl's STOP: torch unpickles one pickle and never reads
    # them (a deflated record that inflates past its declared size ends so).
    "bytes_after_stop": (b"\x80\x02" + rebuild(storage()) + b"." + b"\0" * 64, {"data/0": b"\0" * 8}),
}


def write(path, data_pkl, extra, raw_names=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", "3\n")
        for k, v in extra.items():
            z.writestr("archive/" + k, v)
    if raw_names:
        data = open(path, "rb").read()
        for old, new in raw_names:
            data = data.replace(old, new)
        open(path, "wb").write(data)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with fx.frozen_clock(ZIP_TIME):
        write_all(out_dir)
    print(f"wrote {len(CASES) + 1} files to {out_dir}")


def write_all(out_dir):
    for name, (pkl, extra) in CASES.items():
        write(os.path.join(out_dir, name + ".pt"), pkl, extra)
    # A member name that is not UTF-8: torch's record listing decodes names.
    write(os.path.join(out_dir, "non_utf8_member.pt"), b"\x80\x02}.", {"ZZ": b"x"},
          raw_names=[(b"archive/ZZ", b"archive/\xff\xfe")])


def check(directory):
    return fx.check_dir(main, directory, ignore=("expected.json",))


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
