import itertools
import json

import pytest

import gemmbench.session as execute
from gemmbench.case import GemmCase
from gemmbench.ceilings import read_ceilings, write_ceilings
from gemmbench.cli import main
from gemmbench.commands.machine import measure_host
from gemmbench.contention import CLK_TCK, Steal, steal_ticks
from gemmbench.hostfacts import clock_mhz, hostname
from gemmbench.kernels.numpy_gemm import NumpyGemm
from gemmbench.testing import check_kernel
from test_roofline import _at


def test_measure_host_small(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the GEMM rows land in ./results
    ceilings = list(measure_host([1], ["numpy"], gemm_size=64, stream_elements=1 << 16))
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
    mine = _at("2026-01-01", host=hostname())
    write_ceilings(path, mine)
    assert main(["machine", "--if-missing", "-o", str(tmp_path / "new.csv")]) == 0
    assert "already in" in capsys.readouterr().out
    assert read_ceilings(path) == mine


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["machine", "-j", "999"], "threads must be between 1 and"),
        (["machine", "-b", "nope"], "unknown backend 'nope'"),
    ],
)
def test_machine_usage_errors(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_specs_command_lists_sources(capsys):
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA H200" in out and "source:" in out and "confidence" in out


def test_steal_ticks_sum_the_measured_cpus(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 0 9 9 0 0 0 999 0 0\ncpu0 1 0 1 1 0 0 0 250 0 0\ncpu1 1 0 1 1 0 0 0 150 0 0\nintr 12345\n")
    assert steal_ticks([0, 1], str(stat)) == 400
    assert steal_ticks([1], str(stat)) == 150  # the "cpu" total line is never counted
    stat.write_text("cpu0 1 0 1 1\n")  # a kernel too old to report steal
    assert steal_ticks([0], str(stat)) is None
    assert steal_ticks([0], str(tmp_path / "missing")) is None


def test_vm_steal_during_a_measurement_is_flagged_in_the_row(monkeypatch):
    """A vCPU taken away by the hypervisor leaves no trace in the samples themselves; the row
    records the stolen ticks and window (facts) and says so in its noise column."""
    clock = itertools.count(0, 5000)  # every read: 50 s more steal than the one before
    monkeypatch.setattr(execute, "steal_ticks", lambda cpus: next(clock))
    (row,) = check_kernel(NumpyGemm, [GemmCase(16, 16, 16)])
    facts = json.loads(row.facts)
    assert "VM steal" in row.noise
    assert float(facts["steal"]) > 0.02 and facts["steal_ticks"] == "5000" and float(facts["steal_window_s"]) > 0
    monkeypatch.setattr(execute, "steal_ticks", lambda cpus: 7)  # none stolen meanwhile
    (row,) = check_kernel(NumpyGemm, [GemmCase(16, 16, 16)])
    assert "VM steal" not in row.noise and json.loads(row.facts)["steal"] == "0.000"


def test_one_steal_tick_in_a_short_window_is_not_flagged():
    """/proc/stat counts 10 ms ticks: one tick in a 0.2 s one-CPU window reads as 5 % but proves nothing."""
    one = Steal(ticks=1, window_s=0.2, cpus=1)
    assert one.share == pytest.approx(1 / CLK_TCK / 0.2) and not one.proven
    two = Steal(ticks=2, window_s=0.3, cpus=2)  # reads 3.3 %, but one tick less is 1.7 %
    assert two.share > 0.02 and not two.proven
    assert Steal(ticks=3, window_s=0.2, cpus=1).proven  # at least 2 ticks of 0.2 s: 10 %
    assert Steal(ticks=40, window_s=2.0, cpus=2).proven  # 10 %


def test_machine_says_when_runs_will_not_read_the_ceilings_it_wrote(tmp_path, monkeypatch, capsys):
    """Runs take this host's newest results/machine-<host>-*.csv only: a file written elsewhere (or another host's
    name) left later rows on the derived roof, flagged `suspect`, without a word (seen with -o results/zen5.csv)."""
    monkeypatch.chdir(tmp_path)
    mine = _at("2026-01-01", host=hostname())
    monkeypatch.setattr("gemmbench.commands.machine.measure_host", lambda *a, **k: iter(mine))
    (tmp_path / "results").mkdir()
    for elsewhere in ("results/zen5-machine.csv", "kept/machine.csv", "results/machine-otherhost-1.csv"):
        (tmp_path / elsewhere).parent.mkdir(exist_ok=True)
        assert main(["machine", "-j", "1", "-o", elsewhere]) == 0
        out = capsys.readouterr().out
        assert f"note: runs read this host's newest results/machine-{hostname()}-*.csv, which {elsewhere} is not" in out
        assert "they derive the roof from the clock" in out
    assert main(["machine", "-j", "1"]) == 0  # the default name: what runs read
    default = capsys.readouterr().out
    assert "note:" not in default and f"results/machine-{hostname()}-" in default
    assert main(["machine", "-j", "1", "-o", f"results/machine-{hostname()}-99999999-manual.csv"]) == 0
    assert "note:" not in capsys.readouterr().out  # named for this host and newest: read
    assert main(["machine", "-j", "1", "-o", "kept/again.csv"]) == 0
    assert f"they read results/machine-{hostname()}-99999999-manual.csv" in capsys.readouterr().out
