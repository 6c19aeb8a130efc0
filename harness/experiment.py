"""One run from spec to report: the sequence `fab experiment` carries out.

validate spec -> read inventory -> plan (strategy) -> SSH preflight -> start sink
and nodes -> Locust load with progress -> drain -> stop nodes, fetch traces ->
analyse -> summary.json, ledger row, HTML report, index.

Everything that can be wrong with the request fails before the first node is
touched. Once nodes run, every exit path stops them and keeps whatever traces
exist, so an interrupted or failed run still leaves evidence.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from harness import analysis, ledger, netem, report, resources, strategies
from harness.capacity import no_cost_reason, profile_table, shipped
from harness.clocks import ClockLog
from harness.cluster import preflight, start_nodes, stop_and_collect
from harness.fault_spec import parse_fault
from harness.faults import FaultInjector, partition_routes
from harness.frames import frames
from harness.inventory import REPO, Host, link_rate_bytes, load_inventory
from harness.link_plan import NETEM, NODE_APP, LinkPlan, parse_options, resolve
from harness.links import link_table
from harness.load import run_locust
from harness.memcap import RunCaps, cap_plan, start_tolerance
from harness.model import run_stage
from harness.models import describe
from harness.monitor import IdleCpuSampler
from harness.nodeapi import try_stats
from harness.overhead import hop_ms, link_summary
from harness.paths import ledger_path, reports_dir, runs_dir
from harness.plots import fps_text
from harness.predict import message_fit, predict_spec, slow_landed_s, why_not
from harness.sink import Sink
from harness.spec import RunSpec, SpecError
from harness.strategies.plan import body_limit
from node_app.config import DEFAULT_READ_TIMEOUT_S

STAGES_DIR = REPO / "build" / "stages"  # where node_app.yml exports the stage files
PACKAGES = ["numpy", "pandas", "locust", "fabric", "ansible-core", "tensorflow-cpu", "keras"]


def run_experiment(spec: RunSpec, out=sys.stdout) -> dict:
    """Carry out one run; returns its summary (also written to runs/<id>/summary.json)."""
    module = strategies.get(spec.strategy)
    inventory = load_inventory(spec.inventory)
    # More devices than the inventory has hosts: named by the option ftp and bodp document
    # (--devices, an alias of --k), before anything starts.
    strategies.check_host_count(spec, len(inventory.hosts), inventory.path,
                                "devices" if spec.strategy in ("ftp", "bodp") else "k")
    needed = strategies.hosts_needed(module, spec)
    names = spec.hosts or list(inventory.hosts)[:needed]
    if len(names) < needed:
        raise SpecError("hosts", f"{spec.strategy} needs {needed} hosts, got {names}")
    hosts = inventory.pick(names)
    spec.hosts = list(names)  # recorded resolved, so `fab rerun` uses these very hosts
    if spec.profile:
        known = profile_table()
        if spec.profile not in known:
            raise SpecError("profile",
                            f"unknown profile {spec.profile!r}; known: {', '.join(known)}")
        hosts = [dataclasses.replace(h, profile=spec.profile) for h in hosts]
    # --enforce-memory: each lab host's cap, refused now for a real Pi or a profile without
    # RAM; every lab host of the run gets its limit set (or taken off) before the nodes start.
    caps = RunCaps(hosts, cap_plan(spec.enforce_memory, spec.memory_cap_mb, hosts,
                                   profile_table()))
    caps.check()
    sink_host = Host("sink", inventory.controller_address, "", "", "native", False)
    client = _client_host(spec, inventory)
    clients = _client_hosts(spec, inventory, names)
    plan = module.plan(spec, hosts, sink_host)
    # --link: each end a host of the inventory and of this run, each link one the plan sends
    # frames over (harness/link_plan.py); checked now, the mechanism chosen after preflight.
    links = resolve(parse_options(spec.net_links), plan, inventory, spec.seed)
    for fault in map(parse_fault, spec.faults):  # a partition outside the lab's range: now
        if fault.kind == "partition" and set(fault.hosts) <= set(names):
            partition_routes(fault, {h.name: h for h in hosts})
    say = _printer(out)
    say(f"run {spec.run_id}: strategy {spec.strategy}, {spec.rate_fps:g} fps for "
        f"{spec.duration_s:g} s (+{spec.warmup_s:g} s warm-up) on {', '.join(names)}; "
        f"{capacity_words(plan.capacity_fps, [n.host.profile for n in plan.workers])}"
        + ("; memory capped at " + ", ".join(f"{n} {mb} MB" for n, mb in caps.caps.items())
           if caps.enforced else ""))
    preflight(hosts + ([client] if client and client not in hosts else []) + clients)
    probes = choose_mechanism(links, {h.name: h for h in hosts})
    if links:
        say(f"links: {', '.join(a.option.text for a in links.links)} emulated by "
            f"{links.mechanism()}")

    runs = runs_dir()
    run_dir, first_id = runs / spec.run_id, spec.run_id
    for n in range(2, 100):  # two runs started in the same second get distinct ids
        if not run_dir.exists():
            break
        spec.run_id = f"{first_id}-{n}"
        run_dir = runs / spec.run_id
    (run_dir / "traces").mkdir(parents=True, exist_ok=False)
    spec_doc = _spec_document(spec, plan, inventory.path)
    if links:
        spec_doc["link_emulation"] = links.record(link_table()) | {"netem_probe": probes}
    (run_dir / "spec.json").write_text(json.dumps(spec_doc, indent=2))

    client_address: str | list[str] = (
        [h.address for h in clients] if clients
        else client.address if client else inventory.controller_address)
    sink = Sink(inventory.controller_address, spec.run_id, run_dir,
                input_size=describe(spec.model).output_size, extra=plan.sink.extra,
                peers=plan.peers_of(plan.sink, client_address))
    workers = [n for n in plan.workers]
    injector = FaultInjector([parse_fault(f) for f in spec.faults],
                             {n.host.name: n.host for n in workers}, run_dir / "faults.json")
    interrupted = False
    collected: dict[str, str] = {}
    # Each host's clock against the controller's, at the start and end (harness/clocks.py);
    # the sink and a local client share the controller's clock.
    clock_log = ClockLog({n.host.name: n.host.endpoint for n in workers}, client,
                         clients=clients)
    clocks_started = False
    sink.start()
    netem_on: list[Host] = []
    try:
        caps.apply()
        netem_on = apply_netem(links, {h.name: h for h in hosts}, inventory.controller_address)
        not_started = start_nodes({n.host: _run_file(spec, plan, n, client_address, links)
                                   for n in workers}, tolerate=start_tolerance(caps))
        for name in not_started:  # the OOM killer ended it while it loaded its stages
            say(f"warning: {name}: node_app was killed by the kernel's OOM killer at its "
                f"{caps.caps[name]} MB cap while starting; the run goes on without it")
        clock_log.measure("start")
        clocks_started = True
        say("nodes up; sending frames" + (f"; faults: {', '.join(spec.faults)}"
                                          if spec.faults else ""))
        injector.start()
        endpoints = [n.host.endpoint for n in workers] + [sink.endpoint]
        # The box's idle CPU once a second while the load runs (harness/monitor.py); bounded
        # past Locust's own run-time limit, so it stops by itself whatever happens here.
        sampler = IdleCpuSampler(max_s=spec.warmup_s + spec.duration_s + 120.0).start()
        try:
            code = run_locust(spec, plan.targets, plan.input_size, run_dir, endpoints,
                              sink.endpoint, out=out, client=client, clients=clients,
                              master_host=inventory.controller_address,
                              clock_offsets=clock_log.client_offsets_s("start"),
                              client_links=links.client_links())
        finally:
            sampler.stop()
            sampler.write(run_dir)
        if code not in (0, 1):
            say(f"warning: locust exited with {code}; see {run_dir / 'locust.log'}")
        _drain([n.host.endpoint for n in workers], sink.endpoint, plan.capacity_fps, say)
        # Counters only the nodes know (weights_bytes, bytes_out, tasks per helper).
        resources.save_node_stats(run_dir, {n.host.name: try_stats(n.host.endpoint)
                                            for n in workers})
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: stopping nodes and keeping the traces gathered so far")
    finally:
        injector.stop()
        if clocks_started:  # nodes still up: the end measurement, before they stop
            try:
                clock_log.measure("end")
            except KeyboardInterrupt:
                say("interrupted: clocks measured at the start only")
            clock_log.write(run_dir / "clocks.json")
        collected = stop_and_collect([n.host for n in workers], spec.run_id, run_dir / "traces")
        for host in netem_on:  # the hosts' qdiscs back as they were, whatever happened
            try:
                netem.clear(host, rate=host.link_rate)
            except (RuntimeError, OSError) as exc:
                say(f"warning: {exc}")
        # After the nodes stopped: what each host used, then every limit off (memory.json).
        for error in caps.finish(run_dir).get("errors", []):
            say(f"warning: memory cgroup {error}")
        sink_trace = sink.stop()
        if sink_trace.exists():
            shutil.copy(sink_trace, run_dir / "traces" / "sink.csv")
    for name, outcome in collected.items():
        if outcome != "ok":
            say(f"warning: {name}: {outcome}")
    return finish_run(run_dir, say, interrupted=interrupted, collection=collected)


def finish_run(run_dir: Path, say=print, interrupted: bool = False,
               collection: dict[str, str] | None = None) -> dict:
    """Analyse a run directory and write summary, ledger row, report and index."""
    client_csv = run_dir / "client.csv"
    if not client_csv.exists() or client_csv.stat().st_size == 0:
        log = run_dir / "locust.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else "(no locust.log)"
        raise RuntimeError(f"the load generator recorded no frames ({client_csv} is empty); "
                           f"the node traces are kept in {run_dir / 'traces'}. Locust said:\n"
                           f"{tail}")
    run = analysis.load_run(run_dir)
    summary = analysis.summarize(run)
    summary["output_check"] = check_outputs(run_dir, int(run.spec.get("seed", 0)),
                                            str(run.spec.get("model") or ""))
    faults_file = run_dir / "faults.json"
    if faults_file.exists():
        summary["faults"] = json.loads(faults_file.read_text())["windows"]
    # No prediction where the model does not fit the run (Poisson or stepped arrivals, a
    # strategy without a model, a profile without a cost model): the summary says why.
    why = why_not(run.spec)
    if why:
        summary["predicted"] = {"skipped": why}
    else:
        hop, basis = hop_ms(run.events)
        summary["predicted"] = predict_spec(run.spec, hop_ms=hop, hop_basis=basis,
                                            fit=message_fit(run.spec, run.events),
                                            slow_landed=slow_landed_s(summary, run.spec))
    summary.update(resources.summarize(run_dir, run.spec))
    links = link_summary(run.spec, run.events)
    if links:
        summary["link_emulation"] = links
    if run.spec.get("scenario"):
        summary["scenario"] = {"name": run.spec["scenario"], **(run.spec.get("scenario_text")
                                                               or {})}
    if run.spec.get("rerun_of"):
        summary["rerun_of"] = run.spec["rerun_of"]
    if interrupted:
        summary["interrupted"] = True
    summary["warnings"] = analysis.warnings_of(summary)
    if collection:
        summary["collection"] = collection
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    ledger.record(ledger_path(), run.spec, summary)
    reports_dir().mkdir(parents=True, exist_ok=True)
    html = reports_dir() / f"{run_dir.name}.html"
    report.write_run_report(run_dir, summary, html)
    report.write_index(ledger_path(), reports_dir() / "index.html")
    latest = run_dir.parent / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_dir.name)
    say(
        f"delivered {_num(summary['delivered_fps'], 2)} fps of {summary['offered_fps']:g} "
        f"offered, coverage {_num(summary['coverage'], 3)}, latency p50/p95/p99 "
        f"{'/'.join(_num(summary['latency_ms'][p], 1) for p in ('p50', 'p95', 'p99'))} ms, "
        f"drops {json.dumps(summary['drops'])}"
    )
    energy = summary.get("energy") or {}
    if energy.get("j_per_frame") is not None:
        say(f"energy: {energy['j_per_frame']:.4g} J per delivered frame "
            f"({energy['joules']:.4g} J over {energy['window_s']:g} s, all nodes)")
    elif energy:
        say(f"energy: unknown ({energy.get('unknown')})")
    if summary.get("link_emulation"):
        say(f"links: {', '.join(summary['link_emulation']['links'])}")
    seed_said = (summary.get("scenario") or {}).get("seed_reported")
    if seed_said:
        say(f"seed reported (scenario {summary['scenario']['name']}): {seed_said}")
    pred = summary["predicted"]
    if pred.get("coverage") is not None:
        say(f"predicted by the discrete-event model: coverage {pred['coverage']:.3f}, "
            f"{pred['delivered_fps']:.2f} fps" + ("" if pred.get("hop_ms") is not None else
                                                  f" (per-hop overhead: {pred['hop_basis']})"))
    elif pred.get("skipped"):
        say(f"no prediction: {pred['skipped']}")
    if summary.get("capacity_note"):
        say(summary["capacity_note"])
    for warning in summary["warnings"]:
        say(f"warning: {warning}")
    say(f"report: {html}")
    return summary


def capacity_words(capacity_fps: float | None, profiles: list[str]) -> str:
    """The capacity bound for the console: a number, "none (no profile adds time)" for
    inf, or why it is not known (a profile without a cost model), never a made-up 0."""
    if capacity_fps is None:
        return "no capacity bound: " + (no_cost_reason(profiles) or "not known")
    if capacity_fps == float("inf"):
        return "no capacity bound (the profiles add no time)"
    return f"capacity bound {fps_text(capacity_fps)} fps"


def _client_host(spec: RunSpec, inventory) -> Host | None:
    """None = Locust on the controller; else the inventory host it runs on (over SSH)."""
    if spec.client in ("", "controller"):
        return None
    if spec.client not in inventory.hosts:
        known = ", ".join(["controller", *inventory.hosts])
        raise SpecError("client", f"unknown client {spec.client!r}; known: {known}")
    return inventory.hosts[spec.client]


def _client_hosts(spec: RunSpec, inventory, nodes: list[str]) -> list[Host]:
    """`--clients`: the inventory hosts the Locust workers run on; each must exist and must
    not be a node of this run (a node that also sends load would measure itself)."""
    unknown = [c for c in spec.clients if c not in inventory.hosts]
    if unknown:
        raise SpecError("clients", f"unknown host(s) {', '.join(unknown)}; known: "
                        f"{', '.join(inventory.hosts)}")
    busy = [c for c in spec.clients if c in nodes]
    if busy:
        raise SpecError("clients", f"{', '.join(busy)} run(s) a node of this run "
                        f"({', '.join(nodes)}); a load client must be another host")
    return [inventory.hosts[c] for c in spec.clients]


def _num(value: float | None, decimals: int) -> str:
    """A figure for the console; a run that delivered nothing has None, not a crash."""
    return "n/a" if value is None else f"{value:.{decimals}f}"


def check_outputs(run_dir: Path, seed: int, model: str = "") -> dict:
    """Compare the frames the sink kept with the whole model applied on the controller.

    The reference is the model's exported whole-model stage, which tests/test_model.py
    holds equal to Keras' own `predict`; so a mismatch here means the distributed path
    changed a frame (wrong order, wrong stage, corrupted bytes).
    """
    kept = run_dir / "sink" / "outputs.npz"
    if not kept.exists():
        return {"checked": 0, "mismatched": 0, "note": "the sink kept no outputs"}
    outputs = np.load(kept)
    ids = sorted(int(k) for k in outputs.files)
    if not ids:
        return {"checked": 0, "mismatched": 0}
    info = describe(model)
    whole = STAGES_DIR / f"{info.whole}.npz"
    want = run_stage(whole, frames(ids, seed=seed, size=info.input_size))
    bad = [pid for pid, ref in zip(ids, want, strict=True)
           if not np.allclose(outputs[str(pid)], ref, rtol=1e-4, atol=1e-4)]
    return {"checked": len(ids), "mismatched": len(bad), "mismatched_ids": bad[:20],
            "reference": f"{whole.name} (= Keras predict, see tests/test_model.py)"}


def choose_mechanism(links: LinkPlan, hosts: dict[str, Host],
                     probe=None) -> dict[str, dict]:
    """Probe netem on every host that sends over a link (`probe(host) -> Verdict`, over SSH
    by default); netem runs only if every one of them has it, else node_app emulates every
    link (one mechanism per run, so the run is one kind of experiment). A load client's link
    is node_app's (its load client) either way. Returns the verdicts for spec.json."""
    senders = sorted({e.src for a in links.links for e in a.edges if e.src in hosts})
    if not senders:
        return {}
    probe = probe or netem.probe
    verdicts = {name: probe(hosts[name]) for name in senders}
    use_netem = all(v.available for v in verdicts.values())
    for applied in links.links:
        on_hosts = all(e.src in hosts for e in applied.edges)
        applied.mechanism = NETEM if use_netem and on_hosts else NODE_APP
    return {name: {"available": v.available, "reason": v.reason}
            for name, v in verdicts.items()}


