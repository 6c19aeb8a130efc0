"""Fabric tasks: the command line of the testbed (`fab --list`, `fab --help <task>`).

A thin layer: each task parses its options and calls harness/. Examples:

    fab lab-up                                            # emulated Pis (namespaces + sshd)
    fab provision                                         # ansible-playbook site.yml
    fab experiment --strategy=0 --rate=30 --duration=60   # one run, progress while it runs
    fab experiment --strategy=0 --rates=10,20,30 --step=20 # delivered-vs-offered in one run
    fab experiment --scenario=cao-fig2                    # a run written down in scenarios/
    fab experiment --strategy=0 --rate=30 --repeat=3      # mean +/- 95 % CI of 3 runs
    fab experiment --strategy=3 --enforce-memory          # each lab host capped at its RAM
    fab rerun RUN_ID                                      # the recorded spec, run again
    fab calibrate --hosts=pi1 --repeat=30                 # pi1 -> profiles/calibrated-pi1.json
    fab report --runs=ID,ID                               # side-by-side comparison page
    fab report --runs=ID,ID --export=figures              # + every figure as SVG, PDF, CSV
    fab lab-inventory --pis=24 > inventory/lab-24.yml     # a lab of N emulated Pis
    fab lab-down                                          # remove everything the lab made
    fab lab-down --inventory=inventory/lab-2boxes.yml     # ... on every lab box too
"""

from __future__ import annotations

import sys

from fabric import task
from invoke.exceptions import Exit

from harness import models
from harness.cli import allow_long_one_letter_flags, parameters
from harness.spec import RunSpec, SpecError

allow_long_one_letter_flags()


@task(help={"inventory": "Ansible inventory (default: the emulated lab)"})
def provision(c, inventory=""):
    """Provision the cluster: `ansible-playbook site.yml` (lab up, base, node_app)."""
    from harness.playbooks import provision as run

    run(inventory or None)


@task(name="lab-up", help={"inventory": "Ansible inventory (default: the emulated lab, "
                                           "inventory/lab.yml)"})
def lab_up(c, inventory=""):
    """Bring the emulated lab up (idempotent): bridge, one namespace + sshd per Pi; Pis
    placed on lab boxes (`lab_box:`) on their box, joined by VXLAN (docs/lab.md)."""
    from harness.playbooks import lab_up as run

    run(inventory or None)


@task(name="lab-down", help={"inventory": "Ansible inventory (default: the emulated lab, "
                                             "inventory/lab.yml); a lab across boxes needs "
                                             "its own, to reach the boxes"})
def lab_down(c, inventory=""):
    """Remove every namespace, bridge, VXLAN device, veth and process the lab made, on
    the controller and on every lab box of the inventory."""
    from harness.playbooks import lab_down as run

    run(inventory or None)


@task(
    name="lab-inventory",
    help={
        "pis": "number of emulated Pis, 1..244 (pi1..piN at 198.18.0.11..; the lab role's "
               "/24 holds no more)",
        "profile": "device profile of every host (default rpi3bplus; node_app/profiles.json)",
        "out": "write the inventory here (default: print it, e.g. > inventory/lab-N.yml)",
        "link-rate": "shape every host's link both ways, e.g. 100mbit (tc tbf; default: "
                     "unshaped)",
        "boxes": "place the Pis on Linux boxes, NAME=ADDRESS,... (contiguous blocks; "
                 "docs/lab.md, A lab across boxes); default: all on this machine",
        "controller-vtep": "with --boxes: this machine's address between the boxes",
    },
)
def lab_inventory(c, pis="6", profile="rpi3bplus", out="", link_rate="", boxes="",
                  controller_vtep=""):
    """Write an inventory for N emulated Pis in the form of inventory/lab.yml, checked with
    the harness's own inventory reader; touches no lab (docs/lab.md, "Lab size")."""
    from harness.lab_inventory import write_inventory

    try:
        text = write_inventory(pis, profile, out, link_rate, boxes, controller_vtep)
    except SpecError as exc:
        raise Exit(f"bad spec: {exc.cli_message()}", code=2) from None
    if out:
        print(f"inventory: {out} ({pis} emulated Pis)", file=sys.stderr)
    else:
        sys.stdout.write(text)


