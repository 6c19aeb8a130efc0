"""One kept-alive HTTP connection to a next hop: how every role sends a frame on.

Kept apart from the server so that roles (node_app/roles/) can send without importing the
HTTP layer, and the node's modules stay acyclic.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from node_app.config import parse_hostport
from node_app.link import LinkEmulation

FORWARD_TIMEOUT_S = 2.0


class Forwarder:
    """One kept-alive HTTP connection to a next hop (used by the single worker thread).

    With a `link` (run.json `links`, node_app/link.py) every send first waits out the link's
    drawn delay, as netem would hold the request on the wire; `last_link` is then the
    (start time, ms waited, lost?) of the last send, for the node's trace and counters.
    """

    def __init__(self, hop: str, timeout: float = FORWARD_TIMEOUT_S,
                 link: LinkEmulation | None = None):
        self.hop = hop
        self.host, self.port = parse_hostport(hop)
        self.timeout = timeout
        self.link = link
        self.last_link: tuple[float, float, bool] | None = None
        self._conn: http.client.HTTPConnection | None = None

    def send(
        self, packet_id: int, body: bytes, extra: dict[str, str] | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """POST one frame; (the peer's reply JSON, None) on success, else (None, reason).

        The reply is `{}` if the peer's 200 body is not a JSON object (not a node_app).

        A kept-alive connection may have been closed by the peer since the last frame, so a
        connection error is retried once on a fresh connection. A timeout is not retried:
        the peer may have the frame already.
        """
        if self.link is not None:
            started = time.time()
            wait_ms, lost = self.link.draw()
            time.sleep(wait_ms / 1000.0)
            self.last_link = (started, wait_ms, lost)
        reason = "connect_error"
        for _attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(
                    "POST",
                    "/message",
                    body=body,
                    headers={
                        "X-Packet-Id": str(packet_id),
                        "Content-Type": "application/octet-stream",
                        **(extra or {}),
                    },
                )
                resp = self._conn.getresponse()
                data = resp.read()
            except TimeoutError:
                self.close()
                return None, "timeout"
            except (OSError, http.client.HTTPException):
                self.close()
                reason = "connect_error"
                continue
            if resp.status != 200:
                return None, f"http_{resp.status}"
            try:
                reply = json.loads(data)
            except ValueError:
                reply = {}
            return (reply if isinstance(reply, dict) else {}), None
        return None, reason

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
