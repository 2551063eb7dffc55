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
from typing import Protocol

from .device import Device
from .errors import GemmbenchError
from .stats import median_ci_halfwidth, summarize

__all__ = [
    "TURN_S",
    "BlockMonitor",
    "PolicyError",
    "Samples",
    "TimingPolicy",
    "Turns",
    "calibrate",
    "measure",
    "quiet_interpreter",
]

Clock = Callable[[], int]


class PolicyError(GemmbenchError, ValueError):
    """A timing policy field is out of range."""


@dataclass(frozen=True)
class TimingPolicy:
    """How long and how carefully to measure one case.

    Sampling stops once ``min_samples`` and ``min_time_s`` are met *and* the noise metric has
    been at or below ``target`` for ``patience`` consecutive samples, over all samples and over
    the most recent half (``met``): testing after every sample alone stops early on a lucky
    streak (in simulation 46 % of cases with a true relative IQR of 3 % stopped "converged"
    against a 2 % target; with this rule about 5 %).

    ``max_time_s`` bounds warm-up, calibration and sampling together: no block is started that
    would end after it, except that ``warmup_count`` calls and 3 samples are always taken. Not inside
    the bound: the first call (JIT, handles), preparing operands, and verification; the row records each.
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
    #: Consecutive samples the noise target must hold for before sampling stops converged.
    patience: int = 10
    #: A block whose threads waited for a CPU longer than this share of their time is set aside.
    max_contention: float = 0.05

    def __post_init__(self) -> None:
        if self.metric not in ("iqr", "ci"):
            raise PolicyError(f"unknown noise metric {self.metric!r}; valid choices: iqr, ci")
        for name in ("warmup_time_s", "min_block_s", "min_time_s", "max_time_s", "target"):
            if not getattr(self, name) >= 0:
                raise PolicyError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.patience < 1:
            raise PolicyError(f"patience must be >= 1, got {self.patience}")
        if self.min_samples < 3:
            raise PolicyError(f"min_samples must be >= 3 (quartiles need samples), got {self.min_samples}")
        if self.max_time_s < self.min_time_s:
            raise PolicyError(f"max_time_s ({self.max_time_s}) must be >= min_time_s ({self.min_time_s})")

    def noise(self, samples: Sequence[float]) -> float:
        """The noise metric of ``samples`` (relative IQR, or relative half-width of the median's CI)."""
        if self.metric == "ci":
            return median_ci_halfwidth(samples)
        return summarize(samples).rel_iqr

    def met(self, samples: Sequence[float]) -> bool:
        """The noise target holds over all samples and over the most recent half (at least min_samples)."""
        recent = samples[-max(self.min_samples, len(samples) // 2) :]
        return self.noise(samples) <= self.target and self.noise(recent) <= self.target


@dataclass(frozen=True)
class Samples:
    """Per-call seconds of each timed block, plus how they were obtained."""

    per_call_s: tuple[float, ...]
    inner: int
    first_call_s: float
    warmup_calls: int
    converged: bool
    sampling_s: float
    #: Per-call seconds of blocks set aside as disturbed (other work on the worker's CPUs, or ``unheld``).
    disturbed_s: tuple[float, ...] = ()
    #: Share of the worker threads' time spent waiting for a CPU over every sampled block (None: unknown).
    contention: float | None = None
    #: The worker's threads waited for a CPU more than ``max_contention`` of the time overall, or fewer
    #: than ``min_samples`` blocks were clean by the time limit (the samples then include disturbed ones).
    contended: bool = False
    #: The monitor's words for what disturbed the blocks ("contended (...)", "throttled (...)"), when contended.
    disturbance: str = ""
    #: Median host seconds per call spent issuing the launches of a clean block, on an asynchronous device
    #: (None on the host, where issuing is the work): reaching the device time means ``launch-bound``.
    dispatch_s: float | None = None
    #: Blocks set aside (counted in ``disturbed_s``) because the host took longer to issue them than the
    #: hold ahead of them lasted: the stream may have idled inside the block, timing the host's stall.
    unheld: int = 0


class BlockMonitor(Protocol):
    """Watches each timed block for other work on the measuring CPUs (see ``contention.py``)."""

    def start(self) -> None:
        """Called just before a block's start mark."""

    def stop(self, wall_s: float) -> float:
        """Called just after a block's end mark: the share of the block that was disturbed (0 to 1)."""

    def describe(self, share: float) -> str:
        """The flag of a measurement disturbed for ``share`` of its time, e.g. "contended (12% ...)"."""

    def report(self) -> tuple[dict[str, str], list[str]]:
        """After sampling: facts for the row (clock range, ...) and flags beyond disturbed blocks."""


class Turns(Protocol):
    """Takes turns on the machine with other workers measuring the same case (``gemmbench run --paired``).

    The timer hands the machine over between timed blocks, never inside one, so that the workers'
    blocks alternate in time: slow drift of the host (a neighbour's load, clocks, memory bandwidth)
    then hits every backend alike instead of whichever ran in the slower minute.
    """

    def hand_over(self) -> float:
        """Let the next worker measure; return when this one may go on: the seconds spent waiting."""

    def describe(self) -> str:
        """The row's ``turns`` fact: how often the machine was handed over and how long this worker waited."""

    def reclaim(self) -> str:
        """What waiting for the host to take back the memory of a worker that ended mid-measurement found
        (``reclaim.await_reclaim``'s facts, '' when nothing was waited for)."""


#: A paired worker keeps the machine for timed blocks of at least this many seconds a turn: long enough that
#: handing over (a few ms, more while a BLAS pool spins down) stays a small share of the wall time, short
#: enough that the host cannot drift much between two backends' turns.
TURN_S = 0.05
#: ... and of at least this many blocks, so that turns of long calls are not all first blocks after a hand-over.
TURN_BLOCKS = 3


#: Upper bound of one hold (spin kernel or lead launches) ahead of a block on an asynchronous device.
MAX_HOLD_S = 0.25
#: A hold lasts this share of the block's device time beyond twice its dispatch: a host hiccup of that
#: size (an H200's gVisor host set aside 2 of 11 blocks of an 18.7 ms GEMM) queues nothing late, for at
#: most 5 % more wall time.
HOLD_SLACK = 0.05


class _Blocks:
    """Runs blocks of launches, rotating through ``launches`` (one per operand copy).

    On an asynchronous device the host issues launches while the device runs them. Were the
    stream idle at the start mark, the host's dispatch of the first launch (a Python call, a
    library call) would sit inside every block, and a GEMM shorter than its dispatch would
    time the host. So before each block the device is *held* busy for longer than the host
    needs to issue the block (``Device.hold``: a spin kernel, as nvbench's blocking kernel;
    else untimed lead launches of the GEMM itself): the start mark and the launches queue
    behind it and run back to back. Host dispatch time per call is recorded next to it.
    """

    def __init__(self, launches: Sequence[Callable[[], object]], device: Device) -> None:
        self.launches = list(launches)
        self.device = device
        self.offset = 0
        self.asynchronous = bool(getattr(device, "asynchronous", False))
        self.dispatch_per_call = 0.0  # host seconds per launch, last block
        self.device_per_call = 0.0  # device seconds per launch, last block
        self.fastest_per_call = math.inf  # the least device seconds per launch of any block: a lower bound
        #: The last block's launches were issued after its hold had run out: the device may have idled
        #: inside the block waiting for the host (a stall: preemption, a page fault), and its time with it.
        self.outran_hold = False

    def _hold(self, inner: int) -> float:
        """Keep the device busy for longer than issuing ``inner`` launches will take the host; returns
        the seconds the device is held (0: not held, the first block of a device without a spin kernel)."""
        margin = max(50e-6, HOLD_SLACK * self.device_per_call * inner)
        seconds = min(MAX_HOLD_S, 2.0 * self.dispatch_per_call * inner + margin)
        hold = getattr(self.device, "hold", None)
        if hold is not None and hold(seconds):
            return seconds
        if self.device_per_call > 0:  # no spin kernel: lead launches of the GEMM, untimed
            lead = min(inner, math.ceil(seconds / self.device_per_call))
            for _ in range(lead):
                self.launches[0]()
            return lead * self.fastest_per_call  # not the last block's, which a stall may have inflated
        return 0.0

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
        t_hold = time.perf_counter_ns()
        held = self._hold(inner) if self.asynchronous else 0.0
        t0 = time.perf_counter_ns()  # host clock outside the marks: on the CPU the marks bound the timed region
        start = dev.mark()
        issued: list[int] = []
        if self.asynchronous:  # when each launch was issued (on the CPU the loop below is the timed region)
            for launch in seq:
                launch()
                issued.append(time.perf_counter_ns())
        else:
            for launch in seq:
                launch()
        end = dev.mark()
        t1 = time.perf_counter_ns()
        per_call = dev.elapsed_ns(start, end) * 1e-9 / inner
        self.dispatch_per_call, self.device_per_call = (t1 - t0) * 1e-9 / inner, per_call
        self.outran_hold = held > 0 and self._outran(t_hold + held * 1e9, [*issued, t1])
        self.fastest_per_call = min(self.fastest_per_call, per_call)
        return per_call

    def _outran(self, busy_until_ns: float, issued: list[int]) -> bool:
        """Whether the stream may have run dry inside the block: launch ``j`` (the end mark last) was issued
        after the device had finished the hold and ``j`` launches of the fastest device time of earlier blocks.

        Conservative: the hold started no earlier than the host enqueued it (``busy_until_ns`` is a lower
        bound), and each launch keeps the stream busy at least as long as the fastest call seen before this
        block (none seen: no credit). A host stall after the one launch of a 20 ms GEMM, before its end mark,
        idles nothing; an H200 set such blocks aside while the whole block had to be issued within the hold.
        """
        step = 0.0 if math.isinf(self.fastest_per_call) else self.fastest_per_call * 1e9
        return any(t > busy_until_ns + j * step for j, t in enumerate(issued))


def _first_call(launch: Callable[[], object], device: Device, now: Clock) -> float:
    """Wall time of the very first launch, synchronised (JIT, handles, pool spin-up)."""
    t0 = now()
    launch()
    device.synchronize()
    return (now() - t0) * 1e-9


def _warm_up(blocks: _Blocks, policy: TimingPolicy, now: Clock) -> int:
    """Warm up by count and time, and over a full rotation of the operand copies (cold mode), so
    every copy and output has been touched before calibration and sampling."""
    calls, t0 = 0, now()
    least = max(policy.warmup_count, len(blocks.launches))
    while calls < least or (now() - t0) * 1e-9 < policy.warmup_time_s:
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


class _Sampler:
    """The sampling loop's state: clean and disturbed blocks, the streak of met targets, the deadline."""

    def __init__(self, policy: TimingPolicy, monitor: BlockMonitor | None) -> None:
        self.policy, self.monitor = policy, monitor
        self.clean: list[float] = []
        self.disturbed: list[float] = []
        self.waited = self.threads_time = 0.0
        self.streak = 0
        self.unheld = 0  # blocks set aside because the host issued them past their hold
        self.dispatch: list[float] = []  # host seconds per call of each clean block

    def take(self, blocks: _Blocks, inner: int) -> float:
        """Run one block (the monitor reads before and after it, never inside); returns its wall seconds."""
        if self.monitor is not None:
            self.monitor.start()
        per_call = blocks.run(inner)
        wall = per_call * inner
        share = self.monitor.stop(wall) if self.monitor is not None else 0.0
        self.waited += share * wall
        self.threads_time += wall
        if blocks.outran_hold:  # may hold the host's stall: as untrustworthy as a contended block
            self.unheld += 1
            self.disturbed.append(per_call)
        elif share > self.policy.max_contention:
            self.disturbed.append(per_call)
        else:
            self.clean.append(per_call)
            self.dispatch.append(blocks.dispatch_per_call)
            self._update()
        return wall

    def _update(self) -> None:
        p = self.policy
        self.streak = self.streak + 1 if len(self.clean) >= p.min_samples and p.met(self.clean) else 0

    def done(self, elapsed_s: float) -> bool:
        p = self.policy
        return elapsed_s >= p.min_time_s and self.streak >= p.patience


def measure(
    launches: Sequence[Callable[[], object]],
    device: Device,
    policy: TimingPolicy,
    now: Clock = time.perf_counter_ns,
    monitor: BlockMonitor | None = None,
    turns: Turns | None = None,
) -> Samples:
    """Time the GEMM behind ``launches`` (hot: one launch; cold: one per rotated operand copy).

    With a ``monitor``, blocks during which the worker's threads waited for a CPU are set aside
    and sampling goes on for clean ones until the time limit. With ``turns``, the machine is handed
    over after every TURN_S of sampled blocks; time spent waiting for it back counts towards neither
    ``max_time_s`` nor ``min_time_s`` (each worker measures as long as it would alone).
    """
    blocks = _Blocks(launches, device)
    first = _first_call(blocks.launches[0], device, now)
    t_start = now()
    deadline = t_start + policy.max_time_s * 1e9
    warm = _warm_up(blocks, policy, now)
    inner = calibrate(blocks, device, policy)
    run = _Sampler(policy, monitor)
    converged = False
    longest = 0.0  # the longest block so far predicts the next one: none may end after the limit
    t0 = now()
    turn, turn_blocks = 0.0, 0  # seconds and blocks of this turn
    with quiet_interpreter():
        while True:
            wall = run.take(blocks, inner)
            longest, turn, turn_blocks = max(longest, wall), turn + wall, turn_blocks + 1
            if run.done((now() - t0) * 1e-9):
                converged = True
                break
            if now() + longest * 1e9 > deadline and len(run.clean) + len(run.disturbed) >= 3:
                break
            if turns is not None and turn >= TURN_S and turn_blocks >= TURN_BLOCKS:
                waited_ns = int(turns.hand_over() * 1e9)
                deadline, t0, turn, turn_blocks = deadline + waited_ns, t0 + waited_ns, 0.0, 0
                # The other worker's calls have evicted this one's operands and put its threads to sleep: one
                # untimed call first, so that every timed block follows a call of its own, as when alone.
                blocks.run(1)
    contention = run.waited / run.threads_time if monitor is not None and run.threads_time > 0 else None
    # Clean blocks of a busy measurement are still not quiet ones (the neighbour evicts caches between
    # our time slices: 6 % slower here), so a measurement that waited overall is flagged too.
    starved = len(run.clean) < policy.min_samples and bool(run.disturbed)
    contended = starved or (contention is not None and contention > policy.max_contention)
    samples = run.clean + run.disturbed if len(run.clean) < 3 else run.clean
    # The monitor describes only what it saw: blocks set aside for the hold alone are not "throttled (0 of 9)".
    why = monitor.describe(contention or 0.0) if contended and monitor is not None and run.waited > 0 else ""
    if starved and run.unheld:
        why = "; ".join(filter(None, [why, f"host slower than the hold: {run.unheld} blocks issued after it ran out"]))
    dispatch = summarize(run.dispatch).median if blocks.asynchronous and run.dispatch else None
    return Samples(
        tuple(samples),
        inner,
        first,
        warm,
        converged,
        (now() - t0) * 1e-9,
        tuple(run.disturbed),
        contention,
        contended,
        why,
        dispatch,
        run.unheld,
    )
