"""The report in a real headless browser (the system's Chromium, driven by Playwright):
it loads without console errors, every chart renders, document values never execute.

Screenshots of a passing and a failing report are saved under
``reports/out/screenshots/`` for people to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from reports import render_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "out" / "screenshots"


def _chromium() -> str:
    executable = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if executable is None:
        pytest.fail(
            "headless Chromium is needed for the browser tests: `apt-get install chromium` "
            "(Debian) or set CHROMIUM=/path/to/chromium"
        )
    return executable


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests drive Chromium with Playwright: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


class LoadedReport:
    """A rendered report open in a page, with every console error and page error seen."""

    def __init__(self, browser: Browser, html: Path) -> None:
        self.page: Page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.problems.append(f"console.{message.type}: {message.text}")
                if message.type in ("error", "assert")
                else None
            ),
        )
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.goto(html.as_uri())
        self.page.wait_for_selector('body[data-charts-done="true"]', timeout=60_000)

    def data(self, name: str) -> str | None:
        value: str | None = self.page.evaluate(f"document.body.dataset.{name}")
        return value

    def assert_every_chart_rendered(self) -> int:
        charts = self.page.locator("div.chart")
        count = charts.count()
        assert self.problems == []
        assert self.data("chartErrors") is None
        assert self.data("chartsExpected") == str(count)
        assert self.data("chartsRendered") == str(count)
        for index in range(count):
            chart = charts.nth(index)
            element_id = chart.get_attribute("id")
            drawn = chart.evaluate(
                "el => el.classList.contains('js-plotly-plot') && el.data.length > 0"
                " && el.querySelectorAll('.main-svg').length > 0"
                " && el.querySelectorAll('.trace').length > 0"
            )
            assert drawn, f"chart {element_id} did not render"
        return count

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.page.close()


class Opener(Protocol):
    def __call__(self, run: Path, base: Path | None = None, /) -> LoadedReport: ...


@pytest.fixture
def open_report(browser: Browser) -> Iterator[Opener]:
    """Render a run (against ``base`` if given) and open its page."""
    opened: list[LoadedReport] = []

    def open_(run: Path, base: Path | None = None, /) -> LoadedReport:
        render_run(run, base=base)
        report = LoadedReport(browser, run / "index.html")
        opened.append(report)
        return report

    yield open_
    for report in opened:
        report.close()


@pytest.mark.parametrize("kind", ["passing", "failing"])
def test_report_loads_clean_and_renders_every_chart(
    request: pytest.FixtureRequest, open_report: Opener, kind: str
) -> None:
    run: Path = request.getfixturevalue(f"{kind}_run")
    report = open_report(run)

    assert report.assert_every_chart_rendered() >= 8
    banner = report.page.inner_text("#verdict")
    assert banner.startswith("PASS" if kind == "passing" else "FAIL")
    assert report.screenshot(kind).stat().st_size > 50_000


def test_oom_kill_is_visible_on_the_memory_chart(failing_run: Path, open_report: Opener) -> None:
    report = open_report(failing_run)

    chart_text = report.page.inner_text("#chart-memory-0")
    assert "OOM kill at 61.5 s" in chart_text
    assert "cap 1.0 GiB" in chart_text


def test_comparison_report_renders(
    failing_run: Path, passing_run: Path, open_report: Opener
) -> None:
    report = open_report(failing_run, passing_run)

    report.assert_every_chart_rendered()
    assert "within noise" in report.page.inner_text("#budgets")
    assert "worse" in report.page.inner_text("#budgets")
    report.screenshot("failing-vs-passing")


def test_document_values_are_shown_as_text_and_never_run(
    hostile_run: Path,
    open_report: Opener,
    xss_strings: tuple[str, str],
) -> None:
    script, image = xss_strings
    report = open_report(hostile_run)

    report.assert_every_chart_rendered()
    assert report.page.evaluate("typeof window.__xss") == "undefined"
    assert report.page.evaluate("document.images.length") == 0
    assert report.page.locator("a[onmouseover]").count() == 0
    budgets = report.page.inner_text("#budgets")
    assert script in budgets
    assert image in budgets
    assert script in report.page.inner_text("#chart-latency-0")  # a subplot title, as text
