"""gemmbench: GEMM microbenchmarks with one honest timing harness, CSV results and rooflines.

Importing this package is cheap and never imports optional libraries (numba, cupy,
torch, matplotlib); backends import theirs only when selected.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .case import DTYPES, TRANSPOSES, CaseError, GemmCase, grid
from .kernel import Kernel, Operands, Prepared
from .result import Measurement, read_results
from .runner import RunOptions, run
from .timer import TimingPolicy

__all__ = ["__version__", "DTYPES", "TRANSPOSES", "CaseError", "GemmCase", "grid", "Kernel", "Operands",
           "Prepared", "Measurement", "read_results", "RunOptions", "run", "TimingPolicy"]
