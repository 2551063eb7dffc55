"""Compiled code of the Numba backends (imported only once a Numba kernel is selected).

A GotoBLAS/BLIS-style GEMM: C = A B with A m x k and B k x n in any storage order.

    for jc in 0..n step NC:                      B panel (L3)
      for pc in 0..k step KC:                    one rank-KC update
        pack B[pc:pc+kc, jc:jc+nc]               into NR-wide strips, zero-padded, all threads
                                                 together (A taller than one block only)
        for each (A block of MC rows) x (share of the strips), in parallel:
          pack A[ic:ic+mc, pc:pc+kc]             into MR-tall strips (per thread, L2)
          for each B strip (L1/L2), for each A strip:
            (one block of A: pack the next group of strips of B now, into a per-thread buffer)
            micro-kernel: MR x NR tile += A strip . B strip, accumulators in registers
                          (and, packing B just in time, fetch the next group's B from memory)

On AVX2 one block of A (short A) swaps the two inner loops' places: one parallel region, in which each
thread runs every rank-KC update over its own share of the strips (nothing is shared between updates).
On Intel's AVX-512 two threads against large packed B give A of up to twice OWN_ROWS_MAX rows one row block
a thread, each packing all of B for itself as short A does, in that one region (``own_rows``).

Packing copies with vector moves (``copy_nr``, ``transpose_mr``/``transpose_nr``): LLVM,
as Numba drives it, leaves such copies scalar, and at 2-3 cycles per element the packing
of B alone cost a quarter of short-wide products.

The micro-kernel is LLVM IR emitted through a Numba intrinsic: MR x (NR/W) vector
accumulators held in registers across the k loop, one broadcast of A and NR/W loads of B
per step, ``llvm.fma`` throughout. Written as Python loops over arrays, LLVM keeps the
accumulators in memory and reaches a fraction of the FMA peak. Everything else (packing,
blocking, edges, threading) is ordinary ``@njit`` code. Compiled code is cached on disk.

M = 1 streams B once, nothing packed (``_gemv_row``). On Zen 4 (B of 28 MiB and more; on Intel's AVX-512 one
thread's B of 48-160 MiB with rows of at most 48 KiB, two threads' of 84-192 MiB with rows of at most 64 KiB:
GEMV_AHEAD_B, GEMV_AHEAD_ROW_BYTES), B from memory goes through a second
IR intrinsic, ``gemv_pass``: four or eight rows of B into C a pass, each line read also fetching the
line two passes further down into L2 (GEMV_AHEAD_ROWS). The same fetch written as ``@njit`` loops,
a slice per cache line, ran at 0.63-0.98 of OpenBLAS, never ahead of the plain loop (0.97-0.99).

Tile shapes fill the vector registers with accumulators (``TILES``): on AVX2 (16 registers)
float32 6 x 16 (4 x 24 for short A, and for A of up to 128 rows against wide B: a k step of 12 FMAs then
loads three vectors of B and four values of A, strips of 4 rows, and B packed in runs half as long again),
float64 4 x 12. On AVX-512 (32 registers) two kinds, chosen by the rows of A: "tall" 12 x 32 / 12 x 16
for short A (each B load feeds 12 FMAs while B streams past a few rows) and "wide" 6 x 64 / 6 x 32 for
the rest (fewer loads per FMA, and A can be read in place). MR and NR are compile-time constants: the
kind travels as a Numba type (``Tile``).

Small problems skip what does not pay: one thread (or one share of C) runs a serial build
with no parallel region to launch; narrow B reads row-major A and B in place, so a 64^3
product packs nothing.
"""

from __future__ import annotations

from types import FunctionType

import numpy as np
from llvmlite import ir
from numba import get_thread_id, literally, njit, prange, types
from numba.core import cgutils
from numba.core.imputils import lower_constant
from numba.extending import NativeValue, intrinsic, models, overload, register_model, typeof_impl, unbox

from gemmbench.backend import aligned_zeros, avx512_in_halves, intel_avx512, vector_bits
from gemmbench.backend.llvm import I32, I64, fma_function, splat, vector_type

I8P = ir.IntType(8).as_pointer()
ZERO = ir.Constant(I64, 0)

