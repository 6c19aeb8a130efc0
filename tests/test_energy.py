"""Energy per delivered frame (issue 14): the formula by hand, the summary's `energy` block of
a synthetic run, the report's table, the comparison's row, and "unknown" (never 0) when a
node's power is not known; the profiles' and links' numbers against their own bases.

The synthetic run (tests/test_analysis.py `make_run`) is 10 warm-up + 100 measure frames at
10 fps, a 10 s window: A works 10 ms on every frame, B 20 ms on the 80 it does not drop,
so A is busy 1.0 s and B 1.6 s of the window and 80 frames are delivered.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

from harness.analysis import load_run, summarize, write_summary
from harness.analysis.energy import node_energy
from harness.links import LINKS_FILE, Link, LinkError, load_link
from harness.report import write_comparison, write_index, write_run_report
from node_app.profile import DEFAULT_PROFILES, ProfileError, parse_profile

TABLE = json.loads(DEFAULT_PROFILES.read_text())
LINKS = json.loads(LINKS_FILE.read_text())
PIS = ("rpi3b", "rpi3bplus", "rpi4b", "rpizero2w", "rpi5")
# Bytes the nodes report over the whole run (warm-up too); the window's share is 100 / 110.
BYTES_OUT = {"A": 96_000, "B": 440_000}


# --------------------------------------------------------------------------- the formula


def test_node_energy_by_hand() -> None:
    # 1.9 W idle for 10 s = 19 J; (5.1 - 1.9) W more for 2.5 s busy = 8 J;
    # 1,000,000 bytes at 1.9 uJ = 1.9 J: 28.9 J.
    e = node_energy(1.9, 5.1, 10.0, 2.5, 1_000_000, 1.9e-6)
    assert (e.idle_j, e.busy_j, e.link_j) == pytest.approx((19.0, 8.0, 1.9))
    assert e.total == pytest.approx(28.9)


def test_busy_time_is_capped_at_the_window() -> None:
    """Two workers busy 12 worker-seconds in a 10 s window still draw at most busy_w: the
    busy power is the whole board with every core loaded."""
    e = node_energy(2.0, 6.0, 10.0, 12.0, 0, 1e-8)
    assert e.busy_j == pytest.approx(40.0) and e.total == pytest.approx(60.0)


def test_an_idle_node_costs_its_idle_power_and_nothing_more() -> None:
    e = node_energy(1.4, 3.7, 10.0, 0.0, 0, 1.9e-6)
    assert (e.idle_j, e.busy_j, e.link_j, e.total) == pytest.approx((14.0, 0.0, 0.0, 14.0))


# --------------------------------------------------------------------------- a run


def _run(root: Path, run_id: str = "r1", nodes: list[dict] | None = None,
         stats: dict | None = None, **extra) -> Path:
    spec = dict(extra)
    if nodes is not None:
        spec["nodes"] = nodes
    run_dir = make_run(root, run_id, extra_spec=spec)
    if stats is not None:
        (run_dir / "node_stats.json").write_text(json.dumps(
            {k: {"bytes_out": v} for k, v in stats.items()}))
    return run_dir


def _nodes(a: dict, b: dict) -> list[dict]:
    return [{"name": "A", "role": "A", "stages": ["L1"], "address": "198.18.0.11:12345", **a},
            {"name": "B", "role": "B", "stages": ["L2"], "address": "198.18.0.12:12345", **b},
            {"name": "sink", "role": "sink", "stages": [], "address": "198.18.0.1:12345"}]


def test_summary_energy_of_a_run_by_hand(tmp_path: Path) -> None:
    """A on ethernet with rpi3bplus as shipped; B on wifi with the rpi4b entry the run
    recorded (2.0 / 6.0 W, not today's 1.6 / 5.0: a run is priced with what it ran with)."""
    recorded_4b = {**TABLE["rpi4b"], "idle_w": 2.0, "busy_w": 6.0}
    run_dir = _run(tmp_path, nodes=_nodes({"profile": "rpi3bplus", "link": "ethernet"},
                                          {"profile": "rpi4b", "link": "wifi"}),
                   stats=BYTES_OUT,
                   profiles={"rpi3bplus": TABLE["rpi3bplus"], "rpi4b": recorded_4b},
                   links={"ethernet": LINKS["ethernet"], "wifi": LINKS["wifi"]})
    s = summarize(load_run(run_dir))
    e = s["energy"]
    assert s["delivered"] == 80 and e["delivered"] == 80 and e["window_s"] == 10.0
    assert e["bytes_share"] == pytest.approx(100 / 110, abs=1e-6)
    a, b = e["nodes"]["A"], e["nodes"]["B"]
    assert set(e["nodes"]) == {"A", "B"}  # the sink is not a device of the run
    # A: 1.9 x 10 + 3.2 x 1.0 + 96,000 x 100/110 x 1.52e-8 J
    assert (a["idle_w"], a["busy_w"], a["j_per_byte"]) == (1.9, 5.1, 1.52e-8)
    assert a["busy_s"] == pytest.approx(1.0, abs=1e-4)
    assert a["bytes_sent"] == 87_273
    assert a["idle_j"] == 19.0 and a["busy_j"] == pytest.approx(3.2, abs=1e-3)
    assert a["link_j"] == pytest.approx(87_272.7 * 1.52e-8, rel=1e-5)
    assert a["joules"] == pytest.approx(22.20133, abs=1e-3)
    # B: 2.0 x 10 + 4.0 x 1.6 + 440,000 x 100/110 x 1.9e-6 J = 20 + 6.4 + 0.76
    assert (b["idle_w"], b["busy_w"], b["link"], b["j_per_byte"]) == (2.0, 6.0, "wifi", 1.9e-6)
    assert b["busy_s"] == pytest.approx(1.6, abs=1e-4) and b["bytes_sent"] == 400_000
    assert b["link_j"] == pytest.approx(0.76) and b["joules"] == pytest.approx(27.16, abs=1e-3)
    assert b["j_per_frame"] == pytest.approx(27.16 / 80, abs=1e-5)
    assert e["joules"] == pytest.approx(22.20133 + 27.16, abs=2e-3)
    assert e["j_per_frame"] == pytest.approx((22.20133 + 27.16) / 80, abs=2e-5)
    assert e["unknown"] is None and "bytes received not counted" in e["method"]


def test_wifi_costs_more_per_byte_than_ethernet() -> None:
    wifi, eth = load_link("wifi"), load_link("ethernet")
    assert wifi.j_per_byte > 100 * eth.j_per_byte > 0
    for link in (wifi, eth):
        assert len(link.basis) > 100
    # ethernet's derivation, as its basis states it: 0.19 W over 12.5e6 bytes/s
    assert "1.32W" in eth.basis and "1.13W" in eth.basis
    assert eth.j_per_byte == pytest.approx((1.32 - 1.13) / 12.5e6, rel=1e-3)
    assert "1.9 uJ per byte" in wifi.basis and wifi.j_per_byte == 1.9e-6
    with pytest.raises(LinkError, match="known: delay20-jitter5, ethernet, wifi, wifi-busy"):
        load_link("carrier pigeon")
    with pytest.raises(LinkError, match="j_per_byte"):
        Link.from_entry("x", {"j_per_byte": -1})


def test_unknown_power_is_unknown_not_zero(tmp_path: Path) -> None:
    """`native` (no device emulated) and a calibrated profile without power: those nodes'
    energy is null with the reason, the total is unknown and says which node, and every page
    says "unknown" where the number would be."""
    calibrated = {k: v for k, v in TABLE["rpi3bplus"].items()
                  if k not in ("idle_w", "busy_w", "power_basis")}
    run_dir = _run(tmp_path, nodes=_nodes({"profile": "native"}, {"profile": "cal-pi"}),
                   stats=BYTES_OUT, profile="cal-pi,native",
                   profiles={"native": None, "cal-pi": calibrated})
    s = summarize(load_run(run_dir))
    e = s["energy"]
    a, b = e["nodes"]["A"], e["nodes"]["B"]
    for n in (a, b):
        assert n["joules"] is None and n["j_per_frame"] is None and n["idle_j"] is None
        assert n["bytes_sent"] is not None  # what is known is still shown
    assert "'native' emulates no device" in a["unknown"]
    assert "'cal-pi' states no idle_w / busy_w" in b["unknown"]
    assert e["joules"] is None and e["j_per_frame"] is None
    assert "A unknown" in e["unknown"] and "B unknown" in e["unknown"]
    write_summary(run_dir, s)

    html = write_run_report(run_dir, s, tmp_path / "r.html").read_text(encoding="utf-8")
    section = html.split("<h2>Energy per delivered frame</h2>")[1].split("<h2>")[0]
    total = re.search(r"<tr><td[^>]*>total</td>(.*?)</tr>", section, re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", total)[-2:] == ["unknown", "unknown"]
    assert "Not known: energy of A unknown" in section
    card = html[html.index('<section class="card'):html.index("</section>")]
    assert 'data-field="energy.j_per_frame" data-value="null">unknown<' in card
    comparison = write_comparison([run_dir], tmp_path / "c.html").read_text(encoding="utf-8")
    row = re.search(r"<td[^>]*>energy J per delivered frame</td>(.*?)</tr>", comparison, re.S)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row.group(1)) == ["unknown"]
    bars = comparison.split("<h2>Energy per delivered frame (all nodes)</h2>")[1]
    assert ">unknown</text>" in bars.split("</svg>")[0]  # the bar says so, not a bare 0


def test_bytes_not_fetched_make_energy_unknown(tmp_path: Path) -> None:
    """Without node_stats.json the link's share is not known: unknown, not priced as 0."""
    s = summarize(load_run(_run(tmp_path)))
    a = s["energy"]["nodes"]["A"]
    assert a["bytes_sent"] is None and a["joules"] is None
    assert "bytes sent not known" in a["unknown"] and s["energy"]["j_per_frame"] is None


def test_report_table_card_comparison_and_index_show_the_totals(tmp_path: Path) -> None:
    """Both nodes rpi3bplus on ethernet (the shipped numbers): A 22.201 J, B 24.126 J,
    46.327 J in all, 0.5791 J per delivered frame, in every place the run is shown."""
    runs = []
    for i, profile in enumerate(("rpi3bplus", "rpi5")):
        run_dir = _run(tmp_path, f"e{i}", stats=BYTES_OUT, profile=profile,
                       started_at=1000.0 + i)
        s = summarize(load_run(run_dir))
        write_summary(run_dir, s)
        runs.append((run_dir, s))
    (run_dir, s), (_, s5) = runs
    # A: 19 + 3.2 + 0.00133; B: 19 + 3.2 x 1.6 + 400,000 x 1.52e-8 = 24.12608
    assert s["energy"]["joules"] == pytest.approx(22.20133 + 24.12608, abs=2e-3)
    assert s["energy"]["j_per_frame"] == pytest.approx(46.32741 / 80, abs=2e-5)
    # the Pi 5 idles at 2.8 W: 28 J a node before it computes anything
    assert s5["energy"]["nodes"]["A"]["idle_j"] == 28.0

    html = write_run_report(run_dir, s, tmp_path / "r.html").read_text(encoding="utf-8")
    section = html.split("<h2>Energy per delivered frame</h2>")[1].split("<h2>")[0]
    rows = {re.findall(r"<td[^>]*>(.*?)</td>", r)[0]: re.findall(r"<td[^>]*>(.*?)</td>", r)
            for r in re.findall(r"<tr>(<td.*?)</tr>", section, re.S)}
    assert set(rows) == {"A", "B", "total"}
    assert rows["A"][1:4] == ["rpi3bplus", "ethernet (15.2 nJ/B)", "1.9 / 5.1"]
    assert rows["A"][-2:] == ["22.201", "0.2775"] and rows["B"][-2] == "24.126"
    assert rows["total"][-2:] == ["46.327", "0.5791"]
    assert "80 measure frames delivered in the 10 s window" in section
    card = html[html.index('<section class="card'):html.index("</section>")]
    assert f'data-field="energy.j_per_frame" data-value="{s["energy"]["j_per_frame"]}">0.5791<' \
        in card

    comparison = write_comparison([d for d, _ in runs], tmp_path / "c.html").read_text(
        encoding="utf-8")
    names = re.findall(r"<tr><td[^>]*>([^<]*)</td>", comparison)
    # beside fps and latency: right after the latency rows
    assert names.index("energy J per delivered frame") == names.index("latency max ms") + 1
    row = re.search(r"<td[^>]*>energy J per delivered frame</td>(.*?)</tr>", comparison, re.S)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row.group(1)) == [
        "0.5791", f"{s5['energy']['j_per_frame']:.4f}".rstrip("0")]

    index = write_index([{**summ, "spec": {"strategy": "baseline"}} for _, summ in runs],
                        tmp_path / "index.html").read_text(encoding="utf-8")
    assert ">J per frame</button></th>" in index
    assert f'data-v="{s["energy"]["j_per_frame"]!r}"' in index and ">0.5791</td>" in index


