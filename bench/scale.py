"""`make bench-scale` (`python -m bench.scale`): how many emulated Pi 3s one box holds honestly.

Issue 17's scale section. For each lab size N (default 6, 12, 24, 48), one after the other:

1. write an inventory for N emulated Pis (harness/lab_inventory.py, the code behind
   `fab lab-inventory`) into the bench's own results root, never into inventory/;
2. bring the lab up (`ansible-playbook -i INV playbooks/lab.yml`) and provision it
   (`ansible-playbook -i INV site.yml`), each timed on its own: site.yml's first play is
   lab.yml again, which then finds nothing to change, so its time is base + node_app;
3. run data parallelism with K = N - 1 replicas at 80 % of the capacity bound, in process
   (harness.experiment.run_experiment), with TESTBED_RESULTS_DIR pointing at the bench's
   results root so the runs, ledger and reports stay out of the user's own;
4. read the run's summary: service-time error p99 across nodes, send lag p99, min idle CPU
   per second, node RSS (max and median), valid or the fidelity monitor's reason;
5. take the lab down (`-e lab_state=absent`, which removes every `dnnlab-*` namespace,
   veth and the bridge) and check that nothing of it is left before the next N.

Why N fits dp with K = N - 1: dp needs 1 + K hosts (harness/strategies/dp.py
hosts_needed: the entry A, which runs L1 and routes, and K replicas of L2); its sink is
node_app on the controller and Locust runs on the controller too, so neither takes a lab
host: pi1 is A, pi2..piN are the replicas. load_point() checks this with dp's own
hosts_needed rather than assuming it.

The rate is 80 % of dp's capacity bound, computed by dp.capacity_fps (harness/capacity.py's
pricing of each stage on the profile): min(A's L1 rate, K x one replica's L2 rate). On
`rpi3bplus` (L1 4 ms, L2 40 ms) that is min(250, 25 K) fps: 125 fps at N = 6 (100 fps
offered); from N = 12 on, A's 250 fps binds and the offered load stays at 200 fps while
the replicas get fewer frames each. So beyond N = 12 the section measures what more
emulated hosts cost the box (processes, sshds, the router's fan-out), not more load.

Duration: long enough for every percentile in the row. The fidelity monitor judges a
node's service-time percentiles only over >= 200 measured frames (SERVICE_PCT_MIN_FRAMES,
harness/analysis/fidelity.py); the least-backlog router does not split frames exactly
evenly, so each replica is given 1.5 x that: duration = max(60 s, 300 K / rate). That is
60, 60, 60 and 71 s for N = 6, 12, 24, 48 on rpi3bplus, i.e. >= 6,000 frames for the send
lag p99 and >= 60 one-second idle CPU samples. `--duration=S` replaces it for every N.

The runs' send-lag threshold is 2 ms (SEND_LAG_P99_MAX_MS), so the monitor voids a run
whose client fell behind by the same limit the largest honest N is held to.

Stops early, with the reason in the section, when a step fails (the lab is still taken
down) or when N's run is invalid and the previous N's was too: a bigger lab on the same
box will not be more honest. Refuses to start while a lab is up: the lab role's teardown
removes every `dnnlab-*` namespace, so it would end someone else's lab.

Writes the `scale` section of bench/results.json (one row per N, `largest_honest_n`) and
prints a markdown table for docs/measurements.md. Progress lines say which N, which step,
and the time since the start.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import strategies
from harness.analysis.fidelity import SEND_LAG_P99_MAX_MS, SERVICE_PCT_MIN_FRAMES
from harness.lab_inventory import check_pis, write_inventory
from harness.models import DEFAULT_MODEL
from harness.paths import RESULTS_ENV
from harness.playbooks import ansible_playbook
from harness.spec import RunSpec
from harness.strategies import dp

BENCH = Path(__file__).resolve().parent
RESULTS_JSON = BENCH / "results.json"
RESULTS_ROOT = BENCH / "scale-runs"  # git-ignored: inventories, logs, runs, reports, ledger
PIS = [6, 12, 24, 48]
PROFILE = "rpi3bplus"  # the lab's Pi 3 (Cao's measured 4 and 40 ms)
LOAD_FRACTION = 0.8
MIN_DURATION_S = 60.0
REPLICA_FRAMES = 1.5 * SERVICE_PCT_MIN_FRAMES  # measured frames each replica should get
WARMUP_S = 5.0
SERVICE_ERROR_HONEST = 0.02  # issue 17: service-time error p99 < 2 % ...
SEND_LAG_HONEST_MS = SEND_LAG_P99_MAX_MS  # ... and send lag p99 < 2 ms
LAB_NS_PREFIX = "dnnlab-"  # playbooks/roles/lab/defaults/main.yml lab_ns_prefix
LAB_BRIDGE = "dnnlab0"  # ... lab_bridge


@dataclass(frozen=True)
class LoadPoint:
    """What one lab size is asked to carry: dp with K replicas at `rate_fps`."""

    pis: int
    k: int
    capacity_fps: float
    rate_fps: float
    duration_s: float


@dataclass
class RunMetrics:
    """The numbers the scale table reports, read off one run's summary.json.

    service_error_p99: 99th percentile over the run's nodes of |service_error| (each node's
        measured mean service time against its profile's, the monitor's per-node figure);
        with at most a few dozen nodes it is close to the worst node, which is the point.
    service_error_max: the worst node (the monitor's `service_error_max`).
    service_tail_error_max: the worst node's relative error at its own service-time p99
        (`service_ms_percentiles.difference.p99`): the tail, shown, not part of the rule.
    rss_*_mb: node_app's peak resident memory (VmHWM from /stats, else VmRSS) over the lab
        nodes, MB; the sink on the controller is not a lab node.
    valid, invalid: the run's verdict; `invalid` is its reason (the monitor's, or too short).
    interrupted: the run was cut short (Ctrl-C inside run_experiment, which returns a
        summary rather than raising): the bench stops there.
    """

    run_id: str
    service_error_p99: float | None
    service_error_max: float | None
    service_tail_error_max: float | None
    send_lag_p99_ms: float | None
    idle_cpu_min: float | None
    rss_max_mb: float | None
    rss_median_mb: float | None
    delivered_fps: float | None
    coverage: float | None
    valid: bool
    invalid: str
    interrupted: bool = False


@dataclass
class ScaleRow:
    """One lab size: its load, the step times, the run's metrics, and what went wrong."""

    pis: int
    k: int
    profile: str
    capacity_fps: float
    rate_fps: float
    duration_s: float
    lab_up_s: float | None = None
    site_s: float | None = None
    run_s: float | None = None
    lab_down_s: float | None = None
    metrics: RunMetrics | None = None
    failed: str = ""  # "<step>: <error>" when a step raised
    leftovers: list[str] = field(default_factory=list)  # what the teardown left behind

    @property
    def valid(self) -> bool:
        return self.metrics is not None and self.metrics.valid and not self.failed


