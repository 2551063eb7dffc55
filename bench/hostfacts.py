"""Facts about this host and its environment: CPU, SIMD, caches, memory, clocks, BLAS, env vars.

A GEMM figure without its BLAS kernel, thread count and environment variables
cannot be compared with another; these helpers gather them (cached per process where
they cannot change). Nothing here measures speed.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata

from .ceilings import Ceiling

__all__ = [
    "DERIVED_ASSUMPTIONS",
    "ENV_PREFIXES",
    "FMA_UNITS",
    "THP_POLICY",
    "affinity",
    "blas_info",
    "blas_summary",
    "choose_cpus",
    "clock_mhz",
    "cpu_facts",
    "cpu_flags",
    "cpu_model",
    "derived_peak",
    "env_snapshot",
    "flops_per_cycle",
    "git_revision",
    "host_memory_available",
    "hostname",
    "last_level_cache_bytes",
    "package_version",
    "python_argv",
    "simd",
    "slow_blas_warning",
    "thread_affinities",
    "threads_problem",
    "transparent_hugepages",
    "usable_cpus",
    "vector_bits",
]

#: Environment variables that change GEMM speed or precision; recorded in every row.
ENV_PREFIXES = (
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "NUMBA_",
    "GOTO",
    "BLIS_",
    "CUPY_",
    "NVIDIA_TF32",
    "CUDA_VISIBLE",
    "TASK_QUEUE_ENABLE",
    "ASCEND_",
    "GEMMBENCH_",
    "NUMPY_MADVISE_HUGEPAGE",
)
#: Where Linux states its transparent huge page policy (``transparent_hugepages``).
THP_POLICY = "/sys/kernel/mm/transparent_hugepage/enabled"


@functools.cache
def _cpuinfo() -> dict[str, str]:
    facts: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if not sep:
                    if facts:
                        break  # first processor block is enough
                    continue
                facts.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return facts


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    return frozenset(_cpuinfo().get("flags", "").split())


def affinity() -> list[int]:
    """The CPUs this process may run on, sorted (every CPU where the OS has no affinity call)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def _core_of(cpu: int) -> tuple[int, int]:
    """(package, core) of a CPU from sysfs; (0, cpu) where the topology is not exposed."""
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
    try:
        with open(f"{base}/physical_package_id") as f, open(f"{base}/core_id") as g:
            return int(f.read()), int(g.read())
    except (OSError, ValueError):
        return 0, cpu


def choose_cpus(threads: int, available: Sequence[int] | None = None) -> list[int]:
    """The CPUs a ``threads``-thread worker is pinned to: one per physical core first (two threads on one
    core's hyperthreads share its FMA units), and CPU 0 last (it takes most interrupts and housekeeping)."""
    cpus = sorted(available if available is not None else affinity())
    seen: dict[tuple[int, int], int] = {}
    rank = {}
    for c in cpus:
        core = _core_of(c)
        rank[c] = seen.get(core, 0)  # 0 for the first CPU of each core, 1 for its sibling, ...
        seen[core] = rank[c] + 1
    return sorted(cpus, key=lambda c: (rank[c], c == 0, c))[:threads]


def thread_affinities(task_dir: str = "/proc/self/task") -> str:
    """The CPU affinity of every thread of this process, read back, e.g. '1 x3' or '0-1 x1; 1 x2'."""
    counts: dict[str, int] = {}
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return ""
    for tid in tids:
        try:
            with open(f"{task_dir}/{tid}/status") as f:
                allowed = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Cpus_allowed_list")), "")
        except OSError:
            continue
        counts[allowed] = counts.get(allowed, 0) + 1
    return "; ".join(f"{cpus} x{n}" for cpus, n in sorted(counts.items()))


def usable_cpus() -> int:
    """How many CPUs this process may run on (affinity-aware)."""
    return len(affinity())


def threads_problem(threads: Iterable[int]) -> str | None:
    """Why these thread counts cannot run here (one line), or None."""
    cpus = usable_cpus()
    bad = [t for t in threads if not 1 <= t <= cpus]
    return f"threads must be between 1 and {cpus} (usable CPUs), got {bad[0]}" if bad else None


