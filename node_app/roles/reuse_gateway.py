"""FTP with work stealing and data reuse (DeepThings' `wst-s`), gateway side.

Everything of `wst` (node_app/roles/steal_gateway.py: victim registry, leases, merge) plus
DeepThings' overlapped-data pool (deepthings_gateway.c recv_reuse_data_from_edge /
send_reuse_data_to_edge), with the geometry of node_app/reuse.py:

- an independent tile's result (`POST /task/result`) carries, after the tile's output, the
  pieces of its intermediate layer outputs that its dependent neighbours reuse (ReusePlan
  .gives, wire order); the board keeps them with the frame until the frame is merged (so at
  most `max_frames` frames of them per source). One request, not DeepThings' two: the data
  goes where the result goes;
- `POST /steal/reuse` (`X-Packet-Id`, `X-Block: i/T`, no body), from the device that holds
  dependent tile i's lease: 200 with the tile's pieces (Reduced.pieces order) once all its
  neighbours' results are in, else 204 (DeepThings' is_reuse_ready: all or nothing; the
  device then computes the whole tile). 409 `not_leased` for anyone else, 400
  `unknown_task` for a tile that is not a dependent one of a frame in flight;
- a moved lease's reply says whether the tile's reuse is ready (`{"ok", "reuse"}`), so a
  victim hands a thief only the smaller input region of a dependent tile whose data is in
  (DeepThings' steal_client_reuse_aware sends the "shrinked input" in that case).

/stats adds `reuse_bytes_in` (pieces received with results), `reuse_bytes_out` (pieces
served), `reuse_served` and `reuse_not_ready` (204s). Trace: `reuse_sent`
(`<device>:<i>:<bytes>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node_app.reuse import ReusePlan, neighbours, piece_bytes
from node_app.role import Reply, StealService
from node_app.roles.steal_gateway import StealBoard, StealGateway, _refused
from node_app.roles.task_gateway import _Frame
from node_app.validate import packet_id, parse_block

COUNTS = ("reuse_bytes_in", "reuse_bytes_out", "reuse_served", "reuse_not_ready")


class ReuseBoard(StealBoard):
    """A stealing board that also keeps the overlap independent tiles hand their neighbours
    (in each frame's `x`: (giver, taker, layer) -> bytes) and serves it to dependent tiles."""

    def __init__(self, node: Any, *args: Any) -> None:
        super().__init__(node, *args)
        fused = self.stacks.fused
        self.plan = ReusePlan.of(fused, *self.cfg.tiles.grid)  # type: ignore[union-attr]
        self.channels = [la.out_shape[2] for la in fused]
        self.gives = [[] if self.plan.dependent(t) else self.plan.gives(t)
                      for t in range(len(self.stacks.tiles))]
        self.give_bytes = [sum(piece_bytes(p, self.channels) for p in g) for g in self.gives]
        self.counts = dict.fromkeys(COUNTS, 0)

    def register(self, owner: str, address: str, pid: int, tiles: int) -> str | None:
        error = super().register(owner, address, pid, tiles)
        if error is None:
            with self.cond:
                self.frames[pid].x = {}  # no result can be in yet: the tiles are not queued
        return error

    def _result_bytes(self, block: int) -> int:
        return super()._result_bytes(block) + self.give_bytes[block]

    def _store(self, frame: _Frame, block: int, body: bytes) -> None:
        n = super()._result_bytes(block)
        self._place(frame.out, block, body[:n])
        at = n
        for p in self.gives[block]:
            size = piece_bytes(p, self.channels)
            frame.x[(p.src, p.dst, p.layer)] = body[at:at + size]
            at += size
        self.counts["reuse_bytes_in"] += len(body) - n

    def _ready(self, frame: _Frame, tile: int) -> bool:
        """All neighbours of dependent `tile` are in (call with self.cond held)."""
        side = neighbours(tile, self.plan.n, self.plan.m)
        return all(t not in frame.left for t in side.values())

    def lease_reply(self, pid: int, tile: int) -> dict[str, Any]:
        with self.cond:
            frame = self.frames.get(pid)
            ready = (frame is not None and self.plan.dependent(tile)
                     and self._ready(frame, tile))
        return {"ok": True, "reuse": ready}

    def reuse(self, node: str, pid: int, tile: int) -> Reply:
        """Dependent tile `tile`'s pieces for the device holding its lease, or 204."""
        with self.cond:
            frame = self.frames.get(pid)
            if frame is None or tile not in frame.left or not self.plan.dependent(tile):
                return _refused("unknown_task", f"tile {tile} of packet {pid}")
            held = self.leased.get((pid, tile))
            if held is None or held[0] != node:
                return _refused("not_leased", f"tile {tile} of packet {pid} is not leased "
                                f"to {node}")
            if not self._ready(frame, tile):
                self.counts["reuse_not_ready"] += 1
                return Reply(204)
            data = b"".join(frame.x[(p.src, p.dst, p.layer)]
                            for p in self.plan.reduced[tile].pieces)
            self.counts["reuse_served"] += 1
            self.counts["reuse_bytes_out"] += len(data)
        with self.node.stats.lock:
            self.node.stats.bytes_out += len(data)
        self.node.trace.write(pid, "reuse_sent", f"{node}:{tile}:{len(data)}")
        return Reply(200, data=data, headers=(("X-Packet-Id", str(pid)),
                                              ("X-Block", f"{tile}/{self.blocks}")))

    def steal_request(self, path: str, node: str, peer: str,
                      headers: Mapping[str, str]) -> Reply:
        if path != "/steal/reuse":
            return super().steal_request(path, node, peer, headers)
        pid, bad_pid, detail = packet_id(headers.get("X-Packet-Id"))
        tile = parse_block(headers.get("X-Block"), self.blocks)
        if bad_pid or tile is None:
            return _refused("bad_task", f"X-Packet-Id / X-Block {detail}")
        return self.reuse(node, pid, tile)

    def reuse_counts(self) -> dict[str, int]:
        with self.cond:
            return dict(self.counts)


class ReuseGateway(StealGateway):
    """The work-stealing gateway with DeepThings' overlapped-data pool."""

    board_class = ReuseBoard
    board: ReuseBoard

    def steal(self) -> StealService:
        return self.board

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.board.reuse_counts()}

    def describe(self) -> str:
        return super().describe().replace("work-stealing gateway",
                                          "work-stealing gateway with data reuse")
