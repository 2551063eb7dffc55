"""``gemmbench compare``: each backend's GFLOP/s against a baseline, judged across rounds.

The replication unit is the **round**: one run of ``gemmbench run --paired`` or ``--interleave``
with ``--rounds N``, in which every backend measured each case in a fresh worker process. Samples
of one process are autocorrelated and blind to the spread between processes (a worker that
lands on a slow core, a pool that started differently): a test on them called identical code
2-3 % faster or slower at p < 0.003. So each round gives one ratio (other ÷ baseline median
GFLOP/s), and the verdict comes from the rounds' log-ratios:

* a ``1 - alpha`` confidence interval of their mean (Student's t, ``scipy.stats``);
* ``faster`` / ``slower`` only when the whole interval lies beyond ``± threshold``;
* ``same`` when the whole interval lies inside it;
* ``inconclusive`` otherwise, and always with fewer than ``MIN_ROUNDS`` rounds.

A pair is only compared when both rows come from the same CPU, gemmbench revision and
environment, and each backend ran the same libraries in every round; otherwise the verdict is
``mismatch`` and names what differs (as pyperf refuses to merge runs with different metadata).

Each comparison also says *how* its rows were measured, since that decides what its spread means:
``paired`` (both rows of every round carry the ``turns`` fact of ``--paired`` and the machine was
handed over: the backends' blocks alternated within the case, so the host's drift over seconds hit
them alike), ``apart`` (each backend's worker ran on its own, seconds or minutes from the other's,
or one after the other in a ``--paired`` run whose calls outlast a turn, so that drift lands on one
backend) or ``mixed`` (some rounds each way, which the note names).

``--markdown`` prints the same comparisons as one table a document can hold (a row per case, a column per
dtype and thread count), so a published table is this command's output rather than a hand copy; ``--goal``
names a least ratio per dtype and lists every comparison whose median falls short, with its verdict. Reads
CSV files only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from ..case import DTYPES
from ..errors import UsageError
from ..result import Measurement, latest_per_key, read_results

__all__ = [
    "ALPHA",
    "MIN_ROUNDS",
    "VERDICTS",
    "Comparison",
    "compare",
    "format_goal",
    "format_markdown",
    "format_table",
    "interval",
    "pair_rows",
    "parse_goal",
    "summary_line",
    "verdict",
]

NAME = "compare"
HELP = "ratio of each backend to a baseline, with a verdict across rounds"

#: Default 1 - confidence level. On identical code (true ratio 1) a call needs the whole interval beyond
#: the threshold: 0 of 2,000 simulated A/A comparisons of 5 rounds with 2 % spread were called (0.15 % at
#: 0.05), while a 5 % slowdown with 1 % spread is found in 94 % of 5-round and all 10-round comparisons.
ALPHA = 0.01
#: Fewer rounds than this never give a verdict: an interval from two points is no evidence.
MIN_ROUNDS = 3
#: What must agree between the rows of a comparison (pair and rounds) for it to mean anything.
_SAME_IN_PAIR = ("cpu_model", "git_rev", "env")
_SAME_ACROSS_ROUNDS = ("blas", "libs")
#: Every verdict, in the order the summary line counts them.
VERDICTS = ("faster", "slower", "same", "inconclusive", "mismatch")


def _gf(row: Measurement) -> float:
    """GFLOP/s of a row compare kept (only ok rows with a rate are compared)."""
    assert row.gflops is not None
    return row.gflops


def interval(log_ratios: Sequence[float], alpha: float) -> tuple[float, float]:
    """The ``1 - alpha`` t-interval of the mean log-ratio (needs at least two values)."""
    from scipy import stats

    ci = stats.ttest_1samp(list(log_ratios), 0.0).confidence_interval(confidence_level=1 - alpha)
    return float(ci.low), float(ci.high)


def verdict(log_ratios: Sequence[float], alpha: float, threshold: float) -> tuple[str, tuple[float, float] | None]:
    """The verdict of the rounds' log-ratios, and the ratio interval it rests on (None with too few rounds)."""
    if len(log_ratios) < MIN_ROUNDS:
        return "inconclusive", None
    if len(set(log_ratios)) == 1:  # no spread at all: the interval is the point
        low = high = log_ratios[0]
    else:
        low, high = interval(log_ratios, alpha)
    edge = math.log1p(threshold)
    if low > edge:
        word = "faster"
    elif high < -edge:
        word = "slower"
    elif -edge <= low and high <= edge:
        word = "same"
    else:
        word = "inconclusive"
    return word, (math.exp(low), math.exp(high))


