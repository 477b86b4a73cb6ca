#!/usr/bin/env python3
"""ExecuTorch `.pte` programs written by the real producer, what ExecuTorch's
own Python reader and runtime make of them, and odd variants made from them
by editing their flatbuffer bytes.

Usage: gen_pte_fixtures.py OUT_DIR
       gen_pte_fixtures.py --check DIR   (exit 1 unless DIR holds exactly what
                                         this script writes, byte for byte;
                                         runtime_flips.json is --flips')
       gen_pte_fixtures.py --flips DIR   (DIR/runtime_flips.json: every byte of
                                         the flatbuffers of mlp.pte,
                                         xnnpack_inline.pte and methods.pte
                                         flipped (xor 0xff), each loaded by
                                         the runtime in a child process; some
                                         three minutes, so not part of --check)

Run it with the ExecuTorch venv's python (scripts/lib/executorch_venv.sh:
executorch pinned by scripts/requirements-executorch.lock, torch from the
project's venv through a .pth file).

OUT_DIR/ (each exported by `torch.export.export`, then
`executorch.exir.to_edge` (or `to_edge_transform_and_lower` with the XNNPACK
partitioner) and `.to_executorch()`, CPU, fixed seeds; the bytes are
`ExecutorchProgramManager.buffer`):

  mlp.pte             Linear-ReLU-Linear run by the portable kernels
                      (aten operators), its weights in the constant segment
  xnnpack.pte         the same MLP lowered to the XNNPACK delegate: its blob
                      and weights in segments after the flatbuffer (the
                      default, `extract_delegate_segments=True`)
  xnnpack_inline.pte  the same, its blob inline in the flatbuffer
                      (`extract_delegate_segments=False`:
                      Program.backend_delegate_data)
  methods.pte         two methods ("forward": a Linear, a constant buffer, a
                      mutated buffer whose initial value is kept
                      (InitializedMutableBufferPass: a mutable data segment);
                      "halve": mul, cat, sum), with dim_order_ops and
                      aten::copy_
  manifest.json       [{"file", "description", "program", "runtime"}]:
                      "program" as ExecuTorch's Python reads the flatbuffer
                      (`executorch.exir._serialize._program`:
                      `_get_extended_header`, `_flatbuffer_to_program`, the
                      reader `deserialize_pte_binary` uses, before it moves
                      segments back into the program): the extended header,
                      each plan's operators (name, overload), delegates
                      (backend id, where its blob is, compile spec keys) and
                      instruction kinds, the segments, the constant segment,
                      the mutable data segments, the inline constant buffers
                      and delegate data, the named data; "runtime" what
                      ExecuTorch's C++ runtime (the wheel's portable_lib,
                      `_load_for_executorch_from_buffer`, program verification
                      InternalConsistency) did: the methods it lists, each
                      method run on the example inputs (output shapes), or
                      the error it raised

OUT_DIR/external/: programs whose weights live in a tensor data file (.ptd),
written by `to_executorch()` and `write_tensor_data_to_file`:

  mlp.pte, mlp_weights.ptd          the MLP of mlp.pte (same seed, same
                                    weights), portable kernels,
                                    `external_constants`: each weight under
                                    its name with its layout
  xnnpack.pte, xnnpack_weights.ptd  the MLP lowered to XNNPACK after
                                    `delegate_external_constants_pass_unlifted`:
                                    the delegate's named data, blobs keyed by
                                    SHA-256 without a layout
  manifest.json                     [{"pte", "ptd", "description", "data",
                                    "runtime", "state_dict"}]: "data" as
                                    ExecuTorch's Python reads the .ptd (flatc),
                                    "runtime" what the C++ runtime did with the
                                    program and its data file (the output, and
                                    whether it equals the eager module's),
                                    "state_dict" the module's tensors (dtype,
                                    shape, SHA-256 of the bytes)
  variants/                         mlp_weights.ptd cut in its flatbuffer, cut
                                    in its last segment, a dim_order naming no
                                    dimension; manifest.json as for variants/
                                    below, "runtime" run with external/mlp.pte

OUT_DIR/variants/: one of the files above with bytes edited in place (names
of the same or a shorter length, a field, a cut), the edit located by the
exact bytes it changes; manifest.json has the same keys plus "edit" and
"expected" (the verdict `airlock scan` must give):

  evil_namespace.pte  mlp.pte with aten::relu renamed evil::relu: an operator
                      no ExecuTorch kernel library registers
  from_file.pte       mlp.pte with aten::permute_copy renamed aten::from_file
                      (overload "out"): an operator that reads a file
  unknown_backend.pte xnnpack.pte with the delegate's backend id
                      XnnpackBackend renamed EvilGpuBackend
  aoti_backend.pte    xnnpack.pte with the backend id renamed CudaBackend,
                      whose runtime loads a shared library (AOTInductor)
  truncated.pte       mlp.pte cut in the middle of its flatbuffer
  segment_cut.pte     mlp.pte without the last bytes of its constant segment
  segment_oob.pte     xnnpack.pte with the delegate's segment size past the
                      end of the file
"""