# --------------------------------------------------------------------------- the numbers


@pytest.mark.parametrize("name", PIS)
def test_each_pi_states_its_power_and_basis(name: str) -> None:
    entry = TABLE[name]
    prof = parse_profile(name, entry)
    assert prof.idle_w is not None and prof.busy_w is not None
    assert 0 < prof.idle_w < prof.busy_w < 15
    basis = entry["power_basis"]
    assert len(basis) > 100
    # the numbers stand beside their source in its words: W as the source gives them
    assert f"{prof.idle_w:g}" in basis and f"{prof.busy_w:g}" in basis


def test_power_figures_match_their_sources_as_quoted() -> None:
    # Pi Dramble (mA at 5 V, rounded as the table rounds): 3 B and 3 B+
    for name, idle, busy in (("rpi3b", "260 mA (1.4 W)", "730 mA (3.7 W)"),
                             ("rpi3bplus", "350 mA (1.9 W)", "980 mA (5.1 W)")):
        assert idle in TABLE[name]["power_basis"] and busy in TABLE[name]["power_basis"]
    for name, text in (("rpi4b", "idle 1.6, stress 5.0"), ("rpi5", "idle 2.8, stress 9.7")):
        assert "geerlingguy/sbc-reviews" in TABLE[name]["power_basis"]
        assert text in TABLE[name]["power_basis"]
    # Zero 2 W: CNX's 120 mA at 5 V idle; loaded derived from rpi3b by clock, as stated
    zero = TABLE["rpizero2w"]
    assert "120 mA @ 5V, or 600 mW" in zero["power_basis"] and zero["idle_w"] == 0.6
    rpi3b = TABLE["rpi3b"]
    assert zero["busy_w"] == pytest.approx(
        0.6 + (rpi3b["busy_w"] - rpi3b["idle_w"]) * 1.0 / 1.2, abs=5e-4)


