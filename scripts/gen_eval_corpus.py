#!/usr/bin/env python3
"""Write the evaluation corpus's own files: realistic benign checkpoints and
malformed files, made by the real producers.

The side-by-side evaluation (scripts/compare.sh) scores scanners on four
labelled groups. Two of them come from elsewhere in the repository: the small
torch fixtures of tests/fixtures/torch (every dtype, container, protocol and
tensor kind torch writes) and the malicious fixtures of
tests/fixtures/malicious (every attack technique, harmless payloads). This
script adds what those lack:

* benign files shaped like the ones people download: model state dicts with
  BatchNorm counters and tied embeddings, training checkpoints with optimizer
  and scheduler state, Hugging Face style ``pytorch_model.bin``, Lightning
  style ``.ckpt``, half-precision models, the legacy format, safetensors,
  numeric NumPy arrays;
* benign files the safe loaders refuse (what people "fix" with
  ``weights_only=False``): numpy scalars and arrays, ``argparse.Namespace``,
  omegaconf configs, ``pathlib`` paths, whole ``nn.Module`` pickles, object
  arrays, a scikit-learn joblib dump;
* malformed files: truncated, emptied, corrupted or lying containers made
  from those benign files.

Each file is declared with the group it is meant to be in and the loader
that reads it; scripts/verify_eval_corpus.py then loads every file of the
corpus in throw-away processes and labels it by what the loader really does,
and fails if that differs from the declaration. Nothing here is unpickled.

Usage: gen_eval_corpus.py OUT_DIR          (OUT_DIR is eval/corpus in the repo)
       gen_eval_corpus.py --check OUT_DIR  (exit 1 unless OUT_DIR holds what
                                           this writes)

The ZIP members written here (not by torch) carry ZIP_TIME, when the committed
files were first written. The two legacy-format files cannot be written twice
the same (torch keys their storages by memory address, which also orders the
storage records): --check compares legacy_format.pt up to the addresses, and
legacy_truncated.pt by its length, its pickles up to the addresses and the
storage records both copies hold whole; every other file byte for byte.
Writes OUT_DIR/<group>/<file> and OUT_DIR/manifest.json, a list of
{"file", "group", "loader", "description"} with "file" relative to OUT_DIR.
"""

import argparse
import collections
import io
import json
import os
import pathlib
import pickle
import shutil
import struct
import sys
import warnings
import zipfile

warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

ZIP_TIME = "2026-11-26T17:08:42Z"

GROUPS = ("benign-wo", "benign-refused", "malformed")


class Corpus:
    def __init__(self, out):
        self.out = out
        self.entries = []
        for g in GROUPS:
            os.makedirs(os.path.join(out, g), exist_ok=True)

    def path(self, group, name):
        assert group in GROUPS
        return os.path.join(self.out, group, name)

    def add(self, group, name, loader, description):
        rel = f"{group}/{name}"
        assert os.path.exists(os.path.join(self.out, rel)), rel
        assert rel not in {e["file"] for e in self.entries}, rel
        self.entries.append({"file": rel, "group": group, "loader": loader, "description": description})

    def save(self, group, name, obj, description, **kw):
        torch.save(obj, self.path(group, name), **kw)
        self.add(group, name, "torch.load", description)

    def raw(self, group, name, data, loader, description):
        with open(self.path(group, name), "wb") as fh:
            fh.write(data)
        self.add(group, name, loader, description)


def seeded():
    torch.manual_seed(0)
    np.random.seed(0)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.head = nn.Linear(16, 10)


class TinyGPT(nn.Module):
    def __init__(self, vocab=256, dim=64, layers=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(64, dim)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, 4, 4 * dim, batch_first=True) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as GPT-2 does