import hashlib
import io
import json
import os
import struct
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import airlock_fixtures as fx  # noqa: E402


# ------------------------------------------------------------------ producers


def models():
    """(file, description, {method: (module, example args)}, lowering, config kwargs)."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.fc2 = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    class Buffers(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.arange(4, dtype=torch.float32))
            self.register_buffer("count", torch.zeros(1))
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            self.count.add_(1)
            return self.lin(x) * self.scale + self.count

    class Halve(nn.Module):
        def forward(self, x):
            return torch.cat([x, x * 0.5], dim=1).sum(dim=0)

    mlp = MLP().eval()
    x = (torch.randn(2, 4),)
    return [
        ("mlp.pte", "Linear-ReLU-Linear, portable kernels, weights in the constant segment",
         {"forward": (mlp, x)}, None, {}),
        ("xnnpack.pte", "the MLP lowered to XNNPACK, its blob and weights in segments",
         {"forward": (mlp, x)}, "xnnpack", {}),
        ("xnnpack_inline.pte", "the MLP lowered to XNNPACK, its blob inline in the flatbuffer",
         {"forward": (mlp, x)}, "xnnpack", {"extract_delegate_segments": False}),
        ("methods.pte", "two methods, a constant buffer and an initialised mutable buffer",
         {"forward": (Buffers().eval(), x), "halve": (Halve(), x)}, None, {"init_mutable": ["count"]}),
    ]


def export_pte(methods, lowering, config):
    import torch
    from executorch.exir import ExecutorchBackendConfig, to_edge, to_edge_transform_and_lower

    programs = {name: torch.export.export(m, args) for name, (m, args) in methods.items()}
    arg = programs if len(programs) > 1 else programs["forward"]
    if lowering == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        edge = to_edge_transform_and_lower(arg, partitioner=[XnnpackPartitioner()])
    else:
        edge = to_edge(arg)
    kwargs = dict(config)
    init = kwargs.pop("init_mutable", None)
    if init:
        from executorch.exir.passes.init_mutable_pass import InitializedMutableBufferPass

        kwargs["passes"] = [InitializedMutableBufferPass(init)]
    return bytes(edge.to_executorch(ExecutorchBackendConfig(**kwargs)).buffer)


# ------------------------------------------------------------------ what ExecuTorch reads


def program_view(data):
    """The program as ExecuTorch's Python reads the flatbuffer, before segments
    are moved back in; None, with the error, when it cannot."""
    from executorch.exir._serialize._program import _flatbuffer_to_program, _get_extended_header

    try:
        eh = _get_extended_header(data)
        size = eh.program_size if eh and eh.is_valid() else len(data)
        p = _flatbuffer_to_program(data[:size])
    except Exception as e:  # the reader's own refusal is what is recorded
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    header = None
    if eh and eh.is_valid():
        header = {"program_size": eh.program_size, "segment_base_offset": eh.segment_base_offset,
                  "segment_data_size": eh.segment_data_size}
    plans = []
    for ep in p.execution_plan:
        kinds = {}
        for chain in ep.chains:
            for ins in chain.instructions:
                k = type(ins.instr_args).__name__
                kinds[k] = kinds.get(k, 0) + 1
        plans.append({
            "name": ep.name,
            "operators": [[o.name, o.overload] for o in ep.operators],
            "delegates": [{"id": d.id, "location": d.processed.location.name,
                           "index": d.processed.index,
                           "compile_specs": [c.key for c in d.compile_specs]} for d in ep.delegates],
            "instructions": dict(sorted(kinds.items())),
            "values": len(ep.values),
        })
    seg = p.constant_segment
    return {
        "extended_header": header,
        "version": p.version,
        "plans": plans,
        "segments": [[s.offset, s.size] for s in p.segments],
        "constant_segment": {"segment_index": seg.segment_index, "offsets": list(seg.offsets)},
        "mutable_data_segments": [{"segment_index": m.segment_index, "offsets": list(m.offsets)}
                                  for m in (p.mutable_data_segments or [])],
        "constant_buffer": [len(b.storage) for b in p.constant_buffer],
        "backend_delegate_data": [len(b.data) for b in p.backend_delegate_data],
        "named_data": [[n.key, n.segment_index] for n in (p.named_data or [])],
    }


def runtime_view(data, methods):
    """What ExecuTorch's C++ runtime does with the bytes: the methods it lists
    and each one run on its example inputs, or the error it raises."""
    from executorch.extension.pybindings import portable_lib as pl

    try:
        module = pl._load_for_executorch_from_buffer(data)
    except Exception as e:
        return {"load": f"{type(e).__name__}: {e}"}
    try:
        names = sorted(module.method_names())
    except Exception as e:
        return {"load": "ok", "methods": f"{type(e).__name__}: {e}"}
    out = {"load": "ok", "methods": names, "run": {}}
    for name in sorted(methods):
        try:
            res = module.run_method(name, methods[name][1])
            out["run"][name] = [list(t.shape) for t in res]
        except Exception as e:
            out["run"][name] = f"{type(e).__name__}: {e}"
    return out


# ------------------------------------------------------------------ variants


def replace_once(data, old, new, what):
    """DATA with the one occurrence of OLD replaced by NEW (same length)."""
    assert len(old) == len(new), what
    at = data.find(old)
    assert at >= 0 and data.find(old, at + 1) < 0, f"{what}: {old!r} is not found exactly once"
    return data[:at] + new + data[at + len(old):], at


def fb_string(s):
    """A flatbuffer string as written: u32 length, bytes, NUL."""
    return struct.pack("<I", len(s)) + s + b"\0"


def rename_string(data, old, new, what):
    """Rename a flatbuffer string in place to one of the same or a shorter
    length (its length field changed, NUL after it; the rest is padding)."""
    assert len(new) <= len(old)
    body = new + b"\0" * (len(old) - len(new))
    return replace_once(data, fb_string(old), struct.pack("<I", len(new)) + body + b"\0", what)


def variants(files):
    """(file, description, expected verdict, edit, bytes) for each variant."""
    from executorch.exir._serialize._program import _flatbuffer_to_program, _get_extended_header

    mlp, xnn = files["mlp.pte"], files["xnnpack.pte"]
    out = []
    d, at = rename_string(mlp, b"aten::relu", b"evil::relu", "evil namespace")
    out.append(("evil_namespace.pte", "mlp.pte with aten::relu renamed evil::relu: an operator of a "
                "kernel library outside ExecuTorch", "suspicious",
                f"mlp.pte: the operator name at byte {at} (aten::relu -> evil::relu)", d))
    d, at = rename_string(mlp, b"aten::permute_copy", b"aten::from_file", "from_file")
    out.append(("from_file.pte", "mlp.pte with aten::permute_copy renamed aten::from_file: an "
                "operator that maps a file", "dangerous",
                f"mlp.pte: the operator name at byte {at} (aten::permute_copy -> aten::from_file)", d))
    d, at = rename_string(xnn, b"XnnpackBackend", b"EvilGpuBackend", "backend id")
    out.append(("unknown_backend.pte", "xnnpack.pte with the backend id XnnpackBackend renamed "
                "EvilGpuBackend: a backend ExecuTorch does not ship", "suspicious",
                f"xnnpack.pte: the backend id at byte {at}", d))
    d, at = rename_string(xnn, b"XnnpackBackend", b"CudaBackend", "AOTInductor backend id")
    out.append(("aoti_backend.pte", "xnnpack.pte with the backend id XnnpackBackend renamed "
                "CudaBackend: a backend whose runtime loads a shared library from the program's "
                "data", "dangerous", f"xnnpack.pte: the backend id at byte {at}", d))
    eh = _get_extended_header(mlp)
    cut = eh.program_size // 2
    out.append(("truncated.pte", "mlp.pte cut in the middle of its flatbuffer", "error",
                f"mlp.pte: its first {cut} bytes", mlp[:cut]))
    cut = len(mlp) - 8
    out.append(("segment_cut.pte", "mlp.pte without the last 8 bytes of its constant segment",
                "error", f"mlp.pte: its first {cut} bytes", mlp[:cut]))
    # The delegate's segment: its DataSegment table's size field, found as
    # the one u64 in the flatbuffer equal to the size the Python reader gives.
    eh = _get_extended_header(xnn)
    p = _flatbuffer_to_program(xnn[:eh.program_size])
    seg = p.segments[p.execution_plan[0].delegates[0].processed.index]
    flat, at = replace_once(xnn[:eh.program_size], struct.pack("<Q", seg.size),
                            struct.pack("<Q", 1 << 20), "delegate segment size")
    out.append(("segment_oob.pte", "xnnpack.pte with its delegate segment's size set to 1 MiB, "
                "past the end of the file", "error",
                f"xnnpack.pte: the DataSegment at byte {at} (size {seg.size} -> 1048576)",
                flat + xnn[eh.program_size:]))
    return out


# ------------------------------------------------------------------ external tensor data (.ptd)


def external_programs(out_dir):
    """Programs whose weights live in a tensor data file, written to
    OUT_DIR/external: (pte, ptd, description, state dict, example args)."""
    import torch
    from executorch.exir import ExecutorchBackendConfig, to_edge, to_edge_transform_and_lower
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir.passes.external_constants_pass import (
        delegate_external_constants_pass_unlifted,
    )

    torch.manual_seed(0)
    mlp = models()[0][2]["forward"][0]  # the MLP of mlp.pte, same seed and weights
    x = (torch.randn(2, 4),)
    out = []
    config = ExecutorchBackendConfig(external_constants=lambda node: "mlp_weights")
    prog = to_edge(torch.export.export(mlp, x)).to_executorch(config)
    out.append(("mlp.pte", "mlp_weights.ptd", "the MLP, portable kernels, its weights in a tensor "
                "data file (external_constants): each under its name with its layout", prog))
    gm = torch.export.export(mlp, x).module()
    delegate_external_constants_pass_unlifted(module=gm, gen_tag_fn=lambda node: "xnnpack_weights")
    prog = to_edge_transform_and_lower(torch.export.export(gm, x),
                                       partitioner=[XnnpackPartitioner()]).to_executorch()
    out.append(("xnnpack.pte", "xnnpack_weights.ptd", "the MLP lowered to XNNPACK, its weights "
                "named data of the delegate in a tensor data file: blobs keyed by SHA-256, no layout",
                prog))
    d = os.path.join(out_dir, "external")
    os.makedirs(d, exist_ok=True)
    for pte, ptd, _, prog in out:
        with open(os.path.join(d, pte), "wb") as f:
            f.write(bytes(prog.buffer))
        prog.write_tensor_data_to_file(d)
        assert os.path.exists(os.path.join(d, ptd)), ptd
    return [(pte, ptd, desc) for pte, ptd, desc, _ in out], mlp, x


def ptd_view(data):
    """The tensor data file as ExecuTorch's Python reads it (flatc), or the error."""
    from executorch.extension.flat_tensor.serialize.serialize import (
        _deserialize_to_flat_tensor, _get_extended_header)

    import subprocess

    try:
        h = _get_extended_header(data)
        ft = _deserialize_to_flat_tensor(data[:h.flatbuffer_offset + h.flatbuffer_size])
    except subprocess.CalledProcessError as e:  # flatc's command line names a temporary folder
        return {"error": f"flatc refused the flatbuffer (exit {e.returncode})"}
    except Exception as e:  # the reader's own refusal is what is recorded
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    named = []
    for n in ft.named_data:
        layout = None
        if n.tensor_layout is not None:
            t = n.tensor_layout
            layout = {"scalar_type": int(t.scalar_type), "sizes": list(t.sizes),
                      "dim_order": list(t.dim_order)}
        named.append({"key": n.key, "segment_index": n.segment_index, "tensor_layout": layout})
    return {"header": {"flatbuffer_offset": h.flatbuffer_offset, "flatbuffer_size": h.flatbuffer_size,
                       "segment_base_offset": h.segment_base_offset,
                       "segment_data_size": h.segment_data_size},
            "version": ft.version, "segments": [[g.offset, g.size] for g in ft.segments],
            "named_data": named}


