"""A link's delay, jitter and loss, emulated by the sender where the kernel has no netem.

run.json `links` maps a next hop (`address:port`) to `{delay_ms, jitter_ms, loss_pct, seed}`
(harness/link_plan.py writes it for the links of `fab experiment --link`). Before each frame
to that hop the Forwarder sleeps what `draw()` gives:

- the delay plus a jitter drawn uniformly from [-jitter_ms, +jitter_ms], clipped at 0. Uniform
  because it is netem's own default (net/sched/sch_netem.c `tabledist`: with no distribution
  table, "default uniform distribution"), so the fallback and netem draw alike, and because
  its median is the delay itself, which the acceptance test checks (a normal draw clipped at
  0 would do the same for small jitter, but not match netem's default);
- for a frame the loss draw marks lost (probability loss_pct / 100), a TCP retransmission
  timeout more: the frame is not lost, TCP sends it again after its RTO, at least Linux's
  TCP_RTO_MIN = HZ / 5 = 200 ms (include/net/tcp.h); a young connection with few RTT samples
  waits that minimum, so the minimum is what is charged.

The forward is synchronous (the worker waits for the peer's reply before it takes the next
frame), so sleeping before the send blocks the worker just as a netem delay on the request
would: the frame arrives at the peer one delay later and the worker is busy meanwhile. The
reply is not delayed (netem on both ends would delay it too, and the worker one more delay).

The draws come from `random.Random(seed)`, one generator per hop used by the one thread that
sends to it, so a run with the same seed draws the same delays frame by frame.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

TCP_RTO_MIN_MS = 200.0  # Linux include/net/tcp.h: TCP_RTO_MIN ((unsigned)(HZ/5))
LINK_FIELDS = ("delay_ms", "jitter_ms", "loss_pct", "seed")
MAX_DELAY_MS = 60_000.0


class LinkConfigError(ValueError):
    """A bad run.json `links` entry (the message names the hop and the field)."""


@dataclass
class LinkEmulation:
    """One hop's emulated link; `draw()` is the next frame's (ms to wait, lost?)."""

    delay_ms: float
    jitter_ms: float
    loss_pct: float
    seed: int
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LinkEmulation:
        if not isinstance(data, dict):
            raise LinkConfigError(f"{where}: must be an object with {', '.join(LINK_FIELDS)}, "
                                  f"got {data!r}")
        missing = [k for k in LINK_FIELDS if k not in data]
        unknown = sorted(set(data) - set(LINK_FIELDS))
        if missing or unknown:
            raise LinkConfigError(f"{where}: fields must be exactly {', '.join(LINK_FIELDS)}"
                                  + (f"; missing {', '.join(missing)}" if missing else "")
                                  + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        values = {}
        for key, hi in (("delay_ms", MAX_DELAY_MS), ("jitter_ms", MAX_DELAY_MS),
                        ("loss_pct", 100.0)):
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= hi:
                raise LinkConfigError(f"{where}: field '{key}' must be a number in [0, {hi:g}], "
                                      f"got {v!r}")
            values[key] = float(v)
        seed = data["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise LinkConfigError(f"{where}: field 'seed' must be an integer >= 0, got {seed!r}")
        return cls(seed=seed, **values)

    def draw(self) -> tuple[float, bool]:
        """The next frame's wait in ms (delay, jitter, and the RTO when lost) and whether
        the loss draw marked it lost. Both draws are made for every frame, so the delays a
        seed gives do not depend on the loss rate."""
        jitter = self.rng.uniform(-self.jitter_ms, self.jitter_ms)
        lost = self.rng.random() * 100.0 < self.loss_pct
        wait = max(0.0, self.delay_ms + jitter)
        return wait + (TCP_RTO_MIN_MS if lost else 0.0), lost
