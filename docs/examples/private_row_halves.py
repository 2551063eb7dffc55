"""Two threads, each a one-thread GEMM of its half of A's rows that packs all of B itself, against the kernel.

At two threads A of more than SHORT_A rows is cut into row blocks that share one packed panel of B: the
threads pack it together and each then reads the whole panel, half of it packed by the other core. The
alternative measured here gives each thread its own half of A's rows (whole MR strips, balanced as ``_rows``
does) and has it run the serial ``gemm`` on them with a workspace of its own, so each packs all of B (twice
the packing, none of it shared; halves of SHORT_A rows or fewer take the short-A path, B packed just in time).
The two halves run in two Python threads: the serial ``gemm`` is compiled again here with ``nogil`` so that
they run at once. Every product is checked with the harness's verifier; the kernel's own two-thread launch,
this split and OpenBLAS at two threads are timed alternately (``kernel_ab.py``'s loop), median of 31 rounds:

    OPENBLAS_THREAD_TIMEOUT=20 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        .venv/bin/python docs/examples/private_row_halves.py float64 300x4096x4096 512x4096x4096

Run it from the repository root with nothing else busy (OPENBLAS_THREAD_TIMEOUT as in kernel_ab.py). What it
finds is a lead: a rule built on it must be measured in the kernel and the harness. One was: on Intel's AVX-512
the kernel now gives each of two threads its own row block where B is row-major and 8 MiB or more (``own_rows``),
so on such shapes the script now times one method twice (an A/A); it still measures the split against the
shared panel elsewhere (B under 8 MiB, other CPUs).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from types import FunctionType

from kernel_ab import blas_launch, median_seconds, parse_shapes, verified
from numba import njit
from threadpoolctl import threadpool_limits

from gemmbench.backend import aligned_zeros
from gemmbench.case import GemmCase
from gemmbench.kernels import _numba_gemm_impl as impl
from gemmbench.kernels.numba_gemm import NumbaGemm
from gemmbench.verify import make_operands

USAGE = "usage: private_row_halves.py float32|float64 MxNxK [MxNxK ...]"


def nogil_gemm(kind: str):
    """The serial blocked GEMM of tile ``kind``, built with ``nogil`` (the backend's builds hold the GIL)."""
    src = impl._gemm_source(kind)
    twin = FunctionType(src.__code__, src.__globals__, f"gemm_{kind}_nogil", src.__defaults__, src.__closure__)
    return njit(nogil=True)(twin)


def halves(case: GemmCase, ops, c, tile) -> list[tuple]:
    """The serial ``gemm``'s arguments for each half of A's rows in ``tile``'s strips, each with a workspace of its
    own."""
    mr, _ = tile.shape(case.dtype)
    r0, r1 = impl._rows(case.m, mr, 2, 0)
    parts = []
    packs_b_rows = ops.b.flags.c_contiguous
    for lo, rows in ((r0, r1), (r1, case.m - r1)):
        work, mc, kc, nc, group = impl.workspace(ops.a.dtype, tile, rows, case.n, case.k, 1, packs_b_rows, False)
        parts.append((ops.a[lo : lo + rows], ops.b, c[lo : lo + rows], work, mc, kc, nc, group, 1, False))
    return parts


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("float32", "float64"):
        print(USAGE, file=sys.stderr)
        return 2
    dtype = argv[0]
    try:
        shapes = parse_shapes(argv[1:])
    except ValueError as exc:
        print(f"private_row_halves.py: {exc}. {USAGE}", file=sys.stderr)
        return 2
    if any(m <= impl.SHORT_A for m, _, _ in shapes):
        more = f"give A of more than {impl.SHORT_A} rows (short A shares no panel)"
        print(f"private_row_halves.py: {more}. {USAGE}", file=sys.stderr)
        return 2
    kernel = NumbaGemm()
    kernel.setup(2)
    pool = ThreadPoolExecutor(2)
    with threadpool_limits(limits=2, user_api="blas"):
        for m, n, k in shapes:
            case = GemmCase(m, n, k, dtype)
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            c = aligned_zeros((m, n), ops.a.dtype)
            tile = impl.tile_for(m, n, k, dtype, ops.b.flags.c_contiguous, 2)
            gemm, parts = nogil_gemm(tile.kind), halves(case, ops, c, tile)

            def split(gemm=gemm, parts=parts):
                for future in [pool.submit(gemm, *part) for part in parts]:
                    future.result()

            verified(prepared.launch, prepared.output, case, ops, "private_row_halves.py: the kernel")
            verified(split, c, case, ops, "private_row_halves.py: the split")
            kernel_s, split_s, blas_s = median_seconds([prepared.launch, split, blas_launch(case, ops)])
            rate = [2 * m * n * k / t / 1e9 for t in (kernel_s, split_s, blas_s)]
            blocks = " and ".join(f"MC={p[4]} KC={p[5]} NC={p[6]}" for p in parts)
            print(
                f"{dtype} {m}x{n}x{k}  kernel {rate[0]:6.1f}  split {rate[1]:6.1f}  openblas {rate[2]:6.1f} GFLOP/s"
                f"  split/kernel {rate[1] / rate[0]:.3f}  kernel/openblas {rate[0] / rate[2]:.3f}"
                f"  split/openblas {rate[1] / rate[2]:.3f}  halves {blocks}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
