#!/usr/bin/env python3
"""`airlock secrets` side by side with detect-secrets (Yelp, PyPI
detect-secrets) and secretlint (npm secretlint with its recommended rule
preset), both pinned below, on the secrets fixtures
(`scripts/gen_secrets_fixtures.py`: model folders written by torch,
safetensors, tokenizers and friends, with planted fake credentials and
personal data, and clean look-alikes), then speed on a folder of 10,000
model files and on 64 MiB of log text. gitleaks and trufflehog are Go
programs with no package on PyPI, npm or this machine's Debian; they are
not measured here.

Usage: scripts/eval_secrets.py [--airlock PATH] [--out eval/SECRETS.md]

detect-secrets is installed once into ~/.cache/airlock/secrets-venv,
secretlint (with npm) into ~/.cache/airlock/secretlint. Each is run as its
documentation says: `detect-secrets scan --all-files` and
`secretlint "**/*"` in the folder (secretlint's glob leaves out dot
folders such as `.git`). A planted item counts as found by a peer when it
reports, in that file, a rule or type of the item's provider, or anything
on the item's line (detect-secrets' generic high-entropy and keyword
plugins name no provider).
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


SL_VERSION = "13.0.6"
SL_DIR = os.path.expanduser("~/.cache/airlock/secretlint")
# secretlint's rules (preset-recommend) for Airlock's kinds.
SL_RULES = {
    "gitlab-token": "gitlab", "slack-token": "slack", "private-key": "privatekey",
    "aws-access-key-id": "aws", "aws-secret-access-key": "aws", "stripe-key": "stripe",
    "github-token": "github", "openai-key": "openai", "anthropic-key": "anthropic",
    "huggingface-token": "huggingface", "database-url": "database-connection-string",
}


def secretlint():
    exe = os.path.join(SL_DIR, "node_modules", ".bin", "secretlint")
    if not os.path.exists(exe):
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", SL_DIR,
                        f"secretlint@{SL_VERSION}", f"@secretlint/secretlint-rule-preset-recommend@{SL_VERSION}"],
                       check=True)
    rc = os.path.join(SL_DIR, ".secretlintrc.json")
    with open(rc, "w") as f:
        json.dump({"rules": [{"id": "@secretlint/secretlint-rule-preset-recommend"}]}, f)
    return exe, rc


def sl_run(sl, path):
    """secretlint's findings: relative path -> [(rule, line)]."""
    exe, rc = sl
    start = time.perf_counter()
    p = subprocess.run([exe, "--secretlintrc", rc, "--format", "json", "**/*"], cwd=path,
                       capture_output=True, text=True)
    took = time.perf_counter() - start
    if p.returncode not in (0, 1):
        raise SystemExit(f"secretlint failed ({p.returncode}): {p.stderr[-2000:]}")
    out = {}
    for f in json.loads(p.stdout or "[]"):
        msgs = [(m["ruleId"].rsplit("secretlint-rule-", 1)[-1], m.get("loc", {}).get("start", {}).get("line"))
                for m in f["messages"]]
        out[os.path.relpath(f["filePath"], path)] = msgs
    return out, took


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


