"""Helpers shared by the fixture generators and parity scripts of scripts/.

A script imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    import airlock_fixtures as fx  # noqa: E402

and a child interpreter started with `-I` (no script directory on sys.path)
with `sys.path.insert(0, LIB)` where the parent passes it `fx.LIB`.

What is here:

- the manifest categories of gen_torch_fixtures.py, and the classes it
  defines installed in `__main__` (the fixtures pickle them as `__main__.X`);
- `frozen_clock`, which pins the time zipfile and gzip stamp into what they
  write, so that a generator writes the same bytes on every run;
- `--check` for the generators: `check_dir` / `check_file` write into a
  temporary directory and compare with the committed files byte for byte
  (or with a named comparison where the producer is not byte-deterministic),
  print every difference and return the exit status;
- `same_legacy_torch`, that comparison for torch's legacy (non-ZIP) format.
"""

import contextlib
import datetime
import os
import pickletools
import struct
import sys
import tempfile
import time

LIB = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(LIB)
ROOT = os.path.dirname(SCRIPTS)

# ------------------------------------------------------------------ torch fixtures

# The categories of gen_torch_fixtures.py's manifest entries. A manifest entry
# outside them is not one of its fixtures, and the parity scripts never load it
# with weights_only=False.
TORCH_FIXTURE_CATEGORIES = (
    "state_dict",
    "module",
    "optimizer",
    "torchscript",
    "legacy",
    "containers",
    "numpy",
    "config",
    "tensor-kinds",
    "protocol",
)

TORCH_FIXTURE_DEFINITIONS = os.path.join(SCRIPTS, "gen_torch_fixtures.py")


def install_fixture_classes():
    """Put the classes gen_torch_fixtures.py defines into `__main__`.

    The module and tensor-subclass fixtures were pickled from that script run
    as `__main__`, so loading them with weights_only=False looks the classes up
    there. The script is executed as a module (never as a script): it has no
    side effects outside its main().
    """
    import runpy

    import __main__

    name = "_fixture_definitions"
    for key, value in runpy.run_path(TORCH_FIXTURE_DEFINITIONS, run_name=name).items():
        if isinstance(value, type) and value.__module__ == name:
            setattr(__main__, key, value)


def torch_fixture_names(directory):
    """The files of DIRECTORY/manifest.json, checked to be gen_torch_fixtures.py's entries."""
    import json

    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    names = []
    for entry in manifest:
        if set(entry) != {"file", "description", "category"} or entry["category"] not in TORCH_FIXTURE_CATEGORIES:
            raise SystemExit(f"not a gen_torch_fixtures.py manifest entry: {entry!r}")
        name = entry["file"]
        if os.path.basename(name) != name:
            raise SystemExit(f"manifest entry outside the directory: {name!r}")
        names.append(name)
    return names


# ------------------------------------------------------------------ determinism


def fixed_hash_seed(seed):
    """Run the rest of this script with PYTHONHASHSEED=SEED (re-executing it
    once): str hashing decides the iteration order of sets, and through it,
    for instance, which of two same-named classes torch.jit.script mangles."""
    if os.environ.get("PYTHONHASHSEED") != str(seed):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": str(seed)})


