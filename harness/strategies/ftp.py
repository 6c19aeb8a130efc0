"""DeepThings' Fused Tile Partitioning (seed 002): tiles as tasks, shared or stolen.

`--sched=wsh` (work sharing): client -> G (gateway: cuts each frame into the N x M tiles of
the output of the first `fused` layers of the model's fused stage, each with its own input
region, overlap included) <- D0..D(K-1) pull tiles when idle, run the fused stack on the
region, return the tile; G merges, runs the layers after the fused ones (none with the
default --fused, all 16 of YOLOv2's first layers) and sends the frame to the sink.
node_app/roles/tile_gateway.py and tile_helper.py; the geometry is node_app/tiles.py.

`--sched=wst` (work stealing, no data reuse): client -> D0 (the data source: cuts its frames
into the same tiles, queues them locally and works on them); D1..D(K-1) ask G for a victim
and steal tiles from D0 peer to peer; every device sends its tiles' results to G, which
merges, runs the rest and forwards as above. G is a separate host, as in wsh. Every device
may steal from every other (`steals_from`, for `peers`): G names the victim at run time.
node_app/roles/steal_gateway.py and steal_device.py.

`--sources=S` (DeepThings' multi-source runs): S cameras, each with its own schedule and
packet ID range (harness/schedule.py). Under `wst`/`wst-s` source i is device Di: its frames
are posted to Di, which cuts and queues them and lets the others steal from it while it
steals from them when its own queue is empty (the gateway's registry lists every source with
work, round robin). Under `wsh` every source's frames enter at G as the single source's do:
the data source's upload to the gateway is the camera's link here, and the tiles of all
sources' frames share G's one board. S = 1 is the single source D0 (wst) or G (wsh).

`--sched=wst-s` (work stealing with DeepThings' data reuse): the same nodes and links as
`wst`; tiles are queued in checkerboard order, independent tiles send G the overlap of
their intermediate layers with their results, dependent tiles fetch it from G and compute
only the rest (node_app/reuse.py; reuse_gateway.py, reuse_device.py). The bound below is
still the one without reuse (a dependent tile whose neighbours are late is computed whole),
so it is a lower bound for `wst-s`.

capacity_fps, both schedulers: min(G's rate for the layers after the fused ones, the
devices' combined tile rate): a device doing every tile of a frame needs the sum of the
tiles' profiled times, each tile priced on its own region per layer (overlap is paid for),
so K devices give sum over devices of 1000 / (sum of tile ms). Under stealing the source
also receives the frames and cuts them, and each steal costs a victim lookup and a lease
round trip; the bound leaves those out (it is the tile work only). On rpi3bplus with
yolov2-16 (160 x 160), a frame is 1444 ms whole, its 3 x 3 tiles 5502 ms in all (overlap x
3.8); at 608 x 608 the tiles of a 3 x 3 grid are 1.5 x the frame, of 5 x 5 2.2 x
(tests/test_conv.py).

Prediction (harness/des.py, `wsh` only): G's board with every tile of a frame in one
round, the K devices pulling them in order (each tile costs its `tile_ms` on the device's
profile plus two round trips: the pull, the result), G's sender running the layers after
the fused ones (`rest_ms`, G's profile) and forwarding. One frame alone therefore takes
the list schedule of its tiles over the K devices, plus the rest and one hop. `wst` is not
modelled (victim lookups, peer-to-peer leases, the source's own queue): `unpredictable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.capacity import device_profile, fps_min, fps_of, fps_sum
from harness.des import BoardJobs, Params, board, simulate
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe
from harness.strategies.common import MapShape, map_shapes
from harness.strategies.plan import NodePlan, Plan
from node_app.stage import stack_costs
from node_app.tiles import Region, grid

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "ftp"
ALIASES = ("ftp", "deepthings")
USES = ("k", "grid", "fused", "sched", "sources")
DEFAULT_HOSTS = 3  # gateway + 2 devices; hosts_needed() gives the number for the spec's K


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def check(spec: RunSpec) -> None:
    """The model has a fused stage, the grid fits its output, --fused fits its depth."""
    geometry(spec)


def geometry(spec: RunSpec) -> tuple[int, int, int]:
    """(N, M, fused) checked against the model: errors name the option."""
    info = describe(spec.model)
    try:
        layers = info.fused_layers
    except KeyError as exc:
        raise SpecError("model", str(exc.args[0])) from None
    fused = spec.fused or len(layers)
    if fused > len(layers):
        raise SpecError("fused", f"must be <= {len(layers)} (the layers of {info.fused_stage} "
                        f"in model {info.name}), got {fused}")
    n, m = spec.grid_nm
    h, w = layers[fused - 1].output_shape[:2]
    if n > h or m > w:
        raise SpecError("grid", f"{n}x{m} is finer than fused layer {fused}'s output "
                        f"{h}x{w} in model {info.name}")
    return n, m, fused


def _shapes(spec: RunSpec) -> tuple[list[MapShape], list[MapShape]]:
    """The fused layers and the ones after them, as shapes."""
    _n, _m, fused = geometry(spec)
    shapes = map_shapes(spec.model)
    return shapes[:fused], shapes[fused:]


def tile_ms(profile: str, spec: RunSpec) -> list[float] | None:
    """Profiled ms of each tile's stack on `profile`, priced by node_app's own geometry and
    cost code (what a device waits out); None when the profile has no cost model (native)."""
    fused, _rest = _shapes(spec)
    prof = device_profile(profile)
    if prof.native:
        return None
    return [prof.frame_ms(stack_costs(fused, tile)) or 0.0
            for tile in grid(fused[-1].out_hw, *spec.grid_nm)]


def capacity_fps(spec: RunSpec, gateway: Host, devices: list[Host]) -> float | None:
    """min(the gateway's rate for the layers after the fused ones, the devices' combined
    rate for all tiles of a frame); None when a profile has no cost model."""
    rates = [fps_of(None if (t := tile_ms(d.profile, spec)) is None else sum(t))
             for d in devices]
    _fused, rest = _shapes(spec)
    if not rest:
        return fps_sum(rates)
    rest_ms = device_profile(gateway.profile).frame_ms(
        stack_costs(rest, Region.whole(rest[-1].out_hw)))
    return fps_min([fps_sum(rates), fps_of(rest_ms)])


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    n, m, fused = geometry(spec)
    tiles = {"grid": [n, m], "fused": fused}
    g, devices = hosts[0], hosts[1 : 1 + spec.k]
    stealing = spec.sched in ("wst", "wst-s")
    if stealing:
        tiles["sched"] = spec.sched
    stage = info.fused_stage
    gateway = NodePlan(g, "G", [stage], [sink.endpoint],
                       extra={"tasks": {"blocks": n * m, "width": info.output_size,
                                        "tiles": tiles}}
                       | ({} if stealing else {"admission": spec.admission}))
    edge = [NodePlan(d, f"D{i}", [stage], [],
                     extra={"pull": {"gateway": g.endpoint, "blocks": n * m, "tiles": tiles}},
                     steals_from=[o.endpoint for o in devices if o is not d] if stealing else [])
            for i, d in enumerate(devices)]
    # Entry nodes first, upstream first (Plan.nodes): under work stealing the source D0
    # and the other devices feed G; under sharing G feeds them.
    nodes = [*edge, gateway] if stealing else [gateway, *edge]
    nodes.append(NodePlan(sink, "sink", []))
    # The client's targets, one per data source under stealing (source i is Di: its camera
    # posts to Di, which cuts its own frames); under sharing every source's frames enter at G,
    # the one path a single source takes (harness/schedule.py: the IDs tell sources apart).
    targets = [d.endpoint for d in devices[:spec.sources]] if stealing else [g.endpoint]
    return Plan(nodes=nodes, targets=targets, capacity_fps=capacity_fps(spec, g, devices),
                input_size=info.input_size)


def rest_ms(profile: str, spec: RunSpec) -> float | None:
    """The layers after the fused ones on `profile` (0 when there are none; None when the
    profile has no cost model)."""
    _fused, rest = _shapes(spec)
    prof = device_profile(profile)
    if prof.native:
        return None
    if not rest:
        return 0.0
    return prof.frame_ms(stack_costs(rest, Region.whole(rest[-1].out_hw))) or 0.0


def unpredictable(spec: dict[str, Any]) -> str | None:
    """Why the discrete-event model cannot predict this ftp run; None when it can (wsh)."""
    sched = str(spec.get("sched") or "wsh")
    if sched != "wsh":
        return (f"the model predicts FTP's work sharing (wsh) only; this run's {sched} "
                "(victim lookups at the gateway, peer-to-peer steals from the source's "
                "queue) is not modelled")
    return None


def board_jobs(spec: RunSpec, gateway: str, devices: list[str]) -> BoardJobs | None:
    """Each device's tile times, one round of all tiles, G's rest; None when a profile has
    no cost model."""
    tiles = [tile_ms(p, spec) for p in devices]
    rest = rest_ms(gateway, spec)
    if rest is None or any(t is None for t in tiles):
        return None
    return BoardJobs(parts_ms=tuple(tuple(t) for t in tiles),  # type: ignore[arg-type]
                     rest_ms=rest)


def predict(p: Params) -> dict[str, Any]:
    """G (queues a frame's tiles, at most queue_size frames on the board; its sender runs
    the rest and forwards) and K pulling devices (their tile times, `p.parts_ms`)."""
    sim, sink, drops, g, devices = board(p, "ftp")
    return simulate(sim, sink, [g], [g, *devices], drops, p)
