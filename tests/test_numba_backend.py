"""The Numba backends: correctness on awkward shapes, every dtype and transpose, and a
guard that the micro-kernel really compiled to vector FMAs (a Numba/LLVM upgrade that
silently drops vectorisation must fail here, not just run slower)."""

import re

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba backends need numba (extra 'numba')")

from gemmbench.backend import Operands
from gemmbench.case import GemmCase
from gemmbench.hostfacts import cpu_flags
from gemmbench.kernels.numba_gemm import NumbaGemm, NumbaNaive
from gemmbench.testing import check_kernel
from gemmbench.verify import make_operands, verify


def test_conformance_suite():
    rows = check_kernel(NumbaGemm)
    assert {r.status for r in rows} == {"ok"}


@pytest.mark.parametrize("threads", [1, 2])
def test_random_shapes_against_numpy(threads):
    """Primes, 1s, sizes just off the tile and block sizes, every transpose and dtype."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    rng = np.random.default_rng(7)
    (tall_mr, tall_nr), (wide_mr, wide_nr) = impl.TILES["tall"]["float32"], impl.TILES["wide"]["float32"]
    mc, kc, _ = impl.BLOCKS["float32"]
    dims = [1, 2, 7, 13, tall_mr + 1, wide_mr + 1, tall_nr - 1, wide_nr + 1, impl.TALL_MAX_M + 1, 97, mc + 1, kc + 3]
    if impl.TALL_WIDE_B[0] > impl.TALL_MAX_M:  # just past the tall tile's reach against wide B
        dims += [impl.TALL_WIDE_B[0] + 1, impl.TALL_WIDE_B[1] - 1]
    for dtype in ("float32", "float64"):  # A of several row blocks, with the blocks of a shared panel of B
        panel_mc, panel_kc, panel_nc = impl.PANEL_BLOCKS[dtype]
        dims += [impl.SHORT_A + 1, 2 * panel_mc + 1, panel_kc + 1, panel_nc + 1]
        dims += [kc + 1 for _, kc in impl.SHORT_A_KC[dtype]]  # short A's own KC, a row over
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        for _ in range(24):
            m, n, k = (int(rng.choice(dims)) for _ in range(3))
            case = GemmCase(m, n, k, str(rng.choice(["float32", "float64"])), str(rng.choice(["NN", "NT", "TN", "TT"])))
            ops = make_operands(case, seed=int(rng.integers(1000)))
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()  # twice: C is overwritten, never accumulated across calls
            want = ops.a.astype(np.float64) @ ops.b.astype(np.float64)
            tol = 1e-4 if case.dtype == "float32" else 1e-11
            np.testing.assert_allclose(prepared.output, want, rtol=tol, atol=tol * np.sqrt(k), err_msg=str(case))
    finally:
        kernel.teardown()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_several_row_blocks_share_a_panel_of_b_that_the_cache_keeps(dtype):
    """A of more than SHORT_A rows is cut into row blocks that read one packed panel of B in turn from the
    last-level cache; on AVX2 that panel is at most 2 MiB (panels of 8-16 MiB fell out of this VM's shared L3:
    -4 to -16 %), and float64 short A packs B in groups of at most 288 KiB (KC = 384); on Zen 4 (AVX-512 run
    in halves) a float64 panel is at most 4 MiB (NC 1024: +5 to +8 % at one thread); on Intel's AVX-512 float64
    panels take KC 128, so that a KC x NR strip of B stays in the 48 KiB L1 (+3 to +12 % over 512 at one
    thread), and NC 1024, so that the panel (1 MiB) stays in the 2 MiB L2 (-1 to +21 % over NC 4096 at one
    thread, -1 to +7 % at two), and float32 panels MC 288 (a 576 KiB block of A in the 2 MiB L2: +4 to +9 % over
    96). The row's facts name the blocks that ran (short A keeps those of one row block, and says how many
    strips of B a group packs), and the product is verified with the harness's check."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    itemsize = np.dtype(dtype).itemsize
    if impl.VECTOR_BITS == 256:
        _, panel_kc, panel_nc = impl.PANEL_BLOCKS[dtype]
        assert panel_kc * panel_nc * itemsize <= 2 << 20
        if dtype == "float64":  # short A's group of strips packed just in time: 288 KiB of the 512 KiB L2
            _, kc, _ = impl.BLOCKS[dtype]
            tile = impl.tile_for(impl.SHORT_A, 2100, kc, dtype, True, 2)
            assert impl.jit_strips(dtype, kc, tile) * kc * tile.shape(dtype)[1] * itemsize <= 288 << 10
    elif impl.avx512_in_halves() and dtype == "float64":  # Zen 4: 4 MiB, where NC 4096 took 16 MiB of its L3
        _, panel_kc, panel_nc = impl.PANEL_BLOCKS[dtype]
        assert panel_kc * panel_nc * itemsize <= 4 << 20
    elif impl.INTEL_AVX512 and dtype == "float64":  # a Xeon: a KC x NR strip of B in its 48 KiB L1, the panel in L2
        _, panel_kc, panel_nc = impl.PANEL_BLOCKS[dtype]
        assert panel_kc * impl.Tile("wide").shape(dtype)[1] * itemsize <= 32 << 10
        assert panel_kc * panel_nc * itemsize <= 1 << 20
    elif impl.INTEL_AVX512:  # float32 on a Xeon: a block of A of 576 KiB in its 2 MiB L2 (MC 288, not 96)
        panel_mc, panel_kc, _ = impl.PANEL_BLOCKS[dtype]
        assert panel_mc * panel_kc * itemsize == 576 << 10
    kernel = NumbaGemm()
    kernel.setup(2)
    try:  # two row blocks, the fewest rows of a shared panel (one block where MC is over SHORT_A), short A
        for m in (impl.PANEL_BLOCKS[dtype][0] + 1, impl.SHORT_A + 1, impl.SHORT_A):
            # B under OWN_ROWS_MIN_B: the row blocks share panels (own_rows), four rank-KC updates at KC 128
            case = GemmCase(m, 2100, 480, dtype)
            assert (
                impl.own_rows(
                    m, impl.tile_for(m, 2100, 480, dtype, True, 2).shape(dtype)[0], itemsize, 2100 * 480 * itemsize, 2
                )
                == 0
            )
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            mc, kc, nc = impl.blocks(dtype, m, True)  # PANEL_BLOCKS, or BLOCKS with short A's own KC (B packed)
            assert (mc, kc, nc) == impl.PANEL_BLOCKS[dtype] or m <= impl.SHORT_A
            tile = impl.tile_for(m, case.n, case.k, dtype, True, 2)
            mr, nr = tile.shape(dtype)
            mc = mc if m > max(mc, impl.SHORT_A) else -(-m // mr) * mr  # as workspace rounds one row block
            group = f" GROUP={impl.jit_strips(dtype, kc, tile)}" if m <= impl.SHORT_A else ""
            assert prepared.facts["blocks"] == f"MC={mc} KC={min(kc, 480)} NC={min(nc, -(-2100 // nr) * nr)}{group}"
            assert verify(case, ops, prepared.output).ok
    finally:
        kernel.teardown()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_short_a_packs_row_major_b_in_long_runs_at_a_short_kc(dtype):
    """Short A packing row-major B just in time reads each of a group's KC rows of B in one run as wide as
    the group; on AVX2 runs of 768 bytes (8 strips) streamed at about 6 GB/s, runs of 4-6 KiB at 9-11. So
    A of few rows takes a shorter KC (SHORT_A_KC; ONE_STRIP_KC first for one tall strip on Zen 4) and a group
    of proportionally more strips in the same
    bytes (JIT_ROWS strip rows, the L2 budget of the table's KC). B stored transposed is read along K,
    whose runs a short KC would cut: it keeps the table's KC, as do A of more rows and B read in place.
    The row's blocks fact names what ran (GROUP where B is packed just in time), and every product passes
    the harness's verifier after two launches, at two threads with a dozen rank-KC updates."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    itemsize = np.dtype(dtype).itemsize
    _, kc_table, nc_table = impl.BLOCKS[dtype]
    short = impl.SHORT_A_KC[dtype]
    assert bool(short) == (impl.VECTOR_BITS == 256 or impl.intel_avx512()), "measured on AVX2 and Intel's AVX-512"
    n, k = 2000, 1100
    for kc in {kc_table, *(kc for _, kc in short)}:
        assert kc <= kc_table
        for m in (8, impl.SHORT_A):  # both tile kinds: a group holds no more bytes than at the table's KC
            tile = impl.tile_for(m, n, k, dtype, True, 2)
            nr = tile.shape(dtype)[1]
            assert impl.jit_strips(dtype, kc, tile) * kc * nr * itemsize <= impl.INLINE_PACK * kc_table * nr * itemsize
    kernel = NumbaGemm()
    kernel.setup(2)
    try:
        for m, layout, narrow in ((8, "NN", False), (40, "NN", False), (8, "NT", False), (100, "NN", False),
                                  (8, "NN", True), (impl.SHORT_A, "NN", False)):  # fmt: skip
            case = GemmCase(m, impl.DIRECT_B_MAX_N if narrow else n, k, dtype, layout)
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            assert verify(case, ops, prepared.output).ok, case
            packed = not narrow and "B in place" not in prepared.facts["path"]  # AVX-512: 8 rows read B in place
            kc = kc_table
            if layout == "NN" and packed:  # one tall strip's own KC first (Zen 4's ONE_STRIP_KC)
                one_strip = ((impl.TILES["tall"][dtype][0], impl.ONE_STRIP_KC),) if impl.ONE_STRIP_KC else ()
                kc = next((short_kc for rows, short_kc in one_strip + short if m <= rows), kc_table)
            tile = impl.tile_for(m, case.n, k, dtype, layout == "NN", 2)
            mr, nr = tile.shape(dtype)
            want = f"MC={-(-m // mr) * mr} KC={kc} NC={min(nc_table, -(-case.n // nr) * nr)}"
            if packed:
                want += f" GROUP={impl.jit_strips(dtype, kc, tile, m <= mr)}"
            assert prepared.facts["blocks"] == want, case
    finally:
        kernel.teardown()


@pytest.mark.parametrize("kind", ["tall", "wide"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_c_tile_prefetch_covers_every_line_of_a_row_wherever_it_starts(dtype, kind):
    """Each micro-kernel call prefetches its tile of C before the k loop; a row of C that starts off a line
    (N * itemsize not a multiple of 64) spans one line more, and every line it touches must be fetched."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    itemsize = np.dtype(dtype).itemsize
    _, nr = impl.Tile(kind).shape(dtype)
    offsets = impl.c_line_offsets(nr, itemsize)
    assert all(0 <= off < nr for off in offsets)
    for start in range(0, 64, itemsize):  # the row's first byte within its line
        touched = {(start + j * itemsize) // 64 for j in range(nr)}
        assert {(start + j * itemsize) // 64 for j in offsets} == touched, f"row starting {start} bytes into a line"


def test_the_compiled_row_major_view_agrees_with_the_one_prepare_reads():
    """The blocked GEMM makes its flat views of A and B in compiled code (by layout type), while ``prepare`` decides
    and reports the path from the Python view (by flags): were they to disagree on any layout, the CSV's path would
    not be the one that ran. Row-major, column-major, strided, one-row (both flags) and empty operands."""
    from numba import njit

    from gemmbench.kernels import _numba_gemm_impl as impl

    compiled = njit(lambda x: impl.row_major_view(x))
    base = np.arange(48.0).reshape(6, 8)
    for x in (base, base.T, base[:, ::2], base[::2], base[:1], np.empty((0, 8)), base.astype(np.float32).T):
        want, got = impl.row_major_view(x), compiled(x)
        assert got.dtype == want.dtype and got.size == want.size, (x.shape, x.strides)
        np.testing.assert_array_equal(got, want)
        assert (want.size > 0) == (x.flags.c_contiguous and x.size > 0)


def test_naive_reference_and_its_size_limit():
    rows = check_kernel(NumbaNaive, [GemmCase(9, 7, 5, "float64", "TN"), GemmCase(16, 16, 16)])
    assert {r.status for r in rows} == {"ok"}
    reason = NumbaNaive().supports(GemmCase(1024, 1024, 1024))
    assert reason and "teaching kernel" in reason


def _vector_isa() -> tuple[str, str] | None:
    flags = cpu_flags()
    if "avx512f" in flags:
        return "zmm", "AVX-512"
    if "avx2" in flags and "fma" in flags:
        return "ymm", "AVX2+FMA"
    return None


@pytest.mark.parametrize("kind", ["tall", "wide"])
def test_micro_kernel_compiles_to_vector_fma(kind):
    isa = _vector_isa()
    if isa is None:
        pytest.skip("this CPU has neither AVX-512 nor AVX2+FMA: no vector FMA to look for")
    reg, name = isa
    import numba

    from gemmbench.kernels import _numba_gemm_impl as impl

    tile = impl.Tile(kind)
    mr, nr = tile.shape("float32")
    a = np.ones((64, 64), np.float32)
    c = np.zeros((64, 64), np.float32)
    bbuf = np.zeros(64 * (-(-64 // nr) * nr), np.float32)
    abuf, bjit, scratch = (np.zeros(size, np.float32) for size in (72 * 64, impl.INLINE_PACK * 64 * nr, mr * nr))
    impl.pack_b(a, 0, 64, 0, 64, 0, -(-64 // nr), bbuf, 0, tile, impl.ROW_GROUP)
    # A fresh, uncached dispatcher: code loaded from Numba's disk cache cannot be inspected.
    fresh = numba.njit(nogil=True)(impl._block.py_func)
    empty = np.empty(0, np.float32)
    # fmt: off
    fresh(a, empty, a, empty, c, c.reshape(-1), 0, 64, 0, 64, 0, 0, -(-64 // nr), 64, bbuf, abuf, bjit, scratch,
          False, impl.INLINE_PACK, impl.ROW_GROUP, False, False, False, tile, impl.LOCALITY_L1)
    # fmt: on
    assert np.allclose(c, 64.0)
    asm = fresh.inspect_asm(fresh.signatures[0])
    fmas = re.findall(rf"vfmadd\w*p[sd]\s+[^\n]*%{reg}", asm)
    lanes = (512 if reg == "zmm" else 256) // 32
    assert len(fmas) >= mr * nr // lanes, f"expected packed {name} FMAs on {reg} registers in the micro-kernel"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["tall", "wide"])
def test_the_last_strip_computes_only_the_vectors_that_hold_its_columns(kind, dtype):
    """N not a multiple of NR leaves a last strip of fewer columns, computed into a scratch tile and copied into
    C. Only the vectors holding valid columns may be computed (a full-width tile ran 64 columns of FMAs for
    float32 N = 2500's last 4): the scratch tile's columns past them must stay as they were (NaN here), and C
    must be right for every width of the edge, every row count of the last strip of A, and A packed or read
    in place."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    tile = impl.Tile(kind)
    mr, nr = tile.shape(dtype)
    w = impl.VECTOR_BITS // (8 * np.dtype(dtype).itemsize)
    rng = np.random.default_rng(5)
    k = 40
    for cols in sorted({1, w - 1, w, w + 1, nr - w, nr - 1} - {0}):
        for m in (mr, 2 * mr - 1, mr + 1):
            n = nr + cols  # one full strip, then the edge
            a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
            for direct_a in (False, True):
                c = np.full((m, n), np.nan, dtype)
                abuf = np.zeros(-(-m // mr) * mr * k, dtype)
                bjit = np.zeros(impl.INLINE_PACK * k * nr, dtype)
                scratch = np.full(mr * nr, np.nan, dtype)
                # fmt: off
                impl._block(a, a.reshape(-1), b, b.reshape(-1), c, c.reshape(-1), 0, m, 0, k, 0, 0, 2, n,
                            np.zeros(0, dtype), abuf, bjit, scratch, True, impl.INLINE_PACK, impl.JIT_ROW_GROUP,
                            direct_a, False, False, tile, impl.LOCALITY_L1)
                # fmt: on
                where = f"{kind} {dtype} m={m} cols={cols} direct_a={direct_a}"
                np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4, err_msg=where)
                valid = -(-cols // w) * w
                assert np.isnan(scratch.reshape(mr, nr)[:, valid:]).all(), f"{where}: columns past {valid} computed"


def _groups_packed(k, kc_max, nc, nr, s0, s1):
    """The groups of B strips one thread packs just in time, in order, as ``gemm`` and ``_block`` walk them:
    (first row, rows, first strip, full strips), over blocks of equal rows (the last may be shorter), each
    INLINE_PACK strips of s0..s1 at a time."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    kc = -(-k // -(-k // kc_max))
    full = min(s1, nc // nr)
    return [
        (pc, min(kc, k - pc), s, max(0, min(s + impl.INLINE_PACK, full) - s))
        for pc in range(0, k, kc)
        for s in range(s0, s1, impl.INLINE_PACK)
    ]


@pytest.mark.parametrize(
    "k, kc, n, jc, nc, nr, itemsize, s0, s1",
    [
        (1024, 512, 7392, 0, 4096, 32, 8, 0, 128),  # two panels' first: whole groups, two blocks of rows
        (1024, 512, 7392, 4096, 3296, 32, 8, 0, 103),  # the second panel: its last strip partial
        (1500, 500, 8192, 0, 4096, 16, 8, 64, 128),  # a thread's half of the strips; three blocks of rows
        (1100, 512, 4096, 0, 4096, 64, 4, 0, 64),  # the last block of rows is a row short: nothing fetched into it
        (1100, 512, 4096, 0, 4096, 64, 4, 9, 40),  # ... and a share of strips that starts mid-group
        (512, 512, 300, 0, 300, 16, 4, 0, 19),  # one block of rows, a partial last strip
        (512, 256, 261, 0, 261, 16, 4, 0, 17),  # a last group of one partial strip: nothing to fetch for it
    ],
)
def test_b_is_fetched_ahead_exactly_where_it_is_packed_next(k, kc, n, jc, nc, nr, itemsize, s0, s1):
    """While a group of B's strips is multiplied, the kernel fetches the rows of the group it packs next: it must
    name exactly that group's rows and full strips (a wrong guess fetches lines nobody reads and leaves the
    packing to wait on memory, silently), and never reach past B."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    groups = _groups_packed(k, kc, nc, nr, s0, s1)
    line = 64 // itemsize
    for (pc, rows, s, _), following in zip(groups, [*groups[1:], None], strict=True):
        at, lines = impl._next_group(n, k, pc, rows, jc, nc, s, s0, s1, nr, itemsize, impl.INLINE_PACK)
        want = 0
        if following is not None and following[1] == rows:  # the micro-kernel fetches as many rows as it runs
            want = following[3] * nr * itemsize // 64
            if want:
                assert at == following[0] * n + jc + following[2] * nr, (pc, s)
        assert lines == want, (pc, s)
        if lines:
            assert at + (rows - 1) * n + lines * line <= k * n, "fetches past the end of B"


@pytest.mark.parametrize("mr", [12, 6])
def test_each_line_of_the_next_group_is_fetched_once(mr):
    """The calls of a group share its successor's lines: none fetched twice (a wasted fetch a k step), none
    past the group, strips of A under 2/3 MR fetching nothing, and the fetched lines the group's first ones
    (whole strips of B ready first). All of them when the fetching strips of A are full and two lines a call
    suffice (M = 12-16 against 12-row tiles: one strip, 8 calls, 16 lines); else one line a call."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    for mc in range(1, 4 * mr + 1):
        strips = -(-mc // mr)
        walking = [t for t in range(strips) if 3 * min(mr, mc - t * mr) >= 2 * mr]
        calls = impl.INLINE_PACK * len(walking)
        full = all(min(mr, mc - t * mr) == mr for t in walking)
        for lines in (0, 1, 2, 6, 15, 16, 32, 64, 200):
            fetched = []
            for strip in range(impl.INLINE_PACK):
                for t in range(strips):
                    at, count = impl._fetch_share(strip, t, mc, mr, lines, impl.INLINE_PACK)
                    assert 0 <= count <= 2, (mc, lines, strip, t)
                    if t not in walking:
                        assert count == 0, f"{min(mr, mc - t * mr)} rows of {mr} fetch (mc={mc})"
                    fetched += range(at, at + count)
            assert len(fetched) == len(set(fetched)), f"a line fetched twice (mc={mc}, lines={lines})"
            want = min(lines, calls * (2 if full and lines > calls else 1))
            assert sorted(fetched) == list(range(want)), (mc, lines)


def test_one_full_strip_of_a_fetches_the_whole_next_group():
    """M = 16 in 12-row tiles, float64: the 12-row calls take two lines of every row a k step, the 4-row calls
    none, and the group's 16 lines are all fetched (one line a call left half of B to the packing's wait)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    group = impl.INLINE_PACK
    shares = [impl._fetch_share(strip, t, 16, 12, 16, group) for strip in range(group) for t in range(2)]
    assert shares == [(2 * strip, 2) if t == 0 else (0, 0) for strip in range(group) for t in range(2)]


# None: MR rows and 16 tall take two lines a call; 8 tall (an 8-row strip of 12) one.
@pytest.mark.parametrize("kind, m", [("wide", None), ("tall", 16), ("tall", 8)])
@pytest.mark.parametrize("level, instruction", [(3, "prefetcht0"), (2, "prefetcht1")])
def test_b_packed_just_in_time_is_fetched_a_group_ahead(kind, m, level, instruction):
    """The micro-kernel calls that multiply a group of B packed just in time also fetch, a line or two a k step,
    the rows of the next group (AVX-512, where it was measured), into the cache level ``_block`` is built for
    (``fetch_level``): the compiled loop must hold that fetch, and the product must stay right across groups
    and blocks of rows."""
    import numba

    from gemmbench.kernels import _numba_gemm_impl as impl

    tile = impl.Tile(kind)
    mr, nr = tile.shape("float64")
    m, n, k = m or mr, (2 * impl.INLINE_PACK + 1) * nr, 48
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = np.zeros((m, n))
    abuf, bjit, scratch = (np.zeros(size) for size in (-(-m // mr) * mr * k, impl.INLINE_PACK * k * nr, mr * nr))
    fresh = numba.njit(nogil=True)(impl._block.py_func)  # uncached: its machine code can be inspected
    for pc in range(0, k, k // 2):  # two blocks of rows: the last group of the first fetches the second's
        # fmt: off
        fresh(a, a.reshape(-1), b, b.reshape(-1), c, c.reshape(-1), 0, m, pc, k // 2, 0, 0, -(-n // nr), n,
              np.zeros(0), abuf, bjit, scratch, True, impl.INLINE_PACK, impl.ROW_GROUP, False, False, False, tile,
              level)
        # fmt: on
    np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)
    assert (level, instruction) in ((impl.LOCALITY_L1, "prefetcht0"), (impl.LOCALITY_L2, "prefetcht1"))
    fetches = re.findall(rf"{instruction}\s", fresh.inspect_asm(fresh.signatures[0]))
    assert bool(fetches) == impl.FETCH_AHEAD, f"{len(fetches)} {instruction} with FETCH_AHEAD={impl.FETCH_AHEAD}"


def test_in_process_use_leaves_the_callers_affinity_alone():
    """Regression: OMP_PLACES set in-process bound the caller's main thread to one CPU, so a
    pytest-benchmark run saw one usable CPU after its first Numba test."""
    import os
    import subprocess
    import sys

    code = (
        "import os; from gemmbench.testing import check_kernel; "
        "from gemmbench.kernels.numba_gemm import NumbaGemm; from gemmbench.case import GemmCase; "
        "check_kernel(NumbaGemm, [GemmCase(64, 64, 64)], threads=len(os.sched_getaffinity(0))); "
        "print(len(os.sched_getaffinity(0)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", check=True)
    assert int(out.stdout.strip().splitlines()[-1]) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("kind", ["tall", "wide"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_packing_layout(dtype, kind):
    """Row-major A (vector transpose for full strips) and column-major A (element by element) both pack to
    the documented layout: strip s, step p, row i at s*kc*MR + p*MR + i; a partial last strip holds only
    its rows (its tile computes only those)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    tile = impl.Tile(kind)
    mr, _ = tile.shape(dtype)
    mc, kc, _ = impl.BLOCKS[dtype]
    a = np.random.default_rng(3).standard_normal((300, 700)).astype(dtype)
    for ic, rows, pc, depth in [(0, mc, 0, kc), (7, mc - 5, 3, kc - 3), (300 - mr, mr, 100, 77), (1, 13, 5, 9)]:
        want = np.zeros(-(-mc // mr) * mr * kc, dtype)
        for s in range(-(-rows // mr)):
            block = a[ic + s * mr : ic + min(rows, (s + 1) * mr), pc : pc + depth]  # the strip's rows x steps
            view = want[s * depth * mr : (s + 1) * depth * mr].reshape(depth, mr)
            view[:, : block.shape[0]] = block.T
        for layout in (a, np.asfortranarray(a)):
            got = np.zeros_like(want)
            impl.pack_a(layout, ic, rows, pc, depth, got, tile)
            np.testing.assert_array_equal(got, want, err_msg=f"{ic=} {rows=} {pc=} {depth=}")


@pytest.mark.parametrize("rows", [1, 5, 8])  # rows of B a pass: ROW_GROUP, JIT_ROW_GROUP, one
@pytest.mark.parametrize("kind", ["tall", "wide"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("order", ["C", "F", "strided"])
def test_b_packing_layout(dtype, order, kind, rows):
    """Every storage order of B packs to the documented layout (vector copy, vector
    transpose and element paths), including the zero-padded partial strip, however many rows
    of B a pass reads (KC of 200, 61 and 9: whole passes, and a short last one)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    tile = impl.Tile(kind)
    _, nr = tile.shape(dtype)
    b = np.random.default_rng(4).standard_normal((200, 2 * nr * 9 + 5)).astype(dtype)
    b = {"C": b, "F": np.asfortranarray(b), "strided": np.repeat(b, 2, axis=1)[:, ::2]}[order]
    for pc, kc, jc, nc, s0, s1 in [(0, 200, 0, b.shape[1], 0, 19), (3, 61, 5, 7 * nr + 3, 2, 8), (1, 9, 0, nr, 0, 1)]:
        buf = np.full((s1 - s0 + 1) * kc * nr, np.nan, dtype)
        impl.pack_b(b, pc, kc, jc, nc, s0, s1, buf, s0 - 1, tile, rows)  # strip s0 - 1 would be at buf[0]
        for s in range(s0, s1):
            block = buf[(s - s0 + 1) * kc * nr : (s - s0 + 2) * kc * nr].reshape(kc, nr)
            want = np.zeros((kc, nr), dtype)
            cols = b[pc : pc + kc, jc + s * nr : jc + min(nc, (s + 1) * nr)]
            want[:, : cols.shape[1]] = cols
            np.testing.assert_array_equal(block, want, err_msg=f"strip {s}")


@pytest.mark.parametrize(
    "stride, wide, rows",
    [
        (36 << 10, True, 5),  # float64 N = 4608 (DeepSeek-V3's mlp.gate_up at --tp 8): five
        (28 << 10, True, 5),  # float64 N = 3584 (Llama-3.1-8B's mlp.gate_up), float32 N = 7168
        (24 << 10, True, 5),  # the window's first
        ((24 << 10) - 8, True, 8),  # a float64 column less: eight
        ((48 << 10) - 8, True, 5),  # its last
        (48 << 10, True, 8),  # rows of 48 KiB: eight
        (32 << 10, True, 8),  # a multiple of B_COLLIDE_STRIDE (N = 4096): eight read as fast
        (36 << 10, False, 8),  # tall strips keep eight at every width
        (10 << 10, True, 8),  # narrower rows (N = 1280) and wider (N = 8192): eight
        (64 << 10, True, 8),
    ],
)
def test_intel_avx512_wide_strips_pack_five_rows_of_b_a_pass_within_the_window(monkeypatch, stride, wide, rows):
    """On Intel's AVX-512 a thread packing row-major B just in time into wide strips reads five rows of B a pass
    where the rows are 24-48 KiB apart, save 32 KiB (in process, float64, one thread, five over eight: 32x4608x7168
    +7 to +9 %, 32x3584x4096 +4 to +7 %; outside it -1 to -5 %). The rule under Intel's constants, whichever host
    runs the test; elsewhere the window is empty."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.JIT_ROW_GROUP_BYTES == ((24 << 10, 48 << 10) if impl.INTEL_AVX512 else (0, 0))
    assert (impl.JIT_ROW_GROUP, impl.ROW_GROUP) == (5, 8)
    monkeypatch.setattr(impl, "JIT_ROW_GROUP_BYTES", (24 << 10, 48 << 10))
    assert impl.jit_row_group.py_func(stride, wide) == rows


@pytest.mark.parametrize("threads", [1, 2])
def test_the_blocks_fact_names_five_rows_a_pass_where_wide_strips_pack_them(threads):
    """The row's ``blocks`` ends ``ROWS=5`` exactly where the kernel packs five rows of B a pass (wide strips
    packed just in time from row-major B within JIT_ROW_GROUP_BYTES, Intel's AVX-512 only; not B whose rows
    are 36 KiB apart but whose columns are not contiguous, which ``pack_b`` copies element by element), and
    the product, KC rows a pass leaving a short last pass, passes the harness's verifier after two launches."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        cases = (
            (32, 4608, "NN"),
            (32, 4096, "NN"),
            (16, 4608, "NN"),
            (12, 4608, "NN"),
            (32, 4608, "NT"),
            (32, 2304, ""),
        )
        for m, n, layout in cases:
            case = GemmCase(m, n, 131, "float64", layout or "NN")  # KC 66 of 131: 13 passes of five and one row
            ops = make_operands(case)
            if not layout:  # every other column of a 4608-wide B: rows 36 KiB apart, columns 16 bytes
                wide = np.repeat(ops.b, 2, axis=1)
                ops = Operands(ops.a, wide[:, ::2])
                assert ops.b.strides == (36 << 10, 16)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            assert verify(case, ops, prepared.output).ok, case
            # 16 rows run wide strips too on Intel (B packed: SHORT_WIDE_MIN_M); 12 rows a tall one
            five = impl.INTEL_AVX512 and (n, layout) == (4608, "NN") and m >= 13
            assert prepared.facts["blocks"].endswith(" ROWS=5") == five, (case, prepared.facts["blocks"])
    finally:
        kernel.teardown()


def test_jit_time_is_in_prepare_and_the_disk_cache_removes_it(tmp_path):
    """A cold run compiles when the case is prepared (reported as prepare_s, outside the samples: each launch
    is bound to its compiled build there); a second process loads that code from the disk cache instead."""
    import csv
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def run(name: str) -> dict[str, str]:
        out = tmp_path / f"{name}.csv"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gemmbench.cli",
                "run",
                "-b",
                "numba",
                "-s",
                "48",
                "-d",
                "float64",
                "-j",
                "1",
                "--in-process",
                "--max-time",
                "0.2",
                "-o",
                str(out),
            ],
            env=env,
            check=True,
            capture_output=True,
            cwd=tmp_path,
        )
        (row,) = csv.DictReader(out.open())
        assert row["status"] == "ok", row["reason"]
        return row

    cold, warm = run("cold"), run("warm")
    assert any((tmp_path / "cache").rglob("*.nbi")), "nothing written to the Numba cache"
    assert float(cold["prepare_s"]) > 1000 * float(cold["median_s"])  # seconds of JIT vs microseconds
    assert float(cold["first_call_s"]) < float(cold["prepare_s"]) / 100  # nothing left to compile
    assert float(warm["prepare_s"]) < float(cold["prepare_s"]) / 3


@pytest.mark.parametrize(
    "case, threads, kind, a_in_place, b_in_place",
    [
        (GemmCase(8, 200, 64, "float32"), 1, "tall", False, True),  # very short A: B read in place
        # ... unless too few rows hide its fetches (B from memory; a full-width core fetches ahead there too)
        (GemmCase(8, 2000, 1536, "float64"), 1, "tall", False, "avx512 full width"),
        (GemmCase(8, 2000, 64, "float64"), 1, "tall", False, "avx512"),  # ... which fetching ahead does, B in L3
        (GemmCase(10, 2000, 64, "float64"), 1, "tall", False, False),  # ... for 6-8 rows of a 12-row tile
        (GemmCase(4, 2000, 64, "float32"), 1, "tall", False, False),
        (GemmCase(16, 2000, 64, "float32"), 1, "tall", False, "avx512"),  # AVX2: 12 FMAs a k step never hide them
        (GemmCase(8, 200, 64, "float64"), 1, "tall", False, "avx512"),  # ... which rows of <= 4 KiB do (a page each)
        (GemmCase(8, 256, 64, "float32"), 1, "tall", False, True),  # ... and on AVX2 rows of <= 1 KiB
        (GemmCase(8, 257, 64, "float32"), 1, "tall", False, "avx512"),
        (GemmCase(4, 1024, 64, "float32"), 1, "tall", False, "avx512"),
        (GemmCase(4, 1040, 64, "float32"), 1, "tall", False, False),
        (GemmCase(8, 200, 64, "float32", "NT"), 1, "tall", False, False),  # ... unless B is stored transposed
        (GemmCase(16, 64, 64, "float32"), 1, "tall", "avx2", True),  # A in place needs tiles of <= 6 rows
        (GemmCase(300, 64, 64, "float64"), 1, "wide", True, True),  # narrow B: both in place
        (GemmCase(300, 64, 64, "float64", "TN"), 2, "wide", False, True),  # A stored transposed: packed
        (GemmCase(300, 300, 64, "float32"), 2, "wide", False, False),
        # B re-read by a second strip of A, rows 64 or 96 KiB apart (they collide in the caches): packed
        # (on Intel's AVX-512 13-16 rows whose B the tall tile packs run in wide strips: SHORT_WIDE_MIN_M)
        (GemmCase(16, 8192, 16, "float64"), 1, "wide on Intel", False, False),
        (GemmCase(16, 12288, 16, "float64"), 2, "wide on Intel", False, False),
        # float32 rows 48 KiB apart do not collide: Zen 4 re-reads them in place (REREAD_ROW_BYTES), a full-width
        # core packs a thread's 24 KiB share of a row
        (GemmCase(13, 12288, 16, "float32"), 2, "wide on Intel", False, "avx512 in halves"),
        (GemmCase(16, 4096, 16, "float64"), 2, "wide on Intel", False, "avx512 in halves"),  # in place on Zen 4
        (GemmCase(16, 1024, 16, "float64"), 2, "tall", False, "avx512"),  # 8 KiB apart: in place on every AVX-512
        (GemmCase(12, 16384, 16, "float32"), 1, "tall", False, "avx512"),  # one 12-row strip reads B once
        # rows exactly one 4 KiB page apart: packed once B reaches 16 MiB, even for a single strip of A
        (GemmCase(16, 512, 4096, "float64"), 1, "wide on Intel", False, False),
        (GemmCase(12, 512, 4096, "float64"), 2, "tall", False, False),
        (GemmCase(8, 1024, 4096, "float32"), 1, "tall", False, "avx512 full width"),  # ... but 6-8 rows fetching
        (GemmCase(16, 512, 4095, "float64"), 1, "tall", False, "avx512"),  # a row short of 16 MiB: in place
        (GemmCase(16, 1024, 2047, "float64"), 1, "tall", False, "avx512"),  # 8 KiB apart, in L3: in place
        # ... from memory a full-width core packs for strips that do not fetch ahead (PACK_STREAMED_B)
        (GemmCase(16, 1024, 2048, "float64"), 1, "wide on Intel", False, "avx512 in halves"),
        (GemmCase(12, 12288, 1366, "float64"), 1, "tall", False, "avx512 in halves"),  # rows 96 KiB apart
    ],
)
def test_the_row_says_which_path_ran(case, threads, kind, a_in_place, b_in_place):
    """The CSV must say which algorithm ran (tile, packing A and B or reading one in place), and it must be the
    one the kernel took: both come from the same decisions (``tile_for``, ``in_place``), and the result is
    verified either way."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    prepared, ops = _launched(case, threads)
    avx512 = impl.VECTOR_BITS == 512
    halves = avx512 and impl.avx512_in_halves()
    isa = {
        "avx2": not avx512,
        "avx512": avx512,
        "avx512 in halves": halves,
        "avx512 full width": avx512 and not halves,
    }
    expected_a, expected_b = (isa.get(x, x) for x in (a_in_place, b_in_place))
    path = prepared.facts["path"]
    assert ("A in place" in path) == expected_a and ("B in place" in path) == expected_b, path
    kind = {"wide on Intel": "wide" if impl.INTEL_AVX512 else "tall"}.get(kind, kind)
    assert prepared.facts["tile"].endswith(kind), prepared.facts["tile"]
    ref = ops.a.astype(np.float64) @ ops.b.astype(np.float64)
    assert np.allclose(prepared.output, ref, rtol=1e-4, atol=1e-4 * np.sqrt(case.k))


def _launched(case: GemmCase, threads: int):
    """The backend's product for ``case`` prepared on ``threads`` threads and launched once, with its operands."""
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        ops = make_operands(case)
        prepared = kernel.prepare(case, ops)
        prepared.launch()
        return prepared, ops
    finally:
        kernel.teardown()


@pytest.mark.parametrize(
    "vendor, family, flags, halves",
    [
        ("AuthenticAMD", "25", "fma avx2 avx512f avx512bw", True),  # Zen 4: 512-bit ops as two halves
        ("AuthenticAMD", "25", "fma avx2", False),  # Zen 3, the same family: no AVX-512
        ("AuthenticAMD", "26", "fma avx2 avx512f avx512bw", False),  # Zen 5: full width
        ("GenuineIntel", "6", "fma avx2 avx512f", False),
        ("AuthenticAMD", "25", "fma avx2 avx512vl", False),  # no avx512f: not AVX-512
    ],
)
def test_avx512_in_halves_reads_vendor_family_and_flags(vendor, family, flags, halves):
    """Which AVX-512 cores run a 512-bit op as two 256-bit halves (Zen 4) is read from /proc/cpuinfo's
    vendor, family and flags; the kernel's rule on B re-read in place follows it (next test)."""
    from gemmbench.hostfacts import avx512_in_halves

    assert avx512_in_halves({"vendor_id": vendor, "cpu family": family, "flags": flags}) is halves
    assert avx512_in_halves({}) is False


@pytest.mark.parametrize(
    "vendor, flags, intel",
    [
        ("GenuineIntel", "fma avx2 avx512f avx512bw amx_tile", True),  # a Xeon with AVX-512
        ("GenuineIntel", "fma avx2", False),  # an Intel core without it: AVX2's rules
        ("AuthenticAMD", "fma avx2 avx512f avx512bw", False),  # Zen 4 and Zen 5 keep their own
        ("GenuineIntel", "fma avx2 avx512vl", False),  # no avx512f: not AVX-512
    ],
)
def test_intel_avx512_reads_vendor_and_flags(vendor, flags, intel):
    """Intel's AVX-512 cores take their own KC for short A (SHORT_A_KC, measured on a Xeon): the predicate
    reads /proc/cpuinfo's vendor and flags, and an empty block (no /proc/cpuinfo) is no Intel core."""
    from gemmbench.hostfacts import intel_avx512

    assert intel_avx512({"vendor_id": vendor, "cpu family": "6", "flags": flags}) is intel
    assert intel_avx512({}) is False


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_short_a_on_intel_avx512_packs_b_at_kc_192_in_tall_tiles_and_128_in_wide(dtype):
    """On Intel's AVX-512 short A that packs row-major B takes KC 192 in tall tiles (up to TALL_MAX_M rows: at
    512 float64 ran at 0.67-0.85 of OpenBLAS on a Xeon; 192 gained 4-35 %) and UNFETCHED_KC in wide ones (13 to
    SHORT_A rows, which fetch no group ahead: WIDE_FETCHES_GROUP): the host's own table, whichever host runs the
    test. A of more rows (a shared panel) and B read in place keep the table's KC, and a group of strips at
    either KC stays within the tile kind's cap of bytes."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    _, kc_table, _ = impl.BLOCKS[dtype]
    intel = impl.VECTOR_BITS == 512 and impl.intel_avx512()
    if impl.VECTOR_BITS == 512:
        assert impl.SHORT_A_KC[dtype] == (((16, 192), (impl.SHORT_A, 128)) if intel else ())
    assert impl.WIDE_FETCHES_GROUP is not intel
    for m in (2, 13, 16, 17, 100, impl.SHORT_A):
        if intel:
            assert impl.blocks(dtype, m, True)[1] == (192 if m <= 16 else 128), m
            assert impl.blocks(dtype, m, True, wide=True)[1] == 128, m  # wide strips: the KC follows the tile
            packed = impl.tile_for(m, 8192, 512, dtype, True, 2)  # B packed by either tile: wide from 13 rows
            assert packed.kind == ("tall" if m < 13 else "wide"), m
            assert impl.tile_for(m, 8192, 512, dtype, False, 2).kind == ("tall" if m <= 16 else "wide"), m
        assert impl.blocks(dtype, m, False)[1] == kc_table  # B read in place (or stored transposed)
        assert impl.blocks(dtype, m, False, wide=True)[1] == kc_table
    assert impl.blocks(dtype, impl.SHORT_A + 1, True) == impl.PANEL_BLOCKS[dtype]
    itemsize = np.dtype(dtype).itemsize
    for kind in ("tall", "wide"):
        tile = impl.Tile(kind)
        nr = tile.shape(dtype)[1]
        for kc in (192, 128):
            strips = impl.jit_strips(dtype, kc, tile)
            assert strips * kc * nr * itemsize <= impl.JIT_GROUP_BYTES[kind] or not impl.JIT_GROUP_BYTES[kind]
            assert strips >= 2, f"KC {kc} leaves room for more strips a group than KC 512"


def test_intel_avx512_takes_the_wide_tile_from_17_rows():
    """On Intel's AVX-512 the wide tile beat the tall one at 24-32 rows in 18 of 20 paired cells against OpenBLAS
    (both dtypes, one and two threads, Llama-3.1-8B's layers at --tp 8); elsewhere the tall tile serves up to 32
    rows (an AVX-512 EPYC: tall by 3-37 % at m <= 32). The host's own rule, whichever host runs the test, for B
    stored either way (13-16 rows: next test)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    intel = impl.VECTOR_BITS == 512 and impl.intel_avx512()
    assert impl.TALL_MAX_M == (16 if intel else 32)
    for n in (512, 4096):
        for b_row_major in (True, False):
            assert impl.tile_for(16, n, 1024, "float64", False, 1).kind == "tall"
            for m in (17, 24, 32):
                tile = impl.tile_for(m, n, 1024, "float64", b_row_major, 1)
                assert tile.kind == ("wide" if intel else "tall"), (m, n)


# (rows of A, N, K, dtype, threads, B row-major, the tile on Intel's AVX-512; elsewhere the tall one)
@pytest.mark.parametrize(
    "m, n, k, dtype, threads, b_row_major, intel_kind",
    [
        (16, 4096, 512, "float64", 1, True, "wide"),  # B packed by the tall tile: wide
        (16, 4096, 512, "float64", 2, True, "wide"),
        (13, 4096, 1792, "float64", 2, True, "wide"),
        (14, 4096, 4096, "float32", 2, True, "wide"),
        (16, 512, 7168, "float64", 1, True, "wide"),  # rows one page apart from 16 MiB: packed
        (12, 4096, 512, "float64", 2, True, "tall"),  # one full tall strip keeps the tall tile
        (16, 4096, 512, "float64", 2, False, "tall"),  # B stored transposed: wide strips lost there, tall
        (14, 4096, 1792, "float32", 1, False, "tall"),
        (16, 1280, 4096, "float64", 1, True, "tall"),  # one thread reads B in place, fetching the next strip
        (13, 2560, 4096, "float64", 1, True, "tall"),  # ... while B's rows are under 24 KiB apart
        (16, 3584, 4096, "float32", 1, True, "tall"),
        (13, 4096, 1792, "float64", 1, True, "wide"),  # rows 32 KiB apart: packed
        (16, 8192, 1024, "float64", 1, True, "wide"),  # rows 64 KiB apart (half speed in place)
        (16, 6144, 2048, "float32", 1, True, "wide"),  # rows 24 KiB apart
        (14, 7168, 2048, "float32", 1, True, "tall"),  # ... float32's second strip of 1-2 rows: under 36 KiB
        (13, 8192, 2048, "float32", 1, True, "tall"),
        (15, 7168, 2048, "float32", 1, True, "wide"),  # ... of 3 rows: 24 KiB
        (14, 9216, 2048, "float32", 1, True, "wide"),  # ... rows 36 KiB apart
        (14, 3584, 2048, "float64", 1, True, "wide"),  # ... float64 keeps 24 KiB
        (16, 1024, 2047, "float64", 1, True, "tall"),  # B in L3, rows 8 KiB apart: in place
        (16, 300, 200, "float64", 2, True, "tall"),
        (16, 14336, 4096, "float32", 1, True, "wide"),  # B of 224 MiB: the tall tile packs it, unfetched
    ],
)
def test_intel_avx512_takes_the_wide_tile_at_13_to_16_rows_where_the_tall_one_packs_b(
    m, n, k, dtype, threads, b_row_major, intel_kind
):
    """On Intel's AVX-512 13-16 rows run in wide strips (6 + 6 + 1-4 rows) exactly where the tall tile would pack
    row-major B (``in_place`` with the tall MR); where the tall tile reads B in place (one thread's strips
    fetching the next strip, rows under 24 KiB apart, float32 13-14 rows under 36 KiB: 6-row strips lost 11-43 %
    there) or B is stored transposed (wide lost 0-32 %) the tall tile stays.
    Decided once (``tile_for``): the 6-row strips then pack B too (the compiled GEMM's own ``in_place``), without
    the group fetch, at UNFETCHED_KC, and the row says so. The product, launched twice, passes the verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    intel = impl.VECTOR_BITS == 512 and impl.intel_avx512()
    kind = intel_kind if intel else "tall"
    itemsize = np.dtype(dtype).itemsize
    tall_mr = impl.TILES["tall"][dtype][0]
    tall_reads_b = impl.in_place(m, n, k, tall_mr, itemsize, True, b_row_major, threads)[1]
    assert (intel and b_row_major and not tall_reads_b and m >= impl.SHORT_WIDE_MIN_M) is (kind == "wide")
    tile = impl.tile_for(m, n, k, dtype, b_row_major, threads)
    assert tile.kind == kind
    if kind == "wide":  # the wide strips' own decision packs B as well
        assert not impl.in_place(m, n, k, tile.shape(dtype)[0], itemsize, True, True, threads)[1]
    case = GemmCase(m, n, k, dtype, "NN" if b_row_major else "NT")
    prepared, ops = _launched(case, threads)
    mr, nr = tile.shape(dtype)
    assert prepared.facts["tile"] == f"{mr}x{nr} {kind}"
    path, blocks = prepared.facts["path"], prepared.facts["blocks"]
    if kind == "wide":
        assert path.startswith("A packed, B packed") and "fetched" not in path, path
        assert f" KC={min(k, impl.UNFETCHED_KC)} " in blocks, blocks
        assert blocks.startswith(f"MC={-(-m // mr) * mr} "), blocks
    prepared.launch()
    assert verify(case, ops, prepared.output).ok


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_b_too_large_to_fetch_ahead_is_packed_unfetched_at_its_own_kc(dtype):
    """Short A packing B just in time fetches each next group ahead only while B is under JIT_FETCH_MAX_B: on
    Intel's AVX-512 larger B lost 3-20 % to the fetch (a Xeon, B of 112-512 MiB), and short A packs it at
    UNFETCHED_KC; there wide tiles (13 rows or more) never fetch (WIDE_FETCHES_GROUP: B's rows on huge pages in
    few sets of the L2) and take UNFETCHED_KC too; AMD's AVX-512 fetches at every size, AVX2 never. The host's own
    rule, whichever host runs the test: at B of the limit and a row under it, the row's path says whether the
    groups were fetched ahead, its blocks fact names the KC that ran, and both products pass the verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    intel = impl.VECTOR_BITS == 512 and impl.intel_avx512()
    limit = 96 << 20 if intel else 1 << 62
    assert impl.JIT_FETCH_MAX_B == limit
    assert impl.fetches_group_ahead(limit - 1, 16, False) is impl.FETCH_AHEAD is (impl.VECTOR_BITS == 512)
    for m in (13, 16, 17, 32, impl.SHORT_A):  # Intel's wide tiles fetch no group (WIDE_FETCHES_GROUP)
        assert impl.fetches_group_ahead(limit - 1, m, True) is (impl.FETCH_AHEAD and not intel), m
    assert impl.fetches_group_ahead(limit, 16, False) is False
    assert impl.fetches_group_ahead(0, 16, False) is False  # B stored transposed: no row-major B to fetch
    assert impl.fetches_group_ahead(limit - 1, impl.SHORT_A + 1, True) is False  # own row blocks of taller A
    for m, wide in ((4, False), (16, False), (16, True), (32, True)):
        short_kc = impl.blocks(dtype, m, True, wide=wide)[1]
        assert impl.blocks(dtype, m, True, limit - 1, wide=wide)[1] == short_kc
        assert impl.blocks(dtype, m, True, limit, wide=wide)[1] == impl.UNFETCHED_KC == 128
        assert impl.blocks(dtype, m, False, limit, wide=wide)[1] == impl.BLOCKS[dtype][1]  # B not packed from rows
    itemsize = np.dtype(dtype).itemsize
    n = (3 << 10) * 8 // itemsize  # B of 4096 rows 24 KiB apart: 96 MiB
    # 32 rows; 4 at two threads (tall strips packing B: under 6 rows no AVX-512 core reads such B in place); on
    # Intel 16 at two threads (wide strips: one thread would read such B in place in tall ones, IN_PLACE_KC)
    for m, threads in [(32, 1), (4, 2)] + ([(16, 2)] if intel else []):
        kernel = NumbaGemm()
        kernel.setup(threads)
        try:
            for k, large in ((4096, True), (4095, False)):
                case = GemmCase(m, n, k, dtype)
                assert (case.n * case.k * itemsize >= 96 << 20) is large
                ops = make_operands(case)
                prepared = kernel.prepare(case, ops)
                prepared.launch()
                path, kc = prepared.facts["path"], int(prepared.facts["blocks"].split()[1].removeprefix("KC="))
                wide = prepared.facts["tile"].endswith("wide")
                assert wide is (intel and m >= 13), prepared.facts["tile"]  # elsewhere tall up to 32 rows
                fetched = impl.VECTOR_BITS == 512 and not (intel and (large or wide))
                assert path.startswith("A packed, B packed"), path
                assert ("(each next group fetched ahead to L2)" in path) is fetched, (m, path)
                want_kc = impl.UNFETCHED_KC if intel and not fetched else impl.blocks(dtype, m, True)[1]
                assert kc == want_kc, (m, prepared.facts["blocks"])
                assert verify(case, ops, prepared.output).ok, case
        finally:
            kernel.teardown()


@pytest.mark.parametrize(
    "m, n, dtype, threads, halves, b_in_place",
    [
        (16, 4096, "float64", 1, True, True),  # Zen 4: two strips re-read rows 32 KiB apart in place
        (16, 4096, "float64", 2, True, True),  # ... at two threads too (no limit times 2 wrapping past int64)
        (16, 4096, "float64", 1, False, False),  # full width: packed
        (16, 1280, "float64", 1, False, False),  # rows 10 KiB apart: packed
        (16, 1280, "float64", 2, False, True),  # ... but each of two threads re-reads 5 KiB of a row: in place
        (16, 3584, "float64", 2, False, False),  # 14 KiB a thread: packed
        (16, 1024, "float64", 1, False, True),  # rows 8 KiB apart: in place
        (16, 2560, "float32", 1, False, False),
        (16, 2048, "float32", 1, False, True),
        (12, 4096, "float64", 1, False, True),  # one 12-row strip reads B once: in place everywhere
        (16, 8192, "float64", 2, True, False),  # rows 64 KiB apart collide in the caches: packed everywhere
    ],
)
def test_full_width_avx512_packs_b_that_a_second_strip_would_re_read_from_rows_far_apart(
    monkeypatch, m, n, dtype, threads, halves, b_in_place
):
    """Short A of more than one 12-row strip re-reads row-major B in place once a strip. On Zen 4 (512-bit
    ops in two halves) that won; on a full-width core it loses once B's rows are more than REREAD_ROW_BYTES
    apart a thread (two threads split its columns; docs/numba.md "On Zen 5"). The rule under AVX-512's constants,
    whichever host runs the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.REREAD_ROW_BYTES == (1 << 62 if impl.avx512_in_halves() else 8192)  # the host's own value
    for name, value in (("DIRECT_B_MIN_M", (6, 12)), ("DIRECT_B_NARROW_ROW", impl.PAGE), ("DIRECT_B_MAX_M", 16)):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "REREAD_ROW_BYTES", 1 << 62 if halves else 8192)
    itemsize = np.dtype(dtype).itemsize
    # int64 arguments, as the compiled build sees them
    assert impl.in_place.py_func(m, n, 64, 12, itemsize, True, True, np.int64(threads))[1] is b_in_place


def _avx512_fetch_rule(monkeypatch, impl, full_width: bool) -> None:
    """AVX-512's constants for the rule of strips fetching B ahead, on a full-width core or Zen 4, whichever
    host runs the test."""
    constants = {
        "FETCH_AHEAD": True,
        "B_FROM_MEMORY": 16 << 20,
        "B_COLLIDE_STRIDE": 32768,
        "IN_PLACE_AHEAD": 32,
        "IN_PLACE_COLLIDE_AHEAD": 16,
        "IN_PLACE_FROM_MEMORY": full_width,
        "JIT_FETCH_MAX_B": 1 << 62,  # AMD's: no size stops the fetch
        "IN_PLACE_NEXT_STRIP_MIN_B": 1 << 62,  # ... nor fetches the next strip
    }
    for name, value in constants.items():
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "fetches_next_strip", impl.fetches_next_strip.py_func)  # sees the constant above


@pytest.mark.parametrize(
    "m, n, k, full_width, b_in_place",
    [
        (8, 512, 4096, True, True),  # float64 rows one page apart, B of 16 MiB: 8 rows fetching ahead read in place
        (8, 512, 4096, False, False),  # ... Zen 4 packs (the page rule)
        (8, 512, 4095, False, True),  # ... a row short of 16 MiB: in L3, fetched, in place on both
        (16, 512, 4096, True, False),  # two strips do not fetch ahead: packed
        (12, 512, 4096, True, False),  # nor does one full strip
    ],
)
def test_full_width_avx512_reads_rows_a_page_apart_in_place_when_the_strip_fetches_them(
    monkeypatch, m, n, k, full_width, b_in_place
):
    """B's rows exactly one page apart and B from memory: packed (every k step would otherwise wait on a new
    page), unless the strip fetches its rows ahead (6-8 rows on a full-width core: float64 8x512x7168 +66 %
    over packed on a Zen 5 EPYC). The rule under AVX-512's constants, whichever host runs it."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    _avx512_fetch_rule(monkeypatch, impl, full_width)
    for name, value in (("DIRECT_B_MIN_M", (6, 12)), ("DIRECT_B_NARROW_ROW", impl.PAGE), ("DIRECT_B_MAX_M", 16)):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "REREAD_ROW_BYTES", 8192 if full_width else 1 << 62)
    monkeypatch.setattr(impl, "rows_ahead_in_place", impl.rows_ahead_in_place.py_func)  # sees the constants above
    assert impl.in_place.py_func(m, n, np.int64(k), 12, 8, True, True, np.int64(1))[1] is b_in_place


@pytest.mark.parametrize(
    "m, n, k, dtype, full_width, b_in_place",
    [
        (12, 12288, 2048, "float64", True, False),  # one full strip, rows 96 KiB apart, B of 192 MiB: packed
        (12, 12288, 2048, "float64", False, True),  # ... Zen 4 reads it in place, as measured there
        (12, 12288, 128, "float64", True, True),  # ... B of 12 MiB stays in L3: in place on both
        (16, 1024, 8192, "float64", True, False),  # two strips re-reading rows 8 KiB apart, from memory: packed
        (16, 1024, 2047, "float64", True, True),  # ... B a row short of 16 MiB, in L3: in place
        (12, 24576, 1024, "float32", True, False),  # float32 from 6 rows: rows 96 KiB apart from memory packed
        (8, 4096, 1024, "float64", True, True),  # 8 rows fetch ahead: in place from memory all the same
        (12, 384, 8192, "float64", True, True),  # rows of 3 KiB (at most DIRECT_B_NARROW_ROW): in place
    ],
)
def test_full_width_avx512_packs_b_streamed_from_memory_for_a_strip_that_does_not_fetch_it(
    monkeypatch, m, n, k, dtype, full_width, b_in_place
):
    """A of DIRECT_B_MIN_M-16 rows reads row-major B in place without fetching it ahead; from memory, on a
    full-width core, each k step then waits on two lines of a new row (float64 12x12288x2048 ran at 0.48 of
    OpenBLAS on a Zen 5 EPYC), so there it packs B (PACK_STREAMED_B). B in L3, strips that fetch ahead, and
    narrow rows keep in place, and Zen 4 keeps its rule. The rule under AVX-512's constants, whichever host
    runs the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    _avx512_fetch_rule(monkeypatch, impl, full_width)
    for name, value in (("DIRECT_B_MIN_M", (6, 12)), ("DIRECT_B_NARROW_ROW", impl.PAGE), ("DIRECT_B_MAX_M", 16)):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "REREAD_ROW_BYTES", 8192 if full_width else 1 << 62)
    monkeypatch.setattr(impl, "PACK_STREAMED_B", full_width)
    monkeypatch.setattr(impl, "rows_ahead_in_place", impl.rows_ahead_in_place.py_func)  # sees the constants above
    size = np.dtype(dtype).itemsize
    assert impl.in_place.py_func(m, n, np.int64(k), 12, size, True, True, np.int64(1))[1] is b_in_place


def test_a_strip_of_twelve_rows_packs_b_from_memory_on_this_host_as_the_rule_says():
    """The backend takes the rule's path: one full 12-row float64 strip against B of exactly B_FROM_MEMORY
    (rows 16 KiB apart) packs B on a full-width AVX-512 core (PACK_STREAMED_B) and reads it in place on
    other AVX-512 cores, as the row's path says, and the product passes the harness's verifier; a row less
    of B (in L3) reads it in place wherever AVX-512 does."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    if impl.VECTOR_BITS != 512:
        pytest.skip("12-row strips read B in place on AVX-512 only")
    assert impl.PACK_STREAMED_B == impl.FULL_WIDTH_512
    kernel = NumbaGemm()
    kernel.setup(1)
    try:
        for k, packed in ((impl.B_FROM_MEMORY // (2048 * 8), impl.FULL_WIDTH_512), (1023, False)):
            case = GemmCase(12, 2048, k, "float64")
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            assert ("B packed" in prepared.facts["path"]) is packed, (k, prepared.facts["path"])
            assert verify(case, ops, prepared.output).ok
    finally:
        kernel.teardown()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_avx512_packs_just_in_time_groups_of_at_most_256_kib_where_measured(dtype):
    """Short A packing B just in time fetches the next group while it multiplies this one; on AVX-512 both
    groups and A's block share the core's 1 MiB L2. A group holds at most JIT_GROUP_BYTES for its tile kind:
    on every AVX-512 core 256 KiB for both kinds (4 tall strips or 2 wide ones at KC 512, where INLINE_PACK's 8
    held 512 KiB or 1 MiB; on Zen 4 the tall tile's cap paid once the next group was fetched into L2, not L1);
    AVX2 keeps INLINE_PACK strips at the table's KC. The row's blocks fact
    names the group that ran, and the product, several groups a thread at two threads, passes the harness's
    verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    itemsize = np.dtype(dtype).itemsize
    cap = 256 << 10
    assert impl.JIT_GROUP_BYTES == dict.fromkeys(("tall", "wide"), cap if impl.VECTOR_BITS == 512 else 0)
    kernel = NumbaGemm()
    kernel.setup(2)
    try:
        # rows of B 64 KiB apart (they collide in the caches' sets): every ISA packs B for these A
        for m, layout in ((16, "NN"), (16, "NT"), (64, "NN"), (impl.SHORT_A, "NN")):
            case = GemmCase(m, (64 << 10) // itemsize, 600, dtype, layout)
            tile = impl.tile_for(m, case.n, case.k, dtype, layout == "NN", 2)
            if impl.VECTOR_BITS == 256:  # AVX2: the tall tile up to TALL_WIDE_B's rows against B this wide
                assert tile.kind == ("tall" if m <= impl.TALL_WIDE_B[0] else "wide")
            else:  # on Intel's AVX-512 16 rows run wide strips where B is packed from rows (SHORT_WIDE_MIN_M)
                assert tile.kind == ("tall" if m == 16 and (layout == "NT" or not impl.INTEL_AVX512) else "wide")
            # the KC the backend takes (AVX2: SHORT_A_KC; Intel: UNFETCHED_KC in wide strips)
            kc = impl.blocks(dtype, m, layout == "NN", wide=tile.kind == "wide")[1]
            group = impl.jit_strips(dtype, kc, tile)
            if impl.VECTOR_BITS == 512:
                assert group == cap // (kc * tile.shape(dtype)[1] * itemsize)
                # the table's KC 512, or Intel's SHORT_A_KC: 192 in tall tiles, 128 in wide ones
                want = {512: {"tall": 4, "wide": 2}, 192: {"tall": 10, "wide": 5}, 128: {"tall": 16, "wide": 8}}[kc]
                assert group == want[tile.kind]
            else:
                assert group == max(1, impl.JIT_ROWS[dtype] // kc)
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            assert prepared.facts["blocks"].endswith(f" GROUP={group}"), prepared.facts["blocks"]
            assert verify(case, ops, prepared.output).ok, case
    finally:
        kernel.teardown()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zen4_packs_one_strip_of_a_in_groups_without_the_cap(dtype, threads, monkeypatch):
    """A of one MR strip multiplies each packed strip of B once, so on Zen 4 (AVX-512 in halves) its groups
    take INLINE_PACK's strips, not JIT_GROUP_BYTES' 256 KiB (JIT_ONE_STRIP_CAPPED: one thread float64 8 rows
    +11 to +29 % in process); A of two strips and more keeps the cap, as does one strip elsewhere. The rule is
    tested under Zen 4's constants on any host, with B stored transposed (packed just in time by every ISA's
    rules); the row's blocks fact names the group that ran, and every product passes the harness's verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.JIT_ONE_STRIP_CAPPED is not impl.avx512_in_halves()  # the host's own rule
    cap = 256 << 10
    monkeypatch.setattr(impl, "JIT_GROUP_BYTES", dict.fromkeys(("tall", "wide"), cap))
    _, kc, _ = impl.BLOCKS[dtype]
    tile = impl.Tile("tall")
    mr, nr = tile.shape(dtype)
    capped = max(1, min(impl.JIT_ROWS[dtype] // kc, cap // (kc * nr * np.dtype(dtype).itemsize)))
    assert capped < impl.JIT_ROWS[dtype] // kc, "the cap binds at the table's KC"
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        for one_strip_capped in (False, True):
            monkeypatch.setattr(impl, "JIT_ONE_STRIP_CAPPED", one_strip_capped)
            for m in (2, mr, mr + 1):
                case = GemmCase(m, 40 * nr + 3, kc + 40, dtype, "NT")  # many strips, a ragged last update
                assert impl.tile_for(m, case.n, case.k, dtype, False, threads).kind == "tall"
                group = impl.JIT_ROWS[dtype] // kc if m <= mr and not one_strip_capped else capped
                assert impl.jit_strips(dtype, kc, tile, m <= mr) == group
                ops = make_operands(case)
                prepared = kernel.prepare(case, ops)
                prepared.launch()
                prepared.launch()
                assert "B packed" in prepared.facts["path"], prepared.facts["path"]
                assert prepared.facts["blocks"].endswith(f" GROUP={group}"), (case, prepared.facts["blocks"])
                assert verify(case, ops, prepared.output).ok, case
    finally:
        kernel.teardown()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zen4_packs_row_major_b_for_one_strip_of_a_at_a_quarter_of_the_kc(dtype, threads, monkeypatch):
    """On Zen 4 A of one tall MR strip that packs row-major B just in time takes ONE_STRIP_KC (128), so that a
    group of JIT_ROWS // 128 strips reads each row of B in runs four times as long, and runs a panel's updates in
    one parallel region (ONE_STRIP_ONE_REGION; float64 8 rows +4 to +23 % at one thread, +0.5 to +42 % at two, in
    process). A of two strips keeps the host's own KC. Tested under Zen 4's constants on any host (the region is
    compiled in: Zen 4's own runs it), B's rows more than a page apart (A of 2 rows packs B under every ISA's
    rules), K of several updates with a ragged last one; the row's blocks fact names the KC and group that ran,
    and every product passes the harness's verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.ONE_STRIP_KC == (128 if impl.avx512_in_halves() else 0)  # the host's own rule
    assert impl.ONE_STRIP_ONE_REGION is impl.avx512_in_halves()
    monkeypatch.setattr(impl, "JIT_GROUP_BYTES", dict.fromkeys(("tall", "wide"), 256 << 10))
    monkeypatch.setattr(impl, "JIT_ONE_STRIP_CAPPED", False)
    mr, nr = impl.Tile("tall").shape(dtype)
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        for m in (2, mr, mr + 1):
            case = GemmCase(m, 40 * nr + 3, 3 * 128 + 40, dtype)
            tile = impl.tile_for(m, case.n, case.k, dtype, True, threads)  # 13 rows run wide strips on Intel
            assert m > mr or tile.kind == "tall", (case, tile.kind)
            monkeypatch.setattr(impl, "ONE_STRIP_KC", 0)
            b_bytes = case.n * case.k * case.itemsize
            own_kc = impl.blocks(dtype, m, True, b_bytes, wide=tile.kind == "wide")[1]  # the rule off
            monkeypatch.setattr(impl, "ONE_STRIP_KC", 128)
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            path, blocks = prepared.facts["path"], prepared.facts["blocks"]
            assert m > 2 or "B packed" in path, (case, path)
            if "B packed" in path:
                kc = 128 if m <= mr else min(own_kc, case.k)
                group = impl.JIT_ROWS[dtype] // 128 if m <= mr else impl.jit_strips(dtype, kc, tile)
                assert f" KC={kc} " in blocks and blocks.endswith(f" GROUP={group}"), (case, blocks)
            assert verify(case, ops, prepared.output).ok, case
    finally:
        kernel.teardown()


@pytest.mark.parametrize("threads", [1, 2])
def test_avx2_float32_a_of_up_to_128_rows_against_wide_b_takes_the_4x24_tile(threads):
    """On AVX2 float32 A of up to 128 rows against B of at least 512 columns runs 4 x 24 tiles (B packed in runs
    half as long again as 6 x 16's; measured in TALL_WIDE_B's comment); taller A and narrower B keep 6 x 16
    (at 64^3 4 x 24 lost 25 %), and on AVX-512 the tall tile stops at 32 rows. The row says which tile ran,
    and every product passes the harness's verifier: A of several 4-row strips with a one-row edge, N not a
    multiple of 24, a ragged last rank-KC update."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    max_m = 128 if impl.VECTOR_BITS == 256 else 32  # against B of at least 512 columns
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        for m, n in ((33, 1000), (128, 1000), (129, 1000), (64, 511), (64, 64), (128, 512)):
            case = GemmCase(m, n, 600, "float32")
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            kind = "tall" if m <= 32 or (m <= max_m and n >= 512) else "wide"
            mr, nr = impl.TILES[kind]["float32"]
            assert prepared.facts["tile"] == f"{mr}x{nr} {kind}", (m, n, prepared.facts["tile"])
            assert verify(case, ops, prepared.output).ok, case
    finally:
        kernel.teardown()


# (rows of A, N, K, dtype, rows fetched ahead: "cache" IN_PLACE_AHEAD, "memory" what a full-width core fetches
# from memory, 0 none).
@pytest.mark.parametrize(
    "m, n, k, dtype, ahead",
    [
        (8, 2048, 1023, "float64", "cache"),  # B a row short of B_FROM_MEMORY
        (8, 2048, 1024, "float64", "memory"),  # B of B_FROM_MEMORY: 32 rows ahead on a full-width core, else packed
        (8, 4096, 512, "float64", "memory"),  # ... rows 32 KiB apart (B_COLLIDE_STRIDE): 16 rows ahead
        (8, 3072, 4095, "float64", "memory"),  # B a row short of 96 MiB, rows 24 KiB apart: fetched
        (8, 3072, 4096, "float64", "memory"),  # B of 96 MiB: packed on Intel (JIT_FETCH_MAX_B), fetched on AMD
        (6, 3072, 40, "float32", "cache"),  # half a 12-row tile; K under IN_PLACE_AHEAD: every fetch is past B
        (7, 1001, 33, "float64", "cache"),  # rows not a whole number of lines apart, a last partial strip
        (5, 3072, 64, "float32", 0),  # under half a tile: packed
        (9, 2000, 64, "float32", 0),  # over 2/3 of a tile: in place, no fetch
        (12, 4096, 64, "float64", 0),  # a full tile: in place, no fetch
    ],
)
def test_short_strips_reading_b_in_place_fetch_it_ahead(m, n, k, dtype, ahead):
    """A strip of 6-8 rows reads B in place while B is under B_FROM_MEMORY, fetching each k step's lines
    IN_PLACE_AHEAD rows ahead (AVX-512, where it was measured), and from memory too on a full-width core
    (IN_PLACE_FROM_MEMORY; IN_PLACE_COLLIDE_AHEAD rows ahead where B's rows collide), on Intel's only under 96 MiB
    (rows wider than a page); the row says how far, and the product is right even where the fetches point past
    the end of B. Outside that band B is packed
    (float64) or read in place without fetching (float32 from 6 rows, float64 from 12), and the row does not
    say it."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    case = GemmCase(m, n, k, dtype)
    mr = impl.tile_for(m, n, k, dtype, True, 1).shape(dtype)[0]
    size = np.dtype(dtype).itemsize
    collide = n * size % impl.B_COLLIDE_STRIDE == 0
    from_memory = (impl.IN_PLACE_COLLIDE_AHEAD if collide else impl.IN_PLACE_AHEAD) * impl.IN_PLACE_FROM_MEMORY
    if impl.VECTOR_BITS == 512 and impl.intel_avx512() and n * k * size >= 96 << 20 and n * size > impl.PAGE:
        from_memory = 0  # Intel's AVX-512 packs such B (JIT_FETCH_MAX_B)
    rows = {"cache": impl.IN_PLACE_AHEAD, "memory": from_memory, 0: 0}[ahead] * impl.FETCH_AHEAD
    assert impl.rows_ahead_in_place(m, mr, n * k * size, n * size, impl.fetches_next_strip(n * k * size, 1)) == rows
    kernel = NumbaGemm()
    kernel.setup(1)
    try:
        ops = make_operands(case)
        prepared = kernel.prepare(case, ops)
        prepared.launch()
        path = prepared.facts["path"]
        assert ("rows ahead" in path) == (rows > 0), path
        if rows:  # to L2 from memory on a full-width core (fetch_level), else to L1; the next strip too on Intel
            level = "L2" if ahead == "memory" and impl.FETCH_LOCALITY == impl.LOCALITY_L2 else "L1"
            strip = " and the next strip" if impl.fetches_next_strip(n * k * size, 1) else ""
            assert f"B in place (fetched {rows} rows ahead{strip} to {level})" in path, path
        assert verify(case, ops, prepared.output).ok
    finally:
        kernel.teardown()


@pytest.mark.parametrize(
    "m, n, k, dtype",
    [
        (8, 1024, 1, "float64"),  # one k step: the fetching call alone, into the next strip
        (8, 1024, 31, "float64"),  # fewer steps than IN_PLACE_AHEAD: no first call
        (8, 1024, 32, "float64"),  # exactly IN_PLACE_AHEAD
        (8, 1024, 33, "float64"),  # one step in the first call
        (7, 7168, 256, "float64"),  # DeepSeek-V3's moe.shared.down, a row short
        (6, 600, 1100, "float64"),  # three KC blocks, the last of 76 rows: the second and third add to C
        (8, 1040, 700, "float32"),  # two KC blocks, and a last partial strip
    ],
)
def test_strips_fetching_into_the_next_strip_write_c_once_and_add_the_rest(m, n, k, dtype):
    """A short strip reading B in place with its rows fetched ahead runs as two calls, the second fetching the
    next strip's first rows; the second adds to the first's tile (and to earlier KC blocks'), the first of a
    product overwrites it. C starts as NaN and the product runs twice: a call that adds to what C held, or one
    that overwrites what the first call wrote, gives a wrong (or NaN) C."""
    case = GemmCase(m, n, k, dtype)
    kernel = NumbaGemm()
    kernel.setup(1)
    try:
        ops = make_operands(case)
        prepared = kernel.prepare(case, ops)
        prepared.output[...] = np.nan
        prepared.launch()
        prepared.launch()
        assert verify(case, ops, prepared.output).ok
        from gemmbench.kernels import _numba_gemm_impl as impl

        assert ("rows ahead" in prepared.facts["path"]) == impl.FETCH_AHEAD, prepared.facts["path"]
    finally:
        kernel.teardown()


# (rows of A, bytes of B, bytes between B's rows, full width, rows fetched ahead): 12-row tiles, AVX-512's constants.
@pytest.mark.parametrize(
    "m, b_bytes, stride, full_width, ahead",
    [
        (8, 16 << 20, 10240, True, 32),  # from memory, rows 10 KiB apart: fetched on a full-width core
        (8, 16 << 20, 10240, False, 0),  # ... packed on Zen 4
        (8, (16 << 20) - 1, 10240, False, 32),  # in L3: fetched on both
        (6, 470 << 20, 57344, True, 32),  # rows 56 KiB apart (float64 N = 7168)
        (8, 470 << 20, 65536, True, 16),  # rows 64 KiB apart share the caches' sets: 16 rows ahead
        (8, 56 << 20, 32768, True, 16),  # exactly B_COLLIDE_STRIDE apart: 16 too
        (8, 56 << 20, 32768 + 64, True, 32),  # a line more: 32
        (8, 56 << 20, 32768, False, 0),  # Zen 4: packed
        (5, 64 << 20, 10240, True, 0),  # under half the tile: packed
        (9, 64 << 20, 10240, True, 0),  # over 2/3 of it: in place without fetching (or packed, float64)
    ],
)
def test_full_width_avx512_fetches_b_in_place_from_memory_closer_where_its_rows_collide(
    monkeypatch, m, b_bytes, stride, full_width, ahead
):
    """Strips of 6-8 rows read B from memory in place with their own fetch on a full-width AVX-512 core
    (float64 M = 8 on a Zen 5 EPYC: 1.3-2.7x packing, docs/numba.md "What changed"), not on Zen 4 (-18 to -22 %
    there); 32 rows ahead, but 16 where B's rows are a multiple of B_COLLIDE_STRIDE apart (32 rows ahead then
    fall in a few sets of the caches: -13 to -18 % against packing, 16 +24 to +57 %). The rule under AVX-512's
    constants, whichever host runs the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.IN_PLACE_FROM_MEMORY == (impl.VECTOR_BITS == 512 and not impl.avx512_in_halves())  # the host's
    _avx512_fetch_rule(monkeypatch, impl, full_width)
    # int64 arguments, as the compiled build passes them
    assert impl.rows_ahead_in_place.py_func(m, 12, np.int64(b_bytes), np.int64(stride), False) == ahead


# (rows of A, N, K, rows fetched ahead): float64, 12-row tiles, Intel's AVX-512 constants.
@pytest.mark.parametrize(
    "m, n, k, ahead",
    [
        (8, 3584, 4096, 0),  # B of 112 MiB, rows 28 KiB apart (Llama-3.1-8B's mlp.gate_up at --tp 8): packed
        (8, 3072, 4096, 0),  # B of exactly JIT_FETCH_MAX_B: packed
        (8, 3072, 4095, 32),  # a row under: read in place, fetched
        (6, 7168, 8192, 0),  # rows 56 KiB apart
        (8, 4096, 4096, 0),  # rows B_COLLIDE_STRIDE apart: packed too
        (8, 4096, 3071, 16),  # ... under the limit: 16 rows ahead
        (8, 512, 32768, 32),  # rows a page apart keep their fetch (measured with it)
    ],
)
def test_intel_avx512_short_strips_pack_b_too_large_to_fetch_ahead(monkeypatch, m, n, k, ahead):
    """On Intel's AVX-512 strips of 6-8 rows stop fetching B in place where the group fetch stops
    (JIT_FETCH_MAX_B) and pack it: float64 8x3584x4096 one thread +36 %, 8x8192x8192 +50 % over in place fetched
    (a Xeon, docs/numba.md "Llama-3.1-8B on faa6118"). Rows a page apart or narrower keep their fetch.
    The rule under Intel's constants, whichever host runs the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    _avx512_fetch_rule(monkeypatch, impl, True)
    monkeypatch.setattr(impl, "JIT_FETCH_MAX_B", 96 << 20)
    monkeypatch.setattr(impl, "rows_ahead_in_place", impl.rows_ahead_in_place.py_func)  # sees the constants above
    # int64 arguments, as the compiled build passes them
    b_bytes, stride = np.int64(n * k * 8), np.int64(n * 8)
    assert impl.rows_ahead_in_place(m, 12, b_bytes, stride, False) == ahead
    assert impl.in_place.py_func(m, n, k, 12, 8, True, True, np.int64(1))[1] is (ahead > 0)  # else B is packed


# (bytes of B, threads, whether the next strip is fetched): Intel's AVX-512 constant.
@pytest.mark.parametrize(
    "b_bytes, threads, fetched",
    [
        (40 << 20, 1, True),  # float64 8x1280x4096: +28 % in process
        ((40 << 20) - 1, 1, False),  # a byte under: B of 14-32 MiB lost 3-25 %
        (84 << 20, 1, True),  # float64 8x1536x7168 (DeepSeek-V3's mla.q_down at --tp 8)
        (40 << 20, 2, False),  # two threads swung -22 to +41 %: not taken
        (1 << 40, 4, False),
    ],
)
def test_intel_avx512_one_thread_fetches_the_next_strip_of_b_read_in_place_from_40_mib(
    monkeypatch, b_bytes, threads, fetched
):
    """One thread whose strips of 6-8 rows read B in place from memory on Intel also fetch the next strip's lines
    of each row (float64 8x8192x1024 +30 to +42 %, float32 8x7168x2048 +51 and +53 % in process on a Xeon);
    from IN_PLACE_NEXT_STRIP_MIN_B, one thread only; no other CPU does (not measured there). The rule under
    Intel's constant, whichever host runs the test, and the host's own constant."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.IN_PLACE_NEXT_STRIP_MIN_B == (40 << 20 if impl.INTEL_AVX512 else 1 << 62)
    monkeypatch.setattr(impl, "IN_PLACE_NEXT_STRIP_MIN_B", 40 << 20)
    # int64 arguments, as the compiled build passes them
    assert bool(impl.fetches_next_strip.py_func(np.int64(b_bytes), np.int64(threads))) is fetched


@pytest.mark.parametrize("threads", [1, 2])
def test_the_row_says_when_one_thread_fetches_the_next_strip_and_the_product_is_right(threads):
    """The backend's row names the next strip's fetch exactly where the host's rule takes it (float64 8x1280x4096,
    B of 40 MiB read in place: on Intel's AVX-512 at one thread), and the product passes the harness's
    verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    case = GemmCase(8, 1280, 4096, "float64")
    mr = impl.tile_for(8, 1280, 4096, "float64", True, threads).shape("float64")[0]
    next_strip = impl.fetches_next_strip(1280 * 4096 * 8, threads)
    fetched = bool(impl.rows_ahead_in_place(8, mr, 1280 * 4096 * 8, 1280 * 8, next_strip)) and next_strip
    assert fetched is (impl.INTEL_AVX512 and threads == 1)
    prepared, ops = _launched(case, threads)
    assert ("and the next strip" in prepared.facts["path"]) is fetched, prepared.facts["path"]
    assert verify(case, ops, prepared.output).ok


@pytest.mark.parametrize("m", [6, 7, 8, 12, 13, 16])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strips_fetching_the_next_strip_compute_every_strip_and_block_of_rows(m, dtype):
    """``_block`` reading B in place with its rows and the next strip fetched ahead (``next_strip``): the fetches
    point past the panel at its last full strip and past B in the last rows, and must change nothing; the
    product over three full strips, an edge of whole vectors (read in place too) and two blocks of K is the
    float64 product's, for one strip of A and for two (13-16 rows on AVX-512's 12-row tiles: the second strip
    of A re-reads what the first read)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    tile = impl.Tile("tall")
    mr, nr = tile.shape(dtype)
    w = impl.VECTOR_BITS // (8 * np.dtype(dtype).itemsize)
    n, k = 3 * nr + w, 2 * impl.IN_PLACE_AHEAD + 6
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    strips = -(-m // mr)
    abuf, bjit, scratch = (np.zeros(size, dtype) for size in (strips * mr * k, impl.INLINE_PACK * k * nr, mr * nr))
    for next_strip in (True, False):
        c = np.full((m, n), np.nan, dtype)
        for pc in (0, k // 2):
            # fmt: off
            impl._block(a, a.reshape(-1), b, b.reshape(-1), c, c.reshape(-1), 0, m, pc, k // 2, 0, 0, 4, n,
                        np.zeros(0, dtype), abuf, bjit, scratch, False, impl.INLINE_PACK, impl.ROW_GROUP, False,
                        True, next_strip, tile, impl.FETCH_LOCALITY)
            # fmt: on
        np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4, err_msg=f"{next_strip}")


# (rows of A, N, K, threads, rows fetched ahead, dtype): 12-row tiles, Intel's AVX-512 constants.
@pytest.mark.parametrize(
    "m, n, k, threads, ahead, dtype",
    [
        (16, 1280, 8192, 1, 32, "float64"),  # Llama-3.1-70B's attn.qkv at --tp 8, 80 MiB: two strips in place
        (13, 1280, 8192, 1, 32, "float64"),
        (12, 1280, 8192, 1, 32, "float64"),  # one full strip
        (9, 1280, 8192, 1, 32, "float64"),
        (12, 8192, 1024, 1, 16, "float64"),  # rows 64 KiB apart (a multiple of B_COLLIDE_STRIDE): 16 rows ahead
        (16, 8192, 1024, 1, 16, "float64"),  # ... two strips do not re-read from cache: packed
        (16, 3072, 2048, 1, 32, "float64"),  # rows 24 KiB apart: packed
        (13, 2560, 4096, 1, 32, "float64"),  # rows 20 KiB apart: in place
        (16, 512, 16384, 1, 32, "float64"),  # rows a page apart, B of 64 MiB
        (16, 1280, 4095, 1, 0, "float64"),  # B a row under 40 MiB: no next strip, so packed
        (16, 1280, 8192, 2, 0, "float64"),  # two threads: packed
        (16, 3584, 4096, 1, 0, "float64"),  # B of 112 MiB, rows 28 KiB apart: packed (JIT_FETCH_MAX_B)
        (17, 1280, 8192, 1, 32, "float64"),  # over DIRECT_B_MAX_M: packed all the same
        (25, 1280, 8192, 1, 0, "float64"),  # over two strips
        (14, 3584, 2048, 1, 32, "float64"),  # rows 28 KiB apart, a second strip of 2 rows: packed in float64 ...
        (14, 7168, 2048, 1, 32, "float32"),  # ... in place in float32 (IN_PLACE_SHORT_TAIL_MAX_ROW: under 36 KiB)
        (13, 8192, 2048, 1, 16, "float32"),  # rows 32 KiB apart: in place
        (14, 9216, 2048, 1, 32, "float32"),  # rows 36 KiB apart: packed
        (15, 7168, 2048, 1, 32, "float32"),  # a second strip of 3 rows: packed
        (16, 6144, 2048, 1, 32, "float32"),  # ... 4 rows, rows 24 KiB apart: packed
        (13, 5120, 2048, 1, 32, "float32"),  # rows 20 KiB apart: in place at any row count
        (14, 7168, 2048, 2, 0, "float32"),  # two threads: packed
    ],
)
def test_intel_avx512_one_thread_reads_large_b_in_place_for_up_to_two_strips_of_a(
    monkeypatch, m, n, k, threads, ahead, dtype
):
    """On Intel's AVX-512 one thread whose strips fetch the next strip (``fetches_next_strip``, B of 40 MiB or
    more) reads B in place with its rows fetched ahead for A of up to two 12-row strips (9-16 rows; 6-8
    before): the second strip re-reads the first's KC rows of B from cache (float64 16x1280x8192 +33 to +39 %
    over packed in process on a Xeon), while B's rows are under 24 KiB apart (IN_PLACE_TWO_STRIPS_MAX_ROW:
    16x8192x1024 ran at half the speed of packing), or in float32 under 36 KiB where the second strip has 1-2
    rows (IN_PLACE_SHORT_TAIL_MAX_ROW: +12 to +43 % at 13-14 rows). Two threads, smaller B and rows past
    DIRECT_B_MAX_M pack B, as before. The rule under Intel's constants, whichever host runs the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    intel = impl.INTEL_AVX512  # the host's own values, before the constants below replace them
    assert impl.IN_PLACE_TWO_STRIPS_MAX_ROW == (24 << 10 if intel else 1 << 62)
    assert impl.IN_PLACE_SHORT_TAIL_MAX_ROW == ((36 << 10, 24 << 10) if intel else (1 << 62, 1 << 62))
    assert impl.IN_PLACE_SHORT_TAIL_ROWS == 2
    _avx512_fetch_rule(monkeypatch, impl, True)
    constants = {
        "JIT_FETCH_MAX_B": 96 << 20,
        "IN_PLACE_NEXT_STRIP_MIN_B": 40 << 20,
        "DIRECT_B_MIN_M": (6, 12),
        "DIRECT_B_NARROW_ROW": impl.PAGE,
        "DIRECT_B_MAX_M": 16,
        "REREAD_ROW_BYTES": 8192,
        "PACK_STREAMED_B": True,
        "IN_PLACE_TWO_STRIPS_MAX_ROW": 24 << 10,
        "IN_PLACE_SHORT_TAIL_MAX_ROW": (36 << 10, 24 << 10),
    }
    for name, value in constants.items():
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "rows_ahead_in_place", impl.rows_ahead_in_place.py_func)  # sees the constants above
    # int64 arguments, as the compiled build passes them
    itemsize = np.dtype(dtype).itemsize
    b_bytes, stride = np.int64(n * k * itemsize), np.int64(n * itemsize)
    assert impl.rows_ahead_in_place(m, 12, b_bytes, stride, impl.fetches_next_strip(b_bytes, threads)) == ahead
    in_place = impl.in_place.py_func(m, n, np.int64(k), 12, itemsize, True, True, np.int64(threads))[1]
    max_row = 36 << 10 if dtype == "float32" and m <= 14 else 24 << 10  # where two strips re-read B from cache
    assert in_place is (ahead > 0 and m <= 16 and (m <= 12 or n * itemsize < max_row))  # else B is packed


@pytest.mark.parametrize("threads", [1, 2])
def test_strips_fetching_the_next_strip_take_in_place_kc_and_the_row_says_so(threads):
    """The backend takes the host's rule: float64 16x1280x4096 (B of 40 MiB) reads B in place with its rows and
    the next strip fetched ahead at IN_PLACE_KC (KC 48) where ``fetches_next_strip`` says so (Intel's AVX-512,
    one thread), and otherwise packs it (KC of SHORT_A_KC) or reads it as before; the row's path and blocks say
    which ran, and the product passes the harness's verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    case = GemmCase(16, 1280, 4096, "float64")
    b_bytes = 1280 * 4096 * 8
    mr = impl.tile_for(16, 1280, 4096, "float64", True, threads).shape("float64")[0]
    next_strip = impl.fetches_next_strip(b_bytes, threads)
    fetched = next_strip and impl.rows_ahead_in_place(16, mr, b_bytes, 1280 * 8, next_strip) > 0
    assert fetched is (impl.INTEL_AVX512 and threads == 1)
    assert impl.IN_PLACE_KC == 48
    assert impl.blocks("float64", 16, False, b_bytes, True)[1] == impl.IN_PLACE_KC
    assert impl.blocks("float64", 16, False, b_bytes, False)[1] == impl.BLOCKS["float64"][1]
    prepared, ops = _launched(case, threads)
    path, blocks = prepared.facts["path"], prepared.facts["blocks"]
    assert ("and the next strip" in path) is fetched, path
    assert (f"KC={impl.IN_PLACE_KC} " in blocks) is fetched, blocks
    if fetched:
        assert "B in place (fetched 32 rows ahead and the next strip to L2)" in path, path
    assert verify(case, ops, prepared.output).ok


def test_one_share_of_c_runs_on_one_thread_and_says_so():
    """With one strip of B and one row block there is nothing for a second thread to do: the serial build
    runs (no parallel region to launch) and the row says so; with two strips both threads work."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    nr = impl.TILES["wide"]["float32"][1]
    kernel = NumbaGemm()
    kernel.setup(2)
    try:
        for n, alone in ((nr, True), (2 * nr, False)):
            case = GemmCase(64, n, 64, "float32")
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            assert ("one thread" in prepared.facts["path"]) == alone, (n, prepared.facts["path"])
            assert np.allclose(prepared.output, ops.a.astype(np.float64) @ ops.b, rtol=1e-4, atol=1e-3)
    finally:
        kernel.teardown()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_short_a_against_strips_of_b_that_do_not_share_evenly_splits_its_rows(dtype):
    """Short A of ROW_SPLIT_MIN_M rows or more at two threads, against strips of B that two threads cannot
    share evenly: one or three strips, or two of which the last is partial (a share of the strips left one
    thread idle, or with half or two thirds of the other's work), give each thread a row block; five strips
    give each thread two whole strips and half the rows of the fifth. The row says so. Even strips, fewer
    rows or too little work keep the split they had. Every result is checked (the last strip partial or
    not: edge tiles into C directly, into scratch, B of the edge read in place or packed)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    nr, w, rows = impl.TILES["wide"][dtype][1], impl.VECTOR_BITS // 8 // np.dtype(dtype).itemsize, impl.ROW_SPLIT_MIN_M
    rows_split, last_strip = "threads split A's rows", "threads split A's rows of the last strip"
    small = impl.ROW_SPLIT_MIN_WORK // (rows * nr)  # too little work to launch a parallel region for
    cases = [
        (rows, nr - 3, 1100, rows_split),
        (256, 3 * nr - 3, 1100, rows_split),
        (256, 2 * nr - 3, 1100, rows_split),
        (256, 2 * nr - w, 1100, rows_split),  # the partial strip's columns fill whole vectors
        (256, 2 * nr, 1100, None),
        (256, 5 * nr - 3, 1100, last_strip),
        (256, 5 * nr - w, 1100, last_strip),
        (256, 4 * nr, 1100, None),
        (rows - 16, nr - 3, 1100, None),
        (rows - 16, 5 * nr - 3, 1100, None),
        (rows, nr - 3, small, None),
    ]
    kernel = NumbaGemm()
    kernel.setup(2)
    try:
        for m, n, k, split in cases:
            case = GemmCase(m, n, k, dtype)
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            path = prepared.facts["path"]
            said = last_strip if last_strip in path else rows_split if rows_split in path else None
            assert said == split, (case, path)
            assert ("one thread" in path) is (n < nr and not split), (case, path)
            assert verify(case, ops, prepared.output).ok, (case, path)
    finally:
        kernel.teardown()


# (rows of A, MR, itemsize, bytes of B, threads) -> rows of each thread's own row block, under Intel's constants
@pytest.mark.parametrize(
    "m, mr, itemsize, b_bytes, threads, rows",
    [
        (300, 6, 8, 8 << 20, 2, 150),  # float64 300x1024x1024: +11 % in process
        (300, 6, 8, (8 << 20) - 1, 2, 0),  # B a byte under: shares (301x700x300 lost 6-11 % as two halves)
        (300, 6, 8, 0, 2, 0),  # B read in place: nothing packed to share
        (300, 6, 8, 1 << 30, 1, 0),  # one thread: nothing to share
        (300, 6, 8, 1 << 30, 4, 0),  # four threads: not measured (a two-vCPU host)
        (256, 6, 8, 1 << 30, 2, 0),  # short A: one row block, B's strips split
        (257, 6, 8, 1 << 30, 2, 132),  # the fewest rows: 43 strips, 22 and 21
        (504, 6, 8, 1 << 30, 2, 252),  # 84 strips, 42 each: short A's blocks
        (505, 6, 8, 1 << 30, 2, 258),  # 85 strips: blocks of more than SHORT_A rows (OWN_ROWS_MAX)
        (700, 6, 8, 1 << 30, 2, 354),  # float64 700x2500x1500: +2 and +4 % in process
        (900, 6, 8, 1 << 30, 2, 450),  # float64's most: 150 strips, 75 each
        (901, 6, 8, 1 << 30, 2, 0),  # 151 strips: a block of 456 rows (480-510 level): panels
        (288, 6, 4, 1 << 30, 2, 0),  # float32 of PANEL_BLOCKS' MC rows or fewer is one row block already
        (289, 6, 4, 1 << 30, 2, 150),
        (901, 6, 4, 1 << 30, 2, 456),  # float32 keeps blocks of up to 512 rows
        (1020, 6, 4, 1 << 30, 2, 510),  # float32's most: 170 strips, 85 each
        (1021, 6, 4, 1 << 30, 2, 0),  # 171 strips: a block of 516 rows: panels
        (1020, 6, 4, (8 << 20) - 1, 2, 0),  # B a byte under OWN_ROWS_MIN_B: panels
    ],
)
def test_intel_two_threads_give_each_a_row_block_of_its_own_where_b_is_large(
    monkeypatch, m, mr, itemsize, b_bytes, threads, rows
):
    """On Intel's AVX-512 at two threads, A of more than SHORT_A rows whose halves are at most OWN_ROWS_MAX rows
    (float32 512, float64 450), against B of 8 MiB or more (row-major or stored transposed), gives each thread
    its own half, and each packs all of B for it: in process over the shared panel (docs/examples/kernel_ab.py,
    a Xeon, model 207) float64 +1 to +21 % up to 450 rows, float32 +0 to +16 %; float64 halves of 480-510 rows
    were level. The rule under Intel's constants, whichever host runs the test, and the host's own constant."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.OWN_ROWS_MIN_B == (8 << 20 if impl.INTEL_AVX512 else 1 << 62)
    monkeypatch.setattr(impl, "OWN_ROWS_MIN_B", 8 << 20)
    monkeypatch.setattr(impl, "PANEL_MC", (288, 60))  # Intel's PANEL_BLOCKS
    # int64 arguments, as the compiled build passes them
    args = (np.int64(x) for x in (m, mr, itemsize, b_bytes, threads))
    assert impl.own_rows.py_func(*args) == rows


@pytest.mark.parametrize("trans", ["NN", "NT"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_blocks_of_their_own_compute_every_row_and_strip(dtype, trans):
    """Each of two threads multiplies its own row block, packing all of B (row-major or stored transposed) just
    in time: blocks that differ by a strip, a partial last strip, K of several uneven rank-KC updates, and N over
    one panel. Forced on the compiled GEMM with the blocks ``workspace`` gives such a block, whichever host runs
    it; launched twice (a kernel that accumulated would double C), every product passes the harness's verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    kernel = NumbaGemm()
    kernel.setup(2)
    try:
        # the last: each thread's block is over SHORT_A rows, its A packed whole at PANEL_BLOCKS' KC (OWN_ROWS_MAX)
        tall = (
            2 * impl.OWN_ROWS_MAX[np.dtype(dtype).itemsize // 8] - 7,
            3 * 64 + 9,
            3 * impl.PANEL_BLOCKS[dtype][1] + 5,
        )
        for m, n, k in ((301, 1000, 700), (257, 3 * 32 + 5, 300), (300, impl.BLOCKS[dtype][2] + 37, 130), tall):
            case = GemmCase(m, n, k, dtype, trans)
            ops = make_operands(case)
            tile = impl.tile_for(m, n, k, dtype, trans == "NN", 2)
            mr = tile.shape(dtype)[0]
            rows = ((m + mr - 1) // mr + 1) // 2 * mr  # the larger of two blocks of whole strips
            work, mc, kc, nc, group = impl.workspace(ops.a.dtype, tile, m, n, k, 2, trans == "NN", False, rows)
            assert mc == rows and impl.SHORT_A < m  # the whole block packed at once, over SHORT_A rows or not
            c = np.zeros((m, n), ops.a.dtype)
            gemm = impl.GEMMS[(True, tile.kind)]
            for _ in range(2):
                gemm(ops.a, ops.b, c, work, mc, kc, nc, group, 2, True)
            assert verify(case, ops, c).ok, case
    finally:
        kernel.teardown()


@pytest.mark.parametrize("trans", ["NN", "NT"])
def test_the_row_says_when_each_thread_packs_all_of_b_for_its_own_rows(trans):
    """The backend's row names the own row blocks exactly where the host's rule takes them (float64
    300x1024x1024, B of 8 MiB, row-major or stored transposed: on Intel's AVX-512 at two threads), with the
    blocks of such a row block, and the product passes the harness's verifier."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    case = GemmCase(300, 1024, 1024, "float64", trans)
    own = impl.INTEL_AVX512
    prepared, ops = _launched(case, 2)
    assert ("each thread packs all of B for its own 150 rows" in prepared.facts["path"]) is own, prepared.facts
    assert prepared.facts["blocks"].startswith("MC=150 ") is own, prepared.facts
    assert verify(case, ops, prepared.output).ok


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_edge_strip_of_whole_vectors_is_correct_in_place_and_packed(dtype, threads):
    """The last strip of a panel whose columns fill whole vectors writes C directly, reading B in place where
    the full strips do (narrow B) or packed (wider B, several panels, B stored transposed), with += across
    rank-KC updates (K past KC); a part-filled vector still goes through scratch. A planted fault in either
    (a wrong stride, = for +=) fails the check."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    w, nr = impl.VECTOR_BITS // 8 // np.dtype(dtype).itemsize, impl.TILES["wide"][dtype][1]
    tall = impl.TILES["tall"][dtype][1]
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        for m, n, k, order in (
            (256, nr + 2 * w, 1100, "NN"),  # narrow B read in place, several rank-KC updates
            (40, nr + 2 * w, 1100, "NN"),  # A read in place too
            (20, tall + w, 1100, "NN"),  # short A, tall tiles
            (256, 4096 + w, 600, "NN"),  # the second panel is one partial strip, B packed
            (130, nr + w, 700, "NT"),  # B stored transposed: packed
            (7, w, 900, "NN"),
            (256, 2 * w + 1, 1100, "NN"),  # a part-filled vector: through scratch
        ):
            case = GemmCase(m, n, k, dtype, order)
            ops = make_operands(case)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            assert verify(case, ops, prepared.output).ok, (case, prepared.facts["path"])
    finally:
        kernel.teardown()


#: The GEMV fetch window (``gemv_rows_ahead``) under each CPU's constants, (one thread, several threads):
#: Zen 4 fetches B of 28 MiB and more (GEMV_AHEAD_MIN_B: B of 16-26 MiB stays in its 32 MiB L3), one thread
#: only rows wider than 10 KiB; Intel's AVX-512 one thread's B of 48-160 MiB with rows to 48 KiB, two threads'
#: 84-192 MiB, rows to 64 KiB.
ZEN4_AHEAD = {
    "GEMV_AHEAD_ROWS": (8, 4),
    "GEMV_AHEAD_B": ((28 << 20, 1 << 62), (28 << 20, 1 << 62)),
    "GEMV_AHEAD_ROW_BYTES": ((10240, 1 << 62), (0, 1 << 62)),
}
INTEL_AHEAD = {
    "GEMV_AHEAD_ROWS": (4, 4),
    "GEMV_AHEAD_B": ((48 << 20, 160 << 20), (84 << 20, 192 << 20)),
    "GEMV_AHEAD_ROW_BYTES": ((0, 48 << 10), (0, 64 << 10)),
}


def _gemv_loop(row_bytes: int, threads: int, columns: bool = False, b_bytes: int = 0) -> str:
    """The loop the path must name for rows of B ``row_bytes`` wide, read whole (by one thread on AVX2: four
    a pass up to GEMV_L3_FOUR_ROW_BYTES while B of ``b_bytes`` stays in L3, else six; B from memory on a
    full-width AVX-512 core: GEMV_MEMORY_ROWS; on Zen 4, and on Intel's within GEMV_AHEAD_B and
    GEMV_AHEAD_ROW_BYTES, GEMV_AHEAD_ROWS, fetching ahead; one a pass up to GEMV_ONE_ROW_BYTES, for several
    threads GEMV_SPLIT_ONE_ROW_BYTES) or as a share of C's columns (six when they are a whole number of pages
    apart, else eight)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    from_memory = impl.GEMV_MEMORY_ROWS and b_bytes >= impl.B_FROM_MEMORY
    (low, high), (narrow, wide) = impl.GEMV_AHEAD_B[threads > 1], impl.GEMV_AHEAD_ROW_BYTES[threads > 1]
    fetched = low <= b_bytes < high and narrow < row_bytes <= wide
    ahead = impl.GEMV_AHEAD_ROWS[threads > 1] if fetched and not columns else 0
    if ahead:
        return f"{ahead} rows of B a pass (fetched {2 * ahead} rows ahead to L2)"
    if columns:
        rows = 6 if row_bytes % impl.PAGE == 0 else 8
    elif from_memory and (threads == 1 or row_bytes <= impl.GEMV_ONE_ROW_BYTES):
        rows = impl.GEMV_MEMORY_ROWS
    elif row_bytes <= (impl.GEMV_ONE_ROW_BYTES if threads == 1 else impl.GEMV_SPLIT_ONE_ROW_BYTES):
        rows = 1
    elif threads == 1 and row_bytes <= impl.GEMV_L3_FOUR_ROW_BYTES and b_bytes < impl.B_FROM_MEMORY:
        rows = 4
    elif threads == 1 and impl.VECTOR_BITS == 256:
        rows = 6
    else:
        rows = 4 if row_bytes % impl.PAGE == 0 and row_bytes >= impl.GEMV_FOUR_ROW_BYTES else 8
    return f"{rows} row{'s' if rows > 1 else ''} of B a pass"


@pytest.mark.parametrize("threads", [1, 2])
def test_gemv_splits_columns_or_rows_and_says_which(threads):
    """m == 1 with row-major B: one thread streams B straight into C; two split C's columns (cut at whole
    cache lines, so an odd width leaves a ragged last share) or, for narrow C or B of GEMV_COLUMNS_MAX_B
    and more, B's rows with partial rows summed. Whole rows of B go one a pass while C's row fits
    GEMV_ONE_ROW_BYTES, then at one thread on AVX2 four up to GEMV_L3_FOUR_ROW_BYTES with B in L3 and six past
    it, else four when C's row is a whole number of pages
    of at least GEMV_FOUR_ROW_BYTES, else eight; a share of the columns six when B's rows are whole pages
    apart, else eight (odd K leaves a remainder). Every column must be written once, and the row's path
    must name the split and the loop that ran."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    wide = 2 * impl.GEMV_SPLIT_N + 3
    kernel = NumbaGemm()
    kernel.setup(threads)
    try:
        for dtype in ("float32", "float64"):
            row = wide * np.dtype(dtype).itemsize
            # the narrowest C two threads split by columns: GEMV_SPLIT_BYTES a share on Intel's AVX-512
            bound = 2 * (impl.GEMV_SPLIT_BYTES // np.dtype(dtype).itemsize or impl.GEMV_SPLIT_N)
            big_k = -(-impl.GEMV_COLUMNS_MAX_B // row) | 1  # B reaches GEMV_COLUMNS_MAX_B: rows split
            paged = impl.GEMV_FOUR_ROW_BYTES // np.dtype(dtype).itemsize  # rows of whole pages: four a pass
            paged_k = -(-impl.GEMV_COLUMNS_MAX_B // impl.GEMV_FOUR_ROW_BYTES) | 1
            for n, k, split in (
                (wide, 37, "C's columns split"),
                (2 * impl.GEMV_SPLIT_N, 37, "C's columns split"),  # rows whole pages apart: six a pass
                (100, 37, "B's rows split"),
                (bound, 37, "C's columns split"),
                (bound - 1, 37, "B's rows split"),
                (wide, big_k, "B's rows split"),
                (paged, paged_k, "B's rows split"),
            ):
                case = GemmCase(1, n, k, dtype)
                ops = make_operands(case, seed=n)
                prepared = kernel.prepare(case, ops)
                prepared.launch()
                prepared.launch()  # C is overwritten, never accumulated across calls
                size = np.dtype(dtype).itemsize
                loop = _gemv_loop(n * size, threads, threads > 1 and split.startswith("C"), n * k * size)
                want_path = f"gemv, {loop}" if threads == 1 else f"gemv, {split}, {loop}"
                assert prepared.facts["path"] == want_path, case
                want = ops.a.astype(np.float64) @ ops.b.astype(np.float64)
                np.testing.assert_allclose(prepared.output, want, rtol=1e-5, atol=1e-5 * np.sqrt(k), err_msg=str(case))
    finally:
        kernel.teardown()


# (N, K, itemsize, columns split): two threads, Intel's AVX-512 constants.
@pytest.mark.parametrize(
    "n, k, itemsize, columns",
    [
        (3584, 4096, 4, True),  # float32 B of 56 MiB (Llama-3.1-8B's mlp.gate_up at --tp 8): columns
        (3584, 4096, 8, False),  # float64, 112 MiB: rows (fetched ahead, GEMV_AHEAD_B)
        (1792, 12288, 4, False),  # B of exactly GEMV_COLUMNS_MAX_B, 84 MiB (Mistral-Large's attn.qkv): rows
        (1792, 12287, 4, True),  # a row under: columns
        (2560, 8192, 4, True),  # 80 MiB: columns
        (7168, 8192, 4, False),  # 224 MiB (Llama-3.1-70B's mlp.gate_up): rows
        (1280, 8192, 8, True),  # float64 Llama-3.1-70B's attn.qkv at --tp 8: shares of 5 KiB, columns
        (1280, 8192, 4, False),  # ... float32's are 2.5 KiB: rows
        (768, 4096, 8, True),  # float64 shares of exactly GEMV_SPLIT_BYTES: columns
        (767, 4096, 8, False),  # a column less: rows
        (1536, 7168, 4, True),  # float32 shares of exactly GEMV_SPLIT_BYTES
        (1535, 7168, 4, False),
        (512, 7168, 8, False),  # float64 shares of 2 KiB (DeepSeek-V3's mla.kv_down is 576 wide): rows
    ],
)
def test_intel_avx512_gemv_splits_c_columns_of_b_under_84_mib(monkeypatch, n, k, itemsize, columns):
    """On Intel's AVX-512 two threads of a GEMV split C's columns, not B's rows, for B under 84 MiB (the
    harness, paired: float32 1x3584x4096 0.867-0.881 -> 1.019-1.020 of OpenBLAS; docs/numba.md "Two threads'
    GEMVs split C's columns on Intel"; from 84 MiB the rows split fetching ahead won) and shares of C's
    row of GEMV_SPLIT_BYTES (3 KiB) or more, in either dtype (docs/numba.md "Two-thread GEMVs split by
    bytes on Intel"); AMD's cores split rows from B_FROM_MEMORY and under GEMV_SPLIT_N columns a share.
    The rule under Intel's constants, whichever host runs the test; the host's own constants are the ones
    its vendor takes."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.GEMV_COLUMNS_MAX_B == (84 << 20 if impl.INTEL_AVX512 else impl.B_FROM_MEMORY)
    assert impl.GEMV_SPLIT_BYTES == (3072 if impl.INTEL_AVX512 else 0)
    monkeypatch.setattr(impl, "GEMV_COLUMNS_MAX_B", 84 << 20)
    monkeypatch.setattr(impl, "GEMV_SPLIT_N", 1024)
    monkeypatch.setattr(impl, "GEMV_SPLIT_BYTES", 3072)
    # int64 arguments, as the compiled build passes them
    assert bool(impl.gemv_splits_columns.py_func(n, np.int64(k), itemsize, np.int64(2))) is columns


# (N, K, itemsize, columns split): two threads, AMD's constants.
@pytest.mark.parametrize(
    "n, k, itemsize, columns",
    [
        (2048, 1024, 4, True),  # float32 shares of GEMV_SPLIT_N columns, B of 8 MiB: columns
        (2047, 1024, 4, False),  # a column less: rows
        (2048, 512, 8, True),  # float64: the same count of columns
        (1280, 512, 8, False),  # float64 shares of 5 KiB, columns on Intel: rows here
        (2048, 2048, 4, False),  # B of B_FROM_MEMORY: rows
    ],
)
def test_amd_gemv_splits_c_columns_from_shares_of_1024_columns(monkeypatch, n, k, itemsize, columns):
    """AMD's cores keep the bound in columns: GEMV_SPLIT_N a share whatever the dtype (measured there in
    float32, float64 level), and B under B_FROM_MEMORY. The rule under AMD's constants, whichever host runs
    the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    monkeypatch.setattr(impl, "GEMV_COLUMNS_MAX_B", impl.B_FROM_MEMORY)
    monkeypatch.setattr(impl, "GEMV_SPLIT_N", 1024)
    monkeypatch.setattr(impl, "GEMV_SPLIT_BYTES", 0)
    assert bool(impl.gemv_splits_columns.py_func(n, np.int64(k), itemsize, np.int64(2))) is columns


# (N, K, itemsize, threads, full width, rows a pass): AVX-512's constants, B of exactly B_FROM_MEMORY or a row less.
@pytest.mark.parametrize(
    "n, k, itemsize, threads, full_width, rows",
    [
        (1024, 4096, 4, 1, True, 4),  # rows of 4 KiB, B of 16 MiB: four, not one
        (1024, 4095, 4, 1, True, 1),  # a row of B less: in L3, one a pass
        (1024, 4096, 4, 2, True, 4),  # two threads too, C's row within GEMV_ONE_ROW_BYTES
        (1536, 1366, 8, 1, True, 4),  # float64 rows of 12 KiB
        (1536, 1366, 8, 1, False, 8),  # Zen 4: eight past 10 KiB
        (1280, 1639, 8, 1, False, 1),  # ... one up to 10 KiB
        (4096, 1024, 4, 1, True, 4),  # rows of 16 KiB, one thread: four, not eight
        (4096, 1024, 4, 2, True, 8),  # ... two threads keep eight
        (4096, 1024, 4, 1, False, 8),  # ... and so does Zen 4
        (6144, 683, 4, 2, True, 4),  # rows of 24 KiB, whole pages: four by the older rule
        (1024, 4096, 4, 1, False, 1),
    ],
)
def test_full_width_avx512_streams_b_from_memory_four_rows_a_pass(
    monkeypatch, n, k, itemsize, threads, full_width, rows
):
    """A GEMV streaming B from memory (B_FROM_MEMORY or more) read it one row a pass at 0.81-0.95 of eight's
    speed on a Zen 5 core and four at 1.10-1.21x (the opposite of Zen 4, where one row won up to 10 KiB): one
    thread takes GEMV_MEMORY_ROWS at every width, two while C's row fits GEMV_ONE_ROW_BYTES (wider, eight or
    four won there). The rule under AVX-512's constants, whichever host runs the test."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    full = impl.VECTOR_BITS == 512 and not impl.avx512_in_halves()
    assert impl.GEMV_MEMORY_ROWS == (4 if full else 0)  # the host's own values
    assert impl.GEMV_ONE_ROW_BYTES == (2048 if impl.VECTOR_BITS == 256 else 12288 if full else 10240)
    one_row = 12288 if full_width else 10240  # full-width AVX-512, Zen 4
    for name, value in (
        ("GEMV_ONE_ROW_BYTES", one_row),
        ("GEMV_SERIAL_ROWS", 8),
        ("GEMV_L3_FOUR_ROW_BYTES", 0),  # AVX2's rule off, whichever host runs the test
        ("GEMV_FOUR_ROW_BYTES", 24576),
    ):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "GEMV_MEMORY_ROWS", 4 if full_width else 0)
    for name, value in (ZEN4_AHEAD if not full_width else {"GEMV_AHEAD_ROWS": (0, 0)}).items():
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "gemv_rows_ahead", impl.gemv_rows_ahead.py_func)  # reads the constants above
    # int64 arguments, as the compiled GEMV passes them
    assert impl.gemv_rows_a_pass.py_func(np.int64(n), np.int64(k), itemsize, np.int64(threads)) == rows


# (N, K, itemsize, threads, rows a pass): Intel's AVX-512 constants.
@pytest.mark.parametrize(
    "n, k, itemsize, threads, rows",
    [
        (512, 7168, 4, 2, 8),  # float32 B of 14 MiB (DeepSeek-V3's moe.shared.gate_up): eight, not one
        (512, 7168, 4, 1, 1),  # one thread keeps one a pass
        (128, 4096, 8, 2, 8),  # float64 rows of 1 KiB
        (3072, 1365, 4, 2, 8),  # rows of exactly GEMV_ONE_ROW_BYTES, B a row under 16 MiB
        (512, 7168, 8, 2, 4),  # float64 B of 28 MiB, from memory: GEMV_MEMORY_ROWS
    ],
)
def test_intel_avx512_two_thread_gemv_splitting_b_reads_eight_rows_a_pass(monkeypatch, n, k, itemsize, threads, rows):
    """On Intel's AVX-512 threads that split B's rows read rows of B within GEMV_ONE_ROW_BYTES eight a pass (four from
    memory), not one: one a pass read at 0.59-0.98 of eight's speed there with B in L3 (in process, two threads,
    float32 1x128x4096 26.0 against 42.3 GFLOP/s, 1x512x7168 25.7 against 27.9); one thread keeps one row a pass up
    to GEMV_ONE_ROW_BYTES (level there), and so do several threads elsewhere. The rule under Intel's constants,
    whichever host runs the test; on an Intel host its constant too."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.GEMV_SPLIT_ONE_ROW_BYTES == (0 if impl.INTEL_AVX512 else impl.GEMV_ONE_ROW_BYTES)
    for name, value in (
        ("GEMV_SPLIT_ONE_ROW_BYTES", 0),
        ("GEMV_ONE_ROW_BYTES", 12288),
        ("GEMV_MEMORY_ROWS", 4),
        ("GEMV_SERIAL_ROWS", 8),
        ("GEMV_L3_FOUR_ROW_BYTES", 0),  # AVX2's rule off, whichever host runs the test
        *INTEL_AHEAD.items(),
    ):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "gemv_rows_ahead", impl.gemv_rows_ahead.py_func)  # reads the constants above
    args = np.int64(n), np.int64(k), itemsize, np.int64(threads)  # int64, as the compiled GEMV passes them
    assert impl.gemv_rows_a_pass.py_func(*args) == rows
    monkeypatch.setattr(impl, "GEMV_SPLIT_ONE_ROW_BYTES", 12288)  # elsewhere several threads take one too
    assert impl.gemv_rows_a_pass.py_func(*args) == (1 if rows == 8 else rows)


# (N, K, itemsize, threads, rows a pass through gemv_pass or 0): Zen 4's constants, B of at least
# GEMV_AHEAD_MIN_B (28 MiB) or a row less, and B of 16 MiB (B_FROM_MEMORY, where the fetch began before).
@pytest.mark.parametrize(
    "n, k, itemsize, threads, ahead",
    [
        (3072, 2390, 4, 1, 8),  # float32 rows of 12 KiB, B just over 28 MiB: eight, fetching
        (3072, 2389, 4, 1, 0),  # a row of B less: in L3, nothing fetched
        (4096, 512, 8, 1, 0),  # float64 B of 16 MiB (Llama-3.1-8B's attn.o at --tp 8): in L3, nothing fetched
        (4096, 512, 8, 2, 0),  # ... nor at two threads
        (1280, 2868, 8, 1, 0),  # rows of exactly 10 KiB, one thread: one a pass, nothing fetched
        (1296, 2832, 8, 1, 8),  # ... two lines wider
        (7168, 1024, 4, 1, 8),  # rows of 28 KiB, whole pages, B of exactly 28 MiB: eight fetching, not four
        (1280, 2868, 8, 2, 4),  # two threads: four fetching at every width
        (256, 28672, 4, 2, 4),
        (256, 28671, 4, 2, 0),  # ... while B streams from memory
    ],
)
def test_zen4_fetches_b_from_memory_two_passes_ahead(monkeypatch, n, k, itemsize, threads, ahead):
    """A GEMV reading B from memory ran at 23 GB/s where a loop that only sums B read 29.5 on Zen 4; fetching
    each line two passes ahead into L2 won 0-20 % at one thread (rows wider than GEMV_ONE_ROW_BYTES, eight a
    pass) and -8 to +28 %, mostly ahead, at two (four a pass, every width). B of 16-26 MiB stays in Zen 4's
    32 MiB L3 when read hot, where the fetch lost 5-24 % (float64 1x4096x512 at one thread 0.82-0.86 of
    OpenBLAS with it, 1.04-1.05 without): it starts at GEMV_AHEAD_MIN_B, 28 MiB. The rule under Zen 4's
    constants, whichever host runs the test; the host's own constant is Zen 4's only there."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    zen4 = impl.VECTOR_BITS == 512 and impl.avx512_in_halves()
    if zen4:  # the host's own values
        assert {name: getattr(impl, name) for name in ZEN4_AHEAD} == ZEN4_AHEAD
    assert impl.GEMV_AHEAD_ROWS == ((8, 4) if zen4 else (4, 4) if impl.INTEL_AVX512 else (0, 0))
    assert impl.GEMV_AHEAD_MIN_B == 28 << 20  # AMD's window starts there on every host, not at B_FROM_MEMORY
    if not impl.INTEL_AVX512:
        assert impl.GEMV_AHEAD_B == ((impl.GEMV_AHEAD_MIN_B, 1 << 62),) * 2
    for name, value in ZEN4_AHEAD.items():
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "GEMV_ONE_ROW_BYTES", 10240)
    monkeypatch.setattr(impl, "gemv_rows_ahead", impl.gemv_rows_ahead.py_func)
    args = np.int64(n), np.int64(k), itemsize, np.int64(threads)
    assert impl.gemv_rows_ahead(*args) == ahead
    if ahead:  # and the rows a pass the path names
        assert impl.gemv_rows_a_pass.py_func(*args) == ahead
    monkeypatch.setattr(impl, "GEMV_AHEAD_ROWS", (0, 0))  # elsewhere: never
    assert impl.gemv_rows_ahead(*args) == 0


# (N, K, itemsize, threads, columns split, rows a pass fetched ahead or 0): Intel's AVX-512 constants.
@pytest.mark.parametrize(
    "n, k, itemsize, threads, columns, ahead",
    [
        (3584, 4096, 8, 2, False, 4),  # float64 B of 112 MiB (Llama-3.1-8B's mlp.gate_up): rows, fetched
        (8192, 3584, 4, 2, False, 4),  # float32 112 MiB (Llama-3.1-70B's mlp.down at --tp 8)
        (1536, 7168, 8, 2, False, 4),  # float64 B of exactly 84 MiB (DeepSeek-V3's mla.q_down): rows, fetched
        (1536, 7167, 8, 2, True, 0),  # a row less: C's columns, nothing fetched
        (12288, 2048, 4, 2, False, 4),  # 96 MiB: fetched
        (12288, 4095, 4, 2, False, 4),  # a row under 192 MiB: fetched
        (12288, 4096, 4, 2, False, 0),  # 192 MiB: rows, nothing fetched
        (7168, 8192, 8, 2, False, 0),  # float64 448 MiB (Llama-3.1-70B's mlp.gate_up)
        (12288, 1536, 8, 2, False, 0),  # float64 rows of 96 KiB, 144 MiB (Mistral-Large's attn.o): not fetched
        (9216, 2048, 8, 2, False, 0),  # rows of 72 KiB, 144 MiB: not fetched
        (7168, 2048, 8, 2, False, 4),  # rows of 56 KiB, 112 MiB (DeepSeek-V3's mla.o): fetched
        (8192, 2048, 8, 2, False, 4),  # rows of exactly 64 KiB, 128 MiB: fetched
        (8200, 2048, 8, 2, False, 0),  # a line wider: not
        # one thread: B of 48-160 MiB, rows of at most 48 KiB, at every narrower width
        (3584, 4096, 8, 1, False, 4),  # float64 112 MiB (Llama-3.1-8B's mlp.gate_up): fetched
        (1280, 8192, 8, 1, False, 4),  # rows of 10 KiB, 80 MiB (Llama-3.1-70B's attn.qkv): fetched
        (1536, 7168, 8, 1, False, 4),  # 84 MiB, under two threads' window too
        (768, 8192, 8, 1, False, 4),  # B of exactly 48 MiB: fetched
        (768, 8191, 8, 1, False, 0),  # a row less: not
        (5120, 4095, 8, 1, False, 4),  # a row under 160 MiB: fetched
        (5120, 4096, 8, 1, False, 0),  # 160 MiB: not (two threads would)
        (6144, 2048, 8, 1, False, 4),  # rows of exactly 48 KiB, 96 MiB: fetched
        (6152, 2048, 8, 1, False, 0),  # a line wider: not
        (7168, 2304, 8, 1, False, 0),  # rows of 56 KiB, 126 MiB (DeepSeek-V3's mlp.down): not (two threads would)
        (8192, 1024, 8, 1, False, 0),  # rows of 64 KiB, 64 MiB (Llama-3.1-70B's attn.o): not (two threads would)
        (7168, 8192, 4, 1, False, 0),  # float32 224 MiB (Llama-3.1-70B's mlp.gate_up): not
    ],
)
def test_intel_avx512_gemv_fetches_b_ahead_within_each_thread_counts_window(
    monkeypatch, n, k, itemsize, threads, columns, ahead
):
    """On Intel's AVX-512 two threads of a GEMV over B of 84-192 MiB split B's rows and fetch each line two
    passes ahead into L2, four rows a pass (the harness, paired, over the columns split: float64 1x1792x12288
    0.957 -> 1.191, float32 1x8192x3584 1.003 -> 1.124, float64 1x1536x7168 0.948-0.954 -> 0.997-1.032);
    under 84 MiB C's columns split won, from 192 MiB the rows split without the fetch; rows wider than 64 KiB
    are never fetched (float64 1x9216x2048, rows of 72 KiB, 0.966 fetching against 1.030-1.079; 1x8192x2048,
    64 KiB, 1.099-1.162 against 0.984-1.097). One thread fetches B of 48-160 MiB with rows of at most 48 KiB,
    at every narrower width (the harness, paired, over four a pass without: float64 1x1280x8192 0.973, 0.973 ->
    1.120, 1.105; rows of 56 KiB, 1x7168x2304, 1.037, 1.043 -> 0.969, 0.917). The rule under Intel's constants,
    whichever host runs the test; on an Intel host its constants too."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    if impl.INTEL_AVX512:  # the host's own values
        assert {name: getattr(impl, name) for name in INTEL_AHEAD} == INTEL_AHEAD
    for name, value in (*INTEL_AHEAD.items(), ("GEMV_COLUMNS_MAX_B", 84 << 20), ("GEMV_SPLIT_BYTES", 3072)):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "gemv_rows_ahead", impl.gemv_rows_ahead.py_func)
    args = np.int64(n), np.int64(k), itemsize, np.int64(threads)
    if threads > 1:  # one thread reads every row of B itself: no split to choose
        assert bool(impl.gemv_splits_columns.py_func(*args)) is columns
    assert impl.gemv_rows_ahead(*args) == ahead
    if ahead:  # and the rows a pass the path names
        assert impl.gemv_rows_a_pass.py_func(*args) == ahead


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [4, 8])
def test_rows_fetched_ahead_compute_every_column_and_row(dtype, rows):
    """``_axpy_rows_ahead`` (whole vectors in ``gemv_pass``'s IR, then the columns past them, then the rows a
    pass leaves over) writes C's row, never adds to it, on any host: a row of B ``p0``..``p1`` of any length,
    C narrower than a vector, a part-filled last vector, a range that starts mid-B (a thread's share of B's
    rows), and columns ``j0``..``j1`` that start mid-row (a share of C's columns: the IR must read B from
    ``j0``, not from the row's start). A strided B is refused at compile time (the IR reads whole vectors of
    contiguous rows)."""
    import numba

    from gemmbench.kernels import _numba_gemm_impl as impl

    lanes = 64 // np.dtype(dtype).itemsize
    rng = np.random.default_rng(rows)
    for k, n, p0, p1, j0, j1 in (
        (3 * rows + 5, 3 * lanes + 3, 0, 3 * rows + 5, 0, 3 * lanes + 3),  # rows left over, a part-filled vector
        (4 * rows, 2 * lanes, 0, 4 * rows, 0, 2 * lanes),  # whole passes, whole vectors
        (5 * rows, lanes - 1, rows + 1, 4 * rows - 2, 0, lanes - 1),  # no whole vector; rows starting mid-B
        (rows - 1, 2 * lanes + 1, 0, rows - 1, 0, 2 * lanes + 1),  # fewer rows than a pass
        (2 * rows, lanes, 3, 3, 0, lanes),  # no rows at all: C's row is zero
        (3 * rows + 1, 4 * lanes, 0, 3 * rows + 1, 2 * lanes, 4 * lanes),  # the second half of C's columns
        (2 * rows, 3 * lanes + 5, 1, 2 * rows, lanes, 3 * lanes + 2),  # a share mid-row, a part-filled vector
    ):
        a = rng.standard_normal((1, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        want = a[0, p0:p1].astype(np.float64) @ b[p0:p1, j0:j1].astype(np.float64)
        out = np.full(j1 - j0, np.nan, dtype)
        for _ in range(2):  # twice: written, not accumulated
            impl._axpy_rows_ahead(a, b, p0, p1, j0, j1, out, rows)
            np.testing.assert_allclose(
                out, want, rtol=1e-5, atol=1e-5 * np.sqrt(k), err_msg=f"{k}x{n} {p0}:{p1}, {j0}:{j1}"
            )
    with pytest.raises(numba.core.errors.TypingError):
        impl._axpy_rows_ahead(a, np.zeros((k, 2 * n), dtype)[:, ::2], 0, k, 0, n, out, rows)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemv_rows_a_pass_follow_the_width_of_c(dtype):
    """One row of B a pass up to exactly GEMV_ONE_ROW_BYTES of C's row (2 KiB on AVX2, 10 KiB on Zen 4, 12 KiB on
    full-width AVX-512: a row of 3 KiB takes more on AVX2, +8 to +40 % there; one of 12 KiB on Zen 4, where one a
    pass read memory at 0.74-1.12 of eight's speed). Then, on AVX2, four at one thread up to exactly
    GEMV_L3_FOUR_ROW_BYTES (B here stays in L3: +2 to +8 % over six) and six past it (+0.4 to +20 % over eight)
    at every width; on AVX-512 eight, and four from exactly GEMV_FOUR_ROW_BYTES when C's row is a whole
    number of pages, eight one page narrower or one cache line wider. In the kernel and in the path alike, and
    every loop computes the product (K = 11: passes plus a remainder for four, six and eight rows)."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    size = np.dtype(dtype).itemsize
    per_line, per_page = 64 // size, impl.PAGE // size
    edge, paged = impl.GEMV_ONE_ROW_BYTES // size, impl.GEMV_FOUR_ROW_BYTES // size
    avx2 = impl.VECTOR_BITS == 256
    kernel = NumbaGemm()
    kernel.setup(1)
    try:
        for n, rows in (
            (3072 // size, "4 rows" if avx2 else "1 row"),
            (edge, "1 row"),
            (edge + per_line, "4 rows" if avx2 else "8 rows"),
            (8192 // size, "4 rows" if avx2 else "1 row"),
            (8192 // size + per_line, "6 rows" if avx2 else "1 row"),
            (paged - per_page, "6 rows" if avx2 else "8 rows"),
            (paged, "6 rows" if avx2 else "4 rows"),
            (paged + per_line, "6 rows" if avx2 else "8 rows"),
            (4 * paged, "6 rows" if avx2 else "4 rows"),
        ):
            case = GemmCase(1, n, 11, dtype)
            ops = make_operands(case, seed=n)
            prepared = kernel.prepare(case, ops)
            prepared.launch()
            prepared.launch()
            assert prepared.facts["path"] == f"gemv, {rows} of B a pass", case
            want = ops.a.astype(np.float64) @ ops.b.astype(np.float64)
            np.testing.assert_allclose(prepared.output, want, rtol=1e-5, atol=1e-5, err_msg=str(case))
    finally:
        kernel.teardown()


# (N, K, itemsize, threads, rows a pass): AVX2's constants.
@pytest.mark.parametrize(
    "n, k, itemsize, threads, rows",
    [
        (768, 4096, 4, 1, 4),  # float32 rows of 3 KiB, B of 12 MiB (Llama-3.1-8B's attn.qkv at M = 1): four
        (2048, 1024, 4, 1, 4),  # rows of exactly GEMV_L3_FOUR_ROW_BYTES
        (2064, 1024, 4, 1, 6),  # ... a cache line wider: six
        (1024, 4095, 4, 1, 4),  # B a row under B_FROM_MEMORY: four
        (1024, 4096, 4, 1, 6),  # ... B of 16 MiB, from memory: six
        (384, 4096, 8, 1, 4),  # float64 rows of 3 KiB
        (512, 4096, 4, 1, 1),  # rows of exactly GEMV_ONE_ROW_BYTES: one
        (768, 4096, 4, 2, 8),  # two threads, each over its own rows of B: eight
    ],
)
def test_avx2_one_thread_gemv_in_l3_reads_four_rows_a_pass(monkeypatch, n, k, itemsize, threads, rows):
    """On AVX2 one thread reads rows of B of 2-8 KiB four a pass while B stays in L3 (on a Zen 2 EPYC, in process,
    four over six: +2 to +8 % there; rows of 10-16 KiB and B from memory -1 to -4 %, so they keep six). The rule
    under AVX2's constants, whichever host runs the test; without it (GEMV_L3_FOUR_ROW_BYTES 0) such rows take six."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    assert impl.GEMV_L3_FOUR_ROW_BYTES == (8192 if impl.VECTOR_BITS == 256 else 0)  # the host's own value
    for name, value in (
        ("GEMV_ONE_ROW_BYTES", 2048),
        ("GEMV_SPLIT_ONE_ROW_BYTES", 2048),
        ("GEMV_SERIAL_ROWS", 6),
        ("GEMV_L3_FOUR_ROW_BYTES", 8192),
        ("GEMV_MEMORY_ROWS", 0),
        ("GEMV_FOUR_ROW_BYTES", 24576),
        ("GEMV_AHEAD_ROWS", (0, 0)),
    ):
        monkeypatch.setattr(impl, name, value)
    monkeypatch.setattr(impl, "gemv_rows_ahead", impl.gemv_rows_ahead.py_func)  # reads the constants above
    args = np.int64(n), np.int64(k), itemsize, np.int64(threads)  # int64, as the compiled GEMV passes them
    assert impl.gemv_rows_a_pass.py_func(*args) == rows
    monkeypatch.setattr(impl, "GEMV_L3_FOUR_ROW_BYTES", 0)  # the rule off
    assert impl.gemv_rows_a_pass.py_func(*args) == (6 if rows == 4 else rows)


def test_rows_of_b_fetched_ahead_go_to_l2_from_memory_on_avx512():
    """Rows of B fetched ahead go into L2 once B streams from memory (B_FROM_MEMORY and up): packed just in time
    on any AVX-512 core (on Zen 4 L2 gained 13-22 % at 16 rows of float64), read in place on a full-width one
    (the only one that fetches such B ahead). While B stays in L3, B read in place fetches into L1 (L2 lost
    11-16 % there), and B packed just in time into L2 only on a full-width core (Zen 4 lost up to 6 % with L2).
    AVX2 fetches nothing ahead: L1."""
    from gemmbench.kernels import _numba_gemm_impl as impl

    l1, l2, avx512, full = impl.LOCALITY_L1, impl.LOCALITY_L2, impl.VECTOR_BITS == 512, impl.FULL_WIDTH_512
    assert impl.fetch_level(impl.B_FROM_MEMORY, True) == (l2 if avx512 else l1)
    assert impl.fetch_level(impl.B_FROM_MEMORY - 1, True) == (l2 if full else l1)
    assert impl.fetch_level(impl.B_FROM_MEMORY, False) == (l2 if full else l1)
    assert impl.fetch_level(impl.B_FROM_MEMORY - 1, False) == l1


def test_call_cost_example_runs_against_the_kernel_as_it_is(capsys):
    """docs/examples/numba_call_cost.py, which docs/numba.md ("What a small call costs") quotes, runs on the
    current kernel and prints every figure: its empty stand-in for the kernel must take the launch's arguments
    (it broke silently once, when the launch gained one), and its last line is the launch on every thread."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / "numba_call_cost.py"
    spec = importlib.util.spec_from_file_location("numba_call_cost", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(16, "float64", count=3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("16x16x16, tile ")
    figures = [line.rsplit(None, 2) for line in lines[1:]]
    assert len(figures) == 10 and all(unit == "us" and float(us) > 0 for _, us, unit in figures)
    assert figures[-1][0].startswith("parallel region (empty prange of ")
