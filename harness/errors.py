"""The error every layer of the harness raises for a bad request, before anything starts.

It lives apart from spec.py so that the modules a spec is checked against (strategies,
inventory, faults) can raise it without importing the spec, which imports them.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A run spec field is invalid. The message names the field."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem

    def cli_message(self) -> str:
        """The message with the field spelled as the `fab experiment` option."""
        return f"{CLI_FLAGS.get(self.field, self.field)}: {self.problem}"


# RunSpec field -> the option a user typed.
CLI_FLAGS = {
    "rate_fps": "--rate", "duration_s": "--duration", "warmup_s": "--warmup", "x": "--x",
    "queue_size": "--queue", "seed": "--seed", "strategy": "--strategy", "hosts": "--hosts",
    "inventory": "--inventory", "profile": "--profile", "repeats": "--repeat",
    "strategies": "--strategies", "fault": "--fault",
    "arrival": "--arrival", "arrival_seed": "--arrival-seed", "rates": "--rates",
    "step_s": "--step", "min_duration_s": "--min-duration", "min_frames": "--min-frames",
    "client": "--client", "clients": "--clients", "lag_threshold_ms": "--lag-threshold",
    "scenario": "--scenario",
    "repeat": "--repeat", "run_id": "RUN_ID",
    "k": "--k", "tasks": "--tasks", "ks": "--k", "model": "--model",
    "grid": "--grid", "fused": "--fused", "sched": "--sched", "devices": "--devices",
    "admission": "--admission", "send": "--send", "enforce_memory": "--enforce-memory",
    "pis": "--pis", "out": "--out", "net_links": "--link", "sources": "--sources",
    "link_rate": "--link-rate", "boxes": "--boxes", "controller_vtep": "--controller-vtep",
}
