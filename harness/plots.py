"""Matplotlib figures rendered as inline SVG strings for the HTML reports, and the same
figures as SVG and PDF files for papers (`save`, each function's `.figure`), in one style
(`STYLE`).

Reports must open offline from a file, so figures are embedded as SVG text (fonts left as
text, `svg.fonttype='none'`, so they stay small and searchable); the XML prologue,
RDF metadata and namespace declarations are stripped so the page carries no URL at all.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# One style for every figure, in a report or exported for a paper (`fab report --export`):
# text kept as text in SVG and as embedded TrueType in PDF (editable, searchable), stable ids
# (reproducible files), small type that survives a column-wide figure, no top/right spines.
STYLE: dict[str, object] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "pi-dnn-testbed",
    "pdf.fonttype": 42,
    "font.family": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "savefig.bbox": "tight",
}
matplotlib.rcParams.update(STYLE)

_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)
_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
MAX_POINTS = 2000



def fps_text(fps: float) -> str:
    """A rate for people: one decimal from 1 fps up, three significant digits below (a
    608 x 608 frame on one device: 0.0368 fps, not 0.0)."""
    return f"{fps:.1f}" if fps >= 1 else f"{fps:.3g}"

def to_svg(fig: plt.Figure) -> str:
    """Serialise and close a figure; return an <svg> element safe to inline in HTML5."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = _METADATA.sub("", text)
    return _XMLNS.sub("", text)


def save(fig: plt.Figure, base: str | Path) -> list[Path]:
    """Write a figure as `<base>.svg` and `<base>.pdf` (no creation date: the same numbers
    give the same files) and close it."""
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext, meta in (("svg", {"Date": None}), ("pdf", {"CreationDate": None})):
        path = base.with_name(f"{base.name}.{ext}")
        fig.savefig(path, format=ext, metadata=meta)
        out.append(path)
    plt.close(fig)
    return out


def _svg(make: Callable[..., plt.Figure]) -> Callable[..., str]:
    """A figure function as the reports call it (inline SVG text); the figure itself stays
    reachable as `.figure`, for export to files."""

    @functools.wraps(make)
    def draw(*args, **kwargs) -> str:
        return to_svg(make(*args, **kwargs))

    draw.figure = make  # type: ignore[attr-defined]
    return draw


def _mark_faults(ax, faults: Sequence[tuple[float, float]]) -> None:
    """Shade injected-fault windows (seconds since the measure window start) on a timeline."""
    for i, (start, end) in enumerate(faults):
        ax.axvspan(start, end, color="orange", alpha=0.25, lw=0,
                   label="injected fault" if i == 0 else None)
    if faults:
        ax.legend(loc="upper right", fontsize=8)


def _empty(title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 1.2))
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{title}: no data", ha="center", va="center")
    return fig


@_svg
def throughput(counts: pd.DataFrame,
               faults: Sequence[tuple[float, float]] = ()) -> plt.Figure:
    """Sent, delivered and dropped measure frames per second."""
    if counts.empty:
        return _empty("Frames per second")
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for col, colour in (("sent", "tab:blue"), ("delivered", "tab:green"), ("dropped", "tab:red")):
        ax.plot(counts["second"], counts[col], label=col, color=colour, lw=1.2,
                drawstyle="steps-post")
    ax.set_xlabel("seconds since measure window start")
    ax.set_ylabel("frames / s")
    ax.set_title("Measure frames per second")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    _mark_faults(ax, faults)
    return fig


@_svg
def queue_depth(depth: pd.DataFrame,
                faults: Sequence[tuple[float, float]] = ()) -> plt.Figure:
    """Per-node queue depth per second: mean (solid) and max (dotted)."""
    if depth.empty:
        return _empty("Queue depth")
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for i, (node, g) in enumerate(depth.groupby("node", sort=True)):
        colour = f"C{i % 10}"
        ax.plot(g["second"], g["mean"], color=colour, lw=1.2, label=f"{node} mean")
        ax.plot(g["second"], g["max"], color=colour, lw=0.8, ls=":", label=f"{node} max")
    ax.set_xlabel("seconds since measure window start")
    ax.set_ylabel("queue depth (frames)")
    ax.set_title("Queue depth per node")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", ncol=2, fontsize="small")
    _mark_faults(ax, faults)
    return fig


