"""Prompt-injection probes of a model, before it is exposed.

:func:`run` sends Airlock's seeded suite of attacks (instruction override,
role spoofing, system-prompt extraction, payload splitting, refusal
suppression, other languages, injections in documents and tool results,
Markdown exfiltration, multi-turn escalation; encoded and disguised by
mutations) to a Python callable, with a canary planted in the system
prompt, and scores every answer with deterministic detectors (the canary
in any encoding, the marker an attack dictated, links to the attacker's
host). It is ``airlock probe`` for a model you call from Python::

    from airlock import probe

    def model(messages, tools):          # OpenAI-style messages
        return my_pipeline(messages)      # the assistant's answer, a str

    report = probe.run(model, seed=1, samples=10)
    print(report.text())
    assert report.succeeded == 0

The same seed and options send the same attacks. ``report.json`` is the
document ``airlock probe --format json`` writes; pass a previous one as
``baseline`` to mark families that regressed (``report.regressed``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _native

__all__ = ["ProbeReport", "run"]

Messages = List[Dict[str, Any]]


@dataclass(frozen=True)
class ProbeReport:
    """A probe run: per family success rates with 95% intervals, the
    findings (``PB0001`` canary leaked, ``PB0002`` injection followed,
    ``PB0003`` exfiltration link, ``PB0004`` regression), and the whole
    JSON document."""

    json: Dict[str, Any] = field(repr=False)

    @property
    def succeeded(self) -> int:
        """Attacks that reached their goal."""
        return int(self.json["overall"]["successes"])

    @property
    def attempted(self) -> int:
        """Attacks answered."""
        return int(self.json["overall"]["trials"])

    @property
    def families(self) -> Dict[str, Dict[str, Any]]:
        """Each family's rate: ``successes``, ``trials``, ``rate``, ``low``,
        ``high`` (the 95% Wilson interval), ``refusals``, ``errors``."""
        return {f["family"]: f for f in self.json["families"]}

    @property
    def findings(self) -> List[Dict[str, str]]:
        """The findings: ``rule``, ``name``, ``severity``, ``message``."""
        return list(self.json["findings"])

    @property
    def regressed(self) -> List[str]:
        """Families worse than the baseline by more than allowed."""
        return [f["family"] for f in self.json["families"] if f.get("regressed")]

    def text(self) -> str:
        """The report as ``airlock probe`` prints it."""
        return _native.probe_render(json.dumps(self.json), "text")

    def html(self) -> str:
        """A self-contained HTML page with charts."""
        return _native.probe_render(json.dumps(self.json), "html")


def run(
    model: Callable[[Messages, Optional[list]], str],
    *,
    seed: int = 0,
    samples: int = 20,
    families: Optional[Sequence[str]] = None,
    mutations: Optional[Sequence[str]] = None,
    system_prompt: Optional[str] = None,
    tokenizer_config: Optional[str] = None,
    concurrency: int = 1,
    baseline: Optional[ProbeReport] = None,
    max_regression: float = 5.0,
) -> ProbeReport:
    """Probe ``model``, a callable taking the conversation (OpenAI-style
    messages, the system prompt with the canary first) and the tools offered
    (a list, or ``None``) and returning the assistant's answer as a ``str``.

    ``families`` and ``mutations`` narrow the suite (``airlock probe
    --list``); ``system_prompt`` is your application's (the canary sentence
    is appended); ``tokenizer_config`` is the text of the model's
    ``tokenizer_config.json`` (role spoofing then uses its chat template's
    tokens); ``concurrency`` calls the model from that many threads (useful
    when it releases the GIL). An exception from ``model`` is recorded as an
    error for that attack; ten in a row stop the run with ``ValueError``.
    """

    def call(request: str) -> str:
        r = json.loads(request)
        tools = [{"type": "function", "function": {"name": "get_weather"}}] if r["tools"] else None
        answer = model(r["messages"], tools)
        if not isinstance(answer, str):
            raise TypeError(f"the model returned {type(answer).__name__}, not str")
        return answer

    options = {
        "seed": seed,
        "samples": samples,
        "families": list(families) if families is not None else None,
        "mutations": list(mutations) if mutations is not None else None,
        "system_prompt": system_prompt,
        "tokenizer_config": tokenizer_config,
        "concurrency": concurrency,
        "baseline": json.dumps(baseline.json) if baseline is not None else None,
        "max_regression": max_regression,
    }
    return ProbeReport(json.loads(_native.probe_run(call, json.dumps(options))))
