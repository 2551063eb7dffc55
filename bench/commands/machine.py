"""``gemmbench machine``: measure this host's ceilings (and selected accelerators') and write them.

Three sources per dtype, side by side: the FMA microkernel (measured peak), the best large
GEMM any selected backend reaches (measured, a practical ceiling), and cores x FLOP/cycle x
clock (derived; the clock the OS reports is often the nominal one, so turbo can exceed it).
Bandwidth: STREAM triad and copy. GEMMs run through the normal harness, in workers; an
accelerator backend's own roofs (``devceilings``) are measured in a worker per backend too.
Ceilings are written as they are measured: a backend that fails later costs its own line only.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..case import GemmCase
from ..ceilings import Ceiling, CeilingsError, latest_ceilings, read_ceilings, write_ceilings
from ..console import warn_if_slow_blas
from ..devceilings import DEVICE_GEMM_SIZE, DEVICE_POLICY
from ..device import HostDevice
from ..errors import UsageError, one_line
from ..fleet import open_cluster
from ..hostfacts import derived_peak, flops_per_cycle, hostname, threads_problem, usable_cpus, vector_bits
from ..microbench import fma_chains_for, fma_peak_gflops, numba_available, stream_gbs
from ..options import parse_ints, parse_names, parse_positive
from ..registry import discover
from ..session import RunHeader
from ..store import RESULTS_DIR, ceilings_path, check_writable, gemm_rows_path, new_run_id, utc_now
from ..sweep import RunOptions, run
from ..timer import TimingPolicy
from ..worker import WorkerFailed, ceilings_in_worker

__all__ = ["GEMM_SIZE", "PEAK_DTYPES", "measure_host"]

NAME = "machine"
HELP = "measure this host's ceilings (peak FLOP/s, bandwidth) -> CSV"

PEAK_DTYPES = ("float32", "float64")
GEMM_SIZE = 2048
_GEMM_POLICY = TimingPolicy(min_samples=5, max_time_s=3.0, target=0.02)
#: A device worker silent this long (per roof) is killed and its backend reported failed.
_DEVICE_TIMEOUT_S = 600.0


def measure_host(
    threads: Sequence[int],
    gemm_backends: Sequence[str] | None = ("numpy",),
    say: Callable[[str], None] = lambda s: None,
    gemm_size: int = GEMM_SIZE,
    stream_elements: int | None = None,
    gemm_output: Path | None = None,
    failures: list[str] | None = None,
    device_size: int = DEVICE_GEMM_SIZE,
) -> Iterator[Ceiling]:
    """Yield every ceiling of this host for each thread count in ``threads``, as each is measured (sizes
    overridable for tests), then the roofs of each selected accelerator backend, each measured in its own worker.

    The GEMM rows behind the ``gemm`` ceilings go to ``gemm_output`` (``store.gemm_rows_path`` of the
    ceilings file), never into a results file a later ``plot`` or ``run --resume`` would pick up. An
    accelerator whose worker fails adds one line to ``failures`` (when given) and the others go on.
    """
    host, device = hostname(), HostDevice.name_of()
    now = utc_now()
    bits = vector_bits()

    def ceiling(kind: str, name: str, dtype: str, t: int, value: float, source: str, method: str) -> Ceiling:
        c = Ceiling(kind, name, dtype, t, value, source, host, device, now, method)
        say(f"{kind:<9} {name:<12} {dtype or '-':<8} x{t}  {value:9.1f} {c.unit:<7} {source}")
        return c

    for t in threads:
        for dtype in PEAK_DTYPES:
            theo = derived_peak(t, dtype, host, device, now)
            if theo is not None:
                yield ceiling("compute", "theoretical", dtype, t, theo.value, "derived", theo.method)
            if numba_available():
                value = fma_peak_gflops(dtype, t)
                yield ceiling(
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
            how += (
                ", float64 arrays >= 4x LLC, best of 10"
                if numba_available()
                else "; np.copyto, 1 thread (Numba not installed)"
            )
            yield ceiling("bandwidth", name, "", t, value, "measured", how)
    cases = [GemmCase(gemm_size, gemm_size, gemm_size, d) for d in PEAK_DTYPES]
    options = RunOptions(threads=tuple(threads), policy=_GEMM_POLICY)
    # The host's GEMM roof comes from host backends only: a GPU's rate is its own roof, not the CPU's.
    host_backends = [e.name for e in discover().select(gemm_backends) if not e.cls.measures_own_ceilings]
    rows = run(
        cases,
        backends=host_backends,
        options=options,
        ceilings=[],
        output=gemm_output or gemm_rows_path(ceilings_path(host, new_run_id())),
    )
    best: dict[tuple[str, int], tuple[float, str]] = {}
    for r in rows:
        if r.status == "ok" and r.gflops and r.gflops > best.get((r.dtype, r.threads), (0.0, ""))[0]:
            best[(r.dtype, r.threads)] = (r.gflops, r.backend)
    for (dtype, t), (value, backend) in sorted(best.items()):
        how = f"median GFLOP/s of {backend} at {gemm_size}^3, hot cache (best of the selected backends)"
        yield ceiling("compute", "gemm", dtype, t, value, "measured", how)
    yield from _accelerators(gemm_backends, say, failures, device_size)


def _accelerators(
    names: Sequence[str] | None, say: Callable[[str], None], failures: list[str] | None, size: int
) -> Iterator[Ceiling]:
    """Roofs of selected, available backends that measure their own device (GPU, NPU), each in a worker."""
    seen: set[tuple] = set()
    for entry in discover().select(names):
        if not entry.cls.measures_own_ceilings or entry.probe():
            continue
        header = RunHeader(new_run_id(), DEVICE_POLICY, 1)
        try:
            for c in ceilings_in_worker(entry, header, _DEVICE_TIMEOUT_S, size=size):
                key = (c.kind, c.name, c.dtype, c.compute, c.device, c.value)
                if c.source == "spec" and key in seen:
                    continue  # cupy and cupy-tf32 see the same sheet
                seen.add(key)
                say(
                    f"{c.kind:<9} {c.name:<12} {c.dtype or '-':<8} {c.compute or '':<5} {c.device}  "
                    f"{c.value:9.1f} {c.unit:<7} {c.source} ({entry.name})"
                )
                yield c
        except WorkerFailed as exc:
            line = f"{entry.name}: device ceilings not measured: {exc}"
            if failures is not None:
                failures.append(line)
            say(f"error: {line}")


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
        "--device-size",
        type=parse_positive("--device-size"),
        default=DEVICE_GEMM_SIZE,
        metavar="N",
        help=f"accelerator backends: the N^3 GEMM whose rate is the device's peak (default {DEVICE_GEMM_SIZE})",
    )
    parser.add_argument(
        "--cluster",
        metavar="ADDR",
        help="measure each host of a Dask cluster (tcp://head:8786, or local:N) on that host; "
        "one machine CSV per host in the output folder",
    )
    parser.add_argument(
        "--disjoint",
        action="store_true",
        help="with --cluster: every worker, not every host (workers own disjoint CPUs or devices)",
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when this host already has a machine CSV (the main job uses this)",
    )
    parser.set_defaults(func=handle)


def remote_machine(threads: list[int] | None, backends: list[str], device_size: int) -> tuple[list[dict], list[str]]:
    """``gemmbench machine`` on a fleet node (runs on a Dask worker): its ceilings as plain data, and failures."""
    threads = threads or sorted({1, usable_cpus()})
    failures: list[str] = []
    found = measure_host(threads, backends, failures=failures, device_size=device_size)
    return [dataclasses.asdict(c) for c in found], failures


def _fleet(args: argparse.Namespace) -> int:
    """Each slot's ceilings measured on that node, written here as machine-<host>-<run>.csv as each arrives."""
    from distributed import as_completed

    folder = Path(args.output).parent if args.output else RESULTS_DIR
    failed = 0
    with open_cluster(args.cluster, args.disjoint) as found:
        futures = {
            found.client.submit(
                remote_machine,
                args.threads,
                args.backends,
                args.device_size,
                workers=[members[0].address],
                allow_other_workers=False,
                pure=False,
            ): (label, members[0])
            for label, members in found.slots.items()
        }
        for future in as_completed(futures):
            label, node = futures[future]
            try:
                raw, failures = future.result()
            except Exception as exc:
                print(f"gemmbench: error: {label}: ceilings not measured: {one_line(exc)}", file=sys.stderr)
                failed += 1
                continue
            out = write_ceilings(ceilings_path(node.host, new_run_id(), folder), [Ceiling(**c) for c in raw])
            print(f"gemmbench: {label}: {len(raw)} ceilings -> {out}")
            for line in failures:
                print(f"gemmbench: error: {label}: {line}", file=sys.stderr)
            failed += bool(failures)
    return 1 if failed else 0


