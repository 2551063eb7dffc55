"""Fleet: one sweep over the workers of a Dask cluster; every row streams back into one CSV here.

Dask only places and carries work. The measuring is gemmbench's own, unchanged, on each node:
a task is one job of one (backend, threads) group, and runs on its Dask worker through
``sweep.measure_group`` - an isolated worker process, pinning, timeouts, verification, and
the node's own ceilings (shipped from this side's ``results/machine-<host>-*.csv`` when
``gemmbench machine --cluster`` measured them, else the node's own file or derived peaks).

Scheduling is this client's, never Dask's load balancer: at most one task is in flight per
*slot*. A slot is a host (default: never two measuring jobs on one host at once), or one Dask
worker with ``disjoint`` (the user says the workers own disjoint CPUs or devices: one worker
per GPU, or per socket). ``on="all"`` runs the whole sweep on every slot; ``on="any"`` spreads
the tasks over slots whose hardware facts match, and refuses slots that differ.

Faults: a task whose worker leaves the cluster (died, disconnected) is, with ``all``, an error
row naming the host together with every case that slot had left (``--resume`` measures them
again); with ``any`` it goes back to the queue for another worker. Ctrl-C cancels the tasks
in flight, stops their measuring processes on the nodes, and keeps every row already written.

Dask is imported only here, and only when a cluster is asked for (``pip install 'gemmbench[cluster]'``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .case import GemmCase, Job
from .ceilings import Ceiling, CeilingsError, pick_ceilings, read_ceilings
from .errors import UsageError, one_line
from .hostfacts import blas_summary, cpu_model, hostname, usable_cpus
from .registry import Registry, discover
from .result import Measurement, ResultWriter, read_results, row_key
from .rows import Provenance, make_row
from .store import RESULTS_DIR, check_writable, new_run_id, results_path
from .sweep import Reporter, RunOptions, Silent, host_ceilings, measure_group, resume_target
from .timer import TimingPolicy

__all__ = ["ON_CHOICES", "Cluster", "Node", "connect", "node_facts", "open_cluster", "remote_measure", "run_fleet"]

ON_CHOICES = ("all", "any")
#: Bound on reaching the scheduler: a wrong address fails within this, with one line.
CONNECT_TIMEOUT_S = 10.0
#: How often the client looks for finished tasks and departed workers.
POLL_S = 0.25
#: With ``any`` and no worker left, how long to wait for one to (re)join before the rest become errors.
REJOIN_S = 30.0
#: Facts that must match for ``on="any"``: cases measured on different hardware are not one sweep.
SAME_FACTS = ("cpu", "cpus", "blas", "gemmbench")


# ---------------------------------------------------------------- on the nodes


def node_facts() -> dict[str, str]:
    """What a node is (runs on each Dask worker): host, CPU, usable CPUs, BLAS, visible accelerators."""
    return {
        "host": hostname(),
        "cpu": cpu_model(),
        "cpus": str(usable_cpus()),
        "blas": blas_summary(),
        "gemmbench": __version__,
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "ASCEND_RT_VISIBLE_DEVICES": os.environ.get("ASCEND_RT_VISIBLE_DEVICES", ""),
    }


def remote_measure(
    backend: str,
    threads: int,
    job: dict[str, Any],
    run_id: str,
    policy: dict[str, Any],
    options: dict[str, Any],
    ceilings: list[dict[str, Any]] | None,
    node: str,
) -> tuple[dict[str, Any], list[float], list[float]]:
    """One job on this node (runs on a Dask worker): the sweep's own group measurement, the row tagged with
    ``node``. Returns the row and its samples as plain data (what Dask carries back)."""
    case_job = Job(**{**job, "case": GemmCase(**job["case"])})
    roofs = [Ceiling(**c) for c in ceilings] if ceilings else host_ceilings(threads=(threads,))
    run_options = RunOptions(modes=(case_job.mode,), threads=(threads,), policy=TimingPolicy(**policy), **options)
    try:
        entry = discover().get(backend)
    except UsageError as exc:  # this node lacks the backend (another version, a missing plugin)
        row = make_row(Provenance(run_id, backend, "", threads), case_job, "skipped", f"not on this node: {exc}")
        return dataclasses.asdict(dataclasses.replace(row, node=node)), [], []
    row, samples, disturbed = next(iter(measure_group(entry, threads, [case_job], run_options, run_id, roofs)))
    return dataclasses.asdict(dataclasses.replace(row, node=node)), list(samples), list(disturbed)


def stop_measuring() -> int:
    """Kill this Dask worker's measuring child processes (Ctrl-C on the client); returns how many."""
    me, killed = os.getpid(), 0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == me:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError, IndexError):
            continue
    return killed


