"""A tiny HTTP client for node_app's JSON endpoints, used by the controller.

Stdlib only and short timeouts: progress polling must never stall a run.
"""

from __future__ import annotations

import http.client
import json


def get_json(endpoint: str, path: str, timeout_s: float = 1.0) -> dict:
    """GET `path` from `address:port` and decode the JSON reply."""
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise OSError(f"{endpoint}{path}: HTTP {resp.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def try_stats(endpoint: str) -> dict | None:
    """Stats of a node, or None when it does not answer (it may be down)."""
    try:
        return get_json(endpoint, "/stats", timeout_s=0.5)
    except (OSError, ValueError):
        return None
