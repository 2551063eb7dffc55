"""The one row builder: every ``Measurement`` - measured, skipped, errored, crashed, timed out - is made here.

Provenance (host, CPU, BLAS, library versions, environment, git revision, run id) is
collected once per process as a value and shared by every row of that process; a worker
adds what only it knows (device, BLAS pools, libraries). ``make_row`` then fills the
case columns, the status, the statistics and noise verdict of the samples, and places
an ``ok`` row under its roofs.

Roofline placement happens here, when the row is built, not when it is read: a CSV is
read on other machines and years later, so each row carries the roofs it was judged
against (with their sources), and nobody has to find the right ceilings file again.

Adding a CSV column means: a field of ``Measurement`` (result.py) and a line here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .case import Job
from .ceilings import CeilingSet
from .contention import Steal
from .hostfacts import cpu_model, env_snapshot, git_revision, hostname
from .result import Measurement
from .roofline import place
from .stats import noise_verdict, summarize
from .store import utc_now
from .timer import Samples
from .verify import Verdict

__all__ = ["Measured", "Provenance", "make_row", "place_row"]


@dataclass(frozen=True)
class Provenance:
    """What every row of one backend, thread count and run shares: where, with what, by which code."""

    run_id: str
    backend: str
    variant: str
    threads: int
    host: str = field(default_factory=hostname)
    cpu_model: str = field(default_factory=cpu_model)
    env: str = field(default_factory=lambda: json.dumps(env_snapshot(), sort_keys=True))
    git_rev: str = field(default_factory=git_revision)
    #: Known only once the backend is loaded (in its worker): the device, BLAS pools and library versions.
    device: str = ""
    blas: str = ""
    libs: str = ""


@dataclass(frozen=True)
class Measured:
    """What a finished measurement hands to the builder."""

    samples: Samples
    verdict: Verdict
    prepare_s: float
    copies: int
    #: Steal ticks over the measurement on the measured CPUs (None: not reported).
    steal: Steal | None = None
    #: Cold mode: bytes of the rotated operand copies and the cache size they must exceed twice.
    cold_bytes: int | None = None
    cache_bytes: int | None = None
    #: Flags of the device monitor beyond disturbed blocks (e.g. clocks that changed during the measurement).
    monitor_flags: tuple[str, ...] = ()
    #: The precision the kernel computed in when lower than the case's dtype ("tf32"); '' = the dtype.
    compute: str = ""
    #: What waiting for the host to take back freed memory found before timing (``reclaim.await_reclaim``): one
    #: fact per free waited for, joined by "; " (a paired worker also waits for a partner that ended).
    reclaim: str = ""


def _flags(m: Measured, median: float, launcher: str = "") -> str:
    """The noise verdict of the clean samples, plus what the samples themselves cannot show."""
    flags = [] if (v := noise_verdict(m.samples.per_call_s)) == "ok" else [v]
    if m.samples.contended:
        flags.append(m.samples.disturbance or f"contended ({100 * (m.samples.contention or 0.0):.0f}% of the time)")
    d = m.samples.dispatch_s
    if d is not None and median > 0 and d >= median:  # the host cannot issue GEMMs as fast as the device runs them
        flags.append(f"launch-bound (host dispatch {1e6 * d:.1f} us/call >= device {1e6 * median:.1f} us)")
    flags += m.monitor_flags
    if m.steal is not None and m.steal.proven:  # the VM took CPU time away: the samples cannot show it
        flags.append(f"VM steal {100 * m.steal.share:.0f}% of CPU time")
    # The host was still unmapping freed memory (one fact per free waited for): steal may follow.
    flags += [f"host {fact}" for fact in m.reclaim.split("; ") if fact.startswith("still")]
    if launcher.startswith("busy"):  # the process that launched the worker kept running on our CPUs
        flags.append(f"launcher {launcher}")
    if m.cold_bytes is not None and m.cache_bytes and m.cold_bytes < COLD_CACHE_FACTOR * m.cache_bytes:
        flags.append(f"cold set {m.cold_bytes / 2**20:.1f} MiB < {COLD_CACHE_FACTOR}x cache: partly cache-resident")
    return "; ".join(flags) or "ok"


def _facts(m: Measured) -> dict[str, str]:
    out: dict[str, str] = {}
    if m.steal is not None:
        out.update(
            steal=f"{m.steal.share:.3f}", steal_ticks=str(m.steal.ticks), steal_window_s=f"{m.steal.window_s:.3f}"
        )
    if m.cold_bytes is not None:
        out["cold_bytes"] = str(m.cold_bytes)
    if m.reclaim:
        out["host_reclaim"] = m.reclaim
    if m.samples.unheld:
        out["unheld_blocks"] = str(m.samples.unheld)
    return out


#: Cold mode rotates operand copies totalling at least this many times the last-level cache.
COLD_CACHE_FACTOR = 2
#: Order statistics and moments copied from the summary, each as the column ``<name>_s``.
_SUMMARY = ("median", "q1", "q3", "iqr", "min", "max", "mean", "stddev")
#: Columns a case determines.
_CASE = ("m", "n", "k", "batch", "dtype", "trans", "flops", "bytes", "intensity")


def _measured_columns(m: Measured, ok: bool, flops: int, launcher: str) -> dict[str, Any]:
    s, t, v = summarize(m.samples.per_call_s), m.samples, m.verdict

    def rate(sec: float) -> float | None:  # a wrong result gets no rate: it must never chart as fast
        return flops / sec / 1e9 if sec > 0 and ok else None

    out: dict[str, Any] = {f"{name}_s": getattr(s, name) for name in _SUMMARY}
    out.update(n_samples=s.n, inner_loops=t.inner, copies=m.copies, gflops=rate(s.median), gflops_best=rate(s.min))
    out.update(max_error=v.max_error, tolerance=v.tolerance, verified=v.method, noise=_flags(m, s.median, launcher))
    out.update(disturbed=len(t.disturbed_s), contention=t.contention)
    out.update(converged=t.converged, prepare_s=m.prepare_s, first_call_s=t.first_call_s, sampling_s=t.sampling_s)
    out.update(warmup_calls=t.warmup_calls, dispatch_s=t.dispatch_s, compute=m.compute)
    return out


def make_row(
    prov: Provenance,
    job: Job,
    status: str,
    reason: str = "",
    *,
    measured: Measured | None = None,
    facts: Mapping[str, str] | None = None,
    ceilings: CeilingSet | None = None,
) -> Measurement:
    """The row for ``job``: provenance, case columns, status and reason, then the measured figures if any."""
    case = job.case
    facts = dict(facts or {})
    columns: dict[str, Any] = {}
    if measured is not None:
        facts.update(_facts(measured))
        columns = _measured_columns(measured, status == "ok", case.flops, facts.get("launcher", ""))
    columns.update({name: getattr(case, name) for name in _CASE})
    facts_json = json.dumps(facts, sort_keys=True) if facts else ""
    tags: dict[str, Any] = {"cache_mode": job.mode, "workload": job.workload, "role": job.role, "count": job.count}
    row = Measurement(
        **dataclasses.asdict(prov),
        **columns,
        **tags,
        timestamp=utc_now(),
        status=status,
        reason=reason,
        facts=facts_json,
    )
    return place_row(row, ceilings) if ceilings is not None else row


def place_row(row: Measurement, ceilings: CeilingSet) -> Measurement:
    """Add the row's place under its roofs (% of peak, attainable bound) when they are known."""
    if row.status != "ok":
        return row
    peak = ceilings.peak(row.host, row.device, row.dtype, row.threads, row.compute)
    bw = ceilings.bandwidth(row.host, row.device, row.threads)
    if peak is None and bw is None:
        return row
    p = place(row.gflops, row.intensity, peak.value if peak else None, bw.value if bw else None)
    sources = "; ".join(f"{c.name} {c.value:.1f} {c.unit} ({c.source}, x{c.threads})" for c in (peak, bw) if c)
    noise = row.noise
    if p.pct_peak is not None and p.pct_peak > 100 and peak is not None:  # never above a roof without a flag
        bound = peak
        if peak.name == "gemm-peak":  # an accelerator's practical peak: its vendor GEMM's rate at one size
            # Other shapes beat it (an H200 ran Llama-3.1-8B's lm_head at 103 % of its 8192^3 float32): the
            # spec sheet is the bound there, where the model has one (else the practical peak stays the bound).
            spec = ceilings.spec_peak(row.host, row.device, row.dtype, row.threads, row.compute)
            bound = spec if spec is not None and spec.value > peak.value else peak
        gflops = row.gflops or 0.0  # set, since pct_peak is
        if gflops > bound.value:
            flag = f"suspect: {100 * gflops / bound.value:.0f}% of the {bound.name} roof ({bound.source})"
            noise = flag if noise in ("", "ok") else f"{noise}; {flag}"
    return dataclasses.replace(
        row, **dataclasses.asdict(p), ceilings=sources, noise=noise
    )  # RoofPoint's fields are columns
