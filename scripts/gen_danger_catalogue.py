#!/usr/bin/env python3
"""Generate crates/policy/data/danger_generated.tsv from the code itself.

The hand-curated danger.toml lists the gadgets someone thought of; this
script finds the others. It parses (with `ast`, never running them) the
Python sources of the standard library and of the installed torch, numpy,
scipy, joblib, click and pytest (PACKAGES),
builds a call graph within and across modules, and marks every importable
callable that reaches a capability sink within MAX_CALLS calls:

  code-exec      builtins exec/eval/__import__, importlib, runpy (compile
                 only builds a code object; what runs it is a sink)
  process        os.system/popen/exec*/spawn*/posix_spawn*/fork, subprocess, pty
  file           open, os.open/remove/unlink/rename/rmdir/mkdir, shutil file ops
  network        socket, urllib.request.urlopen, http.client connections
  ctypes-native  ctypes libraries, torch.ops/torch.classes load_library
  nested-loader  pickle/_pickle load(s)/Unpickler, marshal, torch.load,
                 numpy.load, joblib.load, dill

A call is followed only when its target is statically known: a name bound by
`import`/`from ... import`, a module-level function or class, `self.m` /
`cls.m` / `super().m` within a class and its Python base classes, or a class
attribute bound to such a name. A call whose arguments are all literals
(`importlib.import_module("torch._decomp")`, `find_spec("torch_xla")`) does
what its author wrote, not what a pickle asks: it is not followed, nor are
calls into the definitions of CUT (code generators that only use validated
identifiers, readers of the interpreter's own data files). Calling a class
follows its `__new__` and `__init__`. Methods of other receivers (`f.read()`, `x.load()`) are never
followed. A class is marked when its construction, `__setstate__` or
`__call__` reaches a sink; methods are marked as `module.Class.method`, the
name a protocol-4 pickle can use.

Names are resolved by identity, not by module prefix: the script imports the
modules (our own venv, never a user file), maps each object to the one
definition it is, and writes every path that reaches that object: re-exports
(numpy.load is numpy.lib._npyio_impl.load), inherited methods, and
module-valued attributes under another name (`module` rows). Globals on the
data allowlist (torch's weights_only allowlist, NumPy's array rebuilding,
pickle's instance creation) are never written, nor objects that danger.toml
already grades high or critical under every path that names them (when it
grades only some, all are written: the catalogue grades each path like the
others). C functions (torch.from_file, numpy.fromfile) are invisible here:
they belong in danger.toml.

Rows: `path, category, evidence` for a definition (evidence: the call path
to the sink), `path, =, definition` for another path to the same object,
`path, module, module` for a module-valued attribute.

Beside OUT.tsv it writes constructors_generated.tsv, what review.rs needs to
tell a pickle rebuilding an object from one running a program (rule AL0052):
a call of a global whose name reads as a function's (lowercase, public) is a
program step unless the walked code says otherwise. Rows: `path, class,
definition` for a class with such a name (datetime.date, functools.partial;
not the types that call the functions they are given, PROGRAM_TYPES), and
`path, reduce, reducer` for a function a reduce function of the walked code
(`__reduce__`, `__reduce_ex__`, a reducer `copyreg.pickle` registers) returns
as what pickle calls to rebuild its object (typing's generic aliases rebuild
through operator.getitem). Only paths with such names are written.

Usage: gen_danger_catalogue.py OUT.tsv         (write)
       gen_danger_catalogue.py --check OUT.tsv (exit 1 if OUT.tsv is stale)
Run with the pinned venv's Python (~/.cache/airlock/venv/bin/python).
"""

import ast
import builtins
import collections
import contextlib
import heapq
import importlib
import io
import os
import re
import sys
import sysconfig
import tomllib
import types
import warnings

warnings.simplefilter("ignore")
os.environ.setdefault("TORCH_SHOW_CPP_STACKTRACES", "0")

import numpy  # noqa: E402
import torch  # noqa: E402
import torch._weights_only_unpickler as wo  # noqa: E402

MAX_CALLS = 4
# Not followed, not written (with their methods): code generators that
# build their source from validated identifiers and literals only (reaching
# exec through them is not running the caller's strings), and readers of the
# interpreter's own data files (a ZoneInfo key is validated and looked up in
# the time zone path; datetimes pickle it as zoneinfo.ZoneInfo._unpickle).
CUT = {
    "collections.namedtuple",
    "dataclasses._create_fn",
    "dataclasses._process_class",
    "dataclasses.dataclass",
    "typing.NamedTuple",
    "typing.NamedTupleMeta.__new__",
    "typing._make_nmtuple",
    "zoneinfo._zoneinfo.ZoneInfo",
    "_sitebuiltins._Printer",
}


