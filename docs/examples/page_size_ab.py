"""Does B's page size move the ``numba`` backend and OpenBLAS alike? An in-process check, one thread.

The harness's operands are page-aligned NumPy buffers (``gemmbench.buffers``) of one ``np.empty``
each, and NumPy asks Linux for transparent huge pages (``madvise``) on buffers of 4 MiB or more, so
with THP in ``madvise`` or ``always`` mode a large B lies on 2 MiB pages. Whether it gets them depends
on the memory free at the time, which differs between two workers of one run. This script makes two
copies of the harness's B, one with NumPy's huge-page request and one without (4 KiB pages), prints
how much of the process is on huge pages (``AnonHugePages``), checks the Numba kernel's product on
each (``kernel_ab.checked``), and times Numba and OpenBLAS on both alternately (``kernel_ab.median_seconds``):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 \\
        .venv/bin/python docs/examples/page_size_ab.py float64 8x13312x16384 8x7168x12288

Run it from the repository root, with nothing else busy. Linux only (``/proc/self/smaps_rollup``).
"""

from __future__ import annotations

import sys

import numpy as np
from kernel_ab import blas_launch, checked, median_seconds, parse_shapes
from numpy._core.multiarray import _set_madvise_hugepage
from threadpoolctl import threadpool_limits

from gemmbench.buffers import aligned_copy
from gemmbench.case import GemmCase
from gemmbench.kernel import Operands
from gemmbench.kernels.numba_gemm import NumbaGemm
from gemmbench.verify import make_operands

USAGE = "usage: page_size_ab.py float32|float64 MxNxK [MxNxK ...]"


def huge_kib() -> int:
    """KiB of this process's anonymous memory on transparent huge pages."""
    with open("/proc/self/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("AnonHugePages"))


def copy_on(b: np.ndarray, huge: bool) -> np.ndarray:
    """A page-aligned copy of ``b``, allocated with or without NumPy's huge-page request."""
    before = _set_madvise_hugepage(huge)
    try:
        return aligned_copy(b)
    finally:
        _set_madvise_hugepage(before)


def main(argv: list[str]) -> int:
    try:
        dtype, shapes = argv[0], parse_shapes(argv[1:])
        if dtype not in ("float32", "float64"):
            raise ValueError
    except (IndexError, ValueError):
        print(USAGE, file=sys.stderr)
        return 2
    kernel = NumbaGemm()
    kernel.setup(1)
    with threadpool_limits(limits=1, user_api="blas"):
        for m, n, k in shapes:
            case = GemmCase(m, n, k, dtype)
            ops = make_operands(case)
            launches, pages = [], []
            for huge in (True, False):
                start = huge_kib()
                operands = Operands(ops.a, copy_on(ops.b, huge))
                got = (huge_kib() - start) / 1024
                pages.append(f"{'2 MiB' if huge else '4 KiB'} pages asked, {got:.0f} MiB on huge pages")
                prepared = checked(kernel, case, operands, f"page_size_ab.py: numba on {pages[-1]}")
                launches += [prepared.launch, blas_launch(case, operands)]
            rates = [2 * m * n * k / t / 1e9 for t in median_seconds(launches)]
            for i, where in enumerate(pages):
                numba, blas = rates[2 * i], rates[2 * i + 1]
                print(f"{dtype} {m}x{n}x{k}  B {where}: numba {numba:6.2f}  openblas {blas:6.2f}  ({numba / blas:.3f})")
            del ops, operands, launches
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
