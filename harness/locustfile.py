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

Several data sources (`--sources=S`): the JSON's `sources` is S and the one user sends every
source's schedule, merged in intended-time order (harness/schedule.py `frames`); source i's
frames (packet IDs i * 1,000,000 + 0, 1, ...) go to `targets[i]` (one target per source; a
single target takes them all). With one source, frame i goes to `targets[i % len]` as ever.

Several clients (`--clients`, harness/load_dist.py) use Locust's distributed mode: the JSON's
`role` is `master` (on the controller; sends nothing) or `worker`. Worker i of N sends frames
i, i + N, ... of one source, or with several sources the whole sources i, i + N, ...
(harness/schedule.py `portion`) as its one user, all against one start time the
master sends (message `start_at`, controller clock; each worker adds its measured clock
offset), writes its part of client.csv with a `worker` column, and tells the master
(`share_done`); the master ends the test once every worker is done. Each process reads its
own JSON at `init`: Locust later overwrites a worker's custom options with the master's.

A `client-ENTRY` link (`--link`, harness/link_plan.py) is the JSON's `links`: per target, the
link node_app's forwarder would emulate (node_app/link.py). The frame's greenlet sends at its
intended time as always (`sent_t`, so send lag stays the client's own lateness), then waits
out the drawn delay before the request leaves, as netem would hold it on the wire: the
delay shows in the frame's latency and in the client->entry hop, not as send lag.
"""

from __future__ import annotations

import csv
import gc
import json
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import gevent.pool
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from harness.frames import frame_bytes
from harness.schedule import frames, portion, sources_of_client
from node_app.link import LinkEmulation

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
    # From the dispatcher's start to the first frame: room for its own set-up only (the
    # schedule is built and the heap frozen before it counts). Every run pays it once.
    start_delay_s: float = 0.25
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    lead_s: float = 0.02
    spin_s: float = 0.0
    network_timeout_s: float = 10.0
    # Distributed mode (harness/load_dist.py): "local" (one process), "master" or "worker".
    role: str = "local"
    workers: int = 0  # master: how many workers report `share_done` before it ends the test
    share: tuple[int, int] = (0, 1)  # worker: (index, count) of its frames in the schedule
    sources: int = 1  # data sources, each its own schedule; source i sends to targets[i]
    worker: str = ""  # worker: its name (the inventory host), the `worker` column
    clock_offset_s: float = 0.0  # worker: its clock minus the controller's, measured
    start_wait_s: float = 60.0  # worker: how long to wait for the master's start time
    start_t: float = 0.0
    links: dict[str, dict] = field(default_factory=dict)  # target -> link (client-ENTRY)
    rows: list[list] = field(default_factory=list)
    written: bool = False
    emulated: dict[str, LinkEmulation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.emulated = {t: LinkEmulation.from_dict(v, f"load config links[{t!r}]")
                         for t, v in (self.links or {}).items()}

    def link_wait_s(self, target: str) -> float:
        """The next frame's emulated link wait to `target`, s (0 without a link)."""
        link = self.emulated.get(target)
        return 0.0 if link is None else link.draw()[0] / 1000.0

    def fields(self) -> list[str]:
        return CLIENT_FIELDS + (["worker"] if self.role == "worker" else [])

    def write(self) -> None:
        """client.csv (a worker's: its part); the master's `out` gets the workers' reports."""
        if self.written:
            return
        if self.role == "master":
            with open(self.out, "w") as fh:
                json.dump({"workers": self.workers, "done": DONE}, fh, indent=2)
            self.written = True
            return
        with open(self.out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.fields())
            writer.writerows(sorted(self.rows, key=lambda r: r[0]))
        self.written = True


PLAN: Plan | None = None
# Worker: the schedule's start on this host's clock, from the master's `start_at` message.
START = gevent.event.AsyncResult()
# Master: worker name -> its `share_done` report.
DONE: dict[str, dict] = {}


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    parser.add_argument("--load-config", type=str, default="", help="JSON schedule (harness)")


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    """Read this process's JSON now: in distributed mode the master's custom options replace
    a worker's own when the test starts, so a worker's --load-config is only its own here."""
    global PLAN
    path = environment.parsed_options.load_config if environment.parsed_options else ""
    if not path:
        return
    with open(path) as fh:
        doc = json.load(fh)
    doc["share"] = tuple(doc.get("share") or (0, 1))
    PLAN = Plan(**doc)
    Camera.concurrency = max(1, int(PLAN.max_in_flight))
    Camera.network_timeout = PLAN.network_timeout_s
    runner = environment.runner
    if PLAN.role == "master":
        runner.register_message("share_done", _on_share_done)
    elif PLAN.role == "worker":
        runner.register_message("start_at", _on_start_at)


@events.test_start.add_listener
def _on_test_start(environment, **_kw) -> None:
    """The master fixes the one start time for every worker (its clock = the controller's),
    before its spawn messages go out, so each worker has it by the time its user runs."""
    if PLAN is not None and PLAN.role == "master":
        environment.runner.send_message("start_at", {"t": time.time() + PLAN.start_delay_s})


def _on_start_at(environment, msg, **_kw) -> None:
    if not START.ready():
        START.set(float(msg.data["t"]) + (PLAN.clock_offset_s if PLAN else 0.0))


def _on_share_done(environment, msg, **_kw) -> None:
    """A worker sent its whole share: once all have, end the test (Locust then tells every
    worker to quit) instead of waiting out --run-time."""
    DONE[str(msg.data.get("worker"))] = dict(msg.data)
    if PLAN is not None and len(DONE) >= PLAN.workers:
        gevent.spawn(environment.runner.quit)


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
        fr = frames(plan.schedule, plan.sources)
        offsets = fr.offset_s.tolist()
        pids = fr.pid.tolist()
        srcs = fr.source.tolist()
        warm = (fr.step < 0).tolist()
        mine = portion(fr, *plan.share).tolist()
        pool = gevent.pool.Pool(max(1, int(plan.max_in_flight)))
        gc.collect()
        gc.freeze()  # a full collection mid-run would stall every timer at once
        if plan.role == "worker":  # the master's start time, on this host's clock
            plan.start_t = START.get(timeout=plan.start_wait_s)
        else:
            plan.start_t = time.time() + plan.start_delay_s
        for row in mine:
            due = plan.start_t + offsets[row]
            _sleep_until(due - plan.lead_s)
            # waits when the cap is hit
            pool.spawn(self._send, plan, pids[row], srcs[row], due, warm[row])
        pool.join()
        plan.write()
        if plan.role == "worker":  # the master ends the test when every worker is done
            self.environment.runner.send_message("share_done", {
                "worker": plan.worker, "share": list(plan.share), "sent": len(plan.rows),
                "sources": sources_of_client(plan.sources, *plan.share),
                "locust_worker_index": getattr(self.environment.runner, "worker_index", -1)})
            raise StopUser()
        # End the test now: the quit runs once this user has stopped, so it does not wait
        # out --stop-timeout for a task that has nothing left to do.
        gevent.spawn(self.environment.runner.quit)
        raise StopUser()

    def _send(self, plan: Plan, pid: int, source: int, intended: float, warmup: bool) -> None:
        key = source if plan.sources > 1 else pid
        target = plan.targets[key % len(plan.targets)]
        link_s = plan.link_wait_s(target)  # drawn in spawn (= packet id) order: reproducible
        body = frame_bytes(pid, seed=plan.frame_seed, size=plan.input_size)
        _sleep_until(intended, plan.spin_s)
        sent = time.time()
        if link_s > 0.0:  # after `sent`: the link's delay is not the client's send lag
            gevent.sleep(link_s)
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
        ] + ([plan.worker] if plan.role == "worker" else []))
