#!/usr/bin/env python3
"""Adapters for the four peer model-file scanners in Airlock's side-by-side evaluation.

Stdlib only (Python 3.11). Each peer gets its own venv under ``cache_root/<name>``
(default ``~/.cache/airlock/peers``); this module knows how to install it, how to
run it on one path, and how to turn its output into one of four labels:

    clean     the tool says nothing is wrong
    warn      the tool reports something of lower severity / suspicious / unknown
    detected  the tool flags the file at its highest severities (what a user would
              treat as "blocked")
    error     the tool could not scan the file: parse error, unsupported format,
              nothing scanned, or a crash

Precedence when a run reports several things: detected > error > warn > clean
(a tool that found a dangerous import before choking on the rest still blocks the
file). ``detail`` is a short string. For ``error`` it starts with ``"crash: "``
when the tool died on an unexpected exception (a Python traceback, an unexpected
exit code, no parseable report, or an exception caught only by the tool's
catch-all top-level handler), and with ``"error: "`` when the tool reported the
failure itself in its normal output. That is the "clean error vs crash" split.

Caller contract: ``subprocess.run(command(n, venv, p), env={**os.environ,
**env(n, venv)}, capture_output=True, text=True, errors="replace",
timeout=...)`` and then
``classify(n, proc.returncode, proc.stdout, proc.stderr)``. Run it from a
neutral working directory (modelscan reads ``./modelscan-settings.toml`` if there
is one). ``classify`` never raises.

CLI:
    python3 scripts/eval/peers.py install [--pinned] [--cache-root DIR] [TOOL...]
    python3 scripts/eval/peers.py scan [--raw] [--cache-root DIR] TOOL PATH
    python3 scripts/eval/peers.py versions [--cache-root DIR]

Tested on 2026-11-26 with CPython 3.11.7 on Linux x86_64. The per-tool notes below
come from reading each tool's installed source and running it on
tests/fixtures/{malicious,torch,numpy,joblib} and on malformed files.

picklescan (tested 1.0.5)
-------------------------
Install: ``picklescan numpy``. NumPy is not a declared dependency but
``scan_numpy`` imports it lazily: without it every .npy, and every .npy member
of a .npz or .pt zip, fails with ModuleNotFoundError. The ``[7z]`` extra (py7zr)
is only for 7z archives and is not installed.
Command: ``picklescan -p PATH``. Takes a file or a folder. There is no JSON
output. It logs to stdout: ``<file>: dangerous import '<mod> <name>' FOUND``,
``ERROR: parsing pickle in ...``, ``WARNING: could not parse ... as pickle``,
``Invalid file X in zip archive``, and a summary block (Scanned files / Infected
files / Suspicious globals / Dangerous globals).
Exit codes (cli.py): 0 means no dangerous globals; 1 means dangerous globals;
2 means scan_err (a pickle parse error after some globals were already
collected; it wins over 1) or any exception. Every exception is caught by a
top-level ``except Exception`` that prints "Unhandled exception" and a traceback.
Mapping: dangerous globals or infected files > 0 gives detected. Otherwise a
traceback gives error with "crash: <Exception>". Otherwise "ERROR: parsing",
"could not parse", "Invalid file ... in zip archive" or 0 scanned files give
error. Otherwise suspicious globals > 0 (imports on neither the allow list nor
the deny list) give warn. Otherwise clean.
Unclear / surprising:
 * "could not parse X as pickle" (for example random bytes) exits 0 with
   "Infected files: 0". We map it to error because the tool says it did not
   parse the file.
 * Dispatch is by extension. .bin/.pt/.pth/.ckpt go through the torch path
   (zip, else legacy magic-number stacked pickles), .npy through numpy, and
   anything else through zip-or-pickle.
 * The folder walk only visits .pkl/.pickle/.joblib/.dat/.data/.zip/.npz/.7z
   and .bin/.pt/.pth/.ckpt. Folder scans silently skip .npy and odd
   extensions, which file scans do look at.
 * A truncated zip (.pt) crashes with BadZipFile, and an empty file crashes
   with OSError (seek).

modelscan (tested 0.8.8)
------------------------
Install: ``modelscan "numpy<2"``. modelscan declares numpy>=1.24.3 with no
upper bound, but its numpy scanner calls the private
``numpy.lib.format._check_version`` and ``_read_array_header``, which numpy 2.x
no longer exposes. With numpy 2.4 every .npy, .npz member and npy-in-.pt fails
with "MODEL_SCAN: module 'numpy.lib.format' has no attribute '_check_version'".
numpy 1.26.4 fixes it (verified). The h5py/tensorflow extras are only for
Keras/TF formats. Torch is never imported: pickles are disassembled with
pickletools.
Command: ``modelscan scan -p PATH -r json --show-skipped``. Takes a file or a
folder. Env: ``COLUMNS=1000000``, because the JSON report is printed with
rich's ``print``, which hard-wraps at 80 columns when stdout is not a TTY (line
breaks land inside strings). stdout also carries a "No settings file detected"
line and "Scanning ..." log lines before the JSON.
Exit codes (cli.py): 0 means clean; 1 means issues; 2 means errors (checked
before issues) or an exception; 3 means nothing scanned (checked first); 4 means
usage error. Unhandled exceptions print ``Exception: <msg>`` with no traceback
and exit 2.
JSON: ``issues[].severity`` is CRITICAL/HIGH/MEDIUM/LOW, ``errors[]`` has
{category, description}, and ``summary.skipped.skipped_files[]`` has
{category, description}.
Mapping: any CRITICAL or HIGH issue gives detected. Otherwise errors[], rc 3
(nothing scanned, reason taken from skipped_files, preferring a category other
than SCAN_NOT_SUPPORTED) or rc 2 give error. Errors of category MODEL_SCAN
(an exception escaped a scanner and was caught by ModelScan._scan_source), the
"Exception:" catch-all and a missing JSON report are "crash: ...". The other
categories (PICKLE_GENOPS = parse error, NESTED_ZIP, PATH, DEPENDENCY) are
"error: ...". Otherwise MEDIUM or LOW issues give warn. Otherwise clean.
Unclear / surprising:
 * The default deny list only has CRITICAL and HIGH entries, so warn is
   practically unreachable for pickles.
 * A .pt/.bin/.pth/.ckpt that is not a zip and has no legacy torch magic
   number is skipped ("Invalid magic number", rc 3): raw pickles named .pt
   or .bin are not scanned at all.
 * .npz gives "Scanning of .npz files is not implemented yet", but its .npy
   members are scanned through the zip walk.
 * Zip members are routed by member-name extension only. The data/0 storage
   entries of a torch zip show up as SCAN_NOT_SUPPORTED skips, which is normal
   and is only used as the reason when nothing at all was scanned.

fickling (tested 0.1.12)
------------------------
Install: ``fickling typing_extensions``. fickling 0.1.12 imports
``typing_extensions`` unconditionally (fickle.py) but declares it only for the
lint extra, so a plain install fails on 3.11 with ModuleNotFoundError.
``fickling[torch]`` (torch + torchvision) is only needed for
``fickling.pytorch`` and ``fickling.polyglot``, which the scan path below does
not use, so it is not installed.
Command: ``python -c FICKLING_DRIVER PATH`` (see below). Takes ONE FILE only:
the caller must loop over a folder.
Why a driver: the CLI ``fickling --check-safety PATH`` treats the whole file as
a stream of stacked pickles. On a torch zip checkpoint it prints "Fickling
failed to parse this pickle file. Error: No pickle files detected" and exits 2,
so every modern .pt would be an error. fickling's own scan path for .pt/.pth
(``fickling --huggingface``) calls the public ``fickling.scan_zip_archive``.
The driver therefore does this:
 * If the file starts with ``PK\\x03\\x04`` (torch.load's own zip test), it
   calls ``scan_zip_archive(path, graceful=True)``. That scans members ending
   .pkl/.pickle/.bin, case-insensitive.
 * Otherwise it does exactly what the CLI's ``--check-safety`` does:
   ``StackedPickle.load(f, fail_on_decode_error=False)`` then
   ``check_safety()`` on each pickle. A PickleDecodeError becomes a reported
   error, and any other exception propagates as a traceback, as in the CLI.
It prints one JSON object ({mode, results:[{member, severity, analysis,
errors}], errors}) and exits 0 (all LIKELY_SAFE), 1 (some severity above
LIKELY_SAFE, the CLI's "unsafe" rule), or 2 (errors only).
Severity scale (analysis.Severity): LIKELY_SAFE < POSSIBLY_UNSAFE < SUSPICIOUS
< LIKELY_UNSAFE < LIKELY_OVERTLY_MALICIOUS < OVERTLY_MALICIOUS.
Mapping: LIKELY_UNSAFE or higher gives detected. Otherwise errors give error:
"crash: " for "Unexpected error"/"Analysis error" (exceptions caught by
graceful mode) or a traceback, and "error: " for parse/read/archive errors.
A zip with no .pkl/.pickle/.bin member (for example any .npz) gives
"error: not scanned". Otherwise POSSIBLY_UNSAFE or SUSPICIOUS gives warn.
Otherwise clean. The severity name is always in detail, so the caller can
move the cut.
Unclear / surprising:
 * The CLI itself exits 1 for anything above LIKELY_SAFE. Our warn/detected
   split at LIKELY_UNSAFE is our choice.
 * fickling rates any non-stdlib import (torch._utils._rebuild_tensor_v2,
   numpy, joblib) as LIKELY_UNSAFE or worse, and any invalid opcode (for
   example raw array bytes after a joblib pickle, or random bytes) as
   LIKELY_UNSAFE. Benign legacy torch files, joblib files and .npy files with
   data after the header are therefore "detected".
 * In graceful mode, ``scan_zip_archive``/``_scan_bytes`` raise the reported
   severity to LIKELY_UNSAFE on internal exceptions (fail closed). We label
   from the analysis severities only and report the exception as a crash.
 * fickling's ML allow list (fickling.ml.MLAllowlist, register=False) is only
   used by its runtime unpickler hook (activate_safe_ml_environment), which
   means actually loading the file. It is not part of --check-safety, so it
   is not used here.
 * The CLI also crashes with tracebacks inside check_safety on some valid
   pickles (AttributeError on EXT1/copyreg, TypeError on NEWOBJ_EX). The
   driver lets those propagate exactly as the CLI does, and they appear as
   "crash: ...".

modelaudit (tested 0.2.54)
--------------------------
Install: ``modelaudit[pytorch,joblib]``. The core install scans pickle, zip and
numpy statically. Without torch installed, every torch pickle referencing
torch._utils._rebuild_tensor_v2 gets a "source-backed allowlisted global
without inert import initialization proof" warning and an *inconclusive* scan
outcome. With torch installed, a benign sd_mlp.pt is clean (verified). torch
from PyPI pulls the CUDA wheels (about 5.6 GB venv). ``joblib`` adds
joblib + scikit-learn. ModelAudit never calls torch.load unless
enable_unsafe_torch_load is set, which it is not by default.
Command: ``modelaudit scan --format json --no-cache PATH``. Takes a file or a
folder. ``--no-cache`` matters: scan results are cached by default, which
would distort timing and reruns. The JSON goes to stdout and the logs go to
stderr.
Telemetry: ON by default (PostHog, a.promptfoo.app). telemetry.py
``TelemetryClient._is_disabled()`` is true when any of PROMPTFOO_DISABLE_TELEMETRY,
NO_ANALYTICS, CI or IS_TESTING is truthy ("1"/"true"/"yes"), when the install is
editable, or when ~/.modelaudit/user_config.json has telemetry_enabled=false.
There is NO --no-telemetry flag and no MODELAUDIT_TELEMETRY_DISABLED variable.
We set the two documented ones, PROMPTFOO_DISABLE_TELEMETRY=1 and
NO_ANALYTICS=1. CI/IS_TESTING would also work but CI changes UI defaults. We
also set HF_HUB_OFFLINE=1 and HF_HUB_DISABLE_TELEMETRY=1 for huggingface_hub
(imported, only used for hf:// paths). No update check exists. Even with
telemetry off, every start writes a pseudonymous id to
``$XDG_CONFIG_HOME/promptfoo/promptfoo.yaml`` (auth/config.py). env() points
XDG_CONFIG_HOME into the venv so that file stays out of ~/.config.
``integrations/license_checker.py`` can fetch the SPDX list from GitHub, but
only when its bundled copy is missing (it ships in config/data). Verified by
``strace -f -e trace=connect``: with env(modelaudit) a scan makes no AF_INET
connect() at all. With the variables unset and PROMPTFOO_POSTHOG_HOST pointed
at 127.0.0.1:9, it does connect there (4 connects per scan). Each of the two
variables alone stops it. MODELAUDIT_TELEMETRY_DISABLED=1 and DO_NOT_TRACK=1
do not.
Exit codes (core_results.determine_exit_code): 2 means an operational error
(has_errors / file_metadata operational_error), checked first. 1 means a
WARNING or CRITICAL issue or a failed check with security severity. 2 means an
inconclusive outcome, success=false or 0 files scanned. 0 means clean. A
missing path prints "Error: Path does not exist" with JSON has_errors=true.
JSON: ``issues[].severity`` is critical/warning/info/debug, with ``rule_code``
(S1xx-S9xx; S9xx is file-format/integrity), ``has_errors``, and
``file_metadata[path].{operational_error, scan_outcome}``.
Mapping: any critical issue gives detected. Otherwise has_errors, operational
error, an issue with details.parsing_failed, rc 2, or
file_metadata.scan_outcome == "inconclusive" (even with exit 1 because warnings
were also reported; the detail then says "+N warnings, exit 1") gives error.
Otherwise any warning gives warn. Otherwise clean; info/debug issues only
appear in detail. An asset of type "unknown" with no scanner run (for example
an empty .pkl, exit 0) gives "error: not scanned".
Unclear / surprising:
 * ModelAudit reports malformed input as *findings*, not errors. A truncated
   torch zip is "critical S902: Not a valid zip file", i.e. detected (fail
   closed). Random bytes named .pt give "warning S901: Could not parse pickle
   stream" with an inconclusive outcome, which we map to error (exit code 1).
 * An empty .pkl exits 0 with asset type "unknown" and no scanner run. We label
   it "error: not scanned" for consistency with the other tools' "nothing
   scanned".
 * Exit code 1 covers warnings too, so a CI gate on the exit code blocks every
   "warn" file as well.
 * Content sniffing beats the extension. A protocol-0 pickle starting with
   "(S" is taken for zlib ("Invalid zlib stream"), never parsed as a pickle,
   and ends up inconclusive with warnings only.
 * Benign sklearn/joblib pickles and some legacy torch files get warnings for
   non-allowlisted globals, i.e. warn.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CACHE_ROOT = Path("~/.cache/airlock/peers").expanduser()
STAMP_NAME = ".airlock-peer-stamp.json"
# Bump when the requirement list of a peer changes so existing venvs are refreshed.
STAMP_FORMAT = 1

LABELS = ("clean", "warn", "detected", "error")

# name -> how to install and run it. Ordered.
PEERS: dict[str, dict] = {
    "picklescan": {
        "package": "picklescan",
        "requirements": ["picklescan", "numpy"],
        "tested_version": "1.0.5",
        "folder": True,
        "json": False,
    },
    "modelscan": {
        "package": "modelscan",
        # numpy<2: modelscan 0.8.8 calls numpy.lib.format._check_version and
        # _read_array_header, which numpy 2.x no longer exposes (see docstring).
        "requirements": ["modelscan", "numpy<2"],
        "tested_version": "0.8.8",
        "folder": True,
        "json": True,
    },
    "fickling": {
        "package": "fickling",
        "requirements": ["fickling", "typing_extensions"],
        "tested_version": "0.1.12",
        "folder": False,
        "json": True,
    },
    "modelaudit": {
        "package": "modelaudit",
        "requirements": ["modelaudit[pytorch,joblib]"],
        "tested_version": "0.2.54",
        "folder": True,
        "json": True,
    },
}

# Scans one file with fickling's own library. See the module docstring ("fickling").
FICKLING_DRIVER = r'''
import json, sys
from fickling.analysis import Severity, check_safety
from fickling.fickle import PickleDecodeError, StackedPickle
from fickling.loader import scan_zip_archive

path = sys.argv[1]
out = {"driver": "airlock-fickling-1", "mode": None, "results": [], "errors": []}
with open(path, "rb") as f:
    head = f.read(4)
worst = Severity.LIKELY_SAFE
if head == b"PK\x03\x04":
    out["mode"] = "zip"
    for member, r in scan_zip_archive(path, graceful=True).items():
        sev = Severity.LIKELY_SAFE
        for a in r.results:
            if a.severity > sev:
                sev = a.severity
        worst = sev if sev > worst else worst
        out["results"].append({
            "member": member,
            "severity": sev.name,
            "reported_severity": r.severity.name,
            "analysis": "\n".join(a.to_string() for a in r.results),
            "errors": list(r.errors),
        })
        out["errors"].extend(f"{member}: {e}" for e in r.errors)
else:
    out["mode"] = "pickle"
    with open(path, "rb") as f:
        try:
            stacked = StackedPickle.load(f, fail_on_decode_error=False)
        except PickleDecodeError as e:
            out["errors"].append(f"Parse error (PickleDecodeError): {e}")
            stacked = []
    for i, pickled in enumerate(stacked):
        r = check_safety(pickled)
        worst = r.severity if r.severity > worst else worst
        out["results"].append({
            "member": f"pickle[{i}]",
            "severity": r.severity.name,
            "analysis": r.to_string(),
            "errors": [],
        })
out["severity"] = worst.name
print(json.dumps(out))
sys.exit(1 if worst > Severity.LIKELY_SAFE else (2 if out["errors"] else 0))
'''


# --------------------------------------------------------------------------- install


def _venv_python(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def _requirements(name: str, pin: str | None) -> list[str]:
    spec = PEERS[name]
    reqs = list(spec["requirements"])
    if pin:
        pkg = spec["package"]
        reqs = [r + f"=={pin}" if re.split(r"[\[=<>!~ ]", r, maxsplit=1)[0] == pkg else r for r in reqs]
    return reqs


def install(name: str, cache_root: str | os.PathLike = DEFAULT_CACHE_ROOT, pin: str | None = None,
            quiet: bool = True) -> Path:
    """Create (once) the venv for ``name`` at ``cache_root/name`` and install the tool.

    With ``pin=None``, the first install takes the latest release from PyPI. Later
    calls return at once while the stamp file (``cache_root/name/.airlock-peer-stamp.json``)
    matches the requirement list. Pass ``pin="X.Y.Z"`` (or use ``--pinned`` on the
    CLI for PEERS[name]["tested_version"]) to force a specific version.
    Returns the venv path.
    """
    if name not in PEERS:
        raise KeyError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    venv = Path(cache_root).expanduser() / name
    stamp_path = venv / STAMP_NAME
    reqs = _requirements(name, pin)
    py = _venv_python(venv)
    if stamp_path.is_file() and py.exists():
        try:
            stamp = json.loads(stamp_path.read_text())
            if (stamp.get("format") == STAMP_FORMAT
                    and stamp.get("requirements") == PEERS[name]["requirements"]
                    and (pin is None or stamp.get("version") == pin)):
                return venv
        except (OSError, ValueError):
            pass
    venv.parent.mkdir(parents=True, exist_ok=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    if pin is None:
        pip.append("--upgrade")
    subprocess.run(pip + reqs, check=True)
    ver = version(name, venv)
    stamp_path.write_text(json.dumps({
        "format": STAMP_FORMAT,
        "package": PEERS[name]["package"],
        "version": ver,
        "requirements": PEERS[name]["requirements"],
        "installed": reqs,
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": subprocess.run([str(py), "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip(),
    }, indent=1) + "\n")
    return venv


def version(name: str, venv: str | os.PathLike) -> str:
    """Installed version of the peer's package in ``venv`` (importlib.metadata)."""
    pkg = PEERS[name]["package"]
    r = subprocess.run([str(_venv_python(Path(venv))), "-c",
                        f"import importlib.metadata as m; print(m.version({pkg!r}))"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: cannot read version: {r.stderr.strip()[-300:]}")
    return r.stdout.strip()


# --------------------------------------------------------------------------- run


def command(name: str, venv: str | os.PathLike, path: str | os.PathLike) -> list[str]:
    """argv that scans ``path`` with peer ``name`` from ``venv``.

    ``path`` may be a directory for picklescan, modelscan and modelaudit.
    fickling takes one file only: the caller must loop over a folder's files
    (PEERS[name]["folder"] is False).
    """
    venv = Path(venv)
    b = venv / "bin"
    path = str(path)
    if name == "picklescan":
        return [str(b / "picklescan"), "-p", path]
    if name == "modelscan":
        return [str(b / "modelscan"), "scan", "-p", path, "-r", "json", "--show-skipped"]
    if name == "fickling":
        return [str(_venv_python(venv)), "-c", FICKLING_DRIVER, path]
    if name == "modelaudit":
        return [str(b / "modelaudit"), "scan", "--format", "json", "--no-cache", path]
    raise KeyError(f"unknown peer {name!r}")


def env(name: str, venv: str | os.PathLike | None = None) -> dict[str, str]:
    """Environment additions for running peer ``name`` (merge over os.environ).

    For modelaudit, ``XDG_CONFIG_HOME`` points inside its venv (``venv`` or the
    default ``~/.cache/airlock/peers/modelaudit``). Even with telemetry off,
    modelaudit writes a pseudonymous id to ``$XDG_CONFIG_HOME/promptfoo/promptfoo.yaml``
    on every start, and this keeps that file out of the user's ~/.config.
    """
    common = {"PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
    if name == "modelscan":
        # rich.print wraps the JSON report at 80 columns when not on a TTY.
        return {**common, "COLUMNS": "1000000"}
    if name == "modelaudit":
        return {
            **common,
            # Telemetry is on by default. These two are the documented opt-outs,
            # checked in modelaudit/telemetry.py TelemetryClient._is_disabled().
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "NO_ANALYTICS": "1",
            # huggingface_hub is imported. Keep it offline and quiet.
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "XDG_CONFIG_HOME": str(Path(venv or DEFAULT_CACHE_ROOT / "modelaudit").expanduser() / "xdg-config"),
        }
    if name in PEERS:
        return dict(common)
    raise KeyError(f"unknown peer {name!r}")


# --------------------------------------------------------------------------- classify


_TB = "Traceback (most recent call last):"


def _short(s: object, n: int = 160) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def _traceback_exc(text: str) -> str | None:
    """The exception line of the last traceback in ``text`` (e.g. 'zipfile.BadZipFile: ...')."""
    i = text.rfind(_TB)
    if i < 0:
        return None
    for line in text[i + len(_TB):].splitlines():
        if line and not line[0].isspace():
            return line.strip()
    return "unknown exception"


def _crash(text: str) -> str:
    exc = _traceback_exc(text) or "unknown exception"
    name, _, msg = exc.partition(":")
    name = name.rsplit(".", 1)[-1]
    return _short(f"crash: {name}: {msg.strip()}" if msg.strip() else f"crash: {name}")


def _find_json(text: str, start_marker: str | None = None):
    """First JSON object in ``text`` (starting at ``start_marker`` if given), or None."""
    dec = json.JSONDecoder(strict=False)
    idxs = []
    if start_marker:
        j = text.find(start_marker)
        if j >= 0:
            idxs.append(j)
    j = text.find("{")
    while j >= 0 and len(idxs) < 50:
        idxs.append(j)
        j = text.find("{", j + 1)
    for j in idxs:
        try:
            obj, _ = dec.raw_decode(text, j)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _classify_picklescan(rc, out, err):
    text = out + "\n" + err
    dangerous = re.findall(r": dangerous import '([^']*)' FOUND", text)
    m = {k: re.search(rf"^{k}: (\d+)\s*$", out, re.M) for k in
         ("Scanned files", "Infected files", "Suspicious globals", "Dangerous globals")}
    n = {k: int(v.group(1)) if v else None for k, v in m.items()}
    crashed = _TB in text
    parse_err = re.search(r"ERROR: parsing pickle in (.*)", text)
    unparsed = re.search(r"WARNING: could not parse (.*)", text)
    bad_member = re.search(r"Invalid file (.*) in zip archive (.*)", text)
    if dangerous or (n["Dangerous globals"] or 0) > 0 or (n["Infected files"] or 0) > 0:
        uniq = sorted(set(g.replace(" ", ".", 1) for g in dangerous))
        d = "dangerous: " + ", ".join(uniq[:3]) + (f" (+{len(uniq) - 3})" if len(uniq) > 3 else "")
        if crashed:
            d += "; then " + _crash(text)
        elif rc == 2:
            d += "; scan_err (parse error)"
        return "detected", _short(d)
    if crashed:
        return "error", _crash(text)
    if rc not in (0, 1, 2):
        return "error", f"crash: exit code {rc}"
    if n["Scanned files"] is None:
        return "error", _short(f"crash: no summary (rc {rc}): {(err or out).strip()[-120:]}")
    if parse_err:
        return "error", _short("error: parse: " + parse_err.group(1).split(": ", 1)[-1])
    if unparsed:
        return "error", _short("error: could not parse as pickle: " + unparsed.group(1).split(": ", 1)[-1])
    if bad_member:
        return "error", _short(f"error: invalid zip member {bad_member.group(1)}")
    if n["Scanned files"] == 0:
        return "error", "error: nothing scanned"
    if rc == 2:
        return "error", "error: scan_err"
    if (n["Suspicious globals"] or 0) > 0:
        return "warn", f"suspicious: {_plural(n['Suspicious globals'], 'global')} not on allow/deny list"
    return "clean", f"clean ({_plural(n['Scanned files'], 'file')})"


def _classify_modelscan(rc, out, err):
    text = out + "\n" + err
    rep = _find_json(out, '{"summary"')
    if rep is None or "summary" not in rep:
        if _TB in text:
            return "error", _crash(text)
        m = re.search(r"^Exception: (.*)$", out, re.M)
        if m:
            return "error", _short(f"crash: Exception: {m.group(1)}")
        m = re.search(r"^Error: (.*)$", out, re.M)
        if m:
            return "error", _short(f"error: usage: {m.group(1)}")
        return "error", _short(f"crash: no JSON report (rc {rc}): {(err or out).strip()[-120:]}")
    def as_dict(x):
        return x if isinstance(x, dict) else {}

    def as_list(x):
        return x if isinstance(x, list) else []

    issues = [i for i in as_list(rep.get("issues")) if isinstance(i, dict)]
    errors = as_list(rep.get("errors"))
    summary = as_dict(rep.get("summary"))
    skipped = as_list(as_dict(summary.get("skipped")).get("skipped_files"))
    scanned = as_dict(summary.get("scanned")).get("total_scanned")

    def sev(i):
        return str(i.get("severity", "")).upper() if isinstance(i, dict) else ""

    high = [i for i in issues if sev(i) in ("CRITICAL", "HIGH")]
    if high:
        top = "CRITICAL" if any(sev(i) == "CRITICAL" for i in high) else "HIGH"
        i = next(i for i in high if sev(i) == top)
        d = f"{top}: {i.get('module')}.{i.get('operator')}"
        if len(issues) > 1:
            d += f" (+{len(issues) - 1} issues)"
        if errors:
            d += f"; +{_plural(len(errors), 'error')}"
        return "detected", _short(d)
    if errors:
        errs = [e if isinstance(e, dict) else {"description": e} for e in errors]
        # MODEL_SCAN = an exception escaped a scanner (or scanner import) and was
        # caught by ModelScan._scan_source: a crash. Other categories (PICKLE_GENOPS,
        # NESTED_ZIP, PATH, DEPENDENCY, JSON_DECODE) are deliberate error reports.
        e = next((e for e in errs if e.get("category") != "MODEL_SCAN"), errs[0])
        kind = "crash" if e.get("category") == "MODEL_SCAN" else "error"
        return "error", _short(f"{kind}: {e.get('category', '?')}: {e.get('description', '')}")
    if rc == 3 or not scanned:
        skips = [x for x in skipped if isinstance(x, dict)]
        if skips:
            s = next((x for x in skips if x.get("category") != "SCAN_NOT_SUPPORTED"), skips[0])
            return "error", _short(f"error: not scanned: {s.get('category')}: {s.get('description')}")
        return "error", "error: not scanned (no supported file)"
    if rc not in (0, 1, 2, 3):
        return "error", f"crash: exit code {rc}"
    if rc == 2:
        return "error", "error: exit 2 without errors[]"
    if issues:
        i = issues[0]
        return "warn", _short(f"{sev(i)}: {i.get('module')}.{i.get('operator')}"
                              + (f" (+{len(issues) - 1})" if len(issues) > 1 else ""))
    return "clean", f"clean ({_plural(scanned or 0, 'file')} scanned)"


_FICKLING_ORDER = ["LIKELY_SAFE", "POSSIBLY_UNSAFE", "SUSPICIOUS", "LIKELY_UNSAFE",
                   "LIKELY_OVERTLY_MALICIOUS", "OVERTLY_MALICIOUS"]


def _classify_fickling(rc, out, err):
    text = out + "\n" + err
    rep = None
    for line in reversed(out.splitlines()):
        if line.startswith('{"driver"'):
            try:
                rep = json.loads(line)
            except ValueError:
                rep = None
            break
    if rep is None:
        if _TB in text:
            return "error", _crash(text)
        if "failed to parse this pickle file" in text:  # plain CLI output
            m = re.search(r"Error: (.*)", err)
            return "error", _short("error: parse: " + (m.group(1) if m else ""))
        return "error", _short(f"crash: no JSON report (rc {rc}): {(err or out).strip()[-120:]}")
    if rep.get("mode") not in ("zip", "pickle"):
        return "error", _short(f"crash: malformed driver report (rc {rc})")
    results = [r for r in (rep.get("results") or []) if isinstance(r, dict)]
    errors = [str(e) for e in (rep.get("errors") or [])]
    worst = rep.get("severity") or "LIKELY_SAFE"
    rank = _FICKLING_ORDER.index(worst) if worst in _FICKLING_ORDER else 0

    def first_line(r):
        a = (r.get("analysis") or "").strip().splitlines()
        return a[0] if a else ""

    if rank >= 3:
        r = next((r for r in results if r.get("severity") == worst), {})
        d = f"{worst}: {first_line(r)}"
        if errors:
            d += f"; +{_plural(len(errors), 'error')}"
        return "detected", _short(d)
    if errors:
        e = errors[0]
        kind = "crash" if re.search(r"(Unexpected|Analysis) error \(", e) else "error"
        return "error", _short(f"{kind}: {e}")
    if rc not in (0, 1, 2):
        return "error", f"crash: exit code {rc}"
    if rank >= 1:
        r = next((r for r in results if r.get("severity") == worst), {})
        return "warn", _short(f"{worst}: {first_line(r)}")
    if rep.get("mode") == "zip" and not results:
        return "error", "error: not scanned: zip has no .pkl/.pickle/.bin member"
    return "clean", f"LIKELY_SAFE ({_plural(len(results), 'pickle')})"


def _classify_modelaudit(rc, out, err):
    text = out + "\n" + err
    rep = _find_json(out, '{\n  "bytes_scanned"')
    if rep is None or not ("issues" in rep or "has_errors" in rep):
        if _TB in text:
            return "error", _crash(text)
        m = re.search(r"^Error: (.*)$", err + "\n" + out, re.M)
        if m:
            return "error", _short(f"error: {m.group(1)}")
        return "error", _short(f"crash: no JSON report (rc {rc}): {(err or out).strip()[-120:]}")
    issues = [i for i in (rep.get("issues") or []) if isinstance(i, dict)]

    def sev(i):
        return str(i.get("severity", "")).lower()

    def desc(i):
        return f"{sev(i)} {i.get('rule_code') or ''}: {i.get('message', '')}".replace(" :", ":")

    crit = [i for i in issues if sev(i) == "critical"]
    warns = [i for i in issues if sev(i) == "warning"]
    meta = rep.get("file_metadata") or {}
    meta_vals = [v for v in meta.values() if isinstance(v, dict)] if isinstance(meta, dict) else []
    op_err = [v for v in meta_vals if v.get("operational_error")]
    inconclusive = [v for v in meta_vals if v.get("scan_outcome") == "inconclusive"]
    parse_fail = [i for i in issues if isinstance(i.get("details"), dict) and i["details"].get("parsing_failed")]
    if crit:
        d = desc(crit[0])
        if len(crit) > 1:
            d += f" (+{len(crit) - 1} critical)"
        return "detected", _short(d)
    if rc not in (0, 1, 2):
        return "error", (_crash(text) if _TB in text else f"crash: exit code {rc}")
    if rep.get("has_errors") or op_err:
        reason = op_err[0].get("operational_error_reason") if op_err else None
        if _TB in err:
            return "error", _crash(err)
        m = re.search(r"^Error: (.*)$", err, re.M)
        return "error", _short("error: operational: " + str(reason or (m.group(1) if m else "has_errors")))
    if parse_fail:
        return "error", _short("error: parse: " + desc(parse_fail[0]))
    if rc == 2 or inconclusive:
        reasons = []
        for v in inconclusive:
            reasons += v.get("scan_outcome_reasons") or [v.get("scan_outcome_reason")]
        reasons = [r for r in reasons if r]
        if rep.get("files_scanned") == 0:
            reasons.insert(0, "0 files scanned")
        d = "error: inconclusive: " + (", ".join(dict.fromkeys(reasons)) or f"exit {rc}")
        if warns:
            d += f" (+{_plural(len(warns), 'warning')}, exit {rc})"
        why = [i for i in issues if str(i.get("rule_code", "")).startswith("S90")
               and "File type validation" not in str(i.get("message", ""))] or issues
        if why:
            d += f" - {why[0].get('message', '')}"
        return "error", _short(d, 200)
    if warns:
        d = desc(warns[0])
        if len(warns) > 1:
            d += f" (+{len(warns) - 1} warnings)"
        return "warn", _short(d)
    if rc == 1:  # security finding only visible as a failed check
        failed = [c for c in (rep.get("checks") or []) if isinstance(c, dict) and c.get("status") == "failed"]
        if any(sev(c) == "critical" for c in failed):
            return "detected", _short("failed check: " + desc(next(c for c in failed if sev(c) == "critical")))
        return "warn", _short("exit 1: " + (desc(failed[0]) if failed else "no warning/critical issue in report"))
    info = [i for i in issues if sev(i) in ("info", "debug")]
    assets = rep.get("assets") or []
    if assets and all(isinstance(a, dict) and a.get("type") == "unknown" for a in assets) \
            and not rep.get("scanner_names"):
        return "error", "error: not scanned: no scanner ran (asset type unknown; tool exit 0)"
    return "clean", "clean" + (f" ({_plural(len(info), 'info issue')})" if info else "")


_CLASSIFIERS = {
    "picklescan": _classify_picklescan,
    "modelscan": _classify_modelscan,
    "fickling": _classify_fickling,
    "modelaudit": _classify_modelaudit,
}


def classify(name: str, returncode: int, stdout: str | bytes | None, stderr: str | bytes | None) -> tuple[str, str]:
    """Map one run's (returncode, stdout, stderr) to (label, detail). Never raises."""
    try:
        out = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else (stdout or "")
        err = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
        rc = returncode if isinstance(returncode, int) else -999
        if rc < 0:
            return "error", f"crash: killed by signal {-rc}" if rc != -999 else "crash: no exit code"
        fn = _CLASSIFIERS.get(name)
        if fn is None:
            return "error", f"error: unknown peer {name!r}"
        label, detail = fn(rc, out, err)
        return (label if label in LABELS else "error"), str(detail)
    except Exception as e:  # noqa: BLE001 - classify must never raise
        return "error", _short(f"crash: classify failed on odd output: {type(e).__name__}: {e}")


# --------------------------------------------------------------------------- CLI


def scan(name: str, path: str, cache_root=DEFAULT_CACHE_ROOT, timeout: float | None = None):
    """Convenience: run one scan and return (label, detail, CompletedProcess)."""
    venv = Path(cache_root).expanduser() / name
    p = subprocess.run(command(name, venv, path), env={**os.environ, **env(name, venv)},
                       capture_output=True, text=True, errors="replace", timeout=timeout)
    label, detail = classify(name, p.returncode, p.stdout, p.stderr)
    return label, detail, p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Peer scanner adapters (picklescan, modelscan, fickling, modelaudit)")
    ap.add_argument("--cache-root", default=str(DEFAULT_CACHE_ROOT))
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_inst = sub.add_parser("install", help="install (once) the peers and print versions")
    p_inst.add_argument("--pinned", action="store_true", help="install the tested versions")
    p_inst.add_argument("--verbose", action="store_true", help="show pip output")
    p_inst.add_argument("tools", nargs="*", metavar="TOOL", help=", ".join(PEERS))
    sub.add_parser("versions", help="print installed versions")
    p_scan = sub.add_parser("scan", help="scan one file/folder and print label and detail")
    p_scan.add_argument("tool", choices=list(PEERS))
    p_scan.add_argument("path")
    p_scan.add_argument("--raw", action="store_true", help="also print exit code, stdout, stderr")
    p_scan.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args(argv)

    if a.cmd == "install":
        rc = 0
        unknown = [t for t in a.tools if t not in PEERS]
        if unknown:
            ap.error(f"unknown tool(s): {', '.join(unknown)}; known: {', '.join(PEERS)}")
        for name in (a.tools or list(PEERS)):
            try:
                pin = PEERS[name]["tested_version"] if a.pinned else None
                venv = install(name, a.cache_root, pin=pin, quiet=not a.verbose)
                print(f"{name}\t{version(name, venv)}\t{venv}")
            except Exception as e:  # noqa: BLE001
                print(f"{name}\tFAILED\t{e}", file=sys.stderr)
                rc = 1
        return rc
    if a.cmd == "versions":
        for name in PEERS:
            venv = Path(a.cache_root).expanduser() / name
            try:
                print(f"{name}\t{version(name, venv)}")
            except Exception as e:  # noqa: BLE001
                print(f"{name}\tnot installed ({_short(e, 80)})")
        return 0
    if a.cmd == "scan":
        label, detail, p = scan(a.tool, a.path, a.cache_root, a.timeout)
        if a.raw:
            print(f"--- exit {p.returncode}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
        print(f"{label}\t{detail}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
