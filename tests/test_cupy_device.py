"""The CuPy backend on a real CUDA GPU: what the fakes of ``fake_accel`` model, checked against hardware.

Skipped where CuPy or a CUDA device is missing (CI has neither). Everywhere else the
accelerator tests run against fakes; these run the same claims on the GPU itself, so a
fake that drifted from real CuPy, cuBLAS or the driver shows up here:

- every result is verified on the device's own output, and planted wrong kernels running
  on the GPU (C = 0, one tile missing a term, C + 1e-3, accumulating, computing once) are
  ``wrong``;
- TF32: ``cupy-tf32`` rows pass at TF32 accuracy, and TF32 switched on behind the plain
  backend's back (CuPy fixes it at a process's first float32 matmul) is caught as ``wrong``;
- the event-timed median of a long GEMM agrees with a host stopwatch around a synchronised
  loop, and a tiny GEMM is timed at its device time (below its host dispatch, thanks to
  the spin kernel ahead of each block) and flagged ``launch-bound``;
- NVML reads clocks for every row; cold mode rotates more than twice the GPU's L2;
- what the first H200 run found (docs/accelerators.md): batched bfloat16 and batched TF32 are refused with
  a reason, a 20 ms GEMM keeps its blocks, and prefill GEMMs sit under the device's roofs.

Run on a GPU machine with ``pytest tests/test_cupy_device.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest

cp = pytest.importorskip("cupy", reason="CuPy not installed: the real-GPU tests need it")
try:
    _DEVICES = cp.cuda.runtime.getDeviceCount()
except Exception as exc:  # no driver, or CUDA cannot start
    pytest.skip(f"no usable CUDA device: {type(exc).__name__}: {exc}", allow_module_level=True)
if not _DEVICES:
    pytest.skip("no CUDA device visible", allow_module_level=True)

from gemmbench.case import GemmCase, Job  # noqa: E402
from gemmbench.ceilings import CeilingSet  # noqa: E402
from gemmbench.devceilings import device_ceilings  # noqa: E402
from gemmbench.kernel import Prepared  # noqa: E402
from gemmbench.kernels.cupy_gemm import CupyGemm, CupyGemmTF32  # noqa: E402
from gemmbench.rows import place_row  # noqa: E402
from gemmbench.session import RunHeader, Session  # noqa: E402
from gemmbench.timer import TimingPolicy  # noqa: E402
from gemmbench.verify import make_operands  # noqa: E402

#: Enough blocks for a median, short enough for a lease of minutes.
POLICY = TimingPolicy(warmup_count=2, warmup_time_s=0.0, min_samples=5, min_time_s=0.0, max_time_s=0.5, target=1.0)
#: The largest k of the default sweep: where a normwise check once let planted errors pass.
LARGEST_K = 2048


def _run(kernel, case, mode="hot"):
    return Session(kernel, RunHeader("gpu", POLICY, 1), pin=False).run(Job(case, mode)).row


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("trans", ["NN", "NT", "TN", "TT"])
def test_cublas_results_are_verified_for_every_dtype_and_layout(dtype, trans):
    row = _run(CupyGemm(), GemmCase(96, 80, LARGEST_K, dtype, trans))
    if dtype == "bfloat16" and row.status == "skipped":
        pytest.skip(row.reason)  # a CuPy without bfloat16 says so in the row
    assert row.status == "ok", row.reason
    assert row.compute == "" and json.loads(row.facts)["tf32"] == "off"


def test_batched_products_are_one_call_and_verified():
    row = _run(CupyGemm(), GemmCase(64, 96, 512, "float32", batch=8))
    assert row.status == "ok", row.reason


def test_batched_bfloat16_is_measured_or_skipped_with_a_reason_never_an_error():
    """CuPy 14.2 multiplies 2-D bfloat16 but its batched route raised a TypeError on an H200."""
    row = _run(CupyGemm(), GemmCase(64, 96, 512, "bfloat16", batch=8))
    assert row.status == "ok" or (row.status == "skipped" and "batched bfloat16" in row.reason), row


def test_cupy_tf32_leaves_batched_cases_to_the_plain_backend():
    """CuPy's batched matmul never reads CUPY_TF32: such a row would be true float32 labelled tf32."""
    assert "ignores CUPY_TF32" in CupyGemmTF32().supports(GemmCase(64, 96, 512, "float32", batch=8))


class _Planted(CupyGemm):
    """cuBLAS plus a defect applied on the device: ``twist(c, launch, case, operands)`` returns the launch."""

    name = "cupy-planted"

    def twist(self, c, launch, case, operands):
        raise NotImplementedError

    def prepare(self, case, operands):
        good = super().prepare(case, operands)
        launch, out = self.twist(good.output, good.launch, case, operands)
        return replace(good, launch=launch, output=out)


def _zero(c, launch, case, ops):
    return (lambda: c.fill(0)), c


def _tile_missing_a_term(c, launch, case, ops):
    term = cp.asarray((ops.a[6:12, :1].astype("float64") @ ops.b[:1, 16:32].astype("float64")).astype(c.dtype))

    def run():
        launch()
        c[6:12, 16:32] -= term  # one 6x16 micro-tile without the k = 0 term

    return run, c


def _plus_1e3(c, launch, case, ops):
    def run():
        launch()
        c[...] += c.dtype.type(1e-3)

    return run, c


def _accumulate(c, launch, case, ops):
    acc = cp.zeros_like(c)

    def run():
        launch()
        acc[...] += c  # C += A B: beta forgotten

    return run, acc


def _once(c, launch, case, ops):
    done = []

    def run():
        if not done:
            launch()
            done.append(True)

    return run, c


