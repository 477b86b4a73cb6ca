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

Main suite (``UNSEEN_SUITE=main``; loaded with ``-p unseen_pytest_plugin``
next to ModelAudit's own ``tests/conftest.py``, whose fixtures those tests
need).  The wrapped entry points are ModelAudit's file scans:
``modelaudit.core.scan_file`` (which ``scan_model_directory_or_file``, the CLI
and ``modelaudit.scan_file`` call once per file; wrapped above its result
cache, so a cached answer is recorded too) and the ``scan`` method of every
``BaseScanner`` subclass (existing ones now, later ones through
``__init_subclass__``), plus the picklescan methods above.  The same
re-entrancy guard keeps only the outermost scan: an archive's members, a
supplemental scanner, the picklescan engine under ``PickleScanner`` are part
of the file's scan, not records of their own.  Each scanned file (up to
64 MiB) is stored under ``raw/`` like a payload; which of them carry a pickle
is decided after the tests, by ``unseen_oracle.py carriers`` (a test may
patch ``zipfile`` or ``open``: nothing is parsed while tests run, and the
plugin reads and writes through ``os`` functions bound at import, so a test
that patches ``open`` neither breaks nor sees the recording).  ModelAudit's
verdict for a ``ScanResult`` is its worst issue: CRITICAL -> ``malicious``;
else an inconclusive outcome or ``success`` false -> ``unknown``; else
WARNING -> ``suspicious``; else (no issue, INFO, DEBUG) -> ``clean``.  The keys
of the scan's config are recorded (``options``); ``options_default`` is false
when a value may turn the verdict (``_changing_keys``: a scanner selection,
custom blacklist patterns, skipped archive entries, a ``check_*`` switched off).  A test running longer than
``$UNSEEN_TEST_TIMEOUT`` seconds (default 120) fails by SIGALRM.  Records of a
test that patches code (``unittest.mock.patch`` as a decorator, or
``monkeypatch.setattr`` / ``patch(`` / ``Mock(`` in the test function's
source) carry ``test_patches: true``: the verdict may come from a stubbed
scanner (harvest_unseen.py does not use it for labels).

Peers suite (``UNSEEN_SUITE=peers``; loaded with ``-p unseen_pytest_plugin``
next to the tests of mmaitre314's ``picklescan``).  The wrapped entry points
are the module functions of ``picklescan.scanner`` that get a file's bytes
(``scan_bytes``, what ``scan_file_path``, ``scan_directory_path``,
``scan_url`` and ``scan_huggingface_model`` call once per file, and the
format scans ``scan_pickle_bytes``, ``scan_zip_bytes``, ``scan_7z_bytes``,
``scan_numpy``, ``scan_pytorch``), replaced on the module before the test
module imports them, so every alias and every internal call goes through the
wrapper; the same re-entrancy guard keeps the outermost scan, i.e. one record
a file.  The bytes recorded are those from the stream's position at the call
(the position is put back).  picklescan's verdict for a ``ScanResult``:
a dangerous global (``issues_count`` or ``infected_files``) -> ``malicious``;
else ``scan_err`` or nothing scanned -> ``unknown``; else a suspicious global
-> ``suspicious``; else ``clean``.  ``strict=True`` (suspicious globals
graded dangerous) is recorded as an outcome-changing option.  Timeouts,
``test_patches`` and the reasons of failed tests as in the main suite.

Fickling suite (``UNSEEN_SUITE=fickling``; loaded with ``-p unseen_pytest_plugin``
next to the tests of Trail of Bits' ``fickling``).  Two kinds of record:

* fickling's verdict as a test asked for it (``verdict_by: test``): the
  entry points ``fickling.analysis.check_safety`` (a ``Pickled``: the bytes
  of its opcodes are recorded, see ``_encode_opcode``), ``fickling.load`` / ``loads`` (what
  ``fickling.hook.run_hook`` puts in place of ``pickle.load`` / ``loads`` /
  ``Unpickler``), ``is_likely_safe``, ``scan_file``, ``scan_zip_archive``
  (every fickling module attribute bound to them is replaced, before any
  test module imports them), and the ML-allowlist unpickler
  ``FicklingMLUnpickler`` (what ``activate_safe_ml_environment`` installs).
  The verdict is fickling's worst ``Severity``: ``LIKELY_OVERTLY_MALICIOUS``
  or ``OVERTLY_MALICIOUS`` -> ``malicious``; else a scan error -> ``unknown``;
  else ``POSSIBLY_UNSAFE``, ``SUSPICIOUS`` or ``LIKELY_UNSAFE`` (which fickling
  gives any import outside the standard library) -> ``suspicious``;
  ``LIKELY_SAFE`` -> ``clean``.  For ``load`` / ``loads`` / ``is_likely_safe``
  it is the severity of the ``check_safety`` calls under them, whether or
  not the test's ``max_acceptable_severity`` refused the file.  The ML
  unpickler refusing a global (``UnsafeFileError``, "not whitelisted") ->
  ``suspicious``, loading -> ``clean``.  A non-default ``analyzer`` and a
  non-empty ``also_allow`` are outcome-changing options.
* pickles a test handles without asking for a verdict (``verdict_by:
  recorder``): ``Pickled.load`` / ``StackedPickle.load``, ``Pickled.dumps()``
  and ``Pickled.ast`` called from a test module's own code (a pickle it parses,
  builds from opcodes, or changes with fickling's ``insert_python*``
  injection API: the bytes ``dumps()`` returns, the bytes of the opcodes of
  the ``Pickled`` whose ``ast`` is read), and the file
  ``PyTorchModelWrapper.inject_payload`` writes.
  Their verdict is fickling's own file scan of the recorded bytes, run by the
  plugin on a fresh copy (never on the test's objects): ``scan_zip_archive``
  for a zip, else what ``scan_file`` does with the bytes, both graceful; the
  same severity classes.

The same re-entrancy guard keeps the outermost call only (a ``check_safety``
under ``fickling.load`` is part of that load's record).  Timeouts,
``test_patches`` and the reasons of failed tests as in the main suite.
Modelscan suite (``UNSEEN_SUITE=modelscan``; loaded with ``-p unseen_pytest_plugin``
next to the tests of Protect AI's ``modelscan``).  ``tensorflow`` and ``tf_keras``
are not installed: inert stub modules let the tests' modules import (a call into
them raises ``ModuleNotFoundError``, so the TensorFlow / Keras fixtures fail and
their tests record nothing).  The wrapped entry points: ``ModelScan.scan`` (the
outermost call; a directory is split into its files, each file gets the issues,
errors and skips whose source is the file or one of its zip members) and
``modelscan.tools.picklescanner.scan_pickle_bytes`` / ``scan_numpy`` /
``scan_pytorch`` called by a test itself (the bytes of the model's stream).
modelscan's verdict: an issue of severity ``CRITICAL`` or ``HIGH`` ->
``malicious`` (its pickle denylist has no ``MEDIUM`` or ``LOW`` entry); else an
error, or the file neither scanned nor with an issue (skipped, unsupported) ->
``unknown``; else ``clean``.  Settings other than ``DEFAULT_SETTINGS`` are
recorded as an outcome-changing option.

AIsbom suite (``UNSEEN_SUITE=aisbom``; loaded with ``-p unseen_pytest_plugin`` next to
the tests of Lab700x's ``aisbom``).  The wrapped entry points: the pickle
disassembler ``aisbom.safety.scan_pickle_stream`` (which every inspector calls;
replaced on every ``aisbom`` module bound to it, before any test module imports
it) called by a test itself (the bytes it is given), and the file inspectors of
``DeepScanner`` that read pickles (``_inspect_pytorch``: ``.pt`` / ``.pth`` /
``.bin`` ..., ZIP or raw; ``_inspect_pickle_variant``: ``.pkl``, joblib, dill,
``.npy`` / ``.npz``, and files recognised as pickles by content), which
``DeepScanner.scan``, the ``scan`` command and the bypass corpus's scorecard call
once per file (the bytes of the file, or of the stream from its position).  The
same re-entrancy guard keeps the outermost call.  AIsbom's verdict: for
``scan_pickle_stream``, a threat (a global of its dangerous list or module
families, or a dual-use ``attrgetter`` / ``methodcaller`` whose argument names a
sink) -> ``malicious``; ``PICKLE_SCAN_INCOMPLETE`` alone -> ``unknown``; no threat
-> ``clean``.  For an inspector, its ``risk_level``: ``CRITICAL (RCE Detected:
...)`` -> ``malicious``; another ``CRITICAL`` (a 7z container, an unparsable
binary), ``MEDIUM (Pickle Scan Incomplete)``, an unreadable or unscanned member,
an error or ``UNKNOWN`` -> ``unknown``; ``MEDIUM (Pickle Present)`` (a pickle with
no threat: its clean grade for any pickle) or ``LOW`` -> ``clean``.  Strict mode
(``strict_mode=True``: anything outside its allowlist is a threat) is recorded
as an outcome-changing option.

"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import stat
import struct
import threading
import time
from pathlib import Path

import pytest

OUT = Path(os.environ["UNSEEN_OUT"])
RAW = OUT / "raw"
RAW.mkdir(parents=True, exist_ok=True)
MAX_PAYLOAD = 64 * 1024 * 1024
SUITE = os.environ.get("UNSEEN_SUITE", "picklescan")
TEST_TIMEOUT_S = int(os.environ.get("UNSEEN_TEST_TIMEOUT", "120"))

# Bound now: tests patch open / os functions to simulate failures.
_os_open, _os_read, _os_write, _os_close = os.open, os.read, os.write, os.close
_os_fstat, _os_stat, _os_replace, _os_fspath = os.fstat, os.stat, os.replace, os.fspath
_S_ISREG = stat.S_ISREG
_now = time.time

_lock = threading.Lock()
_local = threading.local()
_current = {"nodeid": None, "phase": None, "patches": None}
_PATCH_RE = re.compile(r"\bmonkeypatch\.(setattr|setitem|delattr|delitem)\b|\bpatch(\.object|\.dict|\.multiple)?\("
                       r"|\b(Magic)?Mock\(")


def _write(path: Path, data: bytes, append: bool = False) -> None:
    fd = _os_open(str(path), os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[_os_write(fd, view):]
    finally:
        _os_close(fd)


def _read_regular(path, limit: int) -> tuple[int | None, bytes | None]:
    """(size, bytes) of a regular file; bytes None when larger than limit; (None, None) if not a file."""
    fd = _os_open(_os_fspath(path), os.O_RDONLY)
    try:
        st = _os_fstat(fd)
        if not _S_ISREG(st.st_mode):
            return None, None
        if st.st_size > limit:
            return st.st_size, None
        chunks = []
        while chunk := _os_read(fd, 1 << 20):
            chunks.append(chunk)
        data = b"".join(chunks)
        return len(data), data
    finally:
        _os_close(fd)


def _store(payload: bytes) -> str:
    sha = hashlib.sha256(payload).hexdigest()
    path = RAW / f"{sha}.bin"
    try:
        _os_stat(str(path))
    except OSError:
        tmp = RAW / f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp"
        _write(tmp, payload)
        _os_replace(str(tmp), str(path))
    return sha


def _append(name: str, record: dict) -> None:
    line = json.dumps(record, sort_keys=True)
    with _lock:
        _write(OUT / name, (line + "\n").encode("utf-8"), append=True)


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
    if SUITE != "picklescan":
        rec["test_patches"] = _current["patches"]
    _finish(rec, payload, result, exc, _report_summary)


def _finish(rec: dict, payload: bytes | None, result, exc, summary) -> None:
    """Store the payload, add the scan's outcome (``summary(result)`` or the exception), append the record."""
    if payload is None:
        rec["skipped"] = "unreadable"
    elif len(payload) > MAX_PAYLOAD:
        rec["skipped"] = f"larger than {MAX_PAYLOAD} bytes"
        rec["size"] = len(payload)
    else:
        rec["sha256"] = _store(payload)
        rec["size"] = len(payload)
    if exc is not None:
        rec["exception"] = repr(exc)[:300]
    elif result is not None:
        rec.update(summary(result))
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
                payload = _read_regular(p, MAX_PAYLOAD)[1]
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


# --------------------------------------------------------------------------- main suite


def _result_summary(result) -> dict:
    """ModelAudit's verdict on a ScanResult: its worst issue (see the module docstring)."""
    out: dict = {}
    try:
        from modelaudit.scanner_results import scan_result_has_inconclusive_outcome

        issues = list(getattr(result, "issues", None) or [])
        severities = {str(getattr(i.severity, "value", i.severity)).lower() for i in issues}
        inconclusive = bool(scan_result_has_inconclusive_outcome(result))
        success = bool(getattr(result, "success", True))
        if "critical" in severities:
            verdict = "malicious"
        elif inconclusive or not success:
            verdict = "unknown"
        elif "warning" in severities:
            verdict = "suspicious"
        else:
            verdict = "clean"
        out["verdict"] = verdict
        out["status"] = "inconclusive" if inconclusive else ("complete" if success else "failed")
        out["scanner"] = str(getattr(result, "scanner_name", ""))[:80]
        order = {"critical": 0, "warning": 1, "info": 2, "debug": 3}
        findings = []
        for i in sorted(issues, key=lambda i: order.get(str(getattr(i.severity, "value", i.severity)).lower(), 4))[:40]:
            details = dict(getattr(i, "details", None) or {})
            glob = details.get("associated_global") or details.get("global") or details.get("import")
            findings.append(
                {
                    "severity": str(getattr(i.severity, "value", i.severity)).lower(),
                    "rule": getattr(i, "rule_code", None),
                    "module": str(details.get("module")) if details.get("module") is not None else None,
                    "name": str(glob) if glob is not None else None,
                    "message": str(getattr(i, "message", ""))[:300],
                }
            )
        out["findings"] = findings
    except Exception as exc:  # a mocked scanner, a test's fake result: never break the test
        out["summary_error"] = repr(exc)[:300]
    return out


def _file_suffix(p: Path) -> str:
    """``.tar.gz``-like double suffixes are kept (the inner one says what is compressed)."""
    sufs = [s for s in p.suffixes[-2:] if 1 < len(s) <= 12]
    if len(sufs) == 2 and sufs[0].lower() in (".tar", ".pkl", ".pickle", ".joblib", ".npy", ".pt", ".pth"):
        return "".join(sufs)
    return p.suffix if p.suffix and len(p.suffix) <= 12 else ".bin"


def _changing_keys(config, depth: int = 0) -> list[str]:
    """Config keys whose value may turn a verdict: a scanner selection, custom blacklist
    patterns, archive entries skipped, a detector switched off (``check_*: False``).  Limits
    are not among them (ModelAudit fails closed: an exceeded limit is an inconclusive scan),
    nor caching, progress, time or ModelAudit's own ``_private`` plumbing."""
    out = []
    for key, value in config.items():
        key = str(key)
        if key in ("scanners", "exclude_scanners", "scanner_selection", "blacklist_patterns",
                   "skip_archive_entries") and value:
            out.append(key)
        elif key.startswith("check_") and value is False:
            out.append(key)
        elif key == "config" and hasattr(value, "items") and depth < 3:
            out += [f"config.{k}" for k in _changing_keys(value, depth + 1)]
    return sorted(out)


def _config_summary(config) -> tuple[list[str] | str, list[str] | None]:
    """(all keys, outcome-changing keys); ("?", None) when the config is no mapping."""
    try:
        if config is None:
            return [], []
        return sorted(str(k) for k in config.keys())[:40], _changing_keys(config)
    except Exception:  # a mock
        return "?", None


def _file_record(kind: str, source, keys, changing) -> dict:
    return {"nodeid": _current["nodeid"], "phase": _current["phase"], "kind": kind,
            "source": str(source)[:300], "options": keys, "options_changing": changing,
            "options_default": changing == [], "test_patches": _current["patches"]}


def _record_file(kind: str, path, result=None, exc=None, config=None) -> None:
    keys, changing = _config_summary(config)
    rec = _file_record(kind, path, keys, changing)
    try:
        size, payload = _read_regular(path, MAX_PAYLOAD)
    except Exception:  # missing, unreadable, not a path (a mock)
        return
    if size is None:
        return  # a directory: its files are scanned (and recorded) one by one
    try:
        rec["suffix"] = _file_suffix(Path(_os_fspath(path)))
    except Exception:
        rec["suffix"] = ".bin"
    rec["size"] = size
    if payload is None:
        rec["skipped"] = f"larger than {MAX_PAYLOAD} bytes"
    else:
        rec["sha256"] = _store(payload)
    if exc is not None:
        rec["exception"] = repr(exc)[:300]
    elif result is not None:
        rec.update(_result_summary(result))
    _append("scans.jsonl", rec)


def _wrap_file_scan(original, kind: str, method: bool):
    """Wrap ``scan(self, path)`` (method) or ``scan_file(path, config)``: record the outermost call."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(*args, **kwargs)
        rest = args[1:] if method else args
        path = rest[0] if rest else kwargs.get("path", kwargs.get("file_path"))
        name = kind if method is False else f"{type(args[0]).__name__}.scan"
        if method:
            config = getattr(args[0], "config", None)
        else:
            config = rest[1] if len(rest) > 1 else kwargs.get("config")
        try:
            config = dict(config) if config is not None else None  # the keys the caller gave, before the scan
        except Exception:
            pass
        _local.depth = depth + 1
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            _record_file(name, path, exc=exc, config=config)
            raise
        _local.depth = depth
        _record_file(name, path, result=result, config=config)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_scanner_class(cls) -> None:
    fn = cls.__dict__.get("scan")
    if fn is None or not callable(fn) or getattr(fn, "__unseen_wrapped__", False) \
            or getattr(fn, "__isabstractmethod__", False):
        return
    cls.scan = _wrap_file_scan(fn, "scan", method=True)


def _install_main() -> None:
    import modelaudit.core as core
    from modelaudit.scanners.base import BaseScanner

    if not getattr(core.scan_file, "__unseen_wrapped__", False):
        core.scan_file = _wrap_file_scan(core.scan_file, "core.scan_file", method=False)
    inherited = BaseScanner.__dict__.get("__init_subclass__")

    def init_subclass(cls, **kwargs):
        if inherited is not None:
            inherited.__func__(cls, **kwargs)
        else:
            super(BaseScanner, cls).__init_subclass__(**kwargs)
        _wrap_scanner_class(cls)

    BaseScanner.__init_subclass__ = classmethod(init_subclass)
    todo = list(BaseScanner.__subclasses__())
    while todo:
        cls = todo.pop()
        _wrap_scanner_class(cls)
        todo.extend(cls.__subclasses__())


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


# --------------------------------------------------------------------------- peers suite

_PEER_SCANS = ("scan_bytes", "scan_pickle_bytes", "scan_zip_bytes", "scan_7z_bytes", "scan_numpy", "scan_pytorch")


def _peer_summary(result) -> dict:
    """picklescan's verdict on a ScanResult (see the module docstring)."""
    out: dict = {}
    try:
        level = {id(g): str(getattr(g.safety, "value", g.safety)).lower() for g in result.globals}
        if result.issues_count or result.infected_files:
            verdict = "malicious"
        elif result.scan_err or not result.scanned_files:
            verdict = "unknown"
        elif result.suspicious_count or "suspicious" in level.values():
            verdict = "suspicious"
        else:
            verdict = "clean"
        out["verdict"] = verdict
        out["status"] = "failed" if result.scan_err else "complete"
        order = {"dangerous": 0, "suspicious": 1, "innocuous": 2}
        out["findings"] = [
            {"severity": level[id(g)], "rule": None, "module": str(g.module), "name": str(g.name),
             "message": f"{level[id(g)]} global {g.module} {g.name}"}
            for g in sorted(result.globals, key=lambda g: order.get(level[id(g)], 3))[:40]]
    except Exception as exc:  # never break the test
        out["summary_error"] = repr(exc)[:300]
    return out


def _peek(data) -> bytes | None:
    """The bytes of a stream from its position on; the position is put back."""
    try:
        pos = data.tell()
        payload = data.read(MAX_PAYLOAD + 1)
        data.seek(pos)
        return bytes(payload)
    except Exception:
        return None


def _peer_suffix(file_id, file_ext) -> str:
    if file_ext and 1 < len(str(file_ext)) <= 12:
        return str(file_ext)
    name = str(file_id)
    if "://" not in name:  # a zip member is "archive.zip:member.pkl"
        name = name.rsplit(":", 1)[-1]
    return _file_suffix(Path(name))


def _record_peer(kind: str, payload: bytes | None, file_id, file_ext, strict: bool, result=None, exc=None) -> None:
    changing = ["strict"] if strict else []
    rec = _file_record(kind, file_id, changing, changing)
    rec["suffix"] = _peer_suffix(file_id, file_ext)
    _finish(rec, payload, result, exc, _peer_summary)


def _wrap_peer_scan(original, kind: str):
    """Wrap ``scan_*(data, file_id, ...)`` of picklescan.scanner: record the outermost call."""
    params = list(inspect.signature(original).parameters)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(*args, **kwargs)
        bound = dict(zip(params, args), **kwargs)
        payload = _peek(bound.get("data"))
        call = (kind, payload, bound.get("file_id"), bound.get("file_ext"), bool(bound.get("strict")))
        _local.depth = depth + 1
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            _record_peer(*call, exc=exc)
            raise
        _local.depth = depth
        _record_peer(*call, result=result)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _install_peers() -> None:
    import picklescan.scanner as scanner

    for kind in _PEER_SCANS:
        fn = getattr(scanner, kind)  # loudly: a missing entry point would record nothing
        if not getattr(fn, "__unseen_wrapped__", False):
            setattr(scanner, kind, _wrap_peer_scan(fn, kind))


# --------------------------------------------------------------------------- fickling suite

# fickling's Severity names -> the verdicts of the other suites (see the module docstring)
_FICKLING_VERDICT = {"LIKELY_SAFE": "clean", "POSSIBLY_UNSAFE": "suspicious", "SUSPICIOUS": "suspicious",
                     "LIKELY_UNSAFE": "suspicious", "LIKELY_OVERTLY_MALICIOUS": "malicious",
                     "OVERTLY_MALICIOUS": "malicious"}
_fickling: dict = {}  # the original (unwrapped) functions, by name
_verdict_cache: dict[str, dict] = {}  # recorder verdicts, by SHA-256


def _fickling_outcome(severity, results=(), errors=(), status: str = "complete") -> dict:
    """The record fields of a fickling verdict: its worst severity, the findings of each analysis."""
    out: dict = {}
    try:
        name = getattr(severity, "name", None)
        if name is not None and _FICKLING_VERDICT[name] == "malicious":
            verdict = "malicious"
        elif errors or name is None:
            verdict = "unknown"
        else:
            verdict = _FICKLING_VERDICT[name]
        findings = sorted((a for r in results for a in r.results), key=lambda a: -a.severity.severity)
        out.update(verdict=verdict, severity=name, status="failed" if errors else status,
                   errors=[str(e)[:200] for e in errors][:5],
                   findings=[{"severity": a.severity.name, "rule": a.analysis_name, "module": None,
                              "name": None if a.trigger is None else str(a.trigger)[:200],
                              "message": str(a.message or "")[:300]} for a in findings[:40]])
    except Exception as exc:  # never break the test
        out["summary_error"] = repr(exc)[:300]
    return out


def _encode_opcode(opcode) -> bytes:
    """An opcode's bytes: those it was parsed from; else its standard encoding (pickletools' argument
    formats) for the four argument kinds fickling 0.1.12 does not encode or encodes wrongly (FRAME;
    STRING without its newline; UNICODE; INST), else fickling's own encoder."""
    if opcode.has_data():
        return opcode.data
    kind = opcode.info.arg.name if opcode.info.arg is not None else None
    code = opcode.info.code.encode("latin-1")
    if kind == "uint8":
        return code + struct.pack("<Q", opcode.arg)
    if kind == "stringnl":
        return code + repr(opcode.arg).encode("utf-8") + b"\n"
    if kind == "unicodestringnl":  # as pickle's protocol 0 writes a str
        text = str(opcode.arg)
        for ch, esc in (("\\", "\\u005c"), ("\0", "\\u0000"), ("\n", "\\u000a"), ("\r", "\\u000d"),
                        ("\x1a", "\\u001a")):
            text = text.replace(ch, esc)
        return code + text.encode("raw-unicode-escape") + b"\n"
    if kind == "stringnl_noescape_pair":  # "module name"
        return code + "\n".join(str(opcode.arg).split(" ", 1)).encode("utf-8") + b"\n"
    return opcode.data


def _pickled_bytes(pickled) -> bytes | None:
    """The bytes of a Pickled's opcodes (_encode_opcode); None when one cannot be encoded."""
    try:
        return b"".join(_encode_opcode(op) for op in pickled)
    except Exception:
        return None


def _worst(results):
    return max((r.severity for r in results), default=_fickling["Severity"].LIKELY_SAFE)


def _scan_outcome(scans) -> dict:
    """A ScanResult of fickling.scan_file, or the dict of them fickling.scan_zip_archive returns."""
    scans = list(scans.values()) if isinstance(scans, dict) else [scans]
    severity = max((s.severity for s in scans), default=None)
    return _fickling_outcome(severity, [r for s in scans for r in s.results], [e for s in scans for e in s.errors])


def _file_verdict(data: bytes) -> dict:
    """What fickling's own file scan says of these bytes (recorder verdict): ``scan_zip_archive`` for
    a zip (its .pkl / .pickle / .bin members), else ``scan_file``'s scan of the bytes; graceful."""
    import io
    import zipfile

    sha = hashlib.sha256(data).hexdigest()
    if sha not in _verdict_cache:
        collect, _local.collect = getattr(_local, "collect", None), None
        try:
            if zipfile.is_zipfile(io.BytesIO(data)):
                scans = _fickling["scan_zip_archive"](io.BytesIO(data), graceful=True)
            else:
                scans = _fickling["_scan_bytes"]("<recorded>", data, True, None)
            _verdict_cache[sha] = _scan_outcome(scans)
        except Exception as exc:  # noqa: BLE001 -- fickling's own failure: no verdict
            _verdict_cache[sha] = {"verdict": "unknown", "status": "failed", "exception": repr(exc)[:300]}
        finally:
            _local.collect = collect
    return dict(_verdict_cache[sha])


def _record_fickling(kind: str, payload: bytes | None, source, suffix: str, outcome: dict,
                     changing: list[str] | None = None, verdict_by: str = "test", exc=None) -> None:
    changing = changing or []
    rec = _file_record(kind, source if source is not None else "", changing, changing)
    rec["suffix"] = suffix
    rec["verdict_by"] = verdict_by
    rec.update(outcome)
    _finish(rec, payload, None, exc, None)


def _outermost(call, record):
    """Run call() with the re-entrancy guard up and a collector for the check_safety results under
    it; then record(result, exc, collected); return its result or raise its exception."""
    depth = getattr(_local, "depth", 0)
    if depth:
        return call()
    collect = getattr(_local, "collect", None)
    _local.depth, _local.collect = depth + 1, []
    try:
        result = call()
    except BaseException as exc:
        collected, _local.depth, _local.collect = _local.collect, depth, collect
        record(None, exc, collected)
        raise
    collected, _local.depth, _local.collect = _local.collect, depth, collect
    record(result, None, collected)
    return result


def _bind(original, args, kwargs) -> dict:
    bound = dict(zip(list(inspect.signature(original).parameters), args))
    bound.update(kwargs)
    return bound


def _wrap_check_safety(original):
    """check_safety(pickled, analyzer=None, ...): fickling's verdict on a Pickled (the bytes of its
    opcodes); a non-default analyzer is an outcome-changing option.  Nested calls feed the collector."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if getattr(_local, "depth", 0):
            result = original(*args, **kwargs)
            if getattr(_local, "collect", None) is not None:
                _local.collect.append(result)
            return result
        bound = _bind(original, args, kwargs)
        analyzer = bound.get("analyzer")
        changing = [] if analyzer is None or analyzer is _fickling["Analyzer"].default_instance else ["analyzer"]
        payload = _pickled_bytes(bound["pickled"])

        def record(result, exc, _collected):
            outcome = _fickling_outcome(result.severity, [result]) if exc is None else {"verdict": "unknown"}
            _record_fickling("check_safety", payload, None, ".pkl", outcome, changing, exc=exc)

        return _outermost(lambda: original(*args, **kwargs), record)

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_loader(original, kind: str):
    """fickling.load(file) / loads(data) / is_likely_safe(path): the severity of the check_safety
    calls under it (refusing the file is the test's business, not the verdict)."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if getattr(_local, "depth", 0):
            return original(*args, **kwargs)
        bound = _bind(original, args, kwargs)
        arg = bound.get({"load": "file", "loads": "data", "is_likely_safe": "filepath"}[kind])
        source, suffix = (arg, _file_suffix(Path(_os_fspath(arg)))) if kind == "is_likely_safe" else (None, ".pkl")
        try:
            payload = (_read_regular(arg, MAX_PAYLOAD)[1] if kind == "is_likely_safe"
                       else bytes(arg) if kind == "loads" else _peek(arg))
        except Exception:
            payload = None

        def record(_result, exc, collected):
            refused = exc is not None and type(exc).__name__ == "UnsafeFileError"
            if collected:
                outcome = _fickling_outcome(_worst(collected), collected, status="refused" if refused else "complete")
            else:  # an invalid opcode (is_likely_safe: False without analysis), a parse error
                outcome = {"verdict": "unknown", "status": "failed"}
            _record_fickling(kind, payload, source, suffix, outcome, exc=None if refused else exc)

        return _outermost(lambda: original(*args, **kwargs), record)

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_scan(original, kind: str):
    """fickling.scan_file(path) / scan_zip_archive(path): the ScanResult(s) it returns."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if getattr(_local, "depth", 0):
            return original(*args, **kwargs)
        path = _bind(original, args, kwargs).get("filepath")
        try:
            payload = _read_regular(path, MAX_PAYLOAD)[1]
            suffix = _file_suffix(Path(_os_fspath(path)))
        except Exception:  # missing (their graceful tests), not a path
            payload, suffix = None, ".bin"

        def record(result, exc, _collected):
            outcome = _scan_outcome(result) if exc is None else {"verdict": "unknown", "status": "failed"}
            _record_fickling(kind, payload, path, suffix, outcome, exc=exc)

        return _outermost(lambda: original(*args, **kwargs), record)

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_ml_unpickler(cls) -> None:
    """FicklingMLUnpickler (fickling's ML-allowlist unpickler, what activate_safe_ml_environment puts
    in place of pickle's): refused (UnsafeFileError) -> suspicious, loaded -> clean; ``also_allow``
    is an outcome-changing option."""
    init, load = cls.__init__, cls.load

    @functools.wraps(init)
    def wrapped_init(self, *args, also_allow=None, **kwargs):
        self._unseen_call = (_peek(args[0]) if args else None, ["also_allow"] if also_allow else [])
        init(self, *args, also_allow=also_allow, **kwargs)

    def wrapped_load(self, *args, **kwargs):
        payload, changing = getattr(self, "_unseen_call", (None, []))

        def record(_result, exc, _collected):
            refused = exc is not None and type(exc).__name__ == "UnsafeFileError"
            verdict = "suspicious" if refused else "clean" if exc is None else "unknown"
            outcome = {"verdict": verdict, "status": "refused" if refused else "complete",
                       "findings": [{"severity": "refused", "rule": "FicklingMLUnpickler", "module": None,
                                     "name": None, "message": str(exc)[:300]}] if refused else []}
            _record_fickling("FicklingMLUnpickler.load", payload, None, ".pkl", outcome, changing,
                             exc=None if refused else exc)

        return _outermost(lambda: load(self, *args, **kwargs), record)

    cls.__init__, cls.load = wrapped_init, wrapped_load


def _called_from_test() -> bool:
    """Is the caller of the wrapped function (two frames up) a test module's code?"""
    import sys

    return Path(sys._getframe(2).f_code.co_filename).name.startswith("test_")


def _record_parsed(kind: str, payload: bytes | None, suffix: str = ".pkl") -> None:
    if payload is None:
        return
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        outcome = _file_verdict(payload)
    finally:
        _local.depth -= 1
    _record_fickling(kind, payload, None, suffix, outcome, verdict_by="recorder")


def _wrap_parse(original, kind: str):
    """Pickled.load / StackedPickle.load called by a test: the bytes from the stream's position on,
    with the recorder's verdict (_file_verdict), computed on those bytes, never on the test's objects."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if getattr(_local, "depth", 0) or not _called_from_test():
            return original(*args, **kwargs)
        data = _bind(original, args, kwargs).get("pickled")
        payload = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else _peek(data)
        _local.depth = 1
        try:
            return original(*args, **kwargs)
        finally:
            _local.depth = 0
            _record_parsed(kind, payload)

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_pickled_use(cls) -> None:
    """Pickled.dumps() and Pickled.ast called by a test (a pickle it built from opcodes, or changed
    with fickling's insert_python* injection API): the bytes of its opcodes, recorder's verdict."""
    dumps, ast_prop = cls.dumps, cls.ast

    @functools.wraps(dumps)
    def wrapped_dumps(self):
        out = dumps(self)
        if not getattr(_local, "depth", 0) and _called_from_test():
            _record_parsed("Pickled.dumps", bytes(out))
        return out

    def ast_getter(self):
        if not getattr(_local, "depth", 0) and _called_from_test():
            _record_parsed("Pickled.ast", _pickled_bytes(self))
        return ast_prop.fget(self)

    cls.dumps, cls.ast = wrapped_dumps, property(ast_getter, doc=ast_prop.__doc__)


def _wrap_inject(original):
    """PyTorchModelWrapper.inject_payload(payload, output_path, ...): the file it writes (the
    wrapped file itself with overwrite=True), with the recorder's verdict."""

    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        if getattr(_local, "depth", 0):
            return original(self, *args, **kwargs)
        bound = _bind(original, (self,) + args, kwargs)
        _local.depth = getattr(_local, "depth", 0) + 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _local.depth -= 1
        out = Path(_os_fspath(bound["output_path"]))
        path = self.path if bound.get("overwrite") else out
        try:
            payload = _read_regular(path, MAX_PAYLOAD)[1]
        except OSError:
            payload = None
        if payload is not None:
            _local.depth += 1
            try:
                outcome = _file_verdict(payload)
            finally:
                _local.depth -= 1
            _record_fickling("inject_payload", payload, path, _file_suffix(Path(_os_fspath(path))), outcome,
                             verdict_by="recorder")
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _replace_everywhere(original, wrapper) -> None:
    """Every fickling module attribute bound to original (``fickling.load``, ``loader.check_safety``
    imported by name ...) now names wrapper."""
    import sys

    for name, mod in list(sys.modules.items()):
        if name == "fickling" or name.startswith("fickling."):
            for attr, value in list(vars(mod).items()):
                if value is original:
                    setattr(mod, attr, wrapper)


def _install_fickling() -> None:
    import fickling
    import fickling.analysis as analysis
    import fickling.cli  # noqa: F401 -- binds check_safety by name
    import fickling.hook  # noqa: F401
    import fickling.loader as loader
    import fickling.ml as ml
    import fickling.polyglot  # noqa: F401
    import fickling.pytorch as pytorch
    from fickling.fickle import Pickled, StackedPickle

    _fickling.update(Severity=analysis.Severity, Analyzer=analysis.Analyzer,
                     scan_zip_archive=loader.scan_zip_archive, _scan_bytes=loader._scan_bytes)
    if getattr(analysis.check_safety, "__unseen_wrapped__", False):
        return
    entry_points = [(analysis.check_safety, _wrap_check_safety(analysis.check_safety))]
    entry_points += [(getattr(loader, k), _wrap_loader(getattr(loader, k), k)) for k in ("load", "loads")]
    entry_points.append((analysis.is_likely_safe, _wrap_loader(analysis.is_likely_safe, "is_likely_safe")))
    entry_points += [(getattr(loader, k), _wrap_scan(getattr(loader, k), k)) for k in ("scan_file", "scan_zip_archive")]
    for original, wrapper in entry_points:
        _replace_everywhere(original, wrapper)
    assert fickling.load is not entry_points[1][0], "fickling.load was not wrapped"
    _wrap_ml_unpickler(ml.FicklingMLUnpickler)
    for cls, kind in ((Pickled, "Pickled.load"), (StackedPickle, "StackedPickle.load")):
        cls.load = staticmethod(_wrap_parse(cls.load, kind))
    _wrap_pickled_use(Pickled)
    pytorch.PyTorchModelWrapper.inject_payload = _wrap_inject(pytorch.PyTorchModelWrapper.inject_payload)


# --------------------------------------------------------------------------- modelscan suite

_MS_SEVERITY_ORDER = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}


class _TFStub:
    """Stands for tensorflow / tf_keras, which are not installed: attribute access and the two calls the
    tests make at import time (``tf.function(...)`` as a decorator, ``tf.TensorSpec(...)``) work, a base
    class is ``object``; any other call raises, so the fixtures that build TensorFlow models fail."""

    _IMPORT_TIME = ("tensorflow.function", "tensorflow.TensorSpec", "tensorflow.float32")

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _TFStub(f"{self._name}.{attr}")

    def __mro_entries__(self, bases):
        return (object,)

    def __call__(self, *args, **kwargs):
        if self._name in self._IMPORT_TIME or self._name.endswith("()"):
            return _TFStub(self._name + "()")
        raise ModuleNotFoundError(f"{self._name}: tensorflow is not installed (unseen harvest stub)")


def _stub_tensorflow() -> None:
    import importlib.util
    import sys
    import types

    for name in ("tensorflow", "tf_keras"):
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        mod = types.ModuleType(name)
        stub = _TFStub(name)
        mod.__getattr__ = stub.__getattr__  # PEP 562
        mod.__unseen_stub__ = True
        sys.modules[name] = mod


def _ms_source_of(obj) -> str:
    for attr in ("source", "path"):
        v = getattr(obj, attr, None)
        if v is not None:
            return str(v)
    model = getattr(obj, "model", None)
    if model is not None:
        try:
            return str(model.get_source())
        except Exception:
            return ""
    return ""


def _ms_belongs(source: str, path: str) -> bool:
    return source == path or source.startswith(path + ":")


def _ms_outcome(issues, errors, skipped, scanned, path: str | None) -> dict:
    """modelscan's verdict on one file (path None: everything given is about it)."""
    out: dict = {}
    try:
        mine = [i for i in issues if path is None or _ms_belongs(_ms_source_of(i.details), path)]
        errs = [e for e in errors if path is None or _ms_belongs(_ms_source_of(e), path)]
        skips = [k for k in skipped if path is None or _ms_belongs(_ms_source_of(k), path)]
        seen = path is None or any(_ms_belongs(str(x), path) for x in scanned)
        sev = sorted({i.severity.name for i in mine}, key=lambda n: _MS_SEVERITY_ORDER.get(n, 9))
        if "CRITICAL" in sev or "HIGH" in sev:
            verdict = "malicious"
        elif errs or mine or not seen:
            verdict = "unknown"
        else:
            verdict = "clean"
        out["verdict"] = verdict
        out["severity"] = sev[0] if sev else None
        out["status"] = "failed" if errs else ("skipped" if not seen and not mine else "complete")
        findings = []
        for i in sorted(mine, key=lambda i: _MS_SEVERITY_ORDER.get(i.severity.name, 9))[:40]:
            d = i.details
            findings.append({"severity": i.severity.name.lower(), "rule": getattr(i.code, "value", str(i.code)),
                             "module": str(getattr(d, "module", "")), "name": str(getattr(d, "operator", "")),
                             "message": f"{i.severity.name} {getattr(d, 'module', '')}.{getattr(d, 'operator', '')}"
                                        f" in {_ms_source_of(d)}"[:300]})
        out["findings"] = findings
        out["errors"] = [str(getattr(e, "message", e))[:200] for e in errs][:5]
        out["skips"] = [f"{getattr(k, 'category', '')}: {getattr(k, 'message', '')}"[:200] for k in skips][:5]
    except Exception as exc:  # never break the test
        out["summary_error"] = repr(exc)[:300]
    return out


def _ms_record(kind: str, source, payload: bytes | None, size, outcome: dict | None, exc, changing: list) -> None:
    rec = _file_record(kind, source, changing, changing)
    try:
        rec["suffix"] = _peer_suffix(source, None)
    except Exception:
        rec["suffix"] = ".bin"
    rec["size"] = size if size is not None else (len(payload) if payload is not None else None)
    if payload is None:
        rec["skipped"] = f"larger than {MAX_PAYLOAD} bytes" if size else "unreadable"
    else:
        rec["sha256"] = _store(payload)
    if exc is not None:
        rec["exception"] = repr(exc)[:300]
    elif outcome is not None:
        rec.update(outcome)
    _append("scans.jsonl", rec)


def _ms_files(path) -> list[Path]:
    p = Path(".").resolve() if str(path) == "." else Path(path).absolute()
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file())
    return [p]


def _wrap_modelscan_scan(original):
    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(self, *args, **kwargs)
        path = args[0] if args else kwargs.get("path")
        try:
            from modelscan.settings import DEFAULT_SETTINGS

            changing = [] if self._settings == DEFAULT_SETTINGS else ["settings"]
        except Exception:
            changing = ["settings?"]
        files = _ms_files(path)
        before = {}
        for f in files:  # the bytes as scanned (read before the scan)
            try:
                before[str(f)] = _read_regular(f, MAX_PAYLOAD)
            except Exception:
                before[str(f)] = (None, None)
        _local.depth = depth + 1
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            for f in files:
                size, payload = before[str(f)]
                if size is not None:
                    _ms_record("ModelScan.scan", f, payload, size, None, exc, changing)
            raise
        _local.depth = depth
        issues = list(getattr(self.issues, "all_issues", []))
        errors, skipped, scanned = list(self.errors), list(self.skipped), list(self.scanned)
        for f in files:
            size, payload = before[str(f)]
            if size is None:
                continue
            _ms_record("ModelScan.scan", f, payload, size, _ms_outcome(issues, errors, skipped, scanned, str(f)),
                       None, changing)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_modelscan_tool(original, kind: str):
    """``scan_pickle_bytes`` / ``scan_numpy`` / ``scan_pytorch(model, settings, ...)`` called by a test."""

    @functools.wraps(original)
    def wrapper(model, settings, *args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(model, settings, *args, **kwargs)
        try:
            from modelscan.settings import DEFAULT_SETTINGS

            changing = [] if settings == DEFAULT_SETTINGS else ["settings"]
        except Exception:
            changing = ["settings?"]
        try:
            payload = _peek(model.get_stream())
            source = model.get_source()
        except Exception:
            payload, source = None, None
        _local.depth = depth + 1
        try:
            result = original(model, settings, *args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            _ms_record(kind, source, payload, None, None, exc, changing)
            raise
        _local.depth = depth
        _ms_record(kind, source, payload, None,
                   _ms_outcome(list(result.issues or []), list(result.errors or []), list(result.skipped or []),
                               [source], None), None, changing)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _install_modelscan() -> None:
    _stub_tensorflow()
    import modelscan.modelscan as msmod
    import modelscan.tools.picklescanner as ps

    for kind in ("scan_pickle_bytes", "scan_numpy", "scan_pytorch"):
        fn = getattr(ps, kind)  # loudly: a missing entry point would record nothing
        if not getattr(fn, "__unseen_wrapped__", False):
            setattr(ps, kind, _wrap_modelscan_tool(fn, kind))
    if not getattr(msmod.ModelScan.scan, "__unseen_wrapped__", False):
        msmod.ModelScan.scan = _wrap_modelscan_scan(msmod.ModelScan.scan)


# --------------------------------------------------------------------------- aisbom suite


def _ab_stream_outcome(threats) -> dict:
    """AIsbom's verdict on what ``scan_pickle_stream`` returned."""
    out: dict = {}
    try:
        threats = [str(t) for t in threats or []]
        real = [t for t in threats if t != "PICKLE_SCAN_INCOMPLETE"]
        incomplete = len(real) != len(threats)
        out["verdict"] = "malicious" if real else "unknown" if incomplete else "clean"
        out["status"] = "incomplete" if incomplete else "complete"
        out["findings"] = [{"severity": "critical", "rule": "threat", "module": None, "name": None,
                            "message": t[:300]} for t in real[:40]]
    except Exception as exc:  # never break the test
        out["summary_error"] = repr(exc)[:300]
    return out


def _ab_meta_outcome(meta) -> dict:
    """AIsbom's verdict on what an inspector returned (its artifact's ``risk_level``)."""
    out: dict = {}
    try:
        risk = str(meta.get("risk_level") or "UNKNOWN")
        details = meta.get("details") or {}
        if risk.startswith("CRITICAL (RCE Detected"):
            verdict = "malicious"
        elif meta.get("error") or risk.startswith("CRITICAL") or risk == "UNKNOWN" or (
                risk.startswith("MEDIUM") and risk != "MEDIUM (Pickle Present)"):
            verdict = "unknown"
        elif risk in ("MEDIUM (Pickle Present)", "LOW"):
            verdict = "clean"
        else:
            verdict = "unknown"
        out["verdict"] = verdict
        out["severity"] = risk[:200]
        out["status"] = "failed" if meta.get("error") else "complete"
        out["findings"] = [{"severity": "critical" if verdict == "malicious" else "info", "rule": "risk_level",
                            "module": None, "name": None, "message": risk[:300]}]
        out["errors"] = [str(meta.get("error"))[:200]] if meta.get("error") else []
        out["skips"] = [str(details.get("container_format"))] if details.get("container_format") else []
    except Exception as exc:  # never break the test
        out["summary_error"] = repr(exc)[:300]
    return out


def _ab_record(kind: str, source, payload: bytes | None, size, outcome: dict | None, exc, changing: list) -> None:
    rec = _file_record(kind, source if source is not None else "<bytes>", changing, changing)
    try:
        rec["suffix"] = _peer_suffix(source, None) if source is not None else ".pkl"
    except Exception:
        rec["suffix"] = ".bin"
    rec["size"] = size if size is not None else (len(payload) if payload is not None else None)
    if payload is None:
        rec["skipped"] = f"larger than {MAX_PAYLOAD} bytes" if size else "unreadable"
    else:
        rec["sha256"] = _store(payload)
    if exc is not None:
        rec["exception"] = repr(exc)[:300]
    elif outcome is not None:
        rec.update(outcome)
    _append("scans.jsonl", rec)


def _wrap_aisbom_stream(original):
    """``scan_pickle_stream(data, strict_mode=False)`` called by a test (not under an inspector)."""

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(*args, **kwargs)
        try:
            bound = _bind(original, args, kwargs)
            data = bound.get("data")
            payload = bytes(data) if data is not None else None
            changing = ["strict_mode"] if bound.get("strict_mode") else []
        except Exception:
            payload, changing = None, ["arguments?"]
        _local.depth = depth + 1
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            _ab_record("scan_pickle_stream", None, payload, None, None, exc, changing)
            raise
        _local.depth = depth
        _ab_record("scan_pickle_stream", None, payload, None, _ab_stream_outcome(result), None, changing)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _wrap_aisbom_inspector(original, kind: str):
    """``DeepScanner._inspect_pytorch`` / ``_inspect_pickle_variant(source, name=None, is_remote=False)``."""

    @functools.wraps(original)
    def wrapper(self, source, *args, **kwargs):
        depth = getattr(_local, "depth", 0)
        if depth:
            return original(self, source, *args, **kwargs)
        changing = ["strict_mode"] if getattr(self, "strict_mode", False) else []
        size = payload = None
        label = source
        try:
            if isinstance(source, (str, Path)):
                size, payload = _read_regular(Path(source), MAX_PAYLOAD)
                label = Path(source).absolute()
            else:  # a stream (remote targets, a test's own file object): from its position on
                payload = _peek(source)
                label = args[0] if args else kwargs.get("name") or getattr(source, "name", None)
        except Exception:
            size, payload = None, None
        _local.depth = depth + 1
        try:
            result = original(self, source, *args, **kwargs)
        except BaseException as exc:
            _local.depth = depth
            if payload is not None or size is not None:
                _ab_record(kind, label, payload, size, None, exc, changing)
            raise
        _local.depth = depth
        if payload is not None or size is not None:
            _ab_record(kind, label, payload, size, _ab_meta_outcome(result), None, changing)
        return result

    wrapper.__unseen_wrapped__ = True
    return wrapper


def _install_aisbom() -> None:
    import sys

    import aisbom.corpus  # noqa: F401  (imports scanner and safety: every module bound to the disassembler)
    import aisbom.safety as safety
    import aisbom.scanner as scanner

    original = safety.scan_pickle_stream  # loudly: a missing entry point would record nothing
    if not getattr(original, "__unseen_wrapped__", False):
        wrapper = _wrap_aisbom_stream(original)
        for name, mod in list(sys.modules.items()):
            if name == "aisbom" or name.startswith("aisbom."):
                for attr, value in list(vars(mod).items()):
                    if value is original:
                        setattr(mod, attr, wrapper)
    for kind in ("_inspect_pytorch", "_inspect_pickle_variant"):
        fn = getattr(scanner.DeepScanner, kind)
        if not getattr(fn, "__unseen_wrapped__", False):
            setattr(scanner.DeepScanner, kind, _wrap_aisbom_inspector(fn, kind))


if SUITE == "peers":
    _install_peers()
elif SUITE == "fickling":
    _install_fickling()
elif SUITE == "modelscan":
    _install_modelscan()
elif SUITE == "aisbom":
    _install_aisbom()
else:
    _install()
if SUITE == "main":
    _install_main()


class _TestTimeout(BaseException):  # not swallowed by an `except Exception` in the code under test
    pass


def _alarm(signum, frame):
    raise _TestTimeout(f"test ran longer than {TEST_TIMEOUT_S} s (unseen harvest limit)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current["nodeid"] = item.nodeid
    _current["patches"] = _test_patches(item) if SUITE != "picklescan" else None
    yield
    _current["nodeid"] = None
    _current["phase"] = None
    _current["patches"] = None


def _test_patches(item) -> bool:
    """Does the test patch code (its verdicts may be a stub's)?  A heuristic, see the docstring."""
    fn = getattr(item, "function", None)
    if fn is None:
        return False
    if getattr(fn, "patchings", None) or "mocker" in getattr(item, "fixturenames", ()):
        return True
    try:
        return bool(_PATCH_RE.search(inspect.getsource(fn)))
    except (OSError, TypeError):
        return False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    _current["phase"] = "setup"
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _current["phase"] = "call"
    if SUITE == "picklescan":
        yield
        return
    import signal

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    _current["phase"] = "teardown"
    yield


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        rec = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome}
        if SUITE != "picklescan":
            rec["duration"] = round(report.duration, 3)
            rec["t"] = round(_now(), 1)
        if SUITE != "picklescan" and report.outcome != "passed":
            rec["longrepr"] = str(report.longrepr)[-400:]  # why: a missing dependency, a skip reason
        _append("outcomes.jsonl", rec)


def pytest_collectreport(report):
    if SUITE != "picklescan" and report.failed:  # a test module that does not import (a missing optional dependency ...)
        _append("outcomes.jsonl", {"nodeid": report.nodeid, "when": "collect", "outcome": "error",
                                   "longrepr": str(report.longrepr)[-600:]})
