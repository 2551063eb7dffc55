"""The host taking back freed memory: a job after a large free waits until the reports have gone quiet.

On this project's VM a worker measuring right after a 1 GiB worker exited drew 14-16 % VM steal, one
started ten seconds later none: the host unmapped the freed memory in passes every two seconds.
"""

import json
import os
import threading
import time

import pytest

import gemmbench.reclaim as reclaim
import gemmbench.session as session_mod
import gemmbench.worker as worker_mod
from gemmbench.case import GemmCase
from gemmbench.reclaim import MIN_BYTES, Freed, await_reclaim, reported_kib
from gemmbench.rows import _facts, _flags
from gemmbench.sweep import RunOptions, run
from gemmbench.testing import FAST_POLICY

MIB = 1024  # in KiB, the counter's unit


class Host:
    """A fake clock and a fake ``reported_kib`` file that grows by ``passes`` (seconds after the free, MiB)."""

    def __init__(self, path, passes, start=0.0):
        self.path, self.passes, self.t = path, sorted(passes), start
        self.sleeps = 0
        self._write()

    def _write(self):
        self.path.write_text(f"{sum(mib for t, mib in self.passes if t <= self.t) * MIB + 5000}\n")

    def clock(self):
        return self.t

    def sleep(self, s):
        self.sleeps += 1
        self.t += s
        self._write()

    def wait(self, freed, **kw):
        return await_reclaim(freed, path=str(self.path), clock=self.clock, sleep=self.sleep, **kw)


# The passes seen after a float64 16x12288x3584 worker exited (MiB, every two seconds).
PASSES = [(2.1, 384), (4.1, 256), (6.1, 256), (8.1, 100), (9.6, 38)]


def test_a_job_after_a_large_free_waits_for_every_pass(tmp_path):
    host = Host(tmp_path / "kib", PASSES, start=3.0)  # the new worker is ready 3 s after the free
    fact = host.wait(Freed(0.0, 1 << 30, 5000))
    assert host.t >= 8.1 + reclaim.PERIOD_S  # a last pass over 64 MiB, then a quiet period
    assert host.t < 9.6 + reclaim.PERIOD_S  # the 38 MiB tail is quiet enough
    assert fact.startswith("quiet after waiting") and fact.endswith("1034 MiB handed back"), fact


def test_without_the_counter_at_the_free_it_watches_a_whole_period_itself(tmp_path):
    host = Host(tmp_path / "kib", PASSES, start=3.0)
    fact = host.wait(Freed(0.0, 1 << 30, None))
    assert host.t >= 8.1 + reclaim.PERIOD_S and fact.startswith("quiet after waiting")
    assert fact.endswith("650 MiB handed back"), fact  # counted from its own first reading (after 384 MiB)


def test_the_first_pass_is_waited_for_even_when_nothing_was_reported_yet(tmp_path):
    host = Host(tmp_path / "kib", [(2.1, 300)], start=0.1)  # a worker that starts at once
    assert host.wait(Freed(0.0, 512 << 20, 5000)).startswith("quiet after waiting")
    assert host.t >= 2.1 + reclaim.PERIOD_S


def test_reporting_that_never_goes_quiet_is_bounded_and_flagged(tmp_path):
    host = Host(tmp_path / "kib", [(2.0 * i, 200) for i in range(1, 40)], start=1.0)
    fact = host.wait(Freed(0.0, 4 << 30, 5000), max_wait_s=12.0)
    assert 12.0 <= host.t < 12.0 + 2 * reclaim.POLL_S
    assert fact.startswith("still reclaiming after waiting 11."), fact
    m = _measured(fact)
    assert "host still reclaiming" in _flags(m, 1.0) and _facts(m)["host_reclaim"] == fact


def test_a_partners_free_still_reclaiming_is_flagged_after_a_quiet_one_of_its_own():
    """A paired row holds one fact per free it waited for: its own header's, then a partner's that ended. The
    second running out of time flags the row as the first alone would."""
    fact = "quiet, 20 MiB handed back; still reclaiming after waiting 20.0 s, 900 MiB handed back (freed by a worker"
    fact += " that ended)"
    flags = _flags(_measured(fact), 1.0)
    assert "host still reclaiming after waiting 20.0 s, 900 MiB handed back (freed by a worker that ended)" in flags
    assert "host quiet" not in flags and _flags(_measured("quiet, 20 MiB handed back"), 1.0) == "ok"


def test_nothing_waits_without_page_reporting_for_a_small_free_or_a_free_long_past(tmp_path):
    host = Host(tmp_path / "kib", PASSES, start=3.0)
    assert await_reclaim(Freed(0.0, 1 << 30, 0), path=str(tmp_path / "absent"), sleep=host.sleep) == ""
    assert host.wait(Freed(0.0, MIN_BYTES - 1, 5000)) == ""
    assert host.wait(None) == ""
    host.t = 30.0
    assert host.wait(Freed(0.0, 1 << 30, 5000)) == ""
    assert host.sleeps == 0
    assert reported_kib(str(tmp_path / "absent")) is None