VECTOR_BITS = vector_bits()
#: Intel's AVX-512 (a Xeon): its own short-A KC (SHORT_A_KC) and tile reach (TALL_MAX_M), measured there.
INTEL_AVX512 = VECTOR_BITS == 512 and intel_avx512()
#: (MR, NR) per tile kind, dtype and vector width. NR is a multiple of the lanes per vector. Both kinds
#: fill the register file with MR x NR/W accumulators; on AVX-512 they differ. "tall" (12 rows) serves short A
#: (m <= TALL_MAX_M), whose B streams past few rows: each B load feeds 12 FMAs. "wide" (6 rows, twice the
#: columns) serves the rest: 10 loads per 24 FMAs instead of 14, and few enough rows of A to read it in place.
#: Measured on an AVX-512 EPYC, one thread: wide beats tall by 1-17 % from 64^3 up and at m >= 64,
#: tall beats wide by 3-37 % at m <= 32 (B read in place).
#: AVX2 float32 short A: 4 x 24 over 6 x 16 (M = 8 is 6 + 2 rows in 6-row strips), in-process A/B on a
#: Zen 3 EPYC, one thread: 8x4096x512 +13 %, 8x12288x1536 +14 %, 8x768x4096 +16 %, 8x1536x2048 +18 %,
#: 16x8192x1024 +8 %, 32x7168x2048 +6 %, 24x4096x4096 level, 16x512x7168 (N not a multiple of 24) -3 to
#: -5 %; two threads -1 to +11 %.
TILES = {
    256: {"tall": {"float32": (4, 24), "float64": (4, 12)}, "wide": {"float32": (6, 16), "float64": (4, 12)}},
    512: {"tall": {"float32": (12, 32), "float64": (12, 16)}, "wide": {"float32": (6, 64), "float64": (6, 32)}},
    128: {"tall": {"float32": (4, 8), "float64": (4, 4)}, "wide": {"float32": (4, 8), "float64": (4, 4)}},
}[VECTOR_BITS]
#: On Intel's AVX-512 (``intel_avx512``, a Xeon with 2 MiB of L2 a core) the wide tile from 17 rows. Paired,
#: five rounds, float32 and float64, one and two threads, M = 24-32 against Llama-3.1-8B's layers at --tp 8:
#: Numba's own rate +1 to +21 % in 16 of 20 cells, level in one, -3 to -7 % in three where OpenBLAS's own fell
#: 4-6 % in the same run; against OpenBLAS 18 cells up (float64 32x4096x512 at two threads 1.014 -> 1.120,
#: 32x3584x4096 0.909 -> 0.963), float64 one thread 32x4096x1792 1.035 -> 1.020 and 24x3584x4096 0.786 -> 0.784
#: (docs/numba.md, "The wide tile from 17 rows").
TALL_MAX_M = 16 if INTEL_AVX512 else 32
#: On Intel's AVX-512 A of SHORT_WIDE_MIN_M to TALL_MAX_M rows takes the wide tile as well wherever the tall tile
#: would pack row-major B (``in_place`` with the tall MR; ``tile_for``): 13-16 rows are then two 6-row strips and
#: one of 1-4 rather than a 12-row strip and one of 1-4 whose every load of B feeds 1-4 FMAs, and B is packed
#: without the group fetch at UNFETCHED_KC as for 17 rows (WIDE_FETCHES_GROUP). Where the tall tile reads B in
#: place (at one thread strips fetching their rows and the next strip ahead: there 6-row strips lost 11-28 % with
#: rows 7-12 KiB apart, and float32 2-31 % against B of 56-64 MiB) or B is stored transposed the tall tile stays
#: (wide strips there, in-process over tall, 13-16 rows, float32 0.68-0.87 at one thread, float64 0.88-1.00, and
#: 0.90-1.04 at two). Figures: docs/numba.md "The wide tile at 13-16 rows where the tall one packs B" and
#: "Float32's two tall strips with a short second one".
SHORT_WIDE_MIN_M = 13 if INTEL_AVX512 else TALL_MAX_M + 1
#: On AVX2 float32 (4 x 24 over 6 x 16; float64 has one tile) A of up to TALL_WIDE_B[0] rows against B of at
#: least TALL_WIDE_B[1] columns takes the tall tile too: a group of eight strips packed just in time then
#: reads each row of B in a run of 768 bytes rather than 512, and packing alone (KC 512, median of seven) read
#: B at 7.6 GB/s rather than 6.3, a rate at which packing takes a fifth of 128x4096x4096's time at one
#: thread. In-process A/B over 6 x 16 (docs/examples/kernel_ab.py) on a Zen 3 EPYC, M = 48-128, N >= 768,
#: one thread: -1 to +4 % while the host was quiet, +2 to +11 % while its other guests slowed memory
#: (OpenBLAS 10-25 % under its quiet rate); two threads -4 to +5 % quiet, -2 to +13 % slowed. Narrower B
#: keeps 6 x 16, whose strips leave no edge at N = 64-256 (64^3 lost 25 %, 128^3 20 %, 64x256x256 and
#: 100x200x300 5-6 %), as do 160-256 rows, where B is packed once for twice the FMAs (-15 to +8 %).
TALL_WIDE_B = (128, 512) if VECTOR_BITS == 256 else (TALL_MAX_M, 0)
#: Narrow B (n <= this) reads row-major A in place, with tiles of at most DIRECT_A_MAX_MR rows (each row of
#: the tile is one read stream of A; 12 streams lost to packing by 1.2-1.8x, 6 win by 10-17 % at 64^3);
#: short A (DIRECT_B_MIN_M <= m <= DIRECT_B_MAX_M; not B from memory on a full-width core, PACK_STREAMED_B)
#: or narrow B (n <= DIRECT_B_MAX_N) reads row-major B in place.
#: In place, every k step fetches a row segment of B from a new page, a wait that the tile's m rows of FMAs
#: must cover; on AVX-512, packing B (sequential reads) wins below 6 rows in float32 and 12 in float64
#: (float64 8x4096x1792 1.10-1.28x, 12x4096x1792 0.70x). On AVX2 (4 x 12 float64 and, when measured, 6 x 16
#: float32 tiles: 12 FMAs a k step) packing wins at every M up to DIRECT_B_MAX_M; packed over in place,
#: in-process A/B on a Zen 3 EPYC, one thread: float64 8x4096x512 1.88x, 16x4096x512 1.69x, 4x7168x2048
#: 1.92x, 16x2048x2048 1.69x, 12x8192x1024 level; float32 16x8192x1024 1.99x, 16x512x7168 1.52x, 8x4096x512
#: 1.20x; two threads float64 1.10-1.59x, float32 1.06-1.41x. Indexed by itemsize // 8.
DIRECT_A_MAX_N = 128
DIRECT_A_MAX_MR = 6
DIRECT_B_MAX_M = 16
DIRECT_B_MIN_M = (6, 12) if VECTOR_BITS == 512 else (DIRECT_B_MAX_M + 1,) * 2
DIRECT_B_MAX_N = 128
#: Bytes in a page (the unit the rules on B's row stride below reason in).
PAGE = 4096
#: B of at least this many bytes does not stay in the last-level cache (32 MiB here) between calls: it
#: streams from memory, where the rules marked "from memory" below change what pays.
B_FROM_MEMORY = 16 << 20
#: A shorter than DIRECT_B_MIN_M still reads row-major B in place when B's rows are at most this many bytes
#: apart (a page then holds whole rows, so a k step seldom reaches a new one). In place over packed, one
#: thread: float64 8x256x7168 +8-17 %, 8x256x1536 +56 %, 8x576x7168 +8 %, 8x768x7168 level, 8x1024x7168
#: -8 %; float32 2x512x7168 +66 %, 4x256x1536 +91 %, 4x512x7168 +6 %, 4x1152x7168 level, 4x2048x7168 -20 %.
#: On AVX2 only rows of at most 1 KiB (float32 N = 256; float64 that narrow is narrow B): in place over packed,
#: float32 4x256x7168 1.6x, 8x256x7168 0.9-1.1x (one thread), 1.3x (two); 2 KiB rows lose (float64
#: 8x256x7168 -39 %, float32 8x512x7168 -5 to -25 %).
DIRECT_B_NARROW_ROW = PAGE if VECTOR_BITS == 512 else 1024
#: Short A of more than one MR strip re-reads B in place once a strip. With rows of B a multiple of this
#: many bytes apart, and more than that, the re-reads miss (the rows collide in the caches' sets) and
#: packing B wins: float64 16x8192x1024 1.20x, 16x12288x1536 1.06-1.16x (rows 96 KiB apart), float32
#: 16x16384x1024 1.10x. One strip reads B once: in place stays 1.5x faster (float64 12x8192x1024); rows
#: exactly 32 KiB apart keep in place ahead too (float64 16x4096x1792 1.16x, 16x4096x1536 1.07x).
B_COLLIDE_STRIDE = 32768
#: Those re-reads, once a strip, were measured on Zen 4, whose 512-bit FMAs run as two 256-bit halves
#: (``avx512_in_halves``). On a full-width core (a Zen 5 EPYC) a k step takes half the time, and re-reading
#: B in place pays only while each thread's share of a row of B (two threads split its columns) is at most
#: this many bytes; wider shares pack. Packed over in place, in-process A/B (docs/examples/kernel_ab.py),
#: M = 13-16, one thread: float64 rows of 10-32 KiB +14 to +89 % (16x4096x1792 +24 %, 16x3584x4096 +17 %,
#: 16x1536x7168 +21 %, 16x1280x8192 +14 %), float32 14-16 KiB +6 to +19 % (level with B of 8 MiB in L3);
#: rows of 3-6 KiB -2 to -19 % (float32 16x768x4096 -19 %, float64 16x768x4096 -4 %). Two threads, shares of
#: 3-8 KiB: float32 -35 to +4 %, float64 -16 to +5 %; shares of 14-16 KiB: float64 +5 to +30 %. The harness
#: agrees (docs/numba.md "On Zen 5"). Zen 4 keeps what was measured there (float64 16x4096x1792 in place 1.16x).
REREAD_ROW_BYTES = 1 << 62 if avx512_in_halves() else 8192
#: AVX-512 run at full width (a Zen 5 EPYC), not in two halves (Zen 4): the rules measured on such a core only.
FULL_WIDTH_512 = VECTOR_BITS == 512 and not avx512_in_halves()
#: On a full-width AVX-512 core, A of at least DIRECT_B_MIN_M rows (strips that do not fetch B ahead) packs B
#: that streams from memory (B_FROM_MEMORY) instead of reading it in place. In place, each k step's two lines
#: come from a new row of B, and at some row strides nothing in the core fetches them early: on a Zen 5 EPYC,
#: one thread, float64 12x12288x2048 (rows 96 KiB apart) ran at 0.48 of OpenBLAS, 12x14336x2048 0.73,
#: 12x10240x2048 0.88, float32 12x24576x1024 0.57. Packed over in place, in-process A/B
#: (docs/examples/kernel_ab.py), one thread: float64 12 rows, rows 12-128 KiB apart, +33 to +157 % (1.23-1.56x
#: OpenBLAS), 13-16 rows of 6-8 KiB +15 to +45 %; float32 +1 to +174 % (12x24576x1024 0.57 -> 1.57x OpenBLAS);
#: two threads float64 +19 to +133 %. B that stays in L3 keeps in place; Zen 4 keeps what it measured.
PACK_STREAMED_B = FULL_WIDTH_512
#: A with at most this many rows is one row block (its packed block still fits L2): threads split B.
SHORT_A = 256
#: Short A of at least this many rows whose B's strips do not share evenly among the threads splits rows
#: (``_split``). Fewer strips than twice the threads (one or three at two threads, or two of which the last is
#: partial) give each thread a row block: a share of the strips left one thread idle or with half (two thirds)
#: of the other's work. More strips give each thread whole strips and a row block of the one(s) left over,
#: which each thread packs for itself. In-process A/B (docs/examples/kernel_ab.py), two threads. Zen 5, row
#: blocks: float32 192x64x4096 +85 %, 256x64x4096 +87 %, 192x192x4096 +18 %, 256x192x7168 +24 %; float64
#: 200x32x4096 +86 %, 256x96x7168 +35 %, 256x96x4096 +30 % (at nine strips row blocks, one panel packed
#: together, moved -16 to +6 %). Zen 4: row blocks, float32 256x96x7168 2.12x (0.66 -> 1.40 of OpenBLAS),
#: 128x96x4096 2.07x, 64x96x4096 2.38x, 128x64x4096 1.58x, float64 64x40x4096 2.20x, 128x32x4096 1.81x; the
#: strip left over, float32 256x576x7168 +9 %, 192x576x7168 +8 %, 128x576x7168 +5 %, 64x576x7168 +7 %,
#: 256x320x7168 +14 %, 96x320x4096 +14 %, 256x1216x4096 +3 %, float64 256x544x7168 +2 %, 128x544x7168 +1 %,
#: 256x2500x700 -1 %. Under 64 rows it lost as often as it won: float32 48x544x7168 -1 %, 8x96x4096 -13 %,
#: 16 rows level, 24-32 rows +4 to +15 %; float64 48x272x7168 -6 %. And not for products of fewer than
#: ROW_SPLIT_MIN_WORK multiply-adds, where launching the parallel region costs what the second thread saves:
#: float32 64x64x64 -8 % (it runs the serial build instead), 64x64x128 +29 %, 64x64x256 +50 %, 128x64x128 +56 %.
ROW_SPLIT_MIN_M = 64
ROW_SPLIT_MIN_WORK = 64 * 64 * 128
#: A of more than SHORT_A rows whose row block a thread would hold is OWN_ROWS_MAX rows or fewer (A of up to
#: twice that at two threads), against B of at least this many bytes, gives each thread one row block of
#: its own and has it pack all of B just in time as short A does (``own_rows``), instead of cutting A into row
#: blocks that share one panel of B packed by both threads: half of what each core read of that panel sat in
#: the other core's L2. Twice the packing, none of it shared, and no wait between rank-KC updates. On Intel's
#: AVX-512 (a Xeon VM, family 6 model 207, 2 MiB L2), two threads; first as two Python threads each running the
#: serial GEMM on its half (docs/examples/private_row_halves.py, over the kernel's launch), float64:
#: 300x4096x4096 +12 %, 384x3584x4096 +13 %, 448x4096x4096 +9 %, 500x4096x1792 +5 %, 300x2048x2048 +8 %,
#: 300x4096x1024 +8 %, 400x2048x1024 +4 %, 300x1024x512 +5 % (an earlier run -7 %), 257x512x512 +0 %,
#: 301x700x300 -6 %; float32 +0 to +9 %, 301x700x300 -11 %. Hence the bound on B (8 MiB). As built, over the
#: shared panel, in-process (docs/examples/kernel_ab.py), three runs: float64 +2 to +21 % (300x4096x4096 +12,
#: +14, +15 %; 504x4096x1792 +7 and +2 %; 400x2048x1024 +9 to +21 %), float32 +0 to +16 % (float32 of at most
#: 288 rows, one row block of B's strips split, lost 8 % at 257x4096x1024: it keeps that split). B stored
#: transposed (read along K) too, from 2026-12-06: two runs, float64 300x4096x4096 +10 and +11 %, 300x1024x1024
#: +18 %, 400x2048x1024 +13 %, 512x4096x4096 +5 and +3 %, 700x2500x1500 +0 and +2 %, 880x4096x1024 +1 and +2 %,
#: 600x8192x128 -1 %; float32 +3 to +10 % in all 11 cells (A/A 0.956-0.995). docs/numba.md "Row blocks of their
#: own at two threads", "Row blocks of their own up to 512 rows".
OWN_ROWS_MIN_B = 8 << 20 if INTEL_AVX512 else 1 << 62
#: The most rows a thread's own row block holds (``own_rows``), (float32, float64): A of up to 1020 and 900 rows
#: at two threads. Blocks of more than SHORT_A rows take PANEL_BLOCKS' KC and NC, and each thread packs its
#: whole block of A at once (``workspace``: float32 512 x 512, float64 450 x 128). First SHORT_A for both; over
#: the shared panel, in process (docs/examples/kernel_ab.py), two threads, Intel's AVX-512 (family 6 model 207),
#: blocks of 258-510 rows a thread: float32 +2 to +9 % in all 10 cells; float64 of up to 450 rows +1 to +11 %
#: in 20 of 23 cells (0.977, 0.985, 0.998 the others; 700x2500x1500 +2 and +4 %, 600x4096x4096 +6 and +7 %,
#: 880x4096x1024 +4 and +5 %, 900x2048x1024 +1 and +2 %), of 480-510 rows 0.885-1.052 in 21 cells, level
#: (1000x2048x512 0.959 and 0.983, 1000x1024x2048 0.951 and 0.992, 1000x1000x3000 1.041 and 1.027); unchanged
#: cells (A/A) 0.987-1.026. docs/numba.md "Row blocks of their own up to 512 rows".
OWN_ROWS_MAX = (512, 450)
#: A GEMV (m == 1, row-major B) on several threads splits C's columns when each thread gets at least this
#: many (each streams its own part of every row of B, nothing to sum); narrower C, and B of
#: GEMV_COLUMNS_MAX_B or more (see ``gemv_splits_columns``), split B's rows (K).
#: Two threads, float32: 4096x512 +5 %, 7168x256 +7 % for columns; 768x4096 -21 %. On Intel's AVX-512 the
#: bound is GEMV_SPLIT_BYTES instead.
GEMV_SPLIT_N = 1024
#: On Intel's AVX-512 (0 elsewhere: GEMV_SPLIT_N holds) a GEMV on several threads splits C's columns when each
#: thread's share of C's row is at least this many bytes: float32 768 columns, float64 384. The harness,
#: paired, two threads, five rounds, Numba / OpenBLAS with C's columns split against B's rows split: shares of
#: 3-6 KiB float64 1x1280x8192 1.016 against 0.869 (B read at 15.0-15.6 GFLOP/s against 12.8-14.0),
#: 1x1536x7168 0.975 against 0.876, 1x1024x8192 0.961 against 0.887, 1x768x4096 1.028 against 1.023,
#: float32 1x1536x7168 0.982 against 0.953; shares of 2-2.5 KiB lost (float32 1x1024x8192 0.874 against
#: 0.986, 1x1280x8192 0.976 against 1.037, float64 1x512x7168 1.046 against 1.192). docs/numba.md
#: "Two-thread GEMVs split by bytes on Intel".
GEMV_SPLIT_BYTES = 3072 if INTEL_AVX512 else 0
#: B of this many bytes or more has several threads of a GEMV split its rows, not C's columns: B_FROM_MEMORY
#: (measured on AMD's cores, ``gemv_splits_columns``), but 192 MiB on Intel's AVX-512 (a Xeon VM: 2 MiB L2 a
#: core, a 480 MiB L3 shared with the host's other guests), where the harness, paired, two threads, three
#: rounds, columns over rows split, read as 1xNxK Numba / OpenBLAS: float32 B of 28-168 MiB 1.001-1.039
#: where rows read 0.867-0.982 (1x3584x4096 1.020 and 1.019 against 0.881 and 0.867), float64 16-160 MiB
#: 0.946-1.024 against 0.907-1.007; from 224 MiB rows split won (float32 1x7168x8192 1.065 against 0.978,
#: 1x14336x4096 1.132 against 1.040, float64 1x8192x3584 1.076 against 1.007, 1x7168x8192 1.030 against
#: 0.978; 256-336 MiB level). docs/numba.md "Two threads' GEMVs split C's columns on Intel". From 84 MiB
#: up to GEMV_AHEAD_B's 192 there, the rows split fetching ahead beat both (GEMV_AHEAD_B's figures), so the
#: columns split holds under 84 MiB. (96 MiB until the harness, paired, five rounds, two runs each, columns
#: -> rows fetched: float64 1x1536x7168 (84 MiB) 0.954, 0.948 -> 1.032, 0.997, 1x2816x4096 (88 MiB) 0.975,
#: 0.983 -> 0.974, 1.000, float32 1x1792x12288 (84 MiB) 0.972, 0.996 -> 1.004, 1.062, 1x5632x4096 0.987,
#: 0.986 -> 1.014, 1.051; float64 1x1280x8192, 80 MiB, columns in all four runs, 0.991-1.014. docs/numba.md
#: "The window's other cells and its lower end".)
GEMV_COLUMNS_MAX_B = 84 << 20 if INTEL_AVX512 else B_FROM_MEMORY
#: A GEMV that reads whole rows of B into a row of C of at most this many bytes keeps that row in L1 beside
#: the row of B streaming past, and takes B one row per pass: B is then one sequential stream. A wider row
#: of C lives in L2, where eight rows of B a pass cut its traffic to a load and a store per eight FMAs.
#: One row a pass over eight, one thread: +8 to +23 % for rows of 1-12 KiB with B in L3, +9 to +150 % with
#: B in memory (1 KiB rows: 2.4-2.5x), level at 14 KiB, -16 % at 16 KiB. Only for whole rows: a thread's
#: share of the columns read one row a pass is a short segment per row of B (-34 to -52 %). Those figures are
#: AVX-512's (a Zen 4 EPYC). On AVX2 (a Zen 3 EPYC) one row a pass read B from L3 at 0.76-0.89 of OpenBLAS
#: (float32 1x768x4096 0.762, float64 1x1280x8192 0.830), and eight a pass won from rows of 2.5 KiB up:
#: in-process A/B (docs/examples/kernel_ab.py), one thread, float32 1x768x4096 +8 to +19 %, 1x1280x8192 +25
#: to +27 %, 1x1024x8192 +32 to +34 %, 1x2048x2048 +90 %, float64 1x320x4096 +19 %, 1x384x4096 +40 %,
#: 1x768x4096 +49 to +50 %, 1x1280x8192 +32 to +36 %; two threads (B's rows split) +0 to +144 %. Rows of 1-2
#: KiB -9 to +8 % (level in L3), and from memory one row a pass still wins there (float32 1x256x32768 -37 %
#: with eight, 1x512x16384 -22 %, float64 1x256x16384 -27 %); 3 KiB rows from memory lose a little with
#: eight (-1 to -12 %).
#: On AVX-512 run in halves (Zen 4) rows of 10-12 KiB go eight a pass since 2026-12-03, when one a pass read B
#: from memory unevenly there (the loops alone, float64 rows of 12 KiB, six runs: 0.74-1.12 of eight's speed,
#: eight steady). The harness, before and after back to back, paired: two threads float64 1x1536x7168 0.86 ->
#: 1.18 of OpenBLAS, float32 1x3072x7168 0.87 -> 1.05; one thread level (1.08/1.07, 0.96/0.95). Eight over
#: one, in-process A/B (docs/examples/kernel_ab.py), three runs: one thread float64 1x1536x7168 -2 to +13 %,
#: 1x1408x8192 +9 to +21 %, float32 1x3072x7168 -4 to +14 %, 1x2816x4096 -10 to +15 %; two threads (B's rows
#: split) float64 +2 to +20 %, float32 +6 to +44 %; B in L3 (K 512-1536) -8 to +6 % at one thread, +14 % to
#: 2.1x at two; rows of 10 KiB (1x1280x8192, unchanged) -3 to +4 %. A full-width core keeps 12 KiB (there
#: GEMV_MEMORY_ROWS reads B from memory, and two threads lost with eight past 12 KiB).
GEMV_ONE_ROW_BYTES = 2048 if VECTOR_BITS == 256 else 12288 if FULL_WIDTH_512 else 10240
#: Several threads, each over its own rows of B (``gemv_splits_columns`` false), take one row a pass while C's row is at
#: most this many bytes: GEMV_ONE_ROW_BYTES, but 0 on Intel's AVX-512 (there rows within GEMV_ONE_ROW_BYTES go eight a
#: pass, GEMV_MEMORY_ROWS' four from memory; wider rows as before). On that Xeon (2 MiB L2 a core), two threads, B of
#: 2-16 MiB in L3, in process (``gemv_rows_a_pass.py split``), one row a pass read at 0.59-0.98 of eight: float32 rows
#: of 0.5 KiB (1x128x4096) 26.0 against 42.3 GFLOP/s, 2 KiB (1x512x7168) 25.7 against 27.9, 4 KiB (1x1024x2048) 20.3
#: against 27.7, float64 1 KiB (1x128x4096) 12.8 against 21.6, 5 KiB (1x640x2048) 13.3 against 13.5. The harness,
#: paired, five rounds, two runs each, one -> eight, Numba / OpenBLAS: float32 1x128x4096 0.618, 0.655 -> 1.056, 1.080,
#: 1x512x7168 0.944, 0.930 -> 1.163, 1.158, 1x256x7168 0.856, 0.995 -> 1.142, 1.206, float64 1x256x7168 0.906, 0.974 ->
#: 1.119, 1.150, 1x128x4096 0.935, 1.038 -> 1.665, 1.646 (docs/numba.md "Two threads splitting B's rows read eight a
#: pass on Intel"). One thread there read every loop level (0.97-1.01 of eight), so it keeps one row a pass.
GEMV_SPLIT_ONE_ROW_BYTES = 0 if INTEL_AVX512 else GEMV_ONE_ROW_BYTES
#: Whole rows of B read into a row of C at least this wide that is a whole number of pages (PAGE) go four a
#: pass instead of eight: B's rows then sit a multiple of 4 KiB apart, so the same column of every row falls
#: in the same set of the 8-way L1, and eight rows plus C's line overflow it. Four over eight, in-process A/B
#: (41 alternations), one thread: float32 rows of 24-96 KiB +1 to +14 % (B of 56 MiB from memory; +2-3 %
#: with B in L3), 16-20 KiB -4 to +4 %, float64 24-128 KiB -2 to +15 %, rows not a whole number of pages
#: -2 to -11 %; two threads splitting B's rows -1 to +19 %.
GEMV_FOUR_ROW_BYTES = 24576
#: One thread reading whole rows of B wider than GEMV_ONE_ROW_BYTES takes this many a pass on AVX2 (but four by
#: GEMV_L3_FOUR_ROW_BYTES; on AVX-512 eight, or four by GEMV_FOUR_ROW_BYTES). Why is open: AVX2 has half AVX-512's
#: vector registers, but the same loops split between two threads prefer eight (below). The loops alone, six over
#: eight, 41 alternations, two runs, one thread (a Zen 3 EPYC): float32 rows of 3-64 KiB -4 to +21 % (1x2048x2048 +11
#: and +11 %, 1x2936x2048 -4 then +9 %, 1x16384x2048 -1 %), float64 -1 to +16 %; over four for paged rows of 24 KiB
#: and more -1 to +7 %. The backend, in-process A/B (docs/examples/kernel_ab.py, 31 rounds, two runs): float32 -1 to
#: +13 % (1x2048x2048 +13 and +12 %: 0.86 -> 1.04-1.10 of OpenBLAS), float64 -1 to +20 %. Two threads, each over its
#: own rows of B, keep eight (or four): six read -18 to +15 % there, mostly losses (float32 1x2936x2048 -11 and
#: -18 %, 1x768x4096 -5 and -6 %, float64 1x768x4096 -2 and -9 %).
GEMV_SERIAL_ROWS = 6 if VECTOR_BITS == 256 else 8
#: On AVX2 (0 elsewhere: no such rule) one thread reading whole rows of B wider than GEMV_ONE_ROW_BYTES and at most
#: this many bytes takes four a pass, not GEMV_SERIAL_ROWS' six, while B stays in L3 (under B_FROM_MEMORY). Measured
#: on a Zen 2 EPYC (512 KiB L2, 16 MiB L3), in-process A/B (docs/examples/kernel_ab.py), one thread, two runs, four
#: over six: float32 rows of 2.5-8 KiB with B of 6-12 MiB +2 to +8 % (1x640x4096 +8 and +8 %, 1x768x4096 +3 and +3 %,
#: 1x768x2048 +7 and +7 %, 1x1280x2048 +7 and +5 %, 1x2048x1024 +3 and +4 %), float64 +3 to +8 %; rows of 10-16 KiB
#: -1 to -4 %, and B from memory -1 to -4 % (1x1024x4096, 16 MiB, -2 %; 1x768x8192 -3 %). Not measured on Zen 3,
#: where GEMV_SERIAL_ROWS was set. docs/numba.md "On Zen 2".
GEMV_L3_FOUR_ROW_BYTES = 8192 if VECTOR_BITS == 256 else 0
#: On a full-width AVX-512 core (0: no such rule), whole rows of B of at least B_FROM_MEMORY bytes in all
#: (streamed from memory) go this many a pass: one thread at any width, several while C's row fits
#: GEMV_ONE_ROW_BYTES. Measured on a Zen 5 EPYC, where one row a pass read B from memory at 0.81-0.95 of eight's
#: speed (the Zen 4 figures above say the opposite) and four at 1.10-1.21x: the loops alone
#: (docs/examples/gemv_rows_a_pass.py, one thread, B of 24-64 MiB) four over one, rows of 4-12 KiB, float64
#: +18 to +28 %, float32 +24 to +29 %; with B in L3 one row stays level or ahead (float32 rows of 1-3 KiB,
#: B of 8-14 MiB: -6 to +4 %). The backend, in-process A/B, one thread: float64 1x512x7168 +29 %, 1x1536x7168
#: +17 %, 1x1280x8192 +15 %, 1x768x4096 +34 % (0.99-1.11 of OpenBLAS, was 0.83-0.88), float32 1x1536x7168
#: +34 %, 1x2048x4096 +30 %; rows past 12 KiB, eight before, +5 to +14 %. Two threads, rows of 4-12 KiB +6 to
#: +48 %, but past 12 KiB (eight before) -11 to +1 %: those keep the rules below.
GEMV_MEMORY_ROWS = 4 if FULL_WIDTH_512 else 0
#: The same collision for a thread's share of C's columns: when B's rows are a whole number of pages apart
#: the share takes six rows a pass (six lines and C's in one set fit its ways). Six over eight, two threads,
#: B of 3-14 MiB in L3, in-process: float32 +3 to +10 % (4096x512 +7-8 %, 7168x256 +4-6 %), float64 -3 to
#: +7 % (level); four -3 to +10 %; rows not a whole number of pages -7 to +6 % (so they keep eight).
GEMV_SHARE_PAGED_ROWS = 6
#: On AVX-512 run in halves (Zen 4), whole rows of B streamed from memory (B of B_FROM_MEMORY or more) go through
#: ``gemv_pass`` (one thread, several threads) rows a pass: one thread only where C's row is wider than
#: GEMV_ONE_ROW_BYTES (narrower keeps one row a pass), several, each over its own rows of B, at every width. Each
#: line of B it reads also fetches the line at the same place two passes further down B into L2 (prefetcht1). Without
#: it one thread read B at 23 GB/s where a loop that only sums B read 29.5 (float32 1x3072x7168, in one process,
#: OpenBLAS's GEMV at 24). The loops alone (docs/examples/gemv_rows_a_pass.py, 41 alternations, two runs,
#: 2026-12-03), one thread, eight fetching over the loop the rules took before (eight; four for rows of whole pages
#: from 24 KiB): float32 1x3072x7168 +15 and +17 %, 1x2816x4096 +6 and +6 %, 1x8192x4096 +4 and +15 %, 1x7168x2048 0
#: and +11 %; float64 1x1536x7168 +20 and +20 %, 1x3072x7168 +18 and +18 %, 1x4096x4096 +15 and +15 %, 1x1408x8192
#: +11 and +8 %, 1x7168x2048 +11 and +4 %, 1x2816x4096 +1 and -1 %. (A first probe, float32 1x3072x7168, two runs:
#: fetching 8-32 rows ahead to L2 or L3 all came within 6 % of one another; to L1, or with the non-temporal hint, a
#: quarter slower.) Rows of 10 KiB and less keep one row a pass: eight fetching over it swung both ways there
#: (float32 1x1536x7168 -10, +7 and -2 %, 1x1408x8192 -15 and +3 %, 1x1280x8192 -7 to +1 %; float64 1x1280x8192 +7
#: and +11 %, 1x768x4096 -5 and +14 %). Two threads, four fetching over the rules' loops (one row a pass up to 10
#: KiB, else eight, four for whole pages from 24 KiB): float32 1x3072x7168 +5 and +8 %, 1x1536x7168 +6 and +8 %,
#: 1x2816x4096 +1 and +5 %, 1x7168x2048 +24 and +17 %, 1x1280x8192 -2 and +1 %, 1x256x16384 -2 and -8 %; float64
#: 1x3072x7168 +16 and +9 %, 1x1536x7168 +3 and +5 %, 1x1280x8192 +13 and +28 %, 1x7168x2048 +3 and +6 %, 1x256x16384
#: +3 and +12 %, 1x2816x4096 0 and -8 %. Eight fetching was level with four there but lost up to 22 % on rows of
#: 28-56 KiB (1x7168x2048). On Intel's AVX-512 one and two threads take four fetching, for B within GEMV_AHEAD_B
#: and rows within GEMV_AHEAD_ROW_BYTES only.
GEMV_AHEAD_ROWS = (8, 4) if VECTOR_BITS == 512 and not FULL_WIDTH_512 else (4, 4) if INTEL_AVX512 else (0, 0)
#: For one thread and for several (first and second pair), B of at least the first and under the second of
#: these many bytes is fetched ahead (GEMV_AHEAD_ROWS): on Zen 4 B of GEMV_AHEAD_MIN_B and more. On Intel's AVX-512
#: two threads' B of 84-192 MiB only (GEMV_COLUMNS_MAX_B up: under it C's columns split won). There, in process
#: (``gemv_rows_a_pass.py split|share``, two threads), four rows a pass fetching against the rule's columns
#: split read float64 1x3584x4096 (112 MiB) 14.2 against 12.9 GFLOP/s, 1x4096x4096 14.2 against 12.5,
#: 1x5120x4096 12.8 against 11.7, 1x1792x12288 12.8 against 10.9, float32 1x8192x3584 28.4 against 24.9; under
#: 96 MiB they lost (float64 1x4096x1792 12.8 against 14.9, 1x1280x8192 14.3 against 16.9), and from 192 MiB
#: fetching lost to the rows split without it (float64 1x8192x3584 8.5 against 10.3, 1x7168x8192 7.2 against
#: 9.0, float32 1x14336x4096 17.4 against 20.7). The harness, paired, five rounds, over the columns split:
#: float64 1x3584x4096 0.962 -> 1.066, 1x4096x4096 0.992 -> 1.088, 1x5120x4096 0.974 -> 1.109, 1x1792x12288
#: 0.957 -> 1.191, float32 1x8192x3584 1.003 -> 1.124, 1x12288x3584 1.027 -> 1.219; docs/numba.md "Two-thread
#: GEMVs of 96-192 MiB fetch ahead on Intel". One thread's B of 48-160 MiB there: four a pass fetching over
#: four without (GEMV_MEMORY_ROWS), the loops alone (``gemv_rows_a_pass.py whole``, 41 alternations, three
#: runs, two on 2 MiB pages, one on 4 KiB), float64 B of 56-144 MiB -2 to +18 % (1x1280x8192 +8, +16, +17 %,
#: 1x3584x4096 +14, +9, +15 %), 48 MiB +1 %, 160-192 MiB -6 to +4 % (1x5120x4096 +3, -2, +2 %, 1x6144x4096
#: -6 %), 448-512 MiB -6 to -33 %; float32 B of 56-144 MiB +2 to +26 % (1x3072x7168 +19, +17 %, 1x2304x16384
#: +8, +8 %), 168-250 MiB -19 to -1 %. The harness, paired, five rounds, Numba / OpenBLAS, without -> with (two
#: runs each way, then the committed rule): float64 1x1280x8192 0.973, 0.973 -> 1.120, 1.105, 1.090;
#: 1x1024x8192 0.981, 0.904 -> 1.103, 1.159, 1.139; 1x4096x1792 0.984, 0.961 -> 1.042, 1.071, 1.057;
#: 1x3584x4096 1.045, 1.018 -> 1.027, 1.012, 1.015 (level); float32 (one run without) 1x1792x12288 0.936 ->
#: 1.280, 1.184; docs/numba.md "One thread's GEMVs of 48-160 MiB fetch ahead on Intel".
#: On Zen 4 (32 MiB L3) one and two threads fetch B of GEMV_AHEAD_MIN_B and more, not B_FROM_MEMORY's 16 MiB:
#: B of 16-26 MiB read hot, as the harness reads it, stays in L3 and the fetch only costs there. In process
#: (``kernel_ab.py``, 2026-12-07), without the fetch over with it: one thread, two runs, float64 1x4096x512 (16
#: MiB) +28 and +26 % (0.82-0.86 of OpenBLAS -> 1.04-1.05; the harness had read 0.867 `inconclusive`),
#: 1x2048x1024 +21 %, 1x4096x640 +22 %, 24-26 MiB +5 to +16 % (1x4096x768 +9 and +16 %), float32 1x8192x512
#: +32 and +27 %, 1x4096x1024 +22 %, 1x4096x1536 +3 %; at 28 MiB rows of whole pages gained (float64 1x4096x896,
#: 1x3584x1024 +10 %) and rows of 14 KiB lost (float64 1x1792x2048 -5 and -6 %, float32 1x3584x2048 -4 %), so
#: 28 MiB keeps the fetch. Two threads, float64 16-26 MiB +6 to +13 %, float32 1x8192x512 +14 %, 1x4096x1536 +7 %.
GEMV_AHEAD_MIN_B = 28 << 20
GEMV_AHEAD_B = (
    ((48 << 20, 160 << 20), (GEMV_COLUMNS_MAX_B, 192 << 20))
    if INTEL_AVX512
    else ((GEMV_AHEAD_MIN_B, 1 << 62), (GEMV_AHEAD_MIN_B, 1 << 62))
)
#: For one thread and for several, rows of B (C's row) wider than the first and at most the second of these
#: many bytes are fetched ahead, B within GEMV_AHEAD_B. Zen 4's one thread fetches rows wider than
#: GEMV_ONE_ROW_BYTES only (narrower keep one row a pass; GEMV_AHEAD_ROWS' figures), without an upper bound.
#: On Intel's AVX-512, two threads, B of 112-144 MiB, the harness, paired, five rounds, Numba / OpenBLAS, B's
#: rows split fetching against not (four runs fetching rows of 56-64 KiB, three not; one fetching rows of 72
#: KiB, four not): rows of 56-64 KiB gained, float64 1x7168x2048 1.057-1.156 against 0.962-1.011, 1x7168x2304
#: 1.088-1.210 against 1.005-1.050, 1x8192x2048 1.099-1.162 against 0.984-1.097, float32 1x16384x2048
#: 1.047-1.213 against 1.051-1.102; rows of 72 KiB and more lost, float64 1x9216x2048 0.966 against
#: 1.030-1.079, 1x12288x1536 0.876-0.881 against 1.028-1.072, float32 1x18432x2048 0.924 against 1.061-1.167.
#: In process (``gemv_rows_a_pass.py split``), four a pass fetching over four without: float64 rows of 56 KiB
#: +7 to +12 %, 64 KiB -1 to +2 %, 72 KiB -17 %, 80 KiB -22 to -24 %, 96 KiB -29 to -30 %; float32 56 KiB +9 %,
#: 64 KiB +4 %, 72 KiB -17 %. docs/numba.md "The fetch window's row bound". One thread there fetches rows of
#: every width to 48 KiB: the loops alone (``gemv_rows_a_pass.py whole``, as for GEMV_AHEAD_B) read rows of
#: 9-12 KiB +8 to +18 %, 48 KiB +10 % (float64 1x6144x2048), 56 KiB +6 to +9 %, 64 KiB -15 to +2 %, 72-96 KiB
#: -20 to -32 %; but the harness, paired, five rounds, read float64 rows of 56 KiB (1x7168x2304, 126 MiB) 1.037,
#: 1.043 without -> 0.969, 0.917 fetching (1x7168x2048 1.046, 1.038 -> 1.120, 1.036), and ``kernel_ab.py`` the
#: fetch -17 to -5 % at 1x7168x2304, so 56 KiB is out; float32 rows of 48 KiB (1x12288x1536, 72 MiB) 1.021 ->
#: 1.125, 1.162.
GEMV_AHEAD_ROW_BYTES = ((0, 48 << 10), (0, 64 << 10)) if INTEL_AVX512 else ((GEMV_ONE_ROW_BYTES, 1 << 62), (0, 1 << 62))
#: Strips packed together when B is packed just in time (into a per-thread buffer that stays in L2), at the
#: KC of BLOCKS; a smaller KC packs proportionally more strips in the same bytes (``jit_strips``).
INLINE_PACK = 8
#: B packed just in time is fetched a group ahead: while a group of INLINE_PACK strips is multiplied, each
#: micro-kernel call on a strip of A of at least 2/3 MR rows touches one 64-byte line of every one of the
#: next group's kc rows of B, one a k step, so that B's fetch from memory overlaps the FMAs instead of
#: stalling the next packing (which read B at 12-15 GB/s where one sequential stream reads 32 GB/s).
#: One fetch per k step of 24 FMAs: measured on AVX-512 only (AVX2 tiles take a step in a quarter of the
#: cycles), so only there. Over packing without it, in-process A/B (docs/examples/kernel_ab.py) on 60
#: prefill shapes, M = 8-256: one thread, float64 median +3.0 % (-1.6 to +17.9 %; 64x7392x8192 +10-12 %),
#: float32 +2.8 % (-0.3 to +17.8 %); two threads float64 +3.0 % (-0.3 to +14 %), float32 +3.3 % (-1.4 to
#: +25 %); B in L3 level (+-3 %, the A/A spread). Calls on shorter strips (the 4 rows of A 16 tall) lost 8 %.
#: One full strip of A (M = 12-16) makes 8 calls a group for its 16 lines a row: they take two lines a step
#: (``_fetch_share``) over one, in-process A/B, B packed, M = 16: float64 one thread +2 to +7 % (6 shapes,
#: median +5 %), two threads -3 to +7 % (median +1.4 %); float32 one thread +5 to +8 %, two +9 to +10 %.
#: On AVX2 (a Zen 3 EPYC, 4 x 12 float64 tiles, KC 96) it loses, float64 M = 8, one thread, B from memory,
#: in-process A/B over packing without it: 8x7168x8192 -17 %, 8x12288x1536 -42 %, 8x1280x8192 level (the
#: same with the lines fetched to L2 only). A step's lines there are one column of KC rows of B, 56-96 KiB
#: apart: a few sets of the L2, likely evicting one another. Fetching along rows instead (each call two rows
#: of the next group, half a line a step) was level: +1 to +7 % from memory, -9 to +1 % with B in L3. The
#: fetch does not decide M = 8 there: alone, one thread reads B at 14 GB/s in a GEMV (28 GFLOP/s at eight
#: rows), and the kernel computes 8x256x256 (B in L2) at 22 GFLOP/s but 8x7168x8192 at 13, as OpenBLAS does
#: (two hours later, a faster hour on the shared host: 24 GB/s, 25 and 19 GFLOP/s; docs/numba.md "What holds").
FETCH_AHEAD = VECTOR_BITS == 512
#: B packed just in time is fetched a group ahead (FETCH_AHEAD) only while it is smaller than this many bytes;
#: short A packing larger B takes UNFETCHED_KC. On Intel's AVX-512 (a Xeon VM: 2 MiB L2 a core, a 480 MiB
#: L3 shared with the host's other guests) the fetch lost once B passed about 100 MiB. Without it over with
#: it, in-process A/B (docs/examples/kernel_ab.py), one thread, float64: B of 112-512 MiB +3 to +20 %
#: (24x3584x4096 +20 %, 16x8192x3584 +19 %, 64x8192x8192 +12 %, 128x4096x4096 +6 %), 104 MiB +2 to +8 %,
#: 88 MiB -3 to +4 %, 72 MiB -6 to +1 %, 16-64 MiB -7 to +2 % (16x4096x512 -5 and -7 %); float32 112-256 MiB
#: +8 to +14 %, 56-64 MiB -3 to +4 %, 8-32 MiB -3 to -7 %. Two threads, B of 112-512 MiB: float64 -1 to +11 %,
#: float32 +6 to +20 %. Why is not settled (docs/numba.md "Large B packed without the fetch ahead").
JIT_FETCH_MAX_B = 96 << 20 if INTEL_AVX512 else 1 << 62
#: Whether wide tiles packing B just in time fetch the next group ahead. On Intel's AVX-512 only the tall tile's
#: strips do (A of up to TALL_MAX_M rows); wide tiles (17 rows and more, and 13-16 rows where B is packed:
#: SHORT_WIDE_MIN_M) pack B unfetched at UNFETCHED_KC (``blocks``), at every size of B. Measured with
#: B on transparent huge pages, as NumPy asks for them (madvise) and this VM grants them: B's rows a multiple of
#: 16 KiB apart then fall in few sets of the L2 (set index = physical address bits 6-16), the fetched group and
#: the packed one evict each other (inferred: no hardware counters in this VM), and the fetch lost up to a
#: quarter (one thread, float64 32x4096x1792 0.76-0.83 of OpenBLAS with huge pages, 0.98-1.03 without).
#: Unfetched at KC 128 over fetched at KC 192, in-process A/B (docs/examples/kernel_ab.py), float64, B of
#: 36-84 MiB on huge pages: one thread +7 to +34 % (32x8192x1024 +34 %, 32x2048x4096 +30 %, 32x1536x7168 +14 %,
#: 32x4096x1792 +13 %, 256x4096x1792 +10 %, 32x1280x8192 +10 %, 256x3072x1536 +7 %), two threads +3 to +10 %;
#: on 4 KiB pages one thread +4 to +10 %; B of 24-32 MiB +1 to +3 %, 8-16 MiB -5 to +5 % (32x7168x256 -2 to
#: -5 %); float32 64-256 rows +1 to +18 %, 32 rows -5 to +3 % (1.2-2.1x OpenBLAS). Sixteen rows in tall strips
#: kept the fetch: without it 16x576x7168 and 16x512x7168 lost 3-8 % (docs/numba.md "Wide tiles pack B unfetched
#: on Intel"); in wide strips, unfetched, they gain where B is packed (SHORT_WIDE_MIN_M: 16x512x7168 +7 % at one
#: thread).
WIDE_FETCHES_GROUP = not INTEL_AVX512
#: KC of short A packing B of JIT_FETCH_MAX_B bytes or more (nothing fetches it ahead); the group keeps its
#: bytes (8 wide strips, 16 tall). On the Xeon, over SHORT_A_KC's 192, in-process (docs/examples/block_sizes.py):
#: one thread float64 +2 to +9 % (32x3584x4096 +9 %, 128x4096x4096 +2 %), float32 +5 to +9 % at 16-64 rows,
#: level at 128x14336x4096; two threads float64 +2 to +12 %. KC 96 and 64 read -2 to +3 % of 128 at 16-32
#: rows and -2 to -6 % at 64-256; 160 lost 1-4 %, 256 lost 2-10 %.
UNFETCHED_KC = 128
#: Short A of one strip of 1/2 to 2/3 MR rows (M = 6-8 against 12-row tiles) reads row-major B in place while
#: B stays in L3 (under B_FROM_MEMORY), and each k step also fetches the two lines its call reads
#: IN_PLACE_AHEAD rows further down B. Without the fetch such strips read in place lost to packing (an 8-row
#: call has 16 FMAs a k step to cover the step's new lines); with it, over packing, in-process A/B, one
#: thread, B of 7-14 MiB: float64 8x3072x512 +20 to +61 %, 8x1536x1024 +50 to +61 %, 8x7168x256 +3 to
#: +13 %, float32 8x768x4096 +45 to +66 %, 8x1536x2048 +46 %; over reading in place without it (float32,
#: narrow rows): float64 8x256x7168 +45 to +86 %, float32 8x4096x512 +1 to +6 %. Two threads: float64 +23
#: to +69 %, float32 -2 to +7 %. From memory it loses (float64 8x3584x4096, 8x7168x2304, 8x12288x1536 -18
#: to -22 %; float32 8x3584x4096 -15 to -20 %); at exactly 16 MiB (float64 8x4096x512) it swung from -27 to
#: +22 % over eight A/B runs and the harness saw 0.75-0.90 of OpenBLAS. Twelve rows lose 36-43 % with it
#: (they read in place well without it: DIRECT_B_MIN_M), four gain nothing. 4-8 rows ahead lost 10-20 %;
#: 32 over 16 (separate runs): -8 to +13 %, ahead on four of seven shapes. A strip's last IN_PLACE_AHEAD
#: steps fetch the next strip's first rows (``_block``), the rows read next; until e524c85 they pointed past
#: the strip's KC rows, at lines no call read soon. Over that, on Zen 4, in-process A/B (docs/examples/
#: kernel_ab.py), one thread, B of 3.5-14 MiB, two runs: float64 8x7168x256 +36 and +12 %, 8x14336x128 +26 and
#: +20 %, 8x3584x512 +28 and +11 %, 6x7168x256 +18 and +19 %, 7x7168x256 +22 %, 8x3072x512 +18 %,
#: 8x1536x1024 +7 %, 8x7168x64 +3 %; float32 8x7168x512 +23 %, 8x14336x256 +19 %, 8x4096x512 +6 %,
#: 8x2048x1024 +5 %. Two threads: float64 8x14336x128 +34 %, 8x7168x256 +18 %, 8x3072x512 +5 %, float32
#: 8x7168x512 +12 %, 8x14336x256 +5 %, 8x4096x512 +3 %. Not measured on Intel or Zen 5 (whose fetches past
#: the strip were as idle).
IN_PLACE_AHEAD = 32
#: On a full-width AVX-512 core such strips read B in place from memory too (B of B_FROM_MEMORY or more),
#: with the same fetch (on Zen 4 they pack B there: in place lost 18-22 %, above). Measured on a Zen 5 EPYC,
#: float64 M = 6-8, one thread: fetched 32 rows ahead over packed +33 to +108 % (1.27-2.25x OpenBLAS), two
#: threads +31 to +173 %; float32 (in place without the fetch before) +5 to +59 %, two threads +4 to +50 %.
#: Rows a multiple of B_COLLIDE_STRIDE apart lose that way (-13 to -18 %: the 32 rows ahead fall in a few
#: sets of the caches and evict one another) and fetch IN_PLACE_COLLIDE_AHEAD rows ahead instead: over
#: packed +24 to +57 % (8 rows ahead +11 to +55 %); 16 rows ahead at every stride lost up to 15 % to 32 on
#: the others. Rows at most DIRECT_B_NARROW_ROW apart, read in place from memory without the fetch before,
#: fetch too: +21 to +99 % (float32 8x256x32768 +70 %, float64 8x384x8192 +99 %, 8x256x16384 +38 %).
#: In-process A/B (docs/examples/kernel_ab.py); the harness: docs/numba.md "What changed".
#: On Intel's AVX-512 the row fetch stops where the group fetch does (JIT_FETCH_MAX_B): such strips against B of
#: 96 MiB or more, rows wider than a page, pack it (just in time, unfetched, UNFETCHED_KC). Packed over in place
#: fetched, in-process A/B (docs/examples/kernel_ab.py), one thread, B of 96-160 MiB: float64 8x3584x4096 +36 %,
#: 8x4096x4096 +47 %, 8x2048x8192 +44 %, 8x2560x8192 +44 %, 8x3072x4096 +19 %, 6x3584x4096 +44 %; float32
#: 8x8192x4096 +52 %, 8x6144x4096 +38 %. Under 96 MiB in place kept its lead or tied (float64 8x768x4096 -26 %,
#: 8x1536x7168 +2 %; float32 8x4096x1792 -23 %, 8x7168x2048 -6 %, 8x3584x4096 0) but for float64 8x4096x1792 (+20 %).
#: The rule over faa6118, two threads: float64 +18 to +45 %, float32 +45 to +74 %. The harness, paired,
#: float64 8x7168x8192 0.789 -> 1.465 of OpenBLAS at one thread, 0.789 -> 1.549 at two (docs/numba.md,
#: "Llama-3.1-8B on faa6118").
IN_PLACE_FROM_MEMORY = FULL_WIDTH_512
IN_PLACE_COLLIDE_AHEAD = 16
#: On Intel's AVX-512 one thread running those strips against B of at least this many bytes, read in place,
#: also fetches the next strip's two lines of the row each k step reads (read a KC block of steps later; the
#: rows ahead are read 16-32 steps later). With the rows ahead alone it read B from memory at 7-8 GB/s, where
#: the GEMV's sequential rows read 27 GB/s: each k step's lines lie in a new row, which the core's own
#: prefetchers do not follow. Both fetches over the rows ahead alone, in-process A/B
#: (docs/examples/kernel_ab.py), one thread, five runs in an hour, B of 40-84 MiB: float64 8x1280x8192 +16 to
#: +19 % (four runs), 8x8192x1024 +30 to +42 % (four), 8x4096x1792 +48 %, 8x2048x4096 +19 and +34 %,
#: 8x1536x7168 +11 and +14 %, 8x3584x2048 +2 and +32 %, 8x1280x4096 +28 %, 6x1280x8192 +12 %; float32
#: 8x2048x8192 +21 and +53 %, 8x1280x8192 +59 %, 8x7168x2048 +51 and +53 %, 8x2560x4096 +49 %, 8x6144x2048
#: +50 %. B of 14-32 MiB (in the VM's share of L3 in those runs: the rows ahead alone read it at 31-39 GFLOP/s
#: float64, against 14-31 from 40 MiB) loses: float64 8x4096x512 -15 %, 8x2048x1536 -16 %, 8x1024x4096
#: -13 %, 8x4096x1024 -3 %, float32 8x4096x512 -25 %, 8x8192x1024 -7 %, 8x4096x2048 -9 %. The next strip alone
#: lost 9-21 % to both (float64). Packing B of 40-84 MiB (with the group fetch) lost 7-23 % to both; from
#: JIT_FETCH_MAX_B packing still wins (in place with both -17 to -28 %). One thread only: two threads, which
#: read B two to four times as fast as one without it (1.0-2.0x OpenBLAS float64, 2.4-3.5x float32), swung
#: with the host's state, float64 -2 to +41 % in one half hour and -22 to +16 % in the next (8x3584x2048 -22
#: and -20 %), float32 -15 to +6 %. The harness, paired, two runs: float64 8x8192x1024 0.678, 0.686 -> 1.172,
#: 1.204 of OpenBLAS, 8x1280x8192 0.741, 0.767 -> 1.039, 1.281 (docs/numba.md "One thread's short strips fetch
#: the next strip too on Intel"). Not measured on AMD (Zen 5 fetches such rows ahead as well).
IN_PLACE_NEXT_STRIP_MIN_B = 40 << 20 if INTEL_AVX512 else 1 << 62
#: Strips that fetch the next strip too (``fetches_next_strip``) take this KC, and A of 9-16 rows (up to two MR
#: strips of the 12-row tile) reads B so rather than packing it: the second strip re-reads the first's KC rows of B
#: from cache. At the tables' KC (128 float64, 512 float32) one thread drew B at about 10 GB/s in place, a third of a
#: sequential read: a call walks KC rows of B, each on its own page, and the next call the same rows a strip further
#: on. Fewer rows a call read faster, as if the L2's own stream prefetcher (which follows a stream within a 4 KiB
#: page, and only so many pages at once) then followed them: inferred, not measured (no hardware counters in this
#: VM), and why 48 reads best, not 32, is not settled. In-process A/B (docs/examples/kernel_ab.py), one thread, over
#: 81a34d2 (6-8 rows in place at KC 128; 9-16 rows packed B whose rows are wider than a page), float64: 8x1280x8192
#: +51 %, 8x1536x7168 +47 %, 8x8192x1024 +11 %, 8x4096x1792 +5 %, 8x3584x2048 +3 %, 16x1280x8192 +60 %, 16x1536x7168
#: +41 %, 16x2048x4096 +25 %, 16x8192x1024 +20 %, 16x4096x1792 +14 %, 12x1280x8192 +64 %, 16x256x32768 3.1x; float32
#: +21 to +50 %. KC 32 lost 7 % at 8x3584x2048 and 64 gained 21 % (48: 49 %) at 12x1280x8192. Two threads (no next
#: strip) swung -15 to +27 % at KC 48: they keep the tables' KC and pack 13-16 rows. The harness, paired, two runs:
#: float64 16x1280x8192 0.899, 0.867 -> 1.552, 1.549 of OpenBLAS (docs/numba.md "KC 48 for one thread's strips
#: reading large B in place on Intel").
IN_PLACE_KC = 48
#: Those two strips (13-16 rows) read B in place only while its rows are under this many bytes apart; wider rows
#: pack B (and so run in wide strips: SHORT_WIDE_MIN_M). The second strip re-reads the first's rows from cache;
#: from 24 KiB apart that paid less than packing, and rows 64 KiB apart (in few of the L2's sets, whose span is
#: 128 KiB: inferred, no hardware counters here) ran at half speed. Packed in wide strips over read in place in
#: tall ones, in-process A/B (docs/examples/kernel_ab.py), one thread, a second Xeon (model 207), B of 40-84 MiB:
#: rows of 24 KiB and more, float64 16x8192x1024 2.30 and 2.19, 13x8192x1024 2.45, 16x16384x512 1.87,
#: 16x7168x1024 1.19, 16x6144x1024 1.18, 14x3072x2048 1.16, 16x3072x2048 1.12, 16x3072x3584 1.11, 16x4096x1792
#: 1.10, 16x5120x1024 1.00, 16x12288x512 0.98; float32 16x16384x1024 2.34 and 2.15, 16x6144x3584 1.11,
#: 16x24576x512 1.08, 16x12288x1024 1.08, 16x6144x2048 1.06, 16x8192x2048 1.02. Rows of 10-20 KiB: float64
#: 16x2560x2048 0.85, 16x1280x4096 0.84, 16x2048x4096 0.88 and 0.90, 16x1792x4096 0.90, 16x2560x4096 0.91
#: (13x2560x4096 1.10); float32 16x4096x4096 0.88 and 0.96, 16x3584x4096 0.92, 16x5120x2048 0.93,
#: 16x5120x4096 0.95. Only Intel's strips fetch the next strip (IN_PLACE_NEXT_STRIP_MIN_B).
IN_PLACE_TWO_STRIPS_MAX_ROW = 24 << 10 if INTEL_AVX512 else 1 << 62
#: Float32 A whose second tall strip holds at most IN_PLACE_SHORT_TAIL_ROWS rows (13-14 rows on Intel) reads B so
#: while its rows are under IN_PLACE_SHORT_TAIL_MAX_ROW apart (by itemsize // 8: float32, float64; float64 keeps
#: IN_PLACE_TWO_STRIPS_MAX_ROW). Read in place in tall strips over packed in wide ones (whose third strip is 1-2
#: rows), in-process A/B (docs/examples/kernel_ab.py), one thread, the second Xeon (model 207), B of 48-64 MiB, huge
#: pages and 4 KiB pages (NUMPY_MADVISE_HUGEPAGE=0): float32 13-14 rows, rows 24-32 KiB apart, +12 to +43 % in 17
#: of 18 cells (14x7168x2048 1.16-1.26 in five runs, 13x7040x2048 1.43 and 1.31, 13x6144x2048 1.15 and 1.35;
#: 13x8192x2048 0.82 and 1.12). 15-16 rows read 0.90-1.34 there, no side (16x7168x2048 0.90-1.09 in four runs):
#: they keep 24 KiB; rows 36-64 KiB apart lost at 13-16 rows (13x11264x2048 -19 %, 16x16384x1024 -43 %). Float64
#: 13-14 rows, rows 24-32 KiB apart: 0.94-1.04 on huge pages, 0.94-1.24 on 4 KiB pages; it keeps 24 KiB.
#: docs/numba.md "Float32's two tall strips with a short second one".
IN_PLACE_SHORT_TAIL_ROWS = 2
IN_PLACE_SHORT_TAIL_MAX_ROW = (36 << 10 if INTEL_AVX512 else 1 << 62, IN_PLACE_TWO_STRIPS_MAX_ROW)
#: The cache level those fetches (FETCH_AHEAD, IN_PLACE_AHEAD) fill, as ``llvm.prefetch``'s locality: 3 to L1
#: (prefetcht0), 2 to L2 (prefetcht1). The lines fetched ahead are read a group, or 16-32 rows, later; in the
#: 48 KiB L1 they land in the few sets that rows a multiple of 4 KiB apart share, and evict one another and
#: the tile's own lines before use. On a full-width AVX-512 core (a Zen 5 EPYC) L2 over L1, in-process A/B
#: (docs/examples/kernel_ab.py), one thread: B packed just in time, float64 16x8192x3584 +35 %, 32x4096x4096
#: +16 %, float32 16x8192x3584 +28 %; read in place, float64 8x12288x1536 +16 %, 8x12288x3584 +17 %,
#: 8x7168x4096 +7 %, 6x4096x4096 +6 %, float32 8x12288x1536 +7 %, 8x4096x4096 +7 %; 64-128 rows (wide tiles)
#: -1 to +2 %. Two threads: float64 8x12288x1536 +10-13 %, 16x8192x3584 +16 %, float32 16x8192x3584 +15 %, the
#: rest -1 to +8 %. The harness, before and after in the same half hour, one thread: float64 8x12288x1536
#: 0.955 -> 1.108 of OpenBLAS, 8x12288x3584 0.963 -> 1.092, 16x8192x1024 1.198 -> 1.451, 8x8192x3584 1.231 ->
#: 1.289 (docs/numba.md "What changed"). AVX2 fetches nothing ahead. B read in place while it stays in L3 (under
#: B_FROM_MEMORY) fetches to L1 all the same: to L2 lost there, float32 8x768x4096 -15 and -16 %, 8x576x7168 -11
#: and -12 % (B of 12-16 MiB; from memory float32 8x1280x8192 -1 %, float64 8x576x7168 level, 8x384x8192 +3 %).
#: On Zen 4 (AVX-512 in halves; it reads B in place from memory without fetching ahead) B packed just in time
#: goes to L2 too, but only from memory. Over L1, in-process A/B (docs/examples/kernel_ab.py), B from memory,
#: float64 16 rows (rows of B 64-128 KiB apart) one thread +14 to +21 %, two +13 to +22 % (16x12288x3584
#: +21 % at both), 32 rows +1 to +7 %, float32 16x16384x1024 +10 and +11 %, 32 rows +3 to +4 %, wide tiles
#: (64-256 rows) -3 to +5 %, median 0. B in L3 (4-12 MiB, 20-32 rows), one thread, L2 lost: float64 -6 to +1 %
#: (median -3 %), float32 -5 to +2 % (median -1 %); two threads float64 level, float32 +2 and +8 %: L1 kept
#: there. ``fetch_level`` chooses.
LOCALITY_L1, LOCALITY_L2 = 3, 2
FETCH_LOCALITY = LOCALITY_L2 if VECTOR_BITS == 512 else LOCALITY_L1
#: The level of B packed just in time while it stays in L3: L2 on a full-width core (measured with it there),
#: L1 on Zen 4 (above).
JIT_IN_L3_LOCALITY = LOCALITY_L2 if FULL_WIDTH_512 else LOCALITY_L1
#: Rows of B packed together: ROW_GROUP read streams, and one sequential write stream
#: (strip by strip, all rows at once, would put every write kc*NR apart: the same cache set).
ROW_GROUP = 8
#: On Intel's AVX-512 a thread packing row-major B just in time into wide strips (6 x 32 float64, 6 x 64 float32:
#: four lines of each row a strip) reads JIT_ROW_GROUP rows a pass, not ROW_GROUP, where B's rows lie at least
#: JIT_ROW_GROUP_BYTES[0] and under JIT_ROW_GROUP_BYTES[1] apart, save a multiple of B_COLLIDE_STRIDE (32 KiB,
#: where eight read as fast). Eight a pass dipped there: float64 32x4608x7168 and 32x3584x4096 read 42-44
#: GFLOP/s at one thread (0.94-0.99 of OpenBLAS in the harness) against 46-50 at rows of 10, 20, 32 or 56 KiB;
#: why is not known (no hardware counters in this VM), and 4 KiB pages dip alike. Five over eight, in-process
#: A/B (docs/examples/kernel_ab.py), float64, one thread, M = 32, by the width of B's rows: 24-46 KiB +2 to
#: +12 % (32x4864x4096 +12 %, 32x4608x7168 +7 to +9 %, 32x3584x4096 +7 %), 12-22 KiB -5 to 0 %, 32 KiB -2 %,
#: 48-112 KiB -4 to -1 %. The rule in the window, one thread float64 24-256 rows +2 to +11 %, two threads +1 to
#: +10 %, float32 (1.3-1.9x OpenBLAS) +5 to +14 %. Four or three rows gained as much in the window and lost
#: more outside it, six were level; tall strips (two lines of a row) and the shared panels lost 0.4-3 % with
#: five. The harness, paired, two runs: float64 one thread 32x4608x7168 0.944 (slower), 0.958 -> 1.060, 1.066
#: (faster), 32x3584x4096 0.988, 0.990 -> 1.070, 1.054 (docs/numba.md "Wide strips pack five rows of B a pass
#: on Intel").
JIT_ROW_GROUP = 5
JIT_ROW_GROUP_BYTES = (24 << 10, 48 << 10) if INTEL_AVX512 else (0, 0)
#: Cache blocking (elements): MC x KC of A in L2, KC x NC of B in L3; KC = 512 measured best on AVX-512
#: even though a KC x NR strip of B (32 KiB float32) then streams from L2 rather than sitting in L1.
#: On AVX2 float64 short A takes KC = 384 (B packed just in time, eight strips in 288 KiB of the 512 KiB
#: L2 instead of 384): over 512, in-process, one thread, 4x7168x2048 +7 %, 8x768x4096 +6 %, 8x4096x512
#: +4 %, 12x8192x1024 +4 %, 16x8192x1024 +2 %, 8x7168x2048 +3 %, 32x4096x1792 and 64-256 rows level to
#: +1 %; two threads 8x4096x512 +12 %, 8x7168x2048 +6 %, 16x4096x512 +5 %, 64x7168x2048 -1 %; float32
#: lost 1-3 % at 8x12288x1536, 16x8192x1024 and 64-256 rows. (KC = 256 was mixed: docs/numba.md "What changed".)
BLOCKS = {"float32": (96, 512, 4096), "float64": (60, 384 if VECTOR_BITS == 256 else 512, 4096)}
#: A of more than SHORT_A rows is cut into row blocks that share one packed KC x NC panel of B, which each
#: block reads in turn from the last-level cache. On AVX2 (a Zen 3 EPYC VM, its 32 MiB L3 shared with the
#: host's other guests) a panel of 8-16 MiB did not stay there; panels of 2 MiB do, and float64 KC = 256
#: keeps a KC x NR strip of B (24 KiB) in the 32 KiB L1 while the block's strips of A pass it. Over the
#: AVX-512 blocks (float64 60/512/4096, float32 96/512/4096), in-process (docs/examples/block_sizes.py),
#: one thread: float64 2048^3 +16 %, 1024^3 +9 %, 300x4096x4096 +20 %, 512x4096x4096 +17 %, 700x2500x1500
#: +9 %, 1500x2500x700 +17 %, 1000x1000x3000 +5 %, 384^3-512^3 and 2000x500x2000 level; float32 (72 rows,
#: KC 512): 300x4096x4096 +12 %, 512x4096x4096 +8 %, 1500x2500x700 +8 %, 700x2500x1500 +6 %, 2048^3 +4 %,
#: 4096x1024x512 -2 %, 512^3-1024^3 level. Two threads: float64 -1 to +9 %, float32 -1 to +6 %.
#: On AVX-512 run in halves (a Zen 4 EPYC, 1 MiB L2, 32 MiB L3 shared with the host's other guests) float64
#: takes NC 1024 too (a 4 MiB panel). Over NC 4096, in-process, one thread: 1500x2500x700 +7 %, 700x2500x1500
#: +8 %, 512x4096x4096 +8 %, 2048^3 +5 %, 1000x1000x3000 +1 % (NC 512-768 level with 1024, 1536-2048 -1 to
#: -5 %; KC 256 or MC 120 lost 1-3 %); two threads -2 to +6 %. Float32 NC 1024 was level to +4.5 % at one
#: thread and -2.4 to +2.4 % at two, and stays. On Intel's AVX-512 (a Xeon VM, 48 KiB L1d) float64 takes KC 128:
#: a KC x NR strip of B (32 KiB) then stays in L1 while the block's strips of A pass it. Over KC 512, in-process,
#: one thread: 1024^3 +12 %, 512x4096x4096 +8 %, 700x2500x1500 +6 %, 2048^3 +5 %, 1500x2500x700 +3 % (KC 256
#: and 192 -2 to +6 %, MC 120 or 240 at KC 128 -5 to -17 %); two threads +4 to +9 %, 512x4096x4096 -1 %.
#: On a second Intel host (family 6 model 207, 2 MiB L2, 300 MiB L3) float64 panels take NC 1024 too: a 1 MiB
#: panel stays in the L2, where the 4 MiB one came from L3 to every row block. Over NC 4096 at KC 128, in-process,
#: one thread, two runs: 300x4096x4096 +21 % and +5 %, 700x2500x1500 +4 % and +11 %, 1500x2500x700 +3 % and +11 %,
#: 512x4096x4096 +5 % and +4 %, 2048^3 -1 % and +3 %; two threads +1 to +7 % (300x4096x4096 level). N of 1024
#: or less runs one panel either way (1024^3 read +0 % and +9 %: this host's noise). At NC 1024, over KC 128 and
#: MC 60: NC 512 -2 to +1 %, 768 -4 to +8 %; KC 96 -10 to +11 % in two runs, level at two threads; KC 64 or 160,
#: MC 36, 96 or 120 -11 to +3 %. Not measured on the first Intel host (model 167), which chose KC 128 at NC 4096.
#: Float32 KC 128 lost 6 % at 1500x2500x700; float32 takes MC 288 there instead (a 576 KiB block of A in the
#: 2 MiB L2, where 96 rows filled 192 KiB of it). Over MC 96, in-process, one thread: 1500x2500x700 +7 %,
#: 700x2500x1500 +9 %, 1024^3 +5 %, 2048^3 +5 %, 512x4096x4096 +4 % (MC 192 and 384 +3 to +9 %, MC 48 -3 to
#: -9 %, KC 256-768 at MC 96 -1 to +8 %); two threads +3 to +5 % (MC 192 and 384 +2 to +9 %).
#: Zen 5 (full width, AMD): BLOCKS, not measured there.
PANEL_BLOCKS = (
    {"float32": (72, 512, 1024), "float64": (60, 256, 1024)}
    if VECTOR_BITS == 256
    else {**BLOCKS, "float64": (60, 512, 1024)}
    if avx512_in_halves()
    else {"float32": (288, 512, 4096), "float64": (60, 128, 1024)}
    if INTEL_AVX512
    else BLOCKS
)
#: PANEL_BLOCKS' MC by itemsize // 8 (float32, float64), for compiled code.
PANEL_MC = (PANEL_BLOCKS["float32"][0], PANEL_BLOCKS["float64"][0])
#: Short A of at most ROWS rows that packs row-major B just in time takes this KC: ((ROWS, KC), ...) per
#: dtype, first match. A group then holds proportionally more strips in the same bytes (JIT_ROWS), and the
#: packing reads each of its KC rows of B in a longer run: alone, packing float64 B of 1536 x 12288 from
#: memory read 6 GB/s in runs of 768 bytes (KC 384, 8 strips) and 10-11 GB/s in runs of 6 KiB (KC 64, 64
#: strips), and at M = 8 the GEMM waits on that read. Tiles of C reloaded every KC rows cost more as A
#: grows (at 128 rows the table's KC wins). On AVX2 (a Zen 3 EPYC), in-process (docs/examples/block_sizes.py),
#: over the table's KC, one thread: KC 96 at 4-16 rows float64 +10 to +18 %, float32 +10 to +23 %; KC 192
#: at 24-64 rows float64 level, float32 +3 to +6 %; two threads KC 96 float64 +8 to +21 %, float32 +6 to
#: +16 %, KC 192 +1 to +7 %. Transposed B is read along K, whose runs a short KC cuts (KC 96 lost 8-30 %);
#: it keeps the table's KC. K of 256 or less gains nothing (float32 16x7168x256 -4 %).
#: On Intel's AVX-512 (``intel_avx512``: a Xeon VM with 48 KiB L1d, 2 MiB L2 and 480 MiB L3) short A in tall
#: tiles that packs B takes KC 192 (groups of 10 tall strips within JIT_GROUP_BYTES; wide tiles, unfetched, take
#: UNFETCHED_KC: WIDE_FETCHES_GROUP; the figures here are from when they took 192 too): at KC 512 float64
#: ran at 0.67-0.85 of OpenBLAS wherever B's rows were 28 KiB or more apart. Over KC 512, in-process
#: (docs/examples/block_sizes.py), one thread, float64: 16x4096x512 +35 %, 16x3584x4096 +29 %, 32x3584x4096
#: +17 %, 64x8192x8192 +17 %, 64x4096x1792 +17 %, 128x4096x4096 +9 %, 256x3584x4096 +4 %, 128x768x4096 +1 %
#: (KC 256 gained 3-25 %, 128 and 384 less); float32 16x4096x512 +31 %, 32x3584x4096 +20 %, 64x8192x8192
#: +19 %, 128x4096x4096 +11 %, 16x3584x4096 +12 %, 256x3584x4096 +1 %. Two threads, float64: +5 to +32 %
#: (16x4096x512 +32 %, 16x3584x4096 +25 %, 32x4096x512 +22 %, 64x8192x8192 +13 %, 128x4096x4096 +11 %). A
#: strip of A reading B in place (8 rows) keeps its KC: 192 lost 6 % there at two threads. The harness and the
#: tall tile's sweep: docs/numba.md "On an Intel Xeon". AMD's AVX-512 cores keep the table's KC (but
#: ONE_STRIP_KC on Zen 4).
SHORT_A_KC: dict[str, tuple[tuple[int, int], ...]] = dict.fromkeys(
    BLOCKS,
    ((16, 96), (64, 192))
    if VECTOR_BITS == 256
    else ((TALL_MAX_M, 192), (SHORT_A, UNFETCHED_KC))
    if INTEL_AVX512
    else (),
)
#: KC of A of one tall MR strip (decode's few token rows) that packs row-major B just in time, before SHORT_A_KC
#: (0: none). Such A multiplies each packed strip of B once, so the packing's read of B sets its pace, and at a
#: quarter of the table's KC a group (JIT_ROWS: 32 strips, uncapped by JIT_ONE_STRIP_CAPPED) reads each row of B
#: in runs four times as long (4 KiB, not 1 KiB). It comes with ONE_STRIP_ONE_REGION: 32 updates of K = 4096,
#: one parallel region each, cost two threads 5-7 % where each thread's strips are few (float64 8x768x4096,
#: 8x1280x8192). On Zen 4 (AVX-512 in halves), in-process (docs/examples/block_sizes.py, then kernel_ab.py over
#: the table's KC with both rules), one thread float64 2-11 rows +4 to +23 % (8x4096x512 +21 %, 8x8192x1024
#: +23 %), float32 2-5 rows -0.3 to +24 %; two threads float64 +0.5 to +42 % (8x12288x1536 +42 %), float32 +12
#: to +48 %. Over KC 128 at one thread float64 KC 256 read -7 to +2 %, 192 -11 to -1 %, 96 -9 to +2 %, 64 -8 to
#: +0 %, and at KC 128 16 strips a group -13 to -7 %, 64 strips -7 to +0.4 %. The
#: harness: docs/numba.md "A quarter of the KC for one strip of A". Measured on Zen 4 only.
ONE_STRIP_KC = 128 if avx512_in_halves() else 0
#: Short A (each thread packing its own strips of B just in time, nothing shared) runs all of a panel's
#: rank-KC updates in one parallel region instead of one region an update: with SHORT_A_KC's KC of 96, K of
#: 4096 is 43 updates, and at two threads KC 96 lost 9-12 % to the table's KC without this (float32
#: 8x768x4096, 16x7168x256, 16x512x7168); with it the two together gain -3 to +29 % at 3-32 rows. At the
#: table's KC, one region over one an update, in-process, two threads: -2 to +8 % (K = 7168 +8 %). On AVX2
#: only: on AVX-512 one region a call (panels and updates) lost in the harness at two threads (docs/numba.md "What
#: changed": float64 8x12288x1536 1.021 -> 0.884), and this narrower form was not measured there.
UPDATES_IN_ONE_REGION = VECTOR_BITS == 256
#: Whether A of one MR strip that packs its own strips of B runs all of a panel's updates in one parallel region
#: too (the narrower form above, with ONE_STRIP_KC's updates). On Zen 4, two threads, float64: KC 128 over 512
#: with one region an update read 8x768x4096 -5 % and 8x1280x8192 -6.5 % (block_sizes.py), and with one region a
#: panel +0.5 % and +11 % (kernel_ab.py); B stored transposed (the table's KC, 1-16 updates) -4.5 to +3.5 %, level.
ONE_STRIP_ONE_REGION = avx512_in_halves()
#: Strip rows (strips x KC) of B a group packed just in time holds: INLINE_PACK strips at BLOCKS' KC, so a
#: shorter KC packs more strips in the same bytes of L2.
JIT_ROWS = {dtype: INLINE_PACK * kc for dtype, (_, kc, _) in BLOCKS.items()}
#: Bytes a group packed just in time holds at most, per tile kind (0: no cap). On a full-width AVX-512 core
#: the group being multiplied and the next one, fetched ahead into L2 (FETCH_LOCALITY), share that 1 MiB L2
#: with A's block, and at INLINE_PACK strips (512 KiB at KC 512 for the tall tiles, 1 MiB for the wide
#: ones) the fetched lines were evicted before the packing read them. A cap of 256 KiB (4 tall strips, 2
#: wide) over 8 strips, in-process (docs/examples/block_sizes.py), on a Zen 5 EPYC: one thread float64
#: 16x8192x1024 +13 %, 16-256 rows +3 to +8 %, float32 +2 to +9 %; two threads float64 +1 to +26 %
#: (64x8192x3584 +25 %; 16x8192x3584 +8 to +55 %, more as the host's memory got busier), float32 +5 to +38 %;
#: float64 B of rows 96 KiB apart -4 to -7 % at one thread (16x12288x1536 1.38 -> 1.33x OpenBLAS), level
#: to +42 % at two. On AVX-512 run in halves (a Zen 4 EPYC, 1 MiB L2) the same cap: 2 wide strips over 8
#: (the next group fetched to L1 then), in-process, 48-256 rows, 14 shapes, one thread float64 +0 to +5 %,
#: float32 +0.6 to +9 %, two threads float64 -0.1 to +6 %, float32 +1 to +8 % (1 strip level with 2: -1 to
#: +4 %). 4 tall strips lost there while the next group went to L1 (float64 16x8192x3584 -13 % at one thread,
#: -5 % at two) and won once it went to L2 (FETCH_LOCALITY): over 8, 14 shapes of 16-32 rows from memory, 44
#: cells, -8 to +11 %, median +2 % (float64 16x12288x3584 +11 % at two threads; the one loss over 1 %, float64
#: 16x16384x6656 at two threads, -8 %). The harness: docs/numba.md "What changed" (Zen 5), "Groups of two wide
#: strips" and "The next group into L2" (Zen 4). AVX2 was not measured: no cap.
JIT_GROUP_BYTES: dict[str, int] = dict.fromkeys(("tall", "wide"), 256 << 10 if VECTOR_BITS == 512 else 0)
#: Whether A of one MR strip (m <= MR: decode's few token rows) takes that cap too. Such A multiplies each packed
#: strip of B once, so packing, not the FMAs, sets its pace; on Zen 4 (AVX-512 run in halves) the cap lost there
#: (the 16-32 rows it was measured with above are two strips or more). 8 tall strips over 4, in-process A/B
#: (docs/examples/kernel_ab.py), B from memory: one thread float64 8 rows +11 to +27 % (8x4096x1792 +17 %,
#: 8x3584x4096 +27 %, 8x12288x1536 +23 %), 4 rows +18 %, float32 2-4 rows +24 to +29 %; two threads float64 8 rows
#: +4 to +17 %. Two strips keep the cap (16 rows without it: one thread +2 to +4 %, two -1 to -3 %). The harness
#: (docs/numba.md "One strip of A packs B in groups of eight strips again"). Measured on Zen 4 only: elsewhere one
#: strip keeps the cap.
JIT_ONE_STRIP_CAPPED = not avx512_in_halves()


