"""Ascend adapter: ``torch.matmul`` on ``npu`` tensors (aclnnMatmul via torch_npu), timed with NPU events.

Detection never imports torch_npu in the tool's process (it can ``sys.exit``, abort, or
raise on a CUDA build of torch); a child-process probe reports one precise reason:
not installed / torch is a CUDA build / CANN runtime not found / no NPU visible.

The cube unit multiplies 16x16x16 tiles: float16 everywhere, bfloat16 on 910B/910C;
float32 is computed in float16 on 910A/310P (verified at float16 tolerance, recorded)
and in true float32 on 910B+ with HF32 off (``allow_hf32`` recorded); ``ascend-hf32`` allows
HF32 (11 mantissa bits) and states it as its compute precision; no float64.
``ascend-nz`` casts B once to FRACTAL_NZ outside timing. Shapes not multiple of 16 are
marked unaligned: the runtime inserts format conversions for them.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from gemmbench.backend import EventDevice, GemmCase, Kernel, Operands, Prepared, probe_stack

ACL_FORMAT_FRACTAL_NZ = 29
#: L2 assumed for cold mode when the runtime does not say (192 MB reported for 910B; >= the others).
ASSUMED_L2 = 192 << 20

_PROBE = """
import json, sys
def say(**kw):
    print(json.dumps(kw)); sys.stdout.flush(); raise SystemExit(0)
try:
    import torch
except BaseException as exc:
    say(ok=False, reason=f"torch import failed: {type(exc).__name__}: {exc}")
cuda = getattr(torch.version, "cuda", None)
if cuda:
    say(ok=False, reason=f"torch {torch.__version__} is a CUDA build (CUDA {cuda}); "
                         "torch_npu needs its matching CPU build of torch")
try:
    import torch_npu
except BaseException as exc:
    text = str(exc)
    if any(s in text for s in ("libascend", "libhccl", "libge_", "libruntime", "CANN", "ASCEND", "set_env")):
        say(ok=False, reason=f"CANN runtime not found ({text[:160]}); source the CANN toolkit's set_env.sh")
    say(ok=False, reason=f"torch_npu import failed: {type(exc).__name__}: {text[:200]}")
try:
    n = torch.npu.device_count() if torch.npu.is_available() else 0
except BaseException as exc:
    say(ok=False, reason=f"no NPU visible ({type(exc).__name__}: {exc})")
if n == 0:
    say(ok=False, reason="no NPU visible (torch.npu.device_count() == 0)")