def load_point(pis: int, profile: str = PROFILE, model: str = DEFAULT_MODEL,
               duration_s: float | None = None) -> LoadPoint:
    """dp with K = N - 1 at LOAD_FRACTION of its capacity bound, and how long to run it.

    The bound is dp's own capacity_fps on `profile` for A and every replica (what the
    run's plan reports). K = N - 1 is checked against dp's hosts_needed so the run takes
    exactly the lab's N hosts. Refuses N < 2 (dp needs a replica) and profiles without a
    finite bound (`native`, `zero`): 80 % of nothing is no load point."""
    n = check_pis(pis)
    if n < 2:
        raise ValueError(f"N = {n}: dp needs the entry A and at least one replica (N >= 2)")
    k = n - 1
    needed = strategies.hosts_needed(dp, RunSpec(strategy="dp", k=k, model=model))
    if needed != n:
        raise ValueError(f"dp with K = {k} needs {needed} hosts, not the lab's {n}")
    capacity = dp.capacity_fps(profile, [profile] * k, model)
    if capacity is None or not math.isfinite(capacity) or capacity <= 0:
        raise ValueError(f"profile {profile!r} gives dp no finite capacity bound ({capacity}); "
                         "the scale bench needs a device profile with a cost model")
    rate = round(LOAD_FRACTION * capacity, 3)
    if duration_s is None:
        duration_s = max(MIN_DURATION_S, float(math.ceil(REPLICA_FRAMES * k / rate)))
    return LoadPoint(pis=n, k=k, capacity_fps=round(capacity, 3), rate_fps=rate,
                     duration_s=float(duration_s))


