#!/usr/bin/env python3
"""Checkpoint folders as the PyTorch-family libraries write them, for folder
conversion and scanning tests.

Usage: gen_family_fixtures.py OUT_DIR
       gen_family_fixtures.py --check DIR   (exit 1 unless DIR holds exactly the
                                            files this script writes, byte for byte)

Run it with the venv python (scripts/lib/venv.sh: transformers, tokenizers,
accelerate and torch pinned by scripts/requirements.lock).

What it writes (all tiny, CPU, fixed seeds):

  hf-trainer/checkpoint-1/   what `transformers.Trainer` saves after one
                             training step of a two-label BERT with one layer
                             (hidden size 8) and a word-level tokenizer of 7
                             tokens: config.json, model.safetensors,
                             training_args.bin (TrainingArguments, pickled by
                             torch.save, with enum members and accelerate's
                             PartialState), optimizer.pt, scheduler.pt,
                             rng_state.pth (Python, NumPy and torch random
                             states: a NumPy array inside), trainer_state.json,
                             tokenizer.json, tokenizer_config.json. Logging is
                             off, so no timing lands in trainer_state.json.

  pandas/frame.pkl.{zip,tar.gz,gz,bz2,xz}
                             `DataFrame.to_pickle` with each compression
                             pandas infers from the extension
                             (`read_pickle` opens them the same way).
  sb3/ppo_cartpole.zip       `stable_baselines3.PPO("MlpPolicy",
                             "CartPole-v1").save(...)`: the `data` JSON with
                             base64 cloudpickles, policy.pth,
                             policy.optimizer.pth, pytorch_variables.pth.
                             Its system_info.txt (OS, versions, GPU) is
                             replaced by a fixed text and the memory
                             addresses in the data JSON's reprs by 0x0, so
                             that the file does not depend on the machine
                             or the run.
  torchserve/tiny.mar        `torch-model-archiver` of a state dict with a
                             handler and a requirements file; the
                             manifest's createdOn is fixed.
  torch-package/tinynet.pt   `torch.package.PackageExporter` of a model whose
                             class's module is interned (packaged as source).
  ultralytics/yolo-tiny.pt   `ultralytics.YOLO(config).save(...)` of a
                             two-class detector built from a tiny model
                             configuration (no download): the whole
                             DetectionModel pickled, with its names, yaml,
                             stride and args; its `date` is ZIP_TIME.
  nemo/asr_tiny.nemo         the layout NeMo's SaveRestoreConnector writes
                             (an uncompressed tar of ./model_config.yaml
                             and ./model_weights.ckpt), made here with
                             tarfile and torch.save: nemo_toolkit is not in
                             the fixture venv.

The Trainer writes into a temporary directory, then the folder is copied; its
files carry no time stamps (torch's ZIP writer and safetensors write none).
Everything else is written under a frozen clock (ZIP_TIME).
"""

import os
import re
import shutil
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

VOCAB = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4, "b": 5, "c": 6}


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def hf_trainer_checkpoint(out_dir):
    """One Trainer step, saved: the checkpoint-1 folder."""
    import torch
    import transformers
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    transformers.logging.set_verbosity_error()

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"input_ids": torch.tensor([2, 4 + i % 3, 3]),
                    "attention_mask": torch.ones(3, dtype=torch.long), "labels": torch.tensor(i % 2)}

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=8, max_position_embeddings=16, num_labels=2)
    model = BertForSequenceClassification(config)
    with tempfile.TemporaryDirectory(prefix="airlock-trainer-") as tmp:
        args = TrainingArguments(output_dir=tmp, max_steps=1, save_steps=1, per_device_train_batch_size=2,
                                 report_to="none", seed=0, use_cpu=True, logging_strategy="no",
                                 disable_tqdm=True)
        Trainer(model=model, args=args, train_dataset=Rows(), processing_class=tokenizer()).train()
        # output_dir is recorded in training_args.bin: a fixed name instead of
        # the temporary one.
        saved = os.path.join(tmp, "checkpoint-1")
        dest = os.path.join(out_dir, "hf-trainer", "checkpoint-1")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(saved, dest)
    return os.path.join(out_dir, "hf-trainer", "checkpoint-1")


ZIP_TIME = "2026-12-07T10:00:00Z"


def pandas_pickles(out_dir):
    import pandas as pd

    folder = os.path.join(out_dir, "pandas")
    os.makedirs(folder, exist_ok=True)
    frame = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.9, 0.5, 0.25], "tag": ["a", "b", "c"]})
    for ext in ("zip", "tar.gz", "gz", "bz2", "xz"):
        frame.to_pickle(os.path.join(folder, f"frame.pkl.{ext}"))


def sb3_model(out_dir):
    import zipfile

    from stable_baselines3 import PPO

    folder = os.path.join(out_dir, "sb3")
    os.makedirs(folder, exist_ok=True)
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, seed=0, device="cpu",
                policy_kwargs={"net_arch": [8]})
    tmp = os.path.join(folder, "tmp.zip")
    model.save(tmp)
    path = os.path.join(folder, "ppo_cartpole.zip")
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "system_info.txt":
                data = b"- OS: fixed by gen_family_fixtures.py\n"
            elif info.filename == "data":
                # The human-readable reprs next to each :serialized: value
                # carry memory addresses.
                data = re.sub(rb" at 0x[0-9a-f]+", b" at 0x0", data)
            dst.writestr(info, data)
    os.remove(tmp)


