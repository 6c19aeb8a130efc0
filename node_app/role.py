"""What a node does with a frame: the one interface every strategy's behaviour implements.

The HTTP layer (node_app/server.py) knows nothing about strategies. It checks a request,
then hands the frame to the node's role; the worker thread runs the role's `work()`. A role
is chosen once per run from run.json by node_app/registry.py, and gets the node's device
state (node_app/node.py: queue, stats, trace, compute(), forward()) instead of the server,
so roles never import the HTTP layer.

Hooks, with the defaults of a plain pipeline stage:

- `admit(packet_id, body)`: a checked whole frame from POST /message; the JSON reply.
  Default: the bounded queue (`Node.enqueue`). Sinks record the frame instead.
- `admit_slice(packet_id, index, body)`: one checked slice (only roles with `slices` > 0 get
  them): the JSON reply, and the whole frame once complete, which the server then passes to
  `admit` like any other frame.
- `work()`: the worker thread's loop. Default: take frames off the queue, `process()` each.
  A task helper pulls work from its gateway instead.
- `process(packet_id, body)`: one dequeued frame (compute, forward, ...).
- `stats()`: this role's extra GET /stats fields; never called under `stats.lock`.
- `describe()`: this role's part of the startup line (leading space, or "").
- `tasks()`: the task board behind POST /task/next and /task/result, or None (404).
- `steal()`: what answers POST /steal/* (FTP work stealing: the gateway's victim registry,
  a device's local tile queue), or None (404).
- `close()`: release what the role holds, after the worker stopped, before the trace closes.

Class attributes: `worker` (False: no worker thread, e.g. a sink), `is_sink` (the startup
line says "(sink)"), `slices` (K > 0: /message bodies are X-Slice slices, node_app/validate.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from node_app.node import Node


class TaskSource(Protocol):
    """The gateway side of task sharing, as the HTTP routes /task/next and /task/result use it."""

    @property
    def blocks(self) -> int: ...

    def admit_helper(self, helper: str) -> str | None:
        """None when `helper` may pull, else the refusal's reason."""

    def next(self, helper: str, wait_s: float = ...) -> tuple[int, int, bytes] | None:
        """A task for `helper`, waiting up to `wait_s` for one (the board's long poll by
        default); None when none came."""

    def result(self, helper: str, packet_id: int, block: int, body: bytes) -> str | None: ...


@dataclass(frozen=True)
class Reply:
    """A /steal/* answer the server sends as it is: a JSON object (`obj`; for a status >=
    400 it names the refusal in `error`, which the server counts and traces), or raw
    float32 bytes with their headers (a stolen tile), or neither (204)."""

    code: int
    obj: dict[str, Any] | None = None
    data: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


class StealService(Protocol):
    """FTP work stealing as the HTTP routes /steal/* use it (node_app/roles/steal_gateway.py,
    steal_device.py). `node` is the request's checked X-Node, `peer` its source address."""

    def steal_request(self, path: str, node: str, peer: str,
                      headers: Mapping[str, str]) -> Reply: ...


class Role:
    """Base role: queue frames, process each on the worker; subclasses override hooks."""

    worker: ClassVar[bool] = True
    is_sink: ClassVar[bool] = False
    slices: int = 0

    def __init__(self, node: Node):
        self.node = node

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        return self.node.enqueue(packet_id, body)

    def admit_slice(
        self, packet_id: int, index: int, body: bytes
    ) -> tuple[dict[str, Any], bytes | None]:
        raise NotImplementedError(f"{type(self).__name__} does not merge slices")

    def work(self) -> None:
        self.node.serve(self.node.queue, self.process)

    def process(self, packet_id: int, body: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not process queued frames")

    def stats(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return ""

    def tasks(self) -> TaskSource | None:
        return None

    def steal(self) -> StealService | None:
        return None

    def close(self) -> None:
        """Default: nothing of its own (the node closes its forwarders and trace)."""
