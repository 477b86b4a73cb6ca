#!/usr/bin/env python3
"""Check the files Airlock's writers wrote against the real loaders.

Usage: check_written.py DIR

DIR holds what the Rust test crates/tensors/tests/writer_parity.rs wrote
(AIRLOCK_WRITER_PARITY_DIR=DIR): .safetensors and .pt files, and
expected.json and large.expected.json, which say for every file what its
loader must return, computed in Rust independently of the writers. Large
tensors are compared by their first and last bytes, and a file marked
mmap_only (a sparse checkpoint past 4 GiB) is only loaded with mmap=True.

For every .safetensors file:
  - safetensors.torch.load_file returns exactly the expected tensors, each
    with the expected dtype, shape and C-order bytes;
  - its __metadata__ (safe_open(...).metadata()) is the expected one;
  - safetensors.torch.save of what was loaded, with that metadata, lays it
    out the same: header length and entries in the same order, padding,
    data (only the order of the metadata keys, which the library writes in
    hash order, may differ).

For every .pt file:
  - Python's zipfile reads it: every record stored, its CRC-32 right
    (testzip), its data 64-byte aligned; the records are torch's, in torch's
    order, with torch's contents for byteorder, version, .format_version and
    .storage_alignment;
  - torch.serialization.get_unsafe_globals_in_checkpoint finds nothing;
  - torch.load(path, weights_only=True) returns the expected tree: the same
    containers, keys in order, values, and tensors with the expected dtype,
    shape, stride, storage offset, requires_grad, Parameter-ness and bytes;
    a tensor under two names is one object, and tensors of one storage
    share it (tensors of different storages do not);
  - the same with mmap=True, and, for files in torch's own ZIP64 layout,
    with torch computing record offsets from the layout alone
    (config.load.calculate_storage_offsets) under TORCH_SERIALIZATION_DEBUG=1,
    which checks each computed offset against the real one.

Every file in DIR must be in expected.json and the other way round. Exits
nonzero on any mismatch, listing them all.
"""

import collections
import contextlib
import json
import os
import struct
import sys
import warnings
import zipfile

import torch
import torch.utils.serialization
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_save

# complex32 tensors warn that ComplexHalf support is experimental.
warnings.filterwarnings("ignore", category=UserWarning)

TORCH_RECORDS_HEAD = ["data.pkl", ".format_version", ".storage_alignment", "byteorder"]
TORCH_RECORDS_TAIL = ["version", ".data/serialization_id"]


def tensor_bytes(t):
    """The tensor's elements in C order, as bytes, without touching their
    values: an as_strided uint8 view of the storage with one more dimension
    for the bytes of each element."""
    es = t.element_size()
    st = t.untyped_storage()
    u = torch.empty(0, dtype=torch.uint8).set_(st, 0, (st.nbytes(),), (1,))
    v = u.as_strided(list(t.shape) + [es], [s * es for s in t.stride()] + [1], t.storage_offset() * es)
    return v.contiguous().numpy().tobytes()


def float_hex(x):
    return struct.pack("<d", x).hex()


