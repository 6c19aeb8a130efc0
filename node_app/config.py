"""node.json and run.json as validated dataclasses.

Both files are written by other tools (Ansible, the harness). A typo there would otherwise
surface as a silent sink or a crash deep in a request, so every field is checked on load and
errors name the file and the field.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node_app.link import LinkConfigError, LinkEmulation

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
DEFAULT_READ_TIMEOUT_S = 5.0  # run.json read_timeout_s: time a client has to send a request


class ConfigError(ValueError):
    """A config file is missing, unreadable or has a bad field."""


def _load_json(path: str | Path, what: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot read: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} {path}: invalid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path}: top level must be a JSON object")
    return data


def _check_keys(
    data: dict[str, Any], fields: tuple[str, ...], where: str, optional: tuple[str, ...] = ()
) -> None:
    missing = [k for k in fields if k not in data]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")
    fields = fields + optional
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(fields)})"
        )


def _check_object(data: Any, fields: tuple[str, ...], where: str,
                  optional: tuple[str, ...] = ()) -> None:
    """A nested run.json section: a JSON object with these fields (and maybe `optional`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be an object, got {data!r}")
    _check_keys(data, fields, where, optional)


def _str(data: dict[str, Any], key: str, where: str, *, safe: bool = False) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: field '{key}' must be a non-empty string, got {value!r}")
    if safe and not _SAFE_NAME.match(value):
        raise ConfigError(
            f"{where}: field '{key}' must match [A-Za-z0-9._-]+ (it names a file), got {value!r}"
        )
    return value


def _int(data: dict[str, Any], key: str, where: str, lo: int, hi: int | None = None) -> int:
    value = data[key]
    # bool is an int subclass; "true" as a queue size is a bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{where}: field '{key}' must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{where}: field '{key}' must be {bound}, got {value}")
    return value


def parse_hostport(text: str) -> tuple[str, int]:
    """Split "host:port" (IPv6 as "[::1]:port"); raises ValueError with the reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected 'host:port', got {text!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


@dataclass(frozen=True)
class NodeConfig:
    """Static per-node settings (`/etc/node_app/node.json`, written by Ansible)."""

    node: str
    bind: str
    port: int
    profile: str
    stages_dir: str
    trace_dir: str
    run_file: str
    strict_peers: bool = True
    clock_offset_s: float = 0.0

    FIELDS = ("node", "bind", "port", "profile", "stages_dir", "trace_dir", "run_file")
    # strict_peers: POST /message and /task/* only from run.json `peers` (else 403
    # not_a_peer). On unless node.json says `"strict_peers": false`: on a real LAN anyone
    # could otherwise claim packet ids first or return task results. The harness writes
    # `peers` for every node and the sink; a node started by hand either lists its senders
    # in run.json `peers` or turns this off explicitly.
    # token: accepted and ignored. It guarded the HTTP control endpoints, which went in
    # issue 18 (nothing called them: node_app-ctl stops a node with SIGTERM); provisioning
    # still writes it until its token plumbing is removed too.
    # clock_offset_s: a test/emulation knob, never for production: seconds added to the
    # node's trace clock (every trace row and the GET /clock answer), so a test can give one
    # host a clock that disagrees with the controller's and check that the harness measures
    # and corrects it (harness/clocks.py). Ansible: node_app_clock_offset_s; default 0.
    OPTIONAL = ("strict_peers", "token", "clock_offset_s")
    MAX_CLOCK_OFFSET_S = 86400.0

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "node.json") -> NodeConfig:
        _check_keys(data, cls.FIELDS, where, cls.OPTIONAL)
        strict = data.get("strict_peers", True)
        if not isinstance(strict, bool):
            raise ConfigError(
                f"{where}: field 'strict_peers' must be true or false, got {strict!r}")
        offset = data.get("clock_offset_s", 0.0)
        if (not isinstance(offset, int | float) or isinstance(offset, bool)
                or not abs(offset) <= cls.MAX_CLOCK_OFFSET_S):  # also refuses NaN
            raise ConfigError(f"{where}: field 'clock_offset_s' must be a number of seconds in "
                              f"[-{cls.MAX_CLOCK_OFFSET_S:g}, {cls.MAX_CLOCK_OFFSET_S:g}], "
                              f"got {offset!r}")
        return cls(
            node=_str(data, "node", where, safe=True),
            bind=_str(data, "bind", where),
            port=_int(data, "port", where, 0, 65535),
            profile=_str(data, "profile", where),
            stages_dir=_str(data, "stages_dir", where),
            trace_dir=_str(data, "trace_dir", where),
            run_file=_str(data, "run_file", where),
            strict_peers=strict,
            clock_offset_s=float(offset),
        )

    @classmethod
    def load(cls, path: str | Path) -> NodeConfig:
        return cls.from_dict(_load_json(path, "node config"), f"node config {path}")


HELP_POLICIES = ("cao1", "cao2")


def _names(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data[key]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{where}: field '{key}' must be a non-empty list of names, got {value!r}"
        )
    for i, name in enumerate(value):
        if not isinstance(name, str) or not _SAFE_NAME.match(name):
            raise ConfigError(
                f"{where}: field '{key}'[{i}] must be a name matching [A-Za-z0-9._-]+, got {name!r}"
            )
    return tuple(value)


@dataclass(frozen=True)
class HelpConfig:
    """run.json `help`: the fast node helps the next hop when it says it is overloaded.

    policy: `cao1` (help only) or `cao2` (help, and feed the next hop one frame per helped
    frame); x: frames computed in full per help episode; help_stages: stages that compute a
    whole frame (loaded from disk at each switch); own_stages: the node's usual stages (must
    equal run.json `stages`; reloaded at the switch back); direct_hop: where full frames go.
    """

    policy: str
    x: int
    help_stages: tuple[str, ...]
    own_stages: tuple[str, ...]
    direct_hop: str

    FIELDS = ("policy", "x", "help_stages", "own_stages", "direct_hop")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> HelpConfig:
        _check_object(data, cls.FIELDS, where)
        policy = data["policy"]
        if policy not in HELP_POLICIES:
            raise ConfigError(
                f"{where}: field 'policy' must be one of {', '.join(HELP_POLICIES)}, got {policy!r}"
            )
        hop = _hop(data["direct_hop"], where, "'direct_hop'")
        return cls(
            policy=policy,
            x=_int(data, "x", where, 1),
            help_stages=_names(data, "help_stages", where),
            own_stages=_names(data, "own_stages", where),
            direct_hop=hop,
        )


@dataclass(frozen=True)
class LocalConfig:
    """run.json `local` (the adaptive entry, route `adaptive`; issue 13): the entry also
    takes a share of the heavy stage itself. `stages` are loaded once at start and run after
    its own on the frames it keeps; their output goes straight to `direct_hop` (the sink)."""

    stages: tuple[str, ...]
    direct_hop: str

    FIELDS = ("stages", "direct_hop")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LocalConfig:
        _check_object(data, cls.FIELDS, where)
        hop = _hop(data["direct_hop"], where, "'direct_hop'")
        return cls(stages=_names(data, "stages", where), direct_hop=hop)


ROUTES = ("least_queue", "all", "adaptive")
# run.json `admission` (an entry that fans frames out: route all/adaptive, or tasks): `whole`
# refuses a frame whole at the entry (dropped, reason `admission`) when a downstream node has
# no room for it (node_app/feedback.py); `none` is the behaviour before issue 13.
ADMISSIONS = ("whole", "none")
# run.json `send`: `inline` (default) sends each output from the worker thread and waits for
# the reply; `overlap` hands it to a sender thread and computes on (node_app/outbox.py). Only
# for roles that do not steer by the reply: a plain stage and the adaptive entry.
SENDS = ("inline", "overlap")
DEFAULT_HEARTBEAT_MS = 20.0  # run.json heartbeat_ms: how often an entry polls GET /feedback


def _hop(value: Any, where: str, field: str) -> str:
    """A "host:port" string, else ConfigError naming `field` (quoted, with any index)."""
    try:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        parse_hostport(value)
    except ValueError as e:
        raise ConfigError(f"{where}: field {field}: {e}") from None
    return value


@dataclass(frozen=True)
class SliceConfig:
    """run.json `slice` (model parallelism): this node computes output slice `index` of `of`.

    Its output goes to the (single) next hop with header `X-Slice: <index>/<of>`, so the
    merging sink knows where the partial output belongs.
    """

    index: int
    of: int

    FIELDS = ("index", "of")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> SliceConfig:
        _check_object(data, cls.FIELDS, where)
        of = _int(data, "of", where, 1)
        return cls(index=_int(data, "index", where, 0, of - 1), of=of)


TILE_SCHEDULERS = ("wsh", "wst", "wst-s")  # DeepThings' work sharing, stealing, + data reuse


@dataclass(frozen=True)
class TilesConfig:
    """run.json `tiles` inside `tasks` or `pull` (FTP, DeepThings): a task is one tile of an
    N x M grid over the output of the first `fused` layers of the node's (single) stage,
    computed from its own input region (node_app/tiles.py), not a neuron block.

    sched: `wsh` (default: the gateway cuts frames, devices pull tiles from it) or `wst`
    (a device cuts the frames it receives, idle devices steal tiles from it; the gateway
    keeps the victim registry and merges: node_app/roles/steal_gateway.py, steal_device.py)
    or `wst-s` (as `wst`, tiles in checkerboard order, dependent tiles reuse the overlap
    their neighbours computed, kept at the gateway: reuse_gateway.py, reuse_device.py).
    """

    grid: tuple[int, int]
    fused: int
    sched: str = "wsh"

    FIELDS = ("grid", "fused")

    @property
    def count(self) -> int:
        return self.grid[0] * self.grid[1]

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TilesConfig:
        _check_object(data, cls.FIELDS, where, optional=("sched",))
        g = data["grid"]
        if (not isinstance(g, list) or len(g) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                           for v in g)):
            raise ConfigError(f"{where}: field 'grid' must be [N, M] with N, M >= 1, got {g!r}")
        sched = data.get("sched", "wsh")
        if sched not in TILE_SCHEDULERS:
            raise ConfigError(f"{where}: field 'sched' must be one of "
                              f"{', '.join(TILE_SCHEDULERS)}, got {sched!r}")
        return cls(grid=(g[0], g[1]), fused=_int(data, "fused", where, 1), sched=sched)


@dataclass(frozen=True)
class BandsConfig:
    """run.json `bands` inside `tasks` or `pull` (BODP, MoDNN): the layers of the node's
    (single) stage run one at a time, each layer's output rows cut into one band per device
    in proportion to its speed (node_app/tiles.py biased_rows). `devices` names the devices
    (node.json `node`, the X-Node they pull with) in band order, `speeds` their relative
    speeds; band k of every layer is leased to devices[k] only (MoDNN assigns statically).
    A task is one band of one layer: block = layer * K + k, so `blocks` is layers x K."""

    devices: tuple[str, ...]
    speeds: tuple[float, ...]

    FIELDS = ("devices", "speeds")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> BandsConfig:
        _check_object(data, cls.FIELDS, where)
        devices = _names(data, "devices", where)
        if len(set(devices)) != len(devices):
            raise ConfigError(f"{where}: field 'devices' names a device twice: {list(devices)}")
        speeds = data["speeds"]
        if (not isinstance(speeds, list) or len(speeds) != len(devices)
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and 0 < v < float("inf") for v in speeds)):  # also refuses NaN
            raise ConfigError(f"{where}: field 'speeds' must be a list of {len(devices)} "
                              f"positive numbers (one per device), got {speeds!r}")
        return cls(devices=devices, speeds=tuple(float(v) for v in speeds))


def _tiles(data: dict[str, Any], where: str, blocks: int) -> TilesConfig | None:
    """The optional `tiles` of a `tasks` or `pull` section; its grid must have `blocks`
    tiles (a task is a tile)."""
    if data.get("tiles") is None:
        return None
    if data.get("bands") is not None:
        raise ConfigError(f"{where}: fields 'tiles' and 'bands' cannot be combined (a task "
                          "is a tile of FTP or a band of BODP)")
    tiles = TilesConfig.from_dict(data["tiles"], f"{where}: field 'tiles'")
    if tiles.count != blocks:
        raise ConfigError(f"{where}: field 'blocks' ({blocks}) must equal the tiles of "
                          f"'tiles'.grid ({tiles.grid[0]} x {tiles.grid[1]})")
    return tiles


def _bands(data: dict[str, Any], where: str, blocks: int) -> BandsConfig | None:
    """The optional `bands` of a `tasks` or `pull` section; `blocks` must be a multiple of
    its devices (layers x devices; the role checks the layers against its stage)."""
    if data.get("bands") is None:
        return None
    bands = BandsConfig.from_dict(data["bands"], f"{where}: field 'bands'")
    if blocks % len(bands.devices):
        raise ConfigError(f"{where}: field 'blocks' ({blocks}) must be the stage's layers x "
                          f"the {len(bands.devices)} devices of 'bands'")
    return bands


@dataclass(frozen=True)
class PullConfig:
    """run.json `pull` (task sharing, helper side): ask `gateway` for tasks when idle.

    blocks: T, the number of neuron blocks the gateway cuts each frame's layer into; the
    helper computes block i as columns [i*n//T, (i+1)*n//T) of its single dense layer.
    """

    gateway: str
    blocks: int
    tiles: TilesConfig | None = None
    bands: BandsConfig | None = None

    FIELDS = ("gateway", "blocks")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PullConfig:
        _check_object(data, cls.FIELDS, where, optional=("tiles", "bands"))
        blocks = _int(data, "blocks", where, 1)
        return cls(gateway=_hop(data["gateway"], where, "'gateway'"), blocks=blocks,
                   tiles=_tiles(data, where, blocks), bands=_bands(data, where, blocks))


@dataclass(frozen=True)
class TasksConfig:
    """run.json `tasks` (task sharing, gateway side): cut each frame's output into `blocks`
    neuron-block tasks that helpers pull; `width` is the assembled output size (L2's).
    With `tiles` (FTP), the tasks are the tiles of a grid instead (TilesConfig); with
    `bands` (BODP), the row bands of each layer in turn (BandsConfig)."""

    blocks: int
    width: int
    tiles: TilesConfig | None = None
    bands: BandsConfig | None = None

    FIELDS = ("blocks", "width")

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TasksConfig:
        _check_object(data, cls.FIELDS, where, optional=("tiles", "bands"))
        width = _int(data, "width", where, 1)
        blocks = _int(data, "blocks", where, 1, width)
        return cls(blocks=blocks, width=width, tiles=_tiles(data, where, blocks),
                   bands=_bands(data, where, blocks))


@dataclass(frozen=True)
class RunConfig:
    """Per-run settings (`/etc/node_app/run.json`, written by the harness before a run)."""

    run_id: str
    stages: tuple[str, ...]
    next_hops: tuple[str, ...]
    queue_size: int
    max_body_bytes: int
    input_size: int
    profile: str = ""
    keep_outputs: int = 0
    outputs_file: str = ""
    help: HelpConfig | None = None
    route: str = ""
    slice: SliceConfig | None = None
    slices: int = 0
    tasks: TasksConfig | None = None
    pull: PullConfig | None = None
    peers: tuple[str, ...] = ()
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    admission: str = "none"
    send: str = "inline"
    heartbeat_ms: float = DEFAULT_HEARTBEAT_MS
    slow_factor: float = 0.0
    local: LocalConfig | None = None
    seed: int = 0
    profile_entry: dict[str, Any] | None = None
    links: dict[str, dict[str, Any]] | None = None

    FIELDS = ("run_id", "stages", "next_hops", "queue_size", "max_body_bytes", "input_size")
    # profile: overrides node.json's device profile for this run ("" = keep it);
    # keep_outputs/outputs_file: a sink keeps the first N frames it receives and writes
    # them to outputs_file (.npz, key = packet id) at stop, so the controller can check
    # the distributed result against the model.
    # help: adaptive helping of the next hop (Cao's strategies 1 and 2), see HelpConfig.
    # route: how a node with several next hops picks them (node_app/routing.py):
    #   `least_queue` (data parallelism: one replica per frame, by the replies' queue depth)
    #   or `all` (model parallelism: every hop gets the frame).
    # slice: model-parallel slice node, forwards with `X-Slice: i/K` (SliceConfig).
    # slices: a sink that merges K slices per frame (`slice_received` until all K arrived).
    # tasks / pull: task sharing, gateway / helper side (node_app/roles/task_gateway.py,
    #   task_helper.py; with `tiles` FTP, tile_gateway.py / tile_helper.py; with `bands`
    #   BODP, band_gateway.py / band_helper.py).
    # peers: IP addresses allowed to POST data here when node.json `strict_peers` is on (the
    #   harness writes the client's address for entry nodes and each upstream node's).
    # read_timeout_s: a request must be complete this long after its first byte, else 408
    #   (and an idle keep-alive connection is closed after it); node_app/conn.py.
    # send: `inline` or `overlap` (SENDS): whether the worker waits for each send.
    # admission: `whole` or `none` (ADMISSIONS); heartbeat_ms: the period of an admitting
    #   or adaptive entry's GET /feedback polls of its next hops (node_app/feedback.py).
    # local: the adaptive entry's own share of the heavy stage (LocalConfig).
    # slow_factor: F of the `slow` fault: on SIGUSR1 the node's profile times are multiplied
    #   by F from then on (node_app/node.py Node.slow_down; harness/faults.py sends it).
    # seed: the run's seed (spec.json `seed`); a profile with service-time distributions
    #   draws each frame's time from an RNG seeded by it and the node's name, so a run's
    #   waiting is reproducible.
    # profile_entry: the profile itself (as spec.json `profiles` records it), for profiles
    #   that are not in the node's profiles.json (a calibrated profiles/<name>.json).
    # links: per hop this node forwards to, the link the Forwarder emulates before each send
    #   ({delay_ms, jitter_ms, loss_pct, seed}; node_app/link.py), where netem does not.
    OPTIONAL = ("profile", "keep_outputs", "outputs_file", "help", "route", "slice", "slices",
                "tasks", "pull", "peers", "read_timeout_s", "admission", "heartbeat_ms",
                "slow_factor", "local", "seed", "profile_entry", "links", "send")

    @property
    def is_sink(self) -> bool:
        """No stages and nowhere to send: just record arrivals (contract: sink)."""
        return not self.stages and not self.next_hops

    @property
    def frame_bytes(self) -> int:
        return self.input_size * 4

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "run.json") -> RunConfig:
        _check_keys(data, cls.FIELDS, where, cls.OPTIONAL)
        stages = data["stages"]
        if not isinstance(stages, list):
            raise ConfigError(f"{where}: field 'stages' must be a list of names, got {stages!r}")
        for i, name in enumerate(stages):
            if not isinstance(name, str) or not _SAFE_NAME.match(name):
                raise ConfigError(
                    f"{where}: field 'stages'[{i}] must be a name matching [A-Za-z0-9._-]+, "
                    f"got {name!r}"
                )
        hops = data["next_hops"]
        if not isinstance(hops, list):
            raise ConfigError(f"{where}: field 'next_hops' must be a list, got {hops!r}")
        for i, hop in enumerate(hops):
            _hop(hop, where, f"'next_hops'[{i}]")
        run = cls(
            run_id=_str(data, "run_id", where, safe=True),
            stages=tuple(stages),
            next_hops=tuple(hops),
            queue_size=_int(data, "queue_size", where, 1),
            max_body_bytes=_int(data, "max_body_bytes", where, 1),
            input_size=_int(data, "input_size", where, 1),
            profile=_str(data, "profile", where) if data.get("profile") else "",
            keep_outputs=_int(data, "keep_outputs", where, 0) if "keep_outputs" in data else 0,
            outputs_file=_str(data, "outputs_file", where) if data.get("outputs_file") else "",
            help=HelpConfig.from_dict(data["help"], f"{where}: field 'help'")
            if data.get("help") is not None
            else None,
            route=data.get("route") or "",
            slice=SliceConfig.from_dict(data["slice"], f"{where}: field 'slice'")
            if data.get("slice") is not None
            else None,
            slices=_int(data, "slices", where, 1) if data.get("slices") is not None else 0,
            tasks=TasksConfig.from_dict(data["tasks"], f"{where}: field 'tasks'")
            if data.get("tasks") is not None
            else None,
            pull=PullConfig.from_dict(data["pull"], f"{where}: field 'pull'")
            if data.get("pull") is not None
            else None,
            peers=tuple(data.get("peers") or ()),
            read_timeout_s=data.get("read_timeout_s", DEFAULT_READ_TIMEOUT_S),
            admission=data.get("admission", "none"),
            send=data.get("send", "inline"),
            heartbeat_ms=data.get("heartbeat_ms", DEFAULT_HEARTBEAT_MS),
            slow_factor=data.get("slow_factor", 0.0),
            local=LocalConfig.from_dict(data["local"], f"{where}: field 'local'")
            if data.get("local") is not None
            else None,
            seed=_int(data, "seed", where, 0) if data.get("seed") is not None else 0,
            profile_entry=data.get("profile_entry"),
            links=data.get("links") or None,
        )
        if run.profile_entry is not None and (not isinstance(run.profile_entry, dict)
                                              or not run.profile):
            raise ConfigError(f"{where}: field 'profile_entry' must be an object and needs "
                              "'profile' (its name)")
        run._check_parallel(where)
        run._check_links(where)
        run._check_feedback(where)
        run._check_access(data, where)
        if run.keep_outputs and not run.outputs_file:
            raise ConfigError(f"{where}: field 'keep_outputs' needs 'outputs_file'")
        if run.help is not None:
            if len(run.next_hops) != 1:
                raise ConfigError(
                    f"{where}: field 'help' needs exactly one next hop (the node it helps), "
                    f"got next_hops {list(run.next_hops)}"
                )
            if run.help.own_stages != run.stages:
                raise ConfigError(
                    f"{where}: field 'help'.own_stages {list(run.help.own_stages)} must equal "
                    f"'stages' {list(run.stages)}"
                )
        if run.frame_bytes > run.max_body_bytes:
            raise ConfigError(
                f"{where}: field 'max_body_bytes' ({run.max_body_bytes}) is smaller than one "
                f"frame (input_size {run.input_size} * 4 = {run.frame_bytes} bytes)"
            )
        return run

    def forward_hops(self) -> tuple[str, ...]:
        """Every hop the Forwarder sends frames to: next hops and a direct hop to the sink."""
        direct = [c.direct_hop for c in (self.help, self.local) if c is not None]
        return (*self.next_hops, *direct)

    def _check_links(self, where: str) -> None:
        """`links`: an object of hop -> link, each hop one this node forwards to (a link to
        anywhere else would emulate nothing), each link valid (node_app/link.py)."""
        if self.links is None:
            return
        if not isinstance(self.links, dict):
            raise ConfigError(f"{where}: field 'links' must be an object of hop -> link")
        hops = self.forward_hops()
        for hop, entry in self.links.items():
            if hop not in hops:
                raise ConfigError(f"{where}: field 'links' has hop {hop!r}, which this node "
                                  f"does not forward to (its hops: {', '.join(hops) or 'none'})")
            try:
                LinkEmulation.from_dict(entry, f"{where}: field 'links'[{hop!r}]")
            except LinkConfigError as e:
                raise ConfigError(str(e)) from None

    def link(self, hop: str) -> LinkEmulation | None:
        """A fresh emulation (its own seeded generator) of the link to `hop`, or None."""
        entry = (self.links or {}).get(hop)
        return None if entry is None else LinkEmulation.from_dict(entry, f"links[{hop!r}]")

    def _check_access(self, data: dict[str, Any], where: str) -> None:
        """`peers` must be IP addresses (not names: a peer is matched by its source address),
        `read_timeout_s` a positive number of seconds."""
        if not isinstance(data.get("peers", []), list):
            raise ConfigError(f"{where}: field 'peers' must be a list of IP addresses")
        for i, peer in enumerate(self.peers):
            try:
                ipaddress.ip_address(peer)
            except ValueError:
                raise ConfigError(
                    f"{where}: field 'peers'[{i}] must be an IP address, got {peer!r}"
                ) from None
        t = self.read_timeout_s
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 3600:
            raise ConfigError(f"{where}: field 'read_timeout_s' must be a number of seconds in "
                              f"(0, 3600], got {t!r}")

    def _check_feedback(self, where: str) -> None:
        """admission only where a frame fans out from an entry; numbers that are numbers."""
        if self.admission not in ADMISSIONS:
            raise ConfigError(f"{where}: field 'admission' must be one of "
                              f"{', '.join(ADMISSIONS)}, got {self.admission!r}")
        if self.admission == "whole" and self.route not in ("all", "adaptive") \
                and self.tasks is None:
            raise ConfigError(f"{where}: field 'admission' 'whole' is for an entry that fans "
                              f"frames out (route 'all' or 'adaptive', or 'tasks')")
        for key, lo, hi in (("heartbeat_ms", 1.0, 10_000.0), ("slow_factor", 0.0, 1000.0)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ConfigError(f"{where}: field '{key}' must be a number in [{lo:g}, "
                                  f"{hi:g}], got {v!r}")
        if self.route == "adaptive" and not self.stages:
            raise ConfigError(f"{where}: route 'adaptive' needs stages (the entry's own)")
        if self.local is not None and self.route != "adaptive":
            raise ConfigError(f"{where}: field 'local' is for route 'adaptive' only")
        if self.send not in SENDS:
            raise ConfigError(f"{where}: field 'send' must be one of {', '.join(SENDS)}, "
                              f"got {self.send!r}")
        steering = [k for k, v in (("route", self.route not in ("", "adaptive")),
                                   ("help", self.help), ("tasks", self.tasks),
                                   ("pull", self.pull), ("slice", self.slice)) if v]
        if self.send == "overlap" and steering:
            raise ConfigError(f"{where}: field 'send' 'overlap' is for a plain stage or route "
                              f"'adaptive' (a role that does not wait for its next hop's "
                              f"reply), not with {', '.join(repr(k) for k in steering)}")

    def _check_parallel(self, where: str) -> None:
        """The fields of docs/strategies.md's dp, mp and tasks: only sensible combinations."""
        hops = list(self.next_hops)
        if self.route and self.route not in ROUTES:
            raise ConfigError(
                f"{where}: field 'route' must be one of {', '.join(ROUTES)}, got {self.route!r}"
            )
        if len(hops) > 1 and not self.route:
            raise ConfigError(
                f"{where}: field 'route' is required when 'next_hops' has {len(hops)} entries "
                f"(one of {', '.join(ROUTES)})"
            )
        if self.route and not hops:
            raise ConfigError(f"{where}: field 'route' needs at least one next hop")
        if self.route and self.help is not None:
            raise ConfigError(f"{where}: fields 'route' and 'help' cannot be combined")
        if self.slice is not None and (len(hops) != 1 or not self.stages):
            raise ConfigError(
                f"{where}: field 'slice' needs stages and exactly one next hop (the merging "
                f"sink), got stages {list(self.stages)} next_hops {hops}"
            )
        others = [k for k, v in (("route", self.route), ("help", self.help),
                                 ("tasks", self.tasks)) if v]
        if self.slice is not None and others:
            raise ConfigError(
                f"{where}: field 'slice' cannot be combined with "
                f"{', '.join(repr(k) for k in others)} (a slice node is a plain stage that "
                f"tags its output; node_app/registry.py)"
            )
        if self.slices and not self.is_sink:
            raise ConfigError(f"{where}: field 'slices' is for a sink (no stages, no next hop)")
        if self.slices and self.input_size < self.slices:
            raise ConfigError(
                f"{where}: field 'slices' ({self.slices}) exceeds input_size {self.input_size}"
            )
        if self.tasks is not None and (len(hops) != 1 or not self.stages or self.help
                                       or self.route):
            raise ConfigError(
                f"{where}: field 'tasks' needs stages and exactly one next hop (where assembled "
                f"frames go), and no 'route' or 'help'"
            )
        if self.pull is not None and (hops or len(self.stages) != 1 or self.tasks):
            # a neuron-block helper needs one dense layer; an FTP tile helper one fused stage
            raise ConfigError(
                f"{where}: field 'pull' needs exactly one stage (a single dense layer) and no "
                f"next hops: a helper returns results to its gateway, got stages "
                f"{list(self.stages)} next_hops {hops}"
            )

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        return cls.from_dict(_load_json(path, "run config"), f"run config {path}")
