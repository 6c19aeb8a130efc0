"""The Arrow reader of traces and client.csv gives the very frames pandas' C parser gave.

harness/analysis/loading.py reads with pyarrow for speed and keeps the C parser (and its
tolerant fallback) for what Arrow cannot read exactly. These tests write traces with node_app's
own TraceWriter (its quoting is the on-disk format), covering every event kind and the odd
details a run can hold (quoted commas and quotes, line breaks, empty fields, texts pandas reads
as missing), and hold the fast path to the old one with exact dtypes, categories and values.
The standard library's csv module is the third opinion: the row count and every detail text.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.analysis import TRACE_DTYPES, load_run, loading, summarize
from node_app.trace import TraceWriter, _csv_field

T0 = 1_800_000_000.0
# Every event node_app writes, the node-role ones included (switches, shares, tasks, tiles).
EVENT_KINDS = ("received", "dropped", "rejected", "started", "finished", "forwarded",
               "forward_failed", "switch_started", "switch_finished", "shares", "task_started",
               "task_finished", "task_done", "slice_received", "overrun")
ODD_DETAILS = ("", "3", "0", "2.5:10.0", "198.18.0.12:12345", "queue_full", "A=0.25,local=0.75",
               'said "no"', '"', ",", "line one\nline two", "cr\rinside", " padded ", "NA",
               "None", "nan", "null", "<NA>", "n/a", "ünïcödé ✓", "1e3", "-0",
               "12345678901234567890")
# What pandas' C parser reads as missing (NaN), quoted or not.
NA_TEXTS = {"", "NA", "None", "nan", "null", "<NA>", "n/a"}


def _write_trace(path: Path, node: str, rows: list[tuple[float, int, str, str]]) -> None:
    """A trace exactly as a node writes it: TraceWriter, which closes with a `stopped` row."""
    writer = TraceWriter(path, node, interval_s=60.0)
    for t, pid, event, detail in rows:
        writer.write(pid, event, detail, t=t)
    writer.close()


def _trace_rows(n: int, kinds: tuple[str, ...], details: tuple[str, ...],
                t0: float = T0) -> list[tuple[float, int, str, str]]:
    return [(t0 + i * 0.001 + 1e-7 * (i % 7), i // 3, kinds[i % len(kinds)],
             details[i % len(details)]) for i in range(n)]


def _csv_rows(path: Path) -> list[list[str]]:
    """The rows after the header, by the standard library's csv module."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))[1:]


def _assert_same(fast: pd.DataFrame, old: pd.DataFrame) -> None:
    """Equal values, dtypes, category lists (in order) and index; NaN equals NaN."""
    pd.testing.assert_frame_equal(fast, old, check_exact=True, check_categorical=True)
    assert list(fast.dtypes.astype(str)) == list(old.dtypes.astype(str))
    for col in fast.columns:
        if isinstance(fast[col].dtype, pd.CategoricalDtype):
            assert list(fast[col].cat.categories) == list(old[col].cat.categories), col
            assert fast[col].cat.categories.dtype == old[col].cat.categories.dtype, col


def _old_trace(path: Path) -> pd.DataFrame:
    return loading._read_trace_c(path)


def _old_client(path: Path) -> pd.DataFrame:
    return loading._finish_client(loading._read_client_c(path))


@pytest.fixture()
def traces(tmp_path: Path) -> list[Path]:
    """Traces of four nodes with different event sets, one of them empty, one all-empty
    details (a sink), and one written by hand with two node names in it."""
    d = tmp_path / "traces"
    _write_trace(d / "A.csv", "A", _trace_rows(600, EVENT_KINDS, ODD_DETAILS))
    _write_trace(d / "B.csv", "B", _trace_rows(90, ("received", "shares", "dropped"),
                                               ('p,q', "4", "")))
    _write_trace(d / "sink.csv", "sink", _trace_rows(50, ("received",), ("",)))
    (d / "idle.csv").write_text("t,packet_id,node,event,detail\n")
    with (d / "mixed.csv").open("w", newline="") as fh:  # node names out of sorted order
        fh.write("t,packet_id,node,event,detail\n")
        for i, node in enumerate(("z9", "A", "z9", "10", "")):
            fh.write(f"{T0 + i:.6f},{i},{node},custom_{4 - i},{_csv_field(ODD_DETAILS[i + 6])}\n")
    return sorted(d.glob("*.csv"))