def benign_wo(c):
    seeded()
    resnet = TinyResNet()
    c.save("benign-wo", "resnet_state_dict.pth", resnet.state_dict(),
           "CNN state dict with BatchNorm running stats and num_batches_tracked counters")
    gpt = TinyGPT()
    c.save("benign-wo", "pytorch_model.bin", gpt.state_dict(),
           "Hugging Face style pytorch_model.bin: transformer with tied input/output embeddings")
    c.save("benign-wo", "model_fp16.pt", {k: v.half() for k, v in gpt.state_dict().items()},
           "half-precision state dict")
    c.save("benign-wo", "model_bf16.pt", {k: v.bfloat16() for k, v in resnet.state_dict().items()},
           "bfloat16 state dict")
    opt = torch.optim.AdamW(resnet.parameters(), lr=1e-3)
    loss = sum(p.sum() for p in resnet.parameters())
    loss.backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)
    c.save("benign-wo", "training_checkpoint.pt", {
        "epoch": 12, "global_step": 4800, "model": resnet.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "best_val_loss": 0.4213, "rng_state": torch.get_rng_state(),
        "config": {"lr": 1e-3, "batch_size": 64, "arch": "tiny-resnet", "augment": ["flip", "crop"]},
    }, "training checkpoint: model, AdamW and StepLR state, RNG state, plain config dict")
    c.save("benign-wo", "lightning_style.ckpt", {
        "epoch": 3, "global_step": 1200, "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in resnet.state_dict().items()},
        "optimizer_states": [opt.state_dict()], "lr_schedulers": [sched.state_dict()],
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": {
            "best_model_score": torch.tensor(0.42), "best_model_path": "checkpoints/epoch=3.ckpt"}},
        "hyper_parameters": {"lr": 1e-3, "hidden": 64, "dropout": 0.1, "name": "tiny"},
    }, "PyTorch Lightning style .ckpt with plain hyper-parameters")
    c.save("benign-wo", "legacy_format.pt", resnet.state_dict(),
           "state dict in the legacy (pre-1.6, non-ZIP) format", _use_new_zipfile_serialization=False)
    lora = {f"base_model.model.layers.{i}.self_attn.{p}_proj.lora_{ab}.weight":
            torch.randn((8, 64) if ab == "A" else (64, 8)) for i in range(2) for p in "qv" for ab in "AB"}
    c.save("benign-wo", "adapter_model.bin", lora, "PEFT/LoRA adapter weights")
    c.save("benign-wo", "tensor_list.pt", [torch.randn(4, 4) for _ in range(3)] + [torch.arange(10)],
           "list of tensors")
    c.save("benign-wo", "ema_checkpoint.pth", {"ema": gpt.state_dict(), "decay": 0.999, "updates": 10000,
                                                 "shapes": [tuple(v.shape) for v in gpt.state_dict().values()]},
           "EMA weights with tuples of shapes")
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in resnet.state_dict().items()},
              c.path("benign-wo", "model.safetensors"), metadata={"format": "pt"})
    c.add("benign-wo", "model.safetensors", "safetensors", "safetensors file with a metadata header")
    np.save(c.path("benign-wo", "embeddings.npy"), np.random.rand(100, 32).astype(np.float32))
    c.add("benign-wo", "embeddings.npy", "numpy.load", "float32 NumPy array")
    np.savez_compressed(c.path("benign-wo", "features.npz"), x=np.random.rand(20, 8), y=np.arange(20),
                        mask=np.random.rand(20) > 0.5)
    c.add("benign-wo", "features.npz", "numpy.load-npz", "compressed .npz of numeric arrays")


