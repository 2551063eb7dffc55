"""Roofline maths: attainable throughput and fraction of peak, from ceilings and intensity.

Attainable(I) = min(peak, bandwidth x I). With the compulsory-bytes intensity (an upper
bound on the real FLOP/byte), the bandwidth roof here is optimistic for memory-bound
cases: a result near it is already at the memory limit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RoofPoint", "attainable_gflops", "place", "ridge_intensity"]


def attainable_gflops(intensity: float, peak_gflops: float | None, bandwidth_gbs: float | None) -> float | None:
    """min(peak, bandwidth x intensity); either roof may be unknown (None)."""
    roofs = [r for r in (peak_gflops, None if bandwidth_gbs is None else bandwidth_gbs * intensity) if r is not None]
    return min(roofs) if roofs else None


def ridge_intensity(peak_gflops: float, bandwidth_gbs: float) -> float:
    """FLOP/byte where the bandwidth slope meets the compute roof."""
    return peak_gflops / bandwidth_gbs


@dataclass(frozen=True)
class RoofPoint:
    peak_gflops: float | None
    roof_gflops: float | None
    pct_peak: float | None
    pct_roof: float | None


def place(gflops: float | None, intensity: float, peak_gflops: float | None, bandwidth_gbs: float | None) -> RoofPoint:
    """Where a result sits: % of the compute peak and % of the attainable roof at its intensity."""
    roof = attainable_gflops(intensity, peak_gflops, bandwidth_gbs)

    def pct(ref: float | None) -> float | None:
        return None if gflops is None or not ref else 100.0 * gflops / ref

    return RoofPoint(peak_gflops, roof, pct(peak_gflops), pct(roof))
