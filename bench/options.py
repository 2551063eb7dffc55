"""Run options, defined once and shared by the CLI and the pytest plugin.

``add_run_options(add, prefix)`` declares every option through any argparse-style
``add`` callable (``ArgumentParser.add_argument`` or pytest's ``group.addoption``);
``resolve(get, prefix)`` turns the parsed values into cases, backends and ``RunOptions``.
Parsers raise ``argparse.ArgumentTypeError`` with a message that names the valid
values, which both argparse and pytest report as a one-line usage error; ``resolve``
raises ``PolicyError`` (a ``GemmbenchError``) for combinations no single parser can see.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .case import DTYPES, MODES, TRANSPOSES, GemmCase, grid
from .timer import TimingPolicy

__all__ = [
    "DEFAULT_DTYPES",
    "DEFAULT_SIZES",
    "QUICK_POLICY",
    "Resolved",
    "add_run_options",
    "parse_choices",
    "parse_fraction",
    "parse_ints",
    "parse_names",
    "parse_positive",
    "parse_seconds",
    "parse_shape",
    "parse_sizes",
    "resolve",
    "unique",
]

T = TypeVar("T")
DEFAULT_SIZES = (64, 256, 1024, 2048)
DEFAULT_DTYPES = ("float32", "float64")
#: The main job's budget: enough samples for a stable median, a sweep in about a minute.
QUICK_POLICY = TimingPolicy(warmup_time_s=0.02, min_samples=7, min_time_s=0.05, max_time_s=1.0, target=0.05)
MAX_RANGE_ITEMS = 64


def _positive(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{what} must be >= 1, got {value}")
    return value


def _range(text: str) -> list[int]:
    """'start:stop:step' (arithmetic) or 'start:stop:xF' (geometric), stop inclusive."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"bad size range {text!r}; use start:stop:step or start:stop:xFACTOR")
    start, stop = _positive(parts[0], "range start"), _positive(parts[1], "range stop")
    step = parts[2]
    out, value = [], start
    if step.startswith("x"):
        factor = _positive(step[1:], "range factor")
        if factor < 2:
            raise argparse.ArgumentTypeError(f"range factor must be >= 2, got {factor}")
        while value <= stop:
            out.append(value)
            value *= factor
    else:
        inc = _positive(step, "range step")
        out = list(range(start, stop + 1, inc))
    if not out or len(out) > MAX_RANGE_ITEMS:
        raise argparse.ArgumentTypeError(f"size range {text!r} gives {len(out)} sizes; need 1 to {MAX_RANGE_ITEMS}")
    return out


def unique(items: Iterable[T]) -> list[T]:
    """``items`` without repeats, first occurrence kept: '-s 64,64' is one size, not two rows with one key."""
    return list(dict.fromkeys(items))


def parse_sizes(text: str) -> list[int]:
    """'256,512,1024', ranges '64:1024:x2' / '256:1024:256', or a mix: square sizes n (m=n=k)."""
    sizes: list[int] = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        sizes += _range(item) if ":" in item else [_positive(item, "size")]
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given; e.g. --sizes 256,512 or --sizes 64:1024:x2")
    return unique(sizes)


def parse_shape(text: str) -> tuple[int, ...]:
    """'MxNxK', e.g. '128x4096x4096' (C is M x N, the shared dimension is K), or 'MxNxK@B' for B
    independent products in one call (batched GEMM, e.g. attention heads)."""
    dims, _, batch = text.lower().partition("@")
    parts = dims.split("x")
    if len(parts) != 3 or (_ and not batch):
        raise argparse.ArgumentTypeError(f"bad shape {text!r}; use MxNxK or MxNxK@BATCH, e.g. 128x4096x4096")
    m, n, k = (_positive(p, "shape dimension") for p in parts)
    b = _positive(batch, "batch") if batch else 1
    return (m, n, k, b) if b > 1 else (m, n, k)


def parse_choices(valid: tuple[str, ...], what: str) -> Callable[[str], list[str]]:
    """A parser for a comma list whose items must be in ``valid``."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in valid]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {bad[0] if bad else text!r}; valid choices: {', '.join(valid)}"
            )
        return unique(items)

    return parse


def parse_ints(what: str) -> Callable[[str], list[int]]:
    def parse(text: str) -> list[int]:
        values = unique(_positive(t.strip(), what) for t in text.split(",") if t.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"no {what} given")
        return values

    return parse


def parse_positive(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        return _positive(text.strip(), what)

    return parse


def parse_names(text: str) -> list[str]:
    """Backend names; checked against the registry later (it is not known at parse time)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no backend given; see 'gemmbench list'")
    return unique(names)


def _float(what: str, low: float = 0.0) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number") from None
        if not value >= low or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number >= {low:g}, got {text}")
        return value

    return parse


