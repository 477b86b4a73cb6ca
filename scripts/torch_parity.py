#!/usr/bin/env python3
"""Record what real torch.load does with each file of a directory.

Usage: torch_parity.py DIR [--out FILE] [--jobs N] [--no-full-load] [--isolate]

The files are DIR/manifest.json's entries (see gen_torch_fixtures.py) or, when
there is no manifest, every regular file directly in DIR. Loads run in fresh
interpreters (`python -I`, working directory a new temporary directory,
TORCH_FORCE_WEIGHTS_ONLY_LOAD and TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD removed
from the environment). By default all weights_only=True loads share one
interpreter (they run no code from the files, and no weights_only=False load
ever runs in it, so none can change torch's allowlist for another), and all
weights_only=False loads share another; files whose batch dies or times out
are retried one interpreter each. With --isolate every load gets its own
interpreter (60 s timeout). Per file it records:

  weights_only        torch.load(f, weights_only=True, map_location="cpu") returned
  error_type          class name of the exception it raised, else null
  error               str() of that exception, else null
  wo_reason           for UnpicklingError, the unpickler's own message without
                      torch's advice around it ("Unsupported operand 149",
                      "Unsupported global: GLOBAL argparse.Namespace was not an
                      allowed global by default. ..."); otherwise `error`
  unsupported_global  the dotted name in "Unsupported global: GLOBAL X was not
                      an allowed global", else null
  full_load           torch.load(f, weights_only=False, map_location="cpu")
                      returned; null when not attempted

A load that does not finish within the timeout is recorded as error_type
"TimeoutExpired", an interpreter that dies without a verdict (a crash) as
"ChildProcessError".

A weights_only=False load runs arbitrary code from the file. It is attempted
only for files listed in a manifest written by gen_torch_fixtures.py (every
entry exactly {"file", "description", "category"} with one of its
categories), which declares them benign; never for a directory without a
manifest, for any other manifest, nor with --no-full-load. For those loads
the classes defined in gen_torch_fixtures.py are installed in `__main__`, as
they were when the fixtures were pickled.

Output: {"torch": version, "python": version, "results": {file: {...}}} as
JSON on stdout or in --out.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

TIMEOUT_SECONDS = 60
FORCE_VARIABLES = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

# Runs in the child interpreter: argv = mode, file, result path[, scripts/lib,
# whose airlock_fixtures installs gen_torch_fixtures.py's classes in __main__].
# Writes {"ok": bool, "type", "error"}.
CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
mode, target, result = sys.argv[1:4]
try:
    import torch
    if len(sys.argv) > 4:
        sys.path.insert(0, sys.argv[4])
        import airlock_fixtures
        airlock_fixtures.install_fixture_classes()
    torch.load(target, weights_only=(mode == "weights_only"), map_location="cpu")
    outcome = {"ok": True, "type": None, "error": None}
except BaseException as e:
    outcome = {"ok": False, "type": type(e).__name__, "error": str(e)}
with open(result, "w") as f:
    json.dump(outcome, f)
"""

# The batched child: argv = mode, JSON file with the names, result path[,
# scripts/lib]. Writes {name: {"ok", "type", "error"}} after every load, so a
# crash loses only the file being loaded.
CHILD_BATCH = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
mode, names_file, result = sys.argv[1:4]
names = json.load(open(names_file))
import torch
if len(sys.argv) > 4:
    sys.path.insert(0, sys.argv[4])
    import airlock_fixtures
    airlock_fixtures.install_fixture_classes()
outcomes = {}
for target in names:
    try:
        torch.load(target, weights_only=(mode == "weights_only"), map_location="cpu")
        outcomes[target] = {"ok": True, "type": None, "error": None}
    except BaseException as e:
        outcomes[target] = {"ok": False, "type": type(e).__name__, "error": str(e)}
    with open(result, "w") as f:
        json.dump(outcomes, f)
