import json

import pytest

from gemmbench.case import GemmCase
from gemmbench.registry import Registry, discover
from gemmbench.result import read_results
from gemmbench.store import sidecar_path
from gemmbench.sweep import RunOptions, run
from gemmbench.testing import FAST_POLICY, PLANTED

CASES = [GemmCase(9, 7, 5), GemmCase(6, 4, 13), GemmCase(16, 16, 16, "float64", "TN")]


def _registry():
    reg = discover("")
    for cls in PLANTED:
        reg.add(cls, "gemmbench.testing", "gemmbench.testing")
    return reg


def _run(tmp_path, backend, isolate, cases=CASES, **kw):
    options = RunOptions(threads=(1,), policy=FAST_POLICY, isolate=isolate, **kw)
    return run(cases, backends=[backend], options=options, output=tmp_path / "r.csv", registry=_registry())


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "worker"])
def test_numpy_rows_ok_and_written(tmp_path, isolate):
    rows = _run(tmp_path, "numpy", isolate)
    assert [r.status for r in rows] == ["ok"] * 3
    assert read_results(tmp_path / "r.csv") == rows
    r = rows[0]
    assert r.gflops == pytest.approx(r.flops / r.median_s / 1e9)
    assert r.first_call_s > 0 and r.prepare_s >= 0 and r.n_samples >= 3 and r.inner_loops >= 1
    assert r.verified == "full" and r.max_error <= r.tolerance
    assert json.loads(r.facts)["blas_threads"] == "1"
    assert "numpy" in json.loads(r.libs) and r.blas
    side = [json.loads(line) for line in sidecar_path(tmp_path / "r.csv").read_text().splitlines()]
    assert len(side) == 3 and len(side[0]["samples_s"]) == r.n_samples


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "worker"])
@pytest.mark.parametrize("backend", ["test-wrong", "test-accumulate", "test-offset", "test-once"])
def test_planted_wrong_kernels_are_flagged(tmp_path, backend, isolate):
    rows = _run(tmp_path, backend, isolate)
    assert {r.status for r in rows} == {"wrong"}
    assert "x its bound; full check" in rows[0].reason and "error" in rows[0].reason
    assert all(r.gflops is None for r in rows)  # a wrong result never charts as fast


def test_raising_kernel_is_an_error_row_and_sweep_continues(tmp_path):
    rows = _run(tmp_path, "test-raise", isolate=True)
    assert [r.status for r in rows] == ["ok", "error", "error"]
    assert rows[1].reason == "RuntimeError: planted failure for k > 8"


def test_worker_crash_costs_one_case(tmp_path):
    rows = _run(tmp_path, "test-crash", isolate=True)
    assert [r.status for r in rows] == ["ok", "error", "ok"]
    assert "worker killed by SIGABRT" in rows[1].reason
    assert [r.m for r in read_results(tmp_path / "r.csv")] == [9, 6, 16]


def test_hanging_worker_is_killed_at_timeout(tmp_path):
    rows = _run(tmp_path, "test-hang", isolate=True, case_timeout_s=3)
    assert [r.status for r in rows] == ["ok", "error", "ok"]
    assert rows[1].reason == "timed out after 3 s (worker killed)"


def test_unavailable_backend_gives_skipped_rows(tmp_path):
    rows = _run(tmp_path, "test-unavailable", isolate=True)
    assert {r.status for r in rows} == {"skipped"}
    assert rows[0].reason == "test-unavailable unavailable: planted: library not installed"


def test_unsupported_dtype_is_skipped_with_reason(tmp_path):
    rows = _run(tmp_path, "test-wrong", isolate=False, cases=[GemmCase(2, 2, 2, "float16")])
    assert rows[0].status == "skipped"
    assert rows[0].reason == "test-wrong does not support float16 (supports float32, float64)"


def test_worker_setup_failure_marks_every_case(tmp_path):
    reg = Registry()
    from gemmbench.registry import Entry
    from gemmbench.testing import PlantedWrong

    reg.entries["ghost"] = Entry("ghost", PlantedWrong, "test", "no_such_module_anywhere")
    rows = run(
        CASES[:2],
        backends=["ghost"],
        options=RunOptions(threads=(1,), policy=FAST_POLICY),
        output=tmp_path / "g.csv",
        registry=reg,
    )
    assert [r.status for r in rows] == ["error", "error"]
    assert "backend setup failed: ModuleNotFoundError" in rows[0].reason


def test_resume_skips_finished_rows_and_keeps_run_id(tmp_path):
    first = _run(tmp_path, "numpy", isolate=False, cases=CASES[:1])
    options = RunOptions(threads=(1,), policy=FAST_POLICY, isolate=False)
    second = run(
        CASES, backends=["numpy"], options=options, output=tmp_path / "r.csv", resume=True, registry=_registry()
    )
    assert [r.m for r in second] == [6, 16]
    assert {r.run_id for r in second} == {first[0].run_id}
    assert len(read_results(tmp_path / "r.csv")) == 3


def test_cold_mode_rotates_copies(tmp_path):
    rows = _run(tmp_path, "numpy", isolate=False, cases=[GemmCase(64, 64, 64)], modes=("hot", "cold"))
    hot, cold = rows
    assert (hot.cache_mode, hot.copies) == ("hot", 1)
    assert cold.cache_mode == "cold" and cold.copies * GemmCase(64, 64, 64).bytes > 2 * 1024 * 1024
    assert cold.status == "ok"


def test_too_large_case_is_skipped_before_allocating(tmp_path):
    rows = _run(tmp_path, "numpy", isolate=False, cases=[GemmCase(10**6, 10**6, 10**6)])
    assert rows[0].status == "skipped"
    assert "GiB of host memory" in rows[0].reason and "choose smaller sizes" in rows[0].reason


def test_options_validation():
    with pytest.raises(ValueError, match="unknown cache mode 'warm'; valid choices: hot, cold"):
        RunOptions(modes=("warm",))
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        RunOptions(threads=(999,))


def test_interleave_alternates_backends_case_by_case(tmp_path):
    options = RunOptions(threads=(1,), policy=FAST_POLICY, interleave=True)
    rows = run(
        CASES[:2], backends=["numpy", "test-wrong"], options=options, output=tmp_path / "i.csv", registry=_registry()
    )
    assert [(r.backend, r.m) for r in rows] == [("numpy", 9), ("test-wrong", 9), ("numpy", 6), ("test-wrong", 6)]


def test_a_cold_set_that_fits_in_cache_says_so(tmp_path):
    """8^3 float32: 4096 copies are 3 MiB, less than twice the last-level cache: 'cold' is not cold."""
    (row,) = _run(tmp_path, "numpy", isolate=False, cases=[GemmCase(8, 8, 8)], modes=("cold",))
    assert "partly cache-resident" in row.noise and row.flagged
    assert int(json.loads(row.facts)["cold_bytes"]) == row.copies * GemmCase(8, 8, 8).bytes
