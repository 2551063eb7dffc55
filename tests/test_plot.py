"""Plots from CSV: files written, only ok rows drawn, bad input is one line with exit 2."""

import re
import sys

import pytest

from gemmbench.ceilings import write_ceilings
from gemmbench.cli import main
from gemmbench.commands.plot import load
from gemmbench.result import ResultWriter
from test_roofline import CEILS, HOST
from tests_support import make_row

pytest.importorskip("matplotlib", reason="plots need matplotlib (extra 'plots')")


def _results(folder, name="run.csv", host=HOST, backends=("numpy", "other")):
    path = folder / name
    with ResultWriter(path) as w:
        for b in backends:
            for n in (64, 256, 1024):
                for dt in ("float32", "float64"):
                    w.write(
                        make_row(
                            backend=b,
                            host=host,
                            m=n,
                            n=n,
                            k=n,
                            dtype=dt,
                            threads=2,
                            median_s=1e-3,
                            q1_s=0.9e-3,
                            q3_s=1.1e-3,
                            gflops=2 * n**3 / 1e-3 / 1e9 / 50,
                        )
                    )
        w.write(make_row(backend="numpy", host=host, m=32, n=32, k=32, status="wrong", gflops=9e9))
        w.write(make_row(backend="numpy", host=host, m=16, n=16, k=16, status="skipped", gflops=None))
    return path


def test_plot_writes_png_and_svg_with_ceilings(tmp_path, capsys):
    csv = _results(tmp_path)
    write_ceilings(tmp_path / f"machine-{HOST}-20260101-000000-aaaa.csv", CEILS)
    out = tmp_path / "plots"
    assert main(["plot", str(csv), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "run-comparison.png",
        "run-comparison.svg",
        "run-roofline.png",
        "run-roofline.svg",
        "run-throughput.png",
        "run-throughput.svg",
    ]
    assert "no measured ceilings" not in capsys.readouterr().err
    svg = (out / "run-roofline.svg").read_text()
    assert "fma, measured, x2" in svg and "ridge" in svg


def test_only_ok_rows_are_points(tmp_path):
    data = load([_results(tmp_path)])
    assert {r.status for r in data.ok} == {"ok"}
    assert not any(r.m in (16, 32) for r in data.ok)


def test_no_ceilings_still_plots_with_a_note(tmp_path, capsys):
    csv = _results(tmp_path)
    assert main(["plot", str(csv), "--out", str(tmp_path / "p"), "--formats", "png"]) == 0
    assert f"no measured ceilings for {HOST} (run 'gemmbench machine')" in capsys.readouterr().err
    assert (tmp_path / "p" / "run-roofline.png").stat().st_size > 10_000


def test_two_machines_on_one_roofline(tmp_path):
    a = _results(tmp_path / "a", host="alpha") if (tmp_path / "a").mkdir() is None else None
    b = _results(tmp_path / "b", host="beta") if (tmp_path / "b").mkdir() is None else None
    assert main(["plot", str(a), str(b), "--out", str(tmp_path / "p"), "--formats", "svg"]) == 0
    svg = (tmp_path / "p" / "run+1-roofline.svg").read_text()
    assert "numpy@alpha" in svg and "numpy@beta" in svg


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "empty file"),
        ("a,b\n1,2\n", "not a gemmbench results CSV"),
        (
            "schema_version,run_id,backend,m,n,k,dtype,trans,cache_mode,threads,status,median_s\n"
            "9,r,numpy,1,1,1,float32,NN,hot,1,ok,1.0\n",
            "schema version '9' is newer",
        ),
        (
            "schema_version,run_id,backend,m,n,k,dtype,trans,cache_mode,threads,status,median_s\n"
            "1,r,numpy,1,1,x,float32,NN,hot,1,ok,1.0\n",
            "bad row",
        ),
    ],
)
def test_malformed_csv_is_one_line_exit_2(tmp_path, capsys, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["plot", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(re.escape(fragment), err), err


def test_truncated_csv_plots_complete_rows(tmp_path):
    csv = _results(tmp_path)
    text = csv.read_text()
    csv.write_text(text[:-30])
    assert main(["plot", str(csv), "--out", str(tmp_path / "p"), "--formats", "png"]) == 0


def test_plot_usage_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["plot"]) == 2
    assert "no results CSV given and none in results/" in capsys.readouterr().err
    csv = _results(tmp_path)
    assert main(["plot", str(csv), "--formats", "gif"]) == 2
    assert "unknown format 'gif'; valid choices: png, svg" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing.csv")]) == 2
    assert "no such results file" in capsys.readouterr().err


def test_plot_module_does_not_import_measuring_code():
    import subprocess

    code = (
        "import sys, gemmbench.commands.plot; "
        "print(sorted(m for m in sys.modules if m.split('.')[-1] in "
        "('timer', 'session', 'sweep', 'worker', 'microbench', 'device')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"
