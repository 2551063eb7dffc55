"""Hostile input and faulty plugins: one clear line and exit 2, or a row that says what went wrong; never a
traceback, a lost result or a silently wrong number. Plugins are planted as a third party would ship them."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gemmbench.case import GemmCase
from gemmbench.cli import main
from gemmbench.registry import KERNEL_PATH_ENV, discover
from gemmbench.result import ResultsFileError, ResultWriter, read_results
from gemmbench.store import latest_results
from gemmbench.sweep import RunOptions, host_ceilings, run
from gemmbench.testing import FAST_POLICY
from tests_support import make_row, numpy_plugin

GEMMBENCH = os.path.join(os.path.dirname(sys.executable), "gemmbench")
FAST = ["--max-time", "0.05", "--noise-target", "1", "-j", "1"]


def _plugin(folder: Path, stem: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.py").write_text(textwrap.dedent(source))
    return folder


def _cli(args, env=None, timeout=120, **kw):
    return subprocess.run(
        [GEMMBENCH, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, **kw
    )


def _one_line_exit_2(out):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    return out.stderr.strip()


# 2, 3, 14: plugins that exit in probe(), export nonsense, or fail to import


def test_a_probe_that_calls_sys_exit_does_not_stop_list_or_run(tmp_path):
    folder = _plugin(
        tmp_path / "k",
        "exiter",
        """
        import sys
        from gemmbench.backend import Kernel
        class Exiter(Kernel):
            name = "exiter"
            @classmethod
            def probe(cls):
                sys.exit(3)
            def prepare(self, case, operands):
                raise AssertionError
        KERNELS = [Exiter]
    """,
    )
    env = {KERNEL_PATH_ENV: str(folder)}
    listed = _cli(["list"], env)
    assert listed.returncode == 0 and "numpy" in listed.stdout
    assert "exiter       unavailable: probe failed: SystemExit: 3" in listed.stdout
    ran = _cli(["run", "-s", "16", "-d", "float32", *FAST, "-o", str(tmp_path / "r.csv")], env)
    assert ran.returncode == 0, ran.stderr
    assert "skipping exiter: probe failed: SystemExit" in ran.stderr
    assert {r.backend for r in read_results(tmp_path / "r.csv")} >= {"numpy"}


@pytest.mark.parametrize(
    "exports, message",
    [
        ("KERNELS = 5", "KERNELS must be a list of Kernel classes, got 5"),
        ("KERNELS = [int]", "is not a gemmbench Kernel subclass"),
        (
            "from gemmbench.backend import Kernel\nclass K(Kernel):\n    name = 'k'\n    dtypes = 'float32'\n"
            "    def prepare(self, case, operands): pass\nKERNELS = [K]",
            "K.dtypes must be a tuple of",
        ),
        ("raise SystemExit(1)", "SystemExit: 1"),
    ],
)
def test_a_broken_plugin_is_listed_with_its_reason_and_named_by_run(tmp_path, exports, message):
    folder = _plugin(tmp_path / "k", "broken", exports)
    env = {KERNEL_PATH_ENV: str(folder)}
    listed = _cli(["list"], env)
    assert listed.returncode == 0 and "numpy" in listed.stdout
    assert "(broken)" in listed.stdout and message in listed.stdout, listed.stdout
    ran = _cli(["run", "-s", "16", "-d", "float32", *FAST, "-o", str(tmp_path / "r.csv")], env)
    assert ran.returncode == 0 and f"could not load {folder / 'broken.py'}" in ran.stderr, ran.stderr
    named = _one_line_exit_2(_cli(["run", "-b", "k", "-s", "16", "-o", str(tmp_path / "x.csv")], env))
    assert "unknown backend 'k'" in named and "could not load" in named and message in named


def test_same_file_names_in_two_kernel_folders_are_two_backends(tmp_path):
    a = numpy_plugin(tmp_path / "a", "alpha", stem="gemm")
    b = numpy_plugin(tmp_path / "b", "beta", stem="gemm")
    reg = discover(os.pathsep.join([str(a), str(b)]))
    assert {"alpha", "beta"} <= set(reg.names()) and not reg.problems, reg.problems
    rows = run(
        [GemmCase(8, 8, 8)],
        backends=["alpha", "beta"],
        registry=reg,
        ceilings=[],
        options=RunOptions(threads=(1,), policy=FAST_POLICY),
        output=tmp_path / "r.csv",
    )
    assert [r.status for r in rows] == ["ok", "ok"]


# 1: a cheating kernel


def test_a_kernel_that_computes_once_is_wrong_under_pytest_benchmark_too(tmp_path, pytester):
    folder = _plugin(
        tmp_path / "k",
        "cheat",
        """
        import numpy as np
        from gemmbench.backend import Kernel, Prepared
        class Cheat(Kernel):
            name = "cheat"
            def prepare(self, case, operands):
                c = np.empty((case.m, case.n), dtype=operands.a.dtype)
                done = []
                def launch():
                    if not done:
                        np.matmul(operands.a, operands.b, out=c)
                        done.append(1)
                return Prepared(launch, c)
        KERNELS = [Cheat]
    """,
    )
    ran = _cli(
        ["run", "-b", "cheat", "-s", "64", "-d", "float32", *FAST, "-o", str(tmp_path / "r.csv")],
        {KERNEL_PATH_ENV: str(folder)},
    )
    assert ran.returncode == 1
    (row,) = read_results(tmp_path / "r.csv")
    assert row.status == "wrong" and row.gflops is None and "error nan" in row.reason
    pytester.makepyfile(test_gemm="def test_gemm(gemm_job):\n    gemm_job.check()\n")
    os.environ[KERNEL_PATH_ENV] = str(folder)
    try:
        args = "--benchmark -p no:benchmark --gemm-backends cheat --gemm-sizes 64 --gemm-dtypes float32"
        args += " --gemm-threads 1 --gemm-max-time 0.05"
        result = pytester.runpytest_subprocess(
            "-p", "gemmbench.pytest_plugin", *args.split(), "--gemm-output", str(tmp_path / "p.csv")
        )
    finally:
        del os.environ[KERNEL_PATH_ENV]
    result.assert_outcomes(failed=1)


def test_without_ceilings_rows_are_still_judged_against_the_derived_peak(tmp_path):
    roofs = host_ceilings(tmp_path, threads=(1,))
    if not roofs:
        pytest.skip("the OS reports no CPU clock here")
    assert {c.name for c in roofs} == {"theoretical"} and all(c.source == "derived" for c in roofs)


# 4: --resume continues the interrupted run, not an older one


def test_resume_continues_the_interrupted_run_only(tmp_path, capsys):
    out = tmp_path / "r.csv"
    cases = ["-s", "8,16,24", "-d", "float32", *FAST, "-o", str(out)]
    assert main(["run", "-b", "numpy", *cases]) == 0  # an older, complete run of the same cases
    older = read_results(out)
    with ResultWriter(out) as w:  # a newer run, killed after its first row
        w.write(make_row(run_id="20991231-000000-dead", m=8, n=8, k=8, threads=1, gflops=1.0))
    capsys.readouterr()
    assert main(["run", "-b", "numpy", *cases, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resuming run 20991231-000000-dead: 1 rows done, 2 to measure" in err
    assert "1 earlier run(s) in the file are not continued" in err
    rows = read_results(out)
    assert len(rows) == len(older) + 3 and {r.run_id for r in rows[-2:]} == {"20991231-000000-dead"}


# 5, 6, 10, 18: output paths


def test_machine_never_overwrites_a_results_file(tmp_path):
    results = tmp_path / "r.csv"
    with ResultWriter(results) as w:
        w.write(make_row())
    before = results.read_bytes()
    t0 = time.monotonic()
    err = _one_line_exit_2(_cli(["machine", "-o", str(results)]))
    assert "already holds another kind of file" in err and time.monotonic() - t0 < 20
    assert results.read_bytes() == before


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "-s", "8", "-o", "{tmp}"], "is a folder"),
        (["run", "-s", "8", "-o", "/proc/1/x.csv"], "cannot write there"),
        (["run", "-s", "8", "-o", "/dev/null"], "is not a regular file"),
        (["machine", "-o", "{tmp}"], "is a folder"),
        (["plot", "{tmp}"], "is a folder"),
        (["compare", "{tmp}"], "is a folder"),
        (["plot", "{csv}", "--out", "{csv}"], "is a file; give a folder"),
        (["plot", "{csv}", "--formats", ""], "no plot format given; valid choices: png, svg"),
        (["run", "--timeout", "0"], "--timeout must be a finite number of seconds > 0"),
        (["run", "--timeout", "-5"], "--timeout must be a finite number >= 0"),
        (["run", "--timeout", "nan"], "--timeout must be a finite number"),
        (["run", "--timeout", "inf"], "--timeout must be a finite number"),
        (["run", "--noise-target", "2"], "noise target '2' is ambiguous: give a fraction (0.02) or a percentage (2%)"),
        (["run", "--noise-target", "150%"], "noise target must be in [0, 1]"),
    ],
)
def test_bad_paths_and_values_are_one_line_before_anything_runs(tmp_path, capsys, argv, fragment):
    csv = tmp_path / "r.csv"
    with ResultWriter(csv) as w:
        w.write(make_row())
    argv = [a.format(tmp=tmp_path, csv=csv) for a in argv]
    t0 = time.monotonic()
    with pytest.raises(SystemExit) if argv[0] == "run" and argv[1] in ("--timeout", "--noise-target") else _no_exit():
        assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert time.monotonic() - t0 < 10  # checked before measuring
    assert not Path("/dev/null.samples.jsonl").exists()


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_noise_target_takes_fractions_and_percentages():
    from gemmbench.options import parse_fraction

    assert parse_fraction("2%") == pytest.approx(0.02) and parse_fraction("0.02") == 0.02 and parse_fraction("0") == 0


def test_machine_keeps_its_gemm_rows_beside_its_ceilings(tmp_path, monkeypatch):
    from gemmbench.commands.machine import measure_host
    from gemmbench.store import gemm_rows_path

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "machine-h-20260101-000000-aaaa.csv"
    list(measure_host([1], ["numpy"], gemm_size=32, stream_elements=1 << 12, gemm_output=gemm_rows_path(out)))
    assert gemm_rows_path(out).exists() and not (tmp_path / "results").exists()
    assert latest_results(tmp_path) is None  # never picked as the newest results by plot or --resume


# 11: repeated values


def test_repeated_list_values_give_one_row(tmp_path):
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "run",
                "-b",
                "numpy,numpy",
                "-s",
                "64,64",
                "--shape",
                "64x64x64",
                "-d",
                "float32,float32",
                "-m",
                "hot,hot",
                "-j",
                "1,1",
                "--max-time",
                "0.05",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert len(read_results(out)) == 1


# 13: hand-edited CSVs


@pytest.mark.parametrize("column, value", [("median_s", "nan"), ("gflops", "-3"), ("median_s", "inf"), ("m", "0")])
def test_a_hand_edited_value_is_named_by_file_and_line(tmp_path, capsys, column, value):
    path = tmp_path / "r.csv"
    with ResultWriter(path) as w:
        w.write(make_row(backend="numpy"))
        w.write(make_row(backend="numba"))
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index(column)] = value
    path.write_text("\n".join([lines[0], lines[1], ",".join(cells)]) + "\n")
    for argv in (["plot", str(path), "--out", str(tmp_path / "p")], ["compare", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{path}:3: bad row" in err and column in err, err


# 9: the worker dies with its parent; SIGTERM keeps rows; nothing left in the temp folder


def _workers_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "gemmbench.worker" in line]


def _has_rows(path: Path) -> bool:
    """Whether ``path`` holds a finished row yet. The run's check that its output is writable creates the file and
    removes it again before anything is measured, so the file may vanish between a look and a read."""
    try:
        return bool(read_results(path))
    except ResultsFileError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_killing_gemmbench_kills_its_worker_and_keeps_rows(tmp_path, how):
    folder = numpy_plugin(tmp_path / "k", "hang", "if case.k == 13:\n    time.sleep(3600)")
    out = tmp_path / "r.csv"
    before = set(_workers_of(0))
    proc = subprocess.Popen(
        [
            GEMMBENCH,
            "run",
            "-b",
            "hang",
            "--shape",
            "8x8x8",
            "--shape",
            "8x8x13",
            "-d",
            "float32",
            *FAST,
            "-o",
            str(out),
        ],
        env={**os.environ, KERNEL_PATH_ENV: str(folder)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _has_rows(out):
        time.sleep(0.05)
    time.sleep(0.5)  # the worker is now asleep in the hanging case
    workers = set(_workers_of(0)) - before
    assert workers, "no worker seen"
    proc.send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and workers & set(_workers_of(0)):
        time.sleep(0.1)
    assert not workers & set(_workers_of(0)), "the worker outlived its parent"
    assert [r.m for r in read_results(out)] == [8]  # the finished row is kept
    if how == "SIGTERM":
        assert proc.returncode == 143 and "terminated; finished rows are kept" in err


def test_worker_logs_leave_nothing_in_the_temp_folder(tmp_path):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("gemmbench-worker-*"))
    run(
        [GemmCase(8, 8, 8)],
        backends=["numpy"],
        options=RunOptions(threads=(1,), policy=FAST_POLICY),
        output=tmp_path / "r.csv",
        ceilings=[],
    )
    assert set(Path(tempfile.gettempdir()).glob("gemmbench-worker-*")) == before


# 16: the project's tests do not see installed plugins


def test_installed_entry_points_are_ignored_when_asked(monkeypatch):
    from gemmbench.registry import ENTRY_POINTS_ENV

    assert os.environ.get(ENTRY_POINTS_ENV) == "0"  # set for the whole suite (conftest.py)
    assert set(discover("").names()) == {
        "ascend",
        "ascend-nz",
        "ascend-hf32",
        "cupy",
        "cupy-tf32",
        "numba",
        "numba-naive",
        "numpy",
    }
    facts = json.dumps(sorted(discover("").names()))
    assert "numpy-again" not in facts


def test_the_gemm_rows_beside_a_ceilings_file_are_never_taken_for_ceilings(tmp_path):
    """make bench: 'machine' wrote machine-h-X.csv and machine-h-X.gemm.csv; 'plot' took the second as ceilings."""
    from gemmbench.ceilings import latest_ceilings, write_ceilings
    from gemmbench.store import gemm_rows_path
    from test_roofline import _at

    ceilings = write_ceilings(tmp_path / "machine-h-20260101-000000-aaaa.csv", _at("2026-01-01", host="h"))
    with ResultWriter(gemm_rows_path(ceilings)) as w:
        w.write(make_row())
    assert latest_ceilings(tmp_path, "h") == ceilings
    assert latest_results(tmp_path) is None
