"""FTP with work stealing and data reuse (DeepThings' `wst-s`), edge device side.

As a `wst` device (node_app/roles/steal_device.py), with DeepThings' reuse (deepthings_edge.c,
geometry in node_app/reuse.py):

- a cut frame's tiles are queued in checkerboard order (tiles.checkerboard: independent
  tiles first), and thieves take the front of the queue as the owner does (DeepThings'
  steal_client dequeues the front), so the independent tiles of a frame go first everywhere;
- an independent tile is computed whole, as without reuse, and its result body carries the
  pieces of its intermediate outputs its dependent neighbours reuse (ReusePlan.gives);
- a dependent tile asks the gateway for its neighbours' pieces (`/steal/reuse`); with them
  it computes per layer only what they do not cover (reuse.run_reduced), from the smaller
  input region Reduced.input; when a neighbour is not in yet (204) it computes the whole
  tile instead, as DeepThings does when is_reuse_ready is false, and counts a fallback;
- a victim asked for a dependent tile whose reuse the gateway says is ready (the moved
  lease's reply) hands the thief only the smaller input region (`X-Reuse: 1`), as
  DeepThings' steal_client_reuse_aware does; the thief must then fetch the pieces (a 204
  there is an error: the data cannot go away before the tile is done).

The device waits out its profile's time for the work it really did: an independent tile or
a fallback is priced as without reuse (stack_costs), a reused tile on the regions it
computed (each layer's `computed`, map_cost).

/stats adds `reuse_tiles` (dependent tiles computed with reuse), `reuse_fallback` (computed
whole: a neighbour was not in), `reused_bytes` (pieces fetched), `gave_bytes` (pieces sent
with results), `macs_done` and `macs_without_reuse` (conv multiply-accumulates of the tiles
computed here, and what the same tiles cost without reuse). Trace: `reused`
(`<i>:<bytes>:<macs>/<macs without reuse>`), `reuse_fallback` (`<i>`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from node_app.conv import run_layers
from node_app.reuse import ReusePlan, cut, piece_bytes, run_reduced
from node_app.roles.steal_device import StealDevice
from node_app.roles.task_helper import MAX_REPLY_BYTES, BadReply
from node_app.stage import map_cost, stack_costs
from node_app.tiles import Region, checkerboard
from node_app.validate import packet_id, parse_block

COUNTS = ("reuse_tiles", "reuse_fallback", "reused_bytes", "gave_bytes", "macs_done",
          "macs_without_reuse")


def _macs(costs: list[Any]) -> int:
    return sum(c.macs for c in costs if c.kind == "conv")


class ReuseDevice(StealDevice):
    """A stealing device that hands its overlap on and reuses its neighbours'."""

    steal_front = True

    def setup(self) -> None:
        super().setup()
        st = self.stacks
        tiles = self.cfg.tiles
        assert tiles is not None and tiles.sched == "wst-s", "ReuseDevice needs wst-s"
        self.plan = plan = ReusePlan.of(st.fused, *tiles.grid)
        self.channels = [la.out_shape[2] for la in st.fused]
        c_in = st.fused[0].in_shape[2]
        prof = self.node.profile
        self.gives = {t: plan.gives(t) for t in range(len(st.tiles)) if not plan.dependent(t)}
        self.reduced_in_bytes, self.reduced_ms, self.reduced_macs = {}, {}, {}
        for t, red in plan.reduced.items():
            costs = [map_cost(la, r) for la, r in zip(st.fused, red.computed, strict=True)
                     if not r.empty]
            self.reduced_in_bytes[t] = red.input.rows * red.input.cols * c_in * 4
            self.reduced_ms[t] = prof.frame_ms(costs)
            self.reduced_macs[t] = _macs(costs)
        self.full_macs = [_macs(stack_costs(st.fused, t)) for t in st.tiles]
        self.reuse_max = max([sum(piece_bytes(p, self.channels) for p in red.pieces)
                              for red in plan.reduced.values()] + [0])
        self.counts.update(dict.fromkeys(COUNTS, 0))
        self.reduced_inputs: set[tuple[int, int]] = set()  # worker only: stolen cropped

    def order(self) -> list[int]:
        return checkerboard(self.plan.n, self.plan.m)

    # a victim's side ---------------------------------------------------------------------

    def hand_over(self, tile: int, data: bytes, lease: bytes
                  ) -> tuple[bytes, tuple[tuple[str, str], ...]]:
        if not self.plan.dependent(tile):
            return data, ()
        try:
            ready = json.loads(lease).get("reuse") is True
        except (ValueError, AttributeError):
            ready = False
        if not ready:
            return data, ()
        return self._crop(tile, data), (("X-Reuse", "1"),)

    def _crop(self, tile: int, data: bytes) -> bytes:
        """The reduced input region out of the tile's whole input region."""
        full, red = self.stacks.input_region(tile), self.plan.reduced[tile].input
        x = np.frombuffer(data, "<f4").reshape(full.rows, full.cols, -1)
        part = x[red.r1 - full.r1:red.r2 - full.r1, red.c1 - full.c1:red.c2 - full.c1]
        return np.ascontiguousarray(part).tobytes()

    # a thief's side ----------------------------------------------------------------------

    def parse_task(self, headers: dict[str, str], data: bytes) -> tuple[int, int, bytes]:
        if headers.get("x-reuse") != "1":
            return super().parse_task(headers, data)
        tile = parse_block(headers.get("x-block"), self.cfg.blocks)
        pid, bad_pid, _detail = packet_id(headers.get("x-packet-id"))
        if (tile is None or bad_pid or not self.plan.dependent(tile)
                or len(data) != self.reduced_in_bytes[tile]):
            raise BadReply("bad_task", f"X-Reuse task X-Block {headers.get('x-block')!r} "
                           f"{len(data)} bytes")
        self.reduced_inputs.add((pid, tile))
        return pid, tile, data

    # computing ---------------------------------------------------------------------------

    def _do(self, packet_id: int, block: int, data: bytes) -> None:
        if not self.plan.dependent(block):
            self._add(macs_done=self.full_macs[block], macs_without_reuse=self.full_macs[block])
            self._run(packet_id, block, lambda: self._independent(block, data),
                      self.block_ms[block])
            return
        cropped = (packet_id, block) in self.reduced_inputs
        self.reduced_inputs.discard((packet_id, block))
        reused = self._fetch(packet_id, block)
        if reused is None:
            if cropped:
                raise BadReply("reuse_missing", f"tile {block} of packet {packet_id}")
            self._add(reuse_fallback=1, macs_done=self.full_macs[block],
                      macs_without_reuse=self.full_macs[block])
            self.node.trace.write(packet_id, "reuse_fallback", str(block))
            self._run(packet_id, block, lambda: self.compute(block, data).tobytes(),
                      self.block_ms[block])
            return
        if not cropped:
            data = self._crop(block, data)
        self._add(reuse_tiles=1, reused_bytes=len(reused), macs_done=self.reduced_macs[block],
                  macs_without_reuse=self.full_macs[block])
        self.node.trace.write(packet_id, "reused", f"{block}:{len(reused)}:"
                              f"{self.reduced_macs[block]}/{self.full_macs[block]}")
        self._run(packet_id, block, lambda: self._reduced(block, data, reused),
                  self.reduced_ms[block])

    def _independent(self, tile: int, data: bytes) -> bytes:
        first = self.stacks.input_region(tile)
        x = np.frombuffer(data, dtype="<f4").reshape(first.rows, first.cols, -1)
        outs = run_layers(self.stacks.fused, x, self.stacks.tiles[tile])
        pieces = cut(self.gives[tile], outs, self.plan.full[tile])
        self._add(gave_bytes=len(pieces))
        return np.asarray(outs[-1], dtype="<f4").tobytes() + pieces

    def _reduced(self, tile: int, data: bytes, reused: bytes) -> bytes:
        red = self.plan.reduced[tile]
        r: Region = red.input
        x = np.frombuffer(data, dtype="<f4").reshape(
            max(r.rows, 0), max(r.cols, 0), self.stacks.fused[0].in_shape[2])
        return np.asarray(run_reduced(self.stacks.fused, red, x, reused), "<f4").tobytes()

    def _fetch(self, pid: int, tile: int) -> bytes | None:
        """The tile's pieces from the gateway, or None when a neighbour is not in (204)."""
        status, _h, data = self._request(
            "/steal/reuse", {"X-Packet-Id": str(pid), "X-Block": f"{tile}/{self.cfg.blocks}"},
            max_bytes=max(self.reuse_max, MAX_REPLY_BYTES))
        if status == 204:
            return None
        red = self.plan.reduced[tile]
        want = sum(piece_bytes(p, self.channels) for p in red.pieces)
        if status != 200 or len(data) != want:
            raise BadReply("bad_reuse", f"/steal/reuse: HTTP {status}, {len(data)} bytes")
        return data

    def _add(self, **counts: int) -> None:
        with self.node.stats.lock:
            for key, value in counts.items():
                self.counts[key] += value

    def describe(self) -> str:
        return super().describe().replace("work-stealing device",
                                          "work-stealing device with data reuse")
