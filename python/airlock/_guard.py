"""airlock.guard: make torch.load scan first."""

from __future__ import annotations

import io
import os
import tempfile
import threading
from typing import Any, Optional

_lock = threading.Lock()
_depth = 0
_original: Optional[Any] = None
# Guards entered with state_dicts=True.
_state_dicts = 0


def _guarded_load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **kwargs):
    """torch.load, scanned first: safe files go to torch.load(weights_only=True),
    files weights_only refuses but Airlock can rebuild as data to
    airlock.load, everything else raises airlock.UnsafeModelError."""
    from . import UnsafeModelError, AirlockError, RebuiltAsDataError, scan
    from ._load import _load

    original = _original
    if original is None:  # uninstalled while a call was in flight
        import torch
        original = torch.load
    if isinstance(f, (str, os.PathLike)):
        path, tmp = os.fspath(f), None
    else:  # a file-like object: scan (and, if needed, rebuild) its bytes
        data = f.read()
        if isinstance(f, io.IOBase) and f.seekable():
            f.seek(-len(data), io.SEEK_CUR)
        fd, tmp = tempfile.mkstemp(prefix="airlock-guard-", suffix=".pt")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        path = tmp
    try:
        report = scan(path)
        if report.verdict == "safe":
            source = f if tmp is None else io.BytesIO(open(tmp, "rb").read())
            extra = {} if mmap is None else {"mmap": mmap}
            return original(source, map_location=map_location, weights_only=True, **extra, **kwargs)
        if report.verdict == "suspicious":
            try:
                obj, modules, objects = _load(path, map_location, bool(mmap) and tmp is None)
                if modules:
                    _modules_rebuilt(path, modules, report)
                if objects:
                    _objects_rebuilt(path, objects, report)
                return obj
            except AirlockError as exc:
                if isinstance(exc, RebuiltAsDataError):
                    raise
                why = report.weights_only_reason or (report.findings[0].message if report.findings else "unknown")
                raise UnsafeModelError(
                    f"airlock.guard refused {path}: torch.load(weights_only=True) would refuse it ({why}) "
                    f"and it cannot be rebuilt as data: {exc}", report) from None
        raise UnsafeModelError(
            f"airlock.guard refused {path}: the scan says {report.verdict}"
            + (f" ({report.findings[0].rule} {report.findings[0].message})" if report.findings else ""),
            report)
    finally:
        if tmp is not None:
            os.unlink(tmp)


def _names(classes):
    return ", ".join(classes[:3]) + (f" and {len(classes) - 3} more" if len(classes) > 3 else "")


def _not_what_torch_returns(path, what, returning, advice, error, report):
    """What Airlock rebuilt differs from what ``torch.load`` would return:
    raise ``error`` saying so and how to go on, or, when the guard was
    entered with ``state_dicts=True``, warn and go on."""
    import warnings

    if _state_dicts > 0:
        warnings.warn(f"airlock.guard: {what}; returning {returning}", stacklevel=5)
        return
    raise error(
        f"airlock.guard refused {path}: {what}. {advice}, or enter the guard with "
        f"airlock.guard(state_dicts=True) to get them from torch.load; if you trust the file, "
        f"`airlock convert --sandbox` loads it with the real torch.load in the sandbox", report)


def _modules_rebuilt(path, modules, report):
    """The file pickles whole ``nn.Module`` objects: ``torch.load`` would
    return modules, Airlock rebuilds their state dicts."""
    from . import ModuleRebuiltError

    what = (f"{path} pickles whole nn.Module objects ({_names(modules)}): torch.load would return the "
            f"modules, whose classes are code, and Airlock rebuilt only their state dicts")
    advice = ("To use the weights, build the model in your own code and "
              "model.load_state_dict(airlock.load(path))")
    _not_what_torch_returns(path, what, "the state dict", advice, ModuleRebuiltError, report)


def _objects_rebuilt(path, objects, report):
    """The file pickles instances of classes outside the allowlist that
    Airlock rebuilt as dicts (or classes it rebuilt as their names):
    ``torch.load`` would return the objects."""
    from . import RebuiltAsDataError

    what = (f"{path} pickles objects of classes outside the data allowlist ({_names(objects)}): torch.load "
            f"would return instances of them, Airlock rebuilt each as a dict of its attributes with its class "
            f"name under '__class__' (a class stored as a value as its name)")
    advice = "To use the values, read them with airlock.load(path)"
    _not_what_torch_returns(path, what, "the dicts", advice, RebuiltAsDataError, report)


class _Guard:
    """``with airlock.guard(): ...`` makes every ``torch.load`` in the block
    scan the file first; ``airlock.guard.install()`` does it for the whole
    process (``airlock.guard.uninstall()`` undoes it).

    Under the guard, ``torch.load(path, weights_only=False)`` becomes:

    - ``safe`` files: ``torch.load(path, weights_only=True)`` (the caller's
      ``weights_only`` is ignored: the file is data, so nothing is lost);
    - files ``weights_only`` refuses that Airlock rebuilds as data (NumPy
      scalars and arrays, ``argparse.Namespace``, omegaconf, whole modules,
      ...): :func:`airlock.load`, whose result replaces those objects by
      plain data;
    - everything else (``dangerous`` files, unknown classes, malformed
      files): :class:`airlock.UnsafeModelError`, before anything from the
      file runs.

    A file that pickles whole ``nn.Module`` objects is data Airlock can
    rebuild, but only as the modules' state dicts, which is not what
    ``torch.load`` returns: the guard raises
    :class:`airlock.ModuleRebuiltError` saying so, unless entered with
    ``airlock.guard(state_dicts=True)``, which warns and returns the state
    dicts.
    """

    def __call__(self, *, state_dicts: bool = False) -> "_Guard | _Scope":
        """``airlock.guard()`` as a context manager; with
        ``state_dicts=True``, files that pickle whole ``nn.Module`` objects
        give their state dicts (with a warning) instead of an error."""
        return _Scope() if state_dicts else self

    def __enter__(self) -> "_Guard":
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def install(self) -> None:
        """Guard ``torch.load`` in the whole process (nests with ``with``)."""
        global _depth, _original
        import torch
        with _lock:
            if _depth == 0:
                _original = torch.load
                torch.load = _guarded_load
            _depth += 1

    def uninstall(self) -> None:
        """Undo one :meth:`install`."""
        global _depth, _original
        import torch
        with _lock:
            if _depth == 0:
                return
            _depth -= 1
            if _depth == 0:
                torch.load = _original
                _original = None

    @property
    def active(self) -> bool:
        """Whether ``torch.load`` is guarded now."""
        return _depth > 0


class _Scope:
    """``with airlock.guard(state_dicts=True):``."""

    def __enter__(self) -> "_Scope":
        global _state_dicts
        guard.install()
        with _lock:
            _state_dicts += 1
        return self

    def __exit__(self, *exc) -> None:
        global _state_dicts
        with _lock:
            _state_dicts -= 1
        guard.uninstall()


guard = _Guard()
