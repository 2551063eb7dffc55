"""``gemmbench run --paired``: backends take turns on the machine between timed blocks, never overlapping.

The adversaries: a machine whose speed drifts (every call slower the later it runs), which ``--interleave``
charges to whichever backend ran second and ``--paired`` must not; two workers that would measure at once; a
paired worker that exits or hangs in its turn, which must cost only its own row; a host still taking back the
memory of a worker that ended when its partner times on; steal in a partner's turns charged to this worker; and
rounds that always put the same backend first.
"""

import itertools
import json
import os
import sys
import threading
import time

import pytest

import gemmbench.session as session_mod
from gemmbench.case import GemmCase, Job
from gemmbench.cli import main
from gemmbench.kernels.numpy_gemm import NumpyGemm
from gemmbench.registry import discover
from gemmbench.session import RunHeader, Session
from gemmbench.sweep import RunOptions, run
from gemmbench.testing import FAST_POLICY
from gemmbench.timer import TimingPolicy
from tests_support import numpy_plugin

#: The start of a planted backend's file: what it needs, and ``_log`` (name, what, start, end into GEMMBENCH_TEST_LOG).
_LOGGING = """
import os, time

import numpy as np

import gemmbench.reclaim as reclaim
from gemmbench.backend import Kernel, Prepared


def _log(name, what, t0, t1):
    with open(os.environ["GEMMBENCH_TEST_LOG"], "a") as f:
        f.write(f"{{name}} {{what}} {{t0}} {{t1}}\\n")
"""

#: A backend whose every call sleeps 2 ms x (1 + seconds since GEMMBENCH_TEST_EPOCH): a host slowing down
#: steadily, the same for every backend. Each call (and each prepare) is logged.
_DRIFT = (
    _LOGGING
    + """

class Drift(Kernel):
    name = {name!r}

    def prepare(self, case, operands):
        t0 = time.monotonic()
        c = np.empty((case.m, case.n), dtype=operands.a.dtype)
        epoch = float(os.environ["GEMMBENCH_TEST_EPOCH"])

        def launch():
            start = time.monotonic()
            np.matmul(operands.a, operands.b, out=c)
            time.sleep(0.002 * (1 + (start - epoch)))
            _log(self.name, "call", start, time.monotonic())

        _log(self.name, "prepare", t0, time.monotonic())
        return Prepared(launch, c)


KERNELS = [Drift]
"""
)

#: Each backend measures 0.6 s of its own blocks, never converging early.
DRIFT_POLICY = TimingPolicy(
    warmup_count=1, warmup_time_s=0.0, min_block_s=1e-3, min_samples=3, min_time_s=0.6, max_time_s=0.6, target=0.0
)


@pytest.fixture
def drift(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name in ("drift-a", "drift-b"):
        (folder / f"{name.replace('-', '_')}.py").write_text(_DRIFT.format(name=name))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("GEMMBENCH_TEST_LOG", str(log))

    def measure(**options):
        log.write_text("")
        monkeypatch.setenv("GEMMBENCH_TEST_EPOCH", repr(time.monotonic()))
        opts = RunOptions(threads=(1,), policy=DRIFT_POLICY, **options)
        rows = run([GemmCase(8, 8, 8)], backends=["drift-a", "drift-b"], options=opts, output=tmp_path / "r.csv",
                   registry=discover(str(folder)))  # fmt: skip
        entries = [line.split() for line in log.read_text().splitlines()]
        return rows, [(name, what, float(t0), float(t1)) for name, what, t0, t1 in entries]

    return measure


def _ratio(rows):
    by = {r.backend: r for r in rows}
    assert {r.status for r in rows} == {"ok"}, [r.reason for r in rows]
    return by["drift-b"].median_s / by["drift-a"].median_s


def test_paired_workers_take_turns_and_never_overlap(drift):
    rows, log = drift(paired=True)
    log.sort(key=lambda e: e[2])
    for before, after in itertools.pairwise(log):
        if before[0] != after[0]:  # a hand-over: the next backend starts only after the last one's call ended
            assert after[2] >= before[3], (before, after)
    switches = sum(1 for a, b in itertools.pairwise(log) if a[0] != b[0])
    assert switches >= 5  # 0.6 s each in turns of >= 50 ms, two at a time (A B B A ...)
    preparing = [e for e in log if e[1] == "prepare"]
    assert len(preparing) == 2  # and each prepared in its own turn (checked above with the calls)
    for row in rows:
        assert "handed over" in row.facts


def test_paired_cancels_a_drift_that_interleave_charges_to_the_second_backend(drift):
    """Identical backends on a host slowing 100 % a second: interleaved, the second backend runs a second or so
    later and looks far slower; paired, both sample the same stretch of time."""
    interleaved, _ = drift(interleave=True)
    paired, _ = drift(paired=True)
    assert _ratio(interleaved) > 1.25
    assert _ratio(paired) == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize(
    "before, timeout, fragment",
    [("os._exit(3)", 600.0, "worker exited with code 3"), ("time.sleep(60)", 4.0, "timed out after 4 s")],
    ids=["exits", "hangs"],
)
def test_a_paired_worker_that_fails_in_its_turn_costs_only_its_row(tmp_path, before, timeout, fragment):
    folder = numpy_plugin(tmp_path / "plugins", "test-bad", before)
    options = RunOptions(threads=(1,), policy=FAST_POLICY, paired=True, case_timeout_s=timeout)
    cases = [GemmCase(9, 7, 5), GemmCase(6, 4, 13)]
    rows = run(cases, backends=["test-bad", "numpy"], options=options, output=tmp_path / "r.csv",
               registry=discover(str(folder)))  # fmt: skip
    by = {(r.backend, r.m): r for r in rows}
    assert len(rows) == 4
    for m in (9, 6):
        assert by["numpy", m].status == "ok"
        assert by["test-bad", m].status == "error" and fragment in by["test-bad", m].reason


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["-b", "numpy", "--paired"], "--paired takes turns between backends: choose two or more"),
        (["-b", "numpy,numba", "--paired", "--in-process"], "--paired takes turns between worker processes"),
    ],
)
def test_paired_usage_errors_exit_2_with_one_line(argv, fragment, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(["run", "-s", "8", *argv]))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not os.path.exists(tmp_path / "results")


