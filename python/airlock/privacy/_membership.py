"""Membership inference: how well an attacker tells the training examples
of a model from examples of the same distribution it never saw.

Two attacks, both scored by :mod:`._metrics`:

* **loss threshold** (Yeom et al., 2018): an example the model fits better
  is more likely a member. Needs only the model.
* **reference-calibrated** (the likelihood-ratio attack of Carlini et al.,
  2022, online, with one variance for all examples): reference models
  trained by the caller's training function on random halves of the pooled
  examples give, for each example, how well models fit it when it was in
  their training set and when it was not; the target model's fit is scored
  by the ratio of the two Gaussian likelihoods. It calibrates away examples
  that are easy or hard for any model, which the loss threshold mistakes
  for members or non-members, and it is what makes a low false-positive
  rate attack work.

Both use the logit of the model's confidence, ``log p - log(1 - p)`` with
``p = exp(-loss)``: monotone in the loss (the loss attack's ROC is the
loss's), and close to Gaussian across models, which the likelihood ratio
assumes.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _metrics

Loss = Callable[[Any, Sequence[Any]], Sequence[float]]


def classification_loss(model: Any, batch: Sequence[Any]) -> List[float]:
    """Per-example cross-entropy of ``(input, label)`` pairs, the default."""
    import torch

    xs = torch.stack([torch.as_tensor(x) for x, _ in batch])
    ys = torch.as_tensor([int(y) for _, y in batch])
    with torch.no_grad():
        logits = model(xs)
        return torch.nn.functional.cross_entropy(logits, ys, reduction="none").tolist()


def losses(model: Any, examples: Sequence[Any], loss: Loss, batch_size: int) -> List[float]:
    """The per-example losses of ``examples``, in batches, the model in eval mode."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        out: List[float] = []
        for i in range(0, len(examples), batch_size):
            got = list(loss(model, examples[i : i + batch_size]))
            if len(got) != len(examples[i : i + batch_size]):
                raise ValueError("the loss function must return one loss per example")
            out.extend(float(v) for v in got)
        return out
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def confidence_logit(loss: float) -> float:
    """``log p - log(1 - p)`` for ``p = exp(-loss)``, bounded for p near 0 or 1."""
    loss = max(loss, 1e-12)
    return -loss - math.log(-math.expm1(-loss))


def loss_threshold(target: Sequence[float], n_members: int) -> Dict[str, object]:
    """The loss attack on the target model's statistics (members first)."""
    return _metrics.summary(target[:n_members], target[n_members:])


def reference_calibrated(
    target: Sequence[float], pool: Sequence[Any], n_members: int, train: Callable[[List[Any]], Any],
    loss: Loss, references: int, seed: int, batch_size: int,
) -> Dict[str, object]:
    """The online likelihood-ratio attack with ``references`` models, each
    example in the training set of exactly half of them."""
    if references < 2 or references % 2:
        raise ValueError("reference models come in pairs (each example in half of them): pass an even number >= 2")
    rng = random.Random(seed)
    inside = [[False] * references for _ in pool]
    for row in inside:
        for k in rng.sample(range(references), references // 2):
            row[k] = True
    stats: List[List[float]] = []
    for k in range(references):
        model = train([e for e, row in zip(pool, inside) if row[k]])
        stats.append([confidence_logit(v) for v in losses(model, pool, loss, batch_size)])
    scores = _likelihood_ratios(target, stats, inside)
    out = _metrics.summary(scores[:n_members], scores[n_members:])
    out["reference_models"] = references
    return out


def _likelihood_ratios(target: Sequence[float], stats: List[List[float]], inside: List[List[bool]]) -> List[float]:
    """log N(t; mu_in, s_in) - log N(t; mu_out, s_out) per example, one
    variance for all examples (stable with few reference models)."""
    mu_in, mu_out, res_in, res_out = [], [], [], []
    for i, row in enumerate(inside):
        vin = [stats[k][i] for k, v in enumerate(row) if v]
        vout = [stats[k][i] for k, v in enumerate(row) if not v]
        mu_in.append(sum(vin) / len(vin))
        mu_out.append(sum(vout) / len(vout))
        res_in += [v - mu_in[-1] for v in vin]
        res_out += [v - mu_out[-1] for v in vout]
    s_in = max(math.sqrt(sum(r * r for r in res_in) / len(res_in)), 1e-6)
    s_out = max(math.sqrt(sum(r * r for r in res_out) / len(res_out)), 1e-6)

    def log_normal(x: float, mu: float, s: float) -> float:
        return -0.5 * ((x - mu) / s) ** 2 - math.log(s)

    return [log_normal(t, a, s_in) - log_normal(t, b, s_out) for t, a, b in zip(target, mu_in, mu_out)]


def membership(
    model: Any, members: Sequence[Any], nonmembers: Sequence[Any], *, loss: Optional[Loss] = None,
    train: Optional[Callable[[List[Any]], Any]] = None, reference_models: int = 4, seed: int = 0,
    batch_size: int = 64,
) -> Dict[str, object]:
    """Run the membership-inference attacks on ``model``.

    ``members`` are examples it was trained on, ``nonmembers`` examples of
    the same distribution it never saw (as many as you can: the lowest
    false-positive rate measured is one over their number). ``loss(model,
    batch)`` returns one loss per example (default: cross-entropy of
    ``(input, label)`` pairs). With ``train(examples) -> model`` (your
    training recipe, from scratch), ``reference_models`` models are trained
    for the reference-calibrated attack."""
    if not members or not nonmembers:
        raise ValueError("membership inference needs members and non-members")
    loss = loss or classification_loss
    pool = list(members) + list(nonmembers)
    started = time.perf_counter()
    raw = losses(model, pool, loss, batch_size)
    target = [confidence_logit(v) for v in raw]
    forward = time.perf_counter() - started
    n = len(members)
    out: Dict[str, object] = {
        "loss": {
            "members_mean": round(sum(raw[:n]) / n, 6),
            "nonmembers_mean": round(sum(raw[n:]) / (len(raw) - n), 6),
        },
        "attacks": {"loss_threshold": loss_threshold(target, n)},
    }
    if train is not None:
        t0 = time.perf_counter()
        out["attacks"]["reference_calibrated"] = reference_calibrated(
            target, pool, n, train, loss, reference_models, seed, batch_size)
        out["reference_seconds"] = round(time.perf_counter() - t0, 3)
    out["target_forward_seconds"] = round(forward, 3)
    out["attack_seconds"] = round(time.perf_counter() - started - forward - out.get("reference_seconds", 0), 3)
    return out