def benign_refused(c):
    seeded()
    resnet = TinyResNet()
    sd = resnet.state_dict()
    c.save("benign-refused", "ckpt_numpy_scalar.pt", {"model": sd, "best_acc": np.float64(0.9312), "epoch": np.int64(40)},
           "checkpoint with numpy scalars (weights_only: Unsupported global numpy.core.multiarray.scalar)")
    c.save("benign-refused", "ckpt_numpy_arrays.pt", {"model": sd, "mean": np.array([0.485, 0.456, 0.406]),
                                                        "std": np.array([0.229, 0.224, 0.225])},
           "checkpoint with numpy normalisation arrays (numpy.core.multiarray._reconstruct)")
    args = argparse.Namespace(lr=0.01, epochs=90, arch="resnet18", data="/data/imagenet", workers=8)
    c.save("benign-refused", "ckpt_namespace_args.pth", {"state_dict": sd, "args": args, "epoch": 90},
           "checkpoint with argparse.Namespace training arguments")
    from omegaconf import OmegaConf
    cfg = OmegaConf.create({"model": {"dim": 64, "layers": [1, 2, 3]}, "optim": {"lr": 3e-4}})
    c.save("benign-refused", "ckpt_omegaconf.pt", {"state_dict": sd, "cfg": cfg},
           "checkpoint with an omegaconf DictConfig/ListConfig (Hydra projects)")
    c.save("benign-refused", "ckpt_pathlib.pt", {"model": sd, "output_dir": pathlib.PurePosixPath("runs/exp1")},
           "checkpoint with a pathlib path")
    dd = collections.defaultdict(list)
    dd["train"].append(1.0)
    c.save("benign-refused", "ckpt_defaultdict.pt", {"model": sd, "history": dd},
           "checkpoint with a collections.defaultdict of metrics")
    c.save("benign-refused", "whole_model.pt", nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
           "torch.save(model) of an nn.Sequential (whole module pickle)")
    np.save(c.path("benign-refused", "labels.npy"), np.array(["cat", "dog", None], dtype=object), allow_pickle=True)
    c.add("benign-refused", "labels.npy", "numpy.load", "NumPy object array of strings (needs allow_pickle)")
    import joblib
    from sklearn.linear_model import LogisticRegression
    X = np.random.rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    joblib.dump(LogisticRegression().fit(X, y), c.path("benign-refused", "classifier.joblib"))
    c.add("benign-refused", "classifier.joblib", "joblib.load", "scikit-learn model dumped with joblib")


