"""The outputs made for the patient (issue 13): a plain-language summary and a signed wallet card for every
consenting patient of `ehrgen run`, whose QR payload verifies offline with the documented public key."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import date
from pathlib import Path

import pytest

from ehrgen.errors import InputError
from ehrgen.report.signing import DEMO_KEY_NAME, read_public_key, verify_card


def _root(sample_run) -> Path:
    cfg, _ = sample_run
    return Path(cfg.dirs.root)


def _consenting(sample_run) -> tuple[set[str], set[str]]:
    _, outcomes = sample_run
    sent = {p for p, o in outcomes.items() if o.status == "delivered"}
    withheld = {p for p, o in outcomes.items() if o.status == "withheld"}
    return sent, withheld


def _public_key(sample_run):
    cfg, _ = sample_run
    return read_public_key(Path(cfg.work_dir) / "keys" / DEMO_KEY_NAME.replace(".pem", ".pub.pem"))


def visible_text(page: str) -> str:
    page = re.sub(r"(?s)<(style|script|head)\b.*?</\1>", " ", page)
    page = re.sub(r"(?i)</(p|li|h\d|div|td|th|dd|dt|tr)>", ". ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _syllables(word: str) -> int:
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    w = re.sub(r"(?<=[^aeiouy])e$", "", w)
    return max(1, len(re.findall(r"[aeiouy]+", w)))


def reading_grade(text: str) -> float:
    """Flesch-Kincaid grade level (a rough, conservative syllable count; gene names count as words)."""
    sentences = [s for s in re.split(r"[.!?]+(?:\s|$)", text) if re.search(r"[A-Za-z]", s)]
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
    syllables = sum(_syllables(w) for w in words)
    return 0.39 * len(words) / len(sentences) + 11.8 * syllables / len(words) - 15.59


def test_reading_grade_ranks_plain_text_below_dense_text():
    plain = "Tell your doctor about this test. Do not stop a medicine on your own. Ask first."
    dense = ("Pharmacogenomic genotyping indicated diminished cytochrome metabolization capacity, "
             "necessitating individualized therapeutic modification considerations.")
    assert reading_grade(plain) < 4 < 14 < reading_grade(dense)


def test_every_consenting_patient_gets_a_summary_and_a_card(sample_run):
    root = _root(sample_run)
    sent, withheld = _consenting(sample_run)
    assert sent and withheld, "sample data should hold consenting and non-consenting patients"
    for p in sorted(sent):
        for suffix in ("summary.html", "card.html", "card.jwt", "card.qr.png"):
            assert (root / "patient" / f"{p}.{suffix}").is_file(), f"{p}.{suffix} missing"
    for p in sorted(withheld):
        # results go back only with consent (Estonia's rule): nothing is written for the patient to carry
        assert not list((root / "patient").glob(f"{p}.*")), f"{p}: patient outputs written without consent"


def test_every_card_payload_verifies_and_says_what_the_card_shows(sample_run):
    root = _root(sample_run)
    pub = _public_key(sample_run)
    sent, _ = _consenting(sample_run)
    for p in sorted(sent):
        token = (root / "patient" / f"{p}.card.jwt").read_text().strip()
        claims = verify_card(token, pub)
        assert claims["iss"] and claims["iat"] and isinstance(claims["pgx"], dict)
        card = html.unescape((root / "patient" / f"{p}.card.html").read_text())
        for gene, phenotype in claims["pgx"].items():
            assert gene in card and phenotype in card, f"{p}: {gene} {phenotype} in the QR but not on the card"
        assert token in card or "data:image/svg+xml" in card


def test_qr_image_encodes_exactly_the_signed_payload(sample_run):
    """The PNG next to the card is the QR of the .jwt (re-encoding the payload gives the same image)."""
    import segno

    root = _root(sample_run)
    p = sorted(_consenting(sample_run)[0])[0]
    token = (root / "patient" / f"{p}.card.jwt").read_text().strip()
    buf = io.BytesIO()
    segno.make(token, error="m", micro=False).save(buf, kind="png", scale=6, border=3)
    assert (root / "patient" / f"{p}.card.qr.png").read_bytes() == buf.getvalue()


def test_qr_image_decodes_to_exactly_the_signed_payload(sample_run):
    """An independent decoder (zxing-cpp, a test extra) reads every card's PNG back as its .jwt."""
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (test extra) decodes the QR independently")
    import numpy as np
    from PIL import Image

    root = _root(sample_run)
    for p in sorted(_consenting(sample_run)[0]):
        token = (root / "patient" / f"{p}.card.jwt").read_text().strip()
        img = np.array(Image.open(root / "patient" / f"{p}.card.qr.png").convert("L"))
        assert [r.text for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)] == [token], p


