"""The fleet on a real Dask LocalCluster (2 worker processes, tiny cases): --on all / any, a worker killed
mid-sweep, resume, a bad address, Ctrl-C, and ``machine --cluster``.

Both workers of a LocalCluster share this host, so the tests say ``disjoint`` to get two slots; the
figures are meaningless (the two measure at once on 2 CPUs, and rows say ``contended``), the bookkeeping
is what is checked: every row once, on the node that measured it, nothing lost.
"""

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from gemmbench.case import GemmCase
from gemmbench.cli import main
from gemmbench.fleet import run_fleet
from gemmbench.hostfacts import hostname
from gemmbench.registry import KERNEL_PATH_ENV
from gemmbench.result import read_results
from gemmbench.sweep import RunOptions
from gemmbench.testing import FAST_POLICY
from tests_support import numpy_plugin

CASES = [GemmCase(s, s, s, "float32") for s in (32, 40, 48)]
OPTIONS = RunOptions(threads=(1,), policy=FAST_POLICY, quiet_wait_s=0.0)

#: The first time any process meets m == 40, it kills the Dask worker running it (its parent process).
_KILL = """
if case.m == 40:
    try:
        os.close(os.open(os.environ["GEMMBENCH_TEST_KILL_FLAG"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        pass
    else:
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)
"""


@pytest.fixture
def killer(tmp_path, monkeypatch):
    plugins = numpy_plugin(tmp_path / "plugins", "killer", _KILL)
    monkeypatch.setenv(KERNEL_PATH_ENV, str(plugins))  # before the cluster starts: its workers inherit it
    monkeypatch.setenv("GEMMBENCH_TEST_KILL_FLAG", str(tmp_path / "killed"))
    return tmp_path / "killed"


def _by_node(rows):
    return collections.Counter((r.node, r.m) for r in rows)


def test_on_all_runs_the_sweep_on_every_slot_into_one_csv(tmp_path):
    out = tmp_path / "fleet.csv"
    rows = run_fleet(CASES, cluster="local:2", on="all", disjoint=True, options=OPTIONS, output=out)
    on_disk = read_results(out)
    assert [r.key for r in on_disk] == [r.key for r in rows]
    host = hostname()
    assert _by_node(on_disk) == {(f"{host}/{w}", c.m): 1 for w in (0, 1) for c in CASES}
    assert all(r.status == "ok" and r.host == host for r in on_disk)


def test_without_disjoint_a_host_is_one_slot(tmp_path):
    out = tmp_path / "fleet.csv"
    run_fleet(CASES[:2], cluster="local:2", on="all", options=OPTIONS, output=out)
    assert _by_node(read_results(out)) == {(hostname(), c.m): 1 for c in CASES[:2]}  # measured once, not twice


#: Holds a lock file for 0.3 s while preparing; a second holder at the same time leaves an ".overlap" mark.
_LOCK = """
lock = os.environ["GEMMBENCH_TEST_LOCK"]
try:
    os.close(os.open(lock, os.O_CREAT | os.O_EXCL))
except FileExistsError:
    open(lock + ".overlap", "a").close()
else:
    time.sleep(0.3)
    os.unlink(lock)
"""


@pytest.mark.parametrize("disjoint", [False, True])
def test_never_two_measuring_jobs_on_one_host_unless_disjoint(tmp_path, monkeypatch, disjoint):
    """Two workers on this host: by default one measures at a time; --disjoint (the user's word that they own
    disjoint CPUs) lets them overlap - which shows the detector would see a scheduler that let them."""
    monkeypatch.setenv(KERNEL_PATH_ENV, str(numpy_plugin(tmp_path / "plugins", "locker", _LOCK)))
    monkeypatch.setenv("GEMMBENCH_TEST_LOCK", str(tmp_path / "lock"))
    out = tmp_path / "fleet.csv"
    run_fleet(CASES, cluster="local:2", on="any", disjoint=disjoint, backends=["locker"], options=OPTIONS, output=out)
    assert all(r.status == "ok" for r in read_results(out))
    assert (tmp_path / "lock.overlap").exists() == disjoint


def test_on_any_spreads_each_case_once_over_the_workers(tmp_path):
    out = tmp_path / "fleet.csv"
    cases = [GemmCase(s, s, s, "float32") for s in (16, 24, 32, 40, 48, 56)]
    run_fleet(cases, cluster="local:2", on="any", disjoint=True, options=OPTIONS, output=out)
    rows = read_results(out)
    assert sorted(r.m for r in rows) == [c.m for c in cases]  # each case exactly once
    assert {r.node for r in rows} == {f"{hostname()}/0", f"{hostname()}/1"}  # both workers took cases


def test_a_worker_killed_mid_sweep_gives_error_rows_naming_its_host_then_resume_finishes(tmp_path, killer):
    out = tmp_path / "fleet.csv"
    run_fleet(CASES, cluster="local:2", on="all", disjoint=True, backends=["killer"], options=OPTIONS, output=out)
    rows = read_results(out)
    assert killer.exists()
    assert len(rows) == 6 and len(_by_node(rows)) == 6  # nothing lost, nothing twice
    errors = [r for r in rows if r.status == "error"]
    (dead,) = {r.node for r in errors}
    assert {r.m for r in errors} == {40, 48}  # the case it died on and the one it never started
    assert all(hostname() in r.reason and "left the cluster" in r.reason for r in errors[:1])
    assert all(r.status == "ok" for r in rows if r.node != dead)
    run_fleet(
        CASES, cluster="local:2", on="all", disjoint=True, backends=["killer"], options=OPTIONS, output=out, resume=True
    )
    final = read_results(out)
    assert len(final) == 8 and {r.run_id for r in final} == {rows[0].run_id}
    retried = final[6:]
    assert sorted((r.node, r.m, r.status) for r in retried) == [(dead, 40, "ok"), (dead, 48, "ok")]