def apply_netem(links: LinkPlan, hosts: dict[str, Host], controller: str) -> list[Host]:
    """Install netem's classes on every host that sends over a netem link; the hosts done,
    so the caller clears them at the end (also after a failure part-way)."""
    peers: dict[str, list] = {}
    for applied in links.links:
        if applied.mechanism != NETEM:
            continue
        for e in applied.edges:
            address = controller if e.dst == "sink" else hosts[e.dst].address
            peers.setdefault(e.src, []).append((address, applied.link))
    done: list[Host] = []
    try:
        for name, pairs in peers.items():
            netem.apply(hosts[name], pairs, rate=hosts[name].link_rate)
            done.append(hosts[name])
    except RuntimeError:
        for host in done:
            netem.clear(host, rate=host.link_rate)
        raise
    return done


def _run_file(spec: RunSpec, plan, node, client_address: str | list[str] = "",
              links: LinkPlan | None = None) -> dict:
    first = node.stages[0] if node.stages else ""
    node_links = links.node_links(node.host.name) if links else {}
    slow = {f.host: f.factor for f in map(parse_fault, spec.faults) if f.kind == "slow"}
    input_size = describe(spec.model).stage_input_size(first) if first else plan.input_size
    doc = {
        "run_id": spec.run_id, "stages": node.stages, "next_hops": node.next_hops,
        "queue_size": spec.queue_size, "max_body_bytes": body_limit(input_size),
        "input_size": input_size,
        "profile": node.host.profile, "peers": plan.peers_of(node, client_address),
        "seed": spec.seed,  # a profile's service-time distributions draw from it
    } | ({"links": node_links} if node_links else {}) | _profile_entry(node.host.profile) \
        | ({"help": node.help} if node.help else {}) | node.extra \
        | ({"slow_factor": slow[node.host.name]} if node.host.name in slow else {}) \
        | ({"send": spec.send} if spec.send != "inline" and node.role != "sink" else {})
    timeout = read_timeout_s(doc["max_body_bytes"], [n.host for n in plan.nodes])
    return doc | ({"read_timeout_s": timeout} if timeout is not None else {})


