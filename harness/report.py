"""Self-contained HTML reports: one page per run, an index of all runs, a comparison page.

Pages must open offline from a file on any machine, so there is no external CSS, JS, font
or image: styles are inline and plots are inline SVG (harness/plots.py). Every piece of
text that comes from a spec, a trace or a summary is HTML-escaped. A run that should not
be trusted as is (frames vanished, a node's trace stopped early, marked invalid or
interrupted) gets a red banner at the top, because a table alone is too easy to misread.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from harness import plots
from harness.analysis import (
    crossing_x,
    drops_per_second_by_node,
    latencies_ms,
    load_run,
    model_switches,
    per_second_counts,
    queue_depth_per_second,
    send_lag_ms,
    step_table,
    summarize,
    utilisation_per_second,
    warnings_of,
)

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.banner{background:#b00020;color:#fff;padding:.8em 1em;border-radius:4px;font-weight:bold}
.banner ul{margin:.3em 0 0 1.2em;font-weight:normal}
.ok{color:#1b5e20}.muted{color:#666;font-size:.9em}
svg{max-width:100%;height:auto}
"""


def _fmt(v: Any, nd: int = 3) -> str:
    """Format a value for a table cell (escaped)."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return escape(f"{v:.{nd}f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.4g}")
    if isinstance(v, (list, tuple)):
        return escape(", ".join(str(x) for x in v))
    return escape(str(v))


def _when(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), tz=dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError):
        return "–"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def banner(summary: dict[str, Any]) -> str:
    """Red banner listing why the run should not be trusted as is ('' when it can be)."""
    reasons = summary.get("warnings")
    if reasons is None:
        reasons = warnings_of(summary)
    if not reasons:
        return ""
    items = "".join(f"<li>{escape(str(r))}</li>" for r in reasons)
    return f'<div class="banner" id="banner">Check this run before using it:<ul>{items}</ul></div>'


def _kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f'<tr><th class="l">{escape(k)}</th><td>{_fmt(v)}</td></tr>' for k, v in rows)
    return f"<table>{body}</table>"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """Rows are pre-escaped cell HTML; the first `left` columns are left-aligned."""
    th = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>'
                 for i, h in enumerate(header))
    trs = "".join(
        "<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>'
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _summary_rows(s: dict[str, Any]) -> list[tuple[str, Any]]:
    lat = s.get("latency_ms") or {}
    win = s.get("window") or {}
    return [
        ("run id", s.get("run_id")), ("strategy", s.get("strategy")),
        ("profile", s.get("profile")), ("started", _when(s.get("started_at"))),
        ("offered fps", s.get("offered_fps")), ("achieved send fps", s.get("achieved_send_fps")),
        ("delivered fps", s.get("delivered_fps")), ("capacity fps", s.get("capacity_fps")),
        ("efficiency", s.get("efficiency")), ("sent", s.get("sent")),
        ("delivered", s.get("delivered")), ("coverage", s.get("coverage")),
        ("drops (total)", s.get("drops_total")), ("lost unaccounted", s.get("lost_unaccounted")),
        ("latency p50 ms", lat.get("p50")), ("latency p95 ms", lat.get("p95")),
        ("latency p99 ms", lat.get("p99")), ("latency mean ms", lat.get("mean")),
        ("latency max ms", lat.get("max")), ("warm-up frames (excluded)", s.get("warmup_frames")),
        ("measure window s", win.get("length_s")),
        ("arrival", s.get("arrival")), ("client", s.get("client")),
        ("send lag p50 ms", (s.get("send_lag_ms") or {}).get("p50")),
        ("send lag p99 ms", (s.get("send_lag_ms") or {}).get("p99")),
        ("send lag max ms", (s.get("send_lag_ms") or {}).get("max")),
        ("minimum run (duration s / frames)", _min_run(s)),
    ]


def _min_run(s: dict[str, Any]) -> str:
    m = s.get("min_run")
    if not m:
        return "–"
    verdict = "met" if m.get("ok") else "NOT met: run invalid"
    return f"{m.get('min_duration_s'):g} / {m.get('min_frames')}: {verdict}"


STEP_COLS = ("step", "rate_fps", "offered_fps", "scheduled", "sent", "delivered",
             "delivered_fps", "coverage", "latency_p50_ms", "latency_p99_ms", "send_lag_p99_ms")


def _steps_section(run, s: dict[str, Any]) -> list[str]:
    """Rate steps: the delivered-vs-offered curve and its table ([] without steps)."""
    steps = step_table(run)
    if steps.empty:
        return []
    rows = [[_fmt(r[c]) if not isinstance(r[c], float) else _fmt(float(r[c]))
             for c in STEP_COLS] for r in steps.to_dict("records")]
    return ["<h2>Delivered vs offered (rate steps)</h2>",
            plots.capacity_curve(steps, s.get("capacity_fps")),
            _table(list(STEP_COLS), rows, left=0)]


def _drops_table(s: dict[str, Any]) -> str:
    sent = s.get("sent") or 0
    rows = []
    for node, reasons in sorted((s.get("drops") or {}).items()):
        for reason, n in sorted(reasons.items()):
            share = f"{100.0 * n / sent:.2f} %" if sent else "–"
            rows.append((escape(node), escape(reason), _fmt(n), escape(share)))
    if not rows:
        return '<p class="ok">No drops of measure frames.</p>'
    return _table(["node", "reason", "frames", "share of sent"], rows, left=2)


NODE_COLS = ("role", "received", "dropped", "rejected", "processed", "forwarded",
             "forward_failed", "service_ms_mean", "real_ms_mean", "utilisation",
             "queue_depth_mean", "queue_depth_max")


def _nodes_table(s: dict[str, Any]) -> str:
    ends = s.get("trace_ends") or {}
    rows = [[escape(str(n))] + [_fmt(st.get(c)) for c in NODE_COLS] + [_when(ends.get(n))]
            for n, st in (s.get("nodes") or {}).items()]
    return _table(["node", *NODE_COLS, "trace ends"], rows, left=2)


def _resources_section(s: dict[str, Any]) -> list[str]:
    """Weight memory per device, bytes per frame on the wire, tasks per helper
    (harness/resources.py): what dp, mp and tasks trade for fps."""
    mem = (s.get("memory") or {}).get("nodes") or {}
    if not mem:
        return []
    wire = s.get("wire") or {}
    rows = [[escape(str(n)), escape(str(m.get("role"))), escape("+".join(m.get("stages") or [])),
             _fmt(m.get("weights_bytes")), _fmt(m.get("planned_weights_bytes"))]
            for n, m in mem.items()]
    out = ["<h2>Memory per device and bytes on the wire</h2>",
           _table(["node", "role", "stages", "weights bytes (measured, /stats)",
                   "weights bytes (planned)"], rows, left=3),
           _kv_table([("bytes per frame on the wire (measured)", wire.get("bytes_per_frame")),
                      ("bytes per frame on the wire (planned)",
                       wire.get("planned_bytes_per_frame")),
                      ("frames sent (incl. warm-up)", wire.get("frames_sent"))])]
    tasks = s.get("tasks_per_helper")
    if tasks:
        total = sum(tasks.values()) or 1
        out += ["<h3>Tasks per helper</h3>",
                _table(["helper", "tasks", "share"],
                       [[escape(h), str(n), _fmt(n / total)] for h, n in tasks.items()])]
    return out


def _faults_table(s: dict[str, Any]) -> str:
    faults = s.get("faults") or []
    if not faults:
        return ""
    start = (s.get("window") or {}).get("start") or 0.0
    rows = [(escape(f["kind"]), escape(f["host"]), _fmt(f["start"] - start, 1),
             _fmt(f["end"] - start, 1) if f.get("end") else "end of run",
             "ok" if f.get("ok") else escape(f.get("detail", "failed")))
            for f in faults]
    return ("<h2>Injected faults (shaded on every timeline)</h2>"
            + _table(["kind", "host", "from s", "to s", "applied"], rows))


def _switches_table(s: dict[str, Any]) -> str:
    sw = s.get("switches") or {}
    if not sw:
        return "<p>No node switched models in this run.</p>"
    rows = [(n, str(v.get("count")), _fmt(v.get("mean_ms"), 1), _fmt(v.get("total_ms"), 0))
            for n, v in sw.items()]
    return _table(["node", "switches", "mean ms", "total ms"], rows)


def _predicted_rows(s: dict[str, Any]) -> list[tuple[str, Any]]:
    p = s.get("predicted") or {}
    if not p:
        return []
    return [("predicted coverage (discrete-event model)", _fmt(p.get("coverage"), 4)),
            ("predicted delivered fps", _fmt(p.get("delivered_fps"), 2)),
            ("predicted switches", p.get("switches"))]


def write_run_report(run_dir: str | Path, summary: dict[str, Any] | None,
                     out_html: str | Path) -> Path:
    """Write the report page of one run; `summary=None` computes it from the traces."""
    run = load_run(run_dir)
    s = summary if summary is not None else summarize(run)
    lat = s.get("latency_ms") or {}
    title = f"Run {s.get('run_id')} — strategy {s.get('strategy')} at {s.get('offered_fps')} fps"
    spec = json.dumps(run.spec, indent=2, sort_keys=True, default=str)
    window = s.get("window") or {}
    run_window = (window.get("start") or 0.0, window.get("end") or 0.0)
    faults = [(f["start"] - run_window[0], (f.get("end") or run_window[1]) - run_window[0])
              for f in s.get("faults") or []]
    body = "\n".join([
        f"<h1>{escape(title)}</h1>",
        banner(s),
        "<h2>Summary</h2>", _kv_table(_summary_rows(s) + _predicted_rows(s)),
        "<h2>Drops by node and reason</h2>", _drops_table(s),
        "<h2>Nodes</h2>", _nodes_table(s),
        *_resources_section(s),
        *_steps_section(run, s),
        _faults_table(s),
        "<h2>Frames over time</h2>", plots.throughput(per_second_counts(run), faults),
        "<h2>Model switches and where frames are dropped</h2>", _switches_table(s),
        plots.switch_timeline(model_switches(run), run_window[0], run_window[1],
                              drops_per_second_by_node(run), faults),
        "<h2>Queue depth</h2>", plots.queue_depth(queue_depth_per_second(run), faults),
        "<h2>Utilisation</h2>", plots.utilisation(utilisation_per_second(run), faults),
        "<h2>Latency (intended send → sink)</h2>",
        plots.latency(latencies_ms(run), {k: lat.get(k) for k in ("p50", "p95", "p99")}),
        "<h2>Send lag (actual − intended send): was the load generator the limit?</h2>",
        plots.send_lag(send_lag_ms(run), {k: (s.get("send_lag_ms") or {}).get(k)
                                          for k in ("p50", "p99")},
                       (s.get("send_lag_ms") or {}).get("threshold")),
        "<h2>Spec</h2>", f"<details><summary>spec.json</summary><pre>{escape(spec)}</pre>"
        "</details>",
    ])
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page(title, body), encoding="utf-8")
    return out


def _load_summaries(source: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, (str, Path)):
        from harness.ledger import summaries

        return summaries(source)
    return list(source)


def _flags(s: dict[str, Any]) -> str:
    reasons = s.get("warnings")
    if reasons is None:
        reasons = warnings_of(s)
    return escape("; ".join(reasons)) if reasons else ""


def write_index(source: str | Path | Sequence[dict[str, Any]], out_html: str | Path) -> Path:
    """Index of every run, newest first; each row links to `<run-id>.html` beside it.

    source: the ledger's sqlite path, or a list of summary dicts.
    """
    items = sorted(_load_summaries(source), key=lambda s: (s.get("started_at") or 0,
                                                           str(s.get("run_id"))), reverse=True)
    rows = []
    for s in items:
        rid = str(s.get("run_id"))
        lat = s.get("latency_ms") or {}
        rows.append([
            f'<a href="{escape(quote(rid) + ".html")}">{escape(rid)}</a>',
            escape(_when(s.get("started_at"))), _fmt(s.get("strategy")),
            _fmt(s.get("offered_fps")), _fmt(s.get("delivered_fps")), _fmt(s.get("coverage")),
            _fmt(lat.get("p50")), _fmt(lat.get("p95")), _fmt(lat.get("p99")),
            _fmt(s.get("efficiency")), _fmt(s.get("lost_unaccounted")), _flags(s),
        ])
    header = ["run", "started", "strategy", "offered fps", "delivered fps", "coverage",
              "p50 ms", "p95 ms", "p99 ms", "efficiency", "lost unaccounted", "warnings"]
    body = (f"<h1>Runs ({len(items)})</h1>"
            + (_table(header, rows, left=3) if rows else "<p>No runs recorded yet.</p>"))
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page("Runs", body), encoding="utf-8")
    return out


def _summary_of(item: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A summary dict from a dict, or from a run dir (summary.json, else analysed now)."""
    if isinstance(item, dict):
        return item
    path = Path(item) / "summary.json"
    if path.exists():
        return json.loads(path.read_text())
    return summarize(load_run(item))


