"""What a run costs besides time: memory per device, bytes on the wire, tasks per helper.

These are the columns that tell the strategies apart where fps does not: mp exists to cut
per-device memory (~K-fold), and mp and tasks pay for it in traffic. The nodes count what
only they know (/stats `weights_bytes`, `memory`: the buffers each layer allocated while
computing, `bytes_out`, the gateway's `tasks_by_helper`); the
harness fetches /stats once after the drain (`node_stats.json` in the run directory) and
also works the planned numbers out of the run's plan (spec.json `nodes`), so a run whose
stats could not be fetched still shows what it should have cost.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from harness import memcap
from harness.models import describe

NODE_STATS = "node_stats.json"


def save_node_stats(run_dir: Path, stats: dict[str, dict | None]) -> None:
    (Path(run_dir) / NODE_STATS).write_text(json.dumps(stats, indent=2))


def load_node_stats(run_dir: Path) -> dict[str, dict]:
    """Each node's /stats as fetched after the drain (node_stats.json); {} without it."""
    try:
        data = json.loads((Path(run_dir) / NODE_STATS).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def planned_wire_bytes(spec: dict[str, Any], input_size: int | None = None) -> int | None:
    """Payload bytes per frame on the wire by the plan: the client frame plus every hop.

    Follows the share of frames each node sees from the client's targets (cao3 alternates,
    a dp router sends each frame to one replica, mp fans out to all slices); nodes are listed
    upstream first (harness/strategies). A task gateway sends T task inputs and gets T
    partial results (together one output) per frame, then one output to the sink.
    """
    nodes = [n for n in spec.get("nodes", []) if n.get("role") != "sink"]
    if not nodes:
        return None
    info = describe(str(spec.get("model") or ""))
    input_size = info.input_size if input_size is None else input_size
    share: dict[str, float] = {}
    targets = spec.get("targets") or [f"{nodes[0].get('address')}:0"]
    for t in targets:
        addr = t.rpartition(":")[0]
        share[addr] = share.get(addr, 0.0) + 1.0 / len(targets)
    total = float(input_size * 4)
    for n in nodes:
        f = share.get(str(n.get("address")), 0.0)
        stages, hops = n.get("stages") or [], n.get("next_hops") or []
        if not stages or n.get("pull"):
            continue  # helpers' traffic is counted at the gateway
        out = info.stage_output_size(stages[-1]) * 4
        if n.get("tasks"):
            width = int(n["tasks"]["width"])
            total += f * (int(n["tasks"]["blocks"]) * out + 2 * width * 4)
            continue
        per_hop = f / len(hops) if n.get("route") == "least_queue" and hops else f
        for h in hops:
            total += per_hop * out
            addr = h.rpartition(":")[0]
            share[addr] = share.get(addr, 0.0) + per_hop
    return int(round(total))


def _client_frames(run_dir: Path) -> int:
    try:
        with open(Path(run_dir) / "client.csv", newline="") as f:
            return sum(1 for row in csv.DictReader(f) if row.get("status") == "200")
    except OSError:
        return 0


def _tasks_from_trace(run_dir: Path, gateway: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(Path(run_dir) / "traces" / f"{gateway}.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("event") == "task_done":
                    helper = row["detail"].rpartition(":")[0]
                    out[helper] = out.get(helper, 0) + 1
    except OSError:
        pass
    return out


def summarize(run_dir: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """`memory`, `wire` and (strategy tasks) `tasks_per_helper` for summary.json."""
    stats = load_node_stats(run_dir)
    info = describe(str(spec.get("model") or ""))
    ram = {name: (entry or {}).get("ram_mb") for name, entry in
           (spec.get("profiles") or {}).items() if isinstance(entry or {}, dict)}
    memory: dict[str, Any] = {}
    for n in spec.get("nodes", []):
        if n.get("role") == "sink":
            continue
        name = str(n.get("name"))
        measured = (stats.get(name) or {}).get("weights_bytes")
        buffers = (stats.get(name) or {}).get("memory") or {}
        memory[name] = {"role": n.get("role"), "stages": n.get("stages"),
                        "weights_bytes": measured,
                        "planned_weights_bytes": info.weights_bytes(n.get("stages") or []),
                        "peak_layer_bytes": buffers.get("peak_layer_bytes"),
                        "peak_footprint_bytes": buffers.get("peak_footprint_bytes"),
                        "per_layer_bytes": [p.get("buffer_bytes")
                                            for p in buffers.get("per_layer") or []],
                        **rss_against_ram(stats.get(name) or {}, ram.get(n.get("profile")))}
    # Devices holding the split stage (whole, or a slice): what dp, mp and tasks spread.
    # The summary key keeps its old name, `l2_...`: the split stage of Cao's model is L2.
    split = {info.split_stage, *info.slices()}
    l2_holders = [m for m in memory.values() if split & set(m["stages"] or [])]
    per_device = [m["weights_bytes"] if m["weights_bytes"] is not None
                  else m["planned_weights_bytes"] for m in l2_holders]
    frames = _client_frames(run_dir)
    input_bytes = info.input_size * 4  # client frames are float32 (harness/frames.py)
    out_bytes = [s.get("bytes_out") for s in stats.values()]
    measured_wire = None
    if frames and stats and all(isinstance(b, int) for b in out_bytes):
        measured_wire = round((frames * input_bytes + sum(out_bytes)) / frames, 1)
    # Buffers measured while computing (node_app/memory.py), the largest over the nodes
    # that computed layers: DeepThings' per-device footprint (the devices under ftp/bodp).
    peaks = [m["peak_layer_bytes"] for m in memory.values() if m["peak_layer_bytes"]]
    feet = [m["peak_footprint_bytes"] for m in memory.values() if m["peak_footprint_bytes"]]
    result: dict[str, Any] = {
        "memory": {"nodes": memory, "cgroups": cgroups_of(run_dir),
                   "l2_weights_bytes_per_device_max": max(per_device) if per_device else None,
                   "peak_layer_bytes_per_device_max": max(peaks) if peaks else None,
                   "peak_footprint_bytes_per_device_max": max(feet) if feet else None},
        "wire": {"bytes_per_frame": measured_wire,
                 "planned_bytes_per_frame": planned_wire_bytes(spec),
                 "frames_sent": frames,
                 "bytes_out": {k: v.get("bytes_out") for k, v in stats.items()}},
    }
    gateways = [n for n in spec.get("nodes", []) if n.get("tasks")]
    if gateways:
        gw = str(gateways[0].get("name"))
        by = (stats.get(gw) or {}).get("tasks_by_helper") or _tasks_from_trace(run_dir, gw)
        helpers = [str(n.get("name")) for n in spec.get("nodes", []) if n.get("pull")]
        result["tasks_per_helper"] = {h: int(by.get(h, 0)) for h in helpers}
    return result


def rss_against_ram(stats: dict[str, Any], ram_mb: int | None) -> dict[str, Any]:
    """A node's measured resident memory (/stats: the peak, VmHWM, else the RSS after the
    drain) against its device's RAM: `rss_over_ram` is True when the node would not fit in
    the device it emulates, None when either number is not known."""
    peak = stats.get("rss_peak_kb") or stats.get("rss_kb")
    over = None if not peak or not ram_mb else int(peak) > int(ram_mb) * 1024
    return {"rss_kb": stats.get("rss_kb"), "rss_peak_kb": peak, "ram_mb": ram_mb,
            "rss_over_ram": over}


def cgroups_of(run_dir: Path) -> dict[str, Any]:
    """memory.json (harness/memcap.py): per lab host its cap (None: no limit), peak usage,
    how often the limit was hit and OOM kills, with `oom_reason` in the words the summary's
    warnings and the report use; {} without lab cgroups."""
    doc = memcap.load(run_dir)
    if not doc:
        return {}
    hosts = {name: {**h, "oom_reason": memcap.oom_reason(h)}
             for name, h in (doc.get("hosts") or {}).items() if isinstance(h, dict)}
    return {**doc, "hosts": hosts}