#: A backend whose pool keeps a thread spinning for 60 ms after every call, as OpenBLAS's does (about 0.1 s).
_SPINNER = """
import threading, time

import numpy as np

from gemmbench.backend import Kernel, Prepared

_go = threading.Event()


def _spin():
    while True:
        _go.wait()
        _go.clear()
        end = time.perf_counter() + 0.06
        while time.perf_counter() < end:
            pass


threading.Thread(target=_spin, daemon=True).start()


class Spinner(Kernel):
    name = "test-spinner"

    def prepare(self, case, operands):
        c = np.empty((case.m, case.n), dtype=operands.a.dtype)

        def launch():
            np.matmul(operands.a, operands.b, out=c)
            _go.set()

        return Prepared(launch, c)


KERNELS = [Spinner]
"""


def test_a_pool_still_spinning_is_waited_out_before_the_next_worker_measures(tmp_path):
    """Both workers share one CPU (one thread each): had the spinner handed over while its thread still spun, every
    first block of numpy's turns would share the CPU with it and be set aside as contended."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "spinner.py").write_text(_SPINNER)
    policy = TimingPolicy(warmup_count=1, warmup_time_s=0.0, min_block_s=5e-3, min_samples=3, min_time_s=0.5,
                          max_time_s=0.5, target=0.0)  # fmt: skip
    options = RunOptions(threads=(1,), policy=policy, paired=True)
    rows = run([GemmCase(64, 64, 64)], backends=["test-spinner", "numpy"], options=options,
               output=tmp_path / "r.csv", registry=discover(str(folder)))  # fmt: skip
    by = {r.backend: r for r in rows}
    assert {r.status for r in rows} == {"ok"}
    assert "contended" not in by["numpy"].noise, by["numpy"].noise
    assert "handed over" in by["numpy"].facts


#: A backend whose calls take ``call_s`` and which reads the host's reported-memory counter from a file the test
#: drives (patched into gemmbench.reclaim by its prepare, in its own worker, with a 0.4 s reporting period). It logs
#: its calls and the moment it releases its operands (the free its worker hands on).
_LEAKY = (
    _LOGGING
    + """

class Leaky(Kernel):
    name = {name!r}

    def prepare(self, case, operands):  # in the worker only: discovery imports this file in the test's process too
        reclaim.REPORTED_KIB = os.environ["GEMMBENCH_TEST_KIB"]
        reclaim.MIN_BYTES, reclaim.PERIOD_S, reclaim.POLL_S = 1, 0.4, 0.02
        c = np.empty((case.m, case.n), dtype=operands.a.dtype)

        def launch():
            start = time.monotonic()
            np.matmul(operands.a, operands.b, out=c)
            time.sleep({call_s!r})
            _log(self.name, "call", start, time.monotonic())

        return Prepared(launch, c)

    def release(self):
        _log(self.name, "release", time.monotonic(), time.monotonic())