def read_timeout_s(max_body_bytes: int, hosts: list[Host]) -> float | None:
    """run.json `read_timeout_s` when the run's links are shaped (`link_rate`), else None
    (node_app's default, 5 s, from a request's first byte to its last).

    The default guards against a peer that sends slowly on purpose; on a shaped link an
    honest peer is slow too: a BODP band of yolov2-16-608 (tens of MB) takes seconds at 100
    Mbit/s, more while every device sends to the gateway at once, and was refused with 408
    mid-frame. So a node's deadline covers its largest body from every node of the run at
    once at the slowest rate, twice over."""
    rates = [link_rate_bytes(h.link_rate) for h in hosts if h.link_rate]
    if not rates:
        return None
    need = 2.0 * max_body_bytes * len(hosts) / min(rates)
    return round(max(DEFAULT_READ_TIMEOUT_S, need), 1)


def _profile_entry(profile: str) -> dict:
    """run.json `profile_entry` for a profile the nodes do not have (a calibrated
    profiles/<name>.json: node_app/profiles.json on the nodes lists only the shipped ones)."""
    if not profile or shipped(profile):
        return {}
    entry = profile_table().get(profile)
    return {} if entry is None else {"profile_entry": entry}


def frames_in_pipeline(stats: dict) -> int:
    """Frames a node still holds: queued, being worked on (`busy`), or held by its role
    outside the queue (`frames_held`: a task board's frames while their tiles or bands are
    out on the devices)."""
    return (int(stats.get("queue_depth", 0)) + int(stats.get("busy", 0))
            + int(stats.get("frames_held", 0)))


