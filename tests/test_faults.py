"""Fault specs are read exactly as documented, and a bad one is refused before a run."""

from __future__ import annotations

import pytest

from harness.fault_spec import Fault, parse_fault
from harness.spec import SpecError


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("kill:pi2@20s", Fault("kill", "pi2", 20.0)),
        ("stall:pi2@20s:5s", Fault("stall", "pi2", 20.0, duration_s=5.0)),
        ("stall:pi1@2.5s:0.5s", Fault("stall", "pi1", 2.5, duration_s=0.5)),
        ("link:pi2@20s:1mbit", Fault("link", "pi2", 20.0, rate="1mbit")),
        ("link:pi3@0s:500kbit", Fault("link", "pi3", 0.0, rate="500kbit")),
        ("slow:pi2@20s:x3", Fault("slow", "pi2", 20.0, factor=3.0)),
        ("slow:pi4@1.5s:x1.5", Fault("slow", "pi4", 1.5, factor=1.5)),
    ],
)
def test_documented_forms(text, fault):
    assert parse_fault(text) == fault


@pytest.mark.parametrize(
    "text",
    ["kill:pi2", "kill:pi2@20", "kill:pi2@20s:5s", "stall:pi2@20s", "stall:pi2@20s:1mbit",
     "link:pi2@20s", "link:pi2@20s:5s", "explode:pi2@20s", "kill:@20s", "kill:pi2@-1s",
     "slow:pi2@20s", "slow:pi2@20s:3", "slow:pi2@20s:x0.5", "slow:pi2@20s:5s",
     "slow:pi2@20s:x", "stall:pi2@20s:x3"],
)
def test_bad_forms_name_the_option(text):
    with pytest.raises(SpecError) as err:
        parse_fault(text)
    assert err.value.field == "fault"
