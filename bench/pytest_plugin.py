"""pytest plugin: ``pytest --benchmark`` runs the GEMM suite through gemmbench's harness.

Load it with ``-p gemmbench.pytest_plugin`` (this project does so in its pytest
configuration; another project can do the same to benchmark its own backends). A test
that takes the ``gemm_job`` fixture becomes one GEMM benchmark per (backend, case, cache
mode, threads)::

    def test_gemm(gemm_job):
        gemm_job.check()

* ``pytest``: these tests are collected and skipped ("needs --benchmark"), so unit runs stay fast.
* ``pytest --benchmark``: each runs in an isolated worker exactly as ``gemmbench run`` does,
  appends its row to ``results/<run-id>.csv`` (or ``--gemm-output``), fails if the result is
  wrong or the backend errored, skips with the reason if not applicable; a summary table ends
  the session.
* With pytest-benchmark active, ``gemm_job`` also requests its ``benchmark`` fixture and
  records the same GEMM through it (``benchmark.pedantic``, GFLOP/s in ``extra_info``), so
  ``--benchmark-only``, ``--benchmark-json`` and ``--benchmark-compare`` work on these tests.

The ``--gemm-*`` options are the ``gemmbench run`` options, declared once in ``options.py``.
This plugin defines no fixture or marker named ``benchmark`` and no ``--benchmark-*`` option.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .case import GemmCase
from .contention import quiesce
from .errors import GemmbenchError
from .options import add_run_options, resolve
from .registry import Entry, Registry, discover
from .result import Measurement
from .store import new_run_id, results_path
from .sweep import RunOptions, run

__all__ = ["GemmJob"]

NEEDS_FLAG = "needs --benchmark"
_STATE = pytest.StashKey["_State"]()


@dataclass
class _State:
    registry: Registry
    cases: list[GemmCase]
    entries: list[Entry]
    options: RunOptions
    output: Path
    run_id: str
    active: bool
    rows: list[Measurement]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gemmbench", "GEMM benchmarks (gemmbench)")
    group.addoption(
        "--benchmark",
        action="store_true",
        default=False,
        dest="gemm_benchmark",
        help="run the GEMM benchmark tests through gemmbench's harness (skipped otherwise)",
    )
    add_run_options(group.addoption, prefix="gemm-")


def _pytest_benchmark_active(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("pytest_benchmark.plugin") or config.pluginmanager.hasplugin("benchmark")


def _state(config: pytest.Config) -> _State:
    try:
        spec = resolve(config.getoption, prefix="gemm_")
        registry = discover()
        entries = registry.select(spec.backends)
        options = RunOptions(modes=spec.modes, threads=spec.threads, policy=spec.policy)
    except (argparse.ArgumentTypeError, GemmbenchError) as exc:
        raise pytest.UsageError(f"gemmbench: {exc}") from None
    run_id = new_run_id()
    output = Path(spec.output) if spec.output else results_path(run_id)
    only = bool(getattr(config.option, "benchmark_only", False))
    return _State(
        registry, spec.cases, entries, options, output, run_id, config.getoption("gemm_benchmark") or only, []
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gemm: a GEMM benchmark test (runs with --benchmark)")
    config.stash[_STATE] = _state(config)
    fixtures = _WithPytestBenchmark() if _pytest_benchmark_active(config) else _Plain()
    config.pluginmanager.register(fixtures, "gemmbench-fixtures")


@dataclass(frozen=True)
class _Param:
    entry: Entry
    case: GemmCase
    mode: str
    threads: int

    @property
    def id(self) -> str:
        c = self.case
        return f"{self.entry.name}-{c.m}x{c.n}x{c.k}-{c.dtype}-{c.trans}-{self.mode}-x{self.threads}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gemm_job" not in metafunc.fixturenames:
        return
    st = metafunc.config.stash[_STATE]
    params = [
        _Param(e, c, m, t)
        for e in st.entries
        for t in st.options.thread_counts()
        for c in st.cases
        for m in st.options.modes
    ]
    metafunc.parametrize("gemm_job", [pytest.param(p, id=p.id, marks=pytest.mark.gemm) for p in params], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    st = config.stash[_STATE]
    probes: dict[str, str | None] = {}
    for item in items:
        param = getattr(getattr(item, "callspec", None), "params", {}).get("gemm_job")
        if not isinstance(param, _Param):
            continue
        if not st.active:
            item.add_marker(pytest.mark.skip(reason=NEEDS_FLAG))
            continue
        name = param.entry.name
        if name not in probes:
            probes[name] = param.entry.probe()
        if probes[name]:
            item.add_marker(pytest.mark.skip(reason=f"{name} unavailable: {probes[name]}"))


class GemmJob:
    """One GEMM benchmark: ``check()`` measures it, records the row, and passes/fails/skips."""

    def __init__(self, param: _Param, state: _State, benchmark: Any = None) -> None:
        self.param, self.state, self.benchmark = param, state, benchmark
        self.row: Measurement | None = None

    def measure(self) -> Measurement:
        p, st = self.param, self.state
        options = RunOptions(modes=(p.mode,), threads=(p.threads,), policy=st.options.policy)
        (row,) = run(
            [p.case], backends=[p.entry.name], options=options, output=st.output, registry=st.registry, run_id=st.run_id
        )
        st.rows.append(row)
        self.row = row
        return row

    def check(self) -> Measurement:
        row = self.measure()
        if row.status == "skipped":
            pytest.skip(row.reason)
        if row.status in ("error", "wrong"):
            pytest.fail(f"{row.backend} {row.case}: {row.status}: {row.reason}", pytrace=False)
        if self.benchmark is not None:
            self._pytest_benchmark(row)
        return row

    def _pytest_benchmark(self, row: Measurement) -> None:
        """Record the same GEMM through pytest-benchmark's fixture, in this process."""
        from .verify import make_operands

        p = self.param
        kernel = p.entry.cls()
        kernel.setup(p.threads)
        try:
            prepared = kernel.prepare(p.case, make_operands(p.case))
            device = kernel.device()

            def call() -> None:  # pytest-benchmark reads the host clock: synchronise inside
                prepared.launch()
                device.synchronize()

            self.benchmark.extra_info.update(
                gflops_gemmbench=row.gflops,
                flops=p.case.flops,
                case=str(p.case),
                backend=p.entry.name,
                threads=p.threads,
                cache_mode=p.mode,
            )
            self.benchmark.pedantic(
                call, rounds=max(3, min(row.n_samples, 30)), iterations=row.inner_loops, warmup_rounds=1
            )
            stats = getattr(self.benchmark, "stats", None)
            if stats is not None and getattr(stats, "stats", None) is not None and stats.stats.median > 0:
                self.benchmark.extra_info["gflops"] = p.case.flops / stats.stats.median / 1e9
        finally:
            kernel.teardown()
            quiesce()  # the in-process pools go quiet before the next test's worker measures


class _Plain:
    @pytest.fixture
    def gemm_job(self, request: pytest.FixtureRequest) -> GemmJob:
        return GemmJob(request.param, request.config.stash[_STATE])


class _WithPytestBenchmark:
    # Requesting ``benchmark`` puts it in the test's fixture closure, which is how
    # pytest-benchmark recognises benchmark tests (for --benchmark-only and friends).
    @pytest.fixture
    def gemm_job(self, request: pytest.FixtureRequest, benchmark: Any) -> GemmJob:
        return GemmJob(request.param, request.config.stash[_STATE], benchmark)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    st = config.stash.get(_STATE, None)
    if st is None or not st.rows:
        return
    from .console import HEADER, flagged_summary, format_row

    tr = terminalreporter
    tr.section("gemmbench")
    tr.write_line(HEADER)
    for row in st.rows:
        tr.write_line(format_row(row))
    line = flagged_summary(st.rows)
    if line:
        tr.write_line(line)
    tr.write_line(f"{len(st.rows)} rows appended to {st.output}")
