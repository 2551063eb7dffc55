"""Where results live: the results folder, run ids, file names, the newest files, sidecars.

Every convention about files on disk is here, so the commands agree on them:

* ``results/<run-id>.csv`` - a sweep's rows; run ids start with the UTC time, so names sort by age;
* ``results/<name>.samples.jsonl`` - the raw samples beside any results CSV;
* ``results/machine-<host>-<run-id>.csv`` - a host's ceilings (``gemmbench machine``), and beside it
  ``<ceilings stem>.gemm.csv``, the GEMM rows its ``gemm`` ceilings come from.

Output paths are checked before anything is measured (``check_writable``).
"""

from __future__ import annotations

import datetime as _dt
import secrets
from pathlib import Path

from .errors import UsageError

__all__ = [
    "RESULTS_DIR",
    "ceilings_files",
    "ceilings_path",
    "check_readable",
    "check_writable",
    "gemm_rows_path",
    "given_or_newest",
    "latest_results",
    "new_run_id",
    "results_path",
    "sidecar_path",
    "utc_now",
]

RESULTS_DIR = Path("results")
_MACHINE_PREFIX = "machine-"
_GEMM_SUFFIX = ".gemm.csv"


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def utc_now() -> str:
    """Row timestamp: UTC, ISO 8601, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def results_path(run_id: str, folder: Path = RESULTS_DIR) -> Path:
    """The default results file of a run."""
    return folder / f"{run_id}.csv"


def ceilings_path(host: str, run_id: str, folder: Path = RESULTS_DIR) -> Path:
    """The default ceilings file of a ``gemmbench machine`` run on ``host``."""
    return folder / f"{_MACHINE_PREFIX}{host}-{run_id}.csv"


def sidecar_path(csv_path: Path | str) -> Path:
    """Raw samples live next to the CSV: results/run.csv -> results/run.samples.jsonl."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".samples.jsonl")


def gemm_rows_path(ceilings: Path | str) -> Path:
    """Where ``gemmbench machine`` keeps the GEMM rows behind its ``gemm`` ceilings: beside the ceilings file."""
    p = Path(ceilings)
    return p.with_name(p.stem + _GEMM_SUFFIX)


def latest_results(folder: Path = RESULTS_DIR) -> Path | None:
    """Newest results CSV in ``folder`` (by name, which starts with the run's time); ceilings files and the
    GEMM rows behind them are not results of a sweep and are never picked."""
    files = sorted(
        p for p in folder.glob("*.csv") if not p.name.startswith(_MACHINE_PREFIX) and not p.name.endswith(_GEMM_SUFFIX)
    )
    return files[-1] if files else None


def given_or_newest(paths: list[str]) -> list[str]:
    """The results CSVs a reading command was given, else the newest in results/; UsageError if none."""
    if paths:
        return paths
    newest = latest_results()
    if newest is None:
        raise UsageError("no results CSV given and none in results/; run 'gemmbench run' first")
    return [str(newest)]


def check_writable(path: Path | str, what: str = "output") -> Path:
    """``path`` as a file gemmbench may create or append to; else ``UsageError`` naming the problem.

    Checked before anything is measured, by really opening it (and removing it again if it was new):
    a folder, a device, a missing or read-only folder would otherwise fail only after minutes of
    measuring, with a traceback.
    """
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {p} is a folder; give a file path, e.g. {p / 'results.csv'}")
    if p.exists() and not p.is_file():
        raise UsageError(f"{what} {p} is not a regular file; give a file path such as results/mine.csv")
    existed = p.exists()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a"):
            pass
    except OSError as exc:
        raise UsageError(f"{what} {p}: cannot write there ({exc.strerror}); choose another path") from None
    if not existed:
        p.unlink()
    return p


def check_readable(path: Path | str, what: str = "results file") -> Path:
    """``path`` as an existing regular file; else ``UsageError``."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {p} is a folder; give a CSV file (e.g. {p}/<run-id>.csv)")
    if not p.exists():
        raise UsageError(f"{what} {p}: no such file")
    if not p.is_file():
        raise UsageError(f"{what} {p} is not a regular file")
    return p


def ceilings_files(folder: Path | str, host: str) -> list[Path]:
    """Every ``machine-<host>-*.csv`` in ``folder``, by name; the GEMM rows beside them excluded. The pattern also
    matches a host whose name extends ``host`` (``gpu-b`` for ``gpu``), and names say nothing reliable about age
    (``machine-<host>-manual.csv``): ``ceilings.latest_ceilings`` reads the files to choose."""
    return sorted(p for p in Path(folder).glob(f"{_MACHINE_PREFIX}{host}-*.csv") if not p.name.endswith(_GEMM_SUFFIX))
