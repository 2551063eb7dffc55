"""Batched GEMM (attention heads, grouped experts): one call, many independent products, each verified."""

import numpy as np
import pytest

from gemmbench.case import CaseError, GemmCase
from gemmbench.cli import main
from gemmbench.kernels.numba_gemm import NumbaGemm
from gemmbench.kernels.numpy_gemm import NumpyGemm
from gemmbench.result import read_results
from gemmbench.sweep import RunOptions, run
from gemmbench.testing import FAST_POLICY, check_kernel
from gemmbench.verify import make_operands, verify


def test_a_batched_case_counts_every_product():
    one, eight = GemmCase(16, 32, 8), GemmCase(16, 32, 8, batch=8)
    assert eight.flops == 8 * one.flops and eight.bytes == 8 * one.bytes and eight.intensity == one.intensity
    assert eight.label == "16x32x8@8" and eight.c_shape == (8, 16, 32) and one.c_shape == (16, 32)
    with pytest.raises(CaseError, match="batch must be an integer >= 1"):
        GemmCase(1, 1, 1, batch=0)


@pytest.mark.parametrize("trans", ["NN", "NT", "TN", "TT"])
def test_batched_operands_keep_each_matrix_in_its_storage_order(trans):
    case = GemmCase(5, 7, 3, "float32", trans, batch=4)
    ops = make_operands(case)
    assert ops.a.shape == (4, 5, 3) and ops.b.shape == (4, 3, 7)
    assert np.swapaxes(ops.a, -1, -2).flags.c_contiguous == (trans[0] == "T")
    assert np.swapaxes(ops.b, -1, -2).flags.c_contiguous == (trans[1] == "T")


def test_one_wrong_product_of_a_batch_is_found_and_named():
    case = GemmCase(24, 20, 64, "float32", batch=6)
    ops = make_operands(case)
    c = np.matmul(ops.a, ops.b)
    assert verify(case, ops, c).ok
    c[3] = np.matmul(ops.a[3][:, 1:], ops.b[3][1:])  # the fourth product misses one term
    v = verify(case, ops, c)
    assert not v.ok and v.detail.startswith("batch 3, entry")
    assert not verify(case, ops, c[:5]).ok  # a missing product is a shape error


def test_numpy_runs_batched_cases_and_numba_skips_them_with_a_reason(tmp_path):
    cases = [
        GemmCase(m, n, k, "float32", t, batch=b)
        for (m, n, k, b) in [(33, 17, 64, 3), (7, 5, 2, 12)]
        for t in ("NN", "TT")
    ]
    rows = check_kernel(NumpyGemm, cases)
    assert {r.status for r in rows} == {"ok"} and {r.batch for r in rows} == {3, 12}
    (row,) = run(
        [GemmCase(8, 8, 8, batch=4)],
        backends=["numba"],
        ceilings=[],
        output=tmp_path / "r.csv",
        options=RunOptions(threads=(1,), policy=FAST_POLICY, isolate=False),
    )
    assert row.status == "skipped" and "batched cases (8x8x8@4) are skipped" in row.reason
    assert NumbaGemm().supports(GemmCase(8, 8, 8)) is None


def test_batched_shapes_from_the_command_line_round_trip_through_the_csv(tmp_path):
    out = tmp_path / "r.csv"
    common = f"run -b numpy -d float32 -j 1 --max-time 0.05 -o {out}".split()
    assert main([*common, "--shape", "16x16x8@4", "--shape", "16x16x8"]) == 0
    rows = read_results(out)
    assert [(r.batch, r.status) for r in rows] == [(4, "ok"), (1, "ok")]
    assert rows[0].flops == 4 * rows[1].flops and rows[0].key != rows[1].key
    assert main([*common, "--shape", "16x16x8@4", "--resume"]) == 0
    assert len(read_results(out)) == 2  # the batched row counts as done


@pytest.mark.parametrize("text", ["16x16x8@0", "16x16x8@", "16x16x8@x"])
def test_bad_batch_is_one_line(capsys, text):
    with pytest.raises(SystemExit):
        main(["run", "--shape", text])
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ("batch" in err or "bad shape" in err), err
