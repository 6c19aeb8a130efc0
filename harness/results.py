"""Results one line away in a notebook: `load_run(id)` for one run, `ledger()` for all of them.

    from harness.results import load_run, ledger
    r = load_run("latest")                 # or a run id, or a run directory
    r.frames, r.hops, r.nodes, r.spec, r.summary
    ledger(strategy="cao2", rate=30)

This is a thin layer over harness.analysis, which computes every figure of summary.json:
the tables here are the per-frame joins those figures are sums of (`derive`, `drop_table`,
`hop_samples`), not a second implementation, so a number found in a notebook is the number
in the report. Nothing here writes to a run or to the ledger. The columns are documented in
docs/results.md ("Notebooks").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import analysis, strategies
from harness.analysis.accounting import drop_table
from harness.analysis.derived import derive
from harness.analysis.hops import address_names, hop_samples, name_of
from harness.errors import SpecError
from harness.ledger import list_runs
from harness.paths import ledger_path, runs_dir

FRAME_COLUMNS = (
    "packet_id", "entry", "intended_t", "sent_t", "intended_s", "send_lag_ms", "status",
    "accepted", "overloaded", "delivered", "delivered_t", "delivered_s", "latency_ms",
    "dropped", "dropped_at", "drop_reason", "drop_t", "drop_records", "lost_unaccounted",
)
HOP_COLUMNS = ("packet_id", "hop", "src", "dst", "start_t", "end_t", "ms", "uncertainty_ms",
               "merging")


@dataclass
class RunResults:
    """One run as pandas tables. `frames`, `hops`, `nodes` and `per_second` are computed on
    first use (a long run's joins take seconds) and kept.

    spec: spec.json. summary: summary.json as the run wrote it (what its report shows), or
        computed from the traces when the run has none (say, an interrupted one).
    run: the loaded run (harness.analysis.Run): `run.client` is client.csv (warm-up frames
        too), `run.events` every trace row, on the controller's clock.
    """

    run_dir: Path
    spec: dict[str, Any]
    summary: dict[str, Any]
    run: analysis.Run

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run_id") or self.spec.get("run_id") or self.run_dir.name)

    @property
    def events(self) -> pd.DataFrame:
        """Every trace row (t, packet_id, node, event, detail), warm-up frames included."""
        return self.run.events

    @cached_property
    def frames(self) -> pd.DataFrame:
        """One row per measure frame (the population of every summary figure), by packet id:
        when it was due, sent and delivered, its latency from the intended send time, and
        where and why it was dropped (its earliest drop record)."""
        run = self.run
        d = derive(run)
        n = len(d.ids)
        c = run.client
        meas = c[c["phase"].astype(str) == "measure"].drop_duplicates("packet_id")
        client = meas.set_index("packet_id").reindex(d.ids.ids)
        names = address_names(run.spec)
        targets = client["target"].astype(str) if "target" in client else pd.Series(
            [""] * n, index=client.index)
        entry = [name_of(names, t) or (t if t != "nan" else None) for t in targets]

        drops = drop_table(run, d)
        first = drops.sort_values("t", kind="stable").drop_duplicates("pos")
        pos = first["pos"].to_numpy()
        dropped_at = np.full(n, None, dtype=object)
        reason = np.full(n, None, dtype=object)
        drop_t = np.full(n, np.nan)
        dropped_at[pos] = first["node"].astype(str).to_numpy(object)
        reason[pos] = first["reason"].to_numpy(object)
        drop_t[pos] = first["t"].to_numpy(float)
        records = np.bincount(drops["pos"].to_numpy(), minlength=n) if n else np.zeros(0, int)

        delivered = ~np.isnan(d.arrival)
        frames = pd.DataFrame({
            "packet_id": d.ids.ids,
            "entry": pd.Categorical(entry),
            "intended_t": d.intended,
            "sent_t": d.sent_t,
            "intended_s": d.intended - d.window_start,
            "send_lag_ms": (d.sent_t - d.intended) * 1000.0,
            "status": d.status,
            "accepted": client["accepted"].to_numpy(bool) if "accepted" in client else False,
            "overloaded": client["overloaded"].to_numpy(bool) if "overloaded" in client else False,
            "delivered": delivered,
            "delivered_t": d.arrival,
            "delivered_s": d.arrival - d.window_start,
            "latency_ms": (d.arrival - d.intended) * 1000.0,
            "dropped": records > 0,
            "dropped_at": pd.Categorical(dropped_at),
            "drop_reason": pd.Categorical(reason),
            "drop_t": drop_t,
            "drop_records": records,
            "lost_unaccounted": ~delivered & (records == 0),
        })
        return frames[list(FRAME_COLUMNS)]

    @cached_property
    def hops(self) -> pd.DataFrame:
        """One row per measure frame and hop it took (`client->A`, `A->B`, `B->sink`, ...):
        when it left (`start_t`: the client's send, the sender's `finished`), when the next
        host traced `received` (`end_t`) and the interval in ms; the summary's `hops` are
        these rows' percentiles. Frames that never reached the next host have no row."""
        d = derive(self.run)
        parts = [pd.DataFrame({
            "packet_id": d.ids.ids[h.pos], "hop": h.name, "src": h.src, "dst": h.dst,
            "start_t": h.start, "end_t": h.end, "ms": h.ms,
            "uncertainty_ms": np.nan if h.uncertainty_ms is None else h.uncertainty_ms,
            "merging": h.merging,
        }) for h in hop_samples(self.run)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in HOP_COLUMNS})
        out = pd.concat(parts, ignore_index=True)
        order = list(dict.fromkeys(out["hop"]))  # the summary's order: client first
        for col in ("hop", "src", "dst"):
            out[col] = out[col].astype("category")
        out["hop"] = out["hop"].cat.reorder_categories(order)
        return out.sort_values(["packet_id", "start_t"], kind="stable", ignore_index=True)

    @cached_property
    def nodes(self) -> pd.DataFrame:
        """One row per node (index `node`): the summary's per-node figures (role, profile,
        received, processed, dropped, service times, utilisation, queue depth) plus
        `drops`, the node's drop records of every reason, and `trace_end`."""
        stats = self.summary.get("nodes") or {}
        table = pd.DataFrame.from_dict(stats, orient="index")
        table.index.name = "node"
        drops = self.summary.get("drops") or {}
        table["drops"] = [sum((drops.get(n) or {}).values()) for n in table.index]
        ends = self.summary.get("trace_ends") or {}
        table["trace_end"] = [ends.get(n) for n in table.index]
        return table

    @cached_property
    def service_percentiles(self) -> pd.DataFrame:
        """One row per node and percentile (p50, p90, p99): `node`, `percentile`,
        `profile_ms`, `measured_ms`, `difference` ((measured - profile) / profile), `kind`
        (of the profile's time) and `frames` measured: the summary's
        `nodes.<n>.service_ms_percentiles`, the table under the run page's service-time
        figure (issue 14)."""
        cols = ["node", "percentile", "profile_ms", "measured_ms", "difference", "kind",
                "frames"]
        rows = []
        for node, stats in (self.summary.get("nodes") or {}).items():
            pct = stats.get("service_ms_percentiles")
            if not pct:
                continue
            prof, meas = pct.get("profile") or {}, pct.get("measured") or {}
            diff = pct.get("difference") or {}
            for key in ("p50", "p90", "p99"):
                rows.append([node, key, prof.get(key), meas.get(key), diff.get(key),
                             pct.get("kind"), pct.get("frames")])
        return pd.DataFrame(rows, columns=cols).astype(
            {"profile_ms": float, "measured_ms": float, "difference": float})

    @cached_property
    def per_second(self) -> pd.DataFrame:
        """Measure frames sent / delivered / dropped per second since the window start: the
        series of the report's "Frames over time" plot."""
        return analysis.per_second_counts(self.run)