soc = getattr(torch_npu.npu, "get_soc_version", lambda: "")()
say(ok=True, devices=n, name=torch.npu.get_device_name(0), soc=str(soc), torch_npu=torch_npu.__version__)
"""


def chip_family(name: str) -> str:
    """'910A', '910B', '910C', '310P' or '' from a device/SoC name such as 'Ascend910B3'."""
    text = name.replace(" ", "").upper()
    for key, family in (
        ("910_93", "910C"),
        ("910C", "910C"),
        ("910B", "910B"),
        ("910PREMIUMA", "910A"),
        ("910A", "910A"),
        ("910", "910A"),
        ("310P", "310P"),
    ):
        if key in text:
            return family
    return ""


class NpuEvents(EventDevice):
    """The current NPU through torch_npu: ``torch.npu.Event(enable_timing=True)`` on the current stream."""

    def __init__(self, torch: Any, name: str) -> None:
        self.torch = torch
        super().__init__(name)

    def new_event(self) -> Any:
        return self.torch.npu.Event(enable_timing=True)

    def record(self, event: Any) -> None:
        event.record()

    def wait(self, event: Any) -> None:
        event.synchronize()

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def synchronize(self) -> None:
        self.torch.npu.synchronize()

    def memory_available(self) -> int:
        free, _total = self.torch.npu.mem_get_info()
        return int(free)

    def cache_bytes(self) -> int:
        return ASSUMED_L2

    def describe(self) -> dict[str, str]:
        _free, total = self.torch.npu.mem_get_info()
        return {"npu": self.name, "memory_bytes": str(total), "l2_bytes_assumed": str(ASSUMED_L2)}


class AscendGemm(Kernel):
    name = "ascend"
    dtypes: ClassVar[tuple[str, ...]] = ("float16", "bfloat16", "float32")
    description = "torch.matmul on NPU tensors (aclnnMatmul), ND format, NPU-event timing"
    batched = True  # a 3-D torch.matmul is one batched aclnn call
    nz = False
    allow_hf32 = False
    measures_own_ceilings = True

    @classmethod
    def probe(cls) -> str | None:
        return probe_stack(
            "torch_npu",
            "torch_npu not installed (needs torch_npu, its CPU build of torch, and the CANN toolkit)",
            _PROBE,
            60.0,
        )

    def setup(self, threads: int) -> dict[str, str]:
        import torch
        import torch_npu

        self.torch, self.torch_npu = torch, torch_npu
        torch.set_num_threads(threads)  # host-side work only; the GEMM runs on the NPU
        soc = str(getattr(torch_npu.npu, "get_soc_version", lambda: "")())
        self.chip = torch.npu.get_device_name(0)
        self.family = chip_family(soc) or chip_family(self.chip)
        if self.family in ("910B", "910C"):
            torch.npu.matmul.allow_hf32 = self.allow_hf32  # off: true float32; on: inputs rounded to 11 bits
        if self.nz:
            torch.npu.config.allow_internal_format = True  # keep FRACTAL_NZ instead of converting back
        self.soc = soc
        return {
            "host_threads": str(threads),
            "allow_hf32": str(getattr(torch.npu.matmul, "allow_hf32", "")),
            "format": "NZ" if self.nz else "ND",
        }

    def device(self) -> NpuEvents:
        if not hasattr(self, "_events"):
            self._events = NpuEvents(self.torch, self.chip)
        return self._events

    def supports(self, case: GemmCase) -> str | None:
        if case.dtype == "float64":
            return "Ascend cube units have no float64 GEMM"
        if case.dtype == "bfloat16" and self.family not in ("910B", "910C"):
            return f"bfloat16 needs Ascend 910B/910C (this is {self.chip})"
        if self.nz and case.trans_b:
            return "ascend-nz casts B in stored k x n order; transposed B is measured by 'ascend' (ND)"
        return super().supports(case)

    def _to_npu(self, stored: np.ndarray, dtype: str) -> Any:
        # float32 on the wire (ml_dtypes arrays do not convert), exact: values are already rounded to dtype.
        host = self.torch.from_numpy(np.ascontiguousarray(stored, dtype=np.float32))
        return host.to("npu").to(getattr(self.torch, dtype))

    def _stored(self, x: np.ndarray, transposed: bool, dtype: str) -> Any:
        """The operand on the NPU in its stored order, viewed back transposed (a flag, not a copy)."""
        if not transposed:
            return self._to_npu(x, dtype)
        return self._to_npu(x.swapaxes(-1, -2), dtype).transpose(-1, -2)

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        torch = self.torch
        a, b = (self._stored(x, t, case.dtype) for x, t in ((operands.a, case.trans_a), (operands.b, case.trans_b)))
        if self.nz:
            b = self.torch_npu.npu_format_cast(b, ACL_FORMAT_FRACTAL_NZ)  # once, outside timing
        c = torch.empty(case.c_shape, dtype=a.dtype, device=a.device)
        matmul = torch.matmul

        def launch() -> None:
            matmul(a, b, out=c)

        aligned = all(d % 16 == 0 for d in (case.m, case.n, case.k))
        facts = {"format": "NZ" if self.nz else "ND", "aligned16": "yes" if aligned else "no"}
        compute: str | None = None
        if case.dtype == "float32":
            if self.family not in ("910B", "910C"):
                compute = "float16"
            elif self.allow_hf32:
                compute = "hf32"
            facts["float32_computed_as"] = compute or "float32"
        return Prepared(launch, c, facts, compute_dtype=compute)

    def poison(self, output: Any) -> None:
        output.fill_(float("nan"))  # on the stream, ordered before the verified launch

    def fetch(self, output: Any) -> np.ndarray:
        return output.float().cpu().numpy()

    def device_copy(self, nbytes: int):
        """A launch that copies ``nbytes`` device to device (for the bandwidth ceiling)."""
        src = self.torch.ones(nbytes, dtype=self.torch.uint8, device="npu")
        dst = self.torch.empty_like(src)
        return lambda: dst.copy_(src)

    def describe(self) -> dict[str, str]:
        return {
            "torch": self.torch.__version__,
            "torch_npu": self.torch_npu.__version__,
            "soc": self.soc,
            "chip": self.chip,
            "cann": _cann_version(),
            "TASK_QUEUE_ENABLE": os.environ.get("TASK_QUEUE_ENABLE", "(unset)"),
        }


class AscendGemmNZ(AscendGemm):
    name = "ascend-nz"
    variant = "NZ"
    description = "torch.matmul on NPU tensors with B pre-cast to FRACTAL_NZ (outside timing)"
    nz = True
    batched = False  # the NZ cast is of one k x n matrix


class AscendGemmHF32(AscendGemm):
    name = "ascend-hf32"
    variant = "hf32"
    description = "torch.matmul on NPU tensors with HF32 allowed: float32 computed in hf32 (910B/910C)"
    dtypes = ("float32",)
    allow_hf32 = True

    def supports(self, case: GemmCase) -> str | None:
        if self.family not in ("910B", "910C"):
            return f"HF32 needs Ascend 910B/910C (this is {self.chip}); 'ascend' measures float32 here"
        return super().supports(case)


def _cann_version() -> str:
    """CANN toolkit version from the toolkit's version file, if the environment points at one."""
    home = os.environ.get("ASCEND_TOOLKIT_HOME") or os.environ.get("ASCEND_HOME_PATH") or ""
    for name in ("version.cfg", "version.info"):
        try:
            with open(os.path.join(home, name)) as f:
                for line in f:
                    if "version" in line.lower():
                        return line.split("=", 1)[-1].strip()
        except OSError:
            continue
    return ""


KERNELS = [AscendGemm, AscendGemmNZ, AscendGemmHF32]
