"""LLVM IR helpers for Numba backends (part of the backend facade; needs Numba and llvmlite).

Re-exported from the harness's own helpers, which the FMA ceiling microbenchmark shares.
"""

from __future__ import annotations

from ..llvmir import I32, I64, fma_function, splat, vector_type

__all__ = ["I32", "I64", "fma_function", "splat", "vector_type"]
