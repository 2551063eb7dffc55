"""GPU clocks and throttling through NVML (``nvidia-ml-py``, optional): a block monitor for CUDA devices.

A GPU that throttles (power cap, thermal or hardware slowdown) runs the same GEMM slower for
a while; with boost clocks unlocked, the SM clock also wanders from block to block. nvbench
found that setting aside the samples taken while the GPU throttles roughly halves the
noise. ``ClockMonitor`` reads the throttle reasons before and after every timed block (never
inside it) and the SM and memory clocks after it: a block during which any slowdown reason
was active is set aside like a block disturbed by CPU contention, and the row records the
clock range and flags clocks that changed (lock them: README, "Accelerators").

NVML numbers devices its own way, not by ``CUDA_VISIBLE_DEVICES``: the device is found by its
PCI bus id, which both CUDA and NVML report.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SLOWDOWN_REASONS", "ClockMonitor", "open_nvml"]

#: nvmlClocksEventReason bits that slow the GPU down (nvml.h). Not counted: GPU idle (0x1), applications
#: clocks setting (0x2), sync boost (0x10) and display clocks (0x100), which are settings or idle states.
SLOWDOWN_REASONS: dict[int, str] = {
    0x4: "sw power cap",
    0x8: "hw slowdown",
    0x20: "sw thermal slowdown",
    0x40: "hw thermal slowdown",
    0x80: "hw power brake",
}
_MASK = sum(SLOWDOWN_REASONS)
#: A clock range wider than this share of its top is "changed" (boost clocks wandering, or throttling).
CLOCK_CHANGE = 0.01


def open_nvml(pci_bus_id: str) -> tuple[Any, Any] | None:
    """(pynvml module, device handle) for the GPU at ``pci_bus_id``, or None without nvidia-ml-py or NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()  # reference-counted by NVML: cheap after the first call
        return pynvml, pynvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
    except Exception:  # not installed, no driver, or a bus id NVML does not know: no monitor, no harm
        return None


class ClockMonitor:
    """``BlockMonitor`` of one measurement on one GPU: throttled blocks set aside, clocks recorded."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml, self.handle = nvml, handle
        # nvidia-ml-py renamed "clocks throttle reasons" to "clocks event reasons" (driver 535).
        self._reasons = (
            getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
            or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        self._before = 0
        self.seen = 0  # every slowdown bit seen in any block
        self.sm_mhz: list[int] = []
        self.mem_mhz: list[int] = []
        self.throttled = 0
        self.blocks = 0

    def start(self) -> None:
        self._before = int(self._reasons(self.handle))

    def stop(self, wall_s: float) -> float:
        bits = (self._before | int(self._reasons(self.handle))) & _MASK
        self.sm_mhz.append(int(self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_SM)))
        self.mem_mhz.append(int(self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_MEM)))
        self.blocks += 1
        self.seen |= bits
        self.throttled += bool(bits)
        return 1.0 if bits else 0.0  # throttled at its start or end: the whole block is suspect

    def reasons(self) -> str:
        return ", ".join(name for bit, name in SLOWDOWN_REASONS.items() if self.seen & bit)

    def describe(self, share: float) -> str:
        return f"throttled ({self.throttled} of {self.blocks} timed blocks: {self.reasons()})"

    def report(self) -> tuple[dict[str, str], list[str]]:
        def span(values: list[int]) -> str:
            lo, hi = min(values), max(values)
            return str(lo) if lo == hi else f"{lo}-{hi}"

        if not self.blocks:
            return {}, []
        facts = {"sm_clock_mhz": span(self.sm_mhz), "mem_clock_mhz": span(self.mem_mhz)}
        if self.seen:
            facts["throttle_reasons"] = self.reasons()
            facts["throttled_blocks"] = str(self.throttled)
        flags = []
        for name, values in (("SM", self.sm_mhz), ("memory", self.mem_mhz)):
            if max(values) - min(values) > CLOCK_CHANGE * max(values):
                flags.append(f"{name} clock changed {span(values)} MHz (unlocked clocks: see README, Accelerators)")
        return facts, flags