class Tile:
    """A tile kind ("tall" or "wide") as compiled code sees it: a compile-time constant carried by its
    Numba type, so MR and NR stay constants (loops unroll, the micro-kernel is specialised) while one
    source serves both kinds."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def shape(self, dtype: str) -> tuple[int, int]:
        """(MR, NR) for ``dtype``."""
        return TILES[self.kind][dtype]


class TileType(types.Type):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(name=f"Tile({kind})")


@typeof_impl.register(Tile)
def _typeof_tile(value, c):
    return TileType(value.kind)


register_model(TileType)(models.OpaqueModel)


@lower_constant(TileType)
def _tile_constant(context, builder, ty, value):
    return context.get_dummy_value()  # nothing at run time: the type is the information


@unbox(TileType)
def _unbox_tile(typ, obj, c):
    return NativeValue(c.context.get_dummy_value())


def _tile(dtype: types.Type, tile: TileType) -> tuple[int, int]:
    return TILES[tile.kind][str(dtype)]


def _tile_constant_of(which: int):
    """An intrinsic ``f(x, tile)`` returning MR (``which`` 0) or NR (1) of ``tile`` for x's dtype as a
    compile-time constant, so loops bounded by it unroll."""

    @intrinsic
    def constant(typingctx, x, tile):
        def codegen(context, builder, sig, args):
            return context.get_constant(types.intp, _tile(sig.args[0].dtype, sig.args[1])[which])

        return types.intp(x, tile), codegen

    return constant


#: MR and NR of a tile kind for an array's dtype.
tile_mr = _tile_constant_of(0)
tile_nr = _tile_constant_of(1)


def _lanes_constant():
    """An intrinsic ``f(x)``: the lanes per vector for x's dtype, a compile-time constant."""

    @intrinsic
    def lanes(typingctx, x):
        def codegen(context, builder, sig, args):
            count = vector_type(context.get_value_type(sig.args[0].dtype), VECTOR_BITS).count
            return context.get_constant(types.intp, count)

        return types.intp(x), codegen

    return lanes


