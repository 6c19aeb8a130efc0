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

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from harness import plots, strategies
from harness.analysis import (
    DEVICE_STRATEGIES,
    Run,
    crossing_by_queue,
    device_curves,
    drops_per_second_by_node,
    latencies_ms,
    line_of,
    load_run,
    model_switches,
    per_second_counts,
    point_stats,
    queue_depth_per_second,
    scaling_curves,
    send_lag_ms,
    share_series,
    source_curves,
    step_table,
    summarize,
    utilisation_per_second,
    verdict,
    warnings_of,
)
from harness.analysis.metrics import NO_BOUND_ZERO, dead_reasons
from harness.analysis.profilesource import profile_sources
from harness.analysis.servicetimes import PERCENTILES, ServiceTimes, service_times
from harness.errors import SpecError
from harness.models import DEFAULT_MODEL
from harness.seeds import cao, deepthings

Cell = str | Markup
Rows = list[list[Cell]]


def _fmt(v: Any, nd: int = 3) -> str:
    """Display text of a value in a table cell (escaping is the template's job)."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:  # NaN: a mean over no values (a sweep point without a prediction)
            return "–"
        if abs(v) >= 1e6:
            return f"{v:.4g}"
        text = f"{v:.{nd}f}"
        return text.rstrip("0").rstrip(".") if nd > 0 else text  # 1500 stays 1500, not 15
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


SOURCE_HEADER = ("source", "entry", "first packet id", "sent", "delivered", "coverage",
                 "delivered fps", "latency p50 ms", "latency p99 ms", "latency max ms",
                 "send lag p99 ms")


def _sources(s: dict[str, Any]) -> dict[str, Any]:
    """The run page's table of data sources (`--sources`): a row per source; empty for a
    run with one."""
    rows: Rows = [
        [str(r.get("source")), _fmt(r.get("target")), str(r.get("first_id")),
         _fmt(r.get("sent")), _fmt(r.get("delivered")), _fmt(r.get("coverage"), 4),
         _fmt(r.get("delivered_fps"), 3), _fmt(_get(r, "latency_ms.p50"), 1),
         _fmt(_get(r, "latency_ms.p99"), 1), _fmt(_get(r, "latency_ms.max"), 1),
         _fmt(_get(r, "send_lag_ms.p99"), 2)]
        for r in s.get("sources") or []]
    return {"sources": rows, "source_header": list(SOURCE_HEADER),
            "sources_total": f"{_fmt(s.get('throughput_fps'), 3)} fps",
            "sources_worst": _fmt(s.get("max_source_latency_ms"), 1)}


def _clients(s: dict[str, Any]) -> str:
    """Several load clients (`--clients`): each worker's share as it was sent."""
    return "; ".join(f"{c['worker']}: {c['sent']}, {c.get('achieved_send_fps')}, "
                     f"{(c.get('send_lag_ms') or {}).get('p99')}" for c in s["clients"])


def _summary_rows(s: dict[str, Any]) -> list[tuple[str, Any]]:
    lat = s.get("latency_ms") or {}
    win = s.get("window") or {}
    lag = s.get("send_lag_ms") or {}
    rows = [
        ("run id", s.get("run_id")), ("strategy", s.get("strategy")),
        ("profile", s.get("profile")), ("started", _when(s.get("started_at"))),
        ("offered fps" + (f" ({len(s['sources'])} sources)" if s.get("sources") else ""),
         s.get("offered_fps")), ("achieved send fps", s.get("achieved_send_fps")),
        ("delivered fps", s.get("delivered_fps")), ("capacity fps", _capacity(s)),
        ("efficiency", s.get("efficiency")), ("sent", s.get("sent")),
        ("delivered", s.get("delivered")), ("coverage", s.get("coverage")),
        ("drops (total)", s.get("drops_total")), ("lost unaccounted", s.get("lost_unaccounted")),
        ("latency p50 ms", lat.get("p50")), ("latency p95 ms", lat.get("p95")),
        ("latency p99 ms", lat.get("p99")), ("latency mean ms", lat.get("mean")),
        ("latency max ms", lat.get("max")), ("warm-up frames (excluded)", s.get("warmup_frames")),
        ("measure window s", win.get("length_s")),
        ("arrival", s.get("arrival")), ("client", s.get("client")),
        *([("load clients (sent, send fps, send lag p99 ms)", _clients(s))]
          if s.get("clients") else []),
        ("send lag p50 ms", lag.get("p50")), ("send lag p99 ms", lag.get("p99")),
        ("send lag max ms", lag.get("max")),
        ("minimum run (duration s / frames)", _min_run(s)),
        ("emulation fidelity (idle CPU min / p5, service error max, send lag p99)",
         _fidelity(s)),
    ]
    scen = s.get("scenario") or {}
    if scen:
        rows.append(("scenario", " — ".join(str(v) for v in (scen.get("name"),
                                                             scen.get("description")) if v)))
    if scen.get("seed_reported"):
        rows.append(("seed reported", scen["seed_reported"]))
    if s.get("rerun_of"):
        rows.append(("re-run of", s["rerun_of"]))
    links = s.get("link_emulation") or {}
    if links:
        rows.append(("links (delay, jitter, loss) emulated by",
                     f"{links.get('mechanism')}: {', '.join(links.get('links') or [])}"))
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
        if p.get("rate_basis"):  # ftp, bodp: a message's bytes (harness/overhead.py)
            rate = p.get("rate_bytes_per_ms")
            rows.append(("model's rate for message bytes kB/ms",
                         f"{_fmt(rate / 1000.0, 1)} ({p['rate_basis']})" if rate is not None
                         else p["rate_basis"]))
        if p.get("link_basis"):
            rows.append(("model's link delays", p["link_basis"]))
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


def _node_end(s: dict[str, Any], node: str, why: dict[str, str]) -> str:
    """The trace's end, and why the node died where that is known (the OOM killer)."""
    end = _trace_end(s, node)
    return f"{end}: {why[node]}" if node in why else end


