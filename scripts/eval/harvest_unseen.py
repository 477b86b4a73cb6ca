#!/usr/bin/env python3
"""Airlock on malicious pickles this repository has never seen.

Source: ModelAudit's own adversarial pickle tests, shipped in its PyPI sdist
(``modelaudit==0.2.54``, pinned by SHA-256 below), folder
``packages/modelaudit-picklescan/tests``: ``test_adversarial_pickle_oracle.py``
(ADVERSARIAL_CASES, >= 300 payloads labelled there by a CPython oracle, and
~100 gadget tests that build a payload with a harmless marker, assert
ModelAudit blocks it and often prove with ``pickle.loads`` that it runs),
``test_api.py``, ``test_call_graph_*.py``, ``test_protocol0_line_operands.py``
and the rest.  Nothing of it is stored in this repository: payloads are
written under the cache folder only.

Steps (``scripts/eval_unseen.sh`` runs them all):

1. ``pip download modelaudit==0.2.54 --no-binary :all: --no-deps`` into
   ``CACHE/sdist`` (the only network access; skipped when the cached file has
   the pinned SHA-256) and extract the tests folder.
2. Run those tests with pytest **inside ``airlock run``** (no network, host
   read-only but the work folder, private /tmp, HOME in the work folder),
   with ``unseen_pytest_plugin.py`` as their conftest: it wraps
   ``PickleScanner.scan_bytes`` / ``scan_file`` (which the module-level
   ``modelaudit_picklescan.scan_bytes``, ``modelaudit_picklescan.api.scan_bytes``
   and every alias of them call) before any test module is imported, and
   records every payload a test scans with ModelAudit's verdict and the test's
   outcome.
3. Deduplicate by SHA-256 and write each payload to ``CACHE/payloads`` as
   ``<test-name>.pkl`` (``__2``, ``__3`` ... when one test scans several;
   ``scan_file`` payloads keep their file's suffix, e.g. ``.pt`` zips).
4. Run two CPython oracles on every payload (``unseen_oracle.py``, inside
   ``airlock run`` again, one throw-away child process per payload and oracle,
   10 s and rlimits each): *imports* (``find_class`` records every global and
   returns an inert stub: no module imported, nothing of the payload runs) and
   *execute* (the real load with an audit hook that refuses process creation;
   ``executes`` = the load called a Python function or raised a side-effect
   audit event after resolving a global outside the weights_only allowlist).
5. Label, without looking at Airlock:

   * **malicious** -- at least one ModelAudit test that *passed* scanned these
     bytes and got verdict MALICIOUS, **and** the *imports* oracle (or the
     *execute* oracle) shows the pickle resolving at least one global outside
     the ``torch.load(weights_only=True)`` allowlist (taken from the installed
     torch's ``torch._weights_only_unpickler._get_allowed_globals()``).  So a
     malicious payload is one ModelAudit's authors built and asserted to be an
     attack, and that CPython confirms imports code no data-only loader
     allows.  A pickle that imports nothing cannot be malicious here, whatever
     ModelAudit said.
   * **benign** -- every recorded ModelAudit scan of these bytes (in passed
     tests) returned CLEAN.  Airlock calling one of these ``dangerous`` is a
     false alarm (``suspicious`` is not: it means "imports code outside the
     data allowlist", which a CLEAN pickle may well do).
   * **other** -- the rest (ModelAudit SUSPICIOUS / UNKNOWN, malformed or
     budget-limit probes, tests that failed or were skipped).  Reported, not
     scored.

   The *execute* oracle's ``executes`` flag is a second, ModelAudit-independent
   view: the summary also counts Airlock's verdicts on every payload that
   executes, whatever ModelAudit said.
6. ``airlock scan --format json`` on every payload, one process per file,
   120 s timeout each; print the counts, write ``CACHE/labels.json``,
   ``CACHE/results.json`` and ``eval/UNSEEN.md``.

Usage:
    python3 scripts/eval/harvest_unseen.py --airlock PATH --python VENV_PYTHON
        [--cache DIR] [--jobs N] [--tests FILE...] [--skip-harvest] [--md eval/UNSEEN.md]

``--python`` must have ``modelaudit_picklescan`` 0.1.12 (what the sdist
ships), pytest and, for the allowlist, torch.  Stdlib only, Python 3.11.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

SDIST_NAME = "modelaudit"
SDIST_VERSION = "0.2.54"
SDIST_SHA256 = "87ffdef31b0a0f9f0bf65c1fbc920c3217300a8924a87d9b95715dd7ed70a5dc"
PICKLESCAN_VERSION = "0.1.12"
TESTS_IN_SDIST = f"modelaudit-{SDIST_VERSION}/packages/modelaudit-picklescan/tests/"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTEST_WALL_S = 5400
ORACLE_WALL_S = 5400
SCAN_TIMEOUT_S = 120

# Used only when torch is not importable in --python.
FALLBACK_ALLOWLIST = [
    "collections.OrderedDict",
    "collections.Counter",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.complex",
    "_codecs.encode",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.Size",
    "torch.device",
]


def log(msg: str) -> None:
    print(f"[unseen {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- 1. sdist


def fetch_sdist(cache: Path, python: str) -> Path:
    sdist_dir = cache / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    tar = sdist_dir / f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"
    if not (tar.exists() and sha256_file(tar) == SDIST_SHA256):
        log(f"pip download {SDIST_NAME}=={SDIST_VERSION} (sdist)")
        subprocess.run(
            [python, "-m", "pip", "download", f"{SDIST_NAME}=={SDIST_VERSION}", "--no-binary", ":all:",
             "--no-deps", "-d", str(sdist_dir)],
            check=True, timeout=900, stdin=subprocess.DEVNULL,
        )
    got = sha256_file(tar)
    if got != SDIST_SHA256:
        raise SystemExit(f"{tar}: SHA-256 {got}, expected {SDIST_SHA256}")
    return tar


def extract_tests(tar_path: Path, work: Path) -> Path:
    tests = work / "tests"
    if tests.exists():
        shutil.rmtree(tests)
    tests.mkdir(parents=True)
    with tarfile.open(tar_path, "r:gz") as tf:
        for m in tf.getmembers():
            if not m.name.startswith(TESTS_IN_SDIST) or not m.isfile():
                continue
            rel = m.name[len(TESTS_IN_SDIST):]
            if not rel or rel.startswith("/") or ".." in Path(rel).parts:
                continue
            dest = tests / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            assert src is not None
            dest.write_bytes(src.read())
    # Their conftest only puts the sdist's src/ (without the compiled _rust
    # module) first on sys.path; ours records the scans instead.
    (tests / "conftest.py").unlink(missing_ok=True)
    shutil.copyfile(HERE / "unseen_pytest_plugin.py", tests / "conftest.py")
    return tests


# --------------------------------------------------------------------------- sandbox helpers


def ro_paths_for(python: str) -> list[str]:
    """Folders the venv python needs: its prefix and every sys.path entry."""
    out = subprocess.run(
        [python, "-c", "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix] + sys.path))"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    paths = []
    for p in json.loads(out):
        if p and os.path.isdir(p):
            p = os.path.realpath(p)
            if not any(p == q or p.startswith(q + "/") for q in paths):
                paths = [q for q in paths if not q.startswith(p + "/")] + [p]
    return paths


def sandboxed(airlock: str, python: str, rw: Path, cwd: Path, ro: list[str], env: dict[str, str],
              wall: int, argv: list[str], log_path: Path) -> int:
    cmd = [airlock, "run", "--rw", str(rw), "--cwd", str(cwd), "--wall-time", str(wall), "--mem", "6G"]
    for p in ro_paths_for(python) + ro:
        cmd += ["--ro", p]
    for k, v in env.items():
        cmd += ["--env", f"{k}={v}"]
    cmd += ["--", python] + argv
    with open(log_path, "wb") as fh:
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=wall + 120,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return -1
    return proc.returncode


# --------------------------------------------------------------------------- 2. harvest


def shard_tests(tests_dir: Path, tests: list[str] | None, jobs: int) -> list[list[str]]:
    """Split the test files over `jobs` pytest processes, largest first (by size)."""
    files = tests or sorted(p.name for p in tests_dir.glob("test_*.py"))
    shards: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(files))))]
    load = [0] * len(shards)
    for f in sorted(files, key=lambda f: -(tests_dir / f).stat().st_size if (tests_dir / f).exists() else 0):
        k = load.index(min(load))
        shards[k].append(f)
        load[k] += (tests_dir / f).stat().st_size if (tests_dir / f).exists() else 1
    return [sorted(sh) for sh in shards if sh]


def run_tests(airlock: str, python: str, work: Path, tests: list[str] | None, jobs: int) -> None:
    out_root = work / "out"
    if out_root.exists():
        shutil.rmtree(out_root)
    out_root.mkdir()
    home = work / "home"
    home.mkdir(exist_ok=True)
    shards = shard_tests(work / "tests", tests, jobs)
    log(f"running ModelAudit's picklescan tests under pytest inside `airlock run`, {len(shards)} "
        "process(es) (tens of minutes)")
    import concurrent.futures

    def one(k: int, files: list[str]) -> int:
        out = out_root / f"shard-{k}"
        out.mkdir()
        return sandboxed(
            airlock, python, rw=work, cwd=work / "tests", ro=[],
            env={"UNSEEN_OUT": str(out), "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
                 "MODELAUDIT_TELEMETRY_DISABLED": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1"},
            wall=PYTEST_WALL_S,
            argv=["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--color=no"] + files,
            log_path=work / f"pytest-{k}.log",
        )

    with concurrent.futures.ThreadPoolExecutor(len(shards)) as pool:
        rcs = list(pool.map(one, range(len(shards)), shards))
    for k, rc in enumerate(rcs):
        tail = (work / f"pytest-{k}.log").read_text(errors="replace").strip().splitlines()[-1:]
        log(f"pytest shard {k} exit {rc}: {tail[0] if tail else ''}")
    if not list(out_root.glob("shard-*/scans.jsonl")):
        raise SystemExit(f"no scans recorded; see {work}/pytest-*.log")


def safe_name(nodeid: str) -> str:
    test = nodeid.split("::")[-1]
    name = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", test).replace("[", "__").replace("]", "")
    return name.strip("._")[:150] or "payload"


def _lines(pattern: str, work: Path) -> list[dict]:
    recs = []
    for path in sorted((work / "out").glob(pattern)):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:  # a line cut short by a killed run
                continue
            rec["_raw"] = str(path.parent / "raw")
            recs.append(rec)
    return recs


def collect(work: Path, payload_dir: Path) -> dict[str, dict]:
    outcomes: dict[str, str] = {}
    for rec in _lines("shard-*/outcomes.jsonl", work):
        prev = outcomes.get(rec["nodeid"])
        if rec["outcome"] != "passed" or prev is None:  # any failed/skipped phase wins
            if prev in (None, "passed"):
                outcomes[rec["nodeid"]] = rec["outcome"]
    by_sha: dict[str, dict] = {}
    per_test_count: collections.Counter[str] = collections.Counter()
    for rec in _lines("shard-*/scans.jsonl", work):
        sha = rec.get("sha256")
        if not sha:
            continue
        rec["test_outcome"] = outcomes.get(rec["nodeid"] or "", "unknown")
        entry = by_sha.get(sha)
        if entry is None:
            nodeid = rec["nodeid"] or "outside-a-test"
            per_test_count[nodeid] += 1
            n = per_test_count[nodeid]
            base = safe_name(nodeid) + (f"__{n}" if n > 1 else "")
            entry = by_sha[sha] = {"sha256": sha, "base": base, "suffix": rec.get("suffix") or ".pkl",
                                   "raw": rec["_raw"],
                                   "size": rec["size"], "scans": []}
        entry["scans"].append({k: rec.get(k) for k in (
            "nodeid", "phase", "kind", "source", "options_default", "verdict", "status", "findings",
            "exception", "test_outcome")})
    # unique file names
    if payload_dir.exists():
        shutil.rmtree(payload_dir)
    payload_dir.mkdir(parents=True)
    used: set[str] = set()
    result = {}
    for sha, entry in sorted(by_sha.items(), key=lambda kv: kv[1]["base"]):
        name = entry["base"]
        if name in used:
            name = f"{name}__{sha[:8]}"
        used.add(name)
        suffix = entry["suffix"] if re.fullmatch(r"\.[A-Za-z0-9_]{1,10}", entry["suffix"] or "") else ".bin"
        fname = name + suffix
        shutil.copyfile(Path(entry["raw"]) / f"{sha}.bin", payload_dir / fname)
        entry["file"] = fname
        entry["name"] = name
        result[name] = entry
    return result


# --------------------------------------------------------------------------- 4. oracles


def write_allowlist(python: str, path: Path) -> str:
    code = (
        "import json, sys\n"
        "import torch, torch._weights_only_unpickler as w\n"
        "names = sorted(set(w._get_allowed_globals()) | set(w._get_user_allowed_globals()))\n"
        "json.dump(names, open(sys.argv[1], 'w'))\n"
        "print(torch.__version__)\n"
    )
    try:
        proc = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
        if proc.returncode == 0:
            return f"torch {proc.stdout.strip()} weights_only allowlist"
    except subprocess.TimeoutExpired:
        pass
    path.write_text(json.dumps(FALLBACK_ALLOWLIST))
    return "fallback allowlist (torch not importable)"


def run_oracles(airlock: str, python: str, work: Path, payload_dir: Path, items: dict[str, dict]) -> dict:
    """Oracle results by payload name; cached by SHA-256 (and the oracle's own hash) in CACHE/work."""
    oracle_hash = sha256_file(HERE / "unseen_oracle.py") + sha256_file(work / "allow.json")
    cache_path = work / "oracle_cache.json"
    cache = {}
    if cache_path.exists():
        try:
            saved = json.loads(cache_path.read_text())
            if saved.get("oracle") == oracle_hash:
                cache = saved["by_sha"]
        except (ValueError, KeyError):
            cache = {}
    todo = [{"name": n, "path": str(payload_dir / e["file"])} for n, e in sorted(items.items())
            if e["sha256"] not in cache]
    if todo:
        (work / "oracle_list.json").write_text(json.dumps(todo))
        res_path = work / "oracle.jsonl"
        res_path.unlink(missing_ok=True)
        log(f"running the CPython oracles on {len(todo)} payloads inside `airlock run` "
            f"({len(items) - len(todo)} cached)")
        rc = sandboxed(
            airlock, python, rw=work, cwd=work, ro=[str(payload_dir), str(HERE)],
            env={"HOME": str(work / "home")}, wall=ORACLE_WALL_S,
            argv=[str(HERE / "unseen_oracle.py"), "batch", str(work / "oracle_list.json"), str(res_path),
                  str(work / "allow.json")],
            log_path=work / "oracle.log",
        )
        done = 0
        for line in res_path.read_text().splitlines() if res_path.exists() else []:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            cache[items[rec["name"]]["sha256"]] = rec["result"]
            done += 1
        cache_path.write_text(json.dumps({"oracle": oracle_hash, "by_sha": cache}))
        if rc != 0 or done < len(todo):
            raise SystemExit(f"oracle run failed (exit {rc}, {done}/{len(todo)} done and cached); "
                             f"see {work / 'oracle.log'}")
    return {n: cache.get(e["sha256"], {}) for n, e in items.items()}


# --------------------------------------------------------------------------- 5. labels


def _noise(event: str) -> bool:
    """Module loading the payload's calls trigger (shown, not hidden, in results.json's oracle)."""
    return (event.startswith(("import ", "marshal.loads", "os.listdir", "os.stat", "sys._getframe"))
            or "__pycache__" in event or ".cpython-" in event
            or (event.startswith("exec (<code object <module>") and 'file "/' in event))


def _shown_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith(("importlib.", "<frozen", "_frozen_importlib", "codecs.", "encodings."))]


