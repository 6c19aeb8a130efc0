"""The camera: open-loop Locust load that sends every frame at its intended time.

The schedule (harness/schedule.py) is fixed before the run: packet `i` is due at
`start + offset_s[i]`. One Locust user runs a dispatcher; for each frame it spawns a
greenlet a little before the frame is due (`lead_s`), and that greenlet sleeps until the
exact intended time, sends, and records intended time, actual send time, HTTP status and
the node's JSON reply. Replies never gate sends: up to `max_in_flight` frames may wait for
their replies at once (the FastHttpSession gets as many connections). Only if that cap is
reached does the dispatcher wait, and then the delay shows as send lag (actual - intended)
and in latency, which the analysis measures from the intended time (no coordinated
omission: a slow system cannot hide its delay by slowing the client down).

Started by harness/load.py as `locust -f harness/locustfile.py --headless -u 1
--load-config <json>`; the JSON holds the schedule parameters, frame seed, targets and
where to write `client.csv`.
"""

from __future__ import annotations

import csv
import gc
import json
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.pool
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from harness.frames import frame_bytes
from harness.schedule import build

CLIENT_FIELDS = [
    "packet_id", "phase", "intended_t", "sent_t", "status", "accepted",
    "overloaded", "queue_depth", "reply_ms", "target", "reply",
]
DEFAULT_MAX_IN_FLIGHT = 1000


@dataclass
class Plan:
    """The frames of one run and what happened to each."""

    schedule: dict[str, Any]
    frame_seed: int
    input_size: int
    targets: list[str]
    out: str
    start_delay_s: float = 1.0
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    lead_s: float = 0.02
    spin_s: float = 0.0
    network_timeout_s: float = 10.0
    start_t: float = 0.0
    rows: list[list] = field(default_factory=list)
    written: bool = False

    def write(self) -> None:
        if self.written:
            return
        with open(self.out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CLIENT_FIELDS)
            writer.writerows(sorted(self.rows, key=lambda r: r[0]))
        self.written = True


PLAN: Plan | None = None


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--load-config", type=str, default="", help="JSON schedule (harness)")


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:
    global PLAN
    with open(environment.parsed_options.load_config) as fh:
        PLAN = Plan(**json.load(fh))
    Camera.concurrency = max(1, int(PLAN.max_in_flight))
    Camera.network_timeout = PLAN.network_timeout_s


@events.quitting.add_listener
def _on_quit(environment, **_kw) -> None:
    if PLAN is not None:
        PLAN.write()


def _sleep_until(t: float, spin_s: float = 0.0) -> None:
    """Sleep until wall-clock time t. gevent timers count from the loop's cached 'now',
    which may be stale, so a timer can fire early: loop until the time has really come."""
    while True:
        left = t - time.time()
        if left <= spin_s:
            break
        gevent.sleep(left - spin_s)
    while time.time() < t:  # optional busy-yield for the last `spin_s`
        gevent.sleep(0)


class Camera(FastHttpUser):
    """The single user: dispatches every frame of the schedule, then ends the test."""

    wait_time = constant(0)
    concurrency = DEFAULT_MAX_IN_FLIGHT
    network_timeout = 10.0
    connection_timeout = 5.0

    @task
    def run_schedule(self) -> None:
        plan = PLAN
        if plan is None:
            gevent.sleep(0.01)
            return
        sched = build(**plan.schedule)
        offsets = sched.offset_s.tolist()
        warm = (sched.step < 0).tolist()
        pool = gevent.pool.Pool(max(1, int(plan.max_in_flight)))
        plan.start_t = time.time() + plan.start_delay_s
        gc.collect()
        gc.freeze()  # a full collection mid-run would stall every timer at once
        for pid, off in enumerate(offsets):
            due = plan.start_t + off
            _sleep_until(due - plan.lead_s)
            pool.spawn(self._send, plan, pid, due, warm[pid])  # waits when the cap is hit
        pool.join()
        plan.write()
        # End the test now: the quit runs once this user has stopped, so it does not wait
        # out --stop-timeout for a task that has nothing left to do.
        gevent.spawn(self.environment.runner.quit)
        raise StopUser()

    def _send(self, plan: Plan, pid: int, intended: float, warmup: bool) -> None:
        target = plan.targets[pid % len(plan.targets)]
        body = frame_bytes(pid, seed=plan.frame_seed, size=plan.input_size)
        _sleep_until(intended, plan.spin_s)
        sent = time.time()
        reply: dict = {}
        raw = ""
        status = 0
        with self.client.post(
            f"http://{target}/message", data=body, name="/message", catch_response=True,
            headers={"X-Packet-Id": str(pid), "Content-Type": "application/octet-stream"},
        ) as resp:
            status = int(resp.status_code or 0)
            raw = (resp.text or "") if status else ""
            if status == 200:
                try:
                    reply = json.loads(resp.content)
                    resp.success()
                except ValueError:
                    resp.failure("reply is not JSON")
            else:
                resp.failure(f"HTTP {status}")
        reply_ms = (time.time() - sent) * 1000.0
        plan.rows.append([
            pid, "warmup" if warmup else "measure", f"{intended:.6f}", f"{sent:.6f}", status,
            int(bool(reply.get("accepted", False))), int(bool(reply.get("overloaded", False))),
            reply.get("queue_depth", ""), f"{reply_ms:.3f}", target, raw.strip(),
        ])
