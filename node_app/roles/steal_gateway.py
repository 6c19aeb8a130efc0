"""FTP with work stealing (DeepThings' `wst`, no data reuse), gateway side.

The frame does not come here: it enters at a data source device (node_app/roles/
steal_device.py), which cuts it into the grid's tiles, queues them locally and works on them
itself. What the gateway keeps (run.json `tasks` with `tiles.sched` = `wst`):

- the victim registry (DeepThings' `registration_list`): a source registers itself with each
  frame it cuts (`POST /steal/register`, headers `X-Packet-Id`, `X-Tiles: T`, `X-Port`: where
  thieves reach it; its address is the request's source address, so a device can point
  thieves only at itself) and cancels when its local queue is empty (`/steal/cancel`). An
  idle device asks `POST /steal/victim` and gets a registered device other than itself,
  round robin (DeepThings' steal_gateway: take the head, put it back at the tail), as
  `200 {"victim", "address"}`, or 204 when nobody has work;
- the leases: a registered frame's tiles are all leased to its source; when a thief steals
  one, the victim moves that lease to the thief (`POST /steal/lease`, `X-Packet-Id`,
  `X-Block: i/T`, `X-Thief`) before it hands the tile over. One request more per steal than
  DeepThings, so that results are taken only from the device that holds the tile (409
  `not_leased` otherwise), as on the work-sharing board;
- result collection and the merge: `POST /task/result` exactly as in work sharing (node_app/
  roles/task_gateway.py): when a frame's T tiles are in, the board's sender runs the layers
  after the fused ones (tile_gateway.TileBoard.finish) and forwards to the sink.

Bounds and losses: at most `max_frames` (the gateway's queue_size) frames registered and
incomplete per source (a further registration gets 429 `too_many_frames` and the source drops
that frame), at most MAX_HELPERS device names (registry, leases, counts), so at most
max_frames x MAX_HELPERS frames in all. Per source, not in all: with several data sources
(`--sources`) a shared bound below their number would refuse a source's first frame while
the others each hold one, a loss no source's own load caused. A frame never completed
is traced `dropped` `tasks_incomplete` at stop, as the task gateway does. A thief that dies
takes its tile with it: nobody else holds that tile's input, so its frame stays incomplete
until stop (DeepThings has no recovery either; leases here do not expire).

Trace: `tiles_registered` (`<source>:<T>`), `task_sent` (`<thief>:<i>`: a lease moved to a
thief), `task_done` (`<device>:<i>`), and the merge's `started`/`finished`/`forwarded`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from node_app.role import Reply, StealService
from node_app.roles.task_gateway import _Frame
from node_app.roles.tile_gateway import TileBoard, TileGateway
from node_app.validate import NODE_NAME, packet_id, parse_block

_REFUSED = {"unknown_task": 400, "duplicate_packet_id": 400, "not_leased": 409,
            "too_many_helpers": 429, "too_many_frames": 429}


def _refused(reason: str, detail: str) -> Reply:
    return Reply(_REFUSED.get(reason, 400), {"error": reason, "detail": detail})


def _port(text: str | None) -> int | None:
    if not text or not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


class StealBoard(TileBoard):
    """A tile board whose tiles are never queued here: sources register frames and hold
    their tiles' leases; thieves find victims in the registry; results come back as on the
    work-sharing board (TaskBoard.result checks the lease)."""

    def __init__(self, node: Any, *args: Any) -> None:
        super().__init__(node, *args)
        self.victims: dict[str, str] = {}  # registered device -> "address:port"
        self.turn: deque[str] = deque()  # round-robin order of self.victims' names
        self.stolen_by: dict[str, int] = {}  # thief -> leases moved to it
        self.owner_of: dict[int, str] = {}  # registered frame -> its source (while on board)

    # the sources' side ---------------------------------------------------------------------

    def register(self, owner: str, address: str, pid: int, tiles: int) -> str | None:
        """A source cut frame `pid`: lease its tiles to the source, list it as a victim;
        an error reason, or None."""
        with self.cond:
            if (refused := self.admit_helper(owner)) is not None:
                return refused
            if pid in self.frames:
                return "duplicate_packet_id"
            self.owner_of = {p: o for p, o in self.owner_of.items() if p in self.frames}
            if sum(o == owner for o in self.owner_of.values()) >= self.max_frames:
                return "too_many_frames"
            self.owner_of[pid] = owner
            self.frames[pid] = _Frame(None, np.zeros(self.out_shape, "<f4"), set(range(tiles)))
            now = time.monotonic()
            self.leased.update({(pid, i): (owner, now) for i in range(tiles)})
            if owner not in self.victims:
                self.turn.append(owner)
            self.victims[owner] = address
            self.node.trace.write(pid, "tiles_registered", f"{owner}:{tiles}")
        return None

    def cancel(self, owner: str) -> None:
        """The source's local queue is empty: no longer a victim."""
        with self.cond:
            if self.victims.pop(owner, None) is not None:
                self.turn.remove(owner)

    def lease(self, owner: str, thief: str, pid: int, tile: int) -> str | None:
        """Victim `owner` hands tile `tile` of frame `pid` to `thief`: move the lease."""
        with self.cond:
            frame = self.frames.get(pid)
            if frame is None or tile not in frame.left:
                return "unknown_task"
            held = self.leased.get((pid, tile))
            if held is None or held[0] != owner or thief == owner:
                return "not_leased"
            if (refused := self.admit_helper(thief)) is not None:
                return refused
            self.leased[(pid, tile)] = (thief, time.monotonic())
            self.stolen_by[thief] = self.stolen_by.get(thief, 0) + 1
            self.node.trace.write(pid, "task_sent", f"{thief}:{tile}")
        return None

    def lease_reply(self, pid: int, tile: int) -> dict[str, Any]:
        """What a moved lease's 200 says (data reuse adds whether the tile's reuse is in)."""
        return {"ok": True}

    # the thieves' side ---------------------------------------------------------------------

    def victim(self, thief: str) -> tuple[str, str] | None:
        """The next registered device other than `thief`, round robin, or None."""
        with self.cond:
            for _ in range(len(self.turn)):
                name = self.turn[0]
                self.turn.rotate(-1)
                if name != thief:
                    return name, self.victims[name]
        return None

    def next(self, helper: str, wait_s: float = 0.0) -> tuple[int, int, bytes] | None:
        """Nothing is handed out here (tiles are stolen from their sources): /task/next 204."""
        return None

    # HTTP ----------------------------------------------------------------------------------

    def steal_request(self, path: str, node: str, peer: str,
                      headers: Mapping[str, str]) -> Reply:
        if path not in ("/steal/victim", "/steal/cancel", "/steal/register", "/steal/lease"):
            return Reply(404, {"error": "not_found", "detail": f"{path}: not on a gateway"})
        if path == "/steal/victim":
            if (refused := self.admit_helper(node)) is not None:
                return _refused(refused, node)
            found = self.victim(node)
            if found is None:
                return Reply(204)
            return Reply(200, {"victim": found[0], "address": found[1]})
        if path == "/steal/cancel":
            self.cancel(node)
            return Reply(200, {"ok": True})
        pid, bad_pid, detail = packet_id(headers.get("X-Packet-Id"))
        if bad_pid:
            return _refused("bad_task", f"X-Packet-Id: {detail}")
        if path == "/steal/register":
            port = _port(headers.get("X-Port"))
            tiles = headers.get("X-Tiles", "")
            if port is None:
                return _refused("bad_port", "X-Port must be a port number")
            if tiles != str(self.blocks):
                return _refused("bad_tiles", f"X-Tiles must be this grid's {self.blocks}")
            host = f"[{peer}]" if ":" in peer else peer
            error = self.register(node, f"{host}:{port}", pid, self.blocks)
            return Reply(200, {"ok": True}) if error is None else _refused(
                error, f"packet {pid} from {node}")
        tile = parse_block(headers.get("X-Block"), self.blocks)
        thief = headers.get("X-Thief", "").strip()
        if tile is None or not NODE_NAME.match(thief):
            return _refused("bad_task", "X-Block / X-Thief")
        error = self.lease(node, thief, pid, tile)  # /steal/lease
        return Reply(200, self.lease_reply(pid, tile)) if error is None else _refused(
            error, f"tile {tile} of packet {pid}: {node} -> {thief}")

    def stolen(self) -> dict[str, int]:
        with self.cond:
            return dict(self.stolen_by)


class StealGateway(TileGateway):
    """Keeps the victim registry and the leases, merges tiles, runs the rest, forwards; takes
    no frames of its own (they enter at a source device)."""

    board_class = StealBoard
    board: StealBoard

    def process(self, packet_id: int, body: bytes) -> None:
        self.node.drop(packet_id, "not_a_source")  # a plan sends frames to D0, never here

    def steal(self) -> StealService:
        return self.board

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "tiles_stolen_by": self.board.stolen()}

    def describe(self) -> str:
        return super().describe().replace("FTP gateway", "FTP work-stealing gateway")
