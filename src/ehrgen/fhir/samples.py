"""Hand-made example records (one patient) shared by the FHIR/HL7 tests, the benchmark and demos.

Covers the shapes the mappers must handle: a clear actionable call (CYP2C19 *2/*2 -> clopidogrel), an
ambiguous call, a not-called gene, a no-data gene and an outside call (CYP2D6). Not clinical data.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ehrgen.fhir.bundle import PatientRef, ReportContext
from ehrgen.pgx.model import Diplotype, GeneCall, SampleCalls
from ehrgen.rules.model import Recommendation

CLOPIDOGREL_URL = "https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/"


def example_calls(sample: str = "S001") -> SampleCalls:
    genes = {
        "CYP2C19": GeneCall(
            gene="CYP2C19", status="called",
            diplotypes=[Diplotype("*2", "*2", phenotype="Poor Metabolizer", activity_score=None)],
            phenotype="Poor Metabolizer", lookup={"CYP2C19": "Poor Metabolizer"},
        ),
        "CYP2C9": GeneCall(
            gene="CYP2C9", status="ambiguous",
            diplotypes=[Diplotype("*1", "*2", phenotype="Intermediate Metabolizer", activity_score="1.5"),
                        Diplotype("*2", "*35", phenotype="Intermediate Metabolizer", activity_score="1.0")],
            phenotype="Intermediate Metabolizer", activity_score=None,
            warnings=["Unphased heterozygous positions allow more than one diplotype."],
        ),
        "DPYD": GeneCall(gene="DPYD", status="not_called", missing_positions=[97450058, 97515787],
                         warnings=["Too many definition positions missing to call DPYD."]),
        "NUDT15": GeneCall(gene="NUDT15", status="no_data"),
        "CYP2D6": GeneCall(
            gene="CYP2D6", status="outside_call", source="outside",
            diplotypes=[Diplotype("*1", "*4", phenotype="Intermediate Metabolizer", activity_score="1.0")],
            phenotype="Intermediate Metabolizer", activity_score="1.0",
        ),
        "SLCO1B1": GeneCall(
            gene="SLCO1B1", status="called",
            diplotypes=[Diplotype("*1", "*1", phenotype="Normal Function")], phenotype="Normal Function",
        ),
    }
    return SampleCalls(sample=sample, genes=genes, source_file="S001.vcf.gz", source_sha256="ab" * 32,
                       ehrgen_version="0.1.0", mappings_version="pharmcat-3.1.1+ehrgen.1")


def example_recommendations(patient: str = "P001", sample: str = "S001", rules_version: str = "2.12.0+r1"
                            ) -> list[Recommendation]:
    return [
        Recommendation(
            patient=patient, sample=sample, drug="clopidogrel", source="CPIC", genes=["CYP2C19"],
            phenotypes={"CYP2C19": "Poor Metabolizer"}, action="use_alternative", strength="Strong",
            alert="critical",
            summary="Clopidogrel is unlikely to work well for this patient; choose another antiplatelet drug "
                    "(e.g. prasugrel or ticagrelor) if there is no reason against it.",
            guideline_id="PA166104948", guideline_url=CLOPIDOGREL_URL, rules_version=rules_version,
            rule_id="cpic-clopidogrel-pm", alternatives=["prasugrel", "ticagrelor"], actionable=True,
            rxnorm="32968", atc="B01AC04",
        ),
        Recommendation(
            patient=patient, sample=sample, drug="codeine", source="CPIC", genes=["CYP2D6"],
            phenotypes={"CYP2D6": "1.0"}, action="monitor", strength="Moderate", alert="warning",
            summary="Start with the usual codeine dose; if pain relief is poor, switch to a non-opioid or an "
                    "opioid not converted by CYP2D6 (tramadol excepted). Note | and ^ characters survive.",
            guideline_id="PA166228121", guideline_url="https://cpicpgx.org/guidelines/guideline-for-codeine-and-cyp2d6/",
            rules_version=rules_version, actionable=True, rxnorm="2670", atc="R05DA04",
        ),
        Recommendation(
            patient=patient, sample=sample, drug="simvastatin", source="CPIC", genes=["SLCO1B1"],
            phenotypes={"SLCO1B1": "Normal Function"}, action="standard_dosing", strength="Strong", alert="info",
            summary="Use the standard simvastatin dose.", guideline_id="PA166262221",
            guideline_url="https://cpicpgx.org/guidelines/cpic-guideline-for-statins/", rules_version=rules_version,
            actionable=False, rxnorm="36567", atc="C10AA01",
        ),
    ]


def example_patient() -> PatientRef:
    return PatientRef(id="P001", identifier_system="urn:oid:2.16.840.1.113883.19.5", identifier_value="MRN-0001")


def example_context(rules_version: str = "2.12.0+r1", html: str | None = "<html><body><h1>PGx</h1></body></html>",
                    orders: dict[str, str] | None = None) -> ReportContext:
    return ReportContext(
        ehrgen_version="0.1.0", rules_version=rules_version, input_sha256="ab" * 32,
        issued=datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc), report_html=html,
        medication_orders=orders if orders is not None else {"clopidogrel": "MedicationRequest/order-1"},
    )
