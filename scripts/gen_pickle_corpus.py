#!/usr/bin/env python3
"""Generate the differential corpus for the pickle engine from CPython itself.

For every value below and every protocol 0-5 it records:
  * the pickle bytes CPython's pickler writes,
  * the opcode sequence `pickletools.genops` reads back (name, argument, offset),
  * the value in a canonical form (literal-only values), and
  * the globals the C unpickler's `find_class` is asked for, in order.

It also records CPython's verdict on hand-written "quirk" pickles (protocol 0
text forms and edge cases) by loading them with the C unpickler: only
literal-only pickles are loaded, nothing in them can import or call.

Usage: gen_pickle_corpus.py OUT.json
       gen_pickle_corpus.py --check OUT.json   (exit 1 unless OUT.json is what
                                               this writes, byte for byte)
The Rust test `tests/differential.rs` reads the committed output; `.ci/run`
regenerates it with the machine's Python and runs the test on that too.
"""

import collections
import copyreg
import datetime
import decimal
import fractions
import io
import _compat_pickle
import json
import os
import pickle
import pickletools
import struct
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

warnings.simplefilter("ignore", DeprecationWarning)


def canon_arg(arg):
    if arg is None:
        return None
    if isinstance(arg, bool):
        return {"bool": arg}
    if isinstance(arg, int):
        return {"int": str(arg)}
    if isinstance(arg, float):
        return {"float": struct.pack(">d", arg).hex()}
    if isinstance(arg, str):
        return {"str": arg.encode("utf-8", "surrogatepass").hex()}
    if isinstance(arg, bytearray):
        return {"bytearray": bytes(arg).hex()}
    if isinstance(arg, bytes):
        return {"bytes": arg.hex()}
    raise TypeError(f"unexpected genops argument {arg!r}")


LITERAL_TYPES = (type(None), bool, int, float, str, bytes, bytearray, tuple, list, dict, set, frozenset)


def is_literal(value, seen=None):
    seen = set() if seen is None else seen
    if id(value) in seen:
        return True
    if type(value) not in LITERAL_TYPES:
        return False
    if isinstance(value, (tuple, list, set, frozenset)):
        seen.add(id(value))
        return all(is_literal(v, seen) for v in value)
    if isinstance(value, dict):
        seen.add(id(value))
        return all(is_literal(k, seen) and is_literal(v, seen) for k, v in value.items())
    return True


def canon_value(value, refs=None):
    """Canonical JSON of a literal value; mutable containers seen before are {"ref": n}."""
    refs = {} if refs is None else refs
    t = type(value)
    if t in (list, dict, set, bytearray):
        if id(value) in refs:
            return {"ref": refs[id(value)]}
        refs[id(value)] = len(refs)
    if value is None:
        return {"none": True}
    if t is bool or t is int or t is float or t is str or t is bytes:
        return canon_arg(value)
    if t is bytearray:
        return {"bytearray": bytes(value).hex()}
    if t is tuple:
        return {"tuple": [canon_value(v, refs) for v in value]}
    if t is list:
        return {"list": [canon_value(v, refs) for v in value]}
    if t is set:
        return {"set": [canon_value(v, refs) for v in value]}
    if t is frozenset:
        return {"frozenset": [canon_value(v, refs) for v in value]}
    if t is dict:
        return {"dict": [[canon_value(k, refs), canon_value(v, refs)] for k, v in value.items()]}
    raise TypeError(t)


class Point:
    """A plain class pickled by NEWOBJ/REDUCE + BUILD."""

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = [2]


class WithState:
    def __init__(self):
        self.v = 3

    def __getstate__(self):
        return {"v": self.v, "extra": True}

    def __setstate__(self, state):
        self.__dict__.update(state)


class KwNew:
    def __new__(cls, *, key):
        obj = super().__new__(cls)
        obj.key = key
        return obj

    def __getnewargs_ex__(self):
        return (), {"key": self.key}


class OldStyle:
    """Uses __getinitargs__-free __reduce__ returning a class call."""

    def __init__(self, v=0):
        self.v = v

    def __reduce__(self):
        return (OldStyle, (self.v,))


