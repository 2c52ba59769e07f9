"""Every page made for people, laid out in a real browser (headless Chromium, `ehrgen.report.browser.layout_check`):
nothing sticks out of the wallet card or the page width, and no text is cut."""

from __future__ import annotations

from pathlib import Path

from ehrgen.report.browser import layout_check

# the clinician report is laid out for A4 print (checked by the PDF tests); on screen it needs 1000 px
WIDTHS = {"card": 800, "summary": 800, "report": 1000}


def _problems(page: Path, kind: str) -> list:
    card = kind == "card"
    res = layout_check(page.read_text(encoding="utf-8"), WIDTHS[kind], selector=".card" if card else None,
                       check_bottom=card)
    bad = list(res["overflow"])
    if res["page"]["scrollWidth"] > res["page"]["clientWidth"] + 1:
        bad.append(f"page wider than {res['page']['clientWidth']} px")
    return bad


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


def test_nothing_overflows_the_card_or_the_page(chromium, sample_run):
    problems = {p.name: bad[:10] for kind, p in _pages(sample_run) if (bad := _problems(p, kind))}
    assert not problems, problems


def test_the_check_catches_an_overflowing_and_a_cut_card(chromium, tmp_path):
    long = "Malignant Hyperthermia Susceptibility " * 3
    for style in ("white-space:nowrap", "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"):
        page = tmp_path / "bad.card.html"
        page.write_text('<html><body><div class="card" style="width:85.6mm;height:54mm;overflow:hidden">'
                        f'<table style="table-layout:fixed;width:100%"><tr><td style="{style}">{long}</td></tr>'
                        "</table></div></body></html>")
        assert _problems(page, "card"), style
