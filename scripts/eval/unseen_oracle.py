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

What is loaded.  By default (``flat``, the picklescan suites) the file
itself, or, for a zip, its ``.pkl`` members and members starting with PROTO.
``deep`` (item ``"deep": true`` in LIST.json; the main suite, whose tests write
whole model files) loads every pickle ``carried_pickles`` finds: the leading
pickle streams of a raw file (each of a legacy ``torch.save`` file's
consecutive pickles), the pickle members of a zip (a torch zip's
``data.pkl``, an ``.npz``'s object arrays) or tar, the body of a gzip / bz2 /
xz / lzma / zlib wrapper (joblib's compressed files), the pickle after an
``.npy`` header with an object dtype; containers nested up to 4 deep.  Each is
loaded with CPython's ``pickle.Unpickler``, not the framework's loader
(``torch.load`` / ``joblib.load`` / ``numpy.load``): ``persistent_load``
returns None (torch storages), and in a joblib file the raw array bytes written
after a ``NumpyArrayWrapper`` end the stream there.  In ``deep`` mode the
*execute* oracle also returns an inert stub for globals of the weights_only
allowlist that live in ``torch`` (tensor / storage rebuild functions, dtypes):
they only rebuild data and importing torch would cost a second per payload;
every other global is resolved for real (torch too, for which the address
space limit is 6 GiB instead of 3).

Usage:  unseen_oracle.py batch LIST.json OUT.jsonl ALLOWLIST.json [JOBS]
        unseen_oracle.py carriers OUT_DIR CARRIERS.json   (main suite: which recorded files carry a pickle)
        unseen_oracle.py one MODE PATH ALLOWLIST.json [deep]   (internal)
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import os
import pickle
import pickletools
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

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


# --------------------------------------------------------------------------- deep walk (main suite)

MAX_MEMBER = 64 * 1024 * 1024
MAX_DEPTH = 4
MAX_LEAVES = 64
MAX_STREAMS = 16
# An opcode any real pickle stream has early; a truncated stream needs one.
_PICKLE_MARKERS = {"PROTO", "GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}


def _pickle_stream_end(data: bytes, start: int) -> int | None:
    """End offset of a pickle stream at ``start``, or None when the bytes are not one.

    A stream that reaches STOP is one; so is a stream cut short by the end of
    the data (>= 2 opcodes, one of them PROTO / GLOBAL / REDUCE ...) and a
    stream that parses for >= 8 opcodes before an unknown byte (a joblib file's
    inline array data); those two run to the end of the data."""
    n = 0
    seen_marker = False
    try:
        for op, _arg, pos in pickletools.genops(io.BytesIO(data[start:start + MAX_MEMBER])):
            n += 1
            seen_marker = seen_marker or op.name in _PICKLE_MARKERS
            if op.name == "STOP":
                return start + pos + 1
            if n >= 1_000_000:
                return len(data)
    except Exception as exc:  # noqa: BLE001 -- any parse error ends the stream
        msg = str(exc)
        truncated = "exhausted" in msg or "remain" in msg or "no newline" in msg
        if n >= 8 or (n >= 2 and truncated and seen_marker):
            return len(data)
    return None


def _pickle_streams(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the consecutive pickle streams at the start of the data."""
    out = []
    pos = 0
    while pos < len(data) and len(out) < MAX_STREAMS:
        end = _pickle_stream_end(data, pos)
        if end is None or end <= pos:
            break
        out.append((pos, end))
        pos = end
    return out


def _npy_pickle_offset(data: bytes) -> int | None:
    """Offset of the pickle in an .npy file with an object dtype, else None."""
    major = data[6] if len(data) > 6 else 0
    if major == 1:
        hlen, base = int.from_bytes(data[8:10], "little"), 10
    elif major in (2, 3):
        hlen, base = int.from_bytes(data[8:12], "little"), 12
    else:
        return None
    header = data[base:base + hlen].decode("latin-1")
    return base + hlen if re.search(r"'[|<>=]?O\d*'", header) else None


def _inflate(data: bytes, kind: str) -> bytes | None:
    """Decompressed body (at most MAX_MEMBER bytes), or None."""
    try:
        if kind == "gzip":
            return zlib.decompressobj(31).decompress(data, MAX_MEMBER)
        if kind == "zlib":
            return zlib.decompressobj().decompress(data, MAX_MEMBER)
        if kind == "bz2":
            return bz2.BZ2Decompressor().decompress(data, MAX_MEMBER)
        if kind == "xz":
            return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data, MAX_MEMBER)
        if kind == "lzma":
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data, MAX_MEMBER)
    except Exception:  # noqa: BLE001 -- not that format after all
        return None
    return None


def _compression(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bz2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if len(data) > 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return None


def _raw_member(data: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """A member's bytes read as torch's reader reads them (central directory offset and
    sizes, local header skipped whatever name it gives, flag bits and CRC-32 ignored):
    stored or deflated only; None when even that fails."""
    off = info.header_offset
    if data[off:off + 4] != b"PK\x03\x04":
        return None
    start = off + 30 + int.from_bytes(data[off + 26:off + 28], "little") + int.from_bytes(data[off + 28:off + 30], "little")
    body = data[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        return body[:MAX_MEMBER]
    if info.compress_type == zipfile.ZIP_DEFLATED:
        try:
            return zlib.decompressobj(-15).decompress(body, MAX_MEMBER)
        except zlib.error:
            return None
    return None


def _zip_members(data: bytes) -> list[tuple[str, bytes]]:
    """Every member's bytes; a member Python's zipfile refuses (a flag bit for encryption,
    a bad CRC-32, a local name that differs from the central one) is read raw (_raw_member)."""
    out = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist()[:256]:
                if info.is_dir() or info.file_size > MAX_MEMBER:
                    continue
                try:
                    with zf.open(info) as fh:
                        out.append((info.filename, fh.read(MAX_MEMBER)))
                except Exception:  # noqa: BLE001 -- encrypted, bad CRC, local name mismatch, unsupported method
                    body = _raw_member(data, info)
                    if body is not None:
                        out.append((info.filename, body))
    except Exception:  # noqa: BLE001
        return []
    return out


def _tar_members(data: bytes) -> list[tuple[str, bytes]]:
    if len(data) < 512:
        return []
    out = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for m in tf.getmembers()[:256]:
                if not m.isfile() or m.size > MAX_MEMBER:
                    continue
                fh = tf.extractfile(m)
                if fh is not None:
                    out.append((m.name, fh.read(MAX_MEMBER)))
    except Exception:  # noqa: BLE001 -- not a tar
        return []
    return out


def _walk(data: bytes, path: str, chain: list[str], depth: int, out: list) -> None:
    if depth > MAX_DEPTH or len(out) >= MAX_LEAVES:
        return
    if data[:6] == b"\x93NUMPY":
        off = _npy_pickle_offset(data)
        if off is not None:
            out.append((path, "/".join(chain + ["npy-object"]), data[off:]))
        return
    kind = _compression(data)
    if kind is not None:
        body = _inflate(data, kind)
        if body:
            _walk(body, f"{path}|{kind}", chain + [kind], depth + 1, out)
        return
    container = False
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06") or zipfile.is_zipfile(io.BytesIO(data)):
        members = _zip_members(data)
        container = bool(members)
        for name, body in members:
            _walk(body, f"{path}/{name}" if path else name, chain + ["zip"], depth + 1, out)
    tar = _tar_members(data) if not container else []
    for name, body in tar:
        _walk(body, f"{path}/{name}" if path else name, chain + ["tar"], depth + 1, out)
    if data[:4] == b"PK\x03\x04" or tar:
        return
    streams = _pickle_streams(data)
    for k, (a, b) in enumerate(streams):
        out.append((f"{path}#{k}" if len(streams) > 1 else path, "/".join(chain + ["pickle"]), data[a:b]))
    if not streams and data[:3] == b"]\x00\x00":  # lzma 'alone' (joblib .lzma); ']' is also EMPTY_LIST
        body = _inflate(data, "lzma")
        if body:
            _walk(body, f"{path}|lzma", chain + ["lzma"], depth + 1, out)


def carried_pickles(data: bytes) -> list[tuple[str, str, bytes]]:
    """Every pickle the bytes carry, as (member path, carrier chain, pickle bytes).

    The carrier chain names the wrappers from the outside in, e.g. ``pickle``,
    ``zip/pickle`` (torch zip), ``gzip/tar/pickle``, ``zip/npy-object`` (npz),
    ``zlib/pickle`` (compressed joblib).  Empty when no pickle is found."""
    out: list[tuple[str, str, bytes]] = []
    _walk(data, "", [], 0, out)
    return out


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


def _members(data: bytes, deep: bool) -> list[tuple[str, bytes]]:
    if deep:
        return [(path, body) for path, _chain, body in carried_pickles(data)]
    return _pickle_members(data)


def _oracle_imports(data: bytes, deep: bool = False) -> dict:
    seen: list[list[str]] = []
    errors = []
    for member, body in _members(data, deep):
        try:
            _RecordingStubUnpickler(io.BytesIO(body), seen).load()
        except BaseException as exc:  # noqa: BLE001 -- the payload decides what is raised
            errors.append(f"{member}: {type(exc).__name__}: {str(exc)[:200]}")
    return {"globals": seen, "errors": errors}


# --------------------------------------------------------------------------- execute oracle


def _oracle_execute(data: bytes, allow: set[str], deep: bool = False) -> dict:
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
            if deep and f"{module}.{name}" in allow and (module == "torch" or str(module).startswith("torch.")):
                return _new_stub(f"{module}.{name}")  # data-only rebuild function: no torch import
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
    members = _members(data, deep)
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


def _child(mode: str, path: str, allow_path: str, deep: bool = False) -> None:
    import resource

    limit = (6 if deep else 3) << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
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
    res = _oracle_imports(data, deep) if mode == "imports" else _oracle_execute(data, allow, deep)
    os.write(out_fd, (json.dumps(res) + "\n").encode())
    os._exit(0)  # no atexit callbacks, no finalizers of the payload's objects


def _run_one(mode: str, path: str, allow_path: str, deep: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="oracle-") as scratch:
        env = {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "PYTHONHASHSEED": "0"}
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "one", mode, os.path.abspath(path), allow_path]
                + (["deep"] if deep else []),
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


def _batch(list_path: str, out_path: str, allow_path: str, jobs: int = 1) -> None:
    """One JSON line per payload, appended as each is done (a cut-short run keeps its results)."""
    allow_path = os.path.abspath(allow_path)
    with open(list_path, encoding="utf-8") as fh:
        items = json.load(fh)
    lock = threading.Lock()
    done = [0]
    with open(out_path, "a", encoding="utf-8") as out:

        def one(item: dict) -> None:
            deep = bool(item.get("deep"))
            res = {
                "imports": _run_one("imports", item["path"], allow_path, deep),
                "execute": _run_one("execute", item["path"], allow_path, deep),
            }
            with lock:
                out.write(json.dumps({"name": item["name"], "result": res}, sort_keys=True) + "\n")
                out.flush()
                if done[0] % 50 == 0:
                    print(f"oracle {done[0]}/{len(items)}", file=sys.stderr, flush=True)
                done[0] += 1

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(one, items))


def _carriers(out_dir: str, out_path: str) -> None:
    """For every file the main suite's tests scanned (OUT_DIR/shard-*/raw/<sha256>.bin): what carries
    a pickle in it (``carried_pickles``; parsing only, nothing is unpickled).  Files already in
    CARRIERS.json are kept."""
    res = {}
    if os.path.exists(out_path):
        with open(out_path, encoding="utf-8") as fh:
            res = json.load(fh)
    for shard in sorted(os.listdir(out_dir)):
        raw = os.path.join(out_dir, shard, "raw")
        if not os.path.isdir(raw):
            continue
        for name in sorted(os.listdir(raw)):
            sha = name.removesuffix(".bin")
            if not name.endswith(".bin") or sha in res:
                continue
            with open(os.path.join(raw, name), "rb") as fh:
                found = carried_pickles(fh.read())
            res[sha] = {"carrier": "+".join(sorted({chain for _p, chain, _b in found})),
                        "members": [m for m, _c, _b in found][:20]}
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(res, fh, sort_keys=True)


if __name__ == "__main__":
    if sys.argv[1] == "carriers":
        _carriers(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "batch":
        _batch(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    elif sys.argv[1] == "one":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:6] == ["deep"])
    else:
        raise SystemExit(__doc__)