# ---------------------------------------------------------------- on the client


@dataclass(frozen=True)
class Node:
    """One Dask worker as the fleet sees it."""

    address: str
    name: str
    facts: dict[str, str]

    @property
    def host(self) -> str:
        return self.facts.get("host", "?")


def connect(spec: str) -> tuple[Any, Any]:
    """(client, local cluster or None) for ``tcp://host:port`` (any Dask address) or ``local:N``.

    A bad or unreachable address is a ``UsageError`` within ``CONNECT_TIMEOUT_S``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--cluster needs Dask distributed: pip install 'gemmbench[cluster]'") from None
    if spec.startswith("local:"):
        count = spec.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--cluster {spec!r}: local:N needs a worker count N >= 1 (e.g. local:2)")
        cluster = LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        return Client(cluster), cluster
    if "://" not in spec or not spec.partition("://")[2]:
        raise UsageError(f"--cluster {spec!r}: give a scheduler address (tcp://host:8786) or local:N")
    try:
        return Client(spec, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"--cluster {spec}: cannot reach a Dask scheduler there ({one_line(exc)}); "
            "start one with 'dask scheduler' and check the address"
        ) from None


def slot_of(node: Node, disjoint: bool) -> str:
    """The slot label a node measures under, recorded in rows as ``node``."""
    return f"{node.host}/{node.name}" if disjoint else node.host


class Cluster:
    """The client's view of a cluster: its workers, grouped into slots, each worker's facts asked for once.

    ``refresh`` only asks the scheduler who is there (cheap, and nothing runs on the nodes): a worker is
    asked for its facts once, when first seen, never again while it measures.
    """

    def __init__(self, client: Any, disjoint: bool) -> None:
        self.client, self.disjoint = client, disjoint
        self.slots: dict[str, list[Node]] = {}
        self._facts: dict[str, dict[str, str]] = {}
        self.last_seen = time.monotonic()

    def refresh(self) -> None:
        """Re-read the workers: departed ones leave their slots; (re)joined ones join theirs."""
        workers = self.client.scheduler_info().get("workers", {})
        new = [a for a in workers if a not in self._facts]
        if new:
            with contextlib.suppress(Exception):  # one that left meanwhile is asked again, or never
                self._facts.update(self.client.run(node_facts, workers=new))
        slots: dict[str, list[Node]] = collections.defaultdict(list)
        for address, info in workers.items():
            if address in self._facts:
                node = Node(address, str(info.get("name", address)), self._facts[address])
                slots[slot_of(node, self.disjoint)].append(node)
        self.slots = dict(slots)
        if self.slots:
            self.last_seen = time.monotonic()


@contextlib.contextmanager
def open_cluster(spec: str, disjoint: bool = False) -> Iterator[Cluster]:
    """A connected cluster with at least one worker (``UsageError`` otherwise), closed on leaving."""
    client, local = connect(spec)
    try:
        found = Cluster(client, disjoint)
        found.refresh()
        if not found.slots:
            raise UsageError(f"--cluster {spec}: no workers; start 'dask worker {spec}' on each node")
        yield found
    finally:
        client.close()
        if local is not None:
            local.close()


def check_same_hardware(slots: dict[str, list[Node]]) -> None:
    """``on="any"`` spreads one sweep over slots: refuse slots whose hardware or software facts differ."""
    seen: dict[tuple[str, ...], str] = {}
    for label, members in slots.items():
        for node in members:
            seen.setdefault(tuple(node.facts.get(k, "") for k in SAME_FACTS), label)
    if len(seen) > 1:
        kinds = "; ".join(f"{label}: {', '.join(key)}" for key, label in seen.items())
        raise UsageError(
            f"--on any needs identical workers, these differ ({', '.join(SAME_FACTS)}): {kinds}; "
            "use --on all to measure each, or a cluster of one kind"
        )


@dataclass(frozen=True)
class _Task:
    backend: str
    variant: str
    threads: int
    job: Job

    @property
    def key(self) -> tuple:
        j = self.job
        return row_key(self.backend, self.variant, j.case, j.mode, self.threads, j.workload)


def _tasks(registry: Registry, backends: Sequence[str], jobs: Sequence[Job], threads: Sequence[int]) -> list[_Task]:
    entries = registry.select(backends)
    return [_Task(e.name, e.cls.variant, t, j) for t in threads for j in jobs for e in entries]


def _done(path: Path | None, on: str) -> tuple[str, set[tuple]]:
    """(run id to continue, finished keys): per slot with ``all``, per case with ``any``; errors are retried."""
    if path is None or not path.exists():
        return new_run_id(), set()
    rows = read_results(path)
    if not rows:
        return new_run_id(), set()
    last = rows[-1].run_id
    done = {(r.node, r.key) if on == "all" else r.key for r in rows if r.run_id == last and r.status != "error"}
    return last, done


class _Fleet:
    """The client's scheduling loop: one task in flight per slot, rows written as they arrive."""

    def __init__(
        self, found: Cluster, on: str, run_id: str, options: RunOptions, reporter: Reporter, writer: ResultWriter
    ) -> None:
        self.cluster, self.client, self.on, self.run_id = found, found.client, on, run_id
        self.options, self.reporter, self.writer = options, reporter, writer
        self.rows: list[Measurement] = []
        self.inflight: dict[Any, tuple[str, Node, _Task]] = {}
        self.queues: dict[str, collections.deque[_Task]] = {}
        self.shared: collections.deque[_Task] = collections.deque()
        self.roofs: dict[str, list[dict[str, Any]] | None] = {}  # per host, read from here once

    @property
    def slots(self) -> dict[str, list[Node]]:
        return self.cluster.slots

    def _write(self, row: Measurement, samples: Sequence[float] = (), disturbed: Sequence[float] = ()) -> None:
        self.writer.write(row, samples, disturbed)
        self.rows.append(row)
        self.reporter.begin(row.backend, Job(row.case, row.cache_mode), row.threads)
        self.reporter.row(row)

    def _error(self, node: Node, label: str, task: _Task, reason: str) -> None:
        cpu = node.facts.get("cpu", "")
        prov = Provenance(self.run_id, task.backend, task.variant, task.threads, host=node.host, cpu_model=cpu)
        row = make_row(prov, task.job, "error", reason)
        self._write(dataclasses.replace(row, node=label))

    # -- submitting
    def _submit(self, label: str, node: Node, task: _Task) -> None:
        """Send one task to ``node``: remote_measure travels by reference (the node imports gemmbench)."""
        opts = {
            "seed": self.options.seed,
            "case_timeout_s": self.options.case_timeout_s,
            "quiet_wait_s": self.options.quiet_wait_s,
        }
        job = {**dataclasses.asdict(task.job), "case": dataclasses.asdict(task.job.case)}
        future = self.client.submit(
            remote_measure,
            task.backend,
            task.threads,
            job,
            self.run_id,
            dataclasses.asdict(self.options.policy),
            opts,
            self.roofs.get(node.host),
            label,
            workers=[node.address],
            allow_other_workers=False,
            pure=False,
            retries=0,
        )
        self.inflight[future] = (label, node, task)

    def _fill(self) -> None:
        busy = {label for label, _, _ in self.inflight.values()}
        for label, members in self.slots.items():
            if label in busy or not members:
                continue
            queue = self.queues.get(label) if self.on == "all" else self.shared
            if queue:
                self._submit(label, members[0], queue.popleft())

    # -- collecting
    def _finished(self, future: Any) -> None:
        label, node, task = self.inflight.pop(future)
        try:
            raw, samples, disturbed = future.result()
        except Exception as exc:
            self._lost(label, node, task, f"task failed on {node.host} ({node.name}): {one_line(exc)}")
            return
        self._write(Measurement(**raw), samples, disturbed)

    def _lost(self, label: str, node: Node, task: _Task, why: str) -> None:
        """A task whose worker left or failed: requeued (``any``), or errors for what the slot had left (``all``)."""
        if self.on == "any":
            self.shared.appendleft(task)
            self.reporter.note(f"{why}; its case goes to another worker")
            return
        rest = [task, *self.queues.get(label, ())]
        self.queues[label] = collections.deque()
        self.reporter.note(f"{why}; {len(rest)} case(s) of {label} recorded as errors (--resume measures them)")
        for t in rest:
            self._error(node, label, t, why)

    def _departed(self) -> None:
        alive = {n.address for members in self.slots.values() for n in members}
        for future, (label, node, task) in list(self.inflight.items()):
            if node.address not in alive and not future.done():
                self.inflight.pop(future)
                future.cancel()
                self._lost(label, node, task, f"worker {node.name} on {node.host} left the cluster mid-case")

    def _orphans(self) -> None:
        """``all``: slots with cases left but no worker; ``any``: no worker at all for REJOIN_S."""
        if self.on == "all":
            for label, queue in self.queues.items():
                if queue and not self.slots.get(label) and label not in {lab for lab, _, _ in self.inflight.values()}:
                    node = Node("", label, {"host": label.split("/")[0]})
                    self._lost(label, node, queue.popleft(), f"no worker left for {label}")
        elif self.shared and not self.slots and time.monotonic() - self.cluster.last_seen > REJOIN_S:
            node = Node("", "-", {"host": "?"})
            while self.shared:
                self._error(node, "", self.shared.popleft(), f"no worker left in the cluster for {REJOIN_S:g} s")

    def pending(self) -> bool:
        return bool(self.inflight or self.shared or any(self.queues.values()))

    def loop(self) -> None:
        while self.pending():
            self._fill()
            done = [f for f in self.inflight if f.done()]
            for future in done:
                self._finished(future)
            if not done:
                time.sleep(POLL_S)
            self.cluster.refresh()
            self._departed()
            self._orphans()

    def cancel(self) -> None:
        """Ctrl-C: cancel the tasks in flight and stop their measuring processes on the nodes."""
        futures = list(self.inflight)
        self.inflight.clear()
        with contextlib.suppress(Exception):  # the cluster may be gone too: nothing more to stop
            self.client.cancel(futures, force=True)
            self.client.run(stop_measuring)


