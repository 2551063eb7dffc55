"""CuPy and Ascend backends against faithful in-process fakes (no GPU/NPU in CI).

The fakes' launches are asynchronous and only advance *device* time, so these tests prove
the timing contract: event timing (median == scripted device time, not host time), events
read only after synchronising, setup (host-to-device copies) outside the timed region, the
first call reported separately, oversized cases refused before any allocation, and precise
reasons when the library or device is missing.
"""

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

import fake_accel
from fake_accel import FIRST_CALL_S, GEMM_MS
from gemmbench.case import GemmCase, Job
from gemmbench.devceilings import device_ceilings
from gemmbench.kernels import cupy_gemm
from gemmbench.kernels.ascend_gemm import AscendGemm, AscendGemmNZ, chip_family
from gemmbench.kernels.cupy_gemm import CupyGemm, CupyGemmTF32
from gemmbench.probe import run_probe
from gemmbench.session import RunHeader, Session
from gemmbench.testing import FAST_POLICY


@pytest.fixture
def fake_cupy(monkeypatch):
    cp = fake_accel.make_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    monkeypatch.setattr(cupy_gemm, "_tf32_mode", None)  # a fresh "process" for each test
    return cp


def _session(kernel, **policy):
    """A session on the fake device with FAST_POLICY, fields overridden by ``policy``."""
    return Session(kernel, RunHeader("t", dataclasses.replace(FAST_POLICY, **policy), 1), pin=False)


def test_cupy_times_with_events_not_host_clock(fake_cupy):
    row, samples, _ = _session(CupyGemm()).run(Job(GemmCase(64, 48, 32, "float32", "NT")))
    assert row.status == "ok", row.reason
    # Every sample is exactly the device time of one GEMM: no copy (setup) and no host time inside.
    assert samples == pytest.approx([GEMM_MS * 1e-3] * len(samples), rel=1e-6)
    assert row.gflops == pytest.approx(GemmCase(64, 48, 32).flops / (GEMM_MS * 1e-3) / 1e9)
    assert row.first_call_s >= FIRST_CALL_S  # handle creation reported on its own
    assert row.device == "Fake H200"
    facts = json.loads(row.facts)
    assert facts["tf32"] == "off" and json.loads(row.libs)["device.compute_capability"] == "9.0"


def test_event_read_before_sync_raises_in_the_fake(fake_cupy):
    a, b = fake_cupy.cuda.Event(), fake_cupy.cuda.Event()
    a.record()
    b.record()
    with pytest.raises(fake_accel.NotReady):
        fake_cupy.cuda.get_elapsed_time(a, b)
    b.synchronize()
    assert 0.0 <= fake_cupy.cuda.get_elapsed_time(a, b) < 1.0  # host time between the two records


def test_cupy_cold_mode_rotates_device_copies(fake_cupy):
    row, samples, _ = _session(CupyGemm()).run(Job(GemmCase(256, 256, 256), "cold"))
    assert row.status == "ok" and row.copies >= 2
    assert row.copies * GemmCase(256, 256, 256).bytes >= 2 * (50 << 20)  # > 2x the fake's L2
    assert samples == pytest.approx([GEMM_MS * 1e-3] * len(samples), rel=1e-6)


def test_a_host_stall_past_the_hold_sets_the_block_aside(fake_cupy):
    """A host stalled mid-block (preempted, a page fault) for longer than the hold ahead of the block
    lets the stream idle inside it: the block would time the stall. Three planted 5 ms stalls in
    sampled blocks must be set aside and counted, every kept sample the device's 2 ms."""
    fake_cupy.timeline.stalls = dict.fromkeys((4, 6, 8), 5.0)  # launches 0-2: check, first call, warm-up
    row, samples, disturbed = _session(CupyGemm(), max_time_s=0.5).run(Job(GemmCase(64, 64, 64)))
    assert row.status == "ok", row.reason
    assert samples == pytest.approx([GEMM_MS * 1e-3] * len(samples), rel=1e-6)
    assert row.disturbed == len(disturbed) >= 3 and max(disturbed) >= (GEMM_MS + 4.0) * 1e-3
    assert int(json.loads(row.facts)["unheld_blocks"]) >= 3 and "after it ran out" not in row.noise  # enough clean


def test_a_host_that_always_outruns_the_hold_is_flagged(fake_cupy):
    """Every sampled block stalled past its hold (each stall three times the last, outgrowing a hold
    sized from the previous block): nothing clean is left, so the row keeps them and says why."""
    fake_cupy.timeline.stalls = {3 + i: 0.2 * 3**i for i in range(8)}
    row = _session(CupyGemm()).run(Job(GemmCase(64, 64, 64))).row
    assert row.status == "ok", row.reason
    assert "blocks issued after it ran out" in row.noise and row.disturbed >= 3


def test_cupy_refuses_oversized_case_before_allocating(fake_cupy):
    row = _session(CupyGemm()).run(Job(GemmCase(16384, 16384, 16384, "float32"))).row
    assert row.status == "skipped"
    assert "GiB on Fake H200" in row.reason and "choose smaller sizes" in row.reason
    assert fake_cupy.timeline.allocations == 0


