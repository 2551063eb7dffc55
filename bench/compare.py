"""Compare backends from results CSVs: GFLOP/s ratios with a significance verdict per case.

A difference is called only when it is both significant and large (DESIGN.md section 4,
rule 13): a two-sided Mann-Whitney U test on the raw per-call samples (from the
``.samples.jsonl`` sidecar) at ``alpha``, and a ratio outside 1 -+ ``threshold``.
Anything else is "same" (significant but small) or "ambiguous" (not significant).
Reads CSV and sidecar files only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .result import Measurement, read_results, sidecar_path

__all__ = ["mann_whitney_p", "Comparison", "compare", "format_table", "load_samples"]


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return math.nan
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks, i, ties = [0.0] * len(pooled), 0, 0.0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for t in range(i, j + 1):
            ranks[t] = (i + j) / 2 + 1
        size = j - i + 1
        ties += size**3 - size
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return math.erfc(max(z, 0.0) / math.sqrt(2))


@dataclass(frozen=True)
class Comparison:
    case: str
    threads: int
    mode: str
    base: Measurement
    other: Measurement
    ratio: float
    p_value: float
    verdict: str


def load_samples(csv_path: Path) -> dict[tuple, list[float]]:
    """Raw samples by (run_id, row key) from a CSV's sidecar (empty if there is none)."""
    side = sidecar_path(csv_path)
    out: dict[tuple, list[float]] = {}
    if side.exists():
        for line in side.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a truncated last line
            out[(rec["run_id"], tuple(rec["key"]))] = rec["samples_s"]
    return out


def _verdict(ratio: float, p: float, alpha: float, threshold: float) -> str:
    if math.isnan(p) or p >= alpha:
        return "ambiguous"
    if abs(ratio - 1) <= threshold:
        return "same"
    return "faster" if ratio > 1 else "slower"


def compare(csvs: Iterable[Path | str], baseline: str, alpha: float = 0.01, threshold: float = 0.02
            ) -> list[Comparison]:
    """Each non-baseline ok row against the baseline's ok row for the same host, case, mode, threads."""
    rows: list[Measurement] = []
    samples: dict[tuple, list[float]] = {}
    for p in map(Path, csvs):
        rows += read_results(p)
        samples.update(load_samples(p))
    latest = {(r.host, r.key): r for r in rows if r.status == "ok" and r.gflops}

    def where(r: Measurement) -> tuple:
        return (r.host, r.m, r.n, r.k, r.dtype, r.trans, r.cache_mode, r.threads)

    base = {where(r): r for r in latest.values() if r.backend == baseline}
    out = []
    for r in latest.values():
        b = base.get(where(r))
        if r.backend == baseline or b is None:
            continue
        ratio = r.gflops / b.gflops
        p = mann_whitney_p(samples.get((r.run_id, r.key), []), samples.get((b.run_id, b.key), []))
        out.append(Comparison(f"{r.m}x{r.n}x{r.k} {r.dtype} {r.trans}", r.threads, r.cache_mode, b, r, ratio, p,
                              _verdict(ratio, p, alpha, threshold)))
    return out


def format_table(comparisons: Sequence[Comparison], baseline: str) -> str:
    head = (f"{'case':<26} {'thr':>3} {'mode':<4} {baseline + ' GF/s':>12} {'backend':<12} {'GF/s':>8} "
            f"{'ratio':>6}  verdict")
    lines = [head]
    for c in comparisons:
        p = "n/a" if math.isnan(c.p_value) else f"p={c.p_value:.1g}"
        lines.append(f"{c.case:<26} {c.threads:>3} {c.mode:<4} {c.base.gflops:>12.1f} {c.other.backend:<12} "
                     f"{c.other.gflops:>8.1f} {c.ratio:>6.3f}  {c.verdict} ({p})")
    return "\n".join(lines)
