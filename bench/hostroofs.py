"""``gemmbench machine``: measure this host's ceilings and write them with their provenance.

Three sources per dtype, side by side: the FMA microkernel (measured peak), the best large
GEMM any selected backend reaches (measured, a practical ceiling), and cores x FLOP/cycle x
clock (derived; the clock the OS reports is often the nominal one, so turbo can exceed it).
Bandwidth: STREAM triad and copy. GEMMs run through the normal harness, in workers.
"""

from __future__ import annotations

import datetime as _dt
from typing import Callable, Sequence

from .case import GemmCase
from .ceilings import Ceiling
from .device import HostDevice
from .machine import hostname
from .microbench import FMA_UNITS, fma_chains_for, fma_peak_gflops, numba_available, stream_gbs, vector_bits
from .timer import TimingPolicy

__all__ = ["measure_host", "clock_mhz", "GEMM_SIZE", "PEAK_DTYPES"]

PEAK_DTYPES = ("float32", "float64")
GEMM_SIZE = 2048
_GEMM_POLICY = TimingPolicy(min_samples=5, max_time_s=3.0, target=0.02)


def clock_mhz() -> tuple[float, str]:
    """Max clock from cpufreq if exposed, else the (often nominal) MHz from /proc/cpuinfo."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1000.0, "cpufreq max"
    except (OSError, ValueError):
        pass
    from .machine import cpu_facts

    mhz = cpu_facts().get("mhz", "")
    return (float(mhz), "/proc/cpuinfo (may be nominal)") if mhz else (0.0, "unknown")


def _lanes(bits: int, dtype: str) -> int:
    return bits // (32 if dtype == "float32" else 64)


def measure_host(threads: Sequence[int], gemm_backends: Sequence[str] | None = ("numpy",),
                 say: Callable[[str], None] = lambda s: None, gemm_size: int = GEMM_SIZE,
                 stream_elements: int | None = None) -> list[Ceiling]:
    """All ceilings of this host for each thread count in ``threads`` (sizes overridable for tests)."""
    from .runner import RunOptions, run

    host, device = hostname(), HostDevice().name
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
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
                add("compute", "theoretical", dtype, t, t * per_cycle * mhz / 1000.0, "derived",
                    f"{t} cores x {FMA_UNITS} FMA units x {_lanes(bits, dtype)} lanes ({simd}) x 2 x {mhz:.0f} MHz "
                    f"({clock_src})")
            if numba_available():
                value = fma_peak_gflops(dtype, t)
                add("compute", "fma", dtype, t, value, "measured",
                    f"{fma_chains_for(bits)} independent {bits}-bit FMA chains per thread in registers (Numba/LLVM); "
                    f"implies {1000 * value / (t * per_cycle):.0f} MHz")
        bw = stream_gbs(t, elements=stream_elements)
        for name, value in bw.items():
            how = ("STREAM triad a=b+s*c, 24 B/element" if name == "triad" else "copy a=b, 16 B/element")
            add("bandwidth", name, "", t, value, "measured",
                how + (", float64 arrays >= 4x LLC, best of 10" if numba_available() else
                       "; np.copyto, 1 thread (Numba not installed)"))
    cases = [GemmCase(gemm_size, gemm_size, gemm_size, d) for d in PEAK_DTYPES]
    rows = run(cases, gemm_backends, RunOptions(threads=tuple(threads), policy=_GEMM_POLICY),
               output=None, ceilings=[])
    best: dict[tuple[str, int], tuple[float, str]] = {}
    for r in rows:
        if r.status == "ok" and r.gflops and r.gflops > best.get((r.dtype, r.threads), (0.0, ""))[0]:
            best[(r.dtype, r.threads)] = (r.gflops, r.backend)
    for (dtype, t), (value, backend) in sorted(best.items()):
        add("compute", "gemm", dtype, t, value, "measured",
            f"median GFLOP/s of {backend} at {gemm_size}^3, hot cache (best of the selected backends)")
    return out
