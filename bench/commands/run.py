"""``gemmbench run``: a sweep (or ``--rounds`` of them) through isolated workers, rows to CSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..case import GemmCase
from ..console import ConsoleReporter, warn_if_slow_blas
from ..errors import UsageError
from ..options import add_run_options, parse_positive, parse_seconds, resolve
from ..registry import Registry, discover
from ..session import memory_problem
from ..store import check_writable, new_run_id, results_path
from ..sweep import RunOptions, resume_target, run

NAME = "run"
HELP = "run a sweep and append rows to a results CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser.add_argument)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip rows already in --output (default: newest results/*.csv); errors are retried",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="run backends in this process instead of isolated workers (debugging)"
    )
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="alternate backends case by case, a fresh worker each (fair on a drifting machine)",
    )
    parser.add_argument(
        "--rounds",
        type=parse_positive("--rounds"),
        default=1,
        metavar="N",
        help="repeat the whole sweep N times, each round a run of its own in the same CSV; "
        "'gemmbench compare' then reports the median ratio over the rounds (default 1)",
    )
    parser.add_argument(
        "--timeout",
        type=parse_seconds("--timeout"),
        default=600.0,
        metavar="S",
        help="kill a worker silent for S seconds on one case (default 600)",
    )
    parser.set_defaults(func=handle)


def _check_memory(cases: Sequence[GemmCase]) -> None:
    """Refuse, before anything runs, a case the host cannot hold (accelerators check their own)."""
    for case in cases:
        problem = memory_problem(case, 1)
        if problem:
            raise UsageError(problem)


def _available(reg: Registry) -> list[str]:
    """Default selection: every available backend; the others, and what could not be loaded, named once."""
    for problem in reg.problems:
        print(f"gemmbench: could not load {problem.origin}: {problem.error}", file=sys.stderr)
    names = []
    for entry in reg.entries.values():
        reason = entry.probe()
        if reason:
            print(f"gemmbench: skipping {entry.name}: {reason}", file=sys.stderr)
        else:
            names.append(entry.name)
    return names


def handle(args: argparse.Namespace) -> int:
    spec = resolve(lambda name: getattr(args, name))
    reg = discover()
    reg.select(spec.backends)
    _check_memory(spec.cases)
    if args.rounds > 1 and args.resume:
        raise UsageError(
            "--rounds and --resume cannot be combined: --resume continues one run; "
            "start the rounds again, or resume with --rounds 1"
        )
    output = str(resume_target(spec.output)) if args.resume else spec.output
    if output is not None:
        check_writable(output, "output")  # before anything is measured or said
    options = RunOptions(
        modes=spec.modes,
        threads=spec.threads,
        policy=spec.policy,
        isolate=not args.in_process,
        case_timeout_s=args.timeout,
        interleave=args.interleave,
    )
    backends = spec.backends if spec.backends is not None else _available(reg)  # input is valid: now say more
    warn_if_slow_blas()
    reporter = ConsoleReporter()
    rows = []
    for round_no in range(1, args.rounds + 1):
        run_id = None
        if args.rounds > 1:  # every round is a run of its own in the same file: compare pairs within runs
            print(f"gemmbench: round {round_no} of {args.rounds}", file=sys.stderr)
            run_id = new_run_id()
            output = output or str(results_path(run_id))
        rows += run(
            spec.cases,
            backends=backends,
            options=options,
            output=output,
            resume=args.resume,
            registry=reg,
            reporter=reporter,
            run_id=run_id,
        )
    bad = [r for r in rows if r.status in ("error", "wrong")]
    print(f"gemmbench: {len(rows)} rows written" + (f", {len(bad)} error/wrong" if bad else ""))
    return 1 if bad else 0
