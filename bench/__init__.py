"""gemmbench: GEMM microbenchmarks with one honest timing harness, CSV results and rooflines.

Importing this package is cheap: names are loaded on first use (PEP 562), so
``import gemmbench.commands.plot`` does not load the measuring code, and nothing here
imports optional libraries (numba, cupy, torch, matplotlib). ``__version__`` here is the
one place the version is kept (pyproject.toml reads it). Backend authors import from
``gemmbench.backend``; the layers are described in docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "DTYPES": "case",
    "TRANSPOSES": "case",
    "CaseError": "case",
    "GemmCase": "case",
    "grid": "case",
    "GemmbenchError": "errors",
    "Kernel": "kernel",
    "Operands": "kernel",
    "Prepared": "kernel",
    "Measurement": "result",
    "read_results": "result",
    "RunOptions": "sweep",
    "run": "sweep",
    "TimingPolicy": "timer",
}
__all__ = [  # noqa: RUF022 - the version first, then the exports in the order above
    "__version__",
    "DTYPES",
    "TRANSPOSES",
    "CaseError",
    "GemmCase",
    "grid",
    "GemmbenchError",
    "Kernel",
    "Operands",
    "Prepared",
    "Measurement",
    "read_results",
    "RunOptions",
    "run",
    "TimingPolicy",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gemmbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
