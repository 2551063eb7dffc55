"""Console output: a table row per finished measurement, a progress line while a case runs, warnings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .case import Job
from .hostfacts import slow_blas_warning
from .result import Measurement

__all__ = ["HEADER", "ConsoleReporter", "flagged_summary", "format_row", "format_seconds", "warn_if_slow_blas"]

_COLS = (
    ("backend", 12),
    ("case", 16),
    ("dtype", 8),
    ("tr", 2),
    ("mode", 4),
    ("thr", 3),
    ("status", 7),
    ("median", 9),
    ("±IQR", 5),
    ("GFLOP/s", 8),
    ("%peak", 5),
    ("note", 0),
)
HEADER = " ".join(f"{name:<{width}}" if width else name for name, width in _COLS)


def format_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_row(r: Measurement) -> str:
    iqr = f"{100 * r.iqr_s / r.median_s:.0f}%" if r.median_s and r.iqr_s is not None else "-"
    rate = f"{r.gflops:.1f}" if r.gflops is not None else "-"
    peak = f"{r.pct_peak:.0f}%" if r.pct_peak is not None else "-"
    note = r.reason if r.status != "ok" else ("" if r.noise == "ok" else r.noise)
    if r.status == "ok" and not r.converged:
        note = (note + "; " if note else "") + "not converged"
    cells = (
        r.backend,
        r.case.label,
        r.dtype,
        r.trans,
        r.cache_mode,
        str(r.threads),
        r.status,
        format_seconds(r.median_s),
        iqr,
        rate,
        peak,
        note,
    )
    return " ".join(f"{c:<{w}}" if w else c for c, (_, w) in zip(cells, _COLS))


class ConsoleReporter:
    """Prints the table to ``out``; a live progress bar goes to ``err`` when it is a terminal."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, width: int = 24) -> None:
        self.out = out or sys.stdout  # looked up now, not at import: callers may have redirected them
        self.err = err or sys.stderr
        self.width = width
        self.live = self.err.isatty()
        self.total = self.done = 0
        self.rows: list[Measurement] = []

    def start(self, total: int, output: Path) -> None:
        self.total = total
        print(f"gemmbench: {total} measurements -> {output}", file=self.out)
        print(HEADER, file=self.out, flush=True)

    def _bar(self, text: str) -> None:
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        self.err.write(f"\r[{bar}] {self.done}/{self.total} {text}"[:120].ljust(120))
        self.err.flush()

    def begin(self, backend: str, job: Job, threads: int) -> None:
        if self.live:
            self._bar(f"{backend} {job.case} {job.mode} x{threads}")

    def row(self, row: Measurement) -> None:
        self.done += 1
        self.rows.append(row)
        if self.live:
            self.err.write("\r" + " " * 120 + "\r")
        print(format_row(row), file=self.out, flush=True)

    def note(self, text: str) -> None:
        if self.live:
            self.err.write("\r" + " " * 120 + "\r")
        print(f"gemmbench: {text}", file=self.err, flush=True)

    def finish(self) -> None:
        if self.live:
            self.err.write("\r" + " " * 120 + "\r")
            self.err.flush()
        line = flagged_summary(self.rows)
        if line:
            print(line, file=self.out, flush=True)


def warn_if_slow_blas() -> None:
    """One line on stderr when OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE force a slower kernel."""
    warning = slow_blas_warning()
    if warning:
        print(f"gemmbench: warning: {warning}", file=sys.stderr)


def _kind(flag: str) -> str:
    flag = flag.strip()
    for word in (
        "VM steal",
        "cold set",
        "not converged",
        "launcher",
        "host still reclaiming",
        "noisy",
        "bimodal",
        "outliers",
        "contended",
        "suspect",
    ):
        if flag.startswith(word):
            return word
    return flag.split(" ")[0]


def flagged_summary(rows: list[Measurement]) -> str | None:
    """One line counting the flagged rows by kind and saying what to do; None when every ok row is sound."""
    kinds: dict[str, int] = {}
    flagged = [r for r in rows if r.flagged]
    for r in flagged:
        for flag in ([] if r.noise in ("", "ok") else r.noise.split(";")) + ([] if r.converged else ["not converged"]):
            kinds[_kind(flag)] = kinds.get(_kind(flag), 0) + 1
    if not flagged:
        return None
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    ok = sum(r.status == "ok" for r in rows)
    return (
        f"gemmbench: {len(flagged)} of {ok} ok rows flagged ({counts}): their medians are doubtful; rerun "
        "them on a quiet machine (nothing else on the measured CPUs), with a larger --max-time if not converged"
    )
