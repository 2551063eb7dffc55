"""`pytest --benchmark`, exercised in inner pytest sessions (pytester)."""

import json

import pytest

from gemmbench.registry import discover
from gemmbench.result import read_results

PLANTED = """
from gemmbench.testing import PlantedWrong, PlantedUnavailable

class Wrong(PlantedWrong):
    name = "planted-wrong"

class Missing(PlantedUnavailable):
    name = "planted-missing"

KERNELS = [Wrong, Missing]
"""
SMALL = [
    "-p",
    "gemmbench.pytest_plugin",
    "--gemm-sizes",
    "8,16",
    "--gemm-dtypes",
    "float32",
    "--gemm-threads",
    "1",
    "--gemm-max-time",
    "0.05",
]


@pytest.fixture
def suite(pytester, monkeypatch, tmp_path):
    kernels = tmp_path / "userkernels"
    kernels.mkdir()
    (kernels / "planted.py").write_text(PLANTED)
    monkeypatch.setenv("GEMMBENCH_KERNEL_PATH", str(kernels))
    pytester.makepyfile(
        test_suite="""
        def test_gemm(gemm_job):
            gemm_job.check()

        def test_unit():
            assert 1 + 1 == 2
    """
    )
    return pytester


def _run(suite, *args):
    return suite.runpytest_subprocess(*SMALL, "-p", "no:cacheprovider", *args)


def test_without_flag_gemm_tests_skip_with_reason(suite):
    result = _run(suite, "-ra", "-p", "no:benchmark")
    n = len(discover().names())  # built-in backends + the 2 planted ones (GEMMBENCH_KERNEL_PATH)
    result.assert_outcomes(passed=1, skipped=2 * n)  # x 2 sizes
    result.stdout.fnmatch_lines([f"SKIPPED ?{2 * n}? *needs --benchmark"])
    assert not (suite.path / "results").exists()


def test_with_flag_rows_written_and_summary_printed(suite):
    out = suite.path / "r.csv"
    result = _run(suite, "--benchmark", "-ra", "-p", "no:benchmark", "--gemm-output", str(out))
    reg = discover()
    available = sum(reg.get(name).probe() is None for name in reg.names())
    unavailable = len(reg.names()) - available  # includes planted-missing
    result.assert_outcomes(passed=2 * (available - 1) + 1, failed=2, skipped=2 * unavailable)  # -1: planted-wrong
    result.stdout.fnmatch_lines(
        [
            "*= gemmbench =*",
            "backend *GFLOP/s*",
            "numpy *8x8x8 *ok*",
            "SKIPPED * planted-missing unavailable: planted: library not installed",
            "FAILED *test_gemm?planted-wrong-8x8x8*",
        ]
    )
    rows = read_results(out)
    assert sorted((r.backend, r.status) for r in rows if r.backend in ("numpy", "planted-wrong")) == [
        ("numpy", "ok"),
        ("numpy", "ok"),
        ("planted-wrong", "wrong"),
        ("planted-wrong", "wrong"),
    ]
    assert len({r.run_id for r in rows}) == 1


def test_k_selects_backends(suite):
    out = suite.path / "k.csv"
    result = _run(suite, "--benchmark", "-k", "numpy and 16x16", "-p", "no:benchmark", "--gemm-output", str(out))
    result.assert_outcomes(passed=1)
    assert [(r.backend, r.m) for r in read_results(out)] == [("numpy", 16)]


def test_marker_selects_gemm_tests(suite):
    result = _run(suite, "-m", "not gemm", "-p", "no:benchmark")
    result.assert_outcomes(passed=1)


def test_pytest_benchmark_options_work_on_gemm_tests(suite):
    pytest.importorskip("pytest_benchmark")
    out, js = suite.path / "pb.csv", suite.path / "pb.json"
    result = _run(suite, "--benchmark-only", f"--benchmark-json={js}", "-k", "numpy", "--gemm-output", str(out))
    result.assert_outcomes(passed=2)
    names = {b["name"]: b for b in json.loads(js.read_text())["benchmarks"]}
    bench = names["test_gemm[numpy-8x8x8-float32-NN-hot-x1]"]
    assert bench["extra_info"]["gflops"] > 0 and bench["extra_info"]["flops"] == 2 * 8**3
    assert bench["stats"]["rounds"] >= 3
    assert {r.status for r in read_results(out)} == {"ok"}


def test_bad_gemm_option_is_a_usage_error(suite):
    result = _run(suite, "--benchmark", "--gemm-dtypes", "float8", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown dtype 'float8'; valid choices: float16, bfloat16, float32, float64*"])


def test_unknown_backend_is_a_usage_error(suite):
    result = _run(suite, "--benchmark", "--gemm-backends", "nope", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'nope'; valid choices: *numpy*planted-wrong*"])
