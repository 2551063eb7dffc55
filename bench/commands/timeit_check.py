"""``gemmbench timeit-check``: the harness's NumPy medians against a plain ``timeit`` of the same GEMM.

A cross-check anyone can run: if the harness and ``timeit`` disagree on a quiet machine,
trust neither. Both use the same operands and thread count; ``timeit`` runs in this
process, the harness in its worker. Two references are printed: ``np.matmul(a, b, out=c)``
(what the harness times) and ``a @ b`` (which also allocates and first-touches C each call).
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Sequence

import numpy as np

from ..buffers import aligned_empty
from ..case import GemmCase
from ..errors import UsageError
from ..hostfacts import threads_problem
from ..options import parse_choices, parse_sizes
from ..sweep import RunOptions, run
from ..verify import make_operands

__all__ = ["check", "timeit_median"]

NAME = "timeit-check"
HELP = "harness medians of numpy against plain timeit (a cross-check)"


def timeit_median(case: GemmCase, statement: str, threads: int, repeats: int = 21) -> float:
    """Median seconds per call of ``statement`` over ``repeats`` autoranged timeit blocks."""
    from threadpoolctl import threadpool_limits

    ops = make_operands(case)
    env = {"a": ops.a, "b": ops.b, "c": aligned_empty((case.m, case.n), ops.a.dtype), "np": np}  # as the backend
    with threadpool_limits(threads):
        timer = timeit.Timer(statement, globals=env)
        number, _ = timer.autorange()
        return float(np.median(timer.repeat(repeats, number))) / number


def check(sizes: Sequence[int], dtypes: Sequence[str], threads: int, output: str | None = None) -> list[str]:
    """Lines of a table: harness median, timeit medians and their ratios, per size and dtype."""
    lines = [f"{'case':<22} {'harness':>12} {'timeit out=':>12} {'ratio':>6} {'timeit a@b':>12} {'ratio':>6}  noise"]
    for case in (GemmCase(n, n, n, d) for d in dtypes for n in sizes):
        # One case at a time, timeit right after the harness: drift of the machine between
        # the two measurements would otherwise pass for disagreement.
        (row,) = run([case], backends=["numpy"], options=RunOptions(threads=(threads,)), output=output)
        if row.status != "ok" or row.median_s is None:
            lines.append(f"{case!s:<22} {row.status}: {row.reason}")
            continue
        out = timeit_median(case, "np.matmul(a, b, out=c)", threads)
        new = timeit_median(case, "a @ b", threads)
        lines.append(
            f"{case!s:<22} {row.median_s * 1e6:>10.2f}us {out * 1e6:>10.2f}us {row.median_s / out:>6.3f} "
            f"{new * 1e6:>10.2f}us {row.median_s / new:>6.3f}  {row.noise}"
        )
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--sizes", type=parse_sizes, default=[32, 256, 512, 1024], metavar="LIST")
    parser.add_argument(
        "-d",
        "--dtypes",
        type=parse_choices(("float32", "float64"), "dtype"),
        default=["float32", "float64"],
        metavar="LIST",
    )
    parser.add_argument("-j", "--threads", type=int, default=1, help="thread count for both (default 1)")
    parser.add_argument("-o", "--output", default=None, metavar="CSV", help="where the harness rows go")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    problem = threads_problem([args.threads])
    if problem:
        raise UsageError(problem)
    for line in check(args.sizes, args.dtypes, args.threads, args.output):
        print(line)
    return 0
