import dataclasses
import os
import re

import numpy as np
import pytest

from gemmbench.ceilings import Ceiling, CeilingsError, CeilingSet, latest_ceilings, read_ceilings, write_ceilings
from gemmbench.roofline import attainable_gflops, place, ridge_intensity
from gemmbench.rows import place_row as annotate
from gemmbench.specs import SPECS, find_spec, spec_ceilings
from gemmbench.sweep import host_ceilings

HOST, DEV = "h1", "cpu: X"


def _c(kind, name, dtype, threads, value, source="measured"):
    return Ceiling(kind, name, dtype, threads, value, source, HOST, DEV, "2026-01-01", "test")


CEILS = [
    _c("compute", "fma", "float32", 1, 90.0),
    _c("compute", "fma", "float32", 2, 180.0),
    _c("compute", "theoretical", "float64", 2, 80.0, "derived"),
    _c("bandwidth", "triad", "", 1, 12.0),
    _c("bandwidth", "triad", "", 2, 30.0),
]


def test_roofline_maths_literal():
    assert attainable_gflops(2.0, 180.0, 30.0) == 60.0
    assert attainable_gflops(100.0, 180.0, 30.0) == 180.0
    assert attainable_gflops(2.0, None, 30.0) == 60.0
    assert attainable_gflops(2.0, None, None) is None
    assert ridge_intensity(180.0, 30.0) == 6.0
    p = place(45.0, 2.0, 180.0, 30.0)
    assert (p.roof_gflops, p.pct_peak, p.pct_roof) == (60.0, 25.0, 75.0)


def test_ceiling_lookup_exact_scaled_and_fallbacks():
    cs = CeilingSet(CEILS)
    assert cs.peak(HOST, DEV, "float32", 2).value == 180.0
    assert cs.peak(HOST, DEV, "float64", 2).name == "theoretical"  # no measured fma: derived
    scaled = cs.peak(HOST, DEV, "float64", 1)
    assert scaled.value == 40.0 and "scaled from 2 threads" in scaled.method
    assert cs.bandwidth(HOST, DEV, 1).value == 12.0
    assert cs.peak("other-host", DEV, "float32", 1) is None
    assert cs.peak(HOST, "NVIDIA H200", "float32", 1) is None


def test_spec_fallback_and_lookup():
    h200 = find_spec("NVIDIA H200 NVL")
    assert h200.name == "NVIDIA H200"
    assert find_spec("NVIDIA H100 80GB HBM3").name == "NVIDIA H100 SXM"
    assert find_spec("Ascend910B3").name == "Huawei Ascend 910B"
    assert find_spec("Intel Xeon") is None
    cs = CeilingSet(spec_ceilings(h200, host=HOST, device="NVIDIA H200"))
    assert cs.peak(HOST, "NVIDIA H200", "bfloat16", 1).value == pytest.approx(989_500.0)
    assert cs.bandwidth(HOST, "NVIDIA H200", 1).value == 4800.0
    assert all(s.source and s.confidence in ("high", "medium", "low") for s in SPECS)
    assert {s.name for s in SPECS} >= {
        "NVIDIA A100 SXM 80GB",
        "NVIDIA H100 SXM",
        "NVIDIA H200",
        "NVIDIA B200",
        "AMD Instinct MI300X",
        "Huawei Ascend 910",
        "Huawei Ascend 910B",
        "Huawei Ascend 910C",
        "Huawei Ascend 310P",
    }


def test_machine_csv_round_trip_and_latest(tmp_path):
    path = write_ceilings(tmp_path / f"machine-{HOST}-20260101-000000-aaaa.csv", CEILS)
    write_ceilings(tmp_path / f"machine-{HOST}-20250101-000000-aaaa.csv", CEILS[:1])
    assert read_ceilings(path) == CEILS
    assert latest_ceilings(tmp_path, HOST) == path


def _at(when, host=HOST):
    return [dataclasses.replace(c, host=host, timestamp=when) for c in CEILS]


