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
from .machine import slow_blas_warning
from .options import add_run_options, resolve
from .registry import UnknownBackendError, discover
from .result import ResultsFileError
from .runner import RunOptions, latest_results, run

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
    if args.resume and output is None:
        found = latest_results()
        if found is None:
            raise UsageError("--resume: no results/*.csv to resume; give the file with --output")
        output = str(found)
    try:
        options = RunOptions(modes=spec.modes, threads=spec.threads, policy=spec.policy, isolate=not args.in_process,
                             case_timeout_s=args.timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    warning = slow_blas_warning()
    if warning:
        print(f"gemmbench: warning: {warning}", file=sys.stderr)
    from .report import ConsoleReporter

    reporter = ConsoleReporter()
    try:
        rows = run(spec.cases, spec.backends, options, output, args.resume, reg, reporter)
    except ResultsFileError as exc:
        raise UsageError(str(exc)) from None
    bad = [r for r in rows if r.status in ("error", "wrong")]
    print(f"gemmbench: {len(rows)} rows written" + (f", {len(bad)} error/wrong" if bad else ""))
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gemmbench", description="GEMM microbenchmarks: honest timing, CSV results, rooflines.")
    parser.add_argument("--version", action="version", version=f"gemmbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run}")
    p_list = sub.add_parser("list", help="show every backend found, available or not and why")
    p_list.add_argument("-v", "--verbose", action="store_true", help="also show descriptions and origins")
    p_list.set_defaults(func=_cmd_list)
    p_run = sub.add_parser("run", help="run a sweep and append rows to a results CSV")
    add_run_options(p_run.add_argument)
    p_run.add_argument("--resume", action="store_true",
                       help="skip rows already in --output (default: newest results/*.csv); errors are retried")
    p_run.add_argument("--in-process", action="store_true",
                       help="run backends in this process instead of isolated workers (debugging)")
    p_run.add_argument("--timeout", type=float, default=600.0, metavar="S",
                       help="kill a worker silent for S seconds on one case (default 600)")
    p_run.set_defaults(func=_cmd_run)
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
