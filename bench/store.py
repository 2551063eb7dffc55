"""Where results live: the results folder, run ids, file names, the newest files, sidecars.

Every convention about files on disk is here, so the commands agree on them:

* ``results/<run-id>.csv`` - a sweep's rows; run ids start with the UTC time, so names sort by age;
* ``results/<name>.samples.jsonl`` - the raw samples beside any results CSV;
* ``results/machine-<host>-<run-id>.csv`` - a host's ceilings (``gemmbench machine``).
"""

from __future__ import annotations

import datetime as _dt
import secrets
from pathlib import Path

__all__ = [
    "RESULTS_DIR",
    "ceilings_path",
    "latest_ceilings",
    "latest_results",
    "new_run_id",
    "results_path",
    "sidecar_path",
    "utc_now",
]

RESULTS_DIR = Path("results")
_MACHINE_PREFIX = "machine-"


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


def latest_results(folder: Path = RESULTS_DIR) -> Path | None:
    """Newest results CSV in ``folder`` (by name, which starts with the run's time; ceilings files excluded)."""
    files = sorted(p for p in folder.glob("*.csv") if not p.name.startswith(_MACHINE_PREFIX))
    return files[-1] if files else None


def latest_ceilings(folder: Path | str, host: str) -> Path | None:
    """Newest ``machine-<host>-*.csv`` in ``folder`` (names sort by time)."""
    files = sorted(Path(folder).glob(f"{_MACHINE_PREFIX}{host}-*.csv"))
    return files[-1] if files else None