def run_with_data(pte_path, ptd_path, module, args):
    """ExecuTorch's C++ runtime on the program and its data file: the output,
    compared with the eager module's, or the error it raised."""
    import torch
    from executorch.extension.pybindings import portable_lib as pl

    try:
        m = pl._load_for_executorch(pte_path, ptd_path)
        got = m.run_method("forward", args)
    except Exception as e:
        return {"load": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    want = module(*args)
    return {"load": "ok", "output_shapes": [list(t.shape) for t in got],
            "matches_eager": bool(torch.allclose(got[0], want, atol=1e-6))}


def tensor_digest(t):
    import torch

    t = t.detach().contiguous()
    data = t.flatten().view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
            "sha256": hashlib.sha256(data).hexdigest()}


def ptd_variants(data):
    """(file, description, expected verdict, edit, bytes) for each variant of
    mlp_weights.ptd."""
    from executorch.extension.flat_tensor.serialize.serialize import _get_extended_header

    h = _get_extended_header(data)
    out = []
    cut = len(data) - 4
    out.append(("segment_cut.ptd", "mlp_weights.ptd without the last 4 bytes of its last segment",
                "error", f"mlp_weights.ptd: its first {cut} bytes", data[:cut]))
    cut = h.flatbuffer_offset + h.flatbuffer_size // 2
    out.append(("truncated.ptd", "mlp_weights.ptd cut in the middle of its flatbuffer", "error",
                f"mlp_weights.ptd: its first {cut} bytes", data[:cut]))
    # The first rank-2 dim_order, [0, 1] -> [0, 2]: a u32 length 2, then the bytes.
    old = struct.pack("<I", 2) + bytes([0, 1])
    at = data.find(old)
    assert at >= 0, "a dim_order vector"
    d = data[:at] + struct.pack("<I", 2) + bytes([0, 2]) + data[at + len(old):]
    out.append(("bad_dim_order.ptd", "mlp_weights.ptd with a dim_order naming dimension 2 of a "
                "rank-2 tensor", "error", f"mlp_weights.ptd: the dim_order at byte {at} ([0, 1] -> [0, 2])", d))
    return out


