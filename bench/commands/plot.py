"""Plots from results CSVs: roofline, throughput against size, comparison with a baseline.

Plotting reads CSV only (results and machine ceilings) and never imports the measuring
code, so it works on files from any machine, several at once. Only ``ok`` rows are drawn:
a ``wrong``, ``error`` or ``skipped`` result is never a point.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from ..ceilings import Ceiling, CeilingSet, pick_ceilings, read_ceilings
from ..errors import UsageError
from ..result import Measurement, latest_per_key, read_results
from ..roofline import ridge_intensity
from ..store import given_or_newest
from ..workloads.model import role_group
from .compare import pair_rows

__all__ = ["FORMATS", "PlotInput", "comparison", "load", "plot_all", "roofline", "throughput"]

NAME = "plot"
HELP = "roofline, throughput and comparison plots from results CSVs"

FORMATS = ("png", "svg")
_MARKERS = {"float32": "o", "float64": "s", "float16": "^", "bfloat16": "D"}
_DTYPE_COLOURS = {"float32": "#1f77b4", "float64": "#d62728", "float16": "#2ca02c", "bfloat16": "#9467bd"}
_HOST_STYLES = ("-", "--", ":", "-.")


@dataclass
class PlotInput:
    """Rows and ceilings to draw, with notes for what is missing."""

    rows: list[Measurement]  # the newest row of each key
    ceilings: list[Ceiling]
    sources: list[Path]
    notes: list[str] = field(default_factory=list)
    history: list[Measurement] = field(default_factory=list)  # every row read (rounds of a comparison)

    @property
    def ok(self) -> list[Measurement]:
        return [r for r in self.rows if r.status == "ok" and r.gflops]

    @property
    def hosts(self) -> list[str]:
        return sorted({r.host for r in self.ok})


def load(csvs: Sequence[Path | str], ceiling_files: Sequence[Path | str] = ()) -> PlotInput:
    """Read results (errors raise ``ResultsFileError``) and the ceilings that apply to them."""
    paths = [Path(p) for p in csvs]
    history = [r for p in paths for r in read_results(p)]
    # The last row per (host, key) wins, as after a --resume that retried an error.
    rows = list(latest_per_key(history, lambda r: (r.host, r.key)).values())
    ceilings = [c for f in ceiling_files for c in read_ceilings(f)]
    data = PlotInput(rows, ceilings, paths, history=history)
    if not data.ok:
        data.notes.append("no ok rows to plot")
    if not ceiling_files:
        folders = dict.fromkeys(p.parent for p in paths)  # each read once, however many CSVs it holds
        for host in data.hosts:  # the `gemmbench machine` file each host measured last, beside the CSVs
            found = next((f for d in folders if (f := pick_ceilings(d, host, data.notes.append))), None)
            if found:
                data.ceilings += read_ceilings(found)
            else:
                data.notes.append(f"no measured ceilings for {host} (run 'gemmbench machine')")
    return data


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plotting needs matplotlib: pip install 'gemmbench[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _on_host(r: Measurement) -> bool:
    """Whether the row ran on the host's CPU (device ``cpu: <model>``), not on an accelerator."""
    return not r.device or r.device.startswith("cpu")


def _title(kind: str, data: PlotInput, rows: Sequence[Measurement]) -> str:
    """What ran where: the CPU model for host rows, the accelerator (an H200 row's host CPU is not the subject)
    for the others; the BLAS of host rows only."""
    first = rows[0] if rows else None
    machines = "; ".join(sorted({f"{(r.cpu_model or r.device) if _on_host(r) else r.device} ({r.host})" for r in rows}))
    date = min((r.timestamp[:10] for r in rows), default="")
    blas = sorted({r.blas.rsplit(" x", 1)[0] for r in rows if r.blas and _on_host(r)})  # threads: in the title
    threads = ",".join(str(t) for t in sorted({r.threads for r in rows}))
    extra = f" | BLAS {blas[0]}" if len(blas) == 1 else (" | several BLAS" if blas else "")
    return f"{kind} — {machines or 'no results'} — {date}{extra} | threads {threads}" if first else kind


