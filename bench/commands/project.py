"""``gemmbench project``: from measured GEMM rates to a model's step time and an MFU upper bound.

For each results CSV and each (host, device, backend, threads) in it, every GEMM of one step of the
workload is looked up among the ``ok`` rows by its case (shape, batch, dtype, storage), and

* **GEMM time per step** = sum over the step's GEMMs of count x median seconds per call;
* **achieved TFLOP/s** = the step's GEMM FLOPs / that time;
* **model FLOPs per step** by the PaLM appendix formula (``ModelConfig.model_flops``), divided by ``--tp``
  (each device of a tensor-parallel group does its share; the GEMMs listed are one device's);
* **MFU upper bound** = model FLOPs / GEMM time / peak: an *upper* bound, because a real step also
  spends time outside GEMMs (attention softmax, norms, communication, the pipeline's bubble). It is given
  against the measured compute roof the rows were placed under, and against the spec sheet's peak when
  the device is in ``gemmbench specs``.

GEMMs of the step that no row measured are listed, never silently dropped (the time is then partial).
``--spec NAME`` adds a device known only from its spec sheet: each GEMM bounded by the roofline,
max(FLOPs / peak, compulsory bytes / bandwidth) - a bound from the spec sheet, kept apart from measured
figures. Reads CSV files only.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..case import DTYPES, GemmCase
from ..errors import UsageError
from ..options import parse_positive
from ..result import Measurement, latest_per_key, read_results
from ..specs import SPECS, Spec, find_spec
from ..store import check_writable
from ..workloads.catalogue import find_workload
from ..workloads.model import PHASES, ModelConfig, WorkloadGemm, load_model, model_names

__all__ = ["Projection", "project_rows", "project_spec"]

NAME = "project"
HELP = "project a model's step time and MFU upper bound from measured GEMM rows (or a spec sheet)"


@dataclass
class Projection:
    """One device's step: measured (``source`` = the CSV) or bounded from a spec sheet (``source`` = "spec")."""

    source: str
    host: str
    device: str
    backend: str
    threads: int
    dtype: str
    gemm_seconds: float = 0.0
    gemm_flops: float = 0.0
    by_role: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    peak_gflops: float | None = None  # the measured compute roof of the rows (or the spec's peak)
    spec_peak_gflops: float | None = None

    @property
    def achieved_tflops(self) -> float:
        return self.gemm_flops / self.gemm_seconds / 1e12 if self.gemm_seconds else 0.0

    def add(self, gemm: WorkloadGemm, seconds: float) -> None:
        """Count one GEMM of the step (all its runs) taking ``seconds``."""
        self.gemm_seconds += seconds
        self.gemm_flops += gemm.flops
        self.by_role[gemm.group] = self.by_role.get(gemm.group, 0.0) + seconds

    def mfu(self, model_flops: float, peak_gflops: float | None) -> float | None:
        if not peak_gflops or not self.gemm_seconds:
            return None
        return model_flops / self.gemm_seconds / (peak_gflops * 1e9)


def project_rows(
    rows: Sequence[Measurement], gemms: Sequence[WorkloadGemm], dtype: str, source: str
) -> list[Projection]:
    """A projection per (host, device, backend, threads) of the ``ok`` rows."""
    ok = [r for r in rows if r.status == "ok" and r.median_s and r.dtype == dtype]
    latest = latest_per_key(ok, lambda r: (r.host, r.device, r.backend, r.threads, r.case))
    groups: dict[tuple, dict[GemmCase, Measurement]] = defaultdict(dict)
    for (host, device, backend, threads, case), r in latest.items():
        groups[(host, device, backend, threads)][case] = r
    out = []
    for (host, device, backend, threads), by_case in sorted(groups.items()):
        p = Projection(source, host, device, backend, threads, dtype)
        for g in gemms:
            hit = by_case.get(g.case(dtype))
            if hit is None or hit.median_s is None:
                p.missing.append(f"{g.role} {g.shape}")
                continue
            p.add(g, g.count * hit.median_s)
            p.peak_gflops = p.peak_gflops or hit.peak_gflops
        spec = find_spec(device)
        p.spec_peak_gflops = spec.peaks[dtype] * 1e3 if spec and dtype in spec.peaks else None
        out.append(p)
    return out