def test_a_changed_payload_or_another_key_does_not_verify(sample_run):
    from ehrgen.report.signing import SigningKey, load_signing_key, sign_card

    root = _root(sample_run)
    pub = _public_key(sample_run)
    p = sorted(_consenting(sample_run)[0])[0]
    token = (root / "patient" / f"{p}.card.jwt").read_text().strip()
    head, body, sig = token.split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["pgx"] = {g: "Normal Metabolizer" for g in claims["pgx"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InputError) as exc:
        verify_card(f"{head}.{forged}.{sig}", pub)
    assert "Normal" not in str(exc.value)  # the one-line error does not echo the payload
    other: SigningKey = load_signing_key(None, Path(str(root) + "-other-key"))
    with pytest.raises(InputError):
        verify_card(sign_card(claims, other), pub)


def test_summary_is_plain_language(sample_run):
    root = _root(sample_run)
    sent, _ = _consenting(sample_run)
    for p in sorted(sent):
        text = visible_text((root / "patient" / f"{p}.summary.html").read_text())
        low = text.lower()
        assert "tell your doctor or pharmacist" in low, p
        assert "does not mean" in low, p
        # a 12-year-old reads at about grade 6-7
        assert reading_grade(text) <= 7.0, (p, round(reading_grade(text), 1))
        # the jargon it uses is explained on the page
        for term in ("metabolizer", "gene", "pharmacist"):
            if term in low:
                assert re.search(rf"{term}\s*:", low), f"{p}: '{term}' used but not explained"
        for jargon in ("diplotype", "phenotype", "allele", "cpic", "dpwg", "haplotype"):
            assert jargon not in low, f"{p}: unexplained jargon '{jargon}'"


def test_summary_says_what_was_not_tested(sample_run):
    root = _root(sample_run)
    text = visible_text((root / "patient" / "P001.summary.html").read_text())
    assert "CYP2D6" in text.split("not tested", 1)[-1] or re.search(r"not tested[^.]*CYP2D6", text)


def test_summary_prints_on_one_page_and_card_is_card_sized(engines_on, sample_data, tmp_path):
    from ehrgen.pipeline.context import load_context
    from ehrgen.pgx.caller import call_vcf
    from ehrgen.report.pdf import html_to_pdf, pdf_page_count
    from ehrgen.report.patient import build_people_model, render_card_html, render_summary_html
    from ehrgen.report.people import PatientInfo
    from ehrgen.report.signing import load_signing_key
    from ehrgen.rules.engine import interpret

    ctx = load_context(str(sample_data / "clinical"), None)
    calls = next(iter(call_vcf(sample_data / "vcf" / "S008.vcf")))
    recs = interpret(calls, "P008", ruleset=ctx.ruleset)
    info = PatientInfo.from_clinical("P008", ctx.clinical.patients.get("P008"))
    model = build_people_model(info, [calls], recs, "test lab", date(2026, 1, 2),
                               load_signing_key(None, tmp_path))
    summary = html_to_pdf(render_summary_html(model), None)
    if summary is None:
        pytest.skip("no PDF engine")
    assert pdf_page_count(summary) == 1
    assert pdf_page_count(html_to_pdf(render_card_html(model), None)) == 1
