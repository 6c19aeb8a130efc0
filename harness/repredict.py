"""Recorded runs through today's discrete-event model, beside what they measured.

`python -m harness.repredict RUN...` (a run folder, or a run id in runs/) loads each run
(spec.json, traces, summary.json), predicts it again with the model as it is now (the
per-hop overhead and, for ftp and bodp, the message cost fitted on the run's own traces:
harness/overhead.py) and prints one markdown row per run: measured latency p50, the
prediction the run recorded when it was analysed (the model of its day), today's
prediction, and what the messages were priced at. A run the model cannot predict says why
instead. Nothing is written: the run's summary.json keeps the prediction of its day.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from harness import analysis
from harness.overhead import hop_ms
from harness.predict import message_fit, predict_spec, slow_landed_s, why_not
from harness.results import find_run


def repredict(run_dir: Path) -> dict[str, Any]:
    """One run's row: what it is, what it measured, what it recorded, what the model says."""
    run = analysis.load_run(run_dir)
    spec = run.spec
    summary = json.loads((run_dir / "summary.json").read_text())
    recorded = summary.get("predicted") or {}
    row: dict[str, Any] = {
        "run": run_dir.name, "strategy": spec.get("strategy"), "k": spec.get("k"),
        "grid": spec.get("grid") if spec.get("strategy") == "ftp" else "",
        "sched": spec.get("sched") if spec.get("strategy") == "ftp" else "",
        "measured_p50": (summary.get("latency_ms") or {}).get("p50"),
        "recorded_p50": (recorded.get("latency_ms") or {}).get("p50"),
    }
    why = why_not(spec)
    if why:
        return row | {"skipped": why}
    hop, basis = hop_ms(run.events)
    pred = predict_spec(spec, hop_ms=hop, hop_basis=basis, fit=message_fit(spec, run.events),
                        slow_landed=slow_landed_s(summary, spec))
    return row | {"predicted_p50": (pred.get("latency_ms") or {}).get("p50"),
                  "hop_ms": pred.get("hop_ms"), "rate": pred.get("rate_bytes_per_ms"),
                  "skipped": pred.get("skipped")}


def _num(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| run | strategy | K | grid | sched | measured p50 ms | old model | new model | "
             "new - measured | hop ms | rate kB/ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['run']} | {r['strategy']} | {r['k']} | {r['grid']} | "
                         f"{r['sched']} | {_num(r['measured_p50'])} | "
                         f"{_num(r['recorded_p50'])} | skipped: {r['skipped']} | | | |")
            continue
        gap = (None if r["predicted_p50"] is None or r["measured_p50"] is None
               else r["predicted_p50"] - r["measured_p50"])
        rate = None if r["rate"] is None else r["rate"] / 1000.0
        lines.append(f"| {r['run']} | {r['strategy']} | {r['k']} | {r['grid']} | {r['sched']} "
                     f"| {_num(r['measured_p50'])} | {_num(r['recorded_p50'])} | "
                     f"{_num(r['predicted_p50'])} | {_num(gap)} | {_num(r['hop_ms'], 2)} | "
                     f"{_num(rate)} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m harness.repredict RUN...  (a run folder, or a run id in "
              "runs/)", file=sys.stderr)
        return 2
    try:
        dirs = [find_run(a) for a in argv]
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    print(table([repredict(d) for d in dirs]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