def _took_turns(base: Measurement, other: Measurement) -> bool:
    """Whether a pair's blocks alternated on the machine: one run of ``--paired``, both rows carry its ``turns``
    fact, and a worker handed the machine over at least once. A backend whose calls outlast a turn takes all its
    samples in its first turn ("handed over 0 times"), the other then measures "alone": one after the other, so
    the host's drift between them lands on one backend, as when measured apart."""

    def handed_over(row: Measurement) -> int | None:
        try:
            facts = json.loads(row.facts or "{}")
        except ValueError:  # a hand-edited facts cell: nothing it says is evidence of pairing
            return None
        turns = facts.get("turns") if isinstance(facts, dict) else None
        if not isinstance(turns, str):
            return None
        count = re.match(r"handed over (\d+) times", turns)
        return int(count.group(1)) if count else 0

    counts = handed_over(base), handed_over(other)
    return base.run_id == other.run_id and None not in counts and max(c or 0 for c in counts) > 0


def _mismatch(pairs: Sequence[tuple[Measurement, Measurement]]) -> str:
    """What differs between rows that must agree ('' when nothing does)."""
    problems = []
    for name in _SAME_IN_PAIR:
        values = {getattr(r, name) for pair in pairs for r in pair}
        if len(values) > 1:
            problems.append(f"{name} differs ({len(values)} values)")
    for side, label in ((0, "baseline"), (1, "backend")):
        for name in _SAME_ACROSS_ROUNDS:
            if len({getattr(pair[side], name) for pair in pairs}) > 1:
                problems.append(f"{label} {name} differs between rounds")
    return "; ".join(problems)


@dataclass(frozen=True)
class Comparison:
    """One backend against the baseline on one case, over the rounds that measured both."""

    case: str
    threads: int
    mode: str
    pairs: tuple[tuple[Measurement, Measurement], ...]  # (baseline, other) per round, oldest first
    verdict: str
    ci: tuple[float, float] | None  # interval of the ratio, from the rounds
    note: str = ""  # why there is no verdict, what differs, which rows were flagged
    paired: int = 0  # rounds whose two rows took turns on the machine (--paired)

    @property
    def base(self) -> Measurement:
        return self.pairs[-1][0]

    @property
    def other(self) -> Measurement:
        return self.pairs[-1][1]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(_gf(o) / _gf(b) for b, o in self.pairs)

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    @property
    def base_gflops(self) -> float:
        return median([_gf(b) for b, _ in self.pairs])

    @property
    def other_gflops(self) -> float:
        return median([_gf(o) for _, o in self.pairs])

    @property
    def how(self) -> str:
        """``paired`` when every round took turns within the case, ``apart`` when none did, else ``mixed``."""
        return "paired" if self.paired == len(self.pairs) else "apart" if self.paired == 0 else "mixed"

    @property
    def flagged(self) -> bool:
        """Whether any row of the comparison carries a noise flag or did not converge."""
        return any(r.flagged for pair in self.pairs for r in pair)