def test_cupy_tf32_fixed_per_process(fake_cupy):
    row = _session(CupyGemmTF32()).run(Job(GemmCase(8, 8, 8))).row
    assert json.loads(row.facts)["tf32"] == "on"
    with pytest.raises(RuntimeError, match="CuPy fixes TF32 at its first float32 matmul"):
        CupyGemm().setup(1)


def test_cupy_device_ceilings(fake_cupy):
    kernel = CupyGemm()
    kernel.setup(1)
    roofs = list(device_ceilings(kernel, size=128))
    names = {(c.name, c.dtype, c.source) for c in roofs}
    assert ("gemm-peak", "float32", "measured") in names
    assert ("copy-device", "", "measured") in names
    assert ("spec:bfloat16", "bfloat16", "spec") in names  # "Fake H200" matches the H200 spec sheet
    peak = next(c for c in roofs if c.name == "gemm-peak" and c.dtype == "float32")
    assert peak.value == pytest.approx(2 * 128**3 / (GEMM_MS * 1e-3) / 1e9)


@pytest.fixture
def fake_torch(monkeypatch):
    pytest.importorskip("ml_dtypes")

    def install(soc="Ascend910B3"):
        torch, torch_npu = fake_accel.make_torch(soc)
        monkeypatch.setitem(sys.modules, "torch", torch)
        monkeypatch.setitem(sys.modules, "torch_npu", torch_npu)
        return torch

    return install


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_ascend_910b_dtypes_timed_with_npu_events(fake_torch, dtype):
    torch = fake_torch()
    row, samples, _ = _session(AscendGemm()).run(Job(GemmCase(40, 24, 33, dtype, "TN")))
    assert row.status == "ok", row.reason
    assert samples == pytest.approx([GEMM_MS * 1e-3] * len(samples), rel=1e-6)
    facts = json.loads(row.facts)
    assert facts["aligned16"] == "no" and facts["format"] == "ND" and facts["allow_hf32"] == "False"
    assert torch.npu.matmul.allow_hf32 is False
    if dtype == "float32":
        assert facts["float32_computed_as"] == "float32"
    libs = json.loads(row.libs)
    assert libs["soc"] == "Ascend910B3" and libs["torch_npu"] == "2.5.1.post-fake"
    assert "TASK_QUEUE_ENABLE" in libs


def test_ascend_host_stall_past_the_lead_launches_sets_the_block_aside(fake_torch):
    """Without a spin kernel the hold is lead launches of the GEMM: a planted 5 ms stall outlasts a
    2 ms lead, and the block that may hold it is set aside like the spin kernel's."""
    torch = fake_torch()
    torch.timeline.stalls = dict.fromkeys((9, 13, 17), 5.0)  # timed launches (each block: one lead, one timed)
    row, samples, disturbed = _session(AscendGemm(), max_time_s=0.5).run(Job(GemmCase(32, 32, 32, "float16")))
    assert row.status == "ok", row.reason
    assert samples == pytest.approx([GEMM_MS * 1e-3] * len(samples), rel=1e-6)
    assert int(json.loads(row.facts)["unheld_blocks"]) >= 3 and max(disturbed) >= 2 * GEMM_MS * 1e-3  # 5 - 2 + 2 ms


def test_lead_launches_count_the_fastest_block_not_one_a_stall_inflated(fake_torch):
    """A 20 ms stall inflates one block's device time per call; lead launches sized from it would count
    as a 20 ms hold, and the 5 ms stalls that follow would pass as held. The hold counts the fastest
    block's time per call, so every kept sample is still the device's 2 ms."""
    torch = fake_torch()
    torch.timeline.stalls = {9: 20.0, **dict.fromkeys(range(10, 16), 5.0)}
    row, samples, _ = _session(AscendGemm(), max_time_s=0.5).run(Job(GemmCase(32, 32, 32, "float16")))
    assert row.status == "ok", row.reason
    assert samples == pytest.approx([GEMM_MS * 1e-3] * len(samples), rel=1e-6)


def test_ascend_910a_rules(fake_torch):
    fake_torch("Ascend910A")
    session = _session(AscendGemm())
    bf16 = session.run(Job(GemmCase(16, 16, 16, "bfloat16"))).row
    assert bf16.status == "skipped" and bf16.reason == "bfloat16 needs Ascend 910B/910C (this is Ascend910A)"
    f64 = session.run(Job(GemmCase(16, 16, 16, "float64"))).row
    assert f64.reason == "Ascend cube units have no float64 GEMM"
    f32 = session.run(Job(GemmCase(32, 32, 32, "float32"))).row
    assert f32.status == "ok" and json.loads(f32.facts)["float32_computed_as"] == "float16"


def test_ascend_nz_variant(fake_torch):
    fake_torch()
    session = _session(AscendGemmNZ())
    row = session.run(Job(GemmCase(32, 32, 32, "float16"))).row
    assert row.status == "ok" and row.variant == "NZ" and json.loads(row.facts)["format"] == "NZ"
    nt = session.run(Job(GemmCase(32, 32, 32, "float16", "NT"))).row
    assert nt.status == "skipped" and "transposed B" in nt.reason


