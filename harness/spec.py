"""The resolved description of one experiment run.

A `RunSpec` is checked completely before anything starts (no node is touched, no
load is generated), so a typo costs a second, not a minute of lab time. Every
error names the field, says what was wrong and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

from harness import models, strategies
from harness.errors import CLI_FLAGS, SpecError
from harness.fault_spec import check_faults
from harness.link_plan import parse_options
from harness.schedule import ID_STRIDE, MAX_SOURCES
from node_app.validate import MAX_PACKET_ID

__all__ = ["CLI_FLAGS", "RunSpec", "SpecError", "resolve_strategy"]

SCHEDULERS = ("wsh", "wst", "wst-s")  # DeepThings' work sharing, stealing, stealing + reuse
ADMISSIONS = ("whole", "none")  # node_app/config.py ADMISSIONS, node_app/feedback.py
SENDS = ("inline", "overlap")  # node_app/config.py SENDS, node_app/outbox.py


@dataclass
class RunSpec:
    """What to run; units are in the field names (as MLPerf LoadGen does).

    strategy: canonical strategy name (`baseline`, `cao1`, ...).
    rate_fps: offered input rate, frames per second (> 0).
    duration_s: measured window, seconds (> 0); warm-up frames are not counted.
    warmup_s: frames sent before the measured window, seconds (>= 0).
    x: frames the fast node computes per help episode (Cao's strategies 1 and 2).
    queue_size: bounded incoming queue per node (the seed's small buffer).
    seed: seed of the frame generator; frames are a pure function of (seed, packet id).
    inventory: path of the Ansible inventory the nodes come from.
    hosts: inventory hosts to use, in pipeline order (empty = the strategy's default).
    profile: device profile for every node of the run, overriding the inventory
        (empty = each host's `device_profile`); `zero` measures the testbed itself.
    arrival: `constant` (a camera at N fps) or `poisson` (exponential gaps, LoadGen's
        Server scenario); the schedule is harness/schedule.py, fixed before the run.
    arrival_seed: seed of the Poisson gaps (None = `seed`), resolved and recorded.
    rates: rate steps in one run, frames/s (empty = one step at `rate_fps`); each lasts
        `step_s` and is measured; warm-up runs at the first. Sets `rate_fps` to the first
        rate and `duration_s` to len(rates) * step_s.
    step_s: length of each rate step, seconds.
    min_duration_s, min_frames: LoadGen's minimum-run rule: a measured part shorter than
        this, or with fewer measure frames, is marked invalid in summary and report.
    client: where Locust runs: `controller` or an inventory host (over Fabric/SSH).
    clients: several load clients through Locust's distributed mode (harness/load_dist.py):
        inventory hosts, each running a worker that sends its interleaved share of the one
        schedule, the master on the controller; empty = one client (`client`). Distinct,
        not nodes of the run (checked against the inventory when the run starts), and not
        together with `client`.
    lag_threshold_ms: a run whose send lag (actual - intended send) p99 exceeds this is
        flagged: the load generator, not the system under test, was the limit.
    k: devices sharing the model's split stage in dp (replicas), mp (slices) and tasks
        (helpers), or its conv stack in ftp (tiles) and bodp (row bands); >= 1.
    tasks: T, neuron-block tasks the split stage is cut into per frame (strategy tasks);
        1 .. its neurons (checked by the strategy's plan).
    model: the model to run (harness/models; `cao-dense`, Cao's two dense layers).
    grid: FTP's tile grid over the fused output, `NxM` (strategy ftp).
    fused: FTP's fused layers from the start of the model's fused stage (0 = all of them).
    sched: FTP's tile scheduling: `wsh` (work sharing), `wst` (work stealing) or `wst-s`
        (work stealing with DeepThings' data reuse between neighbouring tiles).
    faults: faults to inject during the run (harness/faults.py), e.g. `kill:pi2@20s`.
    admission: `whole` (default): an entry that fans frames out (mp, tasks, ftp's `wsh`
        gateway, bodp, adaptive) refuses a frame whole when a node downstream has no room
        for it (dropped at the entry, reason `admission`); `none`: today's behaviour, the
        downstream queues drop (mp: slice by slice), kept so a report can show the difference.
    send: how a node sends its output on (node_app/outbox.py): `inline`, the worker waits
        for each send and its reply before it takes the next frame; `overlap`, a sender
        thread sends while the worker computes the next frame. "" = the strategy's default
        (its module's SENDS, first entry: `overlap` for adaptive, `inline` for the rest);
        only strategies whose nodes do not steer by each reply take `overlap` (baseline,
        adaptive), so a report can put the two side by side.
    scenario: the scenario file the run came from (harness/scenario.py), "" for none; kept
        so a report and a re-run say where the spec and its timed actions were written down.
    rerun_of: the run this one re-runs (`fab rerun`), "" for a fresh run.
    sources: data sources (`--sources=S`, DeepThings' multi-source runs; ftp and bodp only):
        S cameras, each at `rate_fps` with its own schedule and packet IDs (source i's are
        i * 1,000,000 + 0, 1, ...; harness/schedule.py), source i being device Di; 1 <= S <=
        k. 1 = one camera, exactly as before sources existed.
    enforce_memory: cap each lab host's memory (a cgroup, harness/memcap.py) so an oversized
        stage fails as on the device: "" no cap; "ram" each host at its profile's `ram_mb`;
        "<MB>" every host at MB (a test's tiny limit). `fab experiment --enforce-memory[=MB]`.
    net_links: `--link` SPECs `A-B:NAME`: the link between hosts A and B (A may be `client`,
        B `sink`) delays, jitters and loses frames as link kind NAME of harness/links.json
        says (harness/link_plan.py); the ends are checked against the inventory and the plan
        when the run starts, the text here.
    """

    strategy: str = "baseline"
    rate_fps: float = 30.0
    duration_s: float = 60.0
    warmup_s: float = 5.0
    x: int = 10
    queue_size: int = 5
    seed: int = 0
    inventory: str = "inventory/lab.yml"
    hosts: list[str] = field(default_factory=list)
    profile: str = ""
    run_id: str = ""
    arrival: str = "constant"
    arrival_seed: int | None = None
    rates: list[float] = field(default_factory=list)
    step_s: float = 20.0
    min_duration_s: float = 10.0
    min_frames: int = 100
    client: str = "controller"
    clients: list[str] = field(default_factory=list)
    lag_threshold_ms: float = 5.0
    k: int = 2
    tasks: int = 4
    faults: list[str] = field(default_factory=list)
    model: str = models.DEFAULT_MODEL
    grid: str = "3x3"
    fused: int = 0
    sched: str = "wsh"
    admission: str = "whole"
    send: str = ""
    scenario: str = ""
    rerun_of: str = ""
    enforce_memory: str = ""
    net_links: list[str] = field(default_factory=list)
    sources: int = 1

    @property
    def grid_nm(self) -> tuple[int, int]:
        n, _x, m = self.grid.partition("x")
        return int(n), int(m)

    def _check_ftp(self) -> None:
        """grid `NxM` (N, M >= 1), fused >= 0, sched known: the model-dependent limits are
        the ftp strategy's check()."""
        text = str(self.grid).strip().lower()
        n, sep, m = text.partition("x")
        if not sep or not (n.isascii() and n.isdigit() and m.isascii() and m.isdigit()) \
                or int(n) < 1 or int(m) < 1:
            raise SpecError("grid", f"must be NxM with N, M >= 1 (e.g. 3x3), got {self.grid!r}")
        self.grid = f"{int(n)}x{int(m)}"
        self.fused = _integer("fused", self.fused)
        if self.fused < 0:
            raise SpecError("fused", f"must be >= 0 (0: every layer of the fused stage), got "
                            f"{self.fused}")
        self.sched = str(self.sched).strip().lower()
        if self.sched not in SCHEDULERS:
            raise SpecError("sched", f"must be one of {', '.join(SCHEDULERS)}, got "
                            f"{self.sched!r}")

    def __post_init__(self) -> None:
        if isinstance(self.faults, str):
            self.faults = [f for f in self.faults.split(",") if f.strip()]
        check_faults(self.faults)  # a bad fault (or pair of them) fails here, before anything
        self.strategy = resolve_strategy(str(self.strategy))
        self._check_load()
        for name in ("rate_fps", "duration_s"):
            value = _number(name, getattr(self, name))
            if not value > 0:
                raise SpecError(name, f"must be > 0, got {value}")
            setattr(self, name, value)
        self.warmup_s = _number("warmup_s", self.warmup_s)
        if self.warmup_s < 0:
            raise SpecError("warmup_s", f"must be >= 0, got {self.warmup_s}")
        for name in ("x", "queue_size", "k", "tasks"):
            value = _integer(name, getattr(self, name))
            if value < 1:
                raise SpecError(name, f"must be an integer >= 1, got {value}")
            if name in ("x", "queue_size") and value > MAX_PACKET_ID + 1:
                raise SpecError(name, f"must be <= {MAX_PACKET_ID + 1} (the most frames a run "
                                f"has: 24-bit packet ids), got {_short(value)}")
            setattr(self, name, value)
        self.model = str(self.model or models.DEFAULT_MODEL).strip()
        try:
            models.module(self.model)
        except models.UnknownModel as exc:
            raise SpecError("model", str(exc)) from None
        self.seed = _integer("seed", self.seed)
        if self.seed < 0:
            raise SpecError("seed", f"must be an integer >= 0, got {self.seed}")
        self._check_frame_count()
        self._check_ftp()
        self.admission = str(self.admission).strip().lower()
        if self.admission not in ADMISSIONS:
            raise SpecError("admission", f"must be one of {', '.join(ADMISSIONS)}, got "
                            f"{self.admission!r}")
        self.send = _send(self.send, self.strategy)
        self._check_sources()
        check = getattr(strategies.get(self.strategy), "check", None)
        if check is not None:
            check(self)  # what only the strategy knows (mp: K needs exported slices)
        if isinstance(self.hosts, str):
            self.hosts = [h for h in self.hosts.split(",") if h]
        self.enforce_memory = _enforce_memory(self.enforce_memory)
        self.net_links = [o.text for o in parse_options(self.net_links)]
        if not self.run_id:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
            k = f"-k{self.k}" if strategies.uses(self.strategy, "k") else ""
            s = f"-s{self.sources}" if self.sources > 1 else ""
            self.run_id = f"{stamp}-{self.strategy}{k}{s}-r{self.rate_fps:g}"

    def _check_load(self) -> None:
        """The load fields (arrival, steps, minimum-run rule, client)."""
        arrival = str(self.arrival).strip().lower()
        if arrival not in ("constant", "poisson"):
            raise SpecError("arrival", f"must be constant or poisson, got {self.arrival!r}")
        self.arrival = arrival
        given = self.arrival_seed is not None and self.arrival_seed != ""
        self.arrival_seed = _integer("arrival_seed" if given else "seed",
                                     self.arrival_seed if given else self.seed)
        if self.arrival_seed < 0:
            raise SpecError("arrival_seed" if given else "seed",
                            f"must be an integer >= 0, got {self.arrival_seed}")
        if isinstance(self.rates, str):
            self.rates = [r for r in self.rates.split(",") if r.strip()]
        self.rates = [_number("rates", r, "every rate") for r in self.rates]
        if any(not r > 0 for r in self.rates):
            raise SpecError("rates", f"every rate must be > 0, got {self.rates}")
        self.step_s = _number("step_s", self.step_s)
        if not self.step_s > 0:
            raise SpecError("step_s", f"must be > 0, got {self.step_s}")
        if self.rates:
            self.rate_fps = self.rates[0]
            self.duration_s = len(self.rates) * self.step_s
        self.min_duration_s = _number("min_duration_s", self.min_duration_s)
        self.min_frames = _integer("min_frames", self.min_frames)
        if self.min_duration_s < 0 or self.min_frames < 0:
            raise SpecError("min_duration_s" if self.min_duration_s < 0 else "min_frames",
                            "must be >= 0")
        self.lag_threshold_ms = _number("lag_threshold_ms", self.lag_threshold_ms)
        if not self.lag_threshold_ms > 0:
            raise SpecError("lag_threshold_ms", f"must be > 0, got {self.lag_threshold_ms}")
        self.client = str(self.client or "controller").strip()
        self._check_clients()

    def _check_clients(self) -> None:
        """`--clients`: distinct inventory hosts, not with `--client` (which the inventory
        check, in harness/experiment.py, cannot tell apart from a typo later)."""
        if isinstance(self.clients, str):
            self.clients = self.clients.split(",")
        self.clients = [str(c).strip() for c in self.clients if str(c).strip()]
        twice = sorted({c for c in self.clients if self.clients.count(c) > 1})
        if twice:
            raise SpecError("clients", f"each load client once: {', '.join(twice)} is given "
                            f"more than once in {','.join(self.clients)}")
        if "controller" in self.clients:
            raise SpecError("clients", "list the hosts the workers run on; the Locust master "
                            "always runs on the controller")
        if self.clients and self.client not in ("", "controller"):
            raise SpecError("clients", f"give --client={self.client} (one load client) or "
                            f"--clients={','.join(self.clients)} (several), not both")

    def _check_sources(self) -> None:
        """`--sources`: 1 .. MAX_SOURCES; more than one only for a strategy whose devices are
        data sources (ftp, bodp), at most one per device (source i is device Di), and at
        least one per load client (each client sends whole sources)."""
        self.sources = _integer("sources", self.sources)
        if not 1 <= self.sources <= MAX_SOURCES:
            raise SpecError("sources", f"must be an integer in 1 .. {MAX_SOURCES} (source i's "
                            f"packet ids are i * {ID_STRIDE} + 0, 1, ...), got {self.sources}")
        if self.sources == 1:
            return
        if not strategies.uses(self.strategy, "sources"):
            takers = ", ".join(n for n in strategies.IMPLEMENTED
                               if strategies.uses(n, "sources"))
            raise SpecError("sources", f"{self.strategy} has one entry and one data source; "
                            f"several sources are for {takers}, got {self.sources}")
        if self.sources > self.k:
            raise SpecError("sources", f"{self.sources} sources need {self.sources} devices "
                            f"(source i is device Di), but --devices is {self.k}")
        if len(self.clients) > self.sources:
            raise SpecError("sources", f"each load client sends whole sources: "
                            f"{len(self.clients)} clients ({','.join(self.clients)}) need at "
                            f"least as many sources, got {self.sources}")
        if self.measure_frames + self.warmup_frames > ID_STRIDE:
            raise SpecError("duration_s", f"{_frames_text(self)} is "
                            f"{self.measure_frames + self.warmup_frames} frames per source; "
                            f"with several sources each has at most {ID_STRIDE} (its id range)")

    def _check_frame_count(self) -> None:
        """The run must measure at least one frame, and every frame needs a packet id
        (node_app/validate.py: 0 .. MAX_PACKET_ID), else the run fails after it started."""
        steps = ([(r, self.step_s) for r in self.rates] if self.rates
                 else [(self.rate_fps, self.duration_s)])
        measured = sum(r * s for r, s in steps)
        warmup = self.warmup_s * self.rate_fps
        field_name = "step_s" if self.rates else "duration_s"
        expected = warmup + measured
        if not warmup <= measured:  # the warm-up is what overflows: name it
            field_name = "warmup_s"
        if self.arrival == "poisson":  # the count is random: leave room for 6 sigma
            expected += 6.0 * math.sqrt(expected)
        limit = MAX_PACKET_ID + 1
        if not expected <= limit:  # also catches inf (1e308 s at 30 fps)
            raise SpecError(field_name, f"{_frames_text(self)} is about {expected:.3g} frames; "
                            f"a run has at most {limit} (24-bit packet ids, "
                            "node_app/validate.py)")
        if self.measure_frames < 1:
            raise SpecError("step_s" if self.rates else "duration_s",
                            f"{_frames_text(self)} is no frame to measure")

    @property
    def total_frames(self) -> int:
        return self.warmup_frames + self.measure_frames

    @property
    def warmup_frames(self) -> int:
        return int(round(self.warmup_s * self.rate_fps))

    @property
    def measure_frames(self) -> int:
        if self.rates:
            return sum(int(round(r * self.step_s)) for r in self.rates)
        return int(round(self.duration_s * self.rate_fps))

    @property
    def memory_cap_mb(self) -> int | None:
        """The cap `--enforce-memory=MB` gives every host; None: each profile's RAM (or no
        cap at all, when enforce_memory is "")."""
        return int(self.enforce_memory) if self.enforce_memory.isdigit() else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_strategy(name: str) -> str:
    """The canonical strategy name of what a user typed (`2` -> `cao2`)."""
    return strategies.resolve(name)


def _frames_text(spec: RunSpec) -> str:
    """`--duration=60 at --rate=30 (+ --warmup=5)`: the options a frame count comes from."""
    rates = ",".join(f"{r:g}" for r in spec.rates)
    if spec.rates:
        return (f"--rates={rates} with --step={spec.step_s:g} (+ --warmup={spec.warmup_s:g})")
    return (f"--duration={spec.duration_s:g} at --rate={spec.rate_fps:g} "
            f"(+ --warmup={spec.warmup_s:g})")


_OFF = ("", "false", "no", "off", "none")
_ON = ("true", "yes", "on", "ram")


def _send(value: object, strategy: str) -> str:
    """`send` resolved: "" is the strategy's default (the first of its module's SENDS,
    inline for a strategy without one); a mode the strategy's nodes cannot take is an error
    on `send` that lists the ones they can."""
    allowed = tuple(getattr(strategies.get(strategy), "SENDS", ("inline",)))
    text = str(value or "").strip().lower() or allowed[0]
    if text not in SENDS:
        raise SpecError("send", f"must be one of {', '.join(SENDS)}, got {value!r}")
    if text not in allowed:
        raise SpecError("send", f"strategy {strategy} sends {' or '.join(allowed)} only (its "
                        f"nodes steer by each reply), got {text!r}")
    return text


def _enforce_memory(value: object) -> str:
    """enforce_memory as "" (off), "ram" (each profile's RAM) or a whole number of MB >= 1,
    from what a command line (`--enforce-memory` alone is True), a scenario or a spec.json
    gives."""
    if value is None or value is False:
        return ""
    if value is True:
        return "ram"
    text = str(value).strip().lower()
    if text in _OFF:
        return ""
    if text in _ON:
        return "ram"
    try:
        mb = _integer("enforce_memory", text)
    except SpecError:
        mb = 0
    if mb < 1:
        raise SpecError("enforce_memory", "give it alone (each host at its profile's RAM) or "
                        f"with a whole number of MB >= 1 for every host, got {value!r}")
    return str(mb)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"a {len(text)}-digit number"


def _number(name: str, value: object, what: str = "must be") -> float:
    """A finite float: `inf`, `nan` and `1e999` are rejected here, by name, instead of
    overflowing later in a frame count (`int(round(inf))`)."""
    verb = "must be" if what == "must be" else f"{what} must be"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(name, f"{verb} a number, got {value!r}") from None
    except OverflowError:  # an int beyond float range
        number = math.inf
    if not math.isfinite(number):
        raise SpecError(name, f"{verb} a finite number, got {_short(value)}")
    return number


def _integer(name: str, value: object) -> int:
    """An integer, from an int or its text (`5`, `5.0`, `1e3`); `inf` and `1.5` are errors."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())  # exact, however large
    except ValueError:
        pass
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise SpecError(name, f"must be an integer, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise SpecError(name, f"must be an integer, got {value!r}")
    return int(number)
