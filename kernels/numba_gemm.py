"""Numba backends: ``numba`` (packed, register-blocked GEMM) and ``numba-naive`` (textbook loops).

Our own GEMM, no BLAS calls: a GotoBLAS/BLIS-style blocked algorithm whose micro-kernel
holds an MR x NR tile of C in vector registers (see ``_numba_gemm_impl``). It is here to
show that a user-written kernel can be measured against a vendor BLAS on equal terms.

Numba runs its own thread pool, so in its worker the BLAS pool is held at 1 thread and
``numba.set_num_threads`` gets the run's count; in a worker, OpenMP threads are pinned
(OMP_PROC_BIND/OMP_PLACES, set by the harness) when Numba uses its OpenMP layer.
Compilation happens when a case is prepared (each launch is bound to the build for its
arguments' types, ``_bound``); compiled code is cached on disk, so a second run pays only the
cache load.
"""

from __future__ import annotations

from functools import partial
from importlib.util import find_spec

from gemmbench.backend import GemmCase, Kernel, Operands, Prepared, aligned_zeros

#: numba-naive is a teaching kernel (~1 GFLOP/s): cases above this m*n*k are skipped.
NAIVE_MAX_MNK = 512**3


class NumbaGemm(Kernel):
    name = "numba"
    dtypes = ("float32", "float64")
    description = "packed, register-blocked GEMM in Numba (LLVM-IR micro-kernel), no BLAS"

    @classmethod
    def probe(cls) -> str | None:
        return None if find_spec("numba") else "numba not installed (pip install 'gemmbench[numba]')"

    def setup(self, threads: int) -> dict[str, str]:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=1, user_api="blas")  # never two busy pools
        import numba

        numba.set_num_threads(threads)
        self.numba = numba
        self.threads = threads
        return {"numba_threads": str(threads), "blas_threads": "1"}

    def _impl(self):
        from gemmbench.kernels import _numba_gemm_impl

        return _numba_gemm_impl

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        impl = self._impl()
        a, b = operands.a, operands.b
        c = aligned_zeros((case.m, case.n), a.dtype)
        if case.m == 1:  # memory-bound: stream B once, no packing
            parallel = self.threads > 1
            if case.trans_b:
                launch, path = _bound(impl.GEMV_DOTS[parallel], a, b.T, c), "gemv, dot products"
            else:  # per-thread partial rows, for when the threads split B's rows
                parts = aligned_zeros((self.threads, case.n), a.dtype)
                launch = _bound(impl.GEMV_ROW[parallel], a, b, c, parts)
                columns = parallel and impl.gemv_splits_columns(case.n, case.k, a.itemsize, self.threads)
                if columns:
                    rows = impl.gemv_share_rows_a_pass(case.n, a.itemsize)
                else:
                    rows = impl.gemv_rows_a_pass(case.n, case.k, a.itemsize, self.threads)
                split = ("C's columns split, " if columns else "B's rows split, ") if parallel else ""
                path = f"gemv, {split}{rows} row{'s' if rows > 1 else ''} of B a pass"
                if not columns and impl.gemv_rows_ahead(case.n, case.k, a.itemsize, self.threads):
                    path += f" (fetched {2 * rows} rows ahead to L2)"  # as _whole_rows decides
            return Prepared(launch, c, self._facts(path, impl))
        a_flat, b_flat = impl.row_major_view(a), impl.row_major_view(b)  # what the GEMM will read in place
        tile = impl.tile_for(case.m, case.n, case.k, a.dtype.name, b_flat.size > 0, self.threads)  # decided once
        mr, nr = tile.shape(a.dtype.name)
        direct_a, direct_b = impl.in_place(
            case.m, case.n, case.k, mr, a.itemsize, a_flat.size > 0, b_flat.size > 0, self.threads
        )
        own = 0 if direct_b else impl.own_rows(case.m, mr, a.itemsize, b.nbytes, self.threads)  # a block a thread
        jit = impl.packs_just_in_time(case.m, direct_b, own)  # B packed by each thread, a group at a time
        # B's own rows fetched ahead, and the next strip's too (at IN_PLACE_KC), as gemm and _block decide
        strip_rule = direct_b and impl.fetches_next_strip(b_flat.nbytes, self.threads)
        ahead = impl.rows_ahead_in_place(case.m, mr, b_flat.nbytes, b.strides[0], strip_rule) if direct_b else 0
        next_strip = strip_rule and ahead > 0
        work, mc, kc, nc, group = impl.workspace(
            a.dtype, tile, case.m, case.n, case.k, self.threads, jit and b_flat.size > 0, next_strip, own
        )
        blocks, chunks, tail = impl.shares(case.m, case.n, case.k, nr, mc, nc, self.threads, own > 0)
        parallel = self.threads > 1 and blocks * chunks > 1
        gemm = impl.GEMMS[(parallel, tile.kind)]
        launch = _bound(gemm, a, b, c, work, mc, kc, nc, group, self.threads, own > 0)
        path = f"A {'in place' if direct_a else 'packed'}, B {'in place' if direct_b else 'packed'}"
        level = "L2" if impl.fetch_level(b_flat.nbytes, not direct_b) == impl.LOCALITY_L2 else "L1"
        also = " and the next strip" if next_strip else ""
        path += f" (fetched {ahead} rows ahead{also} to {level})" if ahead else ""
        rows_split = blocks > 1 and case.m <= mc  # short A, too few strips of B (_split)
        if own:  # taller A, a row block a thread, each packing all of B (own_rows)
            path += f", each thread packs all of B for its own {own} rows or fewer"
        fetched = impl.fetches_group_ahead(b_flat.nbytes, case.m, tile.kind == "wide")
        if jit and not rows_split and fetched:  # each thread's own groups
            path += f" (each next group fetched ahead to {level})"
        path += "" if parallel or self.threads == 1 else ", one thread (one share of C)"
        path += ", threads split A's rows" if rows_split else ""
        if tail:  # whole strips to each thread, the strips left over split by rows
            path += ", threads split A's rows of the last " + ("strip" if tail == 1 else f"{tail} strips")
        sizes = f"MC={mc} KC={kc} NC={nc}" + (f" GROUP={group}" if jit and not rows_split else "")
        rows = impl.jit_row_group(b.strides[0], tile.kind == "wide")  # rows of B a pass, as gemm decides
        if jit and not rows_split and b.strides[1] == b.itemsize and rows != impl.ROW_GROUP:  # row by row (pack_b)
            sizes += f" ROWS={rows}"
        facts = {**self._facts(path, impl), "tile": f"{mr}x{nr} {tile.kind}", "blocks": sizes}
        return Prepared(launch, c, facts)

    def _facts(self, path: str, impl) -> dict[str, str]:
        return {"path": path, "vector_bits": str(impl.VECTOR_BITS), "threading_layer": _threading_layer(self.numba)}

    def describe(self) -> dict[str, str]:
        import llvmlite

        return {"numba": self.numba.__version__, "llvmlite": llvmlite.__version__}


