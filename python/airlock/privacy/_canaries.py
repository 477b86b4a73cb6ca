"""Canary exposure (Carlini et al., "The Secret Sharer", 2019) and a
training-data extraction test for generative models.

Canaries are random secrets of a known space (``prefix`` + ``digits``
random digits) inserted into a copy of the training texts, each repeated a
chosen number of times; the caller's training function trains a model on
it. A canary's exposure is ``log2 |R| - log2 rank``, its rank among all
secrets of the space by the model's log-perplexity, estimated from random
candidates: a model that memorised the canary ranks it first (exposure near
``log2 |R|``), one that did not ranks it anywhere (exposure near 0).

Extraction asks the model itself: prompted with the first tokens of a
training text, does greedy decoding reproduce the rest exactly?
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

from . import _metrics

SequenceLoss = Callable[[Any, Sequence[str]], Sequence[float]]


def make_canaries(prefix: str, digits: int, repetitions: Sequence[int], rng: random.Random) -> List[Tuple[str, int]]:
    """One distinct random canary per repetition count."""
    seen, out = set(), []
    for r in repetitions:
        while True:
            secret = "".join(rng.choice("0123456789") for _ in range(digits))
            if secret not in seen:
                seen.add(secret)
                out.append((prefix + secret, int(r)))
                break
    return out


def canary_exposure(
    train: Callable[[List[str]], Any], texts: Sequence[str], sequence_loss: SequenceLoss, *,
    repetitions: Sequence[int] = (1, 4, 16, 64), prefix: str = "the secret number is ", digits: int = 6,
    candidates: int = 1000, seed: int = 0,
) -> Dict[str, object]:
    """Insert canaries into a copy of ``texts``, train with ``train(texts) ->
    model``, and measure each canary's exposure. ``sequence_loss(model,
    texts)`` returns each text's log-perplexity (the sum of its tokens'
    negative log-likelihoods). The model is returned under ``"model"`` for
    the extraction test, and left out of the report."""
    rng = random.Random(seed)
    canaries = make_canaries(prefix, digits, repetitions, rng)
    data = list(texts) + [c for c, r in canaries for _ in range(r)]
    rng.shuffle(data)
    t0 = time.perf_counter()
    model = train(data)
    trained = time.perf_counter() - t0
    secrets = {c for c, _ in canaries}
    pool: List[str] = []
    while len(pool) < candidates:
        s = prefix + "".join(rng.choice("0123456789") for _ in range(digits))
        if s not in secrets:
            pool.append(s)
    t1 = time.perf_counter()
    cand = [float(v) for v in sequence_loss(model, pool)]
    own = [float(v) for v in sequence_loss(model, [c for c, _ in canaries])]
    rows = []
    for (text, r), loss in zip(canaries, own):
        rows.append({"repetitions": r, "log_perplexity": round(loss, 4),
                     **_metrics.exposure(loss, cand, 10.0 ** digits)})
    return {
        "format": prefix + "{" + f"{digits} digits" + "}",
        "space": 10 ** digits,
        "training_texts": len(texts),
        "canaries": rows,
        "train_seconds": round(trained, 3),
        "score_seconds": round(time.perf_counter() - t1, 3),
        "model": model,
        "canary_texts": [c for c, _ in canaries],
    }


def extraction(
    model: Any, texts: Sequence[str], encode: Callable[[str], List[int]],
    generate: Callable[[Any, List[int], int], List[int]], *, prefix_tokens: int = 32,
    suffix_tokens: int = 32,
) -> Dict[str, object]:
    """Greedy continuation of each text's first ``prefix_tokens`` tokens,
    compared with its next ``suffix_tokens``: the exact-match rate and the
    mean fraction of suffix tokens reproduced. Texts too short to split
    are counted and skipped. No text is copied into the result: extracted
    texts are listed by index."""
    t0 = time.perf_counter()
    exact, partial, tried, short, hits = 0, 0.0, 0, 0, []
    for i, text in enumerate(texts):
        ids = encode(text)
        if len(ids) < prefix_tokens + 1:
            short += 1
            continue
        want = ids[prefix_tokens : prefix_tokens + suffix_tokens]
        got = list(generate(model, ids[:prefix_tokens], len(want)))[: len(want)]
        same = sum(1 for a, b in zip(got, want) if a == b)
        tried += 1
        partial += same / len(want)
        if got == want:
            exact += 1
            hits.append(i)
    return {
        "texts": tried,
        "too_short": short,
        "exact_matches": exact,
        "exact_match_rate": round(exact / tried, 6) if tried else 0.0,
        "mean_token_match": round(partial / tried, 6) if tried else 0.0,
        "extracted": hits[:100],
        "prefix_tokens": prefix_tokens,
        "suffix_tokens": suffix_tokens,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def hf_text_functions(model: Any, tokenizer: Any) -> Tuple[Callable, Callable, SequenceLoss]:
    """``encode``, greedy ``generate`` and ``sequence_loss`` for a Hugging
    Face causal language model and its tokenizer."""
    import torch

    def encode(text: str) -> List[int]:
        return list(tokenizer(text)["input_ids"])

    def generate(m: Any, ids: List[int], n: int) -> List[int]:
        with torch.no_grad():
            out = m.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)
        return out[0, len(ids):].tolist()

    def sequence_loss(m: Any, texts: Sequence[str]) -> List[float]:
        res = []
        with torch.no_grad():
            for t in texts:
                ids = torch.tensor([encode(t)])
                out = m(ids, labels=ids)
                res.append(float(out.loss) * (ids.shape[1] - 1))
        return res

    return encode, generate, sequence_loss
