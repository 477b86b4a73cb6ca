"""Type stubs for airlock (see airlock/__init__.py for the documentation)."""

import os
from typing import Any, ContextManager, Dict, List, Literal, Optional, Union, overload

__version__: str

PathLike = Union[str, os.PathLike[str]]

class AirlockError(Exception):
    report: Optional[Report]
    def __init__(self, message: str, report: Optional[Report] = ...) -> None: ...
    @property
    def findings(self) -> List[Finding]: ...
    @property
    def rules(self) -> List[str]: ...

class UnsafeModelError(AirlockError): ...

class ModuleRebuiltError(AirlockError): ...

class MissingFileError(AirlockError, FileNotFoundError):
    def __init__(self, path: str) -> None: ...

class Finding:
    rule: str
    name: str
    severity: str
    message: str
    location: Optional[str]

class Report:
    path: str
    verdict: Literal["safe", "suspicious", "dangerous", "error"]
    format: str
    weights_only: Optional[bool]
    findings: List[Finding]
    size: int
    bytes_read: int
    weights_only_reason: Optional[str]
    @property
    def safe(self) -> bool: ...

@overload
def scan(target: Union[bytes, bytearray, memoryview], *, name: str = ...) -> Report: ...
@overload
def scan(target: PathLike, *, name: str = ...) -> Union[Report, List[Report]]: ...
def load(path: PathLike, *, map_location: Any = ..., mmap: bool = ...) -> Any: ...
def convert(src: PathLike, dst: PathLike, to: Literal["safetensors", "pt"] = ..., *, overwrite: bool = ...) -> Dict[str, Any]: ...
def inspect(path: PathLike) -> Dict[str, Any]: ...

class _Scope:
    def __enter__(self) -> _Scope: ...
    def __exit__(self, *exc: object) -> None: ...

class _Guard:
    def __call__(self, *, state_dicts: bool = ...) -> Union[_Guard, _Scope]: ...
    def __enter__(self) -> _Guard: ...
    def __exit__(self, *exc: object) -> None: ...
    def install(self) -> None: ...
    def uninstall(self) -> None: ...
    @property
    def active(self) -> bool: ...

guard: _Guard
from . import inputs as inputs
from . import probe as probe
