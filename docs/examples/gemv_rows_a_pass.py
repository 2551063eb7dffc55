"""Rows of B a GEMV pass: the A/B behind ``GEMV_FOUR_ROW_BYTES``, ``GEMV_SERIAL_ROWS``, ``GEMV_SHARE_PAGED_ROWS`` and
``GEMV_AHEAD_ROWS``.

The ``numba`` backend's GEMV (M = 1, row-major B) adds several rows of B into C per pass over C.
How many pays depends on C's width and on whether B's rows lie a whole number of 4 KiB pages
apart (then the same column of every row falls in one L1 set). This script times the backend's
own loops against each other, alternating in one process on the harness's operands, and checks
every result against a float64 product, so the rules' figures in docs/numba.md can be re-measured
after a change or on another CPU. OpenBLAS stays out of the loop on purpose: its thread pool
keeps spinning after a call and takes the cores from the next Numba call.

One thread reading whole rows of B (one, four, six or eight a pass; eight and four through
``gemv_pass``, which fetches the rows two passes ahead, as "8+" and "4+"):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 \\
        .venv/bin/python docs/examples/gemv_rows_a_pass.py whole float32 16384x2048 5000x2936

Two threads, each over its share of C's columns (six or eight a pass, and eight or four through
``gemv_pass`` from the share's first column, fetching ahead):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        .venv/bin/python docs/examples/gemv_rows_a_pass.py share float32 4096x512 3000x1000

Two threads, each over its own half of B's rows (the split the backend takes for B from memory):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        .venv/bin/python docs/examples/gemv_rows_a_pass.py split float32 3072x7168 1536x7168

Shapes are N x K of a 1 x N x K product. For each it prints GFLOP/s per loop (median of 41
rounds), each loop's speed over eight rows a pass, and the rule's choice.
"""

from __future__ import annotations

import sys
import time

import numba
import numpy as np
from numba import njit, prange

from gemmbench.backend import aligned_zeros
from gemmbench.case import GemmCase
from gemmbench.kernels import _numba_gemm_impl as impl
from gemmbench.verify import make_operands

ROUNDS = 41
#: The loops each mode compares: rows of B a pass, "+" for the loop that fetches ahead (``gemv_pass``).
CHOICES = {
    "whole": ("8", "6", "4", "1", "8+", "4+"),
    "share": ("8", "6", "8+", "4+"),
    "split": ("8", "4", "1", "8+", "4+"),
}


@njit(nogil=True)
def _rows(a, b, p0, p1, out, rows, ahead):
    """C's row from rows p0..p1 of B, ``rows`` whole rows of B a pass (``ahead``: fetching ahead)."""
    n = b.shape[1]
    if ahead:
        impl._axpy_rows_ahead(a, b, p0, p1, 0, n, out, rows)
    elif rows == 1:
        impl._axpy_each_row(a, b, p0, p1, out)
    elif rows == 4:
        impl._axpy_four_rows(a, b, p0, p1, out)
    elif rows == 6:
        impl._axpy_six_rows(a, b, p0, p1, 0, n, out)
    else:
        impl._axpy_rows(a, b, p0, p1, 0, n, out)


@njit(nogil=True)
def _whole(a, b, out, parts, rows, ahead):
    """C's row from all of B by one thread."""
    _rows(a, b, 0, b.shape[0], out, rows, ahead)


@njit(parallel=True)
def _split(a, b, out, parts, rows, ahead):
    """C's row from each thread's own range of B's rows, the partial rows summed, as the backend splits them."""
    k = b.shape[0]
    nthreads = parts.shape[0]
    for t in prange(nthreads):
        _rows(a, b, t * k // nthreads, (t + 1) * k // nthreads, parts[t], rows, ahead)
    out[:] = parts[0]
    for t in range(1, nthreads):
        out += parts[t]


@njit(parallel=True)
def _shares(a, b, out, parts, rows, ahead):
    """C's row split between the threads at whole cache lines, as the backend splits it."""
    k, n = b.shape
    nthreads = numba.get_num_threads()
    for t in prange(nthreads):
        j0, j1 = impl.column_share(n, out.itemsize, t, nthreads)
        if ahead:
            impl._axpy_rows_ahead(a, b, 0, k, j0, j1, out[j0:j1], rows)
        elif rows == 6:
            impl._axpy_six_rows(a, b, 0, k, j0, j1, out[j0:j1])
        else:
            impl._axpy_rows(a, b, 0, k, j0, j1, out[j0:j1])


def _rule(mode: str, n: int, k: int, size: int, threads: int) -> str:
    """The loop the backend's rules take, in CHOICES' notation."""
    if mode == "share":
        return str(impl.gemv_share_rows_a_pass(n, size))
    rows = impl.gemv_rows_a_pass(n, k, size, threads)
    return f"{rows}+" if impl.gemv_rows_ahead(n, k, size, threads) else str(rows)


def compare(mode: str, dtype: str, n: int, k: int) -> str:
    """One line: each loop's GFLOP/s and its speed over eight rows a pass, and the rule's choice."""
    ops = make_operands(GemmCase(1, n, k, dtype))
    want = ops.a.astype(np.float64) @ ops.b.astype(np.float64)
    size = np.dtype(dtype).itemsize
    threads = 1 if mode == "whole" else numba.get_num_threads()
    run = {"whole": _whole, "share": _shares, "split": _split}[mode]
    choices = CHOICES[mode]
    parts = aligned_zeros((threads, n), dtype)
    outs = {c: aligned_zeros((n,), dtype) for c in choices}

    def call(choice: str) -> None:
        run(ops.a, ops.b, outs[choice], parts, int(choice.rstrip("+")), choice.endswith("+"))

    for choice in choices:
        call(choice)
        np.testing.assert_allclose(outs[choice], want[0], rtol=1e-4, atol=1e-4 * np.sqrt(k), err_msg=choice)
    times: dict[str, list[float]] = {c: [] for c in choices}
    reps = max(1, int(1e7 // (n * k)))
    for _ in range(ROUNDS):
        for choice in choices:
            start = time.perf_counter()
            for _ in range(reps):
                call(choice)
            times[choice].append((time.perf_counter() - start) / reps)
    medians = {c: float(np.median(t)) for c, t in times.items()}
    cells = [f"{c} {2 * n * k / medians[c] / 1e9:6.1f} GFLOP/s ({medians['8'] / medians[c]:.3f})" for c in choices]
    rule = _rule(mode, n, k, size, threads)
    return f"{dtype} 1x{n}x{k} (rows of {n * size / 1024:.1f} KiB): " + ", ".join(cells) + f"; the rule takes {rule}"


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] not in CHOICES:
        print("usage: gemv_rows_a_pass.py whole|share|split float32|float64 NxK [NxK ...]", file=sys.stderr)
        raise SystemExit(2)
    mode, dtype = argv[0], argv[1]
    numba.set_num_threads(1 if mode == "whole" else min(2, numba.config.NUMBA_NUM_THREADS))
    for shape in argv[2:]:
        n, k = (int(x) for x in shape.split("x"))
        print(compare(mode, dtype, n, k), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