@_svg
def utilisation(util: pd.DataFrame,
                faults: Sequence[tuple[float, float]] = ()) -> plt.Figure:
    """Per-node busy share of each second (started -> finished)."""
    if util.empty or not len(util.columns):
        return _empty("Utilisation")
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for node in util.columns:
        ax.plot(util.index, util[node], lw=1.2, label=str(node))
    ax.set_xlabel("seconds since measure window start")
    ax.set_ylabel("busy share")
    ax.set_ylim(bottom=0)
    ax.set_title("Utilisation per node")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    _mark_faults(ax, faults)
    return fig


def _distribution(values: np.ndarray, lines: list[tuple[str, float | None, str]], what: str,
                  population: str, colour: str, log_counts: bool = False,
                  decimals: int = 1) -> plt.Figure:
    """Histogram and CDF of a per-frame time in ms side by side, with marker lines."""
    if not len(values):
        return _empty(what)
    fig, (h, c) = plt.subplots(1, 2, figsize=(10, 3.4))
    h.hist(values, bins=min(100, max(10, int(np.sqrt(len(values))))), color=colour)
    if log_counts:
        h.set_yscale("log")
    h.set_xlabel(f"{what.lower()} (ms)")
    h.set_ylabel("frames")
    h.set_title(f"{what} histogram")
    q = np.linspace(0, 1, min(MAX_POINTS, len(values)))
    c.plot(np.quantile(values, q), q, color=colour, lw=1.4)
    c.set_xlabel(f"{what.lower()} (ms)")
    c.set_ylabel(f"fraction of {population} frames")
    c.set_title(f"{what} CDF")
    for name, value, line_colour in lines:
        if value is None:
            continue
        for ax in (h, c):
            ax.axvline(value, color=line_colour, ls="--", lw=1,
                       label=f"{name} = {value:.{decimals}f} ms")
    c.legend(loc="lower right", fontsize="small")
    for ax in (h, c):
        ax.grid(alpha=0.3)
    return fig


@_svg
def latency(lat_ms: np.ndarray, marks: dict[str, float | None]) -> plt.Figure:
    """Histogram and CDF of latency (intended send -> sink) with p50/p95/p99 marked."""
    lines = [(n, v, col) for (n, v), col in
             zip(marks.items(), ("tab:green", "tab:orange", "tab:red"), strict=False)]
    return _distribution(lat_ms, lines, "Latency", "delivered", "tab:blue")


@_svg
def service_times(panels: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, str]]
                  ) -> plt.Figure:
    """One panel per node: the measured service-time CDF (started to finished of each
    measure frame) and the profile's CDF, `(title, measured ms, profile ms, profile
    fraction, profile label)` each; a constant profile is a step at its value, a node
    without a profile time (`native`) shows the measured line alone. The p50, p90 and p99
    levels are drawn across, where the table below the figure compares the two."""
    if not panels:
        return _empty("Service times")
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 0.6, 2.9 * rows),
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax, (title, measured, prof_ms, prof_q, label) in zip(axes.flat, panels, strict=False):
        xs = [a for a in (measured, prof_ms) if len(a)]
        lo = min(float(np.min(a)) for a in xs) if xs else 0.0
        hi = max(float(np.max(a)) for a in xs) if xs else 1.0
        pad = 0.05 * (hi - lo) or 0.05 * max(hi, 1.0)
        lo, hi = lo - pad, hi + pad
        if len(prof_ms):
            ax.plot(np.concatenate([[lo], prof_ms, [hi]]),
                    np.concatenate([[0.0], prof_q, [1.0]]), color="tab:orange", lw=1.6,
                    label=label)
        if len(measured):
            q = np.linspace(0, 1, min(MAX_POINTS, len(measured)))
            ax.plot(np.concatenate([[lo], np.quantile(measured, q), [hi]]),
                    np.concatenate([[0.0], q, [1.0]]), color="tab:blue", lw=1.2,
                    drawstyle="steps-post", label=f"measured ({len(measured)} frames)")
        for level in (0.5, 0.9, 0.99):
            ax.axhline(level, color="grey", lw=0.6, ls=":")
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.set_xlabel("service time (ms)")
        ax.set_ylabel("fraction of frames")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


@_svg
def bars(labels: Sequence[str], values: Sequence[float | None], title: str,
         ylabel: str, missing: str = "n/a") -> plt.Figure:
    """One bar per run (missing values drawn as 0 and labelled `missing`: n/a, or unknown
    for a figure that could not be priced)."""
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(labels) + 2), 3))
    vals = [0.0 if v is None else float(v) for v in values]
    rects = ax.bar(range(len(labels)), vals, color="tab:blue")
    ax.bar_label(rects, labels=[missing if v is None else f"{v:.3g}" for v in values],
                 fontsize="small")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    return fig