def test_ascend_device_ceilings(fake_torch):
    fake_torch("Ascend910B3")
    kernel = AscendGemm()
    kernel.setup(1)
    roofs = {(c.name, c.dtype, c.source) for c in list(device_ceilings(kernel, size=64))}
    assert ("gemm-peak", "float16", "measured") in roofs and ("copy-device", "", "measured") in roofs
    assert ("spec:float16", "float16", "spec") in roofs  # Ascend910B3 matches the 910B spec sheet


def test_chip_family():
    assert [
        chip_family(s)
        for s in ("Ascend910B3", "Ascend910A", "Ascend910PremiumA", "Ascend910_9391", "Ascend310P3", "Tesla")
    ] == ["910B", "910A", "910A", "910C", "310P", ""]


def test_missing_libraries_give_precise_reasons():
    from importlib.util import find_spec

    if find_spec("cupy") is None:
        assert CupyGemm.probe() == "cupy not installed (pip install 'gemmbench[cupy]')"
    if find_spec("torch_npu") is None:
        assert AscendGemm.probe().startswith("torch_npu not installed")


def _probe_with(tmp_path, files, code):
    """Run a backend's probe code in a child whose PYTHONPATH holds fake packages."""
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


TORCH_CPU = {
    "torch/__init__.py": """
    import types
    __version__ = "2.5.1"
    version = types.SimpleNamespace(cuda=None)
    """
}


@pytest.mark.parametrize(
    "files, fragment",
    [
        (
            {
                "torch/__init__.py": """
        import types
        __version__ = "2.5.1+cu121"
        version = types.SimpleNamespace(cuda="12.1")
        """
            },
            "is a CUDA build (CUDA 12.1)",
        ),
        (
            {
                **TORCH_CPU,
                "torch_npu/__init__.py": "raise ImportError('libascendcl.so: cannot open shared object file')\n",
            },
            "CANN runtime not found (libascendcl.so",
        ),
        (
            {**TORCH_CPU, "torch_npu/__init__.py": "import sys\nsys.exit('ASCEND_HOME_PATH is not set')\n"},
            "CANN runtime not found",
        ),
        (
            {
                "torch/__init__.py": TORCH_CPU["torch/__init__.py"]
                + """
    npu = types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0)
    """,
                "torch_npu/__init__.py": "__version__ = '2.5.1'\n",
            },
            "no NPU visible",
        ),
    ],
)
def test_ascend_probe_reasons(tmp_path, files, fragment):
    from gemmbench.kernels import ascend_gemm

    result = _probe_with(tmp_path, files, ascend_gemm._PROBE)
    assert result["ok"] is False and fragment in result["reason"], result


@pytest.mark.parametrize(
    "body, fragment",
    [
        (
            "class _R:\n    @staticmethod\n    def getDeviceCount():\n"
            "        raise RuntimeError('cudaErrorNoDevice')\n",
            "no CUDA device or driver: RuntimeError: cudaErrorNoDevice",
        ),
        ("class _R:\n    @staticmethod\n    def getDeviceCount():\n        return 0\n", "no CUDA device visible"),
    ],
)
def test_cupy_probe_reasons(tmp_path, body, fragment):
    from gemmbench.kernels import cupy_gemm

    src = body + "import types\ncuda = types.SimpleNamespace(runtime=_R)\n"
    result = _probe_with(tmp_path, {"cupy/__init__.py": src}, cupy_gemm._PROBE)
    assert result == {"ok": False, "reason": fragment} or fragment in result["reason"]


def test_probe_timeout_and_crash_become_reasons():
    run_probe.cache_clear()
    assert "timed out after 1 s" in run_probe("import time; time.sleep(30)", 1.0)["reason"]
    assert run_probe("import os; os.abort()")["reason"].startswith("probe failed")
    assert run_probe("print('{\"ok\": true}')") == {"ok": True}


def test_list_shows_accelerators_unavailable_with_reason(capsys):
    from gemmbench.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("cupy", "cupy-tf32", "ascend", "ascend-nz"):
        assert any(
            line.startswith(name + " ") and ("unavailable:" in line or "available" in line) for line in out.splitlines()
        ), out


def test_cupy_and_ascend_run_batched_cases_as_one_call(fake_cupy, fake_torch):
    """A 3-D matmul is one strided-batched library call; each product is verified."""
    case = GemmCase(16, 8, 12, "float32", "NT", batch=3)
    row = _session(CupyGemm()).run(Job(case)).row
    assert row.status == "ok" and row.batch == 3, row.reason
    fake_torch("Ascend910B3")
    row = _session(AscendGemm()).run(Job(GemmCase(16, 8, 12, "float16", "TN", batch=3))).row
    assert row.status == "ok" and row.batch == 3, row.reason
    assert "batched cases" in _session(AscendGemmNZ()).run(Job(GemmCase(16, 16, 16, "float16", batch=2))).row.reason
