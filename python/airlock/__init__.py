"""Airlock: take machine-learning model files from strangers without running
strangers' code.

Airlock reads PyTorch checkpoints, pickles, NumPy and joblib files the way
their loaders read them, and executes nothing from them:

- :func:`scan` says whether a file is data only (``safe``), needs trust
  (``suspicious``), carries code (``dangerous``) or could not be analysed
  (``error``);
- :func:`load` returns a checkpoint's contents (dicts, lists, numbers,
  strings and real ``torch.Tensor`` objects, or NumPy arrays without torch),
  rebuilt natively from the file without ``pickle`` or ``torch.load``;
- :func:`convert` writes safetensors or a checkpoint that
  ``torch.load(weights_only=True)`` loads;
- :func:`inspect` shows what a file holds;
- :func:`guard` makes ``torch.load`` scan first;
- :mod:`airlock.inputs` checks untrusted text before a model sees it.
- :mod:`airlock.probe` fuzzes a model you call from Python for prompt injection.

The heavy lifting is Rust (``airlock._native``); every call releases the GIL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Union

from . import _native, inputs, probe
from ._guard import guard
from ._load import load

__all__ = [
    "AirlockError",
    "Finding",
    "MissingFileError",
    "ModuleRebuiltError",
    "RebuiltAsDataError",
    "Report",
    "UnsafeModelError",
    "__version__",
    "convert",
    "guard",
    "inputs",
    "probe",
    "inspect",
    "load",
    "scan",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]


class AirlockError(Exception):
    """A file Airlock could not read, convert or load (malformed input,
    unsupported content). ``report`` is the scan :class:`Report` when there
    is one."""

    def __init__(self, message: str, report: Optional["Report"] = None):
        super().__init__(message)
        self.report = report

    @property
    def findings(self) -> List["Finding"]:
        """The scan's findings, if any."""
        return list(self.report.findings) if self.report else []

    @property
    def rules(self) -> List[str]:
        """The rule ids of the findings (``AL0001``, ...), each once, most
        severe first."""
        return list(dict.fromkeys(f.rule for f in self.findings))


class RebuiltAsDataError(AirlockError):
    """Under :func:`guard`, what Airlock rebuilt as data is not what
    ``torch.load`` would return: instances of classes outside the allowlist
    became dicts naming their class under ``"__class__"``. The message says
    how to go on."""


class ModuleRebuiltError(RebuiltAsDataError):
    """Under :func:`guard`, the file pickles whole ``nn.Module`` objects:
    ``torch.load`` would return the modules (whose classes are code), while
    Airlock can only give their state dicts. The message says how to go on."""


class MissingFileError(AirlockError, FileNotFoundError):
    """The path does not exist: both an :class:`AirlockError` and the
    ``FileNotFoundError`` that ``open`` and ``torch.load`` raise."""

    def __init__(self, path: str):
        FileNotFoundError.__init__(self, 2, "No such file or directory", path)
        self.report = None


