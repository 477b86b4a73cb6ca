#!/usr/bin/env python3
"""Generate pickles of the objects data pipelines save, with the real producers.

Run with the project venv's Python (pandas, scikit-learn, SciPy, NumPy):

    "$(source scripts/lib/venv.sh; airlock_venv)/bin/python" \\
        scripts/gen_object_fixtures.py tests/fixtures/objects

Writes `pickle.dump` of pandas frames and series (time zones, categoricals,
nullable arrays, multi-indexes), fitted scikit-learn estimators and
pipelines, SciPy sparse matrices and frozen distributions, NumPy random
states and masked arrays, and the standard library's values (dates, time
zones, decimals, paths, compiled patterns, partials, typing aliases,
loggers, namespaces), each in protocols 0, 2 and 4, then `manifest.json`:
for each file what it holds, its protocol, the globals it imports and those
it calls (what an allowlist must accept, and what Airlock's rule AL0052
must tell from a program: these files call only classes and the helpers
their `__reduce__` names), read by an unpickler whose `find_class` returns
inert stand-ins, so nothing of the producers runs.

Nothing random: fixed seeds, dates and identifiers, so every run writes the
same bytes.

    gen_object_fixtures.py --check tests/fixtures/objects
exits 1 unless the directory holds exactly what the script writes.
"""

import argparse
import collections
import datetime
import decimal
import fractions
import functools
import io
import ipaddress
import json
import logging
import os
import pathlib
import pickle
import re
import sys
import typing
import uuid
import warnings
import zoneinfo

import numpy as np
import pandas as pd
import scipy
import scipy.sparse as sp
import scipy.stats as st
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

PROTOCOLS = (0, 2, 4)


def objects():
    """name -> (what it is, the object)."""
    # A frozen SciPy distribution pickles NumPy's global random state.
    np.random.seed(0)
    rng = np.random.RandomState(0)
    x = rng.rand(12, 3)
    tfidf = TfidfVectorizer().fit(["hello world", "hi there"])
    # A cache keyed by id() (a memory address, new in every process).
    del tfidf._stop_words_id
    y = (x[:, 0] > 0.5).astype(int)
    return {
        "pandas-frame": ("a DataFrame: ints, strings, datetimes, a categorical", pd.DataFrame({
            "a": [1, 2], "b": ["x", "y"],
            "t": pd.to_datetime(["2020-01-01", "2021-01-01"]), "c": pd.Categorical(["u", "v"]),
        })),
        "pandas-frame-tz": ("a DataFrame of time-zone-aware datetimes (zoneinfo)", pd.DataFrame({
            "t": pd.date_range("2020-01-01", periods=2, tz="Europe/Paris"),
        })),
        "pandas-values": ("pandas scalars, a nullable array, a multi-index, a series", [
            pd.Timestamp("2020-01-01", tz="UTC"), pd.Timedelta("1D"), pd.Interval(0, 1),
            pd.Period("2020-01"), pd.array([1, None], dtype="Int64"),
            pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]),
            pd.Series([1.0, 2.0], index=pd.date_range("2020-01-01", periods=2)),
        ]),
        "sklearn-linear": ("a fitted LogisticRegression", LogisticRegression().fit(x, y)),
        "sklearn-forest": ("a fitted RandomForestClassifier (2 trees)",
                           RandomForestClassifier(n_estimators=2, random_state=0).fit(x, y)),
        "sklearn-pipeline": ("a fitted scaler + classifier pipeline",
                             make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)),
        "sklearn-text": ("a fitted TfidfVectorizer and OneHotEncoder", [
            tfidf, OneHotEncoder().fit([["a"], ["b"]]),
        ]),
        "scipy": ("a CSR matrix, a COO array, a frozen normal distribution", [
            sp.csr_matrix(np.eye(3)), sp.coo_array(np.eye(2)), st.norm(0, 1),
        ]),
        "numpy-state": ("a RandomState, a Generator, a masked array", [
            np.random.RandomState(0), np.random.default_rng(0),
            np.ma.masked_array([1, 2], mask=[0, 1]),
        ]),
        "stdlib": ("the standard library's values", [
            datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            datetime.date(2020, 1, 2), datetime.timedelta(days=1),
            decimal.Decimal("1.5"), fractions.Fraction(1, 3),
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            pathlib.PurePosixPath("/data/x"), re.compile("a+"), functools.partial(max, 1),
            collections.Counter("ab"), collections.deque([1]), collections.OrderedDict(a=1),
            typing.List[int], typing.Optional[str], int | None,
            logging.getLogger("airlock.fixture"), zoneinfo.ZoneInfo("UTC"),
            ipaddress.ip_address("10.0.0.1"), slice(1, 2), range(3), complex(1, 2),
            bytearray(b"x"), frozenset([1]), type(None),
        ]),
    }


def globals_of(data):
    """(imported, called): the globals a pickle imports, and those it calls
    (REDUCE, INST, OBJ: a class or function called with its arguments; not
    NEWOBJ), read by an unpickler whose find_class returns inert stand-ins,
    so nothing of the producers runs."""
    imported, called, stubs = set(), set(), {}

    def stub(path):
        if path not in stubs:
            class Meta(type):
                def __getattr__(cls, attr):
                    return stub(f"{path}.{attr}")

                def __call__(cls, *args, **kwargs):
                    called.add(path)
                    return type.__call__(cls)

            stubs[path] = Meta(path.rsplit(".", 1)[-1], (), {
                "__setstate__": lambda self, state: None,
                "__call__": lambda self, *args, **kwargs: self,
                "__setitem__": lambda self, k, v: None,
                "append": lambda self, v: None,
                "extend": lambda self, v: None,
            })
        return stubs[path]

    class Reader(pickle.Unpickler):
        def find_class(self, module, name):
            imported.add(f"{module}.{name}")
            return stub(f"{module}.{name}")

    Reader(io.BytesIO(data)).load()
    return sorted(imported), sorted(called)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for name, (what, obj) in objects().items():
        for proto in PROTOCOLS:
            file = f"{name}-p{proto}.pkl"
            data = pickle.dumps(obj, protocol=proto)
            with open(os.path.join(out_dir, file), "wb") as fh:
                fh.write(data)
            imports, calls = globals_of(data)
            manifest.append({"file": file, "holds": what, "protocol": proto,
                             "imports": imports, "calls": calls})
    versions = {"python": sys.version.split()[0], "pandas": pd.__version__,
                "scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
                "numpy": np.__version__}
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump({"producers": versions, "files": manifest}, fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(manifest)} fixtures to {out_dir}")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    # Sets and frozensets pickle in str-hash order: one seed, the same bytes.
    fx.fixed_hash_seed(0)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("dir")
    args = ap.parse_args()
    if args.check:
        sys.exit(fx.check_dir(main, args.dir))
    main(args.dir)
