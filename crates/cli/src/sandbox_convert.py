"""Run by `airlock convert --sandbox` inside `airlock run`: load a checkpoint
with the real torch.load(weights_only=False) and save its tensors as
safetensors. Usage: python sandbox_convert.py INPUT OUTPUT

Tensors are named by their path in the loaded object, as airlock's native
converter names them: dict keys and sequence indices joined with dots, a
pickled nn.Module replaced by its state_dict(), the attributes of other
objects walked. Non-tensor values are left out. Every tensor is copied
(safetensors refuses shared storage), on the CPU and contiguous.
"""

import sys

import torch
from safetensors.torch import save_file


def walk(obj, prefix, out, seen):
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, torch.Tensor):
        if obj.layout != torch.strided or obj.is_quantized or obj.is_nested:
            raise SystemExit(f"{prefix or '<root>'}: {obj.layout} tensors cannot be written to safetensors")
        out[prefix or "tensor"] = obj.detach().to("cpu").contiguous().clone()
        return
    if id(obj) in seen:
        return
    if isinstance(obj, dict):
        seen.add(id(obj))
        for k, v in obj.items():
            walk(v, f"{prefix}.{k}" if prefix else str(k), out, seen)
    elif isinstance(obj, (list, tuple)):
        seen.add(id(obj))
        for i, v in enumerate(obj):
            walk(v, f"{prefix}.{i}" if prefix else str(i), out, seen)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        seen.add(id(obj))
        walk(vars(obj), prefix, out, seen)


def main():
    source, target = sys.argv[1], sys.argv[2]
    obj = torch.load(source, weights_only=False, map_location="cpu")
    out = {}
    walk(obj, "", out, set())
    if not out:
        raise SystemExit("the checkpoint holds no tensors")
    save_file(out, target, metadata={"format": "pt"})
    print(f"{len(out)} tensors")


if __name__ == "__main__":
    main()
