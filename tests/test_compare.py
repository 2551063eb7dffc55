import math

import pytest

from gemmbench.cli import main
from gemmbench.commands.compare import compare, mann_whitney_p
from gemmbench.result import ResultWriter
from tests_support import make_row


def test_mann_whitney_literal():
    # Complete separation of 5 vs 5: U = 0; normal approximation with continuity correction.
    p = mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    z = (12.5 - 0.5) / math.sqrt(5 * 5 * 11 / 12)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert mann_whitney_p([1.0] * 5, [1.0] * 5) == 1.0
    assert math.isnan(mann_whitney_p([], [1.0]))


def _write(path, rows_and_samples):
    with ResultWriter(path) as w:
        for row, samples in rows_and_samples:
            w.write(row, samples)


def test_compare_verdicts(tmp_path, capsys):
    base = [1.00 + 0.001 * i for i in range(20)]
    fast = [0.80 + 0.001 * i for i in range(20)]
    close = [0.995 + 0.001 * i for i in range(20)]
    _write(
        tmp_path / "r.csv",
        [
            (make_row(backend="numpy", m=8, n=8, k=8, median_s=1.0, gflops=1.0), base),
            (make_row(backend="numba", m=8, n=8, k=8, median_s=0.8, gflops=1.25), fast),
            (make_row(backend="numpy", m=16, n=16, k=16, median_s=1.0, gflops=1.0), base),
            (make_row(backend="numba", m=16, n=16, k=16, median_s=0.995, gflops=1.005), close),
            (make_row(backend="numpy", m=32, n=32, k=32, median_s=1.0, gflops=1.0), base),
            (make_row(backend="numba", m=32, n=32, k=32, median_s=1.0, gflops=1.0), base[::-1]),
        ],
    )
    result = {c.other.m: c for c in compare([tmp_path / "r.csv"], "numpy")}
    assert result[8].verdict == "faster" and result[8].ratio == pytest.approx(1.25)
    assert result[16].verdict in ("same", "ambiguous")
    assert result[32].verdict == "ambiguous"
    assert main(["compare", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "faster" in out and "numpy GF/s" in out


def test_compare_pairs_rows_within_runs_and_reports_the_median(tmp_path, capsys):
    """Three rounds: each ratio pairs the rows of one run (the machine slowed down between
    runs 1 and 2, which a newest-row pairing would mix up); the summary is the median."""
    base = [1.00 + 0.001 * i for i in range(20)]

    def scaled(f):
        return [v * f for v in base]

    rounds = [("r1", 2.0, 2.5), ("r2", 1.0, 0.5), ("r3", 1.0, 1.2)]  # (run, numpy GF/s, numba GF/s)
    rows = []
    for i, (run, b, o) in enumerate(rounds):
        stamp = f"2026-01-01T00:0{i}:00+00:00"
        rows += [
            (make_row(run_id=run, timestamp=stamp, backend="numpy", gflops=b, median_s=1 / b), scaled(1 / b)),
            (make_row(run_id=run, timestamp=stamp, backend="numba", gflops=o, median_s=1 / o), scaled(1 / o)),
        ]
    # a case whose baseline was only measured in another run is still compared (newest rows)
    rows += [
        (make_row(run_id="r1", backend="numpy", m=16, gflops=1.0), base),
        (make_row(run_id="r2", backend="numba", m=16, gflops=2.0), scaled(0.5)),
    ]
    _write(tmp_path / "r.csv", rows)
    result = {c.other.m: c for c in compare([tmp_path / "r.csv"], "numpy")}
    three = result[4]
    assert three.ratios == pytest.approx((1.25, 0.5, 1.2))
    assert three.ratio == pytest.approx(1.2)
    assert three.verdicts == ("faster", "slower", "faster") and three.verdict == "mixed"
    assert three.base_gflops == pytest.approx(1.0) and three.other_gflops == pytest.approx(1.2)
    assert len(result[16].pairs) == 1 and result[16].ratio == pytest.approx(2.0)
    assert main(["compare", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "mixed over 3 runs (faster 2, slower 1; range 0.500-1.250)" in out


def test_compare_usage_errors(tmp_path, capsys):
    _write(tmp_path / "r.csv", [(make_row(backend="numpy"), [1.0])])
    assert main(["compare", str(tmp_path / "r.csv"), "--baseline", "mkl"]) == 2
    assert "no ok rows share a case with baseline 'mkl'" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("x,y\n")
    assert main(["compare", str(tmp_path / "bad.csv")]) == 2
