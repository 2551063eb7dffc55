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
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLK_TCK",
    "STEAL_FLAG",
    "RunQueueMonitor",
    "Steal",
    "busy_shares",
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


def _stat_fields(cpus: Sequence[int], stat: str) -> list[list[int]] | None:
    try:
        lines = Path(stat).read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cpus}
    return [[int(v) for v in line.split()[1:]] for line in lines if line.split()[:1] and line.split()[0] in wanted]


def steal_ticks(cpus: Sequence[int], stat: str = "/proc/stat") -> int | None:
    """Steal ticks of ``cpus`` since boot (the "cpu" total line never counts); None where not reported."""
    rows = _stat_fields(cpus, stat)
    if rows is None or any(len(r) < 8 for r in rows):
        return None
    return sum(r[7] for r in rows)


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


def run_queue_wait_ns(task_dir: str = "/proc/self/task") -> int | None:
    """Nanoseconds this process's threads have waited, runnable, for a CPU (None where not reported)."""
    total = 0
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"{task_dir}/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total


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


def busy_shares(cpus: Sequence[int], window_s: float = 0.2, stat: str = "/proc/stat") -> dict[int, float]:
    """Busy share of each CPU over ``window_s`` (everything but idle and iowait), from /proc/stat."""

    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        for c in cpus:
            rows = _stat_fields([c], stat)
            if rows:
                r = rows[0]
                idle = r[3] + (r[4] if len(r) > 4 else 0)
                out[c] = (sum(r[:8]) - idle, sum(r[:8]))
        return out

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
