"""Exact re-runs: `fab rerun RUN_ID` runs a recorded spec again.

A published number must be reproducible by someone holding only the run directory. The
spec is rebuilt from `runs/<id>/spec.json`'s `run_spec` (the RunSpec as it ran: seeds,
--profile, inventory, the hosts it resolved to, strategy options, faults, scenario), so the
re-run sends the same frames at the same intended times to the same hosts. What the spec
cannot pin is checked and said: the code's commit (a different one is a warning, since the
numbers may move for code reasons) and each host's device profile in today's inventory.

RUN_ID may also be `latest` or a `--repeat` group id (runs/repeats/<id>.json): a group is
re-run as its first spec (`spec` in the group file) N times, which gives back the group's N
seeds (harness/repeat.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from harness.paths import runs_dir
from harness.repeat import load_group, run_repeated
from harness.spec import RunSpec, SpecError, _integer

RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunSpec))


def spec_from_document(doc: dict[str, Any]) -> RunSpec:
    """The RunSpec a spec.json was written from (same run_id; the caller clears it).

    `run_spec` holds it whole. A spec.json written before it existed has the RunSpec's
    fields at its top level, except that `profile` there is the workers' profiles joined
    (a label): one profile is taken as the --profile it ran with, a mix as the inventory's."""
    recorded = doc.get("run_spec")
    if recorded is None:
        recorded = {k: v for k, v in doc.items() if k in RUN_FIELDS}
        if "," in str(recorded.get("profile") or ""):
            recorded["profile"] = ""
    unknown = sorted(set(recorded) - set(RUN_FIELDS))
    if unknown:
        raise SpecError("run_id", f"spec.json has fields this code's RunSpec lacks: "
                        f"{', '.join(unknown)} (written by other code; check out its commit)")
    # A run recorded before issue 13 had no whole-frame admission, and one recorded before
    # sends could overlap sent inline: re-run it as it ran.
    return RunSpec(**{"admission": "none", "send": "inline", **recorded})


def commit_warning(recorded: str | None, current: str | None) -> str | None:
    """The warning when the code differs from the code the run was made with; None when
    both are the same clean commit."""
    if not recorded:
        return ("warning: the run recorded no git commit; the re-run's code may differ from "
                "the code it was made with")
    if recorded != current:
        return (f"warning: the run was made at commit {recorded}, this checkout is at "
                f"{current or 'an unknown commit'}; numbers may differ for code reasons")
    if recorded.endswith("-dirty"):
        return (f"warning: the run was made with uncommitted changes ({recorded}); the "
                "working tree now may not hold the same ones")
    return None


def profile_warnings(doc: dict[str, Any], spec: RunSpec) -> list[str]:
    """Each recorded node's device profile against the one this inventory (or --profile)
    gives it now: an inventory edited since the run would change the emulated devices."""
    from harness.inventory import load_inventory

    if spec.profile:
        return []  # --profile pins every node, as it did in the run
    try:
        hosts = load_inventory(spec.inventory).hosts
    except SpecError as exc:
        return [f"warning: cannot check device profiles: {exc}"]
    out = []
    for node in doc.get("nodes") or []:
        host = hosts.get(node.get("name"))
        if host is not None and node.get("profile") and host.profile != node["profile"]:
            out.append(f"warning: {host.name} ran as {node['profile']}; {spec.inventory} now "
                       f"says {host.profile}")
    return out


def find(run_id: str) -> tuple[Path, dict[str, Any] | None]:
    """The run's spec.json (for a group: its first repetition's) and the group, if any."""
    rid = str(run_id).strip()
    if not rid:
        raise SpecError("run_id", "give the run to re-run: fab rerun RUN_ID (see "
                        "reports/index.html)")
    group = load_group(rid)
    if group is not None:
        rid = group["runs"][0]["run_id"]
    path = runs_dir() / rid / "spec.json"
    if not path.exists():
        raise SpecError("run_id", f"no such run: {rid} (no {path})")
    return path, group


def rerun(run_id: str, repeat: int | str = "", out=sys.stdout) -> dict[str, Any]:
    """Re-run a recorded run (or group); prints the warnings, then the comparison of
    delivered fps with the original's."""
    from harness.experiment import _git_commit

    path, group = find(run_id)
    doc = json.loads(path.read_text())
    n = _integer("repeat", repeat) if str(repeat).strip() else (
        int(group["repetitions"]) if group else 1)
    # A group is re-run from its first spec (repetition 0's seeds), whichever of its runs
    # finished; the commit and profiles are checked against a run it made.
    spec = spec_from_document({"run_spec": group["spec"]} if group else doc)
    original = str(group["group"] if group else spec.run_id)
    spec = dataclasses.replace(spec, run_id="", rerun_of=original)
    for line in [commit_warning(doc.get("git_commit"), _git_commit()),
                 *profile_warnings(doc, spec)]:
        if line:
            out.write(line + "\n")
    out.write(f"re-running {original}: {spec.strategy} at {spec.rate_fps:g} fps on "
              f"{', '.join(spec.hosts) or 'the first hosts of ' + spec.inventory}, seed "
              f"{spec.seed}" + (f", {n} repetitions" if n > 1 else "") + "\n")
    result = run_repeated(spec, n, out=out)
    before = _delivered(group) if group else _delivered_of_run(path.parent)
    after = _delivered(result) if n > 1 else result.get("delivered_fps")
    if before and after is not None:
        out.write(f"delivered fps: {after:.2f} now, {before:.2f} in {original} "
                  f"({(after - before) / before * 100:+.1f} %)\n")
    return result


def _delivered(group: dict[str, Any]) -> float | None:
    return (group.get("metrics") or {}).get("delivered_fps", {}).get("mean")


def _delivered_of_run(run_dir: Path) -> float | None:
    summary = run_dir / "summary.json"
    return json.loads(summary.read_text()).get("delivered_fps") if summary.exists() else None
