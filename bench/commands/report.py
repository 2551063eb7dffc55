"""``gemmbench report``: one self-contained HTML page per run, readable offline, forever.

Everything the page shows comes from the rows (and the ceilings file beside them): the machine and
software they record, a method section written from what they say about how they were measured, the
ceilings with their sources, the plots inlined as SVG, every row in a table (sortable with a few lines
of script, complete without it), the comparison verdicts when a baseline is given, the step-time
breakdown of workload rows, and the CSV itself as a data URI. No external resource of any kind.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ..result import Measurement
from ..store import check_writable, given_or_newest
from .plot import PlotInput, load, plot_all, step_breakdown

__all__ = ["render"]

NAME = "report"
HELP = "write one self-contained HTML page (plots, table, method, data) for results CSVs"

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:12px;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid #ddd;padding:3px 5px;text-align:left}
th{background:#f3f3f3;cursor:pointer}tr.flagged td{background:#fff6e0}tr.bad td{background:#fde8e8}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:6px;margin:6px 0}
.plots svg{max-width:100%;height:auto}.scroll{overflow-x:auto}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}
@media print{th{cursor:auto}.plots svg{page-break-inside:avoid}}
@media (max-width:600px){body{padding:4px}table{font-size:11px}dl{grid-template-columns:1fr}}
"""
_SORT = """
document.querySelectorAll('table.sortable th').forEach(function(th, i){th.addEventListener('click', function(){
var tb=th.closest('table').tBodies[0], rows=Array.from(tb.rows), asc=th.dataset.asc!=='1';
th.dataset.asc=asc?'1':'0';
rows.sort(function(a,b){var x=a.cells[i].textContent, y=b.cells[i].textContent;
var p=parseFloat(x), q=parseFloat(y), r=(!isNaN(p)&&!isNaN(q))?p-q:x.localeCompare(y); return asc?r:-r;});
rows.forEach(function(r){tb.appendChild(r);});});});
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _facts(rows: Sequence[Measurement]) -> dict[str, str]:
    """Machine and software facts the rows record (first row that has each)."""
    out: dict[str, str] = {}
    for r in rows:
        libs = json.loads(r.libs) if r.libs else {}
        for key, value in libs.items():
            out.setdefault(key.removeprefix("device."), str(value))
    return out


#: Facts the header shows on lines of their own; the rest go under "Device facts".
_LIBS = ("python", "numpy", "numba", "llvmlite", "cupy", "torch", "torch_npu")
_SHOWN = {"cpu", "cpus", "simd", "llc_bytes", "arch", "memory_bytes", "os", "mhz", *_LIBS}


def _span(stamps: Sequence[str]) -> str:
    """'first - last (UTC), N min': when the run took place and how long it took."""
    from datetime import datetime

    minutes = (datetime.fromisoformat(stamps[-1]) - datetime.fromisoformat(stamps[0])).total_seconds() / 60
    return f"{stamps[0]} – {stamps[-1]} (UTC), {minutes:.1f} min"


def _header(rows: Sequence[Measurement], sources: Sequence[Path]) -> str:
    first, facts = rows[0], _facts(rows)
    stamps = sorted(r.timestamp for r in rows if r.timestamp)
    env: dict[str, str] = {}
    for r in rows:
        env.update(json.loads(r.env) if r.env else {})
    cpu = (
        f"{first.cpu_model} — {facts.get('cpus', '?')} usable CPUs, SIMD {facts.get('simd', '?')}, "
        f"LLC {facts.get('llc_bytes', '?')} bytes, {facts.get('arch', '')}"
    )
    items = [
        ("Files", ", ".join(p.name for p in sources)),
        ("Host", ", ".join(sorted({r.host for r in rows}))),
        ("CPU", cpu),
        ("Memory, OS", f"{facts.get('memory_bytes', '?')} bytes; {facts.get('os', 'not recorded')}"),
        ("BLAS", "; ".join(sorted({r.blas for r in rows if r.blas})) or "none recorded"),
        ("Libraries", ", ".join(f"{k} {facts[k]}" for k in _LIBS if k in facts)),
        ("Devices", ", ".join(sorted({r.device for r in rows if r.device})) or "-"),
        ("Device facts", ", ".join(f"{k}={v}" for k, v in sorted(facts.items()) if k not in _SHOWN) or "-"),
        ("Environment", ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "nothing recorded"),
        ("gemmbench", ", ".join(sorted({r.git_rev for r in rows if r.git_rev})) or "unknown revision"),
        ("When", _span(stamps) if stamps else "-"),
    ]
    out = "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"
    slow = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in env]
    if slow:
        out += (
            f'<p class="warn">{", ".join(slow)} set when measuring: OpenBLAS may have run a slower kernel '
            "than this CPU allows; unset both for performance figures.</p>"
        )
    return out


def _method(rows: Sequence[Measurement]) -> str:
    ok = [r for r in rows if r.status == "ok"]
    facts = [json.loads(r.facts) for r in ok if r.facts]
    samples = sorted(r.n_samples for r in ok)
    lines = [f"{len(rows)} rows: " + ", ".join(f"{n} {s}" for s, n in Counter(r.status for r in rows).items()) + "."]
    if ok:
        lines += [
            f"Samples per row {samples[0]}–{samples[-1]}; {sum(r.converged for r in ok)} of {len(ok)} rows met their "
            "noise target over a sustained window (the rest say 'not converged'). Each timed block lasted at least "
            "1 ms and 1000× the clock's cost; the first call (JIT, handles) was timed apart "
            f"(median {sorted(r.first_call_s or 0 for r in ok)[len(ok) // 2] * 1e3:.3g} ms) and never sampled.",
            "Stopping rules: " + "; ".join(sorted({f.get("policy", "not recorded") for f in facts})) + ".",
            "Cache modes: "
            + ", ".join(sorted({r.cache_mode for r in ok}))
            + "; threads: "
            + ", ".join(str(t) for t in sorted({r.threads for r in ok}))
            + "; workers pinned to CPUs "
            + ", ".join(sorted({f.get("affinity", "") for f in facts} - {""}))
            + " before their interpreter started.",
            "Verification of every result against float64, entry by entry: "
            + ", ".join(sorted({r.verified.split(" ")[0] for r in ok}))
            + ".",
            f"Blocks set aside because the worker waited for a CPU: {sum(r.disturbed for r in ok)}; rows flagged "
            f"(noise, contention, steal, not converged, suspect): {sum(r.flagged for r in ok)}.",
        ]
    return "".join(f"<p>{_e(x)}</p>" for x in lines)


def _ceilings(rows: Sequence[Measurement], data: PlotInput) -> str:
    used = sorted({r.ceilings for r in rows if r.ceilings})
    items = [
        f"<li>{_e(c.kind)} {_e(c.name)} {_e(c.dtype)} x{c.threads}: {c.value:.1f} {_e(c.unit)} — "
        f"<b>{_e(c.source)}</b>; {_e(c.method)}</li>"
        for c in data.ceilings
    ]
    out = "<ul>" + "".join(items) + "</ul>" if items else "<p>No ceilings file beside the results.</p>"
    if used:
        out += "<p>Rows were placed under: " + "; ".join(_e(u) for u in used[:6]) + "</p>"
    return out


def _table(rows: Sequence[Measurement]) -> str:
    head = [
        "backend",
        "case",
        "mode",
        "threads",
        "status",
        "median",
        "IQR %",
        "GFLOP/s",
        "% of roof",
        "noise",
        "reason",
    ]
    body = []
    for r in rows:
        cls = "bad" if r.status in ("wrong", "error") else ("flagged" if r.flagged else "")
        iqr = f"{100 * r.iqr_s / r.median_s:.1f}" if r.median_s and r.iqr_s is not None else ""
        cells = [
            r.backend,
            str(r.case),
            r.cache_mode,
            r.threads,
            r.status,
            f"{r.median_s:.4g} s" if r.median_s else "",
            iqr,
            f"{r.gflops:.1f}" if r.gflops else "",
            f"{r.pct_roof:.0f}" if r.pct_roof is not None else "",
            r.noise + ("" if r.converged or r.status != "ok" else "; not converged"),
            r.reason,
        ]
        body.append(f'<tr class="{cls}">' + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return (
        '<div class="scroll"><table class="sortable"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )


def _plots(data: PlotInput, baseline: str | None) -> str:
    if not data.ok:
        return "<p>No ok rows: nothing to plot.</p>"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = plot_all(data, Path(tmp), "report", baseline, ["svg"])
            svgs = [p.read_text() for p in paths]
    except UsageError as exc:  # matplotlib missing
        return f"<p>{_e(exc)}</p>"
    return '<div class="plots">' + "".join(s[s.index("<svg") :] for s in svgs) + "</div>"


def _comparison(sources: Sequence[Path], baseline: str | None) -> str:
    if not baseline:
        return "<p>Give --baseline to compare backends.</p>"
    try:
        from .compare import compare, format_table

        rows = compare(sources, baseline)
    except ImportError:
        return "<p>The comparison needs scipy (pip install 'gemmbench[stats]').</p>"
    return f"<pre>{_e(format_table(rows, baseline))}</pre>" if rows else f"<p>No case shared with {_e(baseline)}.</p>"


def _workloads(data: PlotInput) -> str:
    parts = []
    for workload, bars in sorted(step_breakdown(data).items()):
        rows = "".join(
            f"<tr><td>{_e(where.replace(chr(10), ' '))}</td><td>{sum(roles.values()):.4g}</td><td>"
            + _e(", ".join(f"{k} {v:.3g} s" for k, v in sorted(roles.items(), key=lambda kv: -kv[1])))
            + "</td></tr>"
            for where, roles in bars.items()
        )
        parts.append(
            f"<h3>{_e(workload)}</h3><table><tr><th>device</th><th>GEMM s/step</th><th>by role</th></tr>{rows}</table>"
        )
    return "".join(parts) or "<p>No row carries a workload (see 'gemmbench run --workload').</p>"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render(csvs: Sequence[Path | str], baseline: str | None = None) -> str:
    """The whole page for ``csvs`` as one HTML string."""
    sources = [Path(p) for p in csvs]
    data = load(sources)
    rows = data.history
    if not rows:
        raise UsageError(f"{', '.join(map(str, sources))}: no rows to report")
    links = " ".join(
        f'<a download="{_e(p.name)}" href="data:text/csv;base64,{_b64(p)}">Download {_e(p.name)}</a>' for p in sources
    )
    bad = [r for r in rows if r.status != "ok"]
    summary = (
        f"<p class='warn'>No row measured successfully: {len(bad)} rows are error, wrong or skipped "
        "(see the table).</p>"
        if len(bad) == len(rows)
        else ""
    )
    sections = [
        ("Machine and software", _header(rows, sources)),
        ("Method (from what the rows record)", _method(rows)),
        ("Ceilings", _ceilings(rows, data)),
        ("Plots", _plots(data, baseline)),
        ("Results", _table(rows)),
        ("Comparison", _comparison(sources, baseline)),
        ("Workloads", _workloads(data)),
        (
            "Data",
            f"<p>{links} (embedded in this page: they reproduce every figure above).</p>",
        ),
    ]
    body = "".join(f"<h2>{_e(title)}</h2>{content}" for title, content in sections)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        f"content='width=device-width,initial-scale=1'><title>gemmbench report — {_e(sources[0].stem)}</title>"
        f"<style>{_CSS}</style></head><body><h1>gemmbench report — {_e(sources[0].stem)}</h1>{summary}{body}"
        f"<script>{_SORT}</script></body></html>"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", nargs="*", help="results CSVs (default: newest in results/)")
    parser.add_argument("-o", "--output", default=None, metavar="HTML", help="default plots/<run>-report.html")
    parser.add_argument("--baseline", default=None, help="backend to compare the others with (needs scipy)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    csvs = given_or_newest(args.csv)
    out = Path(args.output or Path("plots") / f"{Path(csvs[0]).stem}-report.html")
    check_writable(out, "--output")
    out.write_text(render(csvs, args.baseline), encoding="utf-8")
    print(out)
    return 0
