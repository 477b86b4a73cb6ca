"""The memorisation audit on tiny models trained in the test: an overfit
classifier is caught by both membership attacks, a DP-SGD one (Opacus) is
near chance; a canary inserted 64 times into a character language model's
training text is exposed and extracted, one inserted once is not; the
report and the ``airlock privacy audit`` command judge them by the limits.

Runs in the project venv (torch, opacus); the command's sandbox as in
test_cli_sandbox.py.
"""

import json
import os
import subprocess
import site
import sys
import textwrap

import pytest

from airlock import privacy
from privacy_models import corpus, dataset, encode, generate, sequence_loss, train_dp, train_lm, train_overfit

AIRLOCK = os.path.join(os.path.dirname(sys.executable), "airlock")
VENV = os.environ.get("AIRLOCK_VENV") or sys.prefix


def test_an_overfit_model_is_caught_and_a_dp_trained_one_is_near_chance():
    members, nonmembers = dataset(200, 1), dataset(200, 2)
    overfit = privacy.audit(train_overfit(members), members=members, nonmembers=nonmembers,
                            train=lambda ex: train_overfit(ex, epochs=200), reference_models=4)
    m = overfit.json["membership"]
    assert m["loss"]["members_mean"] < 0.05 < 1.0 < m["loss"]["nonmembers_mean"]
    assert m["attacks"]["loss_threshold"]["auc"] > 0.95
    assert m["attacks"]["reference_calibrated"]["auc"] > 0.95
    # The likelihood ratio finds members at a low false-positive rate where
    # the loss threshold barely does (what reference models are for).
    loss_tpr = m["attacks"]["loss_threshold"]["tpr_at_1%_fpr"]
    ref_tpr = m["attacks"]["reference_calibrated"]["tpr_at_1%_fpr"]
    assert ref_tpr > 0.2 and ref_tpr > 3 * loss_tpr, (loss_tpr, ref_tpr)
    assert not overfit.passed()
    assert [f["rule"] for f in overfit.findings()] == ["PV0030", "PV0030"]

    dp = privacy.audit(train_dp(members), members=members, nonmembers=nonmembers)
    a = dp.json["membership"]["attacks"]["loss_threshold"]
    assert 0.4 < a["auc"] < 0.6, a["auc"]
    assert a["tpr_at_1%_fpr"] < 0.15, dp.text()
    assert dp.passed(max_tpr_at_1=0.15), dp.text()


# ---------------------------------------------------------------- canaries

def test_canaries_repeated_often_are_exposed_and_extracted_and_one_seen_once_is_not():
    # Some four passes over the data: a canary inserted once is seen about
    # four times, one inserted 64 times some 250 times.
    texts = corpus(4000)
    report = privacy.audit(texts=texts, train_texts=lambda d: train_lm(d, steps=500), sequence_loss=sequence_loss,
                           encode=encode, generate=generate, repetitions=(1, 64), candidates=1000,
                           name="char-lm")
    rows = {c["repetitions"]: c for c in report.json["canaries"]["canaries"]}
    assert rows[64]["exposure"] > 9 and rows[64]["extracted"], rows
    assert rows[1]["exposure"] < rows[64]["exposure"] - 2 and not rows[1]["extracted"], rows
    rules = [f["rule"] for f in report.findings()]
    assert rules == ["PV0031", "PV0032"], report.text()
    html = report.html()
    assert html.startswith("<!doctype html>") and "Canary exposure" in html and "<script" not in html


def test_extraction_reproduces_a_memorised_text_and_not_an_unseen_one():
    memorised = "my password is hunter two for the server"
    model = train_lm(corpus() + [memorised] * 60, steps=300)
    unseen = "seven green frogs sang loudly at dawn"
    got = privacy.extraction(model, [memorised, unseen], encode, generate, prefix_tokens=15, suffix_tokens=25)
    assert (got["texts"], got["exact_matches"], got["extracted"]) == (2, 1, [0]), got
    assert got["mean_token_match"] < 1.0
    report = privacy.audit(model, extraction_texts=[memorised, unseen], encode=encode, generate=generate,
                           prefix_tokens=15, suffix_tokens=25)
    assert [f["rule"] for f in report.findings()] == ["PV0032"]
    assert report.passed(max_extraction=0.5)


def test_the_command_runs_a_spec_in_the_sandbox_and_judges_it(tmp_path):
    spec = tmp_path / "spec.py"
    spec.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        import privacy_models as t

        MEMBERS, NONMEMBERS = t.dataset(120, 1), t.dataset(120, 2)

        def model():
            return t.train_overfit(MEMBERS, epochs=200)

        def members():
            return MEMBERS

        def nonmembers():
            return NONMEMBERS
    """))
    tests = os.path.dirname(os.path.abspath(__file__))
    run = lambda *a: subprocess.run([AIRLOCK, "privacy", *a], capture_output=True, text=True, timeout=900)  # noqa: E731
    probe = subprocess.run([AIRLOCK, "run", "--", "/bin/true"], capture_output=True, text=True)
    if probe.returncode != 0:
        assert not os.environ.get("AIRLOCK_SANDBOX_REQUIRED"), probe.stderr
        pytest.skip(f"the sandbox does not run here: {probe.stderr}")
    base = ["audit", str(spec), "--python", VENV, "--ro", tests]
    for p in sorted(set(site.getsitepackages()) | {p for p in sys.path if p.endswith("site-packages")}):
        base += ["--ro", p]  # where this interpreter's torch is
    o = run(*base, "--format", "json", "-o", str(tmp_path / "report.json"))
    assert o.returncode == 1, o.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    assert [f["rule"] for f in doc["findings"]] == ["PV0030"]
    assert doc["audit"]["membership"]["attacks"]["loss_threshold"]["auc"] > 0.9
    again = run("report", str(tmp_path / "report.json"), "--max-auc", "1", "--max-tpr-at-1", "1")
    assert again.returncode == 0 and "0 finding(s)" in again.stdout, again.stdout + again.stderr
    sarif = run("report", str(tmp_path / "report.json"), "--format", "sarif")
    assert sarif.returncode == 1 and json.loads(sarif.stdout)["runs"][0]["results"][0]["ruleId"] == "PV0030"
    # Inside the sandbox there is no network, and the spec sees only what it was given.
    spec.write_text("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n")
    o = run("audit", str(spec), "--python", VENV)
    assert o.returncode == 2 and "[Errno" in o.stderr and "audit of" in o.stderr, o.stderr


def test_a_hugging_face_causal_lm_through_its_tokenizer():
    """encode, greedy generate and sequence_loss from a tokenizer: a tiny
    GPT-2 that memorised one sentence gives it back from its first tokens,
    and not a sentence it never saw."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    import torch

    memorised = "the launch code for the north gate is seven four two"
    unseen = "green frogs sang loudly by the quiet river at dawn"
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel()
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<|endoftext|>"])
    tok.train_from_iterator(corpus(200) + [memorised, unseen], trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=fast.vocab_size, n_embd=64, n_layer=2, n_head=2, n_positions=64)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.tensor([fast(memorised)["input_ids"]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        opt.zero_grad()
        model(ids, labels=ids).loss.backward()
        opt.step()
    model.eval()
    report = privacy.audit(model, tokenizer=fast, extraction_texts=[memorised, unseen], prefix_tokens=4,
                           suffix_tokens=8)
    e = report.json["extraction"]
    assert (e["texts"], e["exact_matches"], e["extracted"]) == (2, 1, [0]), e
    _, _, seq_loss = privacy.hf_text_functions(model, fast)
    known, other = seq_loss(model, [memorised, unseen])
    assert known < other / 10, (known, other)
