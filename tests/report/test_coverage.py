"""Genes and positions not covered (from the calls' QC summary): the header line says, per gene with missing
positions, how many of N were read and why; Appendix D lists the positions; nothing when all were read."""

from __future__ import annotations

import re

from ehrgen.pgx.caller import call_vcf
from ehrgen.report.clinician import build_report_model, render_html
from ehrgen.settings import CallingSettings
from tests.ingest.test_min_ref_gq import P785, cyp2b6_gvcf
from tests.report.helpers import report_html, report_with_gaps

META = {"version": "test", "sources": {}}


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _header_row(html: str) -> str:
    at = html.index("Genes and positions not covered")
    return _text(html[at:html.index("</tr>", at)])


def test_gaps_per_gene_with_counts_and_reasons(tmp_path):
    html, model, calls = report_with_gaps("P008", tmp_path)
    gaps = {g["gene"]: g for g in model["coverage"]["gaps"]}
    assert set(gaps) == {"CYP2B6", "CYP2C19", "DPYD"}
    c19 = calls.genes["CYP2C19"].qc
    assert gaps["CYP2C19"]["read"] == c19["read"] and gaps["CYP2C19"]["positions"] == c19["positions"]
    assert gaps["CYP2C19"]["text"] == (f"{c19['read']} of {c19['positions']} positions read; "
                                       "missing: not in the file 3, filtered (LowQual) 1")
    assert gaps["DPYD"]["text"].endswith("positions read; missing: no-call")
    row = _header_row(html)
    for g in gaps.values():
        assert f"{g['gene']}: {g['text']}" in row
    assert "Appendix D" in row
    # the model's totals are the calls' own QC sums
    assert model["coverage"]["missing"] == calls.qc["missing"]


def test_appendix_lists_every_missing_position_after_the_main_pages(tmp_path):
    html, model, calls = report_with_gaps("P008", tmp_path)
    assert html.index('id="appendix"') < html.index('id="coverage"')
    appendix = _text(html[html.index('id="coverage"'):html.index("</table>", html.index('id="coverage"'))])
    for gene in ("CYP2B6", "CYP2C19", "DPYD"):
        for p in calls.genes[gene].positions:
            if not p.alleles:
                assert f"{p.position} ({p.rsid})" in appendix
    assert "not in the file (3)" in appendix and "filtered (LowQual) (1)" in appendix


def test_missing_positions_item_says_why(tmp_path):
    _, model, _ = report_with_gaps("P008", tmp_path)
    item = next(n for n in model["not_tested"] if n["kind"] == "missing_positions" and n["gene"] == "CYP2C19")
    assert "Why: not in the file 3, filtered (LowQual) 1" in item["detail"]


def test_glossary_explains_not_covered_only_when_used(tmp_path):
    _, model, _ = report_with_gaps("P008", tmp_path)
    assert any(t["term"] == "Position not covered" for t in model["glossary"])
    _, full = report_html("P008")
    assert not any(t["term"] == "Position not covered" for t in full["glossary"])


def test_complete_data_says_so_and_has_no_appendix_d():
    html, model = report_html("P008")
    assert model["coverage"]["gaps"] == [] and not model["coverage"]["has_detail"]
    assert f"All {model['coverage']['positions']} defining positions" in _header_row(html)
    assert 'id="coverage"' not in html


def test_low_quality_reference_reported_in_words(tmp_path):
    sc = call_vcf(cyp2b6_gvcf(tmp_path, ["0/0:0"]), calling=CallingSettings(min_ref_gq=20))[0]
    sc.genes = {"CYP2B6": sc.genes["CYP2B6"]}
    model = build_report_model("P1", [sc], [], META, report_date="2026-12-01")
    gap = model["coverage"]["gaps"][0]
    assert gap["text"] == "47 of 48 positions read; missing: low-quality reference call (GQ)"
    assert gap["low_quality_ref_blocks"] == 1
    html = render_html(model)
    assert f"{P785.pos} ({P785.rsid})" in _text(html[html.index('id="coverage"'):])


def test_a_gene_with_nothing_read_is_no_data_without_listing_every_position(tmp_path):
    sc = call_vcf(cyp2b6_gvcf(tmp_path, ["0/0:60"]))[0]  # the file holds CYP2B6 only
    model = build_report_model("P1", [sc], [], META, report_date="2026-12-01")
    gaps = {g["gene"]: g for g in model["coverage"]["gaps"]}
    assert "CYP2B6" not in gaps
    n = sc.genes["DPYD"].qc["positions"]
    assert gaps["DPYD"]["text"] == f"no data (0 of {n} positions read; missing: not in the file)"
    assert gaps["DPYD"]["detail"][0]["positions"] == ["all of the gene's defining positions"]
    # the header names the genes with nothing read together, once
    header = model["coverage"]["header"]
    assert len(header) == 1 and header[0].startswith("no data for ABCG2, CACNA1S") and "DPYD" in header[0]
    assert "no data for ABCG2" in _header_row(render_html(model))