def pair_rows(rows: Sequence[Measurement], baseline: str) -> list[list[tuple[Measurement, Measurement]]]:
    """(baseline, other) rows of one case, paired within each run; a case the baseline measured only in
    another run gets the newest rows of each (one pair, never a verdict)."""
    ok = [r for r in rows if r.status == "ok" and r.gflops]
    by_run = latest_per_key(ok, lambda r: (r.host, r.run_id, r.key))  # the newest row wins (a resumed retry)
    latest = latest_per_key(ok, lambda r: (r.host, r.key))
    base_in_run = {(r.setting, r.run_id): r for r in by_run.values() if r.backend == baseline}
    newest_base = {r.setting: r for r in latest.values() if r.backend == baseline}
    pairs: dict[tuple, list[tuple[Measurement, Measurement]]] = {}
    for r in sorted(by_run.values(), key=lambda r: r.timestamp):
        b = base_in_run.get((r.setting, r.run_id))
        if r.backend != baseline and b is not None:
            pairs.setdefault((r.setting, r.key), []).append((b, r))
    for r in latest.values():
        b = newest_base.get(r.setting)
        if r.backend != baseline and b is not None and (r.setting, r.key) not in pairs:
            pairs[(r.setting, r.key)] = [(b, r)]
    return list(pairs.values())


def _judge(matched: list[tuple[Measurement, Measurement]], alpha: float, threshold: float) -> Comparison:
    o = matched[-1][1]
    mismatch = _mismatch(matched)
    logs = [math.log(_gf(o) / _gf(b)) for b, o in matched]
    word, ci = verdict(logs, alpha, threshold)
    notes = []
    if mismatch:
        word = "mismatch"
        notes.append(mismatch)
    elif len(matched) < MIN_ROUNDS:
        notes.append(f"{len(matched)} round{'s' if len(matched) > 1 else ''}; a verdict needs >= {MIN_ROUNDS}")
    paired = sum(_took_turns(b, o) for b, o in matched)
    comparison = Comparison(str(o.case), o.threads, o.cache_mode, tuple(matched), word, ci, paired=paired)
    if comparison.how == "mixed":
        notes.append(f"{paired} of {len(matched)} rounds paired, the rest apart")
    if comparison.flagged:
        notes.append("flagged rows (noisy, not converged or disturbed)")
    return dataclasses.replace(comparison, note="; ".join(notes))


def compare(
    csvs: Iterable[Path | str], baseline: str, alpha: float = ALPHA, threshold: float = 0.02
) -> list[Comparison]:
    """Each non-baseline backend against ``baseline`` for every host, case, mode and thread count both measured."""
    rows: list[Measurement] = []
    for p in map(Path, csvs):
        rows += read_results(p)
    return [_judge(matched, alpha, threshold) for matched in pair_rows(rows, baseline)]


def format_table(comparisons: Sequence[Comparison], baseline: str) -> str:
    """One line per comparison (medians over rounds, the ratio's range and interval, how the rounds were
    measured, the verdict), then a line counting the verdicts."""
    head = (
        f"{'case':<26} {'thr':>3} {'mode':<4} {baseline + ' GF/s':>12} {'backend':<12} {'GF/s':>8} "
        f"{'ratio':>6} {'rounds':>6} {'range':>13} {'interval':>13} {'how':<6}  verdict"
    )
    lines = [head]
    for c in comparisons:
        spread = f"{min(c.ratios):.3f}-{max(c.ratios):.3f}"
        ci = f"{c.ci[0]:.3f}-{c.ci[1]:.3f}" if c.ci else "-"
        lines.append(
            f"{c.case:<26} {c.threads:>3} {c.mode:<4} {c.base_gflops:>12.1f} {c.other.backend:<12} "
            f"{c.other_gflops:>8.1f} {c.ratio:>6.3f} {len(c.pairs):>6} {spread:>13} {ci:>13} {c.how:<6}  {c.verdict}"
            + (f" ({c.note})" if c.note else "")
        )
    lines.append(summary_line(comparisons))
    return "\n".join(lines)


