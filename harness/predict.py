"""What a run *should* have done, put beside what it did: its spec through the model.

A measured coverage means little on its own: 0.82 at 30 fps is exactly right for the
baseline (B serves 40 ms frames, so ~25 of 30 fps get through) and would be a bug for
strategy 3. This module turns a run's spec into the discrete-event model's parameters
(stage times from the profile and the model's layer table, switch costs from the weights
each switch loads, the per-hop overhead) and calls the strategy module's `predict`, which
wires its nodes from the engine in harness/des.py (the model itself is described there and
in docs/strategies.md, "Predicted vs measured"). A report shows "predicted" next to
"measured"; a gap points at either an emulation artefact or a wrong idea of how a
strategy behaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness import strategies
from harness.capacity import device_profile, has_cost_model, no_cost_reason, profile_names, stage_ms
from harness.des import Links, Params
from harness.fault_spec import parse_fault
from harness.inventory import link_rate_bytes
from harness.link_plan import model_link_ms
from harness.models import DEFAULT_MODEL, describe
from harness.overhead import MessageFit
from harness.overhead import message_fit as overhead_fit
from node_app.profile import Dist, Profile, parse_profile

if TYPE_CHECKING:
    import pandas as pd

    from harness.spec import RunSpec

NO_HOP = ("none: no hop in this run's traces (a task gateway's forwards do not count) and no "
          "node overhead in bench/results.json; predicted WITHOUT per-hop overhead (every "
          "forward costs 0 ms), so predicted latency is low by a few ms per hop and coverage "
          "may be high near capacity")


def predictable(strategy: str) -> bool:
    """Has this strategy a discrete-event model (a `predict` in its module)?"""
    return hasattr(strategies.get(strategy), "predict")


def why_not(spec: dict[str, Any]) -> str | None:
    """Why the model cannot predict this run, in words for the summary and the report;
    None when it can."""
    if spec.get("arrival", "constant") != "constant":
        return (f"the model replays constant arrivals at one rate; this run's arrivals are "
                f"{spec.get('arrival')} (random gaps), which it does not model")
    if spec.get("rates"):
        return ("the model replays one constant rate; this run steps through rates "
                f"{spec.get('rates')}, which it does not model")
    if int(spec.get("sources") or 1) > 1:
        return ("the model replays one data source; this run has "
                f"{spec.get('sources')} (--sources), each its own stream, which it does not "
                "model")
    try:
        if not predictable(str(spec.get("strategy"))):
            return (f"no discrete-event model of strategy {spec.get('strategy')} "
                    "(harness/strategies/)")
    except ValueError:
        return f"unknown strategy {spec.get('strategy')!r}"
    unpredictable = getattr(strategies.get(str(spec.get("strategy"))), "unpredictable", None)
    if unpredictable is not None and (reason := unpredictable(spec)):
        return str(reason)
    try:
        workers = _worker_profiles(spec)
    except ValueError as e:
        return str(e)
    unknown = [p for p in workers if not _priced(spec, p)]
    if unknown:
        return no_cost_reason(unknown) or "a profile has no cost model"
    return None


def predict(strategy: str, rate_fps: float, warmup_frames: int, measure_frames: int,
            queue_size: int, x: int, l1_ms: float, l2_ms: float, switch_ms: float,
            hop_ms: float, whole_ms: float | None = None,
            switch_back_ms: float | None = None,
            parts_ms: tuple[tuple[float, ...], ...] = (),
            b_whole_ms: float | None = None,
            dists: tuple[tuple[str, tuple[Dist, ...]], ...] = (),
            seed: int = 0, admission: str = "whole", send: str = "inline",
            link_ms: dict[str, float] | None = None,
            client_link_ms: dict[str, float] | None = None,
            slow: tuple[tuple[str, float, float], ...] = ()) -> dict[str, Any]:
    """Predicted summary of one run, with the keys of summary.json it can be compared with.

    l1_ms, l2_ms: the model's two pipeline stages (A's on A's device, B's on B's);
    whole_ms: the whole model on A's device (default l1_ms + l2_ms), b_whole_ms on B's
    (strategy 3; default whole_ms); switch_ms: A's switch to help, switch_back_ms its
    switch back (default: the same); hop_ms: the per-hop overhead (no default: it is the
    run's own, see harness/overhead.py); dists, seed: per node (A, B) the service-time
    distributions its profile has for its stages, drawn per frame (harness/des.py);
    parts_ms: dp, mp, tasks: the job times of each part node (harness/des.py `Params`);
    admission: `whole` or `none` (mp, adaptive); send: `inline` or `overlap` (baseline,
    adaptive: harness/des.py `Params`); link_ms, client_link_ms: by node name, what
    emulated links add to its forwards and to the client's frames (harness/des.py `Params`);
    slow: the `slow` faults as (node name, ms after the first frame, factor) (`model_slow`).
    See harness/des.py `simulate` for what is counted.
    """
    try:
        module = strategies.get(strategy)
    except ValueError:
        module = None
    if module is None or not hasattr(module, "predict"):
        known = [n for n, m in strategies.IMPLEMENTED.items() if hasattr(m, "predict")]
        raise ValueError(f"unknown strategy {strategy!r} for the model; known: "
                         f"{', '.join(known)}")
    params = Params(rate_fps=rate_fps, warmup_frames=warmup_frames,
                    measure_frames=measure_frames, queue_size=queue_size, x=x,
                    first_ms=l1_ms, second_ms=l2_ms,
                    whole_ms=l1_ms + l2_ms if whole_ms is None else whole_ms,
                    switch_ms=switch_ms, hop_ms=hop_ms, switch_back_ms=switch_back_ms,
                    parts_ms=tuple(tuple(p) for p in parts_ms), b_whole_ms=b_whole_ms,
                    dists=dists, seed=seed, admission=admission, send=send,
                    link_ms=tuple(sorted((link_ms or {}).items())),
                    client_link_ms=tuple(sorted((client_link_ms or {}).items())),
                    slow=slow)
    return module.predict(params)


def model_slow(spec: dict[str, Any], landed_s: dict[str, float] | None = None
               ) -> tuple[tuple[str, float, float], ...]:
    """The spec's `slow` faults for the model: (the host's node role, ms after the first
    frame's intended time, factor). `landed_s` (host -> s after the first frame, from the
    run's recorded fault windows, `slow_landed_s`) goes before the time the spec asked for:
    the injector counts from the load's start, a little before the first frame. A host
    without a role in the spec's `nodes` is not modelled; nor are other kinds of fault."""
    roles = {str(n["name"]): str(n["role"]) for n in spec.get("nodes") or []
             if n.get("name") and n.get("role")}
    out = []
    for text in spec.get("faults") or []:
        f = parse_fault(str(text))
        if f.kind == "slow" and f.host in roles:
            at_s = (landed_s or {}).get(f.host, f.at_s)
            out.append((roles[f.host], at_s * 1000.0, float(f.factor or 1.0)))
    return tuple(out)


def slow_landed_s(summary: dict[str, Any], spec: dict[str, Any]) -> dict[str, float]:
    """Host -> seconds after the first frame's intended time at which its `slow` fault
    landed, from the summary's fault windows (Unix times) and its measure window."""
    window = summary.get("window") or {}
    rate = float(spec.get("rate_fps") or 0)
    if not window.get("start") or rate <= 0:
        return {}
    first = float(window["start"]) - int(summary.get("warmup_frames") or 0) / rate
    return {str(f["host"]): float(f["start"]) - first for f in summary.get("faults") or []
            if f.get("kind") == "slow" and f.get("ok", True) and f.get("start")}


def predict_spec(spec: dict[str, Any], hop_ms: float | None = None,
                 hop_basis: str = "", fit: MessageFit | None = None,
                 slow_landed: dict[str, float] | None = None) -> dict[str, Any]:
    """`predict` for a spec.json-like dict, with service times from the device profile
    and the model's layer table; `{"skipped": why}` when the model cannot predict the run
    (`why_not`). The result carries `hop_ms` and `hop_basis`: the per-hop overhead used
    and where it came from; hop_ms None means none was known and the prediction was made
    without one (0 ms), which `hop_basis` says.

    Every node is priced by its own device profile (`nodes` of a written spec.json): the
    first stage, the whole model and both switches by the entry node A's, the second stage
    (and strategy 3's second replica) by B's, and the part nodes of dp, mp and tasks
    (replicas, slice nodes, helpers) by theirs. A spec without `nodes` names one profile
    for every node (`profile`, else the one entry of `profiles` other than `native`). The
    two switch costs come from the profile the run recorded (else profiles.json) and the
    weights each switch loads: the whole model to help, the first stage back.

    ftp and bodp (a gateway board) also price each message's bytes (`_predict_board`):
    `fit` is the run's own message cost (`message_fit`), used before `hop_ms`; the result
    then also carries `rate_bytes_per_ms` and `rate_basis`.

    `slow` faults are modelled (`model_slow`; `slow_landed`: when each really landed), the
    other kinds are not.
    """
    reason = why_not(spec)
    if reason:
        return {"skipped": reason}
    workers = _worker_profiles(spec)
    profile = workers[0]  # node A's: the entry node
    b_profile = _role_profile(spec, "B") or profile
    model = str(spec.get("model") or DEFAULT_MODEL)
    warmup = spec.get("warmup_frames")
    measure = spec.get("measure_frames")
    rate = float(spec["rate_fps"])
    if warmup is None:
        warmup = int(round(float(spec.get("warmup_s", 0)) * rate))
    if measure is None:
        measure = int(round(float(spec["duration_s"]) * rate))
    module = strategies.get(str(spec["strategy"]))
    link_ms, client_link_ms, link_basis = model_link_ms(spec)
    links = {"link_ms": link_ms, "client_link_ms": client_link_ms,
             "link_basis": link_basis} if link_basis else {}
    if hasattr(module, "board_jobs"):
        return _predict_board(spec, module, rate, int(warmup), int(measure), hop_ms, hop_basis,
                              fit, slow_landed) | links
    info = describe(model)
    first, second = info.pipeline
    parts_ms: tuple[tuple[float, ...], ...] = ()
    if hasattr(module, "part_jobs_ms"):
        k = int(spec.get("k") or 1)
        parts_ms = module.part_jobs_ms(_part_profiles(spec, profile, k),
                                       int(spec.get("tasks") or 1), model)
    times = [stage_ms(profile, [first], model), stage_ms(b_profile, [second], model),
             stage_ms(profile, [info.whole], model), stage_ms(b_profile, [info.whole], model)]
    if any(t is None for t in times) or parts_ms is None:  # why_not checked; belt and braces
        return {"skipped": no_cost_reason(workers) or "a profile has no cost model"}
    l1, l2, whole, b_whole = (float(t) for t in times)  # type: ignore[arg-type]
    dists = tuple((role, tuple(d)) for role, prof, stages in
                  (("A", profile, [first]), ("B", b_profile, [second]))
                  if (d := _dists(spec, prof, stages)) is not None)
    result = predict(
        strategy=str(spec["strategy"]), rate_fps=rate, warmup_frames=int(warmup),
        measure_frames=int(measure), queue_size=int(spec["queue_size"]), x=int(spec["x"]),
        l1_ms=l1, l2_ms=l2, whole_ms=whole, b_whole_ms=b_whole,
        switch_ms=_switch_ms(spec, profile, info.weights_bytes([info.whole])),
        switch_back_ms=_switch_ms(spec, profile, info.weights_bytes([first])),
        hop_ms=0.0 if hop_ms is None else hop_ms, parts_ms=parts_ms,
        dists=dists, seed=int(spec.get("seed") or 0),
        admission=str(spec.get("admission") or "none"),  # runs before issue 13 had none
        send=str(spec.get("send") or "inline"),  # runs before sends overlapped had none
        link_ms=link_ms, client_link_ms=client_link_ms,
        slow=model_slow(spec, slow_landed),
    )
    return result | {"hop_ms": hop_ms,
                     "hop_basis": hop_basis if hop_ms is not None else NO_HOP} | links


def _board_run(spec: dict[str, Any]) -> tuple[RunSpec, str, list[str]]:
    """ftp, bodp: the run's RunSpec (its own grid, fused depth, scheduler and model), G's
    profile and the devices' (the spec's `nodes` by role, else the one profile of the run)."""
    from harness.spec import RunSpec

    workers = _worker_profiles(spec)
    gateway = _role_profile(spec, "G") or workers[0]
    devices = [str(n["profile"]) for n in spec.get("nodes") or []
               if str(n.get("role", "")).startswith("D") and n.get("profile")]
    k = len(devices) or int(spec.get("k") or 1)
    devices = devices or [workers[0]] * k
    run = RunSpec(strategy=str(spec["strategy"]), model=str(spec.get("model") or DEFAULT_MODEL),
                  k=k, grid=str(spec.get("grid") or "3x3"), fused=int(spec.get("fused") or 0),
                  sched=str(spec.get("sched") or "wsh"), queue_size=int(spec["queue_size"]))
    return run, gateway, devices


def message_fit(spec: dict[str, Any], events: pd.DataFrame | None) -> MessageFit | None:
    """ftp, bodp: the message cost fitted on the run's own task messages, with each task's
    bytes from the strategy's geometry (harness/overhead.py `message_fit`); None for other
    strategies and for a run without task messages."""
    try:
        module = strategies.get(str(spec.get("strategy")))
    except ValueError:
        return None
    if not hasattr(module, "task_bytes") or events is None:
        return None
    run, _gateway, devices = _board_run(spec)
    return overhead_fit(events, [i + o for i, o in module.task_bytes(run, devices)])


def links(spec: dict[str, Any], rate: float | None) -> tuple[Links, str]:
    """What the run's messages' bytes cost: each node's shaped rate (spec.json `nodes`
    `link_rate`, the lab's tc tbf, in bytes per ms), `rate` (fitted) for the rest; and a
    basis in words."""
    shaped = tuple((str(n["role"]), link_rate_bytes(str(n["link_rate"])) / 1000.0)
                   for n in spec.get("nodes") or [] if n.get("link_rate") and n.get("role"))
    words = [f"{role} shaped to {r / 1e3:g} kB/ms" for role, r in shaped]
    return Links(rate=rate, shaped=shaped), "; ".join(words)


def _predict_board(spec: dict[str, Any], module: Any, rate: float, warmup: int, measure: int,
                   hop_ms: float | None, hop_basis: str, fit: MessageFit | None = None,
                   slow_landed: dict[str, float] | None = None) -> dict[str, Any]:
    """ftp and bodp: a gateway G and K devices D0..D(K-1), each priced by its own profile
    (the spec's `nodes` by role, else the one profile of the run), the tasks and rounds
    from the strategy module's `board_jobs` on the run's own grid, fused depth and model.
    A message costs the per-message hop plus its bytes at its link's rate: a shaped link's
    rate where the lab shapes one, else the rate `fit` found in the run's traces; `fit`'s
    per-message cost, the run's own, goes before `hop_ms` (a board run has no forwards of
    its own to measure, so that is the bench's)."""
    run, gateway, devices = _board_run(spec)
    jobs = module.board_jobs(run, gateway, devices)
    if jobs is None:  # why_not checked; belt and braces
        return {"skipped": no_cost_reason([gateway, *devices]) or "a profile has no cost model"}
    if fit is not None and fit.hop_ms is not None:
        hop_ms, hop_basis = fit.hop_ms, fit.basis
    link, shaped_words = links(spec, fit.rate if fit is not None else None)
    rate_basis = "; ".join(w for w in (
        shaped_words, (fit.basis if fit is not None and fit.rate is not None else
                       "no fitted rate: bytes on unshaped links not priced")) if w)
    params = Params(rate_fps=rate, warmup_frames=warmup, measure_frames=measure,
                    queue_size=int(spec["queue_size"]), x=1, first_ms=0.0, second_ms=0.0,
                    whole_ms=0.0, switch_ms=0.0, hop_ms=0.0 if hop_ms is None else hop_ms,
                    parts_ms=jobs.parts_ms, rounds=jobs.rounds, owners=jobs.owners,
                    rest_ms=jobs.rest_ms, links=link, task_bytes=jobs.task_bytes,
                    frame_bytes=jobs.frame_bytes, sched=jobs.sched, reuse=jobs.reuse,
                    slow=model_slow(spec, slow_landed), **_link_params(spec))
    return module.predict(params) | {
        "hop_ms": hop_ms, "hop_basis": hop_basis if hop_ms is not None else NO_HOP,
        "rate_bytes_per_ms": link.rate, "rate_basis": rate_basis}


def _link_params(spec: dict[str, Any]) -> dict[str, Any]:
    """Params' link fields for a spec (harness/link_plan.py `model_link_ms`)."""
    link_ms, client_link_ms, _basis = model_link_ms(spec)
    return {"link_ms": tuple(sorted(link_ms.items())),
            "client_link_ms": tuple(sorted(client_link_ms.items()))}


def _priced(spec: dict[str, Any], profile: str) -> bool:
    """Has `profile` a cost model, by what the run recorded (spec.json `profiles`: null =
    none) or else by profiles.json?"""
    recorded = spec.get("profiles")
    if isinstance(recorded, dict) and profile in recorded and recorded[profile] is None:
        return False
    return has_cost_model(profile)


def _recorded(spec: dict[str, Any], profile: str) -> Profile | None:
    """The profile as the run recorded it (spec.json `profiles`), else profiles.json."""
    recorded = spec.get("profiles")
    entry = recorded.get(profile) if isinstance(recorded, dict) else None
    try:
        return (parse_profile(profile, entry, "spec.json profiles") if entry
                else device_profile(profile) if profile in profile_names() else None)
    except ValueError:
        return None


def _dists(spec: dict[str, Any], profile: str, stages: list[str]) -> list[Dist] | None:
    """The service-time distributions `profile` has for `stages`, None when it has none."""
    prof = _recorded(spec, profile)
    return prof.dists_for(stages) if prof is not None else None


def _switch_ms(spec: dict[str, Any], profile: str, weights_bytes: int) -> float:
    """A switch loading `weights_bytes`, priced by the profile the run recorded (its
    spec.json `profiles`), else by profiles.json; 0 for a profile without a switch cost."""
    recorded = spec.get("profiles")
    entry = recorded.get(profile) if isinstance(recorded, dict) else None
    try:
        prof = (parse_profile(profile, entry, "spec.json profiles") if entry
                else device_profile(profile) if profile in profile_names() else None)
    except ValueError:
        prof = None
    cost = prof.switch_ms(weights_bytes) if prof is not None else None
    return 0.0 if cost is None else cost


def _worker_profiles(spec: dict[str, Any]) -> list[str]:
    """The profiles of the run's worker nodes, entry node A's first: the spec's `nodes`
    (what ran, one profile per host), else `profile` when it names one device for every
    node, else the one entry of `profiles` other than `native`.

    A written spec.json's `profile` joins a mixed run's profiles with `,` (a label for the
    ledger and the report, not a profile name); without `nodes` it cannot say which node
    ran which, so such a spec gets no prediction rather than a guessed one."""
    nodes = [str(n["profile"]) for n in spec.get("nodes") or []
             if n.get("role") != "sink" and n.get("profile")]
    if nodes:
        return nodes
    named = [p for p in str(spec.get("profile") or "").split(",") if p]
    if len(named) > 1:
        raise ValueError(_unplaced(named))
    if named:
        return named
    profiles = spec.get("profiles")
    names = ([p for p in profiles if p != "native"] if isinstance(profiles, dict) else
             [str(p) for p in profiles] if isinstance(profiles, list) else [])
    if len(names) > 1:
        raise ValueError(_unplaced(names))
    if names:
        return names
    raise ValueError("spec names no device profile (`profile`, `nodes` or `profiles`)")


def _unplaced(names: list[str]) -> str:
    return (f"the run mixes profiles {', '.join(names)} but its spec lists no nodes, so "
            "which node ran which profile is not known")


def _role_profile(spec: dict[str, Any], role: str) -> str | None:
    """The profile of the node in `role` (`nodes` of a written spec.json); None if none."""
    for n in spec.get("nodes") or []:
        if n.get("role") == role and n.get("profile"):
            return str(n["profile"])
    return None


def _part_profiles(spec: dict[str, Any], profile: str, k: int) -> list[str]:
    """Profiles of the K part nodes (every worker after the entry node A, in plan order);
    `profile` for each when the spec lists no nodes."""
    nodes = [n for n in spec.get("nodes") or [] if n.get("role") not in ("sink", "A")]
    if len(nodes) == k and all(n.get("profile") for n in nodes):
        return [str(n["profile"]) for n in nodes]
    return [profile] * k