def _drain(workers: list[str], sink: str, capacity_fps: float | None = None,
           say=print, cap_s: float = 300.0) -> None:
    """After the last send, wait until no node holds a frame (each reached the sink or was
    dropped), so stopping the nodes loses nothing still in progress.

    Gives up when nothing moved for `stall_s` (10 s, or three frame times of a slow
    strategy: yolov2-16-608 takes 20 s a frame) or after cap_s in all; a frame then still
    held is traced dropped at stop (`shutdown`, `tasks_incomplete`). A node that sent bytes
    moved: BODP's bands over a shaped link take longer than its capacity bound, which prices
    no bytes, says a frame should (a 26 s frame at 100 Mbit/s was cut off after 11 s).
    """
    frame_s = 1.0 / capacity_fps if capacity_fps and capacity_fps != float("inf") else 0.0
    stall_s = max(10.0, 3.0 * frame_s)
    started = last_move = last_say = time.monotonic()
    last: tuple[int, int, int] | None = None
    while True:
        stats = [try_stats(ep) or {} for ep in workers]
        held = sum(frames_in_pipeline(st) for st in stats)
        sent = sum(int(st.get("bytes_out", 0)) for st in stats)
        delivered = (try_stats(sink) or {}).get("received", 0)
        now = time.monotonic()
        if held == 0 and (held, delivered, sent) == last:
            return
        if (held, delivered, sent) != last:
            last, last_move = (held, delivered, sent), now
        if now - last_move > stall_s or now - started > cap_s:
            say(f"warning: stopping with {held} frame(s) still in the pipeline (nothing moved "
                f"for {now - last_move:.0f} s)")
            return
        if held and now - last_say >= 5.0:
            say(f"draining: {held} frame(s) still in the pipeline")
            last_say = now
        time.sleep(0.2)