@task(
    optional=["enforce_memory"],
    help={
        "strategy": "0/baseline, 1, 2, 3 (Cao), dp, mp, tasks, ftp, bodp (docs/strategies.md)",
        "model": f"model to run: {', '.join(models.names())} (default {models.DEFAULT_MODEL}; "
                 "harness/models/)",
        "k": "devices sharing L2 in dp (replicas), mp (slices), tasks (helpers) (default 2)",
        "tasks": "neuron-block tasks per frame, strategy tasks (default 4)",
        "devices": "edge devices of ftp and bodp (same as --k; default 2)",
        "grid": "ftp: tile grid NxM over the fused output (default 3x3)",
        "fused": "ftp: fused layers from the model's first (default 0 = all 16 of yolov2-16)",
        "sched": "ftp: tile scheduling, wsh (work sharing), wst (work stealing) or wst-s (work "
                 "stealing with data reuse: dependent tiles reuse their neighbours' overlap)",
        "rate": "offered input rate, frames/s (default 30); per source with --sources",
        "sources": "ftp and bodp: S data sources (DeepThings' multi-source runs), each a camera "
                   "at --rate (per source: S x --rate in all) with its own schedule and seed; "
                   "source i is device Di (its frames enter at Di under wst/wst-s, at the "
                   "gateway under wsh and bodp) and its packet ids are i*1000000 + 0, 1, ...; "
                   "1 <= S <= --devices (default 1: one camera)",
        "rates": "rate steps in one run, comma-separated (--rates=10,20,30 --step=20)",
        "step": "length of each rate step, s (default 20)",
        "arrival": "constant (a camera at N fps, default) or poisson (seeded exponential gaps)",
        "arrival_seed": "seed of the Poisson arrivals (default: --seed)",
        "min_duration": "a measured part shorter than this (s) marks the run invalid (default 10)",
        "min_frames": "fewer measure frames than this marks the run invalid (default 100)",
        "client": "where Locust runs: controller (default) or an inventory host, over SSH",
        "clients": "several load clients, comma-separated inventory hosts (--clients=pi5,pi6): "
                   "Locust's distributed mode, the master on the controller, a worker on each "
                   "host sending its interleaved share of the one schedule",
        "lag_threshold": "flag the run when send lag p99 exceeds this, ms (default 5)",
        "duration": "measured window, s (default 60)",
        "warmup": "warm-up before the measured window, s, not counted (default 5)",
        "x": "frames the fast node computes per help episode, strategies 1 and 2 (--x=N)",
        "queue": "incoming queue size per node (default 5)",
        "seed": "seed of the frame generator (default 0)",
        "hosts": "inventory hosts in pipeline order, comma-separated (default: first N)",
        "inventory": "Ansible inventory (default inventory/lab.yml)",
        "profile": "device profile for all nodes, overriding the inventory "
                   "(rpi3bplus, rpi3bplus_half_speed, zero, native)",
        "fault": "inject faults, comma-separated: kill:pi2@20s, stall:pi2@20s:5s, "
                 "link:pi2@20s:1mbit, slow:pi2@20s:x3, partition:pi1+pi2@20s:5s (seconds "
                 "after the load starts)",
        "admission": "whole (default: a fan-out entry refuses a frame whole when a node "
                     "downstream has no room) or none (downstream queues drop, slice by slice)",
        "send": "overlap (a node sends its output while it computes the next frame; the "
                "default of adaptive) or inline (it waits for each send and its reply; the "
                "default of the rest, and the only mode of those that steer by replies); "
                "baseline and adaptive take both (docs/strategies.md, adaptive: \"Sending while "
                "computing\")",
        "scenario": "a scenario: a name in scenarios/ (cao-fig2, ...) or a YAML file holding "
                    "the spec and timed actions (docs/experiments.md); options given here "
                    "and not at their default override the file",
        "repeat": "run the same spec N times (seed + i for repetition i) and report mean "
                  "+/- 95 % CI of each headline number (default 1)",
        "enforce_memory": "lab only: cap each host's memory (a cgroup) at its profile's RAM "
                          "(ram_mb), or with =MB at MB for every host, so a stage too big for "
                          "the device is OOM-killed as on it; refused for real Pis "
                          "(docs/lab.md, Memory)",
        "link": "delay, jitter and loss on links, comma-separated A-B:NAME (the link between "
                "hosts A and B, A may be `client`, B `sink`; NAME a link kind of "
                "harness/links.json with delay_ms: wifi-good, wifi-busy, delay20-jitter5); "
                "netem where the hosts' kernel has it, else node_app (docs/lab.md, Links)",
    }
)
def experiment(c, strategy="0", rate="", duration="60", warmup="5", x="10", queue="5", seed="0",
               hosts="", inventory="inventory/lab.yml", profile="", rates="", step="20",
               arrival="constant", arrival_seed="", min_duration="10", min_frames="100",
               client="controller", lag_threshold="5", k="2", tasks="4", fault="",
               model=models.DEFAULT_MODEL, devices="", grid="3x3", fused="0", sched="wsh",
               scenario="", repeat="1", admission="whole", enforce_memory="", clients="",
               link="", sources="1", send=""):
    """Run one experiment (or --repeat=N of it): start nodes, drive Locust load, collect
    traces, write the report."""
    # Options arrive as text and are checked by RunSpec, so `--rate=abc` gets an error that
    # names the option instead of a traceback from the CLI parser.
    params = dict(locals())
    given = {name: params[name] for name in _EXPERIMENT_OPTIONS}
    try:
        if rate and rates:
            raise SpecError("rates", "give --rate or --rates, not both")
        options = _spec_options(**given)
        if scenario:
            from harness.scenario import load

            defaults = _spec_options(**{n: d for n, d in parameters(experiment.body).items()
                                        if n in _EXPERIMENT_OPTIONS})
            spec = load(scenario).spec({f: v for f, v in options.items() if v != defaults[f]})
        else:
            spec = RunSpec(**options)
        from harness.repeat import run_repeated

        run_repeated(spec, repeat)
    except SpecError as exc:
        raise Exit(f"bad spec: {exc.cli_message()}", code=2) from None
    except RuntimeError as exc:
        raise Exit(f"run failed: {exc}", code=1) from None


