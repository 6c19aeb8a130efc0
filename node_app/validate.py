"""Checks on what a peer sends, kept out of the server so each rule is one readable line.

A testbed whose node falls over (or silently counts garbage) on a bad frame makes every number
it reports suspect, so every request to POST /message is checked before it reaches the queue,
and every failure has a status and a reason that the server counts in /stats `rejected` and
traces as `rejected` (docs/architecture.md, "HTTP API"):

- `missing_packet_id` / `bad_packet_id` (400): no `X-Packet-Id`, or not an integer in
  [0, MAX_PACKET_ID];
- `missing_content_length` (411): no `Content-Length` (also chunked bodies);
- `bad_content_length` (400): not one integer >= 0, or combined with Transfer-Encoding;
- `body_too_large` (413): `Content-Length > max_body_bytes` (the body is not read);
- `bad_slice` / `bad_body_size` (400): wrong `X-Slice` at a merging sink / body not the
  stage's input;
- `non_finite_values` (400): a NaN or +-Inf among the floats;
- `duplicate_packet_id` (400): this (packet id, slice) was already received here.

411 for a missing length, 400 for a malformed one: a missing length is what RFC 9110 calls
"Length Required" (the client can fix it by sending one), a malformed one is a bad request.
In both cases the body cannot be delimited, so the connection is closed after the reply.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from node_app.stage import block_bounds

if TYPE_CHECKING:
    from node_app.config import RunConfig

_DIGITS = re.compile(r"^[0-9]+$")
_SMALL_INT = re.compile(r"^[0-9]{1,9}$")
# A task helper's X-Node: a node name (node.json `node`), short, safe in a trace row.
NODE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Packet ids are sequence numbers (the client counts from 0). The duplicate bitmap covers ids up
# to this bound, so its memory is bounded too: 2**24 ids = 2 MiB per slice, 155 h at 30 fps.
MAX_PACKET_ID = (1 << 24) - 1


@dataclass
class Verdict:
    """The outcome of checking one /message request: a frame to admit, or why not."""

    packet_id: int = -1
    slice_index: int | None = None
    body: bytes = b""
    code: int = 200
    reason: str = ""
    detail: str = ""
    close: bool = False  # the body was not (fully) read: the connection cannot be reused

    def fail(self, code: int, reason: str, detail: str) -> Verdict:
        if not self.reason:  # the first problem found is the one reported
            self.code, self.reason, self.detail = code, reason, detail
        return self


def content_length(headers: Message) -> tuple[int | None, str]:
    """(length, "") or (None, reason): one header, one non-negative integer, no chunking."""
    values = headers.get_all("Content-Length") or []
    if headers.get("Transfer-Encoding"):
        return None, "bad_content_length" if values else "missing_content_length"
    if not values:
        return None, "missing_content_length"
    if len(values) > 1 or not _DIGITS.match(values[0].strip()) or len(values[0].strip()) > 15:
        return None, "bad_content_length"
    return int(values[0].strip()), ""


def packet_id(text: str | None) -> tuple[int, str, str]:
    """(id, "", "") or (-1, reason, detail) for an X-Packet-Id header value."""
    if text is None:
        return -1, "missing_packet_id", "header X-Packet-Id is required"
    text = text.strip()
    if not _DIGITS.match(text) or len(text) > 12 or int(text) > MAX_PACKET_ID:
        return -1, "bad_packet_id", f"X-Packet-Id must be an integer in [0, {MAX_PACKET_ID}]: " \
            f"{text[:40]!r}"
    return int(text), "", ""


def parse_block(text: str | None, blocks: int) -> int | None:
    """`i/T` -> i if T matches and 0 <= i < T, else None (headers X-Slice and X-Block)."""
    if not text:
        return None
    i, sep, t = text.strip().partition("/")
    # ASCII digits only and short: str.isdigit() also takes "²", which int() refuses.
    if not sep or not _SMALL_INT.match(i) or not _SMALL_INT.match(t) or int(t) != blocks:
        return None
    return int(i) if int(i) < blocks else None


def read_message(headers: Message, rfile: BinaryIO, run: RunConfig, slices: int = 0) -> Verdict:
    """Read and check one POST /message body; the verdict says what to reply.

    `slices` K > 0: the node merges K slices per frame (node_app/roles/merge.py), so each
    body is one slice, named by `X-Slice: i/K`, of block_bounds(i, K, input_size) floats.
    """
    v = Verdict()
    v.packet_id, reason, detail = packet_id(headers.get("X-Packet-Id"))
    if reason:
        v.fail(400, reason, detail)
    length, reason = content_length(headers)
    if length is None:
        v.close = True
        if reason == "missing_content_length":
            return v.fail(411, reason, "header Content-Length is required (no chunked bodies)")
        return v.fail(400, reason, "Content-Length must be one integer >= 0, without "
                      "Transfer-Encoding")
    if length > run.max_body_bytes:
        v.close = True  # not read: a client must not make the node buffer what it refuses
        return v.fail(413, "body_too_large", f"{length} > max_body_bytes {run.max_body_bytes}")
    v.body = rfile.read(length) if length else b""
    if len(v.body) < length:  # the client went away mid-body
        v.close = True
    if v.reason:
        return v
    expected = run.frame_bytes
    if slices:
        v.slice_index = parse_block(headers.get("X-Slice"), slices)
        if v.slice_index is None:
            return v.fail(400, "bad_slice", f"header X-Slice must be '<i>/{slices}' with "
                          f"i < {slices}, got {str(headers.get('X-Slice'))[:40]!r}")
        lo, hi = block_bounds(v.slice_index, slices, run.input_size)
        expected = (hi - lo) * 4
    if len(v.body) != expected:
        return v.fail(400, "bad_body_size", f"body is {len(v.body)} bytes, expected {expected}"
                      + ("" if slices else " (input_size*4)"))
    if not np.isfinite(np.frombuffer(v.body, dtype="<f4")).all():
        return v.fail(400, "non_finite_values", "the frame holds NaN or Inf values")
    return v


class SeenIds:
    """Which (packet id, slice) keys arrived, as a bitmap that grows with the highest id.

    A set of ints would grow by ~70 bytes per frame for the whole run (and without bound on a
    long soak); a bitmap costs 1 bit per id up to the highest id seen, at most
    (MAX_PACKET_ID + 1) * slices bits. Key = id * slices + slice index, so a merging sink,
    which legitimately gets K slices per id, tells a repeated slice from a new one.
    """

    def __init__(self, slices: int = 1):
        self.slices = max(1, slices)
        self._bits = bytearray()
        self._lock = threading.Lock()

    def add(self, packet_id: int, slice_index: int | None = None) -> bool:
        """Record a key; False if it was already there (a duplicate)."""
        key = packet_id * self.slices + (slice_index or 0)
        byte, bit = key >> 3, 1 << (key & 7)
        with self._lock:
            if byte >= len(self._bits):  # grow by doubling: amortised O(1) per new id
                self._bits.extend(bytes(max(byte + 1, 2 * len(self._bits), 4096)
                                        - len(self._bits)))
            if self._bits[byte] & bit:
                return False
            self._bits[byte] |= bit
            return True

    def __contains__(self, packet_id: object) -> bool:
        """Whether slice 0 of `packet_id` was recorded (for SeenIds(1): the id itself)."""
        if not isinstance(packet_id, int) or packet_id < 0:
            return False
        key = packet_id * self.slices
        with self._lock:
            return key >> 3 < len(self._bits) and bool(self._bits[key >> 3] & (1 << (key & 7)))

    @property
    def nbytes(self) -> int:
        return len(self._bits)


def normalise_ip(text: str) -> str:
    """One spelling per address (`::ffff:10.0.0.1` is 10.0.0.1), so peers compare as strings."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)
