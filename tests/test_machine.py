import pytest

from gemmbench.ceilings import read_ceilings, write_ceilings
from gemmbench.cli import main
from gemmbench.hostroofs import clock_mhz, measure_host
from gemmbench.machine import hostname
from test_roofline import CEILS


def test_measure_host_small(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the GEMM rows land in ./results
    ceilings = measure_host([1], ["numpy"], gemm_size=64, stream_elements=1 << 16)
    names = {(c.kind, c.name, c.dtype, c.source) for c in ceilings}
    assert ("compute", "gemm", "float32", "measured") in names
    assert ("compute", "gemm", "float64", "measured") in names
    if clock_mhz()[0]:
        assert ("compute", "theoretical", "float64", "derived") in names
    try:
        import numba  # noqa: F401
        assert ("compute", "fma", "float32", "measured") in names
        assert ("bandwidth", "triad", "", "measured") in names
    except ImportError:
        assert ("bandwidth", "copy", "", "measured") in names
    assert all(c.value > 0 and c.host == hostname() and c.method for c in ceilings)


def test_machine_if_missing_reuses_existing(tmp_path, capsys):
    path = tmp_path / f"machine-{hostname()}-20260101-000000-aaaa.csv"
    write_ceilings(path, CEILS)
    assert main(["machine", "--if-missing", "-o", str(tmp_path / "new.csv")]) == 0
    assert "already in" in capsys.readouterr().out
    assert read_ceilings(path) == CEILS


@pytest.mark.parametrize("argv, fragment", [
    (["machine", "-j", "999"], "threads must be between 1 and"),
    (["machine", "-b", "nope"], "unknown backend 'nope'"),
])
def test_machine_usage_errors(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_specs_command_lists_sources(capsys):
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA H200" in out and "source:" in out and "confidence" in out