class Tree:
    """Compares a loaded object with the expected tagged tree, tracking
    tensor identities and storage sharing across the whole file."""

    def __init__(self, errors, where):
        self.errors = errors
        self.where = where
        self.tensor_of_id = {}  # expected tensor id -> loaded object
        self.id_of_object = {}  # id(loaded object) -> expected tensor id
        self.ptr_of_storage = {}  # expected storage -> data_ptr
        self.storage_of_ptr = {}  # data_ptr -> expected storage

    def fail(self, path, message):
        self.errors.append(f"{self.where}: {path or '<root>'}: {message}")

    def python_value(self, e):
        """The Python value of an expected non-tensor leaf (for sets)."""
        t, v = e["t"], e.get("v")
        if t == "none":
            return None
        if t in ("bool", "str"):
            return v
        if t == "int":
            return int(v)
        if t == "float":
            return struct.unpack("<d", bytes.fromhex(v))[0]
        if t == "complex":
            return complex(*(struct.unpack("<d", bytes.fromhex(x))[0] for x in v))
        if t == "bytes":
            return bytes.fromhex(v)
        if t == "tuple":
            return tuple(self.python_value(x) for x in v)
        raise ValueError(f"no Python value for {t} in a set")

    def check(self, obj, e, path=""):
        t, v = e["t"], e.get("v")
        simple = {
            "none": lambda: obj is None,
            "bool": lambda: type(obj) is bool and obj == v,
            "int": lambda: type(obj) is int and str(obj) == v,
            "float": lambda: type(obj) is float and float_hex(obj) == v,
            "complex": lambda: type(obj) is complex and [float_hex(obj.real), float_hex(obj.imag)] == v,
            "str": lambda: type(obj) is str and obj == v,
            "bytes": lambda: type(obj) is bytes and obj.hex() == v,
            "bytearray": lambda: type(obj) is bytearray and obj.hex() == v,
            "dtype": lambda: isinstance(obj, torch.dtype) and str(obj) == v,
            "device": lambda: isinstance(obj, torch.device) and str(obj) == v,
            "size": lambda: type(obj) is torch.Size and list(obj) == v,
            "set": lambda: type(obj) is set and obj == {self.python_value(x) for x in v},
        }
        if t in simple:
            if not simple[t]():
                self.fail(path, f"expected {t} {v!r}, loaded {type(obj).__name__} {obj!r}")
            return
        if t in ("list", "tuple"):
            kind = list if t == "list" else tuple
            if type(obj) is not kind or len(obj) != len(v):
                self.fail(path, f"expected a {t} of {len(v)}, loaded {type(obj).__name__} {obj!r:.80}")
                return
            for i, (o, x) in enumerate(zip(obj, v)):
                self.check(o, x, f"{path}.{i}" if path else str(i))
            return
        if t in ("dict", "odict", "counter"):
            kind = {"dict": dict, "odict": collections.OrderedDict, "counter": collections.Counter}[t]
            if type(obj) is not kind or len(obj) != len(v):
                self.fail(path, f"expected a {t} of {len(v)}, loaded {type(obj).__name__} {obj!r:.80}")
                return
            for (k, o), (ek, ev) in zip(obj.items(), v):
                self.check(k, ek, f"{path}[key]")
                self.check(o, ev, f"{path}.{k}" if path else str(k))
            return
        if t == "tensor":
            self.check_tensor(obj, e, path)
            return
        if t == "attrs":
            self.check(obj, v, path)
            for name, ev in e["attrs"]:
                if not hasattr(obj, name):
                    self.fail(path, f"expected the attribute {name}, loaded none")
                    continue
                self.check(getattr(obj, name), ev, f"{path}@{name}")
            return
        self.fail(path, f"unknown expected tag {t}")

    def check_tensor(self, obj, e, path):
        if not isinstance(obj, torch.Tensor):
            self.fail(path, f"expected a tensor, loaded {type(obj).__name__}")
            return
        got = {
            "dtype": str(obj.dtype),
            "shape": list(obj.shape),
            "stride": list(obj.stride()),
            "offset": obj.storage_offset(),
            "requires_grad": obj.requires_grad,
            "parameter": isinstance(obj, torch.nn.Parameter),
            "storage_nbytes": obj.untyped_storage().nbytes(),
            "device": obj.device.type,
        }
        want = {k: e[k] for k in got if k in e}
        want["device"] = "cpu"
        for k in got:
            if got[k] != want[k]:
                self.fail(path, f"{k}: expected {want[k]!r}, loaded {got[k]!r}")
        if "hex" in e:
            data = tensor_bytes(obj).hex()
            if data != e["hex"]:
                self.fail(path, f"bytes differ: expected {e['hex'][:64]}..., loaded {data[:64]}...")
        else:
            # Too large to compare whole: its first and last bytes.
            flat = obj.detach().reshape(-1)
            n = len(e["head_hex"]) // 2 // obj.element_size()
            m = len(e["tail_hex"]) // 2 // obj.element_size()
            for what, part, want in (("head", flat[:n], e["head_hex"]), ("tail", flat[flat.numel() - m:], e["tail_hex"])):
                if tensor_bytes(part).hex() != want:
                    self.fail(path, f"{what} bytes differ: expected {want}, loaded {tensor_bytes(part).hex()}")
        # One expected tensor is one object, and the other way round.
        tid = e["id"]
        if tid in self.tensor_of_id:
            if self.tensor_of_id[tid] is not obj:
                self.fail(path, f"tensor {tid} appears twice but loaded as two objects (tie lost)")
        elif id(obj) in self.id_of_object:
            self.fail(path, f"tensors {self.id_of_object[id(obj)]} and {tid} loaded as one object")
        else:
            self.tensor_of_id[tid] = obj
            self.id_of_object[id(obj)] = tid
        # One expected storage is one storage, and the other way round
        # (empty storages have no data to share).
        if e["storage_nbytes"] > 0:
            sid, ptr = e["storage"], obj.untyped_storage().data_ptr()
            if sid in self.ptr_of_storage:
                if self.ptr_of_storage[sid] != ptr:
                    self.fail(path, f"storage {sid} is shared in the checkpoint but not after loading")
            elif ptr in self.storage_of_ptr:
                self.fail(path, f"storages {self.storage_of_ptr[ptr]} and {sid} loaded as one")
            else:
                self.ptr_of_storage[sid] = ptr
                self.storage_of_ptr[ptr] = sid


def check_safetensors(path, exp, errors):
    name = os.path.basename(path)
    loaded = load_file(path)
    want = exp["tensors"]
    if sorted(loaded) != sorted(want):
        errors.append(f"{name}: tensors {sorted(loaded)} != expected {sorted(want)}")
    for key in sorted(set(loaded) & set(want)):
        t, e = loaded[key], want[key]
        got = {"dtype": str(t.dtype), "shape": list(t.shape), "hex": tensor_bytes(t).hex()}
        for k in got:
            if got[k] != e[k]:
                errors.append(f"{name}: {key}: {k}: expected {e[k]!r:.80}, loaded {got[k]!r:.80}")
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    if metadata != exp["metadata"]:
        errors.append(f"{name}: metadata {metadata!r:.200} != expected {exp['metadata']!r:.200}")
    with open(path, "rb") as f:
        written = f.read()
    again = safetensors_save(loaded, metadata=metadata)
    if layout(again) != layout(written):
        errors.append(
            f"{name}: safetensors lays these tensors out differently: ours "
            f"{written[:300]!r}..., the library's {again[:300]!r}..."
        )


