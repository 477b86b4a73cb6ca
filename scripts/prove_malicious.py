#!/usr/bin/env python3
"""Prove that every malicious fixture really executes code in its real loader.

For each entry of DIR/manifest.json (written by gen_malicious_fixtures.py) this
starts a fresh Python process whose working directory is a new, empty temporary
directory, loads the fixture there with the declared loader and then checks
whether the payload created its marker file (`airlock-marker-<technique>`):

  torch.load   torch.load(path, weights_only=False)
  pickle.load  pickle.load(open(path, "rb"))
  numpy.load   numpy.load(path, allow_pickle=True)
  joblib.load  joblib.load(path)
  numpy.load-npz    every array of numpy.load(path, allow_pickle=True) (an NpzFile)
  pickle.load-gzip  pickle.load(gzip.open(path))
  torch.export.load      torch.export.load(path)
  torch.export.load-run  ep = torch.export.load(path), then ep.module() called
                         on ep.example_inputs
  pandas.read_pickle     pandas.read_pickle(path) (.zip, .tar.gz: the member)
  numpy.load-staged      a = numpy.load(path), then pickle.loads(a.tobytes())
  npy.read-body          the bytes after a .npy's declared header, unpickled
  sb3.load_from_zip_file stable_baselines3's load_from_zip_file(path)
  nemo.restore-weights   untar, torch.load(model_weights.ckpt), as NeMo's restore does
  torch.package          PackageImporter(path).load_pickle("model", "model.pkl")
  torchserve.serialized-file  unzip, torch.load(the manifest's serializedFile),
                         as TorchServe's base handler does

Payloads that start a background process (Popen, asyncio transports, ...) or
run at interpreter exit are given a short grace period after the child exits.
The fixtures are only ever loaded here, inside those throw-away processes.

The child interpreter is this one (`sys.executable`), so run the script with the
project venv's Python (torch, numpy), e.g.
    "$(source scripts/lib/venv.sh; airlock_venv)/bin/python" scripts/prove_malicious.py DIR

Usage: prove_malicious.py DIR [--out FILE] [--jobs N] [--only TECHNIQUE ...]
Prints (or writes to FILE) JSON
  {"python", "torch", "numpy", "results": {file: {"executed", "loader", "error"}}}
and exits 1 if any fixture did not create its marker (so a fixture that stopped
being a real attack fails CI), 2 on usage errors.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 60
GRACE_S = 5.0

LOADERS = {
    "torch.load": "import torch\nresult = torch.load(path, weights_only=False)\n",
    "pickle.load": "import pickle\nwith open(path, 'rb') as fh:\n    result = pickle.load(fh)\n",
    "numpy.load": "import numpy\nresult = numpy.load(path, allow_pickle=True)\n",
    "joblib.load": "import joblib\nresult = joblib.load(path)\n",
    "numpy.load-npz": "import numpy\nwith numpy.load(path, allow_pickle=True) as f:\n    result = [f[k] for k in f.files]\n",
    "pickle.load-gzip": "import gzip, pickle\nwith gzip.open(path, 'rb') as fh:\n    result = pickle.load(fh)\n",
    "torch.export.load": "import torch\nresult = torch.export.load(path)\n",
    "torch.export.load-run": "import torch\nep = torch.export.load(path)\nargs, kwargs = ep.example_inputs\n"
                             "result = ep.module()(*args, **kwargs)\n",
    "pandas.read_pickle": "import pandas\nresult = pandas.read_pickle(path)\n",
    # A second stage: np.load returns the array as numbers, then something
    # unpickles its bytes (np.load alone never runs the payload).
    "numpy.load-staged": (
        "import numpy, pickle\na = numpy.load(path, allow_pickle=False)\n"
        "result = pickle.loads(a.tobytes())\n"),
    # A .npy whose header numpy refuses: a reader that skips the declared
    # header length and unpickles the rest (np.load raises before it).
    "npy.read-body": (
        "import pickle, struct\nwith open(path, 'rb') as fh:\n    fh.read(8)\n"
        "    fh.read(struct.unpack('<H', fh.read(2))[0])\n    result = pickle.load(fh)\n"),
    # A second stage: the checkpoint loads as data, then something unpickles
    # a tensor's bytes (torch.load alone never runs the payload).
    "torch.load-staged": (
        "import pickle, torch\nt = torch.load(path, weights_only=True)\n"
        "result = pickle.loads(t.numpy().tobytes())\n"),
    "sb3.load_from_zip_file": (
        "from stable_baselines3.common.save_util import load_from_zip_file\n"
        "result = load_from_zip_file(path, device='cpu')\n"),
    # NeMo's SaveRestoreConnector untars the archive and torch.loads
    # model_weights.ckpt (nemo_toolkit is not in the venv: its two steps).
    "nemo.restore-weights": (
        "import tarfile, tempfile, os, torch\nd = tempfile.mkdtemp()\n"
        "tarfile.open(path).extractall(d, filter='data')\n"
        "result = torch.load(os.path.join(d, 'model_weights.ckpt'), map_location='cpu', weights_only=False)\n"),
    # torch.package: the importer loads the pickle at model/model.pkl,
    # importing the packaged modules it names.
    "torch.package": (
        "import torch.package\n"
        "result = torch.package.PackageImporter(path).load_pickle('model', 'model.pkl')\n"),
    # TorchServe's base handler unzips the .mar and torch.loads the
    # manifest's serializedFile (the server is not in the venv: those steps).
    "torchserve.serialized-file": (
        "import zipfile, json, tempfile, os, torch\nd = tempfile.mkdtemp()\n"
        "z = zipfile.ZipFile(path); z.extractall(d)\n"
        "m = json.load(open(os.path.join(d, 'MAR-INF', 'MANIFEST.json')))['model']\n"
        "result = torch.load(os.path.join(d, m['serializedFile']), map_location='cpu', weights_only=False)\n"),
}

# The child: load the file, then report the outcome (exception or not) into a
# result file outside its working directory. Written to a file rather than
# stdout because payloads (profilers, pip, debuggers) print to stdout.
CHILD = r"""
import json, sys, traceback
path, report = sys.argv[1], sys.argv[2]
error = None
try:
    exec(compile(sys.argv[3], "<loader>", "exec"), {"path": path})
