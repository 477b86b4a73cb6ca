#!/usr/bin/env python3
"""Write small PyTorch checkpoint fixtures with the real producers.

Every file is written by torch itself (`torch.save`, `torch.jit.save`), from
objects built with torch, numpy, omegaconf and the standard library, so the
fixtures show exactly the bytes those producers emit: zip and legacy
containers, every pickle protocol, every dtype, shared and strided storages,
module and optimizer pickles, TorchScript archives and the Python/numpy/config
objects that commonly end up in training checkpoints.

Usage: gen_torch_fixtures.py OUT_DIR
       gen_torch_fixtures.py --check DIR   (exit 1 unless DIR holds exactly
                                           what this script writes)

Next to the fixtures it writes OUT_DIR/manifest.json, a JSON list of
{"file", "description", "category"} objects in generation order. Every file
listed there is benign: `torch.load(..., weights_only=False)` only rebuilds
tensors, containers and classes from torch, numpy, omegaconf, the standard
library and the classes defined in this script (which pickle as `__main__.X`).
`torch_parity.py` relies on that when it records torch's verdicts.

The output is deterministic for a given torch/numpy/omegaconf/Python: values
are fixed or come from a seeded generator, and the TorchScript and legacy
module files carry no paths of the producing machine. The exception is the
legacy (non-zip) format, whose writer keys storages by memory address:
--check compares those files up to the addresses (every opcode, every storage
byte; see airlock_fixtures.legacy_torch_canonical), every other file byte for
byte (expected.json and rebuild_expected.json in the same directory are
torch_parity.py's and gen_rebuild_expected.py's). Cases torch refuses to save
are skipped and reported on stderr.

torch_parity.py also executes this file as a module (never as a script) to
provide the `__main__` classes that the module and tensor-subclass fixtures
reference, so it must stay free of side effects outside main().
"""

import argparse
import collections
import contextlib
import dataclasses
import io
import json
import linecache
import os
import pathlib
import sys
import warnings

import numpy as np
import torch
from omegaconf import OmegaConf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

CATEGORIES = fx.TORCH_FIXTURE_CATEGORIES

# Dtypes with a small tensor each. The ones torch cannot create by conversion
# (bit containers, packed float4) are views of uint8/int16 data.
DTYPES = (
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "complex32",
    "complex64",
    "complex128",
    "bcomplex32",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bits8",
    "bits16",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    # Sub-byte integer dtypes: tensors can be viewed as them, but torch.save
    # raises "dtype torch.uint4 is not recognized", so they end up skipped.
    "uint1",
    "uint2",
    "uint4",
    "int1",
    "int2",
    "int4",
)


SUB_BYTE_DTYPES = frozenset(
    getattr(torch, f"{kind}{bits}") for kind in ("int", "uint") for bits in range(1, 8) if hasattr(torch, f"{kind}{bits}")
)


