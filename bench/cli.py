"""The ``gemmbench`` command: list backends, run sweeps (more subcommands plug in here).

Usage errors print one line naming the problem and the valid choices, and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from . import __version__
from .execute import memory_problem
from .machine import slow_blas_warning, threads_problem
from .options import add_run_options, parse_choices, parse_ints, parse_names, parse_positive, parse_sizes, resolve
from .registry import UnknownBackendError, discover
from .result import ResultsFileError
from .runner import RESULTS_DIR, RunOptions, latest_results, new_run_id, run

__all__ = ["main", "UsageError", "build_parser"]


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _cmd_list(args: argparse.Namespace) -> int:
    reg = discover()
    width = max([len(n) for n in reg.names()] + [8])
    for entry in reg.entries.values():
        reason = entry.probe()
        state = "available" if reason is None else f"unavailable: {reason}"
        print(f"{entry.name:<{width}}  {state}")
        if args.verbose:
            print(f"{'':<{width}}  {entry.cls.description} [{entry.origin}]")
    for problem in reg.problems:
        print(f"{'(broken)':<{width}}  {problem.origin}: {problem.error}")
    return 0


def _available(reg) -> list[str]:
    """Default selection: every available backend; the others are named once, with why."""
    names = []
    for entry in reg.entries.values():
        reason = entry.probe()
        if reason:
            print(f"gemmbench: skipping {entry.name}: {reason}", file=sys.stderr)
        else:
            names.append(entry.name)
    return names


def _check_threads(threads: Sequence[int]) -> None:
    problem = threads_problem(threads)
    if problem:
        raise UsageError(problem)


def _warn_if_slow_blas() -> None:
    warning = slow_blas_warning()
    if warning:
        print(f"gemmbench: warning: {warning}", file=sys.stderr)


def _check_memory(cases: Sequence) -> None:
    """Refuse, before anything runs, a case the host cannot hold (accelerators check their own)."""
    for case in cases:
        problem = memory_problem(case, 1)
        if problem:
            raise UsageError(problem)


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        spec = resolve(lambda name: getattr(args, name))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(str(exc)) from None
    reg = discover()
    try:
        reg.select(spec.backends)
    except UnknownBackendError as exc:
        raise UsageError(str(exc)) from None
    _check_memory(spec.cases)
    output = spec.output
    if args.rounds > 1 and args.resume:
        raise UsageError("--rounds and --resume cannot be combined: --resume continues one run; "
                         "start the rounds again, or resume with --rounds 1")
    if args.resume and output is None:
        found = latest_results()
        if found is None:
            raise UsageError("--resume: no results/*.csv to resume; give the file with --output")
        output = str(found)
    try:
        options = RunOptions(modes=spec.modes, threads=spec.threads, policy=spec.policy, isolate=not args.in_process,
                             case_timeout_s=args.timeout, interleave=args.interleave)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    backends = spec.backends if spec.backends is not None else _available(reg)  # input is valid: now say more
    _warn_if_slow_blas()
    from .report import ConsoleReporter

    reporter = ConsoleReporter()
    rows = []
    for round_no in range(1, args.rounds + 1):
        run_id = None
        if args.rounds > 1:  # every round is a run of its own in the same file: compare pairs within runs
            print(f"gemmbench: round {round_no} of {args.rounds}", file=sys.stderr)
            run_id = new_run_id()
            output = output or str(RESULTS_DIR / f"{run_id}.csv")
        try:
            rows += run(spec.cases, backends, options, output, args.resume, reg, reporter, run_id=run_id)
        except ResultsFileError as exc:
            raise UsageError(str(exc)) from None
    bad = [r for r in rows if r.status in ("error", "wrong")]
    print(f"gemmbench: {len(rows)} rows written" + (f", {len(bad)} error/wrong" if bad else ""))
    return 1 if bad else 0


def _cmd_machine(args: argparse.Namespace) -> int:
    from .ceilings import latest_ceilings, write_ceilings
    from .hostroofs import measure_host
    from .machine import hostname, usable_cpus

    existing = latest_ceilings(Path(args.output).parent if args.output else RESULTS_DIR, hostname())
    if args.if_missing and existing:
        print(f"gemmbench: ceilings for this host already in {existing} (remeasure without --if-missing)")
        return 0
    threads = args.threads or sorted({1, usable_cpus()})
    _check_threads(threads)
    try:
        discover().select(args.backends)
    except UnknownBackendError as exc:
        raise UsageError(str(exc)) from None
    _warn_if_slow_blas()
    ceilings = measure_host(threads, args.backends, say=print)
    out = Path(args.output or RESULTS_DIR / f"machine-{hostname()}-{new_run_id()}.csv")
    write_ceilings(out, ceilings)
    print(f"gemmbench: {len(ceilings)} ceilings -> {out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, format_table

    try:
        rows = compare(args.csv, args.baseline, args.alpha, args.threshold)
    except ResultsFileError as exc:
        raise UsageError(str(exc)) from None
    if not rows:
        raise UsageError(f"no ok rows share a case with baseline {args.baseline!r} in {', '.join(args.csv)}")
    print(format_table(rows, args.baseline))
    return 0


def _cmd_timeit_check(args: argparse.Namespace) -> int:
    from .agreement import check

    _check_threads([args.threads])
    for line in check(args.sizes, args.dtypes, args.threads, args.output):
        print(line)
    return 0


def _cmd_specs(args: argparse.Namespace) -> int:
    from .specs import SPECS

    for s in SPECS:
        peaks = ", ".join(f"{k} {v:g}" for k, v in s.peaks.items())
        print(f"{s.name:<24} {s.bandwidth_gbs:7.0f} GB/s  {s.memory_gb:4.0f} GB  [{peaks}] TFLOP/s")
        print(f"{'':<24} source: {s.source}; confidence {s.confidence}"
              + (f"; derived: {', '.join(s.derived)}" if s.derived else "") + (f"; {s.notes}" if s.notes else ""))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from .ceilings import CeilingsError
    from .plot import FORMATS, load, plot_all

    newest = None if args.csv else latest_results()
    csvs = args.csv or ([newest] if newest else [])
    if not csvs:
        raise UsageError("no results CSV given and none in results/; run 'gemmbench run' first")
    bad = [f for f in args.formats if f not in FORMATS]
    if bad:
        raise UsageError(f"unknown format {bad[0]!r}; valid choices: {', '.join(FORMATS)}")
    try:
        data = load(csvs, args.ceilings or ())
        stem = Path(csvs[0]).stem + (f"+{len(csvs) - 1}" if len(csvs) > 1 else "")
        paths = plot_all(data, Path(args.out), stem, args.baseline, args.formats)
    except (ResultsFileError, CeilingsError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None
    for note in data.notes:
        print(f"gemmbench plot: note: {note}", file=sys.stderr)
    for p in paths:
        print(p)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gemmbench", description="GEMM microbenchmarks: honest timing, CSV results, rooflines.")
    parser.add_argument("--version", action="version", version=f"gemmbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{list,run,machine,plot,compare,timeit-check,specs}")
    p_list = sub.add_parser("list", help="show every backend found, available or not and why")
    p_list.add_argument("-v", "--verbose", action="store_true", help="also show descriptions and origins")
    p_list.set_defaults(func=_cmd_list)
    p_run = sub.add_parser("run", help="run a sweep and append rows to a results CSV")
    add_run_options(p_run.add_argument)
    p_run.add_argument("--resume", action="store_true",
                       help="skip rows already in --output (default: newest results/*.csv); errors are retried")
    p_run.add_argument("--in-process", action="store_true",
                       help="run backends in this process instead of isolated workers (debugging)")
    p_run.add_argument("--interleave", action="store_true",
                       help="alternate backends case by case, a fresh worker each (fair on a drifting machine)")
    p_run.add_argument("--rounds", type=parse_positive("--rounds"), default=1, metavar="N",
                       help="repeat the whole sweep N times, each round a run of its own in the same CSV; "
                            "'gemmbench compare' then reports the median ratio over the rounds (default 1)")
    p_run.add_argument("--timeout", type=float, default=600.0, metavar="S",
                       help="kill a worker silent for S seconds on one case (default 600)")
    p_run.set_defaults(func=_cmd_run)
    p_machine = sub.add_parser("machine", help="measure this host's ceilings (peak FLOP/s, bandwidth) -> CSV")
    p_machine.add_argument("-j", "--threads", type=parse_ints("thread count"), default=None, metavar="LIST",
                           help="thread counts (default: 1 and all usable CPUs)")
    p_machine.add_argument("-b", "--backends", type=parse_names, default=["numpy"], metavar="LIST",
                           help="backends whose best 2048^3 GEMM is recorded as a ceiling (default numpy)")
    p_machine.add_argument("-o", "--output", default=None, metavar="CSV",
                           help="default results/machine-<host>-<time>.csv (runs and plots use the newest)")
    p_machine.add_argument("--if-missing", action="store_true",
                           help="do nothing when this host already has a machine CSV (the main job uses this)")
    p_machine.set_defaults(func=_cmd_machine)
    p_plot = sub.add_parser("plot", help="roofline, throughput and comparison plots from results CSVs")
    p_plot.add_argument("csv", nargs="*", help="results CSVs (default: newest in results/); several = one plot")
    p_plot.add_argument("--ceilings", action="append", metavar="CSV",
                        help="machine CSV(s) from 'gemmbench machine' (default: newest for each host, beside the CSV)")
    p_plot.add_argument("--baseline", default=None, help="backend the comparison divides by (default numpy)")
    p_plot.add_argument("--out", default="plots", help="output folder (default plots/)")
    p_plot.add_argument("--formats", type=lambda s: [x for x in s.split(",") if x], default=["png", "svg"],
                        metavar="LIST", help="png,svg")
    p_plot.set_defaults(func=_cmd_plot)
    p_cmp = sub.add_parser("compare", help="ratio of each backend to a baseline, with a significance verdict")
    p_cmp.add_argument("csv", nargs="+", help="results CSVs (their .samples.jsonl sidecars give the raw samples)")
    p_cmp.add_argument("--baseline", default="numpy", help="backend to divide by (default numpy)")
    p_cmp.add_argument("--alpha", type=float, default=0.01, help="Mann-Whitney U significance level (default 0.01)")
    p_cmp.add_argument("--threshold", type=float, default=0.02,
                       help="smallest relative difference called faster/slower (default 0.02)")
    p_cmp.set_defaults(func=_cmd_compare)
    p_tc = sub.add_parser("timeit-check", help="harness medians of numpy against plain timeit (a cross-check)")
    p_tc.add_argument("-s", "--sizes", type=parse_sizes, default=[32, 256, 512, 1024], metavar="LIST")
    p_tc.add_argument("-d", "--dtypes", type=parse_choices(("float32", "float64"), "dtype"),
                      default=["float32", "float64"], metavar="LIST")
    p_tc.add_argument("-j", "--threads", type=int, default=1, help="thread count for both (default 1)")
    p_tc.add_argument("-o", "--output", default=None, metavar="CSV", help="where the harness rows go")
    p_tc.set_defaults(func=_cmd_timeit_check)
    p_specs = sub.add_parser("specs", help="print the built-in accelerator spec sheet with sources")
    p_specs.set_defaults(func=_cmd_specs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"gemmbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gemmbench: interrupted; finished rows are kept (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
