#!/usr/bin/env python3
"""Record what real torch.load rebuilds from each torch fixture, for the
rebuild tests of airlock-tensors.

Usage: gen_rebuild_expected.py [FIXTURE_DIR] [--out FILE]
       gen_rebuild_expected.py --check [FIXTURE_DIR] [--out FILE]
                                (exit 1 unless FILE is what this writes)

FIXTURE_DIR defaults to tests/fixtures/torch and FILE to
FIXTURE_DIR/rebuild_expected.json. Run it with the venv python:

    source scripts/lib/venv.sh; venv=$(airlock_venv)
    "$venv/bin/python" scripts/gen_rebuild_expected.py

Every file loaded is an entry of FIXTURE_DIR/manifest.json written by
gen_torch_fixtures.py (every entry exactly {"file", "description",
"category"} with one of its categories), which declares them benign:
`torch.load(weights_only=False, map_location="cpu")` only rebuilds
tensors, containers and classes from torch, numpy, omegaconf, the standard
library and the classes gen_torch_fixtures.py defines (installed in
`__main__`, as when the fixtures were pickled). Nothing else is loaded: no
manifest, no load.

Per file it records, under "fixtures":

  rebuildable   whether Airlock's rebuild should turn the loaded object into
                plain data (see crates/tensors/src/rebuild.rs for the rules,
                which `canon` below mirrors from the Python side)
  reason        when not: why (torch.load failed, a class outside the rules,
                a refused tensor kind, a reference cycle)
  tree          the loaded object in a canonical JSON form: null, true/false,
                {"int": "decimal"}, {"float": "<16 hex digits of the IEEE
                bits>"}, {"complex": [re, im]}, {"str": s}, {"bytes"|"bytearray": hex},
                {"list"|"tuple": [...]}, {"set": [...] sorted by their JSON},
                {"dict"|"odict"|"counter": [[key, value], ...]}, {"dtype"|"device"|
                "layout": str}, {"size": [ints]} and {"tensor": record}
  tensors       the tensors flattened: {"path", "dtype", "shape", "stride",
                "offset", "sha256", "storage", "requires_grad", "parameter"};
                sha256 is that of the contiguous bytes
                (`t.contiguous().view(torch.uint8)`), storage numbers the
                distinct storages in order of first appearance, so tensors
                sharing a storage share the number
  leaves        the scalar leaves (and whole sets) flattened: [path, value]

Paths join dict keys (a str as itself, other keys as their repr) and
sequence indices with dots; "" is the loaded object. The foreign objects
Airlock rebuilds as data are canonicalised as it rebuilds them: an
nn.Module as its state_dict(), a numpy array as a tensor (little-endian
bytes), numpy scalars as Python numbers, argparse.Namespace as a dict,
omegaconf configs as OmegaConf.to_container(resolve=False), pathlib paths as
strings, a defaultdict as a dict, deque as a list; an instance that pickle
makes by `cls.__new__(cls)` alone and fills with BUILD or dict items as a
dict whose first key "__class__" holds its class's pickled name; a class as
its pickled name; a member of an enum class listed in
crates/policy/data/enums.tsv as its value.
"""

import argparse
import collections
import copyreg
import enum
import hashlib
import json
import os
import pathlib
import struct
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The dtypes Airlock rebuilds (crates/tensors/src/dtype.rs).
TORCH_DTYPES = {
    getattr(torch, n)
    for n in (
        "float64",
        "float32",
        "float16",
        "bfloat16",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
        "float8_e8m0fnu",
        "complex128",
        "complex64",
        "complex32",
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bits8",
        "bits16",
        "bits1x8",
        "bits2x4",
        "bits4x2",
        "float4_e2m1fn_x2",
        "bcomplex32",
    )
    if hasattr(torch, n)
}

NUMPY_DTYPES = {
    "b1": "torch.bool",
    "i1": "torch.int8",
    "i2": "torch.int16",
    "i4": "torch.int32",
    "i8": "torch.int64",
    "u1": "torch.uint8",
    "u2": "torch.uint16",
    "u4": "torch.uint32",
    "u8": "torch.uint64",
    "f2": "torch.float16",
    "f4": "torch.float32",
    "f8": "torch.float64",
    "c8": "torch.complex64",
    "c16": "torch.complex128",
}


class NotRebuildable(Exception):
    pass


def float_bits(x):
    return struct.pack(">d", float(x)).hex()


