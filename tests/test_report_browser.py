"""The HTML report as a real browser sees it: headless Chromium over the DevTools protocol (tests/headless.py).

CI installs Debian's `chromium` (.ci/run); elsewhere these tests are skipped when no Chromium binary is on PATH.
"""

import re

import pytest

from aibench.report.html import write_report
from aibench.results.store import ResultStore
from headless import find_browser, load_page
from report_records import fill

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium binary on PATH (CI installs Debian's "
                                                        "chromium through .ci/run; `apt-get install chromium`)")

# 1x1 transparent PNG
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


def test_the_check_sees_planted_errors(tmp_path):
    """The browser check can fail: a console error, an uncaught exception, a missing file and an image that does
    not decode are each seen (and a clean page gives none)."""
    (tmp_path / "bad.html").write_text(
        "<!doctype html><html><head><title>bad</title></head><body><p>x</p>"
        "<img alt='missing' src='missing.png'><img alt='broken' src='data:image/png;base64,AAAA'>"
        f"<img alt='fine' src='data:image/png;base64,{PIXEL}'>"
        "<script>console.error('planted error'); notAFunction();</script></body></html>")
    seen = load_page(BROWSER, (tmp_path / "bad.html").as_uri())
    assert any("planted error" in e for e in seen.console_errors)
    assert any("notAFunction" in e for e in seen.console_errors)
    assert any("ERR_FILE_NOT_FOUND" in e for e in seen.failed_loads)
    widths = {i["alt"]: i["width"] for i in seen.figures["images"]}
    assert widths == {"missing": 0, "broken": 0, "fine": 1}

    (tmp_path / "good.html").write_text("<!doctype html><html><head><title>good</title></head><body>"
                                        f"<img alt='fine' src='data:image/png;base64,{PIXEL}'></body></html>")
    clean = load_page(BROWSER, (tmp_path / "good.html").as_uri())
    assert clean.errors == [] and clean.figures["images"][0]["width"] == 1


def test_report_renders_in_chromium_without_errors(tmp_path):
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    fill(store)
    report = write_report(store.records(), tmp_path / "report.html")
    shot = tmp_path / "report.png"
    seen = load_page(BROWSER, report.as_uri(), screenshot=shot)

    assert seen.errors == []
    # self-contained: the page asked for nothing but itself and its embedded figures
    assert [u for u in seen.requests if u != report.as_uri() and not u.startswith("data:")] == []
    images = seen.figures["images"]
    assert len(images) == len(re.findall(r"<img ", report.read_text()))
    assert len(images) >= 8  # 4 quality curves, Server, Fig. 2, Fig. 5, Fig. 4
    undecoded = [i["alt"] for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert undecoded == []
    assert seen.figures["title"] == "AIBench results" and seen.figures["text"] > 2000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