tile_w = _lanes_constant()


@intrinsic
def tile_is_wide(typingctx, tile):
    """Whether ``tile`` is the wide kind, a compile-time constant (compiled code cannot read ``Tile.kind``)."""

    def codegen(context, builder, sig, args):
        return context.get_constant(types.boolean, sig.args[0].kind == "wide")

    return types.boolean(tile), codegen


def c_line_offsets(nr: int, itemsize: int) -> list[int]:
    """Elements of a row of an NR-wide tile of C whose lines, prefetched, cover the whole row wherever it
    starts: one every 64 bytes, and the last element. C's rows start off a line when a row of C is not a
    whole number of lines (float32 N = 2500): a 64-byte float32 row of 16 then spans two lines, and
    prefetching only the first left the other to stall every call. Adding the last, in-process, one
    thread: float32 1500x2500x700 +4 %, 700x2500x1500 +2 %, 64x2500x2048 +3 %, 300x2500x1000 +3 %;
    rows on whole lines, and float64, level (measured on AVX2). Where the row is on whole lines the last
    element's line is fetched twice: one more prefetch a row of the tile per call of KC steps."""
    return [*range(0, nr, 64 // itemsize), nr - 1]


def _prefetch(builder, ptr, locality, write=False):
    """IR: ``llvm.prefetch`` of the line holding ``ptr`` (any pointer) into the cache level ``locality`` names
    (3 L1, 2 L2), for a write when ``write``. A hint: it never faults, whatever the address."""
    fetch = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [I8P, I32, I32, I32]), "llvm.prefetch.p0"
    )
    args = [builder.bitcast(ptr, I8P), ir.Constant(I32, int(write)), ir.Constant(I32, locality), ir.Constant(I32, 1)]
    builder.call(fetch, args)