def _spec_document(spec: RunSpec, plan, inventory_path: str) -> dict:
    """spec.json: the resolved spec plus everything needed to reproduce the run."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    profiles = profile_table()
    used = sorted({n.host.profile for n in plan.nodes})
    return {
        **spec.to_dict(),
        # The RunSpec exactly as run (the top-level `profile` below is the workers' label, not
        # the --profile option): what `fab rerun` rebuilds the spec from (harness/rerun.py).
        "run_spec": spec.to_dict(),
        "scenario_text": _scenario_text(spec.scenario),
        "rate_fps": spec.rate_fps,
        "warmup_frames": spec.warmup_frames,
        "measure_frames": spec.measure_frames,
        "capacity_fps": plan.capacity_fps,
        "capacity_note": (None if plan.capacity_fps is not None else
                          no_cost_reason(n.host.profile for n in plan.workers)),
        "profile": ",".join(sorted({n.host.profile for n in plan.workers})),
        "profiles": {p: profiles.get(p) for p in used},
        # The link kinds the workers send on, with their energy per byte as priced now
        # (harness/links.json), so the run's energy is recomputed with the same numbers.
        "links": {k: link_table()[k] for k in sorted({n.host.link for n in plan.workers})},
        "nodes": [
            {"name": n.host.name, "role": n.role, "stages": n.stages, "address": n.host.address,
             "next_hops": n.next_hops, "profile": n.host.profile, "link": n.host.link,
             **({"link_rate": n.host.link_rate} if n.host.link_rate else {}),
             **({"lab_box": n.host.lab_box} if n.host.lab_box else {}), **n.extra}
            for n in plan.nodes
        ],
        "targets": plan.targets,
        "inventory_path": inventory_path,
        "started_at": time.time(),
        "git_commit": _git_commit(),
        "versions": versions,
        "host": {"machine": platform.machine(), "python": platform.python_version(),
                 "node": platform.node()},
    }


def _scenario_text(name: str) -> dict[str, str]:
    """The scenario's description and the seed's reported number, kept in spec.json so the
    report can put the seed's figure beside ours even if the file changes later."""
    if not name:
        return {}
    from harness.scenario import load

    try:
        return load(name).text
    except (SpecError, OSError) as exc:  # moved or edited since: a re-run keeps its spec
        return {"unavailable": f"the scenario file cannot be read now: {exc}"}


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else ""
    except OSError:
        return ""


def _printer(out):
    def say(msg: str) -> None:
        out.write(msg + "\n")
        out.flush()

    return say