def handle(args: argparse.Namespace) -> int:
    if args.cluster:
        discover().select(args.backends)
        return _fleet(args)
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
    failures: list[str] = []
    written: list[Ceiling] = []

    def measured() -> Iterator[Ceiling]:
        for c in measure_host(
            threads,
            args.backends,
            say=print,
            gemm_output=gemm_rows_path(out),
            failures=failures,
            device_size=args.device_size,
        ):
            written.append(c)
            yield c

    write_ceilings(out, measured())  # each ceiling on disk as it is measured
    print(f"gemmbench: {len(written)} ceilings -> {out} (GEMM rows: {gemm_rows_path(out)})")
    unread = _unread_by_runs(out)
    if unread:
        print(f"gemmbench: note: {unread}")
    for line in failures:
        print(f"gemmbench: error: {line}", file=sys.stderr)
    return 1 if failures else 0


def _unread_by_runs(out: Path) -> str | None:
    """Why ``gemmbench run`` will not use the ceilings just written to ``out``, or None when it will: runs take
    this host's newest ``results/machine-<host>-*.csv`` only, and a file kept elsewhere or under another name
    would otherwise leave every later row on the derived roof (and its ``suspect`` flags) without a word."""
    used = latest_ceilings(RESULTS_DIR, hostname())
    if used is not None and used.resolve() == out.resolve():
        return None
    now = f"they read {used}" if used else "they derive the roof from the clock"
    return (
        f"runs read this host's newest {ceilings_path(hostname(), '*')}, which {out} is not ({now}); "
        f"to use it, omit --output or name it {ceilings_path(hostname(), '<label>')} (plot takes any file with "
        "--ceilings)"
    )


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
