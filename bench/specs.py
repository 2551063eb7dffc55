"""Spec-sheet ceilings of accelerators: a labelled second source beside measured roofs.

Figures are *dense* peaks (no structured-sparsity doubling) in TFLOP/s and memory
bandwidth in GB/s, from each vendor's public datasheet or announcement. ``derived``
lists the entries computed rather than printed (e.g. a sparse figure halved);
``confidence`` says how firm the source is. Huawei publishes few per-variant datasheets
for the 910B/910C, so those rows rely on widely reported figures and are marked low.

Keys of ``peaks``: float64 (vector unless ``float64_matrix`` is given), float64_matrix,
float32 (non-tensor), tf32, float16, bfloat16, fp8, int8 (TOPS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .case import COMPUTE_PRECISIONS
from .ceilings import Ceiling

__all__ = ["SPECS", "Spec", "find_spec", "spec_ceilings"]


@dataclass(frozen=True)
class Spec:
    name: str
    vendor: str
    peaks: dict[str, float]  # TFLOP/s (TOPS for int8), dense
    bandwidth_gbs: float
    memory_gb: float
    source: str
    confidence: str  # "high" (datasheet), "medium", "low" (reported, not published by the vendor)
    derived: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# A table: one spec per entry, its figures on one line.
# fmt: off
#: H100 SXM and H200 share the Hopper compute die and clocks: the same peaks, more and faster memory on H200.
_HOPPER_SXM = {"float64": 34.0, "float64_matrix": 67.0, "float32": 67.0, "tf32": 494.5, "float16": 989.5,
               "bfloat16": 989.5, "fp8": 1979.0, "int8": 1979.0}

SPECS: tuple[Spec, ...] = (
    Spec("NVIDIA A100 SXM 80GB", "NVIDIA",
         {"float64": 9.7, "float64_matrix": 19.5, "float32": 19.5, "tf32": 156.0, "float16": 312.0,
          "bfloat16": 312.0, "int8": 624.0}, 2039.0, 80.0,
         "NVIDIA A100 Tensor Core GPU datasheet", "high", aliases=("A100-SXM", "A100 SXM", "A100")),
    Spec("NVIDIA H100 SXM", "NVIDIA", _HOPPER_SXM, 3350.0, 80.0,
         "NVIDIA H100 Tensor Core GPU datasheet (SXM5)", "high",
         derived=("tf32", "float16", "bfloat16", "fp8", "int8"), aliases=("H100 SXM", "H100 80GB HBM3", "H100"),
         notes="datasheet tensor figures are with sparsity; dense = half"),
    Spec("NVIDIA H200", "NVIDIA", _HOPPER_SXM, 4800.0, 141.0,
         "NVIDIA H200 Tensor Core GPU datasheet (SXM)", "high",
         derived=("tf32", "float16", "bfloat16", "fp8", "int8"), aliases=("H200",),
         notes="datasheet tensor figures are with sparsity; dense = half"),
    Spec("NVIDIA B200", "NVIDIA",
         {"float64": 40.0, "float64_matrix": 40.0, "tf32": 1100.0, "float16": 2250.0, "bfloat16": 2250.0,
          "fp8": 4500.0, "int8": 4500.0}, 8000.0, 180.0,
         "NVIDIA HGX B200 datasheet, per GPU", "medium",
         derived=("tf32", "float16", "bfloat16", "fp8", "int8"), aliases=("B200",),
         notes="per-GPU share of HGX B200 sparse figures, halved; SKUs differ by power limit"),
    Spec("AMD Instinct MI300X", "AMD",
         {"float64": 81.7, "float64_matrix": 163.4, "float32": 163.4, "tf32": 653.7, "float16": 1307.4,
          "bfloat16": 1307.4, "fp8": 2614.9, "int8": 2614.9}, 5300.0, 192.0,
         "AMD Instinct MI300X accelerator datasheet", "high", aliases=("MI300X",)),
    Spec("Huawei Ascend 910", "Huawei",
         {"float16": 256.0, "int8": 512.0}, 1200.0, 32.0,
         "Huawei Ascend 910 launch announcement (2019); Hot Chips 31", "medium",
         aliases=("Ascend910A", "Ascend910", "910A"), notes="float32 GEMM runs in float16 on the cube unit"),
    Spec("Huawei Ascend 910B", "Huawei",
         {"float16": 313.0, "bfloat16": 313.0, "int8": 626.0}, 1600.0, 64.0,
         "widely reported figures for 910B2/B3-class parts (no per-variant Huawei datasheet)", "low",
         derived=("int8",), aliases=("Ascend910B", "910B"),
         notes="variants 910B1..B4 differ in cores and clocks; HBM2e"),
    Spec("Huawei Ascend 910C", "Huawei",
         {"float16": 800.0, "bfloat16": 800.0}, 3200.0, 128.0,
         "widely reported figures for the dual-die package (no Huawei datasheet)", "low",
         aliases=("Ascend910C", "910C"), notes="two 910B-class dies; treat as indicative"),
    Spec("Huawei Ascend 310P", "Huawei",
         {"float16": 70.0, "int8": 140.0}, 204.8, 24.0,
         "Huawei Atlas 300I Pro inference card specification (one 310P)", "medium",
         aliases=("Ascend310P", "310P", "Ascend310P3"), notes="LPDDR4X memory; inference part"),
)
# fmt: on


def find_spec(device_name: str) -> Spec | None:
    """The spec whose name or alias occurs in ``device_name`` (longest match wins)."""
    text = device_name.lower().replace("-", " ")
    hits = [
        (len(alias), spec)
        for spec in SPECS
        for alias in (spec.name, *spec.aliases)
        if alias.lower().replace("-", " ") in text
    ]
    return max(hits, key=lambda h: h[0])[1] if hits else None


def spec_ceilings(spec: Spec, host: str = "", device: str = "") -> list[Ceiling]:
    """The spec as ceilings (GFLOP/s, GB/s), labelled ``source="spec"`` with its provenance."""

    def method(key: str) -> str:
        how = "derived" if key in spec.derived else "published"
        return f"{spec.name}: {how}; {spec.source}; confidence {spec.confidence}"

    dev = device or spec.name

    def keyed(key: str) -> tuple[str, str]:
        """(dtype, compute) a sheet's figure is a roof for: TF32 is float32 computed in tf32; the FP64 tensor-core
        figure is the float64 GEMM roof (cuBLAS uses those units for DGEMM)."""
        if key in COMPUTE_PRECISIONS:
            return "float32", key
        return key.removesuffix("_matrix"), ""

    out = []
    for key, tflops in spec.peaks.items():
        if key == "int8":
            continue
        dtype, compute = keyed(key)
        out.append(
            Ceiling(
                "compute", f"spec:{key}", dtype, 0, tflops * 1e3, "spec", host, dev, method=method(key), compute=compute
            )
        )
    out.append(
        Ceiling(
            "bandwidth",
            "spec:memory",
            "",
            0,
            spec.bandwidth_gbs,
            "spec",
            host,
            dev,
            method=f"{spec.name}: published; {spec.source}; confidence {spec.confidence}",
        )
    )
    return out
