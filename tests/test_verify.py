import numpy as np
import pytest

from gemmbench import verify as V
from gemmbench.buffers import ALIGN, is_aligned
from gemmbench.case import GemmCase
from gemmbench.kernels.numpy_gemm import NumpyGemm
from gemmbench.session import _clone
from gemmbench.verify import make_operands, verify


def test_operands_seeded_normal_and_layout():
    case = GemmCase(5, 7, 3, "float32", "TT")
    ops = make_operands(case, seed=1)
    assert ops.a.shape == (5, 3) and ops.b.shape == (3, 7)
    assert ops.a.T.flags.c_contiguous and ops.b.T.flags.c_contiguous  # stored transposed
    again = make_operands(case, seed=1)
    assert np.array_equal(ops.a, again.a)
    assert not np.any(ops.a == 0)


#: The largest k the suite runs by default (gemmbench run's default sizes end at 2048).
LARGEST_K = 2048


def _product(ops, a=None, b=None):
    """The product in the case's dtype, as a kernel storing C in that dtype would return it."""
    a = ops.a if a is None else a
    b = ops.b if b is None else b
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(ops.a.dtype)


def _adversaries(ops):
    c = _product(ops)
    tile = c.copy()
    tile[6:12, 16:32] = _product(ops, ops.a[6:12, 1:], ops.b[1:, 16:32])  # one 6x16 micro-tile misses one term
    out = {
        "C = 0": np.zeros_like(c),
        "one k-panel missing": _product(ops, ops.a[:, 256:], ops.b[256:]),
        "one micro-tile wrong": tile,
        "accumulated twice": (2 * c.astype(np.float64)).astype(c.dtype),
    }
    if c.dtype == np.float32:
        out["C + 1e-3"] = c + np.float32(1e-3)
    return out


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_planted_wrong_results_fail_for_every_dtype_at_the_largest_k(dtype):
    """A normwise bound let C = 0 pass for bfloat16 from k = 192 and C + 1e-3 for float32 from k = 256."""
    case = GemmCase(64, 64, LARGEST_K, dtype)
    ops = make_operands(case)
    assert verify(case, ops, _product(ops)).ok
    for name, bad in _adversaries(ops).items():
        v = verify(case, ops, bad)
        assert not v.ok, (name, v)
        assert v.max_error > 1.4, (name, v)  # not marginal


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_correct_results_sit_inside_their_bound(dtype):
    for seed, (m, n, k) in enumerate([(1, 1, 1), (7, 13, 5), (33, 17, 2048), (64, 3, 4096), (100, 90, 300)]):
        case = GemmCase(m, n, k, dtype)
        ops = make_operands(case, seed)
        v = verify(case, ops, np.matmul(ops.a, ops.b, out=np.empty((m, n), ops.a.dtype)))
        assert v.ok and v.max_error < 1.0, (case, v)


def test_lower_compute_precision_widens_the_bound_and_still_catches_errors():
    """float32 run as float16 (Ascend 910A/310P): inputs rounded to float16 first."""
    case = GemmCase(48, 40, LARGEST_K, "float32")
    ops = make_operands(case)
    half = _product(ops, ops.a.astype(np.float16), ops.b.astype(np.float16))
    assert not verify(case, ops, half).ok  # not float32 accuracy
    assert verify(case, ops, half, compute_dtype="float16").ok
    assert str(V.Precision.of(case, "float16")) == "inputs float16, sums float32, output float32"
    assert not verify(case, ops, np.zeros_like(half), compute_dtype="float16").ok


def test_nan_and_shape_are_wrong():
    case = GemmCase(4, 4, 4)
    ops = make_operands(case)
    c = np.matmul(ops.a, ops.b)
    c[0, 0] = np.nan
    assert not verify(case, ops, c).ok
    assert "shape" in verify(case, ops, c[:3]).method


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_freivalds_covers_every_entry_above_the_full_check(monkeypatch, dtype):
    """Fixed sampled rows and columns left about half the micro-tiles of 2048^2 unchecked."""
    monkeypatch.setattr(V, "FULL_CHECK_MAX_MNK", 10)
    monkeypatch.setattr(V, "SPOT_LINES", 2)
    case = GemmCase(300, 200, 512, dtype)
    ops = make_operands(case)
    c = _product(ops)
    good = verify(case, ops, c)
    assert good.ok and good.method.startswith("freivalds:4+spot:2 seed=")
    drop = 128 if dtype == "bfloat16" else 8  # 16-bit output: Freivalds resolves only larger errors
    for i in range(0, 300, 37):  # a wrong tile anywhere, whichever spot lines were drawn
        bad = c.copy()
        bad[i : i + 6, 50:66] = _product(ops, ops.a[i : i + 6, drop:], ops.b[drop:, 50:66])
        v = verify(case, ops, bad)
        assert not v.ok, (i, v)
    c[-1] = 0.0
    assert not verify(case, ops, c).ok


def test_verification_seed_is_fresh_and_recorded(monkeypatch):
    monkeypatch.setattr(V, "FULL_CHECK_MAX_MNK", 10)
    case = GemmCase(40, 30, 20)
    ops = make_operands(case)
    c = _product(ops)
    seeds = {verify(case, ops, c).method.split("seed=")[1] for _ in range(5)}
    assert len(seeds) > 1
    assert verify(case, ops, c, seed=7).method.endswith("seed=7")


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
