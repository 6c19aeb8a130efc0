"""Experiments as files: `fab experiment --scenario=NAME|FILE`.

A command line is easy to mistype and hard to publish; a scenario file is the run's spec
(RunSpec's field names) plus timed actions, so someone else can run the same experiment
from the same file (Fogify and MockFog describe experiments the same way). A shipped
scenario lives in `scenarios/<name>.yml`; any other path works too.

    description: B at a tenth of A's speed (Cao's Fig. 2)
    strategy: baseline
    rate_fps: 250
    actions:
      - {at: 20s, do: kill, host: pi2}
      - {at: 10s, do: stall, host: pi2, for: 5s}
      - {at: 5s, do: link, host: pi2, rate: 1mbit}
      - {at: 8s, do: partition, hosts: [pi1, pi2], for: 2s}
      - {at: 12s, do: slowdown, host: pi2, profile: rpi3bplus_half_speed}
      - {at: 15s, do: rate, fps: 60}

Most actions are carried out by harness/faults.py, each as one of its faults: kill, stall,
link, slow (`slow:pi2@20s:x3`, issue 13), partition (`partition:pi1+pi2@8s:2s`: prohibit
routes in both hosts, healed after `for` or at the end). `slowdown` is `slow` by another
name; with `profile:` instead of `factor:` the factor is read off the profile table (the
node's own stages, priced on its profile and on the target; refused unless one factor fits
every stage). `rate` is no fault: rate actions become the load schedule's equal-length rate
steps (RunSpec `rates` and `step_s`, harness/schedule.py), so the capacity bound, the per-step
table and the prediction (none: it does not model steps) are those of any stepped run.

The whole file is checked before anything starts, and every error names the file and the
line (PyYAML's node marks, from `yaml.compose`), so a typo in a scenario costs a second.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import SpecError
from harness.inventory import load_inventory
from harness.paths import REPO
from harness.spec import RunSpec

SCENARIOS_DIR = REPO / "scenarios"
# RunSpec fields a scenario may set; run_id is made per run, faults come from `actions`,
# scenario and rerun_of are filled in by the harness.
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(RunSpec)
                    if f.name not in ("run_id", "faults", "scenario", "rerun_of"))
TEXT_KEYS = ("description", "seed_reported")  # free text, kept for the record
# Action kind -> the keys it needs besides `at` and `do`, and the keys it may take.
ACTIONS = {"kill": ("host",), "stall": ("host", "for"), "link": ("host", "rate"),
           "slow": ("host", "factor"), "partition": ("hosts",), "slowdown": ("host",),
           "rate": ("fps",)}
OPTIONAL = {"partition": ("for",), "slowdown": ("factor", "profile")}
# The fault an action is carried out as (`rate` is none: it becomes rate steps).
FAULT_KIND = {"kill": "kill", "stall": "stall", "link": "link", "slow": "slow",
              "partition": "partition", "slowdown": "slow"}
MAX_RATE_STEPS = 1000  # rate actions cut the measured part into equal steps: at most this many
UNIFORM = 1e-3  # relative spread of per-stage ratios still read as one slowdown factor
# A RunSpec error's field -> the scenario fields its value may come from.
_RELATED = {"seed": ("arrival_seed",), "arrival_seed": ("seed",),
            "duration_s": ("rates", "step_s", "rate_fps"), "step_s": ("rates",),
            "warmup_s": ("rate_fps", "rates"), "fault": ("actions",)}
_TIME = re.compile(r"^(\d+(?:\.\d+)?)\s*s$")
_LINK_RATE = re.compile(r"^\d+(?:\.\d+)?[kmg]?bit$")


class ScenarioError(SpecError):
    """A scenario file is wrong; the message starts with `FILE:LINE:`."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        super().__init__("scenario", f"{path}:{line}: {problem}")
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class Action:
    """One timed action: `kind` at `at_s` seconds after the load starts (warm-up included,
    as for --fault); `line` is where the file says so. `host` is "" for `rate`; `peer` is a
    partition's second host; `profile` a slowdown's target profile (factor None until the
    run's spec says which profile the host has: Scenario.spec)."""

    kind: str
    at_s: float
    host: str
    line: int
    for_s: float | None = None
    rate: str | None = None
    factor: float | None = None
    peer: str = ""
    fps: float | None = None
    profile: str = ""

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(h for h in (self.host, self.peer) if h)

    def fault(self, factor: float | None = None) -> str | None:
        """The harness/faults.py fault this action is carried out as (None for `rate`);
        `factor` is a profile slowdown's factor, worked out by Scenario.spec."""
        kind = FAULT_KIND.get(self.kind)
        if kind is None:
            return None
        text = f"{kind}:{'+'.join(self.hosts)}@{_plain(self.at_s)}s"
        if kind == "stall" or (kind == "partition" and self.for_s is not None):
            return f"{text}:{_plain(self.for_s or 0.0)}s"
        if kind == "link":
            return f"{text}:{self.rate}"
        if kind == "slow":
            return f"{text}:x{_plain(factor or self.factor or 1.0)}"
        return text


