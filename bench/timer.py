"""The timer: first call, warm-up, calibration, sampling with a bounded noise-based stop.

Every backend is timed by this one loop. It only talks to a ``Device`` (marks and
synchronisation), so the same code is correct on a CPU (host clock) and on an
asynchronous accelerator (events on the stream).
"""

from __future__ import annotations

import contextlib
import gc
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .device import Device
from .errors import GemmbenchError
from .stats import median_ci_halfwidth, summarize

__all__ = ["PolicyError", "Samples", "TimingPolicy", "calibrate", "measure", "quiet_interpreter"]

Clock = Callable[[], int]


class PolicyError(GemmbenchError, ValueError):
    """A timing policy field is out of range."""


@dataclass(frozen=True)
class TimingPolicy:
    """How long and how carefully to measure one case.

    Sampling stops as soon as ``min_samples`` and ``min_time_s`` are met *and* the
    noise metric is at or below ``target``; it always stops at ``max_time_s``
    (the result is then marked not converged).
    """

    warmup_count: int = 2
    warmup_time_s: float = 0.05
    #: Each timed block lasts at least this long, and at least 1000x the device's timer cost.
    min_block_s: float = 1e-3
    min_samples: int = 10
    min_time_s: float = 0.1
    max_time_s: float = 2.0
    #: "iqr": relative IQR of the samples; "ci": relative half-width of the median's 95 % CI.
    metric: str = "iqr"
    target: float = 0.02
    #: Hard cap on inner-loop length (keeps a broken fast path from looping forever).
    max_inner: int = 1 << 20

    def __post_init__(self) -> None:
        if self.metric not in ("iqr", "ci"):
            raise PolicyError(f"unknown noise metric {self.metric!r}; valid choices: iqr, ci")
        for name in ("warmup_time_s", "min_block_s", "min_time_s", "max_time_s", "target"):
            if not getattr(self, name) >= 0:
                raise PolicyError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.min_samples < 3:
            raise PolicyError(f"min_samples must be >= 3 (quartiles need samples), got {self.min_samples}")
        if self.max_time_s < self.min_time_s:
            raise PolicyError(f"max_time_s ({self.max_time_s}) must be >= min_time_s ({self.min_time_s})")

    def noise(self, samples: Sequence[float]) -> float:
        if self.metric == "ci":
            return median_ci_halfwidth(samples)
        return summarize(samples).rel_iqr


@dataclass(frozen=True)
class Samples:
    """Per-call seconds of each timed block, plus how they were obtained."""

    per_call_s: tuple[float, ...]
    inner: int
    first_call_s: float
    warmup_calls: int
    converged: bool
    sampling_s: float


class _Blocks:
    """Runs blocks of launches, rotating through ``launches`` (one per operand copy)."""

    def __init__(self, launches: Sequence[Callable[[], object]], device: Device) -> None:
        self.launches = list(launches)
        self.device = device
        self.offset = 0

    def run(self, inner: int) -> float:
        """Seconds per call of one block of ``inner`` back-to-back launches."""
        n = len(self.launches)
        if n == 1:
            seq = self.launches * inner  # built outside timing
        else:
            seq = [self.launches[(self.offset + j) % n] for j in range(inner)]
        self.offset = (self.offset + inner) % n
        dev = self.device
        dev.synchronize()
        start = dev.mark()
        for launch in seq:
            launch()
        end = dev.mark()
        return dev.elapsed_ns(start, end) * 1e-9 / inner


def _first_call(launch: Callable[[], object], device: Device, now: Clock) -> float:
    """Wall time of the very first launch, synchronised (JIT, handles, pool spin-up)."""
    t0 = now()
    launch()
    device.synchronize()
    return (now() - t0) * 1e-9


def _warm_up(blocks: _Blocks, policy: TimingPolicy, now: Clock) -> int:
    calls, t0 = 0, now()
    while calls < policy.warmup_count or (now() - t0) * 1e-9 < policy.warmup_time_s:
        blocks.run(1)
        calls += 1
    return calls


def calibrate(blocks: _Blocks, device: Device, policy: TimingPolicy) -> int:
    """Smallest inner-loop count whose block lasts >= max(min_block_s, 1000 x timer cost)."""
    target = max(policy.min_block_s, 1000 * device.timer_cost_ns * 1e-9)
    inner = 1
    while inner < policy.max_inner:
        block = blocks.run(inner) * inner
        if block >= target:
            break
        grow = target / block * 1.25 if block > 0 else 10.0  # aim just past the target
        inner = min(policy.max_inner, max(2 * inner, math.ceil(inner * grow)))
    return inner


@contextlib.contextmanager
def quiet_interpreter() -> Iterator[None]:
    """No garbage collection, tracing or profiling hooks while timed blocks run; all restored after.

    A collection inside a timed block would be charged to the GEMM; under coverage or a
    debugger, ``sys.settrace``/``sys.setprofile`` hooks would run on every Python line of
    the launch loop and inflate small cases many times over.
    """
    gc_was_enabled = gc.isenabled()
    trace, profile = sys.gettrace(), sys.getprofile()
    gc.disable()
    sys.settrace(None)
    sys.setprofile(None)
    try:
        yield
    finally:
        sys.settrace(trace)
        sys.setprofile(profile)
        if gc_was_enabled:
            gc.enable()


def measure(
    launches: Sequence[Callable[[], object]], device: Device, policy: TimingPolicy, now: Clock = time.perf_counter_ns
) -> Samples:
    """Time the GEMM behind ``launches`` (hot: one launch; cold: one per rotated operand copy)."""
    blocks = _Blocks(launches, device)
    first = _first_call(blocks.launches[0], device, now)
    warm = _warm_up(blocks, policy, now)
    inner = calibrate(blocks, device, policy)
    samples: list[float] = []
    converged = False
    t0 = now()
    with quiet_interpreter():
        while True:
            samples.append(blocks.run(inner))
            elapsed = (now() - t0) * 1e-9
            if (
                len(samples) >= policy.min_samples
                and elapsed >= policy.min_time_s
                and policy.noise(samples) <= policy.target
            ):
                converged = True
                break
            if elapsed >= policy.max_time_s and len(samples) >= 3:
                break
    return Samples(tuple(samples), inner, first, warm, converged, (now() - t0) * 1e-9)
