"""In-process sweep of the ``numba`` backend's cache blocks (MC, KC, NC): which sizes suit this host.

The blocks are not compiled in: ``workspace`` reads them (``blocks``) when a case is prepared and
passes them to the compiled GEMM as arguments. So this script prepares each case once per
candidate (MC, KC, NC), all in one process on the harness's operands, checks every result with the
harness's verifier, and times the candidates alternately, 31 rounds, median (the method of
``kernel_ab.py``, whose timing loop it reuses). The first candidate is the yardstick at two threads;
at one thread OpenBLAS (held at one thread) is timed in the loop too, and every ratio is over it.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 .venv/bin/python docs/examples/block_sizes.py \\
        1 float64 60,512,4096 60,256,1024 -- 2048x2048x2048 1500x2500x700

A candidate replaces both tables (BLOCKS and PANEL_BLOCKS) for the dtype, and short A's own KCs
(SHORT_A_KC, UNFETCHED_KC for B too large to fetch ahead, IN_PLACE_KC) are set aside, so it applies to every A
alike; whether B is fetched ahead stays as compiled (``fetches_group_ahead``). Short A packs B just in
time in groups of JIT_ROWS // KC strips (the same bytes whatever the KC; at most JIT_GROUP_BYTES for the
tile kind where set); a fourth number G packs G strips a group instead, whatever their bytes. What it
finds is a lead; keep a change when the harness agrees.
"""

from __future__ import annotations

import sys

from kernel_ab import blas_launch, checked, median_seconds, parse_shapes
from threadpoolctl import threadpool_limits

from gemmbench.case import GemmCase
from gemmbench.kernels import _numba_gemm_impl as impl
from gemmbench.kernels.numba_gemm import NumbaGemm
from gemmbench.verify import make_operands

USAGE = "usage: block_sizes.py THREADS float32|float64 MC,KC,NC[,G] [MC,KC,NC[,G] ...] -- MxNxK [MxNxK ...]"


def _candidates(words: list[str]) -> list[tuple[int, ...]]:
    """``MC,KC,NC[,G]`` words as tuples of positive integers; ValueError for none or a bad one."""
    tuples = [tuple(int(x) for x in word.split(",")) for word in words]
    if not tuples or any(len(t) not in (3, 4) or min(t) < 1 for t in tuples):
        raise ValueError
    return tuples


def main(argv: list[str]) -> int:
    try:
        threads, dtype, rest = int(argv[0]), argv[1], argv[2:]
        split = rest.index("--")
        candidates, shapes = _candidates(rest[:split]), parse_shapes(rest[split + 1 :])
        if threads < 1 or dtype not in ("float32", "float64"):
            raise ValueError
    except (IndexError, ValueError):
        print(USAGE, file=sys.stderr)
        return 2
    jit_rows, group_bytes = impl.JIT_ROWS[dtype], impl.JIT_GROUP_BYTES
    impl.SHORT_A_KC[dtype] = ()  # the candidate's KC for every A
    kernel = NumbaGemm()
    kernel.setup(threads)
    with threadpool_limits(limits=1, user_api="blas"):
        for m, n, k in shapes:
            case = GemmCase(m, n, k, dtype)
            ops = make_operands(case)
            launches = []
            for candidate in candidates:
                impl.BLOCKS[dtype] = impl.PANEL_BLOCKS[dtype] = candidate[:3]
                impl.UNFETCHED_KC = impl.IN_PLACE_KC = candidate[1]
                impl.JIT_ROWS[dtype] = candidate[3] * candidate[1] if len(candidate) == 4 else jit_rows
                # G strips, whatever the bytes
                impl.JIT_GROUP_BYTES = dict.fromkeys(group_bytes, 0) if len(candidate) == 4 else group_bytes
                launches.append(checked(kernel, case, ops, f"block_sizes.py: {candidate}").launch)
            if threads == 1:
                launches.append(blas_launch(case, ops))
            rates = [2 * m * n * k / t / 1e9 for t in median_seconds(launches)]
            ref = rates[-1] if threads == 1 else rates[0]
            cells = "  ".join(f"{'/'.join(map(str, c))} {r:6.1f} ({r / ref:.3f})" for c, r in zip(candidates, rates))
            blas = f"  openblas {rates[-1]:6.1f}" if threads == 1 else ""
            print(f"{dtype} {m}x{n}x{k}  {cells}{blas}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
