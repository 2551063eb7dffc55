"""Usage errors: one line naming the problem and the valid choices, exit code 2."""

import os
import signal
import subprocess
import sys
import time

import pytest

from gemmbench.cli import main
from gemmbench.result import read_results


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "--dtypes", "float8"], "unknown dtype 'float8'; valid choices: float16, bfloat16, float32, float64"),
        (
            ["run", "-b", "nope"],
            "unknown backend 'nope'; valid choices: ascend, ascend-nz, ascend-hf32, cupy, cupy-tf32,",
        ),
        (["run", "--sizes", "0"], "size must be >= 1, got 0"),
        (["run", "--sizes", "abc"], "size 'abc' is not an integer"),
        (["run", "--sizes", "64:16:x2"], "gives 0 sizes"),
        (["run", "--sizes", "1:100000:1"], "gives 100000 sizes; need 1 to 64"),
        (["run", "--sizes", "8:64:x1"], "range factor must be >= 2"),
        (["run", "--shape", "12x34"], "bad shape '12x34'; use MxNxK"),
        (["run", "--trans", "NX"], "unknown transpose 'NX'; valid choices: NN, NT, TN, TT"),
        (["run", "--mode", "warm"], "unknown cache mode 'warm'; valid choices: hot, cold"),
        (["run", "--threads", "0"], "thread count must be >= 1"),
        (["run", "--threads", "4096"], "threads must be between 1 and"),
        (["run", "--noise-metric", "mad"], "unknown noise metric 'mad'; valid choices: iqr, ci"),
        (["run", "--max-time", "-1"], "max time must be a finite number >= 0"),
        (["run", "--shape", "100000x100000x100000"], "GiB of host memory"),
        (["run", "--rounds", "0"], "--rounds must be >= 1, got 0"),
        (["run", "--rounds", "2", "--resume"], "--rounds and --resume cannot be combined"),
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, fragment, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert fragment in err
    assert not list(tmp_path.glob("results/*.csv"))  # nothing ran, nothing written


def test_corrupt_csv_on_resume_is_a_usage_error_and_file_untouched(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,value\nx,1\n")
    assert main(["run", "-s", "8", "-o", str(bad), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "not a gemmbench results CSV (missing columns" in err
    assert bad.read_text() == "name,value\nx,1\n"


def test_resume_without_results(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--resume"]) == 2
    assert "no results/*.csv to resume" in capsys.readouterr().err


def test_list_shows_backends(capsys):
    assert main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "available" in out and "gemmbench.kernels.numpy_gemm" in out


def test_run_writes_table_and_csv(capsys, tmp_path):
    out = tmp_path / "r.csv"
    assert main(["run", "-b", "numpy", "-s", "16,32", "-j", "1", "--max-time", "0.05", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "GFLOP/s" in text and "16x16x16" in text and "2 rows written" not in text
    assert [r.status for r in read_results(out)] == ["ok"] * 4


def test_rounds_are_runs_of_their_own_in_one_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        main(["run", "-b", "numpy", "-s", "16", "-d", "float32", "-j", "1", "--max-time", "0.02", "--rounds", "3"]) == 0
    )
    assert "round 3 of 3" in capsys.readouterr().err
    (path,) = tmp_path.glob("results/*.csv")  # every round appends to the first round's file
    rows = read_results(path)
    assert [r.status for r in rows] == ["ok"] * 3
    assert len({r.run_id for r in rows}) == 3
    assert path.stem == rows[0].run_id


def test_warns_when_openblas_coretype_is_set(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    main(["run", "-b", "numpy", "-s", "8", "-d", "float32", "--max-time", "0.02", "-o", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err  # OPENBLAS_L2_SIZE, where this host sets it too, is named beside it
    assert "OPENBLAS_CORETYPE=Haswell" in err and "is set: OpenBLAS may use a slower kernel" in err
    assert '"OPENBLAS_CORETYPE": "Haswell"' in read_results(tmp_path / "r.csv")[0].env


def test_killed_sweep_keeps_rows_and_resumes(tmp_path):
    """Kill the console script mid-sweep, then --resume: no row lost, none duplicated."""
    out = tmp_path / "kill.csv"
    exe = os.path.join(os.path.dirname(sys.executable), "gemmbench")
    args = [
        exe,
        "run",
        "-b",
        "numpy",
        "-s",
        "8,16,24,32,40,48",
        "-d",
        "float32",
        "-j",
        "1",
        "--max-time",
        "0.3",
        "--noise-target",
        "0",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(read_results(out)) < 2):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = read_results(out)
    assert 2 <= len(kept) < 6
    done = subprocess.run(args + ["--resume", "--max-time", "0.02"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = read_results(out)
    assert sorted(r.m for r in rows) == [8, 16, 24, 32, 40, 48]
    assert len({r.run_id for r in rows}) == 1


def test_timeit_check_prints_ratios(capsys, tmp_path):
    assert main(["timeit-check", "-s", "16", "-d", "float32", "-o", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("case") and out[1].startswith("16x16x16 float32 NN")
    assert len(read_results(tmp_path / "t.csv")) == 1


def test_a_reader_that_leaves_early_gets_no_traceback():
    """'gemmbench workloads show ... | head -1': the pipe closes while gemmbench still writes."""
    exe = os.path.join(os.path.dirname(sys.executable), "gemmbench")
    out = subprocess.run(
        f"'{exe}' workloads show deepseek-v3 --phase train | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.startswith("deepseek-v3:") and "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr
