"""Accelerator numbers that hold on real hardware, proven against fakes that misbehave as hardware does.

Each test plants one defect a real GPU/NPU would show and fails on code that does not handle it:
launches that cost host time (an idle stream times the host), TF32 rounding (a float32
tolerance calls every TF32 result wrong; a kernel computing TF32 in secret must still be
caught), ceilings of two compute precisions for one dtype, CuPy's memory pool holding freed
blocks, NVML reporting throttling and wandering clocks, an L2 larger than the default, and
``gemmbench machine -b cupy,cupy-tf32`` (two TF32 modes, one process each) with a third
backend that fails.
"""

import csv
import dataclasses
import functools
import itertools
import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

import fake_accel
from gemmbench.case import GemmCase, Job
from gemmbench.ceilings import Ceiling, CeilingSet, read_ceilings
from gemmbench.cli import main
from gemmbench.codec import encode
from gemmbench.commands import machine as machine_cmd
from gemmbench.devceilings import device_ceilings
from gemmbench.kernels import cupy_gemm
from gemmbench.kernels.ascend_gemm import AscendGemm, AscendGemmHF32
from gemmbench.kernels.cupy_gemm import CupyGemm, CupyGemmTF32
from gemmbench.registry import KERNEL_PATH_ENV
from gemmbench.result import COLUMNS
from gemmbench.rows import place_row
from gemmbench.session import RunHeader, Session
from gemmbench.specs import find_spec, spec_ceilings
from gemmbench.testing import FAST_POLICY
from gemmbench.timer import TimingPolicy
from tests_support import make_row

TESTS = Path(__file__).resolve().parent
#: Enough blocks for medians to mean something, short enough for CI.
POLICY = TimingPolicy(warmup_count=2, warmup_time_s=0.0, min_samples=5, min_time_s=0.0, max_time_s=0.3, target=1.0)


def _install_cupy(monkeypatch, **kw):
    cp = fake_accel.make_cupy(**kw)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    monkeypatch.setattr(cupy_gemm, "_tf32_mode", None)
    return cp


def _run(kernel, case, policy=POLICY):
    return Session(kernel, RunHeader("t", policy, 1), pin=False).run(Job(case))


# ---------------------------------------------------------------- 1. host launch cost


def test_cupy_hides_host_dispatch_behind_a_spin_kernel_and_flags_launch_bound(monkeypatch):
    """A 0.2 ms GEMM whose dispatch costs the host 1 ms: on an idle stream every block would time the host
    (~1 ms per call). Held busy by the spin kernel, the events time the device; the row says launch-bound."""
    cp = _install_cupy(monkeypatch, gemm_ms=0.2, launch_host_ms=1.0)
    row, samples, _ = _run(CupyGemm(), GemmCase(32, 32, 32, "float32"))
    assert row.status == "ok", row.reason
    assert row.median_s == pytest.approx(0.2e-3, rel=0.05), samples
    assert row.dispatch_s >= 1e-3
    assert "launch-bound" in row.noise and row.flagged
    assert cp.timeline.spins and max(cp.timeline.spins) > 1e6  # held for longer than a block's dispatch


def test_cheap_dispatch_is_not_launch_bound_and_blocks_start_on_a_busy_stream(monkeypatch):
    _install_cupy(monkeypatch, gemm_ms=2.0, launch_host_ms=0.0)
    row, samples, _ = _run(CupyGemm(), GemmCase(32, 32, 32, "float32"))
    assert samples == pytest.approx([2e-3] * len(samples), rel=1e-6)
    assert "launch-bound" not in row.noise and 0 < row.dispatch_s < 1e-3


def test_npu_leads_with_untimed_launches_when_there_is_no_spin_kernel(monkeypatch):
    """torch_npu offers no spin kernel: the harness leads each block with launches of the GEMM itself. A 2 ms
    GEMM dispatched in 0.5 ms would otherwise read 2.5 ms (the first dispatch inside every one-call block)."""
    pytest.importorskip("ml_dtypes")
    torch, torch_npu = fake_accel.make_torch("Ascend910B3", gemm_ms=2.0, launch_host_ms=0.5)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch_npu", torch_npu)
    row, samples, _ = _run(AscendGemm(), GemmCase(32, 32, 32, "float16"))
    assert row.status == "ok", row.reason
    assert row.median_s == pytest.approx(2e-3, rel=0.02), samples
    assert "launch-bound" not in row.noise


def _stall_before_end_marks(kernel, stalls_ms):
    """Make the host stall before recording some end marks (after the block's last launch): ``stalls_ms``
    gives the stall of each end mark in turn."""
    device = kernel.device()
    record, marks = device.record, itertools.count()
    stalls = iter(stalls_ms)

    def late(event):
        if next(marks) % 2:  # marks come in pairs: start, end
            time.sleep(next(stalls, 0.0) * 1e-3)
        record(event)

    device.record = late
    return kernel


def test_a_stall_before_the_end_mark_of_a_long_gemm_idles_nothing_and_costs_no_block(monkeypatch):
    """An H200 set aside blocks of a 21 ms GEMM as issued past their hold: the whole block, end mark included,
    had to be issued within a hold sized for the launches alone. A stall after the last launch of a 20 ms
    GEMM leaves the stream busy; only a stall that can idle it sets a block aside."""
    _install_cupy(monkeypatch, gemm_ms=20.0)
    kernel = CupyGemm()
    kernel.setup(1)
    _stall_before_end_marks(kernel, [0.0, 8.0] * 50)  # the hold, sized from the block before, misses every other
    row, samples, disturbed = _run(kernel, GemmCase(32, 32, 32, "float32"))
    assert row.status == "ok", row.reason
    assert not disturbed and "unheld_blocks" not in json.loads(row.facts), row.noise
    assert samples == pytest.approx([20e-3] * len(samples), rel=1e-6)


def test_a_host_hiccup_shorter_than_a_twentieth_of_the_block_costs_no_block(monkeypatch):
    """The hold was twice the dispatch plus 50 us whatever the block's length: a 0.5 ms hiccup of the host
    between the start mark and the launch of a 40 ms GEMM set the block aside. A hold of 5 % of the block
    (2 ms) absorbs it; the stream is busy with the spin kernel all that while.

    The fake's stream runs on the host's clock, so the real host's own hiccups add to the planted ones: with
    a 20 ms GEMM (a 1 ms hold) a busy CI VM once stretched a planted 0.5 ms to 1.03 ms and the block was
    rightly set aside. The 40 ms GEMM leaves 1.5 ms for the host's own noise."""
    cp = _install_cupy(monkeypatch, gemm_ms=40.0)
    cp.timeline.stalls = dict.fromkeys(range(5, 60, 2), 0.5)
    row, samples, disturbed = _run(CupyGemm(), GemmCase(32, 32, 32, "float32"))
    assert row.status == "ok", row.reason
    assert not disturbed and samples == pytest.approx([40e-3] * len(samples), rel=1e-6), row.noise


def test_a_stall_between_two_launches_of_a_block_of_short_gemms_is_still_set_aside(monkeypatch):
    """The per-launch credit must not excuse a real gap: 0.3 ms GEMMs, several to a block, and a 3 ms stall
    before every seventh launch, ten times what the launches queued ahead can cover. Every such block is set
    aside; every kept sample is the device's 0.3 ms."""
    cp = _install_cupy(monkeypatch, gemm_ms=0.3)
    cp.timeline.stalls = dict.fromkeys(range(10, 400, 7), 3.0)
    row, samples, disturbed = _run(CupyGemm(), GemmCase(32, 32, 32, "float32"))
    assert row.status == "ok", row.reason
    assert samples == pytest.approx([0.3e-3] * len(samples), rel=1e-6)
    assert len(disturbed) >= 3 and min(disturbed) > 0.3e-3 * 1.2, disturbed


def test_blocks_set_aside_for_the_hold_alone_are_not_called_throttled(monkeypatch):
    """An H200 row read 'throttled (0 of 9 timed blocks: )' next to 'host slower than the hold'."""
    cp = _install_cupy(monkeypatch)
    _nvml(monkeypatch)  # clocks steady, never throttled
    cp.timeline.stalls = {3 + i: 0.2 * 3**i for i in range(8)}  # every block outruns a hold sized from the last
    row = _run(CupyGemm(), GemmCase(64, 64, 64, "float32")).row
    assert "blocks issued after it ran out" in row.noise and "throttled" not in row.noise, row.noise


# ---------------------------------------------------------------- 2. compute precision


def test_tf32_results_verified_at_tf32_and_recorded(monkeypatch):
    _install_cupy(monkeypatch)
    row = _run(CupyGemmTF32(), GemmCase(256, 256, 256, "float32"), FAST_POLICY).row
    assert row.status == "ok", row.reason  # at float32 tolerance this is ~14x its bound
    assert row.compute == "tf32" and json.loads(row.facts)["tf32"] == "on"


def test_a_kernel_computing_tf32_in_secret_is_caught(monkeypatch):
    """The plain backend states no reduced precision: if the library computes TF32 anyway, the row is wrong."""
    _install_cupy(monkeypatch)
    session = Session(CupyGemm(), RunHeader("t", FAST_POLICY, 1), pin=False)
    monkeypatch.setenv("CUPY_TF32", "1")  # flipped behind the backend's back, before the first matmul
    row = session.run(Job(GemmCase(256, 256, 256, "float32"))).row
    assert row.status == "wrong" and row.compute == ""


def test_tf32_backend_is_float32_only(monkeypatch):
    _install_cupy(monkeypatch)
    row = _run(CupyGemmTF32(), GemmCase(16, 16, 16, "float64"), FAST_POLICY).row
    assert row.status == "skipped" and "float32" in row.reason


def test_cupy_tf32_refuses_batched_cases_which_cupy_runs_in_true_float32(monkeypatch):
    """On an H200, cupy-tf32's batched rows ran at the plain backend's rate: CuPy's 3-D matmul never reads
    CUPY_TF32. They passed the (looser) TF32 check and sat at 11 % of the TF32 roof, labelled tf32."""
    _install_cupy(monkeypatch)
    row = _run(CupyGemmTF32(), GemmCase(64, 48, 128, "float32", batch=4), FAST_POLICY).row
    assert row.status == "skipped" and "ignores CUPY_TF32" in row.reason and "'cupy'" in row.reason
    assert _run(CupyGemmTF32(), GemmCase(64, 48, 128, "float32"), FAST_POLICY).row.compute == "tf32"


@pytest.mark.parametrize("supported", [False, True])
def test_batched_bfloat16_is_probed_on_its_own(monkeypatch, supported):
    """CuPy 14.2 multiplies 2-D bfloat16 but raises a TypeError for 3-D: an ``error`` row, where the backend
    can say in advance that this CuPy cannot."""
    pytest.importorskip("ml_dtypes")
    _install_cupy(monkeypatch, batched_bfloat16=supported)
    session = Session(CupyGemm(), RunHeader("t", FAST_POLICY, 1), pin=False)
    assert session.run(Job(GemmCase(32, 32, 64, "bfloat16"))).row.status == "ok"
    row = session.run(Job(GemmCase(32, 32, 64, "bfloat16", batch=4))).row
    if supported:
        assert row.status == "ok", row.reason
    else:
        assert row.status == "skipped"
        assert row.reason == "this CuPy (14.0.0-fake) has no batched bfloat16 matmul: TypeError"


def test_hf32_is_a_compute_precision_on_910b_only(monkeypatch):
    pytest.importorskip("ml_dtypes")
    for soc, status in (("Ascend910B3", "ok"), ("Ascend910A", "skipped")):
        torch, torch_npu = fake_accel.make_torch(soc)
        monkeypatch.setitem(sys.modules, "torch", torch)
        monkeypatch.setitem(sys.modules, "torch_npu", torch_npu)
        row = _run(AscendGemmHF32(), GemmCase(64, 64, 64, "float32"), FAST_POLICY).row
        assert row.status == status, row.reason
        if status == "ok":
            assert row.compute == "hf32" and torch.npu.matmul.allow_hf32 is True


# ---------------------------------------------------------------- 3. ceilings keyed by compute precision


def _roofs():
    def c(value, compute=""):
        return Ceiling("compute", "gemm-peak", "float32", 0, value, "measured", "h", "GPU", compute=compute)

    return CeilingSet([c(60_000.0), c(400_000.0, "tf32")])