class TinyNet(torch.nn.Module):
    """A custom module: `torch.save(model)` pickles it as `__main__.TinyNet`."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3)
        self.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU())
        self.head = torch.nn.Linear(4, 2, bias=False)
        self.register_buffer("scale", torch.tensor(0.5))
        self.name = "tiny"

    def forward(self, ids):
        return self.head(self.body(self.embed(ids))) * self.scale


@dataclasses.dataclass
class TrainConfig:
    """A user dataclass config: pickles as NEWOBJ `__main__.TrainConfig` and BUILD of its fields."""

    lr: float = 0.001
    layers: tuple = (64, 64)
    schedule: str = "cosine"
    tags: list = dataclasses.field(default_factory=lambda: ["baseline"])


class SlotsPoint:
    """A class with `__slots__`: its state pickles as `(None, {slot: value})`."""

    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class TaggedTensor(torch.Tensor):
    """A tensor subclass: pickles through `_rebuild_from_type_v2` as `__main__.TaggedTensor`."""


# Source of the TorchScript fixture module. It is compiled from this string
# under a fixed pseudo file name so the archive's debug information names
# that instead of the path of this script on the producing machine.
TORCHSCRIPT_SOURCE = '''
import torch


class ScriptNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(6, dtype=torch.float32).reshape(3, 2) / 10)
        self.bias = torch.nn.Parameter(torch.tensor([0.1, -0.2, 0.3]))
        self.register_buffer("steps", torch.tensor(7))
        self.alpha: float = 0.5

    def forward(self, x):
        y = torch.nn.functional.linear(x, self.weight, self.bias)
        if bool(y.sum() > 0):
            y = torch.relu(y)
        return y * self.alpha
'''
TORCHSCRIPT_FILENAME = "<airlock-torchscript-fixture>"


def script_net_class():
    linecache.cache[TORCHSCRIPT_FILENAME] = (
        len(TORCHSCRIPT_SOURCE),
        None,
        TORCHSCRIPT_SOURCE.splitlines(True),
        TORCHSCRIPT_FILENAME,
    )
    namespace = {"__name__": "fixture_models"}
    exec(compile(TORCHSCRIPT_SOURCE, TORCHSCRIPT_FILENAME, "exec"), namespace)
    return namespace["ScriptNet"]


def drop_source_locations(graph):
    """Clear the source ranges tracing records: they hold the producer's Python stack."""
    blank_graph = torch._C.Graph()
    blank = blank_graph.create("prim::Constant")
    for node in graph.nodes():
        node.copyMetadata(blank)


@contextlib.contextmanager
def portable_source_paths():
    """Make the legacy writer record module source files relative to sys.path.

    The legacy format stores, for every nn.Module class it pickles, the class
    source and the absolute path of its file. The source is kept as is; only
    the path loses the installation prefix of the producing machine
    (".../site-packages/torch/nn/modules/linear.py" becomes
    "torch/nn/modules/linear.py").
    """
    original = torch.serialization.get_source_lines_and_file
    roots = sorted((os.path.abspath(p) for p in sys.path if p), key=len, reverse=True)

    def relative(obj, error_msg=None):
        lines, lineno, filename = original(obj, error_msg)
        if filename:
            absolute = os.path.abspath(filename)
            for root in roots:
                if absolute.startswith(root + os.sep):
                    filename = os.path.relpath(absolute, root).replace(os.sep, "/")
                    break
            else:
                filename = os.path.basename(filename)
        return lines, lineno, filename

    torch.serialization.get_source_lines_and_file = relative
    try:
        yield
    finally:
        torch.serialization.get_source_lines_and_file = original


def sample(dtype_name, shape=(2, 3)):
    """A small tensor of the named dtype with fixed, distinct values."""
    dtype = getattr(torch, dtype_name)
    n = 1
    for d in shape:
        n *= d
    base = torch.arange(n).reshape(shape)
    if dtype == torch.bool:
        return base % 2 == 1
    if dtype.is_complex and dtype not in (torch.complex64, torch.complex128):
        return torch.complex(base.float(), -base.float()).to(dtype)
    if dtype.is_complex:
        return torch.complex(base.to(torch.float64), 1.0 - base.to(torch.float64)).to(dtype)
    if dtype_name.startswith(("bits", "float4")) or dtype in SUB_BYTE_DTYPES:
        raw = (base * 37 + 11).to(torch.uint8)
        if dtype.itemsize == 1:
            return raw.view(dtype)
        return raw.to(torch.int16).view(dtype)
    if dtype.is_floating_point:
        if dtype == torch.float8_e8m0fnu:
            # Exponent-only format: powers of two.
            return torch.pow(2.0, base.float() - 2).to(dtype)
        return ((base.float() - 2) / 4).to(dtype)
    return base.to(dtype)


