#!/usr/bin/env python3
"""Write the example files README.md's first command scans, one per verdict.

Benign files come from the real producers (torch, safetensors, pickle, numpy,
joblib with scikit-learn); the
malicious ones are assembled from raw pickle opcodes with a harmless payload
that only prints a token. Nothing here is ever unpickled.

Usage (with torch and safetensors installed, e.g. the venv scripts/test.sh
keeps under ~/.cache/airlock):  gen_examples.py [OUT_DIR]   (default examples/)
                                gen_examples.py --check [OUT_DIR]
(exit 1 unless OUT_DIR holds exactly what this writes). The ZIP members it
writes itself carry ZIP_TIME, when the committed files were first written;
the script runs with PYTHONHASHSEED=HASH_SEED, the seed with which
torch.jit.script names the two Linear classes of torchscript.pt as in the
committed file (which one becomes ___torch_mangle_0 follows str hashing).
"""

import argparse
import io
import os
import pickle
import sys
import warnings
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import airlock_fixtures as fx  # noqa: E402

ZIP_TIME = "2026-11-26T14:23:38Z"
HASH_SEED = 2

warnings.simplefilter("ignore")

PAYLOAD = b"echo AIRLOCK-DEMO-PAYLOAD"


def short_str(s: bytes) -> bytes:
    return b"\x8c" + bytes([len(s)]) + s


def raw_pickles():
    return {
        # Plain data, as a training script might pickle its config and metrics.
        "benign_config.pkl": pickle.dumps(
            {"lr": 3e-4, "layers": [64, 64, 10], "name": "mlp", "seed": 1234, "tags": {"demo"}}, protocol=4
        ),
        # STACK_GLOBAL whose operands come from the memo, with a decoy string
        # pushed and popped: scanners that read operands off the opcode list
        # see "None.system".
        "memo_trick.pkl": b"\x80\x04" + short_str(b"os") + b"\x94" + short_str(b"None") + b"\x940h\x00"
        + short_str(b"system") + b"\x93" + short_str(PAYLOAD) + b"\x85R.",
        # Protocol 0 INST: the class is named inline and called with the
        # items above the mark.
        "inst_protocol0.pkl": b"(S'" + PAYLOAD + b"'\nios\nsystem\n.",
        # The payload runs, then an invalid opcode: some scanners drop every
        # finding when the stream does not parse to the end.
        "payload_then_garbage.pkl": b"\x80\x02cos\nsystem\nX" + len(PAYLOAD).to_bytes(4, "little") + PAYLOAD
        + b"\x85R\xff\xff",
    }


def torch_files(out):
    import numpy as np
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    sd = model.state_dict()
    files = {}

    torch.save(sd, os.path.join(out, "state_dict.pt"))
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(out, "model.safetensors"))
    torch.save({"model": sd, "epoch": 3, "best_loss": np.float64(0.125)}, os.path.join(out, "checkpoint_numpy.pt"))
    torch.save(model, os.path.join(out, "whole_model.pt"))
    torch.jit.save(torch.jit.script(model), os.path.join(out, "torchscript.pt"))

    # A real checkpoint whose data.pkl is replaced by a payload: torch.load
    # with weights_only=False would run `echo`.
    buf = io.BytesIO()
    torch.save(sd, buf)
    payload = b"\x80\x02cposix\nsystem\nX" + len(PAYLOAD).to_bytes(4, "little") + PAYLOAD + b"\x85R."
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with fx.frozen_clock(ZIP_TIME), zipfile.ZipFile(
        os.path.join(out, "malicious_checkpoint.pt"), "w", zipfile.ZIP_STORED
    ) as dst:
        for info in src.infolist():
            data = payload if info.filename.endswith("/data.pkl") else src.read(info.filename)
            dst.writestr(info.filename, data)

    # A checkpoint cut short, as after an interrupted download.
    with open(os.path.join(out, "state_dict.pt"), "rb") as f:
        data = f.read()
    with open(os.path.join(out, "truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])
    return files


def array_files(out):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    np.save(os.path.join(out, "embeddings.npy"), rng.standard_normal((16, 8)).astype(np.float32))

    # A fitted scikit-learn model, as joblib.dump writes it (compressed):
    # loading it runs scikit-learn's code, which you must trust.
    x = rng.standard_normal((40, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    joblib.dump(model, os.path.join(out, "classifier.joblib"), compress=3)

    # An .npz whose "labels" array has object dtype: its body is a pickle
    # that np.load(..., allow_pickle=True) runs. Built from raw bytes.
    def npy(descr, body, shape="(2,)"):
        header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + body

    payload = b"\x80\x02cposix\nsystem\nX" + len(PAYLOAD).to_bytes(4, "little") + PAYLOAD + b"\x85R."
    with zipfile.ZipFile(os.path.join(out, "object_labels.npz"), "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("weights.npy", (1980, 1, 1, 0, 0, 0)), npy("<f4", b"\0" * 8))
        z.writestr(zipfile.ZipInfo("labels.npy", (1980, 1, 1, 0, 0, 0)), npy("|O", payload))


def main():
    fx.fixed_hash_seed(HASH_SEED)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(fx.ROOT, "examples"))
    ap.add_argument("--check", action="store_true", help="compare OUT with what the script writes")
    args = ap.parse_args()
    if args.check:
        return fx.check_dir(write, args.out)
    write(args.out)


def write(out_dir):
    pk = os.path.join(out_dir, "pickles")
    models = os.path.join(out_dir, "models")
    os.makedirs(pk, exist_ok=True)
    os.makedirs(models, exist_ok=True)
    for name, data in raw_pickles().items():
        with open(os.path.join(pk, name), "wb") as f:
            f.write(data)
    torch_files(models)
    arrays = os.path.join(out_dir, "arrays")
    os.makedirs(arrays, exist_ok=True)
    array_files(arrays)
    for d in (pk, models, arrays):
        for name in sorted(os.listdir(d)):
            print(os.path.join(d, name), os.path.getsize(os.path.join(d, name)), "bytes")


if __name__ == "__main__":
    sys.exit(main())