def parse_seconds(what: str) -> Callable[[str], float]:
    """A finite number of seconds > 0 (0, negative, nan and inf are refused)."""

    def parse(text: str) -> float:
        value = _float(what)(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be a finite number of seconds > 0, got {text}")
        return value

    return parse


def parse_fraction(text: str) -> float:
    """A noise target: a fraction in [0, 1] ('0.02') or a percentage ('2%'); '2' alone is ambiguous."""
    raw = text.strip()
    percent = raw.endswith("%")
    value = _float("noise target")(raw[:-1] if percent else raw) / (100 if percent else 1)
    if not percent and value > 1:
        raise argparse.ArgumentTypeError(
            f"noise target {text!r} is ambiguous: give a fraction ({value / 100:g}) or a percentage ({raw}%)"
        )
    if not 0 <= value <= 1:  # 0: never stop early, sample for the whole --max-time
        raise argparse.ArgumentTypeError(f"noise target must be in [0, 1] or [0%, 100%], got {text}")
    return value


def add_run_options(add: Callable[..., Any], prefix: str = "") -> None:
    """Declare the run options through ``add`` (argparse or pytest), names prefixed by ``prefix``."""

    def opt(name: str, short: str | None = None, **kw: Any) -> None:
        flags = [f"--{prefix}{name}"] + ([short] if short and not prefix else [])
        add(*flags, dest=(prefix + name).replace("-", "_"), **kw)

    opt(
        "backends",
        "-b",
        type=parse_names,
        default=None,
        metavar="LIST",
        help="comma list of backends (default: all found; see 'gemmbench list')",
    )
    opt(
        "sizes",
        "-s",
        type=parse_sizes,
        default=None,
        metavar="LIST",
        help=f"square sizes n (m=n=k): '256,512', ranges '64:1024:x2' or '256:1024:256' "
        f"(default {','.join(map(str, DEFAULT_SIZES))})",
    )
    opt(
        "shape",
        type=parse_shape,
        action="append",
        default=None,
        metavar="MxNxK[@B]",
        help="a rectangular case, e.g. 128x4096x4096, or 4096x4096x128@12 for 12 products per call "
        "(repeatable; adds to --sizes)",
    )
    opt(
        "dtypes",
        "-d",
        type=parse_choices(tuple(DTYPES), "dtype"),
        default=None,
        metavar="LIST",
        help=f"comma list of {', '.join(DTYPES)} (default {','.join(DEFAULT_DTYPES)})",
    )
    opt(
        "trans",
        "-t",
        type=parse_choices(TRANSPOSES, "transpose"),
        default=None,
        metavar="LIST",
        help=f"storage of A and B: {', '.join(TRANSPOSES)} (default NN)",
    )
    opt(
        "threads",
        "-j",
        type=parse_ints("thread count"),
        default=None,
        metavar="LIST",
        help="thread counts to measure, e.g. 1,2 (default: all usable CPUs)",
    )
    opt(
        "mode",
        "-m",
        type=parse_choices(MODES, "cache mode"),
        default=None,
        metavar="LIST",
        help="cache modes: hot (operands reused) and/or cold (rotating copies > last-level cache)",
    )
    opt(
        "max-time",
        type=parse_seconds("max time"),
        default=None,
        metavar="S",
        help="warm-up, calibration and sampling of one case take at most S seconds, converged or not",
    )
    opt(
        "noise-target",
        type=parse_fraction,
        default=None,
        metavar="FRAC",
        help="stop once the noise metric is <= FRAC: a fraction (0.02) or a percentage (2%%)",
    )
    opt(
        "noise-metric",
        type=parse_choices(("iqr", "ci"), "noise metric"),
        default=None,
        metavar="iqr|ci",
        help="relative IQR of samples, or relative 95%% CI half-width of the median",
    )
    opt("output", "-o", default=None, metavar="CSV", help="results CSV to append to (default results/<run-id>.csv)")
    opt("quick", action="store_true", default=False, help="short time budget per case (the README's main job)")


@dataclass(frozen=True)
class Resolved:
    cases: list[GemmCase]
    backends: list[str] | None
    policy: TimingPolicy
    modes: tuple[str, ...]
    threads: tuple[int, ...]
    output: str | None


def _policy(get: Callable[[str], Any], prefix: str) -> TimingPolicy:
    base = QUICK_POLICY if get(prefix + "quick") else TimingPolicy()
    changes = {
        "max_time_s": get(prefix + "max_time"),
        "target": get(prefix + "noise_target"),
        "metric": (get(prefix + "noise_metric") or [None])[0],
    }
    fields = {**base.__dict__, **{k: v for k, v in changes.items() if v is not None}}
    fields["min_time_s"] = min(fields["min_time_s"], fields["max_time_s"])
    return TimingPolicy(**fields)  # a PolicyError is a GemmbenchError: one line, exit 2


def resolve(get: Callable[[str], Any], prefix: str = "") -> Resolved:
    """Turn parsed option values (read by dest name through ``get``) into what a run needs."""
    p = prefix.replace("-", "_")
    shapes = unique([(n, n, n) for n in (get(p + "sizes") or [])] + list(get(p + "shape") or []))
    if not shapes:
        shapes = [(n, n, n) for n in DEFAULT_SIZES]
    cases = grid(shapes, get(p + "dtypes") or DEFAULT_DTYPES, get(p + "trans") or ["NN"])
    return Resolved(
        cases,
        get(p + "backends"),
        _policy(get, p),
        tuple(get(p + "mode") or ["hot"]),
        tuple(get(p + "threads") or ()),
        get(p + "output"),
    )