def label(entry: dict, oracle: dict, allow: set[str]) -> dict:
    imp = oracle.get("imports", {})
    exe = oracle.get("execute", {})
    globs = [f"{m}.{n}" for m, n in imp.get("globals") or []]
    globs += [f"{m}.{n}" for m, n in exe.get("resolved") or []]
    non_allow = sorted({g for g in globs if g not in allow})
    passed = [s for s in entry["scans"] if s["test_outcome"] == "passed"]
    verdicts = sorted({s.get("verdict") or "exception" for s in passed})
    ma_malicious = any(s.get("verdict") == "malicious" for s in passed)
    if ma_malicious and non_allow:
        lab = "malicious"
    elif passed and verdicts == ["clean"]:
        lab = "benign"
    else:
        lab = "other"
    ma_finding = ""
    for s in passed or entry["scans"]:
        for f in s.get("findings") or []:
            if f.get("severity") == "critical":
                ma_finding = f"{f.get('rule')}: {f.get('message')}"
                break
        if ma_finding:
            break
    return {
        "label": lab,
        "modelaudit_verdicts": verdicts,
        "modelaudit_finding": ma_finding[:300],
        "non_allowlisted_globals": non_allow,
        "executes": bool(exe.get("executes")),
        "execute_effects": [e for e in exe.get("effects_after_first_non_allowlisted") or [] if not _noise(e)][:8],
        "execute_calls": _shown_calls(exe.get("calls_after_first_non_allowlisted") or [])[:8],
        "execute_errors": (exe.get("errors") or [])[:2],
        "oracle_errors": [x for x in (imp.get("oracle_error"), exe.get("oracle_error")) if x],
        "tests": sorted({s["nodeid"] for s in entry["scans"] if s.get("nodeid")})[:20],
    }