def write_external(out_dir):
    """OUT_DIR/external: programs and their tensor data files, what ExecuTorch
    reads in each and what its runtime does with them, and broken copies."""
    files, mlp, x = external_programs(out_dir)
    d = os.path.join(out_dir, "external")
    state = {k: tensor_digest(v) for k, v in mlp.state_dict().items()}
    manifest = []
    for pte, ptd, description in files:
        data = open(os.path.join(d, ptd), "rb").read()
        manifest.append({"pte": pte, "ptd": ptd, "description": description,
                         "data": ptd_view(data),
                         "runtime": run_with_data(os.path.join(d, pte), os.path.join(d, ptd), mlp, x),
                         "state_dict": state})
    os.makedirs(os.path.join(d, "variants"), exist_ok=True)
    vmanifest = []
    weights = open(os.path.join(d, "mlp_weights.ptd"), "rb").read()
    for file, description, expected, edit, data in ptd_variants(weights):
        path = os.path.join(d, "variants", file)
        with open(path, "wb") as f:
            f.write(data)
        vmanifest.append({"file": file, "description": description, "edit": edit,
                          "expected": expected, "data": ptd_view(data),
                          "runtime": run_with_data(os.path.join(d, "mlp.pte"), path, mlp, x)})
    for path, m in ((os.path.join(d, "manifest.json"), manifest),
                    (os.path.join(d, "variants", "manifest.json"), vmanifest)):
        with open(path, "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")


