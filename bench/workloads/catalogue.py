"""The workload catalogue: models (``models/*.toml``), DeepBench's GEMM sets, and two sweeps.

Every entry turns into a list of ``WorkloadGemm`` (role, M, N, K, batch, count, storage):

* a **model** (``llama3.1-70b``, ``deepseek-v3``, ...): the GEMMs of one step of a phase, derived from its
  config (``model.py``);
* a **DeepBench set** (``deepbench-training``, ``deepbench-server``, ``deepbench-device``): the rows of
  baidu-research/DeepBench ``gemm_problems.h`` (``deepbench_gemm.csv``), converted to row-major cases;
* the **alignment sweep**: square sizes just below, at and just above a multiple of 16 (only), of 64 (not
  128) and of 128, where the 16x16x16 cube of an Ascend NPU (and tensor-core tiles) pad;
* a **decode sweep** (``decode:<model>``): the model's linear layers against M = 1, 2, 4 ... 256 token rows.

DeepBench's tuples are cuBLAS calls on column-major matrices: C (m x n) = op(A) (m x k) op(B) (k x n).
A column-major matrix is the row-major storage of its transpose, so the same call computes, row-major,
C^T (n x m) = op(B)^T op(A)^T: a case with M = n, N = m, K = k, whose A is stored transposed exactly when
DeepBench's ``b_t`` is true and whose B is stored transposed exactly when ``a_t`` is true.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from ..case import GemmCase, Job
from .model import PHASES, WorkloadGemm, load_model, model_names

__all__ = ["DEEPBENCH_SETS", "Workload", "alignment_sweep", "catalogue", "decode_sweep", "deepbench", "find_workload"]

DEEPBENCH_CSV = Path(__file__).with_name("deepbench_gemm.csv")
#: Catalogue name -> DeepBench's own set name.
DEEPBENCH_SETS = {
    "deepbench-training": "training_set",
    "deepbench-server": "inference_server_set",
    "deepbench-device": "inference_device_set",
}
#: Multiples of 16 only, of 64 (not 128), of 128: each measured one below, at and one above.
ALIGNMENT_BASES = (1040, 1088, 1152)
DECODE_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Workload:
    """A catalogue entry: what it is and where its figures come from."""

    name: str
    kind: str  # "model", "gemm set", "sweep"
    source: str
    description: str


def deepbench(set_name: str) -> list[WorkloadGemm]:
    """A DeepBench set as row-major cases (see the module docstring for the conversion)."""
    wanted = DEEPBENCH_SETS.get(set_name, set_name)
    out = []
    with open(DEEPBENCH_CSV, newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            if row["set"] != wanted:
                continue
            m, n, k = int(row["m"]), int(row["n"]), int(row["k"])
            trans = ("T" if row["b_t"] == "1" else "N") + ("T" if row["a_t"] == "1" else "N")
            out.append(WorkloadGemm(f"{row['set']} {m}x{n}x{k} {row['a_t']}{row['b_t']}", n, m, k, trans=trans))
    if not out:
        raise ValueError(f"unknown DeepBench set {set_name!r}; valid choices: {', '.join(DEEPBENCH_SETS)}")
    return out


def alignment_sweep() -> list[WorkloadGemm]:
    """Square GEMMs one below, at and one above multiples of 16, 64 and 128."""
    return [
        WorkloadGemm(f"align {base}{d:+d}" if d else f"align {base}", base + d, base + d, base + d)
        for base in ALIGNMENT_BASES
        for d in (-1, 0, 1)
    ]


def decode_sweep(model: str, tp: int = 1) -> list[WorkloadGemm]:
    """The model's per-layer linear GEMMs (no attention core, no LM head) against 1 ... 256 token rows."""
    config = load_model(model)
    linear = [g for g in config.gemms("decode", 1, tp) if g.batch == 1 and g.role != "lm_head"]
    return [replace(g, role=f"{g.role} M={rows}", m=rows, count=1) for rows in DECODE_ROWS for g in linear]


def catalogue() -> list[Workload]:
    """Every workload gemmbench knows, models first."""
    out = [Workload(name, "model", load_model(name).source, f"phases {', '.join(PHASES)}") for name in model_names()]
    source = "baidu-research/DeepBench code/kernels/gemm_problems.h"
    out += [Workload(name, "gemm set", source, f"DeepBench {set_name}") for name, set_name in DEEPBENCH_SETS.items()]
    out.append(
        Workload(
            "alignment",
            "sweep",
            "gemmbench",
            f"square sizes -1, 0, +1 around {', '.join(map(str, ALIGNMENT_BASES))} (16, 64, 128)",
        )
    )
    out.append(Workload("decode:<model>", "sweep", "gemmbench", "a model's linear layers at M = 1 ... 256"))
    return out


def find_workload(
    name: str, phase: str = "train", tokens: int = 4096, tp: int = 1, seq: int = 4096, context: int = 4096
) -> list[WorkloadGemm]:
    """The GEMMs of a catalogue entry (``model`` or ``model:phase``, a DeepBench set, or a sweep)."""
    if name in DEEPBENCH_SETS:
        return deepbench(name)
    if name == "alignment":
        return alignment_sweep()
    if name.startswith("decode:"):
        return decode_sweep(name.split(":", 1)[1], tp)
    model, _, named_phase = name.partition(":")
    if model not in model_names():
        valid = [w.name for w in catalogue()]
        raise ValueError(f"unknown workload {name!r}; valid choices: {', '.join(valid)}")
    return load_model(model).gemms(named_phase or phase, tokens, tp, seq, context)


def workload_label(
    name: str, phase: str = "train", tokens: int = 4096, tp: int = 1, seq: int = 4096, context: int = 4096
) -> str:
    """The full name of a workload instance, as rows record it (and ``project`` looks it up)."""
    model, _, named_phase = name.partition(":")
    if model not in model_names():
        return f"{name} tp={tp}" if name.startswith("decode:") else name
    phase = named_phase or phase
    extra = f"context={context}" if phase == "decode" else f"seq={seq}"
    return f"{model}:{phase} tokens={tokens} tp={tp} {extra}"


def workload_jobs(
    name: str, dtype: str, phase: str = "train", tokens: int = 4096, tp: int = 1, seq: int = 4096, context: int = 4096
) -> list[Job]:
    """One job per distinct GEMM of the workload: GEMMs of the same shape (say ``attn.qk dgrad`` and
    ``attn.pv``) are measured once, the job naming every role and counting every run of a step."""
    label = workload_label(name, phase, tokens, tp, seq, context)
    merged: dict[GemmCase, tuple[list[str], int]] = {}
    for g in find_workload(name, phase, tokens, tp, seq, context):
        case = g.case(dtype)
        roles, count = merged.get(case, ([], 0))
        merged[case] = ([*roles, g.role], count + g.count)
    return [Job(case, workload=label, role="; ".join(roles), count=count) for case, (roles, count) in merged.items()]