def layout(data):
    """A safetensors file as the library's writer determines it: header
    length, the header's entries in order (the library writes its metadata
    keys in hash order, so those are compared as a dict; ours are sorted),
    padding, and the data."""
    n = int.from_bytes(data[:8], "little")
    text = data[8:8 + n].decode("utf-8")
    entries = json.loads(text, object_pairs_hook=list)
    entries = [(k, dict(v) if k == "__metadata__" else v) for k, v in entries]
    compact = len(text.rstrip(" ")) == len(json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False))
    return n, entries, compact, data[8 + n:]


@contextlib.contextmanager
def calculated_offsets():
    """torch finds each data/<key> record from the layout alone, and checks
    its result against the real offset."""
    config = torch.utils.serialization.config.load
    saved = (config.calculate_storage_offsets, os.environ.get("TORCH_SERIALIZATION_DEBUG"))
    config.calculate_storage_offsets = True
    os.environ["TORCH_SERIALIZATION_DEBUG"] = "1"
    try:
        yield
    finally:
        config.calculate_storage_offsets = saved[0]
        if saved[1] is None:
            del os.environ["TORCH_SERIALIZATION_DEBUG"]
        else:
            os.environ["TORCH_SERIALIZATION_DEBUG"] = saved[1]


def check_zip(path, exp, errors):
    name = os.path.basename(path)
    archive = exp["archive"]
    with open(path, "rb") as raw, zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            errors.append(f"{name}: CRC mismatch in {bad}")
        infos = z.infolist()
        keys = [str(i) for i in range(exp["storages"])]
        want = [f"{archive}/{r}" for r in TORCH_RECORDS_HEAD + [f"data/{k}" for k in keys] + TORCH_RECORDS_TAIL]
        got = [i.filename for i in infos]
        if got != want:
            errors.append(f"{name}: records {got} != torch's {want}")
        for i in infos:
            if i.compress_type != zipfile.ZIP_STORED:
                errors.append(f"{name}: {i.filename} is compressed")
            raw.seek(i.header_offset + 26)
            fname_len, extra_len = struct.unpack("<HH", raw.read(4))
            start = i.header_offset + 30 + fname_len + extra_len
            if start % 64:
                errors.append(f"{name}: {i.filename} data at {start}, not 64-byte aligned")
        fixed = {
            "byteorder": b"little",
            "version": b"3\n",
            ".format_version": b"1",
            ".storage_alignment": b"64",
        }
        for record, content in fixed.items():
            full = f"{archive}/{record}"
            if full in got and z.read(full) != content:
                errors.append(f"{name}: {record} is {z.read(full)!r}, torch writes {content!r}")


def check_pt(path, exp, errors):
    name = os.path.basename(path)
    check_zip(path, exp, errors)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    if unsafe:
        errors.append(f"{name}: globals weights_only does not allow: {unsafe}")
    loads = [("weights_only, mmap", {"mmap": True})]
    if not exp.get("mmap_only"):
        loads.insert(0, ("weights_only", {}))
    for how, kwargs in loads:
        obj = torch.load(path, weights_only=True, **kwargs)
        Tree(errors, f"{name} ({how})").check(obj, exp["root"])
    if exp["calc_offsets"]:
        with calculated_offsets():
            obj = torch.load(path, weights_only=True, mmap=True)
        Tree(errors, f"{name} (calculated offsets)").check(obj, exp["root"])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    expected = {}
    for name in sorted(os.listdir(root)):
        if name == "expected.json" or name.endswith(".expected.json"):
            with open(os.path.join(root, name)) as f:
                expected.update(json.load(f)["files"])
    present = sorted(n for n in os.listdir(root) if n.endswith((".safetensors", ".pt")))
    errors = []
    if present != sorted(expected):
        errors.append(f"files {present} != expected {sorted(expected)}")
    counts = collections.Counter()
    for name in sorted(expected):
        path = os.path.join(root, name)
        if not os.path.exists(path):
            continue
        exp = expected[name]
        before = len(errors)
        try:
            if exp["kind"] == "safetensors":
                check_safetensors(path, exp, errors)
            else:
                check_pt(path, exp, errors)
        except Exception as e:  # a loader refusing the file is a mismatch
            errors.append(f"{name}: {type(e).__name__}: {e}")
        counts[exp["kind"]] += 1
        print(f"{'ok  ' if len(errors) == before else 'FAIL'} {name}")
    for e in errors:
        print(f"mismatch: {e}", file=sys.stderr)
    print(
        f"{counts['safetensors']} safetensors and {counts['pt']} pt files checked with "
        f"torch {torch.__version__}: {len(errors)} mismatches"
    )
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