def test_true_float32_is_never_judged_against_the_tf32_roof():
    roofs = _roofs()
    assert roofs.peak("h", "GPU", "float32", 1).value == 60_000.0
    assert roofs.peak("h", "GPU", "float32", 1, "tf32").value == 400_000.0
    assert roofs.peak("h", "GPU", "float32", 1, "hf32") is None  # no roof of that precision: no placement


def test_rows_are_placed_by_their_compute_precision(monkeypatch):
    _install_cupy(monkeypatch)
    plain = _run(CupyGemm(), GemmCase(64, 64, 64, "float32"), FAST_POLICY).row
    _install_cupy(monkeypatch)  # a fresh process: CuPy fixes TF32 once per process
    tf32 = _run(CupyGemmTF32(), GemmCase(64, 64, 64, "float32"), FAST_POLICY).row
    roofs = CeilingSet(
        [
            Ceiling("compute", "gemm-peak", "float32", 0, 1.0, "measured", plain.host, plain.device),
            Ceiling("compute", "gemm-peak", "float32", 0, 8.0, "measured", plain.host, plain.device, compute="tf32"),
        ]
    )
    assert place_row(plain, roofs).peak_gflops == 1.0
    assert place_row(tf32, roofs).peak_gflops == 8.0


def test_a_gpu_row_above_its_practical_peak_is_suspect_only_above_the_spec_sheet():
    """An H200's honest rows read 100-103 % of its measured 8192^3 rate (float32: Llama-3.1-8B's lm_head 103 %)
    and were all flagged `suspect`. The measured peak stays the %peak reference; the spec sheet is the bound."""
    row = make_row(device="NVIDIA H200", host="h", dtype="bfloat16", gflops=776_000.0)
    practical = Ceiling("compute", "gemm-peak", "bfloat16", 0, 763_000.0, "measured", "h", "NVIDIA H200")
    spec = CeilingSet(spec_ceilings(find_spec("NVIDIA H200"), "h", "NVIDIA H200")).ceilings
    placed = place_row(row, CeilingSet([practical, *spec]))
    assert placed.pct_peak == pytest.approx(101.7, abs=0.1) and "suspect" not in placed.noise
    alone = place_row(row, CeilingSet([practical]))  # a GPU the spec sheet does not know: the practical peak
    assert alone.noise.startswith("suspect: 102% of the gemm-peak roof (measured)")
    absurd = place_row(dataclasses.replace(row, gflops=1_200_000.0), CeilingSet([practical, *spec]))
    assert absurd.noise.startswith("suspect: 121% of the spec:bfloat16 roof (spec)"), absurd.noise


def test_spec_sheet_tf32_and_fp64_tensor_roofs_are_keyed_right():
    roofs = CeilingSet(spec_ceilings(find_spec("NVIDIA H200"), "h", "NVIDIA H200"))
    assert roofs.peak("h", "NVIDIA H200", "float32", 1).value == 67_000.0  # not the 494.5 TFLOPS TF32 figure
    assert roofs.peak("h", "NVIDIA H200", "float32", 1, "tf32").value == 494_500.0
    assert roofs.peak("h", "NVIDIA H200", "float64", 1).value == 67_000.0  # DGEMM runs on FP64 tensor cores


def test_machine_csv_of_schema_1_reads_with_empty_compute(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "kind,name,dtype,threads,value,source,host,device,timestamp,method,schema_version\n"
        "compute,gemm-peak,float32,0,400000.0,measured,h,GPU,,,1\n"
    )
    (c,) = read_ceilings(path)
    assert c.compute == "" and c.value == 400_000.0


# ---------------------------------------------------------------- 5. memory pool


