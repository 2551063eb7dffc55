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

import hashlib
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

from .case import DTYPES
from .errors import GemmbenchError, one_line
from .kernel import Kernel

__all__ = [
    "ENTRY_POINTS_ENV",
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
#: Set to 0 to ignore installed entry points (the project's own tests do: they see only what they build).
ENTRY_POINTS_ENV = "GEMMBENCH_ENTRY_POINTS"
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
        """Availability; a probe that raises, calls ``sys.exit`` or returns garbage gives a reason, never a crash."""
        try:
            reason = self.cls.probe()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit from a third-party probe must not end the tool
            return f"probe failed: {one_line(exc)}"
        if reason is not None and not isinstance(reason, str):
            return f"probe failed: returned {type(reason).__name__}, not None or a reason"
        return reason


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
        """Register ``cls``, or record why it cannot be (every attribute the harness reads is checked now)."""
        try:
            problem = _class_problem(cls)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a class attribute that raises (a property on a metaclass, ...)
            problem = f"reading its attributes failed: {one_line(exc)}"
        if problem:
            self.problems.append(Problem(origin, problem))
            return
        assert isinstance(cls, type) and issubclass(cls, Kernel)
        name = cls.name
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
            broken = "; ".join(f"{p.origin}: {p.error}" for p in self.problems)
            raise UnknownBackendError(
                f"unknown backend {name!r}; valid choices: {', '.join(self.entries) or '(none found)'}"
                + (f" (could not load: {broken})" if broken else "")
            ) from None

    def select(self, names: Iterable[str] | None) -> list[Entry]:
        """Entries for ``names`` (all, in discovery order, when ``None``)."""
        return list(self.entries.values()) if names is None else [self.get(n) for n in names]


def _class_problem(cls: object) -> str | None:
    """Why ``cls`` cannot be a backend, or None."""
    if not (isinstance(cls, type) and issubclass(cls, Kernel)):
        return f"{cls!r} is not a gemmbench Kernel subclass"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return f"{cls.__name__} has no 'name' (a non-empty string)"
    for attr in ("variant", "description"):
        if not isinstance(getattr(cls, attr), str):
            return f"{cls.__name__}.{attr} must be a string, got {getattr(cls, attr)!r}"
    dtypes = cls.dtypes
    if not isinstance(dtypes, (tuple, list)) or not all(isinstance(d, str) and d in DTYPES for d in dtypes):
        return f"{cls.__name__}.dtypes must be a tuple of {', '.join(DTYPES)}, got {dtypes!r}"
    if not callable(getattr(cls, "probe", None)):
        return f"{cls.__name__}.probe is not callable"
    return None


def _add_module(reg: Registry, module: ModuleType, origin: str, path: str = "") -> None:
    try:
        kernels = getattr(module, "KERNELS", None)
    except BaseException as exc:  # a module-level __getattr__ that raises
        reg.problems.append(Problem(origin, f"reading KERNELS failed: {one_line(exc)}"))
        return
    if kernels is None:
        return  # a helper module, not a backend
    if not isinstance(kernels, (list, tuple)):
        reg.problems.append(Problem(origin, f"KERNELS must be a list of Kernel classes, got {kernels!r}"))
        return
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
    """Import a kernel file by path under a private name unique to that path (idempotent).

    The name carries a digest of the resolved path: two ``GEMMBENCH_KERNEL_PATH`` folders holding
    files of the same name are two modules, not one loaded twice and reported as a duplicate.
    """
    resolved = str(Path(path).resolve())
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:10]
    name = f"{_USER_PREFIX}.{Path(path).stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
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
    if os.environ.get(ENTRY_POINTS_ENV, "1") == "0":
        return
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
            reg.add(cls, origin, str(getattr(cls, "__module__", "")))


def discover(kernel_path: str | None = None) -> Registry:
    """Build the registry: built-in package, then ``GEMMBENCH_KERNEL_PATH`` folders, then entry points
    (unless ``GEMMBENCH_ENTRY_POINTS=0``)."""
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
