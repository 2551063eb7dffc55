"""The workload catalogue: shapes derived from model configs, parameter counts, DeepBench's sets."""

import numpy as np
import pytest

from gemmbench.cli import main
from gemmbench.workloads.catalogue import alignment_sweep, catalogue, decode_sweep, deepbench, find_workload
from gemmbench.workloads.model import load_model, model_names

PUBLISHED = {  # billions, as the model cards and reports give them
    "llama3.1-8b": 8.0,
    "llama3.1-70b": 70.6,
    "llama3.1-405b": 405.8,
    "qwen2.5-72b": 72.7,
    "mistral-large-2407": 122.6,
    "pangu-ultra-135b": 133.9,
    "deepseek-v3": 671.0,
}


@pytest.mark.parametrize("name, billions", sorted(PUBLISHED.items()))
def test_parameter_counts_match_the_published_sizes(name, billions):
    config = load_model(name)
    assert config.param_count() / 1e9 == pytest.approx(billions, abs=0.06 if billions < 600 else 0.5)
    assert config.published_params / 1e9 == pytest.approx(billions)


def test_deepseek_active_parameters():
    assert load_model("deepseek-v3").param_count(active=True) / 1e9 == pytest.approx(37.6, abs=0.06)


def _shapes(gemms):
    return {g.role: (g.m, g.n, g.k, g.batch, g.count) for g in gemms}


def test_pangu_ultra_shapes_by_hand_at_tp1_and_tp8():
    tp1 = _shapes(load_model("pangu-ultra-135b").gemms("prefill", 4096, 1))
    assert tp1["attn.qkv"] == (4096, (96 + 2 * 8) * 128, 12288, 1, 94)
    assert tp1["attn.o"] == (4096, 12288, 96 * 128, 1, 94)
    assert tp1["mlp.gate_up"] == (4096, 2 * 28672, 12288, 1, 94)
    assert tp1["mlp.down"] == (4096, 12288, 28672, 1, 94)
    assert tp1["attn.qk"] == (4096, 4096, 128, 96, 94) and tp1["attn.pv"] == (4096, 128, 4096, 96, 94)
    assert tp1["lm_head"] == (4096, 153376, 12288, 1, 1)
    tp8 = _shapes(load_model("pangu-ultra-135b").gemms("prefill", 4096, 8))
    assert tp8["attn.qkv"] == (4096, (12 + 2 * 1) * 128, 12288, 1, 94)  # 96/8 query heads, 8/8 KV heads
    assert tp8["attn.o"] == (4096, 12288, 1536, 1, 94)  # row-parallel: K split
    assert tp8["mlp.gate_up"] == (4096, 7168, 12288, 1, 94) and tp8["mlp.down"] == (4096, 12288, 3584, 1, 94)
    assert tp8["attn.qk"][3] == 12 and tp8["lm_head"] == (4096, 19172, 12288, 1, 1)