def _spec_options(strategy, rate, duration, warmup, x, queue, seed, hosts, inventory, profile,
                  rates, step, arrival, arrival_seed, min_duration, min_frames, client,
                  lag_threshold, k, tasks, fault, model, devices, grid, fused, sched,
                  admission, enforce_memory, clients, link, sources, send) -> dict:
    """`fab experiment`'s options as RunSpec fields (the options' names are the CLI's)."""
    return dict(strategy=strategy, rate_fps=rate or "30", duration_s=duration,
                warmup_s=warmup, x=x, queue_size=queue, seed=seed, hosts=hosts,
                inventory=inventory, profile=profile, rates=rates, step_s=step,
                arrival=arrival, arrival_seed=arrival_seed,
                min_duration_s=min_duration, min_frames=min_frames, client=client,
                lag_threshold_ms=lag_threshold, k=devices or k, tasks=tasks,
                faults=fault, model=model, grid=grid, fused=fused, sched=sched,
                admission=admission, enforce_memory=enforce_memory,
                clients=clients, net_links=link, sources=sources, send=send)


# The task's options that are spec fields: what `--scenario` lets the command line override.
_EXPERIMENT_OPTIONS = tuple(parameters(_spec_options))


@task(
    positional=["run_id"],
    help={
        "run_id": "the run to re-run (a run id, `latest`, or a --repeat group id)",
        "repeat": "run the recorded spec N times (default: 1, or the group's N)",
    },
)
def rerun(c, run_id=None, repeat=""):  # None: Invoke fills a positional with no value only
    """Re-run a recorded run exactly: its spec.json's seed, profile, inventory, hosts and
    strategy options; warns when the code's commit differs from the recorded one.
    `fab rerun RUN_ID [--repeat=N]` (RUN_ID also as --run-id)."""
    from harness.rerun import rerun as run

    try:
        run(run_id or "", repeat)
    except SpecError as exc:
        raise Exit(f"bad spec: {exc.cli_message()}", code=2) from None
    except RuntimeError as exc:
        raise Exit(f"run failed: {exc}", code=1) from None