def test_power_needs_both_figures_and_busy_at_least_idle() -> None:
    base = {"dense_ms": {}, "dense_fit": {"fixed_ms": 1.0, "ms_per_mac": 0.0}}
    with pytest.raises(ProfileError, match="has idle_w but no busy_w"):
        parse_profile("p", {**base, "idle_w": 1.0})
    with pytest.raises(ProfileError, match="has busy_w but no idle_w"):
        parse_profile("p", {**base, "busy_w": 1.0})
    with pytest.raises(ProfileError, match="below idle_w"):
        parse_profile("p", {**base, "idle_w": 3.0, "busy_w": 2.0})
    with pytest.raises(ProfileError, match="idle_w must be > 0"):
        parse_profile("p", {**base, "idle_w": 0, "busy_w": 2.0})
    with pytest.raises(ProfileError, match="non-negative number"):
        parse_profile("p", {**base, "idle_w": "1", "busy_w": 2.0})
    assert parse_profile("p", base).idle_w is None  # neither: energy unknown, not an error


def test_fab_experiment_tail_says_the_energy(tmp_path: Path, monkeypatch) -> None:
    """The real tail of `fab experiment` (experiment.finish_run): summary.json, the ledger's
    summary and the console all carry the energy per delivered frame."""
    from harness import experiment
    from harness.ledger import summaries
    from harness.paths import RESULTS_ENV, ledger_path

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    run_dir = _run(tmp_path / "runs", "tail", stats=BYTES_OUT,
                   queue_size=5, x=10, warmup_frames=10, measure_frames=100)
    said: list[str] = []
    summary = experiment.finish_run(run_dir, say=said.append)
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["energy"] == summary["energy"] == summaries(ledger_path())[0]["energy"]
    assert "energy: 0.5791 J per delivered frame (46.33 J over 10 s, all nodes)" in said
    html = (tmp_path / "reports" / "tail.html").read_text(encoding="utf-8")
    assert "<h2>Energy per delivered frame</h2>" in html


