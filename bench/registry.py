"""The backend registry: discover kernels, probe them, load them by name.

Two routes feed one registry:

* every module in the ``gemmbench.kernels`` package (and in any directory listed in
  ``GEMMBENCH_KERNEL_PATH``) that exports ``KERNELS = [KernelClass, ...]``;
* the entry-point group ``gemmbench.kernels`` of installed distributions, whose
  objects are a ``Kernel`` subclass, a list of them, or a module exporting ``KERNELS``.

Kernel modules must be cheap to import (heavy libraries are imported inside methods),
so discovery never pulls in numba, cupy or torch. A module that fails to import is
listed as broken with its error; a duplicate name is refused, naming both origins.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType

from .errors import GemmbenchError, one_line
from .kernel import Kernel

__all__ = [
    "ENTRY_POINT_GROUP",
    "KERNEL_PATH_ENV",
    "Entry",
    "Problem",
    "Registry",
    "UnknownBackendError",
    "discover",
    "load_kernel_class",
]

ENTRY_POINT_GROUP = "gemmbench.kernels"
KERNEL_PATH_ENV = "GEMMBENCH_KERNEL_PATH"
_USER_PREFIX = "gemmbench_user_kernels"


class UnknownBackendError(GemmbenchError, LookupError):
    """A backend name that no kernel registers; the message lists the known ones."""


@dataclass(frozen=True)
class Entry:
    """A discovered kernel class and where it came from."""

    name: str
    cls: type[Kernel]
    origin: str  # human-readable: "gemmbench.kernels.numpy_gemm" or "entry point numpy2 = pkg.mod"
    module: str  # importable module name (for worker processes)
    path: str = ""  # file path, for modules found through GEMMBENCH_KERNEL_PATH

    def probe(self) -> str | None:
        """Availability, with ``probe()`` bugs turned into a reason rather than a crash."""
        try:
            return self.cls.probe()
        except Exception as exc:  # a probe must never take the tool down
            return f"probe failed: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Problem:
    """A module or entry point that could not be registered."""

    origin: str
    error: str


@dataclass
class Registry:
    """Backends by name, in discovery order, plus what could not be registered and why."""

    entries: dict[str, Entry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, cls: object, origin: str, module: str, path: str = "") -> None:
        if not (isinstance(cls, type) and issubclass(cls, Kernel)):
            self.problems.append(Problem(origin, f"{cls!r} is not a gemmbench Kernel subclass"))
            return
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            self.problems.append(Problem(origin, f"{cls.__name__} has no 'name'"))
            return
        if name in self.entries:
            first = self.entries[name].origin
            self.problems.append(
                Problem(
                    origin, f"duplicate backend name {name!r}: already registered by {first}; {origin} was not loaded"
                )
            )
            return
        self.entries[name] = Entry(name, cls, origin, module, path)

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> Entry:
        try:
            return self.entries[name]
        except KeyError:
            raise UnknownBackendError(
                f"unknown backend {name!r}; valid choices: {', '.join(self.entries) or '(none found)'}"
            ) from None

    def select(self, names: Iterable[str] | None) -> list[Entry]:
        """Entries for ``names`` (all, in discovery order, when ``None``)."""
        return list(self.entries.values()) if names is None else [self.get(n) for n in names]


def _add_module(reg: Registry, module: ModuleType, origin: str, path: str = "") -> None:
    kernels = getattr(module, "KERNELS", None)
    if kernels is None:
        return  # a helper module, not a backend
    for cls in kernels:
        reg.add(cls, origin, module.__name__, path)


def _scan_package(reg: Registry) -> None:
    # Imported by name, not statically: the harness never depends on its plugins.
    package = importlib.import_module(f"{__package__}.kernels")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{package.__name__}.{info.name}"
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # SystemExit from a bad import must not end the tool either
            reg.problems.append(Problem(name, one_line(exc)))
            continue
        _add_module(reg, module, name)


def import_file(path: str) -> ModuleType:
    """Import a kernel file by path under a private package name (idempotent)."""
    stem = Path(path).stem
    name = f"{_USER_PREFIX}.{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _scan_paths(reg: Registry, env: str | None) -> None:
    for folder in filter(None, (env or "").split(os.pathsep)):
        for file in sorted(Path(folder).glob("*.py")):
            if file.name.startswith("_"):
                continue
            try:
                module = import_file(str(file))
            except BaseException as exc:
                reg.problems.append(Problem(str(file), one_line(exc)))
                continue
            _add_module(reg, module, str(file), str(file))


def _scan_entry_points(reg: Registry) -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name} = {ep.value}"
        try:
            obj = ep.load()
        except BaseException as exc:
            reg.problems.append(Problem(origin, one_line(exc)))
            continue
        if isinstance(obj, ModuleType):
            _add_module(reg, obj, origin)
            continue
        for cls in obj if isinstance(obj, (list, tuple)) else [obj]:
            reg.add(cls, origin, getattr(cls, "__module__", ""))


def discover(kernel_path: str | None = None) -> Registry:
    """Build the registry: built-in package, then ``GEMMBENCH_KERNEL_PATH`` folders, then entry points."""
    reg = Registry()
    _scan_package(reg)
    _scan_paths(reg, kernel_path if kernel_path is not None else os.environ.get(KERNEL_PATH_ENV))
    _scan_entry_points(reg)
    return reg


def load_kernel_class(module: str, qualname: str, path: str = "") -> type[Kernel]:
    """Re-import a kernel class in a worker process from what an ``Entry`` recorded."""
    mod = import_file(path) if path else importlib.import_module(module)
    obj: object = mod
    for part in qualname.split("."):
        obj = getattr(obj, part)
    assert isinstance(obj, type) and issubclass(obj, Kernel), f"{module}.{qualname} is not a Kernel"
    return obj
