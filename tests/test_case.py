import pytest

from gemmbench.case import CaseError, GemmCase, dtype_eps, grid


def test_flops_bytes_intensity_literal():
    c = GemmCase(2, 3, 4, "float32")
    assert c.flops == 2 * 2 * 3 * 4 == 48
    assert c.bytes == 4 * (2 * 4 + 4 * 3 + 2 * 3) == 104
    assert c.intensity == pytest.approx(48 / 104)
    assert GemmCase(1024, 1024, 1024, "float64").intensity == pytest.approx(2 * 1024**3 / (8 * 3 * 1024**2))


def test_transpose_flags_and_label():
    c = GemmCase(5, 6, 7, "float16", "TN")
    assert (c.trans_a, c.trans_b) == (True, False)
    assert str(c) == "5x6x7 float16 TN"


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(m=0, n=1, k=1), "m must be an integer >= 1, got 0"),
        (dict(m=1, n=-3, k=1), "n must be an integer >= 1"),
        (dict(m=1, n=1, k=2.5), "k must be an integer >= 1"),
        (dict(m=1, n=1, k=True), "k must be an integer >= 1"),
        (
            dict(m=1, n=1, k=1, dtype="float8"),
            "unknown dtype 'float8'; valid choices: float16, bfloat16, float32, float64",
        ),
        (dict(m=1, n=1, k=1, trans="NX"), "unknown transpose 'NX'; valid choices: NN, NT, TN, TT"),
    ],
)
def test_invalid_fields_are_named(kwargs, fragment):
    with pytest.raises(CaseError, match=fragment.replace("(", r"\(")):
        GemmCase(**kwargs)


def test_frozen_and_eps():
    c = GemmCase(1, 1, 1)
    with pytest.raises(AttributeError):
        c.m = 2  # type: ignore[misc]
    assert dtype_eps("float32") == 2.0**-23
    assert dtype_eps("bfloat16") == 2.0**-7


def test_grid_order():
    cases = grid([(1, 2, 3), (4, 4, 4)], ["float32", "float64"], ["NN", "TT"])
    assert len(cases) == 8
    assert cases[0] == GemmCase(1, 2, 3, "float32", "NN")
    assert cases[-1] == GemmCase(4, 4, 4, "float64", "TT")
