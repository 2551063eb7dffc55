"""``gemmbench run``: a sweep (or ``--rounds`` of them) through isolated workers, rows to CSV."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from ..case import GemmCase, Job
from ..ceilings import CeilingSet
from ..console import ConsoleReporter, warn_if_slow_blas
from ..device import HostDevice
from ..errors import UsageError
from ..fleet import ON_CHOICES, run_fleet
from ..hostfacts import hostname
from ..options import Resolved, add_run_options, parse_ints, parse_positive, parse_seconds, resolve
from ..registry import Registry, discover
from ..result import check_appendable
from ..session import memory_problem
from ..store import check_writable, new_run_id, results_path
from ..sweep import RunOptions, host_ceilings, resume_target, run
from ..timer import TURN_S, TimingPolicy
from ..workloads.catalogue import workload_jobs
from ..workloads.model import PHASES

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
        "--paired",
        action="store_true",
        help="measure each case with all backends at once, taking turns between timed blocks (every "
        f"{TURN_S * 1000:g} ms): for comparing backends on a host whose speed drifts within seconds",
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
    fleet = parser.add_argument_group("many machines (Dask; see README, 'Many machines')")
    fleet.add_argument(
        "--cluster",
        metavar="ADDR",
        help="run on the workers of a Dask scheduler (tcp://head:8786), or local:N for a local cluster of N",
    )
    fleet.add_argument(
        "--on",
        choices=ON_CHOICES,
        default="all",
        help="all: the whole sweep on every host; any: cases spread over identical hosts (default all)",
    )
    fleet.add_argument(
        "--disjoint",
        action="store_true",
        help="workers of one host own disjoint CPUs or devices (one per GPU): measure on them at once",
    )
    workload = parser.add_argument_group("workloads (see 'gemmbench workloads')")
    workload.add_argument(
        "--workload",
        metavar="NAME[:PHASE]",
        help="run the GEMMs of a catalogue workload instead of --sizes/--shape (default dtype float32)",
    )
    workload.add_argument("--phase", choices=PHASES, default="train", help="train, prefill or decode (default train)")
    for flag, default, text in (
        ("--tokens", 4096, "token rows per step on one device"),
        ("--tp", 1, "tensor-parallel degree"),
        ("--seq", 4096, "train/prefill sequence"),
        ("--context", 4096, "decode context"),
    ):
        workload.add_argument(
            flag, type=parse_positive(flag), default=default, metavar="N", help=f"{text} (default {default})"
        )
    help_tokens = "several token counts, one workload instance each (e.g. decode at 1,8,64)"
    workload.add_argument("--batch-tokens", type=parse_ints("--batch-tokens"), metavar="LIST", help=help_tokens)
    help_dry = "list the cases and estimate the sweep's time from the newest ceilings; measure nothing"
    parser.add_argument("--dry-run", action="store_true", help=help_dry)
    parser.set_defaults(func=handle)


def _workload_jobs(args: argparse.Namespace, spec: Resolved) -> list[Job]:
    if args.sizes or args.shape:
        raise UsageError("--workload chooses the cases: drop --sizes/--shape")
    dtypes = args.dtypes or ["float32"]
    jobs: list[Job] = []
    try:
        for tokens in args.batch_tokens or [args.tokens]:
            for dtype in dtypes:
                jobs += workload_jobs(args.workload, dtype, args.phase, tokens, args.tp, args.seq, args.context)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return jobs


def _dry_run(jobs: Sequence[Job], spec: Resolved, options: RunOptions, backends: Sequence[str]) -> int:
    threads = options.thread_counts()
    roofs = CeilingSet(host_ceilings(threads=threads))
    host, device = hostname(), HostDevice.name_of()
    total = 0.0
    print(f"{'case':<28} {'count':>6}  role")
    for job in jobs:
        fits = "" if memory_problem(job.case, 1) is None else "  (does not fit in host memory)"
        print(f"{job.case!s:<28} {job.count:>6}  {job.role}{fits}")
    for t in threads:
        for job in jobs:
            total += (
                len(backends) * len(options.modes) * estimate_seconds(job.case, options.policy, roofs, host, device, t)
            )
    print(
        f"gemmbench: {len(jobs)} cases x {len(backends)} backend(s) x {len(threads)} thread count(s) x "
        f"{len(options.modes)} mode(s); estimated {total / 60:.1f} min ({total / 3600:.2f} h) on this host"
    )
    return 0


def estimate_seconds(
    case: GemmCase, policy: TimingPolicy, roofs: CeilingSet, host: str, device: str, threads: int
) -> float:
    """A case's wall time: worker start, first call, warm-up, sampling up to the cap or the 5-call floor, and
    the float64 reference; calls at the best known rate for the dtype (measured GEMM, else the peak roof)."""
    peak = roofs.peak(host, device, case.dtype, threads) or roofs.peak(host, device, "float32", threads)
    rate = (peak.value if peak else 50.0) * 1e9
    call = case.flops / rate
    reference = 2 * case.flops / (rate / 2)  # the float64 check, about half the float32 rate
    return 1.5 + call + max(policy.max_time_s, 5 * call) + reference


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


def _fleet(
    args: argparse.Namespace, cases: Sequence[GemmCase | Job], spec: Resolved, options: RunOptions, reg: Registry
) -> int:
    rows = run_fleet(
        cases,
        cluster=args.cluster,
        on=args.on,
        disjoint=args.disjoint,
        backends=spec.backends or ["numpy"],
        options=options,
        output=spec.output,
        resume=args.resume,
        registry=reg,
        reporter=ConsoleReporter(),
    )
    bad = [r for r in rows if r.status in ("error", "wrong")]
    hosts = sorted({r.node for r in rows})
    print(f"gemmbench: {len(rows)} rows from {len(hosts)} node(s)" + (f", {len(bad)} error/wrong" if bad else ""))
    return 1 if bad else 0


def handle(args: argparse.Namespace) -> int:
    spec = resolve(lambda name: getattr(args, name))
    cases: list[GemmCase | Job] = list(_workload_jobs(args, spec) if args.workload else spec.cases)
    reg = discover()
    reg.select(spec.backends)
    if args.cluster and (args.in_process or args.interleave or args.paired or args.rounds > 1 or args.dry_run):
        raise UsageError(
            "--cluster runs one sweep on the fleet: drop --in-process, --interleave, --paired, --rounds, --dry-run"
        )
    if not args.dry_run and not args.cluster:  # a fleet's nodes check their own memory
        _check_memory([c.case if isinstance(c, Job) else c for c in cases])
    if args.rounds > 1 and args.resume:
        raise UsageError(
            "--rounds and --resume cannot be combined: --resume continues one run; "
            "start the rounds again, or resume with --rounds 1"
        )
    output = str(resume_target(spec.output)) if args.resume else spec.output
    if output is not None:
        check_writable(output, "output")  # before anything is measured or said
        check_appendable(output)
    options = RunOptions(
        modes=spec.modes,
        threads=spec.threads,
        policy=spec.policy,
        isolate=not args.in_process,
        case_timeout_s=args.timeout,
        interleave=args.interleave,
        paired=args.paired,
    )
    if args.cluster:
        return _fleet(args, cases, spec, options, reg)
    backends = spec.backends if spec.backends is not None else _available(reg)  # input is valid: now say more
    if args.paired and len(backends) < 2:
        raise UsageError("--paired takes turns between backends: choose two or more with --backends (-b)")
    if args.dry_run:
        return _dry_run([c if isinstance(c, Job) else Job(c) for c in cases], spec, options, backends)
    warn_if_slow_blas()
    reporter = ConsoleReporter()
    roofs = host_ceilings(threads=options.thread_counts(), say=reporter.note)  # once: the same for every round
    rows = []
    for round_no in range(1, args.rounds + 1):
        run_id = None
        if args.rounds > 1:  # every round is a run of its own in the same file: compare pairs within runs
            print(f"gemmbench: round {round_no} of {args.rounds}", file=sys.stderr)
            run_id = new_run_id()
            output = output or str(results_path(run_id))
        rows += run(
            cases,
            backends=backends,
            options=dataclasses.replace(options, lead=round_no - 1),  # --paired: each round, another backend first
            output=output,
            resume=args.resume,
            registry=reg,
            reporter=reporter,
            run_id=run_id,
            ceilings=roofs,
        )
    bad = [r for r in rows if r.status in ("error", "wrong")]
    print(f"gemmbench: {len(rows)} rows written" + (f", {len(bad)} error/wrong" if bad else ""))
    return 1 if bad else 0
