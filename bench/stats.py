"""Summary statistics of timing samples and the noise verdict each result carries.

Timing distributions are skewed (interrupts, frequency changes only ever make a
call slower), so the headline is the median with its IQR, the minimum is kept
as "best seen", and mean/stddev are reported only for completeness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NOISY_REL_IQR", "Summary", "median_ci_halfwidth", "noise_verdict", "summarize"]

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


def median_ci_halfwidth(samples: Sequence[float], z: float = 1.96) -> float:
    """Half-width of a distribution-free ~95 % confidence interval of the median, relative to it.

    Uses the binomial order-statistic interval: ranks n/2 -+ z*sqrt(n)/2 of the sorted samples.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size
    if n < 2:
        return math.inf
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half) - 1)
    med = float(np.median(x))
    return (x[hi] - x[lo]) / 2 / med if med > 0 else math.inf


def _bimodal(x: np.ndarray, median: float) -> bool:
    if x.size < 10 or median <= 0:
        return False
    x = np.sort(x)
    gaps = np.diff(x)
    i = int(np.argmax(gaps))
    share = min(i + 1, x.size - i - 1) / x.size
    return gaps[i] > BIMODAL_GAP * median and share >= BIMODAL_MIN_SHARE


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
