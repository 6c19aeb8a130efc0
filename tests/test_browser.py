"""The reports in a real headless browser (Debian's chromium and chromedriver, driven by
selenium): pages load from disk (file://) with no console errors, the index sorts, filters
50 runs to one strategy in one action and shows ticked runs side by side, a run's verdict
card is visible without scrolling at 1280x800, and no table is wider than the page.

Runs are made as tests/test_report.py makes them: test_analysis.make_run's traces, then
analysis.summarize and ledger.record (the ledger rows `fab experiment` writes) for most,
and the whole tail of `fab experiment` (experiment.finish_run: summary, prediction, ledger
row, report page, index) for the last two, so the index is the one a run writes.

Skipped only when chromium, chromedriver or selenium is missing, and never when
REQUIRE_BROWSER=1 (then a missing browser fails the test instead).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

from harness import experiment
from harness.analysis import load_run, summarize, write_summary
from harness.ledger import record
from harness.paths import RESULTS_ENV
from harness.report import write_comparison

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1280, 800
STRATEGIES = ("baseline", "cao1", "cao2", "cao3", "dp")
N_RUNS = 50
BASE = {"queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100}


def _missing() -> str:
    """Why the browser cannot run here ('' when it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return ""


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="testbed-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # The viewport itself 1280x800 (a window size would include no chrome in headless, but
    # say so exactly rather than rely on it).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A results root with 50 runs in its ledger, two of them finished by finish_run (their
    report pages and the index), and a comparison page of those two."""
    root = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(RESULTS_ENV, str(root))
        for i in range(N_RUNS):
            strategy = STRATEGIES[i % len(STRATEGIES)]
            run_id = f"202611{10 + i // 5:02d}-0206{i:02d}-{strategy}-r{10 + 10 * (i % 3)}"
            spec = {**BASE, "strategy": strategy, "rate_fps": 10 + 10 * (i % 3),
                    "started_at": 1.8e9 + 3600.0 * i,
                    "profile": "rpi3bplus" if i % 2 else "rpi3bplus,rpi3bplus_half_speed"}
            run_dir = make_run(root / "runs", run_id, extra_spec=spec,
                               vanish_ids=(100,) if i % 4 == 0 else (),
                               b_drops=i % 3 != 0)
            if i >= N_RUNS - 2:
                experiment.finish_run(run_dir, say=lambda _m: None)
                continue
            run = load_run(run_dir)
            summary = summarize(run)
            write_summary(run_dir, summary)
            record(root / "results.sqlite", run.spec, summary)
        finished = sorted((root / "reports").glob("2*.html"))
        assert len(finished) == 2
        write_comparison([root / "runs" / p.stem for p in finished],
                         root / "reports" / "compare.html")
    return root


def _open(driver, page: Path) -> list[dict]:
    """Load a page from disk; return the browser's console entries of level SEVERE."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _visible_rows(driver):
    return [r for r in driver.find_elements("css selector", "#runs tbody tr") if r.is_displayed()]


def _column(driver, header: str) -> int:
    heads = driver.find_elements("css selector", "#runs thead th")
    return [h.text.rstrip(" ▲▼") for h in heads].index(header)