def metrics_of(summary: dict[str, Any]) -> RunMetrics:
    """The row's numbers from a run's summary.json (docs/results.md's fields)."""
    nodes = summary.get("nodes") or {}
    errors = sorted(abs(float(n["service_error"])) for n in nodes.values()
                    if n.get("service_error") is not None)
    tails = [abs(float(d["p99"])) for n in nodes.values()
             for d in [((n.get("service_ms_percentiles") or {}).get("difference") or {})]
             if d.get("p99") is not None]
    rss_kb = [int(m.get("rss_peak_kb") or m.get("rss_kb"))
              for m in ((summary.get("memory") or {}).get("nodes") or {}).values()
              if m.get("rss_peak_kb") or m.get("rss_kb")]
    fidelity = summary.get("fidelity") or {}
    lag = (summary.get("send_lag_ms") or {}).get("p99")
    invalid = str(summary.get("invalid") or "")
    if summary.get("interrupted"):
        invalid = "; ".join(x for x in (invalid, "interrupted") if x)
    return RunMetrics(
        run_id=str(summary.get("run_id", "")),
        service_error_p99=_p99(errors),
        service_error_max=round(errors[-1], 4) if errors else None,
        service_tail_error_max=round(max(tails), 4) if tails else None,
        send_lag_p99_ms=float(lag) if lag is not None else None,
        idle_cpu_min=fidelity.get("idle_cpu_min"),
        rss_max_mb=round(max(rss_kb) / 1024.0, 1) if rss_kb else None,
        rss_median_mb=round(statistics.median(rss_kb) / 1024.0, 1) if rss_kb else None,
        delivered_fps=summary.get("delivered_fps"),
        coverage=summary.get("coverage"),
        valid=not invalid,
        invalid=invalid,
        interrupted=bool(summary.get("interrupted")),
    )


