"""Summary statistics of timing samples and the noise verdict each result carries.

Timing distributions are skewed (interrupts, frequency changes only ever make a
call slower), so the headline is the median with its IQR, the minimum is kept
as "best seen", and mean/stddev are reported only for completeness.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NOISY_REL_IQR", "Summary", "median_ci_halfwidth", "median_ci_ranks", "noise_verdict", "summarize"]

#: Relative IQR above which a result is flagged noisy (docs/architecture.md, "Measurement rules").
NOISY_REL_IQR = 0.10
#: A worst/best ratio above this flags outliers (a descheduled or throttled sample).
OUTLIER_RATIO = 2.0
#: A gap in the sorted samples wider than this fraction of the median, with at least
#: BIMODAL_MIN_SHARE of the samples on each side, is read as two modes.
BIMODAL_GAP = 0.10
BIMODAL_MIN_SHARE = 0.2


@dataclass(frozen=True)
class Summary:
    """Order statistics and moments of per-call times, in seconds."""

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float
    mean: float
    stddev: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def rel_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else math.inf


def summarize(samples: Sequence[float]) -> Summary:
    """Summarise samples; quartiles use linear interpolation (NumPy's default)."""
    if len(samples) == 0:
        raise ValueError("cannot summarise zero samples")
    x = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return Summary(int(x.size), float(med), float(q1), float(q3), float(x.min()), float(x.max()), float(x.mean()), std)


@functools.cache
def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """0-based ranks (lo, hi) of the sorted samples bounding a distribution-free CI of the median.

    Exact: the number of samples below the median is Binomial(n, 1/2), so [x_(j), x_(n-1-j)]
    covers the median with probability 1 - 2 P(B <= j); the largest j keeping that >= ``confidence``
    is taken (never rounded inward). None when even [min, max] is not enough (n < 6 at 95 %).
    """
    tail, j, cdf = (1 - confidence) / 2, -1, 0.0
    while True:
        cdf += math.comb(n, j + 1) / 2.0**n  # P(B <= j + 1)
        if cdf > tail:
            break
        j += 1
    return (j, n - 1 - j) if j >= 0 else None


def median_ci_halfwidth(samples: Sequence[float], confidence: float = 0.95) -> float:
    """Half-width of the exact distribution-free CI of the median (``median_ci_ranks``), relative to it."""
    x = np.sort(np.asarray(samples, dtype=np.float64))
    ranks = median_ci_ranks(x.size, confidence)
    med = float(np.median(x)) if x.size else 0.0
    if ranks is None or med <= 0:
        return math.inf
    lo, hi = ranks
    return float(x[hi] - x[lo]) / 2 / med


def _bimodal(x: np.ndarray, median: float) -> bool:
    """A gap wider than BIMODAL_GAP x median between two groups each holding >= BIMODAL_MIN_SHARE of
    the samples. Only such gaps are looked at: the widest gap overall is often one tail sample's, and
    would hide two real modes behind it."""
    if x.size < 10 or median <= 0:
        return False
    x = np.sort(x)
    least = math.ceil(BIMODAL_MIN_SHARE * x.size)  # samples on each side of gap i: i + 1 and n - i - 1
    gaps = np.diff(x)[least - 1 : x.size - least]
    return gaps.size > 0 and float(gaps.max()) > BIMODAL_GAP * median


def noise_verdict(samples: Sequence[float], summary: Summary | None = None) -> str:
    """ "ok", or a ';'-joined list of reasons not to trust the median blindly (``summary``: of ``samples``)."""
    s = summary or summarize(samples)
    flags = []
    if s.rel_iqr > NOISY_REL_IQR:
        flags.append(f"noisy (IQR {100 * s.rel_iqr:.0f}% of median)")
    if _bimodal(np.asarray(samples, dtype=np.float64), s.median):
        flags.append("bimodal")
    if s.min > 0 and s.max / s.min > OUTLIER_RATIO:
        flags.append(f"outliers (worst {s.max / s.min:.1f}x best)")
    return "; ".join(flags) or "ok"
