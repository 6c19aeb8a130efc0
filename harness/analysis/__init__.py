"""Turn one run directory into numbers: load the traces, join them by packet ID, summarise.

The package is split by what each step is for; every public name is re-exported here, so
callers keep writing `from harness.analysis import load_run, summarize, ...`:

- loading.py: read `runs/<run-id>/` (spec.json, client.csv, traces/*.csv) into a `Run`.
- derived.py: the per-packet join (trace rows -> measure IDs, sink arrivals, busy
  intervals), computed once per run and shared by everything below.
- accounting.py: drops by node and reason, per-node counts and service times, trace ends.
- fidelity.py: the emulation's self-check (idle CPU, service-time error, send lag) that
  marks an overloaded run invalid (Mininet-HiFi's rule).
- servicetimes.py: each node's service times beside its profile's (a `stage_ms`
  distribution, or the constant), as CDFs and p50/p90/p99 (issue 14).
- profilesource.py: each device profile the run used and where its numbers come from
  (shipped with its basis; calibrated: where and when measured).
- metrics.py: the headline numbers (`summarize`, latency, send lag, rate steps, the
  minimum-run rule) and the warnings a report shows as a banner.
- timeseries.py: per-second series for the report's plots.
- switches.py: model switches (strategies that reload stages at run time).
- sweeps.py: a sweep's points as mean +/- 95 % CI over their repetitions; X*, where
  strategy 2 overtakes the baseline (per queue size); dp, mp and tasks against K (fps,
  speedup, latency, bound); ftp and bodp against the number of devices (speedup over one
  device, memory, bytes per frame).
- intervals.py: mean and the 95 % Student-t interval (`fab experiment --repeat` and sweeps).
- rounding.py: JSON-safe rounding used by every summary field.

Speed matters: an hour at a few hundred frames/s is a million packets and several million
trace rows, so loading parses with pyarrow's multithreaded CSV reader into fixed dtypes (the
C parser only for a damaged file), every join is a vectorised numpy operation on packet IDs
(no per-row Python) and a detail string is parsed once per distinct value, not per row. The
schema of the summary is in docs/results.md.
"""

from harness.analysis.accounting import EARLY_END_S
from harness.analysis.fidelity import LIMITS as FIDELITY_LIMITS
from harness.analysis.fidelity import apply_fidelity, fidelity_of
from harness.analysis.loading import (
    CLIENT_DTYPES,
    DROP_EVENTS,
    EVENTS,
    TRACE_COLUMNS,
    TRACE_DTYPES,
    TRUE_STRINGS,
    Run,
    load_run,
)
from harness.analysis.metrics import (
    PREDICTION_TOLERANCE,
    SCHEMA_VERSION,
    latencies_ms,
    min_run_check,
    send_lag_ms,
    step_table,
    summarize,
    verdict,
    warnings_of,
    write_summary,
)
from harness.analysis.sweeps import (
    DEVICE_STRATEGIES,
    STAT_METRICS,
    crossing_by_queue,
    crossing_x,
    device_curves,
    line_of,
    point_stats,
    scaling_curves,
    source_curves,
)
from harness.analysis.switches import model_switches, share_series
from harness.analysis.timeseries import (
    drops_per_second_by_node,
    per_second_counts,
    queue_depth_per_second,
    utilisation_per_second,
)

__all__ = [
    "CLIENT_DTYPES",
    "DROP_EVENTS",
    "EARLY_END_S",
    "EVENTS",
    "FIDELITY_LIMITS",
    "PREDICTION_TOLERANCE",
    "SCHEMA_VERSION",
    "TRACE_COLUMNS",
    "TRACE_DTYPES",
    "TRUE_STRINGS",
    "Run",
    "DEVICE_STRATEGIES",
    "apply_fidelity",
    "crossing_by_queue",
    "crossing_x",
    "point_stats",
    "scaling_curves",
    "source_curves",
    "STAT_METRICS",
    "device_curves",
    "line_of",
    "drops_per_second_by_node",
    "fidelity_of",
    "latencies_ms",
    "load_run",
    "min_run_check",
    "model_switches",
    "share_series",
    "per_second_counts",
    "queue_depth_per_second",
    "send_lag_ms",
    "step_table",
    "summarize",
    "utilisation_per_second",
    "verdict",
    "warnings_of",
    "write_summary",
]
