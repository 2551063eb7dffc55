"""The kernel (backend) contract: what a GEMM implementation gives the harness.

A kernel never times itself. The harness calls, in order:

1. ``probe()`` (class method, in the parent process) - available, or why not; never raises
   and never imports a heavy library just to answer.
2. ``setup(threads)`` once per worker - owns its thread pools, returns the facts to record.
3. ``supports(case)`` - ``None``, or why this case is not applicable (a *skipped* row).
4. ``prepare(case, operands)`` - everything that must stay out of timing: allocation,
   transfers, format casts. Returns a ``Prepared`` whose ``launch`` runs one GEMM
   *asynchronously* (it never synchronises: the device does that). A JIT backend may
   compile here or in its first launch: the first call is timed on its own
   (``first_call_s``) and never sampled, so either way the cost is reported, not mixed in.
5. ``poison(prepared.output)`` after timing - fill the output with NaN; then one more
   ``launch()`` whose result ``fetch(prepared.output)`` brings to the host for verification. A
   kernel that skips work after its first call, or accumulates into C, cannot pass.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .case import GemmCase
from .device import Device, HostDevice

__all__ = ["Kernel", "Operands", "Prepared"]


@dataclass(frozen=True)
class Operands:
    """Host operands in their logical shapes: ``a`` is m x k, ``b`` is k x n (batch x m x k and
    batch x k x n for a batched case).

    For a transposed case the array is a transposed view of the stored matrices (``.T``, or
    ``.transpose(0, 2, 1)`` when batched), so transposing it back gives the contiguous buffer a
    BLAS-style kernel would receive.
    """

    a: np.ndarray
    b: np.ndarray


@dataclass
class Prepared:
    """A ready-to-launch GEMM: ``launch()`` issues one, ``output`` is what ``fetch`` reads."""

    launch: Callable[[], Any]
    output: Any
    #: Extra facts for the row (e.g. format "NZ", "tf32 on").
    facts: dict[str, str] = field(default_factory=dict)
    #: Precision the hardware really computes in, when lower than the case's dtype: float32 run as
    #: "tf32" (cuBLAS with TF32 allowed), "hf32" (Ascend with HF32 allowed) or "float16" (Ascend 910A/310P).
    #: Verification then rounds the inputs to it, the row's ``compute`` column records it, and the row is
    #: placed under the ceilings measured at that compute precision.
    compute_dtype: str | None = None


class Kernel(abc.ABC):
    """Base class of every backend. Subclasses set ``name`` and implement ``prepare``."""

    #: Unique backend name used on the command line and in the CSV.
    name: ClassVar[str]
    #: Dtypes this kernel computes; others are skipped with a reason.
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")
    #: Free-form variant tag recorded in the CSV (format, algorithm, precision mode).
    variant: ClassVar[str] = ""
    #: One line shown by ``gemmbench list``.
    description: ClassVar[str] = ""
    #: Whether ``prepare`` handles batched cases (``case.batch > 1``: operands with a leading batch
    #: dimension, C of ``case.c_shape``); others are skipped with a reason.
    batched: ClassVar[bool] = False
    #: Accelerator backends set this: ``gemmbench machine`` then measures the device's own roofs
    #: (large-GEMM peak per dtype, and copy bandwidth when the kernel has ``device_copy(nbytes)``).
    measures_own_ceilings: ClassVar[bool] = False

    @classmethod
    def probe(cls) -> str | None:
        """``None`` when the backend can run here, else the reason it cannot. Must not raise."""
        return None

    def setup(self, threads: int) -> dict[str, str]:
        """Fix thread counts for this process (BLAS pools via threadpoolctl) and report them."""
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=threads)  # kept alive for the process
        return {"blas_threads": str(threads)}

    def teardown(self) -> None:
        """Undo ``setup`` (thread limits) when the process outlives the kernel, e.g. under pytest."""
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()

    def device(self) -> Device:
        """The device this kernel runs on; CPU kernels use the host clock."""
        if not hasattr(self, "_device"):
            self._device: Device = HostDevice()
        return self._device

    def supports(self, case: GemmCase) -> str | None:
        """``None`` if the case can run, else a one-line reason (recorded as *skipped*)."""
        if case.dtype not in self.dtypes:
            return f"{self.name} does not support {case.dtype} (supports {', '.join(self.dtypes)})"
        if case.batch > 1 and not self.batched:
            return f"{self.name} runs one product per call: batched cases ({case.label}) are skipped"
        return None

    @abc.abstractmethod
    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        """Set up one GEMM outside timing and return its launcher."""

    def poison(self, output: Any) -> None:
        """Fill ``output`` with NaN, so only a launch that writes every entry passes verification.

        CPU outputs are NumPy arrays; accelerator backends override this for device arrays.
        """
        np.asarray(output)[...] = np.nan

    def fetch(self, output: Any) -> np.ndarray:
        """Bring a result to the host; CPU kernels already have it there."""
        return np.asarray(output)

    def release(self) -> None:
        """Give back memory cached between cases (a device memory pool), once a case's arrays are dropped.

        Called after every case, so the next one is judged against, and can use, the whole device.
        """
        return None

    def describe(self) -> dict[str, str]:
        """Library versions and settings recorded with every row."""
        return {}
