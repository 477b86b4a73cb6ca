#!/usr/bin/env python3
"""Label the evaluation corpus by loading every file with its real loader.

The corpus (see scripts/gen_eval_corpus.py) is every file listed by
  eval/corpus/manifest.json       realistic benign and malformed files
  tests/fixtures/torch/manifest.json   small benign torch files of every kind
  tests/fixtures/malicious/manifest.json   attacks with harmless payloads
and each gets the group its loader's real behaviour puts it in:

  malicious       the payload ran: its marker file appeared (proved as
                  scripts/prove_malicious.py does, one throw-away process each)
  benign-wo       the safe loader returns it: torch.load(weights_only=True),
                  numpy.load(allow_pickle=False), safetensors.torch.load_file
  benign-refused  the safe loader refuses it (or there is none, as for
                  joblib), the unrestricted one (weights_only=False,
                  allow_pickle=True, joblib.load) returns it, and no file
                  appears in its working directory
  malformed       both loaders raise

Benign and malformed files are loaded in batches, each batch in a fresh
interpreter (`python -I`, working directory a new empty temporary directory,
TORCH_FORCE_* variables removed); a batch that dies is retried one file per
interpreter. The classes gen_torch_fixtures.py pickles as `__main__.X` are
installed in `__main__` for the unrestricted loads, as torch_parity.py does.

A file whose observed group differs from the group its manifest declares
(eval/corpus and malicious entries; torch fixtures declare none) is an error.

Run it with the project venv's Python (torch, numpy, safetensors, omegaconf,
joblib, scikit-learn):
    "$(source scripts/lib/venv.sh; airlock_venv)/bin/python" scripts/verify_eval_corpus.py

Usage: verify_eval_corpus.py [--out FILE] [--check FILE] [--jobs N]
  --out FILE    write the labels as JSON (eval/labels.json in the repo)
  --check FILE  compare with committed labels: exit 1 if any file's group or
                the set of files differs
Exit status: 0 all labels verified, 1 a mismatch, 2 usage error.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import prove_malicious  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

SOURCES = ("eval/corpus", "tests/fixtures/torch", "tests/fixtures/malicious")
TIMEOUT_S = 300

SAFE = {
    "torch.load": "torch.load(path, weights_only=True, map_location='cpu')",
    "numpy.load": "numpy.load(path, allow_pickle=False)",
    "numpy.load-npz": "[z[k] for z in [numpy.load(path, allow_pickle=False)] for k in z.files]",
    "safetensors": "safetensors.torch.load_file(path)",
    "joblib.load": None,
}
FULL = {
    "torch.load": "torch.load(path, weights_only=False, map_location='cpu')",
    "numpy.load": "numpy.load(path, allow_pickle=True)",
    "numpy.load-npz": "[z[k] for z in [numpy.load(path, allow_pickle=True)] for k in z.files]",
    "safetensors": "safetensors.torch.load_file(path)",
    "joblib.load": "joblib.load(path)",
}

CHILD = r"""
import json, os, sys, warnings
warnings.simplefilter("ignore")
jobs = json.load(open(sys.argv[1]))
report = sys.argv[2]
if sys.argv[3] == "full":
    sys.path.insert(0, sys.argv[4])
    import airlock_fixtures
    airlock_fixtures.install_fixture_classes()
import numpy, torch, safetensors.torch, joblib
out = {}
for path, expr in jobs:
    before = set(os.listdir("."))
    try:
        eval(expr, {"numpy": numpy, "torch": torch, "safetensors": safetensors, "joblib": joblib, "path": path})
        error = None
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    created = sorted(set(os.listdir(".")) - before)
    out[path] = {"ok": error is None, "error": error, "created": created}
    with open(report, "w") as fh:
        json.dump(out, fh)