@_svg
def stacked_bars(labels: Sequence[str], parts: dict[str, Sequence[float]], title: str,
                 ylabel: str) -> plt.Figure:
    """Bars per run split into parts (e.g. drops per node)."""
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(labels) + 2), 3))
    bottom = np.zeros(len(labels))
    for i, (name, vals) in enumerate(parts.items()):
        arr = np.asarray(vals, dtype=float)
        ax.bar(range(len(labels)), arr, bottom=bottom, label=name, color=f"C{i % 10}")
        bottom += arr
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if parts:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    return fig


@_svg
def switch_timeline(switches: pd.DataFrame, window_start: float, window_end: float,
                    drops: pd.DataFrame,
                    faults: Sequence[tuple[float, float]] = ()) -> plt.Figure:
    """When each node was switching models, above the drops per second at each node.

    Side by side on one time axis a reader sees whether losses follow the switches.
    """
    if switches.empty and drops.empty:
        return _empty("No model switches and no drops")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 2]})
    nodes = sorted(switches["node"].unique()) if not switches.empty else []
    for row, node in enumerate(nodes):
        g = switches[switches["node"] == node]
        end = g["end"].fillna(window_end)
        spans = list(zip(g["start"] - window_start, end - g["start"], strict=True))
        top.broken_barh(spans, (row - 0.35, 0.7), color="tab:purple")
    top.set_yticks(range(len(nodes)), nodes)
    top.set_title(f"Model switches ({len(switches)}), drops per second by node")
    top.grid(alpha=0.3, axis="x")
    for col in [c for c in drops.columns if c != "second"]:
        bottom.plot(drops["second"], drops[col], label=f"dropped at {col}", lw=1.2,
                    drawstyle="steps-post")
    bottom.set_xlabel("seconds since measure window start")
    bottom.set_ylabel("frames / s")
    bottom.grid(alpha=0.3)
    if len(drops.columns) > 1:
        bottom.legend(loc="upper right")
    _mark_faults(bottom, faults)
    _mark_faults(top, faults)
    return fig