def test_deepseek_mla_and_experts_by_hand():
    g = _shapes(load_model("deepseek-v3").gemms("prefill", 4096, 1))
    assert g["mla.q_down"] == (4096, 1536, 7168, 1, 61)
    assert g["mla.q_up"] == (4096, 128 * (128 + 64), 1536, 1, 61)
    assert g["mla.kv_down"] == (4096, 512 + 64, 7168, 1, 61)
    assert g["mla.kv_up"] == (4096, 128 * (128 + 128), 512, 1, 61)
    assert g["mla.o"] == (4096, 7168, 128 * 128, 1, 61)
    assert g["attn.qk"] == (4096, 4096, 192, 128, 61) and g["attn.pv"] == (4096, 128, 4096, 128, 61)
    assert g["mlp.gate_up"] == (4096, 2 * 18432, 7168, 1, 3)  # the first three layers are dense
    assert g["moe.router"] == (4096, 256, 7168, 1, 58)
    assert g["moe.shared.gate_up"] == (4096, 2 * 2048, 7168, 1, 58)
    assert g["moe.experts.gate_up"] == (4096 * 8 // 256, 2 * 2048, 7168, 256, 58)  # equal shares per expert
    assert g["moe.experts.down"] == (128, 7168, 2048, 256, 58)


def test_train_adds_dgrad_and_wgrad_of_the_same_work():
    config = load_model("llama3.1-8b")
    forward = config.gemms("prefill", 2048, 2)
    train = config.gemms("train", 2048, 2)
    assert len(train) == 3 * len(forward)
    assert sum(g.flops for g in train) == 3 * sum(g.flops for g in forward)
    dgrad = {g.role: g for g in train}["attn.o dgrad"]
    fwd = {g.role: g for g in forward}["attn.o"]
    assert (dgrad.m, dgrad.n, dgrad.k) == (fwd.m, fwd.k, fwd.n)
    wgrad = {g.role: g for g in train}["attn.o wgrad"]
    assert (wgrad.m, wgrad.n, wgrad.k) == (fwd.n, fwd.k, fwd.m)


def test_decode_attends_to_the_context():
    g = _shapes(load_model("llama3.1-70b").gemms("decode", 8, 8, context=1000))
    assert g["attn.qk"] == (1, 1000, 128, 8 * 8, 80) and g["attn.pv"] == (1, 128, 1000, 64, 80)
    assert g["attn.qkv"] == (8, (8 + 2) * 128, 8192, 1, 80)


def test_model_flops_follow_the_palm_formula():
    config = load_model("llama3.1-8b")
    n = config.param_count() - config.vocab * config.hidden
    assert config.model_flops(4096, 4096) == pytest.approx(6 * n * 4096 + 12 * 32 * 32 * 128 * 4096 * 4096)


def test_deepbench_sets_and_their_row_major_conversion():
    assert [len(deepbench(s)) for s in ("deepbench-training", "deepbench-server", "deepbench-device")] == [160, 75, 13]
    first = deepbench("deepbench-training")[0]  # (1760, 16, 1760, false, false)
    assert (first.m, first.n, first.k, first.trans) == (16, 1760, 1760, "NN")
    rows = {g.role: g for g in deepbench("deepbench-training")}
    t = rows["training_set 5124x9124x1760 10"]  # a_t true: B of the row-major case is stored transposed
    assert (t.m, t.n, t.k, t.trans) == (9124, 5124, 1760, "NT")
    t = rows["training_set 1760x7133x1760 01"]  # b_t true: A of the row-major case is stored transposed
    assert (t.m, t.n, t.k, t.trans) == (7133, 1760, 1760, "TN")
    last = deepbench("deepbench-device")[-1]  # (4224, 1, 128, false, false)
    assert (last.m, last.n, last.k) == (1, 4224, 128)


@pytest.mark.parametrize("a_t, b_t", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_the_conversion_computes_what_cublas_would(a_t, b_t):
    """Column-major C = op(A) op(B) from the same memory as the converted row-major case computes."""
    m, n, k = 5, 3, 4
    rng = np.random.default_rng(0)
    a_mem, b_mem = rng.standard_normal(m * k), rng.standard_normal(k * n)
    a = a_mem.reshape((k, m) if a_t else (m, k), order="F")  # as cuBLAS reads its column-major memory
    b = b_mem.reshape((n, k) if b_t else (k, n), order="F")
    c_cublas = (a.T if a_t else a) @ (b.T if b_t else b)  # m x n, column-major
    trans = ("T" if b_t else "N") + ("T" if a_t else "N")
    # the row-major case: M = n, N = m, K = k; a stored matrix is the row-major reading of the same memory
    a_row = b_mem.reshape((k, n)).T if trans[0] == "T" else b_mem.reshape((n, k))
    b_row = a_mem.reshape((m, k)).T if trans[1] == "T" else a_mem.reshape((k, m))
    np.testing.assert_allclose(a_row @ b_row, c_cublas.T)


def test_sweeps():
    sizes = [g.m for g in alignment_sweep()]
    assert sizes == [1039, 1040, 1041, 1087, 1088, 1089, 1151, 1152, 1153]
    rows = decode_sweep("llama3.1-8b", tp=1)
    assert {g.m for g in rows} == {1, 2, 4, 8, 16, 32, 64, 128, 256} and len(rows) == 9 * 4
    assert {g.role.split()[0] for g in rows} == {"attn.qkv", "attn.o", "mlp.gate_up", "mlp.down"}


def test_catalogue_lists_everything_with_a_source():
    names = {w.name for w in catalogue()}
    assert set(model_names()) <= names and {"deepbench-training", "alignment"} <= names
    assert all(w.source for w in catalogue())
    assert find_workload("pangu-ultra-135b:decode", tokens=4)[0].m == 4


def test_workloads_command(capsys):
    assert main(["workloads"]) == 0
    assert "pangu-ultra-135b" in capsys.readouterr().out
    assert main(["workloads", "show", "pangu-ultra-135b", "--phase", "train", "--tokens", "4096", "--tp", "8"]) == 0
    out = capsys.readouterr().out
    assert "133.9 B parameters (published 133.9 B)" in out and "attn.qkv dgrad" in out and "21 GEMMs" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["workloads", "show", "gpt-5"], "unknown workload 'gpt-5'; valid choices: deepseek-v3,"),
        (["workloads", "show", "pangu-ultra-135b", "--tp", "7"], "attention heads (96) is not divisible by --tp 7"),
        (["workloads", "show"], "workloads show needs a name"),
    ],
)
def test_workloads_usage_errors(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