@task(
    optional=["enforce_memory"],
    help={
        "strategies": "strategy ids, comma-separated (default 0,1,2,3)",
        "x": "X values for strategies 1 and 2, comma-separated (--x=1,2,5,10,20,50,100)",
        "rate": "offered input rate of every run, frames/s (default 30)",
        "duration": "measured window of every run, s (default 60)",
        "warmup": "warm-up of every run, s (default 5)",
        "repeat": "runs per point (default 1), repetition i with seed + i as in fab "
                  "experiment --repeat; the report gives each point's mean +/- 95 % CI and "
                  "draws it as error bars",
        "queue": "incoming queue size per node, comma-separated for a sensitivity sweep "
                 "(--queue=1,5,10: every point at each size; default 5)",
        "profile": "device profile for all nodes, overriding the inventory",
        "no_extend": "do not extend X when strategy 2 has not crossed the baseline",
        "k": "K values for dp, mp, tasks, ftp, bodp, comma-separated (--k=1,2,4; default 2); "
             "dp, mp and tasks need 1 + K hosts (K = 6: 7, `fab lab-inventory --pis=7`), "
             "mp K in 1..6",
        "devices": "edge devices of ftp and bodp, comma-separated (--devices=1,2,4,5); the "
                   "same list as --k, give one of the two; ftp and bodp need 1 + K hosts",
        "grid": "ftp only: tile grids, comma-separated (--grid=1x1,3x3,5x5; default 3x3); "
                "bodp and the others ignore it",
        "sched": "ftp only: schedulers, comma-separated, of wsh, wst, wst-s (default wsh); "
                 "bodp and the others ignore it",
        "sources": "ftp and bodp: data sources, comma-separated (--sources=1,2,4,6), each a "
                   "camera at --rate (per source); every point at each S <= its --devices "
                   "(larger S are skipped for that K); the report draws throughput and max "
                   "latency against sources beside DeepThings' numbers",
        "model": f"model of every run: {', '.join(models.names())} (default "
                 f"{models.DEFAULT_MODEL}; ftp and bodp need a conv model, e.g. yolov2-16)",
        "fused": "ftp: fused layers from the model's first (default 0 = all of them)",
        "tasks": "neuron-block tasks per frame for strategy tasks (default 4)",
        "min_duration": "a measured part shorter than this (s) marks a run invalid (default 10)",
        "min_frames": "fewer measure frames than this marks a run invalid (default 100; "
                      "lower it for slow models at low rates, e.g. --min-frames=1)",
        "inventory": "Ansible inventory (default inventory/lab.yml); every point must fit it",
        "admission": "whole (default) or none, for every run (see fab --help experiment)",
        "link": "links of every run, A-B:NAME comma-separated (see fab --help experiment)",
        "enforce_memory": "lab only: cap every run's hosts at their profile's RAM, or with =MB "
                          "at MB (see fab --help experiment)",
    }
)
def sweep(c, strategies="0,1,2,3", x="1,2,5,10,20,50,100", rate="30", duration="60",
          warmup="5", repeat="1", queue="5", profile="", no_extend=False, k="", tasks="4",
          devices="", grid="", sched="", min_duration="10", min_frames="100",
          model=models.DEFAULT_MODEL, fused="0", inventory="inventory/lab.yml",
          admission="whole", link="", sources="", enforce_memory=""):
    # (min_duration and min_frames before model: invoke gives each option the first free
    # letter of its name as a short flag, and after -m, -i, -n it would give min_frames "-")
    """Run every strategy (at each X, K, grid and sched it uses) and write one report.

    The points are the product of the lists where they apply: ftp at every
    --devices x --grid x --sched, bodp at every --devices only (it has no grid or
    scheduler), strategies 1 and 2 at every --x, dp, mp and tasks at every --k (with
    --rate above every bound, e.g. 160 for K up to 6: delivered fps, speedup over K = 1
    and latency against K, each strategy's capacity bound drawn), every strategy at every
    --queue. --repeat=N runs each point N times: mean +/- 95 % CI in the tables, error
    bars on the curves. Every point is checked before the first run starts, against the
    model and the inventory's size too.
    """
    from harness.sweep import SweepSpec, run_sweep

    try:
        xs = [int(v) for v in x.split(",") if v.strip()]
    except ValueError:
        raise Exit(f"bad spec: --x: integers separated by commas, got {x!r}", code=2) from None
    queues = _items(queue)
    try:
        if not queues:
            raise SpecError("queue_size", f"one size or several, comma-separated, got {queue!r}")
        spec = SweepSpec(
            strategies=[s for s in strategies.split(",") if s.strip()], xs=xs,
            repeats=repeat, extend_to_crossing=not no_extend,
            ks=_items(k), devices=_items(devices), grids=_items(grid), scheds=_items(sched),
            sources=_items(sources),
            queues=queues if len(queues) > 1 else [],
            run={"rate_fps": rate, "duration_s": duration, "warmup_s": warmup,
                 "queue_size": queues[0] if len(queues) == 1 else "5", "profile": profile,
                 "tasks": tasks, "model": model,
                 "fused": fused, "min_duration_s": min_duration, "min_frames": min_frames,
                 "inventory": inventory, "admission": admission, "net_links": link,
                 "enforce_memory": enforce_memory},
        )
        run_sweep(spec)
    except SpecError as exc:
        raise Exit(f"bad spec: {exc.cli_message()}", code=2) from None
    except RuntimeError as exc:
        raise Exit(f"sweep failed: {exc}", code=1) from None


