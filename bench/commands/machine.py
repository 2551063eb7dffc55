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
from ..ceilings import Ceiling, CeilingsError, read_ceilings, write_ceilings
from ..console import warn_if_slow_blas
from ..device import HostDevice
from ..errors import UsageError
from ..hostfacts import derived_peak, flops_per_cycle, hostname, threads_problem, usable_cpus, vector_bits
from ..kernel import Kernel
from ..microbench import fma_chains_for, fma_peak_gflops, numba_available, stream_gbs
from ..options import parse_ints, parse_names
from ..registry import discover
from ..session import memory_problem
from ..specs import find_spec, spec_ceilings
from ..stats import summarize
from ..store import RESULTS_DIR, ceilings_path, check_writable, gemm_rows_path, latest_ceilings, new_run_id, utc_now
from ..sweep import RunOptions, run
from ..timer import TimingPolicy, measure
from ..verify import make_operands

__all__ = ["GEMM_SIZE", "PEAK_DTYPES", "accelerator_ceilings", "measure_host"]

NAME = "machine"
HELP = "measure this host's ceilings (peak FLOP/s, bandwidth) -> CSV"

PEAK_DTYPES = ("float32", "float64")
GEMM_SIZE = 2048
_GEMM_POLICY = TimingPolicy(min_samples=5, max_time_s=3.0, target=0.02)


def measure_host(
    threads: Sequence[int],
    gemm_backends: Sequence[str] | None = ("numpy",),
    say: Callable[[str], None] = lambda s: None,
    gemm_size: int = GEMM_SIZE,
    stream_elements: int | None = None,
    gemm_output: Path | None = None,
) -> list[Ceiling]:
    """All ceilings of this host for each thread count in ``threads`` (sizes overridable for tests).

    The GEMM rows behind the ``gemm`` ceilings go to ``gemm_output`` (``store.gemm_rows_path`` of the
    ceilings file), never into a results file a later ``plot`` or ``run --resume`` would pick up.
    """
    host, device = hostname(), HostDevice.name_of()
    now = utc_now()
    bits = vector_bits()
    out: list[Ceiling] = []

    def add(kind: str, name: str, dtype: str, t: int, value: float, source: str, method: str) -> None:
        out.append(Ceiling(kind, name, dtype, t, value, source, host, device, now, method))
        say(f"{kind:<9} {name:<12} {dtype or '-':<8} x{t}  {value:9.1f} {out[-1].unit:<7} {source}")

    for t in threads:
        for dtype in PEAK_DTYPES:
            theo = derived_peak(t, dtype, host, device, now)
            if theo is not None:
                add("compute", "theoretical", dtype, t, theo.value, "derived", theo.method)
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
                    f"implies {1000 * value / (t * flops_per_cycle(dtype, bits)):.0f} MHz",
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
    options = RunOptions(threads=tuple(threads), policy=_GEMM_POLICY)
    rows = run(
        cases,
        backends=gemm_backends,
        options=options,
        ceilings=[],
        output=gemm_output or gemm_rows_path(ceilings_path(host, new_run_id())),
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
    out = _output(args.output)
    warn_if_slow_blas()
    ceilings = measure_host(threads, args.backends, say=print, gemm_output=gemm_rows_path(out))
    write_ceilings(out, ceilings)
    print(f"gemmbench: {len(ceilings)} ceilings -> {out} (GEMM rows: {gemm_rows_path(out)})")
    return 0


def _output(path: str | None) -> Path:
    """The ceilings file to write, checked before 30 s of measuring: never a results file or a foreign one."""
    out = check_writable(path, "--output") if path else ceilings_path(hostname(), new_run_id())
    if out.exists() and out.stat().st_size > 0:
        try:
            read_ceilings(out)
        except CeilingsError:
            raise UsageError(
                f"--output {out} already holds another kind of file (not a machine CSV); "
                "refusing to overwrite it: choose a new path"
            ) from None
    check_writable(gemm_rows_path(out), "--output")
    return out