def find_run(ref: str | Path = "latest") -> Path:
    """The directory of a run: `ref` itself if it holds a spec.json, else `runs/<ref>` under
    the results root (TESTBED_RESULTS_DIR, harness/paths.py); `latest` is the newest run."""
    direct = Path(ref).expanduser()
    under = runs_dir() / str(ref)
    for candidate in (direct, under):
        if (candidate / "spec.json").is_file():
            return candidate.resolve()
    raise FileNotFoundError(
        f"no run {str(ref)!r}: neither {direct} nor {under} holds a spec.json (runs are in "
        f"{runs_dir()}; set TESTBED_RESULTS_DIR to read another results root)")


def load_run(run_id_or_path: str | Path = "latest") -> RunResults:
    """One run's tables: a run id (`runs/<id>` under the results root), a run directory, or
    `latest` (the default: the newest run)."""
    run_dir = find_run(run_id_or_path)
    run = analysis.load_run(run_dir)
    stored = run_dir / "summary.json"
    summary = json.loads(stored.read_text()) if stored.is_file() else analysis.summarize(run)
    return RunResults(run_dir, run.spec, summary, run)


# --------------------------------------------------------------------------- ledger

LEDGER_COLUMNS = (
    "run_id", "started", "strategy", "x", "k", "rate", "profile", "model", "sweep",
    "offered_fps", "delivered_fps", "capacity_fps", "efficiency", "coverage", "latency_p50",
    "latency_p95", "latency_p99", "lost_unaccounted", "verdict", "warnings", "duration",
    "git_commit", "started_at", "run_dir", "spec", "summary",
)