@contextlib.contextmanager
def frozen_clock(when):
    """Within the block, time.time() and time.localtime() give WHEN.

    WHEN is an ISO 8601 UTC time ("2026-11-26T16:46:34Z"). zipfile stamps
    members with time.localtime(time.time()), gzip its header with time.time():
    both then write WHEN, whatever the machine's clock and time zone.
    """
    epoch = int(datetime.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
    fixed = time.gmtime(epoch)
    saved = time.time, time.localtime
    time.time = lambda: float(epoch)
    time.localtime = lambda secs=None: fixed
    try:
        yield
    finally:
        time.time, time.localtime = saved


# ------------------------------------------------------------------ --check


def files_under(directory):
    """Every file under DIRECTORY, as sorted '/'-separated relative paths."""
    out = []
    for top, dirs, files in os.walk(directory):
        dirs.sort()
        for f in files:
            out.append(os.path.relpath(os.path.join(top, f), directory).replace(os.sep, "/"))
    return sorted(out)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def compare_trees(fresh, committed, *, ignore=(), compare=None):
    """Differences between the files a generator just wrote (FRESH) and the
    committed ones: missing, extra (not IGNOREd: files other scripts write into
    the same directory) or differing. COMPARE(name), when given, names the
    comparison for the files the producer cannot write byte for byte twice: a
    function (fresh_path, committed_path) -> None when the two are the same,
    else a reason; for every other file (COMPARE gives None) byte for byte."""
    made = files_under(fresh)
    have = set(files_under(committed)) if os.path.isdir(committed) else set()
    problems = [f"{n}: not written by the script (delete it, or list it as written elsewhere)"
                for n in sorted(have - set(made) - set(ignore))]
    for n in made:
        if n not in have:
            problems.append(f"{n}: missing")
            continue
        a, b = os.path.join(fresh, n), os.path.join(committed, n)
        how = compare(n) if compare else None
        if how:
            why = how(a, b)
            if why:
                problems.append(f"{n}: differs ({why})")
        elif read(a) != read(b):
            problems.append(f"{n}: differs")
    return made, problems


def report(checked, problems, what):
    for p in problems:
        print(p)
    print(f"{what}: {checked} files checked, {len(problems)} differ from what the script writes"
          if problems else f"{what}: {checked} files checked, all as the script writes them")
    return 1 if problems else 0


def check_dir(write, committed, *, ignore=(), compare=None):
    """`--check DIR`: WRITE(tmp_dir) as the generator's main does, compare with
    COMMITTED (see compare_trees), print what differs; the exit status."""
    with tempfile.TemporaryDirectory(prefix="airlock-check-") as tmp:
        write(tmp)
        made, problems = compare_trees(tmp, committed, ignore=ignore, compare=compare)
    return report(len(made), problems, committed)


def generator_main(write_all, doc):
    """The command line of a generator writing a directory: `SCRIPT OUT_DIR`
    runs WRITE_ALL(OUT_DIR), `SCRIPT --check DIR` compares (check_dir), and
    anything else prints DOC; with one hash seed (fixed_hash_seed)."""
    fixed_hash_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check_dir(write_all, sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit(doc)
    write_all(sys.argv[1])
    print(f"wrote {sys.argv[1]}")


def check_file(write, committed):
    """`--check FILE`: WRITE(tmp_path), compare with COMMITTED byte for byte."""
    with tempfile.TemporaryDirectory(prefix="airlock-check-") as tmp:
        path = os.path.join(tmp, os.path.basename(committed))
        write(path)
        same = os.path.exists(committed) and read(path) == read(committed)
    return report(1, [] if same else [f"{committed}: differs"], committed)


# ------------------------------------------------------------------ legacy torch files


def legacy_torch_canonical(data, truncated=False):
    """A legacy (non-ZIP) torch.save file with its storage keys renamed.

    The legacy writer names each storage by its memory address
    (str(storage._cdata)): in the pickled persistent ids, in the sorted key
    list, and so in the order of the storage records; two runs never write the
    same bytes. The canonical form is the opcodes of the magic, protocol,
    sys_info and object pickles with every key replaced by its rank of first
    appearance, and each storage's record (element count and bytes) under
    that rank: two files with the same form differ only in the addresses.
    TRUNCATED: the file may end inside its storage records; the ones it holds
    whole are returned.

    Nothing is unpickled: the storage class of each key (which gives the
    record's element size, from torch) is read from the opcodes, the global
    pushed just before the key in its persistent id tuple.
    """
    import io
    import re

    import torch

    stream = io.BytesIO(data)
    pickles = [[(op.name, arg) for op, arg, _ in pickletools.genops(stream)] for _ in range(5)]
    keys = [arg for name, arg in pickles[4] if isinstance(arg, str)]
    storages = {}  # key -> storage class name
    pushed, memo = [], {}
    for name, arg in pickles[3]:
        if name == "PERSID":  # protocol 0: the text of the tuple
            m = re.search(r"<class '[\w.]*?(\w+)'>, '(\d+)'", arg)
            storages[m.group(2)] = m.group(1)
        elif name == "GLOBAL":
            pushed.append(arg.split()[-1])
        elif name == "STACK_GLOBAL":
            pushed.append(pushed[-1])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            memo[len(memo) if name == "MEMOIZE" else arg] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif isinstance(arg, str) and arg in keys and pushed:
            storages.setdefault(arg, pushed[-1])
            pushed.append(arg)
        else:
            pushed.append(arg)
    rank = {}

    def rename(arg):
        if isinstance(arg, str):
            for k in keys:
                if k in arg:
                    rank.setdefault(k, f"<storage {len(rank)}>")
                    arg = arg.replace(k, rank[k])
        return arg

    objects = [[(name, rename(arg)) for name, arg in ops] for ops in pickles[:4]]
    records = {}
    for k in keys:  # the records follow in the order of the key list
        head = stream.read(8)
        if truncated and len(head) < 8:
            break
        (count,) = struct.unpack("<q", head)
        size = getattr(torch, storages[k])().element_size()
        record = stream.read(count * size)
        if truncated and len(record) < count * size:
            break
        records[rank.get(k, k)] = (storages[k], count, record)
    return objects, records, stream.read()


def same_legacy_torch(fresh, committed):
    """compare_trees comparison for legacy torch files: None if the two are
    the same up to the storages' address keys (see legacy_torch_canonical)."""
    try:
        a, b = legacy_torch_canonical(read(fresh)), legacy_torch_canonical(read(committed))
    except Exception as e:  # noqa: BLE001 - not a legacy file: it differs
        return f"not a legacy torch file: {type(e).__name__}: {e}"
    return None if a == b else "differs beyond the storage address keys"