def summary_line(comparisons: Sequence[Comparison]) -> str:
    """How many comparisons, how their rounds were measured, and how many got each verdict."""
    verdicts = Counter(c.verdict for c in comparisons)
    hows = ", ".join(f"{n} {how}" for how, n in sorted(Counter(c.how for c in comparisons).items()))
    counts = ", ".join(f"{verdicts[w]} {w}" for w in VERDICTS if verdicts[w] or w != "mismatch")
    return f"{len(comparisons)} comparison{'s' if len(comparisons) != 1 else ''} ({hows}): {counts}"


def _thread_word(threads: int) -> str:
    return f"{threads} thread{'s' if threads != 1 else ''}"


def _cell(c: Comparison) -> str:
    """``ratio (lowest-highest round) verdict``: the median, the spread the verdict weighed, the verdict."""
    return f"{c.ratio:.3f} ({min(c.ratios):.3f}–{max(c.ratios):.3f}) {c.verdict}"


#: What tells two comparisons' rows of a markdown table apart besides the shape, and the value that goes
#: unsaid (None: named only where it varies; the caption names the backends).
_ROW_PARTS: tuple[tuple[str, Callable[[Comparison], str], str | None], ...] = (
    ("host", lambda c: c.other.host, None),
    ("backend", lambda c: c.other.backend + (f" {c.other.variant}" if c.other.variant else ""), None),
    ("transpose", lambda c: c.other.trans, "NN"),
    ("mode", lambda c: c.mode, "hot"),
    ("workload", lambda c: c.other.workload, ""),
)


def format_markdown(comparisons: Sequence[Comparison], baseline: str) -> str:
    """The comparisons as one markdown table: a row per case (in the order the rounds first measured them),
    a column per dtype and thread count, each cell :func:`_cell`; then the summary line.

    A row is named by its shape, plus whatever else tells rows apart (host, backend, transpose, cache mode,
    workload) wherever that varies or is not the default, so no two comparisons ever share a cell. A cell
    says how its rounds were measured when the table holds more than one kind, and ``–`` marks a column a
    case was not compared in.
    """
    shown = [
        (name, part)
        for name, part, default in _ROW_PARTS
        if len(seen := {part(c) for c in comparisons}) > 1 or (default is not None and seen != {default})
    ]
    columns = sorted({(c.threads, c.other.dtype) for c in comparisons}, key=lambda t: (t[0], list(DTYPES).index(t[1])))
    cells: dict[tuple[str, ...], dict[tuple[int, str], Comparison]] = {}
    for c in comparisons:
        name = (*(part(c) for _, part in shown), c.other.case.label)
        cells.setdefault(name, {})[(c.threads, c.other.dtype)] = c
    several_hows = len({c.how for c in comparisons}) > 1
    backends = sorted({c.other.backend for c in comparisons})
    lines = [
        f"{' and '.join(backends)} ÷ {baseline}: median ratio of the rounds (lowest–highest), verdict",
        "",
        "| "
        + " | ".join([*(name for name, _ in shown), "shape", *(f"{d} {_thread_word(t)}" for t, d in columns)])
        + " |",
        "|---" * (len(shown) + 1 + len(columns)) + "|",
    ]
    for name, row in cells.items():
        values = [
            "–" if (one := row.get(col)) is None else _cell(one) + (f", {one.how}" if several_hows else "")
            for col in columns
        ]
        named = [part.replace("|", "\\|") for part in name[:-1]]  # a pipe in a workload would split the cell
        lines.append("| " + " | ".join([*named, name[-1].replace("x", "×"), *values]) + " |")
    lines += ["", summary_line(comparisons)]
    return "\n".join(lines)


