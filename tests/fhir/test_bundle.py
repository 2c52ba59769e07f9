"""build_bundle on hand-made records: structure, R4B parsing, profile summary rules, identifiers."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from ehrgen.fhir.bundle import build_bundle, bundle_json
from ehrgen.fhir.profile_summary import check_resource, parse_summary
from tests.reference_data import REFERENCE
from ehrgen.fhir.samples import (example_calls, example_context, example_patient,
                                 example_recommendations)

SUMMARY = REFERENCE / "fhir" / "genomics-reporting-3.0.0-profile-summary.txt"
P = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/"


def build(rules_version="2.12.0+r1", **ctx):
    return build_bundle(example_calls(), example_recommendations(rules_version=rules_version), example_patient(),
                        example_context(rules_version=rules_version, **ctx))


def resources(bundle, rtype=None, profile=None):
    out = []
    for e in bundle["entry"]:
        r = e["resource"]
        if rtype and r["resourceType"] != rtype:
            continue
        if profile and P + profile not in r.get("meta", {}).get("profile", []):
            continue
        out.append(r)
    return out


def genotype(bundle, gene):
    for r in resources(bundle, "Observation"):
        if r["code"]["coding"][0]["code"] == "84413-4" and r["component"][0]["valueCodeableConcept"].get(
                "coding", [{}])[0].get("display", r["component"][0]["valueCodeableConcept"].get("text")) == gene:
            return r
    raise AssertionError(gene)


@pytest.fixture(scope="module")
def bundle():
    return build()


@pytest.fixture(scope="module")
def profiles():
    if not SUMMARY.is_file():
        pytest.skip("profile summary not present")
    return parse_summary(SUMMARY)


def test_every_entry_and_the_bundle_parse_with_r4b_models(bundle):
    for e in bundle["entry"]:
        model = get_fhir_model_class(e["resource"]["resourceType"])
        model.model_validate(e["resource"])
    parsed = Bundle.model_validate(json.loads(bundle_json(bundle)))
    assert parsed.type == "transaction"


def test_structure(bundle):
    kinds = [(e["resource"]["resourceType"], e["request"]["method"]) for e in bundle["entry"]]
    assert kinds[0] == ("Patient", "POST") and kinds[1] == ("Specimen", "PUT")
    assert kinds[-2] == ("DiagnosticReport", "PUT") and kinds[-1] == ("Provenance", "PUT")
    assert len(resources(bundle, "Observation", "genotype")) == 4  # 6 genes, 2 without data are plain Observations
    assert len([r for r in resources(bundle, "Observation") if r["code"]["coding"][0]["code"] == "84413-4"]) == 6
    assert len(resources(bundle, "Observation", "therapeutic-implication")) == 2  # simvastatin is not actionable
    # clopidogrel (a medication change) is a medication-recommendation; codeine "monitor" has no verified LL4049-4
    # answer, so it is a follow-up recommendation with ehrgen's own action code: every Task has a code
    assert len(resources(bundle, "Task", "medication-recommendation")) == 1
    assert len(resources(bundle, "Task", "followup-recommendation")) == 1
    assert all(t.get("code", {}).get("coding") for t in resources(bundle, "Task"))


def test_fixed_codes_and_required_elements_of_the_profile_summary(bundle, profiles):
    claimed = 0
    for r in resources(bundle):
        assert check_resource(r, profiles) == []
        claimed += bool(r.get("meta", {}).get("profile"))
    assert claimed == 9


def test_checker_catches_broken_resources(bundle, profiles):
    rep = copy.deepcopy(resources(bundle, "DiagnosticReport")[0])
    rep["code"]["coding"][0]["code"] = "00000-0"
    assert any("DiagnosticReport.code" in p for p in check_resource(rep, profiles))
    imp = copy.deepcopy(resources(bundle, "Observation", "therapeutic-implication")[0])
    del imp["derivedFrom"]
    imp["category"] = imp["category"][:1]
    problems = check_resource(imp, profiles)
    assert any("derivedFrom" in p for p in problems) and any("geCategory" in p for p in problems)
    task = copy.deepcopy(resources(bundle, "Task")[0])
    task["status"] = "ready"
    assert any("Task.status" in p for p in check_resource(task, profiles))


def test_references_resolve_inside_the_transaction(bundle):
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    refs = []

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("reference"), str):
                refs.append(x["reference"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk([e["resource"] for e in bundle["entry"]])
    for ref in refs:
        if ref.startswith("urn:uuid:"):
            assert ref in full_urls
        else:
            assert ref.startswith(("Patient?identifier=", "MedicationRequest/")), ref


def test_patient_is_conditional(bundle):
    pat = bundle["entry"][0]
    assert pat["request"]["ifNoneExist"] == "identifier=urn:oid:2.16.840.1.113883.19.5|MRN-0001"
    for r in resources(bundle, "Observation"):
        assert r["subject"] == {"reference": "Patient?identifier=urn:oid:2.16.840.1.113883.19.5|MRN-0001"}
    alt = build(html=None)
    assert alt["entry"][0]["request"]["ifNoneExist"] == pat["request"]["ifNoneExist"]
    by_url = build_bundle(example_calls(), example_recommendations(), example_patient(),
                          example_context()._replace() if False else _ctx_fullurl())
    assert resources(by_url, "Task")[0]["for"]["reference"] == by_url["entry"][0]["fullUrl"]


def _ctx_fullurl():
    ctx = example_context()
    ctx.patient_reference = "fullurl"
    return ctx


def test_clopidogrel_poor_metabolizer(bundle):
    imp = [r for r in resources(bundle, "Observation", "therapeutic-implication")
           if r["code"]["text"].startswith("clopidogrel")][0]
    comps = {c["code"]["coding"][0]["code"]: c for c in imp["component"]}
    assert comps["therapeutic-implication"]["valueCodeableConcept"]["coding"][0]["code"] == "LA9657-3"
    med = comps["51963-7"]["valueCodeableConcept"]["coding"]
    assert {(c["system"], c["code"]) for c in med} == {
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "32968"), ("http://www.whocc.no/atc", "B01AC04")}
    assert "Strong" in comps["93044-6"]["valueCodeableConcept"]["text"]
    assert "53037-8" in comps and "prasugrel" in comps["conclusion-string"]["valueString"]
    geno = genotype(bundle, "CYP2C19")
    assert imp["derivedFrom"] == [{"reference": next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is geno)}]
    assert geno["valueCodeableConcept"] == {"text": "*2/*2"}
    assert geno["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "HGNC:2621"

    task = [t for t in resources(bundle, "Task") if t["description"].startswith("clopidogrel")][0]
    assert task["status"] == "requested" and task["intent"] == "proposal"
    assert task["code"]["coding"][0]["code"] == "LA26421-0"
    assert task["reasonReference"]["reference"] == next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is imp)
    assert {"type": {"text": "Medication order"}, "valueReference": {"reference": "MedicationRequest/order-1"}} \
        in task["input"]
    assert "focus" not in task  # the profile only allows MedicationStatement there


def test_medication_statement_order_goes_to_focus():
    b = build(orders={"clopidogrel": "MedicationStatement/ms-9"})
    task = [t for t in resources(b, "Task") if t["description"].startswith("clopidogrel")][0]
    assert task["focus"] == {"reference": "MedicationStatement/ms-9"}


def test_codeine_monitor_is_a_coded_followup_task(bundle):
    task = [t for t in resources(bundle, "Task") if t["description"].startswith("codeine")][0]
    # no verified LL4049-4 member for "monitor": never a guessed LOINC answer, but still a code
    assert task["code"]["coding"][0] == {"system": "https://ehrgen.org/fhir/CodeSystem/pgx-action", "code": "monitor",
                                         "display": "Monitor the patient closely"}
    assert P + "followup-recommendation" in task["meta"]["profile"]
    imp = [r for r in resources(bundle, "Observation", "therapeutic-implication")
           if r["code"]["text"].startswith("codeine")][0]
    ti = [c for c in imp["component"] if c["code"]["coding"][0]["code"] == "therapeutic-implication"][0]
    # rule looked up an activity score; the call's phenotype supplies the code and is named in the text
    assert ti["valueCodeableConcept"]["coding"][0]["code"] == "LA10317-8"
    assert ti["valueCodeableConcept"]["text"] == "CYP2D6: 1.0 (Intermediate Metabolizer)"


def test_ambiguous_not_called_no_data_outside(bundle):
    amb = genotype(bundle, "CYP2C9")
    assert amb["valueCodeableConcept"]["text"] == "*1/*2 OR *2/*35"
    assert "Ambiguous" in amb["note"][0]["text"]
    for gene, dar in (("DPYD", "unknown"), ("NUDT15", "not-performed")):
        g = genotype(bundle, gene)
        assert "valueCodeableConcept" not in g and g["dataAbsentReason"]["coding"][0]["code"] == dar
        assert "meta" not in g  # cannot conform to the genotype profile (value 1..1), so it does not claim it
    dpyd = genotype(bundle, "DPYD")
    assert any("missing" in n["text"] for n in dpyd["note"])
    d6 = genotype(bundle, "CYP2D6")
    assert "Outside call" in d6["method"]["text"]
    nudt15 = genotype(bundle, "NUDT15")  # no data: not tested, so no method (never "outside call") is claimed
    assert "method" not in nudt15 and "not tested" in nudt15["component"][-1]["valueString"]
    assert all(c["code"]["coding"][0]["code"] != "62374-4" for c in d6["component"])  # no VCF assembly claim
    report = resources(bundle, "DiagnosticReport")[0]
    assert "DPYD" in report["conclusion"] and "CYP2C9" in report["conclusion"]


def test_report_links_everything(bundle):
    report = resources(bundle, "DiagnosticReport")[0]
    urls = {e["resource"].get("resourceType") + ":" + e["fullUrl"] for e in bundle["entry"]}
    result = {r["reference"] for r in report["result"]}
    obs_urls = {u.split(":", 1)[1] for u in urls if u.startswith("Observation:")}
    assert result == obs_urls
    actions = [x for x in report["extension"] if x["url"] == P + "recommended-action"]
    task_urls = {u.split(":", 1)[1] for u in urls if u.startswith("Task:")}
    assert {a["valueReference"]["reference"] for a in actions} == task_urls
    form = report["presentedForm"][0]
    assert form["contentType"] == "text/html"
    assert base64.b64decode(form["data"]).decode() == "<html><body><h1>PGx</h1></body></html>"
    assert "presentedForm" not in resources(build(html=None), "DiagnosticReport")[0]


def test_provenance_names_version_rules_and_checksum(bundle):
    prov = resources(bundle, "Provenance")[0]
    assert "urn:ehrgen:rules:2.12.0%2Br1" in prov["policy"]
    assert "urn:ehrgen:version:0.1.0" in prov["policy"]
    assert prov["entity"][0]["what"]["identifier"]["value"] == "ab" * 32
    assert len(prov["target"]) == len(bundle["entry"]) - 2  # all but Patient and itself


def test_identifiers_stable_and_rules_version_sensitive():
    a, b, c = build(), build(), build(rules_version="2.13.0")
    assert bundle_json(a) == bundle_json(b)

    def idents(bundle):
        return {e["resource"]["resourceType"] + "/" + e["resource"]["identifier"][0]["system"].rsplit("/", 1)[1]
                + "/" + e["resource"]["identifier"][0]["value"]
                for e in bundle["entry"] if "identifier" in e["resource"] and e["resource"]["resourceType"] != "Patient"}

    ia, ic = idents(a), idents(c)
    same = {i.split("/")[1] for i in ia & ic}
    changed = {i.split("/")[1] for i in ia - ic}
    # genotype, specimen, report: same resources (a new version on update); advice: new resources
    assert same == {"specimen", "genotype", "report"}
    assert changed == {"therapeutic-implication", "task"}
    for e in a["entry"]:
        if e["request"]["method"] == "PUT" and e["resource"]["resourceType"] != "Provenance":
            ident = e["resource"]["identifier"][0]
            assert e["request"]["url"] == f"{e['resource']['resourceType']}?identifier={ident['system']}|{ident['value']}"
            assert e["fullUrl"] == f"urn:uuid:{ident['value']}"
    assert resources(a, "Provenance")[0]["id"] != resources(c, "Provenance")[0]["id"]


def test_identifiers_carry_no_patient_data(bundle):
    text = json.dumps([e["request"] for e in bundle["entry"][1:]])
    assert "P001" not in text and "S001" not in text and "MRN-0001" not in text


def test_other_patient_gets_other_identifiers():
    from ehrgen.fhir.bundle import PatientRef
    a = build()
    b = build_bundle(example_calls(), example_recommendations(), PatientRef("P002", "urn:x", "2"), example_context())
    ua = {e["fullUrl"] for e in a["entry"]}
    ub = {e["fullUrl"] for e in b["entry"]}
    assert not ua & ub


def test_gene_named_by_recommendation_but_absent_from_calls_is_reported_as_no_data():
    calls = example_calls()
    del calls.genes["CYP2C19"]
    b = build_bundle(calls, example_recommendations(), example_patient(), example_context())
    g = genotype(b, "CYP2C19")
    assert g["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    imp = [r for r in resources(b, "Observation", "therapeutic-implication")
           if r["code"]["text"].startswith("clopidogrel")][0]
    assert len(imp["derivedFrom"]) == 1


def test_bundle_json_round_trips_to_an_independent_copy():
    # outputs share sub-objects with the template cache (see build_bundle): a JSON round trip is the copy
    a = build()
    b = json.loads(bundle_json(a))
    b["entry"][2]["resource"]["component"][0]["valueCodeableConcept"]["text"] = "changed"
    assert json.loads(bundle_json(build())) != b
    assert bundle_json(build()) == bundle_json(a)