def test_latest_ceilings_is_the_file_this_host_measured_last(tmp_path):
    """Chosen by what the files say, not by their names: a hand-named machine-<host>-manual.csv sorted after every
    timestamped name ('m' > '2') and stayed newest forever; a host whose name extends this one's (h1-b) matched
    machine-h1-*.csv, so its file, none of whose roofs are this host's, left runs with no roof to flag a rate by;
    and a newer file that cannot be read hid a good older one, leaving runs on the derived roof without a word."""
    manual = write_ceilings(tmp_path / f"machine-{HOST}-manual.csv", _at("2026-01-01T00:00:00+00:00"))
    measured = write_ceilings(tmp_path / f"machine-{HOST}-20260301-000000-aaaa.csv", _at("2026-03-01T00:00:00+00:00"))
    assert latest_ceilings(tmp_path, HOST) == measured
    other = write_ceilings(
        tmp_path / f"machine-{HOST}-b-20260401-000000-aaaa.csv", _at("2026-04-01T00:00:00+00:00", host=f"{HOST}-b")
    )
    assert latest_ceilings(tmp_path, HOST) == measured
    assert latest_ceilings(tmp_path, f"{HOST}-b") == other
    broken = tmp_path / f"machine-{HOST}-20260501-000000-aaaa.csv"
    broken.write_text("kind,name\ncompute,fma\n")  # hand-edited: columns lost
    problems: list[str] = []
    assert latest_ceilings(tmp_path, HOST, problems) == measured
    assert problems == [
        f"{broken}: not a gemmbench machine CSV (missing columns: dtype, threads, value, source, schema_version)"
    ]
    # A file whose rows carry no time (a spec sheet typed in) is as new as its last change.
    typed = write_ceilings(tmp_path / f"machine-{HOST}-spec.csv", _at(""))
    os.utime(typed, (1_800_000_000, 1_800_000_000))  # 2027
    assert latest_ceilings(tmp_path, HOST) == typed
    os.utime(typed, (1_700_000_000, 1_700_000_000))  # 2023
    assert latest_ceilings(tmp_path, HOST) == measured
    assert manual.exists()


def test_runs_take_the_roofs_of_this_host_and_say_which_files_they_skipped(tmp_path, monkeypatch):
    """``run``'s roofs (``host_ceilings``): another host's newer file never replaces this host's roofs, and a file
    of this host that cannot be read is named in a note instead of silently leaving the derived roof in place."""
    monkeypatch.setattr("gemmbench.sweep.hostname", lambda: HOST)
    good = _at("2026-03-01T00:00:00+00:00")
    write_ceilings(tmp_path / f"machine-{HOST}-20260301-000000-aaaa.csv", good)
    write_ceilings(tmp_path / f"machine-{HOST}-b-20260401-000000-aaaa.csv", _at("2026-04-01", host=f"{HOST}-b"))
    edited = tmp_path / f"machine-{HOST}-20260501-000000-aaaa.csv"
    edited.write_text("kind,name,dtype,threads,value,source,schema_version\ncompute,fma,float32,1,9O.0,measured,2\n")
    empty = write_ceilings(tmp_path / f"machine-{HOST}-20260601-000000-aaaa.csv", [])  # killed before a roof
    notes: list[str] = []
    assert host_ceilings(tmp_path, threads=(1,), say=notes.append) == good
    assert CeilingSet(host_ceilings(tmp_path, threads=(1,))).peak(HOST, DEV, "float32", 1).value == 90.0
    assert notes == [
        f"ceilings skipped: {edited}: bad machine CSV (column 'value': '9O.0' is not a valid float)",
        f"ceilings skipped: {empty}: no ceilings in it",
    ]


def test_a_run_without_measured_ceilings_says_its_roof_is_derived_and_from_which_clock(tmp_path, monkeypatch, capsys):
    """The clock the OS reports is often nominal: on the Zen 5 host the derived roof was 64 % of the measured FMA
    peak, %peak read half as high again and honest rows were flagged `suspect`, and nothing said the roof was not
    measured. Said once a command, however many rounds."""
    from gemmbench.cli import main

    monkeypatch.chdir(tmp_path)
    for where in ("gemmbench.hostfacts.clock_mhz", "gemmbench.sweep.clock_mhz"):
        monkeypatch.setattr(where, lambda: (2596.0, "/proc/cpuinfo (may be nominal)"))
    notes: list[str] = []
    roofs = host_ceilings(tmp_path, threads=(1,), say=notes.append)
    assert {c.source for c in roofs} == {"derived"} and roofs[0].method.count("2596 MHz") == 1
    assert notes == [
        f"no measured ceilings for this host in {tmp_path} ('gemmbench machine' measures them): %peak and "
        "`suspect` use the derived roof, at 2596 MHz from /proc/cpuinfo (may be nominal), which a core that boosts "
        "exceeds"
    ]
    argv = ["run", "-b", "numpy", "-s", "16", "-j", "1", "--max-time", "0.01", "--rounds", "2", "-o", "r.csv"]
    assert main(argv) == 0
    assert capsys.readouterr().err.count("no measured ceilings for this host in results") == 1
    for where in ("gemmbench.hostfacts.clock_mhz", "gemmbench.sweep.clock_mhz"):
        monkeypatch.setattr(where, lambda: (0.0, "unknown"))
    notes.clear()
    assert host_ceilings(tmp_path, threads=(1,), say=notes.append) == []
    assert notes[0].endswith("no clock to derive a roof from either: rows are placed under no roof")
    write_ceilings(tmp_path / f"machine-{HOST}-20260301-000000-aaaa.csv", _at("2026-03-01"))
    monkeypatch.setattr("gemmbench.sweep.hostname", lambda: HOST)
    notes.clear()
    assert host_ceilings(tmp_path, threads=(1,), say=notes.append) and notes == []


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "not a gemmbench machine CSV (missing columns: kind"),
        ("x,y\n1,2\n", "not a gemmbench machine CSV"),
    ],
)
def test_bad_machine_csv(tmp_path, text, fragment):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(CeilingsError, match=re.escape(fragment)):
        read_ceilings(tmp_path / "m.csv")


