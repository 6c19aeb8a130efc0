"""What DeepThings' data reuse (`--sched=wst-s`) saves per frame, from the geometry alone.

`python -m harness.ftp_reuse` prints, for yolov2-16 (160) and yolov2-16-608, grids 3x3 and
5x5: the conv work of all tiles of a frame without reuse (wsh/wst) and with it (wst-s), the
profiled device time of that work on rpi3bplus, and the bytes a frame puts on the wire when
every tile travels (every tile handed out or stolen: tile inputs out, tile outputs back; with
reuse also the overlap up to the gateway and down to the dependent tiles, and the dependent
tiles' smaller inputs). Priced with node_app's own geometry and costs (node_app/reuse.py,
node_app/stage.py), so it is what the devices wait out, not an estimate beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.capacity import device_profile
from harness.strategies.common import map_shapes
from node_app.reuse import ReusePlan, piece_bytes
from node_app.stage import map_cost, stack_costs
from node_app.tiles import walk_back

PROFILE = "rpi3bplus"


@dataclass(frozen=True)
class Savings:
    model: str
    grid: tuple[int, int]
    macs_plain: int
    macs_reuse: int
    ms_plain: float
    ms_reuse: float
    bytes_plain: int  # inputs + outputs of every tile
    bytes_reuse: int  # inputs (dependent: reduced) + outputs + overlap up + overlap down
    overlap_bytes: int  # the overlap, one way


def savings(model: str, n: int, m: int, profile: str = PROFILE) -> Savings:
    layers = map_shapes(model)
    plan = ReusePlan.of(layers, n, m)
    prof = device_profile(profile)
    channels = [la.c_out for la in layers]
    c_in = layers[0].in_shape[2]
    out_c = channels[-1]
    macs_plain = macs_reuse = 0
    ms_plain = ms_reuse = 0.0
    bytes_plain = bytes_reuse = overlap = 0
    for t, tile in enumerate(plan.tiles):
        full = stack_costs(layers, tile)
        first = walk_back(layers, tile)[0][0]
        in_full = first.rows * first.cols * c_in * 4
        out = tile.rows * tile.cols * out_c * 4
        macs_plain += sum(c.macs for c in full)
        ms_plain += prof.frame_ms(full) or 0.0
        bytes_plain += in_full + out
        red = plan.reduced.get(t)
        if red is None:
            macs_reuse += sum(c.macs for c in full)
            ms_reuse += prof.frame_ms(full) or 0.0
            bytes_reuse += in_full + out
            continue
        costs = [map_cost(la, r) for la, r in zip(layers, red.computed, strict=True)
                 if not r.empty]
        pieces = sum(piece_bytes(p, channels) for p in red.pieces)
        macs_reuse += sum(c.macs for c in costs)
        ms_reuse += prof.frame_ms(costs) or 0.0
        bytes_reuse += red.input.rows * red.input.cols * c_in * 4 + out + 2 * pieces
        overlap += pieces
    return Savings(model, (n, m), macs_plain, macs_reuse, ms_plain, ms_reuse, bytes_plain,
                   bytes_reuse, overlap)


def main() -> None:
    print(f"| model | grid | GMAC wst | GMAC wst-s | saved | {PROFILE} ms wst | ms wst-s | "
          "saved | MB/frame wst (all tiles travel) | MB wst-s | change | overlap MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model in ("yolov2-16", "yolov2-16-608"):
        for n in (3, 5):
            s = savings(model, n, n)
            print(f"| {model} | {n}x{n} | {s.macs_plain / 1e9:.2f} | {s.macs_reuse / 1e9:.2f} "
                  f"| {1 - s.macs_reuse / s.macs_plain:.0%} | {s.ms_plain:.0f} | "
                  f"{s.ms_reuse:.0f} | {1 - s.ms_reuse / s.ms_plain:.0%} | "
                  f"{s.bytes_plain / 1e6:.2f} | {s.bytes_reuse / 1e6:.2f} | "
                  f"{s.bytes_reuse / s.bytes_plain - 1:+.0%} | {s.overlap_bytes / 1e6:.2f} |")


if __name__ == "__main__":
    main()
