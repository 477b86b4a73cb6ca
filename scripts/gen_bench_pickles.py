#!/usr/bin/env python3
"""Write the inputs of the pickle-engine benchmark into a folder.

  state_dict.pkl   data.pkl of a real torch.save() of a 24,000-tensor state
                   dict (names and shapes like a large transformer), a few MB
  million_ints.pkl pickle.dumps(list(range(1_000_000))), protocol 4

Needs torch (scripts/test.sh keeps a venv with it under ~/.cache/airlock).
Usage: gen_bench_pickles.py OUT_DIR

No --check: nothing it writes is committed (the benchmark writes it into a
scratch folder each time).
"""

import io
import os
import pickle
import sys
import zipfile

import torch


def state_dict(layers=2000):
    sd = {}
    for i in range(layers):
        p = f"model.layers.{i}."
        for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                     "mlp.gate_proj", "mlp.up_proj"):
            sd[p + name + ".weight"] = torch.zeros(2, 2)
            sd[p + name + ".bias"] = torch.zeros(2)
    return sd


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state_dict(), buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        data = z.read(name)
    with open(os.path.join(out, "state_dict.pkl"), "wb") as f:
        f.write(data)
    with open(os.path.join(out, "million_ints.pkl"), "wb") as f:
        f.write(pickle.dumps(list(range(1_000_000)), protocol=4))
    for n in ("state_dict.pkl", "million_ints.pkl"):
        print(n, os.path.getsize(os.path.join(out, n)), "bytes")


if __name__ == "__main__":
    main()