"""
BATCH_TIMEOUT_SECONDS = 900

GLOBAL_RE = re.compile(r"Unsupported global: GLOBAL (\S+) was not an allowed global")
WRAPPER_MARKER = "WeightsUnpickler error:"
DOCS_MARKER = "\n\nCheck the documentation of torch.load"
FAILED_PREFIX = "Weights only load failed."
# torch's paragraph about the weights_only default ("In PyTorch 2.6, we
# changed ... trusted source.").
UNSAFE_RE = re.compile(r"In PyTorch \d+\.\d+, we changed the default value of the `weights_only`.*?trusted source\.", re.S)


def weights_only_reason(error_type, error):
    """The unpickler's message inside torch's UnpicklingError wrapper text."""
    if error is None:
        return None
    if error_type != "UnpicklingError":
        return error
    body = error
    docs = body.find(DOCS_MARKER)
    if docs >= 0:
        body = body[:docs]
    marker = body.find(WRAPPER_MARKER)
    if marker >= 0:
        return body[marker + len(WRAPPER_MARKER) :].strip()
    if body.startswith(FAILED_PREFIX):
        inner = UNSAFE_RE.sub("", body[len(FAILED_PREFIX) :]).strip()
        if inner:
            return inner
    return error


def child_environment():
    env = dict(os.environ)
    for name in FORCE_VARIABLES:
        env.pop(name, None)
    # Many loads run side by side; one thread each is plenty for tiny files.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_load(path, mode, definitions=None):
    """Load `path` in a fresh interpreter; return (ok, error_type, error)."""
    with tempfile.TemporaryDirectory(prefix="torch-parity-") as work:
        # Load through a link named like the file inside the working
        # directory so messages that quote the path stay machine-independent.
        name = os.path.basename(path)
        local = os.path.join(work, name)
        try:
            os.symlink(os.path.abspath(path), local)
        except OSError:
            shutil.copyfile(path, local)
        result = os.path.join(work, ".result.json")
        argv = [sys.executable, "-I", "-W", "ignore", "-c", CHILD, mode, name, result]
        if definitions:
            argv.append(definitions)
        try:
            proc = subprocess.run(
                argv,
                cwd=work,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return False, "TimeoutExpired", f"torch.load did not finish within {TIMEOUT_SECONDS} s"
        try:
            with open(result) as f:
                outcome = json.load(f)
        except (OSError, ValueError):
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            return False, "ChildProcessError", f"interpreter exited with status {proc.returncode}: " + "\n".join(tail)
        return outcome["ok"], outcome["type"], outcome["error"]


def run_batch(directory, names, mode, definitions=None):
    """Load many files in one fresh interpreter; {name: (ok, type, error)} for
    those it finished."""
    if not names:
        return {}
    with tempfile.TemporaryDirectory(prefix="torch-parity-") as work:
        for name in names:
            try:
                os.symlink(os.path.abspath(os.path.join(directory, name)), os.path.join(work, name))
            except OSError:
                shutil.copyfile(os.path.join(directory, name), os.path.join(work, name))
        names_file = os.path.join(work, ".names.json")
        with open(names_file, "w") as f:
            json.dump(names, f)
        result = os.path.join(work, ".result.json")
        argv = [sys.executable, "-I", "-W", "ignore", "-c", CHILD_BATCH, mode, names_file, result]
        if definitions:
            argv.append(definitions)
        try:
            subprocess.run(
                argv,
                cwd=work,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=BATCH_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            pass
        try:
            with open(result) as f:
                done = json.load(f)
        except (OSError, ValueError):
            done = {}
    return {name: (o["ok"], o["type"], o["error"]) for name, o in done.items()}


def record(ok, error_type, error):
    found = GLOBAL_RE.search(error or "")
    return {
        "weights_only": ok,
        "error_type": error_type,
        "error": error,
        "wo_reason": weights_only_reason(error_type, error),
        "unsupported_global": found.group(1) if found else None,
        "full_load": None,
    }


def check_batched(directory, files, definitions, jobs):
    """Every weights_only load in one interpreter, every full load in another;
    what a batch did not finish is retried in isolation."""
    names = [name for name, _ in files]
    full_names = [name for name, full in files if full]
    wo = run_batch(directory, names, "weights_only")
    full = run_batch(directory, full_names, "full", definitions)
    results = {}
    retry = [(name, f) for name, f in files if name not in wo or (f and name not in full)]
    for name, _ in files:
        if name in wo:
            results[name] = record(*wo[name])
            if name in full:
                results[name]["full_load"] = full[name][0]
                if not full[name][0]:
                    print(f"{name}: full load failed: {full[name][1]}: {full[name][2]}", file=sys.stderr)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {name: pool.submit(check, os.path.join(directory, name), f, definitions) for name, f in retry}
        for name, future in futures.items():
            results[name] = future.result()
    return results


def check(path, full_load, definitions):
    ok, error_type, error = run_load(path, "weights_only")
    found = GLOBAL_RE.search(error or "")
    record = {
        "weights_only": ok,
        "error_type": error_type,
        "error": error,
        "wo_reason": weights_only_reason(error_type, error),
        "unsupported_global": found.group(1) if found else None,
        "full_load": None,
    }
    if full_load:
        full_ok, full_type, full_error = run_load(path, "full", definitions)
        record["full_load"] = full_ok
        if not full_ok:
            print(f"{os.path.basename(path)}: full load failed: {full_type}: {full_error}", file=sys.stderr)
    return record


def targets(directory, out_path, allow_full_load):
    """[(file name, attempt full load)] for DIR, from its manifest if it has one."""
    manifest = os.path.join(directory, "manifest.json")
    if os.path.isfile(manifest):
        with open(manifest) as f:
            entries = json.load(f)
        for entry in entries:
            name = entry["file"]
            if os.path.basename(name) != name or not os.path.isfile(os.path.join(directory, name)):
                raise SystemExit(f"manifest entry {name!r} is not a file directly in {directory}")
        # Only a manifest shaped exactly like gen_torch_fixtures.py's output
        # vouches for its files; any other manifest gets weights_only loads only.
        fixtures = all(
            set(entry) == {"file", "description", "category"} and entry["category"] in fx.TORCH_FIXTURE_CATEGORIES
            for entry in entries
        )
        if allow_full_load and not fixtures:
            print(f"{manifest} is not a gen_torch_fixtures.py manifest: no weights_only=False loads", file=sys.stderr)
        return [(entry["file"], allow_full_load and fixtures) for entry in entries]
    skip = {os.path.abspath(out_path)} if out_path else set()
    return [
        (e.name, False)
        for e in sorted(os.scandir(directory), key=lambda e: e.name)
        if e.is_file(follow_symlinks=False) and os.path.abspath(e.path) not in skip
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="directory with the files (and optionally manifest.json)")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="loads run in parallel")
    parser.add_argument("--no-full-load", action="store_true", help="never load with weights_only=False")
    parser.add_argument("--isolate", action="store_true", help="one interpreter per load (slow)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    files = targets(args.dir, args.out, not args.no_full_load)
    definitions = fx.LIB if os.path.isfile(fx.TORCH_FIXTURE_DEFINITIONS) else None
    if args.isolate:
        results = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {
                name: pool.submit(check, os.path.join(args.dir, name), full, definitions) for name, full in files
            }
            for name, future in futures.items():
                results[name] = future.result()
    else:
        results = check_batched(args.dir, files, definitions, args.jobs)

    report = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "results": dict(sorted(results.items())),
    }
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    loadable = sum(r["weights_only"] for r in results.values())
    print(f"{len(results)} files, {loadable} load with weights_only=True", file=sys.stderr)


if __name__ == "__main__":
    main()
