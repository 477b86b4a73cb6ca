"""CPython oracles for harvest_unseen.py.  Run only inside `airlock run` (no network,
read-only host, private /tmp); each payload is loaded in its own throw-away child
process with rlimits and a timeout.

Two oracles, both CPython's own unpickler (``pickle._Unpickler`` is not used:
``pickle.Unpickler`` is the C one every loader uses):

``imports`` -- no execution.  ``find_class`` records (module, name) and returns
    an inert stub class instead of the real object (its calls, attribute reads,
    item stores and ``__setstate__`` all return more stubs), so the unpickler
    walks the whole opcode stream and every global the stream names is seen,
    including STACK_GLOBAL operands assembled through the memo, but no module
    is imported and nothing of the payload runs.

``execute`` -- the real load.  ``find_class`` records and returns the real
    object (``super().find_class``); an audit hook (``sys.addaudithook``)
    records the side-effect events CPython raises (process creation, exec /
    compile, open, os file operations, sockets, ctypes, imports ...) and
    *refuses* every process-creation event (the child raises instead of
    spawning); a profile hook records the Python functions the load calls
    outside ``find_class``.  ``executes`` is true when, after the first global
    outside the ``torch.load(weights_only=True)`` allowlist was resolved, the
    load called a Python function or raised a side-effect audit event, i.e.
    the payload ran code, not only rebuilt data.  Blind spot: a C function
    called directly by the unpickler that raises no audit event (e.g.
    ``builtins.getattr``) is not seen by itself; the chains it feeds are.

Usage:  unseen_oracle.py batch LIST.json OUT.jsonl ALLOWLIST.json
        unseen_oracle.py one MODE PATH ALLOWLIST.json   (internal)
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile

CHILD_TIMEOUT_S = 10
MAX_EVENTS = 200

SPAWN_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "pty.spawn",
)
EFFECT_PREFIXES = SPAWN_EVENTS + (
    "exec",
    "compile",
    "open",
    "os.",
    "shutil.",
    "socket.",
    "ctypes.",
    "code.__new__",
    "function.__new__",
    "marshal.load",
    "builtins.input",
    "webbrowser.open",
    "urllib.Request",
    "http.client",
    "ftplib.",
    "smtplib.",
    "telnetlib.",
    "import",
    "sys._getframe",
    "object.__setattr__",
    "object.__delattr__",
    "setopencodehook",
    "sys.addaudithook",
    "mmap.__new__",
    "tempfile.mk",
    "sqlite3.",
    "glob.glob",
    "pathlib.",
)


def _pickle_members(data: bytes) -> list[tuple[str, bytes]]:
    """The pickles to load: the file itself, or the .pkl members of a zip."""
    if data[:4] == b"PK\x03\x04":
        out = []
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist()[:64]:
                    if info.file_size > 64 * 1024 * 1024:
                        continue
                    body = zf.read(info)
                    if info.filename.endswith(".pkl") or body[:1] == b"\x80":
                        out.append((info.filename, body))
        except Exception as exc:  # broken zip: load nothing, report why
            return [("<zip-error>", repr(exc).encode())]
        return out
    return [("", data)]


# --------------------------------------------------------------------------- imports (stub) oracle


class _StubMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _new_stub(f"{cls.__name__}.{name}")

    def __call__(cls, *args, **kwargs):
        return type.__call__(cls)


class _StubBase:
    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in ("__setstate__",):
            raise AttributeError(name)
        return _new_stub(name)()

    def __call__(self, *args, **kwargs):
        return _new_stub("call")()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def __getitem__(self, key):
        return _new_stub("item")()

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def add(self, value):
        pass


def _new_stub(label: str):
    cls = _StubMeta.__new__(_StubMeta, "Stub_" + "".join(c if c.isalnum() else "_" for c in label)[:60],
                            (_StubBase,), {})
    return cls


class _RecordingStubUnpickler(pickle.Unpickler):
    def __init__(self, f, seen):
        super().__init__(f)
        self.seen = seen

    def find_class(self, module, name):
        self.seen.append([str(module), str(name)])
        if len(self.seen) > 10000:
            raise RuntimeError("oracle: too many globals")
        return _new_stub(f"{module}.{name}")

    def persistent_load(self, pid):
        return _new_stub("persistent")()


def _oracle_imports(data: bytes) -> dict:
    seen: list[list[str]] = []
    errors = []
    for member, body in _pickle_members(data):
        try:
            _RecordingStubUnpickler(io.BytesIO(body), seen).load()
        except BaseException as exc:  # noqa: BLE001 -- the payload decides what is raised
            errors.append(f"{member}: {type(exc).__name__}: {str(exc)[:200]}")
    return {"globals": seen, "errors": errors}


# --------------------------------------------------------------------------- execute oracle


def _oracle_execute(data: bytes, allow: set[str]) -> dict:
    state = {"in_find_class": False, "armed": False}
    resolved: list[list[str]] = []
    events: list[str] = []
    calls: list[str] = []
    effects_after_arm: list[str] = []
    calls_after_arm: list[str] = []
    own_files = {os.path.abspath(__file__), pickle.__file__}

    def hook(event, args):
        if not event.startswith(EFFECT_PREFIXES) or event == "pickle.find_class":
            return
        if state["in_find_class"] and event == "import":
            return
        try:
            desc = event + " " + repr(args)[:160]
        except Exception:
            desc = event
        if len(events) < MAX_EVENTS:
            events.append(desc)
        if state["armed"] and len(effects_after_arm) < MAX_EVENTS:
            effects_after_arm.append(desc)
        if event.startswith(SPAWN_EVENTS):
            raise PermissionError(f"oracle refused {event}")

    def profiler(frame, event, arg):
        if event != "call" or state["in_find_class"]:
            return
        code = frame.f_code
        if code.co_filename in own_files:
            return
        mod = frame.f_globals.get("__name__", "?")
        name = f"{mod}.{getattr(code, 'co_qualname', code.co_name)}"
        if len(calls) < MAX_EVENTS and name not in calls:
            calls.append(name)
        if state["armed"] and len(calls_after_arm) < MAX_EVENTS and name not in calls_after_arm:
            calls_after_arm.append(name)

    class RecordingUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            resolved.append([str(module), str(name)])
            state["in_find_class"] = True
            try:
                obj = super().find_class(module, name)
            finally:
                state["in_find_class"] = False
            if f"{module}.{name}" not in allow:
                state["armed"] = True
            return obj

        def persistent_load(self, pid):
            return None

    sys.addaudithook(hook)
    errors = []
    result_type = None
    members = _pickle_members(data)
    sys.setprofile(profiler)
    try:
        for member, body in members:
            try:
                result = RecordingUnpickler(io.BytesIO(body)).load()
                result_type = f"{type(result).__module__}.{type(result).__qualname__}"
            except BaseException as exc:  # noqa: BLE001
                errors.append(f"{member}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        sys.setprofile(None)
    return {
        "resolved": resolved,
        "events": events,
        "calls": calls,
        "effects_after_first_non_allowlisted": effects_after_arm,
        "calls_after_first_non_allowlisted": calls_after_arm,
        "executes": bool(effects_after_arm or calls_after_arm),
        "errors": errors,
        "result_type": result_type,
    }


# --------------------------------------------------------------------------- drivers


def _child(mode: str, path: str, allow_path: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (CHILD_TIMEOUT_S, CHILD_TIMEOUT_S))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    with open(allow_path, encoding="utf-8") as fh:
        allow = set(json.load(fh))
    with open(path, "rb") as fh:
        data = fh.read()
    out_fd = os.dup(1)
    # the payload may print: keep stdout for the one JSON line
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")
    res = _oracle_imports(data) if mode == "imports" else _oracle_execute(data, allow)
    os.write(out_fd, (json.dumps(res) + "\n").encode())
    os._exit(0)  # no atexit callbacks, no finalizers of the payload's objects


def _run_one(mode: str, path: str, allow_path: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="oracle-") as scratch:
        env = {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "PYTHONHASHSEED": "0"}
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "one", mode, os.path.abspath(path), allow_path],
                cwd=scratch,
                env=env,
                capture_output=True,
                timeout=CHILD_TIMEOUT_S + 5,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return {"oracle_error": "timeout"}
        elapsed = round(time.monotonic() - started, 3)
        lines = [ln for ln in proc.stdout.decode(errors="replace").splitlines() if ln.startswith("{")]
        if not lines:
            return {
                "oracle_error": f"exit {proc.returncode}",
                "stderr": proc.stderr.decode(errors="replace")[-400:],
            }
        try:
            res = json.loads(lines[-1])
        except ValueError:
            return {"oracle_error": "bad output"}
        res["seconds"] = elapsed
        return res


def _batch(list_path: str, out_path: str, allow_path: str) -> None:
    """One JSON line per payload, appended as each is done (a cut-short run keeps its results)."""
    allow_path = os.path.abspath(allow_path)
    with open(list_path, encoding="utf-8") as fh:
        items = json.load(fh)
    with open(out_path, "a", encoding="utf-8") as out:
        for i, item in enumerate(items):
            res = {
                "imports": _run_one("imports", item["path"], allow_path),
                "execute": _run_one("execute", item["path"], allow_path),
            }
            out.write(json.dumps({"name": item["name"], "result": res}, sort_keys=True) + "\n")
            out.flush()
            if i % 50 == 0:
                print(f"oracle {i}/{len(items)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "batch":
        _batch(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "one":
        _child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