def _emit_tile(builder, vty, fma, rows, nr, kc_v, a_ptr, a_si, a_sp, b_ptr, b_sp, c_ptr, ldc_v, add, align, ahead):
    """IR for one tile of ``rows`` x NR: prefetch C, k loop of broadcast-A x B FMAs, then (+)= into C.

    A(i, p) is at a_ptr[i*a_si + p*a_sp] and B(p, 0..NR) at b_ptr[p*b_sp ...]: packed panels
    (a_si=1, a_sp=MR, b_sp=NR) or the caller's row-major matrices read in place. ``ahead``, when
    not None, is (pointers, stride): step p also prefetches the line at pointer[p*stride] for each
    pointer (see FETCH_AHEAD) into the cache level ``locality`` names (``llvm.prefetch``'s: 3 L1, 2 L2).
    """
    nv, vptr = nr // vty.count, vty.as_pointer()
    zero = ir.Constant(vty, [ir.Constant(vty.element, 0.0)] * vty.count)
    c_rows = [builder.gep(c_ptr, [builder.mul(ldc_v, ir.Constant(I64, i))]) for i in range(rows)]
    # Prefetch the C tile first: its rows are ldc apart and usually not cached; the k loop
    # hides the misses. Without it every call stalls on the tile (measured: -15 %).
    for row in c_rows:
        for off in c_line_offsets(nr, align):
            _prefetch(builder, builder.gep(row, [ir.Constant(I64, off)]), LOCALITY_L1, write=True)
    a_offsets = [builder.mul(a_si, ir.Constant(I64, i)) for i in range(rows)]
    entry = builder.block
    loop, tail = builder.append_basic_block("uk.loop"), builder.append_basic_block("uk.tail")
    builder.cbranch(builder.icmp_signed(">", kc_v, ir.Constant(I64, 0)), loop, tail)
    builder.position_at_end(loop)
    p = builder.phi(I64)
    accs = [[builder.phi(vty) for _ in range(nv)] for _ in range(rows)]
    b_row = builder.gep(b_ptr, [builder.mul(p, b_sp)])
    b_vec = [
        builder.load(builder.bitcast(builder.gep(b_row, [ir.Constant(I64, j * vty.count)]), vptr), align=align)
        for j in range(nv)
    ]
    a_row = builder.gep(a_ptr, [builder.mul(p, a_sp)])
    new = []
    for i in range(rows):
        a_i = splat(builder, vty, builder.load(builder.gep(a_row, [a_offsets[i]])))
        new.append([builder.call(fma, [a_i, b_vec[j], accs[i][j]]) for j in range(nv)])
    if ahead is not None:
        ahead_ptrs, ahead_sp, locality = ahead
        for ahead_ptr in ahead_ptrs:
            _prefetch(builder, builder.gep(ahead_ptr, [builder.mul(p, ahead_sp)]), locality)
    p_next = builder.add(p, ir.Constant(I64, 1))
    loop_end = builder.block
    builder.cbranch(builder.icmp_signed("<", p_next, kc_v), loop, tail)
    p.add_incoming(ir.Constant(I64, 0), entry)
    p.add_incoming(p_next, loop_end)
    builder.position_at_end(tail)
    totals = [[builder.phi(vty) for _ in range(nv)] for _ in range(rows)]  # phis first in the block
    for i in range(rows):
        for j in range(nv):
            accs[i][j].add_incoming(zero, entry)
            accs[i][j].add_incoming(new[i][j], loop_end)
            totals[i][j].add_incoming(zero, entry)
            totals[i][j].add_incoming(new[i][j], loop_end)
    for i, row in enumerate(c_rows):
        for j in range(nv):
            ptr = builder.bitcast(builder.gep(row, [ir.Constant(I64, j * vty.count)]), vptr)
            old = builder.load(ptr, align=align)
            builder.store(builder.select(add, builder.fadd(old, totals[i][j]), totals[i][j]), ptr, align=align)


@intrinsic(prefer_literal=True)  # ``level`` is typed by its value
def micro_kernel(
    typingctx,
    rows,
    kc,
    ap,
    aoff,
    a_si,
    a_sp,
    bp,
    boff,
    b_sp,
    c,
    coff,
    ldc,
    accumulate,
    tile,
    ahead,
    ahead_off,
    ahead_sp,
    level,
):
    """C[coff : ``rows`` rows of ldc, NR cols] (+)= A . B over kc steps, NR and MR of ``tile``.

    ``rows`` (1..MR) selects one of MR specialised tiles (edge strips compute only the rows
    they have). A(i, p) = ap[aoff + i*a_si + p*a_sp], B(p, j) = bp[boff + p*b_sp + j]: packed
    buffers, or a row-major operand read in place. ``c`` is a 1-D view of C (the last strip of a
    panel goes to ``edge_kernel``); ``accumulate`` selects += over =. Step p also prefetches
    ahead[ahead_off + p*ahead_sp] (B packed next, FETCH_AHEAD, or read in place later, IN_PLACE_AHEAD),
    for each offset when ``ahead_off`` is a tuple, into the cache level ``level`` names, a literal
    (``llvm.prefetch``'s locality: 3 L1, 2 L2; FETCH_LOCALITY); ``ahead`` None fetches nothing (all
    compile-time choices, by type).
    """

    def codegen(context, builder, sig, args):
        rows_v, kc_v, _, _, a_si, a_sp, _, _, b_sp, _, _, ldc_v, acc_v = args[:13]
        mr, nr = _tile(sig.args[2].dtype, sig.args[13])
        a_ptr, b_ptr, c_ptr = (_at_offset(context, builder, sig, args, k) for k in (2, 6, 9))
        ahead = None  # (pointers, stride, locality) of the lines to fetch, a compile-time choice
        if sig.args[14] != types.none:
            offsets, kind = args[15], sig.args[15]
            if isinstance(kind, types.BaseTuple):
                offsets = [
                    context.cast(builder, builder.extract_value(offsets, i), kind[i], types.intp)
                    for i in range(len(kind))
                ]
            else:
                offsets = [_intp(context, builder, sig, args, 15)]
            ahead = (
                [_element_ptr(context, builder, sig.args[14], args[14], [o]) for o in offsets],
                _intp(context, builder, sig, args, 16),
                sig.args[17].literal_value,
            )
        vty, align = _vector(context, sig.args[2])
        fma = fma_function(builder.module, vty)
        add = builder.icmp_signed("!=", acc_v, ir.Constant(acc_v.type, 0))
        done = builder.append_basic_block("uk.done")
        switch = builder.switch(rows_v, done)
        for r in range(1, mr + 1):
            block = builder.append_basic_block(f"uk.rows{r}")
            switch.add_case(ir.Constant(rows_v.type, r), block)
            builder.position_at_end(block)
            _emit_tile(builder, vty, fma, r, nr, kc_v, a_ptr, a_si, a_sp, b_ptr, b_sp, c_ptr, ldc_v, add, align, ahead)
            builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    operands = (rows, kc, ap, aoff, a_si, a_sp, bp, boff, b_sp, c, coff, ldc, accumulate, tile)
    return types.void(*operands, ahead, ahead_off, ahead_sp, level), codegen


@intrinsic
def edge_kernel(typingctx, rows, vectors, kc, ap, aoff, a_si, a_sp, bp, boff, b_sp, c, coff, ldc, accumulate, tile):
    """C[coff : ``rows`` rows of ldc, first ``vectors`` vectors] (+)= A . B over kc steps, for the last strip of a
    panel (fewer than NR valid columns); A, B (B(p, j) = bp[boff + p*b_sp + j]) and ``accumulate`` as in
    ``micro_kernel``.

    ``vectors`` (1..NR/W, run-time) selects one of MR x NR/W specialised tiles: only the vectors that hold
    valid columns are computed. The full-width tile ran NR columns of FMAs for the edge's few: at float32
    N = 2500 (a 64-wide AVX-512 strip for 4 columns) 2.4 % of all FMAs, and the product ran as slowly as
    N = 2560 did. Where the strip's columns fill whole vectors the caller passes C itself (and B read in
    place where the other strips are); otherwise a scratch tile, whose valid columns it then copies.
    """

    def codegen(context, builder, sig, args):
        kc_v, a_si, a_sp, b_sp, ldc_v, acc_v = args[2], args[5], args[6], args[9], args[12], args[13]
        mr, nr = _tile(sig.args[3].dtype, sig.args[14])
        a_ptr, b_ptr, c_ptr = (_at_offset(context, builder, sig, args, k) for k in (3, 7, 10))
        vty, align = _vector(context, sig.args[3])
        fma = fma_function(builder.module, vty)
        nv = nr // vty.count
        rows_v, vectors_v = _intp(context, builder, sig, args, 0), _intp(context, builder, sig, args, 1)
        which = builder.add(builder.mul(rows_v, ir.Constant(I64, nv)), vectors_v)
        add = builder.icmp_signed("!=", acc_v, ir.Constant(acc_v.type, 0))
        operands = (kc_v, a_ptr, a_si, a_sp, b_ptr, b_sp, c_ptr, ldc_v, add, align, None)
        done = builder.append_basic_block("edge.done")
        switch = builder.switch(which, done)
        for r in range(1, mr + 1):
            for v in range(1, nv + 1):
                block = builder.append_basic_block(f"edge.rows{r}x{v}")
                switch.add_case(ir.Constant(I64, r * nv + v), block)
                builder.position_at_end(block)
                _emit_tile(builder, vty, fma, r, v * vty.count, *operands)
                builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    operands = (rows, vectors, kc, ap, aoff, a_si, a_sp, bp, boff, b_sp, c, coff, ldc, accumulate, tile)
    return types.void(*operands), codegen