def cut(qual):
    return any(qual == c or qual.startswith(c + ".") for c in CUT)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CURATED = os.path.join(ROOT, "crates", "policy", "data", "danger.toml")
# Written beside OUT.tsv: the constructors table (constructor_rows).
CONSTRUCTORS = "constructors_generated.tsv"

SINKS = {
    "code-exec": [
        "builtins.exec", "builtins.eval", "builtins.__import__",
        "importlib.import_module", "importlib.__import__", "importlib._bootstrap._gcd_import",
        "runpy.run_module", "runpy.run_path", "runpy._run_code", "runpy._run_module_code",
    ],
    "process": [
        "os.system", "os.popen", "os.exec*", "os.spawn*", "os.posix_spawn", "os.posix_spawnp",
        "os.fork", "os.forkpty", "subprocess.Popen", "subprocess.run", "subprocess.call",
        "subprocess.check_call", "subprocess.check_output", "subprocess.getoutput",
        "subprocess.getstatusoutput", "pty.spawn", "pty.fork", "_posixsubprocess.fork_exec",
    ],
    "file": [
        "builtins.open", "io.open", "io.FileIO", "_pyio.open", "_pyio.FileIO", "os.open",
        "os.remove", "os.unlink", "os.rename", "os.renames", "os.replace", "os.rmdir",
        "os.removedirs", "os.mkdir", "os.makedirs", "os.truncate", "os.symlink", "os.link",
        "os.chmod", "os.chown", "os.mkfifo", "os.mknod", "shutil.copy", "shutil.copy2",
        "shutil.copyfile", "shutil.copytree", "shutil.copymode", "shutil.copystat",
        "shutil.move", "shutil.rmtree",
    ],
    "network": [
        "socket.socket", "socket.create_connection", "socket.create_server", "_socket.socket",
        "urllib.request.urlopen", "urllib.request.urlretrieve", "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
    ],
    "ctypes-native": [
        "ctypes.CDLL", "ctypes.PyDLL", "ctypes.cdll", "ctypes.pydll", "ctypes.LibraryLoader",
        "_ctypes.dlopen", "torch.ops.load_library", "torch.classes.load_library",
    ],
    "nested-loader": [
        "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
        "_pickle.Unpickler", "pickle._load", "pickle._loads", "pickle._Unpickler",
        "marshal.load", "marshal.loads", "torch.load", "numpy.load", "joblib.load",
        "dill.load", "dill.loads", "dill.Unpickler",
    ],
}
# Most severe first: a callable reaching several kinds of sink gets the first.
CATEGORIES = ["code-exec", "process", "nested-loader", "ctypes-native", "network", "file"]

# review.rs: never graded, whatever they reach.
DATA_GLOBALS = {
    "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar", "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer", "copyreg._reconstructor", "copyreg.__newobj__",
    "copyreg.__newobj_ex__", "builtins.object", "joblib.numpy_pickle.NumpyArrayWrapper",
}

STDLIB_SKIP = {
    "test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data",
    "site-packages", "dist-packages", "__pycache__", "config-3.11-x86_64-linux-gnu",
}
# Never imported (side effects at import), only parsed.
NO_IMPORT = {"antigravity", "this", "turtle", "__phello__", "__hello__", "idlelib", "tkinter"}
# Package trees parsed but not imported: slow, or covered by danger.toml wildcards.
IMPORT_SKIP_PREFIXES = (
    "torch.testing", "torch._dynamo", "torch._inductor", "torch.onnx", "torch._export",
    "torch.export", "torch.distributed", "torch.utils.bottleneck", "torch.utils.tensorboard",
    "torch._functorch", "torch.compiler", "torch._higher_order_ops", "torch.contrib",
    "numpy.f2py", "numpy.distutils", "numpy.testing", "numpy._pyinstaller", "numpy.typing",
)
PARSE_SKIP_DIRS = {"tests", "test", "testing", "__pycache__", "_vendor", "benchmarks"}