except BaseException as exc:  # SystemExit too: some payloads exit the process
    error = f"{type(exc).__name__}: {exc}"[:500]
with open(report, "w") as fh:
    json.dump({"error": error}, fh)
"""


def versions():
    probe = ("import json, sys\n"
             "out = {'python': sys.version.split()[0]}\n"
             "for m in ('torch', 'numpy'):\n"
             "    try:\n"
             "        out[m] = __import__(m).__version__\n"
             "    except Exception:\n"
             "        out[m] = None\n"
             "print(json.dumps(out))\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT_S)
    return json.loads(res.stdout)


def child_env():
    env = dict(os.environ)
    # These would change what torch.load does with weights_only=False.
    env.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def prove(entry, fixture_dir):
    loader = entry["loader"]
    if loader not in LOADERS:
        return {"executed": False, "loader": loader, "error": f"unknown loader {loader!r}"}
    path = os.path.abspath(os.path.join(fixture_dir, entry["file"]))
    work = tempfile.mkdtemp(prefix="airlock-prove-")
    scratch = tempfile.mkdtemp(prefix="airlock-prove-report-")
    report = os.path.join(scratch, "report.json")
    marker = os.path.join(work, entry["marker"])
    error = None
    try:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, path, report, LOADERS[loader]],
                cwd=work, env=child_env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT_S)
            if os.path.exists(report):
                with open(report) as fh:
                    error = json.load(fh)["error"]
            else:
                tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
                error = f"loader process exited with {proc.returncode} before reporting" + (
                    f": {tail[0]}" if tail else "")
        except subprocess.TimeoutExpired:
            error = f"timeout after {TIMEOUT_S}s"
        deadline = time.monotonic() + GRACE_S
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        executed = os.path.exists(marker)
    finally:
        # Background payloads may still be writing here; ignore races.
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return {"executed": executed, "loader": loader, "error": error}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="fixture directory containing manifest.json")
    ap.add_argument("--out", help="write the JSON report here instead of stdout")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--only", nargs="*", help="technique ids to prove (default: all)")
    args = ap.parse_args()

    with open(os.path.join(args.dir, "manifest.json")) as fh:
        manifest = json.load(fh)
    names = [e["file"] for e in manifest]
    if len(set(names)) != len(names):
        ap.error("manifest lists the same file more than once")
    if args.only:
        manifest = [e for e in manifest if e["technique"] in args.only]
        if not manifest:
            ap.error("no manifest entry matches --only")

    report = versions()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(prove, e, args.dir): e for e in manifest}
        for fut in concurrent.futures.as_completed(futures):
            entry = futures[fut]
            results[entry["file"]] = fut.result()
            r = results[entry["file"]]
            print(f"{'ok  ' if r['executed'] else 'FAIL'} {entry['file']} ({r['loader']})"
                  + (f": {r['error']}" if r["error"] and not r["executed"] else ""), file=sys.stderr)
    report["results"] = {name: results[name] for name in sorted(results)}

    text = json.dumps(report, indent=1) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    failed = sorted(name for name, r in results.items() if not r["executed"])
    print(f"{len(results) - len(failed)}/{len(results)} fixtures executed", file=sys.stderr)
    if failed:
        print("did not execute: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