def test_future_machine_schema(tmp_path):
    path = write_ceilings(tmp_path / "m.csv", [dataclasses.replace(CEILS[0], schema_version=99)])
    with pytest.raises(CeilingsError, match="machine schema 99 is newer"):
        read_ceilings(path)


def test_annotate_places_ok_rows_only():
    from tests_support import make_row

    row = annotate(make_row(gflops=45.0, dtype="float32", threads=2, m=8, n=8, k=8), CeilingSet(CEILS))
    assert row.peak_gflops == 180.0 and row.pct_peak == 25.0
    assert row.roof_gflops == pytest.approx(min(180.0, 30.0 * row.intensity))
    assert "fma 180.0 GFLOP/s (measured, x2)" in row.ceilings
    wrong = make_row(status="wrong", gflops=None)
    assert annotate(wrong, CeilingSet(CEILS)) == wrong


def test_vector_width_and_chains():
    from gemmbench.hostfacts import vector_bits
    from gemmbench.microbench import fma_chains_for

    assert vector_bits(frozenset({"avx2", "avx512f", "fma"})) == 512
    assert vector_bits(frozenset({"avx", "avx2", "fma"})) == 256
    assert vector_bits(frozenset({"sse2"})) == 128
    assert (fma_chains_for(512), fma_chains_for(256), fma_chains_for(128)) == (24, 12, 8)


def test_microbenchmarks_run_and_are_positive():
    pytest.importorskip("numba", reason="the FMA and triad microkernels need numba")
    from gemmbench.microbench import fma_peak_gflops, stream_gbs

    assert fma_peak_gflops("float64", 1, seconds=0.01, repeats=1) > 0
    bw = stream_gbs(1, repeats=1, elements=1 << 16)
    assert bw["triad"] > 0 and bw["copy"] > 0
    assert np.isfinite(bw["triad"])


def test_a_rate_above_its_roof_is_never_shown_without_a_flag():
    """With Numba absent the derived roof (nominal clock) was the peak, and pct_peak reached 116 %."""
    from tests_support import make_row

    roofs = CeilingSet([_c("compute", "theoretical", "float64", 1, 40.0, "derived")])
    row = annotate(make_row(gflops=46.4, dtype="float64", threads=1, noise="ok"), roofs)
    assert row.pct_peak == pytest.approx(116.0)
    assert row.noise.startswith("suspect: 116% of the theoretical roof (derived)")
    fine = annotate(make_row(gflops=30.0, dtype="float64", threads=1, noise="ok"), roofs)
    assert fine.noise == "ok"


def test_numpy_only_copy_bandwidth_is_a_roof():
    """Without Numba, 'gemmbench machine' measures copy bandwidth only; the roofline never read that key."""
    roofs = CeilingSet([_c("bandwidth", "copy", "", 1, 9.0)])
    assert roofs.bandwidth(HOST, DEV, 1).value == 9.0
    assert CeilingSet(CEILS).bandwidth(HOST, DEV, 1).name == "triad"  # triad first when both exist


def test_derived_peak_states_its_assumptions(tmp_path, monkeypatch):
    from gemmbench.commands.machine import measure_host

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("gemmbench.commands.machine.numba_available", lambda: False)
    monkeypatch.setattr("gemmbench.microbench.numba_available", lambda: False)
    monkeypatch.setattr("gemmbench.hostfacts.clock_mhz", lambda: (2445.0, "/proc/cpuinfo (may be nominal)"))
    ceilings = list(measure_host([1], ["numpy"], gemm_size=32, stream_elements=1 << 12))
    (theo,) = [c for c in ceilings if c.name == "theoretical" and c.dtype == "float64"]
    assert "assumes 2 FMA units per core" in theo.method and "2445 MHz" in theo.method
    assert {c.name for c in ceilings if c.kind == "bandwidth"} == {"copy"}
