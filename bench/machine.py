"""Facts about the machine and environment, recorded with every result.

A GEMM figure without its BLAS kernel, thread count and environment variables
cannot be compared with another; these helpers gather them once per process.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

__all__ = [
    "cpu_model", "cpu_facts", "cpu_flags", "blas_info", "env_snapshot", "git_revision",
    "package_version", "hostname", "usable_cpus", "slow_blas_warning", "blas_summary", "ENV_PREFIXES",
    "steal_seconds", "STEAL_FLAG", "affinity", "threads_problem",
]

#: Environment variables that change GEMM speed or precision; recorded in every row.
ENV_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_", "NUMBA_", "GOTO", "BLIS_", "CUPY_", "NVIDIA_TF32",
                "CUDA_VISIBLE", "TASK_QUEUE_ENABLE", "ASCEND_", "GEMMBENCH_")


@functools.lru_cache(maxsize=None)
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


def usable_cpus() -> int:
    """How many CPUs this process may run on (affinity-aware)."""
    return len(affinity())


def threads_problem(threads: Iterable[int]) -> str | None:
    """Why these thread counts cannot run here (one line), or None."""
    cpus = usable_cpus()
    bad = [t for t in threads if not 1 <= t <= cpus]
    return f"threads must be between 1 and {cpus} (usable CPUs), got {bad[0]}" if bad else None


#: Share of the measured CPUs' time taken by the hypervisor above which a row's noise says so.
STEAL_FLAG = 0.02


def steal_seconds(cpus: Sequence[int], stat: str = "/proc/stat") -> float | None:
    """CPU time the hypervisor ran other guests on ``cpus`` since boot ("steal", from /proc/stat);
    None where the kernel does not report it.

    On a virtual machine a vCPU can be taken away for milliseconds to seconds while the guest
    believes it is running: a 2-thread GEMM then runs at one core's speed with no sign in its
    own samples. Read before and after a measurement, the difference names that interference.
    """
    try:
        lines = Path(stat).read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cpus}
    ticks = 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted:
            if len(fields) < 9:
                return None
            ticks += int(fields[8])
    return ticks / os.sysconf("SC_CLK_TCK")


def _simd() -> str:
    flags = cpu_flags()
    for name in ("avx512f", "avx2", "avx", "sse2", "asimd", "neon"):
        if name in flags:
            return name + ("+fma" if "fma" in flags else "")
    return "unknown"


def cpu_facts() -> dict[str, str]:
    from .device import last_level_cache_bytes

    info = _cpuinfo()
    return {
        "cpu": cpu_model(),
        "cpus": str(usable_cpus()),
        "simd": _simd(),
        "mhz": info.get("cpu MHz", ""),
        "llc_bytes": str(last_level_cache_bytes()),
        "arch": platform.machine(),
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
            parts.append(f"{pool['internal_api']} {pool['version']} {pool['architecture']} "
                         f"{pool['threading_layer']} x{pool['num_threads']}")
    return "; ".join(parts) or "none loaded"


def env_snapshot(environ: os._Environ | dict | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: env[k] for k in sorted(env) if k.startswith(ENV_PREFIXES)}


def slow_blas_warning(environ: dict | None = None) -> str | None:
    """A warning when OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE force OpenBLAS off its best kernel."""
    env = env_snapshot(environ)
    set_vars = [f"{k}={env[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in env]
    if not set_vars:
        return None
    return (f"{' '.join(set_vars)} is set: OpenBLAS may use a slower kernel than this CPU allows; "
            "unset both for performance figures (recorded in every row)")


@functools.lru_cache(maxsize=None)
def git_revision() -> str:
    """Short git revision of the gemmbench source tree ('' when not in a checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
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
