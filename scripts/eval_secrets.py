#!/usr/bin/env python3
"""`airlock secrets` side by side with detect-secrets (Yelp, PyPI
detect-secrets, pinned below) on the secrets fixtures
(`scripts/gen_secrets_fixtures.py`: model folders written by torch,
safetensors, tokenizers and friends, with planted fake credentials and
personal data, and clean look-alikes), then speed on a folder of 10,000
model files and on 64 MiB of log text. gitleaks and trufflehog are Go
programs with no package on PyPI; they are not measured here.

Usage: scripts/eval_secrets.py [--airlock PATH] [--out eval/SECRETS.md]

detect-secrets is installed once into ~/.cache/airlock/secrets-venv. It is
run as its documentation says (`detect-secrets scan --all-files DIR`). A
planted item counts as found by detect-secrets when it reports, in that
file, a secret type of the item's provider, or any type on the item's line
(its generic high-entropy and keyword plugins name no provider).
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DS_VERSION = "1.5.0"
VENV = os.path.expanduser("~/.cache/airlock/secrets-venv")
# detect-secrets' type names for Airlock's kinds.
DS_TYPES = {
    "gitlab-token": {"GitLab Token"}, "slack-token": {"Slack Token"}, "private-key": {"Private Key"},
    "aws-access-key-id": {"AWS Access Key"}, "aws-secret-access-key": {"AWS Access Key"},
    "jwt": {"JSON Web Token"}, "stripe-key": {"Stripe Access Key"}, "github-token": {"GitHub Token"},
    "openai-key": {"OpenAI Token"}, "huggingface-token": set(), "anthropic-key": set(),
}


def detect_secrets():
    exe = os.path.join(VENV, "bin", "detect-secrets")
    if not os.path.exists(exe):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", f"detect-secrets=={DS_VERSION}"], check=True)
    return exe


def fixtures(tmp):
    d = os.path.join(tmp, "fixtures")
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "secrets"), d)
    os.rename(os.path.join(d, "planted", "dot-git"), os.path.join(d, "planted", ".git"))
    return d


def airlock_run(airlock, path):
    start = time.perf_counter()
    p = subprocess.run([airlock, "secrets", "--format", "json", "--fail-on", "never", path],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout), time.perf_counter() - start


def ds_run(exe, path):
    start = time.perf_counter()
    p = subprocess.run([exe, "scan", "--all-files", "."], cwd=path, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["results"], time.perf_counter() - start


def compare(airlock, exe, d):
    expected = json.load(open(os.path.join(d, "expected.json")))
    rep, _ = airlock_run(airlock, d)
    ds, _ = ds_run(exe, d)
    rows, a_found, ds_found, a_fp, ds_fp = [], 0, 0, 0, 0
    by_file = {os.path.relpath(f["path"], d): f for f in rep["files"]}
    for rel, kinds in sorted(expected.items()):
        mine = by_file.get(rel, {"findings": []})["findings"]
        theirs = ds.get(rel, [])
        if not kinds:
            a_fp += len(mine)
            ds_fp += len(theirs)
            continue
        for kind in kinds:
            hit = [f for f in mine if f["kind"] == kind]
            line = hit[0]["location"].get("line") if hit else None
            ds_hit = any(t["type"] in DS_TYPES.get(kind, set()) or (line and t["line_number"] == line) for t in theirs)
            a_found += bool(hit)
            ds_found += ds_hit
            rows.append((rel, kind, bool(hit), ds_hit))
    total = sum(len(k) for k in expected.values())
    clean_files = sum(1 for k in expected.values() if not k)
    return rows, total, a_found, ds_found, a_fp, ds_fp, clean_files


def log_text(path, mib, r):
    words = ["loss", "step", "epoch", "lr", "INFO", "grad_norm", "/data/shards", "tokens/s", "eval", "ok"]
    with open(path, "w") as f:
        n = 0
        while n < mib << 20:
            line = (f"2024-05-02 10:{r.randrange(60):02d}:{r.randrange(60):02d} {r.choice(words)} "
                    f"{r.random():.5f} id={''.join(r.choice('0123456789abcdef') for _ in range(32))} "
                    f"{' '.join(r.choice(words) for _ in range(6))}\n")
            f.write(line)
            n += len(line)


def many(d, src, n):
    files = sorted(os.path.join(p, f) for p, _, fs in os.walk(src) for f in fs if ".git" not in p)
    os.makedirs(d)
    for i in range(n):
        f = files[i % len(files)]
        sub = os.path.join(d, f"m{i // 100:03d}")
        os.makedirs(sub, exist_ok=True)
        shutil.copy(f, os.path.join(sub, f"{i}-{os.path.basename(f)}"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--airlock", default=os.path.join(ROOT, "target", "release", "airlock"))
    ap.add_argument("--out", default=os.path.join(ROOT, "eval", "SECRETS.md"))
    a = ap.parse_args()
    exe = detect_secrets()
    with tempfile.TemporaryDirectory() as tmp:
        d = fixtures(tmp)
        rows, total, af, df, afp, dfp, clean_files = compare(a.airlock, exe, d)
        folder = os.path.join(tmp, "many")
        many(folder, d, 10_000)
        _, a_many = airlock_run(a.airlock, folder)
        _, d_many = ds_run(exe, folder)
        log = os.path.join(tmp, "big.log")
        log_text(log, 64 - 1, random.Random(1))
        size = os.path.getsize(log)
        _, a_log = airlock_run(a.airlock, log)
        logdir = os.path.join(tmp, "logdir")
        os.makedirs(logdir)
        shutil.move(log, os.path.join(logdir, "big.log"))
        _, d_log = ds_run(exe, logdir)
    ver = subprocess.run([a.airlock, "--version"], capture_output=True, text=True).stdout.strip()
    out = ["# `airlock secrets` beside detect-secrets", "",
           "Generated by `scripts/eval_secrets.py`; do not edit by hand.", "",
           f"Measured: `{ver}` and detect-secrets {DS_VERSION} (`detect-secrets scan --all-files`), "
           f"on a {os.cpu_count()}-core machine. Fixtures: `tests/fixtures/secrets` "
           "(`scripts/gen_secrets_fixtures.py`): fake credentials and personal data planted in files written by "
           "torch.save, safetensors, tokenizers, a notebook, a log, a git config and a key from `cryptography`; "
           f"{clean_files} clean files of look-alikes (hashes, UUIDs, commit ids, base64 weights, a trained "
           "vocabulary, a token in tensor bytes).", "",
           "| | Airlock | detect-secrets |", "| --- | ---: | ---: |",
           f"| planted items found (of {total}) | {af} | {df} |",
           f"| findings in clean files | {afp} | {dfp} |",
           f"| folder of 10,000 model files | {a_many:.2f} s | {d_many:.2f} s |",
           f"| {size / (1 << 20):.0f} MiB of log text | {a_log:.2f} s ({size / (1 << 20) / a_log:.0f} MiB/s) | {d_log:.2f} s ({size / (1 << 20) / d_log:.1f} MiB/s) |",
           "", "| file | planted | Airlock | detect-secrets |", "| --- | --- | :---: | :---: |"]
    for rel, kind, mine, theirs in rows:
        out.append(f"| `{rel}` | {kind} | {'found' if mine else 'missed'} | {'found' if theirs else 'missed'} |")
    out += ["", "detect-secrets reads files as lines of text: it skips the pickles inside torch checkpoints "
            "and safetensors headers, and has no personal-data plugins. Wall times include process start "
            "and, for Airlock, reading every file's strings in parallel.", ""]
    open(a.out, "w").write("\n".join(out))
    print("\n".join(out[:14]))


if __name__ == "__main__":
    main()
