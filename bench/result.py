"""Measurement rows and the CSV results file (append-only, versioned, resumable).

One immutable ``Measurement`` per (backend, variant, case, cache mode, threads).
Rows are appended and flushed as they complete, so a sweep killed at any point keeps
every finished row; raw samples go to a JSON-lines sidecar next to the CSV.

Schema history (bump ``SCHEMA_VERSION`` and add a line when columns change;
readers accept every version up to their own):
  1 - first release.
  2 - roofline placement: peak_gflops, pct_peak, roof_gflops, pct_roof, ceilings.
  3 - contention: disturbed (blocks set aside), contention (share of thread time spent waiting for a
      CPU); max_error is the worst error as a multiple of its per-entry bound, tolerance is 1.
  4 - batch: independent products per call (batched GEMM); 1 in older files. workload, role, count: the
      workload a case stands for (gemmbench run --workload).
  5 - compute: the precision the hardware computed in when lower than dtype (tf32, hf32, float16; '' = dtype).
      dispatch_s: median host seconds per call spent issuing launches on an asynchronous device.
      node: the fleet node that measured the row (``run --cluster``: its host, or host/worker name); '' locally.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .case import GemmCase
from .codec import CodecError, columns, decode, encode
from .errors import GemmbenchError
from .store import sidecar_path

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Measurement",
    "ResultWriter",
    "ResultsFileError",
    "check_appendable",
    "done_keys",
    "latest_per_key",
    "read_results",
    "row_key",
]

SCHEMA_VERSION = 5
STATUSES = ("ok", "skipped", "error", "wrong")


class ResultsFileError(GemmbenchError, ValueError):
    """A results file cannot be read: empty, truncated header, foreign, or from a newer schema."""


#: Figures that are times, rates, shares or sizes: a hand-edited "nan", "inf" or "-3" in one is a bad row.
_NON_NEGATIVE = (
    "median_s",
    "q1_s",
    "q3_s",
    "iqr_s",
    "min_s",
    "max_s",
    "mean_s",
    "stddev_s",
    "gflops",
    "gflops_best",
    "peak_gflops",
    "pct_peak",
    "roof_gflops",
    "pct_roof",
    "intensity",
    "contention",
    "prepare_s",
    "first_call_s",
    "sampling_s",
)


@dataclass(frozen=True)
class Measurement:
    """One CSV row. Times are seconds per GEMM call; rates use the median (``gflops``) or min."""

    run_id: str
    timestamp: str
    host: str
    backend: str
    variant: str
    device: str
    m: int
    n: int
    k: int
    dtype: str
    trans: str
    cache_mode: str
    threads: int
    status: str
    reason: str = ""
    n_samples: int = 0
    inner_loops: int = 0
    copies: int = 0
    median_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    iqr_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None
    stddev_s: float | None = None
    gflops: float | None = None
    gflops_best: float | None = None
    peak_gflops: float | None = None  # compute roof for this dtype/device/threads (schema 2)
    pct_peak: float | None = None
    roof_gflops: float | None = None  # min(peak, bandwidth x intensity)
    pct_roof: float | None = None
    ceilings: str = ""  # where the roofs came from
    flops: int = 0
    bytes: int = 0
    intensity: float = 0.0
    max_error: float | None = None
    tolerance: float | None = None
    verified: str = ""
    noise: str = ""
    converged: bool = False
    disturbed: int = 0  # timed blocks set aside: threads waited for a CPU, or the host outran a hold (schema 3)
    contention: float | None = None  # share of the worker threads' time spent waiting for a CPU
    prepare_s: float | None = None
    first_call_s: float | None = None
    sampling_s: float | None = None
    warmup_calls: int = 0
    cpu_model: str = ""
    blas: str = ""
    facts: str = ""  # JSON object: thread settings, affinity, per-case kernel facts (path, format)
    libs: str = ""  # JSON object
    env: str = ""  # JSON object
    git_rev: str = ""
    batch: int = 1  # independent products per call (schema 4)
    workload: str = ""  # the workload this case stands for, its roles in it, times one step runs it (schema 4)
    role: str = ""
    count: int = 0
    compute: str = ""  # the precision the GEMM was computed in when lower than dtype: tf32, hf32, float16 (schema 5)
    dispatch_s: float | None = None  # host seconds per call issuing launches (accelerators; schema 5)
    node: str = ""  # the fleet node that measured the row: host, or host/worker (run --cluster; schema 5)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; valid choices: {', '.join(STATUSES)}")
        self.case  # noqa: B018 - validates m, n, k, dtype and trans (a CaseError names the field)
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.threads < 1 or self.n_samples < 0:
            raise ValueError(f"threads must be >= 1 and n_samples >= 0, got {self.threads} and {self.n_samples}")

    @property
    def case(self) -> GemmCase:
        return GemmCase(self.m, self.n, self.k, self.dtype, self.trans, self.batch)

    @property
    def setting(self) -> tuple:
        """Host, case, cache mode and threads: what two backends' rows share to be compared."""
        return (self.host, self.m, self.n, self.k, self.batch, self.dtype, self.trans, self.cache_mode, self.threads)

    @property
    def flagged(self) -> bool:
        """An ok row whose figure is doubtful: a noise flag (noisy, bimodal, outliers, contended, VM steal,
        suspect, cache-resident cold set) or a measurement that did not converge."""
        return self.status == "ok" and (self.noise not in ("", "ok") or not self.converged)

    @property
    def key(self) -> tuple:
        return row_key(self.backend, self.variant, self.case, self.cache_mode, self.threads, self.workload)