def _save(fig: Any, out_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    """Write ``fig`` in each format, then close it (pyplot keeps every open figure alive)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        fig.savefig(path, dpi=130, bbox_inches="tight")
        paths.append(path)
    _plt().close(fig)
    return paths


def _label(r: Measurement, many_hosts: bool) -> str:
    return f"{r.backend}@{r.host}" if many_hosts else r.backend


def _colours(keys: Iterable[str]) -> dict[str, str]:
    # Backend colours avoid the dtype colours used by the roofs.
    palette = [
        "#ff7f0e",
        "#17becf",
        "#8c564b",
        "#e377c2",
        "#bcbd22",
        "#7f7f7f",
        "#000000",
        "#aec7e8",
        "#ffbb78",
        "#98df8a",
    ]
    return {k: palette[i % len(palette)] for i, k in enumerate(sorted(set(keys)))}


def _draw_roofs(ax: Any, data: PlotInput, rows: Sequence[Measurement], threads: int, xlim: tuple[float, float]) -> None:
    cset = CeilingSet(data.ceilings)
    devices = sorted({(r.host, r.device) for r in rows})
    for h, (host, device) in enumerate(devices):
        style = _HOST_STYLES[h % len(_HOST_STYLES)]
        suffix = f" [{host}]" if len(devices) > 1 else ""
        bw = cset.bandwidth(host, device, threads)
        for dtype, compute in sorted({(r.dtype, r.compute) for r in rows if (r.host, r.device) == (host, device)}):
            peak = cset.peak(host, device, dtype, threads, compute)
            label = f"{dtype} ({compute})" if compute else dtype
            colour = _DTYPE_COLOURS.get(dtype, "black")
            if peak is None:
                continue
            if bw is not None:
                ridge = ridge_intensity(peak.value, bw.value)
                xs = [xlim[0], ridge, xlim[1]]
                ys = [bw.value * xlim[0], peak.value, peak.value]
                ax.plot(xs, ys, style, color=colour, lw=2, alpha=0.8)
                ax.plot([ridge], [peak.value], "o", color=colour, ms=5, mfc="white")
                ax.annotate(
                    f"ridge {ridge:.1f} FLOP/B",
                    (ridge, peak.value),
                    textcoords="offset points",
                    xytext=(6, 4),
                    fontsize=7,
                    color=colour,
                )
            else:
                ax.axhline(peak.value, ls=style, color=colour, lw=2, alpha=0.8)
            ax.annotate(
                f"{label} peak {peak.value:.0f} GFLOP/s ({peak.name}, {peak.source}, x{peak.threads}){suffix}",
                (xlim[1], peak.value),
                textcoords="offset points",
                xytext=(-4, 3),
                ha="right",
                fontsize=7,
                color=colour,
            )
            theo = [
                c
                for c in data.ceilings
                if c.name == "theoretical" and c.dtype == dtype and c.host == host and c.threads == threads
            ]
            for c in theo[:1]:
                ax.axhline(c.value, ls=":", color=colour, lw=1, alpha=0.6)
                ax.annotate(
                    f"{dtype} derived {c.value:.0f} GFLOP/s (assumed FMA units x clock, see its method){suffix}",
                    (xlim[1], c.value),
                    textcoords="offset points",
                    xytext=(-4, -9),
                    ha="right",
                    fontsize=6,
                    color=colour,
                    alpha=0.8,
                )
        if bw is not None:
            x = xlim[0] * 1.3
            ax.annotate(
                f"{bw.name} {bw.value:.1f} GB/s ({bw.source}, x{bw.threads}){suffix}",
                (x, bw.value * x),
                textcoords="offset points",
                xytext=(6, -4),
                fontsize=7,
                color="0.25",
            )


def _xlim(data: PlotInput, rows: Sequence[Measurement], threads: int) -> tuple[float, float]:
    """Span every point and every ridge, with room on the memory-bound side for the slope."""
    cset = CeilingSet(data.ceilings)
    xs = [r.intensity for r in rows] or [1.0]
    for host, device, dtype, compute in {(r.host, r.device, r.dtype, r.compute) for r in rows}:
        peak, bw = cset.peak(host, device, dtype, threads, compute), cset.bandwidth(host, device, threads)
        if peak and bw:
            xs.append(ridge_intensity(peak.value, bw.value))
    return min(xs) / 4, max(xs) * 2


def roofline(data: PlotInput, out_dir: Path, stem: str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """One roofline per thread count: roofs per dtype, one marker per ok result."""
    plt = _plt()
    paths: list[Path] = []
    by_threads: dict[int, list[Measurement]] = defaultdict(list)
    for r in data.ok:
        by_threads[r.threads].append(r)
    for threads, rows in sorted(by_threads.items()) or [(0, [])]:
        fig, ax = plt.subplots(figsize=(10, 6.5))
        xlim = _xlim(data, rows, threads)
        _draw_roofs(ax, data, rows, threads, xlim)
        many = len({r.host for r in rows}) > 1
        colours = _colours(_label(r, many) for r in rows)
        seen = set()
        for r in rows:
            key = (_label(r, many), r.dtype)
            colour = colours[key[0]]
            ax.plot(
                r.intensity,
                r.gflops,
                _MARKERS.get(r.dtype, "x"),
                color=colour,
                ms=7,
                **_marker_style(r, colour),
                label=f"{key[0]} {r.dtype}" if key not in seen else None,
            )
            seen.add(key)
        _flag_legend_entry(ax, rows)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(*xlim)
        ax.set_xlabel("arithmetic intensity (FLOP/byte, compulsory traffic: an upper bound)")
        ax.set_ylabel("GFLOP/s (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(_title("Roofline", data, rows), fontsize=9)
        notes = [n for n in data.notes if "ceilings" in n or not rows]
        if notes:
            ax.text(0.01, 0.01, "\n".join(notes), transform=ax.transAxes, fontsize=8, color="darkred")
        if rows:
            ax.legend(fontsize=8, loc="lower right")
        suffix = f"-x{threads}" if len(by_threads) > 1 else ""
        paths += _save(fig, out_dir, f"{stem}-roofline{suffix}", formats)
    return paths


#: Legend text of hollow markers, on every plot that has any.
FLAGGED_LABEL = "hollow: flagged (noisy, not converged, contended, VM steal or above a roof)"


def _marker_style(r: Measurement, colour: str) -> dict[str, Any]:
    """Filled with a thin black edge when the row is sound; hollow in its colour when flagged."""
    return {"mfc": "none", "mec": colour, "mew": 1.5} if r.flagged else {"mec": "black", "mew": 0.5}


def _flag_legend_entry(ax: Any, rows: Sequence[Measurement]) -> None:
    if any(r.flagged for r in rows):
        ax.plot([], [], "o", mfc="none", mec="0.3", mew=1.5, ls="none", label=FLAGGED_LABEL)


def _size(r: Measurement) -> float:
    return (r.batch * r.m * r.n * r.k) ** (1 / 3)


def throughput(data: PlotInput, out_dir: Path, stem: str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """GFLOP/s against problem size per backend/dtype/threads/mode, IQR as a band."""
    plt = _plt()
    rows = data.ok
    many = len(data.hosts) > 1
    series: dict[tuple, list[Measurement]] = defaultdict(list)
    for r in rows:
        series[(_label(r, many), r.dtype, r.trans, r.threads, r.cache_mode)].append(r)
    colours = _colours(" ".join(map(str, k)) for k in series)
    fig, ax = plt.subplots(figsize=(10, 6))
    for key, pts in sorted(series.items()):
        label, dtype, trans, threads, mode = key
        colour = colours[" ".join(map(str, key))]
        pts.sort(key=_size)
        x = [_size(r) for r in pts]
        y = [r.gflops for r in pts]
        lo = [r.flops / r.q3_s / 1e9 if r.q3_s else r.gflops for r in pts]
        hi = [r.flops / r.q1_s / 1e9 if r.q1_s else r.gflops for r in pts]
        style = "-" if mode == "hot" else "--"
        ax.plot(x, y, style, color=colour, label=f"{label} {dtype} {trans} x{threads} {mode}")
        for r, xi, yi in zip(pts, x, y):
            ax.plot(xi, yi, _MARKERS.get(dtype, "x"), color=colour, ms=6, **_marker_style(r, colour))
        ax.fill_between(x, lo, hi, color=colour, alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("problem size (m·n·k)^(1/3)")
    ax.set_ylabel("GFLOP/s (median; band = IQR)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(_title("Throughput", data, rows), fontsize=9)
    _flag_legend_entry(ax, rows)
    if series:
        ax.legend(fontsize=7, loc="best")
    return _save(fig, out_dir, f"{stem}-throughput", formats)


@dataclass(frozen=True)
class _Bar:
    ratio: float  # median over rounds
    low: float  # range: over rounds, or from the IQRs of a single pair
    high: float
    flagged: bool


def _bar(pairs: Sequence[tuple[Measurement, Measurement]]) -> _Bar:
    ratios = sorted(b.median_s / o.median_s for b, o in pairs if b.median_s and o.median_s)
    if len(pairs) == 1:
        b, o = pairs[0]
        low = (b.q1_s or 0.0) / (o.q3_s or 1.0) if b.q1_s and o.q3_s else ratios[0]
        high = (b.q3_s or 0.0) / (o.q1_s or 1.0) if b.q3_s and o.q1_s else ratios[0]
    else:
        low, high = ratios[0], ratios[-1]
    return _Bar(median(ratios), low, high, any(r.flagged for pair in pairs for r in pair))


def _draw_bar(ax: Any, x: float, width: float, bar: _Bar, colour: str, label: str | None) -> None:
    err = [[bar.ratio - min(bar.low, bar.ratio)], [max(bar.high, bar.ratio) - bar.ratio]]
    hatch, alpha = ("//", 0.55) if bar.flagged else (None, 1.0)
    ax.bar(
        x,
        bar.ratio,
        width,
        color=colour,
        yerr=err,
        capsize=2,
        hatch=hatch,
        alpha=alpha,
        edgecolor="black",
        lw=0.3,
        label=label,
    )


def comparison(
    data: PlotInput, out_dir: Path, stem: str, baseline: str | None = None, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Ratio of each backend's GFLOP/s to ``baseline`` on the same host, case, mode and threads: the median
    over rounds, the range as an error bar (over rounds, or the IQRs of one round), hatched when flagged."""
    plt = _plt()
    rows = data.ok
    backends = sorted({r.backend for r in rows})
    base = baseline or ("numpy" if "numpy" in backends else (backends[0] if backends else ""))
    bars: dict[str, dict[str, _Bar]] = defaultdict(dict)
    for pairs in pair_rows(data.history, base):
        o = pairs[-1][1]
        bars[o.backend][f"{o.case} x{o.threads} {o.cache_mode}"] = _bar(pairs)
    labels = sorted({lab for d in bars.values() for lab in d}, key=lambda s: (s.split()[1], s))
    fig, ax = plt.subplots(figsize=(max(8, 0.5 * len(labels) + 4), 5.5))
    width = 0.8 / max(len(bars), 1)
    colours = _colours(bars)
    for i, (backend, values) in enumerate(sorted(bars.items())):
        label: str | None = backend  # once per backend
        for j, lab in enumerate(labels):
            if lab in values:
                _draw_bar(ax, j + i * width, width, values[lab], colours[backend], label)
                label = None
    if any(v.flagged for d in bars.values() for v in d.values()):
        ax.bar([0], [0], 0, color="white", hatch="//", edgecolor="black", label="hatched: a flagged row in the pair")
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(
        [j + width * (len(bars) - 1) / 2 for j in range(len(labels))], labels, rotation=60, ha="right", fontsize=7
    )
    ax.set_ylabel(f"GFLOP/s ÷ {base} (median over rounds; bar = range)")
    ax.set_title(_title(f"Comparison with {base}", data, rows), fontsize=9)
    if not bars:
        ax.text(
            0.5,
            0.5,
            f"nothing to compare: no other backend measured the cases {base or 'any backend'} did",
            transform=ax.transAxes,
            ha="center",
        )
    else:
        ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, out_dir, f"{stem}-comparison", formats)


