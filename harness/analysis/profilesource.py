"""Where each node's device profile comes from, in words (issue 14: "each report names its
profile's source").

A number emulated on the lab is only as good as the profile behind it, so a report must say,
per profile the run used, which nodes ran on it and why its numbers are what they are:

- `shipped`: a profile of node_app/profiles.json, taken from papers and benchmarks; its
  `basis` text says which and how the numbers were derived.
- `calibrated`: measured by `fab calibrate` (node_app/calibrate.py writes `source:
  calibrated` and `calibration: {host, at, ...}`): where and when it was measured, and its
  basis (device, repeats, page cache).
- `file`: a profiles/<name>.json that `fab calibrate` did not write (a researcher's own);
  its basis if it gives one.
- `native`: no profile time at all: the node runs at the real device's own speed.
- `unknown`: the spec recorded no entry and no profile table has the name (an old run).

The entry judged is the one the run recorded (spec.json `profiles`), else today's table.
"""

from __future__ import annotations

from typing import Any

from harness.capacity import profile_table, shipped

NO_BASIS = "no basis stated in the profile"


def _source_of(name: str, entry: Any, found: bool) -> dict[str, Any]:
    if name == "native" or (found and entry is None):
        return {"source": "native", "basis": "no profile time: the device's own speed, "
                                             "nothing is emulated", "file": None,
                "measured_on": None, "measured_at": None}
    if not found or not isinstance(entry, dict):
        return {"source": "unknown", "basis": "the run recorded no entry for this profile and "
                                              "no profile table has it", "file": None,
                "measured_on": None, "measured_at": None}
    basis = str(entry.get("basis") or NO_BASIS)
    cal = entry.get("calibration")
    if entry.get("source") == "calibrated" or isinstance(cal, dict):
        cal = cal if isinstance(cal, dict) else {}
        return {"source": "calibrated", "basis": basis, "file": f"profiles/{name}.json",
                "measured_on": cal.get("host"), "measured_at": cal.get("at")}
    kind = "shipped" if shipped(name) else "file"
    return {"source": kind, "basis": basis,
            "file": "node_app/profiles.json" if kind == "shipped" else f"profiles/{name}.json",
            "measured_on": None, "measured_at": None}


def profile_sources(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The summary's `profile_sources`: per profile the run's worker nodes used, its
    `source` (see the module), `basis`, `file`, `measured_on` and `measured_at` (calibrated
    only) and the `nodes` on it. A spec node without a profile (older runs) takes the run's
    single `profile`."""
    fallback = _run_profile(spec)
    users: dict[str, list[str]] = {}
    for node in spec.get("nodes") or []:
        if node.get("role") == "sink":
            continue
        name = node_profile(spec, node)
        if name:
            users.setdefault(name, []).append(str(node.get("name")))
    if not users and fallback:
        users[fallback] = []
    return {name: {**_source_of(name, *profile_entry(spec, name)), "nodes": nodes}
            for name, nodes in users.items()}


def node_profile(spec: dict[str, Any], node: dict[str, Any]) -> str | None:
    """A spec node's profile name; a node without one (older runs) takes the run's single
    `profile` (none when the run's label joins several)."""
    name = node.get("profile")
    return str(name) if name else _run_profile(spec)


def profile_entry(spec: dict[str, Any], name: str) -> tuple[Any, bool]:
    """The profile's JSON entry and whether it was found: as the run recorded it (spec.json
    `profiles`, the numbers it ran with), else today's table (older runs only)."""
    recorded = spec.get("profiles")
    if isinstance(recorded, dict) and name in recorded:
        return recorded[name], True
    table = profile_table()
    return table.get(name), name in table


def profile_of(spec: dict[str, Any], node: dict[str, Any]) -> tuple[str | None, Any, bool]:
    """A node's profile name, its entry and whether it was found (`profile_entry`)."""
    name = node_profile(spec, node)
    if name is None:
        return None, None, False
    return (name, *profile_entry(spec, name))


def _run_profile(spec: dict[str, Any]) -> str | None:
    label = str(spec.get("profile") or "")
    return label if label and "," not in label else None