COMPARE_ROWS = (
    ("strategy", "strategy"), ("offered fps", "offered_fps"),
    ("achieved send fps", "achieved_send_fps"), ("delivered fps", "delivered_fps"),
    ("capacity fps", "capacity_fps"), ("efficiency", "efficiency"), ("sent", "sent"),
    ("delivered", "delivered"), ("coverage", "coverage"), ("drops (total)", "drops_total"),
    ("lost unaccounted", "lost_unaccounted"), ("latency p50 ms", "latency_ms.p50"),
    ("latency p95 ms", "latency_ms.p95"), ("latency p99 ms", "latency_ms.p99"),
    ("latency max ms", "latency_ms.max"), ("warm-up frames", "warmup_frames"),
    ("bytes per frame on the wire", "wire.bytes_per_frame"),
    ("L2 weight bytes per device (max)", "memory.l2_weights_bytes_per_device_max"),
)


def _get(s: dict[str, Any], dotted: str) -> Any:
    v: Any = s
    for part in dotted.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def write_comparison(items: Sequence[str | Path | dict[str, Any]], out_html: str | Path) -> Path:
    """Runs side by side: a table with one column per run, and bar charts of coverage,
    delivered fps, latency p95 and drops per node."""
    sums = [_summary_of(i) for i in items]
    labels = [str(s.get("run_id")) for s in sums]
    header = ["metric", *labels]
    rows = [[escape(name)] + [_fmt(_get(s, key)) for s in sums] for name, key in COMPARE_ROWS]
    warn_row = [escape("warnings")] + [_flags(s) or "–" for s in sums]
    nodes = sorted({n for s in sums for n in (s.get("drops") or {})})
    drop_parts = {n: [sum((s.get("drops") or {}).get(n, {}).values()) for s in sums]
                  for n in nodes}
    body = "\n".join([
        f"<h1>Comparison of {len(sums)} runs</h1>",
        "".join(banner(s).replace('id="banner"', f'id="banner-{i}"') for i, s in enumerate(sums)),
        _table(header, [*rows, warn_row]),
        "<h2>Coverage</h2>",
        plots.bars(labels, [s.get("coverage") for s in sums], "Coverage", "delivered / sent"),
        "<h2>Delivered frames per second</h2>",
        plots.bars(labels, [s.get("delivered_fps") for s in sums], "Delivered fps", "frames/s"),
        "<h2>Latency p95</h2>",
        plots.bars(labels, [_get(s, "latency_ms.p95") for s in sums], "Latency p95", "ms"),
        "<h2>Drops by node</h2>",
        plots.stacked_bars(labels, drop_parts, "Dropped measure frames", "frames"),
    ])
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page("Comparison: " + ", ".join(labels), body), encoding="utf-8")
    return out


