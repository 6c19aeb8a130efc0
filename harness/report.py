"""Self-contained HTML reports: one page per run, an index of all runs, a comparison page
and a sweep page, rendered from the Jinja2 templates in harness/templates/.

Pages must open offline from a file on any machine, so there is no external CSS, JS, font
or image: styles are inline (templates/base.html) and plots are inline SVG
(harness/plots.py). Autoescape is on, so every piece of text that comes from a spec, a
trace or a summary is escaped by the template; only SVG plots and the links built here
are passed as Markup. A run that should not be trusted as is (frames vanished, a node's
trace stopped early, marked invalid or interrupted) gets a red banner at the top, because
a table alone is too easy to misread.

This module turns summaries into display text (rows of cells) and the templates decide
the markup; it imports analysis, plots and ledger only, never harness.sweep or
harness.experiment (those import this module).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from harness import plots, strategies
from harness.analysis import (
    Run,
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
    verdict,
    warnings_of,
)
from harness.analysis.metrics import NO_BOUND_ZERO
from harness.errors import SpecError
from harness.models import DEFAULT_MODEL
from harness.seeds import deepthings

Cell = str | Markup
Rows = list[list[Cell]]


def _fmt(v: Any, nd: int = 3) -> str:
    """Display text of a value in a table cell (escaping is the template's job)."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


def _when(ts: Any) -> str:
    """A Unix time as a UTC date, '–' when missing (old summaries lack some times)."""
    try:
        return dt.datetime.fromtimestamp(float(ts), tz=dt.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError):
        return "–"


def _whole(v: Any) -> str:
    """Byte counts: whole numbers with thousands separators, '–' when not measured."""
    return "–" if v is None or pd.isna(v) else f"{int(round(float(v))):,}"


def _link(run_id: Any) -> Markup:
    """A link to the run's page beside this one; the id is both URL-quoted and escaped."""
    rid = str(run_id)
    return Markup('<a href="{}.html">{}</a>').format(quote(rid), rid)


_ENV = Environment(
    loader=PackageLoader("harness", "templates"),
    autoescape=True,
    undefined=StrictUndefined,  # a misspelt field fails the render instead of vanishing
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters["fmt"] = _fmt


def _render(template: str, out_html: str | Path, **context: Any) -> Path:
    """Render `template` with `context` into `out_html` (parent dirs created)."""
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_ENV.get_template(template).render(**context), encoding="utf-8")
    return out


def _reasons(summary: dict[str, Any]) -> list[str]:
    """The summary's warnings; recomputed for summaries written before they were stored."""
    reasons = summary.get("warnings")
    return list(reasons) if reasons is not None else warnings_of(summary)


def banner(summary: dict[str, Any]) -> str:
    """Red banner listing why the run should not be trusted as is ('' when it can be)."""
    macros = _ENV.get_template("macros.html").module
    return str(macros.banner(_reasons(summary)))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- run page


def _min_run(s: dict[str, Any]) -> str:
    m = s.get("min_run")
    if not m:
        return "–"
    verdict = "met" if m.get("ok") else "NOT met: run invalid"
    return f"{m.get('min_duration_s'):g} / {m.get('min_frames')}: {verdict}"


def _summary_rows(s: dict[str, Any]) -> list[tuple[str, Any]]:
    lat = s.get("latency_ms") or {}
    win = s.get("window") or {}
    lag = s.get("send_lag_ms") or {}
    rows = [
        ("run id", s.get("run_id")), ("strategy", s.get("strategy")),
        ("profile", s.get("profile")), ("started", _when(s.get("started_at"))),
        ("offered fps", s.get("offered_fps")), ("achieved send fps", s.get("achieved_send_fps")),
        ("delivered fps", s.get("delivered_fps")), ("capacity fps", _capacity(s)),
        ("efficiency", s.get("efficiency")), ("sent", s.get("sent")),
        ("delivered", s.get("delivered")), ("coverage", s.get("coverage")),
        ("drops (total)", s.get("drops_total")), ("lost unaccounted", s.get("lost_unaccounted")),
        ("latency p50 ms", lat.get("p50")), ("latency p95 ms", lat.get("p95")),
        ("latency p99 ms", lat.get("p99")), ("latency mean ms", lat.get("mean")),
        ("latency max ms", lat.get("max")), ("warm-up frames (excluded)", s.get("warmup_frames")),
        ("measure window s", win.get("length_s")),
        ("arrival", s.get("arrival")), ("client", s.get("client")),
        ("send lag p50 ms", lag.get("p50")), ("send lag p99 ms", lag.get("p99")),
        ("send lag max ms", lag.get("max")),
        ("minimum run (duration s / frames)", _min_run(s)),
    ]
    p = s.get("predicted") or {}
    if p.get("skipped"):
        rows.append(("prediction (discrete-event model)", f"none: {p['skipped']}"))
    elif p:
        rows += [("predicted coverage (discrete-event model)", _fmt(p.get("coverage"), 4)),
                 ("predicted delivered fps", _fmt(p.get("delivered_fps"), 2)),
                 ("predicted switches", p.get("switches"))]
        if p.get("hop_ms") is not None:
            rows.append(("model's per-hop overhead ms",
                         f"{_fmt(p['hop_ms'], 3)} ({p.get('hop_basis', '')})"))
        elif p.get("hop_basis"):
            rows.append(("model's per-hop overhead ms", p["hop_basis"]))
    return rows


def _capacity(s: dict[str, Any]) -> Any:
    """The capacity bound, or in words why there is no number (a profile without a cost
    model: not known; a profile that adds no time: no bound). Never a bare dash for both."""
    if s.get("capacity_fps") is not None:
        return s["capacity_fps"]
    return s.get("capacity_note") or s.get("capacity_fps")


def _drop_rows(s: dict[str, Any]) -> Rows:
    sent = s.get("sent") or 0
    rows: Rows = []
    for node, reasons in sorted((s.get("drops") or {}).items()):
        for reason, n in sorted(reasons.items()):
            share = f"{100.0 * n / sent:.2f} %" if sent else "–"
            rows.append([str(node), str(reason), _fmt(n), share])
    return rows


# The nodes table in two, so each fits the page (1400 px and narrower): what each node did
# with the frames, then how long it took and how loaded it was. Headers are words, so they
# wrap; (summary field, header).
NODE_FRAME_COLS = (("role", "role"), ("profile", "profile"), ("received", "received"),
                   ("dropped", "dropped"), ("rejected", "rejected"),
                   ("processed", "processed"), ("tasks_processed", "tasks processed"),
                   ("forwarded", "forwarded"), ("forward_failed", "forward failed"))
NODE_TIME_COLS = (("service_ms_mean", "service ms (profile, mean)"),
                  ("real_ms_mean", "numpy ms (mean)"),
                  ("measured_service_ms_mean", "measured service ms (mean)"),
                  ("measured_service_ms_p95", "measured service ms (p95)"),
                  ("utilisation", "utilisation"), ("queue_depth_mean", "queue depth (mean)"),
                  ("queue_depth_max", "queue depth (max)"),
                  ("service_error", "service error (measured vs profile)"),
                  ("overruns", "overruns (frames over the profile time)"))


def _trace_end(s: dict[str, Any], node: str) -> str:
    """When a node's trace ends, in s after the measure window's end (a node that died shows
    as a large negative number); '–' without rows."""
    end = (s.get("trace_ends") or {}).get(node)
    window_end = (s.get("window") or {}).get("end")
    if end is None or window_end is None:
        return "–"
    return f"{round(end - window_end, 1) + 0.0:+.1f}"  # + 0.0: no "-0.0"


def _node_tables(s: dict[str, Any]) -> dict[str, Any]:
    nodes = s.get("nodes") or {}
    return {
        "node_frames_header": ["node", *(h for _, h in NODE_FRAME_COLS)],
        "node_frames": [[str(n), *(_fmt(st.get(c)) for c, _ in NODE_FRAME_COLS)]
                        for n, st in nodes.items()],
        "node_times_header": ["node", *(h for _, h in NODE_TIME_COLS),
                              "trace ends (s after the window)"],
        "node_times": [[str(n), *(_fmt(st.get(c)) for c, _ in NODE_TIME_COLS),
                        _trace_end(s, n)] for n, st in nodes.items()],
    }


# --------------------------------------------------------------------------- verdict card


@dataclass
class Tile:
    """One number of the verdict card: `field` is the summary's (dotted) key it shows, so a
    test can hold the card to the summary; `predicted` is the discrete-event model's."""

    label: str
    field: str
    value: Any
    text: str
    note: str = ""
    predicted: str = ""

    @property
    def raw(self) -> str:
        return json.dumps(self.value)


def _capacity_tile(s: dict[str, Any]) -> Tile:
    cap, note = s.get("capacity_fps"), s.get("capacity_note") or ""
    if cap is not None:
        return Tile("capacity bound fps", "capacity_fps", cap, _fmt(cap),
                    "what the devices can do at most")
    return Tile("capacity bound fps", "capacity_fps", None,
                "no bound" if note == NO_BOUND_ZERO else "not known", note)


def verdict_card(s: dict[str, Any]) -> dict[str, Any]:
    """The one-line answer on top of a run's report: delivered against offered and the
    capacity bound, coverage, latency p50/p99, valid or why not, and the discrete-event
    model's prediction beside each number it predicts."""
    lat = s.get("latency_ms") or {}
    pred = s.get("predicted") or {}
    plat = pred.get("latency_ms") or {}
    word, reasons = verdict(s)

    def predicted(v: Any, nd: int = 3) -> str:
        return f"predicted {_fmt(v, nd)}" if v is not None and pred else ""

    sent, delivered = s.get("sent"), s.get("delivered")
    tiles = [
        Tile("delivered fps", "delivered_fps", s.get("delivered_fps"),
             _fmt(s.get("delivered_fps")), f"efficiency {_fmt(s.get('efficiency'))}",
             predicted(pred.get("delivered_fps"))),
        Tile("offered fps", "offered_fps", s.get("offered_fps"), _fmt(s.get("offered_fps")),
             f"sent at {_fmt(s.get('achieved_send_fps'))}"),
        _capacity_tile(s),
        Tile("coverage", "coverage", s.get("coverage"), _fmt(s.get("coverage"), 4),
             f"{_fmt(delivered)} of {_fmt(sent)} frames", predicted(pred.get("coverage"), 4)),
        Tile("latency p50 ms", "latency_ms.p50", lat.get("p50"), _fmt(lat.get("p50"), 1),
             "from the intended send", predicted(plat.get("p50"), 1)),
        Tile("latency p99 ms", "latency_ms.p99", lat.get("p99"), _fmt(lat.get("p99"), 1),
             f"max {_fmt(lat.get('max'), 1)}", predicted(plat.get("p99"), 1)),
    ]
    if pred.get("skipped"):
        model = f"no prediction: {pred['skipped']}"
    elif pred:
        model = ("predicted by the discrete-event model (harness/predict.py), "
                 f"per-hop overhead {_fmt(pred.get('hop_ms'), 3)} ms"
                 if pred.get("hop_ms") is not None else
                 f"predicted by the discrete-event model: {pred.get('hop_basis', '')}")
    else:
        model = "no prediction in this summary"
    why = (f"{len(reasons)} warning{'s' if len(reasons) > 1 else ''}, listed below"
           if reasons else "no warnings")
    answer = {"valid": "valid", "check": f"check before use ({why})",
              "invalid": f"not valid ({why})"}[word]
    bound = _capacity_tile(s)
    sentence = (f"Delivered {_fmt(s.get('delivered_fps'))} of {_fmt(s.get('offered_fps'))} fps "
                f"offered (capacity bound {bound.text}): coverage {_fmt(s.get('coverage'), 4)}, "
                f"latency p50 {_fmt(lat.get('p50'), 1)} ms, p99 {_fmt(lat.get('p99'), 1)} ms; "
                f"{answer}.")
    return {"tiles": tiles, "verdict": word, "why": why, "model": model,
            "sentence": sentence}


def _resources(s: dict[str, Any]) -> dict[str, Any]:
    """Weight memory per device, bytes per frame on the wire, tasks per helper
    (harness/resources.py): what dp, mp and tasks trade for fps. Empty when not measured."""
    mem = (s.get("memory") or {}).get("nodes") or {}
    if not mem:
        return {"memory": [], "wire": [], "tasks": []}
    wire = s.get("wire") or {}
    tasks = s.get("tasks_per_helper") or {}
    total = sum(tasks.values()) or 1
    return {
        "memory": [[str(n), str(m.get("role")), "+".join(m.get("stages") or []),
                    _fmt(m.get("weights_bytes")), _fmt(m.get("planned_weights_bytes"))]
                   for n, m in mem.items()],
        "wire": [("bytes per frame on the wire (measured)", wire.get("bytes_per_frame")),
                 ("bytes per frame on the wire (planned)", wire.get("planned_bytes_per_frame")),
                 ("frames sent (incl. warm-up)", wire.get("frames_sent"))],
        "tasks": [[str(h), str(n), _fmt(n / total)] for h, n in tasks.items()],
    }


STEP_COLS = ("step", "rate_fps", "offered_fps", "scheduled", "sent", "delivered",
             "delivered_fps", "coverage", "latency_p50_ms", "latency_p99_ms", "send_lag_p99_ms")


def _fault_rows(s: dict[str, Any]) -> Rows:
    start = (s.get("window") or {}).get("start") or 0.0
    return [[str(f["kind"]), str(f["host"]), _fmt(f["start"] - start, 1),
             _fmt(f["end"] - start, 1) if f.get("end") else "end of run",
             "ok" if f.get("ok") else str(f.get("detail", "failed"))]
            for f in s.get("faults") or []]


def _switch_rows(s: dict[str, Any]) -> Rows:
    return [[str(n), str(v.get("count")), _fmt(v.get("mean_ms"), 1), _fmt(v.get("total_ms"), 0)]
            for n, v in (s.get("switches") or {}).items()]


def _run_plots(run: Run, s: dict[str, Any], steps: pd.DataFrame) -> dict[str, Markup]:
    """Every figure of the run page as inline SVG, shaded where faults were injected."""
    window = s.get("window") or {}
    start, end = window.get("start") or 0.0, window.get("end") or 0.0
    faults = [(f["start"] - start, (f.get("end") or end) - start) for f in s.get("faults") or []]
    lat = s.get("latency_ms") or {}
    lag = s.get("send_lag_ms") or {}
    figures = {
        "throughput": plots.throughput(per_second_counts(run), faults),
        "switches": plots.switch_timeline(model_switches(run), start, end,
                                          drops_per_second_by_node(run), faults),
        "queue_depth": plots.queue_depth(queue_depth_per_second(run), faults),
        "utilisation": plots.utilisation(utilisation_per_second(run), faults),
        "latency": plots.latency(latencies_ms(run), {k: lat.get(k) for k in ("p50", "p95", "p99")}),
        "send_lag": plots.send_lag(send_lag_ms(run), {k: lag.get(k) for k in ("p50", "p99")},
                                   lag.get("threshold")),
    }
    if not steps.empty:
        figures["capacity"] = plots.capacity_curve(steps, s.get("capacity_fps"))
    return {k: Markup(v) for k, v in figures.items()}  # SVG from matplotlib: escaped XML


def write_run_report(run_dir: str | Path, summary: dict[str, Any] | None,
                     out_html: str | Path) -> Path:
    """Write the report page of one run; `summary=None` computes it from the traces."""
    run = load_run(run_dir)
    s = summary if summary is not None else summarize(run)
    steps = step_table(run)
    step_rows = [[_fmt(r[c]) if not isinstance(r[c], float) else _fmt(float(r[c]))
                  for c in STEP_COLS] for r in steps.to_dict("records")]
    return _render(
        "run.html", out_html,
        title=f"Run {s.get('run_id')} — strategy {s.get('strategy')} at "
              f"{s.get('offered_fps')} fps",
        warnings=_reasons(s),
        summary_rows=_summary_rows(s),
        card=verdict_card(s),
        drops=_drop_rows(s),
        **_node_tables(s),
        **_resources(s),
        step_header=list(STEP_COLS), steps=step_rows,
        faults=_fault_rows(s),
        switches=_switch_rows(s),
        plots=_run_plots(run, s, steps),
        spec_json=json.dumps(run.spec, indent=2, sort_keys=True, default=str),
    )


# --------------------------------------------------------------------------- index


def _load_summaries(source: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, (str, Path)):
        from harness.ledger import summaries

        return summaries(source)
    return list(source)


def _flags(s: dict[str, Any]) -> str:
    return "; ".join(_reasons(s))


def write_index(source: str | Path | Sequence[dict[str, Any]], out_html: str | Path) -> Path:
    """Index of every run, newest first; each row links to `<run-id>.html` beside it.

    source: the ledger's sqlite path, or a list of summary dicts.
    """
    items = sorted(_load_summaries(source), key=lambda s: (s.get("started_at") or 0,
                                                           str(s.get("run_id"))), reverse=True)
    rows: Rows = []
    for s in items:
        lat = s.get("latency_ms") or {}
        rows.append([
            _link(s.get("run_id")), _when(s.get("started_at")), _fmt(s.get("strategy")),
            _fmt(s.get("offered_fps")), _fmt(s.get("delivered_fps")), _fmt(s.get("coverage")),
            _fmt(lat.get("p50")), _fmt(lat.get("p95")), _fmt(lat.get("p99")),
            _fmt(s.get("efficiency")), _fmt(s.get("lost_unaccounted")), _flags(s),
        ])
    return _render("index.html", out_html, title="Runs", rows=rows)


# --------------------------------------------------------------------------- comparison


def _summary_of(item: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A summary dict from a dict, or from a run dir (summary.json, else analysed now)."""
    if isinstance(item, dict):
        return item
    path = Path(item) / "summary.json"
    if path.exists():
        return json.loads(path.read_text())
    return summarize(load_run(item))


def _spec_of(item: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The spec of a run dir (spec.json), or of a summary dict that carries one (`spec`);
    {} when neither says (labels then use the summary's own fields)."""
    if isinstance(item, dict):
        return dict(item.get("spec") or {})
    path = Path(item) / "spec.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _uses(strategy: Any, knob: str) -> bool:
    """Does the strategy depend on `knob`? Unknown (older) strategy names keep the knob."""
    try:
        return strategies.uses(str(strategy), knob)
    except (SpecError, KeyError):
        return True


def _rate(spec: dict[str, Any], s: dict[str, Any]) -> str | None:
    if spec.get("rates"):
        return "→".join(_fmt(float(r)) for r in spec["rates"]) + " fps"
    rate = s.get("offered_fps", spec.get("rate_fps"))
    return None if rate is None else f"{_fmt(float(rate))} fps"


# What a run's label may name, in this order, and how: only the knobs that differ between the
# compared runs appear, and X, K, T, grid, fused and sched only for strategies they shape.
LABEL_KNOBS: tuple[tuple[str, Any], ...] = (
    ("strategy", lambda sp, s: sp.get("strategy", s.get("strategy"))),
    ("x", lambda sp, s: f"X={sp['x']}" if "x" in sp else None),
    ("k", lambda sp, s: f"K={sp['k']}" if "k" in sp else None),
    ("tasks", lambda sp, s: f"T={sp['tasks']}" if "tasks" in sp else None),
    ("grid", lambda sp, s: f"grid {sp['grid']}" if "grid" in sp else None),
    ("fused", lambda sp, s: f"fused {sp['fused']}" if "fused" in sp else None),
    ("sched", lambda sp, s: sp.get("sched")),
    ("rate", _rate),
    ("profile", lambda sp, s: sp.get("profile", s.get("profile"))),
    ("model", lambda sp, s: sp.get("model") or DEFAULT_MODEL),
    ("arrival", lambda sp, s: sp.get("arrival", s.get("arrival"))),
    ("queue_size", lambda sp, s: f"Q={sp['queue_size']}" if "queue_size" in sp else None),
    ("duration", lambda sp, s: f"{_fmt(sp['duration_s'])} s" if "duration_s" in sp else None),
)
SHAPED = ("x", "k", "tasks", "grid", "fused", "sched")


def run_labels(specs: Sequence[dict[str, Any]], sums: Sequence[dict[str, Any]]) -> list[str]:
    """A short label per run saying what differs between them (`cao2 · X=50`, `30 fps`), so
    a comparison's bars are named by what was varied rather than by run id. Runs that differ
    in nothing (repeats) are told apart by `#1`, `#2` after what they share."""
    values: list[list[str | None]] = []
    for spec, s in zip(specs, sums, strict=True):
        strategy = spec.get("strategy", s.get("strategy"))
        row = []
        for name, get in LABEL_KNOBS:
            v = None if name in SHAPED and not _uses(strategy, name) else get(spec, s)
            row.append(None if v is None else str(v))
        values.append(row)
    differ = [i for i in range(len(LABEL_KNOBS)) if len({r[i] for r in values}) > 1]
    labels = [" · ".join(r[i] for i in differ if r[i] is not None) for r in values]
    if not differ:  # repeats: name what they share (strategy and rate) and number them
        labels = [" · ".join(x for x in (r[0], r[7]) if x) for r in values]
    counts = {lab: labels.count(lab) for lab in labels}
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        if counts[lab] > 1:
            seen[lab] = seen.get(lab, 0) + 1
            lab = f"{lab} #{seen[lab]}".strip()
        out.append(lab or "run")
    return out


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
    ("peak layer buffers per device (max, measured)", "memory.peak_layer_bytes_per_device_max"),
    ("peak layer footprint per device (max, measured)",
     "memory.peak_footprint_bytes_per_device_max"),
)


def _get(s: dict[str, Any], dotted: str) -> Any:
    v: Any = s
    for part in dotted.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def _spec_of(item: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The run's spec.json (k, grid, sched: what a summary does not repeat); {} for a dict."""
    if isinstance(item, dict):
        return {}
    try:
        return json.loads((Path(item) / "spec.json").read_text())
    except (OSError, ValueError):
        return {}


ROW_LABELS = ("DeepThings' comparison", "ours", "DeepThings reported", "the seed's words")


def write_comparison(items: Sequence[str | Path | dict[str, Any]], out_html: str | Path) -> Path:
    """Runs side by side: a table with one column per run, and bar charts of coverage,
    delivered fps, latency p95 and drops per node, each run named by what differs between
    them (`run_labels`), its run id linked in the table's first row. Among ftp/bodp runs, a
    table of our ratios beside DeepThings' reported ones (harness/seeds/deepthings.py)."""
    sums = [_summary_of(i) for i in items]
    runs = [{**_spec_of(i), **s} for i, s in zip(items, sums, strict=True)]
    seed_rows: Rows = deepthings.rows(runs) if deepthings.applies(runs) else []
    labels = run_labels([_spec_of(i) for i in items], sums)
    rows: Rows = [["run", *(_link(s.get("run_id")) for s in sums)]]
    rows += [[name, *(_fmt(_capacity(s) if key == "capacity_fps" else _get(s, key))
                      for s in sums)] for name, key in COMPARE_ROWS]
    rows.append(["warnings", *(_flags(s) or "–" for s in sums)])
    nodes = sorted({n for s in sums for n in (s.get("drops") or {})})
    drop_parts = {n: [sum((s.get("drops") or {}).get(n, {}).values()) for s in sums]
                  for n in nodes}
    figures = {
        "coverage": plots.bars(labels, [s.get("coverage") for s in sums], "Coverage",
                               "delivered / sent"),
        "delivered_fps": plots.bars(labels, [s.get("delivered_fps") for s in sums],
                                    "Delivered fps", "frames/s"),
        "latency_p95": plots.bars(labels, [_get(s, "latency_ms.p95") for s in sums],
                                  "Latency p95", "ms"),
        "drops": plots.stacked_bars(labels, drop_parts, "Dropped measure frames", "frames"),
    }
    return _render("comparison.html", out_html, title="Comparison: " + ", ".join(labels),
                   labels=labels, warnings=[_reasons(s) for s in sums], rows=rows,
                   seed_rows=seed_rows, seed_labels=list(ROW_LABELS), seed=deepthings.SEED,
                   plots={k: Markup(v) for k, v in figures.items()})


# --------------------------------------------------------------------------- sweep


def _x(v: Any) -> str:
    return "" if pd.isna(v) else str(int(v))


def _side_by_side(points: pd.DataFrame) -> Rows:
    """dp/mp/tasks against K beside the others: fps against the bound, coverage, p95,
    bytes per frame on the wire and L2 weight memory per device."""
    if points.empty or "k" not in points:
        return []
    cols = ("k", "capacity_fps", "wire_bytes_per_frame", "l2_weights_bytes_per_device")
    pts = points.assign(**{c: points[c] if c in points else None for c in cols})
    return [
        [str(r.strategy), _x(r.k), _fmt(r.delivered_fps, 2),
         _fmt(r.capacity_fps, 1) if not pd.isna(r.capacity_fps) else _note(r),
         _fmt(r.coverage, 4), _fmt(r.latency_p95_ms, 1), _whole(r.wire_bytes_per_frame),
         _whole(r.l2_weights_bytes_per_device)]
        for r in pts.sort_values(["strategy", "k"], na_position="first").itertuples()
    ]


def _note(point: Any) -> str:
    """A sweep point's capacity cell without a number: its note in words, else a dash."""
    note = getattr(point, "capacity_note", None)
    return str(note) if isinstance(note, str) and note else "–"


def write_sweep(points: pd.DataFrame, spread: pd.DataFrame, run_template: dict[str, Any],
                out_html: str | Path, predicted: pd.DataFrame | None = None) -> Path:
    """The sweep page: coverage and delivered fps against X, X*, a table of every point."""
    xstar = crossing_x(points)
    flagged = points[points["warnings"].astype(bool)] if "warnings" in points else points[:0]
    rows: Rows = [
        [str(r.strategy), _x(r.x), _fmt(r.coverage, 4), _fmt(r.predicted_coverage, 4),
         _fmt(r.delivered_fps, 2), _fmt(r.predicted_delivered_fps, 2),
         _fmt(r.latency_p95_ms, 1), str(r.switches), _link(r.run_id), str(r.warnings)]
        for r in points.sort_values(["strategy", "x"], na_position="first").itertuples()
    ]
    spread_rows: Rows = [
        [str(r.strategy), _x(r.x), str(r.runs),
         f"{_fmt(r.coverage_min, 4)} – {_fmt(r.coverage_max, 4)}",
         f"{_fmt(r.fps_min, 2)} – {_fmt(r.fps_max, 2)}"]
        for r in spread.itertuples()
    ] if not spread.empty else []
    figures = {
        "coverage": plots.sweep_curve(points, "coverage", "coverage", "Coverage against X",
                                      predicted, xstar),
        "delivered_fps": plots.sweep_curve(points, "delivered_fps", "frames / s",
                                           "Delivered fps against X", predicted, xstar),
    }
    return _render(
        "sweep.html", out_html, title="Sweep: strategies against X",
        knobs=", ".join(f"{k}={v}" for k, v in sorted(run_template.items())),
        xstar=xstar, has_cao2="cao2" in set(points.get("strategy", [])),
        flagged=len(flagged), points=rows, side_by_side=_side_by_side(points),
        spread=spread_rows, plots={k: Markup(v) for k, v in figures.items()},
    )
