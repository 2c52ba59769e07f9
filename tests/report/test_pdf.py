"""The printed report: P001's first page, P008 within 4 A4 pages before the appendix, PDF as presentedForm."""

from __future__ import annotations

import base64
import io
import logging
import unicodedata

import pytest

from ehrgen.report import pdf
from tests.report.helpers import report_html, sample_inputs

pypdf = pytest.importorskip("pypdf")
MAX_PAGES_BEFORE_APPENDIX = 4


def _pages_text(data: bytes) -> list[str]:
    # NFKC: Chromium's PDFs carry ligatures ("ﬁ") in their text layer
    return [unicodedata.normalize("NFKC", p.extract_text() or "") for p in pypdf.PdfReader(io.BytesIO(data)).pages]


def _appendix_page(pages: list[str]) -> int:
    """1-based page on which 'Appendix A' starts."""
    return next(i for i, t in enumerate(pages, 1) if "Appendix A" in t)


def _engine_or_skip(engine: str) -> None:
    got, why = pdf.pick_engine(engine)
    if got is None:
        pytest.skip(why)


@pytest.fixture(params=["weasyprint", "chromium"])
def engine(request):
    if request.param == "chromium":
        request.getfixturevalue("chromium")  # installs it when missing (or skips with the reason)
    _engine_or_skip(request.param)
    return request.param


def test_p001_first_page_identifies_patient_and_gives_clopidogrel_advice(engine):
    html, model = report_html("P001")
    pages = _pages_text(pdf.html_to_pdf(html, engine))
    first = " ".join(pages[0].split())
    for text in ("Alfa Testperson", "MRN100001", "1971-06-10", "female", "urn:oid:2.16.840.1.113883.19.5",
                 "Clopidogrel", "Avoid this drug", "S001"):
        assert text.lower() in first.lower(), text
    body = " ".join(" ".join(pages).split())
    # the medicine the patient takes comes before every other finding
    assert body.index("This patient's medicines") < body.index("Clopidogrel (taking)") \
        < body.index("Other actionable findings") < body.index("Amitriptyline")
    # CYP2D6 not tested: listed as such, never as an outside result
    genes_at = body.index("Gene results")
    nt_at = body.index("What was not tested", genes_at)
    assert "CYP2D6: not assessed from sequence data" in body[nt_at:]
    row = body[genes_at:nt_at]
    cyp2d6 = row[row.index("CYP2D6"):][:120]
    assert "Outside test result" not in cyp2d6 and "Not tested" in cyp2d6
    assert "Outside test result" not in body
    # no raw population codes or N/A strengths anywhere
    assert "CVI ACS PCI" not in body and "N/A" not in body and "child >40kg" not in body


def test_p008_fits_four_pages_before_the_appendix(engine):
    html, model = report_html("P008")
    assert model["counts"]["actionable"] >= 20  # the patient with the most findings
    pages = _pages_text(pdf.html_to_pdf(html, engine))
    before = _appendix_page(pages) - 1
    assert before <= MAX_PAGES_BEFORE_APPENDIX, f"{engine}: {before} pages before the appendix"
    # every finding is on those pages (the appendix only repeats them in full)
    main = " ".join(" ".join(pages[:before]).split()).lower()
    for block in model["all_findings"]:
        assert block["drug"] in main, block["drug"]


def test_p008_with_positions_not_covered_still_fits_and_lists_them_in_the_appendix(engine, tmp_path):
    from tests.report.helpers import report_with_gaps

    html, model, _ = report_with_gaps("P008", tmp_path)
    assert model["coverage"]["gaps"]
    # CYP2C19 is indeterminate with those gaps: its drugs are one line, not a block each repeating why
    [cyp2c19] = [u for u in model["undetermined"] if [g["gene"] for g in u["genes"]] == ["CYP2C19"]]
    assert "clopidogrel" in cyp2c19["drugs"] and len(cyp2c19["drugs"]) >= 5
    assert not {b["drug"] for b in model["findings"]} & set(cyp2c19["drugs"])
    pages = _pages_text(pdf.html_to_pdf(html, engine))
    before = _appendix_page(pages) - 1
    assert before <= MAX_PAGES_BEFORE_APPENDIX, f"{engine}: {before} pages before the appendix"
    first = " ".join(pages[0].split())
    assert "CYP2C19:" in first and "positions read" in first  # the header line is on page 1
    appendix_d = next(i for i, t in enumerate(pages, 1) if "Appendix D" in t and "Positions not covered" in t)
    assert appendix_d > before


def test_every_row_links_its_recommendation():
    html, model = report_html("P008")
    for block in model["all_findings"]:
        for row in block["rows"]:
            for ref in row["refs"]:
                assert ref["id"].startswith("PA") and ref["url"].startswith("https://")
                assert f'href="{ref["url"]}">{ref["id"]}</a>' in html


def test_pdf_is_attached_to_the_diagnostic_report_next_to_the_html():
    from datetime import datetime, timezone

    from ehrgen.fhir.bundle import PatientRef, ReportContext, build_bundle

    _engine_or_skip("auto")
    calls, recs, _ctx = sample_inputs("P001")
    html, _ = report_html("P001")
    data = pdf.html_to_pdf(html, "auto")
    ctx = ReportContext("0.1.0", "r1", "0" * 64, datetime(2026, 12, 1, tzinfo=timezone.utc),
                        report_html=html, report_pdf=data)
    bundle = build_bundle(calls, recs, PatientRef("P001", "urn:x", "MRN100001"), ctx)
    report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    forms = {f["contentType"]: f for f in report["presentedForm"]}
    assert set(forms) == {"text/html", "application/pdf"}
    assert base64.b64decode(forms["application/pdf"]["data"]).startswith(b"%PDF-")


def test_no_engine_means_html_only_and_one_warning(caplog, monkeypatch):
    monkeypatch.setattr(pdf, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="ehrgen.report.pdf"):
        assert pdf.html_to_pdf("<p>x</p>", "none") is None
        assert pdf.html_to_pdf("<p>y</p>", "none") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "PDF reports are not written" in warnings[0].getMessage()
    assert pdf.engine_status("none").startswith("no PDF engine")
