"""X* of the discrete-event model: the first X at which Cao's strategy 2 beats the baseline.

The numbers docs/measurements.md and docs/strategies.md give for "X* of the model" come from
here, with the sweep's settings (rpi3bplus, 30 fps, 60 s measured after 5 s of warm-up,
queue 5) and the stage times and switch costs `harness.predict.predict_spec` uses:

    python -m bench.xstar                                   # switches priced by their load
    python -m bench.xstar --switch-ms=800 --switch-back-ms=800    # the earlier flat 800 ms
    python -m bench.xstar --hop-ms=0.7,1.0,1.3              # per-hop overheads (default)
    python -m bench.xstar --queue=1,5,10                    # queue sizes per node (default 5)

No lab, no runs: each X is one simulation (milliseconds).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from harness.predict import predict, predict_spec
from harness.spec import RunSpec

SWEEP = {"rate_fps": 30, "duration_s": 60, "warmup_s": 5, "queue_size": 5,
         "profile": "rpi3bplus"}


@dataclass(frozen=True)
class Crossing:
    hop_ms: float
    queue: int  # queue size per node
    baseline: float  # the baseline's predicted coverage
    xstar: int | None  # first X with cao2's coverage > the baseline's (None: not up to max_x)
    coverage: float | None  # cao2's at X*


def coverage(strategy: str, x: int, hop_ms: float, switch_ms: float | None = None,
             switch_back_ms: float | None = None, queue: int = 5) -> float:
    """Predicted coverage of one sweep point; switch costs from the profile unless given."""
    spec = RunSpec(strategy=strategy, x=x, **{**SWEEP, "queue_size": queue})
    doc = {**spec.to_dict(), "warmup_frames": spec.warmup_frames,
           "measure_frames": spec.measure_frames}
    if switch_ms is None and switch_back_ms is None:
        return predict_spec(doc, hop_ms=hop_ms)["coverage"]
    # The same parameters predict_spec derives, with the switch costs replaced.
    from harness.capacity import stage_ms
    from harness.models import describe

    info = describe(spec.model)
    first, second = info.pipeline
    prof = SWEEP["profile"]
    return predict(strategy, spec.rate_fps, spec.warmup_frames, spec.measure_frames,
                   spec.queue_size, x, stage_ms(prof, [first], spec.model),
                   stage_ms(prof, [second], spec.model), switch_ms=float(switch_ms or 0.0),
                   switch_back_ms=switch_back_ms, hop_ms=hop_ms,
                   whole_ms=stage_ms(prof, [info.whole], spec.model))["coverage"]


def crossing(hop_ms: float, switch_ms: float | None = None,
             switch_back_ms: float | None = None, max_x: int = 400,
             queue: int = 5) -> Crossing:
    base = coverage("baseline", 1, hop_ms, switch_ms, switch_back_ms, queue)
    for x in range(1, max_x + 1):
        cov = coverage("cao2", x, hop_ms, switch_ms, switch_back_ms, queue)
        if cov > base:
            return Crossing(hop_ms, queue, base, x, cov)
    return Crossing(hop_ms, queue, base, None, None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hop-ms", default="0.7,1.0,1.3", help="per-hop overheads, comma-separated")
    ap.add_argument("--switch-ms", type=float, default=None,
                    help="A's switch to help, ms (default: priced by the weights it loads)")
    ap.add_argument("--switch-back-ms", type=float, default=None,
                    help="A's switch back, ms (default: priced by the weights it loads)")
    ap.add_argument("--max-x", type=int, default=400)
    ap.add_argument("--queue", default="5",
                    help="queue sizes per node, comma-separated (the sweep's --queue)")
    args = ap.parse_args(argv)
    queues = [int(q) for q in args.queue.split(",") if q.strip()]
    for queue in queues:
        for hop in (float(h) for h in args.hop_ms.split(",") if h.strip()):
            c = crossing(hop, args.switch_ms, args.switch_back_ms, args.max_x, queue)
            found = (f"X* = {c.xstar} (cao2 {c.coverage:.4f})" if c.xstar is not None
                     else f"X* not reached up to X = {args.max_x}")
            where = f"queue {queue}, " if len(queues) > 1 or queue != 5 else ""
            print(f"{where}hop {hop:g} ms: baseline {c.baseline:.4f}, {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
