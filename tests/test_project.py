"""run --workload and project: from a catalogue workload to measured rows to a step time and MFU bound."""

import pytest

from gemmbench.case import GemmCase
from gemmbench.cli import main
from gemmbench.commands.project import project_rows, project_spec
from gemmbench.result import ResultWriter, read_results
from gemmbench.specs import find_spec
from gemmbench.workloads.catalogue import find_workload, workload_jobs
from gemmbench.workloads.model import load_model
from tests_support import make_row

SMALL = ["--workload", "openpangu-embedded-1b:train", "--tokens", "4", "--seq", "4"]


def test_run_workload_measures_each_distinct_gemm_once_and_tags_the_rows(tmp_path):
    out = tmp_path / "w.csv"
    assert main(["run", *SMALL, "-b", "numpy", "-j", "1", "--max-time", "0.05", "-o", str(out)]) == 0
    rows = read_results(out)
    jobs = workload_jobs("openpangu-embedded-1b:train", "float32", tokens=4, seq=4)
    assert len(rows) == len(jobs) and {r.status for r in rows} == {"ok"}
    assert {r.workload for r in rows} == {"openpangu-embedded-1b:train tokens=4 tp=1 seq=4"}
    assert sum(r.count for r in rows) == sum(
        g.count for g in find_workload("openpangu-embedded-1b:train", tokens=4, seq=4)
    )
    assert any(r.batch == 12 for r in rows)  # the attention core, batched over heads
    assert main(["run", *SMALL, "-b", "numpy", "-j", "1", "--max-time", "0.05", "-o", str(out), "--resume"]) == 0
    assert len(read_results(out)) == len(rows)  # resume: nothing left to do
    projected = main(["project", str(out), *SMALL])
    assert projected == 0


def test_dry_run_lists_cases_and_estimates_without_measuring(tmp_path, capsys):
    dry = "run --workload llama3.1-405b:train --tokens 4096 -b numpy -j 1 --dry-run -o".split()
    assert main([*dry, str(tmp_path / "x.csv")]) == 0
    out = capsys.readouterr().out
    assert "lm_head wgrad" in out and "estimated" in out and " h) on this host" in out
    assert not (tmp_path / "x.csv").exists()
    hours = float(out.rsplit("(", 1)[1].split(" h)")[0])
    assert hours > 1  # the 405B train set at 4096 tokens needs hours on a CPU: said before starting


def _rows_for(gemms, seconds_per_flop, backend="numpy", skip=()):
    rows = []
    for g in gemms:
        if g.role in skip:
            continue
        case = GemmCase(g.m, g.n, g.k, "float32", g.trans, g.batch)
        rows.append(
            make_row(
                backend=backend,
                m=g.m,
                n=g.n,
                k=g.k,
                batch=g.batch,
                median_s=case.flops * seconds_per_flop,
                gflops=1 / seconds_per_flop / 1e9,
                peak_gflops=2e3,
            )
        )
    return rows


def test_projection_arithmetic_on_a_hand_made_csv(tmp_path, capsys):
    gemms = find_workload("llama3.1-8b:prefill", tokens=64, tp=2, seq=64)
    rate = 1e-12  # one second per TFLOP: every GEMM runs at 1 TFLOP/s
    path = tmp_path / "h.csv"
    with ResultWriter(path) as w:
        for row in _rows_for(gemms, rate, skip={"lm_head"}):
            w.write(row)
    (p,) = project_rows(read_results(path), gemms, "float32", str(path))
    measured = [g for g in gemms if g.role != "lm_head"]
    assert p.gemm_seconds == pytest.approx(sum(g.flops for g in measured) * rate)
    assert p.achieved_tflops == pytest.approx(1.0)
    assert p.missing == ["lm_head 64x64128x4096"]  # listed, not silently skipped
    model = load_model("llama3.1-8b").model_flops(64, 64, "prefill") / 2
    assert p.mfu(model, 2e3) == pytest.approx(model / p.gemm_seconds / 2e12)
    args = "--workload llama3.1-8b:prefill --tokens 64 --tp 2 --seq 64 -o".split()
    assert main(["project", str(path), *args, str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "missing on" in out and "lm_head 64x64128x4096" in out and "upper bound" in out
    assert (tmp_path / "p.csv").read_text().count("\n") == 2


def test_spec_bound_is_the_roofline_of_each_gemm():
    spec = find_spec("h200")
    gemms = find_workload("llama3.1-8b:decode", tokens=1, tp=1)
    p = project_spec(spec, gemms, "bfloat16")
    cases = [(g.count, GemmCase(g.m, g.n, g.k, "bfloat16", g.trans, g.batch)) for g in gemms]
    peak, bandwidth = spec.peaks["bfloat16"] * 1e12, spec.bandwidth_gbs * 1e9
    want = sum(count * max(c.flops / peak, c.bytes / bandwidth) for count, c in cases)
    assert p.gemm_seconds == pytest.approx(want) and p.source == "spec"
    assert p.gemm_seconds > sum(g.flops for g in gemms) / (spec.peaks["bfloat16"] * 1e12) * 10  # decode: memory-bound


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["project", "--workload", "llama3.1-8b"], "give results CSVs, --spec NAME, or both"),
        (["project", "--workload", "nope", "--spec", "h200"], "unknown workload 'nope'"),
        (["project", "--workload", "llama3.1-8b", "--spec", "tpu9"], "unknown spec 'tpu9'"),
        (
            ["project", "--workload", "llama3.1-8b", "--spec", "ascend-910b", "--spec-dtype", "float64"],
            "has no float64 peak on its spec sheet",
        ),
        (["run", "--workload", "llama3.1-8b", "-s", "64"], "--workload chooses the cases: drop --sizes/--shape"),
    ],
)
def test_usage_errors(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