#: Widest vector instruction set first: (cpuinfo flag, register bits).
_SIMD = (("avx512f", 512), ("avx2", 256), ("avx", 256), ("sse2", 128), ("asimd", 128), ("neon", 128))


def simd(flags: frozenset[str] | None = None) -> tuple[str, int]:
    """The widest vector instruction set and its register width in bits (the one SIMD probe)."""
    flags = cpu_flags() if flags is None else flags
    for name, bits in _SIMD:
        if name in flags:
            return name + ("+fma" if "fma" in flags else ""), bits
    return "unknown", 128


def vector_bits(flags: frozenset[str] | None = None) -> int:
    """Vector register width in bits: 512 (AVX-512), 256 (AVX/AVX2) or 128."""
    return simd(flags)[1]


def avx512_in_halves(info: Mapping[str, str] | None = None) -> bool:
    """Whether the CPU has AVX-512 but runs each 512-bit operation as two 256-bit halves: AMD family 25
    (Zen 4; Zen 3, the same family, has no AVX-512). There a 512-bit FMA does no more work a cycle than a
    256-bit one, so a kernel's k step takes twice as long as on a full-width core (AMD family 26, Zen 5),
    and the memory waits a step must hide weigh half as much: rules measured on one kind of core need not
    hold on the other. Other AVX-512 CPUs (Intel's: ``intel_avx512``) count as full width. ``info`` is
    /proc/cpuinfo's first block (read when None)."""
    info = _cpuinfo() if info is None else info
    return (
        "avx512f" in info.get("flags", "").split()
        and info.get("vendor_id") == "AuthenticAMD"
        and info.get("cpu family") == "25"
    )


def intel_avx512(info: Mapping[str, str] | None = None) -> bool:
    """Whether the CPU is Intel's and has AVX-512 (run at full width, as on Zen 5). Its caches (2 MiB of L2 a
    core on the Xeon measured here, 1 MiB on Zen 5) and their timings differ from AMD's, so the kernel's block
    sizes measured on one need not suit the other. ``info`` is /proc/cpuinfo's first block (read when None)."""
    info = _cpuinfo() if info is None else info
    return "avx512f" in info.get("flags", "").split() and info.get("vendor_id") == "GenuineIntel"