def type_name(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def segment(key):
    return key if isinstance(key, str) else repr(key)


def join(path, seg):
    return f"{path}.{seg}" if path else seg


def sort_key(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Canon:
    """One fixture's loaded object in canonical form."""

    def __init__(self):
        self.storages = {}
        self.tensors = []
        self.leaves = []
        self.active = set()

    def storage_number(self, identity):
        return self.storages.setdefault(identity, len(self.storages))

    def tensor(self, t, path):
        if type(t) not in (torch.Tensor, torch.nn.Parameter):
            raise NotRebuildable(f"{path or '<root>'}: tensor subclass {type_name(t)}")
        if t.layout != torch.strided:
            raise NotRebuildable(f"{path or '<root>'}: {t.layout} tensor")
        if t.is_quantized:
            raise NotRebuildable(f"{path or '<root>'}: quantized tensor")
        if t.is_nested:
            raise NotRebuildable(f"{path or '<root>'}: nested tensor")
        if t.device.type != "cpu":
            raise NotRebuildable(f"{path or '<root>'}: {t.device.type} tensor")
        if t.dtype not in TORCH_DTYPES:
            raise NotRebuildable(f"{path or '<root>'}: dtype {t.dtype}")
        if t.is_conj() or t.is_neg():
            raise NotRebuildable(f"{path or '<root>'}: conjugate or negative view")
        if any(s < 0 for s in t.stride()):
            raise NotRebuildable(f"{path or '<root>'}: negative stride")
        data = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        record = {
            "dtype": str(t.dtype),
            "shape": list(t.shape),
            "stride": list(t.stride()),
            "offset": t.storage_offset(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "storage": self.storage_number(("torch", t.untyped_storage()._cdata)),
            "requires_grad": t.requires_grad,
            "parameter": isinstance(t, torch.nn.Parameter),
        }
        self.tensors.append({"path": path, **record})
        return {"tensor": record}

    def array(self, a, path):
        if type(a) is not np.ndarray:
            raise NotRebuildable(f"{path or '<root>'}: numpy array subclass {type_name(a)}")
        dt = a.dtype
        code = f"{dt.kind}{dt.itemsize}"
        if dt.fields is not None or dt.subdtype is not None or code not in NUMPY_DTYPES:
            raise NotRebuildable(f"{path or '<root>'}: numpy dtype {dt}")
        if dt.byteorder == ">":
            a = a.astype(dt.newbyteorder("<"))
        data = np.ascontiguousarray(a).tobytes()
        record = {
            "dtype": NUMPY_DTYPES[code],
            "shape": list(a.shape),
            "stride": [s // dt.itemsize for s in a.strides],
            "offset": 0,
            "sha256": hashlib.sha256(data).hexdigest(),
            "storage": self.storage_number(("numpy", id(a))),
            "requires_grad": False,
            "parameter": False,
        }
        self.tensors.append({"path": path, **record})
        return {"tensor": record}

    def leaf(self, path, value, record):
        if record:
            self.leaves.append([path, value])
        return value

    def items(self, pairs, path, record):
        # Keys are canonicalised as values, without paths or leaves of their own.
        return [[self.value(k, path, False), self.value(v, join(path, segment(k)), record)] for k, v in pairs]

    def sequence(self, obj, path, record):
        return [self.value(x, join(path, str(i)), record) for i, x in enumerate(obj)]

    def value(self, obj, path, record=True):
        t = type(obj)
        if obj is None or t is bool:
            return self.leaf(path, obj, record)
        if isinstance(obj, np.generic):
            return self.leaf(path, self.numpy_scalar(obj, path), record)
        if t is int:
            v = {"int": str(obj)}
        elif t is float:
            v = {"float": float_bits(obj)}
        elif t is complex:
            v = {"complex": [float_bits(obj.real), float_bits(obj.imag)]}
        elif t is str:
            v = {"str": obj}
        elif t is bytes:
            v = {"bytes": obj.hex()}
        elif t is bytearray:
            v = {"bytearray": obj.hex()}
        elif t is torch.dtype:
            v = {"dtype": str(obj)}
        elif t is torch.device:
            v = {"device": str(obj)}
        elif t is torch.layout:
            v = {"layout": str(obj)}
        elif t is torch.Size:
            v = {"size": list(obj)}
        elif isinstance(obj, np.dtype):
            code = f"{obj.kind}{obj.itemsize}"
            if obj.fields is not None or code not in NUMPY_DTYPES:
                raise NotRebuildable(f"{path or '<root>'}: numpy dtype {obj}")
            v = {"str": str(obj)}
        elif isinstance(obj, pathlib.PurePath):
            v = {"str": str(obj)}
        elif isinstance(obj, type):
            v = {"str": pickled_name(obj)}
        elif isinstance(obj, enum.Enum) and listed_enum(obj):
            v = {"str": obj.value} if isinstance(obj.value, str) else {"int": str(obj.value)}
        else:
            return self.composite(obj, path, record)
        return self.leaf(path, v, record)

    def numpy_scalar(self, obj, path):
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return {"int": str(int(obj))}
        if isinstance(obj, np.floating) and obj.dtype.itemsize <= 8:
            return {"float": float_bits(obj)}
        if isinstance(obj, np.complexfloating) and obj.dtype.itemsize <= 16:
            return {"complex": [float_bits(obj.real), float_bits(obj.imag)]}
        raise NotRebuildable(f"{path or '<root>'}: numpy scalar {type_name(obj)}")

    def composite(self, obj, path, record):
        if isinstance(obj, torch.jit.ScriptModule):
            raise NotRebuildable(f"{path or '<root>'}: TorchScript module {type_name(obj)}")
        if isinstance(obj, (torch.storage.TypedStorage, torch.UntypedStorage)):
            raise NotRebuildable(f"{path or '<root>'}: a bare storage ({type_name(obj)})")
        if isinstance(obj, torch.Tensor):
            return self.tensor(obj, path)
        if isinstance(obj, np.ndarray):
            return self.array(obj, path)
        if id(obj) in self.active:
            raise NotRebuildable(f"{path or '<root>'}: reference cycle")
        self.active.add(id(obj))
        try:
            return self.container(obj, path, record)
        finally:
            self.active.discard(id(obj))

    def container(self, obj, path, record):
        from omegaconf import DictConfig, ListConfig, OmegaConf

        t = type(obj)
        if isinstance(obj, torch.nn.Module):
            return {"odict": self.items(obj.state_dict().items(), path, record)}
        if isinstance(obj, (DictConfig, ListConfig)):
            return self.value(OmegaConf.to_container(obj, resolve=False), path, record)
        if t is collections.OrderedDict:
            return {"odict": self.items(obj.items(), path, record)}
        if t is collections.Counter:
            return {"counter": self.items(obj.items(), path, record)}
        if t in (dict, collections.defaultdict):
            return {"dict": self.items(obj.items(), path, record)}
        if t is argparse.Namespace:
            return {"dict": self.items(vars(obj).items(), path, record)}
        if t in (list, collections.deque):
            return {"list": self.sequence(obj, path, record)}
        if t is tuple:
            return {"tuple": self.sequence(obj, path, record)}
        if t in (set, frozenset):
            members = sorted((self.value(x, path, False) for x in obj), key=sort_key)
            return self.leaf(path, {"set": members}, record)
        instance = new_and_build(obj)
        if instance is not None:
            name, pairs = instance
            return {"dict": self.items([("__class__", name), *pairs], path, record)}
        raise NotRebuildable(f"{path or '<root>'}: {type_name(obj)}")


def pickled_name(cls):
    """The name pickle writes for a class (fixture classes live in __main__)."""
    module = "__main__" if cls.__module__ == "_fixture_definitions" else cls.__module__
    return f"{module}.{cls.__qualname__}"


def listed_enum(member):
    """Whether the member's class is in crates/policy/data/enums.tsv (what Airlock rebuilds)."""
    global ENUM_CLASSES
    if ENUM_CLASSES is None:
        table = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "policy", "data", "enums.tsv")
        with open(table, encoding="utf-8") as f:
            ENUM_CLASSES = {line.split("\t")[0] for line in f if not line.startswith("#")}
    return pickled_name(type(member)) in ENUM_CLASSES


ENUM_CLASSES = None


def new_and_build(obj):
    """(class name, attribute or item pairs) when pickle makes `obj` with
    `cls.__new__(cls)` alone and fills it by BUILD (dict, slots) or dict
    items: Airlock's rebuild of such an instance is a dict with its class
    name under "__class__"; None otherwise."""
    rv = obj.__reduce_ex__(2)
    if not isinstance(rv, tuple) or rv[0] is not copyreg.__newobj__ or rv[1] != (type(obj),):
        return None
    state = rv[2] if len(rv) > 2 else None
    listitems = rv[3] if len(rv) > 3 else None
    items = list(rv[4]) if len(rv) > 4 and rv[4] is not None else []
    if listitems is not None:
        return None
    pairs = []
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict):
            return None
        pairs.extend(part.items())
    if pairs and items:
        return None
    return pickled_name(type(obj)), pairs or items


def record(path):
    try:
        obj = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as e:  # torch cannot load it: nothing to rebuild either
        first = str(e).splitlines()[0] if str(e) else ""
        return {"rebuildable": False, "reason": f"torch.load fails: {type(e).__name__}: {first}"}
    c = Canon()
    try:
        tree = c.value(obj, "")
    except NotRebuildable as e:
        return {"rebuildable": False, "reason": str(e)}
    return {"rebuildable": True, "tree": tree, "tensors": c.tensors, "leaves": c.leaves}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=os.path.join(ROOT, "tests", "fixtures", "torch"))
    parser.add_argument("--out", help="output file (default DIRECTORY/rebuild_expected.json)")
    parser.add_argument("--check", action="store_true", help="compare the output file with what this writes")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    out = args.out or os.path.join(args.directory, "rebuild_expected.json")
    if args.check:
        sys.exit(fx.check_file(lambda path: write(args.directory, path), out))
    write(args.directory, out)


def write(directory, out):
    names = fx.torch_fixture_names(directory)
    fx.install_fixture_classes()
    results = {}
    for name in sorted(names):
        results[name] = record(os.path.join(directory, name))
    document = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
        "fixtures": results,
    }
    with open(out, "w") as f:
        json.dump(document, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    rebuilt = sum(r["rebuildable"] for r in results.values())
    print(f"{len(results)} fixtures: {rebuilt} rebuildable, {len(results) - rebuilt} not; wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    main()
