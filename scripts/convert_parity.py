#!/usr/bin/env python3
"""Check `airlock convert` outputs against real torch.

Usage: convert_parity.py PAIRS.json [PAIRS.json ...]

PAIRS.json is a list of {"input", "output", "to"} written by the convert
parity test (crates/convert/tests/parity.rs) for the benign torch fixtures.
For each pair this loads the input with real `torch.load(weights_only=False)`
(only benign fixtures are ever listed: the generator declares them in
tests/fixtures/torch/manifest.json) and the output with the loader it was
made for:

  safetensors  safetensors.torch.load_file(output)
  pt           torch.load(output, weights_only=True)

and checks that every tensor of the output is bit-identical (dtype, shape,
bytes) to the tensor of the input at the same path, where a path is the
dotted key of nested dicts, lists and tuples (`model.layers.0.weight`), and
full `nn.Module` pickles are compared through `state_dict()`; in
safetensors outputs, the public data attributes of those modules must be
under `__attributes__.<path>.` (tensors as tensors, other values as JSON
metadata). For `pt`
outputs the plain values (numbers, strings, ...) at each path must be equal
too, foreign objects having been replaced by plain data. Pairs marked
"loader": "numpy" come from NumPy files instead: the input is read with
`numpy.load(allow_pickle=False)` (each array of an .npz under its name, a
.npy under its file stem) and the output with `safetensors.numpy.load_file`
(string and bytes arrays from the output's metadata, where convert keeps them),
and dtypes and C-order bytes must be equal. Pairs marked "loader": "dcp"
come from a distributed checkpoint's folder (tests/fixtures/dcp, benign
ones only): the input is what `dcp_to_torch_save` writes from it, loaded
with `torch.load`. Prints one line per pair and exits 1 on any mismatch.
"""

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

warnings.filterwarnings("ignore")


def flatten(obj, prefix, out, torch):
    import collections

    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
        return
    if isinstance(obj, (dict, collections.OrderedDict)):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out, torch)
        return
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out, torch)
        return
    out[prefix] = obj


def is_data(v, torch, depth=0):
    if depth > 50:
        return False
    if isinstance(v, torch.Tensor):
        return type(v) in (torch.Tensor, torch.nn.Parameter)
    if v is None or type(v) in (bool, int, float, str):
        return True
    if type(v) in (list, tuple):
        return all(is_data(x, torch, depth + 1) for x in v)
    if type(v) is dict:
        return all(type(k) in (str, int) and is_data(x, torch, depth + 1) for k, x in v.items())
    return False


def module_attributes(obj, prefix, out, torch):
    """Where the input holds a pickled module (replaced by its state dict),
    its public data attributes, flattened under `__attributes__.<path>.`,
    as convert keeps them in safetensors outputs."""
    import collections

    if isinstance(obj, torch.nn.Module):
        base = "__attributes__" + (f".{prefix}" if prefix else "")
        for name, v in vars(obj).items():
            if not name.startswith("_") and name != "training" and is_data(v, torch):
                flatten(v, f"{base}.{name}", out, torch)
    elif isinstance(obj, (dict, collections.OrderedDict)):
        for k, v in obj.items():
            module_attributes(v, f"{prefix}.{k}" if prefix else str(k), out, torch)
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for i, v in enumerate(obj):
            module_attributes(v, f"{prefix}.{i}" if prefix else str(i), out, torch)


def attribute_problems(src_obj, output, out, torch):
    """Safetensors outputs: each module attribute, a tensor among the
    tensors, any other value as JSON in the metadata."""
    from safetensors import safe_open

    want = {}
    module_attributes(src_obj, "", want, torch)
    with safe_open(output, "pt") as f:
        meta = f.metadata() or {}
    problems = []
    for path, v in want.items():
        if isinstance(v, torch.Tensor):
            why = same_tensor(v, out[path], torch) if path in out else "missing"
        else:
            why = None if path in meta and json.loads(meta[path]) == v else f"{meta.get(path)!r} != {v!r}"
        if why:
            problems.append(f"{path}: {why}")
    return problems, len(want)


def metadata_of(obj):
    """The `_metadata` of the first state dict found (the root, or a dict
    value at the top level: `{"model": state_dict, ...}`)."""
    from collections import OrderedDict

    for cand in [obj] + (list(obj.values()) if isinstance(obj, dict) else []):
        if isinstance(cand, OrderedDict) and hasattr(cand, "_metadata"):
            return dict(cand._metadata)
    return None


def same_tensor(a, b, torch):
    if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
        return f"dtype/shape {a.dtype}{tuple(a.shape)} != {b.dtype}{tuple(b.shape)}"
    a = a.detach().contiguous().cpu()
    b = b.detach().contiguous().cpu()
    if a.numel() == 0:
        return None
    ab = a.reshape(-1).view(torch.uint8) if a.dim() else a.reshape(1).view(torch.uint8)
    bb = b.reshape(-1).view(torch.uint8) if b.dim() else b.reshape(1).view(torch.uint8)
    if not torch.equal(ab, bb):
        return "values differ"
    return None


