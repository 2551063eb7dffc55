"""The sweep: every selected backend x thread count x case x cache mode, rows to CSV as they finish.

This is the Python API behind ``gemmbench run``::

    from gemmbench import GemmCase, run
    rows = run([GemmCase(512, 512, 512, "float32")], backends=["numpy"], output="results/mine.csv")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .case import GemmCase, Job, check_mode
from .ceilings import Ceiling, CeilingsError, pick_ceilings, read_ceilings
from .contention import quiesce, system_warnings
from .device import HostDevice
from .errors import UsageError
from .hostfacts import affinity, choose_cpus, clock_mhz, derived_peak, hostname, threads_problem, usable_cpus
from .registry import Entry, Registry, discover
from .result import Measurement, ResultWriter, done_keys, read_results, row_key
from .rows import Provenance, make_row
from .session import Outcome, RunHeader, Session
from .store import RESULTS_DIR, check_writable, latest_results, new_run_id, results_path
from .timer import TimingPolicy
from .worker import run_in_worker, run_paired

__all__ = [
    "Reporter",
    "Resumed",
    "RunOptions",
    "Silent",
    "host_ceilings",
    "measure_group",
    "measure_paired",
    "resume_state",
    "resume_target",
    "run",
]


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
    #: Measure each case with all backends at once, taking turns on the machine between timed blocks
    #: (``worker.run_paired``): a finer alternation than ``interleave``, whose backends are seconds apart,
    #: for hosts whose speed drifts within seconds. One fresh worker per backend and case, as ``interleave``.
    paired: bool = False
    #: With ``paired``: the backends' order rotated by this many places, so that rounds (``--rounds``) take turns at
    #: going first. A backend whose calls outlast a turn (``timer.TURN_S``) takes all its samples in its first turn
    #: before the next one starts: a fixed order would put one backend first in every round.
    lead: int = 0
    #: Before each worker, wait at most this long for this process's own threads to go idle.
    quiet_wait_s: float = 5.0

    def __post_init__(self) -> None:
        for mode in self.modes:
            check_mode(mode)
        problem = threads_problem(self.threads)
        if problem:
            raise UsageError(problem)
        if self.paired and not self.isolate:
            raise UsageError("--paired takes turns between worker processes: drop --in-process")

    def thread_counts(self) -> tuple[int, ...]:
        return self.threads or (usable_cpus(),)


class Reporter(Protocol):
    """Progress callbacks (the console table implements these; the default does nothing)."""

    def start(self, total: int, output: Path) -> None: ...
    def begin(self, backend: str, job: Job, threads: int) -> None: ...
    def row(self, row: Measurement) -> None: ...
    def note(self, text: str) -> None: ...
    def finish(self) -> None: ...


class Silent:
    """A reporter that says nothing (the API's default)."""

    def start(self, total: int, output: Path) -> None:
        pass

    def begin(self, backend: str, job: Job, threads: int) -> None:
        pass

    def row(self, row: Measurement) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def finish(self) -> None:
        pass


def resume_target(output: Path | str | None) -> Path:
    """The file ``--resume`` continues: ``output`` if given, else the newest results CSV."""
    if output is not None:
        return Path(output)
    found = latest_results()
    if found is None:
        raise UsageError("--resume: no results/*.csv to resume; give the file with --output")
    return found


def host_ceilings(
    folder: Path = RESULTS_DIR, threads: Sequence[int] = (), say: Callable[[str], None] = lambda s: None
) -> list[Ceiling]:
    """The ceilings this host measured last in ``folder`` (``pick_ceilings``); without a readable file, the
    derived peaks for ``threads`` (cores x FLOP/cycle x clock), so a rate above what the CPU can do is still
    flagged. Through ``say``: each file of this host passed over because it cannot be read, and, without a
    file, that the roof is derived, from which clock: the clock the OS reports is often the nominal one, which
    a boosting core exceeds (by half on a Zen 5 EPYC), so %peak reads high and honest rows may be `suspect`."""
    path = pick_ceilings(folder, hostname(), say)
    try:
        found = read_ceilings(path) if path else []
    except CeilingsError:
        found = []
    if found:
        return found
    device = HostDevice.name_of()
    derived = [c for t in threads for d in ("float32", "float64") if (c := derived_peak(t, d, hostname(), device))]
    mhz, source = clock_mhz()
    roof = (
        f"%peak and `suspect` use the derived roof, at {mhz:.0f} MHz from {source}, which a core that boosts exceeds"
        if derived
        else "no clock to derive a roof from either: rows are placed under no roof"
    )
    say(f"no measured ceilings for this host in {folder} ('gemmbench machine' measures them): {roof}")
    return derived


def _results(entry: Entry, header: RunHeader, jobs: Sequence[Job], options: RunOptions) -> Iterator[Outcome]:
    """Each job's outcome, in order: from a worker, this process, or the parent when it never ran."""

    def parent_row(job: Job, status: str, reason: str) -> Measurement:  # never reached a session
        return _parent_row(entry, header, job, status, reason)

    reason = entry.probe()
    if reason:
        for job in jobs:
            yield Outcome(parent_row(job, "skipped", f"{entry.name} unavailable: {reason}"))
        return
    if options.isolate:

        def error(job: Job, why: str) -> Measurement:
            return parent_row(job, "error", why)

        for _index, outcome in run_in_worker(entry, header, jobs, options.case_timeout_s, error):
            yield outcome
        return
    session = Session(entry.cls(), header, pin=False)  # never pin the caller's own process
    for job in jobs:
        yield session.run(job)


def _group_header(
    threads: int,
    options: RunOptions,
    run_id: str,
    roofs: Sequence[Ceiling],
    checked: dict[tuple[int, ...], str],
    note: Callable[[str], None],
) -> RunHeader:
    """The header of a group's workers: CPUs chosen and checked (once per set of CPUs), this process quiet."""
    cpus = tuple(choose_cpus(threads)) if options.isolate else ()
    system = checked.get(cpus)
    if system is None:  # once per set of CPUs and call: the check watches them for a moment
        system = checked[cpus] = "; ".join(system_warnings(cpus or affinity()))
        if system:
            note(f"warning: before measuring: {system}; figures may be low (recorded in each row)")
    launcher = quiesce(options.quiet_wait_s)  # nothing of ours may run while a worker measures
    return RunHeader(run_id, options.policy, threads, options.seed, tuple(roofs), cpus, system, launcher)


def measure_group(
    entry: Entry,
    threads: int,
    jobs: Sequence[Job],
    options: RunOptions,
    run_id: str,
    roofs: Sequence[Ceiling],
    checked: dict[tuple[int, ...], str] | None = None,
    note: Callable[[str], None] = lambda text: None,
) -> Iterator[Outcome]:
    """Measure one (backend, threads) group of jobs on this host: CPUs chosen and checked, this process quiet,
    then each job's outcome in order. The body of a sweep, and of a fleet task on a Dask worker."""
    header = _group_header(threads, options, run_id, roofs, {} if checked is None else checked, note)
    yield from _results(entry, header, jobs, options)


def measure_paired(
    entries: Sequence[Entry],
    threads: int,
    job: Job,
    options: RunOptions,
    run_id: str,
    roofs: Sequence[Ceiling],
    checked: dict[tuple[int, ...], str] | None = None,
    note: Callable[[str], None] = lambda text: None,
) -> Iterator[tuple[Entry, Outcome]]:
    """Measure one job with every backend of ``entries`` taking turns (``--paired``), each (backend, outcome) as
    it finishes; a backend that is unavailable gets its ``skipped`` row and takes no turns."""
    header = _group_header(threads, options, run_id, roofs, {} if checked is None else checked, note)
    ready = []
    for entry in entries:
        reason = entry.probe()
        if reason:
            yield entry, Outcome(_parent_row(entry, header, job, "skipped", f"{entry.name} unavailable: {reason}"))
        else:
            ready.append(entry)
    first = options.lead % len(ready) if ready else 0
    ready = ready[first:] + ready[:first]

    def error(entry: Entry, job: Job, why: str) -> Measurement:
        return _parent_row(entry, header, job, "error", why)

    yield from run_paired(ready, header, job, options.case_timeout_s, error)


def _parent_row(entry: Entry, header: RunHeader, job: Job, status: str, reason: str) -> Measurement:
    """The row of a job that never reached a session (skipped before, or its worker failed)."""
    return make_row(Provenance(header.run_id, entry.name, entry.cls.variant, header.threads), job, status, reason)


@dataclass(frozen=True)
class Resumed:
    """What ``--resume`` continues: the interrupted run (the file's last run id) and its finished rows."""

    run_id: str
    done: frozenset[tuple]
    other_runs: int  # earlier runs in the same file, whose rows do not count as done
    retried: int  # error rows of the run, measured again

    def describe(self, planned: int) -> str:
        line = f"resuming run {self.run_id}: {len(self.done)} rows done, {planned} to measure"
        if self.retried:
            line += f" ({self.retried} error rows retried)"
        if self.other_runs:
            line += f"; {self.other_runs} earlier run(s) in the file are not continued"
        return line


def resume_state(output: Path) -> Resumed:
    """The run to continue in ``output``: its last run, never the rows of earlier runs of the same cases."""
    rows = read_results(output) if output.exists() else []
    if not rows:
        return Resumed(new_run_id(), frozenset(), 0, 0)
    last = rows[-1].run_id
    mine = [r for r in rows if r.run_id == last]
    retried = {r.key for r in mine if r.status == "error"} - done_keys(mine)
    return Resumed(last, frozenset(done_keys(mine)), len({r.run_id for r in rows}) - 1, len(retried))


def _plan(
    entries: Sequence[Entry],
    cases: Sequence[GemmCase | Job],
    options: RunOptions,
    done: set[tuple],
) -> list[tuple[Entry, int, list[Job]]]:
    """(backend, threads, jobs) groups, each run by one worker; one job per group when interleaving."""
    bases = [c if isinstance(c, Job) else Job(c) for c in cases]  # a Job keeps its workload tags
    jobs = [dataclasses.replace(b, mode=mode) for b in bases for mode in options.modes]
    threads = options.thread_counts()

    def todo(entry: Entry, t: int, batch: list[Job]) -> list[Job]:
        return [j for j in batch if row_key(entry.name, entry.cls.variant, j.case, j.mode, t, j.workload) not in done]

    if options.interleave or options.paired:
        groups = [(e, t, todo(e, t, [j])) for t in threads for j in jobs for e in entries]
    else:
        groups = [(e, t, todo(e, t, jobs)) for e in entries for t in threads]
    return [g for g in groups if g[2]]


def _turn_groups(plan: list[tuple[Entry, int, list[Job]]]) -> list[tuple[int, Job, list[Entry]]]:
    """The plan's one-job groups gathered by (threads, job), in order: the backends that take turns on it."""
    gathered: dict[tuple[int, Job], list[Entry]] = {}
    for entry, threads, (job,) in plan:
        gathered.setdefault((threads, job), []).append(entry)
    return [(threads, job, entries) for (threads, job), entries in gathered.items()]


def run(
    cases: Iterable[GemmCase | Job],
    *,
    backends: Sequence[str] | None = None,
    options: RunOptions | None = None,
    output: Path | str | None = None,
    resume: bool = False,
    registry: Registry | None = None,
    reporter: Reporter | None = None,
    run_id: str | None = None,
    ceilings: Sequence[Ceiling] | None = None,
) -> list[Measurement]:
    """Run a sweep and append its rows to ``output`` (default ``results/<run-id>.csv``).

    With ``resume``, rows already in ``output`` (default: the newest results CSV) are
    skipped (errors are retried) and the run keeps its run id. Several calls can share one
    run id (``run_id``), as the pytest plugin does with one call per test. Rows are placed
    under ``ceilings`` (default: this host's newest ``gemmbench machine`` file in results/).
    Returns the rows written by this call.
    """
    options = options or RunOptions()
    registry = registry or discover()
    entries = registry.select(backends)
    reporter = reporter or Silent()
    cases = list(cases)
    if resume:
        output = resume_target(output)
    if output is not None:
        check_writable(output, "output")
    state = resume_state(Path(output)) if resume and output else None
    run_id = run_id or (state.run_id if state else new_run_id())
    path = Path(output) if output else results_path(run_id)
    plan = _plan(entries, cases, options, set(state.done) if state else set())
    if state is not None:
        reporter.note(state.describe(sum(len(jobs) for _, _, jobs in plan)))
    roofs = tuple(host_ceilings(threads=options.thread_counts(), say=reporter.note) if ceilings is None else ceilings)
    rows: list[Measurement] = []
    checked: dict[tuple[int, ...], str] = {}
    with ResultWriter(path) as writer:
        reporter.start(sum(len(jobs) for _, _, jobs in plan), path)
        try:
            if options.paired:
                for threads, job, entries_of_job in _turn_groups(plan):
                    reporter.begin("+".join(e.name for e in entries_of_job), job, threads)
                    pairs = measure_paired(entries_of_job, threads, job, options, run_id, roofs, checked, reporter.note)
                    for _entry, (row, samples, disturbed) in pairs:
                        writer.write(row, samples, disturbed)
                        rows.append(row)
                        reporter.row(row)
                return rows
            for entry, threads, jobs in plan:
                reporter.begin(entry.name, jobs[0], threads)
                outcomes = measure_group(entry, threads, jobs, options, run_id, roofs, checked, reporter.note)
                for i, (row, samples, disturbed) in enumerate(outcomes, start=1):
                    writer.write(row, samples, disturbed)
                    rows.append(row)
                    reporter.row(row)
                    if i < len(jobs):  # jobs run in order, so the next one starts now
                        reporter.begin(entry.name, jobs[i], threads)
        finally:
            reporter.finish()
    return rows
