"""The run report in a real browser: headless Chromium opens it from file:// with the network off, and it renders,
raises no error, loads nothing, and its table filters as a person types.

Skipped where Chromium is not installed (``apt-get install -y chromium``; ``.ci/run`` installs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from headless_chromium import INSTALL, Chromium, find_chromium, png_size
from report_cases import MARKUP, make_run
from tvd.report.run_data import report_data
from tvd.report.run_files import read_run_dir

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium to render the report: {INSTALL}")

WIDTH, HEIGHT = 1280, 900


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def browser(run_dir: Path):
    assert CHROMIUM is not None
    with Chromium(CHROMIUM, width=WIDTH, height=HEIGHT) as chromium:
        chromium.open((run_dir / "report.html").as_uri())
        yield chromium


def _shown(browser: Chromium) -> tuple[int, int]:
    """(rows drawn, rows matching) as the table says."""
    body = "document.getElementById('rows')"
    return (
        browser.evaluate(f"{body}.querySelectorAll('tr:not(.prompt-row)').length"),
        int(browser.evaluate(f"{body}.getAttribute('data-matching')")),
    )


def test_it_renders_offline_without_errors(browser: Chromium, run_dir: Path) -> None:
    assert browser.evaluate("document.body.getAttribute('data-ready')") == "1"  # the table script ran to its end
    assert browser.errors() == []
    assert browser.requests() == [(run_dir / "report.html").as_uri()]  # nothing but the file itself
    shot = browser.screenshot()
    assert png_size(shot) == (WIDTH, HEIGHT)
    page = browser.screenshot(full_page=True)
    width, height = png_size(page)
    assert width == WIDTH and height > 2 * HEIGHT  # summary, students, data, values: more than two screens
    assert browser.evaluate("document.querySelectorAll('svg.chart').length") >= 2
    assert browser.evaluate("document.querySelectorAll('table.confusion').length") == 2


def test_every_row_is_drawn_with_slots_as_labelled_marks(browser: Chromium, run_dir: Path) -> None:
    rows = report_data(read_run_dir(run_dir)).rows
    assert _shown(browser) == (len(rows), len(rows))
    marks = browser.evaluate("Array.from(document.querySelectorAll('#rows mark.slot')).map(m => m.title)")
    assert len(marks) == sum(len(r["spans"]) for r in rows) and set(marks) == {"city"}
    cells = "document.querySelectorAll('#rows tr td:nth-child(2)')"
    texts = browser.evaluate(f"Array.from({cells}).map(t => t.textContent)")
    assert any(MARKUP in text for text in texts)  # markup in the data is shown as text
    assert browser.evaluate("document.querySelectorAll('#rows b').length") == 0


def test_typing_a_search_term_filters_the_table(browser: Chromium, run_dir: Path) -> None:
    rows = report_data(read_run_dir(run_dir)).rows
    term = "forecast"
    expected = sum(term in row["text"].lower() for row in rows)
    assert 0 < expected < len(rows)
    browser.type_text("#q", term)
    browser.wait_until(f"document.getElementById('rows').getAttribute('data-matching') === '{expected}'")
    assert _shown(browser) == (expected, expected)
    texts = browser.evaluate("Array.from(document.querySelectorAll('#rows tr')).map(t => t.textContent.toLowerCase())")
    assert all(term in text for text in texts)
    assert browser.evaluate("document.getElementById('count').textContent").startswith(f"{expected} of {len(rows)}")
    browser.evaluate("const q = document.getElementById('q'); q.value = ''; q.dispatchEvent(new Event('input'))")
    assert _shown(browser) == (len(rows), len(rows))
    assert browser.errors() == []


def test_the_url_fragment_presets_the_filters_and_a_prompt_opens(browser: Chromium, run_dir: Path) -> None:
    rows = report_data(read_run_dir(run_dir)).rows
    rejected = sum(row["status"] == "rejected" for row in rows)
    browser.open("about:blank")
    browser.open((run_dir / "report.html").as_uri() + "#status=rejected")  # read when the page loads
    assert _shown(browser) == (rejected, rejected) and rejected > 0
    badges = "Array.from(document.querySelectorAll('#rows .badge')).map(b => b.textContent).join(',')"
    forecast = [r["status"] for r in rows if r["status"] in ("kept", "filtered") and "forecast" in r["text"]]
    assert forecast
    browser.open((run_dir / "report.html").as_uri() + "#q=forecast&status=kept,filtered")  # a hashchange
    assert browser.wait_until(f"{badges} === {','.join(forecast)!r}")
    browser.open((run_dir / "report.html").as_uri() + "#status=rejected")
    assert browser.wait_until(f"{badges} === {','.join(['rejected'] * rejected)!r}")
    browser.evaluate("document.querySelector('#rows details.prompt summary').click()")  # as a person opens it
    prompt = browser.wait_until("document.querySelector('#rows tr.prompt-row pre')?.textContent")
    assert "<include>" in prompt
    assert browser.errors() == []
