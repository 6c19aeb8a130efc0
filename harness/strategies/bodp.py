"""MoDNN's biased one-dimensional partition (BODP), DeepThings' comparison (seed 002).

client -> G (gateway) <-> D0..D(K-1), layer by layer -> G -> sink. G runs the layers of the
model's fused stage (all 16 of yolov2-16) one at a time: layer l's output rows are cut into
one band per device in proportion to its speed (node_app/tiles.py biased_rows, full width),
band k goes to device k only (MoDNN assigns statically), which computes that one layer on
the rows of l's input its band needs and returns it; when every band of l is in, G cuts
layer l+1's bands from the merged map (MoDNN's data delivery: every layer's output goes
through the gateway, so the traffic grows with the layers and the devices), and after the
last layer forwards the frame. node_app/roles/band_gateway.py and band_helper.py; run.json
`tasks.bands` / `pull.bands` (device names in band order, their speeds).

`--sources=S`: S cameras, each its own schedule and packet ID range (harness/schedule.py),
source i standing for device Di. MoDNN's data source hands its frame to the gateway, which
partitions it; so every source's frames are posted to G, the single source's one path (the
hop from Di to G is the camera's link here), and G's board holds frames of all sources at
once (queue_size of them).

Speeds: device k's is 1000 / its profile's time for a whole frame of the fused stage, so a
device twice as fast gets twice the rows (rpi3bplus 0.692, rpi3bplus_half_speed 0.346 on
yolov2-16). When any device's profile has no cost model (native: real Pis, speed unknown
until measured) or adds no time (zero), every speed is 1: equal bands.

capacity_fps: device k's time per frame is the sum over layers of its band's profiled ms
(each band priced on its own rows, the per-layer fixed cost paid once per band: node_app's
stack_costs, as the devices wait it out), T_k; the devices bound is min over k of 1000 / T_k.
The layer barrier does not lower that while frames overlap: G's board keeps up to
`queue_size` frames in flight and a device waiting at frame n's barrier takes its band of
frame n+1. It binds only through those frames in flight: a frame spends at least
L = sum over layers of the slowest band's ms on the board, so at most queue_size frames per
L (Little's law); capacity_fps = min(min_k 1000 / T_k, queue_size * 1000 / L). With the
default queue_size 5 the device term is the lower one: yolov2-16 on rpi3bplus, K = 2:
T_k = 739 ms = L, 1.35 fps (the barrier term is 6.8); K = 6: T_k 228..300 ms, 3.33 fps
(equal speeds leave each layer's spare rows to the first devices, so D0 and D1 are the
slowest every time); yolov2-16-608, K = 6: 0.279 fps, against 0.049 for one device. It is
the barrier's at queue_size 1 (1000 / L: a frame at a time). L is also a frame's latency
before communication: 3.59 s at 608, K = 6, against 20.4 s on one device (DeepThings
measured MoDNN at 8.1 s: the layer-by-layer exchange over WiFi is what BODP pays for).
G's own work (cutting and merging bands) is copies and is not priced.

Prediction (harness/des.py): G's board with one round per layer (that layer's non-empty
bands, block l * K + k owned by device k alone), up to queue_size frames in flight, each
band costing its `band_ms` plus two round trips (the pull, the result) plus its bytes (the
rows of its input it needs and its output: `band_bytes`) at the link's rate, one hop to the
sink. One frame alone therefore takes the sum over layers of (the slowest band + two
round trips + its bytes' time), plus the hop; frames in flight fill the barrier's idle time
as above. The bytes are what the model missed before (yolov2-16, K = 5: 21 MB a frame
through G); each band's messages are priced alone, so G's own contention (one host, every
band of a layer at once) is not in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.capacity import device_profile, fps_min, fps_of
from harness.des import BoardJobs, Params, board, simulate
from harness.inventory import Host
from harness.models import describe
from harness.strategies.common import MapShape, map_shapes
from harness.strategies.plan import NodePlan, Plan, body_limit
from node_app.stage import stack_costs
from node_app.tiles import Region, biased_rows, input_region

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "bodp"
ALIASES = ("bodp", "modnn")
USES = ("k", "sources")
DEFAULT_HOSTS = 3  # gateway + 2 devices; hosts_needed() gives the number for the spec's K


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def check(spec: RunSpec) -> None:
    """The model has a fused stage of conv and pool layers to cut into bands."""
    map_shapes(spec.model)


def _frame_ms(profile: str, shapes: list[MapShape]) -> float | None:
    """One whole frame of the fused stage on `profile`; None when it has no cost model."""
    prof = device_profile(profile)
    if prof.native:
        return None
    return prof.frame_ms(stack_costs(shapes, Region.whole(shapes[-1].out_hw)))


def device_speeds(profiles: list[str], model: str) -> list[float]:
    """Each device's speed, frames per second of the whole fused stage on its profile; all
    1.0 when a profile has no cost model (native) or adds no time (zero)."""
    shapes = map_shapes(model)
    times = [_frame_ms(p, shapes) for p in profiles]
    if any(t is None or t <= 0 for t in times):
        return [1.0] * len(profiles)
    return [round(1000.0 / t, 6) for t in times]  # type: ignore[operator]


def band_ms(profiles: list[str], model: str) -> list[list[float]] | None:
    """Profiled ms of device k's band of layer l, [l][k] (0 for an empty band), as the
    devices price and wait it out; None when a profile has no cost model (native)."""
    shapes = map_shapes(model)
    if any(device_profile(p).native for p in profiles):
        return None
    speeds = device_speeds(profiles, model)
    table = []
    for shape in shapes:
        h, w = shape.out_hw
        table.append([0.0 if r1 == r2 else
                      device_profile(p).frame_ms(stack_costs([shape], Region(r1, r2, 0, w)))
                      or 0.0
                      for p, (r1, r2) in zip(profiles, biased_rows(h, speeds), strict=True)])
    return table


def live_bands(profiles: list[str], model: str) -> list[list[bool]]:
    """[l][k]: has device k's band of layer l any rows? (node_app's Bands.live: an empty
    band is not queued, so it costs no round trips either.)"""
    speeds = device_speeds(profiles, model)
    return [[r1 != r2 for r1, r2 in biased_rows(shape.out_hw[0], speeds)]
            for shape in map_shapes(model)]


def capacity_fps(spec: RunSpec, devices: list[Host]) -> float | None:
    """min(min over devices of 1000 / (its bands' ms summed over layers), queue_size frames
    per frame latency through the layer barriers); None when a profile has no cost model."""
    table = band_ms([d.profile for d in devices], spec.model)
    if table is None:
        return None
    per_device = [fps_of(sum(row[k] for row in table)) for k in range(len(devices))]
    barrier = fps_of(sum(max(row) for row in table) / spec.queue_size)
    return fps_min([*per_device, barrier])


def gateway_body_bytes(model: str, speeds: list[float]) -> int:
    """G's max_body_bytes: G takes each band's output back as a task result, and the largest
    is a band of a big early layer (yolov2-16, K = 2: 80 x 160 x 32 floats, 1.6 MB), far
    above the limit a frame needs."""
    shapes = map_shapes(model)
    largest = max((r2 - r1) * s.out_hw[1] * s.c_out * 4 for s in shapes
                  for r1, r2 in biased_rows(s.out_hw[0], speeds))
    return max(body_limit(describe(model).input_size), largest)


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    shapes = map_shapes(spec.model)
    g, devices = hosts[0], hosts[1 : 1 + spec.k]
    bands = {"devices": [d.name for d in devices],
             "speeds": device_speeds([d.profile for d in devices], spec.model)}
    blocks = len(shapes) * len(devices)  # a task is one band of one layer
    stage = info.fused_stage
    nodes = [NodePlan(g, "G", [stage], [sink.endpoint],
                      extra={"tasks": {"blocks": blocks, "width": info.output_size,
                                       "bands": bands},
                             "admission": spec.admission,
                             "max_body_bytes": gateway_body_bytes(spec.model, bands["speeds"])})]
    nodes += [NodePlan(d, f"D{i}", [stage], [],
                       extra={"pull": {"gateway": g.endpoint, "blocks": blocks, "bands": bands}})
              for i, d in enumerate(devices)]
    nodes.append(NodePlan(sink, "sink", []))
    return Plan(nodes=nodes, targets=[g.endpoint], capacity_fps=capacity_fps(spec, devices),
                input_size=info.input_size)


def band_bytes(profiles: list[str], model: str) -> list[tuple[int, int]]:
    """Per task b = l * K + k: the bytes of band k of layer l's input (the rows it needs,
    full width) and of its output, as node_app's gateway cuts and takes them
    (node_app/roles/band_gateway.py Bands); (0, 0) for an empty band."""
    speeds = device_speeds(profiles, model)
    out = []
    for shape in map_shapes(model):
        h, w = shape.out_hw
        for r1, r2 in biased_rows(h, speeds):
            band = Region(r1, r2, 0, w)
            if band.empty:
                out.append((0, 0))
                continue
            inp = input_region(shape, band)[0]
            out.append((inp.rows * inp.cols * shape.in_shape[2] * 4,
                        band.rows * band.cols * shape.c_out * 4))
    return out


def task_bytes(spec: RunSpec, devices: list[str]) -> list[tuple[int, int]]:
    """A task's two messages' bytes (input, result): the bands' on these devices' speeds."""
    return band_bytes(devices, spec.model)


def board_jobs(spec: RunSpec, gateway: str, devices: list[str]) -> BoardJobs | None:
    """Tasks b = l * K + k, device k's the band times of its own blocks; one round per layer
    of its non-empty bands; each band's bytes; None when a profile has no cost model."""
    table = band_ms(devices, spec.model)
    if table is None:
        return None
    live = live_bands(devices, spec.model)
    k = len(devices)
    info = describe(spec.model)
    return BoardJobs(
        parts_ms=tuple(tuple(row[d] if j == d else 0.0 for row in table for j in range(k))
                       for d in range(k)),
        rounds=tuple(tuple(layer * k + d for d in range(k) if live[layer][d])
                     for layer in range(len(table))),
        owners=tuple(b % k for b in range(len(table) * k)),
        task_bytes=tuple(task_bytes(spec, devices)),
        frame_bytes=(info.input_size * 4, info.output_size * 4))


def predict(p: Params) -> dict[str, Any]:
    """G (one round of bands per layer, each band its device's own, at most queue_size
    frames on the board) and K pulling devices (their band times, `p.parts_ms`)."""
    sim, sink, drops, g, devices, entry = board(p, "bodp")
    return simulate(sim, sink, [entry], [g, *devices], drops, p)
