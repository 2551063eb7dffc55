"""compare: verdicts from rounds (fresh processes), never from the samples of one process."""

import dataclasses
import json
import math

import numpy as np
import pytest

from gemmbench.cli import main
from gemmbench.commands.compare import ALPHA, MIN_ROUNDS, compare, parse_goal, verdict
from gemmbench.result import ResultWriter
from tests_support import make_row

pytest.importorskip("scipy", reason="compare needs scipy (extra 'stats')")


def _write(path, rows):
    with ResultWriter(path) as w:
        for row in rows:
            w.write(row, [row.median_s or 1.0] * 3)


def _rounds(ratios, base=100.0, **kw):
    """One run per round, each with a numpy row and a numba row whose GFLOP/s ratio is given."""
    rows = []
    for i, ratio in enumerate(ratios):
        stamp = f"2026-01-01T00:{i:02d}:00+00:00"
        for backend, gf in (("numpy", base), ("numba", base * ratio)):
            rows.append(make_row(run_id=f"r{i}", timestamp=stamp, backend=backend, gflops=gf, median_s=1 / gf, **kw))
    return rows


def test_a_a_comparisons_are_never_called_faster_or_slower():
    """Identical code: per-round ratios scatter by a few percent (worker placement, machine drift), with
    now and then a round far off. Over 2,000 seeded A/A comparisons of 5 rounds: no call at all."""
    rng = np.random.default_rng(2026)
    calls = 0
    for _ in range(2000):
        logs = rng.normal(0.0, 0.02, 5)
        logs[rng.random(5) < 0.1] += rng.choice([-0.1, 0.1])  # an occasional disturbed round
        calls += verdict(list(logs), ALPHA, 0.02)[0] in ("faster", "slower")
    assert calls <= 2000 * ALPHA / 2  # the stated rate (observed: none)
    assert calls == 0


@pytest.mark.parametrize("rounds, share", [(5, 0.9), (10, 0.99)])
def test_a_planted_five_percent_slowdown_is_found(rounds, share):
    rng = np.random.default_rng(7)
    logs = [list(rng.normal(math.log(0.95), 0.01, rounds)) for _ in range(500)]
    assert sum(verdict(x, ALPHA, 0.02)[0] == "slower" for x in logs) >= share * 500


def test_too_few_rounds_give_no_verdict():
    assert verdict([0.5, 0.5], 0.05, 0.02) == ("inconclusive", None)
    assert MIN_ROUNDS == 3
    word, ci = verdict([0.001, -0.002, 0.0005, 0.0, 0.001], ALPHA, 0.02)
    assert word == "same" and ci[0] > 0.98 and ci[1] < 1.02


