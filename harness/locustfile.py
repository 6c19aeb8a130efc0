"""The camera: Locust users that send frames on a fixed schedule.

Frame `i` is due at `start + i / rate`, fixed before the run. Each user claims the
next packet ID, sleeps until that frame is due, sends it and records the intended
time, the actual send time and the node's JSON reply. Because the node answers
at once and several users take turns, one slow reply does not delay the next
frame (the schedule is open-loop, not "wait for the reply, then send").

Started by harness/load.py as `locust -f harness/locustfile.py --headless
--load-config <json>`; the JSON says rate, frame counts, seed, targets and where
to write `client.csv`.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field

import gevent
from locust import FastHttpUser, constant, events, task

from harness.frames import frame_bytes

CLIENT_FIELDS = [
    "packet_id", "phase", "intended_t", "sent_t", "status", "accepted",
    "overloaded", "queue_depth", "reply_ms", "target",
]


@dataclass
class Schedule:
    """The frames of one run and what happened to each."""

    rate_fps: float
    warmup_frames: int
    measure_frames: int
    seed: int
    input_size: int
    targets: list[str]
    out: str
    start_delay_s: float = 1.0
    start_t: float = 0.0
    next_id: int = 0
    in_flight: int = 0
    rows: list[list] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.warmup_frames + self.measure_frames

    def take(self) -> int | None:
        if self.next_id >= self.total:
            return None
        pid = self.next_id
        self.next_id += 1
        return pid

    def write(self) -> None:
        with open(self.out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CLIENT_FIELDS)
            writer.writerows(sorted(self.rows))


SCHEDULE: Schedule | None = None


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--load-config", type=str, default="", help="JSON schedule (harness)")


@events.test_start.add_listener
def _on_start(environment, **_kw) -> None:
    global SCHEDULE
    with open(environment.parsed_options.load_config) as fh:
        SCHEDULE = Schedule(**json.load(fh))
    SCHEDULE.start_t = time.time() + SCHEDULE.start_delay_s


@events.quitting.add_listener
def _on_quit(environment, **_kw) -> None:
    if SCHEDULE is not None:
        SCHEDULE.write()


class Camera(FastHttpUser):
    """One of several users sharing the schedule; each sends whichever frame is next."""

    wait_time = constant(0)
    network_timeout = 5.0
    connection_timeout = 5.0

    @task
    def send_next_frame(self) -> None:
        sched = SCHEDULE
        if sched is None:
            gevent.sleep(0.01)
            return
        pid = sched.take()
        if pid is None:
            if sched.in_flight == 0:
                gevent.spawn(self.environment.runner.quit)
            gevent.sleep(0.05)
            return
        sched.in_flight += 1
        try:
            self._send(sched, pid)
        finally:
            sched.in_flight -= 1

    def _send(self, sched: Schedule, pid: int) -> None:
        intended = sched.start_t + pid / sched.rate_fps
        delay = intended - time.time()
        if delay > 0:
            gevent.sleep(delay)
        target = sched.targets[pid % len(sched.targets)]
        body = frame_bytes(pid, seed=sched.seed, size=sched.input_size)
        phase = "warmup" if pid < sched.warmup_frames else "measure"
        sent = time.time()
        reply: dict = {}
        status = 0
        with self.client.post(
            f"http://{target}/message", data=body, name="/message", catch_response=True,
            headers={"X-Packet-Id": str(pid), "Content-Type": "application/octet-stream"},
        ) as resp:
            status = int(resp.status_code or 0)
            if status == 200:
                try:
                    reply = json.loads(resp.content)
                    resp.success()
                except ValueError:
                    resp.failure("reply is not JSON")
            else:
                resp.failure(f"HTTP {status}")
        reply_ms = (time.time() - sent) * 1000.0
        sched.rows.append([
            pid, phase, f"{intended:.6f}", f"{sent:.6f}", status,
            int(bool(reply.get("accepted", False))), int(bool(reply.get("overloaded", False))),
            reply.get("queue_depth", ""), f"{reply_ms:.3f}", target,
        ])
