"""The audit ``airlock privacy audit SPEC.py`` runs (in its sandbox): the
spec is a Python file defining what the audit needs, as functions taking no
argument unless said otherwise:

* ``model()``: the model audited;
* ``members()``, ``nonmembers()``: training examples and unseen examples of
  the same distribution (membership inference);
* ``loss(model, batch)``: one loss per example (default: cross-entropy of
  ``(input, label)`` pairs);
* ``train(examples)``: a model trained from scratch on ``examples`` (the
  reference models; the canary model when ``train_texts`` is absent);
* ``texts()``, ``train_texts(texts)``, ``sequence_loss(model, texts)``:
  training texts, and how to train and score a generative model (canary
  exposure);
* ``extraction_texts()``, ``encode(text)``, ``generate(model, ids, n)`` or
  ``tokenizer()``: the extraction test;
* ``SETTINGS``: a dict of :func:`airlock.privacy.audit`'s keyword
  arguments (``reference_models``, ``repetitions``, ``candidates``, ...).

Usage: python -m airlock.privacy SPEC.py --out RESULTS.json
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys

from . import audit

CALLED = ("members", "nonmembers", "texts", "extraction_texts", "tokenizer")
PASSED = ("loss", "train", "train_texts", "sequence_loss", "encode", "generate")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m airlock.privacy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    spec = runpy.run_path(args.spec, run_name="airlock_privacy_spec")
    if "model" not in spec and "texts" not in spec:
        print(f"{args.spec}: defines neither model() nor texts(): nothing to audit", file=sys.stderr)
        return 2
    kwargs = dict(spec.get("SETTINGS", {}))
    for name in CALLED:
        if name in spec:
            kwargs[name] = spec[name]()
    for name in PASSED:
        if name in spec:
            kwargs[name] = spec[name]
    model = spec["model"]() if "model" in spec else None
    report = audit(model, name=kwargs.pop("name", args.spec), **kwargs)
    with open(args.out, "w") as f:
        json.dump(report.json, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