def _items(text: str) -> list[str]:
    """`1,2, 4` -> ['1', '2', '4']: a comma-separated option as its items (checked later)."""
    return [v.strip() for v in str(text).split(",") if v.strip()]


@task(help={"hosts": "inventory hosts to measure, comma-separated",
            "model": f"the model whose stages are timed (default {models.DEFAULT_MODEL})",
            "repeat": "timed runs of every stage after a warm-up (default 30)",
            "name": "profile name (default calibrated-<host>; <name>-<host> for several hosts)",
            "inventory": "Ansible inventory (default inventory/lab.yml)"})
def calibrate(c, hosts="", model=models.DEFAULT_MODEL, repeat="30", name="",
              inventory="inventory/lab.yml"):
    """Measure devices with node_app's own code; write profiles/<name>.json for each, usable
    as --profile=<name> (docs/provisioning.md, Calibration)."""
    from harness.calibrate import calibrate as measure
    from harness.inventory import load_inventory

    try:
        names = _items(hosts)
        if not names:
            raise SpecError("hosts", "name at least one host (--hosts=pi1)")
        if model not in models.names():
            raise SpecError("model", f"unknown model {model!r}; known: "
                                     f"{', '.join(models.names())}")
        try:
            count = int(repeat)
        except ValueError:
            raise SpecError("repeat", f"must be a whole number, got {repeat!r}") from None
        measure(load_inventory(inventory).pick(names), model, count, name)
    except SpecError as exc:
        raise Exit(f"bad option: {exc.cli_message()}", code=2) from None
    except RuntimeError as exc:
        raise Exit(str(exc), code=1) from None


@task(help={"runs": "run ids, comma-separated (see reports/index.html)",
            "out": "output HTML (default reports/compare-<ids>.html)",
            "export": "also write every figure as SVG and PDF, with its numbers as CSV, "
                      "into this directory (for a paper)"})
def report(c, runs="", out="", export=""):
    """Write a side-by-side comparison page of finished runs; rebuild the index."""
    from harness.paths import ledger_path, reports_dir, runs_dir
    from harness.report import export as export_figures
    from harness.report import write_comparison, write_index

    runs_root = runs_dir()

    ids = [r for r in runs.split(",") if r]
    missing = [r for r in ids if not (runs_root / r / "summary.json").exists()]
    if not ids or missing:
        problem = "no run ids given" if not ids else "no such run: " + ", ".join(missing)
        raise Exit(f"bad --runs: {problem} (runs live in {runs_root})", code=2)
    target = out or str(reports_dir() / f"compare-{'_'.join(ids)}.html")
    write_comparison([runs_root / r for r in ids], target)
    write_index(ledger_path(), reports_dir() / "index.html")
    print(f"comparison: {target}", file=sys.stdout)
    if export:
        files = export_figures([runs_root / r for r in ids], export)
        print(f"figures: {len(files)} files in {export}", file=sys.stdout)
