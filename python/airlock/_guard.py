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


def _guarded_load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **kwargs):
    """torch.load, scanned first: safe files go to torch.load(weights_only=True),
    files weights_only refuses but Airlock can rebuild as data to
    airlock.load, everything else raises airlock.UnsafeModelError."""
    from . import UnsafeModelError, AirlockError, load, scan

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
                return load(path, map_location=map_location, mmap=bool(mmap) and tmp is None)
            except AirlockError as exc:
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
    """

    def __call__(self) -> "_Guard":
        return self

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


guard = _Guard()