def _node_tables(s: dict[str, Any]) -> dict[str, Any]:
    nodes = s.get("nodes") or {}
    why = dead_reasons(s)
    return {
        "node_frames_header": ["node", *(h for _, h in NODE_FRAME_COLS)],
        "node_frames": [[str(n), *(_fmt(st.get(c)) for c, _ in NODE_FRAME_COLS)]
                        for n, st in nodes.items()],
        "node_times_header": ["node", *(h for _, h in NODE_TIME_COLS),
                              "trace ends (s after the window)"],
        "node_times": [[str(n), *(_fmt(st.get(c)) for c, _ in NODE_TIME_COLS),
                        _node_end(s, n, why)] for n, st in nodes.items()],
    }


SERVICE_HEADER = ["node", "profile", "percentile", "profile ms", "measured ms",
                  "difference (measured vs profile)", "frames measured"]
PROFILE_KIND = {"distribution": "its distribution (stage_ms)",
                "constant": "a constant time", "recorded": "the times the node recorded",
                None: "no profile time"}


def _pct_text(v: Any) -> str:
    return "–" if v is None else f"{v:+.1%}"


def _service_rows(s: dict[str, Any]) -> Rows:
    """Per node and percentile (p50, p90, p99): the profile's service time, the measured
    one and their relative difference (summary `service_ms_percentiles`)."""
    rows: Rows = []
    for name, n in (s.get("nodes") or {}).items():
        pct = n.get("service_ms_percentiles")
        if not pct:
            continue
        prof, meas = pct.get("profile") or {}, pct.get("measured") or {}
        diff = pct.get("difference") or {}
        name_of = n.get("profile") or s.get("profile") or "–"  # older specs: the run's
        label = f"{name_of}: {PROFILE_KIND.get(pct.get('kind'), pct.get('kind'))}"
        for p in PERCENTILES:
            key = f"p{p}"
            rows.append([str(name), label, key, _fmt(prof.get(key)), _fmt(meas.get(key)),
                         _pct_text(diff.get(key)), _fmt(pct.get("frames"))])
    return rows


PROFILE_HEADER = ["profile", "nodes", "source", "file", "measured on", "measured at", "basis"]


def _profile_rows(run: Run, s: dict[str, Any]) -> Rows:
    """Every profile the run's nodes used, with where its numbers come from (summary
    `profile_sources`; recomputed from the spec for summaries written before it)."""
    sources = s.get("profile_sources")
    if sources is None:
        sources = profile_sources(run.spec)
    return [[str(name), ", ".join(src.get("nodes") or []) or "–", str(src.get("source")),
             _fmt(src.get("file")), _fmt(src.get("measured_on")), _fmt(src.get("measured_at")),
             str(src.get("basis") or "–")]
            for name, src in sources.items()]


def _fidelity(s: dict[str, Any]) -> str:
    """The fidelity monitor's numbers and whether the run kept its limits (docs/lab.md)."""
    f = s.get("fidelity")
    if not f:
        return "–"

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    lag = f.get("send_lag_p99_ms")
    text = (f"idle CPU {pct(f.get('idle_cpu_min'))} / {pct(f.get('idle_cpu_p5'))}, "
            f"service error {pct(f.get('service_error_max'))}, send lag "
            f"{'n/a' if lag is None else f'{lag:g} ms'}")
    return f"{text}: " + ("kept" if f.get("ok") else "NOT kept: run invalid")


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
    energy = s.get("energy")
    if isinstance(energy, dict):
        tiles.append(Tile("energy J per frame", "energy.j_per_frame", energy.get("j_per_frame"),
                          energy_text(s),
                          f"{_fmt(energy.get('joules'), 1)} J, all nodes"
                          if energy.get("joules") is not None else
                          "a node's power or bytes are not known"))
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
    cgroups = ((s.get("memory") or {}).get("cgroups") or {}).get("hosts") or {}
    if not mem:
        return {"memory": [], "wire": [], "tasks": [], "cgroups": []}
    wire = s.get("wire") or {}
    tasks = s.get("tasks_per_helper") or {}
    total = sum(tasks.values()) or 1
    return {
        "memory": [[str(n), str(m.get("role")), "+".join(m.get("stages") or []),
                    _fmt(m.get("weights_bytes")), _fmt(m.get("planned_weights_bytes")),
                    _mb(m.get("rss_peak_kb"), 1024), _fmt(m.get("ram_mb")),
                    "OVER the device's RAM" if m.get("rss_over_ram") else
                    "fits" if m.get("rss_over_ram") is False else "–"]
                   for n, m in mem.items()],
        "cgroups": [[str(n), "no limit" if h.get("cap_mb") is None else _fmt(h["cap_mb"]),
                     _mb((h.get("counters") or {}).get("max_usage_bytes"), 1 << 20),
                     _fmt((h.get("counters") or {}).get("failcnt")), _fmt(h.get("oom_kills")),
                     h.get("oom_reason") or "–"]
                    for n, h in cgroups.items() if isinstance(h, dict)],
        "wire": [("bytes per frame on the wire (measured)", wire.get("bytes_per_frame")),
                 ("bytes per frame on the wire (planned)", wire.get("planned_bytes_per_frame")),
                 ("frames sent (incl. warm-up)", wire.get("frames_sent"))],
        "tasks": [[str(h), str(n), _fmt(n / total)] for h, n in tasks.items()],
    }


def _mb(value: Any, unit: int) -> str:
    """A count of `unit`s (kB: 1024, bytes: 2^20) as whole MB; '–' when not known."""
    return "–" if value is None else f"{int(value) / (1 << 20) * unit:.0f}"


ENERGY_HEADER = ["node", "profile", "link", "power W (idle / busy)", "busy s of the window",
                 "bytes sent", "J idle", "J busy", "J link", "J total", "J per frame"]
UNKNOWN = "unknown"


def energy_text(s: dict[str, Any]) -> str:
    """Joules per delivered frame of the whole run as display text: the number, `unknown`
    when a node's power or bytes are not known (never a bare dash, never 0), or '–' for a
    summary written before energy was priced."""
    e = s.get("energy")
    if not isinstance(e, dict):
        return "–"
    if e.get("j_per_frame") is not None:
        return _fmt(e["j_per_frame"], 4)
    return "no frame delivered" if e.get("joules") is not None else UNKNOWN


def _joules(v: Any, known: bool) -> str:
    return _fmt(v, 3) if known else UNKNOWN


