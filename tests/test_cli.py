"""The fab command line parses what the README documents and rejects bad specs by name.

These run without the lab: every case fails (or is checked) before a node is touched.
"""

from __future__ import annotations

import re

import pytest
from lab_cli import fab, run_ids  # tests/ is on sys.path (pytest rootdir)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy=2", "--x=0"], "--x: must be an integer >= 1, got 0"),
        (["--strategy=2", "-x", "0"], "--x: must be an integer >= 1, got 0"),
        (["--strategy=7"], "--strategy: unknown strategy '7'"),
        (["--rate=0"], "--rate: must be > 0"),
        (["--rate=abc"], "--rate: must be a number, got 'abc'"),
        (["--duration=-5"], "--duration: must be > 0"),
        (["--x=1.5"], "--x: must be an integer, got '1.5'"),
        (["--model=resnet"], "--model: unknown model 'resnet'; available: cao-dense"),
        # Values that used to pass the spec and crash later (OverflowError) or at node start.
        (["--rate=inf"], "--rate: must be a finite number, got 'inf'"),
        (["--duration=1e308"], "--duration: --duration=1e+308 at --rate=30"),
        (["--rates=10,inf"], "--rates: every rate must be a finite number, got 'inf'"),
        (["--strategy=2", "--x=inf"], "--x: must be an integer, got 'inf'"),
        (["--strategy=mp", "--k=7"], "--k: strategy mp slices cao-dense's split stage only "
                                     "into K in 1, 2, 3, 4, 5, 6"),
        (["--warmup=inf"], "--warmup: must be a finite number, got 'inf'"),
        (["--queue=1e30"], "--queue: must be <= 16777216"),
        (["--rates=10,20", "--step=inf"], "--step: must be a finite number, got 'inf'"),
        (["--arrival=poisson", "--arrival-seed=-1"], "--arrival-seed: must be an integer >= 0"),
        # --enforce-memory: refused before anything starts (harness/memcap.py).
        (["--enforce-memory=0"], "--enforce-memory: give it alone (each host at its "
                                 "profile's RAM) or with a whole number of MB >= 1"),
        (["--enforce-memory", "--profile=zero"], "--enforce-memory: host pi1's profile 'zero' "
                                                 "states no RAM (ram_mb)"),
        (["--enforce-memory=60", "--inventory=inventory/pis.example.yml"],
         "--enforce-memory: caps emulated lab hosts; pi1, pi2 are real devices with RAM of "
         "their own"),
        # Several load clients (issue 17): distinct hosts of the inventory, not nodes of the
        # run, not with --client; all before anything starts.
        (["--clients=pi5,pi5"], "--clients: each load client once: pi5 is given more than "
                                "once in pi5,pi5"),
        (["--client=pi4", "--clients=pi5,pi6"], "--clients: give --client=pi4 (one load "
                                                "client) or --clients=pi5,pi6 (several), not "
                                                "both"),
        (["--clients=controller,pi6"], "--clients: list the hosts the workers run on"),
        (["--clients=pi5,pi9"], "--clients: unknown host(s) pi9; known: pi1, pi2, pi3, pi4, "
                                "pi5, pi6"),
        (["--clients=pi2,pi6"], "--clients: pi2 run(s) a node of this run (pi1, pi2); a load "
                                "client must be another host"),
        (["--link=pi1pi2:wifi-busy"], "--link: 'pi1pi2:wifi-busy' is not A-B:NAME"),
        (["--link=pi1-pi2:wifi"], "--link: 'pi1-pi2:wifi': link kind 'wifi' has no delay_ms"),
        (["--link=pi1-pi9:wifi-busy"], "--link: 'pi1-pi9:wifi-busy': unknown host 'pi9': not "
                                       "in "),
        (["--link=pi1-pi3:wifi-busy"], "--link: 'pi1-pi3:wifi-busy': host pi3 is not a node "
                                       "of this run"),
    ],
)
def test_bad_experiment_spec_names_the_option(args, message):
    before = run_ids()
    proc = fab("experiment", *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # Nothing started: no run announced (that line comes before the SSH preflight), no folder.
    assert "capacity bound" not in proc.stdout and run_ids() == before


def test_one_letter_option_has_the_documented_long_form():
    help_text = fab("--help", "experiment").stdout
    assert "--x" in help_text and "-x" in help_text
    # An option whose letters are all taken gets no `--` short flag (harness/cli.py).
    assert "--enforce-memory[=STRING]" in help_text and "--[=" not in help_text
    assert "--model" in help_text and "cao-dense" in help_text  # the choices are listed


def test_bad_sweep_spec_names_the_option():
    proc = fab("sweep", "--x=1,a", check=False)
    assert proc.returncode == 2 and "--x: integers separated by commas" in proc.stderr
    proc = fab("sweep", "--repeat=0", check=False)
    assert proc.returncode == 2 and "--repeat: must be >= 1" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # mp with K=7 (no slices exported): the baseline must not run before it fails.
        (["--strategies=0,mp", "--k=2,7"], "--k: strategy mp slices cao-dense's split stage"),
        (["--strategies=0", "--rate=inf"], "--rate: must be a finite number, got 'inf'"),
        (["--strategies=0", "--duration=1e308"], "--duration: --duration=1e+308 at --rate=30"),
        (["--strategies=0,dp", "--k=inf"], "--k: must be an integer, got 'inf'"),
        # The scaling sweep on the 6-host lab: K = 6 needs A + 6 hosts.
        (["--strategies=dp,mp,tasks", "--k=1,2,3,4,5,6", "--rate=120"],
         "--k: dp with K=6 needs 7 hosts, but "),
        (["--strategies=dp,mp,tasks", "--k=1,2,3,4,5,6", "--rate=120"],
         "`fab lab-inventory --pis=7 > inventory/lab-7.yml`"),
        (["--strategies=0,1", "--x=1", "--queue=1,0"], "--queue: every queue size must be >= 1"),
        (["--strategies=0", "--queue=1,a"], "--queue: must be an integer, got 'a'"),
        (["--strategies=0", "--enforce-memory=0"], "--enforce-memory: give it alone (each "),
    ],
)
def test_bad_sweep_point_fails_before_the_first_run(args, message):
    before = run_ids()
    proc = fab("sweep", *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "[1/" not in proc.stdout and run_ids() == before  # no point started


DEEPTHINGS = ["--strategies=ftp,bodp", "--model=yolov2-16"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # The lab has 6 hosts; ftp and bodp need a gateway + K devices.
        ([*DEEPTHINGS, "--devices=1,2,6", "--grid=3x3,5x5"],
         "--devices: ftp with K=6 needs 7 hosts, but "),
        ([*DEEPTHINGS, "--devices=1,2", "--grid=3x3,20x20"],
         "--grid: 20x20 is finer than fused layer 16's output 10x10 in model yolov2-16"),
        ([*DEEPTHINGS, "--devices=1,2", "--sched=wsh,steal"],
         "--sched: must be one of wsh, wst, wst-s, got 'steal'"),
        ([*DEEPTHINGS, "--devices=1,x"], "--devices: must be an integer, got 'x'"),
        ([*DEEPTHINGS, "--devices=2", "--k=2"], "--devices: give --devices or --k, not both"),
        ([*DEEPTHINGS, "--fused=17"], "--fused: must be <= 16"),
        (["--strategies=ftp,bodp", "--devices=1,2"], "--model: model cao-dense has no fused"),
        (["--strategies=bodp", "--model=yolov2-16", "--grid=3x3"], "--grid: only ftp uses it"),
    ],
)
def test_bad_device_sweep_fails_before_the_first_run(args, message):
    before = run_ids()
    proc = fab("sweep", *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "[1/" not in proc.stdout and run_ids() == before  # no point started


def test_sweep_help_documents_the_device_options():
    text = " ".join(fab("--help", "sweep").stdout.split())
    for option in ("--devices=STRING", "--grid=STRING", "--sched=STRING", "--model=STRING",
                   "--fused=STRING", "--min-frames=STRING"):
        assert option in text
    assert "bodp and the others ignore it" in text  # bodp has no grid and no scheduler
    assert "--=" not in text  # every option has a real short flag


def test_sweep_help_documents_repeat_queue_and_k():
    text = " ".join(fab("--help", "sweep").stdout.split())
    for option in ("--repeat=STRING", "--queue=STRING", "--k STRING"):
        assert option in text
    assert "--repeats" not in text  # the option is --repeat, as in fab experiment
    assert "mean +/- 95 % CI" in text and "error bars" in text
    assert "--queue=1,5,10" in text and "`fab lab-inventory --pis=7`" in text
    assert "mp K in 1..6" in text


def test_experiment_with_more_devices_than_hosts_names_devices():
    before = run_ids()
    proc = fab("experiment", "--strategy=ftp", "--model=yolov2-16", "--devices=6",
               check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--devices: ftp with K=6 needs 7 hosts, but " in proc.stderr
    assert "inventory/lab.yml has 6 (at most K=5 fits)" in proc.stderr
    assert "capacity bound" not in proc.stdout and run_ids() == before


def test_bad_scenario_fails_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("strategy: baseline\nactions:\n  - {at: 5s, do: partition, hosts: [pi1, pi1]}\n")
    steps = tmp_path / "steps.yml"
    steps.write_text("strategy: baseline\nactions:\n  - {at: 25s, do: rate, fps: 60}\n")
    before = run_ids()
    for args, message in [
        ([f"--scenario={bad}"], f"--scenario: {bad}:3: partition needs two different hosts"),
        ([f"--scenario={steps}", "--rates=10,20"], f"--scenario: {steps}:3: rate at 25s and "
         "the command line's --rates=10,20 both set the rate steps; give one of them"),
        (["--scenario=no-such"], "--scenario: no scenario named 'no-such'; shipped: "),
        (["--scenario=cao-fig2", "--rate=-1"], "--rate: must be > 0"),
        (["--repeat=0"], "--repeat: must be an integer >= 1, got 0"),
    ]:
        proc = fab("experiment", *args, check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert "capacity bound" not in proc.stdout
    assert run_ids() == before


def test_rerun_of_no_run_names_it():
    proc = fab("rerun", "no-such-run", check=False)
    assert proc.returncode == 2 and "RUN_ID: no such run: no-such-run" in proc.stderr


def test_help_documents_scenario_repeat_and_rerun():
    # Invoke wraps help at hyphens ("cao-" / "fig2"): read it as one line.
    text = re.sub(r"-\s+", "-", " ".join(fab("--help", "experiment").stdout.split()))
    assert "--scenario" in text and "--repeat" in text and "cao-fig2" in text
    text = fab("--help", "rerun").stdout
    assert "run_id" in text.lower() and "--repeat" in text and "commit" in text
