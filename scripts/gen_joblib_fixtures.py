#!/usr/bin/env python3
"""Generate joblib and compressed-pickle fixtures with the real producers.

Run with the project venv's Python (joblib, numpy, scikit-learn, lz4):

    "$(source scripts/lib/venv.sh; airlock_venv)/bin/python" \\
        scripts/gen_joblib_fixtures.py tests/fixtures/joblib

Writes small files made by ``joblib.dump`` (every compressor, several pickle
protocols, numeric, structured, Fortran-ordered, 0-d, empty and object
arrays, a fitted scikit-learn model) and by ``pickle.dump`` through
``gzip``/``bz2``/``lzma``, then ``manifest.json`` recording for each file what
the real loader does with it:

* ``loader``: ``joblib.load`` or ``pickle.load`` (through the decompressor);
* ``compression``: joblib's compressor name, or null;
* ``arrays``: for joblib files, every array joblib reads inline, in file
  order: dtype string, shape, whether it holds objects, and the SHA-256 of
  the bytes joblib writes for it (``tobytes`` in the wrapper's order), so a
  reader can check that it found exactly those bytes;
* ``classes``: the classes of the objects the load builds (what an allowlist
  must accept);
* ``data_only``: whether the pickle only rebuilds plain data, numpy arrays and
  dtypes (what Airlock must call ``safe``).

Loading happens here only on files this script just wrote from known objects.

gzip stamps its header with the time: GZIP_TIME (when the committed files were
first written) stands in for the clock, so every run writes the same bytes.

    gen_joblib_fixtures.py --check tests/fixtures/joblib
exits 1 unless the directory holds exactly what the script writes.
"""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import pickle
import sys

import joblib
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

GZIP_TIME = "2026-11-26T15:04:19Z"


def wrapper_order(a):
    return "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"


def arrays_in(obj, out):
    """Arrays in the order joblib's pickler meets them (dict insertion order)."""
    if isinstance(obj, np.ndarray) and not isinstance(obj, np.memmap):
        if obj.dtype.hasobject:
            raw = None
        else:
            raw = hashlib.sha256(obj.tobytes(order=wrapper_order(obj))).hexdigest()
        out.append({
            "dtype": obj.dtype.str,
            "shape": list(obj.shape),
            "object": bool(obj.dtype.hasobject),
            "sha256": raw,
        })
    elif isinstance(obj, dict):
        for v in obj.values():
            arrays_in(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            arrays_in(v, out)
    elif hasattr(obj, "__dict__"):
        for v in vars(obj).values():
            arrays_in(v, out)
    return out


def classes_in(obj, out):
    t = type(obj)
    out.add(f"{t.__module__}.{t.__qualname__}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            classes_in(k, out)
            classes_in(v, out)
    elif isinstance(obj, (list, tuple, set)):
        for v in obj:
            classes_in(v, out)
    elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        for v in obj.ravel():
            classes_in(v, out)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for v in vars(obj).values():
            classes_in(v, out)
    return out


DATA_CLASSES = {
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int",
    "builtins.float", "builtins.bool", "builtins.NoneType", "builtins.bytes",
    "numpy.ndarray",
}


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    numeric = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f64_fortran": np.asfortranarray(rng.standard_normal((4, 3))),
        "i8": np.arange(10, dtype=np.int64),
        "u1": np.arange(7, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "f16_be": np.arange(5, dtype=">f2"),
        "c64": np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
        "scalar0d": np.array(3.5),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "strings": np.array(["ab", "cde"]),
        "bytes": np.array([b"xy", b"z"]),
        "dt": np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[D]"),
        "structured": np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "subarray": np.zeros(2, dtype=[("v", "<f4", (2, 3))]),
    }
    with_objects = {
        "weights": np.arange(6, dtype=np.float64).reshape(2, 3),
        "labels": np.array(["cat", 7, None], dtype=object),
        "after": np.arange(3, dtype=np.int16),
    }
    cases = []

    def jdump(name, obj, **kw):
        path = os.path.join(out_dir, name)
        joblib.dump(obj, path, **kw)
        cases.append((name, "joblib.load", kw.get("compress"), obj))

    jdump("numeric.joblib", numeric)
    jdump("numeric-protocol2.joblib", numeric, protocol=2)
    jdump("numeric-protocol4.joblib", numeric, protocol=4)
    jdump("numeric-protocol5.joblib", numeric, protocol=5)
    jdump("object-array.joblib", with_objects)
    jdump("list-of-arrays-protocol0.joblib", [np.arange(3.0), np.ones(2, dtype=np.int32)], protocol=0)
    for method in ("zlib", "gzip", "bz2", "lzma", "xz", "lz4"):
        jdump(f"numeric-{method}.joblib", {"w": numeric["f32"], "b": numeric["i8"]},
              compress=(method, 3))
    jdump("object-array-zlib.joblib", with_objects, compress=("zlib", 3))

    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x = rng.standard_normal((20, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(x, y)
    jdump("sklearn-pipeline.joblib", model)
    jdump("sklearn-pipeline-zlib.joblib", model, compress=3)

    # Plain pickles through the standard library's compressors.
    plain = {"weights": numeric["f32"], "names": ["a", "b"], "step": 3}
    for name, opener in (("plain.pkl.gz", gzip.open), ("plain.pkl.bz2", bz2.open),
                         ("plain.pkl.xz", lzma.open)):
        with fx.frozen_clock(GZIP_TIME), opener(os.path.join(out_dir, name), "wb") as fh:
            pickle.dump(plain, fh, protocol=4)
        cases.append((name, "pickle.load", name.rsplit(".", 1)[1], plain))

    manifest = []
    for name, loader, compress, obj in cases:
        path = os.path.join(out_dir, name)
        if loader == "joblib.load":
            loaded = joblib.load(path)
        else:
            opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compress]
            with opener(path, "rb") as fh:
                loaded = pickle.load(fh)
        classes = sorted(classes_in(loaded, set()))
        method = compress[0] if isinstance(compress, tuple) else compress
        if isinstance(compress, int):
            method = "zlib" if compress else None
        manifest.append({
            "file": name,
            "loader": loader,
            "compression": method,
            "size": os.path.getsize(path),
            "arrays": arrays_in(obj, []) if loader == "joblib.load" else [],
            "classes": classes,
            "data_only": all(c in DATA_CLASSES or c.startswith("numpy.") for c in classes),
        })
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump({"joblib": joblib.__version__, "numpy": np.__version__, "files": manifest},
                  fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(manifest)} fixtures to {out_dir}")


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(fx.check_dir(main, sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
