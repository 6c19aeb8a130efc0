"""`fab calibrate`: measure devices over SSH and keep each as profiles/<name>.json (issue 14).

The measuring is node_app's (node_app/calibrate.py, run on the host with the node's own
Python, numpy and stage files, one BLAS thread as the server runs); this module only starts
it over the same SSH a run uses, fetches the JSON and writes it where harness/capacity.py
finds profiles, so the next `fab experiment --profile=<name>` emulates the measured device.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.capacity import profiles_dir, shipped
from harness.cluster import _parallel, _sudo, connect, remote_mktemp
from harness.inventory import Host
from harness.models import DEFAULT_MODEL
from harness.spec import SpecError
from node_app.profile import parse_profile

NODE_ROOT = "/opt/node_app"  # playbooks/roles/node_app: the package and its stages/
STAGES_DIR = f"{NODE_ROOT}/stages"
PYTHON = "/usr/bin/python3"  # the role's node_app_python
OUT_TEMPLATE = "/tmp/node_app-calibrate.XXXXXXXXXX"
# As the server runs (node_app_env): one BLAS thread, so a stage's time is one core's time.
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": NODE_ROOT}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def profile_name(host: str, name: str, many: bool) -> str:
    """The profile's name: `calibrated-<host>` by default; --name for one host, and
    `<name>-<host>` when several hosts are calibrated at once."""
    out = (f"{name}-{host}" if many else name) if name else f"calibrated-{host}"
    if not _NAME.match(out):
        raise SpecError("name", f"{out!r} is not a profile name (letters, digits, _ . -)")
    if shipped(out):
        raise SpecError("name", f"{out!r} is a profile of node_app/profiles.json; pick another")
    return out


def remote_command(host: Host, out: str, model: str, repeat: int) -> str:
    """The shell command that measures `host` into `out` (as root where the host allows it,
    so the page cache can be dropped before each cold load)."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in ENV.items())
    args = ["-m", "node_app.calibrate", "--stages-dir", STAGES_DIR, "--model-manifest",
            f"{STAGES_DIR}/manifest.json", "--model", model, "--repeat", str(repeat),
            "--host", host.name, "--out", out]
    return (f"cd {NODE_ROOT} && {_sudo(host)}env {env} {PYTHON} "
            + " ".join(shlex.quote(a) for a in args))


def calibrate_host(host: Host, model: str, repeat: int) -> dict:
    """Run node_app.calibrate on `host`; its profile entry."""
    with connect(host) as c:
        out = remote_mktemp(c, OUT_TEMPLATE)
        try:
            # `timeout`: yolov2-16-608 takes about 20 s a frame on a Pi 3.
            res = c.run(remote_command(host, out, model, repeat), hide=True, warn=True,
                        timeout=max(600, 60 * repeat))
            if not res.ok:
                raise RuntimeError(f"node_app.calibrate exited {res.exited}: "
                                   f"{(res.stderr or res.stdout).strip()[-400:]}")
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "profile.json"
                c.get(out, str(local))
                return json.loads(local.read_text())
        finally:
            c.run(f"{_sudo(host)}rm -f {shlex.quote(out)}", hide=True, warn=True, timeout=20)


def calibrate(hosts: list[Host], model: str = DEFAULT_MODEL, repeat: int = 30, name: str = "",
              measure: Callable[[Host, str, int], dict] = calibrate_host,
              say: Callable[[str], None] = print) -> dict[str, Path]:
    """Measure every host (in parallel) and write profiles/<name>.json for each; host name
    -> the file written. A host that fails does not stop the others; the failures are
    raised together after the others are written."""
    if repeat < 1:
        raise SpecError("repeat", f"must be at least 1, got {repeat}")
    names = {h.name: profile_name(h.name, name, len(hosts) > 1) for h in hosts}
    results = _parallel(lambda h: measure(h, model, repeat), hosts)
    folder = profiles_dir()
    written: dict[str, Path] = {}
    failed: list[str] = []
    for host, entry in results.items():
        if isinstance(entry, Exception):
            failed.append(f"{host}: {type(entry).__name__}: {entry}")
            continue
        try:
            parse_profile(names[host], entry, f"calibration of {host}")
        except ValueError as exc:
            failed.append(f"{host}: the measured profile does not load: {exc}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{names[host]}.json"
        path.write_text(json.dumps(entry, indent=2) + "\n")
        written[host] = path
        say(f"{host}: wrote {path} (--profile={names[host]}): {entry.get('basis', '')}")
    if failed:
        raise RuntimeError("calibration failed on " + "; ".join(failed))
    return written
