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

The Trainer writes into a temporary directory, then the folder is copied; its
files carry no time stamps (torch's ZIP writer and safetensors write none).
"""

import os
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
        shutil.copytree(saved, os.path.join(out_dir, "hf-trainer", "checkpoint-1"))
    return os.path.join(out_dir, "hf-trainer", "checkpoint-1")


def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    warnings.simplefilter("ignore")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    folder = hf_trainer_checkpoint(out_dir)
    fixed_output_dir(folder)
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


def main():
    fx.fixed_hash_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(fx.check_dir(write_all, sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_all(sys.argv[1])
    print(f"wrote {sys.argv[1]}")


if __name__ == "__main__":
    main()