def _energy(s: dict[str, Any]) -> dict[str, Any]:
    """The energy table of a run page (harness/analysis/energy.py): per node its power,
    link, busy time and bytes, joules by part and per delivered frame; then the total row,
    and why any of it is unknown."""
    e = s.get("energy")
    if not isinstance(e, dict) or not e.get("nodes"):
        return {"energy": [], "energy_notes": []}
    rows: Rows = []
    for name, n in e["nodes"].items():
        known = n.get("joules") is not None
        power = (f"{_fmt(n['idle_w'])} / {_fmt(n['busy_w'])}"
                 if n.get("idle_w") is not None else UNKNOWN)
        link = (f"{n.get('link')} ({_fmt(n['j_per_byte'] * 1e9, 1)} nJ/B)"
                if n.get("j_per_byte") is not None else str(n.get("link") or UNKNOWN))
        rows.append([str(name), str(n.get("profile") or UNKNOWN), link, power,
                     _fmt(n.get("busy_s")),
                     _fmt(n["bytes_sent"]) if n.get("bytes_sent") is not None else UNKNOWN,
                     *(_joules(n.get(k), known) for k in ("idle_j", "busy_j", "link_j",
                                                          "joules")),
                     _fmt(n["j_per_frame"], 4) if n.get("j_per_frame") is not None
                     else UNKNOWN if not known else "–"])
    total_known = e.get("joules") is not None
    rows.append(["total", "", "", "", "", "", "", "", "", _joules(e.get("joules"), total_known),
                 energy_text(s)])
    notes = [f"{e.get('delivered')} measure frames delivered in the {_fmt(e.get('window_s'))} s "
             f"window; {e.get('method')}."]
    if e.get("unknown"):
        notes.append(f"Not known: {e['unknown']}.")
    return {"energy": rows, "energy_notes": notes}


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


@dataclass(frozen=True)
class Figure:
    """One figure: the plots.py function that draws it, its arguments, and the numbers it
    shows as tables (written as CSV beside the figure by `export`)."""

    draw: Any
    args: tuple[Any, ...]
    data: dict[str, pd.DataFrame]

    def svg(self) -> Markup:
        return Markup(self.draw(*self.args))  # SVG from matplotlib: escaped XML

    def save(self, base: Path) -> list[Path]:
        """`<base>.svg`, `<base>.pdf` and one CSV per table (`<base>.csv`, or
        `<base>-<table>.csv` when there are several)."""
        out = plots.save(self.draw.figure(*self.args), base)
        for name, table in self.data.items():
            path = base.with_name(f"{base.name}.csv" if len(self.data) == 1
                                  else f"{base.name}-{name}.csv")
            table.to_csv(path, index=not isinstance(table.index, pd.RangeIndex))
            out.append(path)
        return out


def _values(name: str, values: Any) -> pd.DataFrame:
    return pd.DataFrame({name: np.asarray(values, dtype=float)})


def _run_figures(run: Run, s: dict[str, Any], steps: pd.DataFrame) -> dict[str, Figure]:
    """Every figure of the run page, shaded where faults were injected, with its numbers."""
    window = s.get("window") or {}
    start, end = window.get("start") or 0.0, window.get("end") or 0.0
    faults = [(f["start"] - start, (f.get("end") or end) - start) for f in s.get("faults") or []]
    lat = s.get("latency_ms") or {}
    lag = s.get("send_lag_ms") or {}
    counts, switches = per_second_counts(run), model_switches(run)
    drops, depth = drops_per_second_by_node(run), queue_depth_per_second(run)
    util, lat_ms, lag_ms = utilisation_per_second(run), latencies_ms(run), send_lag_ms(run)
    figures = {
        "throughput": Figure(plots.throughput, (counts, faults), {"": counts}),
        "switches": Figure(plots.switch_timeline, (switches, start, end, drops, faults),
                           {"switches": switches, "drops": drops}),
        "queue_depth": Figure(plots.queue_depth, (depth, faults), {"": depth}),
        "utilisation": Figure(plots.utilisation, (util, faults),
                              {"": util.rename_axis("second")}),
        "latency": Figure(plots.latency, (lat_ms, {k: lat.get(k) for k in ("p50", "p95", "p99")}),
                          {"": _values("latency_ms", lat_ms)}),
        "send_lag": Figure(plots.send_lag, (lag_ms, {k: lag.get(k) for k in ("p50", "p99")},
                                            lag.get("threshold")),
                           {"": _values("send_lag_ms", lag_ms)}),
    }
    if not steps.empty:
        figures["capacity"] = Figure(plots.capacity_curve, (steps, s.get("capacity_fps")),
                                     {"": steps})
    times = service_times(run)
    if times:  # issue 14: each node's profile distribution beside its measured times
        figures["service_times"] = Figure(plots.service_times, (_service_panels(times),),
                                          _service_tables(times))
    series = share_series(run)
    if not series.empty:  # an adaptive entry's shares (issue 13)
        figures["shares"] = Figure(plots.shares, (series, start, faults), {"": series})
    return figures


def _service_panels(times: dict[str, ServiceTimes]
                    ) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, str]]:
    return [(f"{name} ({st.profile or 'no profile'})", st.measured, st.cdf_ms, st.cdf_q,
             f"profile: {PROFILE_KIND.get(st.kind, st.kind)}")
            for name, st in times.items()]


def _service_tables(times: dict[str, ServiceTimes]) -> dict[str, pd.DataFrame]:
    """The figure's numbers: every measured service time, and each profile's CDF line."""
    measured = pd.DataFrame({"node": np.repeat(list(times), [len(t.measured)
                                                             for t in times.values()]),
                             "measured_ms": np.concatenate([t.measured for t in
                                                            times.values()])})
    profile = pd.DataFrame({"node": np.repeat(list(times), [len(t.cdf_ms)
                                                            for t in times.values()]),
                            "profile_ms": np.concatenate([t.cdf_ms for t in times.values()]),
                            "fraction": np.concatenate([t.cdf_q for t in times.values()])})
    return {"measured": measured, "profile": profile}


def _run_plots(run: Run, s: dict[str, Any], steps: pd.DataFrame) -> dict[str, Markup]:
    """Every figure of the run page as inline SVG ("shares" empty unless adaptive,
    "service_times" empty for a run whose nodes timed no frame)."""
    return ({"shares": Markup(""), "service_times": Markup("")}
            | {k: f.svg() for k, f in _run_figures(run, s, steps).items()})


