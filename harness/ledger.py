"""The results ledger: one sqlite row per run, so runs can be listed and compared later
without re-reading traces. The full spec and summary are kept as JSON beside the key
columns, so nothing is lost when a summary grows a field."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id        TEXT PRIMARY KEY,
    started_at    REAL,
    strategy      TEXT,
    rate          REAL,
    duration      REAL,
    profile       TEXT,
    git_commit    TEXT,
    coverage      REAL,
    delivered_fps REAL,
    offered_fps   REAL,
    latency_p50   REAL,
    latency_p95   REAL,
    latency_p99   REAL,
    efficiency    REAL,
    spec_json     TEXT NOT NULL,
    summary_json  TEXT NOT NULL
)
"""

COLUMNS = (
    "run_id", "started_at", "strategy", "rate", "duration", "profile", "git_commit",
    "coverage", "delivered_fps", "offered_fps", "latency_p50", "latency_p95", "latency_p99",
    "efficiency", "spec_json", "summary_json",
)


@contextmanager
def _connect(db_path: str | Path) -> Iterator[sqlite3.Connection]:
    """Open the ledger, create the table if needed, commit on success, always close."""
    conn = sqlite3.connect(str(db_path))
    try:
        conn.execute(SCHEMA)
        yield conn
        conn.commit()
    finally:
        conn.close()


def _row(spec: dict[str, Any], summary: dict[str, Any]) -> tuple[Any, ...]:
    lat = summary.get("latency_ms") or {}
    strategy = spec.get("strategy", summary.get("strategy"))
    return (
        str(spec.get("run_id") or summary["run_id"]),
        spec.get("started_at", summary.get("started_at")),
        None if strategy is None else str(strategy),
        spec.get("rate_fps"),
        spec.get("duration_s"),
        spec.get("profile"),
        spec.get("git_commit"),
        summary.get("coverage"),
        summary.get("delivered_fps"),
        summary.get("offered_fps", spec.get("rate_fps")),
        lat.get("p50"),
        lat.get("p95"),
        lat.get("p99"),
        summary.get("efficiency"),
        json.dumps(spec, sort_keys=True, default=str),
        json.dumps(summary, sort_keys=True, default=str),
    )


def record(db_path: str | Path, spec: dict[str, Any], summary: dict[str, Any]) -> None:
    """Insert or replace the row of this run (re-analysing a run updates it in place)."""
    placeholders = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    sql = (f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({placeholders}) "
           f"ON CONFLICT(run_id) DO UPDATE SET {updates}")
    with _connect(db_path) as conn:
        conn.execute(sql, _row(spec, summary))


def list_runs(db_path: str | Path) -> pd.DataFrame:
    """Every run, newest first (by started_at, then run_id)."""
    if not Path(db_path).exists():
        return pd.DataFrame(columns=list(COLUMNS))
    with _connect(db_path) as conn:
        return pd.read_sql_query(
            "SELECT * FROM runs ORDER BY started_at IS NULL, started_at DESC, run_id DESC", conn
        )


def summaries(db_path: str | Path) -> list[dict[str, Any]]:
    """The stored summary dicts, newest first (what the index and comparison pages read)."""
    return [json.loads(s) for s in list_runs(db_path)["summary_json"]]