COLUMNS: tuple[str, ...] = columns(Measurement)
#: Columns a file must have to be read at all (present since schema 1).
REQUIRED = (
    "schema_version",
    "run_id",
    "backend",
    "m",
    "n",
    "k",
    "dtype",
    "trans",
    "cache_mode",
    "threads",
    "status",
    "median_s",
)


def row_key(backend: str, variant: str, case: GemmCase, cache_mode: str, threads: int, workload: str = "") -> tuple:
    """Identity of a row within a run: what ``--resume`` skips."""
    key = (backend, variant, case.m, case.n, case.k, case.dtype, case.trans, cache_mode, int(threads))
    extra = ((case.batch,) if case.batch > 1 else ()) + ((workload,) if workload else ())
    return (*key, *extra)  # plain batch-1 cases keep the keys of older files


def _repair_tail(path: Path) -> int:
    """Drop a partial last line left by a killed writer; returns bytes dropped."""
    with open(path, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        return len(data) - keep


def _check_header(path: Path) -> None:
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    if tuple(header) != COLUMNS:
        raise ResultsFileError(
            f"{path} has the columns of an older gemmbench (schema < {SCHEMA_VERSION}); rows of this version "
            "cannot be appended to it: write to a new file (--output)"
        )


def check_appendable(path: Path | str) -> None:
    """Raise ``ResultsFileError`` unless rows of this version may be appended to ``path``: absent, empty, or
    a results file of this schema. Not a foreign or newer file (``read_results`` refuses those), nor an older
    one, whose header lacks columns our rows carry. The run checks it before it measures or says anything."""
    p = Path(path)
    if p.exists() and p.stat().st_size > 0:
        read_results(p)
        _check_header(p)


class ResultWriter:
    """Appends rows to a CSV (writing the header when new) and samples to its sidecar."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_appendable(self.path)
        if self.path.exists() and self.path.stat().st_size > 0:
            _repair_tail(self.path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._csv = open(self.path, "a", newline="")
        self._writer = csv.writer(self._csv)
        if new:
            self._writer.writerow(COLUMNS)
            self._csv.flush()
        side = sidecar_path(self.path)
        if side.exists():
            _repair_tail(side)
        self._side = open(side, "a")

    def write(self, row: Measurement, samples: Sequence[float] = (), disturbed: Sequence[float] = ()) -> None:
        """Append one row (its raw samples, and the blocks set aside), flushed so a kill cannot lose it."""
        self._writer.writerow(encode(row))
        self._csv.flush()
        if samples or disturbed:
            record = {
                "run_id": row.run_id,
                "key": list(row.key),
                "inner_loops": row.inner_loops,
                "samples_s": list(samples),
                "disturbed_s": list(disturbed),
            }
            self._side.write(json.dumps(record) + "\n")
            self._side.flush()

    def close(self) -> None:
        self._csv.close()
        self._side.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if not header:
            raise ResultsFileError(f"{path}: empty file, not a gemmbench results CSV")
        if missing:
            raise ResultsFileError(f"{path}: not a gemmbench results CSV (missing columns: {', '.join(missing)})")
        yield from reader


def _row(path: Path, lineno: int, raw: dict[str, str]) -> Measurement | None:
    if None in raw.values() or None in raw:  # short or long line: a truncated write
        return None
    version = raw["schema_version"]
    if not version.isdigit() or int(version) > SCHEMA_VERSION:
        raise ResultsFileError(
            f"{path}:{lineno}: schema version {version!r} is newer than this gemmbench "
            f"reads (<= {SCHEMA_VERSION}); upgrade gemmbench"
        )
    try:
        row: Measurement = decode(Measurement, raw)
    except (TypeError, ValueError, CodecError) as exc:
        raise ResultsFileError(f"{path}:{lineno}: bad row: {exc}") from None
    return row


def read_results(path: Path | str) -> list[Measurement]:
    """All complete rows of a results CSV; a truncated last line (killed writer) is skipped."""
    path = Path(path)
    if not path.exists():
        raise ResultsFileError(f"{path}: no such results file")
    if not path.is_file():
        raise ResultsFileError(f"{path} is {'a folder' if path.is_dir() else 'not a regular file'}; give a results CSV")
    rows = []
    try:
        for lineno, raw in enumerate(_rows(path), start=2):
            row = _row(path, lineno, raw)
            if row is not None:
                rows.append(row)
    except (csv.Error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ResultsFileError):
            raise
        raise ResultsFileError(f"{path}: unreadable CSV ({exc})") from None
    return rows


def done_keys(rows: Iterable[Measurement], retry_errors: bool = True) -> set[tuple]:
    """Keys ``--resume`` skips: every finished row, except errors when they are to be retried."""
    return {r.key for r in rows if not (retry_errors and r.status == "error")}


K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


def latest_per_key(rows: Iterable[R], key: Callable[[R], K]) -> dict[K, R]:
    """The last row for each key, in order of first appearance: a retried (resumed) row replaces its error."""
    out: dict[K, R] = {}
    for r in rows:
        out[key(r)] = r
    return out
