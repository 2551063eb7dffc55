"""Ceilings: the roofs of a roofline (peak FLOP/s per dtype, memory bandwidth), with provenance.

A ceiling is measured (``gemmbench machine``: FMA microkernel, STREAM-style triad, best
GEMM), derived (cores x FLOP/cycle x clock) or taken from a spec sheet. Each is a row of a
machine CSV, ``results/machine-<host>-<time>.csv``; the file a host measured last
(``latest_ceilings``) is what runs and plots use. This module only reads, writes and looks up;
it measures nothing.

Machine CSV schema history:
  1 - first release.
  2 - compute: the precision a compute roof was measured at when lower than its dtype (tf32, hf32, float16);
      a float32 row computed in true float32 is never judged against a TF32 roof. '' in older files.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .codec import CodecError, columns, decode, encode
from .errors import GemmbenchError
from .store import ceilings_files

__all__ = [
    "KINDS",
    "MACHINE_SCHEMA_VERSION",
    "SOURCES",
    "Ceiling",
    "CeilingSet",
    "CeilingsError",
    "latest_ceilings",
    "read_ceilings",
    "write_ceilings",
]

MACHINE_SCHEMA_VERSION = 2
KINDS = ("compute", "bandwidth")
SOURCES = ("measured", "derived", "spec")


class CeilingsError(GemmbenchError, ValueError):
    """A machine CSV cannot be read."""


@dataclass(frozen=True)
class Ceiling:
    """One roof: ``value`` in GFLOP/s (compute) or GB/s (bandwidth, 1 GB = 1e9 bytes)."""

    kind: str
    name: str  # "fma", "gemm:numpy", "theoretical", "triad", "copy", "spec"
    dtype: str  # "" for bandwidth
    threads: int
    value: float
    source: str
    host: str
    device: str
    timestamp: str = ""
    method: str = ""
    #: The precision the roof was reached in when lower than ``dtype`` ("tf32" for float32 with TF32); "" = dtype.
    compute: str = ""
    schema_version: int = MACHINE_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown ceiling kind {self.kind!r}; valid choices: {', '.join(KINDS)}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown ceiling source {self.source!r}; valid choices: {', '.join(SOURCES)}")

    @property
    def unit(self) -> str:
        return "GFLOP/s" if self.kind == "compute" else "GB/s"


def write_ceilings(path: Path | str, ceilings: Iterable[Ceiling]) -> Path:
    """Write a machine CSV: the header, then each ceiling as it comes, flushed, so a failure later in a
    measuring generator keeps every ceiling already measured."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns(Ceiling))
        f.flush()
        for c in ceilings:
            w.writerow(encode(c))
            f.flush()
    return path