def _element_ptr(context, builder, ty, value, indices):
    """Pointer to ``value[indices]`` (any layout, no bounds check: callers stay in range)."""
    ary = context.make_array(ty)(context, builder, value)
    return cgutils.get_item_pointer(context, builder, ty, ary, indices, wraparound=False)


def _at_offset(context, builder, sig, args, k):
    """Pointer to the element of array argument ``k`` at the offset that argument ``k + 1`` holds."""
    return _element_ptr(context, builder, sig.args[k], args[k], [_intp(context, builder, sig, args, k + 1)])


def _vector(context, array_type):
    """(VECTOR_BITS-wide LLVM vector of ``array_type``'s elements, the element's alignment in bytes): the
    unit every intrinsic here loads, computes and stores in."""
    vty = vector_type(context.get_value_type(array_type.dtype), VECTOR_BITS)
    return vty, vty.element.get_abi_size(context.target_data)


def _intp(context, builder, sig, args, k):
    """Argument ``k`` (an integer) as an intp value."""
    return context.cast(builder, args[k], sig.args[k], types.intp)


def _transposer(which: int):
    """An intrinsic ``(src, i, j, dst, off, tile)`` writing dst[off + q*R + r] = src[i + r, j + q] for
    r < R, q < W, with R = the tile's MR (``which`` 0) or NR (1): R rows of a matrix whose rows
    are contiguous, turned into step-major packed order by R vector loads, one wide shuffle
    and one wide store (LLVM lowers the shuffle to register permutes: several times faster
    than element copies, which LLVM leaves scalar here)."""

    @intrinsic
    def transpose(typingctx, src, i, j, dst, off, tile):
        def codegen(context, builder, sig, args):
            src_v, _, _, dst_v, _, _ = args
            off_v = _intp(context, builder, sig, args, 4)
            count = _tile(sig.args[0].dtype, sig.args[5])[which]
            vty, align = _vector(context, sig.args[0])
            w = vty.count
            i_v, j_v = _intp(context, builder, sig, args, 1), _intp(context, builder, sig, args, 2)
            rows = [
                builder.load(
                    builder.bitcast(
                        _element_ptr(
                            context, builder, sig.args[0], src_v, [builder.add(i_v, ir.Constant(I64, r)), j_v]
                        ),
                        vty.as_pointer(),
                    ),
                    align=align,
                )
                for r in range(count)
            ]
            wide = _concat(builder, rows)  # row r at lanes [r*W, (r+1)*W)
            mask = [r * w + q for q in range(w) for r in range(count)]
            out = builder.shuffle_vector(
                wide, ir.Constant(wide.type, ir.Undefined), ir.Constant(ir.VectorType(I32, count * w), mask)
            )
            dst_ptr = _element_ptr(context, builder, sig.args[3], dst_v, [off_v])
            builder.store(out, builder.bitcast(dst_ptr, out.type.as_pointer()), align=align)
            return context.get_dummy_value()

        return types.void(src, i, j, dst, off, tile), codegen

    return transpose


transpose_mr = _transposer(0)
transpose_nr = _transposer(1)


@intrinsic
def copy_nr(typingctx, src, i, j, dst, off, tile):
    """dst[off : off+NR] = src[i, j : j+NR] (a contiguous row segment) in NR/W vector moves:
    the packing of row-major B, which LLVM otherwise copies one element at a time."""

    def codegen(context, builder, sig, args):
        src_v, _, _, dst_v, _, _ = args
        i_v, j_v, off_v = (_intp(context, builder, sig, args, k) for k in (1, 2, 4))
        nr = _tile(sig.args[0].dtype, sig.args[5])[1]
        vty, align = _vector(context, sig.args[0])
        s_ptr = _element_ptr(context, builder, sig.args[0], src_v, [i_v, j_v])
        d_ptr = _element_ptr(context, builder, sig.args[3], dst_v, [off_v])
        for q in range(0, nr, vty.count):
            value = builder.load(
                builder.bitcast(builder.gep(s_ptr, [ir.Constant(I64, q)]), vty.as_pointer()), align=align
            )
            builder.store(
                value, builder.bitcast(builder.gep(d_ptr, [ir.Constant(I64, q)]), vty.as_pointer()), align=align
            )
        return context.get_dummy_value()

    return types.void(src, i, j, dst, off, tile), codegen


def _concat(builder, vectors):
    """One vector holding ``vectors`` (all W wide) back to back; padded to a power-of-two count
    with undefined vectors so that every level concatenates two equal halves."""
    vectors = list(vectors)
    undef = ir.Constant(vectors[0].type, ir.Undefined)
    while len(vectors) & (len(vectors) - 1):
        vectors.append(undef)
    while len(vectors) > 1:
        n = vectors[0].type.count
        mask = ir.Constant(ir.VectorType(I32, 2 * n), list(range(2 * n)))
        vectors = [builder.shuffle_vector(vectors[j], vectors[j + 1], mask) for j in range(0, len(vectors), 2)]
    return vectors[0]


