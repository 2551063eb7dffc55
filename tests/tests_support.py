"""Shared builders for tests (imported by name; tests/ is on sys.path under pytest's rootdir-based import mode)."""

from gemmbench.result import Measurement


def make_row(**kw) -> Measurement:
    base = dict(
        run_id="r1",
        timestamp="2026-01-01T00:00:00+00:00",
        host="h1",
        backend="numpy",
        variant="",
        device="cpu: X",
        m=4,
        n=5,
        k=6,
        dtype="float32",
        trans="NN",
        cache_mode="hot",
        threads=1,
        status="ok",
        n_samples=3,
        median_s=0.5,
        gflops=1.25,
        converged=True,
    )
    base.update(kw)
    case = Measurement(**base).case
    base.setdefault("flops", case.flops)
    base.setdefault("bytes", case.bytes)
    base.setdefault("intensity", case.intensity)
    return Measurement(**base)
