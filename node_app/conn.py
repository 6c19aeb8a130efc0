"""Reading requests with a deadline, so a slow or stuck client cannot hold a connection open.

The stdlib handler reads with no timeout at all (or, with `timeout` set, a timeout per recv,
which a slow-loris client defeats by trickling one byte every few seconds). Here every request
has a deadline: `read_timeout_s` from its first byte to its last (request line, headers and
body). A request still incomplete then is answered 408 and the connection closed. A
keep-alive connection on which no byte of a next request arrives within `read_timeout_s` is
closed without a reply (nothing was asked; Forwarder and http clients reconnect).

Only the connection's own request thread waits here, never the node's worker.
"""

from __future__ import annotations

import socket
import time


class RequestReader:
    """A small buffered reader (readline/read, what http.server needs) over a socket."""

    CHUNK = 65536

    def __init__(self, sock: socket.socket, timeout_s: float):
        self.sock = sock
        self.timeout_s = timeout_s
        self.buf = bytearray()
        self.deadline: float | None = None  # set by the first byte of the current request
        self.partial = False  # some bytes of the current request have arrived

    def begin(self) -> None:
        """A new request starts: its clock starts now if bytes of it are already buffered."""
        self.partial = bool(self.buf)
        self.deadline = time.monotonic() + self.timeout_s if self.buf else None

    def _fill(self) -> bool:
        """Receive more bytes; False at EOF. TimeoutError when the deadline has passed."""
        wait = self.timeout_s if self.deadline is None else self.deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError("request deadline passed")
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(self.CHUNK)
        finally:
            self.sock.settimeout(self.timeout_s)  # replies get the full timeout to be sent
        if data and self.deadline is None:
            self.deadline = time.monotonic() + self.timeout_s
        if data:
            self.partial = True
        self.buf += data
        return bool(data)

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if 0 <= limit <= len(self.buf):
                return self._take(limit)
            if not self._fill():
                return self._take(len(self.buf))

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            while self._fill():
                pass
            return self._take(len(self.buf))
        while len(self.buf) < n and self._fill():
            pass
        return self._take(min(n, len(self.buf)))

    def _take(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self) -> None:
        self.buf.clear()