@njit(cache=True, nogil=True)
def pack_a(a, ic, mc, pc, kc, buf, tile):
    """A[ic:ic+mc, pc:pc+kc] -> MR-tall strips: buf[s*kc*MR + p*MR + i] = A[ic+s*MR+i, pc+p].

    Full strips of a row-major A go W columns at a time through a vector transpose; the
    rest element by element.
    """
    mr = tile_mr(buf, tile)  # a compile-time constant: the inner loop unrolls
    w = tile_w(buf)
    rows_contiguous = a.strides[1] == a.itemsize
    for s in range((mc + mr - 1) // mr):
        base, r0 = s * kc * mr, ic + s * mr
        rows = min(mr, mc - s * mr)
        start = 0
        if rows == mr and rows_contiguous:
            start = kc - kc % w
            for p in range(0, start, w):
                transpose_mr(a, r0, pc + p, buf, base + p * mr, tile)
        for p in range(start, kc):  # no zero padding: a strip of fewer rows runs a tile of that many rows
            for i in range(rows):
                buf[base + p * mr + i] = a[r0 + i, pc + p]


@njit(cache=True, nogil=True)
def pack_b(b, pc, kc, jc, nc, s0, s1, buf, first, tile, rows):
    """Strips s0..s1 of B[pc:pc+kc, jc:jc+nc] -> buf[(s-first)*kc*NR + p*NR + j], zero-padded to NR columns.

    Row-major B is read ``rows`` rows at a time (ROW_GROUP, or ``jit_row_group``), a row segment of each
    across all strips of the range, so the reads stream, and copied in vector moves; column-major B (a
    transposed operand) goes through the vector transpose, W steps of one strip at a time. Full strips
    take these fast paths; only the panel's last strip can be partial.
    """
    nr = tile_nr(buf, tile)
    w = tile_w(buf)
    full = min(s1, max(s0, nc // nr))  # strips s0..full are full width
    if b.strides[1] == b.itemsize:
        for p0 in range(0, kc, rows):
            p1 = min(p0 + rows, kc)
            for s in range(s0, full):
                for p in range(p0, p1):
                    copy_nr(b, pc + p, jc + s * nr, buf, (s - first) * kc * nr + p * nr, tile)
    elif b.strides[0] == b.itemsize:
        bt = b.T  # row-major view of the stored matrix
        edge = kc - kc % w
        for s in range(s0, full):
            j0, o = jc + s * nr, (s - first) * kc * nr
            for p in range(0, edge, w):
                transpose_nr(bt, j0, pc + p, buf, o + p * nr, tile)
            for p in range(edge, kc):
                for j in range(nr):
                    buf[o + p * nr + j] = bt[j0 + j, pc + p]
    else:
        full = s0
    for s in range(full, s1):  # the partial last strip (or any strip of a strided B)
        cols = min(nr, nc - s * nr)
        for p in range(kc):
            o = (s - first) * kc * nr + p * nr
            for j in range(nr):
                buf[o + j] = b[pc + p, jc + s * nr + j] if j < cols else 0


# The argument lists of this njit kernel read best packed, as at its call below.
# fmt: off
@njit(cache=True, nogil=True)
def _block(a, a_flat, b, b_flat, c, flat_c, ic, mc, pc, kc, jc, s0, s1, nc, bbuf, abuf, bjit, scratch, pack_b_here,
           group, pack_rows, direct_a, direct_b, next_strip, tile, level):
    """One thread's share: rows ic..ic+mc of C against B strips s0..s1 of the panel at jc.

    A is packed into MR-tall strips unless ``direct_a`` (row-major A, narrow B: each A value
    is used so few times that packing costs more than it saves). MR and NR are ``tile``'s;
    ``scratch`` holds an edge tile of C. B strips come packed by the
    caller into ``bbuf``, are packed here just before use (``pack_b_here``: no other thread
    needs them) into this thread's ``bjit``, ``group`` strips at a time, ``pack_rows`` rows of B
    a pass (``jit_row_group``), or are read in place (``direct_b``: row-major B, very short A).
    ``bjit`` is reused for every group, so it stays in L2: packing each group into fresh memory (its place
    in a panel-sized buffer) cost a memory read for ownership of every line written, 5-8 % of 128x4096x4096.
    While one group is multiplied, its calls fetch the next group's rows of B (``fetches_group_ahead``,
    ``_next_group``): one or two lines of each row per call (``_fetch_share``). Short strips reading
    B in place fetch their own rows ahead (``rows_ahead_in_place``), and with ``next_strip`` the next strip's
    lines of each row too (``fetches_next_strip``). Each fetch fills the cache level ``level`` names (a literal:
    ``fetch_level``).
    """
    literally(level)  # a build per level, called from Python too (the tests)
    mr, nr = tile_mr(abuf, tile), tile_nr(abuf, tile)
    lda, ldb, ldc = a.shape[1], b.shape[1], c.shape[1]
    if not direct_a:
        pack_a(a, ic, mc, pc, kc, abuf, tile)
    first = pc == 0
    fetching = pack_b_here and fetches_group_ahead(b_flat.size * b.itemsize, a.shape[0], tile_is_wide(tile))
    ahead_at, ahead_lines, line = 0, 0, 64 // b.itemsize
    ahead_rows = rows_ahead_in_place(mc, mr, b_flat.size * b.itemsize, ldb * b.itemsize, next_strip) if direct_b else 0
    for s in range(s0, s1):
        j = s * nr
        cols = min(nr, nc - j)
        in_place = direct_b and cols == nr
        b_at = pc * ldb + jc + j  # the strip's first element in row-major B, where it is read in place
        if pack_b_here:
            if (s - s0) % group == 0:
                pack_b(b, pc, kc, jc, nc, s, min(s + group, s1), bjit, s, tile, pack_rows)
                if fetching:
                    ahead_at, ahead_lines = _next_group(ldb, b.shape[0], pc, kc, jc, nc, s, s0, s1, nr, b.itemsize,
                                                        group)
            bsrc, boff = bjit, (s - s0) % group * kc * nr
        else:
            bsrc, boff = bbuf, s * kc * nr
        for t in range((mc + mr - 1) // mr):
            i = t * mr
            rows = min(mr, mc - i)
            fetch_at, fetch_n = _fetch_share((s - s0) % group, t, mc, mr, ahead_lines, group) if fetching else (0, 0)
            off, acc = (ic + i) * ldc + jc + j, not first  # the tile's first element in flat_c; += or =
            if cols < nr:
                _edge(a, a_flat, abuf, b, b_flat, bsrc, c, flat_c, scratch, direct_a, direct_b, ic + i, t, rows, cols,
                      pc, kc, jc + j, b_at, boff, off, acc, tile)
                continue
            # Several call sites rather than one with variable strides: each inlined copy of the
            # micro-kernel gets the strides of packed operands as constants (A: 1 and MR; B: NR), and
            # fetches ahead or not (and how many lines) as its arguments' types say.
            if direct_a and in_place:
                # fmt: off
                micro_kernel(rows, kc, a_flat, (ic + i) * lda + pc, lda, 1, b_flat, b_at, ldb, flat_c, off, ldc, acc,
                             tile, None, 0, 0, 0)
                # fmt: on
            elif direct_a:
                micro_kernel(rows, kc, a_flat, (ic + i) * lda + pc, lda, 1, bsrc, boff, nr, flat_c, off, ldc, acc, tile,
                             None, 0, 0, 0)
            elif in_place and ahead_rows and next_strip:
                # As below, and the next strip's two lines of the row this step reads (past the panel, or B's
                # last column, at the last strip: a hint all the same).
                at = b_at + ahead_rows * ldb
                micro_kernel(rows, kc, abuf, t * kc * mr, 1, mr, b_flat, b_at, ldb, flat_c, off, ldc, acc, tile,
                             b_flat, (at, at + line, b_at + nr, b_at + nr + line), ldb, level)
            elif in_place and ahead_rows:
                # Both lines of the row ahead_rows steps on in the order the strip reads B: down this strip, and
                # in its last ahead_rows steps the first rows of the next strip, which the next call reads first
                # (IN_PLACE_AHEAD; such A is one strip). Two calls, the second adding to the first's tile. At the
                # last strip those point past the thread's share, or past B: harmless, a prefetch is a hint that
                # never faults (and the address carries no in-bounds promise).
                head = max(kc - ahead_rows, 0)
                if head:
                    at = b_at + ahead_rows * ldb
                    micro_kernel(rows, head, abuf, t * kc * mr, 1, mr, b_flat, b_at, ldb, flat_c, off, ldc, acc,
                                 tile, b_flat, (at, at + line), ldb, level)
                at = b_at + nr + (head + ahead_rows - kc) * ldb
                micro_kernel(rows, kc - head, abuf, t * kc * mr + head * mr, 1, mr, b_flat, b_at + head * ldb, ldb,
                             flat_c, off, ldc, acc or head > 0, tile, b_flat, (at, at + line), ldb, level)
            elif in_place:
                micro_kernel(rows, kc, abuf, t * kc * mr, 1, mr, b_flat, b_at, ldb, flat_c, off, ldc, acc, tile,
                             None, 0, 0, 0)
            elif fetch_n == 2:
                # The call walks its lines of the next group's rows of B (kc rows, ldb apart), a line (or two)
                # a k step: B's fetch from memory overlaps this group's FMAs instead of stalling its packing.
                at = ahead_at + fetch_at * line
                micro_kernel(rows, kc, abuf, t * kc * mr, 1, mr, bsrc, boff, nr, flat_c, off, ldc, acc, tile, b_flat,
                             (at, at + line), ldb, level)
            elif fetch_n == 1:
                micro_kernel(rows, kc, abuf, t * kc * mr, 1, mr, bsrc, boff, nr, flat_c, off, ldc, acc, tile, b_flat,
                             ahead_at + fetch_at * line, ldb, level)
            else:
                micro_kernel(rows, kc, abuf, t * kc * mr, 1, mr, bsrc, boff, nr, flat_c, off, ldc, acc, tile,
                             None, 0, 0, 0)


# fmt: on


# fmt: off
@njit(cache=True, nogil=True)
def _edge(a, a_flat, abuf, b, b_flat, bsrc, c, flat_c, scratch, direct_a, direct_b, i, t, rows, cols, pc, kc, j, b_at,
          boff, off, acc, tile):
    """The tile of rows i..i+rows of C on the last strip of a panel, columns j..j+cols (fewer than NR), in
    ``edge_kernel``; A as ``_block`` reads it (in place, or its packed strip ``t``), B packed at ``boff``.

    Columns that fill whole vectors go straight into C, and read B in place where the panel's full strips do
    (``direct_b``: ``gemm`` then does not pack this strip). A part-filled vector goes through ``scratch``: B's
    last row would be read past its end, and C's row past its last column. Float32 256x96x7168 (a 64-wide
    strip and one of 32 columns) had its edge packed element by element and copied into C the same way: in
    process, one thread, on Zen 4, the direct edge ran it 52 % faster (ROW_SPLIT_MIN_M has two threads).
    These calls fetch nothing ahead; their share of the next group's lines is left to its packing (a few
    lines a panel).
    """
    mr, nr, w = tile_mr(abuf, tile), tile_nr(abuf, tile), tile_w(abuf)
    lda, ldb, ldc = a.shape[1], b.shape[1], c.shape[1]
    whole = cols % w == 0
    ap, aoff, a_si, a_sp = abuf, t * kc * mr, 1, mr
    if direct_a:
        ap, aoff, a_si, a_sp = a_flat, i * lda + pc, lda, 1
    bp, bo, b_sp = bsrc, boff, nr
    if direct_b and whole:
        bp, bo, b_sp = b_flat, b_at, ldb
    if whole:
        edge_kernel(rows, cols // w, kc, ap, aoff, a_si, a_sp, bp, bo, b_sp, flat_c, off, ldc, acc, tile)
        return
    edge_kernel(rows, cols // w + 1, kc, ap, aoff, a_si, a_sp, bp, bo, b_sp, scratch, 0, nr, False, tile)
    for r in range(rows):
        for q in range(cols):
            if acc:
                c[i + r, j + q] += scratch[r * nr + q]
            else:
                c[i + r, j + q] = scratch[r * nr + q]


# fmt: on


@njit(cache=True, nogil=True)
def _fetch_share(strip, t, mc, mr, lines, group):
    """(first line, how many) of the next group's ``lines`` lines a row that the call on strip ``t`` of A
    (``mc`` rows, MR a strip) and the group's ``strip``-th strip of B fetches; (0, 0) for none.

    The calls of a group take its successor's lines in turn, strip of B by strip, then strip of A by strip.
    Strips of A under 2/3 MR do not fetch (the 4 rows of A 16 tall lost 8 %: a line per 8 FMAs). When the
    group has more lines than fetching calls (one strip of A, M = 8-16: 8 calls, 16 lines) and those strips
    are full, each call takes two adjacent lines a k step (one per 12 FMAs of a 12 x 16 float64 tile), so
    the whole group is fetched; a shorter strip keeps to one line and half the group is (two lines a call
    at M = 8 lost 3-6 % where B's rows are a multiple of 32 KiB apart, and gained as much elsewhere).
    """
    rows = min(mr, mc - t * mr)
    walkers = mc // mr + (1 if 3 * (mc % mr) >= 2 * mr else 0)  # strips of A whose calls fetch
    if 3 * rows < 2 * mr:
        return 0, 0
    per = 2 if lines > group * walkers and walkers == mc // mr else 1  # two: every fetching strip is full
    first = (strip * walkers + t) * per
    return first, max(0, min(per, lines - first))


@njit(cache=True, nogil=True)
def _next_group(ldb, k, pc, kc, jc, nc, s, s0, s1, nr, itemsize, group):
    """Where in row-major B (offset of its first element, 64-byte lines of each row) the group of strips
    that ``_block`` packs after the one at strip ``s`` lies: the next ``group`` strips of this thread's
    range s0..s1 at the same kc rows, else its first group at the next kc rows when those are kc rows
    too. Only full strips count (a partial last strip is packed element by element, so it is not worth
    fetching); (0, 0) when nothing follows in this panel."""
    full = min(s1, nc // nr)
    nxt = s + group
    if nxt < s1:
        return pc * ldb + jc + nxt * nr, max(0, min(nxt + group, full) - nxt) * nr * itemsize // 64
    if pc + 2 * kc <= k:
        return (pc + kc) * ldb + jc + s0 * nr, max(0, min(s0 + group, full) - s0) * nr * itemsize // 64
    return 0, 0


@njit(cache=True, nogil=True)
def _split(m, k, nc, nr, mc_max, nthreads, own):
    """(row blocks, column chunks, tail strips): an equal share of C for every thread, for a panel of ``nc``
    columns in NR-wide strips of an m x n x k product.

    ``own`` (``own_rows``): one row block a thread, each packing all of B for itself.

    A that fits one row block is shared by all threads, which split the B strips instead (each packs its
    own strips just in time). Where the strips do not divide evenly, A has ROW_SPLIT_MIN_M rows or more
    and the panel ROW_SPLIT_MIN_WORK multiply-adds, rows are split too: B of fewer strips than twice the
    threads (or of as many, the last partial) gives each thread a row block (B packed once, together); more
    strips give each thread an equal number of whole strips and a row block of the ``tail`` strips left
    over (each thread packs those too). Taller A is cut into a multiple of the thread count of row blocks
    of at most mc_max rows; blocks are whole MR strips and differ by at most one strip (rounding every block
    up to MR rows instead left the last thread up to 10 % short of work at 2 threads).
    """
    strips = (nc + nr - 1) // nr
    if own:
        return nthreads, 1, 0
    if m > max(mc_max, SHORT_A):
        return nthreads * ((m + nthreads * mc_max - 1) // (nthreads * mc_max)), 1, 0
    chunks = max(1, min(strips, nthreads))
    if m < ROW_SPLIT_MIN_M or m * nc * k < ROW_SPLIT_MIN_WORK or nthreads == 1:
        return 1, chunks, 0
    if strips < 2 * nthreads and (strips % nthreads or (strips == nthreads and nc % nr)):
        return nthreads, 1, 0
    return 1, chunks, strips % nthreads


@njit(cache=True, nogil=True)
def _rows(m, mr, blocks, ib):
    """First row and row count of row block ``ib`` of ``blocks`` (whole MR strips, balanced)."""
    strips = (m + mr - 1) // mr
    lo, hi = ib * strips // blocks * mr, (ib + 1) * strips // blocks * mr
    return lo, min(hi, m) - lo


@njit(cache=True)
def own_rows(m, mr, itemsize, b_bytes, nthreads):
    """Rows of the larger row block when each of two threads takes a row block of A's ``m`` rows and packs all of
    B (``b_bytes``, row-major or stored transposed; pass 0 when B is read in place) for itself (OWN_ROWS_MIN_B);
    0 where A's row blocks share panels of B, or A is one row block (short A, or float32 of at most PANEL_BLOCKS'
    MC rows). Other thread counts were not measured (a two-vCPU host)."""
    rows = ((m + mr - 1) // mr + 1) // 2 * mr  # the larger of _rows' two blocks in whole MR strips (505: 258, not 253)
    one_block = m <= max(SHORT_A, PANEL_MC[itemsize // 8])
    if nthreads != 2 or one_block or rows > OWN_ROWS_MAX[itemsize // 8] or b_bytes < OWN_ROWS_MIN_B:
        return 0
    return rows


@njit(cache=True)
def rows_ahead_in_place(m, mr, b_bytes, stride, next_strip):
    """How many rows ahead A of ``m`` rows (MR-row tiles) reading B of ``b_bytes``, rows ``stride`` bytes
    apart, in place fetches B as it goes, or 0 for no fetch. Where it fetches it reads B in place even where
    it would otherwise pack it (IN_PLACE_AHEAD; from memory IN_PLACE_FROM_MEMORY, IN_PLACE_COLLIDE_AHEAD; not
    B of JIT_FETCH_MAX_B or more whose rows are wider than a page). A of MR/2 to 2/3 MR rows, or up to 2 MR
    rows where the strips also fetch the next strip (``next_strip``: ``fetches_next_strip``, IN_PLACE_KC)."""
    if not (FETCH_AHEAD and mr <= 2 * m and (3 * m <= 2 * mr or (next_strip and m <= 2 * mr))):
        return 0
    if b_bytes < B_FROM_MEMORY:
        return IN_PLACE_AHEAD
    if not IN_PLACE_FROM_MEMORY or (b_bytes >= JIT_FETCH_MAX_B and stride > PAGE):
        return 0
    return IN_PLACE_COLLIDE_AHEAD if stride % B_COLLIDE_STRIDE == 0 else IN_PLACE_AHEAD


@njit(cache=True)
def fetches_next_strip(b_bytes, nthreads):
    """Whether a strip reading B of ``b_bytes`` in place with its rows fetched ahead (``rows_ahead_in_place``)
    fetches the next strip's lines of each row too: on one thread, from IN_PLACE_NEXT_STRIP_MIN_B."""
    return nthreads == 1 and b_bytes >= IN_PLACE_NEXT_STRIP_MIN_B


@njit(cache=True)
def jit_row_group(stride, wide):
    """Rows of row-major B, rows ``stride`` bytes apart, that a thread packing it just in time into wide
    (``wide``) or tall strips reads a pass: JIT_ROW_GROUP for wide strips within JIT_ROW_GROUP_BYTES, save rows
    a multiple of B_COLLIDE_STRIDE apart; ROW_GROUP otherwise."""
    low, high = JIT_ROW_GROUP_BYTES
    return JIT_ROW_GROUP if wide and low <= stride < high and stride % B_COLLIDE_STRIDE else ROW_GROUP


@njit(cache=True)
def fetch_level(b_bytes, packed_just_in_time):
    """The cache level (``llvm.prefetch``'s locality) that rows of B of ``b_bytes`` are fetched ahead into (see
    FETCH_LOCALITY). B packed just in time (a group ahead): FETCH_LOCALITY from memory (B_FROM_MEMORY),
    JIT_IN_L3_LOCALITY while B stays in L3. B read in place (rows ahead): FETCH_LOCALITY from memory where such
    B is fetched ahead at all (IN_PLACE_FROM_MEMORY), else L1; Zen 4 so keeps the one build of ``_block`` its
    in-place rules were measured with."""
    from_memory = b_bytes >= B_FROM_MEMORY
    if packed_just_in_time:
        return FETCH_LOCALITY if from_memory else JIT_IN_L3_LOCALITY
    return FETCH_LOCALITY if from_memory and IN_PLACE_FROM_MEMORY else LOCALITY_L1


@njit(cache=True)
def fetches_group_ahead(b_bytes, m, wide):
    """Whether a thread packing row-major B of ``b_bytes`` just in time for A of ``m`` rows, in wide (``wide``)
    or tall strips, fetches each next group ahead while it multiplies the current one (FETCH_AHEAD, under
    JIT_FETCH_MAX_B; short A: a thread's own rows of taller A, ``own_rows``, fetch nothing; WIDE_FETCHES_GROUP)."""
    return FETCH_AHEAD and 0 < b_bytes < JIT_FETCH_MAX_B and m <= SHORT_A and (WIDE_FETCHES_GROUP or not wide)


@njit(cache=True)
def in_place(m, n, k, mr, itemsize, a_row_major, b_row_major, threads):
    """(read A in place, read B in place) for an m x n x k product with MR-row tiles on ``threads`` threads
    (each reads its share of B's columns): where packing would cost more than it saves."""
    direct_a = a_row_major and n <= DIRECT_A_MAX_N and mr <= DIRECT_A_MAX_MR
    stride = n * itemsize
    collide = stride % B_COLLIDE_STRIDE == 0 and stride > B_COLLIDE_STRIDE
    # From memory, B's rows exactly one PAGE apart make every k step read in place fetch a line at the same
    # offset of a new page: packing wins. Packed over in place, one thread: float64 16x512xK -18 % at 6 MiB
    # of B, level at 8 MiB, +23-27 % from 12 MiB; one strip, 12x512xK: -19 % at 12 MiB, +11 % at 16 MiB,
    # +20 % at 28 MiB; float32 16x1024x4096 +18 %, 8x1024x4096 +27 %. Other strides (2, 3, 5, 6, 8, 12,
    # 20 KiB) keep in place ahead at K = 7168 (+2 to +58 %). Strips that fetch their rows ahead from memory
    # (IN_PLACE_FROM_MEMORY) read them in place all the same: over packed, one thread (a Zen 5 EPYC), float64
    # 8x512x7168 +66 %, 8x512x16384 +63 %, 6x512x8192 +55 %, float32 8x1024x4096 +57 %; two threads +38-57 %.
    fetched = rows_ahead_in_place(m, mr, k * stride, stride, fetches_next_strip(k * stride, threads)) > 0
    from_memory = k * stride >= B_FROM_MEMORY
    page_stride = stride == PAGE and from_memory and not fetched
    streamed = PACK_STREAMED_B and from_memory
    rows_hide = DIRECT_B_MIN_M[itemsize // 8] <= m and not streamed  # the tile's FMAs cover each step's wait
    fetches_hidden = rows_hide or stride <= DIRECT_B_NARROW_ROW or fetched
    re_read = not collide and stride // threads <= REREAD_ROW_BYTES  # each thread re-reads its share of a row
    # A of two strips that fetch B ahead reads it once from memory: the second strip re-reads it from cache
    # (rows under IN_PLACE_TWO_STRIPS_MAX_ROW apart; IN_PLACE_SHORT_TAIL_MAX_ROW where that strip is 1-2 rows)
    short_tail = 0 < m - mr <= IN_PLACE_SHORT_TAIL_ROWS
    max_row = IN_PLACE_SHORT_TAIL_MAX_ROW[itemsize // 8] if short_tail else IN_PLACE_TWO_STRIPS_MAX_ROW
    fetched_re_read = fetched and stride < max_row
    short_a = fetches_hidden and m <= DIRECT_B_MAX_M and (m <= mr or re_read or fetched_re_read) and not page_stride
    return direct_a, b_row_major and (short_a or n <= DIRECT_B_MAX_N)


def shares(m: int, n: int, k: int, nr: int, mc: int, nc: int, threads: int, own: bool) -> tuple[int, int, int]:
    """Row blocks, column chunks and tail strips of C's first panel that ``gemm`` gives ``threads`` threads
    (``_split``; ``own``: ``own_rows``). One share (64^3 float32: one 64-wide strip of B) runs the serial
    build: it would leave the second thread idle and the launch of the parallel region pure cost, 7.7 us
    against 5.8 us serial here."""
    return _split(m, k, min(n, nc), nr, mc, threads, own)


def tile_for(m: int, n: int, k: int, dtype: str, b_row_major: bool, threads: int) -> Tile:
    """The tile kind for an ``m`` x ``n`` x ``k`` product of ``dtype`` on ``threads`` threads, B stored row-major
    (``b_row_major``) or transposed (see TILES, TALL_WIDE_B, SHORT_WIDE_MIN_M). Decided once, in ``prepare``:
    ``workspace`` and the compiled GEMM follow the tile they are given."""
    max_m, min_n = TALL_WIDE_B
    if not (m <= TALL_MAX_M or (m <= max_m and n >= min_n)):
        return Tile("wide")
    if not (SHORT_WIDE_MIN_M <= m <= TALL_MAX_M and b_row_major):
        return Tile("tall")
    tall_reads_b = in_place(m, n, k, TILES["tall"][dtype][0], np.dtype(dtype).itemsize, False, True, threads)[1]
    return Tile("tall" if tall_reads_b else "wide")


def row_major_view(x: np.ndarray) -> np.ndarray:
    """A 1-D view of ``x`` when it is row-major (C-contiguous), else an empty array of its dtype.

    Made in compiled code (the overload below), so a call passes each operand once: two more array
    arguments cost about 60 ns of a 5 us 64^3 product (``docs/examples/numba_call_cost.py``).
    """
    return x.reshape(-1) if x.flags.c_contiguous else np.empty(0, dtype=x.dtype)


@overload(row_major_view)
def _row_major_view(x):
    # Numba types an array 'C' exactly when its flags say C-contiguous, so the layout decides at compile time.
    if x.layout == "C":
        return lambda x: x.reshape(x.size)
    return lambda x: np.empty(0, x.dtype)


def _twins(func, **flags) -> dict:
    """``{parallel: func compiled with (True) or without (False) Numba's thread pool}``.

    One thread gains nothing from a parallel region and pays for its launch: about 1 us a
    call here, a sixth of a 64^3 float32 product; a serial build's loops also vectorise at
    least as well (the GEMV ran 1-8 % faster serial at one thread). Each build gets its own
    name, hence its own on-disk cache entry.
    """
    builds = {}
    for parallel in (True, False):
        twin = FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
        twin.__name__ = twin.__qualname__ = func.__name__ + ("" if parallel else "_serial")
        twin.__doc__ = func.__doc__
        builds[parallel] = njit(parallel=parallel, cache=True, **flags)(twin)
    return builds


def _gemm_source(kind: str):
    """The blocked GEMM for one tile kind (uncompiled: ``GEMMS`` holds its builds)."""
    tile = Tile(kind)  # a compile-time constant of the build
    wide = kind == "wide"

    def gemm(a, b, c, work, mc_max, kc_max, nc_max, group, nthreads, own):
        """C = A B (C row-major, contiguous). ``work`` comes from ``workspace``: nothing is allocated here.
        ``own``: one row block a thread, each packing all of B for itself (``own_rows``, which the caller
        passed to ``workspace`` too; B packed, not read in place).

        ``a_flat``/``b_flat``, 1-D views of row-major operands (``row_major_view``: empty when the
        operand is stored transposed), let very short A or narrow B skip packing.
        """
        a_flat, b_flat = row_major_view(a), row_major_view(b)
        m, k = a.shape
        n = b.shape[1]
        mr, nr = tile_mr(work, tile), tile_nr(work, tile)
        flat_c = c.reshape(m * n)
        bbuf = buffers(work, mc_max, kc_max, nc_max, group, 0, tile)[0]
        direct_a, direct_b = in_place(m, n, k, mr, a.itemsize, a_flat.size > 0, b_flat.size > 0, nthreads)
        # The level of either fetch (B read in place, or packed just in time by each thread: no other B fetches)
        to_l2 = fetch_level(b_flat.size * b.itemsize, not direct_b) == LOCALITY_L2
        next_strip = direct_b and fetches_next_strip(b_flat.size * b.itemsize, nthreads)
        pack_rows = jit_row_group(b.strides[0], wide)  # rows of B a pass, packed just in time
        for jc in range(0, n, nc_max):
            nc = min(nc_max, n - jc)
            strips = (nc + nr - 1) // nr
            blocks, chunks, tail = _split(m, k, nc, nr, mc_max, nthreads, own)
            body = strips - tail  # strips split among the chunks whole; the tail's rows are split among them
            groups = min(strips, 4 * nthreads)
            # Row blocks share every strip: pack the panel once, together (unless each packs its own: own_rows)
            shared_b = blocks > 1 and not (direct_b or own)
            pack_b_here = not (shared_b or direct_b)
            k_blocks = (k + kc_max - 1) // kc_max
            kc_even = (k + k_blocks - 1) // k_blocks  # equal rank-kc updates: no thin last one
            # Each thread packing its own strips of B runs every rank-kc update in one parallel region (its
            # strips and rows of C are its own: nothing to wait for between updates; UPDATES_IN_ONE_REGION, A of
            # one strip where ONE_STRIP_ONE_REGION, and row blocks of their own as measured: own_rows); otherwise
            # one region an update, after the packing the threads share.
            one_region = UPDATES_IN_ONE_REGION or own or (ONE_STRIP_ONE_REGION and m <= mr)
            step = k if pack_b_here and one_region else kc_even
            for p0 in range(0, k, step):
                if shared_b:
                    for g in prange(groups):
                        g0, g1 = g * strips // groups, (g + 1) * strips // groups
                        pack_b(b, p0, min(kc_even, k - p0), jc, nc, g0, g1, bbuf, 0, tile, ROW_GROUP)
                elif direct_b and nc % nr % tile_w(work):  # B is read in place, but a last strip whose columns
                    # do not fill whole vectors cannot be (its last vector would read past B's end: _edge)
                    pack_b(b, p0, min(kc_even, k - p0), jc, nc, strips - 1, strips, bbuf, 0, tile, ROW_GROUP)
                for w in prange(blocks * chunks):
                    _, abuf, bjit, scratch = buffers(work, mc_max, kc_max, nc_max, group, get_thread_id(), tile)
                    ib, ch = w // chunks, w % chunks
                    for part in range(2 if tail else 1):  # this chunk's whole strips, then its rows of the tail
                        ic, mc = _rows(m, mr, blocks, ib) if part == 0 else _rows(m, mr, chunks, ch)
                        s0, s1 = (ch * body // chunks, (ch + 1) * body // chunks) if part == 0 else (body, strips)
                        for pc in range(p0, min(p0 + step, k), kc_even):
                            # Two call sites, a literal level each: two builds of _block with one call site each
                            # (one build with two sites lost 8-19 % on either site's shapes, B read in place
                            # ahead). Where FETCH_LOCALITY is L1 both pass L1: one build.
                            # fmt: off
                            if to_l2:
                                _block(a, a_flat, b, b_flat, c, flat_c, ic, mc, pc, min(kc_even, k - pc), jc, s0, s1,
                                       nc, bbuf, abuf, bjit, scratch, pack_b_here, group, pack_rows, direct_a,
                                       direct_b, next_strip, tile, FETCH_LOCALITY)
                            else:
                                _block(a, a_flat, b, b_flat, c, flat_c, ic, mc, pc, min(kc_even, k - pc), jc, s0, s1,
                                       nc, bbuf, abuf, bjit, scratch, pack_b_here, group, pack_rows, direct_a,
                                       direct_b, next_strip, tile, LOCALITY_L1)
                            # fmt: on

    gemm.__name__ = f"gemm_{kind}"
    return gemm


#: (parallel, tile kind) -> the compiled GEMM.
GEMMS = {(parallel, kind): f for kind in ("tall", "wide") for parallel, f in _twins(_gemm_source(kind)).items()}


@njit(cache=True, nogil=True, fastmath={"contract"})
def _add_rows_one_by_one(a, b, p0, p1, j0, j1, out):
    """``out[:] += sum(A[0, p] B[p, j0:j1] for p in p0..p1)``, a row of B at a time: the rows a multi-row
    pass leaves over."""
    n = j1 - j0
    for p in range(p0, p1):
        ap, row = a[0, p], b[p, j0:j1]
        for j in range(n):
            out[j] += ap * row[j]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _axpy_rows(a, b, p0, p1, j0, j1, out):
    """``out[:] = sum(A[0, p] B[p, j0:j1] for p in p0..p1)``, eight rows of B per pass over ``out`` (one load
    and one store of ``out`` for eight FMAs)."""
    n = j1 - j0
    out[:] = 0
    p8 = p1 - (p1 - p0) % 8
    for p in range(p0, p8, 8):
        a0, a1, a2, a3 = a[0, p], a[0, p + 1], a[0, p + 2], a[0, p + 3]
        a4, a5, a6, a7 = a[0, p + 4], a[0, p + 5], a[0, p + 6], a[0, p + 7]
        r0, r1, r2, r3 = b[p, j0:j1], b[p + 1, j0:j1], b[p + 2, j0:j1], b[p + 3, j0:j1]
        r4, r5, r6, r7 = b[p + 4, j0:j1], b[p + 5, j0:j1], b[p + 6, j0:j1], b[p + 7, j0:j1]
        for j in range(n):
            out[j] += (
                a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j] + a4 * r4[j] + a5 * r5[j] + a6 * r6[j] + a7 * r7[j]
            )
    _add_rows_one_by_one(a, b, p8, p1, j0, j1, out)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _axpy_each_row(a, b, p0, p1, out):
    """``out[:] = sum(A[0, p] B[p, :] for p in p0..p1)``, one whole row of B per pass."""
    out[:] = 0
    for p in range(p0, p1):
        ap, row = a[0, p], b[p]
        for j in range(out.size):
            out[j] += ap * row[j]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _axpy_four_rows(a, b, p0, p1, out):
    """``out[:] = sum(A[0, p] B[p, :] for p in p0..p1)``, four whole rows of B per pass."""
    out[:] = 0
    p4 = p1 - (p1 - p0) % 4
    for p in range(p0, p4, 4):
        a0, a1, a2, a3 = a[0, p], a[0, p + 1], a[0, p + 2], a[0, p + 3]
        r0, r1, r2, r3 = b[p], b[p + 1], b[p + 2], b[p + 3]
        for j in range(out.size):
            out[j] += a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j]
    _add_rows_one_by_one(a, b, p4, p1, 0, out.size, out)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _axpy_six_rows(a, b, p0, p1, j0, j1, out):
    """``_axpy_rows`` six rows of B per pass (a share of C's columns when B's rows are a whole number of pages
    apart, and whole rows read by one thread on AVX2: ``GEMV_SERIAL_ROWS``)."""
    n = j1 - j0
    out[:] = 0
    p6 = p1 - (p1 - p0) % 6
    for p in range(p0, p6, 6):
        a0, a1, a2, a3, a4, a5 = a[0, p], a[0, p + 1], a[0, p + 2], a[0, p + 3], a[0, p + 4], a[0, p + 5]
        r0, r1, r2, r3 = b[p, j0:j1], b[p + 1, j0:j1], b[p + 2, j0:j1], b[p + 3, j0:j1]
        r4, r5 = b[p + 4, j0:j1], b[p + 5, j0:j1]
        for j in range(n):
            out[j] += a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j] + a4 * r4[j] + a5 * r5[j]
    _add_rows_one_by_one(a, b, p6, p1, j0, j1, out)


@intrinsic
def gemv_pass(typingctx, out, b, a, p, rows, j):
    """``out[:v] += sum(A[0, p + r] B[p + r, j:j + v] for r < rows)`` over the whole vectors ``v`` of ``out``,
    ``rows`` 4 or 8 (a switch; other values do nothing), B's rows contiguous (row-major). Each vector of B
    read also fetches the line at the same place ``2 * rows`` rows further down into L2 (GEMV_AHEAD_ROWS: two
    passes ahead). Those addresses may lie past B's end, where a prefetch is a hint that never faults."""
    if not all(isinstance(x, types.Array) and x.layout == "C" and x.ndim == d for x, d in ((out, 1), (b, 2))):
        return None  # read and written as whole vectors: contiguous arrays only

    def codegen(context, builder, sig, args):
        out_v, b_v, a_v, _, rows_v, _ = args
        vty, align = _vector(context, sig.args[0])
        vptr, lanes = vty.as_pointer(), vty.count
        fma = fma_function(builder.module, vty)
        out_ary = context.make_array(sig.args[0])(context, builder, out_v)
        vectors = builder.sdiv(builder.extract_value(out_ary.shape, 0), ir.Constant(I64, lanes))
        p, j = _intp(context, builder, sig, args, 3), _intp(context, builder, sig, args, 5)

        def b_row(r):  # pointer to B[p + r, j]
            return _element_ptr(context, builder, sig.args[1], b_v, [builder.add(p, ir.Constant(I64, r)), j])

        done = builder.append_basic_block("gemv.done")
        switch = builder.switch(rows_v, done)
        for rows in (4, 8):
            block = builder.append_basic_block(f"gemv.rows{rows}")
            switch.add_case(ir.Constant(rows_v.type, rows), block)
            builder.position_at_end(block)
            b_rows = [b_row(r) for r in range(rows)]
            ahead = [b_row(r) for r in range(2 * rows, 3 * rows)]  # the rows two passes down
            coefs = [
                splat(builder, vty, builder.load(_element_ptr(context, builder, sig.args[2], a_v, [ZERO, q])))
                for q in (builder.add(p, ir.Constant(I64, r)) for r in range(rows))
            ]
            entry = builder.block
            loop = builder.append_basic_block(f"gemv.loop{rows}")
            builder.cbranch(builder.icmp_signed(">", vectors, ZERO), loop, done)
            builder.position_at_end(loop)
            v = builder.phi(I64)
            off = builder.mul(v, ir.Constant(I64, lanes))
            c_ptr = builder.bitcast(builder.gep(out_ary.data, [off]), vptr)
            acc = builder.load(c_ptr, align=align)
            for coef, row, later in zip(coefs, b_rows, ahead):
                b_vec = builder.load(builder.bitcast(builder.gep(row, [off]), vptr), align=align)
                acc = builder.call(fma, [coef, b_vec, acc])
                _prefetch(builder, builder.gep(later, [off]), LOCALITY_L2)
            builder.store(acc, c_ptr, align=align)
            v_next = builder.add(v, ir.Constant(I64, 1))
            loop_end = builder.block
            builder.cbranch(builder.icmp_signed("<", v_next, vectors), loop, done)
            v.add_incoming(ZERO, entry)
            v.add_incoming(v_next, loop_end)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return types.void(out, b, a, p, rows, j), codegen


@njit(cache=True, nogil=True, fastmath={"contract"})
def _axpy_rows_ahead(a, b, p0, p1, j0, j1, out, rows):
    """``out[:] = sum(A[0, p] B[p, j0:j1] for p in p0..p1)``, ``rows`` (4 or 8) rows of B a pass through
    ``gemv_pass`` (which fetches the rows two passes ahead into L2); the columns past its whole vectors
    right after each pass, while they are cached, and the rows a pass leaves over one by one."""
    n = j1 - j0
    out[:] = 0
    whole = n - n % tile_w(out)
    pr = p1 - (p1 - p0) % rows
    for p in range(p0, pr, rows):
        gemv_pass(out, b, a, p, rows, j0)
        if whole < n:
            _add_rows_one_by_one(a, b, p, p + rows, j0 + whole, j1, out[whole:])
    _add_rows_one_by_one(a, b, pr, p1, j0, j1, out)


@njit(cache=True)
def gemv_rows_ahead(n, k, itemsize, nthreads):
    """Rows of B a pass when ``nthreads`` threads read whole rows of B (``k`` x ``n``) through
    ``_axpy_rows_ahead``, else 0: GEMV_AHEAD_ROWS where set, B's bytes within GEMV_AHEAD_B and its rows (C's
    row) within GEMV_AHEAD_ROW_BYTES, each the pair for one thread or for several."""
    one = nthreads == 1
    rows = GEMV_AHEAD_ROWS[0] if one else GEMV_AHEAD_ROWS[1]
    low, high = GEMV_AHEAD_B[0] if one else GEMV_AHEAD_B[1]
    narrow, wide = GEMV_AHEAD_ROW_BYTES[0] if one else GEMV_AHEAD_ROW_BYTES[1]
    return rows if low <= k * n * itemsize < high and narrow < n * itemsize <= wide else 0


@njit(cache=True)
def gemv_rows_a_pass(n, k, itemsize, nthreads):
    """Rows of B a GEMV pass takes when ``nthreads`` threads read whole rows of B (``k`` x ``n``, contiguous)
    into rows of C ``n`` wide: ``gemv_rows_ahead``'s where it gives any (B then goes through
    ``_axpy_rows_ahead``); GEMV_MEMORY_ROWS where set and B is streamed from memory (several threads only
    while C's row fits GEMV_ONE_ROW_BYTES); else one while C's row fits GEMV_ONE_ROW_BYTES (B is then one
    sequential stream; for several threads while it fits GEMV_SPLIT_ONE_ROW_BYTES, 0 on Intel's AVX-512); for
    one thread four while the row fits GEMV_L3_FOUR_ROW_BYTES and B stays in L3 (AVX2), else GEMV_SERIAL_ROWS
    where it is not eight (six on AVX2); else four when the row is a whole number
    of pages from GEMV_FOUR_ROW_BYTES up (eight would collide in one L1 set), else eight (``_axpy_rows``)."""
    ahead = gemv_rows_ahead(n, k, itemsize, nthreads)
    if ahead:
        return ahead
    row = n * itemsize
    if GEMV_MEMORY_ROWS and k * row >= B_FROM_MEMORY and (nthreads == 1 or row <= GEMV_ONE_ROW_BYTES):
        return GEMV_MEMORY_ROWS
    if row <= (GEMV_ONE_ROW_BYTES if nthreads == 1 else GEMV_SPLIT_ONE_ROW_BYTES):
        return 1
    if nthreads == 1 and row <= GEMV_L3_FOUR_ROW_BYTES and k * row < B_FROM_MEMORY:
        return 4
    if nthreads == 1 and GEMV_SERIAL_ROWS != 8:
        return GEMV_SERIAL_ROWS
    return 4 if row % PAGE == 0 and row >= GEMV_FOUR_ROW_BYTES else 8


@njit(cache=True, nogil=True)
def _whole_rows(a, b, p0, p1, out, nthreads):
    """``out[:] = A[0, p0:p1] @ B[p0:p1, :]`` by one of ``nthreads`` threads, as many rows of B a pass as
    ``gemv_rows_a_pass`` says, through ``_axpy_rows_ahead`` where ``gemv_rows_ahead`` gives any."""
    n = b.shape[1]
    ahead = gemv_rows_ahead(n, b.shape[0], out.itemsize, nthreads)
    if ahead:
        _axpy_rows_ahead(a, b, p0, p1, 0, n, out, ahead)
        return
    rows = gemv_rows_a_pass(n, b.shape[0], out.itemsize, nthreads)
    if rows == 1:
        _axpy_each_row(a, b, p0, p1, out)
    elif rows == 4:
        _axpy_four_rows(a, b, p0, p1, out)
    elif rows == 6:
        _axpy_six_rows(a, b, p0, p1, 0, n, out)
    else:
        _axpy_rows(a, b, p0, p1, 0, n, out)


@njit(cache=True)
def gemv_share_rows_a_pass(n, itemsize):
    """Rows of B a GEMV pass takes over one thread's share of C's columns, B ``n`` wide (contiguous rows):
    GEMV_SHARE_PAGED_ROWS when B's rows are a whole number of pages apart, else eight."""
    return GEMV_SHARE_PAGED_ROWS if n * itemsize % PAGE == 0 else 8


@njit(cache=True)
def gemv_splits_columns(n, k, itemsize, nthreads):
    """Whether the m == 1 product with row-major B on several threads gives each thread its own columns of C
    (else its own rows of B, summed at the end): shares of at least GEMV_SPLIT_N columns (on Intel's
    AVX-512 GEMV_SPLIT_BYTES bytes) of a B smaller than GEMV_COLUMNS_MAX_B (B_FROM_MEMORY but on Intel's
    AVX-512; figures there).

    From memory each thread reads its own contiguous range of B's rows, which the prefetchers follow
    better than every row's half shared between threads. Rows over columns, two threads, float32: +0 to
    +18 % for B of 16-128 MiB, -5 to -7 % at 8 MiB (in-process A/B; re-measured with OpenBLAS out of the
    loop: +3 to +21 % for 16-231 MiB, level at 128 MiB, -9 to -10 % at 7-8 MiB); in the harness the 16 such
    catalogue GEMVs went from a median of 0.966 to 1.020 of OpenBLAS; float64 level (-4 to +4 %).
    """
    if GEMV_SPLIT_BYTES:
        wide = n * itemsize >= GEMV_SPLIT_BYTES * nthreads
    else:
        wide = n >= GEMV_SPLIT_N * nthreads
    return wide and k * n * itemsize < GEMV_COLUMNS_MAX_B


@njit(cache=True)
def column_share(n, itemsize, t, nthreads):
    """Columns ``[j0, j1)`` of C that thread ``t`` of ``nthreads`` takes when the GEMV splits C's columns:
    equal shares cut at whole cache lines (no line written by two threads), the last one ragged."""
    per_line = 64 // itemsize
    lines = (n + per_line - 1) // per_line
    return min(n, t * lines // nthreads * per_line), min(n, (t + 1) * lines // nthreads * per_line)


def _gemv_row(a, b, c, parts):
    """m == 1, row-major B: C[0, :] = sum_p A[0, p] B[p, :], B streamed once, nothing packed.

    One thread streams whole rows of B into C. Several threads each stream either their own
    columns of every row of B straight into C (shares cut at whole cache lines, six or eight
    rows of B a pass: ``gemv_share_rows_a_pass``), or, for narrow C or B streamed from memory
    (``gemv_splits_columns``), their own range of whole rows of B into their row of ``parts``
    (allocated in prepare), the partial rows summed at the end. Whole rows go one, four, six or
    eight a pass (``gemv_rows_a_pass``).
    """
    k, n = b.shape
    nthreads = parts.shape[0]
    crow = c[0]
    if nthreads == 1:  # constant bounds: the compiler drops the row loops' row slicing (+6-9 %)
        _whole_rows(a, b, 0, k, crow, 1)
    elif gemv_splits_columns(n, k, c.itemsize, nthreads):
        six = gemv_share_rows_a_pass(n, c.itemsize) == GEMV_SHARE_PAGED_ROWS
        for t in prange(nthreads):
            j0, j1 = column_share(n, c.itemsize, t, nthreads)
            if six:
                _axpy_six_rows(a, b, 0, k, j0, j1, crow[j0:j1])
            else:
                _axpy_rows(a, b, 0, k, j0, j1, crow[j0:j1])
    else:
        for t in prange(nthreads):
            _whole_rows(a, b, t * k // nthreads, (t + 1) * k // nthreads, parts[t], nthreads)
        crow[:] = parts[0]
        for t in range(1, nthreads):
            crow += parts[t]


#: parallel -> the compiled GEMV for row-major B.
GEMV_ROW = _twins(_gemv_row, fastmath={"contract"})


def _gemv_dots(a, bt, c):
    """m == 1, B stored transposed (``bt`` is n x k, rows contiguous): one dot product per column of C."""
    n, k = bt.shape
    arow = a[0]
    for j in prange(n):
        row = bt[j]
        acc = c.dtype.type(0)
        for p in range(k):
            acc += arow[p] * row[p]
        c[0, j] = acc


#: parallel -> the compiled GEMV for B stored transposed.
GEMV_DOTS = _twins(_gemv_dots, fastmath={"contract", "reassoc"})


def workspace(
    dtype: np.dtype,
    tile: Tile,
    m: int,
    n: int,
    k: int,
    threads: int,
    packs_b_rows: bool,
    next_strip: bool,
    own: int = 0,
) -> tuple:
    """Packing buffers (one array, allocated outside timing, first-touched) and block sizes for one problem in
    ``tile``'s strips (``tile_for``, as the compiled GEMM is then called with).

    One array rather than four: every array argument costs the call its unboxing (about
    50 ns each), which a 64^3 product notices. ``packs_b_rows``: B is row-major and packed (not read in
    place), so short A may take its own KC; ``next_strip``: B is read in place, fetched ahead with the next
    strip (IN_PLACE_KC; ``blocks``); ``own``: the rows of each thread's own row block (``own_rows``; 0: none),
    whose blocks are short A's.
    """
    name = np.dtype(dtype).name
    mr, nr = tile.shape(name)
    rows = own or m  # the rows one row block may hold
    b_bytes = n * k * np.dtype(dtype).itemsize
    mc, kc, nc = blocks(name, rows, packs_b_rows, b_bytes, next_strip, tile.kind == "wide")
    group = jit_strips(name, kc, tile, rows <= mr)
    mc = -(-rows // mr) * mr if rows <= max(mc, SHORT_A) or own else mc  # as _split decides (own: one block)
    kc, nc = min(kc, k), min(nc, -(-n // nr) * nr)
    slots = max(threads, 1) + 1  # get_thread_id() is < threads; one spare
    b_panel, a_block, b_jit, tile = _sizes(mr, nr, mc, kc, nc, group)
    return aligned_zeros(b_panel + slots * (a_block + b_jit + tile), dtype), mc, kc, nc, group


def blocks(
    dtype: str, m: int, packs_b_rows: bool, b_bytes: int = 0, next_strip: bool = False, wide: bool = False
) -> tuple[int, int, int]:
    """(MC, KC, NC) for A of ``m`` rows: PANEL_BLOCKS for several row blocks, BLOCKS for one (short A), with
    the KC of ONE_STRIP_KC for A of one tall strip, else of SHORT_A_KC for as few rows as it lists, when
    ``packs_b_rows`` (B packed from row-major storage),
    or UNFETCHED_KC where no group is fetched ahead: B of ``b_bytes`` of JIT_FETCH_MAX_B or more, or wide
    (``wide``) strips where WIDE_FETCHES_GROUP is off; IN_PLACE_KC when ``next_strip`` (B read in place, each
    strip fetching the next: ``fetches_next_strip``)."""
    if m > SHORT_A:
        return PANEL_BLOCKS[dtype]
    mc, kc, nc = BLOCKS[dtype]
    if next_strip:
        kc = IN_PLACE_KC
    elif packs_b_rows:
        one_strip = ((TILES["tall"][dtype][0], ONE_STRIP_KC),) if ONE_STRIP_KC else ()
        kc = next((short_kc for rows, short_kc in one_strip + SHORT_A_KC[dtype] if m <= rows), kc)
        unfetched = b_bytes >= JIT_FETCH_MAX_B or (wide and not WIDE_FETCHES_GROUP)
        kc = UNFETCHED_KC if unfetched else kc
    return mc, kc, nc


def packs_just_in_time(m: int, direct_b: bool, own: int = 0) -> bool:
    """Whether each thread packs its own strips of B just before use, ``jit_strips`` at a time (one row
    block, or one a thread: ``own`` rows, ``own_rows``; B not read in place), as ``gemm`` decides."""
    return (m <= SHORT_A or own > 0) and not direct_b


def jit_strips(dtype: str, kc: int, tile: Tile, one_strip: bool = False) -> int:
    """Strips of B, ``tile``'s NR wide, a group packed just in time holds at a KC of ``kc``: JIT_ROWS strip
    rows, in at most JIT_GROUP_BYTES[tile.kind] where that is set, unless A is one MR strip (``one_strip``)
    where JIT_ONE_STRIP_CAPPED is off."""
    strips = max(1, JIT_ROWS[dtype] // kc)
    cap = JIT_GROUP_BYTES[tile.kind] if JIT_ONE_STRIP_CAPPED or not one_strip else 0
    if cap:
        strips = max(1, min(strips, cap // (kc * tile.shape(dtype)[1] * np.dtype(dtype).itemsize)))
    return strips


@njit(cache=True)
def _sizes(mr, nr, mc, kc, nc, group):
    """Elements of the shared B panel and of one thread's A block, B strips packed just in time and edge
    tile of C, each a multiple of 16 elements (whole 64-byte lines in float32 and float64), so every view
    of ``work`` starts on a cache line."""
    b_panel = kc * (-(-nc // nr) * nr)
    a_block = -(-mc // mr) * mr * kc
    return _lines(b_panel), _lines(a_block), _lines(group * kc * nr), _lines(mr * nr)


@njit(cache=True)
def _lines(size):
    """``size`` rounded up to a multiple of 16 elements."""
    return -(-size // 16) * 16


@njit(cache=True, nogil=True)
def buffers(work, mc, kc, nc, group, tid, tile):
    """Views of ``work``: (shared B panel, thread ``tid``'s A block, its B strips packed just in time, its edge
    tile of C) for ``tile``'s MR and NR."""
    b_panel, a_block, b_jit, scratch = _sizes(tile_mr(work, tile), tile_nr(work, tile), mc, kc, nc, group)
    a0 = b_panel + tid * (a_block + b_jit + scratch)
    j0 = a0 + a_block
    t0 = j0 + b_jit
    return work[:b_panel], work[a0:j0], work[j0:t0], work[t0 : t0 + scratch]


@njit(cache=True)
def naive(a, b, c):
    """The textbook triple loop: one dot product per element of C (teaching reference)."""
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            acc = c.dtype.type(0)
            for p in range(k):
                acc += a[i, p] * b[p, j]
            c[i, j] = acc
