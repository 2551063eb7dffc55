"""The backend facade: everything a GEMM backend needs from gemmbench, and nothing else.

A backend (a file in ``kernels/``, a folder in ``GEMMBENCH_KERNEL_PATH``, or an entry
point in the group ``gemmbench.kernels``) imports only from here; the shipped backends
do, and a contract in ``pyproject.toml`` (import-linter) keeps it so. Every other module
of gemmbench is internal and may change between versions; this surface changes only with
a note in the docs. Numba backends that emit LLVM IR also use ``gemmbench.backend.llvm``
(it needs Numba, so it is a separate module).

See docs/architecture.md, "Adding a backend".
"""

from __future__ import annotations

from ..buffers import ALIGN, aligned_copy, aligned_empty, aligned_zeros, is_aligned
from ..case import DTYPES, TRANSPOSES, GemmCase
from ..device import Device, EventDevice, HostDevice
from ..hostfacts import avx512_in_halves, blas_info, intel_avx512, vector_bits
from ..kernel import Kernel, Operands, Prepared
from ..nvml import ClockMonitor, open_nvml
from ..probe import probe_stack, run_probe
from ..testing import ConformanceError, check_kernel

__all__ = [
    "ALIGN",
    "DTYPES",
    "TRANSPOSES",
    "ClockMonitor",
    "ConformanceError",
    "Device",
    "EventDevice",
    "GemmCase",
    "HostDevice",
    "Kernel",
    "Operands",
    "Prepared",
    "aligned_copy",
    "aligned_empty",
    "aligned_zeros",
    "avx512_in_halves",
    "blas_info",
    "check_kernel",
    "intel_avx512",
    "is_aligned",
    "open_nvml",
    "probe_stack",
    "run_probe",
    "vector_bits",
]