def test_each_trace_is_read_by_arrow_as_the_c_parser_reads_it(traces: list[Path]) -> None:
    for path in traces:
        assert loading._arrow_table(path, TRACE_DTYPES, loading.TRACE_COLUMNS) is not None, (
            f"{path.name} fell back to the C parser: the fast path was not tested")
        fast, old = loading._read_trace(path), _old_trace(path)
        _assert_same(fast, old)
        assert dict(fast.dtypes.astype(str)) == TRACE_DTYPES
        rows = _csv_rows(path)
        assert len(fast) == len(rows), path.name
        assert fast["t"].tolist() == [float(r[0]) for r in rows]
        assert fast["packet_id"].tolist() == [int(r[1]) for r in rows]
        for got, row in zip(fast["detail"], rows, strict=True):
            if row[4] in NA_TEXTS:
                assert isinstance(got, float) and np.isnan(got), (row, got)
            else:
                assert got == row[4]


def test_a_trace_holds_every_event_kind_and_odd_detail(traces: list[Path]) -> None:
    """The fixture's A trace covers what the test claims to cover (else it proves less)."""
    a = loading._read_trace(traces[0])
    assert set(EVENT_KINDS) | {"stopped"} <= set(a["event"].astype(str))
    texts = {r[4] for r in _csv_rows(traces[0])}
    assert set(ODD_DETAILS) <= texts
    assert '"' in traces[0].read_text()  # TraceWriter quoted the commas, quotes and breaks


def test_all_traces_joined_in_arrow_equal_the_old_concatenation(traces: list[Path]) -> None:
    fast = loading._read_events(traces)
    old = loading._concat_events([f for f in map(_old_trace, traces) if len(f)])
    _assert_same(fast, old)
    assert len(fast) == sum(len(_csv_rows(p)) for p in traces)
    # The union's order: the known events first, then each file's own, sorted, file by file.
    assert list(fast["event"].cat.categories[:len(loading.EVENTS)]) == list(loading.EVENTS)
    assert list(fast["node"].cat.categories) == ["A", "B", "10", "z9", "sink"]