def parse_goal(text: str) -> dict[str, float]:
    """``float32=0.98,float64=1.0`` -> ``{"float32": 0.98, "float64": 1.0}``; a bare number is the goal of every
    dtype the text does not name, wherever it stands (``float64=1,0.98`` and ``0.98,float64=1`` agree).

    Raises ``argparse.ArgumentTypeError`` naming the bad part: an unknown dtype (with the valid ones), a dtype
    or a bare number given twice, a ratio that is not a positive number.
    """
    named: dict[str, float] = {}
    rest: list[float] = []
    for part in text.split(","):
        dtype, sep, value = part.strip().rpartition("=")
        dtype = dtype.strip()
        if sep and dtype not in DTYPES:
            raise argparse.ArgumentTypeError(f"--goal names dtype {dtype!r}; valid choices: {', '.join(DTYPES)}")
        try:
            least = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--goal {part.strip()!r}: {value.strip()!r} is not a number") from None
        if not 0 < least < math.inf:
            raise argparse.ArgumentTypeError(f"--goal {part.strip()!r}: a ratio must be a positive number")
        if (sep and dtype in named) or (not sep and rest):
            raise argparse.ArgumentTypeError(f"--goal gives {dtype if sep else 'a bare number'} twice: {text!r}")
        if sep:
            named[dtype] = least
        else:
            rest.append(least)
    goal = dict.fromkeys(DTYPES, rest[0]) if rest else {}
    return goal | named


def format_goal(comparisons: Sequence[Comparison], goal: dict[str, float]) -> str:
    """The comparisons whose median ratio is under their dtype's goal, each with its range and verdict.

    The median alone does not show a miss: the verdict says what the rounds show (``slower``: short by more
    than the threshold; ``same``: within it either way; ``inconclusive``: they cannot tell), and the header
    counts each verdict so a reader sees which.
    """
    judged = [c for c in comparisons if c.other.dtype in goal]
    short = [c for c in judged if c.ratio < goal[c.other.dtype]]
    wanted = ", ".join(f"{d} {goal[d]:g}" for d in DTYPES if d in goal and any(c.other.dtype == d for c in judged))
    verdicts = Counter(c.verdict for c in short)
    counts = ", ".join(f"{n} {w}" for w in VERDICTS if (n := verdicts[w]))
    head = f"goal ({wanted or 'no compared dtype'}): {len(short)} of {len(judged)} comparisons under it"
    lines = [head + (f" ({counts})" if counts else "")]
    several_hosts = len({c.other.host for c in comparisons}) > 1
    for c in sorted(short, key=lambda c: c.ratio):
        where = f" on {c.other.host}" if several_hosts else ""
        lines.append(f"  {c.other.backend}{where} {c.case} {c.mode} {_thread_word(c.threads)}: {_cell(c)}")
    return "\n".join(lines)


def _fraction(what: str, low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number") from None
        if not low < value < high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low:g} and {high:g} (exclusive), got {text}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", nargs="+", help="results CSVs ('gemmbench run --paired|--interleave --rounds N')")
    parser.add_argument("--baseline", default="numpy", help="backend to divide by (default numpy)")
    parser.add_argument(
        "--alpha",
        type=_fraction("--alpha", 0.0, 0.5),
        default=ALPHA,
        help=f"1 - confidence level of the interval over rounds (default {ALPHA})",
    )
    parser.add_argument(
        "--threshold",
        type=_fraction("--threshold", 0.0, 1.0),
        default=0.02,
        help="smallest relative difference called faster/slower (default 0.02)",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print one markdown table (a row per case, a column per dtype and thread count) instead of a line each",
    )
    parser.add_argument(
        "--goal",
        type=parse_goal,
        metavar="DTYPE=RATIO,...",
        help="least ratio per dtype (e.g. float32=0.98,float64=1.0; a bare number for the dtypes not named): list each "
        "comparison whose median is under it, with its verdict (reports only; the exit status stays 0)",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        import scipy  # noqa: F401
    except ImportError:
        raise UsageError("compare needs scipy for its interval over rounds: pip install 'gemmbench[stats]'") from None
    rows = compare(args.csv, args.baseline, args.alpha, args.threshold)
    if not rows:
        raise UsageError(f"no ok rows share a case with baseline {args.baseline!r} in {', '.join(args.csv)}")
    print((format_markdown if args.markdown else format_table)(rows, args.baseline))
    if args.goal:
        print(format_goal(rows, args.goal))
    return 0