def read_ceilings(path: Path | str) -> list[Ceiling]:
    """Every ceiling in a machine CSV; one clear error for a foreign, truncated or newer file."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise CeilingsError(f"{path} is {'a folder' if path.is_dir() else 'not a regular file'}; give a machine CSV")
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [
                c
                for c in ("kind", "name", "dtype", "threads", "value", "source", "schema_version")
                if c not in (reader.fieldnames or [])
            ]
            if missing:
                raise CeilingsError(f"{path}: not a gemmbench machine CSV (missing columns: {', '.join(missing)})")
            out = []
            for lineno, raw in enumerate(reader, start=2):
                if None in raw.values():
                    continue  # truncated last line
                if int(raw["schema_version"]) > MACHINE_SCHEMA_VERSION:
                    raise CeilingsError(
                        f"{path}:{lineno}: machine schema {raw['schema_version']} is newer than "
                        f"this gemmbench reads (<= {MACHINE_SCHEMA_VERSION}); upgrade gemmbench"
                    )
                out.append(decode(Ceiling, raw))
            return out
    except OSError as exc:
        raise CeilingsError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, TypeError, csv.Error, CodecError) as exc:
        if isinstance(exc, CeilingsError):
            raise
        raise CeilingsError(f"{path}: bad machine CSV ({exc})") from None


def latest_ceilings(folder: Path | str, host: str, problems: list[str] | None = None) -> Path | None:
    """The machine CSV ``host`` measured last in ``folder``, or None: of its ``machine-<host>-*.csv`` files that
    read as machine CSVs and hold a ceiling of ``host`` (or of no host), the one with the newest row timestamp,
    else the newest file by modification time (rows typed in by hand carry none); a tie goes to the later name.

    Chosen by content, not by name: a hand-named ``machine-<host>-manual.csv`` sorts after every timestamped
    name and would stay newest forever, and a host whose name extends this one (``gpu-b`` for ``gpu``) matches
    the same pattern, though none of its roofs apply here. A file that cannot be read, or holds no ceiling, adds
    one line to ``problems`` (when given) and is passed over, so the good file before it still applies; another
    host's file is passed over without a word.
    """
    problems = [] if problems is None else problems
    best: tuple[_dt.datetime, str, Path] | None = None
    for path in ceilings_files(folder, host):
        try:
            found = read_ceilings(path)
        except CeilingsError as exc:
            problems.append(str(exc))
            continue
        if not found:
            problems.append(f"{path}: no ceilings in it")
            continue
        mine = [c for c in found if c.host in ("", host)]
        if mine:
            key = (_measured_at(mine, path), path.name, path)
            best = key if best is None else max(best, key)
    return best[2] if best else None


def pick_ceilings(folder: Path | str, host: str, say: Callable[[str], None]) -> Path | None:
    """``latest_ceilings``, naming through ``say`` each file of ``host`` it passed over, once: ``ceilings skipped:
    <file>: <why>``. What runs, ``plot`` and a fleet's coordinator print, so a broken newest file never goes
    unmentioned while an older one is used."""
    problems: list[str] = []
    path = latest_ceilings(folder, host, problems)
    for line in dict.fromkeys(problems):
        say(f"ceilings skipped: {line}")
    return path


def _measured_at(ceilings: Sequence[Ceiling], path: Path) -> _dt.datetime:
    """When ``ceilings`` were measured (UTC): their newest readable timestamp, else ``path``'s last change."""
    times = []
    for c in ceilings:
        try:
            t = _dt.datetime.fromisoformat(c.timestamp)
        except ValueError:
            continue
        times.append(t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc))
    return max(times, default=_dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc))


class CeilingSet:
    """Lookup of the roofs that apply to a result: by host and device, dtype and thread count."""

    def __init__(self, ceilings: Sequence[Ceiling]) -> None:
        self.ceilings = list(ceilings)

    def _best(
        self,
        kind: str,
        names: Sequence[str],
        host: str,
        device: str,
        dtype: str,
        threads: int,
        scale: bool,
        compute: str = "",
    ) -> Ceiling | None:
        pool = [
            c
            for c in self.ceilings
            if c.kind == kind
            and (c.name in names or ("spec:" in names and c.name.startswith("spec:")))
            and (c.dtype, c.compute) == (dtype, compute)
            and c.device == device
            and c.host in ("", host)
        ]
        exact = [c for c in pool if c.threads in (threads, 0)]  # 0: a whole-device figure (spec, GPU)
        if exact or not pool:
            return max(exact, key=lambda c: c.value, default=None)
        c = max(pool, key=lambda c: (c.threads, c.value))
        if not scale:
            return c
        # Measured at another thread count only: compute scales with cores, so scale linearly.
        return dataclasses.replace(
            c,
            value=c.value * threads / c.threads,
            threads=threads,
            method=f"{c.method} (scaled from {c.threads} threads)",
        )

    def peak(self, host: str, device: str, dtype: str, threads: int, compute: str = "") -> Ceiling | None:
        """The measured FMA peak, else the derived theoretical one, else the spec sheet's; of ``dtype`` computed
        in ``compute`` ('' = in ``dtype`` itself): a TF32 roof never judges a true float32 result, nor the reverse."""
        for names in (("fma", "gemm-peak"), ("theoretical",), ("spec:",)):
            hit = self._best("compute", names, host, device, dtype, threads, True, compute)
            if hit:
                return hit
        return None

    def spec_peak(self, host: str, device: str, dtype: str, threads: int, compute: str = "") -> Ceiling | None:
        """The spec sheet's compute roof of ``dtype`` in ``compute``: the bound a result cannot pass."""
        return self._best("compute", ("spec:",), host, device, dtype, threads, True, compute)

    def bandwidth(self, host: str, device: str, threads: int) -> Ceiling | None:
        """Measured triad bandwidth (best at the nearest thread count), else measured copy bandwidth (the
        NumPy-only fallback of ``gemmbench machine``), else the spec sheet's."""
        for names in (("triad", "copy-device"), ("copy",), ("spec:memory",)):
            hit = self._best("bandwidth", names, host, device, "", threads, scale=False)
            if hit:
                return hit
        return None