def run_fleet(
    cases: Iterable[GemmCase | Job],
    *,
    cluster: str,
    on: str = "all",
    disjoint: bool = False,
    backends: Sequence[str] = ("numpy",),
    options: RunOptions | None = None,
    output: Path | str | None = None,
    resume: bool = False,
    registry: Registry | None = None,
    reporter: Reporter | None = None,
) -> list[Measurement]:
    """Run a sweep on the workers of ``cluster`` (an address or ``local:N``; see the module docstring); rows go to
    ``output`` as they arrive. Returns the rows written by this call."""
    if on not in ON_CHOICES:
        raise UsageError(f"unknown --on {on!r}; valid choices: {', '.join(ON_CHOICES)}")
    options = options or RunOptions()
    registry = registry or discover()
    reporter = reporter or Silent()
    jobs = [c if isinstance(c, Job) else Job(c) for c in cases]
    jobs = [dataclasses.replace(j, mode=m) for j in jobs for m in options.modes]
    if resume:
        output = resume_target(output)
    if output is not None:
        check_writable(output, "output")
    run_id, done = _done(Path(output) if (resume and output) else None, on)
    path = Path(output) if output else results_path(run_id)
    folder = path.parent if output else RESULTS_DIR
    with open_cluster(cluster, disjoint) as found:
        if on == "any":
            check_same_hardware(found.slots)
        queues: dict[str, collections.deque[_Task]] = {}
        shared: collections.deque[_Task] = collections.deque()
        for label, members in found.slots.items():
            threads = options.threads or (int(members[0].facts.get("cpus", "1")),)
            tasks = _tasks(registry, backends, jobs, threads)
            if on == "all":
                queues[label] = collections.deque(t for t in tasks if (label, t.key) not in done)
            elif not shared:
                shared.extend(t for t in tasks if t.key not in done)
        total = sum(len(q) for q in queues.values()) + len(shared)
        reporter.note(
            f"fleet: {len(found.slots)} slot(s) ({', '.join(sorted(found.slots))}), --on {on}, {total} case(s)"
            + (f"; resuming run {run_id}, {len(done)} done" if done else "")
        )
        with ResultWriter(path) as writer:
            fleet = _Fleet(found, on, run_id, options, reporter, writer)
            fleet.queues, fleet.shared = queues, shared
            hosts = {n.host for members in found.slots.values() for n in members}
            fleet.roofs = {h: _host_roofs(folder, h, reporter.note) for h in sorted(hosts)}
            reporter.start(total, path)
            try:
                fleet.loop()
            except KeyboardInterrupt:
                fleet.cancel()
                raise
            finally:
                reporter.finish()
        return fleet.rows


def _host_roofs(folder: Path, host: str, say: Callable[[str], None]) -> list[dict[str, Any]] | None:
    """``host``'s newest ceilings in ``folder`` as plain data (``machine --cluster`` writes them there);
    None lets the node use its own. A file of ``host`` passed over because it cannot be read is named."""
    path = pick_ceilings(folder, host, say)
    try:
        return [dataclasses.asdict(c) for c in read_ceilings(path)] if path else None
    except CeilingsError:
        return None  # unreadable here: the node falls back to its own