def step_breakdown(data: PlotInput) -> dict[str, dict[str, dict[str, float]]]:
    """Workload -> device/backend/threads -> role -> seconds per step (count x median), from tagged rows."""
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in data.ok:
        if r.workload and r.count and r.median_s:
            where = f"{r.device.removeprefix('cpu: ')[:20]}\n{r.backend} x{r.threads} {r.dtype}"
            role = role_group(r.role)
            out[r.workload][where][role] = out[r.workload][where].get(role, 0.0) + r.count * r.median_s
    return out


def workloads(data: PlotInput, out_dir: Path, stem: str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """One stacked bar per device/backend for each workload the rows carry: GEMM time per step by role."""
    paths: list[Path] = []
    for i, (workload, bars) in enumerate(sorted(step_breakdown(data).items())):
        plt = _plt()
        fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(bars) + 3), 5))
        roles = sorted({role for b in bars.values() for role in b})
        labels, bottoms = list(bars), [0.0] * len(bars)
        for role in roles:
            heights = [bars[w].get(role, 0.0) for w in labels]
            ax.bar(labels, heights, bottom=bottoms, label=role)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        ax.set_ylabel("GEMM seconds per step (count x median)")
        ax.set_title(f"Step time by role - {workload}", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        paths += _save(fig, out_dir, f"{stem}-workload{i + 1}", formats)
    return paths


def plot_all(
    data: PlotInput, out_dir: Path, stem: str, baseline: str | None = None, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Every plot for ``data`` (and a step-time breakdown per workload the rows carry); returns the files."""
    return (
        roofline(data, out_dir, stem, formats)
        + throughput(data, out_dir, stem, formats)
        + comparison(data, out_dir, stem, baseline, formats)
        + workloads(data, out_dir, stem, formats)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", nargs="*", help="results CSVs (default: newest in results/); several = one plot")
    parser.add_argument(
        "--ceilings",
        action="append",
        metavar="CSV",
        help="machine CSV(s) from 'gemmbench machine' (default: newest for each host, beside the CSV)",
    )
    parser.add_argument("--baseline", default=None, help="backend the comparison divides by (default numpy)")
    parser.add_argument("--out", default="plots", help="output folder (default plots/)")
    parser.add_argument(
        "--formats",
        type=lambda s: [x for x in s.split(",") if x],
        default=["png", "svg"],
        metavar="LIST",
        help="png,svg",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    csvs = given_or_newest(args.csv)
    bad = [f for f in args.formats if f not in FORMATS]
    if bad or not args.formats:
        what = f"unknown format {bad[0]!r}" if bad else "no plot format given"
        raise UsageError(f"{what}; valid choices: {', '.join(FORMATS)}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder for the plots (default plots/)")
    data = load(csvs, args.ceilings or ())
    stem = Path(csvs[0]).stem + (f"+{len(csvs) - 1}" if len(csvs) > 1 else "")
    paths = plot_all(data, Path(args.out), stem, args.baseline, args.formats)
    for note in data.notes:
        print(f"gemmbench plot: note: {note}", file=sys.stderr)
    for p in paths:
        print(p)
    return 0
