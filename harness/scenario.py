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

Actions are carried out by harness/faults.py, which today can kill, stall, shape a link and
slow a node down (`slow`, factor F: issue 13); each action becomes one of its faults
(`kill:pi2@20s`, `slow:pi2@20s:x3`). The other kinds the issue names (`partition`,
`slowdown` to another profile, `rate`) are refused by name: a scenario that says it
partitions two hosts must not quietly run without the partition.

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
# Action kind -> the keys it takes besides `at` and `do`.
ACTIONS = {"kill": ("host",), "stall": ("host", "for"), "link": ("host", "rate"),
           "slow": ("host", "factor")}
NOT_YET = {
    "partition": "a partition between two hosts needs routes changed inside the namespaces "
                 "(real Pis: an `ip route add prohibit` on each side, over SSH)",
    "slowdown": "a switch to another profile needs node_app to change its device profile while "
                "it runs (`slow` with a `factor` multiplies the node's profile times instead)",
    "rate": "a rate change at a time needs the load schedule to take timed steps "
            "(--rates steps have one length)",
}
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
    as for --fault); `line` is where the file says so."""

    kind: str
    at_s: float
    host: str
    line: int
    for_s: float | None = None
    rate: str | None = None
    factor: float | None = None

    def fault(self) -> str:
        """The harness/faults.py fault this action is carried out as."""
        text = f"{self.kind}:{self.host}@{_plain(self.at_s)}s"
        if self.kind == "stall":
            return f"{text}:{_plain(self.for_s or 0.0)}s"
        if self.kind == "link":
            return f"{text}:{self.rate}"
        if self.kind == "slow":
            return f"{text}:x{_plain(self.factor or 1.0)}"
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
        faults = [a.fault() for a in self.actions] + list(extra)
        try:
            spec = RunSpec(**{**self.fields, **given, "faults": faults,
                              "scenario": self.name})
        except SpecError as exc:
            if exc.field in given:
                raise  # the command line's option is at fault, not the file
            raise ScenarioError(self.path, self._line_of(exc.field),
                                f"{exc.field}: {exc.problem}") from None
        self._check_times(spec)
        return spec

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
    if not scenario.actions:
        return
    known = spec.hosts or list(load_inventory(spec.inventory).hosts)
    for action in scenario.actions:
        if action.host not in known:
            where = "the scenario's hosts" if spec.hosts else f"inventory {spec.inventory}"
            raise ScenarioError(scenario.path, action.line,
                                f"{action.kind}: host {action.host!r} is not in {where} "
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
    if kind in NOT_YET:
        raise ScenarioError(path, kind_line, f"action {kind!r} is not supported yet: "
                            f"{NOT_YET[kind]}; harness/faults.py can do "
                            f"{', '.join(ACTIONS)} today")
    if kind not in ACTIONS:
        raise ScenarioError(path, kind_line, f"unknown action {kind!r}; known: "
                            f"{', '.join(ACTIONS)} (not yet: {', '.join(NOT_YET)})")
    allowed = ("at", "do", *ACTIONS[kind])
    for key, (_v, key_line) in items.items():
        if key not in allowed:
            raise ScenarioError(path, key_line, f"{kind} takes {', '.join(allowed)}, not "
                                f"{key!r}")
    for key in allowed:
        if key not in items:
            raise ScenarioError(path, line, f"{kind} needs `{key}:`")
    at_s = _seconds(path, "at", *items["at"])
    host = items["host"][0]
    if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", host):
        raise ScenarioError(path, items["host"][1], f"host must be an inventory host name, "
                            f"got {host!r}")
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
    factor = None
    if kind == "slow":
        value, factor_line = items["factor"]
        if isinstance(value, str) and value.strip().startswith("x"):
            value = value.strip()[1:]
        try:
            factor = float(value)
        except (TypeError, ValueError):
            factor = math.nan
        if not 1.0 <= factor <= 1000.0:
            raise ScenarioError(path, factor_line, f"factor multiplies the node's profile times, "
                                f"a number in [1, 1000] (3 or x3), got {items['factor'][0]!r}")
    return Action(kind, at_s, host, line, for_s=for_s, rate=rate, factor=factor)


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
