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

Prediction, `wsh` (harness/des.py): G's board with every tile of a frame in one round, the
K devices pulling them in order (each tile costs its `tile_ms` on the device's profile plus
two round trips, the pull and the result, plus its bytes: input region and output tile at
the link's rate), G's sender running the layers after the fused ones (`rest_ms`, G's
profile) and forwarding. One frame alone therefore takes the list schedule of its tiles over
the K devices, plus the rest and one hop. That is node_app's work sharing: G hands nothing
out by itself, idle devices pull (node_app/roles/tile_gateway.py), so equal devices take
the tiles in turn, DeepThings' round robin.

Prediction, `wst` and `wst-s` (harness/des_steal.py): the source D0 queues each frame's
tiles and works through them; the other devices ask G for a victim and steal one tile at a
time from D0 (a victim lookup, the steal, the victim's lease at G: three round trips, and
the tile's input on the D0-thief link); every result goes to G. wst-s adds the reuse prices
(`reuse_tiles`): checkerboard order, independent tiles' results carry their pieces, a
dependent tile whose neighbours are in fetches its pieces and computes its reduced stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.capacity import device_profile, fps_min, fps_of, fps_sum
from harness.des import BoardJobs, Params, ReuseTile, board, simulate
from harness.des_steal import steal_predict
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe
from harness.strategies.common import MapShape, map_shapes
from harness.strategies.plan import NodePlan, Plan
from node_app.reuse import ReusePlan, neighbours, piece_bytes
from node_app.stage import map_cost, stack_costs
from node_app.tiles import Region, checkerboard, grid, walk_back

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


def tile_bytes(spec: RunSpec) -> list[tuple[int, int]]:
    """Per tile: the bytes of its input region (walked back through the fused layers, overlap
    included) and of its output, as node_app cuts and merges them (tile_gateway.py)."""
    fused, _rest = _shapes(spec)
    c_in, c_out = fused[0].in_shape[2], fused[-1].c_out
    out = []
    for tile in grid(fused[-1].out_hw, *spec.grid_nm):
        first = walk_back(fused, tile)[0][0]
        out.append((first.rows * first.cols * c_in * 4, tile.rows * tile.cols * c_out * 4))
    return out


def task_bytes(spec: RunSpec, devices: list[str]) -> list[tuple[int, int]]:
    """A task's two messages' bytes (input, result), the same for every device: the tiles'."""
    return tile_bytes(spec)


def reuse_tiles(spec: RunSpec, devices: list[str]) -> tuple[ReuseTile, ...] | None:
    """wst-s: each tile's reuse prices from node_app's own geometry (node_app/reuse.py) and
    each device's profile, as node_app/roles/reuse_device.py prices them; None when a
    profile has no cost model."""
    fused, _rest = _shapes(spec)
    n, m = spec.grid_nm
    plan = ReusePlan.of(fused, n, m)
    profs = [device_profile(d) for d in devices]
    if any(p.native for p in profs):
        return None
    channels = [la.c_out for la in fused]
    c_in = fused[0].in_shape[2]
    out = []
    for t in range(n * m):
        red = plan.reduced.get(t)
        if red is None:
            out.append(ReuseTile(give_bytes=sum(piece_bytes(p, channels)
                                                for p in plan.gives(t))))
            continue
        costs = [map_cost(la, r) for la, r in zip(fused, red.computed, strict=True)
                 if not r.empty]
        out.append(ReuseTile(
            neighbours=tuple(sorted(neighbours(t, n, m).values())),
            ms=tuple(p.frame_ms(costs) or 0.0 for p in profs),
            in_bytes=red.input.rows * red.input.cols * c_in * 4,
            fetch_bytes=sum(piece_bytes(p, channels) for p in red.pieces)))
    return tuple(out)


def board_jobs(spec: RunSpec, gateway: str, devices: list[str]) -> BoardJobs | None:
    """Each device's tile times, one round of all tiles (under wst-s in checkerboard order,
    with the reuse prices), G's rest, each tile's bytes; None when a profile has no cost
    model."""
    tiles = [tile_ms(p, spec) for p in devices]
    rest = rest_ms(gateway, spec)
    if rest is None or any(t is None for t in tiles):
        return None
    n, m = spec.grid_nm
    reuse = reuse_tiles(spec, devices) if spec.sched == "wst-s" else ()
    order = checkerboard(n, m) if spec.sched == "wst-s" else list(range(n * m))
    info = describe(spec.model)
    return BoardJobs(parts_ms=tuple(tuple(t) for t in tiles),  # type: ignore[arg-type]
                     rounds=(tuple(order),), rest_ms=rest,
                     task_bytes=tuple(task_bytes(spec, devices)),
                     frame_bytes=(info.input_size * 4, info.output_size * 4),
                     sched=spec.sched, reuse=reuse or ())


def predict(p: Params) -> dict[str, Any]:
    """wsh: G (queues a frame's tiles, at most queue_size frames on the board; its sender
    runs the rest and forwards) and K pulling devices (their tile times, `p.parts_ms`).
    wst, wst-s: the source D0 and K - 1 thieves (harness/des_steal.py)."""
    if p.sched in ("wst", "wst-s"):
        return steal_predict(p)
    sim, sink, drops, g, devices, entry = board(p, "ftp")
    return simulate(sim, sink, [entry], [g, *devices], drops, p)
