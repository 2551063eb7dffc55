"""Measure cases with one kernel in the current process: prepare, time, verify, build the row.

This is the body of a worker process (and of ``--in-process`` runs). It turns every
outcome into a row: not applicable -> ``skipped``, an exception -> ``error``, a result
off the float64 reference -> ``wrong``. Nothing here writes files.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .buffers import ALIGN, aligned_copy
from .case import GemmCase
from .device import Device, host_memory_available
from .kernel import Kernel, Operands, Prepared
from .machine import (
    STEAL_FLAG,
    affinity,
    blas_summary,
    cpu_model,
    env_snapshot,
    git_revision,
    hostname,
    steal_seconds,
)
from .registry import one_line
from .result import Measurement, case_columns, utc_now
from .stats import noise_verdict, summarize
from .timer import Samples, TimingPolicy, measure
from .verify import Verdict, make_operands, verify

__all__ = ["Job", "RunHeader", "Session", "MODES", "cold_copies", "memory_problem"]

MODES = ("hot", "cold")
#: Cold mode rotates operand copies totalling at least this many times the last-level cache.
COLD_CACHE_FACTOR = 2
#: ... but never more copies than this, nor more memory than COLD_MAX_BYTES.
COLD_MAX_COPIES = 4096
COLD_MAX_BYTES = 1 << 30
GIB = float(1 << 30)


@dataclass(frozen=True)
class Job:
    """One unit of work: a case in a cache mode."""

    case: GemmCase
    mode: str = "hot"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown cache mode {self.mode!r}; valid choices: {', '.join(MODES)}")


@dataclass(frozen=True)
class RunHeader:
    """What every row of a run shares."""

    run_id: str
    policy: TimingPolicy
    threads: int
    seed: int = 0



def cold_copies(case: GemmCase, cache_bytes: int) -> int:
    """Operand copies to rotate so that consecutive calls never find operands in cache."""
    want = -(-COLD_CACHE_FACTOR * cache_bytes // case.bytes) + 1
    by_memory = max(2, COLD_MAX_BYTES // case.bytes)
    return int(max(2, min(want, COLD_MAX_COPIES, by_memory)))


def _verify_bytes(case: GemmCase) -> int:
    # float64 copies of A, B, C plus |A|, |B| and two products while checking.
    return 8 * (2 * case.m * case.k + 2 * case.k * case.n + 3 * case.m * case.n)


def memory_problem(case: GemmCase, copies: int, device: Device | None = None) -> str | None:
    """Why the case cannot be allocated, checked before allocating anything; else ``None``.

    ``device`` is where the operand copies live; ``None`` (or a device sharing host
    memory) means the host, which also holds the float64 verification working set.
    """
    on_device = copies * case.bytes
    host_need = _verify_bytes(case) + case.bytes
    host_free = host_memory_available()
    if device is None or getattr(device, "shares_host_memory", False):
        host_need += on_device
    elif on_device > device.memory_available():
        return (f"{case} needs {on_device / GIB:.1f} GiB on {device.name}, "
                f"{device.memory_available() / GIB:.1f} GiB free; choose smaller sizes")
    if host_need > host_free:
        return (f"{case} needs {host_need / GIB:.1f} GiB of host memory (operands + float64 check), "
                f"{host_free / GIB:.1f} GiB available; choose smaller sizes")
    return None


def _clone(ops: Operands) -> Operands:
    """A page-aligned copy with the same values and storage order (transposed views stay views)."""
    return Operands(aligned_copy(ops.a), aligned_copy(ops.b))


def _pin(threads: int) -> str:
    """Pin this process to ``threads`` CPUs so pools cannot migrate onto a busy core."""
    try:
        cpus = affinity()
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
        return ",".join(map(str, affinity()))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return ""


class Session:
    """One kernel in this process, set up once, measuring jobs one after another."""

    def __init__(self, kernel: Kernel, header: RunHeader, pin: bool = True) -> None:
        self.kernel = kernel
        self.header = header
        pinned = ""
        if pin:  # only in a worker: binding OpenMP threads also pins the process's own main thread
            os.environ.setdefault("OMP_PROC_BIND", "close")
            os.environ.setdefault("OMP_PLACES", "cores")
            pinned = _pin(header.threads)
        self.cpus = affinity()  # after pinning: the CPUs whose steal time a measurement reads
        thread_facts = kernel.setup(header.threads)
        self.device = kernel.device()
        self.facts = {**thread_facts, "affinity": pinned, "alignment": str(ALIGN)}
        libs = {"python": platform.python_version(), "numpy": np.__version__, **kernel.describe(),
                **{f"device.{k}": v for k, v in self.device.describe().items()}}
        self.shared = dict(run_id=header.run_id, host=hostname(), backend=kernel.name, variant=kernel.variant,
                           device=self.device.name, threads=header.threads, cpu_model=cpu_model(),
                           blas=blas_summary(), libs=json.dumps(libs, sort_keys=True),
                           env=json.dumps(env_snapshot(), sort_keys=True), git_rev=git_revision())

    def _row(self, job: Job, status: str, reason: str = "", **fields: object) -> Measurement:
        facts = {**self.facts, **fields.pop("case_facts", {})}  # type: ignore[dict-item]
        return Measurement(timestamp=utc_now(), cache_mode=job.mode, status=status, reason=reason,
                           facts=json.dumps(facts, sort_keys=True), **case_columns(job.case),
                           **self.shared, **fields)  # type: ignore[arg-type]

    def run(self, job: Job) -> tuple[Measurement, Sequence[float]]:
        """Measure one job; never raises for a kernel's failure (it becomes the row's status)."""
        try:
            return self._measure(job)
        except Exception as exc:
            return self._row(job, "error", one_line(exc)), ()

    def _prepare(self, job: Job) -> tuple[Operands, list[Prepared], float] | str:
        case = job.case
        copies = cold_copies(case, self.device.cache_bytes()) if job.mode == "cold" else 1
        problem = memory_problem(case, copies, self.device)
        if problem:
            return problem
        operands = make_operands(case, self.header.seed)
        t0 = time.perf_counter()
        prepared = [self.kernel.prepare(case, operands)]
        prepare_s = time.perf_counter() - t0  # the first prepare carries JIT/compile/handle costs
        prepared += [self.kernel.prepare(case, _clone(operands)) for _ in range(copies - 1)]
        return operands, prepared, prepare_s

    def _measure(self, job: Job) -> tuple[Measurement, Sequence[float]]:
        reason = self.kernel.supports(job.case)
        if reason:
            return self._row(job, "skipped", reason), ()
        ready = self._prepare(job)
        if isinstance(ready, str):
            return self._row(job, "skipped", ready), ()
        operands, prepared, prepare_s = ready
        steal0, t0 = steal_seconds(self.cpus), time.perf_counter()
        samples = measure([p.launch for p in prepared], self.device, self.header.policy)
        self.device.synchronize()
        steal = _steal_share(steal0, steal_seconds(self.cpus), (time.perf_counter() - t0) * len(self.cpus))
        verdict = verify(job.case, operands, self.kernel.fetch(prepared[0].output), self.header.seed,
                         prepared[0].compute_dtype)
        status, reason = ("ok", "") if verdict.ok else (
            "wrong", f"max error {verdict.max_error:.3g} > tolerance {verdict.tolerance:.3g} ({verdict.method})")
        row = self._timed_row(job, status, reason, samples, verdict, prepare_s, len(prepared), prepared[0].facts,
                              steal)
        return row, samples.per_call_s

    def _timed_row(self, job: Job, status: str, reason: str, samples: Samples, verdict: Verdict,
                   prepare_s: float, copies: int, case_facts: dict[str, str], steal: float | None = None
                   ) -> Measurement:
        s = summarize(samples.per_call_s)
        noise = noise_verdict(samples.per_call_s, s)
        if steal is not None:
            case_facts = {**case_facts, "steal": f"{steal:.3f}"}
            if steal > STEAL_FLAG:  # the VM took CPU time away: the samples cannot show it
                flag = f"VM steal {100 * steal:.0f}% of CPU time"
                noise = flag if noise == "ok" else f"{noise}; {flag}"
        flops = job.case.flops

        def rate(t: float) -> float | None:  # a wrong result gets no rate: it must never chart as fast
            return flops / t / 1e9 if t > 0 and status == "ok" else None

        return self._row(
            job, status, reason, case_facts=case_facts, n_samples=s.n, inner_loops=samples.inner, copies=copies,
            median_s=s.median, q1_s=s.q1, q3_s=s.q3, iqr_s=s.iqr, min_s=s.min, max_s=s.max, mean_s=s.mean,
            stddev_s=s.stddev, gflops=rate(s.median), gflops_best=rate(s.min),
            max_error=verdict.max_error, tolerance=verdict.tolerance,
            verified=verdict.method, noise=noise, converged=samples.converged,
            prepare_s=prepare_s, first_call_s=samples.first_call_s, sampling_s=samples.sampling_s,
            warmup_calls=samples.warmup_calls)


def _steal_share(before: float | None, after: float | None, cpu_seconds: float) -> float | None:
    """Share of the measured CPUs' time the hypervisor gave to other guests (None: not reported)."""
    if before is None or after is None or cpu_seconds <= 0:
        return None
    return max(0.0, after - before) / cpu_seconds
