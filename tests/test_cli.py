"""The fab command line parses what the README documents and rejects bad specs by name.

These run without the lab: every case fails (or is checked) before a node is touched.
"""

from __future__ import annotations

import pytest
from lab_cli import fab  # tests/ is on sys.path (pytest rootdir)


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
    ],
)
def test_bad_experiment_spec_names_the_option(args, message):
    proc = fab("experiment", *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_one_letter_option_has_the_documented_long_form():
    help_text = fab("--help", "experiment").stdout
    assert "--x" in help_text and "-x" in help_text
    assert "--model" in help_text and "cao-dense" in help_text  # the choices are listed


def test_bad_sweep_spec_names_the_option():
    proc = fab("sweep", "--x=1,a", check=False)
    assert proc.returncode == 2 and "--x: integers separated by commas" in proc.stderr
    proc = fab("sweep", "--repeats=0", check=False)
    assert proc.returncode == 2 and "--repeats: must be >= 1" in proc.stderr
