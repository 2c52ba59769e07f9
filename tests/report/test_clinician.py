"""The per-patient report: order, certainty, limitations, escaping, print CSS, well-formed HTML."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ehrgen.errors import InputError
from ehrgen.pgx.model import Diplotype, GeneCall, SampleCalls
from ehrgen.rules.model import Recommendation
from ehrgen.report.clinician import build_report_model, render_html, render_patient_report

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
META = {
    "version": "2026.11.1",
    "sources": {"CPIC": "CPIC guidelines 2.12.0", "DPWG": "DPWG via ClinPGx 2.12.0"},
    "generated": "2026-11-20T10:00:00+00:00",
}


def _rec(drug, source, genes, phen, action, alert, actionable, summary="", **kw):
    return Recommendation(
        patient="P001", sample="S1", drug=drug, source=source, genes=genes, phenotypes=phen,
        action=action, strength=kw.pop("strength", "Strong"), alert=alert, summary=summary,
        guideline_id=kw.pop("guideline_id", f"{source}-{drug}"),
        guideline_url=kw.pop("guideline_url", f"https://example.org/{source.lower()}/{drug}"),
        rules_version="2026.11.1", actionable=actionable, **kw,
    )


@pytest.fixture
def patient():
    return make_patient()


def make_patient() -> tuple[list[SampleCalls], list[Recommendation]]:
    """Hand-built patient: clopidogrel critical, CYP2C9 ambiguous, CYP2D6 no data, standard rows."""
    genes = {
        "CYP2C19": GeneCall(
            gene="CYP2C19", status="called", phenotype="Poor Metabolizer", activity_score=None,
            diplotypes=[Diplotype("*2", "*2", phenotype="Poor Metabolizer")],
        ),
        "CYP2C9": GeneCall(
            gene="CYP2C9", status="ambiguous", phenotype="Indeterminate",
            diplotypes=[
                Diplotype("*1", "*13", phenotype="Intermediate Metabolizer", activity_score="1.0"),
                Diplotype("*2", "*8", phenotype="Intermediate Metabolizer", activity_score="0.5"),
                Diplotype("*1", "*1", phenotype="Normal Metabolizer", activity_score="2.0"),
            ],
            missing_positions=[94942205, 94949281],
            warnings=["Unphased heterozygous positions: candidates tie"],
        ),
        "CYP2D6": GeneCall(gene="CYP2D6", status="no_data"),
        "SLCO1B1": GeneCall(
            gene="SLCO1B1", status="called", phenotype="Normal Function",
            diplotypes=[Diplotype("*1", "*1", phenotype="Normal Function")],
        ),
        "DPYD": GeneCall(gene="DPYD", status="not_called", warnings=["novel combination"]),
        # an identifier that tries to inject markup must come out as text
        EVIL: GeneCall(gene=EVIL, status="called", phenotype=EVIL,
                       diplotypes=[Diplotype(EVIL, "*1", phenotype=EVIL)]),
    }
    calls = [SampleCalls(sample="S1", genes=genes, source_file="/data/in/S1.vcf.gz",
                         source_sha256="ab" * 32, ehrgen_version="0.1.0", mappings_version="pharmcat-3.1.1")]
    recs = [
        _rec("simvastatin", "CPIC", ["SLCO1B1"], {"SLCO1B1": "Normal Function"}, "standard_dosing",
             "info", False, "Prescribe the usual dose."),
        _rec("warfarin", "CPIC", ["CYP2C9"], {"CYP2C9": "Indeterminate"}, "indeterminate", "warning",
             False, "The CYP2C9 result is not certain enough to apply the guideline.",
             reason="Phasing of CYP2C9 would separate *1/*13 from *1/*1."),
        _rec("omeprazole", "DPWG", ["CYP2C19"], {"CYP2C19": "Poor Metabolizer"}, "standard_dosing",
             "info", False, "No dose change needed."),
        _rec("citalopram", "CPIC", ["CYP2C19"], {"CYP2C19": "Poor Metabolizer"}, "reduce_dose",
             "warning", True, "Start at half the usual dose.", dose_percent=50),
        _rec("clopidogrel", "CPIC", ["CYP2C19"], {"CYP2C19": "Poor Metabolizer"}, "avoid", "critical",
             True, "Clopidogrel will not work well; choose another antiplatelet.",
             alternatives=["prasugrel", "ticagrelor"]),
        _rec("abacavir", "CPIC", ["HLA-B"], {"HLA-B": "not tested"}, "test_recommended", "warning",
             True, EVIL, guideline_url="javascript:alert(1)", guideline_id=EVIL),
    ]
    return calls, recs


class _Checker(HTMLParser):
    """Well-formedness of the parts that matter: every non-void element is closed in order."""

    VOID = {"meta", "br", "img", "link", "hr", "input", "col", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Checker:
    p = _Checker()
    p.feed(html)
    p.close()
    return p


def _model(patient):
    calls, recs = patient
    return build_report_model("P001", calls, recs, META, report_date="2026-11-25T12:00:00+00:00")


def test_html_is_well_formed_and_self_contained(patient):
    html = render_html(_model(patient))
    assert html.startswith("<!DOCTYPE html>")
    p = _parse(html)
    assert p.errors == [] and p.stack == []
    tag_names = {t for t, _ in p.tags}
    assert "script" not in tag_names and "link" not in tag_names and "img" not in tag_names
    assert "@import" not in html and "url(" not in html
    # semantic tables: every header cell has a scope
    assert all("scope" in a for t, a in p.tags if t == "th")
    assert sum(t == "caption" for t, _ in p.tags) >= 2


def test_actionable_first_sorted_by_alert_then_drug(patient):
    model = _model(patient)
    assert [r["drug"] for r in model["all_findings"]] == ["clopidogrel", "abacavir", "citalopram"]
    assert [r["alert"] for r in model["all_findings"]] == ["critical", "warning", "warning"]
    html = render_html(model)
    order = [html.index(f'id="{s}"') for s in ("medications", "actionable", "genotypes", "not-tested", "glossary",
                                                "appendix", "drugs", "sources")]
    assert order == sorted(order)
    # clopidogrel block comes before anything else about drugs, and says what to do
    first = html[html.index('<tbody class="finding'):]
    first = first[:first.index('</tbody>')]
    assert "clopidogrel" in first and "Avoid this drug" in first and "CRITICAL" in first.upper()
    assert 'href="https://example.org/cpic/clopidogrel"' in first
    # the options are the same sentence the FHIR Task and the ORU carry, in the block and in the appendix
    assert "Alternatives named by the guideline: prasugrel; ticagrelor." in first
    appendix = html[html.index('id="appendix"'):]
    assert "Alternatives named by the guideline: prasugrel; ticagrelor." in appendix


def test_all_drugs_listed_including_standard_dosing(patient):
    model = _model(patient)
    assert [r["drug"] for r in model["drugs"]] == [
        "abacavir", "citalopram", "clopidogrel", "omeprazole", "simvastatin", "warfarin"]
    html = render_html(model)
    drug_table = html[html.index('id="drugs"'):html.index('id="sources"')]
    for drug in ("simvastatin", "omeprazole", "warfarin"):
        assert drug in drug_table
    assert "Standard dosing (2)" in drug_table
    assert "50% of the standard dose" in html[html.index('id="appendix"'):]


def test_every_candidate_diplotype_listed(patient):
    html = render_html(_model(patient))
    gene_table = html[html.index('id="genotypes"'):html.index('id="not-tested"')]
    row = gene_table[gene_table.index(">CYP2C9<"):]
    row = row[:row.index("</tr>")]
    for cand in ("*1/*13", "*2/*8", "*1/*1"):
        assert cand in row
    assert "Ambiguous" in row and "Indeterminate" in row
    assert "2 positions missing" in row


def test_not_tested_section(patient):
    model = _model(patient)
    kinds = {(n["kind"], n["gene"]) for n in model["not_tested"]}
    assert ("cyp2d6_no_outside", "CYP2D6") in kinds
    assert ("not_called", "DPYD") in kinds
    assert ("missing_positions", "CYP2C9") in kinds
    assert ("indeterminate", "CYP2C9") in kinds
    assert ("not_in_test", "HLA-B") in kinds
    assert ("indeterminate_recommendation", "CYP2C9") in kinds
    # CYP2D6 no_data is explained once, by the CYP2D6 item
    assert sum(n["gene"] == "CYP2D6" for n in model["not_tested"]) == 1
    indet = next(n for n in model["not_tested"] if n["kind"] == "indeterminate")
    assert "*1/*13 (Intermediate Metabolizer)" in indet["detail"] and "*1/*1 (Normal Metabolizer)" in indet["detail"]
    assert indet["resolve"]
    warf = next(n for n in model["not_tested"] if n["kind"] == "indeterminate_recommendation")
    assert "Phasing of CYP2C9" in warf["resolve"]
    html = render_html(model)
    section = html[html.index('id="not-tested"'):]
    assert "CYP2D6" in section and "DPYD" in section and "What would resolve it" in section


def test_outside_cyp2d6_is_tested():
    calls = [SampleCalls(sample="S1", genes={"CYP2D6": GeneCall(
        gene="CYP2D6", status="outside_call", source="outside", phenotype="Normal Metabolizer",
        activity_score="2.0", diplotypes=[Diplotype("*1", "*2", phenotype="Normal Metabolizer")])})]
    model = build_report_model("P2", calls, [], META, report_date="2026-11-25")
    assert model["not_tested"] == []
    html = render_html(model)
    assert "Outside result" in html and "Outside test result" in html
    assert "No actionable findings" in html and "No drug needs a change" in html
    assert _parse(html).errors == []


def test_escaping_of_malicious_strings(patient):
    model = _model(patient)
    html = render_html(model)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")  # only as escaped text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # a javascript: guideline URL is never turned into a link
    assert "javascript:" not in html
    assert model["all_findings"][1]["rows"][0]["url"] is None
    # the escaped text is still there for the reader
    assert EVIL in "".join(_parse(html).text)


def test_unsafe_patient_id_cannot_break_out_of_style(patient):
    calls, recs = patient
    bad = 'x" } </style><script>alert(1)</script>'
    html = render_html(build_report_model(bad, calls, recs, META, report_date="2026-11-25"))
    assert "<script" not in html and html.count("</style>") == 1
    assert '@bottom-right { content: " \\2014' in html  # id left out of the CSS footer
    assert "x&#34; } &lt;/style&gt;" in html  # but shown, escaped, in the header
    assert _parse(html).errors == []


def test_print_css_present(patient):
    html = render_html(_model(patient))
    css = html[html.index("<style>"):html.index("</style>")]
    assert "@media print" in css
    printcss = css[css.index("@media print"):]
    assert "break-inside: avoid" in printcss
    assert ".appendix { break-before: page" in printcss  # the detail follows the summary pages
    assert "table-header-group" in printcss
    assert "@page" in printcss


def test_text_labels_not_only_colour(patient):
    html = render_html(_model(patient))
    for label in ("Critical", "Warning"):
        assert f"</span> {label}</span>" in html


def test_render_patient_report_writes_both(tmp_path: Path, patient):
    calls, recs = patient
    html_path, json_path = render_patient_report("P001", calls, recs, META, tmp_path / "out")
    assert html_path.name == "P001.report.html" and json_path.name == "P001.report.json"
    model = json.loads(json_path.read_text(encoding="utf-8"))
    assert model["schema"] == "ehrgen.report/2"
    assert model["patient"] == "P001"
    assert model["versions"]["rules"] == "2026.11.1"
    assert model["samples"][0]["source_file"] == "S1.vcf.gz"  # no server paths in the report
    assert {s["source"] for s in model["sources"]} == {"CPIC", "DPWG"}
    assert set(model) >= {"findings", "medications", "genes", "drugs", "not_tested", "guidelines", "counts",
                          "glossary", "patient_info"}
    # the JSON is the same model the HTML was rendered from
    assert render_html(model) == html_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", "x" * 200, "P 1"])
def test_unsafe_patient_id_rejected(tmp_path, patient, bad):
    calls, recs = patient
    with pytest.raises(InputError) as exc:
        render_patient_report(bad, calls, recs, META, tmp_path)
    if bad:
        assert bad not in str(exc.value)
    assert list(tmp_path.iterdir()) == []
