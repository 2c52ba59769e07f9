"""What the patient carries away: a one-page plain-language summary and a credit-card-size wallet card whose QR
code holds a signed summary (genes, phenotypes, issuer, date) that a pharmacist can verify offline.

`carried_results` (pure) decides which gene results matter for the patient: the genes behind an actionable
finding whose result is certain (called or an outside result; never an Indeterminate or untested gene, which
the card must not present as a result).
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from ehrgen import fastpath
from ehrgen.pgx.model import INDETERMINATE, SampleCalls
from ehrgen.report.clinician import PatientInfo, check_patient_id, environment
from ehrgen.report.files import atomic_write_bytes
from ehrgen.report.signing import SigningKey, sign_card
from ehrgen.rules.findings import drug_findings
from ehrgen.rules.model import Recommendation

CARD_SCHEMA = "ehrgen.card/1"
CARD_WIDTH_MM, CARD_HEIGHT_MM = 85.6, 53.98  # ISO/IEC 7810 ID-1, a bank card
CARD_PX = (324, 204)  # the same at 96 CSS px per inch (rounded up)
_NORMAL = ("Normal Metabolizer", "Normal Function", "Normal")


@lru_cache(maxsize=1)
def patient_text() -> dict[str, Any]:
    path = resources.files("ehrgen.report").joinpath("templates/patient_text.json")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class CarriedResult:
    gene: str
    phenotype: str
    activity_score: str | None = None
    drugs: list[str] = field(default_factory=list)


def carried_results(calls: Iterable[SampleCalls], recs: Iterable[Recommendation]) -> list[CarriedResult]:
    """Genes behind actionable findings, with a certain result, and the drugs they matter for."""
    by_gene = {}
    for c in calls:
        for g, call in c.genes.items():
            certain = call.status in ("called", "outside_call") and call.phenotype and \
                call.phenotype != INDETERMINATE
            if certain and g not in by_gene:
                by_gene[g] = call
    out: dict[str, CarriedResult] = {}
    for f in drug_findings(recs):
        if f.alert == "info":  # for awareness only (CPIC ivacaftor and the reference CFTR): not card-worthy
            continue
        for r in f.recs:
            if r.alert == "info":
                continue
            if r.action == "indeterminate":
                continue
            for g in r.genes:
                call = by_gene.get(g)
                if call is None:
                    continue
                # a normal result in a multi-gene rule is not what drives the advice (sertraline: CYP2B6 normal)
                if len(r.genes) > 1 and call.phenotype in _NORMAL:
                    continue
                res = out.setdefault(g, CarriedResult(g, call.phenotype, call.activity_score))
                if f.drug not in res.drugs:
                    res.drugs.append(f.drug)
    return sorted(out.values(), key=lambda r: r.gene)


def _plain(result: CarriedResult, text: dict[str, Any]) -> str:
    meanings = text["meanings"]
    return meanings.get(result.phenotype) or meanings["_default"]


def card_claims(results: list[CarriedResult], issuer: str, issued: date) -> dict[str, Any]:
    """The signed QR payload: as small as it can be while saying everything the card shows."""
    return {"iss": issuer, "iat": int(datetime(issued.year, issued.month, issued.day, tzinfo=timezone.utc).timestamp()),
            "pgx": {r.gene: r.phenotype for r in results}}


def qr_data_uri(payload: str) -> str:
    return card_qr(payload).data_uri


def qr_png(payload: str, path: Path) -> Path:
    atomic_write_bytes(Path(path), card_qr(payload).png)
    return path


@dataclass(frozen=True)
class CardQr:
    """The card's QR code, encoded once: the SVG data URI on the card and the PNG next to it."""

    data_uri: str
    png: bytes


def card_qr(payload: str) -> CardQr:
    """segno encodes (straightforward path); the fast path (ehrgen.report.qr) gives the same bytes, and keeps
    the last few hundred (people with the same card results share the payload: Ed25519 is deterministic)."""
    if fastpath.enabled():
        return _card_qr_fast(payload)
    return _card_qr_segno(payload)


def _card_qr_segno(payload: str) -> CardQr:
    import segno

    # error correction M: survives a scuffed card; border 2 modules is enough on a white card
    code = segno.make(payload, error="m", micro=False)
    png = io.BytesIO()
    code.save(png, kind="png", scale=6, border=3)
    return CardQr(code.svg_data_uri(scale=1, border=2, dark="#000", light="#fff"), png.getvalue())