def test_compare_pairs_rows_within_rounds(tmp_path, capsys):
    """Three rounds whose machine changed speed between them: each ratio pairs the rows of one round."""
    rows = []
    for i, (b, o) in enumerate([(2.0, 2.5), (1.0, 0.5), (1.0, 1.2)]):
        stamp = f"2026-01-01T00:0{i}:00+00:00"
        rows += [
            make_row(run_id=f"r{i}", timestamp=stamp, backend="numpy", gflops=b, median_s=1 / b),
            make_row(run_id=f"r{i}", timestamp=stamp, backend="numba", gflops=o, median_s=1 / o),
        ]
    rows += [
        make_row(run_id="r0", backend="numpy", m=16, gflops=1.0),
        make_row(run_id="r1", backend="numba", m=16, gflops=2.0),
    ]
    _write(tmp_path / "r.csv", rows)
    result = {c.other.m: c for c in compare([tmp_path / "r.csv"], "numpy")}
    three = result[4]
    assert three.ratios == pytest.approx((1.25, 0.5, 1.2))
    assert three.ratio == pytest.approx(1.2) and three.verdict == "inconclusive"
    assert len(result[16].pairs) == 1 and result[16].verdict == "inconclusive"
    assert "1 round; a verdict needs >= 3" in result[16].note
    assert main(["compare", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "0.500-1.250" in out and "inconclusive" in out


def test_compare_end_to_end_faster_same_and_a_a(tmp_path):
    _write(tmp_path / "f.csv", _rounds([1.10, 1.12, 1.09, 1.11, 1.10]))
    assert compare([tmp_path / "f.csv"], "numpy")[0].verdict == "faster"
    _write(tmp_path / "s.csv", _rounds([1.001, 0.999, 1.002, 0.998, 1.0]))
    assert compare([tmp_path / "s.csv"], "numpy")[0].verdict == "same"
    _write(tmp_path / "aa.csv", _rounds([1.03, 0.98, 1.02, 0.97, 1.025]))  # A/A with 2-3 % scatter
    assert compare([tmp_path / "aa.csv"], "numpy")[0].verdict == "inconclusive"


def test_rows_from_different_code_or_environments_are_not_compared(tmp_path):
    rows = _rounds([1.10, 1.12, 1.09])
    rows[-1] = make_row(run_id="r2", timestamp=rows[-1].timestamp, backend="numba", gflops=109.0, git_rev="other")
    _write(tmp_path / "m.csv", rows)
    (c,) = compare([tmp_path / "m.csv"], "numpy")
    assert c.verdict == "mismatch" and "git_rev differs" in c.note
    rows = _rounds([1.10, 1.12, 1.09])
    rows[3] = make_row(run_id="r1", timestamp=rows[3].timestamp, backend="numba", gflops=112.0, blas="mkl")
    _write(tmp_path / "b.csv", rows)
    (c,) = compare([tmp_path / "b.csv"], "numpy")
    assert c.verdict == "mismatch" and "backend blas differs between rounds" in c.note


def test_compare_says_how_each_comparison_was_measured(tmp_path, capsys):
    """Paired rounds (both rows carry --paired's turns fact) read differently from rounds measured apart:
    the table says which, and a mix, a hand-edited facts cell or rows of two runs are never called paired."""
    turns = json.dumps({"turns": "handed over 6 times, waited 0.4 s"})
    _write(tmp_path / "p.csv", _rounds([1.10, 1.12, 1.09, 1.11, 1.10], facts=turns))
    (c,) = compare([tmp_path / "p.csv"], "numpy")
    assert c.how == "paired" and c.verdict == "faster" and c.note == ""
    _write(tmp_path / "a.csv", _rounds([1.10, 1.12, 1.09]))
    assert compare([tmp_path / "a.csv"], "numpy")[0].how == "apart"
    rows = _rounds([1.10, 1.12, 1.09, 1.11, 1.10], facts=turns)
    rows[1] = dataclasses.replace(rows[1], facts="")  # round 0's numba row measured alone
    rows[3] = dataclasses.replace(rows[3], facts='{"turns": ')  # round 1's, hand-edited into bad JSON
    _write(tmp_path / "m.csv", rows)
    (c,) = compare([tmp_path / "m.csv"], "numpy")
    assert c.how == "mixed" and "3 of 5 rounds paired, the rest apart" in c.note
    base, other = _rounds([1.1], facts=turns)
    _write(tmp_path / "x.csv", [base, dataclasses.replace(other, run_id="elsewhere")])
    assert compare([tmp_path / "x.csv"], "numpy")[0].how == "apart"  # rows of two runs took no turns together
    assert main(["compare", str(tmp_path / "p.csv")]) == 0
    head, row, summary = capsys.readouterr().out.strip().splitlines()
    assert head.split()[-2:] == ["how", "verdict"] and row.split()[-2:] == ["paired", "faster"]
    assert summary == "1 comparison (1 paired): 1 faster, 0 slower, 0 same, 0 inconclusive"


def test_a_paired_round_whose_backends_ran_one_after_the_other_is_not_called_paired(tmp_path):
    """Calls longer than a turn: the first backend takes every sample in its first turn and the other then measures
    alone. Both rows carry the turns fact, yet nothing alternated: the host's drift between them lands on one."""
    rows = _rounds([1.10, 1.12, 1.09, 1.11, 1.10])
    for i, row in enumerate(rows):
        turns = "handed over 0 times, waited 0.0 s" if i % 2 == 0 else "alone (no other worker left)"
        rows[i] = dataclasses.replace(row, facts=json.dumps({"turns": turns}))
    rows[2] = dataclasses.replace(rows[2], facts=json.dumps({"turns": "handed over 2 times, waited 0.9 s"}))
    _write(tmp_path / "s.csv", rows)
    (c,) = compare([tmp_path / "s.csv"], "numpy")
    assert c.how == "mixed" and "1 of 5 rounds paired, the rest apart" in c.note, (c.how, c.note)


def test_markdown_puts_every_comparison_in_a_cell_of_its_own(tmp_path, capsys):
    """The table a document quotes: a row per case, a column per dtype and thread count, and nothing merged:
    two hosts' comparisons of one case get a row each, and a column a case was not compared in says so."""
    turns = json.dumps({"turns": "handed over 6 times"})
    rows = []
    for (m, n, k), dtype, threads, ratios in [
        ((8, 4096, 512), "float32", 1, [1.10, 1.12, 1.09, 1.11, 1.10]),
        ((8, 4096, 512), "float64", 1, [0.97, 1.01, 0.99, 1.02, 0.98]),
        ((8, 4096, 512), "float32", 2, [0.90, 0.91, 0.92, 0.90, 0.91]),
        ((128, 768, 4096), "float64", 1, [1.00, 1.001, 0.999, 1.0, 1.0]),
    ]:
        rows += _rounds(ratios, m=m, n=n, k=k, dtype=dtype, threads=threads, facts=turns)
    rows += _rounds([1.3, 1.3, 1.3], m=8, n=4096, k=512, host="h2", facts=turns)  # another host, same case
    _write(tmp_path / "t.csv", rows)
    comparisons = compare([tmp_path / "t.csv"], "numpy")
    assert len(comparisons) == 5
    assert main(["compare", str(tmp_path / "t.csv"), "--markdown"]) == 0
    caption, blank, head, rule, *body, blank2, summary = capsys.readouterr().out.strip().splitlines()
    assert caption.startswith("numba ÷ numpy: median ratio") and blank == blank2 == ""
    assert head == "| host | shape | float32 1 thread | float64 1 thread | float32 2 threads |"
    assert rule == "|---|---|---|---|---|"
    assert body == [
        "| h1 | 8×4096×512 | 1.100 (1.090–1.120) faster | 0.990 (0.970–1.020) inconclusive "
        "| 0.910 (0.900–0.920) slower |",
        "| h1 | 128×768×4096 | – | 1.000 (0.999–1.001) same | – |",
        "| h2 | 8×4096×512 | 1.300 (1.300–1.300) faster | – | – |",
    ]
    assert summary == "5 comparisons (5 paired): 2 faster, 1 slower, 1 same, 1 inconclusive"
    rows += _rounds([1.05, 1.06, 1.04], m=8, n=4096, k=512, dtype="float64", host="h2")  # measured apart
    _write(tmp_path / "u.csv", rows)
    assert main(["compare", str(tmp_path / "u.csv"), "--markdown"]) == 0
    out = capsys.readouterr().out
    row = "| h2 | 8×4096×512 | 1.300 (1.300–1.300) faster, paired | 1.050 (1.040–1.060) inconclusive, apart | – |"
    assert row in out
    _write(tmp_path / "w.csv", _rounds([1.1] * 3, workload="decode | qkv") + _rounds([1.2] * 3))
    assert main(["compare", str(tmp_path / "w.csv"), "--markdown"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert table == [  # the same shape twice, told apart by its workload, whose pipe does not split a cell
        "| workload | shape | float32 1 thread |",
        "| decode \\| qkv | 4×5×6 | 1.100 (1.100–1.100) faster |",
        "|  | 4×5×6 | 1.200 (1.200–1.200) faster |",
    ]


def test_goal_lists_every_comparison_under_it_with_its_verdict(tmp_path, capsys):
    """A median exactly at the goal meets it; one a hair under is listed, worst first, with the verdict that
    says whether the rounds show a miss (slower) or cannot tell (inconclusive); dtypes the goal omits are not
    judged."""
    rows = []
    for (m, n, k), dtype, ratios in [
        ((8, 64, 64), "float32", [0.98, 0.98, 0.98]),  # at the goal
        ((16, 64, 64), "float32", [0.97, 0.90, 1.04, 0.99, 0.95]),  # under it, rounds cannot tell
        ((8, 64, 64), "float64", [0.999, 0.999, 0.999]),  # a hair under, within the threshold
        ((16, 64, 64), "float64", [0.90, 0.91, 0.92, 0.90, 0.91]),  # slower
        ((32, 64, 64), "float64", [1.2, 1.2, 1.2]),
        ((8, 64, 64), "float16", [0.5, 0.5, 0.5]),  # not named by the goal
    ]:
        rows += _rounds(ratios, base=1.0, m=m, n=n, k=k, dtype=dtype)
    _write(tmp_path / "g.csv", rows)
    assert main(["compare", str(tmp_path / "g.csv"), "--goal", "float32=0.98, float64=1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    head = out.index("goal (float32 0.98, float64 1): 3 of 5 comparisons under it (1 slower, 1 same, 1 inconclusive)")
    assert out[head + 1 :] == [
        "  numba 16x64x64 float64 NN hot 1 thread: 0.910 (0.900–0.920) slower",
        "  numba 16x64x64 float32 NN hot 1 thread: 0.970 (0.900–1.040) inconclusive",
        "  numba 8x64x64 float64 NN hot 1 thread: 0.999 (0.999–0.999) same",
    ]
    for text in ("float64=1,0.98", "0.98,float64=1"):  # a bare number fills in the dtypes not named, wherever it is
        assert parse_goal(text) == {"float16": 0.98, "bfloat16": 0.98, "float32": 0.98, "float64": 1.0}
    assert main(["compare", str(tmp_path / "g.csv"), "--goal", "0.4"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "goal (float16 0.4, float32 0.4, float64 0.4): 0 of 6 comparisons under it"


def test_flagged_rows_are_named(tmp_path):
    rows = _rounds([1.10, 1.12, 1.09])
    rows[1] = make_row(run_id="r0", timestamp=rows[1].timestamp, backend="numba", gflops=110.0, noise="noisy (IQR 12%)")
    _write(tmp_path / "n.csv", rows)
    assert "flagged rows" in compare([tmp_path / "n.csv"], "numpy")[0].note


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--baseline", "mkl"], "no ok rows share a case with baseline 'mkl'"),
        (["--alpha", "nan"], "--alpha must be between 0 and 0.5"),
        (["--alpha", "0"], "--alpha must be between 0 and 0.5"),
        (["--threshold", "-1"], "--threshold must be between 0 and 1"),
        (["--threshold", "x"], "--threshold 'x' is not a number"),
        (["--goal", "f32=0.98"], "--goal names dtype 'f32'; valid choices: float16, bfloat16, float32, float64"),
        (["--goal", "float32=0.98,float64=x"], "--goal 'float64=x': 'x' is not a number"),
        (["--goal", "float64=nan"], "a ratio must be a positive number"),
        (["--goal", "0"], "a ratio must be a positive number"),
        (["--goal", "float32=1,float32=0.9"], "--goal gives float32 twice"),
        (["--goal", "0.9,float64=1,0.95"], "--goal gives a bare number twice"),
    ],
)
def test_compare_usage_errors(tmp_path, capsys, argv, fragment):
    _write(tmp_path / "r.csv", [make_row(backend="numpy")])
    with pytest.raises(SystemExit) if argv[0] != "--baseline" else _nothing():
        assert main(["compare", str(tmp_path / "r.csv"), *argv]) == 2
    assert fragment in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_foreign_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("x,y\n")
    assert main(["compare", str(tmp_path / "bad.csv")]) == 2