class Writer:
    """Writes fixtures into one directory and collects their manifest entries."""

    def __init__(self, out_dir):
        self.out = out_dir
        self.entries = []
        self.skipped = []

    def add(self, name, category, description, produce):
        """Run `produce(path)`; record the file, or the reason it was skipped."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}")
        if any(e["file"] == name for e in self.entries):
            raise ValueError(f"duplicate fixture {name}")
        path = os.path.join(self.out, name)
        try:
            produce(path)
        except Exception as e:  # torch refuses some objects; keep going
            if os.path.exists(path):
                os.remove(path)
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            self.skipped.append((name, reason))
            print(f"skipped {name}: {reason}", file=sys.stderr)
            return False
        self.entries.append({"file": name, "description": description, "category": category})
        return True

    def save(self, name, category, description, obj, **options):
        return self.add(name, category, description, lambda path: torch.save(obj, path, **options))

    def write_manifest(self):
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(self.entries, f, indent=2)
            f.write("\n")


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def small_state_dict():
    return {
        "linear.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 8,
        "linear.bias": torch.tensor([0.5, -0.5]),
        "steps": torch.tensor(12),
    }


def gen_state_dicts(w):
    for name in DTYPES:
        if not hasattr(torch, name):
            w.skipped.append((f"sd_{name}.pt", f"torch {torch.__version__} has no torch.{name}"))
            continue

        def produce(path, name=name):
            torch.save({"weight": sample(name)}, path)

        w.add(f"sd_{name}.pt", "state_dict", f"state dict with one 2x3 torch.{name} tensor", produce)

    every = {}
    for name in DTYPES:
        try:
            t = sample(name)
            torch.save(t, io.BytesIO())
        except Exception:
            continue
        every[name] = t
    w.save("sd_all_dtypes.pt", "state_dict", f"one state dict holding a tensor of each of {len(every)} dtypes", every)

    model = mlp()
    w.save("sd_mlp.pt", "state_dict", "nn.Sequential state_dict(): OrderedDict with _metadata, plain tensors", model.state_dict())
    w.save("tensor_alone.pt", "state_dict", "a bare float32 tensor as the top-level object", torch.arange(4, dtype=torch.float32))

    base = torch.arange(12, dtype=torch.float32)
    w.save(
        "sd_shared_storage.pt",
        "state_dict",
        "three tensors viewing one storage (whole, first half, second half reshaped)",
        {"full": base, "head": base[:6], "tail": base[6:].view(2, 3)},
    )

    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.embed = torch.nn.Embedding(4, 3)
            self.decoder = torch.nn.Linear(3, 4, bias=False)
            self.decoder.weight = self.embed.weight

    tied = Tied()
    w.save(
        "sd_tied_weights.pt",
        "state_dict",
        "state_dict() of a module whose decoder reuses the embedding Parameter: two keys, one storage",
        tied.state_dict(),
    )
    w.save(
        "sd_tied_parameter.pt",
        "state_dict",
        "state_dict(keep_vars=True): the same nn.Parameter object under two keys (memoized)",
        tied.state_dict(keep_vars=True),
    )

    m = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    w.save("sd_transpose.pt", "state_dict", "transposed (non-contiguous) 3x4 view, strides (1, 4)", {"t": m.t()})
    w.save("sd_step_slice.pt", "state_dict", "slice with step 2 along both dimensions", {"s": m[::2, ::2]})
    w.save("sd_storage_offset.pt", "state_dict", "view with storage_offset 5 into a 12-element storage", {"o": m.view(-1)[5:9]})
    w.save("sd_expand.pt", "state_dict", "expanded view with a zero stride", {"e": torch.tensor([1.5]).expand(4)})
    big = torch.arange(8192, dtype=torch.uint8)
    w.save(
        "sd_stride_large.pt",
        "state_dict",
        "2x2 view with stride (4096, 2047) into an 8192-byte storage",
        {"w": big.as_strided((2, 2), (4096, 2047))},
    )
    w.save(
        "sd_stride_huge_size1.pt",
        "state_dict",
        "shape (1, 4) with stride (2**40, 1): huge stride on a size-1 dimension",
        {"w": torch.arange(4, dtype=torch.float32).as_strided((1, 4), (2**40, 1))},
    )
    w.save(
        "sd_zero_dim.pt",
        "state_dict",
        "0-dim tensors (float, int64, bool)",
        {"lr": torch.tensor(0.125), "step": torch.tensor(7), "flag": torch.tensor(True)},
    )
    w.save(
        "sd_empty.pt",
        "state_dict",
        "empty tensors: shape (0,), (0, 3) and an empty int64 tensor",
        {"a": torch.empty(0), "b": torch.zeros(0, 3), "c": torch.zeros(0, dtype=torch.int64)},
    )
    w.save(
        "sd_conj_view.pt",
        "state_dict",
        "complex conjugate view and its imaginary part (negative bit view)",
        {"conj": sample("complex64").conj(), "imag": sample("complex64").conj().imag},
    )

    w.save(
        "sd_parameter.pt",
        "state_dict",
        "nn.Parameter values (torch._utils._rebuild_parameter)",
        {"w": torch.nn.Parameter(torch.arange(4, dtype=torch.float32))},
    )
    w.save(
        "sd_parameter_no_grad.pt",
        "state_dict",
        "nn.Parameter with requires_grad=False",
        {"w": torch.nn.Parameter(torch.arange(4, dtype=torch.float32), requires_grad=False)},
    )
    w.save(
        "sd_requires_grad.pt",
        "state_dict",
        "plain leaf tensor with requires_grad=True",
        {"w": torch.arange(3, dtype=torch.float32).requires_grad_()},
    )
    tagged = torch.arange(3, dtype=torch.float32)
    tagged.note = "calibrated"
    tagged.version = 2
    w.save(
        "sd_tensor_attr.pt",
        "state_dict",
        "tensor with Python attributes (torch._tensor._rebuild_from_type_v2 with a state dict)",
        {"t": tagged},
    )
    param = torch.nn.Parameter(torch.ones(2, 2))
    param.note = "tied"
    w.save(
        "sd_parameter_attr.pt",
        "state_dict",
        "Parameter with a Python attribute (torch._utils._rebuild_parameter_with_state)",
        {"p": param},
    )
    w.save(
        "tensor_subclass_main.pt",
        "tensor-kinds",
        "tensor subclass defined in the producing script: pickles as __main__.TaggedTensor",
        {"t": torch.arange(3, dtype=torch.float32).as_subclass(TaggedTensor)},
    )


def gen_protocols(w):
    sd = small_state_dict()
    notes = {
        0: "; torch.load cannot read it back, even with weights_only=False (protocol 0 writes the "
        "persistent ids as text: 'saved_id must be a tuple, got str')",
        2: " (torch.save's default)",
    }
    for proto in (0, 1, 2, 3, 4, 5):
        note = notes.get(proto, "")
        w.save(
            f"sd_proto{proto}.pt",
            "protocol",
            f"small state dict saved with pickle_protocol={proto}{note}",
            sd,
            pickle_protocol=proto,
        )

    def to_buffer(path):
        buf = io.BytesIO()
        torch.save(sd, buf)
        with open(path, "wb") as f:
            f.write(buf.getvalue())

    w.add("sd_bytesio.pt", "protocol", "small state dict saved to a BytesIO: zip entries under 'archive/'", to_buffer)
    w.save(
        "sd_path_prefix.pt",
        "protocol",
        "small state dict saved to a path: zip entries under the file stem 'sd_path_prefix/'",
        sd,
    )
    w.save(
        "sd_no_byteorder.pt",
        "protocol",
        "small state dict saved with _disable_byteorder_record=True (no 'byteorder' record)",
        sd,
        _disable_byteorder_record=True,
    )


def gen_legacy(w):
    sd = small_state_dict()
    legacy = {"_use_new_zipfile_serialization": False}
    w.save("legacy_state_dict.pt", "legacy", "small state dict in the legacy (non-zip) format", sd, **legacy)
    # The legacy writer names each storage by its legacy class (FloatStorage,
    # ...). Dtypes without one are recorded as torch.UntypedStorage, which
    # torch.load cannot read back; they get files of their own below.
    legacy_classes = torch.storage._dtype_to_storage_type_map()
    dtypes = {name: sample(name) for name in DTYPES if hasattr(torch, name) and getattr(torch, name) in legacy_classes}
    w.save(
        "legacy_dtypes.pt",
        "legacy",
        f"legacy format, one tensor of each of the {len(dtypes)} dtypes with a legacy storage class",
        dtypes,
        **legacy,
    )
    for name in ("uint16", "float8_e4m3fn"):
        w.save(
            f"legacy_{name}.pt",
            "legacy",
            f"legacy format with a {name} tensor, which has no legacy storage class: the storage is "
            "recorded as torch.UntypedStorage and torch.load (even weights_only=False) fails with "
            "AttributeError: 'UntypedStorage' has no attribute 'dtype'",
            {"weight": sample(name)},
            **legacy,
        )
    base = torch.arange(12, dtype=torch.float32)
    w.save(
        "legacy_views.pt",
        "legacy",
        "legacy format: shared storage, offset view, transpose, 0-dim and empty tensors",
        {
            "full": base,
            "offset": base[5:9],
            "t": base.view(3, 4).t(),
            "scalar": torch.tensor(3),
            "empty": torch.empty(0),
        },
        **legacy,
    )
    with portable_source_paths():
        w.save(
            "legacy_module.pt",
            "legacy",
            "torch.save(nn.Sequential) in the legacy format (embeds each module class's source)",
            mlp(),
            **legacy,
        )
    w.save("legacy_proto4.pt", "legacy", "small state dict, legacy format, pickle_protocol=4", sd, pickle_protocol=4, **legacy)
    w.save(
        "legacy_proto0.pt",
        "legacy",
        "small state dict, legacy format, pickle_protocol=0; torch.load cannot read it back, even with "
        "weights_only=False (text persistent ids: 'saved_id must be a tuple, got str')",
        sd,
        pickle_protocol=0,
        **legacy,
    )


def gen_modules(w):
    w.save(
        "module_sequential.pt",
        "module",
        "torch.save(model) of nn.Sequential(Linear, ReLU, Linear): torch.nn classes only",
        mlp(),
    )
    torch.manual_seed(2)
    w.save(
        "module_custom.pt",
        "module",
        "torch.save(model) of a custom nn.Module defined in the producing script (__main__.TinyNet)",
        TinyNet(),
    )


def trained_optimizer(kind):
    model = mlp()
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8
    for _ in range(2):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    return model, opt


def gen_optimizers(w):
    _, sgd = trained_optimizer("sgd")
    w.save("optim_sgd_momentum.pt", "optimizer", "SGD(momentum=0.9) state_dict after two steps (momentum buffers)", sgd.state_dict())
    model, adam = trained_optimizer("adam")
    w.save("optim_adam.pt", "optimizer", "Adam state_dict after two steps (step, exp_avg, exp_avg_sq)", adam.state_dict())
    w.save(
        "ckpt_training_minimal.pt",
        "optimizer",
        'training checkpoint {"model", "optimizer", "epoch", "best_loss"} with plain values only',
        {"model": model.state_dict(), "optimizer": adam.state_dict(), "epoch": 3, "best_loss": 0.25},
    )
    w.save(
        "ckpt_training.pt",
        "config",
        "training checkpoint with model/optimizer state, epoch, argparse args, omegaconf DictConfig and ListConfig",
        {
            "model": model.state_dict(),
            "optimizer": adam.state_dict(),
            "epoch": 3,
            "args": argparse.Namespace(lr=1e-3, batch_size=32, arch="mlp"),
            "config": OmegaConf.create({"model": {"hidden": 3, "act": "relu"}, "seed": 0}),
            "list_config": OmegaConf.create([1, 2, {"warmup": 100}]),
        },
    )


def gen_torchscript(w):
    script_net = script_net_class()

    def scripted(path):
        torch.manual_seed(0)
        torch.jit.save(torch.jit.script(script_net()), path)

    def traced(path):
        torch.manual_seed(0)
        module = torch.jit.trace(script_net(), torch.ones(1, 2))
        drop_source_locations(module.graph)
        torch.jit.save(module, path)

    w.add("ts_scripted.pt", "torchscript", "torch.jit.save of a torch.jit.script module (code/, constants.pkl)", scripted)
    w.add(
        "ts_traced.pt",
        "torchscript",
        "torch.jit.save of a torch.jit.trace module (code/, constants.pkl, traced_inputs.pkl)",
        traced,
    )


def gen_numpy(w):
    w.save("np_float64.pt", "numpy", "numpy.float64 scalar in a dict", {"loss": np.float64(0.125)})
    w.save("np_int64.pt", "numpy", "numpy.int64 scalar in a dict", {"step": np.int64(42)})
    w.save("np_bool.pt", "numpy", "numpy.bool_ scalar in a dict", {"done": np.bool_(True)})
    w.save("np_dtype.pt", "numpy", "a numpy.dtype object", {"dtype": np.dtype("float32")})
    w.save(
        "np_array_f32.pt",
        "numpy",
        "2-D float32 numpy array",
        {"a": np.arange(6, dtype=np.float32).reshape(2, 3)},
    )
    w.save("np_array_int64.pt", "numpy", "1-D int64 numpy array", {"a": np.arange(5, dtype=np.int64)})
    w.save(
        "np_array_object.pt",
        "numpy",
        "object-dtype numpy array of ints (elements pickled inside the array state)",
        {"a": np.array([1, 2, 3], dtype=object)},
    )


def gen_configs(w):
    w.save(
        "ckpt_namespace.pt",
        "config",
        "argparse.Namespace as the top-level object",
        argparse.Namespace(lr=0.1, epochs=5, name="run1"),
    )
    w.save(
        "cfg_dictconfig.pt",
        "config",
        "omegaconf DictConfig as the top-level object",
        OmegaConf.create({"lr": 0.1, "layers": [4, 4], "opt": {"name": "adam"}}),
    )
    w.save("cfg_listconfig.pt", "config", "omegaconf ListConfig as the top-level object", OmegaConf.create([1, "two", 3.0]))


def gen_library_objects(w):
    """Objects of other libraries made by __new__ and filled by BUILD, enum
    members and class references: what Trainer, Lightning and user configs
    put into checkpoints. Airlock rebuilds them as data without importing
    their classes."""
    import transformers
    from lightning.fabric.utilities.data import AttributeDict
    from omegaconf import DictConfig

    def training_args(path):
        # What transformers.Trainer writes as training_args.bin.
        args = transformers.TrainingArguments(output_dir="out", report_to="none", seed=42)
        torch.save(args, path)

    w.add("hf_training_args.bin", "config", "transformers TrainingArguments as Trainer saves it", training_args)
    w.save("cfg_dataclass.pt", "config", "a user dataclass config (__main__.TrainConfig)",
           {"config": TrainConfig(), "step": 3})
    w.save("cfg_slots.pt", "config", "an instance whose state is its __slots__ (__main__.SlotsPoint)",
           {"point": SlotsPoint(1, 2.5)})
    w.save("cfg_attribute_dict.pt", "config", "Lightning's AttributeDict hyperparameters",
           {"hyper_parameters": AttributeDict(lr=0.01, hidden=8), "hparams_type": DictConfig})
    w.save("cfg_enum_member.pt", "config", "a transformers enum member as a value",
           {"scheduler": transformers.SchedulerType.COSINE, "strategy": transformers.IntervalStrategy.STEPS})


def gen_containers(w):
    w.save(
        "ckpt_python_scalars.pt",
        "containers",
        "None, bools, ints of several widths, special floats, long and non-ASCII strings, tuples",
        {
            "none": None,
            "yes": True,
            "no": False,
            "ints": [0, -1, 255, 65535, 2**31, -(2**31) - 1, 2**63, -(2**64)],
            "floats": [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan")],
            "text": ["", "ascii", "caf\u00e9 \u2603 \U0001f600", "x" * 300],
            "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
            7: "int key",
            (1, "a"): "tuple key",
        },
    )
    w.save(
        "ckpt_torch_objects.pt",
        "containers",
        "torch.dtype, torch.device, torch.Size and torch.layout values",
        {"dtype": torch.bfloat16, "device": torch.device("cpu"), "size": torch.Size([2, 3]), "layout": torch.strided},
    )
    w.save("ckpt_pathlib.pt", "containers", "pathlib.Path value (pickles as pathlib.PosixPath)", {"path": pathlib.Path("runs/exp1/model.pt")})
    w.save(
        "ckpt_defaultdict.pt",
        "containers",
        "collections.defaultdict(list)",
        collections.defaultdict(list, {"a": [1, 2], "b": []}),
    )
    w.save("ckpt_deque.pt", "containers", "collections.deque with maxlen", collections.deque([1, 2, 3], maxlen=5))
    w.save("ckpt_counter.pt", "containers", "collections.Counter", collections.Counter("abracadabra"))
    w.save(
        "ckpt_ordereddict.pt",
        "containers",
        "collections.OrderedDict with a nested OrderedDict",
        collections.OrderedDict([("b", 1), ("a", collections.OrderedDict(x=2))]),
    )
    w.save("ckpt_set.pt", "containers", "set of ints and strings", {"s": {1, 2, 3, "x"}})
    w.save("ckpt_frozenset.pt", "containers", "frozenset (pickles as a builtins.frozenset call)", {"s": frozenset({1, 2})})
    w.save("ckpt_bytes.pt", "containers", "non-empty bytes (protocol 2: _codecs.encode)", {"b": b"\x00\x01airlock\xff"})
    w.save("ckpt_bytes_empty.pt", "containers", 'empty bytes b"" (protocol 2: a builtins.bytes call)', {"b": b""})
    w.save(
        "ckpt_bytes_proto3.pt",
        "containers",
        "non-empty bytes with pickle_protocol=3 (SHORT_BINBYTES)",
        {"b": b"\x00\x01airlock\xff"},
        pickle_protocol=3,
    )
    w.save(
        "ckpt_bytes_empty_proto3.pt",
        "containers",
        'empty bytes b"" with pickle_protocol=3 (SHORT_BINBYTES)',
        {"b": b""},
        pickle_protocol=3,
    )
    w.save("ckpt_bytearray.pt", "containers", "bytearray, non-empty and empty", {"a": bytearray(b"\x00ab"), "e": bytearray()})
    w.save("ckpt_complex.pt", "containers", "Python complex numbers", {"z": 1 + 2j, "w": complex(-0.5, float("inf"))})
    w.save("ckpt_bigint_100.pt", "containers", "2**100 and -(2**100) (LONG1)", {"big": 2**100, "neg": -(2**100)})
    w.save("ckpt_bigint_3000.pt", "containers", "2**3000 (needs LONG4: more than 255 bytes)", {"huge": 2**3000})
    w.save(
        "ckpt_nested.pt",
        "containers",
        "deeply nested lists, tuples and dicts around tensors",
        {
            "a": [1, (2, [3, {"b": (4.0, None, True)}]), {"c": [[[]]]}],
            "t": [torch.ones(2), (torch.zeros(1), {"u": torch.tensor([7])})],
            "deep": [[[[[[[[[["bottom"]]]]]]]]]],
        },
    )
    rec = [1, 2]
    rec.append(rec)
    w.save("ckpt_recursive_list.pt", "containers", "a list that contains itself", rec)
    inner = []
    tup = (inner, "t")
    inner.append(tup)
    w.save(
        "ckpt_recursive_tuple.pt",
        "containers",
        "a tuple that contains itself through a list (POP/GET in the pickle)",
        tup,
    )


def gen_tensor_kinds(w):
    dense = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    w.save(
        "sparse_coo.pt",
        "tensor-kinds",
        "coalesced sparse COO tensor",
        {"s": torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3.0, 4.0, 5.0], (2, 3)).coalesce()},
    )
    w.save(
        "sparse_coo_uncoalesced.pt",
        "tensor-kinds",
        "uncoalesced sparse COO tensor with a duplicate index",
        {"s": torch.sparse_coo_tensor([[0, 0, 1], [2, 2, 0]], [3.0, 4.0, 5.0], (2, 3))},
    )
    w.save("sparse_csr.pt", "tensor-kinds", "sparse CSR tensor", {"s": dense.to_sparse_csr()})
    w.save("sparse_csc.pt", "tensor-kinds", "sparse CSC tensor", {"s": dense.to_sparse_csc()})
    block = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    w.save("sparse_bsr.pt", "tensor-kinds", "sparse BSR tensor with 2x2 blocks", {"s": block.to_sparse_bsr((2, 2))})
    w.save("sparse_bsc.pt", "tensor-kinds", "sparse BSC tensor with 2x2 blocks", {"s": block.to_sparse_bsc((2, 2))})
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4
    x4 = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 4
    w.save(
        "quant_per_tensor.pt",
        "tensor-kinds",
        "per-tensor affine quantized tensors (quint8, qint8, qint32)",
        {
            "quint8": torch.quantize_per_tensor(x, 0.1, 10, torch.quint8),
            "qint8": torch.quantize_per_tensor(x, 0.05, 0, torch.qint8),
            "qint32": torch.quantize_per_tensor(x, 0.01, 0, torch.qint32),
        },
    )
    w.save(
        "quant_per_channel.pt",
        "tensor-kinds",
        "per-channel affine quantized qint8 tensor (axis 0)",
        {"q": torch.quantize_per_channel(x, torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 0, torch.qint8)},
    )
    w.save(
        "quant_per_channel_float_qparams.pt",
        "tensor-kinds",
        "per-channel quantized quint4x2 tensor with float zero points (per_channel_affine_float_qparams)",
        # quint4x2 packs two values a byte: an even row length leaves no
        # uninitialized nibble in the storage.
        {"q": torch.quantize_per_channel(x4, torch.tensor([0.1, 0.2]), torch.tensor([0.0, 1.0]), 0, torch.quint4x2)},
    )
    w.save("meta_tensor.pt", "tensor-kinds", "meta-device tensor (no storage)", {"m": torch.empty(2, 3, device="meta")})
    w.save(
        "nested_tensor.pt",
        "tensor-kinds",
        "strided nested tensor (torch._utils._rebuild_nested_tensor)",
        {"n": torch.nested.nested_tensor([torch.arange(3, dtype=torch.float32), torch.arange(5, dtype=torch.float32)])},
    )
    w.save(
        "nested_tensor_jagged.pt",
        "tensor-kinds",
        "jagged-layout nested tensor (a Python tensor subclass)",
        {
            "n": torch.nested.nested_tensor(
                [torch.arange(3, dtype=torch.float32), torch.arange(5, dtype=torch.float32)], layout=torch.jagged
            )
        },
    )
    w.save(
        "storage_untyped.pt",
        "tensor-kinds",
        "a torch.UntypedStorage as the top-level object",
        torch.arange(8, dtype=torch.uint8).untyped_storage(),
    )

    def typed_storage(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = torch.FloatStorage([1.0, 2.0, 3.0])
        torch.save(storage, path)

    w.add("storage_typed.pt", "tensor-kinds", "a legacy typed torch.FloatStorage as the top-level object", typed_storage)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="directory to write the fixtures and manifest.json into")
    parser.add_argument("--check", action="store_true", help="compare OUT_DIR with what the script writes")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.check:
        sys.exit(fx.check_dir(write_all, args.out_dir, ignore=("expected.json", "rebuild_expected.json"),
                              compare=lambda name: fx.same_legacy_torch if name.startswith("legacy_") else None))
    w = write_all(args.out_dir)
    total = sum(os.path.getsize(os.path.join(args.out_dir, e["file"])) for e in w.entries)
    print(
        f"wrote {len(w.entries)} fixtures ({total} bytes) and manifest.json to {args.out_dir}; "
        f"skipped {len(w.skipped)}",
        file=sys.stderr,
    )


def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    w = Writer(out_dir)
    gen_state_dicts(w)
    gen_protocols(w)
    gen_legacy(w)
    gen_modules(w)
    gen_optimizers(w)
    gen_torchscript(w)
    gen_numpy(w)
    gen_configs(w)
    gen_library_objects(w)
    gen_containers(w)
    gen_tensor_kinds(w)
    w.write_manifest()
    return w


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    main()
