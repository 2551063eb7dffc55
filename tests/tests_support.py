"""Shared builders for tests (imported by name; tests/ is on sys.path under pytest's rootdir-based import mode)."""

import textwrap
from pathlib import Path

from gemmbench.result import Measurement

_PLUGIN = """
import os, signal, time

import numpy as np

from gemmbench.backend import Kernel, Prepared


class Plugin(Kernel):
    name = {name!r}

    def prepare(self, case, operands):
{before}
        c = np.empty((case.m, case.n), dtype=operands.a.dtype)
        return Prepared(lambda: np.matmul(operands.a, operands.b, out=c), c)


KERNELS = [Plugin]
"""


def numpy_plugin(folder: Path, name: str, before: str = "pass", stem: str = "") -> Path:
    """Write a backend file into ``folder`` (for GEMMBENCH_KERNEL_PATH, which it returns): ``name`` multiplies
    with NumPy, after running ``before`` (statements, with ``case`` in scope: sleep, kill, ...) in ``prepare``."""
    folder.mkdir(parents=True, exist_ok=True)
    body = textwrap.indent(textwrap.dedent(before).strip(), " " * 8)
    (folder / f"{stem or name.replace('-', '_')}.py").write_text(_PLUGIN.format(name=name, before=body))
    return folder


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
