import math

import numpy as np
import pytest

from gemmbench import verify as V
from gemmbench.buffers import ALIGN, is_aligned
from gemmbench.case import GemmCase
from gemmbench.kernels.numpy_gemm import NumpyGemm
from gemmbench.session import _clone
from gemmbench.verify import make_operands, tolerance, verify


def test_operands_seeded_normal_and_layout():
    case = GemmCase(5, 7, 3, "float32", "TT")
    ops = make_operands(case, seed=1)
    assert ops.a.shape == (5, 3) and ops.b.shape == (3, 7)
    assert ops.a.T.flags.c_contiguous and ops.b.T.flags.c_contiguous  # stored transposed
    again = make_operands(case, seed=1)
    assert np.array_equal(ops.a, again.a)
    assert not np.any(ops.a == 0)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_exact_product_passes_and_perturbed_fails(dtype):
    case = GemmCase(33, 17, 65, dtype)
    ops = make_operands(case)
    c = np.matmul(ops.a, ops.b)
    assert verify(case, ops, c).ok
    bad = c.copy()
    scale = float((np.abs(ops.a.astype(float)) @ np.abs(ops.b.astype(float))).max())
    bad[3, 4] += np.asarray(4 * tolerance(case) * scale, dtype=c.dtype)  # a few tolerances off
    assert not verify(case, ops, bad).ok


def test_nan_and_shape_are_wrong():
    case = GemmCase(4, 4, 4)
    ops = make_operands(case)
    c = np.matmul(ops.a, ops.b)
    c[0, 0] = np.nan
    assert not verify(case, ops, c).ok
    assert "shape" in verify(case, ops, c[:3]).method


def test_tolerance_grows_with_sqrt_k():
    assert tolerance(GemmCase(1, 1, 100, "float32")) == pytest.approx(2.0**-23 * (2 + 40))
    assert tolerance(GemmCase(1, 1, 400)) > tolerance(GemmCase(1, 1, 100))


def test_sampled_mode_catches_a_wrong_row(monkeypatch):
    monkeypatch.setattr(V, "FULL_CHECK_MAX_MNK", 10)
    case = GemmCase(200, 150, 20, "float64")
    ops = make_operands(case)
    c = ops.a @ ops.b
    v = verify(case, ops, c)
    assert v.ok and v.method.startswith("sampled")
    c[-1] = 0.0  # last row always sampled
    assert not verify(case, ops, c).ok
    assert math.isfinite(verify(case, ops, c).max_error)


@pytest.mark.parametrize("trans", ["NN", "NT", "TN", "TT"])
def test_operands_and_their_clones_are_page_aligned(trans):
    """Where malloc puts an operand changes GEMM speed (row segments split across cache lines):
    operands, cold-cache clones and the CPU backends' outputs all start on a page."""
    case = GemmCase(33, 65, 17, "float32", trans)
    ops = make_operands(case, seed=3)
    clone = _clone(ops)
    for x, y in [(ops.a, clone.a), (ops.b, clone.b)]:
        assert is_aligned(x) and is_aligned(y)
        assert x.flags.c_contiguous == y.flags.c_contiguous and x.flags.f_contiguous == y.flags.f_contiguous
        np.testing.assert_array_equal(x, y)
    assert ops.a.flags.f_contiguous == (trans[0] == "T") and ops.b.flags.f_contiguous == (trans[1] == "T")
    legacy = np.random.default_rng(3).standard_normal((17, 33) if trans[0] == "T" else (33, 17), dtype=np.float32)
    np.testing.assert_array_equal(ops.a.T if trans[0] == "T" else ops.a, legacy)  # same values as before alignment
    assert is_aligned(NumpyGemm().prepare(case, ops).output)
    assert ALIGN % 64 == 0
