"""The architecture holds: import contracts that bite, one codec, one error base, a quiet timed region."""

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gemmbench.ceilings import CeilingsError
from gemmbench.codec import CodecError, columns, decode, encode
from gemmbench.errors import GemmbenchError
from gemmbench.testing import ScriptedDevice
from gemmbench.timer import TimingPolicy, measure

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def tree(tmp_path):
    """A copy of the package laid out as it installs: gemmbench/ (from bench/) and kernels/, with the config."""
    shutil.copytree(REPO / "bench", tmp_path / "gemmbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "kernels", tmp_path / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def _lint(tree):
    if not LINT.exists():
        pytest.skip("import-linter not installed (extra 'lint')")
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True)


def _plant(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + line + "  # noqa\n" + rest if sep else line + "\n" + text)


def test_contracts_hold_on_the_tree(tree):
    out = _lint(tree)
    assert out.returncode == 0, out.stdout
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    "module, line, message",
    [
        # the old device <-> machine cycle, reverted
        ("gemmbench/hostfacts.py", "from .device import HostDevice", "gemmbench.hostfacts is not allowed to import"),
        # the old kernel -> hostroofs -> runner -> execute -> kernel loop: the contract reaching a command
        (
            "gemmbench/kernel.py",
            "from .commands.machine import measure_host",
            "gemmbench.kernel is not allowed to import gemmbench.commands",
        ),
        # a backend reaching past the facade
        (
            "kernels/numpy_gemm.py",
            "from gemmbench.case import GemmCase as _Case",
            "kernels is not allowed to import gemmbench.case",
        ),
    ],
)
def test_contracts_fail_on_a_planted_violation(tree, module, line, message):
    _plant(tree / module, line)
    out = _lint(tree)
    assert out.returncode != 0
    assert message in out.stdout, out.stdout


@dataclasses.dataclass(frozen=True)
class _Row:
    name: str
    count: int
    share: float | None = None
    flag: bool = False


def test_codec_round_trip_from_type_hints():
    row = _Row("a,b", 3, 0.25, True)
    assert columns(_Row) == ("name", "count", "share", "flag")
    assert encode(row) == ["a,b", "3", "0.25", "True"]
    assert decode(_Row, dict(zip(columns(_Row), encode(row)))) == row
    assert decode(_Row, {"name": "x", "count": "1", "share": "", "flag": "False", "extra": "?"}) == _Row("x", 1)
    assert encode(_Row("nan", 0, float("nan"))) == ["nan", "0", "", "False"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"name": "x", "count": "1.5"}, "column 'count': '1.5' is not a valid int"),
        ({"name": "x", "count": "1", "share": "fast"}, "column 'share': 'fast' is not a valid float"),
        ({"name": "x", "count": "1", "flag": "yes"}, "column 'flag': 'yes' is not a valid bool"),
    ],
)
def test_codec_names_the_bad_column(raw, message):
    with pytest.raises(CodecError, match=message):
        decode(_Row, raw)


def test_every_user_error_shares_one_base():
    from gemmbench.case import CaseError
    from gemmbench.errors import UsageError
    from gemmbench.registry import UnknownBackendError
    from gemmbench.result import ResultsFileError
    from gemmbench.timer import PolicyError

    for cls in (CaseError, PolicyError, ResultsFileError, CeilingsError, UnknownBackendError, UsageError):
        assert issubclass(cls, GemmbenchError), cls


def test_timed_blocks_run_without_trace_or_profile_hooks():
    """Under coverage or a debugger, a trace hook would run on every line of the launch loop."""
    dev = ScriptedDevice(iter(lambda: 1000.0, None))
    traced = []

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is ScriptedDevice.launch.__code__:
            traced.append(1)
        return None

    policy = TimingPolicy(
        warmup_count=2, warmup_time_s=0.0, min_block_s=1e-5, min_samples=5, min_time_s=0.0, max_time_s=1.0, target=1.0
    )
    sys.settrace(tracer)
    try:
        samples = measure([dev.launch], dev, policy, now=dev.now)
        hook_after = sys.gettrace()
    finally:
        sys.settrace(None)
    timed = len(samples.per_call_s) * samples.inner
    assert hook_after is tracer  # restored
    assert timed > 0 and len(traced) == dev.launches - timed  # first call, warm-up, calibration only


def test_backend_facade_exports_resolve():
    import gemmbench.backend as facade

    assert all(getattr(facade, name) is not None for name in facade.__all__)
    assert {
        "Kernel",
        "Prepared",
        "Operands",
        "GemmCase",
        "EventDevice",
        "check_kernel",
        "probe_stack",
        "aligned_empty",
    } <= set(facade.__all__)
