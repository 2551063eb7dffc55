"""``gemmbench machine``: measure this host's ceilings (and selected accelerators') and write them.

Three sources per dtype, side by side: the FMA microkernel (measured peak), the best large
GEMM any selected backend reaches (measured, a practical ceiling), and cores x FLOP/cycle x
clock (derived; the clock the OS reports is often the nominal one, so turbo can exceed it).
Bandwidth: STREAM triad and copy. GEMMs run through the normal harness, in workers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from ..case import GemmCase
from ..ceilings import Ceiling, write_ceilings
from ..console import warn_if_slow_blas
from ..device import HostDevice
from ..errors import UsageError
from ..hostfacts import clock_mhz, hostname, threads_problem, usable_cpus, vector_bits
from ..kernel import Kernel
from ..microbench import FMA_UNITS, fma_chains_for, fma_peak_gflops, numba_available, stream_gbs
from ..options import parse_ints, parse_names
from ..registry import discover
from ..session import memory_problem
from ..specs import find_spec, spec_ceilings
from ..stats import summarize
from ..store import RESULTS_DIR, ceilings_path, latest_ceilings, new_run_id, utc_now
from ..sweep import RunOptions, run
from ..timer import TimingPolicy, measure
from ..verify import make_operands

__all__ = ["GEMM_SIZE", "PEAK_DTYPES", "accelerator_ceilings", "measure_host"]

NAME = "machine"
HELP = "measure this host's ceilings (peak FLOP/s, bandwidth) -> CSV"

PEAK_DTYPES = ("float32", "float64")
GEMM_SIZE = 2048
_GEMM_POLICY = TimingPolicy(min_samples=5, max_time_s=3.0, target=0.02)


#: What the derived peak takes for granted, said in its label.
_ASSUMPTIONS = (
    f"assumes {FMA_UNITS} FMA units per core (x86 cores since Haswell and Zen 2; some Xeon Bronze/Silver have one "
    "512-bit unit, Zen 4 splits 512-bit FMAs in two) and no clock above the one named; boost clocks run higher, "
    "so a measured rate can exceed this roof"
)


def _lanes(bits: int, dtype: str) -> int:
    return bits // (32 if dtype == "float32" else 64)


def measure_host(
    threads: Sequence[int],
    gemm_backends: Sequence[str] | None = ("numpy",),
    say: Callable[[str], None] = lambda s: None,
    gemm_size: int = GEMM_SIZE,
    stream_elements: int | None = None,
) -> list[Ceiling]:
    """All ceilings of this host for each thread count in ``threads`` (sizes overridable for tests)."""
    host, device = hostname(), HostDevice().name
    now = utc_now()
    bits = vector_bits()
    simd = "avx512" if bits == 512 else "avx2" if bits == 256 else "sse/neon"
    mhz, clock_src = clock_mhz()
    out: list[Ceiling] = []

    def add(kind: str, name: str, dtype: str, t: int, value: float, source: str, method: str) -> None:
        out.append(Ceiling(kind, name, dtype, t, value, source, host, device, now, method))
        say(f"{kind:<9} {name:<12} {dtype or '-':<8} x{t}  {value:9.1f} {out[-1].unit:<7} {source}")

    for t in threads:
        for dtype in PEAK_DTYPES:
            per_cycle = FMA_UNITS * 2 * _lanes(bits, dtype)
            if mhz:
                add(
                    "compute",
                    "theoretical",
                    dtype,
                    t,
                    t * per_cycle * mhz / 1000.0,
                    "derived",
                    f"{t} cores x {FMA_UNITS} FMA units x {_lanes(bits, dtype)} lanes ({simd}) x 2 x {mhz:.0f} MHz "
                    f"({clock_src}); {_ASSUMPTIONS}",
                )
            if numba_available():
                value = fma_peak_gflops(dtype, t)
                add(
                    "compute",
                    "fma",
                    dtype,
                    t,
                    value,
                    "measured",
                    f"{fma_chains_for(bits)} independent {bits}-bit FMA chains per thread in registers (Numba/LLVM); "
                    f"implies {1000 * value / (t * per_cycle):.0f} MHz",
                )
        bw = stream_gbs(t, elements=stream_elements)
        for name, value in bw.items():
            how = "STREAM triad a=b+s*c, 24 B/element" if name == "triad" else "copy a=b, 16 B/element"
            add(
                "bandwidth",
                name,
                "",
                t,
                value,
                "measured",
                how
                + (
                    ", float64 arrays >= 4x LLC, best of 10"
                    if numba_available()
                    else "; np.copyto, 1 thread (Numba not installed)"
                ),
            )
    cases = [GemmCase(gemm_size, gemm_size, gemm_size, d) for d in PEAK_DTYPES]
    rows = run(
        cases, backends=gemm_backends, options=RunOptions(threads=tuple(threads), policy=_GEMM_POLICY), ceilings=[]
    )
    best: dict[tuple[str, int], tuple[float, str]] = {}
    for r in rows:
        if r.status == "ok" and r.gflops and r.gflops > best.get((r.dtype, r.threads), (0.0, ""))[0]:
            best[(r.dtype, r.threads)] = (r.gflops, r.backend)
    for (dtype, t), (value, backend) in sorted(best.items()):
        add(
            "compute",
            "gemm",
            dtype,
            t,
            value,
            "measured",
            f"median GFLOP/s of {backend} at {gemm_size}^3, hot cache (best of the selected backends)",
        )
    out += _accelerators(gemm_backends, say)
    return out


def _accelerators(names: Sequence[str] | None, say: Callable[[str], None]) -> list[Ceiling]:
    """Roofs of selected, available backends that measure their own device (GPU, NPU)."""
    out: list[Ceiling] = []
    for entry in discover().select(names):
        if not entry.cls.measures_own_ceilings or entry.probe():
            continue
        kernel = entry.cls()
        kernel.setup(1)
        for c in accelerator_ceilings(kernel):
            out.append(c)
            say(f"{c.kind:<9} {c.name:<12} {c.dtype or '-':<8} {c.device}  {c.value:9.1f} {c.unit:<7} {c.source}")
    return out


def _facts_text(facts: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in facts.items())


def accelerator_ceilings(
    kernel: Kernel, size: int = 8192, copy_bytes: int = 1 << 30, policy: TimingPolicy = _GEMM_POLICY
) -> list[Ceiling]:
    """An accelerator backend's roofs, measured through the same timer and device events.

    Peak: median GFLOP/s of a ``size``^3 GEMM per supported dtype (a practical peak: the
    vendor library's best). Bandwidth: device-to-device copy of ``copy_bytes``, counting a
    read and a write of each byte, when the kernel offers ``device_copy``. Spec-sheet roofs
    of the detected model are added, labelled ``spec``.
    """
    device = kernel.device()
    host, now = hostname(), utc_now()
    out: list[Ceiling] = []
    for dtype in kernel.dtypes:
        case = GemmCase(size, size, size, dtype)
        if kernel.supports(case) or memory_problem(case, 1, device):
            continue
        prepared = kernel.prepare(case, make_operands(case))
        value = case.flops / summarize(measure([prepared.launch], device, policy).per_call_s).median / 1e9
        out.append(
            Ceiling(
                "compute",
                "gemm-peak",
                dtype,
                0,
                value,
                "measured",
                host,
                device.name,
                now,
                f"median of {kernel.name} at {size}^3 ({_facts_text(prepared.facts)})",
            )
        )
        del prepared
    copy = getattr(kernel, "device_copy", None)
    if copy is not None:
        copy_bytes = min(copy_bytes, device.memory_available() // 4)  # two buffers, room to spare
        launch = copy(copy_bytes)
        median = summarize(measure([launch], device, policy).per_call_s).median
        out.append(
            Ceiling(
                "bandwidth",
                "copy-device",
                "",
                0,
                2 * copy_bytes / median / 1e9,
                "measured",
                host,
                device.name,
                now,
                f"device-to-device copy of {copy_bytes >> 20} MiB, read + write counted",
            )
        )
    spec = find_spec(device.name)
    if spec is not None:
        out += spec_ceilings(spec, host, device.name)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-j",
        "--threads",
        type=parse_ints("thread count"),
        default=None,
        metavar="LIST",
        help="thread counts (default: 1 and all usable CPUs)",
    )
    parser.add_argument(
        "-b",
        "--backends",
        type=parse_names,
        default=["numpy"],
        metavar="LIST",
        help="backends whose best 2048^3 GEMM is recorded as a ceiling (default numpy)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="CSV",
        help="default results/machine-<host>-<time>.csv (runs and plots use the newest)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when this host already has a machine CSV (the main job uses this)",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    existing = latest_ceilings(Path(args.output).parent if args.output else RESULTS_DIR, hostname())
    if args.if_missing and existing:
        print(f"gemmbench: ceilings for this host already in {existing} (remeasure without --if-missing)")
        return 0
    threads = args.threads or sorted({1, usable_cpus()})
    problem = threads_problem(threads)
    if problem:
        raise UsageError(problem)
    discover().select(args.backends)
    warn_if_slow_blas()
    ceilings = measure_host(threads, args.backends, say=print)
    out = Path(args.output) if args.output else ceilings_path(hostname(), new_run_id())
    write_ceilings(out, ceilings)
    print(f"gemmbench: {len(ceilings)} ceilings -> {out}")
    return 0