class NumbaNaive(NumbaGemm):
    name = "numba-naive"
    variant = "naive"
    description = "textbook triple loop in Numba (teaching reference, slow)"

    def supports(self, case: GemmCase) -> str | None:
        if case.m * case.n * case.k > NAIVE_MAX_MNK:
            return f"numba-naive is a teaching kernel: skipped above m*n*k = 512^3 ({case.label} is larger)"
        return super().supports(case)

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        c = aligned_zeros((case.m, case.n), operands.a.dtype)
        return Prepared(_bound(self._impl().naive, operands.a, operands.b, c), c, {"path": "naive"})


def _bound(dispatcher, *args) -> partial:
    """``dispatcher(*args)`` as a call without arguments, bound to the build compiled for these arguments' types.

    A dispatcher looks its build up from the arguments' types on every call: about 0.1 us of a 64^3 product's
    5 (``docs/examples/numba_call_cost.py``). The arguments are fixed here, so the build is found once:
    ``Dispatcher.compile`` returns its entry point, loading it from the disk cache or compiling it if needed
    (so a first compile is paid here, in ``prepare``, not in the first call). Each argument is still converted
    by that entry point as the dispatcher would, so it stays a checked call.
    """
    from numba import typeof

    return partial(dispatcher.compile(tuple(typeof(x) for x in args)), *args)


def _threading_layer(numba) -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return numba.config.THREADING_LAYER


KERNELS = [NumbaGemm, NumbaNaive]
