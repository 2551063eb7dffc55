"""Operands and verification: seeded random inputs, checked against a float64 reference.

Inputs are standard-normal (never zeros or ones: some hardware is faster on zeros, and
constant inputs hide index bugs). The reference is computed in float64 from the
*rounded* inputs, so only the kernel's own arithmetic counts as error.

Error metric: max |C - C_ref| / max (|A| |B|), a normwise relative error that is
independent of cancellation. Tolerance grows like sqrt(k) unit roundoffs (random-walk
accumulation of rounding errors) plus the output rounding; a wrong index or a
missing term gives an error of order 1, far above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .buffers import aligned_empty
from .case import GemmCase, dtype_eps, numpy_dtype
from .kernel import Operands

__all__ = ["FULL_CHECK_MAX_MNK", "SAMPLED_LINES", "Verdict", "make_operands", "tolerance", "verify"]

#: Up to this m*n*k the whole product is recomputed in float64; above it, sampled rows and columns.
FULL_CHECK_MAX_MNK = 1 << 30
#: Rows and columns recomputed in sampled mode.
SAMPLED_LINES = 64


def make_operands(case: GemmCase, seed: int = 0) -> Operands:
    """Seeded standard-normal A (m x k) and B (k x n) in the case's dtype and storage order."""
    rng = np.random.default_rng(seed)
    dt = numpy_dtype(case.dtype)
    a_shape = (case.k, case.m) if case.trans_a else (case.m, case.k)
    b_shape = (case.n, case.k) if case.trans_b else (case.k, case.n)
    a, b = aligned_empty(a_shape, dt), aligned_empty(b_shape, dt)  # see buffers.py: placement matters
    a[...] = rng.standard_normal(a_shape, dtype=np.float32)
    b[...] = rng.standard_normal(b_shape, dtype=np.float32)
    return Operands(a.T if case.trans_a else a, b.T if case.trans_b else b)


def tolerance(case: GemmCase, compute_dtype: str | None = None) -> float:
    """Allowed normwise relative error for the dtype computed in (default the case's) and depth k."""
    eps = dtype_eps(compute_dtype or case.dtype)
    return eps * (2.0 + 4.0 * math.sqrt(case.k))


@dataclass(frozen=True)
class Verdict:
    max_error: float
    tolerance: float
    method: str  # "full" or "sampled:<lines>"

    @property
    def ok(self) -> bool:
        return bool(self.max_error <= self.tolerance)  # NaN compares False: NaN is wrong


def _rows_cols(case: GemmCase, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    rows = np.unique(np.r_[0, case.m - 1, rng.integers(0, case.m, SAMPLED_LINES)])
    cols = np.unique(np.r_[0, case.n - 1, rng.integers(0, case.n, SAMPLED_LINES)])
    return rows, cols


def _normwise(diff_parts: list[np.ndarray], bound_parts: list[np.ndarray]) -> float:
    err = max(float(np.max(np.abs(d))) for d in diff_parts)
    scale = max(float(np.max(b)) for b in bound_parts)
    return err / scale if scale > 0 else err


def verify(
    case: GemmCase, operands: Operands, c: np.ndarray, seed: int = 0, compute_dtype: str | None = None
) -> Verdict:
    """Compare ``c`` with the float64 product of ``operands`` (tolerance of ``compute_dtype`` if given)."""
    tol = tolerance(case, compute_dtype)
    if c.shape != (case.m, case.n):
        return Verdict(math.inf, tol, f"shape {c.shape} != {(case.m, case.n)}")
    a = operands.a.astype(np.float64)
    b = operands.b.astype(np.float64)
    c = c.astype(np.float64)
    if case.m * case.n * case.k <= FULL_CHECK_MAX_MNK:
        err = _normwise([c - a @ b], [np.abs(a) @ np.abs(b)])
        return Verdict(err, tol, "full")
    rows, cols = _rows_cols(case, seed)
    diffs = [c[rows] - a[rows] @ b, c[:, cols] - a @ b[:, cols]]
    bounds = [np.abs(a[rows]) @ np.abs(b), np.abs(a) @ np.abs(b[:, cols])]
    return Verdict(_normwise(diffs, bounds), tol, f"sampled:{SAMPLED_LINES}")
