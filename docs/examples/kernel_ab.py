"""A/B of the ``numba`` backend: the kernels of a git revision against the working tree's.

"What changed, and what each change bought" in docs/numba.md quotes in-process A/Bs: the old and the
new kernel alternating in one process on the harness's page-aligned operands, so that both see the
same machine state (a harness run compares each backend with OpenBLAS, not two versions of one
backend). This script is that A/B. It extracts ``kernels/`` at REV with ``git archive`` into a
temporary package, prepares both versions through the backend's own ``prepare`` (so each takes
the path its own rules choose), checks every result with the harness's verifier
(``gemmbench.verify``), and times them alternately, ROUNDS rounds, median.

One thread, OpenBLAS (held at one thread) in the loop as a yardstick; pin the process:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 \\
        .venv/bin/python docs/examples/kernel_ab.py HEAD~1 1 float64 64x7392x8192 16x8192x3584

Two threads: OpenBLAS's pool keeps spinning after a call (0.11 s of CPU time after each call here,
by default) and would take the cores from the next Numba call, so the script runs itself again with
OPENBLAS_THREAD_TIMEOUT=20 (OpenBLAS clamps the value to 4-30; its threads spin 2**value cycles
before they sleep: 0.3-0.5 ms at 2-3.5 GHz, under the 10 ms os.times() can see here), and a 5 ms
pause follows every sample. The back-to-back calls of a sample then find OpenBLAS's threads awake, as
in the harness's numpy worker (only a sample's first call wakes them), the next kernel's sample finds
them asleep, and OpenBLAS at two threads is timed in the loop too:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        .venv/bin/python docs/examples/kernel_ab.py HEAD~1 2 float32 64x7392x8192

Run it from the repository root, with nothing else busy. ``--trans NT`` (before REV) stores B
transposed, as the harness's ``--trans`` does (any of NN, NT, TN, TT). For each M x N x K it prints
GFLOP/s of the old and the new kernel and of OpenBLAS at as many threads, new over old and over
OpenBLAS, and the new path.

What it finds is a lead for the harness, not a verdict: at two threads an A/A here read 1.006-1.058
(0.89-1.14 over 56 shapes with OpenBLAS in the loop); at one thread, 12-row strips reading B in place
from memory read 0.96-1.24 (a Zen 5 EPYC, 2026-12-03, ``HEAD`` against itself; cause not found), and
after they came to pack it, B streamed from memory still reads a bias of up to 4 % that repeats run to
run for a shape (float64 6x8192x8192 1.046 and 1.040, 12x12288x2048 0.990 and 0.961), so a difference
under 5 % there is no evidence; a change it put at +15 to +23 % was level in ``gemmbench run``; and B of
about half this VM's shared last-level cache stays there only some of the time (16 MiB read in place:
-27 to +22 % over eight runs, 0.75-0.90 of OpenBLAS in the harness). NumPy puts operands of 4 MiB or more on
2 MiB transparent huge pages where the kernel's policy is ``madvise`` and it finds them free (the harness's rows
record the policy, ``thp``); that moved a Numba figure by a quarter where B's rows are a multiple of 16 KiB apart
(docs/numba.md "Wide tiles pack B unfetched on Intel"), so A/B a change on both: NUMPY_MADVISE_HUGEPAGE=0 in the
environment gives 4 KiB pages. Keep a change when the harness agrees.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from gemmbench.case import TRANSPOSES, GemmCase
from gemmbench.options import parse_shape
from gemmbench.verify import make_operands, verify

ROUNDS = 31
OLD = "kernels_at_rev"  # the package name the revision's kernels are imported under
#: Two threads: OpenBLAS's workers spin 2**20 cycles after a call, not ~0.1 s (read when NumPy loads it).
QUIET_POOL = {"OPENBLAS_THREAD_TIMEOUT": "20"}
#: Pause after every sample: the pools of the kernel just timed go quiet before the next one starts.
SETTLE_S = 0.005
USAGE = "usage: kernel_ab.py [--trans NN|NT|TN|TT] REV THREADS float32|float64 MxNxK [MxNxK ...]"


def _old_backend(rev: str, into: Path):
    """The revision's ``numba_gemm`` module, imported from ``into`` under its own package name."""
    archive = subprocess.run(["git", "archive", rev, "kernels"], capture_output=True, check=False)
    if archive.returncode:
        sys.exit(f"kernel_ab.py: git archive {rev} failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    package = into / OLD
    (into / "kernels").rename(package)
    for source in package.glob("*.py"):  # its modules import each other as gemmbench.kernels.*
        source.write_text(source.read_text().replace("gemmbench.kernels", OLD))
    (package / "__init__.py").touch()
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{OLD}.numba_gemm")


def _seconds_per_call(launch, reps: int) -> float:
    """Mean seconds of one call over ``reps`` back-to-back calls (one sample; the median is taken over rounds)."""
    start = time.perf_counter()
    for _ in range(reps):
        launch()
    return (time.perf_counter() - start) / reps


def parse_shapes(words: list[str]) -> list[tuple[int, ...]]:
    """``MxNxK`` words as (m, n, k), read by the command line's own ``parse_shape``; ValueError naming the
    problem for none, a bad one, or a batched ``@B`` one (these scripts time single products)."""
    try:
        shapes = [parse_shape(word) for word in words]
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    if not shapes or any(len(shape) != 3 for shape in shapes):
        raise ValueError("give one or more shapes MxNxK, without @BATCH")
    return shapes


def verified(launch, output, case: GemmCase, ops, what: str) -> None:
    """Run ``launch`` twice (one that accumulates into C fails) and check ``output`` with the harness's
    verifier, each entry to its bound; exits naming ``what`` if wrong."""
    launch()
    launch()
    verdict = verify(case, ops, output)
    if not verdict.ok:
        sys.exit(f"{what} is wrong on {case.m}x{case.n}x{case.k} {case.dtype}: {verdict.detail}")


def checked(kernel, case: GemmCase, ops, what: str):
    """``kernel`` prepared for ``case`` on ``ops``, its product ``verified``."""
    prepared = kernel.prepare(case, ops)
    verified(prepared.launch, prepared.output, case, ops, what)
    return prepared


def blas_launch(case: GemmCase, ops):
    """One call of NumPy's BLAS on ``ops`` into a C of its own: the yardstick timed in the loop."""
    c = np.empty((case.m, case.n), case.dtype)
    return lambda: np.matmul(ops.a, ops.b, out=c)


def median_seconds(launches: list, rounds: int = ROUNDS) -> list[float]:
    """Median seconds a call of each launch, the launches timed alternately for ``rounds`` rounds (so that
    every one sees the same machine state), each sample enough back-to-back calls to last 20 ms."""
    reps = 1
    while _seconds_per_call(launches[0], reps) * reps < 0.02:
        reps *= 2
    times: list[list[float]] = [[] for _ in launches]
    for _ in range(rounds):
        for launch, samples in zip(launches, times, strict=True):
            samples.append(_seconds_per_call(launch, reps))
            time.sleep(SETTLE_S)
    return [float(np.median(t)) for t in times]


def main(argv: list[str]) -> int:
    trans = "NN"
    if argv[:1] == ["--trans"]:  # storage of (A, B), as the harness's --trans: "T" stored transposed
        if len(argv) < 2 or argv[1] not in TRANSPOSES:
            print(f"kernel_ab.py: --trans takes one of {', '.join(TRANSPOSES)}. {USAGE}", file=sys.stderr)
            return 2
        trans, argv = argv[1], argv[2:]
    if len(argv) < 4 or not argv[1].isdigit() or int(argv[1]) < 1 or argv[2] not in ("float32", "float64"):
        print(USAGE, file=sys.stderr)
        return 2
    rev, threads, dtype = argv[0], int(argv[1]), argv[2]
    try:
        shapes = parse_shapes(argv[3:])
    except ValueError as exc:
        print(f"kernel_ab.py: {exc}. {USAGE}", file=sys.stderr)
        return 2
    if threads > 1 and any(os.environ.get(k) != v for k, v in QUIET_POOL.items()):
        os.environ.update(QUIET_POOL)  # OpenBLAS reads it once, when NumPy loads it: start again
        os.execv(sys.executable, [sys.executable, *sys.argv])
    from gemmbench.kernels import numba_gemm as new_module

    with tempfile.TemporaryDirectory() as tmp:
        old_module = _old_backend(rev, Path(tmp))
        kernels = []
        for module in (old_module, new_module):
            kernel = module.NumbaGemm()
            kernel.setup(threads)  # holds the BLAS pool at one thread while the kernel lives
            kernels.append(kernel)
        with threadpool_limits(limits=threads, user_api="blas"):  # the yardstick's threads (quiet when idle)
            for m, n, k in shapes:
                case = GemmCase(m, n, k, dtype, trans)
                ops = make_operands(case)
                launches, path = [], ""
                for name, kernel in zip(("old", "new"), kernels, strict=True):
                    prepared = checked(kernel, case, ops, f"kernel_ab.py: the {name} kernel")
                    launches.append(prepared.launch)
                    path = f"{prepared.facts.get('tile', '')} {prepared.facts['path']}".strip()
                launches.append(blas_launch(case, ops))
                rates = [2 * m * n * k / t / 1e9 for t in median_seconds(launches)]
                blas = f"  openblas {rates[2]:6.1f}  new/openblas {rates[1] / rates[2]:.3f}"
                print(
                    f"{dtype} {trans} {m}x{n}x{k}  old {rates[0]:6.1f}  new {rates[1]:6.1f} GFLOP/s  "
                    f"new/old {rates[1] / rates[0]:.3f}{blas}  {path}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