@lru_cache(maxsize=512)  # about 18 KB an entry
def _card_qr_fast(payload: str) -> CardQr:
    from ehrgen.report import qr

    symbol = qr.encode(payload)
    if symbol is None:  # outside the fast encoder's scope (not a byte-mode payload): segno's own
        return _card_qr_segno(payload)
    return CardQr(qr.svg_data_uri(symbol, border=2), qr.png_bytes(symbol, scale=6, border=3))


def build_people_model(info: PatientInfo, calls: list[SampleCalls], recs: list[Recommendation], issuer: str,
                       issued: date, key: SigningKey) -> dict[str, Any]:
    """Everything the summary and the card show (JSON-ready), including the signed QR payload."""
    return _people_model(info, calls, recs, issuer, issued, key)[0]


def _people_model(info: PatientInfo, calls: list[SampleCalls], recs: list[Recommendation], issuer: str,
                  issued: date, key: SigningKey) -> tuple[dict[str, Any], CardQr]:
    text = patient_text()
    results = carried_results(calls, recs)
    claims = card_claims(results, issuer, issued)
    token = sign_card(claims, key)
    code = card_qr(token)
    tested = {g for c in calls for g, call in c.genes.items() if call.status in ("called", "outside_call")}
    untested = sorted({g for c in calls for g, call in c.genes.items() if call.status not in ("called", "outside_call")}
                      | ({"CYP2D6"} - tested))
    model = {
        "schema": CARD_SCHEMA,
        "text": text,
        "name": info.name or info.id,
        "birth_date": info.birth_date,
        "issued": issued.isoformat(),
        "issuer": issuer,
        "results": [{"gene": r.gene, "phenotype": r.phenotype, "activity_score": r.activity_score,
                     "drugs": r.drugs, "plain": _plain(r, text)} for r in results],
        "untested": untested,
        "demo": key.demo,
        "kid": key.kid,
        "payload": token,
        "qr": code.data_uri,
    }
    return model, code


def render_summary_html(model: dict[str, Any]) -> str:
    return _template("patient_summary.html.j2").render(m=model).lstrip()


def render_card_html(model: dict[str, Any]) -> str:
    return _template("card.html.j2").render(m=model).lstrip()


def _template(name: str) -> Any:
    """A new environment compiles the template (the straightforward path, as before); the fast path keeps the
    compiled one (the templates are package data: they do not change under a running process)."""
    if fastpath.enabled():
        return _compiled(name)
    return environment().get_template(name)


@lru_cache(maxsize=4)
def _compiled(name: str) -> Any:
    return environment().get_template(name)


def write_people_outputs(patient: str, info: PatientInfo, calls: list[SampleCalls], recs: list[Recommendation],
                         out_dir: Path, key: SigningKey, issuer: str, issued: date | None = None,
                         pdf_engine: str | None = None, png: bool = True) -> dict[str, Path]:
    """Write `<patient>.summary.html` (+ .pdf), `<patient>.card.html` (+ .pdf, .png), `<patient>.card.jwt`
    (the QR payload, for `ehrgen verify-card`) and `<patient>.card.qr.png`. PDFs and the card PNG only when
    an engine is present (see ehrgen.report.pdf); returns what was written."""
    from ehrgen.pgx.output import atomic_write_text
    from ehrgen.report.pdf import html_to_pdf

    check_patient_id(patient)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, code = _people_model(info, calls, recs, issuer, issued or datetime.now(timezone.utc).date(), key)
    written: dict[str, Path] = {}
    summary_html, card_html = render_summary_html(model), render_card_html(model)
    for kind, html in (("summary", summary_html), ("card", card_html)):
        p = out_dir / f"{patient}.{kind}.html"
        atomic_write_text(p, html)
        written[f"{kind}-html"] = p
        pdf = html_to_pdf(html, pdf_engine)
        if pdf is not None:
            atomic_write_bytes(out_dir / f"{patient}.{kind}.pdf", pdf)
            written[f"{kind}-pdf"] = out_dir / f"{patient}.{kind}.pdf"
    atomic_write_text(out_dir / f"{patient}.card.jwt", model["payload"] + "\n")
    written["card-payload"] = out_dir / f"{patient}.card.jwt"
    atomic_write_bytes(out_dir / f"{patient}.card.qr.png", code.png)
    written["card-qr"] = out_dir / f"{patient}.card.qr.png"
    from ehrgen.report.pdf import configured_report

    if png and configured_report().card_png:
        from ehrgen.report.browser import chromium_path, screenshot

        if chromium_path():
            try:
                written["card-png"] = screenshot(card_html, out_dir / f"{patient}.card.png", *CARD_PX, scale=3)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                import logging

                logging.getLogger(__name__).warning("card PNG not written (%s)", type(exc).__name__)
    return written