@dataclass
class Scenario:
    """A checked scenario file: its spec fields, actions and free text."""

    name: str
    path: Path
    fields: dict[str, Any]
    actions: list[Action]
    text: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    def spec(self, overrides: dict[str, Any] | None = None) -> RunSpec:
        """The RunSpec of a run of this scenario; `overrides` are command-line options
        (RunSpec field -> value) that replace the file's, and `faults` among them are added
        to the file's actions. Errors name the file and line where the file is at fault."""
        given = dict(overrides or {})
        extra = given.pop("faults", [])
        extra = [f for f in extra.split(",") if f.strip()] if isinstance(extra, str) else extra
        fields = {**self.fields, **given, "scenario": self.name}
        # First the spec without profile slowdowns (their factor depends on it: the host's
        # profile, the node's stages), then the whole one.
        plain = [f for a in self.actions if not a.profile and (f := a.fault())]
        base = self._build(fields | {"faults": plain + list(extra)}, given)
        self._check_times(base)
        steps = self._rate_steps(base, given)
        faults = [f for a in self.actions
                  if (f := a.fault(self._profile_factor(a, base) if a.profile else None))]
        return self._build(fields | steps | {"faults": faults + list(extra)}, given)

    def _build(self, fields: dict[str, Any], given: dict[str, Any]) -> RunSpec:
        """RunSpec(**fields); an error names the command-line option it comes from, else the
        file's line."""
        try:
            return RunSpec(**fields)
        except SpecError as exc:
            if exc.field in given:
                raise  # the command line's option is at fault, not the file
            if exc.field == "fault":
                self._check_fault_pairs()
            raise ScenarioError(self.path, self._line_of(exc.field),
                                f"{exc.field}: {exc.problem}") from None

    def _check_fault_pairs(self) -> None:
        """A fault error that two actions make together (two slowdowns of one host, two
        partitions of one pair at once) names both actions' lines."""
        by_host: dict[tuple[str, ...], Action] = {}
        for a in sorted(self.actions, key=lambda a: a.at_s):
            kind = FAULT_KIND.get(a.kind)
            if kind not in ("slow", "partition"):
                continue
            key = (kind, *sorted(a.hosts))
            first = by_host.get(key)
            if first is not None and (kind == "slow" or first.for_s is None
                                      or a.at_s < first.at_s + first.for_s):
                what = ("slow the same host: a node takes one slow factor a run (run.json "
                        "slow_factor); give the one it should end at" if kind == "slow" else
                        "partition the same hosts at the same time; healing one would end "
                        "the other")
                raise ScenarioError(self.path, a.line, f"{a.kind} on line {a.line} and "
                                    f"{first.kind} on line {first.line} {what}") from None
            by_host[key] = a

    def _rate_steps(self, spec: RunSpec, given: dict[str, Any]) -> dict[str, Any]:
        """`rates` and `step_s` of the rate actions: the measured part cut into equal steps
        (the schedule's stepped runs), each at the rate in force at its start. {} without
        rate actions. Refuses rate actions beside `rates`/`step_s` (file or command line),
        in the warm-up, at one time twice, or on a grid finer than MAX_RATE_STEPS steps."""
        actions = sorted((a for a in self.actions if a.kind == "rate"), key=lambda a: a.at_s)
        if not actions:
            return {}
        first = actions[0]
        for name, flag in (("rates", "--rates"), ("step_s", "--step")):
            if name in given:
                raise ScenarioError(self.path, first.line, f"rate at {first.at_s:g}s and "
                                    f"the command line's {flag}={_text(given[name])} both set "
                                    "the rate steps; give one of them")
            if name in self.lines:
                raise ScenarioError(self.path, first.line, f"rate at {first.at_s:g}s and "
                                    f"{name} on line {self.lines[name]} both set the rate "
                                    "steps; give one of them")
        warmup = spec.warmup_s
        measured = self._ms(spec.duration_s, self._line_of("duration_s"), "duration_s")
        edges: list[tuple[int, Action]] = []
        for prev, a in zip([None, *actions], actions, strict=False):
            if a.at_s <= warmup:
                raise ScenarioError(self.path, a.line, f"rate at {a.at_s:g}s is not after the "
                                    f"warm-up ({warmup:g}s), which runs at the first rate: set "
                                    "rate_fps to start at another rate")
            if prev is not None and a.at_s == prev.at_s:
                raise ScenarioError(self.path, a.line, f"rate at {a.at_s:g}s is given twice "
                                    f"(also on line {prev.line})")
            edges.append((self._ms(a.at_s - warmup, a.line, "at"), a))
        step = math.gcd(measured, *(ms for ms, _ in edges))
        if measured // step > MAX_RATE_STEPS:
            worst = min(edges, key=lambda e: math.gcd(measured, e[0]))[1]
            raise ScenarioError(self.path, worst.line, f"rate at {worst.at_s:g}s cuts the "
                                f"{spec.duration_s:g}s measured part into {measured // step} "
                                f"equal steps of {step / 1000:g}s (at most {MAX_RATE_STEPS}); "
                                "put rate changes on a coarser grid of times")
        self._whole_frames(None, spec.rate_fps, step)
        for _ms, a in edges:
            self._whole_frames(a, a.fps or 0.0, step)
        rates, rate, todo = [], spec.rate_fps, list(edges)
        for i in range(measured // step):
            while todo and todo[0][0] <= i * step:
                rate = float(todo.pop(0)[1].fps or rate)
            rates.append(rate)
        return {"rates": rates, "step_s": step / 1000.0}

    def _ms(self, seconds: float, line: int, what: str) -> int:
        """A time in whole milliseconds (the grid rate steps are cut on)."""
        ms = round(seconds * 1000.0)
        if abs(seconds * 1000.0 - ms) > 1e-6 or ms <= 0:
            raise ScenarioError(self.path, line, f"{what}: with rate actions, times are whole "
                                f"milliseconds after the warm-up, got {seconds:g}s")
        return ms

    def _whole_frames(self, action: Action | None, fps: float, step_ms: int) -> None:
        frames = fps * step_ms / 1000.0
        if abs(frames - round(frames)) > 1e-6:
            line = action.line if action else self._line_of("rate_fps")
            what = f"rate {fps:g} fps at {action.at_s:g}s" if action else f"rate_fps {fps:g}"
            raise ScenarioError(self.path, line, f"{what} gives {frames:g} frames in each "
                                f"{step_ms / 1000:g}s rate step (the rate actions' times cut "
                                "the measured part into equal steps); a step needs a whole "
                                "number of frames, or the schedule rounds the rate")

    def _profile_factor(self, action: Action, spec: RunSpec) -> float:
        """A `slowdown` to another profile as a factor on the node's own: the target's time
        over the host's for every stage the node runs in this run (its plan), refused unless
        one factor fits them all (UNIFORM) and slows the node down (>= 1)."""
        from harness import strategies
        from harness.capacity import profile_table, stage_ms
        from harness.inventory import Host

        def fail(problem: str) -> ScenarioError:
            return ScenarioError(self.path, action.line, f"slowdown of {action.host} to "
                                 f"profile {action.profile}: {problem}")

        if action.profile not in profile_table():
            raise fail(f"unknown profile; known: {', '.join(profile_table())}")
        inventory = load_inventory(spec.inventory)
        module = strategies.get(spec.strategy)
        names = spec.hosts or list(inventory.hosts)[:strategies.hosts_needed(module, spec)]
        if action.host not in names:
            raise fail(f"{action.host} is not one of this run's hosts ({', '.join(names)})")
        hosts = [dataclasses.replace(h, profile=spec.profile or h.profile)
                 for h in inventory.pick(names)]
        plan = module.plan(spec, hosts, Host("sink", inventory.controller_address, "", "",
                                             "native", False))
        node = next(n for n in plan.workers if n.host.name == action.host)
        stages = list(dict.fromkeys([*node.stages, *(node.help or {}).get("help_stages", [])]))
        own = node.host.profile
        ratios = {}
        for stage in stages:
            try:
                have, want = (stage_ms(p, [stage], spec.model) for p in (own, action.profile))
            except (KeyError, ValueError) as exc:
                raise fail(f"cannot price stage {stage} ({exc}); give `factor:`") from None
            if not have or want is None:
                raise fail(f"{action.host}'s profile {own} prices stage {stage} at "
                           f"{have if have is None else f'{have:g} ms'}: no factor takes it "
                           f"to {action.profile}; give `factor:`")
            ratios[stage] = want / have
        if not ratios:
            raise fail(f"{action.host} runs no stage in this run")
        low, high = min(ratios.values()), max(ratios.values())
        if high - low > UNIFORM * low:
            shown = ", ".join(f"{s} x{r:.4g}" for s, r in ratios.items())
            raise fail(f"not one factor on {own}: its stages slow by {shown}; give `factor:`")
        factor = round((low + high) / 2, 4)
        if not 1.0 <= factor <= 1000.0:
            raise fail(f"a factor of {factor:g} on {own}; a slowdown multiplies profile times "
                       "by a factor in [1, 1000]")
        return factor

    def _line_of(self, field_name: str) -> int:
        """The line of the field a RunSpec error names, else of the field it comes from
        (a frame count that overflows names duration_s; the file may set only rates)."""
        for name in (field_name, *_RELATED.get(field_name, ())):
            if name in self.lines:
                return self.lines[name]
        return 1

    def _check_times(self, spec: RunSpec) -> None:
        """Every action must fall inside the load (warm-up + measured part): a later one
        would never happen, and the report would not say so."""
        end = spec.warmup_s + spec.duration_s
        for action in self.actions:
            if action.at_s >= end:
                raise ScenarioError(self.path, action.line,
                                    f"{action.kind} at {action.at_s:g}s is after the load "
                                    f"ends ({spec.warmup_s:g}s warm-up + {spec.duration_s:g}s "
                                    f"measured = {end:g}s)")


def shipped() -> list[str]:
    """Names of the scenarios in scenarios/."""
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yml"))


def resolve(name_or_path: str) -> Path:
    """`cao-fig2` -> scenarios/cao-fig2.yml; a path (has a `/` or ends in .yml/.yaml) as is,
    relative to the current directory, else to the repository."""
    text = str(name_or_path).strip()
    if not text:
        raise SpecError("scenario", "give a scenario name or file")
    if "/" in text or text.endswith((".yml", ".yaml")):
        path = Path(text).expanduser()
        if not path.is_absolute() and not path.exists():
            path = REPO / text
        if not path.exists():
            raise SpecError("scenario", f"no such file: {text}")
        return path
    path = SCENARIOS_DIR / f"{text}.yml"
    if not path.exists():
        raise SpecError("scenario", f"no scenario named {text!r}; shipped: "
                        f"{', '.join(shipped()) or 'none'} (or give a file path)")
    return path


def load(name_or_path: str) -> Scenario:
    """Read and check a scenario: every field and action, and the spec they make
    (RunSpec's own checks, action times against the load's length, hosts against the
    inventory). Raises ScenarioError naming the file and line."""
    path = resolve(name_or_path)
    try:
        root = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ScenarioError(path, mark.line + 1 if mark else 1,
                            f"not valid YAML: {exc.problem or exc.context}") from None
    if not isinstance(root, yaml.MappingNode):
        raise ScenarioError(path, root.start_mark.line + 1 if root else 1,
                            "a scenario is a mapping of spec fields (strategy, rate_fps, ...) "
                            "and `actions`")
    fields: dict[str, Any] = {}
    lines: dict[str, int] = {}
    text: dict[str, str] = {}
    actions: list[Action] = []
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise ScenarioError(path, line, "keys must be plain names")
        if key in lines:
            raise ScenarioError(path, line, f"{key} is given twice (first on line "
                                f"{lines[key]})")
        lines[key] = line
        if key == "actions":
            actions = _actions(path, value_node)
        elif key in TEXT_KEYS:
            text[key] = str(_value(value_node))
        elif key in SPEC_FIELDS:
            fields[key] = _value(value_node)
        else:
            raise ScenarioError(path, line, f"unknown field {key!r}{_did_you_mean(key)}; a "
                                f"scenario holds RunSpec fields ({', '.join(SPEC_FIELDS)}), "
                                f"{', '.join(TEXT_KEYS)} and actions")
    name = path.stem if path.parent == SCENARIOS_DIR else str(path.resolve())
    scenario = Scenario(name, path,
                        fields, actions, text, lines)
    spec = scenario.spec()
    _check_hosts(scenario, spec)
    return scenario


def _check_hosts(scenario: Scenario, spec: RunSpec) -> None:
    """An action's host must be able to be in the run: one of the spec's hosts when it
    names them, else a host of its inventory."""
    if not any(a.hosts for a in scenario.actions):
        return
    known = spec.hosts or list(load_inventory(spec.inventory).hosts)
    for action in scenario.actions:
        for host in action.hosts:
            if host not in known:
                where = "the scenario's hosts" if spec.hosts else f"inventory {spec.inventory}"
                raise ScenarioError(scenario.path, action.line,
                                    f"{action.kind}: host {host!r} is not in {where} "
                                    f"({', '.join(known)})")


def _actions(path: Path, node: yaml.Node) -> list[Action]:
    if not isinstance(node, yaml.SequenceNode):
        raise ScenarioError(path, node.start_mark.line + 1,
                            "actions is a list, e.g. `- {at: 20s, do: kill, host: pi2}`")
    return [_action(path, item) for item in node.value]


def _action(path: Path, node: yaml.Node) -> Action:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise ScenarioError(path, line, "an action is a mapping, e.g. "
                            "`{at: 20s, do: kill, host: pi2}`")
    items: dict[str, tuple[Any, int]] = {}
    for key_node, value_node in node.value:
        items[str(key_node.value)] = (_value(value_node), value_node.start_mark.line + 1)
    kind, kind_line = items.get("do", (None, line))
    if kind is None:
        raise ScenarioError(path, line, "action without `do:` (the kind: "
                            f"{', '.join(ACTIONS)})")
    kind = str(kind)
    if kind not in ACTIONS:
        raise ScenarioError(path, kind_line, f"unknown action {kind!r}; known: "
                            f"{', '.join(ACTIONS)}")
    needed = ("at", "do", *ACTIONS[kind])
    allowed = (*needed, *OPTIONAL.get(kind, ()))
    for key, (_v, key_line) in items.items():
        if key not in allowed:
            raise ScenarioError(path, key_line, f"{kind} takes {', '.join(allowed)}, not "
                                f"{key!r}")
    for key in needed:
        if key not in items:
            raise ScenarioError(path, line, f"{kind} needs `{key}:`")
    at_s = _seconds(path, "at", *items["at"])
    if kind == "rate":
        return Action(kind, at_s, "", line, fps=_fps(path, *items["fps"]))
    if kind == "partition":
        return _partition(path, line, at_s, items)
    host = _host(path, *items["host"])
    for_s = rate = None
    if kind == "stall":
        for_s = _seconds(path, "for", *items["for"])
        if for_s <= 0:
            raise ScenarioError(path, items["for"][1], f"for must be > 0 s, got {for_s:g}s")
    if kind == "link":
        rate = str(items["rate"][0]).strip()
        if not _LINK_RATE.match(rate):
            raise ScenarioError(path, items["rate"][1], f"rate is a tc rate like 1mbit, "
                                f"500kbit, 10mbit; got {rate!r}")
    if kind == "slowdown" and ("factor" in items) == ("profile" in items):
        raise ScenarioError(path, line, "slowdown takes one of `factor:` (3 or x3) and "
                            "`profile:` (a profile to slow the node down to), "
                            + ("not both" if "factor" in items else "got neither"))
    if "profile" in items:
        profile = items["profile"][0]
        if not isinstance(profile, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", profile):
            raise ScenarioError(path, items["profile"][1], f"profile is a device profile name "
                                f"(node_app/profiles.json), got {profile!r}")
        return Action(kind, at_s, host, line, profile=profile)
    factor = _factor(path, *items["factor"]) if "factor" in items else None
    return Action(kind, at_s, host, line, for_s=for_s, rate=rate, factor=factor)


def _host(path: Path, host: Any, line: int) -> str:
    if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", host):
        raise ScenarioError(path, line, f"host must be an inventory host name, got {host!r}")
    return host


def _partition(path: Path, line: int, at_s: float,
               items: dict[str, tuple[Any, int]]) -> Action:
    """`hosts: [pi1, pi2]`, two different hosts; `for:` optional (else until the end)."""
    hosts, hosts_line = items["hosts"]
    if not isinstance(hosts, list) or len(hosts) != 2:
        raise ScenarioError(path, hosts_line, f"partition cuts two hosts apart: hosts is a "
                            f"list of two, e.g. [pi1, pi2]; got {hosts!r}")
    a, b = (_host(path, h, hosts_line) for h in hosts)
    if a == b:
        raise ScenarioError(path, hosts_line, f"partition needs two different hosts, got "
                            f"{a} twice")
    for_s = None
    if "for" in items:
        for_s = _seconds(path, "for", *items["for"])
        if for_s <= 0:
            raise ScenarioError(path, items["for"][1], f"for must be > 0 s, got {for_s:g}s")
    return Action("partition", at_s, a, line, for_s=for_s, peer=b)


def _factor(path: Path, value: Any, line: int) -> float:
    """`3` or `x3`: a number in [1, 1000]."""
    raw = value
    if isinstance(value, str) and value.strip().startswith("x"):
        value = value.strip()[1:]
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = math.nan
    if not 1.0 <= factor <= 1000.0:
        raise ScenarioError(path, line, f"factor multiplies the node's profile times, a number "
                            f"in [1, 1000] (3 or x3), got {raw!r}")
    return factor


def _fps(path: Path, value: Any, line: int) -> float:
    """A rate action's frames per second: a finite number > 0."""
    try:
        fps = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        fps = math.nan
    if not (math.isfinite(fps) and fps > 0):
        raise ScenarioError(path, line, f"fps is the offered rate from then on, frames/s > 0, "
                            f"got {value!r}")
    return fps


def _seconds(path: Path, key: str, value: Any, line: int) -> float:
    """`20s`, `2.5s` or a bare number of seconds; >= 0 and finite."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and (m := _TIME.match(value.strip())):
        number = float(m.group(1))
    else:
        raise ScenarioError(path, line, f"{key} is a time like 20s or 2.5s, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise ScenarioError(path, line, f"{key} must be a finite time >= 0 s, got {value!r}")
    return number


def _text(value: Any) -> str:
    """An option's value as typed: a list of rates as `10,20`."""
    if isinstance(value, (list, tuple)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _plain(seconds: float) -> str:
    """A time as fault_spec reads it: digits and a point, never `1e-05`."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def _value(node: yaml.Node) -> Any:
    """The Python value of one node, as yaml.safe_load would make it."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, [*SPEC_FIELDS, *TEXT_KEYS, "actions"], n=1)
    from harness.errors import CLI_FLAGS

    by_flag = [f for f, flag in CLI_FLAGS.items() if flag == f"--{key}" and f in SPEC_FIELDS]
    hint = by_flag[0] if by_flag else close[0] if close else ""
    return f" (did you mean {hint}?)" if hint else ""