def test_load_run_and_summary_equal_the_old_path(tmp_path: Path, traces: list[Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = traces[0].parent.parent
    spec = {"run_id": "r", "rate_fps": 10.0, "duration_s": 10.0, "nodes": [
        {"name": "A", "role": "A", "address": "198.18.0.11:12345"},
        {"name": "B", "role": "B", "address": "198.18.0.12:12345"},
        {"name": "sink", "role": "sink", "address": "198.18.0.1:12345"}]}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    _write_client(run_dir / "client.csv", 200, reply=True)
    fast = load_run(run_dir)
    fast_summary = summarize(fast)
    # The old path: the C parser for every file (Arrow refuses each one).
    monkeypatch.setattr(loading, "_arrow_table", lambda *a, **k: None)
    old = load_run(run_dir)
    _assert_same(fast.events, old.events)
    _assert_same(fast.client, old.client)
    assert json.dumps(fast_summary) == json.dumps(summarize(old))


def test_damaged_traces_go_to_the_c_parser_and_its_fallback(tmp_path: Path) -> None:
    paths = {}
    for name, tail in (("torn_in_event", f"{T0 + 9:.6f},77,B,fini"), ("torn_in_t", "18000")):
        paths[name] = tmp_path / f"{name}.csv"  # a node killed mid-write
        _write_trace(paths[name], "B", _trace_rows(40, ("received", "finished"), ("1", "2:3")))
        with paths[name].open("a") as fh:
            fh.write(tail)
    paths["gap"] = tmp_path / "gap.csv"  # a row without a packet ID
    paths["gap"].write_text(f"t,packet_id,node,event,detail\n{T0:.6f},,A,received,1\n"
                            f"{T0 + 1:.6f},3,A,received,2\n")
    for path in paths.values():
        assert loading._arrow_table(path, TRACE_DTYPES, loading.TRACE_COLUMNS) is None
        _assert_same(loading._read_events([path]),
                     loading._concat_events([f for f in [_old_trace(path)] if len(f)]))
    # As before: the C parser keeps a row torn in its last fields (they read as missing),
    # its tolerant fallback drops one without a packet ID.
    torn = loading._read_trace(paths["torn_in_event"])
    assert len(torn) == 42 and torn["event"].iloc[-1] == "fini"
    assert len(loading._read_trace(paths["torn_in_t"])) == 41  # 40 rows + stopped
    assert loading._read_trace(paths["gap"])["packet_id"].tolist() == [3]


def _write_client(path: Path, n: int, reply: bool, words: bool = False,
                  answered: bool = True, extra: bool = False) -> None:
    """client.csv as harness/locustfile.py writes it: status 0 and an empty queue depth for a
    frame without an answer, the raw reply (JSON, so quoted commas) when `reply`; `answered`
    False: no frame got an answer; `extra`: a column the loader has no dtype for."""
    yes, no = ("True", "False") if words else ("1", "0")
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["packet_id", "phase", "intended_t", "sent_t", "status", "accepted",
                    "overloaded", "queue_depth", "reply_ms", "target"]
                   + (["reply"] if reply else []) + (["note"] if extra else []))
        for pid in range(n):
            ok = answered and pid % 9 != 4
            row = [pid, "warmup" if pid < 10 else "measure", f"{T0 + pid / 10:.6f}",
                   f"{T0 + pid / 10 + 0.0013:.6f}", 200 if ok else 0, yes if ok else no,
                   yes if pid % 5 == 0 else no, pid % 4 if ok else "", f"{1 + pid / 7:.3f}",
                   "198.18.0.11:12345" if pid % 2 else "198.18.0.12:12345"]
            answer = json.dumps({"accepted": ok, "queue_depth": pid % 4}) if ok else ""
            w.writerow(row + ([answer] if reply else []) + ([pid % 3] if extra else []))


@pytest.mark.parametrize(("reply", "words", "answered", "extra"), [
    (False, False, True, False), (True, False, True, False), (True, True, True, False),
    (True, False, False, False), (True, False, True, True)])
def test_client_csv_is_read_by_arrow_as_the_c_parser_reads_it(
        tmp_path: Path, reply: bool, words: bool, answered: bool, extra: bool) -> None:
    path = tmp_path / "client.csv"
    _write_client(path, 300, reply, words, answered, extra)
    assert loading._arrow_client(path) is not None
    fast, old = loading._read_client(path), _old_client(path)
    _assert_same(fast, old)
    assert len(fast) == len(_csv_rows(path))
    assert fast["accepted"].dtype == bool and fast["status"].dtype == np.int64
    unanswered = 300 if not answered else sum(1 for p in range(300) if p % 9 == 4)
    assert int((fast["status"] == 0).sum()) == unanswered
    if reply:  # text, NaN where there was no answer, even when no frame had one
        assert fast["reply"].dtype == object and int(fast["reply"].isna().sum()) == unanswered
    if extra:  # no dtype given: the C parser's own guess, as the loader always had
        assert fast["note"].dtype == np.int64


def test_a_damaged_client_csv_goes_to_the_c_parser(tmp_path: Path) -> None:
    path = tmp_path / "client.csv"
    _write_client(path, 50, reply=False)
    with path.open("a") as fh:
        fh.write("51,measure,18000")  # torn last line
    assert loading._arrow_client(path) is None
    client = loading._read_client(path)
    _assert_same(client, _old_client(path))
    # As before, the C parser keeps the torn row: no answer recorded, so status 0.
    assert len(client) == 51 and client["status"].iloc[-1] == 0


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(details=st.lists(st.one_of(st.sampled_from(sorted(NA_TEXTS | set(ODD_DETAILS))),
                                  st.text(alphabet=' ,"\n\r:=.-+e0123456789aNn\u00e9',
                                          max_size=8)),
                        min_size=1, max_size=25))
def test_any_detail_text_reads_the_same(tmp_path: Path, details: list[str]) -> None:
    """Whatever text a node puts in `detail`, the fast path reads what the old one read."""
    path = tmp_path / "fuzz.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("t,packet_id,node,event,detail\n")
        for i, text in enumerate(details):  # TraceWriter.write's own line format
            fh.write(f"{T0 + i:.6f},{i},A,received,{_csv_field(text)}\n")
    _assert_same(loading._read_events([path]),
                 loading._concat_events([f for f in [_old_trace(path)] if len(f)]))
