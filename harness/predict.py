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

from typing import Any

from harness import strategies
from harness.capacity import device_profile, profile_names, stage_ms
from harness.des import Params
from harness.models import DEFAULT_MODEL, describe
from node_app.profile import parse_profile

DEFAULT_HOP_MS = 0.7  # node overhead per forward measured in docs/measurements.md


def predictable(strategy: str) -> bool:
    """Has this strategy a discrete-event model (a `predict` in its module)?"""
    return hasattr(strategies.get(strategy), "predict")


def predict(strategy: str, rate_fps: float, warmup_frames: int, measure_frames: int,
            queue_size: int, x: int, l1_ms: float, l2_ms: float, switch_ms: float,
            hop_ms: float = DEFAULT_HOP_MS, whole_ms: float | None = None,
            switch_back_ms: float | None = None) -> dict[str, Any]:
    """Predicted summary of one run, with the keys of summary.json it can be compared with.

    l1_ms, l2_ms: the model's two pipeline stages (A's, B's); whole_ms: the whole model on
    one device (default l1_ms + l2_ms); switch_ms: A's switch to help, switch_back_ms its
    switch back (default: the same). See harness/des.py `simulate` for what is counted.
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
                    switch_ms=switch_ms, hop_ms=hop_ms, switch_back_ms=switch_back_ms)
    return module.predict(params)


def predict_spec(spec: dict[str, Any], hop_ms: float = DEFAULT_HOP_MS) -> dict[str, Any]:
    """`predict` for a spec.json-like dict, with service times from the device profile
    and the model's layer table.

    The profile is `profile` when set, else the first worker node's (`nodes` of a
    written spec.json), else the first entry of `profiles` other than `native`; a run on
    mixed profiles is predicted as if every node had that one. The two switch costs come
    from the profile the run recorded (else profiles.json) and the weights each switch
    loads: the whole model to help, the first stage back.
    """
    profile = _profile_of(spec)
    model = str(spec.get("model") or DEFAULT_MODEL)
    info = describe(model)
    first, second = info.pipeline
    warmup = spec.get("warmup_frames")
    measure = spec.get("measure_frames")
    rate = float(spec["rate_fps"])
    if warmup is None:
        warmup = int(round(float(spec.get("warmup_s", 0)) * rate))
    if measure is None:
        measure = int(round(float(spec["duration_s"]) * rate))
    return predict(
        strategy=str(spec["strategy"]), rate_fps=rate, warmup_frames=int(warmup),
        measure_frames=int(measure), queue_size=int(spec["queue_size"]), x=int(spec["x"]),
        l1_ms=stage_ms(profile, [first], model), l2_ms=stage_ms(profile, [second], model),
        whole_ms=stage_ms(profile, [info.whole], model),
        switch_ms=_switch_ms(spec, profile, info.weights_bytes([info.whole])),
        switch_back_ms=_switch_ms(spec, profile, info.weights_bytes([first])), hop_ms=hop_ms,
    )


def _switch_ms(spec: dict[str, Any], profile: str, weights_bytes: int) -> float:
    """A switch loading `weights_bytes`, priced by the profile the run recorded (its
    spec.json `profiles`), else by profiles.json; 0 for native or unknown profiles."""
    recorded = spec.get("profiles")
    entry = recorded.get(profile) if isinstance(recorded, dict) else None
    try:
        prof = (parse_profile(profile, entry, "spec.json profiles") if entry
                else device_profile(profile) if profile in profile_names() else None)
    except ValueError:
        prof = None
    cost = prof.switch_ms(weights_bytes) if prof is not None else None
    return 0.0 if cost is None else cost


def _profile_of(spec: dict[str, Any]) -> str:
    if spec.get("profile"):
        return str(spec["profile"])
    for node in spec.get("nodes") or []:
        if node.get("role") != "sink" and node.get("profile"):
            return str(node["profile"])
    profiles = spec.get("profiles")
    if isinstance(profiles, dict):
        names = [p for p in profiles if p != "native"]
        if names:
            return names[0]
    elif isinstance(profiles, list) and profiles:
        return str(profiles[0])
    raise ValueError("spec names no device profile (`profile`, `nodes` or `profiles`)")