# The packages walked besides the standard library: torch and NumPy, and the
# libraries installed beside them in ML environments whose objects reach
# pickles (SciPy's distributions and sparse matrices, joblib's containers)
# or whose helpers run commands and write files (click, pytest's path
# objects).
PACKAGES = ("torch", "numpy", "scipy", "joblib", "click", "_pytest")


# ----------------------------------------------------------------- sources


def module_files():
    """(module name, file, is package) for every source file to parse."""
    out = []
    stdlib = sysconfig.get_paths()["stdlib"]
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_SKIP)
        rel = os.path.relpath(dirpath, stdlib)
        if rel != "." and not os.path.exists(os.path.join(dirpath, "__init__.py")):
            dirnames[:] = []
            continue
        for f in sorted(filenames):
            if f.endswith(".py"):
                out.append(_modname(rel, f) + (os.path.join(dirpath, f),))
    for pkg in map(importlib.import_module, PACKAGES):
        base = os.path.dirname(os.path.dirname(pkg.__file__))
        top = os.path.dirname(pkg.__file__)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in PARSE_SKIP_DIRS)
            if not os.path.exists(os.path.join(dirpath, "__init__.py")):
                dirnames[:] = []
                continue
            rel = os.path.relpath(dirpath, base)
            for f in sorted(filenames):
                if f.endswith(".py"):
                    out.append(_modname(rel, f) + (os.path.join(dirpath, f),))
    return out


def _modname(rel, f):
    parts = [] if rel == "." else rel.split(os.sep)
    if f == "__init__.py":
        return (".".join(parts), True)
    return (".".join(parts + [f[:-3]]), False)


# ----------------------------------------------------------------- parsing


class Func:
    __slots__ = ("qual", "module", "cls", "calls", "selfname", "returns")

    def __init__(self, qual, module, cls, selfname):
        self.qual, self.module, self.cls, self.selfname = qual, module, cls, selfname
        self.calls = []
        # Dotted paths named first in a returned tuple (`return f, (args)`):
        # what a reduce function tells pickle to call.
        self.returns = []


class Class:
    __slots__ = ("qual", "module", "bases", "members")

    def __init__(self, qual, module):
        self.qual, self.module = qual, module
        self.bases = []  # dotted names
        self.members = {}  # name -> ("func", qual) | ("ref", dotted)


class Module:
    __slots__ = ("name", "is_pkg", "bindings", "stars", "funcs", "classes")

    def __init__(self, name, is_pkg):
        self.name, self.is_pkg = name, is_pkg
        self.bindings = {}
        self.stars = []
        self.funcs = {}  # top-level name -> qual
        self.classes = {}  # top-level name -> qual


FUNCS = {}
CLASSES = {}
MODULES = {}
# copyreg.pickle(type, reducer) calls: (module, function scope or None,
# the function making the call or None, the reducer expression).
REDUCERS = []


def is_copyreg_pickle(mod, scope, call):
    """Whether a call is `copyreg.pickle(type, reducer, ...)`."""
    parts = dotted_of(call.func)
    if not parts or len(call.args) < 2:
        return False
    if scope is not None and parts[0] in scope.imported:
        target = ".".join([scope.imported[parts[0]]] + parts[1:])
    else:
        target = resolve_parts(mod, None, parts)
    return target in ("copyreg.pickle", "copy_reg.pickle")


def absolute(mod, level, name):
    if not level:
        return name
    parts = mod.name.split(".")
    if not mod.is_pkg:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{name}" if name else base


def import_bindings(mod, node):
    """Names an import statement binds, as name -> dotted path."""
    out = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                out[a.asname] = a.name
            else:
                out[a.name.split(".")[0]] = a.name.split(".")[0]
    elif isinstance(node, ast.ImportFrom):
        src = absolute(mod, node.level, node.module or "")
        for a in node.names:
            if a.name == "*":
                mod.stars.append(src)
            else:
                out[a.asname or a.name] = f"{src}.{a.name}"
    return out


