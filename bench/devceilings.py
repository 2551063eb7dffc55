"""An accelerator's own roofs, measured by its backend through the one timer: large-GEMM peak and copy bandwidth.

This runs inside a worker (``worker.ceilings_in_worker``), like any measurement: CuPy fixes
TF32 for its process at the first float32 matmul, so ``cupy`` and ``cupy-tf32`` can only be
measured in separate processes, and a backend that crashes costs its own roofs, not the file.

Each compute roof is keyed by (device, dtype, compute precision): the kernel's ``Prepared``
says when it computes below the dtype (``tf32``), and the roof says so too, so a true
float32 result is never judged against a TF32 roof.
"""

from __future__ import annotations

from collections.abc import Iterator

from .case import GemmCase
from .ceilings import Ceiling
from .hostfacts import hostname
from .kernel import Kernel
from .session import memory_problem
from .specs import find_spec, spec_ceilings
from .stats import summarize
from .store import utc_now
from .timer import TimingPolicy, measure
from .verify import make_operands

__all__ = ["DEVICE_GEMM_SIZE", "DEVICE_POLICY", "device_ceilings"]

#: The GEMM whose median rate is a device's practical peak (large enough to saturate an H200).
DEVICE_GEMM_SIZE = 8192
DEVICE_POLICY = TimingPolicy(min_samples=5, max_time_s=3.0, target=0.02)


def device_ceilings(
    kernel: Kernel, size: int = DEVICE_GEMM_SIZE, copy_bytes: int = 1 << 30, policy: TimingPolicy = DEVICE_POLICY
) -> Iterator[Ceiling]:
    """Yield a set-up accelerator kernel's roofs as each is measured.

    Peak: median GFLOP/s of a ``size``^3 GEMM per supported dtype (a practical peak: the
    vendor library's best), at the kernel's compute precision. Bandwidth: device-to-device
    copy of ``copy_bytes``, counting a read and a write of each byte, when the kernel offers
    ``device_copy``. Spec-sheet roofs of the detected model follow, labelled ``spec``.
    """
    device = kernel.device()
    host, now = hostname(), utc_now()
    for dtype in kernel.dtypes:
        case = GemmCase(size, size, size, dtype)
        if kernel.supports(case) or memory_problem(case, 1, device):
            continue
        prepared = kernel.prepare(case, make_operands(case))
        value = case.flops / summarize(measure([prepared.launch], device, policy).per_call_s).median / 1e9
        facts = ", ".join(f"{k}={v}" for k, v in prepared.facts.items())
        compute = prepared.compute_dtype or ""
        del prepared
        kernel.release()
        yield Ceiling(
            "compute",
            "gemm-peak",
            dtype,
            0,
            value,
            "measured",
            host,
            device.name,
            now,
            f"median of {kernel.name} at {size}^3 ({facts})",
            compute,
        )
    copy = getattr(kernel, "device_copy", None)
    if copy is not None:
        copy_bytes = min(copy_bytes, device.memory_available() // 4)  # two buffers, room to spare
        launch = copy(copy_bytes)
        median = summarize(measure([launch], device, policy).per_call_s).median
        del launch
        kernel.release()
        yield Ceiling(
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
    spec = find_spec(device.name)
    if spec is not None:
        yield from spec_ceilings(spec, host, device.name)
