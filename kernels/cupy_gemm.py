"""CuPy backend: ``cupy.matmul`` (cuBLAS) into a preallocated device output, timed with CUDA events.

Two kernel names, because CuPy reads ``CUPY_TF32`` once, at the first float32 matmul of a
process: ``cupy`` (TF32 off: true float32) and ``cupy-tf32`` (TF32 allowed). Each runs in
its own worker, whose environment is fixed in ``setup`` before CuPy is imported.

Launches go to the current stream and never synchronise; the harness brackets blocks of
them with events on that stream, and holds the stream busy ahead of each block with a spin
kernel (``hold``) so the host's dispatch never sits inside a timed block. Operands are copied
to the device in ``prepare``. ``cupy-tf32`` states its compute precision (``tf32``) for float32,
so it is verified with inputs rounded to TF32 and placed under TF32 roofs. Device memory:
CuPy's pool keeps freed blocks; they count as free, and are released after every case.
Clocks and throttling are read through NVML when nvidia-ml-py is installed.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from gemmbench.backend import ClockMonitor, EventDevice, GemmCase, Kernel, Operands, Prepared, open_nvml, probe_stack

_PROBE = """
import json
try:
    import cupy
except Exception as exc:
    print(json.dumps({"ok": False, "reason": f"cupy import failed: {type(exc).__name__}: {exc}"})); raise SystemExit
try:
    n = cupy.cuda.runtime.getDeviceCount()
except Exception as exc:
    reason = f"no CUDA device or driver: {type(exc).__name__}: {exc}"
    print(json.dumps({"ok": False, "reason": reason})); raise SystemExit
if n == 0:
    print(json.dumps({"ok": False, "reason": "no CUDA device visible"})); raise SystemExit
name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
print(json.dumps({"ok": True, "devices": n, "name": name.decode() if isinstance(name, bytes) else name}))
"""


#: CUPY_TF32 as fixed for this process by the first CuPy kernel set up in it.
_tf32_mode: str | None = None

#: One thread spinning on the global nanosecond timer: occupies the stream, not the SMs (nvbench's blocking
#: kernel waits on a host flag instead; a timed spin needs no host cooperation and cannot hang).
_SPIN = r"""
extern "C" __global__ void gemmbench_spin(unsigned long long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do { asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); } while (t - t0 < ns);
}
"""


class CudaEvents(EventDevice):
    """The current CUDA device through CuPy: events on the current stream."""

    def __init__(self, cupy: Any) -> None:
        self.cp = cupy
        self.props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = self.props["name"]
        super().__init__(name.decode() if isinstance(name, bytes) else str(name))

    def new_event(self) -> Any:
        return self.cp.cuda.Event()

    def record(self, event: Any) -> None:
        event.record(self.cp.cuda.get_current_stream())

    def wait(self, event: Any) -> None:
        event.synchronize()

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(self.cp.cuda.get_elapsed_time(start, end))

    def synchronize(self) -> None:
        self.cp.cuda.get_current_stream().synchronize()

    def memory_available(self) -> int:
        """Free device memory plus the blocks CuPy's pool holds free (reused before the device is asked)."""
        free, _total = self.cp.cuda.runtime.memGetInfo()
        return int(free) + int(self.cp.get_default_memory_pool().free_bytes())

    def hold(self, seconds: float) -> bool:
        if not hasattr(self, "_spin"):
            self._spin = self.cp.RawKernel(_SPIN, "gemmbench_spin")
        self._spin((1,), (1,), (self.cp.uint64(int(seconds * 1e9)),))
        return True

    def monitor(self) -> ClockMonitor | None:
        if not hasattr(self, "_nvml"):
            self._nvml = open_nvml(self.pci_bus_id)
        return ClockMonitor(*self._nvml) if self._nvml else None

    @property
    def pci_bus_id(self) -> str:
        return str(self.cp.cuda.Device().pci_bus_id)

    def cache_bytes(self) -> int:
        return int(self.props.get("l2CacheSize", 0)) or (50 << 20)

    def describe(self) -> dict[str, str]:
        rt, p = self.cp.cuda.runtime, self.props
        return {
            "gpu": self.name,
            "compute_capability": f"{p.get('major')}.{p.get('minor')}",
            "sms": str(p.get("multiProcessorCount", "")),
            "memory_bytes": str(p.get("totalGlobalMem", "")),
            "l2_bytes": str(p.get("l2CacheSize", "")),
            "clock_khz": str(p.get("clockRate", "")),
            "memory_clock_khz": str(p.get("memoryClockRate", "")),
            "driver": str(rt.driverGetVersion()),
            "cuda_runtime": str(rt.runtimeGetVersion()),
            "pci_bus_id": self.pci_bus_id,
            "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "(all)"),
        }