def dotted_of(expr):
    """`a.b.c` as ["a", "b", "c"], or None."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return parts[::-1]
    return None


def top_statements(body):
    """Module or class statements, through if/try blocks."""
    for st in body:
        if isinstance(st, ast.If):
            yield from top_statements(st.body)
            yield from top_statements(st.orelse)
        elif isinstance(st, ast.Try):
            yield from top_statements(st.body)
            for h in st.handlers:
                yield from top_statements(h.body)
            yield from top_statements(st.orelse)
            yield from top_statements(st.finalbody)
        else:
            yield st


def parse_module(name, is_pkg, path):
    """First pass: what the module binds at top level."""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (SyntaxError, ValueError):
        return None
    mod = Module(name, is_pkg)
    MODULES[name] = mod
    statements = list(top_statements(tree.body))
    for st in statements:
        mod.bindings.update(import_bindings(mod, st))
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mod.bindings[st.name] = f"{name}.{st.name}"
            mod.funcs[st.name] = f"{name}.{st.name}"
        elif isinstance(st, ast.ClassDef):
            mod.bindings[st.name] = f"{name}.{st.name}"
            mod.classes[st.name] = f"{name}.{st.name}"
    return mod, statements


def parse_bodies(mod, statements):
    """Second pass, once every module's bindings are known."""
    name = mod.name
    for st in statements:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            target = resolve_parts(mod, None, dotted_of(st.value))
            if target:
                mod.bindings.setdefault(st.targets[0].id, target)
    for st in statements:
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parse_func(mod, st, f"{name}.{st.name}", None)
        elif isinstance(st, ast.ClassDef):
            parse_class(mod, st, f"{name}.{st.name}")
        elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
            if is_copyreg_pickle(mod, None, st.value):
                REDUCERS.append((mod, None, None, st.value.args[1]))


def parse_class(mod, node, qual):
    c = Class(qual, mod.name)
    CLASSES[qual] = c
    for b in node.bases:
        d = resolve_parts(mod, None, dotted_of(b))
        if d:
            c.bases.append(d)
    for st in top_statements(node.body):
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            c.members[st.name] = ("func", f"{qual}.{st.name}")
            parse_func(mod, st, f"{qual}.{st.name}", c)
        elif isinstance(st, ast.ClassDef):
            parse_class(mod, st, f"{qual}.{st.name}")
        elif isinstance(st, (ast.Assign, ast.AnnAssign)) and st.value is not None:
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            parts = dotted_of(st.value)
            for t in targets:
                if isinstance(t, ast.Name) and parts:
                    if len(parts) == 1 and parts[0] in c.members:
                        c.members[t.id] = c.members[parts[0]]
                    else:
                        d = resolve_parts(mod, None, parts)
                        if d:
                            c.members[t.id] = ("ref", d)


class LocalNames(ast.NodeVisitor):
    """Names a function assigns (they shadow module names) and the ones its
    imports bind."""

    def __init__(self, mod):
        self.mod = mod
        self.assigned = set()
        self.imported = {}

    def visit_Name(self, n):
        if isinstance(n.ctx, (ast.Store, ast.Del)):
            self.assigned.add(n.id)

    def visit_arg(self, n):
        self.assigned.add(n.arg)

    def visit_Import(self, n):
        self.imported.update(import_bindings(self.mod, n))

    visit_ImportFrom = visit_Import

    def visit_FunctionDef(self, n):
        self.assigned.add(n.name)
        self.generic_visit(n)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, n):
        self.assigned.add(n.name)
        self.generic_visit(n)

    def visit_ExceptHandler(self, n):
        if n.name:
            self.assigned.add(n.name)
        self.generic_visit(n)


def parse_func(mod, node, qual, cls):
    args = node.args.posonlyargs + node.args.args
    decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
    selfname = None
    if cls is not None and args and "staticmethod" not in decorators:
        selfname = args[0].arg
    f = Func(qual, mod.name, cls.qual if cls else None, selfname)
    FUNCS[qual] = f
    scope = LocalNames(mod)
    for st in node.body:
        scope.visit(st)
    for a in args + node.args.kwonlyargs + [node.args.vararg, node.args.kwarg]:
        if a is not None:
            scope.assigned.add(a.arg)
    for st in node.body:
        for n in ast.walk(st):
            if isinstance(n, ast.Call):
                t = call_target(mod, f, scope, n.func)
                if t:
                    f.calls.append(t + (literal_call(n),))
                if is_copyreg_pickle(mod, scope, n):
                    REDUCERS.append((mod, scope, f, n.args[1]))
            elif isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple) and n.value.elts:
                t = call_target(mod, f, scope, n.value.elts[0])
                if t and t[0] == "dotted":
                    f.returns.append(t[1])


def constant(e):
    if isinstance(e, ast.Constant):
        return True
    if isinstance(e, (ast.Tuple, ast.List)):
        return all(constant(x) for x in e.elts)
    return False