def _whole(v: Any) -> str:
    return "–" if v is None or pd.isna(v) else f"{int(round(float(v))):,}"


def _side_by_side(points: pd.DataFrame) -> list[str]:
    """dp/mp/tasks against K beside the others: fps against the bound, coverage, p95,
    bytes per frame on the wire and L2 weight memory per device."""
    if points.empty or "k" not in points:
        return []
    cols = ("k", "capacity_fps", "wire_bytes_per_frame", "l2_weights_bytes_per_device")
    pts = points.assign(**{c: points[c] if c in points else None for c in cols})
    rows = [
        (escape(str(r.strategy)), "" if pd.isna(r.k) else str(int(r.k)),
         _fmt(r.delivered_fps, 2), _fmt(r.capacity_fps, 1), _fmt(r.coverage, 4),
         _fmt(r.latency_p95_ms, 1), _whole(r.wire_bytes_per_frame),
         _whole(r.l2_weights_bytes_per_device))
        for r in pts.sort_values(["strategy", "k"], na_position="first").itertuples()
    ]
    return ["<h2>Side by side: fps, coverage, latency, wire and memory</h2>",
            _table(["strategy", "K", "delivered fps", "capacity fps", "coverage",
                    "latency p95 ms", "bytes / frame on the wire",
                    "L2 weight bytes / device"], rows, left=0)]