def write_run_report(run_dir: str | Path, summary: dict[str, Any] | None,
                     out_html: str | Path) -> Path:
    """Write the report page of one run; `summary=None` computes it from the traces. A run
    with a counterpart in Cao's seeds (strategies 0-3 on cao-dense, the cao-fig2 scenario)
    gets a table of ours beside the seed's reported numbers (harness/seeds/cao.py)."""
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
        cao_rows=cao.rows({**run.spec, **s}), cao_seed=cao.SEED,
        card=verdict_card(s),
        drops=_drop_rows(s),
        **_node_tables(s),
        service=_service_rows(s), service_header=SERVICE_HEADER,
        profiles=_profile_rows(run, s), profile_header=PROFILE_HEADER,
        **_resources(s),
        **_energy(s), energy_header=ENERGY_HEADER,
        step_header=list(STEP_COLS), steps=step_rows,
        **_sources(s),
        faults=_fault_rows(s),
        switches=_switch_rows(s),
        plots=_run_plots(run, s, steps),
        spec_json=json.dumps(run.spec, indent=2, sort_keys=True, default=str),
    )


# --------------------------------------------------------------------------- index


def _flags(s: dict[str, Any]) -> str:
    return "; ".join(_reasons(s))


# A warning's badge on the index: a few words, its full text opening on demand. First match
# of a phrase in the reason (harness.analysis.metrics.warnings_of) wins; else its first words.
BADGES = (("marked invalid", "invalid"), ("interrupted", "interrupted"),
          ("send lag", "send lag"), ("vanished", "frames vanished"),
          ("node died", "trace ends early"), ("no trace rows", "trace missing"),
          ("fault injected", "fault injected"), ("discrete-event", "differs from model"),
          ("profile's distribution", "service percentiles off"))


def badge(reason: str) -> str:
    """The short name of a warning shown as a badge on the index."""
    for phrase, short in BADGES:
        if phrase in reason:
            return short
    words = reason.split()
    return " ".join(words[:3]) + (" …" if len(words) > 3 else "")


@dataclass(frozen=True)
class IndexColumn:
    """A column of the index table: header, the entry's key, whether it sorts as a number,
    and whether it is a filter (a select above the table, one option per value)."""

    header: str
    key: str
    numeric: bool = False
    filter: bool = False


INDEX_COLUMNS = (
    IndexColumn("run", "run_id"), IndexColumn("started", "when"),
    IndexColumn("strategy", "strategy", filter=True),
    IndexColumn("rate fps", "rate", numeric=True, filter=True),
    IndexColumn("profile", "profile", filter=True), IndexColumn("model", "model", filter=True),
    IndexColumn("sweep", "sweep", filter=True),
    IndexColumn("delivered fps", "delivered_fps", numeric=True),
    IndexColumn("coverage", "coverage", numeric=True),
    IndexColumn("p99 ms", "latency_p99", numeric=True),
    IndexColumn("J per frame", "j_per_frame", numeric=True),
    IndexColumn("verdict", "verdict"),
)


def _entry(spec: dict[str, Any], s: dict[str, Any], sweep: str | None) -> dict[str, Any]:
    """What the index knows of one run: the cells of its row, the values it is filtered and
    sorted by, and its column of the side-by-side view (COMPARE_ROWS, display text)."""
    word, reasons = verdict(s)
    started = s.get("started_at", spec.get("started_at"))
    when = _when(started)
    rate = s.get("offered_fps", spec.get("rate_fps"))
    return {
        "run_id": str(s.get("run_id") or spec.get("run_id")),
        "started_at": started if isinstance(started, (int, float)) else None,
        "when": when[:16] if when != "–" else when,  # to the minute: the cell stays narrow
        "day": when[:10] if when != "–" else "",
        "strategy": _fmt(spec.get("strategy", s.get("strategy"))),
        "rate": _fmt(rate), "rate_value": rate,
        "profile": _fmt(spec.get("profile", s.get("profile"))),
        "model": _fmt(spec.get("model") or s.get("model") or DEFAULT_MODEL),
        "sweep": sweep or "–",
        "delivered_fps": _fmt(s.get("delivered_fps")), "coverage": _fmt(s.get("coverage"), 4),
        "latency_p99": _fmt((s.get("latency_ms") or {}).get("p99"), 1),
        "verdict": word, "warnings": [{"badge": badge(r), "text": r} for r in reasons],
        "sort": {"delivered_fps": s.get("delivered_fps"), "coverage": s.get("coverage"),
                 "latency_p99": (s.get("latency_ms") or {}).get("p99"), "rate": rate,
                 "when": started, "j_per_frame": _get(s, "energy.j_per_frame")},
        "j_per_frame": energy_text(s),
        "compare": [_compare_cell(s, key) for _, key in COMPARE_ROWS] + [_flags(s) or "–"],
    }