def _uses(strategy: Any, knob: str) -> bool:
    """Does the strategy depend on `knob`? Unknown (older) strategy names keep the knob."""
    try:
        return strategies.uses(str(strategy), knob)
    except (SpecError, KeyError):
        return True


def _sweeps(root: Path) -> dict[str, str]:
    """run id -> the sweep it belongs to (the stamp of runs/sweeps/<stamp>.json)."""
    out: dict[str, str] = {}
    for path in sorted((root / "runs" / "sweeps").glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for point in doc.get("runs") or []:
            if isinstance(point, dict) and point.get("run_id"):
                out[str(point["run_id"])] = str(doc.get("sweep") or path.stem)
    return out


def _many(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, Path)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _strategy_name(name: Any) -> str:
    try:
        return strategies.resolve(str(name))
    except SpecError:
        return str(name)


def _utc(when: Any) -> pd.Timestamp:
    t = pd.Timestamp(when)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def ledger(db: str | Path | None = None, *, strategy: Any = None, rate: Any = None,
           profile: Any = None, model: Any = None, sweep: Any = None, since: Any = None,
           until: Any = None, date: Any = None) -> pd.DataFrame:
    """Every run in the ledger (results.sqlite under the results root unless `db` says
    otherwise), newest first, one row each, filtered by any of:

    strategy: a name or alias (`2`, `cao2`) or a list of them. rate: offered fps (or a list).
    profile: a profile, matching mixed runs that used it too. model: a model name.
    sweep: a sweep's stamp (runs/sweeps/<stamp>.json). since / until: anything
    pandas.Timestamp reads (UTC unless it says otherwise), until exclusive. date: one UTC day.
    """
    db = Path(db) if db is not None else ledger_path()
    raw = list_runs(db)
    sweeps = _sweeps(db.parent)
    rows = []
    for rec in raw.to_dict("records"):
        spec = json.loads(rec["spec_json"])
        summary = json.loads(rec["summary_json"])
        word, reasons = analysis.verdict(summary)
        strat = rec["strategy"]
        rows.append({
            **rec,
            "started": (pd.Timestamp(rec["started_at"], unit="s", tz="UTC")
                        if pd.notna(rec["started_at"]) else pd.NaT),
            "x": spec.get("x") if _uses(strat, "x") else None,
            "k": spec.get("k") if _uses(strat, "k") else None,
            "model": spec.get("model"), "sweep": sweeps.get(rec["run_id"]),
            "capacity_fps": summary.get("capacity_fps"),
            "lost_unaccounted": summary.get("lost_unaccounted"),
            "verdict": word, "warnings": reasons,
            "run_dir": str(db.parent / "runs" / rec["run_id"]),
            "spec": spec, "summary": summary,
        })
    table = pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))
    for knob in ("x", "k"):  # whole numbers, <NA> where the strategy has no such knob
        table[knob] = pd.array(table[knob].tolist(), dtype="Int64")
    keep = np.ones(len(table), dtype=bool)
    if strategy is not None:
        keep &= table["strategy"].isin([_strategy_name(s) for s in _many(strategy)]).to_numpy()
    if rate is not None:
        rates = table["rate"].to_numpy(float)
        keep &= np.any([np.isclose(rates, float(r)) for r in _many(rate)], axis=0)
    if profile is not None:
        wanted = {str(p) for p in _many(profile)}
        keep &= np.array([bool(wanted & ({str(p)} | set(str(p).split(","))))
                          for p in table["profile"]], dtype=bool)
    if model is not None:
        keep &= table["model"].isin([str(m) for m in _many(model)]).to_numpy()
    if sweep is not None:
        keep &= table["sweep"].isin([str(s) for s in _many(sweep)]).to_numpy()
    if date is not None:
        day = _utc(date).normalize()
        since, until = day, day + dt.timedelta(days=1)
    if since is not None:
        keep &= (table["started"] >= _utc(since)).to_numpy()
    if until is not None:
        keep &= (table["started"] < _utc(until)).to_numpy()
    return table[keep].reset_index(drop=True)
