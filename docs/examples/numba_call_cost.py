"""What one call of the ``numba`` GEMM costs besides its arithmetic, for a small product.

Small products (64^3: about 5 us) notice every fixed cost of a call. This script measures each
one on its own, in one process, so the account of them in docs/numba.md ("What a small
call costs") can be checked and re-measured after a change. Run it pinned to one CPU with nothing
else busy (unpinned, its last line is the launch on every CPU; Numba's pool follows the affinity):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 1 \\
        .venv/bin/python docs/examples/numba_call_cost.py [SIZE] [DTYPE]

Each figure is the median of nine repeats of a timed loop, in microseconds per call:

- call: an empty compiled function taking the kernel's own arguments, called through its dispatcher
  (the build looked up from the arguments' types, then unboxing), and bound to its build as the
  backend binds the kernel (unboxing only);
- parallel region: an empty ``prange`` loop (Numba's thread-pool launch; what the serial build
  skips when one thread, or one share of C, does all the work), of one iteration and of one for each
  of Numba's threads, all of its pool (run unpinned, what a launch on every CPU costs);
- pack A / pack B: packing the operands as a packed path would (what reading them in place saves);
- product in compiled code: the kernel called from a compiled loop (no Python call);
- product as the harness calls it: the backend's prepared launch;
- numpy.matmul: OpenBLAS on the same operands, for reference, and on 4 x 4 operands: what NumPy's
  call costs besides the arithmetic.
"""

from __future__ import annotations

import sys
import time
from functools import partial

import numpy as np
from numba import config, njit, prange, set_num_threads, typeof

from gemmbench.backend import aligned_zeros
from gemmbench.case import GemmCase
from gemmbench.kernels import _numba_gemm_impl as impl
from gemmbench.kernels.numba_gemm import NumbaGemm
from gemmbench.verify import make_operands


@njit
def _empty(a, b, c, work, mc, kc, nc, group, threads, own):  # the blocked GEMM's arguments
    return None


@njit(parallel=True)
def _region(x, iterations):
    for i in prange(iterations):
        x[i] = 0


@njit
def _repeat(count, fn, args):
    for _ in range(count):
        fn(*args)


@njit
def _pack_a(count, a, kc, buf, tile):
    for _ in range(count):
        impl.pack_a(a, 0, a.shape[0], 0, kc, buf, tile)


@njit
def _pack_b(count, b, kc, buf, tile):
    strips = -(-b.shape[1] // impl.tile_nr(buf, tile))
    for _ in range(count):
        impl.pack_b(b, 0, kc, 0, b.shape[1], 0, strips, buf, 0, tile, impl.ROW_GROUP)


def _per_call_us(loop, count: int) -> float:
    """Median over nine repeats of ``loop(count)``'s time per iteration, in microseconds."""
    loop(count)  # compile and warm up
    times = []
    for _ in range(9):
        start = time.perf_counter()
        loop(count)
        times.append((time.perf_counter() - start) / count)
    return float(np.median(times)) * 1e6


def main(size: int = 64, dtype: str = "float32", count: int = 0) -> None:
    """Print what one call of the ``size``³ product costs, part by part; ``count`` calls per timed loop
    (0: 2e6 // size², at least 100)."""
    case = GemmCase(size, size, size, dtype)
    ops = make_operands(case)
    kernel = NumbaGemm()
    kernel.setup(1)
    prepared = kernel.prepare(case, ops)
    launch = prepared.launch
    args = launch.args
    tile = impl.tile_for(size, size, size, dtype, True, 1)
    gemm = impl.GEMMS[(False, tile.kind)]  # one thread: the serial build
    mr, nr = tile.shape(dtype)
    bound = _empty.compile(tuple(typeof(x) for x in args))
    kc = min(size, impl.BLOCKS[dtype][1])
    abuf = aligned_zeros(-(-size // mr) * mr * kc, dtype)
    bbuf = aligned_zeros(kc * -(-size // nr) * nr, dtype)
    c = np.zeros((size, size), dtype)
    flat = c.reshape(-1)  # the regions' argument, made once: the timed loops time the launch alone
    count = count or max(100, int(2e6 // size**2))
    tiny, tiny_c = np.ones((4, 4), dtype), np.zeros((4, 4), dtype)

    def python_loop(fn):
        return lambda n: [fn() for _ in range(n)]

    figures = [
        ("call (empty function, the kernel's arguments)", python_loop(partial(_empty, *args))),
        ("call bound to its build (as the backend calls)", python_loop(partial(bound, *args))),
        ("parallel region (empty prange of 1)", python_loop(lambda: _region(flat, 1))),
        ("pack A", lambda n: _pack_a(n, ops.a, kc, abuf, tile)),
        ("pack B", lambda n: _pack_b(n, ops.b, kc, bbuf, tile)),
        ("product in compiled code", lambda n: _repeat(n, gemm, args)),
        ("product as the harness calls it", python_loop(launch)),
        ("numpy.matmul (OpenBLAS)", python_loop(lambda: np.matmul(ops.a, ops.b, out=c))),
        ("numpy.matmul of 4x4 (its call alone)", python_loop(lambda: np.matmul(tiny, tiny, out=tiny_c))),
    ]
    print(f"{case.label}, tile {mr}x{nr} {tile.kind}, path: {prepared.facts['path']}")
    for name, loop in figures:
        print(f"{name:48s} {_per_call_us(loop, count):8.2f} us")
    kernel.teardown()
    threads = min(config.NUMBA_NUM_THREADS, flat.size)  # the pool's every thread (the kernel set one)
    set_num_threads(threads)
    name = f"parallel region (empty prange of {threads}, {threads} thread{'s' * (threads > 1)})"
    print(f"{name:48s} {_per_call_us(python_loop(lambda: _region(flat, threads)), count):8.2f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 64, sys.argv[2] if len(sys.argv) > 2 else "float32")