def values():
    shared = [1, 2]
    rec = [0]
    rec.append(rec)
    d_rec = {}
    d_rec["self"] = d_rec
    big = 2**1000
    yield "none", None
    yield "bools", [True, False]
    yield "small_ints", [0, 1, -1, 127, 128, 255, 256, 65535, 65536, -65536]
    yield "int32_edges", [2**31 - 1, -(2**31), 2**31, -(2**31) - 1]
    yield "int64_edges", [2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64]
    yield "bigints", [big, -big, big + 1, 256**255, -(256**255)]
    yield "floats", [0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 5e-324, float("inf"), float("-inf"), 0.1]
    yield "nan", float("nan")
    yield "strings", ["", "a", "hello world", "quote ' and \" both", "back\\slash", "new\nline\r\t"]
    yield "unicode", ["é", "日本語", "emoji 😀", "\x00\x7f\x80\xff", "\u2028", "a\\u0041"]
    yield "surrogates", ["\ud800", "x\udfffy", "\ud83d\ude00"]
    yield "long_string", "x" * 300 + "é" * 200
    yield "bytes", [b"", b"abc", bytes(range(256)), b"\x00" * 300]
    yield "bytearray", bytearray(b"hello\x00\xff")
    yield "tuples", [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((),)]
    yield "nested", {"a": [1, {"b": (2, [3, {"c": None}])}], "d": {1: 2, 2.5: "x"}}
    yield "dict_keys", {1: "int", "s": "str", b"b": "bytes", (1, "t"): "tuple", None: "none", 2.5: "float", frozenset({1}): "fs"}
    yield "sets", [set(), {1, 2, 3}, frozenset(), frozenset({"a", "b"})]
    yield "big_list", list(range(1001))
    yield "big_dict", {f"k{i}": i for i in range(1001)}
    yield "big_set", set(range(1001))
    yield "shared", [shared, shared, (shared,)]
    yield "recursive_list", rec
    yield "recursive_dict", d_rec
    yield "deep", [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]
    yield "mixed_keys_equal", {1: "a", 2: "b"}
    # Non-literal values: checked on opcodes and imports, not on value.
    yield "ordered_dict", collections.OrderedDict([("a", 1), ("b", [2])])
    yield "counter", collections.Counter("hello")
    yield "defaultdict", collections.defaultdict(list, {"x": [1]})
    yield "deque", collections.deque([1, 2, 3])
    yield "datetime", datetime.datetime(2024, 5, 17, 12, 30, 1, 5)
    yield "date_delta", [datetime.date(2020, 1, 2), datetime.timedelta(days=3, seconds=4)]
    yield "decimal", decimal.Decimal("3.14159")
    yield "fraction", fractions.Fraction(3, 7)
    yield "complex", complex(1.5, -2)
    yield "range_slice", [range(1, 10, 2), slice(1, None, 3)]
    yield "point", Point(1, [2, 3])
    yield "slotted", Slotted()
    yield "with_state", WithState()
    yield "kw_new", KwNew(key="k")
    yield "old_style", OldStyle(5)
    yield "builtin_functions", [len, max, pickle.loads.__name__]
    yield "type_objects", [int, dict, type(None)]
    yield "classes", [Point, collections.OrderedDict]


class RecordingUnpickler(pickle.Unpickler):
    def __init__(self, f):
        super().__init__(f)
        self.calls = []

    def find_class(self, module, name):
        self.calls.append([module, name])
        return super().find_class(module, name)


def genops(data):
    return [[op.name, canon_arg(arg), pos] for op, arg, pos in pickletools.genops(data)]


def case(name, proto, value):
    try:
        data = pickle.dumps(value, protocol=proto)
    except TypeError:
        return None  # not picklable with this protocol (e.g. __slots__ below 2)
    u = RecordingUnpickler(io.BytesIO(data))
    u.load()
    entry = {
        "name": f"{name}_p{proto}",
        "protocol": proto,
        "pickle": data.hex(),
        "ops": genops(data),
        "imports": u.calls,
    }
    if is_literal(value) and not u.calls:
        # Only pickles that import nothing hold their value as plain data
        # (protocols 0-2 write bytes and sets through calls).
        entry["value"] = canon_value(value)
    return entry