def _existing(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise MissingFileError(path)
    return path


class UnsafeModelError(AirlockError):
    """The file is refused: the scan calls it ``dangerous`` (or could not
    analyse it), or it holds something that cannot be rebuilt as data (an
    unknown class). ``findings`` say why."""


@dataclass(frozen=True)
class Finding:
    """One finding of a scan."""

    rule: str
    """Stable rule id (``AL0001``); ``airlock rules ID`` documents it."""
    name: str
    """Rule name (``dangerous-global``)."""
    severity: str
    """``critical``, ``high``, ``medium``, ``low`` or ``info``."""
    message: str
    """What was found, where."""
    location: Optional[str] = None
    """The archive member and byte offset, when known."""


@dataclass(frozen=True)
class Report:
    """The scan of one file."""

    path: str
    verdict: str
    """``safe``, ``suspicious``, ``dangerous`` or ``error``."""
    format: str
    """The format as read (``pytorch-zip``, ``pickle``, ``npy``, ...)."""
    weights_only: Optional[bool]
    """Whether ``torch.load(weights_only=True)`` would load it (None when
    not a torch file)."""
    findings: List[Finding] = field(default_factory=list)
    size: int = 0
    bytes_read: int = 0
    weights_only_reason: Optional[str] = None

    @property
    def safe(self) -> bool:
        """Whether the verdict is ``safe``."""
        return self.verdict == "safe"

    @classmethod
    def _from_json(cls, f: dict) -> "Report":
        findings = []
        for x in f.get("findings", []):
            where = x.get("location") or {}
            member, offset = where.get("member"), where.get("offset")
            loc = None
            if member is not None or offset is not None:
                loc = (f"{member}, " if member is not None else "") + (
                    f"byte {offset}" if offset is not None else "")
                loc = loc.rstrip(", ")
            findings.append(Finding(rule=x["rule"], name=x.get("name", ""), severity=x.get("severity", ""),
                                    message=x.get("message", ""), location=loc))
        return cls(path=f["path"], verdict=f["verdict"], format=f["format"], weights_only=f.get("weights_only"),
                   findings=findings, size=f.get("size", 0), bytes_read=f.get("bytes_read", 0),
                   weights_only_reason=f.get("weights_only_reason"))


def _reports(text: str) -> List[Report]:
    return [Report._from_json(f) for f in json.loads(text)["files"]]


def scan(target: Union[PathLike, bytes, bytearray, memoryview], *, name: str = "<bytes>") -> Union[Report, List[Report]]:
    """Scan a file, a folder or bytes; nothing is executed.

    - a file path gives its :class:`Report`;
    - a folder gives a list of reports, one per model file under it
      (recursively, as ``airlock scan`` walks folders);
    - ``bytes`` give the report of those bytes (``name`` is shown and its
      extension used as a hint).

    A folder gives the reports ``airlock scan`` prints: files whose content
    and name are no model format's (configurations, tokenizers, text) are
    left out, and a file or folder under it that cannot be read is a report
    with the verdict ``error``.

    Raises :class:`MissingFileError` (a ``FileNotFoundError``) when the path
    does not exist.
    """
    if isinstance(target, (bytes, bytearray, memoryview)):
        return _reports(_native.scan_data(bytes(target), name))[0]
    path = _existing(target)
    reports = _reports(_native.scan_paths([path]))
    if os.path.isdir(path):
        return reports
    return reports[0]


def _refused(exc: Exception) -> AirlockError:
    message, report_json, kind = (list(exc.args) + [None, None, None])[:3]
    report = _reports(report_json)[0] if report_json else None
    if kind == "foreign" or (kind == "refused" and report is not None and report.verdict == "dangerous"):
        return UnsafeModelError(message, report)
    return AirlockError(message, report)


def convert(src: PathLike, dst: PathLike, to: str = "safetensors", *, overwrite: bool = False) -> dict:
    """Convert ``src`` (a file, or a distributed checkpoint's folder) to
    ``dst`` as ``"safetensors"`` or ``"pt"`` (a checkpoint
    ``torch.load(weights_only=True)`` loads), natively: nothing from the
    file runs. Returns what was done (tensors, bytes and every
    transformation). The output appears whole or not at all, never over the
    input, and over an existing ``dst`` only with ``overwrite=True``.
    Raises :class:`UnsafeModelError` for dangerous files,
    :class:`MissingFileError` when ``src`` does not exist and
    :class:`AirlockError` for anything that cannot be converted."""
    try:
        return json.loads(_native.convert(_existing(src), os.fspath(dst), to, overwrite))
    except _native.ConvertRefused as exc:
        raise _refused(exc) from None


def inspect(path: PathLike) -> dict:
    """What a file holds, without loading it: tensors (name, dtype, shape,
    bytes, storage sharing), metadata, the pickle's object tree and
    TorchScript code files, as ``airlock inspect --format json`` prints."""
    try:
        return json.loads(_native.inspect(_existing(path)))
    except _native.ConvertRefused as exc:
        raise _refused(exc) from None