"""


def run_batch(jobs, mode):
    """jobs: [(abs path, expr)] -> {path: {ok, error, created}}; missing on a crash."""
    work = tempfile.mkdtemp(prefix="airlock-eval-load-")
    scratch = tempfile.mkdtemp(prefix="airlock-eval-report-")
    try:
        spec = os.path.join(scratch, "jobs.json")
        report = os.path.join(scratch, "report.json")
        with open(spec, "w") as fh:
            json.dump(jobs, fh)
        try:
            subprocess.run([sys.executable, "-I", "-c", CHILD, spec, report, mode, fx.LIB],
                           cwd=work, env=prove_malicious.child_env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        if os.path.exists(report):
            with open(report) as fh:
                return json.load(fh)
        return {}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def load_all(jobs, mode):
    done = run_batch(jobs, mode)
    for job in jobs:
        if job[0] not in done:  # the batch died on (or before) this file: alone
            one = run_batch([job], mode)
            done[job[0]] = one.get(job[0], {"ok": False, "error": "loader process died", "created": []})
    return done


def entries():
    out = []
    for src in SOURCES:
        with open(os.path.join(ROOT, src, "manifest.json")) as fh:
            for e in json.load(fh):
                path = f"{src}/{e['file']}"
                if src.endswith("malicious"):
                    out.append({"path": path, "declared": "malicious", "loader": e["loader"],
                                "description": e["description"], "manifest": e, "dir": src})
                else:
                    out.append({"path": path, "declared": e.get("group"), "loader": e.get("loader", "torch.load"),
                                "description": e["description"]})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--check")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1))
    args = ap.parse_args()

    items = entries()
    paths = [e["path"] for e in items]
    if len(set(paths)) != len(paths):
        ap.error("a file is listed twice")
    data = [e for e in items if e["declared"] != "malicious"]
    for e in data:
        if e["loader"] not in SAFE:
            ap.error(f"{e['path']}: unknown loader {e['loader']!r}")
    abspath = {e["path"]: os.path.join(ROOT, e["path"]) for e in items}

    safe = load_all([(abspath[e["path"]], SAFE[e["loader"]]) for e in data if SAFE[e["loader"]]], "safe")
    full = load_all([(abspath[e["path"]], FULL[e["loader"]]) for e in data], "full")
    malicious = [e for e in items if e["declared"] == "malicious"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        proofs = list(pool.map(lambda e: prove_malicious.prove(e["manifest"], os.path.join(ROOT, e["dir"])),
                               malicious))

    labels, bad = [], []
    for e in data:
        p = abspath[e["path"]]
        s = safe.get(p, {"ok": False, "error": "no safe loader", "created": []})
        f = full[p]
        if s["created"] or f["created"]:
            group, why = "malicious", f"created {s['created'] + f['created']}"
        elif s["ok"]:
            group, why = "benign-wo", None
        elif f["ok"]:
            group, why = "benign-refused", s["error"]
        else:
            group, why = "malformed", f["error"]
        labels.append({"path": e["path"], "group": group, "loader": e["loader"],
                       "description": e["description"], "evidence": why})
        if e["declared"] and e["declared"] != group:
            bad.append(f"{e['path']}: declared {e['declared']}, observed {group} ({why})")
    for e, proof in zip(malicious, proofs):
        group = "malicious" if proof["executed"] else "unproven"
        labels.append({"path": e["path"], "group": group, "loader": e["loader"],
                       "description": e["description"],
                       "evidence": "marker file created" if proof["executed"] else proof["error"]})
        if group != "malicious":
            bad.append(f"{e['path']}: payload did not run ({proof['error']})")

    versions = prove_malicious.versions()
    result = {"versions": versions, "files": labels}
    counts = {}
    for lab in labels:
        counts[lab["group"]] = counts.get(lab["group"], 0) + 1
    print(" ".join(f"{g}: {n}" for g, n in sorted(counts.items())), file=sys.stderr)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")
    if args.check:
        with open(args.check) as fh:
            old = {x["path"]: x["group"] for x in json.load(fh)["files"]}
        new = {x["path"]: x["group"] for x in labels}
        for p in sorted(set(old) | set(new)):
            if old.get(p) != new.get(p):
                bad.append(f"{p}: committed label {old.get(p)}, observed {new.get(p)}")
    for b in bad:
        print("MISMATCH", b, file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