def literal_call(call):
    """Whether the call has arguments, all literals."""
    values = call.args + [k.value for k in call.keywords]
    return bool(values) and all(constant(v) for v in values)


def call_target(mod, f, scope, func):
    # super().m(...)
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
        and f.cls
    ):
        return ("super", f.cls, func.attr)
    parts = dotted_of(func)
    if not parts:
        return None
    head = parts[0]
    if f.selfname and head == f.selfname:
        if len(parts) == 2:
            return ("self", f.cls, parts[1])
        return None
    if head in scope.imported:
        return ("dotted", ".".join([scope.imported[head]] + parts[1:]))
    if head in scope.assigned:
        return None
    d = resolve_parts(mod, None, parts)
    return ("dotted", d) if d else None


def resolve_parts(mod, _scope, parts):
    if not parts:
        return None
    head = parts[0]
    if head in mod.bindings:
        return ".".join([mod.bindings[head]] + parts[1:])
    for star in mod.stars:
        other = MODULES.get(star)
        if other is not None and head in other.bindings:
            return ".".join([other.bindings[head]] + parts[1:])
    if hasattr(builtins, head):
        return ".".join(["builtins"] + parts)
    return None


# ----------------------------------------------------------------- runtime


KEEP = []  # objects whose id() is used, kept alive
BY_ID = {}  # id(object) -> qual of its definition
ALLOWED_IDS = set()


def norm(obj):
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    return obj


def import_all(names):
    for name in names:
        if name in sys.modules:
            continue
        if any(p in NO_IMPORT for p in name.split(".")) or name.endswith("__main__"):
            continue
        if name.startswith(IMPORT_SKIP_PREFIXES):
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - anything may fail, even SystemExit
            pass


def runtime(dotted):
    """The object a dotted path names, through modules already imported and
    the plain dictionaries of objects (no lazy imports, no descriptors run)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        m = sys.modules.get(".".join(parts[:i]))
        if m is None:
            continue
        obj = m
        for p in parts[i:]:
            obj = member(obj, p)
            if obj is None:
                return None
        return obj
    return None


def member(obj, name):
    if isinstance(obj, types.ModuleType):
        v = vars(obj).get(name)
        if v is None:
            sub = sys.modules.get(f"{obj.__name__}.{name}")
            return sub
        return v
    if isinstance(obj, type):
        for k in obj.__mro__:
            if name in vars(k):
                return vars(k)[name]
        return None
    try:
        d = object.__getattribute__(obj, "__dict__")
        if name in d:
            return d[name]
    except AttributeError:
        pass
    for k in type(obj).__mro__:
        if name in vars(k):
            return vars(k)[name]
    return None


def register_identities():
    """Map each definition's runtime object to its qual name."""
    for mname, mod in MODULES.items():
        m = sys.modules.get(mname)
        if m is None:
            continue
        for name, qual in list(mod.funcs.items()) + list(mod.classes.items()):
            obj = vars(m).get(name)
            if obj is not None:
                bind(obj, qual)
    for qual in sorted(CLASSES, key=len):
        obj = runtime(qual)
        if isinstance(obj, type):
            bind(obj, qual)
            for mname, (kind, target) in CLASSES[qual].members.items():
                if kind == "func" and mname in vars(obj):
                    bind(norm(vars(obj)[mname]), target)


def bind(obj, qual):
    obj = norm(obj)
    if isinstance(obj, (types.FunctionType, type)) and id(obj) not in BY_ID:
        KEEP.append(obj)
        BY_ID[id(obj)] = qual


def sink_table():
    by_id, by_name = {}, {}
    for cat in CATEGORIES:
        for pat in SINKS[cat]:
            if pat.endswith("*"):
                mname, prefix = pat[:-1].rsplit(".", 1)
                m = sys.modules.get(mname) or importlib.import_module(mname)
                names = [f"{mname}.{n}" for n in dir(m) if n.startswith(prefix)]
            else:
                names = [pat]
            for n in names:
                by_name.setdefault(n, (cat, n))
                obj = runtime(n)
                if obj is None:
                    try:
                        mname, attr = n.rsplit(".", 1)
                        obj = getattr(importlib.import_module(mname), attr, None)
                    except ImportError:
                        obj = None
                obj = norm(obj)
                if obj is not None and not isinstance(obj, types.ModuleType):
                    KEEP.append(obj)
                    by_id.setdefault(id(obj), (cat, n))
    return by_id, by_name


# ----------------------------------------------------------------- graph