def write_sweep(points: pd.DataFrame, spread: pd.DataFrame, run_template: dict[str, Any],
                out_html: str | Path, predicted: pd.DataFrame | None = None) -> Path:
    """The sweep page: coverage and delivered fps against X, X*, a table of every point."""
    xstar = crossing_x(points)
    knobs = ", ".join(f"{k}={v}" for k, v in sorted(run_template.items()))
    title = "Sweep: strategies against X"
    verdict = (f"<p><b>X* = {xstar}</b>: from this X on, strategy 2's coverage stays above the "
               "baseline's.</p>" if xstar is not None else
               "<p><b>X* not reached</b>: strategy 2 never stayed above the baseline in this "
               "sweep.</p>" if "cao2" in set(points.get("strategy", [])) else "")
    flagged = points[points["warnings"].astype(bool)] if "warnings" in points else points[:0]
    rows = [
        (escape(str(r.strategy)), "" if pd.isna(r.x) else str(int(r.x)),
         _fmt(r.coverage, 4), _fmt(r.predicted_coverage, 4), _fmt(r.delivered_fps, 2),
         _fmt(r.predicted_delivered_fps, 2), _fmt(r.latency_p95_ms, 1), str(r.switches),
         f'<a href="{quote(str(r.run_id))}.html">{escape(str(r.run_id))}</a>',
         escape(str(r.warnings)))
        for r in points.sort_values(["strategy", "x"], na_position="first").itertuples()
    ]
    table = _table(["strategy", "X", "coverage", "predicted", "delivered fps", "predicted fps",
                    "latency p95 ms", "switches", "run", "warnings"], rows, left=0)
    side = _side_by_side(points)
    spread_rows = [
        (escape(str(r.strategy)), "" if pd.isna(r.x) else str(int(r.x)), str(r.runs),
         f"{_fmt(r.coverage_min, 4)} – {_fmt(r.coverage_max, 4)}",
         f"{_fmt(r.fps_min, 2)} – {_fmt(r.fps_max, 2)}")
        for r in spread.itertuples()
    ] if not spread.empty else []
    body = "\n".join([
        f"<h1>{escape(title)}</h1>", f"<p>Every run: {escape(knobs)}</p>", verdict,
        (f'<div class="banner">{len(flagged)} point(s) carry warnings (e.g. measured and '
         "predicted coverage differ by more than 0.05): see the table.</div>"
         if len(flagged) else ""),
        "<h2>Coverage</h2>",
        plots.sweep_curve(points, "coverage", "coverage", "Coverage against X", predicted,
                          xstar),
        "<h2>Delivered frames per second</h2>",
        plots.sweep_curve(points, "delivered_fps", "frames / s", "Delivered fps against X",
                          predicted, xstar),
        "<h2>Every point</h2>", table,
        *side,
        "<h2>Spread over reruns of the same spec (ledger)</h2>",
        _table(["strategy", "X", "runs", "coverage min – max", "fps min – max"], spread_rows,
               left=0) if spread_rows else "<p>No reruns yet.</p>",
    ])
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page(title, body), encoding="utf-8")
    return out