def _cells(driver, header: str) -> list[str]:
    """The text of a column's cells in the rows shown, top to bottom (one round trip)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs tbody tr'))"
        ".filter(r => r.offsetParent !== null).map(r => r.cells[arguments[0]].innerText)",
        _column(driver, header))


def _pages(root: Path) -> list[Path]:
    return [root / "reports" / "index.html", root / "reports" / "compare.html",
            *sorted((root / "reports").glob("2*.html"))]


def test_pages_load_from_disk_without_console_errors(browser, root) -> None:
    for page in _pages(root):
        assert _open(browser, page) == [], page.name
    _open(browser, root / "reports" / "index.html")
    assert len(_visible_rows(browser)) == N_RUNS
    assert browser.find_element("id", "shown").text == f"{N_RUNS} of {N_RUNS} runs shown"


def test_one_select_filters_50_runs_to_one_strategy(browser, root) -> None:
    from selenium.webdriver.support.ui import Select

    _open(browser, root / "reports" / "index.html")
    Select(browser.find_element("id", "filter-strategy")).select_by_value("cao2")  # one action
    assert _cells(browser, "strategy") == ["cao2"] * (N_RUNS // len(STRATEGIES))
    assert browser.find_element("id", "shown").text == f"10 of {N_RUNS} runs shown"
    # Filters combine: cao2 at 20 fps only.
    Select(browser.find_element("id", "filter-rate")).select_by_value("20")
    rates = _cells(browser, "rate fps")
    assert rates and set(rates) == {"20"} and set(_cells(browser, "strategy")) == {"cao2"}
    Select(browser.find_element("id", "filter-strategy")).select_by_value("")
    assert set(_cells(browser, "rate fps")) == {"20"} and len(_visible_rows(browser)) > 10


def test_header_buttons_sort(browser, root) -> None:
    _open(browser, root / "reports" / "index.html")
    started = _cells(browser, "started")
    assert started == sorted(started, reverse=True)  # newest first, as written
    col = _column(browser, "coverage")
    button = browser.find_elements("css selector", "#runs thead th")[col].find_element(
        "tag name", "button")
    button.click()
    values = [float(v) for v in _cells(browser, "coverage")]
    assert values == sorted(values) and values[0] < values[-1]
    head = browser.find_elements("css selector", "#runs thead th")[col]
    assert head.get_attribute("aria-sort") == "ascending"
    button.click()
    values = [float(v) for v in _cells(browser, "coverage")]
    assert values == sorted(values, reverse=True)
    run = browser.find_elements("css selector", "#runs thead th")[_column(browser, "run")]
    run.find_element("tag name", "button").click()
    ids = _cells(browser, "run")
    assert ids == sorted(ids)


def test_ticked_runs_side_by_side(browser, root) -> None:
    _open(browser, root / "reports" / "index.html")
    assert not browser.find_element("id", "compare").is_displayed()
    rows = _visible_rows(browser)
    picked = [rows[0], rows[7], rows[13]]
    ids = [r.get_attribute("data-run") for r in picked]
    for r in picked:
        r.find_element("css selector", "input[type=checkbox]").click()
    section = browser.find_element("id", "compare")
    assert section.is_displayed()
    table = section.find_element("tag name", "table")
    header = [th.text for th in table.find_elements("css selector", "tr")[0].find_elements(
        "tag name", "th")]
    assert header == ["metric", *ids]
    by_metric = {tr.find_element("tag name", "th").text:
                 [td.text for td in tr.find_elements("tag name", "td")]
                 for tr in table.find_elements("css selector", "tr")[1:]}
    summaries = [json.loads((root / "runs" / i / "summary.json").read_text()) for i in ids]
    assert by_metric["coverage"] == [f"{s['coverage']:g}" for s in summaries]
    assert by_metric["strategy"] == [s["strategy"] for s in summaries]
    assert by_metric["latency p99 ms"] == [f"{s['latency_ms']['p99']:g}" for s in summaries]
    picked[1].find_element("css selector", "input[type=checkbox]").click()  # untick one
    header = [th.text for th in section.find_elements("css selector", "tr")[0].find_elements(
        "tag name", "th")]
    assert header == ["metric", ids[0], ids[2]]
    browser.find_element("id", "compare-clear").click()
    assert not section.is_displayed()


def test_warning_badges_open_on_demand(browser, root) -> None:
    _open(browser, root / "reports" / "index.html")
    badge = next(b for b in browser.find_elements("css selector", "#runs details.badge")
                 if b.find_element("tag name", "summary").text == "frames vanished")
    text = badge.find_element("tag name", "p")
    assert not text.is_displayed()
    badge.find_element("tag name", "summary").click()
    assert text.is_displayed() and "vanished without any drop" in text.text


def test_verdict_card_visible_without_scrolling(browser, root) -> None:
    for page in sorted((root / "reports").glob("2*.html")):
        _open(browser, page)
        assert browser.execute_script("return [innerWidth, innerHeight]") == [WIDTH, HEIGHT]
        top, bottom = browser.execute_script(
            "const r = document.getElementById('verdict').getBoundingClientRect();"
            "return [r.top, r.bottom]")
        assert browser.execute_script("return scrollY") == 0
        assert 0 <= top < bottom <= HEIGHT, (page.name, top, bottom)


def test_no_table_wider_than_the_page(browser, root) -> None:
    index = root / "reports" / "index.html"
    for page in _pages(root):
        _open(browser, page)
        if page == index:  # with the side-by-side view open too
            for box in browser.find_elements("css selector", "#runs tbody input")[:6]:
                box.click()
        width, scroll, tables = browser.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return [w, document.documentElement.scrollWidth,"
            " Array.from(document.querySelectorAll('table')).map("
            "  t => [t.getBoundingClientRect().right, t.scrollWidth, t.clientWidth])]")
        assert tables, page.name
        assert scroll <= width, page.name
        for right, sw, cw in tables:
            assert right <= width and sw <= cw + 1, (page.name, right, sw, cw, width)
