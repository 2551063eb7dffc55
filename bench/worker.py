"""Worker processes: each backend (and thread count) is measured in a fresh interpreter.

Why: thread pools outlive the calls that started them. On a 2-core VM, OpenBLAS
workers still spinning after a call steal a core from the next library's parallel
region, and two busy pools can make a run 10-100x slower. A fresh process per backend
gives each library the machine to itself, and a crash (a segfault in a native
library) costs one case, not the sweep.

Protocol: the parent writes one JSON request to the worker's stdin; the worker answers
with JSON lines on a private copy of its stdout (fd 1 itself is redirected to stderr, so
a library printing to stdout cannot corrupt the stream):
``{"event": "start", "index": i}``,
``{"event": "row", "index": i, "row": {...}, "samples": [...], "disturbed": [...]}``,
``{"event": "fatal", "reason": "..."}`` and finally ``{"event": "done", "freed": {...} or null}`` (the
last large free the worker made, so the next worker waits for the host to take it back: ``reclaim``). A request with
``"paired": true`` (``gemmbench run --paired``) keeps stdin open: the worker says ``{"event": "ready"}`` and waits
for a ``go`` line before it loads anything, and after each turn of timed blocks says ``{"event": "turn"}`` and waits
again; ``alone`` (or the end of stdin) means no other worker is left, so it measures on without handing over. Either
word may carry the free of a worker that has just ended (``go {...}``): the worker given the machine waits for the host
to take that memory back before it times anything more.
A request with ``"task": "ceilings"`` measures the backend's own device roofs instead of jobs and answers
``{"event": "ceiling", "ceiling": {...}}`` per roof, as each is measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import IO

from .case import GemmCase, Job
from .ceilings import Ceiling
from .contention import quiesce
from .devceilings import device_ceilings
from .errors import GemmbenchError, one_line
from .hostfacts import python_argv
from .reclaim import Freed, await_reclaim
from .registry import Entry, load_kernel_class
from .result import Measurement
from .session import Outcome, RunHeader, Session, header_from_json, header_to_json

__all__ = ["WorkerFailed", "WorkerResult", "ceilings_in_worker", "main", "run_in_worker", "run_paired"]

#: An event as the runner consumes it: (job index, outcome) once a job finishes.
WorkerResult = tuple[int, Outcome]

#: What the last worker this process ran reported freeing at its end, handed to the next worker's header.
#: One sweep runs at a time in a process (the CLI, pytest, a fleet task), so one slot is enough.
_last_freed: Freed | None = None


def _request(entry: Entry, header: RunHeader, jobs: Sequence[Job]) -> dict:
    return {
        "kernel": {"module": entry.module, "qualname": entry.cls.__qualname__, "path": entry.path},
        "header": header_to_json(header),
        "jobs": [{**dataclasses.asdict(j), "case": dataclasses.asdict(j.case)} for j in jobs],
    }


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _tail(log: IO[bytes], limit: int = 300) -> str:
    log.seek(0)
    lines = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


def _command(cpus: Sequence[int]) -> list[str]:
    """The worker's command line: a bare interpreter that ties the worker's life to ours, pins it, and execs it.

    * On Linux the worker gets SIGKILL when this process dies (``PR_SET_PDEATHSIG``, kept across exec),
      so a killed ``gemmbench`` never leaves a worker running a hung kernel; the check of the parent's
      pid after setting it closes the race with a parent that died first.
    * Pinning from inside the worker pinned only its main thread: NumPy starts OpenBLAS's pool at
      import, before any code of ours runs. Set before the exec, every thread inherits the pin
      (and no ``preexec_fn``, which is unsafe in a parent with threads).
    """
    argv = python_argv("from gemmbench.worker import main; main()")
    steps = ["import os, sys"]
    if sys.platform.startswith("linux"):
        steps += [
            "import ctypes, signal",
            "ctypes.CDLL(None).prctl(1, signal.SIGKILL)",
            f"os.getppid() == {os.getpid()} or sys.exit(70)",
        ]
    if cpus and hasattr(os, "sched_setaffinity"):
        steps.append(f"os.sched_setaffinity(0, {set(cpus)!r})")
    steps.append(f"os.execv(sys.executable, {argv!r})")
    return python_argv("; ".join(steps))


class WorkerFailed(GemmbenchError, RuntimeError):
    """A worker stopped early (died, or silent past its timeout); the message says why."""


class _Worker:
    """One worker process and a line reader with a deadline."""

    def __init__(self, request: dict, cpus: Sequence[int] = (), keep_stdin: bool = False) -> None:
        # An unnamed temporary file (unlinked at creation): nothing is left behind, even if we are killed.
        self.stderr = tempfile.TemporaryFile(prefix="gemmbench-worker-")
        self.proc = subprocess.Popen(
            _command(cpus),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        if keep_stdin:  # --paired: the turns are given on it
            self.proc.stdin.flush()
        else:
            self.proc.stdin.close()
        self.fd = self.proc.stdout.fileno()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.buffer = b""
        self.freed: Freed | None = None  # from the "done" event; unknown when the worker died

    def readline(self, timeout_s: float) -> str | None:
        """Next line, '' at end of stream, ``None`` on timeout.

        Reads the raw fd into our own buffer: a buffered file object could read ahead past
        one line, and ``select`` would then wait for data already consumed.
        """
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            if not self.sel.select(max(0.0, deadline - time.monotonic())):
                return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return ""
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode() + "\n"

    def failure(self) -> str:
        """Why the worker stopped early, with the last line of its stderr."""
        code = self.proc.wait()
        why = f"killed by {_signal_name(code)}" if code < 0 else f"exited with code {code}"
        last = _tail(self.stderr)
        return f"worker {why}" + (f": {last}" if last else "")

    def message(self, wait_s: float, limit_s: float) -> dict:
        """The next protocol message, waiting at most ``wait_s``; ``WorkerFailed`` when the worker stops, or stays
        silent that long (the reason names ``limit_s``, the timeout the caller set)."""
        line = self.readline(wait_s)
        if line is None:
            raise WorkerFailed(f"timed out after {limit_s:g} s (worker killed)")
        if line == "":
            raise WorkerFailed(self.failure())
        msg: dict = json.loads(line)
        return msg

    def say(self, word: str, freed: Freed | None = None) -> None:
        """Give a paired worker its turn (``go``) or tell it that it measures alone from now on (``alone``), with the
        free of a worker that ended since its last turn (the host may still be taking those pages back)."""
        line = word if freed is None else f"{word} {json.dumps(dataclasses.asdict(freed))}"
        with contextlib.suppress(BrokenPipeError, ValueError):  # it died (its next read says how) or was closed
            self.proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sel.close()
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.stderr.close()


def run_in_worker(
    entry: Entry,
    header: RunHeader,
    jobs: Sequence[Job],
    timeout_s: float,
    make_error: Callable[[Job, str], Measurement],
) -> Iterator[WorkerResult]:
    """Measure ``jobs`` in worker processes, yielding each result as it arrives.

    A worker that crashes or exceeds ``timeout_s`` on one job turns that job into an
    ``error`` row (via ``make_error``) and a fresh worker carries on with the rest.
    """
    global _last_freed
    pending = list(range(len(jobs)))
    while pending:
        told = dataclasses.replace(header, freed=_last_freed)
        worker = _Worker(_request(entry, told, [jobs[i] for i in pending]), header.cpus)
        try:
            done, failure = yield from _drain(worker, pending, timeout_s)
        finally:
            worker.close()
            _last_freed = worker.freed
        pending = [i for i in pending if i not in done]
        if failure is not None and pending:
            current, reason = failure
            if current is None:  # the worker died before starting any job: every job gets the reason
                for i in pending:
                    yield i, Outcome(make_error(jobs[i], reason))
                return
            pending.remove(current)
            yield current, Outcome(make_error(jobs[current], reason))


def run_paired(
    entries: Sequence[Entry],
    header: RunHeader,
    job: Job,
    timeout_s: float,
    make_error: Callable[[Entry, Job, str], Measurement],
) -> Iterator[tuple[Entry, Outcome]]:
    """Measure ``job`` with every backend of ``entries`` at once, taking turns (``gemmbench run --paired``).

    One worker per backend, all started and ready before any measures; then exactly one at a time holds
    the machine (loading, preparing, first call, verifying, and each turn of timed blocks), the others
    blocked on their stdin. Turns go back and forth (A B B A A B ..., as in an ABBA design): in a plain
    ring each backend would run one turn later than the one before it in every cycle, and on a host that
    keeps slowing down that lag alone read as a few per cent between identical backends. ``entries[0]`` takes
    the first turn (``RunOptions.lead`` rotates them between rounds). When a worker ends, the next one given
    the machine is told what it freed and waits for the host to take it back before timing on: on a VM with
    free page reporting a 1-2 GiB free cost the worker measuring next 6-29 % of its CPU time as steal. A
    worker that dies, fails or stays silent ``timeout_s`` in its turn costs its own row (an ``error`` from
    ``make_error``); the others go on. Yields each (backend, outcome) as it finishes.
    """
    global _last_freed
    told = dataclasses.replace(header, freed=_last_freed)
    freed: Freed | None = None  # what the last worker to end freed, until the next worker is given the machine
    workers = [_Worker({**_request(e, told, [job]), "paired": True}, header.cpus, keep_stdin=True) for e in entries]
    try:
        active = []
        for i, worker in enumerate(workers):  # every interpreter started (imports done) before anyone measures
            try:
                msg = worker.message(timeout_s, timeout_s)
                reason = "" if msg["event"] == "ready" else str(msg.get("reason", msg))
            except WorkerFailed as exc:
                reason = str(exc)
            if reason:
                yield entries[i], Outcome(make_error(entries[i], job, reason))
            else:
                active.append(i)
        at, step = 0, 1
        while active:
            i = active[at]
            worker = workers[i]
            worker.say("go" if len(active) > 1 else "alone", freed)
            freed = None
            ended, row = _turn(worker, timeout_s)
            if isinstance(row, str):
                yield entries[i], Outcome(make_error(entries[i], job, row))
            elif row is not None:
                yield entries[i], row
            if ended:
                worker.close()
                freed = worker.freed or freed
                _last_freed = worker.freed or _last_freed
                active.pop(at)
                at -= step < 0  # going up, the next worker has moved into this place
            else:
                at += step
            if active and not 0 <= at < len(active):  # the end of the row: the same worker again, then back
                at, step = min(max(at, 0), len(active) - 1), -step
    finally:
        for worker in workers:
            worker.close()


def _turn(worker: _Worker, timeout_s: float) -> tuple[bool, Outcome | str | None]:
    """Read one paired worker's turn: (whether it has ended, its row, the reason it failed, or None)."""
    row: Outcome | None = None
    while True:
        try:
            msg = worker.message(timeout_s, timeout_s)
        except WorkerFailed as exc:
            return True, row if row is not None else str(exc)
        event = msg["event"]
        if event == "turn":
            return False, row
        if event == "row":
            row = Outcome(Measurement(**msg["row"]), tuple(msg["samples"]), tuple(msg["disturbed"]))
        elif event == "fatal":
            return True, str(msg["reason"])
        elif event == "done":
            worker.freed = Freed(**msg["freed"]) if msg.get("freed") else None
            return True, row


