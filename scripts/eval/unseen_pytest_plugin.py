"""pytest plugin used by harvest_unseen.py: record every payload ModelAudit's own tests scan.

It is installed as the ``conftest.py`` of a copy of ModelAudit's
``packages/modelaudit-picklescan/tests`` folder (replacing theirs, which only
puts the sdist's ``src`` -- without the compiled ``_rust`` extension -- first
on ``sys.path``), so it runs before any test module is imported.

It wraps ``PickleScanner.scan_bytes`` and ``PickleScanner.scan_file`` on the
class.  The module-level ``modelaudit_picklescan.scan_bytes`` /
``modelaudit_picklescan.api.scan_bytes`` (and ``scan_file``) are thin wrappers
that call these methods, so every alias a test module imports them under goes
through the wrapper; the module attributes are wrapped as well, with a
re-entrancy guard so that one scan is recorded once (the outermost call).

For each scan it writes the payload to ``$UNSEEN_OUT/raw/<sha256>.bin`` and a
JSON line to ``$UNSEEN_OUT/scans.jsonl`` (test node id, phase, ModelAudit's
verdict, status and findings).  Each test's outcome goes to
``$UNSEEN_OUT/outcomes.jsonl``.  Nothing here looks at Airlock.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

OUT = Path(os.environ["UNSEEN_OUT"])
RAW = OUT / "raw"
RAW.mkdir(parents=True, exist_ok=True)
MAX_PAYLOAD = 64 * 1024 * 1024

_lock = threading.Lock()
_local = threading.local()
_current = {"nodeid": None, "phase": None}


def _append(name: str, record: dict) -> None:
    line = json.dumps(record, sort_keys=True)
    with _lock, open(OUT / name, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _is_default(options) -> bool:
    if options is None:
        return True
    try:
        from modelaudit_picklescan import ScanOptions

        return bool(options == ScanOptions())
    except Exception:
        return False


def _report_summary(report) -> dict:
    out: dict = {}
    try:
        out["verdict"] = getattr(report.verdict, "value", str(report.verdict))
        out["status"] = getattr(report.status, "value", str(report.status))
        findings = []
        for f in list(report.findings)[:40]:
            details = dict(getattr(f, "details", {}) or {})
            findings.append(
                {
                    "severity": getattr(f.severity, "value", str(f.severity)),
                    "rule": getattr(f, "rule_code", None),
                    "module": str(details.get("module")) if details.get("module") is not None else None,
                    "name": str(details.get("name")) if details.get("name") is not None else None,
                    "message": str(getattr(f, "message", ""))[:300],
                }
            )
        out["findings"] = findings
    except Exception as exc:  # never let recording break a test
        out["summary_error"] = repr(exc)[:300]
    return out


def _record(kind: str, payload: bytes | None, source, options, suffix: str, result=None, exc=None) -> None:
    rec: dict = {
        "nodeid": _current["nodeid"],
        "phase": _current["phase"],
        "kind": kind,
        "source": str(source)[:300] if source is not None else None,
        "suffix": suffix,
        "options": None if options is None else repr(options)[:2000],
        "options_default": _is_default(options),
    }
    if payload is None:
        rec["skipped"] = "unreadable"
    elif len(payload) > MAX_PAYLOAD:
        rec["skipped"] = f"larger than {MAX_PAYLOAD} bytes"
        rec["size"] = len(payload)
    else:
        sha = hashlib.sha256(payload).hexdigest()
        rec["sha256"] = sha
        rec["size"] = len(payload)
        path = RAW / f"{sha}.bin"
        if not path.exists():
            tmp = RAW / f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_bytes(payload)
            os.replace(tmp, path)
    if exc is not None:
        rec["exception"] = repr(exc)[:300]
    elif result is not None:
        rec.update(_report_summary(result))
    _append("scans.jsonl", rec)


def _wrap_method(original, kind: str):
    @functools.wraps(original)
    def wrapper(self, data, *args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(self, data, *args, **kwargs)
        payload = None
        suffix = ".pkl"
        try:
            if kind == "scan_bytes":
                payload = bytes(data)
            else:
                p = Path(data)
                suffix = p.suffix if p.suffix and len(p.suffix) <= 12 else ".bin"
                if p.is_file() and p.stat().st_size <= MAX_PAYLOAD:
                    payload = p.read_bytes()
        except Exception:
            payload = None
        _local.depth = depth + 1
        try:
            result = original(self, data, *args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            _record(kind, payload, kwargs.get("source", data if kind == "scan_file" else None),
                    getattr(self, "options", None), suffix, exc=exc)
            raise
        _local.depth = depth
        _record(kind, payload, kwargs.get("source", data if kind == "scan_file" else None),
                getattr(self, "options", None), suffix, result=result)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _install() -> None:
    import modelaudit_picklescan
    import modelaudit_picklescan.api as api

    scanner = api.PickleScanner
    for kind in ("scan_bytes", "scan_file"):
        original = getattr(scanner, kind)
        if not getattr(original, "__unseen_wrapped__", False):
            setattr(scanner, kind, _wrap_method(original, kind))
    # The module-level functions build a PickleScanner and call the wrapped
    # method; nothing more to patch for them.  Check it, loudly.
    for mod in (modelaudit_picklescan, api):
        for kind in ("scan_bytes", "scan_file"):
            fn = getattr(mod, kind, None)
            if fn is None:
                raise RuntimeError(f"{mod.__name__}.{kind} is missing")


_install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current["nodeid"] = item.nodeid
    yield
    _current["nodeid"] = None
    _current["phase"] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    _current["phase"] = "setup"
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _current["phase"] = "call"
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    _current["phase"] = "teardown"
    yield


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _append("outcomes.jsonl", {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome})