@_svg
def shares(series: pd.DataFrame, window_start: float,
           faults: Sequence[tuple[float, float]] = ()) -> plt.Figure:
    """The adaptive entry's share of the work per member over time (steps: a share holds
    until the next `shares` row), on the same axis and fault shading as the timelines."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for member, g in series.groupby("member", sort=True):
        ax.plot(g["t"] - window_start, g["share"], drawstyle="steps-post", lw=1.2,
                label=str(member))
    ax.set_xlabel("seconds since measure window start")
    ax.set_ylabel("share of frames")
    ax.set_ylim(0, 1)
    ax.set_title("Shares of the work (adaptive entry)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    _mark_faults(ax, faults)
    return fig


STRATEGY_LABELS = {"baseline": "baseline (0)", "cao1": "strategy 1", "cao2": "strategy 2",
                   "cao3": "strategy 3"}


QUEUE_MARKERS = ("o", "s", "^", "D", "v", "P")


def _queue_label(label: str, queue: object, queues: Sequence[object]) -> str:
    return f"{label}, Q={queue}" if len(queues) > 1 and queue is not None else label


@_svg
def sweep_curve(stats: pd.DataFrame, metric: str, ylabel: str, title: str,
                predicted: pd.DataFrame | None = None,
                xstar: dict[int | None, int | None] | None = None) -> plt.Figure:
    """A metric against X: each point's mean with its 95 % confidence interval as an error
    bar (`<metric>_ci95` from harness.analysis.point_stats; a point of one run has none),
    the strategies without X as horizontal lines with the interval as a band, the
    discrete-event prediction dashed beside them. With several queue sizes each strategy has
    one line per size (a marker per size) and X* is marked per size."""
    if stats.empty or metric not in stats:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    xs = stats["x"].dropna()
    colours = {"baseline": "black", "cao1": "tab:red", "cao2": "tab:blue", "cao3": "tab:green"}
    queue_col = stats["queue_size"] if "queue_size" in stats else pd.Series(None, stats.index)
    queues = sorted({q for q in queue_col if q is not None and q == q})
    ci_col = f"{metric}_ci95"
    for (strategy, queue), g in stats.assign(_q=queue_col).groupby(["strategy", "_q"],
                                                                   dropna=False):
        colour = colours.get(strategy, "tab:gray")
        marker = QUEUE_MARKERS[queues.index(queue) % len(QUEUE_MARKERS)] if queue in queues \
            else "o"
        label = _queue_label(STRATEGY_LABELS.get(strategy, strategy), queue, queues)
        ci = g[ci_col].astype(float).fillna(0.0) if ci_col in g else 0.0 * g[metric]
        if g["x"].notna().any():
            g = g.assign(_ci=ci).sort_values("x")
            ax.errorbar(g["x"].astype(float), g[metric].astype(float), yerr=g["_ci"],
                        fmt=f"{marker}-", color=colour, label=label, capsize=3, lw=1.3)
        else:
            mean, half = float(g[metric].mean()), float(ci.max())
            ax.axhline(mean, color=colour, lw=1.3, label=f"{label} (no X)")
            if half > 0:
                ax.axhspan(mean - half, mean + half, color=colour, alpha=0.12, lw=0)
    if predicted is not None and not predicted.empty and metric in predicted:
        pq = predicted["queue_size"] if "queue_size" in predicted else \
            pd.Series(None, predicted.index)
        for (strategy, _queue), g in predicted.assign(_q=pq).groupby(["strategy", "_q"],
                                                                     dropna=False):
            colour = colours.get(strategy, "tab:gray")
            if g["x"].notna().any():
                g = g.sort_values("x")
                ax.plot(g["x"], g[metric], ls="--", color=colour, lw=1, alpha=0.8)
            else:
                ax.axhline(g[metric].mean(), color=colour, ls="--", lw=1, alpha=0.8)
        ax.plot([], [], ls="--", color="gray", label="predicted (discrete-event model)")
    for queue, x in (xstar or {}).items():
        if x is None:
            continue
        ax.axvline(x, color="tab:blue", ls=":", lw=1)
        ax.annotate(f"X* = {x}" + (f" (Q={queue})" if queue is not None else ""),
                    (x, ax.get_ylim()[0]), textcoords="offset points", xytext=(4, 6),
                    color="tab:blue")
    if len(xs) and xs.min() > 0:
        ax.set_xscale("log")
    ax.set_xlabel("X (frames the fast node computes per help episode)")
    ax.set_ylabel(ylabel)
    ax.set_title(title + " (error bars: 95 % CI of the repetitions)"
                 if stats.get(f"{metric}_n", pd.Series([1])).max() > 1 else title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    return fig


def _finish_k_axes(ax: plt.Axes, ks: list[int], ideal: bool, companion: tuple[str, str] | None,
                   xlabel: str, ylabel: str, title: str) -> None:
    """The end every against-K figure shares: y = K when `ideal`, one grey legend entry for
    the dashed companion lines (`companion`: line style, label; bounds or predictions), ticks
    at the K measured, axes from 0."""
    if ideal:
        ax.plot(ks, ks, ls=":", color="grey", lw=1, label="speedup = K")
    if companion:
        ax.plot([], [], companion[0], color="gray", label=companion[1])
    ax.set_xticks(ks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)


@_svg
def against_sources(curves: pd.DataFrame, metric: str, ylabel: str, title: str,
                    reported: Sequence[tuple[str, float, float]] = ()) -> plt.Figure:
    """A metric against the number of data sources S, one line per strategy/grid/sched/K
    (`curves` from harness.analysis.source_curves), measured solid with dots; `reported`:
    DeepThings' numbers as (label, S, value), drawn as stars beside ours."""
    if curves.empty or metric not in curves or curves[metric].notna().sum() == 0:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ss = sorted({int(s) for s in curves["sources"]} | {int(r[1]) for r in reported})
    for i, (line, g) in enumerate(curves.groupby("line", sort=True)):
        g = g.sort_values("sources")
        ax.plot(g["sources"], g[metric].astype(float), "o-", color=f"C{i % 10}", lw=1.4,
                label=str(line))
    for j, (label, at, value) in enumerate(reported):
        ax.plot([at], [value], "*", color="black" if j == 0 else "dimgray", ms=11,
                label=f"DeepThings reported: {label}")
    ax.set_xticks(ss)
    ax.set_xlabel("data sources S")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return fig


