"""Dense and MLA/MoE transformer configs, and the GEMMs a training or inference step runs.

A model is data (``models/<name>.toml``, each figure with its source); everything here is derived
from it by code, never typed by hand: the parameter count (checked against the published size in
the tests) and the list of GEMMs of one step.

Conventions. A GEMM is (M, N, K, batch): C[M, N] = A[M, K] @ B[K, N], ``batch`` independent
products. ``tokens`` is the number of token rows a step processes (micro-batch x sequence for
``train``/``prefill``, sequences being decoded for ``decode``). Linear layers: M = tokens, K = input
features, N = output features. Tensor parallelism ``tp`` splits N of column-parallel layers (QKV,
gate+up, the up projections, the LM head) and K of row-parallel ones (attention output, down), and the
heads of the attention core; each GEMM is what one device runs. ``train`` adds the two backward GEMMs of
every forward one: dgrad (M, K, N) and wgrad (N, K, M), the same work each.

Attention core: QK^T and PV per head as batched GEMMs (batch = sequences x heads / tp); prefill and
train use a causal sequence of ``seq`` tokens but count the full square (as BLAS would run it),
decode multiplies one query row by ``context`` cached keys.

Mixture of experts (DeepSeek-V3): the routed experts of a layer run as one batched GEMM, batch =
experts, each expert receiving an equal share of tokens x experts-per-token (the ideal a load-balanced
router aims at; real routing is uneven); ``tp`` splits each expert's FFN like a dense one.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..case import GemmCase

__all__ = ["MLA", "PHASES", "MoE", "ModelConfig", "WorkloadGemm", "load_model", "model_names", "role_group"]

PHASES = ("train", "prefill", "decode")
MODELS_DIR = Path(__file__).with_name("models")


def role_group(role: str) -> str:
    """'mlp.down dgrad; attn.o' -> 'mlp.down': the first role, without its backward suffix."""
    return role.split(";", maxsplit=1)[0].split(" ", maxsplit=1)[0]


@dataclass(frozen=True)
class WorkloadGemm:
    """One GEMM of a step: its role, shape, batch and how many times a step runs it on one device."""

    role: str
    m: int
    n: int
    k: int
    batch: int = 1
    count: int = 1
    #: Storage of (A, B) as in ``GemmCase.trans``: "N" row-major as used, "T" stored transposed.
    trans: str = "NN"

    @property
    def flops(self) -> int:
        """Work of all ``count`` runs: 2 M N K per product."""
        return 2 * self.m * self.n * self.k * self.batch * self.count

    def case(self, dtype: str) -> GemmCase:
        """This GEMM as a case to measure in ``dtype``."""
        return GemmCase(self.m, self.n, self.k, dtype, self.trans, self.batch)

    @property
    def group(self) -> str:
        """The role a step-time breakdown stacks it under ('attn.qkv dgrad' -> 'attn.qkv')."""
        return role_group(self.role)

    @property
    def shape(self) -> str:
        return f"{self.m}x{self.n}x{self.k}" + (f"@{self.batch}" if self.batch > 1 else "")


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention: low-rank query and key/value projections, split RoPE dimensions."""

    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_dim: int
    qk_rope_dim: int
    v_dim: int

    @property
    def qk_dim(self) -> int:
        return self.qk_nope_dim + self.qk_rope_dim


@dataclass(frozen=True)
class MoE:
    """Mixture of experts after the first ``dense_layers`` layers."""

    dense_layers: int
    routed_experts: int
    shared_experts: int
    experts_per_token: int
    expert_ffn: int