def torchserve_archive(out_dir):
    import json
    import subprocess
    import zipfile

    import torch

    folder = os.path.join(out_dir, "torchserve")
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="airlock-mar-") as tmp:
        torch.manual_seed(0)
        torch.save(torch.nn.Linear(4, 2).state_dict(), os.path.join(tmp, "weights.pt"))
        with open(os.path.join(tmp, "handler.py"), "w") as f:
            f.write("from ts.torch_handler.base_handler import BaseHandler\n\n\n"
                    "class TinyHandler(BaseHandler):\n    pass\n")
        with open(os.path.join(tmp, "requirements.txt"), "w") as f:
            f.write("numpy\n")
        archiver = os.path.join(os.path.dirname(sys.executable), "torch-model-archiver")
        subprocess.run([archiver, "--model-name", "tiny", "--version", "1.0",
                        "--serialized-file", "weights.pt", "--handler", "handler.py",
                        "--requirements-file", "requirements.txt", "--export-path", tmp],
                       cwd=tmp, check=True, capture_output=True)
        made = os.path.join(tmp, "tiny.mar")
        with zipfile.ZipFile(made) as src, zipfile.ZipFile(os.path.join(folder, "tiny.mar"), "w",
                                                            zipfile.ZIP_DEFLATED) as dst:
            for info in sorted(src.infolist(), key=lambda i: i.filename):
                data = src.read(info.filename)
                if info.filename == "MAR-INF/MANIFEST.json":
                    manifest = json.loads(data)
                    manifest["createdOn"] = "07/12/2026 10:00:00"
                    data = json.dumps(manifest, indent=4).encode()
                dst.writestr(info.filename, data)


NEMO_CONFIG = """\
target: nemo.collections.asr.models.ctc_models.EncDecCTCModel
nemo_version: 2.4.0
sample_rate: 16000
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  features: 8
encoder:
  _target_: nemo.collections.asr.modules.ConvASREncoder
  feat_in: 8
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  feat_in: 8
  num_classes: 3
"""


def nemo_archive(out_dir):
    import io
    import tarfile

    import torch

    folder = os.path.join(out_dir, "nemo")
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    weights = io.BytesIO()
    torch.save({"encoder.weight": torch.randn(8, 8), "decoder.weight": torch.randn(3, 8)}, weights)
    with tarfile.open(os.path.join(folder, "asr_tiny.nemo"), "w:", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("./model_config.yaml", NEMO_CONFIG.encode()),
                           ("./model_weights.ckpt", weights.getvalue())):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))


TINYNET = """\
import torch


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""


def torch_package(out_dir):
    """A model class packaged with its instance, as torch.package's docs
    show: `intern` the model's module, `extern` torch."""
    import importlib

    import torch
    import torch.package

    folder = os.path.join(out_dir, "torch-package")
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="airlock-package-") as src:
        with open(os.path.join(src, "tinynet.py"), "w") as f:
            f.write(TINYNET)
        sys.path.insert(0, src)
        try:
            tinynet = importlib.import_module("tinynet")
            torch.manual_seed(0)
            with torch.package.PackageExporter(os.path.join(folder, "tinynet.pt")) as e:
                e.extern("torch.**")
                e.intern("tinynet")
                e.save_pickle("model", "model.pkl", tinynet.TinyNet())
        finally:
            sys.path.remove(src)
            sys.modules.pop("tinynet", None)


# A YOLOv8-style detector two classes wide, small enough to commit: the
# ultralytics model configuration format, with a width that rounds every
# layer down to 8 channels and one detection level.
YOLO_TINY = """\
nc: 2
scales:
  n: [0.33, 0.0625, 64]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, C2f, [128, True]]
  - [-1, 1, SPPF, [128, 5]]
head:
  - [[3], 1, Detect, [nc]]
"""


def ultralytics_model(out_dir):
    """`YOLO(config).save(...)`: the whole DetectionModel pickled in half
    precision, with names, yaml, stride and args on it; its `date` is the
    frozen clock's."""
    import datetime

    folder = os.path.join(out_dir, "ultralytics")
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="airlock-yolo-") as tmp:
        config = os.path.join(tmp, "yolo-tiny.yaml")
        with open(config, "w") as f:
            f.write(YOLO_TINY)
        import torch
        from ultralytics import YOLO

        torch.manual_seed(0)
        model = YOLO(config)
        model.model.names = {0: "cat", 1: "dog"}
        model.model.args["model"] = "yolo-tiny.yaml"
        model.model.yaml["yaml_file"] = "yolo-tiny.yaml"
        real = datetime.datetime

        class Frozen(real):
            @classmethod
            def now(cls, tz=None):
                return real.fromisoformat(ZIP_TIME.replace("Z", "+00:00"))

        datetime.datetime = Frozen
        try:
            model.save(os.path.join(folder, "yolo-tiny.pt"))
        finally:
            datetime.datetime = real


def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    warnings.simplefilter("ignore")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    folder = hf_trainer_checkpoint(out_dir)
    fixed_output_dir(folder)
    with fx.frozen_clock(ZIP_TIME):
        pandas_pickles(out_dir)
        sb3_model(out_dir)
        torchserve_archive(out_dir)
        nemo_archive(out_dir)
        torch_package(out_dir)
        ultralytics_model(out_dir)
    for dirpath, _, files in os.walk(out_dir):
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)


def fixed_output_dir(folder):
    """Rewrite training_args.bin with output_dir "out" (the Trainer ran in a
    temporary directory, whose name would change every run)."""
    import torch

    path = os.path.join(folder, "training_args.bin")
    args = torch.load(path, weights_only=False)
    args.output_dir = "out"
    torch.save(args, path)


if __name__ == "__main__":
    fx.generator_main(write_all, __doc__)
