"""Test helpers shipped with gemmbench: a scripted device and a conformance check for backends.

``check_kernel(MyKernel)`` runs a new backend through the same harness and checks as
the built-in ones (odd shapes, every transpose and dtype it claims, verification,
first-call accounting), so a backend author can test theirs in one line.
``ScriptedDevice`` is an in-process fake whose clock only moves when a fake launch
"runs", which makes the timer's calibration and stopping rule testable with exact values.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .case import GemmCase, Job
from .kernel import Kernel, Operands, Prepared
from .result import Measurement
from .session import RunHeader, Session
from .timer import TimingPolicy

__all__ = ["FAST_POLICY", "PLANTED", "ConformanceError", "ScriptedDevice", "check_kernel", "conformance_cases"]

#: A short policy for tests: a few samples, milliseconds per case.
FAST_POLICY = TimingPolicy(
    warmup_count=1, warmup_time_s=0.0, min_block_s=1e-4, min_samples=3, min_time_s=0.0, max_time_s=0.05, target=1.0
)


class ScriptedDevice:
    """A device with a virtual clock: each ``launch()`` advances it by the next scripted duration.

    ``mark()`` and ``now()`` read the virtual clock (ns), so the timer sees exactly the
    scripted times; ``timer_cost_ns`` is what calibration sizes blocks against.
    """

    shares_host_memory = True

    def __init__(self, durations_ns: Iterable[float], timer_cost_ns: float = 35.0, name: str = "scripted") -> None:
        self._durations: Iterator[float] = iter(durations_ns)
        self.t = 0
        self.timer_cost_ns = timer_cost_ns
        self.name = name
        self.launches = 0
        self.syncs = 0

    def launch(self) -> None:
        self.t += int(next(self._durations))
        self.launches += 1

    def now(self) -> int:
        return self.t

    def synchronize(self) -> None:
        self.syncs += 1

    def mark(self) -> int:
        return self.t

    def elapsed_ns(self, start: int, end: int) -> float:
        return float(end - start)

    def memory_available(self) -> int:
        return 1 << 40

    def cache_bytes(self) -> int:
        return 1 << 20

    def describe(self) -> dict[str, str]:
        return {"device": self.name}


class ConformanceError(AssertionError):
    """A backend failed ``check_kernel``; the message lists every failing case."""


def conformance_cases(dtypes: Sequence[str]) -> list[GemmCase]:
    """Small odd shapes (1s, primes, non-square) x every transpose x the given dtypes."""
    shapes = [(1, 1, 1), (7, 13, 5), (33, 17, 64), (64, 64, 64), (1, 97, 31), (61, 1, 29)]
    return [GemmCase(m, n, k, d, t) for (m, n, k), d, t in itertools.product(shapes, dtypes, ("NN", "NT", "TN", "TT"))]


def check_kernel(
    cls: type[Kernel], cases: Iterable[GemmCase] | None = None, threads: int = 1, policy: TimingPolicy = FAST_POLICY
) -> list[Measurement]:
    """Run ``cls`` in-process over conformance cases; raise ``ConformanceError`` on any failure.

    Checks: ``probe()`` does not raise and reports available; every case the kernel
    supports measures ``ok`` (verified against float64); unsupported cases give a reason;
    first-call and prepare times are recorded outside the samples.
    """
    reason = cls.probe()
    if reason is not None:
        raise ConformanceError(f"{cls.__name__}.probe() says unavailable: {reason}")
    session = Session(cls(), RunHeader("conformance", policy, threads), pin=False)
    rows, failures = [], []
    for case in cases or conformance_cases(cls.dtypes):
        row = session.run(Job(case)).row
        rows.append(row)
        if row.status == "skipped" and not row.reason:
            failures.append(f"{case}: skipped without a reason")
        elif row.status in ("error", "wrong"):
            failures.append(f"{case}: {row.status}: {row.reason}")
        elif row.status == "ok" and (row.first_call_s is None or row.prepare_s is None or row.n_samples < 3):
            failures.append(f"{case}: missing first-call/prepare time or samples")
    if failures:
        raise ConformanceError(f"{cls.__name__} failed {len(failures)} case(s):\n" + "\n".join(failures))
    return rows


class _MatmulKernel(Kernel):
    """Shared body of the planted test kernels below: NumPy matmul plus a twist."""

    name = "test-base"
    #: How the output is first filled (a kernel that accumulates starts from zeros).
    zeroed = False

    def compute(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        np.matmul(a, b, out=c)

    def output(self, case: GemmCase, operands: Operands) -> np.ndarray:
        make = np.zeros if self.zeroed else np.empty
        return make(case.c_shape, dtype=operands.a.dtype)

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        c = self.output(case, operands)
        return Prepared(lambda: self.compute(operands.a, operands.b, c), c)


class PlantedWrong(_MatmulKernel):
    """Off by a small but real amount in one element: must be flagged ``wrong``."""

    name = "test-wrong"

    def compute(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        np.matmul(a, b, out=c)
        c[-1, -1] += 0.01 * max(1.0, float(np.abs(c).max()))


class PlantedAccumulate(_MatmulKernel):
    """Computes C += A B (forgets beta = 0): right on the first call, wrong after timing."""

    name = "test-accumulate"
    zeroed = True

    def compute(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        c += a @ b


class PlantedOffset(_MatmulKernel):
    """C = A B + 1e-3 everywhere: within a normwise bound for float32 at k >= 256, not per entry."""

    name = "test-offset"

    def compute(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        np.matmul(a, b, out=c)
        c += np.asarray(1e-3, dtype=c.dtype)


class PlantedOnce(_MatmulKernel):
    """Computes the product on its first call only and returns at once afterwards (millions of GFLOP/s)."""

    name = "test-once"

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        c = self.output(case, operands)
        done: list[bool] = []

        def launch() -> None:
            if not done:
                self.compute(operands.a, operands.b, c)
                done.append(True)

        return Prepared(launch, c)


class PlantedRaise(_MatmulKernel):
    """Raises in prepare for k > 8: an ``error`` row, the sweep goes on."""

    name = "test-raise"

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        if case.k > 8:
            raise RuntimeError("planted failure for k > 8")
        return super().prepare(case, operands)


class PlantedCrash(_MatmulKernel):
    """Kills its process (as a segfaulting native library would) for k == 13."""

    name = "test-crash"

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        if case.k == 13:
            import os

            os.abort()
        return super().prepare(case, operands)


class PlantedHang(_MatmulKernel):
    """Never returns from prepare for k == 13: the worker is killed at the timeout."""

    name = "test-hang"

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        if case.k == 13:
            import time

            time.sleep(3600)
        return super().prepare(case, operands)


class PlantedUnavailable(_MatmulKernel):
    name = "test-unavailable"

    @classmethod
    def probe(cls) -> str | None:
        return "planted: library not installed"


PLANTED = [
    PlantedWrong,
    PlantedAccumulate,
    PlantedOffset,
    PlantedOnce,
    PlantedRaise,
    PlantedCrash,
    PlantedHang,
    PlantedUnavailable,
]