# --------------------------------------------------------------------------- 6. airlock


def scan_one(airlock: str, path: Path) -> dict:
    try:
        proc = subprocess.run([airlock, "scan", "--format", "json", "--no-progress", "-j", "1", str(path)],
                              capture_output=True, text=True, errors="replace", timeout=SCAN_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"verdict": "error", "finding": "timeout"}
    try:
        rep = json.loads(proc.stdout)
        f = rep["files"][0]
    except (ValueError, KeyError, IndexError):
        return {"verdict": "error", "finding": f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"}
    order = {"critical": 0, "high": 1, "warning": 2, "medium": 2, "low": 3, "info": 4}
    findings = sorted(f.get("findings") or [], key=lambda x: order.get(x.get("severity"), 5))
    main = findings[0] if findings else None
    return {
        "verdict": f.get("verdict", "error"),
        "finding": f"{main['rule']} {main['name']}: {main['message']}"[:400] if main else "",
        "findings": [f"{x['rule']} {x['severity']} {x['name']}" for x in findings][:10],
    }


# --------------------------------------------------------------------------- report


VERDICTS = ("safe", "suspicious", "dangerous", "error")


def md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def summarise(rows: dict[str, dict], meta: dict, md_path: Path | None) -> dict:
    counts = {lab: collections.Counter() for lab in ("malicious", "benign", "other")}
    executes = collections.Counter()
    for r in rows.values():
        counts[r["label"]][r["airlock"]["verdict"]] += 1
        if r["executes"]:
            executes[r["airlock"]["verdict"]] += 1
    mal_exec = collections.Counter(r["airlock"]["verdict"] for r in rows.values()
                                   if r["label"] == "malicious" and r["executes"])
    n_mal = sum(counts["malicious"].values())
    pct = 100.0 * counts["malicious"]["dangerous"] / n_mal if n_mal else 0.0

    def line(title: str, c: collections.Counter) -> str:
        return f"{title:<28} n={sum(c.values()):>4}  " + "  ".join(f"{v}={c[v]}" for v in VERDICTS)

    print(line("malicious", counts["malicious"]))
    print(line("malicious & executes", mal_exec))
    print(line("benign (dangerous = FP)", counts["benign"]))
    print(line("other (not scored)", counts["other"]))
    print(line("executes (any label)", executes))
    print(f"malicious called dangerous: {counts['malicious']['dangerous']}/{n_mal} = {pct:.1f}%; "
          f"malicious called safe: {counts['malicious']['safe']}; "
          f"benign called dangerous: {counts['benign']['dangerous']}")
    misses = sorted((n for n, r in rows.items() if r["label"] == "malicious" and r["airlock"]["verdict"] != "dangerous"),
                    key=lambda n: (VERDICTS.index(rows[n]["airlock"]["verdict"]), n))
    fps = sorted(n for n, r in rows.items() if r["label"] == "benign" and r["airlock"]["verdict"] == "dangerous")
    exec_not_mal = sorted(n for n, r in rows.items() if r["executes"] and r["label"] != "malicious"
                          and r["airlock"]["verdict"] in ("safe", "error"))
    safe_non_allow = sorted(n for n, r in rows.items()
                            if r["airlock"]["verdict"] == "safe" and r["non_allowlisted_globals"])
    print(f"Airlock safe while the pickle names a global outside the weights_only allowlist: {len(safe_non_allow)}")
    for n in safe_non_allow:
        r = rows[n]
        print(f"  SAFE+GLOBAL {r['label']:<9} {n}  globals={','.join(r['non_allowlisted_globals'][:4])}")
    for n in misses:
        r = rows[n]
        print(f"  MISS {r['airlock']['verdict']:<10} {n}  calls={','.join(r['non_allowlisted_globals'][:4])}")
    if md_path is not None:
        L = []
        L.append("# Airlock on malicious pickles this repository has never seen\n")
        L.append("Generated by `scripts/eval_unseen.sh` (`scripts/eval/harvest_unseen.py`); do not edit by hand.\n")
        L.append("## Source\n")
        L.append(f"ModelAudit's own adversarial pickle tests, from its PyPI sdist `{SDIST_NAME}=={SDIST_VERSION}` "
                 f"(SHA-256 `{SDIST_SHA256}`), folder `packages/modelaudit-picklescan/tests` "
                 f"(`modelaudit_picklescan` {meta['picklescan_version']}). Every payload those tests pass to "
                 "`scan_bytes` / `scan_file` was recorded while the tests ran under pytest inside `airlock run`; "
                 "the payloads are kept in the cache folder only, never in this repository.\n")
        L.append("## Rerun\n")
        rerun = "scripts/eval_unseen.sh"
        if meta.get("tests"):
            rerun = (f"UNSEEN_CACHE=~/.cache/airlock/unseen-{meta.get('label', 'part')} " + rerun
                     + " --tests " + " ".join(meta["tests"]))
        L.append(f"```sh\n{rerun}   # AIRLOCK=path/to/airlock to pick the binary\n```\n")
        L.append(f"Airlock measured: `{meta['airlock_version']}`. Environment of the run: Python "
                 f"{meta['python_version']}, {meta['allowlist_source']}; pytest: {meta['pytest_summary']}.\n")
        if meta.get("note"):
            L.append(f"Note: {meta['note']}\n")
        L.append("Tests whose scans were recorded (outcome of each test that ran):\n")
        L.append("| test file | passed | failed | skipped |\n|---|---:|---:|---:|")
        for f, c in meta["tests_run"].items():
            L.append(f"| `{f}` | {c.get('passed', 0)} | {c.get('failed', 0)} | {c.get('skipped', 0)} |")
        L.append("")
        L.append("## Labels (none from Airlock)\n")
        L.append("* **malicious**: a ModelAudit test that passed scanned these bytes and got verdict MALICIOUS, "
                 "and CPython's unpickler (a `find_class` that records and returns inert stubs, nothing imported "
                 "or run) shows the pickle naming at least one global outside the `torch.load(weights_only=True)` "
                 "allowlist.\n"
                 "* **benign**: every ModelAudit scan of these bytes in a passing test returned CLEAN.\n"
                 "* **other**: the rest (SUSPICIOUS / UNKNOWN, limit probes, failed tests); not scored.\n"
                 "* **executes** (second, ModelAudit-independent view): a real `pickle.loads` in a throw-away "
                 "process inside `airlock run` (process creation refused by an audit hook) called a Python "
                 "function or raised a side-effect audit event after resolving a non-allowlisted global.\n")
        L.append("## Result\n")
        L.append(f"Target: on malicious files this repository has never seen, none `safe`, at least 98% `dangerous`.\n")
        L.append(f"**{counts['malicious']['dangerous']} of {n_mal} malicious payloads `dangerous` ({pct:.1f}%), "
                 f"{counts['malicious']['safe']} `safe`; {counts['benign']['dangerous']} of "
                 f"{sum(counts['benign'].values())} benign payloads `dangerous`.**\n")
        L.append("| payloads | n | safe | suspicious | dangerous | error |\n|---|---:|---:|---:|---:|---:|")
        for title, c in (("malicious", counts["malicious"]), ("malicious and executes", mal_exec),
                         ("benign", counts["benign"]), ("other (not scored)", counts["other"]),
                         ("executes, any label", executes)):
            L.append(f"| {title} | {sum(c.values())} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |")
        L.append("")
        L.append(f"{meta['n_scans']} scans recorded, {len(rows)} distinct payloads (by SHA-256).\n")
        L.append("## Airlock `safe` on a pickle naming a global outside the weights_only allowlist (any label)\n")
        if safe_non_allow:
            L.append("| payload | label | globals | executes |\n|---|---|---|---|")
            for n in safe_non_allow:
                r = rows[n]
                L.append(f"| `{n}` | {r['label']} | " + ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6])
                         + f" | {'yes' if r['executes'] else 'no'} |")
        else:
            L.append("None.")
        L.append("")
        L.append("## Malicious payloads Airlock did not call `dangerous`\n")
        if misses:
            L.append("| payload | Airlock | main finding | what it calls (non-allowlisted globals; oracle) |\n|---|---|---|---|")
            for n in misses:
                r = rows[n]
                calls = ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6])
                ex = "executes" if r["executes"] else "no call seen"
                eff = "; ".join(r["execute_effects"][:2] + r["execute_calls"][:3])
                L.append(f"| `{n}` | {r['airlock']['verdict']} | {md_escape(r['airlock']['finding'][:220])} | "
                         f"{calls} ({ex}{': ' + md_escape(eff[:200]) if eff else ''}) |")
        else:
            L.append("None.")
        L.append("")
        L.append("## Benign payloads Airlock called `dangerous` (false alarms)\n")
        if fps:
            L.append("| payload | main finding | globals |\n|---|---|---|")
            for n in fps:
                r = rows[n]
                L.append(f"| `{n}` | {md_escape(r['airlock']['finding'][:220])} | "
                         + ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6]) + " |")
        else:
            L.append("None.")
        L.append("")
        L.append("## Payloads that execute, not labelled malicious, Airlock `safe` or `error`\n")
        if exec_not_mal:
            L.append("| payload | label | Airlock | ModelAudit | globals |\n|---|---|---|---|---|")
            for n in exec_not_mal:
                r = rows[n]
                L.append(f"| `{n}` | {r['label']} | {r['airlock']['verdict']} | {', '.join(r['modelaudit_verdicts'])} | "
                         + ", ".join(f"`{g}`" for g in r["non_allowlisted_globals"][:6]) + " |")
        else:
            L.append("None.")
        L.append("")
        md_path.write_text("\n".join(L))
        log(f"wrote {md_path}")
    return {"counts": {k: dict(v) for k, v in counts.items()}, "malicious_and_executes": dict(mal_exec),
            "executes_any_label": dict(executes), "dangerous_pct": round(pct, 2), "misses": misses,
            "safe_with_non_allowlisted_global": safe_non_allow,
            "false_alarms": fps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--airlock", required=True)
    ap.add_argument("--python", required=True, help="venv python with modelaudit_picklescan, pytest, torch")
    ap.add_argument("--cache", default=str(Path.home() / ".cache/airlock/unseen"))
    ap.add_argument("--tests", nargs="*", help="test files to run (default: the whole tests folder)")
    ap.add_argument("--jobs", type=int, default=2, help="pytest processes run side by side (default 2)")
    ap.add_argument("--skip-harvest", action="store_true", help="reuse CACHE/work/out from a previous run")
    ap.add_argument("--note", default="", help="a sentence for UNSEEN.md (e.g. why a harvest is partial)")
    ap.add_argument("--md", default=str(REPO / "eval/UNSEEN.md"), help="markdown summary ('' for none)")
    args = ap.parse_args()
    airlock = str(Path(args.airlock).resolve())
    python = args.python  # keep the venv path: resolving the symlink would leave the venv
    cache = Path(args.cache).expanduser().resolve()
    work = cache / "work"
    payload_dir = cache / "payloads"
    work.mkdir(parents=True, exist_ok=True)

    probe = subprocess.run(
        [python, "-c", "import sys, importlib.metadata as m; print(m.version('modelaudit-picklescan'), "
                       "m.version('pytest'), sys.version.split()[0])"],
        capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        raise SystemExit(f"{python}: needs modelaudit-picklescan and pytest\n{probe.stderr}")
    ps_version, pytest_version, py_version = probe.stdout.split()
    if ps_version != PICKLESCAN_VERSION:
        log(f"warning: modelaudit-picklescan {ps_version} installed, the sdist's tests are for {PICKLESCAN_VERSION}")

    if not args.skip_harvest:
        tar = fetch_sdist(cache, python)
        extract_tests(tar, work)
        run_tests(airlock, python, work, args.tests, args.jobs)
    items = collect(work, payload_dir)
    n_scans = sum(len(e["scans"]) for e in items.values())
    log(f"{n_scans} scans, {len(items)} distinct payloads written to {payload_dir}")

    allow_source = write_allowlist(python, work / "allow.json")
    allow = set(json.loads((work / "allow.json").read_text()))
    oracle = run_oracles(airlock, python, work, payload_dir, items)

    rows = {}
    log(f"airlock scan on {len(items)} payloads, one process each")
    for i, (name, entry) in enumerate(sorted(items.items())):
        row = label(entry, oracle.get(name, {}), allow)
        row["file"] = entry["file"]
        row["sha256"] = entry["sha256"]
        row["size"] = entry["size"]
        row["airlock"] = scan_one(airlock, payload_dir / entry["file"])
        rows[name] = row
        if i and i % 200 == 0:
            log(f"  {i}/{len(items)}")

    labels = {r["file"]: {k: r[k] for k in ("label", "sha256", "modelaudit_verdicts", "non_allowlisted_globals",
                                             "executes", "tests")} for r in rows.values()}
    (cache / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True))
    per_file: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    final: dict[str, str] = {}
    for rec in _lines("shard-*/outcomes.jsonl", work):
        if rec["when"] == "call" or rec["outcome"] != "passed":
            prev = final.get(rec["nodeid"])
            if prev in (None, "passed"):
                final[rec["nodeid"]] = rec["outcome"]
    for nodeid, outcome in final.items():
        per_file[nodeid.split("::")[0]][outcome] += 1
    summaries = []
    for pytest_log in sorted(work.glob("pytest-*.log")):
        tail = [ln for ln in pytest_log.read_text(errors="replace").splitlines() if " in " in ln and "passed" in ln]
        if tail:
            summaries.append(tail[-1].strip("= "))
    pytest_summary = "; ".join(summaries)
    airlock_version = subprocess.run([airlock, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    meta = {"picklescan_version": ps_version, "pytest_version": pytest_version, "python_version": py_version,
            "allowlist_source": allow_source, "pytest_summary": pytest_summary or "n/a",
            "airlock_version": airlock_version, "n_scans": n_scans, "note": args.note,
            "tests": args.tests or [], "label": "heldout",
            "tests_run": {f: dict(c) for f, c in sorted(per_file.items())}}
    summary = summarise(rows, meta, Path(args.md) if args.md else None)
    (cache / "results.json").write_text(json.dumps({"meta": meta, "summary": summary, "payloads": rows},
                                                   indent=1, sort_keys=True))
    log(f"wrote {cache / 'labels.json'} and {cache / 'results.json'}")


if __name__ == "__main__":
    main()