def ceilings_in_worker(entry: Entry, header: RunHeader, timeout_s: float, **sizes: int) -> Iterator[Ceiling]:
    """Measure ``entry``'s device roofs in a worker (``devceilings.device_ceilings``), yielding each as it comes.

    Raises ``WorkerFailed`` (after the roofs already yielded) when the worker fails, dies or is silent for
    ``timeout_s``.
    """
    worker = _Worker({**_request(entry, header, []), "task": "ceilings", "sizes": sizes}, header.cpus)
    try:
        while True:
            msg = worker.message(timeout_s, timeout_s)
            if msg["event"] == "ceiling":
                yield Ceiling(**msg["ceiling"])
            elif msg["event"] == "fatal":
                raise WorkerFailed(msg["reason"])
            elif msg["event"] == "done":
                return
    finally:
        worker.close()


_Failure = tuple[int | None, str]


def _drain(
    worker: _Worker, pending: list[int], timeout_s: float
) -> Generator[WorkerResult, None, tuple[set[int], _Failure | None]]:
    """Yield results from one worker; return (finished indices, (index running, reason) or None)."""
    done: set[int] = set()
    current: int | None = None
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            msg = worker.message(max(0.0, deadline - time.monotonic()), timeout_s)
        except WorkerFailed as exc:
            return done, (current, str(exc))
        event = msg["event"]
        if event == "start":
            current = pending[msg["index"]]
            deadline = time.monotonic() + timeout_s
        elif event == "row":
            index = pending[msg["index"]]
            done.add(index)
            current = None
            yield index, Outcome(Measurement(**msg["row"]), tuple(msg["samples"]), tuple(msg["disturbed"]))
        elif event == "fatal":
            return done, (None, msg["reason"])
        elif event == "done":
            worker.freed = Freed(**msg["freed"]) if msg.get("freed") else None
            return done, None