# ------------------------------------------------------------------ byte flips


FLIPPED = ("mlp.pte", "xnnpack_inline.pte", "methods.pte")


def runtime_loads(data):
    """What `_load_program_from_buffer` (InternalConsistency) does with DATA,
    in a child process (the bindings abort the process on some programs):
    1 loaded, 0 refused, -1 the process died, -2 refused for want of memory
    (a planned buffer the bindings cannot allocate: a limit of theirs, not a
    verdict on the format)."""
    from executorch.extension.pybindings import portable_lib as pl

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            pl._load_program_from_buffer(data, program_verification=pl.Verification.InternalConsistency)
            code = b"1"
        except Exception as e:
            code = b"-2" if "bad_alloc" in str(e) else b"0"
        os.write(w, code)
        os._exit(0)
    os.close(w)
    got = os.read(r, 8)
    os.close(r)
    os.waitpid(pid, 0)
    return int(got) if got else -1


def write_flips(out_dir):
    import logging

    from executorch.exir._serialize._program import _get_extended_header

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    out = {}
    for name in FLIPPED:
        with open(os.path.join(out_dir, name), "rb") as f:
            data = f.read()
        res = []
        for i in range(_get_extended_header(data).program_size):
            b = bytearray(data)
            b[i] ^= 0xFF
            res.append(runtime_loads(bytes(b)))
        out[name] = res
    with open(os.path.join(out_dir, "runtime_flips.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


# ------------------------------------------------------------------ main


def write_all(out_dir):
    import logging

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    os.makedirs(os.path.join(out_dir, "variants"), exist_ok=True)
    manifest, files, inputs = [], {}, {}
    for file, description, methods, lowering, config in models():
        data = export_pte(methods, lowering, config)
        files[file] = data
        inputs[file] = methods
        with open(os.path.join(out_dir, file), "wb") as f:
            f.write(data)
        manifest.append({"file": file, "description": description,
                         "program": program_view(data), "runtime": runtime_view(data, methods)})
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    vmanifest = []
    for file, description, expected, edit, data in variants(files):
        with open(os.path.join(out_dir, "variants", file), "wb") as f:
            f.write(data)
        source = "xnnpack.pte" if edit.startswith("xnnpack") else "mlp.pte"
        vmanifest.append({"file": file, "description": description, "edit": edit,
                          "expected": expected, "program": program_view(data),
                          "runtime": runtime_view(data, inputs[source])})
    with open(os.path.join(out_dir, "variants", "manifest.json"), "w") as f:
        json.dump(vmanifest, f, indent=1)
        f.write("\n")
    write_external(out_dir)


def main():
    # The runtime logs to stderr from C++; the fixtures are what is compared.
    if len(sys.argv) == 3 and sys.argv[1] == "--flips":
        write_flips(sys.argv[2])
        print(f"wrote {sys.argv[2]}/runtime_flips.json")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        fx.fixed_hash_seed(0)
        sys.exit(fx.check_dir(write_all, sys.argv[2], ignore=("runtime_flips.json",)))
    fx.generator_main(write_all, __doc__)


if __name__ == "__main__":
    main()
