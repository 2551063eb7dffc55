"""Operands and verification: seeded random inputs, every result checked entry by entry.

Inputs are standard-normal (never zeros or ones: some hardware is faster on zeros, and
constant inputs hide index bugs). The reference is the float64 product of the *rounded*
inputs, so only the kernel's own arithmetic counts as error.

The bound is per entry, from how the result was computed (``Precision``)::

    |C_ij - R_ij| <= u_out |R_ij| + SAFETY (2 u_in + u_acc sqrt(k)) s_ij,    s_ij = sqrt(sum_l a_il^2 b_lj^2)

``u_out`` is the unit roundoff of the dtype C is stored in (the final rounding), ``u_acc`` that
of the running sums (float32 for float16/bfloat16, as BLAS, cuBLAS and the Ascend cube do),
``u_in`` that of a lower precision the inputs are rounded to first (TF32, HF32, float16 for
float32 on Ascend 910A/310P; 0 otherwise). ``s_ij`` is the size of the terms summed into
entry (i, j): rounding errors grow like sqrt(k) of them (a random walk), and each entry is
judged against its own terms, not against the largest entry of the matrix. Why per entry:
a normwise bound divides by max(|A||B|) ~ 0.64 k while |C| ~ sqrt(k), so for bfloat16 an
all-zero C passed at k >= 192. Here C = 0, a missing k-panel, one wrong micro-tile or C
accumulated twice are all orders of magnitude outside the bound for every dtype. SAFETY is
6: the worst entry of correct results (OpenBLAS, our blocked and naive Numba kernels, float32
and float64, k up to 8192, 3 seeds) reached 3.7 times the unscaled bound.

Up to ``FULL_CHECK_MAX_MNK`` multiply-adds every entry is recomputed. Above it, Freivalds'
check covers every entry in O(n^2): for random vectors x, C x must match A (B x) within the
bound's l2 aggregate over each row, and ``SPOT_LINES`` random rows and columns are still
checked entry by entry (they say where an error is). The random vectors and lines come from a
fresh seed per check, recorded in the row (``verified``), so no fixed entry is ever unchecked.
Freivalds' resolution is the bound's l2 norm over a row: for float32/float64 a single dropped
term in a micro-tile is found, for a 16-bit output (whose rounding, u_out |C|, dominates the
bound) only errors several times larger; every case up to 2^30 multiply-adds is checked in full.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass

import numpy as np

from .buffers import aligned_empty
from .case import GemmCase, dtype_eps, numpy_dtype
from .kernel import Operands

__all__ = [
    "FULL_CHECK_MAX_MNK",
    "SAFETY",
    "SPOT_LINES",
    "Precision",
    "Verdict",
    "entry_bounds",
    "make_operands",
    "verify",
]

#: Up to this m*n*k every entry is recomputed in float64; above it, Freivalds' check plus spot lines.
FULL_CHECK_MAX_MNK = 1 << 30
#: Random rows and columns checked entry by entry above FULL_CHECK_MAX_MNK.
SPOT_LINES = 16
#: Random vectors of Freivalds' check.
FREIVALDS_VECTORS = 4
#: Factor on the rounding-error model (see the module docstring for how it was chosen).
SAFETY = 6.0
#: Gaussian quantile for Freivalds' statistic: a correct result fails with probability ~1e-9 per row.
FREIVALDS_Z = 6.0


def make_operands(case: GemmCase, seed: int = 0) -> Operands:
    """Seeded standard-normal A (m x k) and B (k x n) in the case's dtype and storage order; batched cases
    get a leading batch dimension (each product its own A and B)."""
    rng = np.random.default_rng(seed)
    dt = numpy_dtype(case.dtype)
    lead = (case.batch,) if case.batch > 1 else ()
    a_shape = lead + ((case.k, case.m) if case.trans_a else (case.m, case.k))
    b_shape = lead + ((case.n, case.k) if case.trans_b else (case.k, case.n))
    a, b = aligned_empty(a_shape, dt), aligned_empty(b_shape, dt)  # see buffers.py: placement matters
    a[...] = rng.standard_normal(a_shape, dtype=np.float32)
    b[...] = rng.standard_normal(b_shape, dtype=np.float32)
    return Operands(_swap(a) if case.trans_a else a, _swap(b) if case.trans_b else b)


def _swap(x: np.ndarray) -> np.ndarray:
    """The transposed view of each matrix (the last two axes)."""
    return np.swapaxes(x, -1, -2)


def unit_roundoff(dtype: str) -> float:
    """Half the spacing of floats at 1.0: the largest relative error of one rounding to nearest."""
    return dtype_eps(dtype) / 2


@dataclass(frozen=True)
class Precision:
    """How a result was computed: the dtype inputs were rounded to, the running sums, the stored output."""

    output: str
    accumulate: str
    inputs: str | None = None

    @classmethod
    def of(cls, case: GemmCase, compute_dtype: str | None = None) -> Precision:
        """The default for ``case``: float32 sums for 16-bit dtypes; inputs rounded to ``compute_dtype`` (a dtype
        or a ``COMPUTE_PRECISIONS`` name such as tf32) when it is lower."""
        low = case.dtype in ("float16", "bfloat16")
        lower = compute_dtype if compute_dtype and dtype_eps(compute_dtype) > dtype_eps(case.dtype) else None
        return cls(case.dtype, "float32" if low else case.dtype, lower)

    def factors(self, k: int) -> tuple[float, float]:
        """(u_out, SAFETY (2 u_in + u_acc sqrt(k))): the two coefficients of the entry bound."""
        u_in = unit_roundoff(self.inputs) if self.inputs else 0.0
        return unit_roundoff(self.output), SAFETY * (2 * u_in + unit_roundoff(self.accumulate) * math.sqrt(k))

    def __str__(self) -> str:
        parts = [f"inputs {self.inputs}"] if self.inputs else []
        return ", ".join([*parts, f"sums {self.accumulate}", f"output {self.output}"])


def entry_bounds(a: np.ndarray, b: np.ndarray, ref: np.ndarray, prec: Precision) -> np.ndarray:
    """The allowed |C - ref| of every entry (float64 inputs; ``ref`` = a @ b)."""
    u_out, g = prec.factors(a.shape[1])
    return u_out * np.abs(ref) + g * np.sqrt((a * a) @ (b * b))


@dataclass(frozen=True)
class Verdict:
    """The worst error found, as a multiple of its bound (``max_error``; ok when <= ``tolerance`` = 1)."""

    max_error: float
    tolerance: float
    method: str  # "full", or "freivalds:<vectors>+spot:<lines> seed=<seed>"
    detail: str = ""  # where the worst error is, and its size against its bound

    @property
    def ok(self) -> bool:
        return bool(self.max_error <= self.tolerance)  # NaN compares False: NaN is wrong


@dataclass(frozen=True)
class _Worst:
    ratio: float  # error / bound; NaN if any error is NaN
    at: tuple[int, ...]
    error: float
    bound: float


def _worst(err: np.ndarray, bound: np.ndarray) -> _Worst:
    """The entry whose error is the largest multiple of its bound (a NaN first)."""
    if err.size == 0:
        return _Worst(0.0, (), 0.0, 0.0)
    bound = np.broadcast_to(bound, err.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)  # a nonzero error against a zero bound is inf; NaN stays
    nan = np.isnan(ratio)
    idx = np.unravel_index(int(np.argmax(nan) if nan.any() else np.argmax(ratio)), ratio.shape)
    return _Worst(float(ratio[idx]), tuple(int(i) for i in idx), float(err[idx]), float(bound[idx]))


def _verdict(checks: list[tuple[str, _Worst]], method: str) -> Verdict:
    """The worst of several checks, described by where it is."""
    name, w = max(checks, key=lambda c: math.inf if math.isnan(c[1].ratio) else c[1].ratio)
    at = ", ".join(map(str, w.at))
    return Verdict(w.ratio, 1.0, method, f"{name} ({at}): error {w.error:.3g}, bound {w.bound:.3g}")


def _full(a: np.ndarray, b: np.ndarray, c: np.ndarray, prec: Precision) -> Verdict:
    ref = a @ b
    return _verdict([("entry", _worst(np.abs(c - ref), entry_bounds(a, b, ref, prec)))], "full")


def _freivalds(a: np.ndarray, b: np.ndarray, c: np.ndarray, prec: Precision, seed: int) -> Verdict:
    """Freivalds' check over every entry, then spot rows and columns entry by entry."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b.shape[1], FREIVALDS_VECTORS))
    d = np.abs(c @ x - a @ (b @ x))
    u_out, g = prec.factors(a.shape[1])
    # If every |e_ij| <= bound_ij, (C x - A B x)_i has standard deviation <= sqrt(sum_j bound_ij^2) over x;
    # that sum is bounded with row norms only: sum_j s_ij^2 = sum_l a_il^2 |b_l|^2, and |C_i| stands for
    # |R_i| (an error large enough to change |C_i| is far outside u_out |C_i|).
    terms = (a * a) @ np.sum(b * b, axis=1)
    spread = np.sqrt(2 * (u_out**2 * np.sum(c * c, axis=1) + g**2 * terms))
    checks = [("row, vector", _worst(d, FREIVALDS_Z * spread[:, None]))]
    rows = np.sort(rng.choice(a.shape[0], min(SPOT_LINES, a.shape[0]), replace=False))
    cols = np.sort(rng.choice(b.shape[1], min(SPOT_LINES, b.shape[1]), replace=False))
    ref = a[rows] @ b
    w = _worst(np.abs(c[rows] - ref), entry_bounds(a[rows], b, ref, prec))
    checks.append(("entry", dataclasses.replace(w, at=(int(rows[w.at[0]]), w.at[1])) if w.at else w))
    ref = a @ b[:, cols]
    w = _worst(np.abs(c[:, cols] - ref), entry_bounds(a, b[:, cols], ref, prec))
    checks.append(("entry", dataclasses.replace(w, at=(w.at[0], int(cols[w.at[1]]))) if w.at else w))
    return _verdict(checks, f"freivalds:{FREIVALDS_VECTORS}+spot:{SPOT_LINES} seed={seed}")