KERNELS = [Leaky]
"""
)


@pytest.mark.parametrize(
    "call_s", [0.002, 0.25], ids=["ends-while-the-other-waits-its-turn", "ends-before-the-other-starts"]
)
def test_the_worker_after_a_partner_that_ended_waits_for_the_host_to_take_its_memory_back(
    tmp_path, monkeypatch, call_s
):
    """A paired worker that ends frees its operands; on a VM with free page reporting the host then unmaps them in
    passes that steal CPU time from the worker measuring next (6-29 % on this project's VM). Short calls: the
    partner is waiting for its next turn; calls longer than a turn: the first worker takes all its samples in its
    first turn and the partner has not started. Either way no timed call of the partner may run during the passes."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name in ("leak-a", "leak-b"):
        (folder / f"{name.replace('-', '_')}.py").write_text(_LEAKY.format(name=name, call_s=call_s))
    log, kib = tmp_path / "calls.log", tmp_path / "reported_kib"
    log.write_text("")
    kib.write_text("1000\n")
    monkeypatch.setenv("GEMMBENCH_TEST_LOG", str(log))
    monkeypatch.setenv("GEMMBENCH_TEST_KIB", str(kib))
    passes: list[float] = []

    def host():  # 100 MiB reported every 0.1 s for 1.2 s from the first release
        while "release" not in log.read_text():
            time.sleep(0.005)
        for _ in range(12):
            fresh = kib.with_suffix(".new")
            fresh.write_text(f"{int(kib.read_text()) + 100 * 1024}\n")
            os.replace(fresh, kib)  # replaced whole, as a sysfs read is: never half written
            passes.append(time.monotonic())
            time.sleep(0.1)

    threading.Thread(target=host, daemon=True).start()
    options = RunOptions(threads=(1,), policy=DRIFT_POLICY, paired=True)
    rows = run([GemmCase(8, 8, 8)], backends=["leak-a", "leak-b"], options=options, output=tmp_path / "r.csv",
               registry=discover(str(folder)))  # fmt: skip
    assert {r.status for r in rows} == {"ok"}, [r.reason for r in rows]
    entries = [line.split() for line in log.read_text().splitlines()]
    first = next(name for name, what, *_ in entries if what == "release")
    later = [float(t0) for name, what, t0, _ in entries if name != first and what == "call"]
    assert len(passes) == 12 and later, "the run ended while the host was still reclaiming"
    during = [t for t in later if passes[0] - 0.05 <= t <= passes[-1]]
    assert not during, f"{len(during)} calls of the partner ran while the host was still reclaiming"
    row = next(r for r in rows if r.backend != first)
    fact = json.loads(row.facts)["host_reclaim"]
    assert "quiet after waiting" in fact and "host still reclaiming" not in row.noise, fact


class _Partner:
    """``Turns`` whose every hand-over lasts 30 ms, during which the hypervisor takes 100 ticks from our CPUs."""

    def __init__(self, ticks):
        self.ticks, self.count = ticks, 0

    def hand_over(self):
        self.count += 1
        time.sleep(0.03)
        self.ticks[0] += 100
        return 0.03

    def describe(self):
        return f"handed over {self.count} times"

    def reclaim(self):
        return ""


def test_steal_in_the_other_workers_turns_is_not_charged_to_this_ones_samples(monkeypatch):
    """The steal window spans the whole measurement, hand-overs included: steal while the partner held the machine
    (the host reclaiming memory the partner freed, say) must not flag this row, whose own blocks saw none."""
    ticks = [5000]
    monkeypatch.setattr(session_mod, "steal_ticks", lambda cpus: ticks[0])
    turns = _Partner(ticks)
    policy = TimingPolicy(warmup_count=1, warmup_time_s=0.0, min_block_s=1e-3, min_samples=3, min_time_s=0.4,
                          max_time_s=0.4, target=0.0)  # fmt: skip
    row = Session(NumpyGemm(), RunHeader("t", policy, 1), pin=False, turns=turns).run(Job(GemmCase(32, 32, 32))).row
    assert turns.count >= 3 and row.status == "ok"
    facts = json.loads(row.facts)
    assert facts["steal_ticks"] == "0" and "VM steal" not in row.noise, (facts, row.noise)
    # Its window is its own time (first call, warm-up, calibration and sampling), not the partner's turns.
    assert float(facts["steal_window_s"]) < row.sampling_s + 0.1 < row.sampling_s + 0.03 * turns.count


def test_rounds_of_a_paired_run_take_turns_at_going_first(drift, tmp_path, monkeypatch):
    """A backend whose calls outlast a turn takes all its samples before the other starts: with a fixed order every
    round would put the same backend first (and the host's drift, or its reclaiming, on the other)."""
    folder = tmp_path / "plugins"
    monkeypatch.setenv("GEMMBENCH_KERNEL_PATH", str(folder))
    monkeypatch.setenv("GEMMBENCH_TEST_EPOCH", repr(time.monotonic()))
    log = tmp_path / "calls.log"
    log.write_text("")
    argv = [
        "run",
        "-b",
        "drift-a,drift-b",
        "-s",
        "8",
        "-d",
        "float64",
        "-j",
        "1",
        "--paired",
        "--rounds",
        "3",
        "--max-time",
        "0.1",
    ]
    assert main([*argv, "-o", str(tmp_path / "r.csv")]) == 0
    firsts = [name for name, what, *_ in (line.split() for line in log.read_text().splitlines()) if what == "prepare"]
    assert firsts[::2] == ["drift-a", "drift-b", "drift-a"], firsts
