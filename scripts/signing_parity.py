#!/usr/bin/env python3
"""Airlock's model hashing against the real `model_signing` (PyPI
model-signing) and coreutils, on folders with the format's traps.

Usage: signing_parity.py AIRLOCK_BINARY

For each folder (names that sort differently by component and as strings,
nested folders, empty files, Unicode and spaces, .git paths, a file exactly
one shard long) and each configuration (files with sha256, blake2 and
blake3; shards of 1, 7 and 4096 bytes; user ignore paths), the manifest
`model_signing.hashing.Config(...).hash()` builds and the one
`airlock hash --manifest` prints must have the same resources, in the same
order, and the same root digest. `sha256sum -c` must accept the list
`airlock hash` prints, and `airlock hash -c` the list `sha256sum` prints.
Run it with the venv python (model-signing and pyopenssl installed).
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

from model_signing import hashing


def build(root):
    files = {
        "a/b": b"hello",
        "a-b": b"x" * 4096,
        "a.c": b"",
        "a/b.d/e": bytes(range(256)) * 9,
        "B": b"upper",
        "sp ace/ünï cödé.bin": b"\x00\xff" * 1000,
        "empty": b"",
        ".git/HEAD": b"ref: refs/heads/main\n",
        ".github/workflows/ci.yml": b"on: push\n",
        ".gitignore": b"*.tmp\n",
        "sub/.gitignore": b"kept: only the top one is ignored\n",
        "logs/run.txt": b"ignored by the user\n",
        "weights.bin": os.urandom(100_003),
    }
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(root, "empty_dir"), exist_ok=True)


def theirs(model, config):
    m = config.hash(model)
    digests, resources = hashlib.sha256(), []
    for d in m.resource_descriptors():
        digests.update(d.digest.digest_value)
        resources.append({"name": d.identifier, "algorithm": d.digest.algorithm, "digest": d.digest.digest_hex})
    return resources, digests.hexdigest()


def ours(airlock, model, args):
    out = subprocess.run([airlock, "hash", "--manifest", *args, model], check=True, capture_output=True, text=True)
    doc = json.loads(out.stdout)
    return doc["resources"], doc["root_digest"]["sha256"]


def main():
    airlock = os.path.abspath(sys.argv[1])
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model")
        build(model)
        cases = [
            ("files sha256", hashing.Config().use_file_serialization(), []),
            ("files blake2", hashing.Config().use_file_serialization(hashing_algorithm="blake2"), ["-a", "blake2b"]),
            ("files blake3", hashing.Config().use_file_serialization(hashing_algorithm="blake3"), ["-a", "blake3"]),
            ("shards 1", hashing.Config().use_shard_serialization(shard_size=1), ["--shard-size", "1"]),
            ("shards 7", hashing.Config().use_shard_serialization(shard_size=7), ["--shard-size", "7"]),
            ("shards 4096", hashing.Config().use_shard_serialization(shard_size=4096), ["--shard-size", "4096"]),
            ("shards blake2", hashing.Config().use_shard_serialization(hashing_algorithm="blake2", shard_size=1000),
             ["-a", "blake2b", "--shard-size", "1000"]),
            ("user ignores", hashing.Config().set_ignored_paths(paths=["logs", "a/b.d"]),
             ["--ignore", "logs", "--ignore", "a/b.d"]),
            ("git paths kept", hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False),
             ["--no-ignore-git-paths"]),
        ]
        for name, config, args in cases:
            want = theirs(model, config)
            got = ours(airlock, model, args)
            checked += 1
            if got != want:
                failures += 1
                print(f"MISMATCH {name}:\n  model_signing {json.dumps(want)[:600]}\n  airlock       {json.dumps(got)[:600]}")
            else:
                print(f"ok   {name}: {len(want[0])} resources, root {want[1][:16]}...")
        # Checksum lists, both ways.
        listed = subprocess.run([airlock, "hash", "model"], cwd=tmp, check=True, capture_output=True).stdout
        with open(os.path.join(tmp, "ours.sha256"), "wb") as f:
            f.write(listed)
        r = subprocess.run(["sha256sum", "-c", "--strict", "ours.sha256"], cwd=tmp, capture_output=True, text=True)
        checked += 1
        if r.returncode != 0:
            failures += 1
            print(f"MISMATCH sha256sum -c rejects airlock's list: {r.stdout}{r.stderr}")
        else:
            print(f"ok   sha256sum -c accepts airlock's list ({len(listed.splitlines())} files)")
        names = [line.split(b"  ", 1)[1].decode() for line in listed.splitlines()]
        theirs_list = subprocess.run(["sha256sum", "--", *names], cwd=tmp, check=True, capture_output=True).stdout
        with open(os.path.join(tmp, "theirs.sha256"), "wb") as f:
            f.write(theirs_list)
        r = subprocess.run([airlock, "hash", "-c", "theirs.sha256"], cwd=tmp, capture_output=True, text=True)
        checked += 1
        if r.returncode != 0 or r.stdout.count(": OK") != len(names):
            failures += 1
            print(f"MISMATCH airlock hash -c rejects sha256sum's list: {r.stdout}{r.stderr}")
        else:
            print("ok   airlock hash -c accepts sha256sum's list")
        with open(os.path.join(model, "a", "b"), "ab") as f:
            f.write(b"!")
        r = subprocess.run([airlock, "hash", "-c", "theirs.sha256"], cwd=tmp, capture_output=True, text=True)
        checked += 1
        if r.returncode != 1 or "model/a/b: FAILED" not in r.stdout:
            failures += 1
            print(f"MISMATCH a changed file is not reported: {r.returncode} {r.stdout}{r.stderr}")
        else:
            print("ok   airlock hash -c reports the changed file")
    print(f"{checked} checks, {failures} mismatches")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