def test_on_any_moves_a_dead_workers_case_to_another_worker(tmp_path, killer):
    out = tmp_path / "fleet.csv"
    run_fleet(CASES, cluster="local:2", on="any", disjoint=True, backends=["killer"], options=OPTIONS, output=out)
    rows = read_results(out)
    assert killer.exists()
    assert sorted((r.m, r.status) for r in rows) == [(32, "ok"), (40, "ok"), (48, "ok")]


@pytest.mark.parametrize(
    "address, fragment",
    [
        ("tcp://127.0.0.1:9", "cannot reach a Dask scheduler there"),
        ("local:zero", "local:N needs a worker count"),
        ("head:8786", "give a scheduler address (tcp://host:8786) or local:N"),
    ],
)
def test_bad_cluster_address_is_one_line_and_exit_2_quickly(address, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    t0 = time.monotonic()
    assert main(["run", "--cluster", address, "-b", "numpy", "-s", "16", "-o", "x.csv"]) == 2
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not (tmp_path / "x.csv").exists()


def test_on_any_refuses_workers_that_differ():
    from gemmbench.errors import UsageError
    from gemmbench.fleet import Node, check_same_hardware

    a = Node("tcp://a:1", "a", {"host": "a", "cpu": "EPYC", "cpus": "2", "blas": "openblas", "gemmbench": "1"})
    b = Node("tcp://b:1", "b", {"host": "b", "cpu": "Xeon", "cpus": "2", "blas": "openblas", "gemmbench": "1"})
    check_same_hardware({"a": [a], "a2": [a]})
    with pytest.raises(UsageError, match="--on any needs identical workers"):
        check_same_hardware({"a": [a], "b": [b]})


def test_ctrl_c_cancels_remote_work_and_keeps_finished_rows(tmp_path):
    plugins = numpy_plugin(tmp_path / "plugins", "slow", "if case.m == 48:\n    time.sleep(60)")
    env = {**os.environ, KERNEL_PATH_ENV: str(plugins)}
    out = tmp_path / "f.csv"
    argv = ["run", "--cluster", "local:1", "-b", "slow", "-s", "32,48", "-d", "float32", "-j", "1", "--quick"]
    code = f"import sys; from gemmbench.cli import main; sys.exit(main({[*argv, '-o', str(out)]!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and len(out.read_text().splitlines()) >= 2):
            time.sleep(0.2)
        # The 48^3 case's measuring process must exist (sleeping in prepare) before Ctrl-C: on a loaded machine
        # its Dask task can still be waiting for its own threads to go quiet (up to 5 s) after the first row.
        while time.monotonic() < deadline and not _measuring_processes():
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:  # a run that failed to stop must not outlive the test: its cluster would disturb every later one
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    rows = read_results(out)
    assert [(r.m, r.status) for r in rows] == [(32, "ok")]
    assert not _measuring_processes(), "a measuring process survived Ctrl-C"


def _measuring_processes() -> list[str]:
    return subprocess.run(["pgrep", "-f", "gemmbench.worker"], capture_output=True, text=True).stdout.split()


def test_machine_cluster_writes_each_hosts_ceilings_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "m" / "x.csv"
    assert main(["machine", "--cluster", "local:1", "-j", "1", "-o", str(out)]) == 0
    files = list((tmp_path / "m").glob(f"machine-{hostname()}-*.csv"))
    assert len(files) == 1
    from gemmbench.ceilings import read_ceilings

    names = {c.name for c in read_ceilings(files[0])}
    assert {"gemm", "theoretical"} & names
    assert "1 ceilings" not in capsys.readouterr().out


def test_fleet_rows_plot_per_host(tmp_path):
    """A fleet CSV is an ordinary results file: the plot command reads it as any other."""
    out = tmp_path / "fleet.csv"
    run_fleet(CASES[:1], cluster="local:2", on="all", disjoint=True, options=OPTIONS, output=out)
    pytest.importorskip("matplotlib")
    assert main(["plot", str(out), "--out", str(tmp_path / "plots")]) == 0
    assert list(Path(tmp_path / "plots").glob("*.png")) or list(Path(tmp_path / "plots").glob("*.svg"))


def test_a_ceilings_file_the_coordinator_passes_over_is_named(tmp_path):
    """The roofs shipped to each node come from the newest readable machine file beside the output; one that
    cannot be read (a hand edit broke a number) was passed over without a word, the node falling back to its own."""
    from gemmbench.ceilings import write_ceilings
    from gemmbench.sweep import Silent
    from test_roofline import _at

    class Notes(Silent):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def note(self, text: str) -> None:
            self.lines.append(text)

    import dataclasses

    from gemmbench.device import HostDevice

    here = [dataclasses.replace(c, device=HostDevice.name_of()) for c in _at("2026-01-01", host=hostname())]
    write_ceilings(tmp_path / f"machine-{hostname()}-20260101-000000-aaaa.csv", here)
    broken = tmp_path / f"machine-{hostname()}-20260201-000000-aaaa.csv"
    broken.write_text("kind,name,dtype,threads,value,source,schema_version\ncompute,fma,float32,1,x,measured,2\n")
    notes = Notes()
    rows = run_fleet(CASES[:1], cluster="local:1", options=OPTIONS, output=tmp_path / "fleet.csv", reporter=notes)
    assert [r.status for r in rows] == ["ok"]
    assert f"ceilings skipped: {broken}: bad machine CSV (column 'value': 'x' is not a valid float)" in notes.lines
    assert "fma 90.0 GFLOP/s (measured, x1)" in rows[0].ceilings  # the good file's roof reached the node
