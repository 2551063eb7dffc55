"""A session: one kernel set up in this process, measuring jobs one after another.

This is the body of a worker process (and of ``--in-process`` runs). Every outcome
becomes a row through the one builder (``rows.make_row``): not applicable -> ``skipped``,
an exception -> ``error``, a result off the float64 reference -> ``wrong``. Nothing
here writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .buffers import ALIGN, aligned_copy
from .case import GemmCase, Job
from .ceilings import Ceiling, CeilingSet
from .contention import RunQueueMonitor, Steal, steal_ticks
from .device import Device, HostDevice
from .errors import one_line
from .hostfacts import affinity, blas_summary, host_memory_available, thread_affinities
from .kernel import Kernel, Operands, Prepared
from .reclaim import Freed, await_reclaim
from .result import Measurement
from .rows import COLD_CACHE_FACTOR, Measured, Provenance, make_row
from .timer import BlockMonitor, TimingPolicy, Turns, measure
from .verify import Verdict, make_operands, verify

__all__ = ["Outcome", "RunHeader", "Session", "cold_copies", "header_from_json", "header_to_json", "memory_problem"]

#: Cold mode rotates operand copies totalling at least COLD_CACHE_FACTOR times the last-level cache,
#: but never more copies than this, nor more memory than COLD_MAX_BYTES.
COLD_MAX_COPIES = 4096
COLD_MAX_BYTES = 1 << 30
GIB = float(1 << 30)


@dataclass(frozen=True)
class RunHeader:
    """What every row of a run shares: its id, the timing policy, threads, seed, the roofs rows go under,
    and the CPUs a worker is pinned to (chosen by the sweep, set before the worker's interpreter starts)."""

    run_id: str
    policy: TimingPolicy
    threads: int
    seed: int = 0
    ceilings: tuple[Ceiling, ...] = ()
    cpus: tuple[int, ...] = ()
    #: What the system check saw on those CPUs before the run ('' when nothing was amiss).
    system: str = ""
    #: Whether the launching process's own threads were idle when this worker started (``quiesce``).
    launcher: str = ""
    #: What the previous worker freed when it ended: the first job waits for the host to take it back.
    freed: Freed | None = None


def cold_copies(case: GemmCase, cache_bytes: int) -> int:
    """Operand copies to rotate so that consecutive calls never find operands in cache."""
    want = -(-COLD_CACHE_FACTOR * cache_bytes // case.bytes) + 1
    by_memory = max(2, COLD_MAX_BYTES // case.bytes)
    return int(max(2, min(want, COLD_MAX_COPIES, by_memory)))


def _verify_bytes(case: GemmCase) -> int:
    # float64 copies of A, B, C plus |A|, |B| and two products while checking.
    # ... of one product: a batched result is checked product by product.
    return 8 * (2 * case.m * case.k + 2 * case.k * case.n + 3 * case.m * case.n)


def memory_problem(case: GemmCase, copies: int, device: Device | None = None) -> str | None:
    """Why the case cannot be allocated, checked before allocating anything; else ``None``.

    ``device`` is where the operand copies live; ``None`` (or a device sharing host
    memory) means the host, which also holds the float64 verification working set.
    """
    on_device = copies * case.bytes
    host_need = _host_bytes(case, copies, device)
    host_free = host_memory_available()
    if device is not None and not _on_host(device) and on_device > device.memory_available():
        return (
            f"{case} needs {on_device / GIB:.1f} GiB on {device.name}, "
            f"{device.memory_available() / GIB:.1f} GiB free; choose smaller sizes"
        )
    if host_need > host_free:
        return (
            f"{case} needs {host_need / GIB:.1f} GiB of host memory (operands + float64 check), "
            f"{host_free / GIB:.1f} GiB available; choose smaller sizes"
        )
    return None


def _host_bytes(case: GemmCase, copies: int, device: Device | None = None) -> int:
    """Host memory a job holds: the operands, the float64 check and, on the host, every operand copy."""
    return _verify_bytes(case) + case.bytes + (copies * case.bytes if _on_host(device) else 0)


def _on_host(device: Device | None) -> bool:
    """Whether operand copies on ``device`` live in host memory (``None`` is the host)."""
    return device is None or bool(getattr(device, "shares_host_memory", False))


def _clone(ops: Operands) -> Operands:
    """A page-aligned copy with the same values and storage order (transposed views stay views)."""
    return Operands(aligned_copy(ops.a), aligned_copy(ops.b))


class Outcome(NamedTuple):
    """A job's row, its raw per-call samples and the per-call times of blocks set aside (for the sidecar)."""

    row: Measurement
    samples: tuple[float, ...] = ()
    disturbed: tuple[float, ...] = ()


class _OwnTurns:
    """``Turns`` that count what the CPUs lost to the hypervisor while other workers had the machine, so that a
    paired row's VM steal covers its own turns only: steal in a partner's turn (the host taking back memory a
    worker freed, say) says nothing of this worker's samples."""

    def __init__(self, turns: Turns, cpus: Sequence[int]) -> None:
        self.turns, self.cpus = turns, cpus
        self.ticks, self.seconds = 0, 0.0

    def hand_over(self) -> float:
        before = steal_ticks(self.cpus)
        waited = self.turns.hand_over()
        after = steal_ticks(self.cpus)
        if before is not None and after is not None:
            self.ticks += max(0, after - before)
        self.seconds += waited
        return waited

    def describe(self) -> str:
        return self.turns.describe()

    def reclaim(self) -> str:
        return self.turns.reclaim()


class Session:
    """One kernel in this process, set up once, measuring jobs one after another."""

    def __init__(self, kernel: Kernel, header: RunHeader, pin: bool = True, turns: Turns | None = None) -> None:
        self.kernel = kernel
        self.turns = turns  # --paired: the timer hands the machine over between blocks
        self.header = header
        self.roofs = CeilingSet(header.ceilings)
        if pin:  # only in a worker: binding OpenMP threads also pins the process's own main thread
            os.environ.setdefault("OMP_PROC_BIND", "close")
            os.environ.setdefault("OMP_PLACES", "cores")
        self.cpus = affinity()  # a worker was pinned before its interpreter started: every thread inherits it
        pinned = ",".join(map(str, self.cpus)) if pin else ""
        thread_facts = kernel.setup(header.threads)
        self.device = kernel.device()
        self.facts = {**thread_facts, "affinity": pinned, "alignment": str(ALIGN)}
        if header.system:
            self.facts["system"] = header.system
        p = header.policy  # the stopping rule, so a report can say how every row was measured
        self.facts["policy"] = (
            f"{p.metric} <= {p.target:g} for {p.patience} samples, >= {p.min_samples} samples "
            f"and {p.min_time_s:g} s, <= {p.max_time_s:g} s"
        )
        if header.launcher:
            self.facts["launcher"] = header.launcher
        #: The last large free this session knows of (its previous job's, or the previous worker's).
        self.freed: Freed | None = header.freed
        self._holding = 0  # host bytes the job being measured holds, freed when it ends
        libs = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            **kernel.describe(),
            **{f"device.{k}": v for k, v in self.device.describe().items()},
        }
        self.provenance = Provenance(
            header.run_id,
            kernel.name,
            kernel.variant,
            header.threads,
            device=self.device.name,
            blas=blas_summary(),
            libs=json.dumps(libs, sort_keys=True),
        )

    def _row(
        self,
        job: Job,
        status: str,
        reason: str = "",
        measured: Measured | None = None,
        case_facts: dict[str, str] | None = None,
    ) -> Measurement:
        facts = {**self.facts, **(case_facts or {})}
        if measured is not None:  # read back now: every pool the backend starts has started
            facts["thread_affinity"] = thread_affinities()
        return make_row(self.provenance, job, status, reason, measured=measured, facts=facts, ceilings=self.roofs)

    def run(self, job: Job) -> Outcome:
        """Measure one job; never raises for a kernel's failure (it becomes the row's status)."""
        try:
            return self._measure(job)
        except Exception as exc:
            return Outcome(self._row(job, "error", one_line(exc)))
        finally:  # the case's arrays are gone with _measure's frame: give cached device memory back
            with contextlib.suppress(Exception):  # a failing release must not hide the row
                self.kernel.release()
            if self._holding:  # the host may now take those pages back: the next job waits for that
                self.freed, self._holding = Freed.now(self._holding), 0

    def _prepare(self, job: Job) -> tuple[Operands, list[Prepared], float] | str:
        case = job.case
        copies = cold_copies(case, self.device.cache_bytes()) if job.mode == "cold" else 1
        problem = memory_problem(case, copies, self.device)
        if problem:
            return problem
        self._holding = _host_bytes(case, copies, self.device)
        operands = make_operands(case, self.header.seed)
        t0 = time.perf_counter()
        prepared = [self.kernel.prepare(case, operands)]
        prepare_s = time.perf_counter() - t0  # the first prepare carries JIT/compile/handle costs
        prepared += [self.kernel.prepare(case, _clone(operands)) for _ in range(copies - 1)]
        return operands, prepared, prepare_s

    def _monitor(self) -> BlockMonitor | None:
        """Run-queue wait per block on a CPU device (an accelerator's events do not see host contention);
        an accelerator's own monitor (clocks and throttling through NVML) where its device offers one."""
        if isinstance(self.device, HostDevice):
            return RunQueueMonitor(len(self.cpus)) if RunQueueMonitor.available() else None
        make = getattr(self.device, "monitor", None)
        return make() if make is not None else None

    def _verify(self, job: Job, operands: Operands, out: Prepared) -> Verdict:
        """Poison the output, launch once more, check that result: only a launch that writes C passes."""
        self.kernel.poison(out.output)
        out.launch()
        self.device.synchronize()
        return verify(job.case, operands, self.kernel.fetch(out.output), compute_dtype=out.compute_dtype)

    def _measure(self, job: Job) -> Outcome:
        reason = self.kernel.supports(job.case)
        if reason:
            return Outcome(self._row(job, "skipped", reason))
        ready = self._prepare(job)
        if isinstance(ready, str):
            return Outcome(self._row(job, "skipped", ready))
        operands, prepared, prepare_s = ready
        reclaim = await_reclaim(self.freed)  # after prepare: the wait overlaps the worker's start and the prepare
        turns = _OwnTurns(self.turns, self.cpus) if self.turns is not None else None
        steal0, t0 = steal_ticks(self.cpus), time.perf_counter()
        monitor = self._monitor()
        samples = measure([p.launch for p in prepared], self.device, self.header.policy, monitor=monitor, turns=turns)
        self.device.synchronize()
        steal1, window = steal_ticks(self.cpus), time.perf_counter() - t0
        steal = None
        if steal0 is not None and steal1 is not None:
            away_ticks, away_s = (turns.ticks, turns.seconds) if turns is not None else (0, 0.0)
            steal = Steal(max(0, steal1 - steal0 - away_ticks), window - away_s, len(self.cpus))
        if turns is not None:
            reclaim = "; ".join(filter(None, [reclaim, turns.reclaim()]))
        verdict = self._verify(job, operands, prepared[0])
        status, reason = (
            ("ok", "")
            if verdict.ok
            else ("wrong", f"{verdict.detail} ({verdict.max_error:.3g}x its bound; {verdict.method} check)")
        )
        cold_bytes, cache_bytes = (
            (len(prepared) * job.case.bytes, self.device.cache_bytes()) if job.mode == "cold" else (None, None)
        )
        monitor_facts, monitor_flags = monitor.report() if monitor is not None else ({}, [])
        measured = Measured(
            samples,
            verdict,
            prepare_s,
            len(prepared),
            steal,
            cold_bytes=cold_bytes,
            cache_bytes=cache_bytes,
            monitor_flags=tuple(monitor_flags),
            compute=prepared[0].compute_dtype or "",
            reclaim=reclaim,
        )
        paired = {"turns": self.turns.describe()} if self.turns is not None else {}
        row = self._row(job, status, reason, measured, {**prepared[0].facts, **monitor_facts, **paired})
        return Outcome(row, samples.per_call_s, samples.disturbed_s)


def header_to_json(header: RunHeader) -> dict[str, object]:
    """A JSON-ready form of a header (for the worker protocol)."""
    return dataclasses.asdict(header)


def header_from_json(raw: dict) -> RunHeader:
    """The inverse of ``header_to_json``."""
    return RunHeader(
        raw["run_id"],
        TimingPolicy(**raw["policy"]),
        int(raw["threads"]),
        int(raw["seed"]),
        tuple(Ceiling(**c) for c in raw.get("ceilings", ())),
        tuple(raw.get("cpus", ())),
        str(raw.get("system", "")),
        str(raw.get("launcher", "")),
        Freed(**raw["freed"]) if raw.get("freed") else None,
    )