def host_memory_available() -> int:
    """MemAvailable from /proc/meminfo, else total physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def last_level_cache_bytes(default: int = 32 << 20) -> int:
    """Largest data/unified cache of CPU 0 from sysfs (Linux), else ``default``."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = 0
    try:
        for entry in os.listdir(base):
            if not entry.startswith("index"):
                continue
            with open(os.path.join(base, entry, "type")) as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
            best = max(best, int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        pass
    return best or default


def transparent_hugepages(path: str = THP_POLICY) -> str:
    """The kernel's transparent huge page policy: ``always``, ``madvise`` or ``never``; '' where not stated.

    NumPy asks for huge pages (``madvise``) for arrays of 4 MiB or more unless NUMPY_MADVISE_HUGEPAGE=0, so under
    ``always`` or ``madvise`` the harness's operands may lie on 2 MiB pages, as the kernel finds them free. That
    can move a figure by a quarter: on 2 MiB pages rows of B a multiple of 16 KiB apart fall in a few sets of a
    physically indexed L2 (docs/numba.md, "Wide tiles pack B unfetched on Intel"). Recorded with every row.
    """
    try:
        with open(path) as f:
            chosen = re.search(r"\[(\w+)\]", f.read())
    except (OSError, UnicodeDecodeError):
        return ""
    return chosen.group(1) if chosen else ""


def clock_mhz() -> tuple[float, str]:
    """Max clock from cpufreq if exposed, else the (often nominal) MHz from /proc/cpuinfo, with its source."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1000.0, "cpufreq max"
    except (OSError, ValueError):
        pass
    mhz = _cpuinfo().get("cpu MHz", "")
    return (float(mhz), "/proc/cpuinfo (may be nominal)") if mhz else (0.0, "unknown")


#: FMA pipes per core the derived peak assumes (x86 server and client cores since Haswell and Zen 2).
FMA_UNITS = 2
#: What the derived peak takes for granted, said in its label.
DERIVED_ASSUMPTIONS = (
    f"assumes {FMA_UNITS} FMA units per core (x86 cores since Haswell and Zen 2; some Xeon Bronze/Silver have one "
    "512-bit unit, Zen 4 splits 512-bit FMAs in two) and no clock above the one named; boost clocks run higher, "
    "so a measured rate can exceed this roof"
)


def flops_per_cycle(dtype: str, bits: int | None = None) -> int:
    """FLOPs one core can issue per cycle in ``dtype``: FMA units x lanes x 2 (multiply and add)."""
    lanes = (bits or vector_bits()) // (64 if dtype == "float64" else 32)
    return FMA_UNITS * 2 * lanes


def derived_peak(threads: int, dtype: str, host: str = "", device: str = "", timestamp: str = "") -> Ceiling | None:
    """cores x FLOP/cycle x clock, from the highest clock the OS reports, with its assumptions; None without a clock.

    The roof rows are placed under when no measured ceilings exist, so a rate above it is still flagged.
    """
    mhz, source = clock_mhz()
    if not mhz or dtype not in ("float32", "float64"):
        return None
    name, bits = simd()
    value = threads * flops_per_cycle(dtype, bits) * mhz / 1000.0
    method = (
        f"{threads} cores x {FMA_UNITS} FMA units x {bits // (64 if dtype == 'float64' else 32)} lanes ({name}) "
        f"x 2 x {mhz:.0f} MHz ({source}); {DERIVED_ASSUMPTIONS}"
    )
    return Ceiling("compute", "theoretical", dtype, threads, value, "derived", host, device, timestamp, method)


def python_argv(code: str) -> list[str]:
    """A child interpreter running ``code`` with the working directory kept off ``sys.path``.

    ``-P`` (3.11+) matters: a checkout's ``kernels/`` folder must never be importable as a
    top-level module in a worker or probe.
    """
    flags = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *flags, "-c", code]


def cpu_facts() -> dict[str, str]:
    """CPU facts recorded with every host row."""
    info = _cpuinfo()
    return {
        "cpu": cpu_model(),
        "cpus": str(usable_cpus()),
        "simd": simd()[0],
        "mhz": info.get("cpu MHz", ""),
        "llc_bytes": str(last_level_cache_bytes()),
        "arch": platform.machine(),
        "memory_bytes": str(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")),
        "os": platform.platform(),
        "thp": transparent_hugepages(),
    }


def blas_info() -> list[dict[str, str]]:
    """threadpoolctl's view of loaded BLAS/OpenMP pools: library, version, kernel, threads."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{k: str(pool.get(k, "")) for k in keys} for pool in threadpool_info()]


def blas_summary() -> str:
    """One line, e.g. 'openblas 0.3.31 Haswell pthreads x2'."""
    parts = []
    for pool in blas_info():
        if pool["user_api"] == "blas":
            parts.append(
                f"{pool['internal_api']} {pool['version']} {pool['architecture']} "
                f"{pool['threading_layer']} x{pool['num_threads']}"
            )
    return "; ".join(parts) or "none loaded"


def env_snapshot(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every environment variable that can change GEMM speed or precision (``ENV_PREFIXES``)."""
    env = os.environ if environ is None else environ
    return {k: env[k] for k in sorted(env) if k.startswith(ENV_PREFIXES)}


def slow_blas_warning(environ: Mapping[str, str] | None = None) -> str | None:
    """A warning when OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE force OpenBLAS off its best kernel."""
    env = env_snapshot(environ)
    set_vars = [f"{k}={env[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in env]
    if not set_vars:
        return None
    return (
        f"{' '.join(set_vars)} is set: OpenBLAS may use a slower kernel than this CPU allows; "
        "unset both for performance figures (recorded in every row)"
    )


@functools.cache
def git_revision() -> str:
    """Short git revision of the gemmbench source tree ('' when not in a checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def package_version(dist: str) -> str:
    """Installed version of a distribution, or '' (never imports it)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def hostname() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
