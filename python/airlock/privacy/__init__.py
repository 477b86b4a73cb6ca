"""How much of its training data a model gives away, measured before it is
published: ``airlock privacy audit`` from Python.

PyTorch's security policy: a model trained partly on sensitive data can
leak it through its weights, especially when it overfits. :func:`audit`
runs the attacks that measure it, each optional, on a model you can call:

* **membership inference** (``members``, ``nonmembers``): can an attacker
  tell training examples from unseen ones? The loss-threshold attack, and
  with ``train`` (your training recipe) the reference-calibrated
  likelihood-ratio attack; ROC AUC and the true-positive rate at 0.1% and
  1% false positives, the number that matters for a privacy claim;
* **canary exposure** (``train``, ``texts``, ``sequence_loss``): random
  secrets inserted into a copy of the training texts at chosen repetition
  counts, a model trained on it, each secret's rank exposure in bits
  (the Secret Sharer);
* **extraction** (generative models, ``encode`` and ``generate``, or a
  Hugging Face ``tokenizer``): does greedy decoding from a training text's
  first tokens reproduce the rest? Run on the canaries too.

::

    from airlock import privacy

    report = privacy.audit(model, members=train_set[:2000], nonmembers=test_set[:2000],
                           train=lambda examples: train_from_scratch(examples))
    print(report.text())
    assert report.passed(max_auc=0.6)

The report is the document ``airlock privacy audit`` writes (``.json``),
judged by the same thresholds and rules (PV0030 to PV0032) and rendered by
the same code (``.text()``, ``.html()``, ``.sarif()``). The cure for a
leaking model is in the report's advice: train with differential privacy
(Opacus's DP-SGD), regularise, deduplicate, and never train on what must
not come out.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._canaries import canary_exposure, extraction, hf_text_functions
from ._membership import classification_loss, membership

__all__ = ["AuditReport", "audit", "membership", "canary_exposure", "extraction", "classification_loss",
           "hf_text_functions"]

SCHEMA = "airlock-privacy-audit/1"


@dataclass(frozen=True)
class AuditReport:
    """What :func:`audit` measured (``json``, the CLI's document)."""

    json: Dict[str, Any]

    def _render(self, fmt: str, **limits: float) -> str:
        from .. import _native

        return _native.privacy_render(json.dumps(self.json), fmt, json.dumps(limits))

    def text(self, **limits: float) -> str:
        """The measurements, and the findings under ``limits`` (as :meth:`passed` takes them)."""
        return self._render("text", **limits)

    def html(self, **limits: float) -> str:
        """A standalone HTML page: the ROC curves, exposures and findings."""
        return self._render("html", **limits)

    def sarif(self, **limits: float) -> str:
        """The findings as SARIF 2.1.0."""
        return self._render("sarif", **limits)

    def findings(self, **limits: float) -> List[Dict[str, Any]]:
        """The findings (rule, message) under ``limits``: ``max_auc``,
        ``max_tpr_at_1`` (true positives at 1% false positives),
        ``max_exposure`` (bits), ``max_extraction`` (exact-match rate);
        unset limits take the CLI's defaults."""
        return json.loads(self._render("findings", **limits))

    def passed(self, **limits: float) -> bool:
        """No finding under ``limits``."""
        return not self.findings(**limits)


def audit(
    model: Any = None, *, members: Optional[Sequence[Any]] = None, nonmembers: Optional[Sequence[Any]] = None,
    loss: Optional[Callable] = None, train: Optional[Callable] = None, reference_models: int = 4,
    texts: Optional[Sequence[str]] = None, sequence_loss: Optional[Callable] = None,
    train_texts: Optional[Callable] = None, repetitions: Sequence[int] = (1, 4, 16, 64), digits: int = 6,
    candidates: int = 1000, extraction_texts: Optional[Sequence[str]] = None, tokenizer: Any = None,
    encode: Optional[Callable] = None, generate: Optional[Callable] = None, prefix_tokens: int = 32,
    suffix_tokens: int = 32, name: str = "", seed: int = 0,
) -> AuditReport:
    """Run every attack whose inputs are given (see the module's help).

    ``train(examples) -> model`` trains the reference models of the
    membership attack; ``train_texts(texts) -> model`` trains the canary
    model (a generative one; default: ``train``). With a Hugging Face
    ``tokenizer``, ``encode``, ``generate`` and ``sequence_loss`` default
    to its tokens, greedy ``model.generate`` and the summed token loss."""
    started = time.perf_counter()
    doc: Dict[str, Any] = {"schema": SCHEMA, "model": name or type(model).__name__, "seed": seed,
                           "python": platform.python_version()}
    if tokenizer is not None and model is not None:
        e, g, s = hf_text_functions(model, tokenizer)
        encode, generate, sequence_loss = encode or e, generate or g, sequence_loss or s
    if members is not None or nonmembers is not None:
        if model is None:
            raise ValueError("membership inference needs the model (the first argument)")
        doc["membership"] = membership(model, list(members or []), list(nonmembers or []), loss=loss, train=train,
                                       reference_models=reference_models, seed=seed)
    trained_with_canaries = None
    if texts is not None:
        fit = train_texts or train
        if fit is None or sequence_loss is None:
            raise ValueError("canary exposure needs train_texts (or train) and sequence_loss")
        can = canary_exposure(fit, texts, sequence_loss, repetitions=repetitions, digits=digits,
                              candidates=candidates, seed=seed)
        trained_with_canaries = (can.pop("model"), can.pop("canary_texts"))
        doc["canaries"] = can
    if (extraction_texts is not None or trained_with_canaries) and encode and generate:
        if extraction_texts is not None:
            # The audited model, or without one the canary model (trained on them).
            target = model if model is not None else trained_with_canaries[0]
            doc["extraction"] = extraction(target, extraction_texts, encode, generate,
                                           prefix_tokens=prefix_tokens, suffix_tokens=suffix_tokens)
        if trained_with_canaries:
            cmodel, ctexts = trained_with_canaries
            for row, text in zip(doc["canaries"]["canaries"], ctexts):
                row["extracted"] = _canary_extracted(cmodel, text, digits, encode, generate)
    doc["seconds"] = round(time.perf_counter() - started, 3)
    return AuditReport(doc)


def _canary_extracted(model: Any, canary: str, digits: int, encode: Callable, generate: Callable) -> bool:
    """Whether greedy decoding from a canary's prefix gives its secret."""
    ids = encode(canary)
    prefix = len(encode(canary[:-digits]))
    got = extraction(model, [canary], encode, generate, prefix_tokens=prefix, suffix_tokens=len(ids) - prefix)
    return got["exact_matches"] == 1