def _index_entries(source: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The index's runs, newest first. From the ledger (a sqlite path) through
    harness.results.ledger, which knows each run's model and sweep; from summary dicts, each
    may carry its `spec` and `sweep`."""
    if isinstance(source, (str, Path)):
        from harness.results import ledger

        table = ledger(source)
        items = [(r["spec"], r["summary"], r["sweep"]) for r in table.to_dict("records")]
    else:
        items = [(dict(s.get("spec") or {}), s, s.get("sweep")) for s in source]
    entries = [_entry(spec, s, None if pd.isna(sw) else str(sw)) for spec, s, sw in items]
    entries.sort(key=lambda e: (e["started_at"] or 0, e["run_id"]), reverse=True)
    return entries


def _cell_key(e: dict[str, Any], col: IndexColumn) -> str:
    """The value a cell sorts by (data-v): the raw number for numeric columns ('' when
    missing: sorted last), the text otherwise."""
    if col.key in e["sort"]:
        v = e["sort"][col.key]
        return "" if v is None else repr(float(v))
    return str(e[col.key])


def _cell_class(e: dict[str, Any], col: IndexColumn) -> str:
    """Names left-aligned, numbers right-aligned; the verdict in its colour."""
    if col.numeric:
        return ""
    return f"l verdict-{e['verdict']}" if col.key == "verdict" else "l"


def _options(entries: list[dict[str, Any]], col: IndexColumn) -> list[str]:
    values = {str(e[col.key]) for e in entries}
    if col.numeric:
        return sorted(values, key=lambda v: (v == "–", float(v) if v != "–" else 0.0))
    return sorted(values)


def _script(name: str) -> Markup:
    """A script of ours from harness/templates/, to inline in a page (no file to ship beside
    it, no URL). It must not contain `</script`, which would end the element early."""
    from importlib.resources import files

    text = files("harness").joinpath("templates", name).read_text(encoding="utf-8")
    if "</script" in text.lower():
        raise ValueError(f"{name} contains </script")
    return Markup(text)


def write_index(source: str | Path | Sequence[dict[str, Any]], out_html: str | Path) -> Path:
    """Index of every run, newest first; each row links to `<run-id>.html` beside it.

    Sortable by any column and filtered by strategy, rate, profile, model, sweep and day
    (selects above the table); warnings are badges whose full text opens on demand; ticked
    runs appear side by side under the table. Each run's column of that view is embedded in
    the page as JSON and the page's own small script (templates/index.js, inlined) does the
    rest, so the page still opens offline from a file with nothing beside it.

    source: the ledger's sqlite path, or a list of summary dicts.
    """
    entries = _index_entries(source)
    rows = [{"id": e["run_id"], "link": _link(e["run_id"]), "warnings": e["warnings"],
             "attrs": {**{f"data-{c.key}": str(e[c.key]) for c in INDEX_COLUMNS if c.filter},
                       "data-day": e["day"]},
             "cells": [(e[c.key], _cell_key(e, c), _cell_class(e, c)) for c in INDEX_COLUMNS[1:]]}
            for e in entries]
    filters = [(c, _options(entries, c)) for c in INDEX_COLUMNS if c.filter]
    days = sorted({e["day"] for e in entries if e["day"]}, reverse=True)
    data = {"metrics": [name for name, _ in COMPARE_ROWS] + ["warnings"],
            "runs": {e["run_id"]: e["compare"] for e in entries}}
    return _render("index.html", out_html, title="Runs", rows=rows, columns=INDEX_COLUMNS,
                   filters=filters, days=days, data=data, script=_script("index.js"))


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
    ("admission", lambda sp, s: f"admission {sp['admission']}" if sp.get("admission") else None),
    ("send", lambda sp, s: f"send {sp['send']}" if sp.get("send") else None),
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
    ("latency max ms", "latency_ms.max"),
    ("energy J per delivered frame", "energy.j_per_frame"),
    ("energy J (all nodes, window)", "energy.joules"), ("warm-up frames", "warmup_frames"),
    ("bytes per frame on the wire", "wire.bytes_per_frame"),
    ("L2 weight bytes per device (max)", "memory.l2_weights_bytes_per_device_max"),
    ("peak layer buffers per device (max, measured)", "memory.peak_layer_bytes_per_device_max"),
    ("peak layer footprint per device (max, measured)",
     "memory.peak_footprint_bytes_per_device_max"),
)


def _compare_cell(s: dict[str, Any], key: str) -> str:
    """One run's cell of a COMPARE_ROWS metric: the capacity bound says why it has no number;
    energy says `unknown` when a node's power or bytes are not known (never '–' or 0)."""
    if key == "capacity_fps":
        return _fmt(_capacity(s))
    if key.startswith("energy.") and isinstance(s.get("energy"), dict):
        v = _get(s, key)
        return (UNKNOWN if s["energy"].get("unknown") and v is None else
                _fmt(v, 4 if key == "energy.j_per_frame" else 3))
    return _fmt(_get(s, key))


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
    rows += [[name, *(_compare_cell(s, key) for s in sums)] for name, key in COMPARE_ROWS]
    seed_cells = [cao.cell(r) for r in runs]
    if any(seed_cells):  # Cao's number for each run that has one (harness/seeds/cao.py)
        rows.append([f"seed reported ({cao.SEED})", *(c or "–" for c in seed_cells)])
    rows.append(["warnings", *(_flags(s) or "–" for s in sums)])
    figures = _comparison_figures(labels, sums)
    return _render("comparison.html", out_html, title="Comparison: " + ", ".join(labels),
                   labels=labels, warnings=[_reasons(s) for s in sums], rows=rows,
                   seed_rows=seed_rows, seed_labels=list(ROW_LABELS), seed=deepthings.SEED,
                   plots={k: f.svg() for k, f in figures.items()})


def _comparison_figures(labels: list[str], sums: list[dict[str, Any]]) -> dict[str, Figure]:
    """The comparison's bar charts, each with its numbers (label, run id, value)."""
    ids = [str(s.get("run_id")) for s in sums]

    def bar(key: str, title: str, ylabel: str, missing: str = "n/a") -> Figure:
        values = [_get(s, key) for s in sums]
        table = pd.DataFrame({"label": labels, "run_id": ids, key: values})
        return Figure(plots.bars, (labels, values, title, ylabel, missing), {"": table})

    nodes = sorted({n for s in sums for n in (s.get("drops") or {})})
    drop_parts = {n: [sum((s.get("drops") or {}).get(n, {}).values()) for s in sums]
                  for n in nodes}
    drops = pd.DataFrame({"label": labels, "run_id": ids, **drop_parts})
    return {
        "coverage": bar("coverage", "Coverage", "delivered / sent"),
        "delivered_fps": bar("delivered_fps", "Delivered fps", "frames/s"),
        "latency_p95": bar("latency_ms.p95", "Latency p95", "ms"),
        "energy": bar("energy.j_per_frame", "Energy per delivered frame", "J per frame",
                      missing=UNKNOWN),
        "drops": Figure(plots.stacked_bars, (labels, drop_parts, "Dropped measure frames",
                                             "frames"), {"": drops}),
    }


def export(items: Sequence[str | Path | dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Every figure of a comparison of `items` and of each run's page, for a paper: SVG and
    PDF in plots.STYLE, and the numbers each shows as CSV beside it (`fab report --export`).

    out_dir/comparison.csv: one row per run, its label (`run_labels`) and every
    COMPARE_ROWS figure; out_dir/comparison-<figure>.{svg,pdf,csv}; and per run directory
    out_dir/<run-id>/<figure>.{svg,pdf,csv} (dict summaries have no traces: no run figures).
    Returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sums = [_summary_of(i) for i in items]
    labels = run_labels([_spec_of(i) for i in items], sums)
    table = pd.DataFrame([{"label": lab, "run_id": s.get("run_id"),
                           **{key: _capacity(s) if key == "capacity_fps" else _get(s, key)
                              for _, key in COMPARE_ROWS}}
                          for lab, s in zip(labels, sums, strict=True)])
    table.to_csv(out / "comparison.csv", index=False)
    written = [out / "comparison.csv"]
    for name, fig in _comparison_figures(labels, sums).items():
        written += fig.save(out / f"comparison-{name}")
    for item, s in zip(items, sums, strict=True):
        if isinstance(item, dict):
            continue
        run = load_run(item)
        for name, fig in _run_figures(run, s, step_table(run)).items():
            written += fig.save(out / str(s.get("run_id")) / name)
    return written


# --------------------------------------------------------------------------- sweep


def _x(v: Any) -> str:
    return "" if pd.isna(v) else str(int(v))


def _line(point: Any) -> str:
    """A point's strategy with the grid and sched it ran (`ftp 3x3 wsh`, `bodp`, `cao2`), and
    its data sources when it had several (`ftp 3x3 wst S=6`)."""
    line = line_of(point.strategy, getattr(point, "grid", None), getattr(point, "sched", None))
    sources = getattr(point, "sources", None)
    return line + (f" S={int(sources)}" if sources is not None and not pd.isna(sources)
                   and int(sources) > 1 else "")


def _side_by_side(points: pd.DataFrame) -> Rows:
    """dp/mp/tasks/ftp/bodp against K beside the others: fps against the bound, coverage,
    p95, bytes per frame on the wire and L2 weight memory per device."""
    if points.empty or "k" not in points:
        return []
    cols = ("k", "capacity_fps", "wire_bytes_per_frame", "l2_weights_bytes_per_device")
    pts = points.assign(**{c: points[c] if c in points else None for c in cols})
    return [
        [_line(r), _x(r.k), _fmt(r.delivered_fps, 2),
         _fmt(r.capacity_fps, 1) if not pd.isna(r.capacity_fps) else _note(r),
         _fmt(r.coverage, 4), _fmt(r.latency_p95_ms, 1), _whole(r.wire_bytes_per_frame),
         _whole(r.l2_weights_bytes_per_device)]
        for r in _sorted(pts, "k").itertuples()
    ]


def _sorted(points: pd.DataFrame, *by: str) -> pd.DataFrame:
    """Points by strategy, grid, sched, then `by` (missing columns skipped)."""
    keys = [c for c in ("strategy", "grid", "sched", *by) if c in points]
    return points.sort_values(keys, na_position="first")


def _note(point: Any) -> str:
    """A sweep point's capacity cell without a number: its note in words, else a dash."""
    note = getattr(point, "capacity_note", None)
    return str(note) if isinstance(note, str) and note else "–"


SOURCES_ELSEWHERE = ("Throughput and maximum latency against data sources (DeepThings' 1 to 6 "
                     "sources): in the section below.")
SOURCES_NOT_RUN = ("Throughput and maximum latency against data sources (DeepThings' 1 to 6 "
                   "sources): not in this sweep; run ftp and bodp at several, e.g. "
                   "`--sources=1,2,4,6` with `--devices=6`.")


def _sources_section(points: pd.DataFrame) -> dict[str, Any]:
    """DeepThings' multi-source figures for a sweep that varies `--sources`: total throughput
    and the worst source's latency against S, one line per strategy/grid/sched/K, with the
    seed's reported numbers beside ours (stars on the plots, a column in the table: FTP 0.29
    and BODP 0.12 FPS at 6 sources, FTP's maximum latency 3.1x from 1 to 6)."""
    curves = source_curves(points)
    if curves.empty:
        return {"by_sources": None}
    six = deepthings.SOURCES_REPORTED

    def reported(r: Any) -> str:
        if int(r.sources) == six and r.strategy in deepthings.THROUGHPUT_FPS:
            text = f"{deepthings.THROUGHPUT_FPS[r.strategy]:g} FPS"
            return text + (f"; {deepthings.MAX_LATENCY_RATIO:g}x" if r.strategy == "ftp" else "")
        return "–"

    rows: Rows = [
        [str(r.line), str(int(r.sources)), _fmt(r.throughput_fps, 3),
         _fmt(r.max_source_latency_ms, 0), _fmt(r.latency_ratio, 2), reported(r), str(r.runs),
         Markup(", ").join(_link(i) for i in r.run_ids)]
        for r in curves.itertuples()
    ]
    stars = [(f"FTP-WST-S {deepthings.THROUGHPUT_FPS['ftp']:g} FPS", six,
              deepthings.THROUGHPUT_FPS["ftp"]),
             (f"MoDNN (BODP) {deepthings.THROUGHPUT_FPS['bodp']:g} FPS", six,
              deepthings.THROUGHPUT_FPS["bodp"])]
    ratio_star = [(f"FTP-WST-S {deepthings.MAX_LATENCY_RATIO:g}x", six,
                   deepthings.MAX_LATENCY_RATIO)]
    figures = {
        "throughput": plots.against_sources(
            curves, "throughput_fps", "frames / s (all sources)",
            "Throughput against data sources", stars),
        "latency": plots.against_sources(
            curves.assign(max_source_latency_s=curves["max_source_latency_ms"] / 1000.0),
            "max_source_latency_s", "s", "Maximum latency (worst source's p50) against "
            "data sources"),
        "ratio": plots.against_sources(
            curves, "latency_ratio", "max latency at S / at S = 1",
            "Maximum latency against data sources, over one source", ratio_star),
    }
    return {"by_sources": {"rows": rows, "seed": deepthings.SEED,
                           "plots": {k: Markup(v) for k, v in figures.items()}}}


def _device_section(points: pd.DataFrame, run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """DeepThings' figures for the sweep's ftp and bodp points: speedup over one device,
    peak memory per device and bytes on the wire per frame against K (measured, with the
    discrete-event model's speedup dashed beside it), their numbers as a table, and the
    seed's reported numbers beside our ratios from the sweep's runs."""
    curves, reference = device_curves(points)
    if curves.empty:
        return {"devices": None}
    rows: Rows = [
        [str(r.line), str(r.k), _fmt(r.latency_p50_ms, 0), _fmt(r.predicted_latency_p50_ms, 0),
         _fmt(r.speedup, 2), _fmt(r.predicted_speedup, 2),
         _whole(r.peak_memory_bytes_per_device), _whole(r.wire_bytes_per_frame),
         Markup(", ").join(_link(i) for i in r.run_ids)]
        for r in curves.itertuples()
    ]
    runs = [{**_spec_of(d), **_summary_of(d)} for d in run_dirs]
    figures = {
        "speedup": plots.against_devices(
            curves, "speedup", "speedup (latency p50 at one device / at K)",
            "Speedup over one device against devices", predicted="predicted_speedup",
            ideal=True),
        "memory": plots.against_devices(
            curves, "peak_memory_bytes_per_device", "MB",
            "Peak memory per device (largest over the devices, measured) against devices",
            scale=1e6),
        "wire": plots.against_devices(
            curves, "wire_bytes_per_frame", "MB per frame",
            "Bytes on the wire per frame (measured) against devices", scale=1e6),
    }
    return {"devices": {
        "reference": reference, "rows": rows,
        "plots": {k: Markup(v) for k, v in figures.items()},
        "seed_rows": deepthings.rows(runs) if deepthings.applies(runs) else [],
        "seed_labels": list(ROW_LABELS), "seed": deepthings.SEED,
        "sources": SOURCES_ELSEWHERE if not source_curves(points).empty else SOURCES_NOT_RUN,
    }}


def _ci(mean: Any, half: Any, nd: int) -> str:
    """`0.8190 ± 0.0042` (mean ± half-width of the 95 % CI); the mean alone for one run."""
    if mean is None or pd.isna(mean):
        return "–"
    if half is None or pd.isna(half):
        return f"{float(mean):.{nd}f}"
    return f"{float(mean):.{nd}f} ± {float(half):.{nd}f}"


def _stat(row: Any, metric: str, nd: int) -> str:
    return _ci(getattr(row, metric), getattr(row, f"{metric}_ci95"), nd)


def _q(v: Any) -> str:
    return "" if v is None or pd.isna(v) else str(int(v))


def _point_rows(stats: pd.DataFrame, seed: bool) -> Rows:
    """One row per sweep point: its knobs, runs, each measured number as mean ± 95 % CI
    (harness/analysis/intervals.py, as `fab experiment --repeat`), the model's prediction,
    and with `seed` the seed's number for the point's strategy (Cao, harness/seeds/cao.py)."""
    rows: Rows = []
    for r in _sorted(stats, "queue_size", "x", "k").itertuples():
        row: list[Cell] = [
            _line(r), _x(r.x), _x(getattr(r, "k", None)), _q(getattr(r, "queue_size", None)),
            str(r.runs), _stat(r, "coverage", 4), _fmt(r.predicted_coverage, 4),
            _stat(r, "delivered_fps", 2), _fmt(r.predicted_delivered_fps, 2),
            _stat(r, "latency_p50_ms", 1), _stat(r, "latency_p95_ms", 1)]
        if seed:
            row.append(cao.sweep_cell(r.strategy, getattr(r, "model", None)))
        row.append(Markup(", ").join(_link(i) for i in r.run_ids))
        rows.append(row)
    return rows


def _scaling_section(stats: pd.DataFrame, run_template: dict[str, Any]) -> dict[str, Any]:
    """The strategies shaped by K (dp, mp, tasks, adaptive) against K: delivered fps with
    each strategy's capacity bound, speedup over K = 1 (measured, and the bound's), latency
    p50; mean ± 95 % CI error bars; the table of the same numbers; and a warning when the
    offered rate is below a point's bound (that point then measures the offered rate, not
    the strategy)."""
    curves = scaling_curves(stats)
    if curves.empty:
        return {"scaling": None}
    rows: Rows = [
        [str(r.line), str(r.k), str(r.runs), _stat(r, "delivered_fps", 2),
         _fmt(r.capacity_fps, 1) if not pd.isna(r.capacity_fps) else _note(r),
         _fmt(r.delivered_fps / r.capacity_fps, 3) if r.capacity_fps else "–",
         _fmt(r.speedup, 2), _fmt(r.bound_speedup, 2), _stat(r, "latency_p50_ms", 1),
         _stat(r, "coverage", 4), Markup(", ").join(_link(i) for i in r.run_ids)]
        for r in curves.itertuples()
    ]
    rate = pd.to_numeric(pd.Series([run_template.get("rate_fps", 30)]), errors="coerce")[0]
    under = curves[curves["capacity_fps"] > rate] if not pd.isna(rate) else curves[:0]
    below = (f"The offered rate ({_fmt(float(rate))} fps) is below the capacity bound of "
             + ", ".join(f"{r.line} at K = {r.k} ({_fmt(r.capacity_fps, 1)} fps)"
                         for r in under.itertuples())
             + ": those points show the offered rate, not what the strategy can do; offer "
             f"more than every bound (--rate above {_fmt(float(under['capacity_fps'].max()), 1)}"
             " here).") if len(under) else ""
    missing = sorted(set(curves["line"]) - set(curves.loc[curves["k"] == 1, "line"]))
    return {"scaling": {
        "rows": rows, "below": below,
        "names": ", ".join(dict.fromkeys(str(s) for s in curves["strategy"])),
        "no_one": ", ".join(missing),
        "plots": {
            "fps": Markup(plots.against_k(curves, "delivered_fps", "frames / s",
                                          "Delivered fps against K (dashed: capacity bound)",
                                          bound="capacity_fps")),
            "speedup": Markup(plots.against_k(
                curves, "speedup", "delivered fps at K / at K = 1",
                "Speedup over K = 1 (dashed: the bound's speedup)", bound="bound_speedup",
                ideal=True)),
            "latency": Markup(plots.against_k(curves, "latency_p50_ms", "ms",
                                              "Latency p50 against K")),
        },
    }}


def write_sweep(points: pd.DataFrame, spread: pd.DataFrame, run_template: dict[str, Any],
                out_html: str | Path, predicted: pd.DataFrame | None = None,
                run_dirs: Sequence[str | Path] = ()) -> Path:
    """The sweep page: each point's numbers as mean ± 95 % CI over its repetitions (error
    bars on the curves), coverage and delivered fps against X with X* (per queue size when
    the sweep varies it, beside the discrete-event model's X*), dp/mp/tasks against K with
    their capacity bounds, a table of every run; Cao's reported numbers beside the points
    that have a counterpart (`seed reported`, absent when none has); for ftp and bodp
    points DeepThings' figures against the number of devices (speedup, memory, bytes per
    frame) and the seed's numbers beside our ratios, read from the runs' directories
    (`run_dirs`: summary.json and spec.json)."""
    stats = point_stats(points)
    xstars = crossing_by_queue(points)
    predicted_xstars = (crossing_by_queue(predicted) if predicted is not None
                        and not predicted.empty else {})
    flagged = points[points["warnings"].astype(bool)] if "warnings" in points else points[:0]
    rows: Rows = [
        [_line(r), _x(r.x), _x(getattr(r, "k", None)), _q(getattr(r, "queue_size", None)),
         _fmt(r.coverage, 4), _fmt(r.predicted_coverage, 4), _fmt(r.delivered_fps, 2),
         _fmt(r.predicted_delivered_fps, 2), _fmt(r.latency_p95_ms, 1), str(r.switches),
         _link(r.run_id), str(r.warnings)]
        for r in _sorted(points, "queue_size", "x", "k").itertuples()
    ]
    spread_rows: Rows = [
        [line_of(r.strategy, getattr(r, "grid", None), getattr(r, "sched", None)), _x(r.x),
         _x(getattr(r, "k", None)), _q(getattr(r, "queue_size", None)), str(r.runs),
         f"{_fmt(r.coverage_min, 4)} – {_fmt(r.coverage_max, 4)}",
         f"{_fmt(r.fps_min, 2)} – {_fmt(r.fps_max, 2)}"]
        for r in spread.itertuples()
    ] if not spread.empty else []
    strategies_run = set(points.get("strategy", []))
    device_only = (not points.empty and "strategy" in points
                   and bool(points["strategy"].isin(DEVICE_STRATEGIES).all()))
    x_strategies = {"baseline", "cao1", "cao2", "cao3"}
    against_x = not device_only and bool(strategies_run & x_strategies or not strategies_run)
    figures = {} if not against_x else {
        "coverage": plots.sweep_curve(stats, "coverage", "coverage", "Coverage against X",
                                      predicted, xstars),
        "delivered_fps": plots.sweep_curve(stats, "delivered_fps", "frames / s",
                                           "Delivered fps against X", predicted, xstars),
    }
    section = _device_section(points, run_dirs)
    by_sources = _sources_section(points)
    scaling = _scaling_section(stats, run_template)
    seed = any(cao.sweep_cell(r.strategy, getattr(r, "model", None))
               for r in stats.itertuples()) if not stats.empty else False
    single = next(iter(xstars.values())) if list(xstars) == [None] else None
    seed_rows = cao.sweep_rows(stats.to_dict("records"), single) if seed else []
    repeats = int(stats["runs"].max()) if not stats.empty else 0
    against = ("devices" if device_only else
               "X and devices" if section["devices"] else
               "K" if scaling["scaling"] and not against_x else
               "X and K" if scaling["scaling"] else "X")
    return _render(
        "sweep.html", out_html, title=f"Sweep: strategies against {against}",
        knobs=", ".join(f"{k}={v}" for k, v in sorted(run_template.items())),
        xstars=[(q, x, predicted_xstars.get(q)) for q, x in xstars.items()],
        has_cao2="cao2" in strategies_run, repeats=repeats,
        flagged=len(flagged), stats=_point_rows(stats, seed), seed=seed,
        cao_rows=seed_rows, cao_seed=cao.SEED,
        points=rows, side_by_side=_side_by_side(points),
        spread=spread_rows, plots={k: Markup(v) for k, v in figures.items()}, **section,
        **scaling, **by_sources,
    )


# --------------------------------------------------------------------------- repetitions


def write_repetitions(group: dict[str, Any], out_html: str | Path) -> Path:
    """A `--repeat=N` group (harness/repeat.py `aggregate`): each headline number as mean
    +/- its 95 % interval with the interval's ends, sd and every run's value; then the runs
    with their seeds, each linked to its own report."""
    runs = group.get("runs") or []
    rows: Rows = []
    for m in (group.get("metrics") or {}).values():
        nd = int(m.get("decimals", 3))
        unit = f" {m['unit']}" if m.get("unit") else ""
        if m.get("mean") is None:
            mean_ci = "n/a"
        elif m.get("ci95") is None:
            mean_ci = f"{m['mean']:.{nd}f}{unit} (one run)"
        else:
            mean_ci = f"{m['mean']:.{nd}f} ± {m['ci95']:.{nd}f}{unit}"
        ends = ("–" if m.get("low") is None else f"{m['low']:.{nd}f} – {m['high']:.{nd}f}")
        rows.append([str(m.get("label")), mean_ci, ends, _fmt(m.get("sd"), nd + 1),
                     str(m.get("n")), ", ".join(f"{v:.{nd}f}" for v in m.get("values") or [])])
    run_rows: Rows = [[_link(r.get("run_id")), str(r.get("seed")), str(r.get("arrival_seed"))]
                      for r in runs]
    failed: Rows = [[str(f.get("run_id")), str(f.get("error"))]
                    for f in group.get("failed") or []]
    spec = group.get("spec") or {}
    knobs = ", ".join(f"{k}={v}" for k, v in sorted(spec.items())
                      if k not in ("seed", "arrival_seed") and v not in ("", None, []))
    return _render("repeat.html", out_html, title=f"Repetitions: {group.get('group')}",
                   group=str(group.get("group")), n=len(runs),
                   repetitions=group.get("repetitions", len(runs)), rows=rows,
                   run_rows=run_rows, failed=failed, seed_rule=str(group.get("seed_rule")),
                   knobs=knobs)
