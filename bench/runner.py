"""The sweep: every selected backend x thread count x case x cache mode, rows to CSV as they finish.

This is the Python API behind ``gemmbench run``::

    from gemmbench import GemmCase, RunOptions, run
    rows = run([GemmCase(512, 512, 512, "float32")], backends=["numpy"], output="results/mine.csv")
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

from .case import GemmCase
from .ceilings import Ceiling, CeilingSet, CeilingsError, latest_ceilings, read_ceilings
from .execute import Job, RunHeader, Session
from .machine import cpu_model, env_snapshot, git_revision, hostname, threads_problem, usable_cpus
from .registry import Entry, Registry, discover
from .result import Measurement, ResultWriter, case_columns, done_keys, read_results, row_key, utc_now
from .roofline import place
from .timer import TimingPolicy
from .worker import run_in_worker

__all__ = ["RunOptions", "Reporter", "run", "new_run_id", "latest_results", "RESULTS_DIR", "annotate", "host_ceilings"]

RESULTS_DIR = Path("results")


@dataclass(frozen=True)
class RunOptions:
    """How to run a sweep (everything but *what* to run)."""

    modes: tuple[str, ...] = ("hot",)
    #: Thread counts to measure; empty means every usable CPU.
    threads: tuple[int, ...] = ()
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    #: Each backend in its own worker process (default); False runs in this process, for debugging.
    isolate: bool = True
    seed: int = 0
    #: A worker silent for this long on one case is killed and the case recorded as an error.
    case_timeout_s: float = 600.0
    #: Alternate backends case by case (each case in a fresh worker), so slow drift of the
    #: machine (thermal, neighbours) hits every backend alike instead of whichever ran last.
    interleave: bool = False

    def __post_init__(self) -> None:
        for mode in self.modes:
            Job(GemmCase(1, 1, 1), mode)  # validates the mode name
        problem = threads_problem(self.threads)
        if problem:
            raise ValueError(problem)

    def thread_counts(self) -> tuple[int, ...]:
        return self.threads or (usable_cpus(),)


class Reporter(Protocol):
    """Progress callbacks (the console table implements these; the default does nothing)."""

    def start(self, total: int, output: Path) -> None: ...
    def begin(self, backend: str, job: Job, threads: int) -> None: ...
    def row(self, row: Measurement) -> None: ...
    def finish(self) -> None: ...


class _Silent:
    def start(self, total: int, output: Path) -> None: pass
    def begin(self, backend: str, job: Job, threads: int) -> None: pass
    def row(self, row: Measurement) -> None: pass
    def finish(self) -> None: pass


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def latest_results(folder: Path = RESULTS_DIR) -> Path | None:
    """Newest results CSV in ``folder`` (by name, which starts with the run's time; machine CSVs excluded)."""
    files = sorted(p for p in folder.glob("*.csv") if not p.name.startswith("machine-"))
    return files[-1] if files else None


def _parent_row(entry: Entry, header: RunHeader, job: Job, status: str, reason: str) -> Measurement:
    """A row for a job that never reached a measuring session (backend unavailable, worker crash)."""
    return Measurement(run_id=header.run_id, timestamp=utc_now(), host=hostname(), backend=entry.name,
                       variant=entry.cls.variant, device="", cache_mode=job.mode, threads=header.threads,
                       status=status, reason=reason, cpu_model=cpu_model(),
                       env=json.dumps(env_snapshot(), sort_keys=True), git_rev=git_revision(), **case_columns(job.case))


def _results(entry: Entry, header: RunHeader, jobs: Sequence[Job], options: RunOptions,
             ) -> Iterator[tuple[Job, Measurement, Sequence[float]]]:
    reason = entry.probe()
    if reason:
        for job in jobs:
            yield job, _parent_row(entry, header, job, "skipped", f"{entry.name} unavailable: {reason}"), ()
        return
    if options.isolate:
        def error(job: Job, why: str) -> Measurement:
            return _parent_row(entry, header, job, "error", why)
        for index, row, samples in run_in_worker(entry, header, jobs, options.case_timeout_s, error):
            yield jobs[index], row, samples
        return
    session = Session(entry.cls(), header, pin=False)  # never pin the caller's own process
    for job in jobs:
        row, samples = session.run(job)
        yield job, row, samples


def host_ceilings(folder: Path = RESULTS_DIR) -> list[Ceiling]:
    """This host's newest ``gemmbench machine`` ceilings in ``folder`` (none if absent or unreadable)."""
    path = latest_ceilings(folder, hostname())
    try:
        return read_ceilings(path) if path else []
    except CeilingsError:
        return []


def annotate(row: Measurement, ceilings: CeilingSet) -> Measurement:
    """Add the row's place under its roofs (% of peak, attainable bound) when they are known."""
    if row.status != "ok":
        return row
    peak = ceilings.peak(row.host, row.device, row.dtype, row.threads)
    bw = ceilings.bandwidth(row.host, row.device, row.threads)
    if peak is None and bw is None:
        return row
    p = place(row.gflops, row.intensity, peak.value if peak else None, bw.value if bw else None)
    sources = "; ".join(f"{c.name} {c.value:.1f} {c.unit} ({c.source}, x{c.threads})" for c in (peak, bw) if c)
    return dataclasses.replace(row, peak_gflops=p.peak_gflops, pct_peak=p.pct_peak, roof_gflops=p.roof_gflops,
                               pct_roof=p.pct_roof, ceilings=sources)


def _resume_state(output: Path, resume: bool) -> tuple[str, set[tuple]]:
    if resume and output.exists():
        rows = read_results(output)
        return (rows[-1].run_id if rows else new_run_id()), done_keys(rows)
    return new_run_id(), set()


def _plan(entries: Sequence[Entry], cases: Sequence[GemmCase], options: RunOptions, done: set[tuple],
          ) -> list[tuple[Entry, int, list[Job]]]:
    """(backend, threads, jobs) groups, each run by one worker; one job per group when interleaving."""
    jobs = [Job(c, mode) for c in cases for mode in options.modes]
    threads = options.thread_counts()

    def todo(entry: Entry, t: int, batch: list[Job]) -> list[Job]:
        return [j for j in batch if row_key(entry.name, entry.cls.variant, j.case, j.mode, t) not in done]

    if options.interleave:
        groups = [(e, t, todo(e, t, [j])) for t in threads for j in jobs for e in entries]
    else:
        groups = [(e, t, todo(e, t, jobs)) for e in entries for t in threads]
    return [g for g in groups if g[2]]


def run(cases: Iterable[GemmCase], backends: Sequence[str] | None = None, options: RunOptions | None = None,
        output: Path | str | None = None, resume: bool = False, registry: Registry | None = None,
        reporter: Reporter | None = None, run_id: str | None = None,
        ceilings: Sequence[Ceiling] | None = None) -> list[Measurement]:
    """Run a sweep and append its rows to ``output`` (default ``results/<run-id>.csv``).

    With ``resume``, rows already in ``output`` are skipped (errors are retried) and the
    run keeps its run id. Several calls can share one run id (``run_id``), as the pytest
    plugin does with one call per test. Rows are placed under ``ceilings`` (default: this
    host's newest ``gemmbench machine`` file in results/). Returns the rows written by this call.
    """
    options = options or RunOptions()
    registry = registry or discover()
    entries = registry.select(backends)
    reporter = reporter or _Silent()
    cases = list(cases)
    if resume and output is None:
        output = latest_results()
    found_id, done = _resume_state(Path(output), resume) if output else (new_run_id(), set())
    run_id = run_id or found_id
    path = Path(output) if output else RESULTS_DIR / f"{run_id}.csv"
    plan = _plan(entries, cases, options, done)
    roofs = CeilingSet(host_ceilings() if ceilings is None else ceilings)
    rows: list[Measurement] = []
    with ResultWriter(path) as writer:
        reporter.start(sum(len(jobs) for _, _, jobs in plan), path)
        try:
            for entry, threads, jobs in plan:
                header = RunHeader(run_id, options.policy, threads, options.seed)
                reporter.begin(entry.name, jobs[0], threads)
                for i, (job, row, samples) in enumerate(_results(entry, header, jobs, options), start=1):
                    row = annotate(row, roofs)
                    writer.write(row, samples)
                    rows.append(row)
                    reporter.row(row)
                    if i < len(jobs):  # jobs run in order, so the next one starts now
                        reporter.begin(entry.name, jobs[i], threads)
        finally:
            reporter.finish()
    return rows