def compare(airlock, exe, sl, d):
    """Per planted item, found by Airlock, detect-secrets, secretlint; and
    the findings each reports in the clean files."""
    expected = json.load(open(os.path.join(d, "expected.json")))
    rep, _ = airlock_run(airlock, d)
    ds, _ = ds_run(exe, d)
    slf, _ = sl_run(sl, d)
    rows, found, fp = [], [0, 0, 0], [0, 0, 0]
    by_file = {os.path.relpath(f["path"], d): f for f in rep["files"]}
    for rel, kinds in sorted(expected.items()):
        mine = by_file.get(rel, {"findings": []})["findings"]
        theirs, lints = ds.get(rel, []), slf.get(rel, [])
        if not kinds:
            for i, n in enumerate((len(mine), len(theirs), len(lints))):
                fp[i] += n
            continue
        for kind in kinds:
            hit = [f for f in mine if f["kind"] == kind]
            line = hit[0]["location"].get("line") if hit else None
            ds_hit = any(t["type"] in DS_TYPES.get(kind, set()) or (line and t["line_number"] == line) for t in theirs)
            sl_hit = any(r == SL_RULES.get(kind) or (line and at == line) for r, at in lints)
            for i, h in enumerate((bool(hit), ds_hit, sl_hit)):
                found[i] += h
            rows.append((rel, kind, bool(hit), ds_hit, sl_hit))
    total = sum(len(k) for k in expected.values())
    clean_files = sum(1 for k in expected.values() if not k)
    return rows, total, found, fp, clean_files


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
    sl = secretlint()
    with tempfile.TemporaryDirectory() as tmp:
        d = fixtures(tmp)
        rows, total, found, fp, clean_files = compare(a.airlock, exe, sl, d)
        folder = os.path.join(tmp, "many")
        many(folder, d, 10_000)
        _, a_many = airlock_run(a.airlock, folder)
        _, d_many = ds_run(exe, folder)
        _, s_many = sl_run(sl, folder)
        log = os.path.join(tmp, "big.log")
        log_text(log, 64 - 1, random.Random(1))
        size = os.path.getsize(log)
        _, a_log = airlock_run(a.airlock, log)
        logdir = os.path.join(tmp, "logdir")
        os.makedirs(logdir)
        shutil.move(log, os.path.join(logdir, "big.log"))
        _, d_log = ds_run(exe, logdir)
        _, s_log = sl_run(sl, logdir)
    mib = size / (1 << 20)
    speed = lambda t: f"{t:.2f} s ({mib / t:.1f} MiB/s)"  # noqa: E731
    ver = subprocess.run([a.airlock, "--version"], capture_output=True, text=True).stdout.strip()
    out = ["# `airlock secrets` beside detect-secrets and secretlint", "",
           "Generated by `scripts/eval_secrets.py`; do not edit by hand.", "",
           f"Measured: `{ver}`, detect-secrets {DS_VERSION} (`detect-secrets scan --all-files`) and secretlint "
           f"{SL_VERSION} with its recommended rules (`secretlint \"**/*\"`), "
           f"on a {os.cpu_count()}-core machine. Fixtures: `tests/fixtures/secrets` "
           "(`scripts/gen_secrets_fixtures.py`): fake credentials and personal data planted in files written by "
           "torch.save, safetensors, tokenizers, a notebook, a log, a git config and a key from `cryptography`; "
           f"{clean_files} clean files of look-alikes (hashes, UUIDs, commit ids, base64 weights, a trained "
           "vocabulary, a token in tensor bytes).", "",
           "| | Airlock | detect-secrets | secretlint |", "| --- | ---: | ---: | ---: |",
           f"| planted items found (of {total}) | {found[0]} | {found[1]} | {found[2]} |",
           f"| findings in clean files | {fp[0]} | {fp[1]} | {fp[2]} |",
           f"| folder of 10,000 model files | {a_many:.2f} s | {d_many:.2f} s | {s_many:.2f} s |",
           f"| {mib:.0f} MiB of log text | {speed(a_log)} | {speed(d_log)} | {speed(s_log)} |",
           "", "| file | planted | Airlock | detect-secrets | secretlint |", "| --- | --- | :---: | :---: | :---: |"]
    word = lambda b: "found" if b else "missed"  # noqa: E731
    for rel, kind, mine, theirs, lint in rows:
        out.append(f"| `{rel}` | {kind} | {word(mine)} | {word(theirs)} | {word(lint)} |")
    out += ["", "detect-secrets and secretlint read files as text: they skip the pickles inside torch "
            "checkpoints and the binary members of archives, and have no personal-data rules; secretlint's "
            "glob leaves out dot folders (`.git`). Wall times include process start and, for Airlock, reading "
            "every file's strings in parallel.", ""]
    open(a.out, "w").write("\n".join(out))
    print("\n".join(out[:14]))


if __name__ == "__main__":
    main()