def malformed(c):
    seeded()
    sd = TinyResNet().state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    zip_bytes = buf.getvalue()
    buf = io.BytesIO()
    torch.save(sd, buf, _use_new_zipfile_serialization=False)
    legacy_bytes = buf.getvalue()
    plain = pickle.dumps({"lr": 0.1, "layers": [1, 2, 3], "name": "x"}, protocol=4)

    c.raw("malformed", "empty.pt", b"", "torch.load", "empty file")
    c.raw("malformed", "text.pt", b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1234\n",
          "torch.load", "Git LFS pointer saved under a model name")
    rnd = np.random.RandomState(7).bytes(4096)
    c.raw("malformed", "random.bin", rnd, "torch.load", "4 KiB of random bytes")
    c.raw("malformed", "truncated_half.pt", zip_bytes[: len(zip_bytes) // 2], "torch.load",
          "ZIP checkpoint cut in half (interrupted download)")
    c.raw("malformed", "truncated_tail.pt", zip_bytes[:-10], "torch.load", "ZIP checkpoint missing its last 10 bytes")
    # The end-of-central-directory record's offset of the central directory, pointed past the end.
    eocd = zip_bytes.rfind(b"PK\x05\x06")
    bad = bytearray(zip_bytes)
    struct.pack_into("<I", bad, eocd + 16, len(zip_bytes) + 1000)
    c.raw("benign-wo", "zip_directory_offset_wrong.pt", bytes(bad), "torch.load",
          "central directory offset pointing past the end: torch (like Python's zipfile) finds the "
          "directory from the end record and loads the file")
    # A ZIP checkpoint whose data.pkl is missing.
    zin = zipfile.ZipFile(io.BytesIO(zip_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if not info.filename.endswith("/data.pkl"):
                zout.writestr(info.filename, zin.read(info))
    c.raw("malformed", "zip_no_data_pkl.pt", out.getvalue(), "torch.load", "ZIP checkpoint without data.pkl")
    # A storage record removed.
    out = io.BytesIO()
    names = [i.filename for i in zin.infolist()]
    victim = next(n for n in names if "/data/" in n)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if info.filename != victim:
                zout.writestr(info.filename, zin.read(info))
    c.raw("malformed", "zip_missing_storage.pt", out.getvalue(), "torch.load",
          "ZIP checkpoint whose pickle references a storage record that is not there")
    # data.pkl cut short inside the archive.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data.pkl"):
                data = data[: len(data) // 2]
            zout.writestr(info.filename, data)
    c.raw("malformed", "zip_truncated_pickle.pt", out.getvalue(), "torch.load",
          "ZIP checkpoint whose data.pkl is cut in half")
    c.raw("malformed", "legacy_truncated.pt", legacy_bytes[: len(legacy_bytes) * 2 // 3], "torch.load",
          "legacy-format checkpoint cut inside its storage data")
    c.raw("malformed", "pickle_no_stop.pkl", plain[:-1], "torch.load", "pickle without its STOP opcode")
    c.raw("malformed", "pickle_bad_opcode.pkl", plain[:20] + b"\xff" + plain[20:], "torch.load",
          "data pickle with an invalid opcode in the middle")
    # .npy whose header promises more data than the file holds.
    b = io.BytesIO()
    np.save(b, np.zeros((64, 64), np.float32))
    npy = b.getvalue()
    c.raw("malformed", "npy_short_data.npy", npy[:-1000], "numpy.load", ".npy whose data is shorter than its shape says")
    c.raw("malformed", "npy_bad_header.npy", npy[:10] + npy[10:].replace(b"'descr'", b"'dexcr'", 1),
          "numpy.load", ".npy with a header dict missing 'descr'")
    c.raw("malformed", "npy_bad_version.npy", npy[:6] + b"\x09\x00" + npy[8:], "numpy.load",
          ".npy with an unknown format version")
    # safetensors with a header length beyond the file, and with bad offsets.
    from safetensors.torch import save
    st = save({"w": torch.ones(16, 16)})
    c.raw("malformed", "safetensors_huge_header.safetensors", struct.pack("<Q", 1 << 40) + st[8:],
          "safetensors", "safetensors header length far beyond the file")
    hlen = struct.unpack("<Q", st[:8])[0]
    header = json.loads(st[8:8 + hlen])
    header["w"]["data_offsets"] = [0, 4096]
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    c.raw("malformed", "safetensors_bad_offsets.safetensors", struct.pack("<Q", len(hb)) + hb + st[8 + hlen:],
          "safetensors", "safetensors tensor whose offsets exceed the data")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--check", action="store_true", help="compare OUT with what the script writes")
    args = ap.parse_args()
    if args.check:
        how = {"benign-wo/legacy_format.pt": fx.same_legacy_torch, "malformed/legacy_truncated.pt": same_truncated}
        sys.exit(fx.check_dir(write, args.out, compare=how.get))
    write(args.out)


def same_truncated(fresh, committed):
    a, b = fx.read(fresh), fx.read(committed)
    if len(a) != len(b):
        return f"{len(b)} bytes, the script writes {len(a)}"
    (pa, ra, _), (pb, rb, _) = (fx.legacy_torch_canonical(d, truncated=True) for d in (a, b))
    if pa != pb or any(ra[k] != rb[k] for k in ra.keys() & rb.keys()):
        return "differs beyond the storage address keys"
    return None


def write(out):
    for g in GROUPS:
        shutil.rmtree(os.path.join(out, g), ignore_errors=True)
    c = Corpus(out)
    benign_wo(c)
    benign_refused(c)
    with fx.frozen_clock(ZIP_TIME):
        malformed(c)
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(c.entries, fh, indent=1)
        fh.write("\n")
    print(f"wrote {len(c.entries)} files to {out}", file=sys.stderr)


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    main()
