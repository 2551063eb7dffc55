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


def test_a_broken_newer_ceilings_file_is_named_and_the_good_one_drawn(tmp_path, capsys):
    """A hand edit that broke a number in the newest machine file stopped `plot` altogether (exit 2), though an
    older good file lay beside it; now that file is drawn and the broken one named."""
    csv = _results(tmp_path)
    write_ceilings(tmp_path / f"machine-{HOST}-20260101-000000-aaaa.csv", CEILS)
    broken = tmp_path / f"machine-{HOST}-20260201-000000-aaaa.csv"
    broken.write_text("kind,name,dtype,threads,value,source,schema_version\ncompute,fma,float32,2,1.8e2x,measured,2\n")
    assert main(["plot", str(csv), "--out", str(tmp_path / "p"), "--formats", "svg"]) == 0
    err = capsys.readouterr().err
    assert f"gemmbench plot: note: ceilings skipped: {broken}: bad machine CSV (column 'value'" in err
    assert "no measured ceilings" not in err
    assert "fma, measured, x2" in (tmp_path / "p" / "run-roofline.svg").read_text()


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


def test_flagged_rows_are_drawn_hollow_with_a_legend_entry():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gemmbench.commands.plot import FLAGGED_LABEL, _flag_legend_entry, _marker_style

    good, noisy = make_row(noise="ok"), make_row(noise="noisy (IQR 14% of median)")
    slow = make_row(noise="ok", converged=False)
    assert _marker_style(good, "red")["mec"] == "black" and "mfc" not in _marker_style(good, "red")
    assert _marker_style(noisy, "red")["mfc"] == "none" and _marker_style(slow, "red")["mfc"] == "none"
    fig, ax = plt.subplots()
    _flag_legend_entry(ax, [good])
    assert not ax.get_legend_handles_labels()[1]
    _flag_legend_entry(ax, [good, noisy])
    assert ax.get_legend_handles_labels()[1] == [FLAGGED_LABEL]
    plt.close(fig)


def test_comparison_bars_carry_their_range_and_flag():
    from gemmbench.commands.plot import _bar

    b = make_row(backend="numpy", median_s=1.0, q1_s=0.9, q3_s=1.1)
    o = make_row(backend="numba", median_s=0.5, q1_s=0.45, q3_s=0.6, noise="ok")
    one = _bar([(b, o)])
    assert (
        one.ratio == pytest.approx(2.0)
        and one.low == pytest.approx(0.9 / 0.6)
        and one.high == pytest.approx(1.1 / 0.45)
    )
    assert not one.flagged
    rounds = _bar([(b, o), (b, make_row(backend="numba", median_s=0.4, noise="contended (30% ...)"))])
    assert (rounds.low, rounds.high) == pytest.approx((2.0, 2.5)) and rounds.flagged


def test_sweep_table_ends_with_a_count_of_flagged_rows():
    from gemmbench.console import flagged_summary

    rows = [
        make_row(noise="ok"),
        make_row(noise="noisy (IQR 12% of median); VM steal 4% of CPU time"),
        make_row(noise="ok", converged=False),
        make_row(status="wrong", gflops=None, noise="noisy"),
    ]
    line = flagged_summary(rows)
    assert line.startswith("gemmbench: 2 of 3 ok rows flagged (") and "1 noisy" in line and "1 VM steal" in line
    assert "1 not converged" in line and "rerun" in line
    assert flagged_summary(rows[:1]) is None


def test_workload_rows_get_a_step_time_breakdown(tmp_path):
    from gemmbench.commands.plot import step_breakdown

    path = tmp_path / "w.csv"
    with ResultWriter(path) as w:
        w.write(make_row(workload="m:train tokens=4 tp=1 seq=4", role="mlp.down; attn.o dgrad", count=26, median_s=0.5))
        w.write(make_row(workload="m:train tokens=4 tp=1 seq=4", role="attn.qkv", count=26, m=8, median_s=0.25))
        w.write(make_row(m=9, median_s=1.0))  # a plain row: no workload
    data = load([path])
    (bars,) = step_breakdown(data).values()
    (roles,) = bars.values()
    assert roles == {"mlp.down": 13.0, "attn.qkv": 6.5}
    assert main(["plot", str(path), "--out", str(tmp_path / "p"), "--formats", "png"]) == 0
    assert (tmp_path / "p" / "w-workload1.png").exists()


def test_titles_name_the_accelerator_not_the_host_cpu_that_drove_it():
    """An H200's roofline was titled 'Intel(R) Xeon(R) Processor (vm) | BLAS openblas ...': the host's CPU and
    BLAS, which no point on it ran on."""
    from gemmbench.commands.plot import PlotInput, _title

    gpu = make_row(host="vm", device="NVIDIA H200", backend="cupy", cpu_model="Intel(R) Xeon(R)", blas="openblas x1")
    cpu = make_row(host="vm", device="cpu: Intel(R) Xeon(R)", cpu_model="Intel(R) Xeon(R)", blas="openblas x1")
    title = _title("Roofline", PlotInput([gpu], [], []), [gpu])
    assert "NVIDIA H200 (vm)" in title and "Xeon" not in title and "BLAS" not in title
    both = _title("Roofline", PlotInput([gpu, cpu], [], []), [gpu, cpu])
    assert "Intel(R) Xeon(R) (vm); NVIDIA H200 (vm)" in both and "BLAS openblas" in both