def resolve(dotted, depth=0):
    """What a dotted path names: ("sink", cat, name) | ("node", qual) | None."""
    if depth > 8:
        return None
    if dotted in SINK_NAMES:
        return ("sink",) + SINK_NAMES[dotted]
    obj = norm(runtime(dotted))
    if obj is not None:
        if id(obj) in SINK_IDS:
            return ("sink",) + SINK_IDS[id(obj)]
        if id(obj) in BY_ID:
            return ("node", BY_ID[id(obj)])
        if not isinstance(obj, types.ModuleType):
            return None
    if dotted in FUNCS or dotted in CLASSES:
        return ("node", dotted)
    # Static chase: the longest module prefix, then its bindings.
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        mod = MODULES.get(".".join(parts[:i]))
        if mod is None:
            continue
        head, rest = parts[i], parts[i + 1 :]
        if head in mod.classes and rest:
            return method_of(mod.classes[head], rest[0]) if len(rest) == 1 else None
        if head in mod.bindings:
            target = mod.bindings[head]
            if target != ".".join(parts[: i + 1]):
                return resolve(".".join([target] + rest), depth + 1)
        return None
    return None


def mro(qual, seen=None):
    seen = seen if seen is not None else set()
    if qual in seen:
        return []
    seen.add(qual)
    obj = runtime(qual)
    if isinstance(obj, type):
        return [BY_ID[id(k)] for k in obj.__mro__ if id(k) in BY_ID and BY_ID[id(k)] in CLASSES]
    out = [qual]
    for b in CLASSES[qual].bases:
        r = resolve(b)
        if r and r[0] == "node" and r[1] in CLASSES:
            out += [q for q in mro(r[1], seen) if q not in out]
    return out


def method_of(cls_qual, name, skip_first=False):
    chain = mro(cls_qual)
    if skip_first:
        chain = chain[1:]
    for q in chain:
        m = CLASSES[q].members.get(name)
        if m is None:
            continue
        if m[0] == "func":
            return ("node", m[1])
        return resolve(m[1])
    return None


def edges():
    """qual -> list of (target, cost); targets are quals or ("sink", cat, name)."""
    out = collections.defaultdict(list)
    for qual, f in FUNCS.items():
        if cut(qual):
            continue
        seen = set()
        for t in f.calls:
            if t[0] == "dotted":
                r = resolve(t[1])
            elif t[0] == "self":
                r = method_of(t[1], t[2])
            else:
                r = method_of(t[1], t[2], skip_first=True)
            if r is None or t[-1] or (r[0] == "node" and cut(r[1])):
                continue
            key = r[1] if r[0] == "node" else r
            if key in CLASSES:
                key += "()"  # construction
            if key != qual and key not in seen:
                seen.add(key)
                out[qual].append((key, 1))
    # A sink defined in Python (torch.load is torch.serialization.load) is
    # reached under its definition's name too.
    for obj_id, (cat, name) in SINK_IDS.items():
        qual = BY_ID.get(obj_id)
        if qual is not None and qual != name:
            out[qual].append((("sink", cat, name), MAX_CALLS))
    # A class as a global: built, given its state, or called. Calling it in
    # code ("C()"): built.
    for qual in CLASSES:
        if cut(qual):
            continue
        for dunder in ("__new__", "__init__", "__setstate__", "__call__"):
            r = method_of(qual, dunder)
            if r is None or (r[0] == "node" and cut(r[1])):
                continue
            target = (r[1], 0) if r[0] == "node" else (r, 1)
            out[qual].append(target)
            if dunder in ("__new__", "__init__"):
                out[qual + "()"].append(target)
    return out


def reach(graph):
    """qual -> (category, path) for every definition reaching a sink: per
    category the cheapest path (ties: the first in sorted order), and the
    most severe category reached."""
    rev = collections.defaultdict(list)
    for src, targets in graph.items():
        for t, cost in targets:
            rev[t].append((src, cost))
    best = {}
    for cat in CATEGORIES:
        done = {}
        heap = [(0, (t[2],), t) for t in rev if isinstance(t, tuple) and t[1] == cat]
        heapq.heapify(heap)
        while heap:
            d, path, t = heapq.heappop(heap)
            if t in done:
                continue
            done[t] = path
            for src, cost in rev.get(t, ()):
                if src not in done and d + cost <= MAX_CALLS:
                    heapq.heappush(heap, (d + cost, (src,) + path, src))
        for q, path in done.items():
            if isinstance(q, str) and (q in FUNCS or q in CLASSES) and q not in best:
                best[q] = (cat, list(path))
    return best