def test_spec_json_records_each_nodes_link_and_the_figures_it_is_priced_with(
        tmp_path: Path) -> None:
    """spec.json as experiment.py writes it (`_spec_document`, the strategy's own plan):
    every node's link kind and the links.json entries used, which then price the run."""
    from harness import experiment, strategies
    from harness.inventory import REPO, Host
    from harness.spec import RunSpec

    inventory = str(REPO / "inventory" / "lab.yml")
    hosts = [Host("A", "198.18.0.11", "", "", "rpi3bplus", True),  # ethernet: the default
             Host("B", "198.18.0.12", "", "", "rpi4b", True, link="wifi")]
    spec = RunSpec(strategy="baseline", rate_fps=10.0, duration_s=10.0, warmup_s=1.0,
                   inventory=inventory, hosts=["A", "B"], run_id="t")
    plan = strategies.get("baseline").plan(spec, hosts,
                                           Host("sink", "198.18.0.1", "", "", "native", False))
    doc = experiment._spec_document(spec, plan, inventory)
    assert {n["name"]: n["link"] for n in doc["nodes"]} == {
        "A": "ethernet", "B": "wifi", "sink": "ethernet"}
    assert doc["links"] == {"ethernet": LINKS["ethernet"], "wifi": LINKS["wifi"]}
    keep = ("profile", "profiles", "links", "nodes")
    run_dir = _run(tmp_path, stats=BYTES_OUT, **{k: doc[k] for k in keep})
    b = summarize(load_run(run_dir))["energy"]["nodes"]["B"]
    # rpi4b on wifi: 1.6 x 10 + 3.4 x 1.6 + 400,000 x 1.9e-6 = 16 + 5.44 + 0.76 J
    assert (b["profile"], b["link"], b["j_per_byte"]) == ("rpi4b", "wifi", 1.9e-6)
    assert b["joules"] == pytest.approx(22.2, abs=1e-3)
