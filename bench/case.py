"""GemmCase: one GEMM problem, validated at construction.

A case is pure data: the sizes, the element type and how A and B are stored.
It knows the work (FLOPs) and the compulsory memory traffic, so every
consumer (timer, CSV, roofline) derives intensity the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import GemmbenchError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "COMPUTE_PRECISIONS",
    "DTYPES",
    "MODES",
    "TRANSPOSES",
    "CaseError",
    "GemmCase",
    "Job",
    "check_mode",
    "dtype_eps",
    "grid",
    "numpy_dtype",
]

#: Element size in bytes and unit roundoff (machine epsilon) of each supported dtype.
DTYPES: dict[str, tuple[int, float]] = {
    "float16": (2, 2.0**-10),
    "bfloat16": (2, 2.0**-7),
    "float32": (4, 2.0**-23),
    "float64": (8, 2.0**-52),
}
#: Machine epsilon of the reduced precisions hardware may compute a float32 GEMM in, rounding the inputs to
#: them: NVIDIA TF32 (10 mantissa bits, A100 and later with TF32 allowed) and Huawei HF32 (11 mantissa bits,
#: per the CANN ATC reference, ``--allow_hf32``). float16 serves too (float32 on Ascend 910A/310P).
COMPUTE_PRECISIONS: dict[str, float] = {"tf32": 2.0**-10, "hf32": 2.0**-11}
#: Storage of (A, B): "N" row-major as used, "T" stored transposed (A is k x m, B is n x k).
TRANSPOSES: tuple[str, ...] = ("NN", "NT", "TN", "TT")
#: Cache state of a measurement: ``hot`` reuses the operands, ``cold`` rotates copies larger than the cache.
MODES: tuple[str, ...] = ("hot", "cold")


class CaseError(GemmbenchError, ValueError):
    """A case field is invalid; the message names the field and the valid values."""


def _check_dim(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CaseError(f"{field} must be an integer >= 1, got {value!r}")
    return value


def _choice(field: str, value: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    if value not in valid:
        raise CaseError(f"unknown {field} {value!r}; valid choices: {', '.join(valid)}")
    return value


@dataclass(frozen=True, order=True)
class GemmCase:
    """C[m, n] = A[m, k] @ B[k, n] in ``dtype``; ``trans`` says how A and B are stored.

    ``beta`` is implicitly 0: C is written, never read, so the compulsory traffic
    is one read of A and B and one write of C.
    """

    m: int
    n: int
    k: int
    dtype: str = "float32"
    trans: str = "NN"
    #: Independent products of this shape run by one call (attention heads, experts); each has its own A and B.
    batch: int = 1

    def __post_init__(self) -> None:
        for field in ("m", "n", "k", "batch"):
            _check_dim(field, getattr(self, field))
        _choice("dtype", self.dtype, DTYPES)
        _choice("transpose", self.trans, TRANSPOSES)

    @property
    def c_shape(self) -> tuple[int, ...]:
        """Shape of C: m x n, with a leading batch dimension when batched."""
        return (self.batch, self.m, self.n) if self.batch > 1 else (self.m, self.n)

    @property
    def trans_a(self) -> bool:
        return self.trans[0] == "T"

    @property
    def trans_b(self) -> bool:
        return self.trans[1] == "T"

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype][0]

    @property
    def flops(self) -> int:
        """Real GEMM work: one multiply and one add per (i, j, l) triple."""
        return 2 * self.m * self.n * self.k * self.batch

    @property
    def bytes(self) -> int:
        """Compulsory traffic s*(mk + kn + mn): each operand touched once (a lower bound)."""
        return self.itemsize * self.batch * (self.m * self.k + self.k * self.n + self.m * self.n)

    @property
    def intensity(self) -> float:
        """FLOPs per compulsory byte; real traffic is higher, so this is an upper bound on intensity."""
        return self.flops / self.bytes

    @property
    def label(self) -> str:
        return f"{self.m}x{self.n}x{self.k}" + (f"@{self.batch}" if self.batch > 1 else "")

    def __str__(self) -> str:
        return f"{self.label} {self.dtype} {self.trans}"


def check_mode(mode: str) -> str:
    """``mode`` if it is a cache mode, else ``CaseError`` naming the valid ones (the one place modes are checked)."""
    return _choice("cache mode", mode, MODES)


def dtype_eps(dtype: str) -> float:
    """Machine epsilon of ``dtype`` (spacing of floats at 1.0), or of a compute precision (``COMPUTE_PRECISIONS``)."""
    if dtype in COMPUTE_PRECISIONS:
        return COMPUTE_PRECISIONS[dtype]
    return DTYPES[_choice("dtype", dtype, DTYPES)][1]


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype for ``dtype``; bfloat16 needs the optional package ml_dtypes (imported lazily)."""
    import numpy as np

    _choice("dtype", dtype, DTYPES)
    if dtype == "bfloat16":
        try:
            import ml_dtypes
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise CaseError("bfloat16 needs ml_dtypes: pip install 'gemmbench[lowp]'") from exc
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def grid(sizes: Iterable[tuple[int, ...]], dtypes: Iterable[str], transposes: Iterable[str]) -> list[GemmCase]:
    """Cartesian product of shapes (m, n, k) or (m, n, k, batch) x dtypes x transposes, in that nesting order."""
    dtypes, transposes = list(dtypes), list(transposes)
    shapes = [(s[0], s[1], s[2], s[3] if len(s) > 3 else 1) for s in sizes]
    return [GemmCase(m, n, k, d, t, b) for (m, n, k, b) in shapes for d in dtypes for t in transposes]


@dataclass(frozen=True)
class Job:
    """One unit of work: a case in a cache mode, and the workload it stands for, if any."""

    case: GemmCase
    mode: str = "hot"
    #: The workload this case comes from (e.g. "pangu-ultra-135b:train tokens=256 tp=8"), its roles in it
    #: ("mlp.down; attn.o dgrad": one case can serve several roles of the same shape) and how many times one
    #: step runs it. Empty for plain sweeps.
    workload: str = ""
    role: str = ""
    count: int = 0

    def __post_init__(self) -> None:
        check_mode(self.mode)