@_svg
def against_k(curves: pd.DataFrame, metric: str, ylabel: str, title: str,
              bound: str | None = None, ideal: bool = False) -> plt.Figure:
    """dp, mp, tasks against K (`curves` from harness.analysis.scaling_curves): one line per
    strategy (and queue size), its mean with the 95 % CI as error bars (`<metric>_ci95`;
    none for a ratio such as the speedup), and the strategy's capacity bound (`bound`, a
    column) dashed in the same colour; `ideal` adds y = K."""
    if curves.empty or metric not in curves or curves[metric].notna().sum() == 0:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ks = sorted(int(k) for k in curves["k"].unique())
    has_bound = False
    for i, (line, g) in enumerate(curves.groupby("line", sort=True)):
        g = g.sort_values("k")
        colour = f"C{i % 10}"
        ci = f"{metric}_ci95"
        yerr = g[ci].astype(float).fillna(0.0) if ci in g else None
        ax.errorbar(g["k"], g[metric].astype(float), yerr=yerr, fmt="o-", color=colour,
                    lw=1.4, capsize=3, label=str(line))
        if bound and bound in g and g[bound].notna().any():
            ax.plot(g["k"], g[bound].astype(float), "--", color=colour, lw=1, alpha=0.8)
            has_bound = True
    _finish_k_axes(ax, ks, ideal, ("--", "capacity bound (per strategy)") if has_bound else None,
                   "K (devices sharing the split layer)", ylabel, title)
    return fig


@_svg
def send_lag(lag_ms: np.ndarray, marks: dict[str, float | None],
             threshold_ms: float | None = None) -> plt.Figure:
    """Histogram and CDF of send lag (actual - intended send): when the load generator
    itself was the limit, this is where it shows (a long tail, or the threshold crossed)."""
    lines = [(n, v, col) for (n, v), col in zip(marks.items(), ("tab:green", "tab:red"),
                                                 strict=False)]
    if threshold_ms is not None:
        lines.append(("threshold", float(threshold_ms), "black"))
    return _distribution(lag_ms, lines, "Send lag", "sent", "tab:purple", log_counts=True,
                         decimals=2)


@_svg
def capacity_curve(steps: pd.DataFrame, capacity_fps: float | None) -> plt.Figure:
    """Delivered against offered fps, one point per rate step, with the ideal (y = x) and
    the capacity bound as lines."""
    if steps.empty:
        return _empty("Delivered vs offered")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = steps["offered_fps"].to_numpy(float)
    y = steps["delivered_fps"].to_numpy(float)
    top = float(np.nanmax(np.concatenate([x, y]))) * 1.1 or 1.0
    ax.plot([0, top], [0, top], color="grey", ls=":", lw=1, label="delivered = offered")
    if capacity_fps is not None and not np.isfinite(float(capacity_fps)):
        capacity_fps = None  # no bound (the profiles add no time): no line to draw
    if capacity_fps:
        ax.axhline(float(capacity_fps), color="tab:red", ls="--", lw=1.2,
                   label=f"capacity bound {fps_text(float(capacity_fps))} fps")
    ax.plot(x, y, "o-", color="tab:blue", lw=1.4, label="measured")
    ax.set_xlim(0, top)
    ax.set_ylim(0, max(top, float(capacity_fps or 0) * 1.1))
    ax.set_xlabel("offered (frames / s)")
    ax.set_ylabel("delivered (frames / s)")
    ax.set_title("Delivered vs offered (one point per rate step)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


@_svg
def against_devices(curves: pd.DataFrame, metric: str, ylabel: str, title: str,
                    predicted: str | None = None, ideal: bool = False,
                    scale: float = 1.0) -> plt.Figure:
    """A metric against the number of devices K, one line per strategy/grid/sched
    (`curves` from harness.analysis.device_curves), measured solid with dots; the
    discrete-event model's value for the same points dashed in the same colour; `ideal`
    adds the line y = K (a speedup equal to the devices). Values are divided by `scale`."""
    if curves.empty or metric not in curves or curves[metric].notna().sum() == 0:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ks = sorted(int(k) for k in curves["k"].unique())
    has_prediction = False
    for i, (line, g) in enumerate(curves.groupby("line", sort=True)):
        g = g.sort_values("k")
        colour = f"C{i % 10}"
        values = g[metric].astype(float) / scale
        ax.plot(g["k"], values, "o-", color=colour, lw=1.4, label=str(line))
        if predicted and predicted in g and g[predicted].notna().any():
            ax.plot(g["k"], g[predicted].astype(float) / scale, "x--", color=colour, lw=1,
                    alpha=0.8)
            has_prediction = True
    _finish_k_axes(ax, ks, ideal,
                   ("x--", "predicted (discrete-event model)") if has_prediction else None,
                   "devices K", ylabel, title)
    return fig
