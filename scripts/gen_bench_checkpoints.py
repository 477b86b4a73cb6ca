#!/usr/bin/env python3
"""Write the inputs of the scan benchmark with real torch.

  small/ckpt_0000.pt ... small/ckpt_0999.pt  1,000 small state dicts (a few
                                             tensors each, different shapes)
  large.pt                                   one checkpoint of about 2 GiB
                                             (16 tensors of 128 MiB)

Usage: gen_bench_checkpoints.py OUT_DIR [--large-gib N]

No --check: nothing it writes is committed (the benchmarks write it into a
scratch folder each time).
"""

import argparse
import os
import warnings

warnings.simplefilter("ignore")

import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--large-gib", type=float, default=2.0)
    args = ap.parse_args()
    small = os.path.join(args.out, "small")
    os.makedirs(small, exist_ok=True)
    torch.manual_seed(0)
    for i in range(1000):
        n = 4 + i % 13
        sd = {
            f"layer{j}.weight": torch.randn(n, n + j) for j in range(3)
        } | {f"layer{j}.bias": torch.randn(n) for j in range(3)}
        torch.save(sd, os.path.join(small, f"ckpt_{i:04d}.pt"))
    large = os.path.join(args.out, "large.pt")
    tensors = 16
    per = int(args.large_gib * (1 << 30) / tensors / 4)
    sd = {f"blocks.{k}.weight": torch.ones(per, dtype=torch.float32) for k in range(tensors)}
    torch.save(sd, large)
    print(f"{small}: 1000 files; {large}: {os.path.getsize(large) / (1 << 30):.2f} GiB")


if __name__ == "__main__":
    main()
