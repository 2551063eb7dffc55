"""The host taking back memory this VM freed: wait until it has finished before timing.

Some virtual machines (Firecracker, Cloud Hypervisor, QEMU with a virtio-balloon that asks for
``free_page_reporting``) hand the memory their guest frees back to the host. Linux's free page
reporting (``mm/page_reporting.c``) collects free blocks of ``page_reporting_order`` (2 MiB on x86)
at most once every two seconds (``PAGE_REPORTING_DELAY``) and reports them; the host unmaps them,
and that work takes CPU time from the guest's vCPUs. On this project's 2-vCPU VM, after a worker of
float64 16x12288x3584 (about 1 GiB) exited, reports came in passes of 100-380 MiB every two seconds
for eight seconds, each pass taking 10-13 % of both vCPUs over half a second as steal; a worker
measuring meanwhile drew 14-16 % ``VM steal``, the same worker started ten seconds later none.

So a session that knows of a large free (its own previous job's operands, or the previous
worker's, passed in the run header) waits before timing, bounded, until reporting has gone quiet:
at least one reporting period since the free, and less than ``QUIET_KIB`` reported over the last
period. The wait overlaps the new worker's start and its prepare, so only the rest is added. What
happened becomes the row's ``host_reclaim`` fact. Where the kernel has no free page reporting
(``REPORTED_KIB`` absent: bare metal, most clouds) nothing waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MIN_BYTES", "PERIOD_S", "QUIET_KIB", "REPORTED_KIB", "Freed", "await_reclaim", "reported_kib"]

#: KiB of freed memory the guest has reported to its host since boot (Linux >= 5.14 with page reporting).
REPORTED_KIB = "/sys/module/page_reporting/parameters/reported_kib"
#: Frees smaller than this are not waited for (a worker of small cases frees 10-30 MiB in one pass).
MIN_BYTES = 256 << 20
#: One reporting period (the kernel's two seconds) and a margin for the pass itself.
PERIOD_S = 2.5
#: Reporting counts as quiet when less than this was reported over the last period (a 38 MiB pass took
#: one or two 10 ms ticks of steal from two vCPUs).
QUIET_KIB = 64 << 10
#: Never wait longer than this after the free (a 1 GiB free went quiet after about nine seconds).
MAX_WAIT_S = 20.0
POLL_S = 0.25


def reported_kib(path: str | None = None) -> int | None:
    """The guest's reported-memory counter (``REPORTED_KIB`` unless ``path``), or ``None`` where there is none."""
    try:
        return int(Path(path or REPORTED_KIB).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Freed:
    """A free to wait for: when (``time.monotonic()``, one clock for every process of the host), how many
    bytes, and the reported counter then (``None`` where unknown)."""

    at: float
    bytes: int
    kib: int | None = None

    @classmethod
    def now(cls, nbytes: int, path: str | None = None) -> Freed:
        """A free that just happened."""
        return cls(time.monotonic(), nbytes, reported_kib(path))


def await_reclaim(
    freed: Freed | None,
    *,
    path: str | None = None,
    max_wait_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until the host has taken back what ``freed`` released (or ``max_wait_s`` after the free).

    Returns a fact for the rows: "" when there was nothing to wait for (no free page reporting,
    a small free, a free long past); "quiet, N MiB handed back" when reporting had already gone
    quiet; "quiet after waiting X s, N MiB handed back" once it did; "still reclaiming after waiting
    X s, N MiB handed back" when the bound ran out (the row's noise says so). N counts from the free
    where its counter is known, else from the first reading.
    """
    if freed is None or freed.bytes < MIN_BYTES:
        return ""
    max_wait_s = MAX_WAIT_S if max_wait_s is None else max_wait_s
    start = clock()
    if start - freed.at >= max_wait_s:
        return ""
    readings = [] if freed.kib is None else [(freed.at, freed.kib)]
    while True:
        now, kib = clock(), reported_kib(path)
        if kib is None:
            return ""
        readings.append((now, kib))
        earlier = [k for t, k in readings if t <= now - PERIOD_S]
        since = (kib - readings[0][1]) >> 10
        waited = now - start
        if now - freed.at >= PERIOD_S and earlier and kib - earlier[-1] < QUIET_KIB:
            after = "" if waited < POLL_S else f" after waiting {waited:.1f} s"
            return f"quiet{after}, {since} MiB handed back"
        if now - freed.at >= max_wait_s:
            return f"still reclaiming after waiting {waited:.1f} s, {since} MiB handed back"
        sleep(POLL_S)
