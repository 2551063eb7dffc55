import math

import pytest

from gemmbench.stats import median_ci_halfwidth, noise_verdict, summarize


def test_summary_literal_values():
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.n, s.median, s.q1, s.q3, s.min, s.max, s.mean) == (5, 3.0, 2.0, 4.0, 1.0, 5.0, 3.0)
    assert s.iqr == 2.0
    assert s.rel_iqr == pytest.approx(2 / 3)
    assert s.stddev == pytest.approx(math.sqrt(2.5))


def test_summary_interpolates_quartiles():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert (s.q1, s.median, s.q3) == (1.75, 2.5, 3.25)


def test_summary_single_sample_and_empty():
    assert summarize([2.0]).stddev == 0.0
    with pytest.raises(ValueError, match="zero samples"):
        summarize([])


def test_median_ci_halfwidth_literal():
    # n = 10: P(B <= 1) = 11/1024 <= 2.5 % < P(B <= 2) -> sorted[1] and sorted[8]
    x = [float(v) for v in range(1, 11)]
    assert median_ci_halfwidth(x) == pytest.approx((9 - 2) / 2 / 5.5)
    assert median_ci_halfwidth([1.0]) == math.inf
    # n = 21: ranks 5 and 15 (coverage 97.3 %), not 6 and 14 (92.2 %)
    x = [float(v) for v in range(21)]
    assert median_ci_halfwidth(x) == pytest.approx((15 - 5) / 2 / 10)


def test_noise_verdicts():
    assert noise_verdict([1.0, 1.01, 0.99, 1.0, 1.0]) == "ok"
    assert noise_verdict([1.0, 1.5, 0.7, 1.3, 0.8]).startswith("noisy (IQR")
    bimodal = [1.0] * 10 + [1.5] * 10
    assert "bimodal" in noise_verdict(bimodal)
    assert "outliers (worst 3.0x best)" in noise_verdict([1.0] * 20 + [3.0])


def test_bimodal_is_seen_behind_a_tail_sample():
    """The widest gap overall is the tail sample's; the two modes must still be found."""
    samples = [1.0] * 10 + [1.3] * 10 + [3.0]
    assert "bimodal" in noise_verdict(samples)
    assert "bimodal" not in noise_verdict([1.0] * 20 + [3.0])
