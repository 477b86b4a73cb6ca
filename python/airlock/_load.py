"""airlock.load: a checkpoint's contents rebuilt natively, without pickle."""

from __future__ import annotations

import os
from typing import Any

from . import _native

_NUMPY_DTYPES = {
    "torch.float64": "<f8", "torch.float32": "<f4", "torch.float16": "<f2",
    "torch.int64": "<i8", "torch.int32": "<i4", "torch.int16": "<i2", "torch.int8": "i1",
    "torch.uint8": "u1", "torch.uint16": "<u2", "torch.uint32": "<u4", "torch.uint64": "<u8",
    "torch.bool": "?", "torch.complex64": "<c8", "torch.complex128": "<c16",
}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def load(path: "str | os.PathLike[str]", *, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """Load a checkpoint's contents without running anything from it.

    The file is scanned first; ``dangerous`` files and files that could not
    be analysed are refused. The pickle is then rebuilt as data by Airlock's
    own engine (no ``pickle``, no ``torch.load``): dicts, lists, tuples,
    numbers, strings and tensors, with the objects ``weights_only`` refuses
    but that are data (NumPy arrays and scalars, ``argparse.Namespace``,
    omegaconf configs, paths, ``collections`` types, whole ``nn.Module``
    pickles) replaced by plain data, as ``airlock convert`` does. Anything
    else (an unknown class) is refused.

    Tensors are real ``torch.Tensor`` objects (``nn.Parameter`` where the
    file had one) sharing storages as in the file; without torch installed,
    NumPy arrays (dtypes NumPy lacks, such as bfloat16, then need torch).
    A ``.npy`` file gives its NumPy array, as ``np.load`` does. A
    distributed checkpoint folder (``torch.distributed.checkpoint``) gives
    what ``dcp_to_torch_save`` then ``torch.load`` would return, its sharded
    tensors assembled in memory; every file of it is scanned first.
    The tensors only torch can hold (quantized, sparse and meta-device
    tensors, conjugate and negative views) and bare storages are made by
    torch's own rebuild functions, the ones ``torch.load(weights_only=True)``
    calls, from arguments Airlock rebuilt as data; sparse tensors are then
    checked as ``torch.load`` checks them. Nested tensors, which
    ``weights_only`` refuses, are refused too.

    ``map_location`` works as in ``torch.load``, on each storage with the
    location tag the file gives it (``"cpu"``, ``"cuda:0"``): ``"cpu"``
    (the default), a device string or ``torch.device`` for every storage,
    a dict mapping saved locations to new ones, a callable
    ``f(storage, location)`` returning the storage to use (or ``None`` for
    the default), or ``None`` to restore each storage where it was saved.
    Views keep sharing their storage after the move. Without torch only
    the CPU is available. ``mmap=True`` maps the file instead of reading it
    (tensors of stored, uncompressed records then share the file's pages,
    copy on write), as ``torch.load(mmap=True)`` does.

    Raises :class:`airlock.UnsafeModelError` for refused files,
    :class:`airlock.MissingFileError` (a ``FileNotFoundError``, as
    ``torch.load`` raises) when the path does not exist, and
    :class:`airlock.AirlockError` for malformed or unsupported ones.
    """
    return _load(path, map_location, mmap)[0]


def _load(path, map_location, mmap):
    """:func:`load`, and what ``torch.load`` would have returned otherwise:
    ``(object, modules, objects)`` with the classes of the pickled
    ``nn.Module`` objects rebuilt as their state dicts, and the classes
    whose instances were rebuilt as dicts naming them under ``"__class__"``
    (or that were stored as values and became their names)."""
    import json

    from . import _existing, _refused

    path = _existing(path)
    try:
        report, root, tensors, storages, _transformations, modules, objects = _native.load_plan(path)
    except _native.ConvertRefused as exc:
        raise _refused(exc) from None
    if json.loads(report)["files"][0]["format"] == "npy":
        # np.load returns the array itself, not a dict.
        _cpu_only(map_location, storages)
        if not tensors:  # a string or bytes array, built from the plan
            (array,) = _Fill(None, [], None).finish(root).values()
            return array, list(modules), list(objects)
        (array,) = _numpy_arrays(path, tensors, storages, mmap)
        return array, list(modules), list(objects)
    torch = _torch()
    if torch is not None:
        built, made = _torch_tensors(torch, path, tensors, storages, mmap, _restore_location(torch, map_location))
        return _Fill(torch, built, made).finish(root), list(modules), list(objects)
    _cpu_only(map_location, storages)
    built = _numpy_arrays(path, tensors, storages, mmap)
    return _Fill(None, built, None).finish(root), list(modules), list(objects)


def _restore_location(torch, map_location):
    """``torch.load``'s map_location rules (``_get_restore_location``), on
    torch's public ``default_restore_location``."""
    default = torch.serialization.default_restore_location
    if map_location is None:
        return default
    if isinstance(map_location, dict):
        return lambda storage, location: default(storage, map_location.get(location, location))
    if isinstance(map_location, (str, bytes)):
        target = map_location.decode() if isinstance(map_location, bytes) else map_location
        return lambda storage, location: default(storage, target)
    if isinstance(map_location, torch.device):
        return lambda storage, location: default(storage, str(map_location))
    if callable(map_location):
        def restore(storage, location):
            result = map_location(storage, location)
            return default(storage, location) if result is None else result
        return restore
    raise TypeError(f"map_location must be a device, a str, a dict or a callable, not {type(map_location).__name__}")


def _cpu_only(map_location, storages):
    from . import AirlockError

    def cpu(loc):
        return str(loc).split(":", 1)[0] == "cpu"

    wanted = []
    for s in storages:
        loc = s[1]
        if map_location is None:
            target = loc
        elif isinstance(map_location, dict):
            target = map_location.get(loc, loc)
        elif isinstance(map_location, (str, bytes)):
            target = map_location.decode() if isinstance(map_location, bytes) else map_location
        else:
            raise AirlockError("without torch, map_location must be 'cpu', a str or a dict")
        if not cpu(target):
            wanted.append(target)
    if wanted:
        raise AirlockError(f"tensors on {wanted[0]} need torch (without it only the CPU is available): pip install torch")


def _torch_tensors(torch, path, tensors, storages, mmap, restore):
    whole = None
    if mmap and any(len(s) == 4 for s in storages):
        whole = torch.UntypedStorage.from_file(path, shared=False, nbytes=os.path.getsize(path))
    made = [None] * len(storages)
    reads = []  # (index, offset, length): read in parallel below
    for i, s in enumerate(storages):
        if len(s) == 4:
            _dtype, _location, offset, length = s
            if length == 0:
                made[i] = torch.UntypedStorage(0)
            elif whole is not None:
                made[i] = whole[offset:offset + length]
            else:
                reads.append((i, offset, length))
        else:
            _dtype, _location, data = s
            made[i] = (torch.frombuffer(bytearray(data), dtype=torch.uint8).untyped_storage()
                       if data else torch.UntypedStorage(0))
    if reads:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            jobs = [(i, _storage_buffer(torch, length), offset, length) for i, offset, length in reads]
            workers = min(len(jobs), os.cpu_count() or 1, 8)
            if workers > 1:
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(workers) as pool:  # os.preadv releases the GIL
                    list(pool.map(lambda j: _pread_all(fd, path, j[1][1], j[2], j[3]), jobs))
            else:
                for _i, buf, offset, length in jobs:
                    _pread_all(fd, path, buf[1], offset, length)
            for i, buf, _offset, _length in jobs:
                made[i] = buf[0]
        finally:
            os.close(fd)
    # Storages move before the views are made, so views keep sharing.
    made = [restore(m, s[1]) for m, s in zip(made, storages)]
    out = []
    for storage, dtype, offset, shape, stride, requires_grad, parameter in tensors:
        dt = getattr(torch, dtype.split(".", 1)[1])
        st = made[storage]
        t = torch.empty((0,), dtype=dt, device=st.device).set_(st, offset, tuple(shape), tuple(stride))
        if parameter:
            t = torch.nn.Parameter(t, requires_grad=requires_grad)
        elif requires_grad:
            t.requires_grad_(True)
        out.append(t)
    return out, made


def _storage_buffer(torch, length):
    """A new uninitialised storage of `length` bytes and a writable view of it."""
    t = torch.empty(length, dtype=torch.uint8)
    try:
        return t.untyped_storage(), memoryview(t.numpy())
    except (RuntimeError, ImportError):  # torch without NumPy: through a bytearray
        buf = bytearray(length)
        return torch.frombuffer(buf, dtype=torch.uint8).untyped_storage(), memoryview(buf)


def _pread_all(fd, path, view, offset, length):
    got = 0
    while got < length:
        n = os.preadv(fd, [view[got:]], offset + got)
        if n <= 0:
            from . import AirlockError
            raise AirlockError(f"{path}: the file ends inside a tensor storage")
        got += n


def _numpy_arrays(path, tensors, storages, mmap):
    import numpy as np
    from . import AirlockError

    bufs = []
    whole = np.memmap(path, dtype=np.uint8, mode="c") if mmap and any(len(s) == 4 for s in storages) else None
    with open(path, "rb") as fh:
        for s in storages:
            if len(s) == 4:
                _dtype, _location, offset, length = s
                if whole is not None:
                    bufs.append(whole[offset:offset + length])
                else:
                    fh.seek(offset)
                    bufs.append(np.frombuffer(bytearray(fh.read(length)), dtype=np.uint8))
            else:
                bufs.append(np.frombuffer(bytearray(s[2]), dtype=np.uint8))
    out = []
    for storage, dtype, offset, shape, stride, _rg, _param in tensors:
        npd = _NUMPY_DTYPES.get(dtype)
        if npd is None:
            raise AirlockError(f"{dtype} tensors need torch (NumPy has no such dtype): pip install torch")
        item = np.dtype(npd).itemsize
        base = bufs[storage]
        if not base.size or 0 in shape:
            out.append(np.zeros(shape, npd))
            continue
        view = np.lib.stride_tricks.as_strided(base[offset * item:].view(npd), shape=tuple(shape),
                                               strides=tuple(s * item for s in stride))
        out.append(view.copy())
    return out


# torch's data-only rebuild functions the native plan may name, by
# qualified name: the ones `torch.load(weights_only=True)` allows, for the
# tensors only torch can hold (quantized, sparse, meta, conjugate views).
_TORCH_FUNCTIONS = {
    "torch._utils._rebuild_tensor_v2": "conjugate or negative views",
    "torch._utils._rebuild_tensor_v3": "conjugate or negative views",
    "torch._utils._rebuild_qtensor": "quantized tensors",
    "torch._utils._rebuild_sparse_tensor": "sparse tensors",
    "torch._utils._rebuild_meta_tensor_no_storage": "meta-device tensors",
}


def _forget_sparse_tensors(torch):
    """Drop the sparse tensors torch's rebuild functions queued for checking
    when the load failed before they were checked."""
    get = getattr(torch._utils, "_get_sparse_tensors_to_validate", None)
    pending = get() if get is not None else getattr(torch._utils, "_sparse_tensors_to_validate", None)
    if isinstance(pending, list):
        pending.clear()


class _Fill:
    """The placeholders of a plan's tree replaced with tensors (torch's, or
    NumPy arrays without torch), torch values, typed storages and the
    torch-only tensors made by torch's own rebuild functions, each object
    made once. Lists and dicts are filled in place, so reference cycles stay
    cycles."""

    def __init__(self, torch, built, made):
        self.torch = torch
        self.built = built
        self.made = made
        self.calls = {}
        self.storages = {}
        # id(container) -> (container, its result): the container is held so
        # that its id is not reused while filling.
        self.seen = {}

    def finish(self, root):
        import warnings

        from . import AirlockError

        torch = self.torch
        try:
            with warnings.catch_warnings():
                # torch's rebuild functions read the typed storages torch.load
                # hands them, which warn about their deprecation when used
                # from outside torch.
                warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
                out = self.fill(root)
            if self.calls:
                # Sparse tensors are made without checking their indices;
                # torch.load checks them after unpickling (malformed indices
                # would read out of bounds later), and so does this.
                with torch.sparse.check_sparse_tensor_invariants(True):
                    torch._utils._validate_loaded_sparse_tensors()
        except Exception as exc:  # torch's own checks refused the data
            if self.calls:
                _forget_sparse_tensors(torch)
            if isinstance(exc, AirlockError):
                raise
            raise AirlockError(f"torch refused a tensor of the file: {type(exc).__name__}: {exc}") from None
        return out

    def fill(self, node):
        if isinstance(node, (dict, list, tuple, set)):
            key = id(node)
            if key in self.seen:
                return self.seen[key][1]
            self.seen[key] = (node, node)  # itself while in progress
            if isinstance(node, dict):
                for k in list(node.keys()):
                    node[k] = self.fill(node[k])
                return node
            if isinstance(node, list):
                for i, v in enumerate(node):
                    node[i] = self.fill(v)
                return node
            items = [self.fill(v) for v in node]
            if isinstance(node, set):
                out = set(items)
            elif all(a is b for a, b in zip(items, node)):
                out = node  # unchanged: keep the object (it may be in a cycle)
            else:
                out = tuple(items)
            self.seen[key] = (node, out)
            return out
        torch = self.torch
        if isinstance(node, _native.TensorSlot):
            return self.built[node.index]
        if isinstance(node, (_native.TorchCallSlot, _native.StorageSlot)) and torch is None:
            from . import AirlockError
            what = "bare storages" if isinstance(node, _native.StorageSlot) else _TORCH_FUNCTIONS.get(node.function, "tensors")
            raise AirlockError(f"the file holds {what}, which only torch can make: pip install torch")
        if isinstance(node, _native.TorchCallSlot):
            made = self.calls.get(node.id)
            if made is None:
                if node.function not in _TORCH_FUNCTIONS:  # never: the list is fixed natively
                    from . import AirlockError
                    raise AirlockError(f"unexpected torch function {node.function}")
                function = getattr(torch._utils, node.function.rsplit(".", 1)[1])
                made = self.calls[node.id] = function(*(self.fill(a) for a in node.args))
            return made
        if isinstance(node, _native.StorageSlot):
            key = (node.index, node.dtype, node.byte_offset, node.nbytes)
            made = self.storages.get(key)
            if made is None:
                untyped = self.made[node.index]
                if node.byte_offset or node.nbytes != untyped.nbytes():
                    untyped = untyped[node.byte_offset:node.byte_offset + node.nbytes]
                dtype = getattr(torch, node.dtype.split(".", 1)[1])
                made = self.storages[key] = torch.storage.TypedStorage(
                    wrap_storage=untyped, dtype=dtype, _internal=True)
            return made
        if isinstance(node, _native.TorchValue):
            if torch is None:
                return tuple(node.shape) if node.kind == "size" else node.text
            if node.kind == "size":
                return torch.Size(node.shape)
            if node.kind == "device":
                return torch.device(node.text)
            return getattr(torch, node.text.split(".", 1)[1])
        return node
