"""CPU ceiling microbenchmarks: FMA throughput per dtype and STREAM-style bandwidth.

Peak compute: each thread runs a loop of independent vector FMA chains held in registers
(acc = acc * m + a, never touching memory). The chains are emitted as LLVM IR through a
Numba intrinsic, so the vector width and register use are exactly what we ask for: enough
chains to cover FMA latency x units, few enough to stay in the register file. A plain
Numba loop over an array keeps accumulators in memory and reaches a fraction of peak.

Bandwidth: STREAM triad (a = b + s*c) and copy over float64 arrays several times the
last-level cache, chunked statically over the threads, best of several repetitions.
Traffic is counted the STREAM way: 24 bytes per triad element and 16 per copy element
(reads plus writes; the write-allocate read of ``a`` is not counted).

Numba is optional: without it peak compute is left to the GEMM ceiling and bandwidth
falls back to a single-threaded ``np.copyto``, both said so in the method text.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .hostfacts import last_level_cache_bytes, vector_bits

__all__ = ["fma_chains_for", "fma_peak_gflops", "numba_available", "stream_gbs"]


def numba_available() -> bool:
    from importlib.util import find_spec

    return find_spec("numba") is not None


def fma_chains_for(bits: int) -> int:
    """Independent chains: >= latency (4) x units (2), within the 16 (AVX2) or 32 (AVX-512) registers."""
    return {512: 24, 256: 12}.get(bits, 8)


@functools.cache
def _fma_kernel(bits: int, chains: int) -> Any:
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.extending import intrinsic

    from .llvmir import I32, I64, fma_function, splat, vector_type

    @intrinsic
    def fma_chains(typingctx, n_iter, seed):
        def codegen(context, builder, sig, args):
            n, s = args
            fty = context.get_value_type(sig.return_type)
            vty = vector_type(fty, bits)
            # acc = acc * 0.999 + 0.001 converges to a fixed point: no overflow, no denormals.
            mul, add = splat(builder, vty, ir.Constant(fty, 0.999)), splat(builder, vty, ir.Constant(fty, 0.001))
            init = [splat(builder, vty, builder.fadd(s, ir.Constant(fty, float(c)))) for c in range(chains)]
            fma = fma_function(builder.module, vty)
            pre = builder.block
            loop, done = builder.append_basic_block("fma.loop"), builder.append_basic_block("fma.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            i = builder.phi(I64)
            accs = [builder.phi(vty) for _ in range(chains)]
            new = [builder.call(fma, [acc, mul, add]) for acc in accs]
            i_next = builder.add(i, ir.Constant(I64, 1))
            builder.cbranch(builder.icmp_signed("<", i_next, n), loop, done)
            i.add_incoming(ir.Constant(I64, 0), pre)
            i.add_incoming(i_next, loop)
            for acc, v0, v1 in zip(accs, init, new):
                acc.add_incoming(v0, pre)
                acc.add_incoming(v1, loop)
            builder.position_at_end(done)
            total = functools.reduce(builder.fadd, new)
            lanes = [builder.extract_element(total, ir.Constant(I32, k)) for k in range(vty.count)]
            return functools.reduce(builder.fadd, lanes)

        return seed(types.int64, seed), codegen

    @njit(parallel=True)
    def run(n_iter, seed, nthreads):
        out = np.zeros(nthreads, np.float64)
        for t in prange(nthreads):
            out[t] = fma_chains(n_iter, seed + t)
        return out

    return run


def _best_rate(trial: Callable[[], object], work: float, repeats: int) -> float:
    """Best (work / seconds) over ``repeats`` trials: the ceiling is what the hardware can do."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        trial()
        best = max(best, work / (time.perf_counter() - t0))
    return best


def fma_peak_gflops(dtype: str, threads: int, seconds: float = 0.2, repeats: int = 5) -> float:
    """Measured FMA throughput of ``threads`` threads in GFLOP/s (needs Numba)."""
    import numba

    numba.set_num_threads(threads)
    bits = vector_bits()
    chains = fma_chains_for(bits)
    run = _fma_kernel(bits, chains)
    seed = np.dtype(dtype).type(0.5)
    lanes = bits // (8 * np.dtype(dtype).itemsize)
    run(1000, seed, threads)  # compile + warm up
    n = 1000
    while True:  # size the loop to ~``seconds``
        t0 = time.perf_counter()
        run(n, seed, threads)
        if time.perf_counter() - t0 > seconds / 4 or n > 1 << 40:
            break
        n *= 4
    flops = 2.0 * lanes * chains * n * threads
    return _best_rate(lambda: run(n, seed, threads), flops, repeats) / 1e9


@functools.cache
def _stream_kernels() -> tuple[Any, Any]:
    from numba import njit, prange

    @njit(parallel=True)
    def triad(a, b, c, s, chunks):
        n = a.size
        for t in prange(chunks):
            for i in range(t * n // chunks, (t + 1) * n // chunks):
                a[i] = b[i] + s * c[i]

    @njit(parallel=True)
    def copy(a, b, chunks):
        n = a.size
        for t in prange(chunks):
            for i in range(t * n // chunks, (t + 1) * n // chunks):
                a[i] = b[i]

    return triad, copy


def stream_gbs(threads: int, repeats: int = 10, elements: int | None = None) -> dict[str, float]:
    """Triad and copy bandwidth in GB/s over arrays >= 4x the last-level cache each."""
    n = elements or max(4 * last_level_cache_bytes() // 8, 1 << 22)
    if not numba_available():
        a, b = np.empty(n), np.ones(n)
        return {"copy": _best_rate(lambda: np.copyto(a, b), 16.0 * n, repeats) / 1e9}
    import numba

    numba.set_num_threads(threads)
    triad, copy = _stream_kernels()
    a, b, c = np.empty(n), np.empty(n), np.empty(n)
    copy(b, np.ones(n), threads)  # first touch by the threads that will use the pages
    copy(c, np.full(n, 2.0), threads)
    copy(a, b, threads)
    return {
        "triad": _best_rate(lambda: triad(a, b, c, 3.0, threads), 24.0 * n, repeats) / 1e9,
        "copy": _best_rate(lambda: copy(a, b, threads), 16.0 * n, repeats) / 1e9,
    }
