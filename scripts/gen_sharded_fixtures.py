#!/usr/bin/env python3
"""A Hugging Face-style sharded checkpoint written by real torch.

Writes OUT_DIR/pytorch_model-00001-of-00002.bin, ...-00002-of-00002.bin and
pytorch_model.bin.index.json the way `transformers`' `save_pretrained`
lays them out (state dict split by size, `torch.save` per shard, an index
mapping each tensor name to its shard, `metadata.total_size`), plus a
config.json that conversion must leave alone.

Usage (venv python): gen_sharded_fixtures.py OUT_DIR
                     gen_sharded_fixtures.py --check DIR  (exit 1 unless DIR
                                          holds exactly what this writes)
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Embedding(16, 8), torch.nn.Linear(8, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 4)
    )
    sd = model.state_dict()
    names = list(sd)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map, total = {}, 0
    for i, part in enumerate(shards, 1):
        fname = f"pytorch_model-{i:05d}-of-{len(shards):05d}.bin"
        torch.save({k: sd[k] for k in part}, os.path.join(out, fname))
        for k in part:
            weight_map[k] = fname
            total += sd[k].numel() * sd[k].element_size()
    with open(os.path.join(out, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model_type": "tiny", "hidden_size": 8}, f)
    print(f"wrote {len(shards)} shards ({total} bytes of tensors) to {out}")


if __name__ == "__main__":
    # Set iteration order (sets and frozensets pickled, dict keys built from
    # sets) follows str hashing: one seed, so every run writes the same bytes.
    fx.fixed_hash_seed(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(fx.check_dir(main, sys.argv[2]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