def _p99(values: list[float]) -> float | None:
    """The 99th percentile with linear interpolation (numpy's default), without numpy."""
    if not values:
        return None
    pos = 0.99 * (len(values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (pos - lo), 4)


def honest(row: ScaleRow) -> bool:
    """Issue 17's rule, on a run the monitor did not void: service-time error p99 < 2 % and
    send lag p99 < 2 ms. A failed step or a missing figure is not honest."""
    m = row.metrics
    return (row.valid and m is not None and m.service_error_p99 is not None
            and m.send_lag_p99_ms is not None
            and m.service_error_p99 < SERVICE_ERROR_HONEST
            and m.send_lag_p99_ms < SEND_LAG_HONEST_MS)


def largest_honest_n(rows: list[ScaleRow]) -> int | None:
    """The largest N up to which every measured size was honest (rows in ascending N).

    Up to, not merely the largest honest one: a box that failed at 12 and passed at 24 was
    lucky at 24, and 'it holds 24' would not be true of 12."""
    best = None
    for row in sorted(rows, key=lambda r: r.pis):
        if not honest(row):
            break
        best = row.pis
    return best


def stop_reason(rows: list[ScaleRow]) -> str:
    """Why not to go on to a bigger N after the rows so far ("" = go on): the last step
    failed, its run was interrupted, its teardown left something, or the last two runs
    were both invalid."""
    if not rows:
        return ""
    last = rows[-1]
    if last.metrics is not None and last.metrics.interrupted:
        return f"N = {last.pis}: the run was interrupted"
    if last.failed:
        return f"N = {last.pis}: {last.failed}"
    if last.leftovers:
        return f"N = {last.pis}: the teardown left {', '.join(last.leftovers)}"
    if len(rows) >= 2 and not rows[-1].valid and not rows[-2].valid:
        return (f"N = {rows[-2].pis} and N = {rows[-1].pis} were both invalid; a bigger lab "
                "on this box will not be more honest")
    return ""


def lab_leftovers(netns_list: str, link_list: str) -> list[str]:
    """What of a lab is still there, from `ip netns list` and `ip -o link show` output:
    `dnnlab-*` namespaces, the `dnnlab0` bridge, and `vl-*` veths on it."""
    left = [line.split()[0] for line in netns_list.splitlines()
            if line.strip().startswith(LAB_NS_PREFIX)]
    for line in link_list.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        if name == LAB_BRIDGE or f"master {LAB_BRIDGE} " in line:
            left.append(name)
    return left


def current_leftovers() -> list[str]:
    """lab_leftovers() of this machine, read with `ip` (read-only)."""
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return lab_leftovers(ns, links)


def inventory_path(root: Path, pis: int) -> Path:
    return Path(root) / "inventory" / f"lab-{pis}.yml"


def write_lab_inventory(root: Path, pis: int, profile: str = PROFILE) -> Path:
    """inventory/lab-N.yml under the bench's results root, through harness.lab_inventory
    (checked with the harness's own reader before it lands)."""
    path = inventory_path(root, pis)
    write_inventory(pis, profile, str(path))
    return path


@contextlib.contextmanager
def results_root(root: Path) -> Iterator[None]:
    """TESTBED_RESULTS_DIR = root while the block runs (harness/paths.py reads it per call),
    then whatever it was before."""
    before = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = before


def fmt(value: float | None, spec: str, scale: float = 1.0, unit: str = "") -> str:
    return "—" if value is None else f"{value * scale:{spec}}{unit}"


def markdown_table(rows: list[ScaleRow], largest: int | None, stopped: str = "") -> str:
    """The table for docs/measurements.md, with the verdict line under it."""
    head = ("| N | K | rate fps (bound) | s | lab up s | site.yml s | service-time error p99 "
            "(max) | send lag p99 ms | min idle CPU | node RSS max / median MB | verdict |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        m = r.metrics
        verdict = ("failed: " + r.failed if r.failed else
                   "valid" if r.valid else f"invalid: {m.invalid}" if m else "not run")
        if r.leftovers:
            verdict += f"; teardown left {', '.join(r.leftovers)}"
        lines.append(
            f"| {r.pis} | {r.k} | {r.rate_fps:g} ({r.capacity_fps:g}) | {r.duration_s:g} "
            f"| {fmt(r.lab_up_s, '.0f')} | {fmt(r.site_s, '.0f')} "
            f"| {fmt(m and m.service_error_p99, '.2f', 100, ' %')} "
            f"({fmt(m and m.service_error_max, '.2f', 100, ' %')}) "
            f"| {fmt(m and m.send_lag_p99_ms, '.2f')} "
            f"| {fmt(m and m.idle_cpu_min, '.1f', 100, ' %')} "
            f"| {fmt(m and m.rss_max_mb, '.1f')} / {fmt(m and m.rss_median_mb, '.1f')} "
            f"| {verdict} |")
    lines.append("")
    lines.append(f"Largest honest N (service-time error p99 < {SERVICE_ERROR_HONEST:.0%}, send "
                 f"lag p99 < {SEND_LAG_HONEST_MS:g} ms, run valid): "
                 + (str(largest) if largest is not None else "none of those measured"))
    if stopped:
        lines.append(f"Stopped early: {stopped}")
    return "\n".join(lines)


def section(rows: list[ScaleRow], stopped: str = "", skipped: str = "") -> dict[str, Any]:
    """The `scale` section of bench/results.json."""
    largest = largest_honest_n(rows)
    return {
        "profile": rows[0].profile if rows else None,
        "load_fraction": LOAD_FRACTION,
        "rule": {"service_error_p99_max": SERVICE_ERROR_HONEST,
                 "send_lag_p99_max_ms": SEND_LAG_HONEST_MS, "run_valid": True},
        "rows": [{**asdict(r), "valid": r.valid, "honest": honest(r)} for r in rows],
        "largest_honest_n": largest,
        "stopped": stopped,
        "skipped": skipped,
        "table": markdown_table(rows, largest, stopped) if rows else "",
    }


class Progress:
    """`[scale +MM:SS] N=12: site.yml ...` lines, flushed as they come."""

    def __init__(self, out=sys.stdout) -> None:
        self.t0 = time.monotonic()
        self.out = out

    def __call__(self, msg: str) -> None:
        s = int(time.monotonic() - self.t0)
        print(f"[scale +{s // 60:02d}:{s % 60:02d}] {msg}", file=self.out, flush=True)


def _playbook(log: Path, playbook: str, *extra: str, inventory: Path) -> float:
    """Run one playbook on the N inventory, its output into `log`; seconds it took."""
    t = time.monotonic()
    try:
        proc = ansible_playbook(playbook, *extra, inventory=str(inventory), check=False,
                                capture=True)
    finally:
        elapsed = time.monotonic() - t
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text((proc.stdout or "") + (proc.stderr or ""))
    if proc.returncode != 0:
        raise RuntimeError(f"{playbook} exited {proc.returncode} after {elapsed:.0f} s "
                           f"(log: {log})")
    return round(elapsed, 1)


def measure(point: LoadPoint, profile: str, root: Path, say: Callable[[str], None]) -> ScaleRow:
    """One lab size from inventory to teardown; the teardown runs whatever happened."""
    row = ScaleRow(pis=point.pis, k=point.k, profile=profile, capacity_fps=point.capacity_fps,
                   rate_fps=point.rate_fps, duration_s=point.duration_s)
    n = point.pis
    logs = Path(root) / "logs"
    step = "inventory"
    inv: Path | None = None
    try:
        inv = write_lab_inventory(root, n, profile)
        step = "lab up"
        say(f"N={n}: lab up ({inv})")
        row.lab_up_s = _playbook(logs / f"lab-{n}-up.log", "playbooks/lab.yml", inventory=inv)
        step = "site.yml"
        say(f"N={n}: lab up in {row.lab_up_s:g} s; site.yml")
        row.site_s = _playbook(logs / f"lab-{n}-site.log", "site.yml", inventory=inv)
        step = "run"
        say(f"N={n}: site.yml in {row.site_s:g} s; dp K={point.k} at {point.rate_fps:g} fps "
            f"(80 % of {point.capacity_fps:g}) for {point.duration_s:g} s "
            f"+ {WARMUP_S:g} s warm-up")
        spec = RunSpec(strategy="dp", k=point.k, rate_fps=point.rate_fps,
                       duration_s=point.duration_s, warmup_s=WARMUP_S, inventory=str(inv),
                       lag_threshold_ms=SEND_LAG_P99_MAX_MS)
        t = time.monotonic()
        console = io.StringIO()
        try:
            with results_root(root):
                summary = run_experiment_quietly(spec, console)
        finally:
            (logs / f"lab-{n}-run.log").write_text(console.getvalue())
        row.run_s = round(time.monotonic() - t, 1)
        row.metrics = metrics_of(summary)
        m = row.metrics
        say(f"N={n}: run {m.run_id} in {row.run_s:g} s: service error p99 "
            f"{fmt(m.service_error_p99, '.2f', 100, ' %')}, send lag p99 "
            f"{fmt(m.send_lag_p99_ms, '.2f', 1, ' ms')}, min idle CPU "
            f"{fmt(m.idle_cpu_min, '.1f', 100, ' %')}, "
            + ("valid" if m.valid else f"invalid: {m.invalid}"))
    except Exception as e:  # any failed step ends this N: recorded, then the teardown
        row.failed = f"{step}: {e}"
        say(f"N={n}: {step} failed: {e}")
    finally:
        if inv is not None:  # no inventory: nothing was brought up, only check below
            say(f"N={n}: lab down")
            try:
                row.lab_down_s = _playbook(logs / f"lab-{n}-down.log", "playbooks/lab.yml",
                                           "-e", "lab_state=absent", inventory=inv)
            except Exception as e:  # recorded; the leftover check below says the rest
                row.failed = "; ".join(x for x in (row.failed, f"lab down: {e}") if x)
        row.leftovers = current_leftovers()
        say(f"N={n}: lab down in {fmt(row.lab_down_s, 'g')} s; "
            + (f"LEFT BEHIND: {', '.join(row.leftovers)}" if row.leftovers else "nothing left"))
    return row


def run_experiment_quietly(spec: RunSpec, console: io.StringIO) -> dict[str, Any]:
    """harness.experiment.run_experiment with its console into `console` (imported here:
    it pulls in the whole run machinery, which the unit tests of this module do not need)."""
    from harness.experiment import run_experiment

    return run_experiment(spec, out=console)


def run_scale(pis: list[int], duration_s: float | None = None, profile: str = PROFILE,
              root: Path = RESULTS_ROOT, out=sys.stdout) -> dict[str, Any]:
    """The whole section: every N in order until done or a stop reason; never starts while
    any lab is up (its teardown would take that lab down too)."""
    say = Progress(out)
    up = current_leftovers()
    if up:
        why = (f"a lab is up ({', '.join(up[:4])}{', ...' if len(up) > 4 else ''}); the scale "
               "bench brings labs up and down and its teardown removes every dnnlab-* "
               "namespace, so it runs only on a box with no lab (fab lab-down first)")
        say(f"skipped: {why}")
        return section([], skipped=why)
    points = [load_point(n, profile, duration_s=duration_s) for n in pis]  # fail before labs
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    say(f"lab sizes {', '.join(str(p.pis) for p in points)} on {profile}; results in {root}")
    rows: list[ScaleRow] = []
    stopped = ""
    for i, point in enumerate(points):
        rows.append(measure(point, profile, root, say))
        stopped = stop_reason(rows) if i + 1 < len(points) else ""
        if stopped:
            say(f"stopping before N = {points[i + 1].pis}: {stopped}")
            break
    result = section(rows, stopped=stopped)
    print(result["table"], file=out, flush=True)
    return result


def write_section(result: dict[str, Any], path: Path = RESULTS_JSON) -> None:
    """Put the `scale` section into results.json, keeping the other sections."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    data["scale"] = result
    path.write_text(json.dumps(data, indent=2) + "\n")


def parse_pis(text: str) -> list[int]:
    sizes = [check_pis(p) for p in str(text).split(",") if p.strip()]
    if not sizes:
        raise ValueError("--pis needs at least one lab size")
    return sorted(set(sizes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pis", default=",".join(map(str, PIS)),
                        help="lab sizes, ascending (default 6,12,24,48)")
    parser.add_argument("--duration", type=float, default=None,
                        help="measured seconds per run (default: max(60, 300 K / rate))")
    parser.add_argument("--profile", default=PROFILE, help=f"device profile ({PROFILE})")
    parser.add_argument("--results", default=str(RESULTS_ROOT),
                        help="results root for inventories, logs, runs and reports "
                             "(default bench/scale-runs)")
    parser.add_argument("--out", default=str(RESULTS_JSON),
                        help="results.json to put the `scale` section in")
    args = parser.parse_args(argv)
    result = run_scale(parse_pis(args.pis), args.duration, args.profile, Path(args.results))
    write_section(result, Path(args.out))
    print(f"scale section written to {args.out}")
    return 1 if result["skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
