"""FTP with work stealing (DeepThings' `wst`, no data reuse), edge device side.

Every device (run.json `pull` with `tiles.sched` = `wst`) runs the same worker loop; the one
the client sends frames to (the data source, D0 in a plan) is simply the one whose /message
queue fills:

1. own work first: a tile from its local task queue (front). When that queue runs empty, the
   next frame waiting on /message is cut into the grid's tiles (each its input region,
   walked back as on the gateway: tile_gateway.TileStacks), registered with the gateway
   (`/steal/register`: packet id, tile count, the port thieves use) and queued, so thieves
   have work while the source computes its last tile of the previous frame. A frame the
   gateway refuses is dropped here (`register_failed`). With nothing of its own left it
   cancels its registration (`/steal/cancel`, DeepThings' cancel_client);
2. else steal: ask the gateway for a victim (`/steal/victim`), then take one tile from that
   victim peer to peer (`POST /steal/tile` to it); the victim pops the back of its queue (the
   tiles it would reach last), moves the tile's lease at the gateway to the thief
   (`/steal/lease`) and replies with the tile (`X-Packet-Id`, `X-Block: i/T`), or 204 when
   it has nothing left (the thief then counts `steals_empty`), or 503 `lease_failed` (the
   tile goes back on its queue);
3. else wait up to STEAL_WAIT_S for a frame of its own (DeepThings' stealer sleeps 100 ms).

Either way a tile is computed and its result sent to the gateway (`/task/result`) exactly as a
work-sharing device does (node_app/roles/task_helper.py `_do`, tile_helper.py `compute`).
Trace: `tiles_queued` (T) at the source, `tile_stolen` (`<thief>:<i>`) at a victim, `stole`
(`<victim>:<i>`) at a thief, `task_started`/`task_finished` for every tile computed.
/stats adds `tiles_own`, `tiles_stolen` (stolen and computed here), `tiles_given` (taken by
thieves), `steals_empty`, `no_victim`. Errors of any peer reply are counted in `pull_errors`
as on a work-sharing device (`bad_victim`: the gateway named no usable victim).
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from node_app.config import parse_hostport
from node_app.role import Reply, StealService
from node_app.roles.task_gateway import LONG_POLL_S, MAX_HELPERS
from node_app.roles.task_helper import MAX_REPLY_BYTES, BadReply, Link
from node_app.roles.tile_helper import TileHelper
from node_app.validate import NODE_NAME

STEAL_WAIT_S = 0.1
COUNTS = ("tiles_own", "tiles_stolen", "tiles_given", "steals_empty", "no_victim")
Task = tuple[int, int, bytes]  # packet id, tile, the tile's input region (float32)


class StealDevice(TileHelper):
    """A device's worker: own tiles, else a stolen one, else a short wait; and the victim's
    side of a steal (StealService, POST /steal/tile)."""

    NEXT_WITH_RESULT = False  # its next tile is its own or a stolen one, not the gateway's

    # Thieves take the back of the queue (the tiles the owner reaches last); with data reuse
    # the front, as DeepThings' steal_client does, so everyone follows the checkerboard.
    steal_front = False

    def setup(self) -> None:
        super().setup()
        tiles = self.cfg.tiles
        assert tiles is not None and tiles.sched in ("wst", "wst-s"), \
            "StealDevice needs tiles.sched wst or wst-s"
        self.in_shape = self.stacks.fused[0].in_shape
        self.local: deque[Task] = deque()
        self.lock = threading.Lock()  # the local queue, between the worker and thieves
        self.registered = False  # worker only: listed as a victim at the gateway
        self.counts = dict.fromkeys(COUNTS, 0)
        name = self.node.config.node
        # Thieves are served on request threads, one at a time: the lease is one request to
        # the gateway on its own connection (the worker's may be mid-request).
        self.lease_link = Link(self.host, self.port, name, LONG_POLL_S + 5.0)
        self.lease_lock = threading.Lock()
        self.victim_links: dict[str, Link] = {}  # worker only; at most MAX_HELPERS

    # the worker ----------------------------------------------------------------------------

    def work(self) -> None:
        node = self.node
        while not node.stopping.is_set():
            try:
                task = self._own() or self._steal()
            except BadReply as e:
                self._failed(e.reason, e)
                continue
            except (OSError, http.client.HTTPException) as e:
                self._failed("connection", e)
                continue
            except Exception as e:  # noqa: BLE001 - no reply may kill the worker
                self._failed("bad_task", e)
                continue
            if task is None:
                self._cut_next(STEAL_WAIT_S)
                continue
            node.guarded(task[0], self._do, *task)

    def _own(self) -> Task | None:
        """The front of the local queue, cutting the next waiting frame when it runs empty;
        cancel the registration when there is nothing of our own."""
        with self.lock:
            task = self.local.popleft() if self.local else None
            empty = not self.local
        if empty and self._cut_next(None) and task is None:
            with self.lock:
                task = self.local.popleft() if self.local else None
        if task is None:
            if self.registered:
                self.registered = False
                self._request("/steal/cancel", {})
            return None
        self._count("tiles_own")
        return task

    def _cut_next(self, wait_s: float | None) -> bool:
        """Cut a frame off /message (waiting up to wait_s, None: not at all) into its
        tiles, register it, queue them; True when tiles were queued."""
        try:
            item = (self.node.queue.get(timeout=wait_s) if wait_s
                    else self.node.queue.get_nowait())
        except queue.Empty:
            return False
        if item is None:  # the server's stop sentinel
            return False
        try:
            return self._cut(*item)
        finally:
            self.node.queue.finished()  # the frame is tiles now, or dropped

    def _cut(self, pid: int, body: bytes) -> bool:
        st = self.stacks
        x = np.frombuffer(body, dtype="<f4").reshape(self.in_shape)
        tasks = []
        for i in self.order():
            r = st.input_region(i)
            tasks.append((pid, i, np.ascontiguousarray(x[r.r1:r.r2, r.c1:r.c2]).tobytes()))
        headers = {"X-Packet-Id": str(pid), "X-Tiles": str(len(tasks)),
                   "X-Port": str(self.node.port)}
        try:
            status, _h, _d = self._request("/steal/register", headers)
            reason = None if status == 200 else "bad_status"
        except BadReply as e:
            reason = e.reason
        except (OSError, http.client.HTTPException):
            reason = "connection"
        if reason is not None:
            with self.node.stats.lock:
                self.pull_errors[reason] = self.pull_errors.get(reason, 0) + 1
            self.node.drop(pid, "register_failed")
            return False
        with self.lock:
            self.local.extend(tasks)
        self.registered = True
        self.node.trace.write(pid, "tiles_queued", str(len(tasks)))
        return True

    def order(self) -> list[int]:
        """The order a cut frame's tiles are queued in (row-major; checkerboard with reuse)."""
        return list(range(len(self.stacks.tiles)))

    def _steal(self) -> Task | None:
        """Ask the gateway for a victim, take one tile from it; None when there is none."""
        status, _h, data = self._request("/steal/victim", {})
        if status == 204:
            self._count("no_victim")
            return None
        if status != 200:
            raise BadReply("bad_status", f"/steal/victim: HTTP {status}")
        try:
            reply = json.loads(data)
            name, address = str(reply["victim"]), str(reply["address"])
            host, port = parse_hostport(address)
        except (ValueError, KeyError, TypeError) as e:
            raise BadReply("bad_victim", f"/steal/victim: {data[:80]!r}") from e
        if not NODE_NAME.match(name) or name == self.node.config.node:
            raise BadReply("bad_victim", f"/steal/victim named {name[:64]!r}")
        link = self._victim_link(address, host, port)
        try:
            status, headers, data = link.post(
                "/steal/tile", {}, max_bytes=max(self.max_task_bytes, MAX_REPLY_BYTES))
        except BaseException:
            link.close()
            raise
        if status == 204:
            self._count("steals_empty")
            return None
        if status != 200:
            raise BadReply("bad_status", f"/steal/tile at {name}: HTTP {status}")
        pid, tile, body = self.parse_task(headers, data)
        self.node.trace.write(pid, "stole", f"{name}:{tile}")
        self._count("tiles_stolen")
        return pid, tile, body

    def _victim_link(self, address: str, host: str, port: int) -> Link:
        link = self.victim_links.get(address)
        if link is None:
            if len(self.victim_links) >= MAX_HELPERS:
                for old in self.victim_links.values():
                    old.close()
                self.victim_links.clear()
            link = self.victim_links[address] = Link(host, port, self.node.config.node,
                                                     LONG_POLL_S + 5.0)
        return link

    def _count(self, key: str) -> None:
        with self.node.stats.lock:
            self.counts[key] += 1

    # the victim's side (request threads) --------------------------------------------------

    def steal(self) -> StealService:
        return self

    def steal_request(self, path: str, node: str, peer: str,
                      headers: Mapping[str, str]) -> Reply:
        if path != "/steal/tile":
            return Reply(404, {"error": "not_found", "detail": f"{path}: not on a device"})
        if node == self.node.config.node:
            return Reply(400, {"error": "bad_node", "detail": "a device does not steal from "
                               "itself"})
        blocks = self.cfg.blocks
        with self.lease_lock:
            with self.lock:
                task = None if not self.local else (
                    self.local.popleft() if self.steal_front else self.local.pop())
            if task is None:
                return Reply(204)  # nothing left to steal
            pid, tile, data = task
            try:
                status, _h, lease = self.lease_link.post("/steal/lease", {
                    "X-Packet-Id": str(pid), "X-Block": f"{tile}/{blocks}", "X-Thief": node})
            except (OSError, http.client.HTTPException, BadReply):
                status = 0
            if status != 200:
                with self.lock:
                    if self.steal_front:
                        self.local.appendleft(task)
                    else:
                        self.local.append(task)  # still ours: the owner or a thief takes it
                return Reply(503, {"error": "lease_failed",
                                   "detail": f"the gateway answered {status or 'nothing'}"})
        data, extra = self.hand_over(tile, data, lease)
        with self.node.stats.lock:
            self.counts["tiles_given"] += 1
            self.node.stats.bytes_out += len(data)
        self.node.trace.write(pid, "tile_stolen", f"{node}:{tile}")
        return Reply(200, data=data, headers=(("X-Packet-Id", str(pid)),
                                              ("X-Block", f"{tile}/{blocks}"), *extra))

    def hand_over(self, tile: int, data: bytes, lease: bytes
                  ) -> tuple[bytes, tuple[tuple[str, str], ...]]:
        """The tile's input as a thief gets it, and extra headers (`lease`: the gateway's
        reply to the moved lease). Without reuse: the input region as cut."""
        return data, ()

    # the rest ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        with self.node.stats.lock:
            out.update(self.counts)
        with self.lock:
            out["local_tiles"] = len(self.local)
        return out

    def describe(self) -> str:
        return super().describe().replace("FTP device", "FTP work-stealing device")

    def close(self) -> None:
        super().close()
        with self.lease_lock:
            self.lease_link.close()
        for link in self.victim_links.values():
            link.close()