def test_memory_held_by_the_pool_counts_as_free_and_is_released_between_cases(monkeypatch):
    """5 MiB device, 3 MiB case: after the first case CuPy's pool holds its 3 MiB. Reading only the driver's
    free memory (2 MiB) would skip the second case."""
    cp = _install_cupy(monkeypatch, capacity=5 << 20)
    session = Session(CupyGemm(), RunHeader("t", FAST_POLICY, 1), pin=False)
    case = GemmCase(512, 512, 512, "float32")
    first, second = session.run(Job(case)).row, session.run(Job(case)).row
    assert (first.status, second.status) == ("ok", "ok"), second.reason
    assert cp.timeline.pool_free == 0  # released after each case
    x = cp.empty((1024,), "float32")
    del x  # back to the pool, not to the device
    assert cp.timeline.pool_free == 4096 and session.device.memory_available() == 5 << 20


# ---------------------------------------------------------------- 6. clocks and throttling


def _nvml(monkeypatch, **kw):
    nvml = fake_accel.make_nvml(**kw)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return nvml


def test_throttled_blocks_are_set_aside_and_the_row_flagged(monkeypatch):
    _install_cupy(monkeypatch)
    queries = iter(range(10**6))
    # Thermal slowdown on every third query: most blocks see it at their start or end.
    nvml = _nvml(monkeypatch, reasons=lambda: fake_accel.SW_THERMAL if next(queries) % 3 == 0 else 0)
    row = _run(CupyGemm(), GemmCase(32, 32, 32, "float32")).row
    assert nvml.state.handles == ["0000:19:00.0"]  # found by PCI bus id, not by CUDA's numbering
    assert row.disturbed > 0
    assert "throttled" in row.noise and "sw thermal slowdown" in row.noise
    facts = json.loads(row.facts)
    assert facts["throttle_reasons"] == "sw thermal slowdown" and facts["sm_clock_mhz"] == "1980"


def test_the_device_roof_is_its_fastest_unthrottled_block(monkeypatch):
    """An H200's 8192^3 bfloat16 median mixed blocks slowed by its power cap (1.4 of 2 ms here) with
    full-clock ones, and Llama-3.1-8B's prefill GEMMs then read 102 % of that roof: `suspect`, falsely."""
    cp = _install_cupy(monkeypatch)
    queries = itertools.count()

    def reasons():  # the power cap on for every other block (two queries a block), and the GEMM slower then
        capped = next(queries) // 2 % 2 == 1
        cp.timeline.gemm_ms = 2.0 / 0.7 if capped else 2.0
        return fake_accel.SW_POWER_CAP if capped else 0

    _nvml(monkeypatch, reasons=reasons)
    kernel = CupyGemm()
    kernel.setup(1)
    roof = next(c for c in device_ceilings(kernel, size=64, policy=POLICY) if c.name == "gemm-peak")
    assert roof.value == pytest.approx(2 * 64**3 / 2e-3 / 1e9, rel=1e-3), roof
    assert roof.method.startswith("fastest of ") and "set aside" in roof.method


def test_changing_clocks_are_recorded_and_flagged(monkeypatch):
    _install_cupy(monkeypatch)
    clocks = iter(range(10**6))
    _nvml(monkeypatch, sm_mhz=lambda: 1755 if next(clocks) % 2 else 1980)
    row = _run(CupyGemm(), GemmCase(32, 32, 32, "float32")).row
    assert json.loads(row.facts)["sm_clock_mhz"] == "1755-1980"
    assert "SM clock changed 1755-1980 MHz" in row.noise and row.flagged


def test_steady_clocks_and_no_throttle_leave_the_row_clean(monkeypatch):
    _install_cupy(monkeypatch)
    _nvml(monkeypatch)
    row = _run(CupyGemm(), GemmCase(32, 32, 32, "float32")).row
    unheld = int(json.loads(row.facts).get("unheld_blocks", "0"))  # host stalls (a loaded runner): not the GPU's
    assert row.disturbed == unheld and "throttled" not in row.noise and "clock" not in row.noise


def test_without_nvml_there_is_no_monitor_and_no_error(monkeypatch):
    _install_cupy(monkeypatch)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    row = _run(CupyGemm(), GemmCase(32, 32, 32, "float32"), FAST_POLICY).row
    assert row.status == "ok" and "sm_clock_mhz" not in json.loads(row.facts)


# ---------------------------------------------------------------- 7. cold mode defeats the device's own L2