def project_spec(spec: Spec, gemms: Sequence[WorkloadGemm], dtype: str) -> Projection:
    """Each GEMM bounded by the spec sheet's roofline: max(FLOPs / peak, compulsory bytes / bandwidth)."""
    if dtype not in spec.peaks:
        raise UsageError(f"{spec.name} has no {dtype} peak on its spec sheet; valid choices: {', '.join(spec.peaks)}")
    peak, bandwidth = spec.peaks[dtype] * 1e12, spec.bandwidth_gbs * 1e9
    p = Projection("spec", "", spec.name, "spec sheet (a bound)", 0, dtype, peak_gflops=peak / 1e9)
    p.spec_peak_gflops = peak / 1e9
    for g in gemms:
        case = g.case(dtype)
        p.add(g, g.count * max(case.flops / peak, case.bytes / bandwidth))
    return p


def _fmt(x: float | None, pattern: str) -> str:
    return "-" if x is None else format(x, pattern)


def _table(projections: Sequence[Projection], model_flops: float | None) -> list[str]:
    lines = [
        f"{'source':<22} {'device':<26} {'backend':<20} {'thr':>3} {'dtype':<8} {'GEMM s/step':>11} {'TFLOP/s':>8} "
        f"{'MFU<=(roof)':>11} {'MFU<=(spec)':>11}  missing"
    ]
    for p in projections:
        roof = p.mfu(model_flops, p.peak_gflops) if model_flops else None
        spec = p.mfu(model_flops, p.spec_peak_gflops) if model_flops else None
        lines.append(
            f"{Path(p.source).name[:22]:<22} {p.device[:26]:<26} {p.backend[:20]:<20} {p.threads:>3} {p.dtype:<8} "
            f"{p.gemm_seconds:>11.4g} {p.achieved_tflops:>8.3g} {_fmt(roof, '11.1%')} {_fmt(spec, '11.1%')}"
            f"  {f'{len(p.missing)} (time and MFU partial)' if p.missing else ''}"
        )
    return lines


def _write_csv(path: Path, projections: Sequence[Projection], model_flops: float | None) -> None:
    with open(check_writable(path, "--output"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "source",
                "host",
                "device",
                "backend",
                "threads",
                "dtype",
                "gemm_seconds",
                "gemm_flops",
                "achieved_tflops",
                "model_flops",
                "mfu_bound_roof",
                "mfu_bound_spec",
                "missing",
                "by_role",
            ]
        )
        for p in projections:
            w.writerow(
                [
                    p.source,
                    p.host,
                    p.device,
                    p.backend,
                    p.threads,
                    p.dtype,
                    repr(p.gemm_seconds),
                    repr(p.gemm_flops),
                    repr(p.achieved_tflops),
                    repr(model_flops or 0.0),
                    p.mfu(model_flops, p.peak_gflops) if model_flops else "",
                    p.mfu(model_flops, p.spec_peak_gflops) if model_flops else "",
                    "; ".join(p.missing),
                    "; ".join(f"{k}={v!r}" for k, v in p.by_role.items()),
                ]
            )


