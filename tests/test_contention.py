"""Other work on the measuring CPUs: pinning every thread, seeing a hog, flagging what cannot be removed."""

import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

import gemmbench.hostfacts as hostfacts
from gemmbench.case import GemmCase
from gemmbench.contention import RunQueueMonitor, run_queue_wait_ns, system_warnings
from gemmbench.hostfacts import affinity, choose_cpus
from gemmbench.sweep import RunOptions, run
from gemmbench.testing import FAST_POLICY
from gemmbench.timer import TimingPolicy

linux_only = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")


def test_cpus_are_chosen_one_per_core_and_cpu0_last(monkeypatch):
    # 4 CPUs, 2 cores with two hyperthreads each: (0, 2) on core 0, (1, 3) on core 1
    monkeypatch.setattr(hostfacts, "_core_of", lambda c: (0, c % 2))
    assert choose_cpus(1, [0, 1, 2, 3]) == [1]
    assert choose_cpus(2, [0, 1, 2, 3]) == [1, 0]  # one per core before any sibling
    assert choose_cpus(3, [0, 1, 2, 3]) == [1, 0, 2]
    assert choose_cpus(2, [2, 3]) == [2, 3]


@linux_only
@pytest.mark.skipif(len(affinity()) < 2, reason="needs 2 CPUs")
def test_every_thread_of_the_worker_inherits_its_pin(tmp_path):
    """Pinning inside the worker left OpenBLAS's threads (started at NumPy's import) free to run anywhere."""
    (row,) = run(
        [GemmCase(64, 64, 64)],
        backends=["numpy"],
        options=RunOptions(threads=(1,), policy=FAST_POLICY),
        output=tmp_path / "r.csv",
        ceilings=[],
    )
    facts = json.loads(row.facts)
    want = str(choose_cpus(1)[0])
    assert facts["affinity"] == want
    assert facts["thread_affinity"].split(" x")[0] == want and ";" not in facts["thread_affinity"], facts


@contextlib.contextmanager
def hogging(cpu: int, seconds: float = 20.0):
    """Another process busy on ``cpu`` for the duration of the block (killed at its end)."""
    code = (
        f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\nend = time.time() + {seconds}\n"
        "while time.time() < end: pass\n"
    )
    hog = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.2)
        yield
    finally:
        hog.kill()
        hog.wait()


@linux_only
def test_run_queue_wait_sees_a_hog_on_our_cpu():
    cpu = affinity()[-1]
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        with hogging(cpu, 3.0):
            monitor = RunQueueMonitor(1)
            monitor.start()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.3:
                pass
            share = monitor.stop(time.perf_counter() - t0)
    finally:
        os.sched_setaffinity(0, old)
    assert share > 0.2  # about half the time waiting for the CPU the hog holds
    assert run_queue_wait_ns() is not None


@linux_only
@pytest.mark.skipif(len(affinity()) < 2, reason="needs 2 CPUs")
def test_a_hog_on_the_workers_cpu_gives_a_flagged_row_never_a_silently_wrong_one(tmp_path):
    """Before: a busy neighbour made numpy 256^3 float64 read 2.1 instead of 57.6 GFLOP/s, IQR 3 %, no flag."""
    case = GemmCase(256, 256, 256, "float64")
    policy = TimingPolicy(
        warmup_count=1, warmup_time_s=0.0, min_samples=10, min_time_s=0.05, max_time_s=0.6, target=0.05
    )
    options = RunOptions(threads=(1,), policy=policy)
    (quiet,) = run([case], backends=["numpy"], options=options, output=tmp_path / "q.csv", ceilings=[])
    with hogging(choose_cpus(1)[0]):
        (busy,) = run([case], backends=["numpy"], options=options, output=tmp_path / "b.csv", ceilings=[])
    assert busy.status == "ok"
    within = abs(busy.gflops / quiet.gflops - 1) <= 0.05
    assert within or "contended" in busy.noise, (quiet.gflops, busy.gflops, busy.noise)
    assert busy.contention is not None and busy.contention > 0.05
    assert busy.disturbed > 0


@linux_only
def test_system_check_names_a_busy_cpu():
    cpu = affinity()[-1]
    with hogging(cpu, 3.0):
        warnings = system_warnings([cpu], window_s=0.3)
    assert any(w.startswith(f"cpu{cpu} ") and "busy" in w for w in warnings), warnings


@linux_only
@pytest.mark.skipif(len(affinity()) < 2, reason="needs 2 CPUs")
def test_a_busy_cpu_before_a_sweep_is_warned_about_and_recorded(tmp_path):
    cpu = choose_cpus(1)[0]
    notes = []

    class Notes:
        def start(self, total, output):
            pass

        def begin(self, backend, job, threads):
            pass

        def row(self, row):
            pass

        def note(self, text):
            notes.append(text)

        def finish(self):
            pass

    with hogging(cpu):
        options = RunOptions(threads=(1,), policy=FAST_POLICY)
        (row,) = run(
            [GemmCase(32, 32, 32)],
            backends=["numpy"],
            options=options,
            output=tmp_path / "r.csv",
            ceilings=[],
            reporter=Notes(),
        )
    assert len(notes) == 1 and f"cpu{cpu} " in notes[0] and "busy" in notes[0]
    assert "busy" in json.loads(row.facts)["system"]


def _spinner(seconds: float):
    import threading

    def spin():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    return thread


@linux_only
def test_a_spinning_pool_in_the_launching_process_is_waited_out(tmp_path):
    """pytest-benchmark's in-process runs left pools spinning in the pytest process while the next test's
    worker measured (numba 1024^3 float32 read 95.6 instead of 184 GFLOP/s, IQR 1 %, no flag).
    The spin outlasts what the sweep does before its quiet check (the system check watches the CPUs
    for a moment; on a loaded 2-core CI runner a 0.6 s spin had ended by then and read "quiet")."""
    spinner = _spinner(2.5)
    options = RunOptions(threads=(1,), policy=FAST_POLICY, quiet_wait_s=5.0)
    (row,) = run([GemmCase(32, 32, 32)], backends=["numpy"], options=options, output=tmp_path / "r.csv", ceilings=[])
    assert not spinner.is_alive()  # the worker measured only after the spin ended
    launcher = json.loads(row.facts)["launcher"]
    assert launcher.startswith("quiet after waiting"), launcher


@linux_only
def test_a_pool_that_keeps_spinning_makes_the_row_say_so(tmp_path):
    spinner = _spinner(3.0)
    options = RunOptions(threads=(1,), policy=FAST_POLICY, quiet_wait_s=0.2)
    (row,) = run([GemmCase(32, 32, 32)], backends=["numpy"], options=options, output=tmp_path / "r.csv", ceilings=[])
    assert spinner.is_alive()
    assert json.loads(row.facts)["launcher"].startswith("busy:")
    assert "launcher busy" in row.noise and row.flagged
    spinner.join()