@dataclass(frozen=True)
class ModelConfig:
    """A transformer's shape, as its config file and report give it."""

    name: str
    kind: str  # "dense" (GQA attention, gated MLP) or "mla-moe" (DeepSeek-V3: [mla] and [moe] tables)
    source: str
    layers: int
    hidden: int
    ffn: int
    heads: int
    vocab: int
    tied_embeddings: bool = False
    kv_heads: int = 0
    head_dim: int = 0
    qkv_bias: bool = False
    published_params: float = 0.0
    published_active_params: float = 0.0
    mla: MLA | None = None  # DeepSeek-V3's attention ([mla] in the TOML)
    moe: MoE | None = None  # and its experts ([moe])

    # ------------------------------------------------------------------ parameters

    def _attention_params(self) -> int:
        h, mla = self.hidden, self.mla
        if mla is not None:  # down and up projections of queries and keys/values (+ their norms), output
            q = h * mla.q_lora_rank + mla.q_lora_rank + mla.q_lora_rank * self.heads * mla.qk_dim
            kv = h * (mla.kv_lora_rank + mla.qk_rope_dim) + mla.kv_lora_rank
            kv += mla.kv_lora_rank * self.heads * (mla.qk_nope_dim + mla.v_dim)
            return q + kv + self.heads * mla.v_dim * h
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        bias = (q + 2 * kv) if self.qkv_bias else 0
        return h * (q + 2 * kv) + bias + q * h

    def _mlp_params(self, ffn: int) -> int:
        return 3 * self.hidden * ffn  # gate, up, down

    def _moe_params(self, moe: MoE, active: bool) -> int:
        experts = (moe.experts_per_token if active else moe.routed_experts) + moe.shared_experts
        return experts * self._mlp_params(moe.expert_ffn) + self.hidden * moe.routed_experts  # + router

    def param_count(self, active: bool = False) -> int:
        """Weights of the model (``active``: those one token uses); norms included, embeddings once if tied."""
        norms = 2 * self.hidden
        dense = self._attention_params() + self._mlp_params(self.ffn) + norms
        if self.moe is not None:
            sparse = self._attention_params() + self._moe_params(self.moe, active) + norms
            body = self.moe.dense_layers * dense + (self.layers - self.moe.dense_layers) * sparse
        else:
            body = self.layers * dense
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return body + embeddings + self.hidden  # final norm

    # ------------------------------------------------------------------ GEMMs

    def gemms(self, phase: str, tokens: int, tp: int = 1, seq: int = 4096, context: int = 4096) -> list[WorkloadGemm]:
        """The GEMMs of one step of ``phase`` on one of ``tp`` tensor-parallel devices."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; valid choices: {', '.join(PHASES)}")
        forward = self._forward(phase, tokens, tp, seq, context)
        if phase != "train":
            return forward
        backward = []
        for g in forward:
            backward.append(WorkloadGemm(f"{g.role} dgrad", g.m, g.k, g.n, g.batch, g.count))
            backward.append(WorkloadGemm(f"{g.role} wgrad", g.n, g.k, g.m, g.batch, g.count))
        return forward + backward

    def _split(self, value: int, tp: int, what: str) -> int:
        if value % tp:
            raise ValueError(f"{self.name}: {what} ({value}) is not divisible by --tp {tp}")
        return value // tp

    def _attention_core(
        self, phase: str, tokens: int, tp: int, seq: int, context: int, qk_dim: int, v_dim: int, layers: int
    ) -> list[WorkloadGemm]:
        heads = self._split(self.heads, tp, "attention heads")
        if phase == "decode":
            return [
                WorkloadGemm("attn.qk", 1, context, qk_dim, tokens * heads, layers),
                WorkloadGemm("attn.pv", 1, v_dim, context, tokens * heads, layers),
            ]
        s = min(seq, tokens)
        sequences = math.ceil(tokens / s)
        return [
            WorkloadGemm("attn.qk", s, s, qk_dim, sequences * heads, layers),
            WorkloadGemm("attn.pv", s, v_dim, s, sequences * heads, layers),
        ]

    def _dense_mlp(self, t: int, tp: int, ffn: int, layers: int, prefix: str = "mlp") -> list[WorkloadGemm]:
        f = self._split(ffn, tp, f"{prefix} FFN size")
        return [
            WorkloadGemm(f"{prefix}.gate_up", t, 2 * f, self.hidden, 1, layers),
            WorkloadGemm(f"{prefix}.down", t, self.hidden, f, 1, layers),
        ]

    def _forward(self, phase: str, t: int, tp: int, seq: int, context: int) -> list[WorkloadGemm]:
        lm_head = WorkloadGemm("lm_head", t, -(-self.vocab // tp), self.hidden)  # vocabulary padded to split evenly
        if self.mla is not None and self.moe is not None:
            return [*self._forward_mla(self.mla, self.moe, phase, t, tp, seq, context), lm_head]
        h, d = self.hidden, self.head_dim
        heads, kv = self._split(self.heads, tp, "attention heads"), self._split(self.kv_heads, tp, "KV heads")
        out = [WorkloadGemm("attn.qkv", t, (heads + 2 * kv) * d, h, 1, self.layers)]
        out += self._attention_core(phase, t, tp, seq, context, d, d, self.layers)
        out.append(WorkloadGemm("attn.o", t, h, heads * d, 1, self.layers))
        return out + self._dense_mlp(t, tp, self.ffn, self.layers) + [lm_head]

    def _forward_mla(
        self, mla: MLA, moe: MoE, phase: str, t: int, tp: int, seq: int, context: int
    ) -> list[WorkloadGemm]:
        h, n = self.hidden, self.layers
        heads = self._split(self.heads, tp, "attention heads")
        qk = mla.qk_dim
        out = [
            WorkloadGemm("mla.q_down", t, mla.q_lora_rank, h, 1, n),
            WorkloadGemm("mla.q_up", t, heads * qk, mla.q_lora_rank, 1, n),
            WorkloadGemm("mla.kv_down", t, mla.kv_lora_rank + mla.qk_rope_dim, h, 1, n),
            WorkloadGemm("mla.kv_up", t, heads * (mla.qk_nope_dim + mla.v_dim), mla.kv_lora_rank, 1, n),
        ]
        out += self._attention_core(phase, t, tp, seq, context, qk, mla.v_dim, n)
        out.append(WorkloadGemm("mla.o", t, h, heads * mla.v_dim, 1, n))
        moe_layers = n - moe.dense_layers
        out += self._dense_mlp(t, tp, self.ffn, moe.dense_layers)
        out.append(WorkloadGemm("moe.router", t, moe.routed_experts, h, 1, moe_layers))
        out += self._dense_mlp(t, tp, moe.shared_experts * moe.expert_ffn, moe_layers, "moe.shared")
        per_expert = math.ceil(t * moe.experts_per_token / moe.routed_experts)
        f = self._split(moe.expert_ffn, tp, "expert FFN size")
        out += [
            WorkloadGemm("moe.experts.gate_up", per_expert, 2 * f, h, moe.routed_experts, moe_layers),
            WorkloadGemm("moe.experts.down", per_expert, h, f, moe.routed_experts, moe_layers),
        ]
        return out

    def model_flops(self, tokens: int, seq: int = 4096, phase: str = "train", context: int = 4096) -> float:
        """Model FLOPs of a step by the PaLM appendix formula: 6 N D + 12 L H Q T D for training (N the
        parameters a token uses, D the tokens, L layers, H heads, Q the query/key head dim, T the attended
        length), the forward third (2 N D + 4 L H Q T D) for prefill, and for decode T = ``context``."""
        n = self.param_count(active=True) - self.vocab * self.hidden  # the input embedding is a lookup
        q = self.mla.qk_dim if self.mla is not None else self.head_dim
        attended = context if phase == "decode" else min(seq, tokens)
        factor = 3.0 if phase == "train" else 1.0
        return factor * (2.0 * n * tokens + 4.0 * self.layers * self.heads * q * attended * tokens)


def model_names() -> list[str]:
    """Every model in the catalogue, by name."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.toml"))


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib as toml
    else:  # Python 3.10: the 'workloads' extra brings tomli
        try:
            import tomli as toml
        except ModuleNotFoundError:
            raise ValueError(
                "the model catalogue needs Python 3.11+ or tomli: pip install 'gemmbench[workloads]'"
            ) from None
    with open(path, "rb") as f:
        return dict(toml.load(f))


def load_model(name: str) -> ModelConfig:
    """The model called ``name``; ValueError naming the valid ones otherwise."""
    path = MODELS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(model_names())}")
    raw = _toml(path)
    unknown = sorted(set(raw) - {f.name for f in fields(ModelConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(unknown)}")
    mla, moe = raw.pop("mla", None), raw.pop("moe", None)
    return ModelConfig(**raw, mla=MLA(**mla) if mla else None, moe=MoE(**moe) if moe else None)
