#!/usr/bin/env python3
"""Assemble the copy of pytorch/pytorch's `.github` folder that
docs/BENCHMARKS.md times `airlock ci` and zizmor on, from a git clone of
pytorch/pytorch: every file of eval/ci/pytorch-github.tsv (path, commit,
characters) written as it is at that commit.

The list holds 139 workflows, 66 local actions, merge_rules.yaml and
actionlint.yaml, each at the commit of the version the measurement read
(versions of several dates: the folder was assembled file by file, not
checked out at one commit).

    scripts/assemble_pytorch_github.py PYTORCH_CLONE OUT_DIR
    scripts/bench_ci.sh OUT_DIR
    scripts/assemble_pytorch_github.py --check OUT_DIR   # the folder matches the list
"""

import argparse
import os
import subprocess
import sys

LIST = os.path.join(os.path.dirname(__file__), "..", "eval", "ci", "pytorch-github.tsv")


def rows():
    with open(LIST, encoding="utf-8") as f:
        for line in f:
            path, commit, chars = line.rstrip("\n").split("\t")
            yield path, commit, int(chars)


def assemble(clone: str, out: str) -> int:
    bad = 0
    for path, commit, chars in rows():
        text = subprocess.run(
            ["git", "-C", clone, "show", f"{commit}:{path}"],
            check=True, capture_output=True,
        ).stdout.decode("utf-8")
        # The list counts characters with CR LF line ends as one each where
        # the stored copy had them: compare without carriage returns.
        if len(text.replace("\r", "")) > chars:
            print(f"{path}: {len(text)} characters, the list says {chars}", file=sys.stderr)
            bad += 1
        dest = os.path.join(out, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w", encoding="utf-8", newline="") as f:
            f.write(text.replace("\r\n", "\n"))
    return bad


def check(out: str) -> int:
    missing = [p for p, _, _ in rows() if not os.path.isfile(os.path.join(out, p))]
    for p in missing:
        print(f"missing: {p}", file=sys.stderr)
    return len(missing)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that OUT_DIR holds every listed file")
    ap.add_argument("paths", nargs="+", help="PYTORCH_CLONE OUT_DIR, or OUT_DIR with --check")
    a = ap.parse_args()
    if a.check:
        return 1 if check(a.paths[0]) else 0
    if len(a.paths) != 2:
        ap.error("give PYTORCH_CLONE and OUT_DIR")
    return 1 if assemble(*a.paths) else 0


if __name__ == "__main__":
    sys.exit(main())
