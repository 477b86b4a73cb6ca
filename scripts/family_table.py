#!/usr/bin/env python3
"""The table of PyTorch-family files in docs/FORMATS.md: for every file the
real libraries wrote (tests/fixtures/family, and the library-object fixtures
of tests/fixtures/torch), what `airlock scan` says, what it predicts for
`torch.load(weights_only=True)`, and whether `airlock convert` rescues it.

Usage: family_table.py [--airlock BIN] [--check]

--check exits 1 unless docs/FORMATS.md holds the table this prints (between
its BEGIN/END markers). Runs only the airlock binary (default
target/debug/airlock): nothing from the files is loaded.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "FORMATS.md")
BEGIN = "<!-- BEGIN family_table.py -->"
END = "<!-- END family_table.py -->"

# (library, file under tests/fixtures, what it is)
FILES = [
    ("transformers", "family/hf-trainer/checkpoint-1", "Trainer checkpoint folder"),
    ("transformers", "torch/hf_training_args.bin", "`training_args.bin` (TrainingArguments)"),
    ("transformers", "torch/cfg_enum_member.pt", "enum members as values"),
    ("Lightning", "torch/cfg_attribute_dict.pt", "`AttributeDict` hyperparameters, `hparams_type` class"),
    ("Python", "torch/cfg_dataclass.pt", "a dataclass config"),
    ("Python", "torch/cfg_slots.pt", "an instance with `__slots__`"),
    ("pandas", "family/pandas/frame.pkl.zip", "`to_pickle`, ZIP"),
    ("pandas", "family/pandas/frame.pkl.tar.gz", "`to_pickle`, tar.gz"),
    ("pandas", "family/pandas/frame.pkl.gz", "`to_pickle`, gzip"),
    ("NeMo (layout)", "family/nemo/asr_tiny.nemo", "`.nemo` (config + weights)"),
    ("Stable-Baselines3", "family/sb3/ppo_cartpole.zip", "`PPO.save`"),
    ("TorchServe", "family/torchserve/tiny.mar", "`torch-model-archiver` `.mar`"),
    ("torch.package", "family/torch-package/tinynet.pt", "`PackageExporter`, model class interned"),
    ("Ultralytics", "family/ultralytics/yolo-tiny.pt", "`YOLO(...).save`: the whole DetectionModel pickled"),
    ("torch.distributed.checkpoint", "dcp/training", "`dcp.save` folder: model, Adam state, values; two writer threads"),
    ("torch.distributed.checkpoint", "dcp/sharded", "`dcp.save` folder of two ranks: sharded and replicated DTensors"),
    ("torch.export", "pt2/buffers_constants.pt2", "`torch.export.save`: buffers, a tensor constant, tied and transposed weights"),
    ("torch.export", "pt2/dynamic.pt2", "`torch.export.save`, dynamic batch size: symbolic sizes and a guard"),
    ("torch.export", "pt2/subclass.pt2", "`torch.export.save`, a tensor-subclass parameter (pickled)"),
    ("torch.export", "pt2/legacy.pt2", "the zipfile layout of torch 2.2 to 2.5"),
    ("torch.export", "pt2/legacy_deflated.pt2", "the same layout, members deflated, a tensor constant"),
    ("ExecuTorch", "pte/mlp.pte", "`to_executorch()`: portable kernels, weights in the constant segment"),
    ("ExecuTorch", "pte/xnnpack.pte", "`to_executorch()`, lowered to the XNNPACK delegate"),
    ("ExecuTorch", "pte/methods.pte", "`to_executorch()`, two methods, a mutable buffer"),
    ("ExecuTorch", "pte/external/mlp.pte", "`to_executorch()` with `external_constants`: the program"),
    ("ExecuTorch", "pte/external/mlp_weights.ptd", "its tensor data file: the weights, named"),
    ("ExecuTorch", "pte/external/xnnpack_weights.ptd", "an XNNPACK program's tensor data file: blobs keyed by SHA-256"),
]


def run(airlock, *args):
    return subprocess.run([airlock, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def scan(airlock, path):
    r = run(airlock, "scan", "--format", "json", "--no-progress", path)
    files = json.loads(r.stdout)["files"]
    verdicts = sorted({f["verdict"] for f in files})
    wo = sorted({str(f.get("weights_only")).lower() for f in files if f.get("weights_only") is not None})
    formats = sorted({f["format"] for f in files})
    return ", ".join(verdicts), ", ".join(wo) or "n/a", ", ".join(formats)


def rescued(airlock, path):
    with tempfile.TemporaryDirectory(prefix="airlock-table-") as tmp:
        out = os.path.join(tmp, "out" if os.path.isdir(os.path.join(ROOT, path)) else "out.safetensors")
        r = run(airlock, "convert", path, "-o", out)
        if r.returncode == 0:
            last = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines())[-1]
            if "converted" in last and "->" not in last:  # a folder's summary line
                return "yes: " + last.removeprefix("airlock: ")
            tensors = last.split("(", 1)[1].split(",")[0] if "(" in last else ""
            return f"yes ({tensors})"
        why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        return "no: " + why.split(": ", 2)[-1][:120]


def table(airlock):
    rows = ["| library | file | what | format | verdict | weights_only | rescued by `convert` |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for lib, rel, what in FILES:
        path = os.path.join("tests", "fixtures", rel)
        verdict, wo, fmt = scan(airlock, path)
        rows.append(f"| {lib} | `{rel}` | {what} | {fmt} | {verdict} | {wo} | {rescued(airlock, path)} |")
    return "\n".join(rows) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--airlock", default=os.path.join(ROOT, "target", "debug", "airlock"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = table(args.airlock)
    if not args.check:
        sys.stdout.write(text)
        return
    doc = open(DOC, encoding="utf-8").read()
    have = doc.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    if have != text:
        sys.stderr.write("docs/FORMATS.md's family table is stale: run scripts/family_table.py and paste it\n")
        sys.exit(1)
    print("docs/FORMATS.md: the family table is up to date")


if __name__ == "__main__":
    main()
