"""Seeing other work on the measuring CPUs: run-queue wait per block, VM steal, load before a sweep.

A GEMM timed while another process shares its CPUs runs at a fraction of its speed, and its
samples can look perfectly steady (a busy neighbour slowed a 256^3 float64 case from 57.6 to
2.1 GFLOP/s with an IQR of 3 %). Three views catch what the samples cannot show:

* **Run-queue wait** (``RunQueueMonitor``): the kernel counts, per thread, the nanoseconds a
  runnable thread waited for a CPU (``/proc/self/task/*/schedstat``, second field). Read around
  every timed block, it says how much of the block the worker's threads spent waiting while
  something else ran on their CPUs; such a block is set aside (``TimingPolicy.max_contention``).
* **VM steal** (``steal_ticks``): time the hypervisor gave the vCPUs to other guests
  (``/proc/stat``), invisible to the guest's own scheduler. It is counted in 10 ms ticks, so a
  short window is judged only on what the ticks prove (``Steal.proven``).
* **Load before a sweep** (``busy_shares``, ``system_warnings``): the chosen CPUs' busy share over
  a short window, and the frequency governor where the OS exposes it (as pyperf's system check
  does).
* **Our own threads** (``quiesce``): nothing of ours may run while a worker measures. The process
  that launches a worker (the CLI, the pytest plugin, a fleet worker) may itself hold thread pools
  still spinning after an in-process run (pytest-benchmark's); before each worker starts, it waits,
  bounded, until its other threads are idle, and the rows record whether it was quiet.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLK_TCK",
    "QUIET_SHARE",
    "STEAL_FLAG",
    "RunQueueMonitor",
    "Steal",
    "busy_shares",
    "own_threads_busy",
    "quiesce",
    "run_queue_wait_ns",
    "steal_ticks",
    "system_warnings",
]

#: Share of the measured CPUs' time taken by the hypervisor above which a row's noise says so.
STEAL_FLAG = 0.02
#: /proc/stat counts in these ticks per second (USER_HZ, 100 on Linux).
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: A CPU busier than this before a sweep is named in a warning.
BUSY_WARN = 0.10


def _stat_fields(cpus: Sequence[int], stat: str) -> dict[int, list[int]] | None:
    """The /proc/stat counters of each of ``cpus`` (one read of the file); None where it cannot be read."""
    try:
        lines = Path(stat).read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}": c for c in cpus}
    out = {}
    for line in lines:
        name, *values = line.split() or [""]
        if name in wanted:
            out[wanted[name]] = [int(v) for v in values]
    return out


def steal_ticks(cpus: Sequence[int], stat: str = "/proc/stat") -> int | None:
    """Steal ticks of ``cpus`` since boot (the "cpu" total line never counts); None where not reported."""
    rows = _stat_fields(cpus, stat)
    if rows is None or any(len(r) < 8 for r in rows.values()):
        return None
    return sum(r[7] for r in rows.values())


@dataclass(frozen=True)
class Steal:
    """Steal ticks counted over a measurement window on ``cpus`` CPUs."""

    ticks: int
    window_s: float
    cpus: int

    @property
    def share(self) -> float:
        """The share of the CPUs' time the hypervisor took, as counted."""
        return self.ticks / CLK_TCK / (self.window_s * self.cpus) if self.window_s > 0 and self.cpus else 0.0

    @property
    def proven(self) -> bool:
        """More than STEAL_FLAG even after taking off the one tick that counting at both ends can add.

        One 10 ms tick in a 0.2 s one-CPU window reads as 5 %; it proves nothing.
        """
        if self.ticks < 2 or self.window_s <= 0 or not self.cpus:
            return False
        return (self.ticks - 1) / CLK_TCK / (self.window_s * self.cpus) > STEAL_FLAG


def _schedstat_sum(field: int, task_dir: str, skip: str = "") -> int | None:
    """Sum of one schedstat field over this process's threads (0: ns on a CPU, 1: ns waiting for one)."""
    total = 0
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return None
    for tid in tids:
        if tid == skip:
            continue
        try:
            with open(f"{task_dir}/{tid}/schedstat") as f:
                total += int(f.read().split()[field])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total


def run_queue_wait_ns(task_dir: str = "/proc/self/task") -> int | None:
    """Nanoseconds this process's threads have waited, runnable, for a CPU (None where not reported)."""
    return _schedstat_sum(1, task_dir)


