"""Every page made for people, rendered in a real browser (headless Chromium): nothing overflows the wallet card
or the page width. The check script (overflow_check.html) is injected before </body>; Chromium's --dump-dom
returns the DOM after it ran, with the offending elements in body[data-overflow]."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

CHECK = (Path(__file__).parent / "overflow_check.html").read_text(encoding="utf-8")
# the clinician report is laid out for A4 print (checked by the PDF tests); on screen it needs 1000 px
WIDTHS = {"card": 800, "summary": 800, "report": 1000}


def _overflowing(chromium: str, page: Path, width: int, tmp: Path) -> list[str]:
    probe = tmp / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--window-size={width},1200", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'data-overflow="([^"]*)"', out)
    assert m, f"the check did not run in Chromium for {page.name}"
    return json.loads(html.unescape(m.group(1)))


def _pages(sample_run) -> list[tuple[str, Path]]:
    cfg, _ = sample_run
    root = Path(cfg.dirs.root)
    cards = sorted((root / "patient").glob("*.card.html"))
    summaries = sorted((root / "patient").glob("*.summary.html"))
    assert cards and summaries, "ehrgen run wrote no patient summary / wallet card"
    # the busiest ones: the most text is where overflow shows
    biggest = lambda ps: sorted(ps, key=lambda p: -p.stat().st_size)[:3]  # noqa: E731
    reports = [root / "export" / f"{p}.report.html" for p in ("P001", "P008")]
    return ([("card", p) for p in biggest(cards)] + [("summary", p) for p in biggest(summaries)]
            + [("report", p) for p in reports if p.is_file()])


def test_nothing_overflows_the_card_or_the_page(chromium, sample_run, tmp_path):
    problems = {}
    for kind, page in _pages(sample_run):
        bad = _overflowing(chromium, page, WIDTHS[kind], tmp_path)
        if bad:
            problems[page.name] = bad[:10]
    assert not problems, problems


def test_the_check_catches_an_overflowing_card(chromium, tmp_path):
    page = tmp_path / "wide.card.html"
    page.write_text('<html><body><div class="card" style="width:85.6mm;height:54mm;overflow:hidden">'
                    '<p style="white-space:nowrap">' + "CYP2C19 Poor Metabolizer " * 8 + "</p></div></body></html>")
    assert _overflowing(chromium, page, 800, tmp_path)