def test_a_free_the_host_left_alone_costs_no_wait_once_a_period_has_passed(tmp_path):
    host = Host(tmp_path / "kib", [(2.1, 20)], start=3.0)  # the pages were reused before a report
    assert host.wait(Freed(0.0, 1 << 30, 5000)) == "quiet, 20 MiB handed back"
    assert host.sleeps == 0


def test_past_passes_cost_one_period_of_watching(tmp_path):
    """The counter since the free cannot say whether the last period was quiet: it watches one."""
    host = Host(tmp_path / "kib", PASSES, start=13.0)
    assert host.wait(Freed(0.0, 1 << 30, 5000)).startswith("quiet after waiting 2.5 s, 1034 MiB")


def _measured(reclaim_fact):
    from gemmbench.rows import Measured
    from gemmbench.timer import Samples
    from gemmbench.verify import Verdict

    samples = Samples((1.0,) * 20, 1, (), True, False, None, None, 0.0, 0.0, 0, None)
    return Measured(samples, Verdict(True, 0.0, 1.0, "exact"), 0.0, 1, reclaim=reclaim_fact)


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    """The session's reclaim check on a counter this test drives, with a short period."""
    path = tmp_path / "reported_kib"
    path.write_text("1000\n")
    monkeypatch.setattr(reclaim, "REPORTED_KIB", str(path))
    monkeypatch.setattr(reclaim, "MIN_BYTES", 1)
    monkeypatch.setattr(reclaim, "PERIOD_S", 0.4)
    monkeypatch.setattr(reclaim, "POLL_S", 0.02)
    return path


def test_a_session_waits_for_the_host_to_take_back_its_previous_jobs_memory(fake_host, tmp_path, monkeypatch):
    """The second job starts while the host still reports the first job's pages: it must measure after."""
    ended, timed = [], []
    real_measure = session_mod.measure

    def measure(*args, **kwargs):  # when each job's timing starts
        timed.append(time.monotonic())
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(session_mod, "measure", measure)

    def host_reports():  # passes of 100 MiB for 1.2 s from the moment the first row exists
        while not tmp_path.joinpath("r.csv").exists():
            time.sleep(0.01)
        for _ in range(12):
            time.sleep(0.1)
            fresh = fake_host.with_suffix(".new")  # replaced whole, as sysfs reads are: never a half-written file
            fresh.write_text(f"{int(fake_host.read_text()) + 100 * MIB}\n")
            os.replace(fresh, fake_host)
        ended.append(time.monotonic())

    threading.Thread(target=host_reports, daemon=True).start()
    options = RunOptions(threads=(1,), policy=FAST_POLICY, isolate=False)
    first, second = run(
        [GemmCase(64, 64, 64), GemmCase(48, 48, 48)],
        backends=["numpy"],
        options=options,
        output=tmp_path / "r.csv",
        ceilings=[],
    )
    assert "host_reclaim" not in json.loads(first.facts)  # nothing was freed before it
    fact = json.loads(second.facts)["host_reclaim"]
    assert fact.startswith("quiet after waiting") and ended, fact
    assert int(fact.split(", ")[1].split()[0]) >= 1000  # it saw (nearly) every pass before timing
    assert len(timed) == 2 and timed[1] > ended[0]  # and its timing began after the last pass, not during it
    assert "host still reclaiming" not in second.noise


def test_a_worker_tells_the_next_one_what_it_freed(tmp_path, monkeypatch):
    """Across processes: the "done" event carries the last free, the next worker's header holds it."""
    sent = []
    real = worker_mod._Worker

    class Spy(real):
        def __init__(self, request, cpus=()):
            sent.append(request["header"].get("freed"))
            super().__init__(request, cpus)

    monkeypatch.setattr(worker_mod, "_Worker", Spy)
    monkeypatch.setattr(worker_mod, "_last_freed", None)
    options = RunOptions(threads=(1,), policy=FAST_POLICY)
    before = time.monotonic()
    run([GemmCase(96, 80, 64, "float64")], backends=["numpy"], options=options, output=tmp_path / "a.csv", ceilings=[])
    freed = worker_mod._last_freed
    assert freed is not None and before < freed.at < time.monotonic()
    # operands, C and the float64 check: 8 * (2mk + 2kn + 3mn) + A, B, C once more on the host, and its copy
    case = GemmCase(96, 80, 64, "float64")
    assert freed.bytes == 8 * (2 * 96 * 64 + 2 * 64 * 80 + 3 * 96 * 80) + 2 * case.bytes
    run([GemmCase(32, 32, 32)], backends=["numpy"], options=options, output=tmp_path / "b.csv", ceilings=[])
    assert sent[0] is None and Freed(**sent[1]) == freed