def _plot(path: Path, projections: Sequence[Projection]) -> None:
    """Step time by role, one stacked bar per device (log-free: shares are what matter)."""
    from .plot import _plt

    plt = _plt()
    roles = sorted({role for p in projections for role in p.by_role})
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(projections) + 3), 5))
    labels = [
        f"{p.device[:18]}\n{p.backend[:16]} x{p.threads}" if p.source != "spec" else f"{p.device}\n(spec bound)"
        for p in projections
    ]
    bottoms = [0.0] * len(projections)
    for role in roles:
        heights = [p.by_role.get(role, 0.0) for p in projections]
        ax.bar(labels, heights, bottom=bottoms, label=role)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.set_yscale("log")
    ax.set_ylabel("GEMM seconds per step (log)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Step time by role (GEMMs only; spec bars are lower bounds from the spec sheet)", fontsize=9)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", nargs="*", help="results CSVs with the workload's GEMMs (from run --workload)")
    parser.add_argument("--workload", required=True, metavar="NAME[:PHASE]", help="see 'gemmbench workloads'")
    parser.add_argument("--phase", choices=PHASES, default="train")
    for flag, default in (("--tokens", 4096), ("--tp", 1), ("--seq", 4096), ("--context", 4096)):
        parser.add_argument(flag, type=parse_positive(flag), default=default, metavar="N", help=f"default {default}")
    parser.add_argument(
        "--dtype", choices=tuple(DTYPES), default="float32", help="dtype of the measured rows (default float32)"
    )
    parser.add_argument(
        "--spec-dtype",
        choices=tuple(DTYPES),
        default="bfloat16",
        help="dtype of the spec-sheet bounds (default bfloat16, what dense LLMs train in)",
    )
    parser.add_argument(
        "--spec",
        action="append",
        default=[],
        metavar="NAME",
        help=f"add a spec-sheet bound: {', '.join(s.aliases[0] if s.aliases else s.name for s in SPECS)}",
    )
    parser.add_argument("-o", "--output", default=None, metavar="CSV", help="also write the table as CSV")
    parser.add_argument("--plot", default=None, metavar="PNG|SVG", help="also draw step time by role per device")
    parser.set_defaults(func=handle)


def _model(name: str) -> ModelConfig | None:
    model = name.partition(":")[0]
    return load_model(model) if model in model_names() else None


def handle(args: argparse.Namespace) -> int:
    if not args.csv and not args.spec:
        raise UsageError("give results CSVs, --spec NAME, or both")
    for out in (args.output, args.plot):
        if out:
            check_writable(out, "output")
    try:
        gemms = find_workload(args.workload, args.phase, args.tokens, args.tp, args.seq, args.context)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    phase = args.workload.partition(":")[2] or args.phase
    model = _model(args.workload)
    # Per device: tensor parallelism splits every GEMM of the step over --tp devices.
    flops = model.model_flops(args.tokens, args.seq, phase, args.context) / args.tp if model else None
    projections: list[Projection] = []
    for path in args.csv:
        found = project_rows(read_results(path), gemms, args.dtype, str(path))
        if not found:
            print(f"gemmbench project: note: {path} has no ok {args.dtype} rows", file=sys.stderr)
        projections += found
    for name in args.spec:
        spec = find_spec(name)
        if spec is None:
            raise UsageError(f"unknown spec {name!r}; valid choices: {', '.join(s.name for s in SPECS)}")
        projections.append(project_spec(spec, gemms, args.spec_dtype))
    dtypes = sorted({p.dtype for p in projections})
    step = f"{args.workload} ({phase}, {args.tokens} tokens, --tp {args.tp}), {'/'.join(dtypes)}, {len(gemms)} GEMMs"
    print(f"{step}; model FLOPs per step and device: {flops / 1e12:.3f} TFLOP (PaLM formula, / tp)" if flops else step)
    for line in _table(projections, flops):
        print(line)
    for p in projections:
        if p.missing:
            print(f"missing on {p.device} / {p.backend} x{p.threads}: {', '.join(p.missing)}")
    print("MFU here is an upper bound: GEMM time only (no softmax, norms, communication or pipeline bubble).")
    if args.output:
        _write_csv(Path(args.output), projections, flops)
    if args.plot:
        _plot(Path(args.plot), projections)
    return 0
