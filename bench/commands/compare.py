"""Compare backends from results CSVs: GFLOP/s ratios with a significance verdict per case.

A difference is called only when it is both significant and large (docs/architecture.md,
"Measurement rules"): a two-sided Mann-Whitney U test on the raw per-call samples (from the
``.samples.jsonl`` sidecar) at ``alpha``, and a ratio outside 1 -+ ``threshold``.
Anything else is "same" (significant but small) or "ambiguous" (not significant).
Reads CSV and sidecar files only.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from ..errors import UsageError
from ..result import Measurement, latest_per_key, read_results
from ..store import sidecar_path

__all__ = ["Comparison", "compare", "format_table", "load_samples", "mann_whitney_p"]

NAME = "compare"
HELP = "ratio of each backend to a baseline, with a significance verdict"


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


def _gf(row: Measurement) -> float:
    """GFLOP/s of a row compare kept (only ok rows with a rate are compared)."""
    assert row.gflops is not None
    return row.gflops


@dataclass(frozen=True)
class Comparison:
    """One backend against the baseline on one case, over one or more paired runs.

    Rows are paired within a run (``gemmbench run --rounds N`` makes N runs, each
    interleaving the backends case by case), so each ratio compares measurements taken
    minutes apart, never a quiet hour against a noisy one. Ratio and GFLOP/s are medians
    over the pairs; with one pair they are that pair's.
    """

    case: str
    threads: int
    mode: str
    pairs: tuple[tuple[Measurement, Measurement], ...]  # (baseline, other) per run, oldest first
    p_values: tuple[float, ...]
    verdicts: tuple[str, ...]

    @property
    def base(self) -> Measurement:
        return self.pairs[-1][0]

    @property
    def other(self) -> Measurement:
        return self.pairs[-1][1]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(_gf(o) / _gf(b) for b, o in self.pairs)

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    @property
    def base_gflops(self) -> float:
        return median([_gf(b) for b, _ in self.pairs])

    @property
    def other_gflops(self) -> float:
        return median([_gf(o) for _, o in self.pairs])

    @property
    def p_value(self) -> float:
        return self.p_values[-1]

    @property
    def verdict(self) -> str:
        """The runs' common verdict, or "mixed" when they disagree."""
        return self.verdicts[0] if len(set(self.verdicts)) == 1 else "mixed"


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


def compare(
    csvs: Iterable[Path | str], baseline: str, alpha: float = 0.01, threshold: float = 0.02
) -> list[Comparison]:
    """Each non-baseline ok row against the baseline's ok row for the same host, case, mode
    and threads: paired within each run that measured both, else the newest rows of each."""
    rows: list[Measurement] = []
    samples: dict[tuple, list[float]] = {}
    for p in map(Path, csvs):
        rows += read_results(p)
        samples.update(load_samples(p))
    ok = [r for r in rows if r.status == "ok" and r.gflops]
    by_run = latest_per_key(ok, lambda r: (r.host, r.run_id, r.key))  # the newest row wins (a resumed retry)
    latest = latest_per_key(ok, lambda r: (r.host, r.key))

    base_in_run = {(r.setting, r.run_id): r for r in by_run.values() if r.backend == baseline}
    newest_base = {r.setting: r for r in latest.values() if r.backend == baseline}
    pairs: dict[tuple, list[tuple[Measurement, Measurement]]] = {}
    for r in sorted(by_run.values(), key=lambda r: r.timestamp):
        b = base_in_run.get((r.setting, r.run_id))
        if r.backend != baseline and b is not None:
            pairs.setdefault((r.setting, r.key), []).append((b, r))
    for r in latest.values():  # rows whose baseline was measured in another run only
        b = newest_base.get(r.setting)
        if r.backend != baseline and b is not None and (r.setting, r.key) not in pairs:
            pairs[(r.setting, r.key)] = [(b, r)]
    out = []
    for matched in pairs.values():
        ps = tuple(
            mann_whitney_p(samples.get((o.run_id, o.key), []), samples.get((b.run_id, b.key), [])) for b, o in matched
        )
        verdicts = tuple(_verdict(_gf(o) / _gf(b), p, alpha, threshold) for (b, o), p in zip(matched, ps))
        o = matched[-1][1]
        out.append(Comparison(str(o.case), o.threads, o.cache_mode, tuple(matched), ps, verdicts))
    return out


def format_table(comparisons: Sequence[Comparison], baseline: str) -> str:
    """One line per comparison; with several runs, the ratio's range and each verdict's count."""
    head = (
        f"{'case':<26} {'thr':>3} {'mode':<4} {baseline + ' GF/s':>12} {'backend':<12} {'GF/s':>8} "
        f"{'ratio':>6}  verdict"
    )
    lines = [head]
    for c in comparisons:
        if len(c.pairs) == 1:
            detail = f"{c.verdict} ({'n/a' if math.isnan(c.p_value) else f'p={c.p_value:.1g}'})"
        else:
            counts = ", ".join(f"{v} {c.verdicts.count(v)}" for v in sorted(set(c.verdicts)))
            detail = f"{c.verdict} over {len(c.pairs)} runs ({counts}; range {min(c.ratios):.3f}-{max(c.ratios):.3f})"
        lines.append(
            f"{c.case:<26} {c.threads:>3} {c.mode:<4} {c.base_gflops:>12.1f} {c.other.backend:<12} "
            f"{c.other_gflops:>8.1f} {c.ratio:>6.3f}  {detail}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", nargs="+", help="results CSVs (their .samples.jsonl sidecars give the raw samples)")
    parser.add_argument("--baseline", default="numpy", help="backend to divide by (default numpy)")
    parser.add_argument("--alpha", type=float, default=0.01, help="Mann-Whitney U significance level (default 0.01)")
    parser.add_argument(
        "--threshold", type=float, default=0.02, help="smallest relative difference called faster/slower (default 0.02)"
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    rows = compare(args.csv, args.baseline, args.alpha, args.threshold)
    if not rows:
        raise UsageError(f"no ok rows share a case with baseline {args.baseline!r} in {', '.join(args.csv)}")
    print(format_table(rows, args.baseline))
    return 0