def verify(
    case: GemmCase,
    operands: Operands,
    c: np.ndarray,
    seed: int | None = None,
    compute_dtype: str | None = None,
    precision: Precision | None = None,
) -> Verdict:
    """Check ``c`` against the float64 product of ``operands``, every entry against its own bound.

    ``precision`` says how the kernel computed (default ``Precision.of(case, compute_dtype)``);
    ``seed`` draws Freivalds' vectors and the spot lines (default: fresh, recorded in ``method``).
    """
    if c.shape != case.c_shape:
        return Verdict(math.inf, 1.0, f"shape {c.shape} != {case.c_shape}")
    prec = precision or Precision.of(case, compute_dtype)
    seed = secrets.randbits(31) if seed is None else seed
    if case.batch == 1:
        return _check(operands.a, operands.b, c, case, prec, seed)
    verdicts = [_check(operands.a[i], operands.b[i], c[i], case, prec, seed + i) for i in range(case.batch)]
    worst = max(
        range(case.batch), key=lambda i: math.inf if math.isnan(verdicts[i].max_error) else verdicts[i].max_error
    )
    v = verdicts[worst]  # every product checked; the row reports the worst, and which one it is
    return Verdict(v.max_error, v.tolerance, v.method, f"batch {worst}, {v.detail}" if v.detail else v.detail)


def _check(a: np.ndarray, b: np.ndarray, c: np.ndarray, case: GemmCase, prec: Precision, seed: int) -> Verdict:
    a64, b64, c64 = a.astype(np.float64), b.astype(np.float64), c.astype(np.float64)
    if case.m * case.n * case.k <= FULL_CHECK_MAX_MNK:
        return _full(a64, b64, c64, prec)
    return _freivalds(a64, b64, c64, prec, seed)