# ---------------------------------------------------------------- worker side


#: A paired worker waits at most this long for its own threads (a BLAS pool spinning after its last call) to go
#: idle before it hands the machine over; a pool still busy then is seen by the next worker's block monitor.
HAND_OVER_QUIET_S = 0.5
#: ... judged over windows of this length: a thread spinning on another CPU has its CPU time brought up to date
#: only at the scheduler's tick (every 4-10 ms), so a shorter window can read a busy pool as idle.
HAND_OVER_WINDOW_S = 0.01


class _StdinTurns:
    """The worker's side of ``--paired``: hand the machine over by telling the parent, wait for ``go`` on stdin."""

    def __init__(self, send: Callable[..., None]) -> None:
        self.send = send
        self.alone = False
        self.count = 0
        self.waited_s = 0.0
        #: The free of a worker that ended while this one waited, not yet waited for (``wait`` sets it).
        self.freed: Freed | None = None
        self.reclaims: list[str] = []

    def wait(self) -> None:
        """Block until the parent gives this worker the machine (or says it is alone); keep the free it passes."""
        word, _, freed = sys.stdin.readline().strip().partition(" ")
        self.alone = self.alone or word != "go"
        if freed:
            self.freed = Freed(**json.loads(freed))

    def hand_over(self) -> float:
        if self.alone:
            return 0.0
        t0 = time.perf_counter()
        quiesce(HAND_OVER_QUIET_S, window_s=HAND_OVER_WINDOW_S)  # our pools idle, or the next worker pays
        self.send(event="turn")
        self.wait()
        if self.freed is not None:  # the other worker ended in its turn: the host takes its pages back now
            self.reclaims.append(await_reclaim(self.freed))
            self.freed = None
        self.count += 1
        waited = time.perf_counter() - t0
        self.waited_s += waited
        return waited

    def reclaim(self) -> str:
        facts = [f"{fact} (freed by a worker that ended)" for fact in self.reclaims if fact]
        return "; ".join(facts)

    def describe(self) -> str:
        if self.alone and not self.count:
            return "alone (no other worker left)"
        return f"handed over {self.count} times, waited {self.waited_s:.1f} s"


