"""Start, stop and collect from the nodes of a run over SSH (Fabric).

Everything here goes through the same SSH an operator would use on real Pis:
the harness writes the run file, calls `node_app-ctl`, and fetches the trace.
In the lab the hosts are network namespaces with their own sshd.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fabric import Connection

from harness.inventory import Host
from harness.spec import SpecError

RUN_FILE = "/etc/node_app/run.json"
TRACE_DIR = "/var/lib/node_app/traces"
CTL = "/usr/local/bin/node_app-ctl"
RUN_STAGING = "/tmp/node_app-run.XXXXXXXXXX"  # mktemp template: the run file on its way


def mktemp_command(template: str, directory: bool = False) -> str:
    """`mktemp` on the remote host: a new, unpredictable path, a 0600 file or a 0700 folder
    owned by the SSH user (a fixed /tmp name could be claimed first by any local user)."""
    return "mktemp " + ("-d " if directory else "") + shlex.quote(template)


def checked_mktemp(stdout: str, template: str) -> str:
    """The path mktemp printed, if it has the template's shape (it goes into shell commands)."""
    path = stdout.strip()
    prefix = template.rstrip("X")
    if len(path) != len(template) or not path.startswith(prefix) or not re.fullmatch(
            r"[A-Za-z0-9]+", path[len(prefix):]):
        raise RuntimeError(f"mktemp printed {path[:200]!r}, not a path like {template}")
    return path


def remote_mktemp(c: Connection, template: str, directory: bool = False) -> str:
    """Create a private temporary file (or folder) on `c`'s host; its path."""
    res = c.run(mktemp_command(template, directory), hide=True, timeout=20)
    return checked_mktemp(res.stdout, template)


def install_run_file_command(staged: str, sudo: str) -> str:
    """Install the staged run file, always remove the staged copy, then restart node_app."""
    q = shlex.quote(staged)
    return (f"{sudo}install -m 0644 {q} {RUN_FILE}; rc=$?; rm -f {q}; "
            f"[ $rc -eq 0 ] && {sudo}{CTL} restart")


def connect(host: Host, timeout_s: float = 5.0) -> Connection:
    kwargs: dict = {"allow_agent": False}
    if host.key_file:
        kwargs["key_filename"] = host.key_file
        kwargs["look_for_keys"] = False
    return Connection(
        host=host.address, user=host.user, connect_timeout=timeout_s, connect_kwargs=kwargs
    )


def _sudo(host: Host) -> str:
    """Real Pis are reached as an ordinary user (cloud-init's), lab hosts as root."""
    return "" if host.user == "root" else "sudo -n "


def _parallel(fn, hosts: list[Host]) -> dict[str, object]:
    """Run fn(host) for all hosts at once; map host name -> result or exception."""
    results: dict[str, object] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        futures = {h.name: pool.submit(fn, h) for h in hosts}
        for name, fut in futures.items():
            try:
                results[name] = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported per host, never swallowed
                results[name] = exc
    return results


def preflight(hosts: list[Host]) -> None:
    """Fail before anything starts when a host is unreachable or not provisioned."""

    def check(host: Host) -> str:
        with connect(host) as c:
            res = c.run(f"test -x {CTL} && echo ok", hide=True, warn=True, timeout=10)
            return res.stdout.strip()

    problems = []
    for name, result in _parallel(check, hosts).items():
        host = next(h for h in hosts if h.name == name)
        if isinstance(result, Exception):
            problems.append(
                f"{name} ({host.address}) unreachable over SSH: {type(result).__name__}: {result}"
            )
        elif result != "ok":
            problems.append(f"{name} has no {CTL}; provision it with `ansible-playbook site.yml`")
    if problems:
        hint = " (is the lab up? `fab lab-up` then `ansible-playbook site.yml`)"
        raise SpecError("hosts", "; ".join(problems) + hint)


def start_nodes(run_files: dict[Host, dict],
                tolerate: Callable[[str], bool] = lambda name: False) -> dict[str, str]:
    """Write each node's run file and (re)start its server; all hosts in parallel.

    A host whose start failed raises, unless `tolerate(name)` says its failure is the
    experiment's own result (a node the OOM killer ended under `--enforce-memory`): those
    are returned, name -> what failed, and the run goes on without them."""

    def start(host: Host) -> None:
        with connect(host) as c, tempfile.NamedTemporaryFile("w", suffix=".json") as tmp:
            json.dump(run_files[host], tmp, indent=2)
            tmp.flush()
            staged = remote_mktemp(c, RUN_STAGING)
            c.put(tmp.name, staged)
            c.run(install_run_file_command(staged, _sudo(host)), hide=True, timeout=30)

    failures = {
        name: r for name, r in _parallel(start, list(run_files)).items() if isinstance(r, Exception)
    }
    fatal = {n: e for n, e in failures.items() if not tolerate(n)}
    if fatal:
        detail = "; ".join(f"{n}: {e}" for n, e in fatal.items())
        raise RuntimeError(f"could not start node_app on {', '.join(fatal)}: {detail}")
    return {n: f"{type(e).__name__}: {str(e).strip()[-300:]}" for n, e in failures.items()}


def stop_and_collect(hosts: list[Host], run_id: str, dest: Path) -> dict[str, str]:
    """Stop every node (SIGTERM flushes its trace) and fetch the traces.

    A node that is dead or unreachable does not stop the others being collected;
    the returned map says what happened per host ("ok" or the problem).
    """
    dest.mkdir(parents=True, exist_ok=True)

    def collect(host: Host) -> str:
        local = dest / f"{host.name}.csv"
        with connect(host) as c:
            stop = c.run(f"{_sudo(host)}{CTL} stop", hide=True, warn=True, timeout=30)
            try:
                c.get(f"{TRACE_DIR}/{run_id}.csv", str(local))
            except Exception:
                # SFTP opens the local file before the remote one: a node that never wrote
                # a trace (OOM-killed while loading its stages) would leave an empty file.
                local.unlink(missing_ok=True)
                raise
            return "ok" if stop.ok else f"stop exited {stop.exited}: {stop.stderr.strip()[-200:]}"

    outcome = {}
    for name, result in _parallel(collect, hosts).items():
        outcome[name] = result if isinstance(result, str) else f"{type(result).__name__}: {result}"
    return outcome