class CupyGemm(Kernel):
    name = "cupy"
    dtypes: ClassVar[tuple[str, ...]] = ("float64", "float32", "float16", "bfloat16")
    description = "cupy.matmul (cuBLAS), CUDA-event timing, TF32 off"
    batched = True  # a 3-D cupy.matmul is one strided-batched cuBLAS call
    allow_tf32 = False
    measures_own_ceilings = True

    @classmethod
    def probe(cls) -> str | None:
        return probe_stack("cupy", "cupy not installed (pip install 'gemmbench[cupy]')", _PROBE)

    def setup(self, threads: int) -> dict[str, str]:
        global _tf32_mode
        want = "1" if self.allow_tf32 else "0"
        if _tf32_mode not in (None, want):
            raise RuntimeError(
                "CuPy fixes TF32 at its first float32 matmul; run cupy and cupy-tf32 in separate "
                "workers (drop --in-process)"
            )
        _tf32_mode = want
        os.environ["CUPY_TF32"] = want  # before CuPy is imported and before any GEMM
        import cupy

        self.cp = cupy
        return {"tf32": "on" if self.allow_tf32 else "off", "host_threads": str(threads)}

    def device(self) -> CudaEvents:
        if not hasattr(self, "_events"):
            self._events = CudaEvents(self.cp)
        return self._events

    def supports(self, case: GemmCase) -> str | None:
        reason = super().supports(case)
        if reason:
            return reason
        if self.allow_tf32 and case.batch > 1:
            # CuPy's 3-D matmul calls cublasGemmStridedBatchedEx at the dtype's own compute type and never
            # reads CUPY_TF32: on an H200 it ran at the plain backend's rate (ratio 1.000), true float32 that a
            # row would have placed under the TF32 roof (docs/accelerators.md, fix 2).
            return "CuPy's batched matmul ignores CUPY_TF32 (true float32): measure batched float32 with 'cupy'"
        if case.dtype == "bfloat16":
            return self._bf16_problem(case.batch > 1)
        return None

    def _bf16_problem(self, batched: bool) -> str | None:
        """CuPy gained bfloat16 (through ml_dtypes) only recently, and its batched route later still (14.2 raised
        a TypeError): try a 2x2 product, 2-D or batched, once each."""
        if not hasattr(self, "_bf16"):
            self._bf16: dict[bool, str | None] = {}
        if batched not in self._bf16:
            shape, what = ((2, 2, 2), "batched bfloat16") if batched else ((2, 2), "bfloat16")
            try:
                import ml_dtypes

                x = self.cp.asarray(np.ones(shape, dtype=ml_dtypes.bfloat16))
                self.cp.matmul(x, x, out=self.cp.empty(shape, dtype=x.dtype))
                self._bf16[batched] = None
            except Exception as exc:  # TypeError/NotImplementedError on CuPy without bfloat16
                self._bf16[batched] = f"this CuPy ({self.cp.__version__}) has no {what} matmul: {type(exc).__name__}"
        return self._bf16[batched]

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        cp = self.cp
        # Copy the *stored* matrices and re-view them transposed: cuBLAS gets a transpose flag, not a copy.
        # (swapaxes: the last two axes, so batched operands work the same way)
        a = cp.asarray(operands.a.swapaxes(-1, -2)).swapaxes(-1, -2) if case.trans_a else cp.asarray(operands.a)
        b = cp.asarray(operands.b.swapaxes(-1, -2)).swapaxes(-1, -2) if case.trans_b else cp.asarray(operands.b)
        c = cp.empty(case.c_shape, dtype=a.dtype)
        matmul = cp.matmul

        def launch() -> None:
            matmul(a, b, out=c)

        tf32 = self.allow_tf32 and case.dtype == "float32"
        return Prepared(launch, c, {"tf32": "on" if self.allow_tf32 else "off"}, compute_dtype="tf32" if tf32 else None)

    def release(self) -> None:
        self.cp.get_default_memory_pool().free_all_blocks()

    def poison(self, output: Any) -> None:
        output.fill(float("nan"))  # on the stream, ordered before the verified launch

    def fetch(self, output: Any) -> np.ndarray:
        return self.cp.asnumpy(output)

    def describe(self) -> dict[str, str]:
        return {"cupy": self.cp.__version__, "CUPY_TF32": os.environ.get("CUPY_TF32", "")}

    def device_copy(self, nbytes: int):
        """A launch that copies ``nbytes`` device to device (for the bandwidth ceiling)."""
        src = self.cp.ones(nbytes, dtype=self.cp.uint8)
        dst = self.cp.empty_like(src)
        return lambda: self.cp.copyto(dst, src)


class CupyGemmTF32(CupyGemm):
    name = "cupy-tf32"
    variant = "tf32"
    description = "cupy.matmul (cuBLAS) with TF32 allowed: float32 computed in tf32"
    dtypes = ("float32",)  # TF32 changes float32 GEMMs only; the other dtypes are measured by 'cupy'
    allow_tf32 = True


KERNELS = [CupyGemm, CupyGemmTF32]