def main() -> None:
    """Worker entry point: read the request from stdin, stream JSON lines back."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to stderr, never into the protocol
    sys.stdout = sys.stderr

    def send(**msg: object) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    request = json.loads(sys.stdin.readline())
    turns = _StdinTurns(send) if request.get("paired") else None
    header = header_from_json(request["header"])
    if turns is not None:
        send(event="ready")
        turns.wait()
        if turns.freed is not None:  # a worker ended before this one's first turn: the job waits for that free
            header, turns.freed = dataclasses.replace(header, freed=turns.freed), None
    try:
        spec = request["kernel"]
        cls = load_kernel_class(spec["module"], spec["qualname"], spec["path"])
        session = Session(cls(), header, turns=turns)
    except Exception as exc:
        send(event="fatal", reason=f"backend setup failed: {one_line(exc)}")
        return
    if request.get("task") == "ceilings":
        try:
            for ceiling in device_ceilings(session.kernel, **request["sizes"]):
                send(event="ceiling", ceiling=dataclasses.asdict(ceiling))
        except Exception as exc:
            send(event="fatal", reason=f"measuring device ceilings failed: {one_line(exc)}")
            return
        send(event="done")
        return
    for index, raw in enumerate(request["jobs"]):
        send(event="start", index=index)
        result = session.run(Job(**{**raw, "case": GemmCase(**raw["case"])}))
        send(
            event="row",
            index=index,
            row=dataclasses.asdict(result.row),
            samples=result.samples,
            disturbed=result.disturbed,
        )
    send(event="done", freed=dataclasses.asdict(session.freed) if session.freed else None)
