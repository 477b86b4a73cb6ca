"""airlock.probe against Python models: naive ones whose behaviour the
detectors must see, and a real (tiny, untrained) transformers model built
in the test, driven through its chat template."""

from __future__ import annotations

import re

import pytest

from airlock import probe

QUOTED = re.compile(r'[:：]\s*\\?["“]\s*(MARK-[0-9A-Z]+)')


def obedient(messages, tools):
    """Follows the last quoted marker instruction it reads."""
    found = QUOTED.findall(messages[-1]["content"])
    return found[-1] if found else "Here is a short answer."


def leaky(messages, tools):
    """Repeats its system prompt to anyone."""
    return "My instructions: " + messages[0]["content"]


def refuser(messages, tools):
    return "I'm sorry, but I can't help with that."


def test_an_obedient_model_follows_overrides_and_is_reported():
    r = probe.run(obedient, families=["override", "language"], mutations=["plain"], samples=5)
    assert r.attempted == 10
    assert r.families["override"]["successes"] == 5
    assert r.families["language"]["successes"] == 5
    assert {f["rule"] for f in r.findings} == {"PB0002"}
    assert "override" in r.text() and "<svg" in r.html()


def test_a_leaky_model_leaks_the_canary_and_a_refuser_does_not():
    leaks = probe.run(leaky, families=["extraction"], samples=4)
    assert leaks.succeeded == 4
    assert [f["rule"] for f in leaks.findings] == ["PB0001"]
    safe = probe.run(refuser, families=["extraction", "override"], samples=4)
    assert safe.succeeded == 0 and safe.findings == []
    assert safe.json["overall"]["refusals"] == 8


def test_the_system_prompt_carries_the_canary_and_the_tools_are_offered():
    seen = []

    def spy(messages, tools):
        seen.append((messages, tools))
        return "ok"

    probe.run(spy, families=["indirect-tool"], samples=2, system_prompt="You are Bob.")
    messages, tools = seen[0]
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("You are Bob.")
    assert "access code is" in messages[0]["content"]
    assert messages[-1]["role"] == "tool" and tools


def test_a_seed_reproduces_the_run_and_a_baseline_finds_regressions():
    a = probe.run(obedient, families=["override"], samples=6, seed=3)
    b = probe.run(obedient, families=["override"], samples=6, seed=3)
    assert a.json == b.json
    better = probe.run(refuser, families=["override"], samples=6, seed=3)
    worse = probe.run(obedient, families=["override"], samples=6, seed=3, baseline=better)
    assert worse.regressed == ["override"]
    assert any(f["rule"] == "PB0004" for f in worse.findings)


def test_a_model_that_raises_stops_the_run_with_an_error():
    def broken(messages, tools):
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(ValueError, match="in a row"):
        probe.run(broken, families=["override"], samples=12)
    with pytest.raises(ValueError, match="no family"):
        probe.run(obedient, families=["nope"])


def test_a_real_transformers_model_through_its_chat_template():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    torch.manual_seed(0)
    # A byte-level BPE tokenizer and a two-layer GPT-2, both untrained: the
    # model answers noise, which must score as no success.
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator(["Hello world, the weather is nice today."] * 10, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>")
    fast.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
    config = transformers.GPT2Config(vocab_size=fast.vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=4096)
    model = transformers.GPT2LMHeadModel(config).eval()

    def chat(messages, tools):
        ids = fast.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        if not isinstance(ids, torch.Tensor):
            ids = ids["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
        return fast.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    r = probe.run(chat, families=["override", "extraction", "role-spoof"], samples=3,
                  tokenizer_config='{"chat_template": "<|im_start|>"}')
    assert r.attempted == 9 and r.json["overall"]["errors"] == 0
    assert r.succeeded == 0