_DEFECTS = {
    "C = 0": _zero,
    "one tile": _tile_missing_a_term,
    "C + 1e-3": _plus_1e3,
    "accumulate": _accumulate,
    "compute once": _once,
}


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("defect", sorted(_DEFECTS))
def test_planted_wrong_kernels_on_the_gpu_are_wrong(defect, dtype):
    if defect == "C + 1e-3" and dtype in ("float16", "bfloat16"):
        pytest.skip("1e-3 is below half a unit in the last place of a 16-bit product of this size")
    kernel = type(f"Planted{defect.title().replace(' ', '')}", (_Planted,), {"twist": staticmethod(_DEFECTS[defect])})
    row = _run(kernel(), GemmCase(64, 64, LARGEST_K, dtype))
    if dtype == "bfloat16" and row.status == "skipped":
        pytest.skip(row.reason)
    assert row.status == "wrong", (defect, row.status, row.reason)


def _subprocess(body: str) -> dict:
    """Run ``body`` in a fresh interpreter (CuPy fixes TF32 per process) and return the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "CUPY_TF32"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


_ROW = """
import json
from gemmbench.case import GemmCase, Job
from gemmbench.session import RunHeader, Session
from gemmbench.testing import FAST_POLICY
def row(kernel):
    r = Session(kernel, RunHeader("gpu", FAST_POLICY, 1), pin=False).run(Job(GemmCase(512, 512, 2048, "float32"))).row
    return {"status": r.status, "reason": r.reason, "compute": r.compute}
"""


def test_tf32_rows_pass_at_tf32_accuracy_and_say_so():
    got = _subprocess(
        _ROW + "from gemmbench.kernels.cupy_gemm import CupyGemmTF32\nprint(json.dumps(row(CupyGemmTF32())))"
    )
    assert got["status"] == "ok" and got["compute"] == "tf32", got


def test_tf32_switched_on_behind_the_plain_backend_is_caught():
    """CuPy reads CUPY_TF32 at a process's first float32 matmul: done before the backend sets it to 0."""
    got = _subprocess(
        "import os; os.environ['CUPY_TF32'] = '1'\n"
        "import cupy; x = cupy.ones((64, 64), 'float32'); (x @ x).get()\n"
        + _ROW
        + "from gemmbench.kernels.cupy_gemm import CupyGemm\nprint(json.dumps(row(CupyGemm())))"
    )
    assert got["status"] == "wrong" and got["compute"] == "", got


def test_the_event_median_agrees_with_a_stopwatch_on_a_long_gemm():
    """Milliseconds per call: a host clock around a synchronised loop of 30 launches is a fair referee."""
    case = GemmCase(4096, 4096, 4096, "float32")
    row = _run(CupyGemm(), case)
    assert row.status == "ok", row.reason
    kernel = CupyGemm()
    kernel.setup(1)
    prepared: Prepared = kernel.prepare(case, make_operands(case))
    for _ in range(3):
        prepared.launch()
    cp.cuda.get_current_stream().synchronize()
    t0 = time.perf_counter()
    for _ in range(30):
        prepared.launch()
    cp.cuda.get_current_stream().synchronize()
    stopwatch = (time.perf_counter() - t0) / 30
    assert row.median_s > 1e-3  # long enough that the stopwatch's own cost is noise
    assert row.median_s == pytest.approx(stopwatch, rel=0.05), (row.median_s, stopwatch)


def test_a_tiny_gemm_is_timed_on_the_device_and_flagged_launch_bound():
    """64^3 runs in microseconds; CuPy's Python dispatch costs more. The spin kernel keeps dispatch out of the
    events, so the median sits below the dispatch time, and the row says an application could not reach it."""
    row = _run(CupyGemm(), GemmCase(64, 64, 64, "float32"))
    assert row.status == "ok", row.reason
    assert row.dispatch_s is not None and row.median_s < row.dispatch_s, (row.median_s, row.dispatch_s)
    assert "launch-bound" in row.noise


def test_a_long_gemm_keeps_its_blocks_and_prefill_rows_sit_under_the_device_roofs():
    """On an H200, blocks of 20 ms GEMMs were set aside as issued past their hold, and the 8192^3 median
    (power-capped blocks in it) made Llama-3.1-8B's prefill GEMMs read 102 % of it: `suspect`."""
    kernel = CupyGemm()
    kernel.setup(1)
    roofs = CeilingSet(list(device_ceilings(kernel, size=8192)))
    kernel.release()
    long = _run(CupyGemm(), GemmCase(8192, 8192, 8192, "float32"))
    assert int(json.loads(long.facts).get("unheld_blocks", "0")) <= 1, long.noise  # one host stall may happen
    for shape in ((4096, 6144, 4096), (4096, 4096, 4096)):
        row = place_row(_run(CupyGemm(), GemmCase(*shape, "bfloat16")), roofs)
        assert row.status == "ok" and row.pct_peak is not None and "suspect" not in row.noise, (row.pct_peak, row.noise)


def test_nvml_reads_the_clocks_of_every_row():
    pytest.importorskip("pynvml", reason="nvidia-ml-py not installed")
    facts = json.loads(_run(CupyGemm(), GemmCase(2048, 2048, 2048, "float32")).facts)
    assert int(str(facts["sm_clock_mhz"]).split("-")[0]) > 0, facts


def test_cold_mode_rotates_more_than_twice_the_l2():
    row = _run(CupyGemm(), GemmCase(1024, 1024, 1024, "float32"), "cold")
    assert row.status == "ok", row.reason
    l2 = int(cp.cuda.runtime.getDeviceProperties(0)["l2CacheSize"])
    assert int(json.loads(row.facts)["cold_bytes"]) > 2 * l2
    assert "partly cache-resident" not in row.noise