# ----------------------------------------------------------------- output


def curated_prefixes():
    with open(CURATED, "rb") as f:
        data = tomllib.load(f)
    out = set()
    dotted = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\.\*)?")
    for e in data["entry"]:
        if e["severity"] in ("critical", "high"):
            # The pattern and its aliases (catalogue.rs grades them alike).
            for p in [e["pattern"], *e.get("aliases", [])]:
                if dotted.fullmatch(p):
                    out.add(p.removesuffix(".*"))
    return out


def covered(path, curated):
    parts = path.split(".")
    return any(".".join(parts[:i]) in curated for i in range(1, len(parts) + 1))


def universe(name):
    top = name.split(".")[0]
    return top in PACKAGES or top in sys.stdlib_module_names


def generated_by():
    """The first line of a generated table: what it was derived from."""
    versions = "".join(
        f", {p} {importlib.import_module(p).__version__.split('+')[0]}" for p in PACKAGES
    )
    return f"# Generated by scripts/gen_danger_catalogue.py from Python {sys.version.split()[0]}{versions}; do not edit."


def render():
    global SINK_IDS, SINK_NAMES
    files = module_files()
    parsed = [parse_module(name, is_pkg, path) for name, is_pkg, path in files]
    for p in parsed:
        if p:
            parse_bodies(*p)
    import_all([n for n, _, _ in files])
    allowed = wo._get_allowed_globals()
    for v in allowed.values():
        KEEP.append(v)
        ALLOWED_IDS.add(id(norm(v)))
    register_identities()
    SINK_IDS, SINK_NAMES = sink_table()
    graph = edges()
    best = reach(graph)
    curated = curated_prefixes()
    excluded = set(allowed) | DATA_GLOBALS

    # path -> canonical qual: the definition itself and every other path
    # that reaches the same object.
    paths = {q: q for q in best if q not in excluded}

    def add(path, qual):
        if path not in paths and path not in excluded:
            paths[path] = qual

    for mname in sorted(sys.modules):
        m = sys.modules.get(mname)
        if not isinstance(m, types.ModuleType) or not universe(mname):
            continue
        for name, obj in sorted(vars(m).items(), key=lambda kv: kv[0]):
            obj = norm(obj)
            if id(obj) in ALLOWED_IDS:
                continue
            q = BY_ID.get(id(obj))
            if q is None:
                continue
            if q in best:
                add(f"{mname}.{name}", q)
            if isinstance(obj, type) and q in CLASSES:
                seen = set()
                for k in obj.__mro__:
                    for meth, v in vars(k).items():
                        if meth in seen:
                            continue
                        seen.add(meth)
                        mq = BY_ID.get(id(norm(v)))
                        if mq in best and mq in FUNCS:
                            add(f"{mname}.{name}.{meth}", mq)
    # Objects danger.toml grades high under every path are left to it; the
    # others keep all their paths, so that each is graded like the others.
    groups = collections.defaultdict(list)
    for path, q in paths.items():
        groups[q].append(path)
    for q, group in groups.items():
        if all(covered(p, curated) for p in group):
            for p in group:
                del paths[p]
    canonical = set(paths.values())
    modules_with_rows = set()
    for path in list(paths) + list(canonical):
        parts = path.split(".")
        for i in range(1, len(parts)):
            modules_with_rows.add(".".join(parts[:i]))
    mod_rows = {}
    for mname in sorted(sys.modules):
        m = sys.modules.get(mname)
        if not isinstance(m, types.ModuleType) or not universe(mname):
            continue
        for name, obj in vars(m).items():
            if not isinstance(obj, types.ModuleType) or not isinstance(obj.__name__, str):
                continue
            alias = f"{mname}.{name}"
            target = obj.__name__
            # A module alias is kept when something under the module is
            # graded: a generated row, or a curated pattern (random._os is
            # os, and os.system is curated), which the matcher then applies
            # under the alias too.
            graded = target in modules_with_rows or covered(target, curated) or any(
                c.startswith(target + ".") for c in curated
            )
            if alias == target or name == target or not graded or covered(alias, curated):
                continue
            mod_rows[alias] = target
    lines = [
        generated_by(),
        "# path<TAB>category<TAB>evidence (the call path to the sink, from the path's definition);",
        "# path<TAB>=<TAB>definition: the same object as the definition's row;",
        "# path<TAB>module<TAB>module: a module-valued attribute, the module it is.",
    ]
    rows = []
    for q in canonical:
        cat, chain = best[q]
        rows.append((q, cat, " -> ".join(chain)))
    for path, q in paths.items():
        if path != q:
            rows.append((path, "=", q))
    for alias, target in mod_rows.items():
        rows.append((alias, "module", target))
    for row in sorted(rows):
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"