@pytest.mark.parametrize("l2_mib", [50, 126])
def test_gpu_cold_mode_rotates_more_than_twice_the_reported_l2(monkeypatch, l2_mib):
    _install_cupy(monkeypatch, l2_bytes=l2_mib << 20)
    row = Session(CupyGemm(), RunHeader("t", FAST_POLICY, 1), pin=False).run(Job(GemmCase(256, 256, 256), "cold")).row
    assert row.status == "ok" and "cache-resident" not in row.noise
    rotated = int(json.loads(row.facts)["cold_bytes"])
    assert rotated == row.copies * GemmCase(256, 256, 256).bytes
    assert rotated >= 2 * (l2_mib << 20)


# ---------------------------------------------------------------- 4. machine: device roofs in workers


_BROKEN = """
from gemmbench.backend import Kernel


class BrokenAccel(Kernel):
    name = "broken-accel"
    measures_own_ceilings = True

    def setup(self, threads):
        raise RuntimeError("driver exploded")

    def prepare(self, case, operands):
        raise AssertionError("never reached")


KERNELS = [BrokenAccel]
"""


def test_machine_measures_cupy_and_cupy_tf32_in_workers_and_survives_a_failing_backend(tmp_path, monkeypatch, capsys):
    """Old code set both CuPy backends up in one process: the second raised (TF32 is fixed per process) and
    nothing was written. Now each runs in its own worker, roofs are keyed by compute precision, a failing
    backend is one error line, and every ceiling measured is in the file."""
    fakes = tmp_path / "fakes"
    (fakes / "cupy").mkdir(parents=True)
    (fakes / "cupy" / "__init__.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(TESTS)!r})
            import fake_accel
            import os
            # A fast fake GPU (0.1 us a GEMM): faster than any CPU, so a CPU roof taken from it would show.
            globals().update(vars(fake_accel.make_cupy(gemm_ms=1e-4)))
            """
        )
    )
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken_accel.py").write_text(_BROKEN)
    monkeypatch.setenv("PYTHONPATH", f"{fakes}:{TESTS.parent}")
    monkeypatch.syspath_prepend(str(fakes))  # the probe's find_spec runs here
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setenv(KERNEL_PATH_ENV, str(plugins))
    monkeypatch.chdir(tmp_path)
    small = functools.partial(machine_cmd.measure_host, gemm_size=32, stream_elements=1 << 12)
    monkeypatch.setattr(machine_cmd, "measure_host", small)
    out = tmp_path / "m.csv"
    code = main(
        ["machine", "-j", "1", "-b", "numpy,cupy,cupy-tf32,broken-accel", "--device-size", "16", "-o", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "broken-accel: device ceilings not measured" in err and "driver exploded" in err
    ceilings = read_ceilings(out)
    peaks = {(c.dtype, c.compute) for c in ceilings if c.name == "gemm-peak"}
    assert {("float32", ""), ("float32", "tf32"), ("float64", "")} <= peaks
    cpu_gemm = [c for c in ceilings if c.name == "gemm"]
    assert cpu_gemm and all(c.device.startswith("cpu") for c in cpu_gemm)  # the CPU roofs are kept ...
    assert all("numpy" in c.method and c.value < 10_000 for c in cpu_gemm)  # ... never taken from a GPU's rate
    with open(out) as f:
        assert next(csv.reader(f))[-2:] == ["compute", "schema_version"]


def test_rows_are_never_appended_to_a_results_file_of_an_older_schema(tmp_path, capsys, monkeypatch):
    """A schema-4 file lacks this version's columns: appended rows would read back as truncated lines and be
    dropped. The run refuses with one line before measuring or saying anything else (not even the warning
    that OPENBLAS_CORETYPE, set on some hosts, prints before a run), and the file is untouched."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    path = tmp_path / "old.csv"
    cells = dict(zip(COLUMNS, encode(make_row(schema_version=4))))
    header = [c for c in COLUMNS if c not in ("compute", "dispatch_s", "node")]
    old = ",".join(header) + "\n" + ",".join(cells[c] for c in header) + "\n"
    path.write_text(old)
    assert main(["run", "-b", "numpy", "-s", "16", "--max-time", "0.05", "-j", "1", "-o", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "older gemmbench" in err and "new file" in err, err
    assert path.read_text() == old