class RunQueueMonitor:
    """``BlockMonitor`` for host measurements: the run-queue wait of this process's threads per block.

    The share is the wait divided by the block's wall time times the CPUs the worker is pinned to:
    with a hog on one of two CPUs, the thread there waits about half the block (share 0.25).
    """

    def __init__(self, cpus: int, task_dir: str = "/proc/self/task") -> None:
        self.cpus = max(1, cpus)
        self.task_dir = task_dir
        self._start = 0

    @classmethod
    def available(cls, task_dir: str = "/proc/self/task") -> bool:
        return run_queue_wait_ns(task_dir) is not None

    def start(self) -> None:
        self._start = run_queue_wait_ns(self.task_dir) or 0

    def stop(self, wall_s: float) -> float:
        waited = (run_queue_wait_ns(self.task_dir) or 0) - self._start
        return max(0, waited) * 1e-9 / (wall_s * self.cpus) if wall_s > 0 else 0.0

    def describe(self, share: float) -> str:
        return f"contended ({100 * share:.0f}% of thread time waiting for a CPU)"

    def report(self) -> tuple[dict[str, str], list[str]]:
        """Facts and flags beyond the per-block shares: none for the run queue."""
        return {}, []


def busy_shares(cpus: Sequence[int], window_s: float = 0.2, stat: str = "/proc/stat") -> dict[int, float]:
    """Busy share of each CPU over ``window_s`` (everything but idle and iowait), from /proc/stat."""

    def sample() -> dict[int, tuple[int, int]]:
        """(busy, total) ticks per CPU; busy is everything but idle and iowait."""
        counters = _stat_fields(cpus, stat) or {}
        return {c: (sum(r[:8]) - r[3] - (r[4] if len(r) > 4 else 0), sum(r[:8])) for c, r in counters.items()}

    before = sample()
    time.sleep(window_s)
    after = sample()
    shares = {}
    for c, (busy1, total1) in after.items():
        busy0, total0 = before.get(c, (busy1, total1))
        shares[c] = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return shares


def _governor(cpu: int) -> str:
    try:
        return Path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return ""


def system_warnings(cpus: Sequence[int], window_s: float = 0.1) -> list[str]:
    """One short phrase per problem found on ``cpus`` before measuring: busy CPUs, a power-saving governor."""
    warnings = [
        f"cpu{c} {100 * share:.0f}% busy"
        for c, share in sorted(busy_shares(cpus, window_s).items())
        if share > BUSY_WARN
    ]
    governors = {g for g in (_governor(c) for c in cpus) if g}
    warnings += [
        f"cpufreq governor {g} (performance gives steadier clocks)" for g in sorted(governors) if g != "performance"
    ]
    return warnings


#: The launching process counts as quiet when its other threads used less than this share of one CPU.
QUIET_SHARE = 0.05


def _other_threads_cpu_ns(task_dir: str = "/proc/self/task") -> int | None:
    """CPU time (ns) of this process's threads other than the calling one."""
    return _schedstat_sum(0, task_dir, skip=str(threading.get_native_id()))


def own_threads_busy(window_s: float = 0.05, task_dir: str = "/proc/self/task") -> float | None:
    """Share of one CPU this process's other threads used over ``window_s`` (None where not reported)."""
    before = _other_threads_cpu_ns(task_dir)
    time.sleep(window_s)
    after = _other_threads_cpu_ns(task_dir)
    if before is None or after is None:
        return None
    return max(0, after - before) * 1e-9 / window_s


def quiesce(max_wait_s: float = 5.0, window_s: float = 0.05, task_dir: str = "/proc/self/task") -> str:
    """Wait, at most ``max_wait_s``, until this process's other threads are idle; a fact for the rows.

    Returns "quiet", "quiet after waiting X s", "busy: N% of a CPU after waiting X s" (the rows of
    such a worker are flagged), or "" where the OS does not report per-thread CPU time.
    """
    t0 = time.perf_counter()
    while True:
        busy = own_threads_busy(window_s, task_dir)
        waited = time.perf_counter() - t0 - window_s
        if busy is None:
            return ""
        if busy < QUIET_SHARE:
            return "quiet" if waited < window_s else f"quiet after waiting {waited:.1f} s"
        if waited >= max_wait_s:
            return f"busy: {100 * busy:.0f}% of a CPU after waiting {waited:.1f} s"
