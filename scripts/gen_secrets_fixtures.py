#!/usr/bin/env python3
"""Model folders with planted credentials and personal data, and clean
look-alikes, for `airlock secrets`'s tests, written by the real producers:
torch.save (a Lightning-style checkpoint with hyper_parameters, an argparse
namespace), safetensors (metadata), transformers-style JSON configs, a
tokenizer trained by the `tokenizers` package, a notebook, a training log,
a git config, and a private key made by `cryptography`.

Usage: gen_secrets_fixtures.py [OUT_DIR]        (default tests/fixtures/secrets)
       gen_secrets_fixtures.py --check [DIR]    (default tests/fixtures/secrets)

Every planted value is fake: random characters in the provider's documented
format (GitHub tokens with their real CRC32 checksum, so the checksum is
tested), made from a fixed seed. expected.json lists, per file, the kinds a
detector must report; files under clean/ must give none (hashes, UUIDs,
git commit ids, base64 weights, a trained vocabulary, paths of CI runners).

torch.save and the RSA key are not byte-reproducible, so --check compares
by meaning: the same files, the same text files byte for byte, the same
strings in each checkpoint (loaded with weights_only=True and the
namespace allowed), the same safetensors metadata, and a key that parses.
Run it with the project venv's python.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import string
import sys
import tempfile
import uuid
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def rnd(r, n, alphabet=string.ascii_letters + string.digits):
    return "".join(r.choice(alphabet) for _ in range(n))


def github_token(r, prefix="ghp_"):
    body = rnd(r, 30)
    crc = zlib.crc32(body.encode()) & 0xFFFFFFFF
    digits = ""
    while crc:
        crc, d = divmod(crc, 62)
        digits = B62[d] + digits
    return prefix + body + digits.rjust(6, "0")


def tokens(r):
    return {
        "huggingface-token": "hf_" + rnd(r, 34, string.ascii_letters),
        "wandb-api-key": rnd(r, 40, "0123456789abcdef"),
        "openai-key": "sk-proj-" + rnd(r, 58, string.ascii_letters + string.digits + "_-") + "T3BlbkFJ" + rnd(r, 58, string.ascii_letters + string.digits + "_-"),
        "anthropic-key": "sk-ant-api03-" + rnd(r, 93, string.ascii_letters + string.digits + "_-") + "AA",
        "github-token": github_token(r),
        "gitlab-token": "glpat-" + rnd(r, 20, string.ascii_letters + string.digits + "_-"),
        "aws-access-key-id": "AKIA" + rnd(r, 16, string.ascii_uppercase + "234567"),
        "aws-secret-access-key": rnd(r, 40, string.ascii_letters + string.digits + "+/"),
        "slack-token": "xoxb-" + rnd(r, 12, string.digits) + "-" + rnd(r, 13, string.digits) + "-" + rnd(r, 24),
        "stripe-key": "sk_live_" + rnd(r, 24),
    }


def jwt(r):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return enc({"alg": "HS256", "typ": "JWT"}) + "." + enc({"sub": "svc-trainer", "iat": 1700000000}) + "." + rnd(r, 43, string.ascii_letters + string.digits + "_-")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def planted(out, r, expected):
    import torch
    from safetensors.torch import save_file

    t = tokens(r)
    d = os.path.join(out, "planted")
    os.makedirs(d, exist_ok=True)
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    torch.save({
        "state_dict": {"layer.weight": w},
        "hyper_parameters": {"lr": 0.001, "wandb_api_key": t["wandb-api-key"], "hf_token": t["huggingface-token"],
                             "data_dir": "/home/alice/datasets/reviews"},
        "pytorch-lightning_version": "2.4.0",
    }, os.path.join(d, "lightning.ckpt"))
    expected["planted/lightning.ckpt"] = ["wandb-api-key", "huggingface-token", "user-path"]
    ns = argparse.Namespace(openai_api_key=t["openai-key"], lr=0.01,
                            db_url="postgresql://trainer:Vq3-kd9Lw2xPz@db.corp.internal:5432/runs")
    torch.save({"args": ns, "model": {"w": w}}, os.path.join(d, "argparse.pt"))
    # The host is inside the URL's span: one finding, the URL.
    expected["planted/argparse.pt"] = ["openai-key", "database-url"]
    save_file({"w": w}, os.path.join(d, "model.safetensors"),
              metadata={"format": "pt", "upload_token": t["github-token"], "author": "carol.nguyen@mailbox.org"})
    expected["planted/model.safetensors"] = ["github-token", "email"]
    write(os.path.join(d, "config.json"), json.dumps({
        "architectures": ["BertModel"], "hidden_size": 32, "_name_or_path": "C:\\Users\\dmitri\\models\\bert-tiny",
        "hub": {"token": t["slack-token"]}, "tracking_uri": "http://mlflow.research.internal:5000"}, indent=2) + "\n")
    expected["planted/config.json"] = ["user-path", "slack-token", "internal-host"]
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": 1,
                     "source": ["import os\n", f"os.environ[\"ANTHROPIC_API_KEY\"] = \"{t['anthropic-key']}\"\n"],
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": ["charged card 4111 1111 1111 1111\n"]}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(os.path.join(d, "train.ipynb"), json.dumps(nb, indent=1) + "\n")
    expected["planted/train.ipynb"] = ["anthropic-key", "payment-card"]
    log = ("2024-05-02 10:00:01 INFO epoch 1 loss 0.413\n"
           f"2024-05-02 10:00:02 INFO aws_access_key_id={t['aws-access-key-id']}\n"
           f"2024-05-02 10:00:02 INFO aws_secret_access_key={t['aws-secret-access-key']}\n"
           "2024-05-02 10:00:03 INFO refund to DE89 3704 0044 0532 0130 00, call +49 30 9018 2231\n"
           f"2024-05-02 10:00:04 INFO auth header Bearer {jwt(r)}\n"
           f"2024-05-02 10:00:05 INFO stripe {t['stripe-key']}\n")
    write(os.path.join(d, "train.log"), log)
    expected["planted/train.log"] = ["aws-access-key-id", "aws-secret-access-key", "iban", "phone", "jwt", "stripe-key"]
    # Git cannot track a folder named .git: the tests copy dot-git to .git.
    write(os.path.join(d, "dot-git", "config"),
          "[core]\n\trepositoryformatversion = 0\n[remote \"origin\"]\n"
          f"\turl = https://oauth2:{t['gitlab-token']}@gitlab.com/lab/model.git\n")
    expected["planted/.git/config"] = ["gitlab-token"]
    nemo(d, t, w, expected)
    import joblib
    import numpy as np
    joblib.dump({"api_token": t["huggingface-token"], "weights": np.arange(4.0)}, os.path.join(d, "pipeline.joblib"))
    expected["planted/pipeline.joblib"] = ["huggingface-token"]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    write(os.path.join(d, "deploy_key.pem"), pem)
    expected["planted/deploy_key.pem"] = ["private-key"]


def nemo(d, t, w, expected):
    """A NeMo archive as NeMo writes it with tarfile: the config YAML and
    the weights checkpoint saved by torch."""
    import io
    import tarfile

    import torch

    buf = io.BytesIO()
    torch.save({"state_dict": {"w": w}, "cfg": {"hf_token": t["huggingface-token"]}}, buf)
    yaml = ("name: tiny_asr\ntrainer:\n  max_epochs: 3\nexp_manager:\n"
            f"  wandb_api_key: {t['wandb-api-key']}\n").encode()
    with tarfile.open(os.path.join(d, "model.nemo"), "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in [("./model_config.yaml", yaml), ("./model_weights.ckpt", buf.getvalue())]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tf.addfile(info, io.BytesIO(data))
    expected["planted/model.nemo"] = ["wandb-api-key", "huggingface-token"]


def clean(out, r, expected):
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    d = os.path.join(out, "clean")
    os.makedirs(d, exist_ok=True)
    w = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    digest = hashlib.sha256(b"data").hexdigest()
    torch.save({
        "state_dict": {"w": w},
        "hyper_parameters": {"lr": 3e-4, "run_id": str(uuid.UUID(int=r.getrandbits(128))), "data_sha256": digest,
                             "git_commit": hashlib.sha1(b"x").hexdigest(), "output_dir": "/home/runner/work/out",
                             "tokenizer": "bert-base-uncased", "password_min_length": 12},
    }, os.path.join(d, "clean.ckpt"))
    save_file({"w": w}, os.path.join(d, "model.safetensors"),
              metadata={"format": "pt", "checksum": hashlib.md5(b"w").hexdigest(),
                        "weights_b64": base64.b64encode(w.numpy().tobytes()).decode()})
    write(os.path.join(d, "config.json"), json.dumps({
        "architectures": ["GPT2LMHeadModel"], "n_embd": 32, "_name_or_path": "gpt2", "transformers_version": "4.44.0",
        "torch_dtype": "float32", "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}, indent=2) + "\n")
    corpus = [f"id {uuid.UUID(int=r.getrandbits(128))} hash {hashlib.sha256(str(i).encode()).hexdigest()} "
              f"token {rnd(r, 24)} sk-learn pipeline v{i}.2.{i % 7}" for i in range(200)]
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]", "[PAD]"]))
    tok.save(os.path.join(d, "tokenizer.json"))
    write(os.path.join(d, "README.md"), "# tiny-gpt2\n\nTrained on public reviews. Contact: open an issue.\n"
          "Checksum: " + digest + "\n\nVersion 1.2.3 released 2024-05-02.\n")
    write(os.path.join(d, "train.log"), "".join(
        f"2024-05-02 10:00:{i:02d} INFO step {i * 100} loss {1 / (i + 1):.4f} lr 3e-4 commit {hashlib.sha1(str(i).encode()).hexdigest()}\n"
        for i in range(20)))
    # A credential in tensor and array bytes: payloads are never read.
    token = github_token(r).encode()
    import joblib
    import numpy as np
    joblib.dump({"w": np.frombuffer(token, dtype=np.uint8), "note": "ok"}, os.path.join(d, "array_bytes.joblib"))
    torch.save({"w": torch.frombuffer(bytearray(token), dtype=torch.uint8)}, os.path.join(d, "tensor_bytes.pt"))
    for f in ["array_bytes.joblib", "tensor_bytes.pt", "clean.ckpt", "model.safetensors", "config.json", "tokenizer.json", "README.md", "train.log"]:
        expected["clean/" + f] = []


def generate(out):
    r = random.Random(20241207)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    expected = {}
    planted(out, r, expected)
    clean(out, r, expected)
    write(os.path.join(out, "expected.json"), json.dumps(expected, indent=2, sort_keys=True) + "\n")


def meaning(path):
    """What --check compares of a file."""
    if path.endswith((".ckpt", ".pt")):
        import argparse as ap
        import torch
        with torch.serialization.safe_globals([ap.Namespace]):
            obj = torch.load(path, weights_only=True)
        return repr(strings(obj))
    if path.endswith(".nemo"):
        import io
        import tarfile
        import torch
        with tarfile.open(path) as tf:
            yaml = tf.extractfile("./model_config.yaml").read()
            ckpt = torch.load(io.BytesIO(tf.extractfile("./model_weights.ckpt").read()), weights_only=True)
        return repr((yaml, strings(ckpt)))
    if path.endswith(".safetensors"):
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            return repr(sorted(f.metadata().items()))
    if path.endswith(".pem"):
        from cryptography.hazmat.primitives import serialization
        with open(path, "rb") as f:
            return type(serialization.load_pem_private_key(f.read(), None)).__name__
    with open(path, "rb") as f:
        return f.read()


def strings(obj):
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return sorted(s for k, v in obj.items() for s in strings(k) + strings(v))
    if hasattr(obj, "__dict__"):
        return strings(vars(obj))
    if isinstance(obj, (list, tuple)):
        return sorted(s for v in obj for s in strings(v))
    return []


def files(d):
    return sorted(os.path.relpath(os.path.join(p, f), d) for p, _, fs in os.walk(d) for f in fs)


def check(d):
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        problems = []
        if files(tmp) != files(d):
            problems.append(f"files differ: {sorted(set(files(tmp)) ^ set(files(d)))}")
        for f in set(files(tmp)) & set(files(d)):
            if meaning(os.path.join(tmp, f)) != meaning(os.path.join(d, f)):
                problems.append(f"{f} differs")
    for p in problems:
        print(f"gen_secrets_fixtures --check: {p}", file=sys.stderr)
    print(f"gen_secrets_fixtures --check: {len(problems)} difference(s) in {d}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    default = os.path.join(ROOT, "tests", "fixtures", "secrets")
    if args[:1] == ["--check"]:
        sys.exit(check(args[1] if len(args) > 1 else default))
    generate(args[0] if args else default)