def load_input(p, torch):
    """The input as its real loader returns it."""
    if p.get("loader") != "dcp":
        return torch.load(p["input"], weights_only=False, map_location="cpu")
    import tempfile

    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    with tempfile.TemporaryDirectory(prefix="airlock-dcp-parity-") as tmp:
        path = os.path.join(tmp, "loaded.pt")
        dcp_to_torch_save(p["input"], path)
        return torch.load(path, weights_only=False, map_location="cpu")


def string_array_problems(k, a, output):
    """A string or bytes array is kept as JSON metadata: {"__ndarray__":
    {"dtype", "shape", "items"}}, items in C order (bytes as __bytes__ hex)."""
    import json

    from safetensors import safe_open

    with safe_open(output, "np") as f:
        meta = (f.metadata() or {}).get(k)
    if meta is None:
        return [f"{k}: missing from the metadata"]
    got = json.loads(meta)["__ndarray__"]
    items = [{"__bytes__": x.hex()} if isinstance(x, bytes) else x for x in a.ravel(order="C").tolist()]
    want = {"dtype": a.dtype.str, "shape": list(a.shape), "items": items}
    return [] if got == want else [f"{k}: {got} != {want}"[:300]]


def check_numpy(p):
    import numpy as np
    from safetensors.numpy import load_file

    if p["input"].endswith(".npz"):
        with np.load(p["input"], allow_pickle=False, max_header_size=1 << 20) as z:
            src = {k: z[k] for k in z.files}
    else:
        src = {os.path.splitext(os.path.basename(p["input"]))[0]: np.load(p["input"], allow_pickle=False, max_header_size=1 << 20)}
    out = load_file(p["output"])
    problems = []
    for k, a in src.items():
        b = out.get(k)
        if a.dtype.kind in "US":
            problems += string_array_problems(k, a, p["output"])
        elif b is None:
            problems.append(f"{k}: missing")
        elif a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{k}: {a.dtype}{a.shape} != {b.dtype}{b.shape}")
        elif np.ascontiguousarray(a).tobytes() != np.ascontiguousarray(b).tobytes():
            problems.append(f"{k}: values differ")
    print(f"{'ok' if not problems else 'MISMATCH':8} numpy       {p['input']} ({len(src)} arrays)")
    for pr in problems[:10]:
        print(f"         {pr}")
    return int(bool(problems))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", nargs="+")
    args = ap.parse_args()
    import torch
    from safetensors.torch import load_file

    # The fixtures' classes were pickled from gen_torch_fixtures.py run as
    # __main__: install them there, as torch_parity.py does.
    fx.install_fixture_classes()

    pairs = [p for f in args.pairs for p in json.load(open(f))]
    failures = 0
    for p in pairs:
        if p.get("loader") == "numpy":
            failures += check_numpy(p)
            continue
        src = {}
        src_obj = load_input(p, torch)
        flatten(src_obj, "", src, torch)
        # A root that is a single tensor is stored under the name "tensor".
        if p["to"] == "safetensors" and "" in src:
            src["tensor"] = src.pop("")
        problems = []
        attributes = 0
        if p["to"] == "safetensors":
            out = load_file(p["output"])
            found, attributes = attribute_problems(src_obj, p["output"], out, torch)
            problems += found
        else:
            got = {}
            loaded = torch.load(p["output"], weights_only=True, map_location="cpu")
            flatten(loaded, "", got, torch)
            out = got
            # A state dict's _metadata (module versions) is kept.
            want = metadata_of(load_input(p, torch))
            have = metadata_of(loaded)
            if want is not None and have != want:
                problems.append(f"_metadata: {have!r} != {want!r}")
        for path, t in src.items():
            if isinstance(t, torch.Tensor):
                if path not in out:
                    problems.append(f"{path}: missing")
                    continue
                why = same_tensor(t, out[path], torch)
                if why:
                    problems.append(f"{path}: {why}")
            elif p["to"] == "pt" and path in out and isinstance(t, (int, float, str, bool, type(None))):
                if out[path] != t and not (t != t and out[path] != out[path]):
                    problems.append(f"{path}: {out[path]!r} != {t!r}")
        tensors = sum(isinstance(v, torch.Tensor) for v in src.values())
        status = "ok" if not problems else "MISMATCH"
        kept = f", {attributes} module attribute values" if attributes else ""
        print(f"{status:8} {p['to']:11} {p['input']} ({tensors} tensors{kept})")
        for pr in problems[:10]:
            print(f"         {pr}")
        failures += bool(problems)
    print(f"{len(pairs)} conversions checked, {failures} mismatched")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