# Types that call the functions they are given when iterated: built in a
# pickle (map(os.system, commands)) they are a program's steps, not data, so
# they are left out of the constructors although their names are lowercase.
PROGRAM_TYPES = {
    "builtins.map", "builtins.filter", "itertools.starmap", "itertools.accumulate",
    "itertools.filterfalse", "itertools.takewhile", "itertools.dropwhile", "itertools.groupby",
}
REDUCE_METHODS = ("__reduce__", "__reduce_ex__")


def public_lowercase(path):
    """Whether a path's last name reads as a function's (PEP 8): the only
    names review.rs asks the constructors table about."""
    last = path.rsplit(".", 1)[-1]
    return last[:1].islower()


def reducer_functions():
    """Every reduce function of the walked code: `__reduce__` and
    `__reduce_ex__` methods, and the reducers `copyreg.pickle` registers."""
    out = [f for q, f in FUNCS.items() if q.rsplit(".", 1)[-1] in REDUCE_METHODS]
    for mod, scope, f, expr in REDUCERS:
        target = call_target(mod, f, scope, expr) if f is not None else None
        if target is None:
            d = resolve_parts(mod, None, dotted_of(expr))
            target = ("dotted", d) if d else None
        if target and target[0] == "dotted" and target[1] in FUNCS:
            out.append(FUNCS[target[1]])
    return out


def constructor_rows():
    """Rows of constructors_generated.tsv: what a pickle written by the
    walked code calls that has a function's name but rebuilds an object."""
    named = {}  # id(object) -> (kind, evidence)
    for f in reducer_functions():
        for dotted in f.returns:
            obj = norm(runtime(dotted))
            if obj is None or isinstance(obj, types.ModuleType) or id(obj) in named:
                continue
            KEEP.append(obj)
            named[id(obj)] = ("reduce", f.qual)
    rows = {}
    for mname in sorted(sys.modules):
        m = sys.modules.get(mname)
        if not isinstance(m, types.ModuleType) or not universe(mname):
            continue
        for name, obj in sorted(vars(m).items(), key=lambda kv: kv[0]):
            path = f"{mname}.{name}"
            obj = norm(obj)
            if not public_lowercase(path) or id(obj) in ALLOWED_IDS or path in DATA_GLOBALS:
                continue
            if id(obj) in named:
                rows[path] = named[id(obj)]
            elif isinstance(obj, type) and f"{obj.__module__}.{obj.__qualname__}" not in PROGRAM_TYPES:
                rows[path] = ("class", f"{obj.__module__}.{obj.__qualname__}")
    lines = [
        generated_by(),
        "# path<TAB>class<TAB>definition: a class with a function's (lowercase) name;",
        "# path<TAB>reduce<TAB>reducer: a function a reduce function of the walked code names",
        "#   as what pickle calls to rebuild its object.",
    ]
    for path, (kind, why) in sorted(rows.items()):
        lines.append(f"{path}\t{kind}\t{why}")
    return "\n".join(lines) + "\n"


def main():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(sys.argv[1:])


def run(args):
    check = bool(args) and args[0] == "--check"
    if not args or (check and len(args) != 2):
        sys.exit(__doc__)
    out = args[-1]
    outputs = {out: render()}
    outputs[os.path.join(os.path.dirname(out), CONSTRUCTORS)] = constructor_rows()
    if check:
        stale = []
        for path, text in outputs.items():
            with open(path) as f:
                if f.read() != text:
                    stale.append(path)
        if stale:
            print(
                f"{', '.join(stale)}: not what the code of the installed {', '.join(PACKAGES)} and "
                f"danger.toml give: regenerate with scripts/gen_danger_catalogue.py {out}"
            )
            sys.exit(1)
        print(f"{', '.join(outputs)} match the code of the installed {', '.join(PACKAGES)}")
        return
    for path, text in outputs.items():
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}: {len(text.splitlines()) - 4} rows")


if __name__ == "__main__":
    main()