# Hand-written pickles exercising the text forms and edge cases. Each is
# literal-only (no GLOBAL, INST, REDUCE, ...), so loading it runs nothing.
QUIRKS = [
    ("int_bool_00", b"I00\n."),
    ("int_bool_01", b"I01\n."),
    ("int_plus_one_is_bool", b"I+1\n."),
    ("int_space_zero_is_bool", b"I 0\n."),
    ("int_octal", b"I010\n."),
    ("int_hex", b"I0x1f\n."),
    ("int_underscore", b"I1_000\n."),
    ("int_nul_terminates", b"I12\x00junk\n."),
    ("int_L_suffix", b"I5L\n."),
    ("int_overflow_to_long", b"I99999999999999999999999\n."),
    ("int_leading_space", b"I   42\n."),
    ("int_trailing_space", b"I42 \n."),
    ("int_empty", b"I\n."),
    ("int_garbage", b"Iabc\n."),
    ("int_no_newline", b"I1"),
    ("long_L", b"L123L\n."),
    ("long_plain", b"L-77\n."),
    ("long_hex", b"L0xffL\n."),
    ("long_binary", b"L0b101\n."),
    ("long_octal_old", b"L017L\n."),
    ("long_zeros", b"L000\n."),
    ("long_underscore_prefix", b"L0x_ff\n."),
    ("long_double_underscore", b"L1__0\n."),
    ("long_4301_digits", b"L" + b"9" * 4301 + b"\n."),
    ("long_4300_digits", b"L" + b"9" * 4300 + b"\n."),
    ("float_plain", b"F1.5\n."),
    ("float_exp", b"F-2.5e-3\n."),
    ("float_inf", b"Finf\n."),
    ("float_neg_infinity", b"F-Infinity\n."),
    ("float_nan", b"Fnan\n."),
    ("float_overflow", b"F1e400\n."),
    ("float_underflow", b"F1e-400\n."),
    ("float_leading_space", b"F 1.5\n."),
    ("float_underscore", b"F1_0.5\n."),
    ("float_dangling_exp", b"F1e\n."),
    ("float_dot", b"F.\n."),
    ("float_hex", b"F0x1p3\n."),
    ("float_trailing_dot", b"F5.\n."),
    ("string_single", b"S'abc'\n."),
    ("string_double", b'S"abc"\n.'),
    ("string_escapes", b"S'a\\x41\\101\\n\\t\\\\\\''\n."),
    ("string_unknown_escape", b"S'\\q'\n."),
    ("string_octal_wrap", b"S'\\777'\n."),
    ("string_unquoted", b"Sabc\n."),
    ("string_mismatched", b"S'abc\"\n."),
    ("string_one_quote", b"S'\n."),
    ("string_bad_hex", b"S'\\x4'\n."),
    ("string_trailing_backslash", b"S'ab\\'\n."),
    ("string_nonascii", b"S'\xe9'\n."),
    ("binstring_ascii", b"T\x03\x00\x00\x00abc."),
    ("short_binstring_nonascii", b"U\x01\xe9."),
    ("unicode_raw", b"Vabc\\u0041\\U0001F600\xe9\n."),
    ("unicode_backslashes", b"V\\\\u0041\n."),
    ("unicode_truncated_escape", b"V\\u00\n."),
    ("unicode_out_of_range", b"V\\U00110000\n."),
    ("unicode_surrogate", b"V\\ud800\n."),
    ("binunicode_surrogatepass", b"X\x03\x00\x00\x00\xed\xa0\x80."),
    ("binunicode_invalid", b"X\x01\x00\x00\x00\xff."),
    ("put_get_text", b"(lp0\nI1\naI2\nag0\na."),
    ("get_missing", b"g5\n."),
    ("put_negative", b"Np-1\n."),
    ("get_underscore", b"Np1_0\ng10\n."),
    ("memoize_after_binput", b"\x80\x04K\x07q\x05K\x08\x94h\x01."),
    ("memoize_overwrites", b"\x80\x04K\x07q\x01K\x08\x94h\x01."),
    ("pop_mark_on_top", b"N(0."),
    ("pop_underflow", b"0."),
    ("stop_empty", b"."),
    ("stop_on_mark", b"N(."),
    ("tuple_no_mark", b"Nt."),
    ("appends_empty_mark", b"](e."),
    ("appends_to_tuple", b")(K\x01e."),
    ("setitems_odd", b"}(K\x01u."),
    ("setitem_list_index", b"]K\x00aK\x00K\x07s."),
    ("setitem_list_out_of_range", b"]K\x05K\x07s."),
    ("setitem_unhashable", b"}]K\x01s."),
    ("dict_equal_keys", b"(K\x01U\x01aG?\xf0\x00\x00\x00\x00\x00\x00U\x01bd."),
    ("dict_true_and_one", b"(\x88U\x01aK\x01U\x01bd."),
    ("set_equal_members", b"\x8f(K\x01\x88G?\xf0\x00\x00\x00\x00\x00\x00\x90."),
    ("frozenset_unhashable", b"(]\x91."),
    ("additems_to_list", b"](K\x01\x90."),
    ("bytearray_appends", b"\x96\x01\x00\x00\x00\x00\x00\x00\x00a(K\x62K\x63e."),
    ("build_none_on_list", b"]Nb."),
    ("build_dict_on_list", b"]}b."),
    ("build_empty_slots_on_list", b"]N}\x86b."),
    ("proto_6", b"\x80\x06N."),
    ("proto_mid_stream", b"N0\x80\x02N."),
    ("frame_exact", b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."),
    ("frame_too_long", b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00N."),
    ("long1_negative", b"\x8a\x02\x00\x80."),
    ("long4_negative_len", b"\x8b\xff\xff\xff\xffN."),
    ("binbytes8_huge", b"\x8e" + (1 << 60).to_bytes(8, "little") + b"."),
    ("empty", b""),
    ("unknown_opcode", b"N\xff."),
    ("readonly_buffer_bytes", b"C\x02ab\x98."),
    ("readonly_buffer_int", b"K\x01\x98."),
    ("next_buffer", b"\x97."),
    ("persid_without_loader", b"Pabc\n."),
    ("ext_zero", b"\x82\x00."),
    ("stack_global_bytes", b"C\x02osC\x06system\x93."),
]


# Hand-built pickles using the tricks that mislead scanners. They are never
# loaded for real: a recording unpickler answers every find_class with a stub
# class, so the run shows which globals CPython would import and call, in
# which order, while nothing from the pickle executes.
ADVERSARIAL = [
    ("memo_pop_decoy", b"\x80\x04\x8c\x02os\x94\x8c\x04None\x940h\x00\x8c\x06system\x93\x8c\x02id\x85R."),
    ("memo_overwrite", b"\x80\x04\x8c\x08builtinsq\x00\x8c\x02osq\x00h\x00\x8c\x06system\x93\x8c\x02id\x85R."),
    ("dup_pop", b"\x80\x04\x8c\x02os2\x8c\x05decoy0\x8c\x06system\x93\x8c\x02id\x85R0."),
    ("long_binget_operands", b"\x80\x04\x8c\x02osr\xff\xff\x00\x00\x8c\x06systemr\x00\x00\x01\x00j\xff\xff\x00\x00j\x00\x00\x01\x00\x93)R."),
    ("stack_global_binstring_operands", b"\x80\x04U\x02osU\x06system\x93U\x02id\x85R."),
    ("inst_protocol0", b"(S'id'\nios\nsystem\n."),
    ("obj_protocol1", b"(cos\nsystem\nS'id'\no."),
    ("global_fix_imports", b"c__builtin__\neval\n(S'1'\ntR."),
    ("global_no_fix_after_proto3", b"\x80\x03c__builtin__\neval\n(X\x01\x00\x00\x001tR."),
    ("proto_switch_midstream", b"\x80\x03\x80\x02c__builtin__\nexec\n(X\x01\x00\x00\x001tR."),
    ("ext_after_add_extension", b"\x80\x02ccopyreg\nadd_extension\n(X\x02\x00\x00\x00osX\x06\x00\x00\x00systemK\x07tR0\x82\x07X\x02\x00\x00\x00id\x85R."),
    ("newobj_ex_kwargs", b"\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93]\x8c\x02ida\x85}\x8c\x05shell\x88s\x92."),
    ("build_on_global", b"\x80\x02cos\nenviron\nN}X\x01\x00\x00\x00xK\x01s\x86b."),
    ("callable_from_memo_args_dup", b"\x80\x02cbuiltins\neval\nq\x01X\x01\x00\x00\x001\x85q\x020h\x01h\x02R."),
    ("call_result_called", b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\nX\x02\x00\x00\x00os\x85RX\x06\x00\x00\x00system\x86RX\x02\x00\x00\x00id\x85R."),
    ("payload_then_garbage", b"cos\nsystem\n(S'id'\ntR\xff"),
    ("payload_then_truncation", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85RX\xff\x00\x00\x00abc"),
    ("marks_then_payload", b"(" * 100000 + b"cos\nsystem\n(S'id'\ntR."),
    ("second_pickle_payload", b"\x80\x02K\x01.\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."),
    ("appends_on_call_result", b"\x80\x02ccollections\ndeque\n)R(K\x01K\x02e."),
    ("setitems_on_call_result", b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00aK\x01u."),
    ("dotted_name_protocol4", b"\x80\x04\x8c\x02os\x8c\x0bpath.system\x93."),
]


class StubBase:
    log = []

    def __new__(cls, *args, **kwargs):
        StubBase.log.append(["call", cls.__qualname__, len(args) + len(kwargs)])
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        StubBase.log.append(["call", "<instance>", len(args) + len(kwargs)])
        return object.__new__(StubBase)

    def __setstate__(self, state):
        StubBase.log.append(["setstate", type(self).__qualname__])

    def extend(self, items):
        StubBase.log.append(["extend", type(self).__qualname__, len(items)])

    def __setitem__(self, key, value):
        StubBase.log.append(["setitem", type(self).__qualname__])


def add_extension(module, name, code):
    """The real registration (it only records a mapping), logged like a stub call."""
    StubBase.log.append(["call", "copyreg.add_extension", 3])
    copyreg.add_extension(module, name, code)
    REGISTERED.append((module, name, code))


REGISTERED = []


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        StubBase.log.append(["import", module, name])
        if (module, name) == ("copyreg", "add_extension"):
            return add_extension
        return type(f"{module}.{name}", (StubBase,), {"__qualname__": f"{module}.{name}"})


class ResolvingStubUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, which exposes its protocol: logs the global
    that really gets imported, after the fix_imports mapping."""

    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        StubBase.log.append(["import", module, name])
        if (module, name) == ("copyreg", "add_extension"):
            return add_extension
        return type(f"{module}.{name}", (StubBase,), {"__qualname__": f"{module}.{name}"})


def run_stream(unpickler_class, data):
    StubBase.log = []
    f = io.BytesIO(data)
    pickles = 0
    error = None
    while f.tell() < len(data):
        try:
            unpickler_class(f).load()
            pickles += 1
        except Exception as e:  # noqa: BLE001 - the stream stops here, like a real load
            error = f"{type(e).__name__}: {e}"[:200]
            break
    for registered in REGISTERED:
        copyreg.remove_extension(*registered)
    REGISTERED.clear()
    return StubBase.log, pickles, error


def adversarial(name, data):
    resolved, _, _ = run_stream(ResolvingStubUnpickler, data)
    log, pickles, error = run_stream(StubUnpickler, data)
    return {
        "name": name,
        "pickle": data.hex(),
        "log": log,
        "imports_resolved": [entry[1:] for entry in resolved if entry[0] == "import"],
        "pickles": pickles,
        "error": error,
    }


def quirk(name, data):
    entry = {"name": name, "pickle": data.hex()}
    try:
        value = pickle.loads(data)
    except Exception as e:  # noqa: BLE001 - any exception is the verdict
        entry["error"] = f"{type(e).__name__}: {e}"[:300]
    else:
        if is_literal(value):
            entry["value"] = canon_value(value)
        if isinstance(value, float) and value != value:
            entry["value"] = {"float": struct.pack(">d", value).hex()}
    return entry


# The large values only need the protocols whose batching differs.
BIG_PROTOCOLS = (0, 1, 2, 5)


def main():
    fx.fixed_hash_seed(0)  # set iteration order: fixed so that output is stable
    if sys.argv[1:2] == ["--check"] and len(sys.argv) == 3:
        sys.exit(fx.check_file(write, sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write(sys.argv[1])


def write(out):
    corpus = {
        "python": sys.version.split()[0],
        "cases": [
            c
            for n, v in values()
            for p in (BIG_PROTOCOLS if n.startswith("big_") else range(6))
            if (c := case(n, p, v))
        ],
        "quirks": [quirk(n, d) for n, d in QUIRKS],
        "adversarial": [adversarial(n, d) for n, d in ADVERSARIAL],
        "compat": {
            "name_mapping": sorted([list(k), list(v)] for k, v in _compat_pickle.NAME_MAPPING.items()),
            "import_mapping": sorted([k, v] for k, v in _compat_pickle.IMPORT_MAPPING.items()),
        },
    }
    with open(out, "w") as f:
        json.dump(corpus, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(
        f"{out}: {len(corpus['cases'])} cases, {len(corpus['quirks'])} quirks, "
        f"{len(corpus['adversarial'])} adversarial"
    )


if __name__ == "__main__":
    main()
