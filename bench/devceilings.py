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
from .device import Device
from .hostfacts import hostname
from .kernel import Kernel
from .session import memory_problem
from .specs import find_spec, spec_ceilings
from .stats import summarize
from .store import utc_now
from .timer import BlockMonitor, Samples, TimingPolicy, measure
from .verify import make_operands

__all__ = ["DEVICE_GEMM_SIZE", "DEVICE_POLICY", "device_ceilings"]

#: The GEMM whose median rate is a device's practical peak (large enough to saturate an H200).
DEVICE_GEMM_SIZE = 8192
DEVICE_POLICY = TimingPolicy(min_samples=5, max_time_s=3.0, target=0.02)


def device_ceilings(
    kernel: Kernel, size: int = DEVICE_GEMM_SIZE, copy_bytes: int = 1 << 30, policy: TimingPolicy = DEVICE_POLICY
) -> Iterator[Ceiling]:
    """Yield a set-up accelerator kernel's roofs as each is measured.

    Peak: the fastest unthrottled block of a ``size``^3 GEMM per supported dtype (a practical
    peak: the vendor library's best), at the kernel's compute precision. Bandwidth: the fastest
    device-to-device copy of ``copy_bytes``, counting a read and a write of each byte, when the
    kernel offers ``device_copy``. Spec-sheet roofs of the detected model follow, labelled ``spec``.

    Why the fastest block, not the median, and why unthrottled: rows are placed under these roofs
    and flagged ``suspect`` above them. On an H200 the median of 8192^3 bfloat16 included blocks
    slowed by the power cap, and GEMMs of Llama-3.1-8B's prefill then read 102 % of it; a roof
    is the rate the device was seen to reach, with the blocks the clock monitor sets aside (as
    it does for rows) left out. Device events time a block of at least 1 ms to about 0.5 us: a fast
    outlier is not a timing error.
    """
    device = kernel.device()
    host, now = hostname(), utc_now()
    for dtype in kernel.dtypes:
        case = GemmCase(size, size, size, dtype)
        if kernel.supports(case) or memory_problem(case, 1, device):
            continue
        prepared = kernel.prepare(case, make_operands(case))
        value, how = _fastest(
            case.flops / 1e9, "GFLOP/s", measure([prepared.launch], device, policy, monitor=_monitor(device))
        )
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
            f"{how} of {kernel.name} at {size}^3 ({facts})",
            compute,
        )
    copy = getattr(kernel, "device_copy", None)
    if copy is not None:
        copy_bytes = min(copy_bytes, device.memory_available() // 4)  # two buffers, room to spare
        launch = copy(copy_bytes)
        value, how = _fastest(2 * copy_bytes / 1e9, "GB/s", measure([launch], device, policy, monitor=_monitor(device)))
        del launch
        kernel.release()
        yield Ceiling(
            "bandwidth",
            "copy-device",
            "",
            0,
            value,
            "measured",
            host,
            device.name,
            now,
            f"{how} of a device-to-device copy of {copy_bytes >> 20} MiB, read + write counted",
        )
    spec = find_spec(device.name)
    if spec is not None:
        yield from spec_ceilings(spec, host, device.name)


def _monitor(device: Device) -> BlockMonitor | None:
    """The device's clock monitor (throttled blocks set aside), when it has one."""
    monitor = getattr(device, "monitor", None)
    return monitor() if monitor is not None else None


def _fastest(work: float, unit: str, samples: Samples) -> tuple[float, str]:
    """The rate of the fastest kept block (``work`` per second, in ``unit``) and how it was found."""
    rates = [work / s for s in samples.per_call_s]
    n = len(samples.disturbed_s)  # kept too when fewer than 3 blocks were clean (timer.measure)
    aside = f", {n} set aside" if n and samples.per_call_s[-n:] != samples.disturbed_s else ""
    median = work / summarize(samples.per_call_s).median
    return max(rates), f"fastest of {len(rates)} blocks{aside} (median {median:.1f} {unit})"
