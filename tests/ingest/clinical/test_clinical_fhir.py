from __future__ import annotations

import json
from datetime import date

from ehrgen.ingest.clinical.fhir_source import read_fhir_file
from ehrgen.ingest.clinical.model import ATC_SYSTEM, RXNORM_SYSTEM


def test_bundle_with_patient_requests_consent_and_specimen(data_dir):
    data = read_fhir_file(data_dir / "fhir" / "bundle_patient_meds_consent.json")
    assert data.errors == []
    p = data.patients["pt-8821"]
    assert (p.identifier_system, p.identifier_value) == ("urn:oid:2.16.840.1.113883.19.5", "0088210")
    assert (p.family, p.given, p.birth_date, p.sex) == ("Thistlewood", "Perpetua Rose", date(1964, 9, 30), "female")
    meds = {m.order_id: m for m in data.medications}
    assert set(meds) == {"ORD-55120", "mr-2", "mr-3"}
    levo = meds["ORD-55120"]  # subject given as the Patient's urn:uuid fullUrl
    assert levo.patient_id == "pt-8821" and levo.status == "active" and levo.authored == date(2025, 1, 8)
    assert levo.codes == [(RXNORM_SYSTEM, "10582"), (ATC_SYSTEM, "H03AA01")]
    assert meds["mr-2"].status == "proposed"  # draft
    assert meds["mr-3"].codes == [(RXNORM_SYSTEM, "42463")]  # contained Medication
    assert data.has_consent("pt-8821") and data.consents["pt-8821"].date == date(2025, 1, 9)
    assert data.links == {"NA19785": "pt-8821"}


def test_ndjson_statement_and_deny_consent(data_dir):
    data = read_fhir_file(data_dir / "fhir" / "cohort.ndjson")
    assert data.errors == []
    assert data.patients["pt-9001"].identifier_value == "00009001"
    [med] = data.medications
    assert (med.patient_id, med.status, med.authored) == ("pt-9001", "active", date(2024, 11, 2))
    assert "pt-9001" in data.consents and not data.has_consent("pt-9001")


def test_malformed_bundle_entries_are_reported_and_good_ones_kept(data_dir):
    data = read_fhir_file(data_dir / "fhir" / "bundle_malformed.json")
    errors = {(e.location, e.field) for e in data.errors}
    assert errors == {
        ("entry[0] (Patient/pt-bad)", "birthDate"),
        ("entry[1] (MedicationRequest/mr-nomed)", "medication[x]"),
        ("entry[4] (Consent/cn-bad)", "provision.type"),
        ("entry[5] (MedicationRequest/mr-badstatus)", "status"),
    }
    assert list(data.patients) == ["pt-7002"]
    [med] = data.medications
    assert med.order_id == "mr-good" and med.status == "active"  # on-hold is still on the medication list
    assert data.consents == {}


def test_invalid_json_names_the_line(data_dir):
    data = read_fhir_file(data_dir / "fhir" / "invalid.json")
    assert len(data.errors) == 1 and data.errors[0].location == "line 3" and "not valid JSON" in data.errors[0].message


def test_malformed_ndjson_line_does_not_stop_the_file(data_dir):
    data = read_fhir_file(data_dir / "fhir" / "malformed.ndjson")
    assert {(e.location, e.field) for e in data.errors} == {("line 2", ""), ("line 3 (Consent/cn-3)", "category")}
    assert list(data.patients) == ["pt-9002"]


def test_medication_reference_to_bundle_entry_and_status_mapping(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:aaaa", "resource": {"resourceType": "Medication", "id": "med-9",
             "code": {"coding": [{"system": ATC_SYSTEM, "code": "N06AB06"}], "text": "sertraline"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "proposal",
             "medicationReference": {"reference": "Medication/med-9"}, "subject": {"reference": "Patient/p"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "r2", "status": "completed", "intent": "order",
             "medicationReference": {"reference": "urn:uuid:aaaa"}, "subject": {"reference": "Patient/p"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "r3", "status": "entered-in-error", "intent": "order",
             "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "Patient/p"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "r4", "status": "active", "intent": "order",
             "medicationReference": {"reference": "Medication/missing"}, "subject": {"reference": "Patient/p"}}},
            {"resource": {"resourceType": "MedicationRequest", "id": "r5", "status": "active", "intent": "order",
             "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "Group/g"}}},
        ],
    }
    f = tmp_path / "b.json"
    f.write_text(json.dumps(bundle), encoding="utf-8")
    data = read_fhir_file(f)
    assert [(m.order_id, m.status, m.drug_text) for m in data.medications] == [
        ("r1", "proposed", "sertraline"), ("r2", "stopped", "sertraline")]
    assert {(e.location, e.field) for e in data.errors} == {
        ("entry[4] (MedicationRequest/r4)", "medicationReference"), ("entry[5] (MedicationRequest/r5)", "subject")}


def test_single_resource_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"resourceType": "Consent", "id": "c", "status": "inactive", "scope": {"text": "s"},
                             "category": [{"text": "c"}], "patient": {"reference": "Patient/p"}}), encoding="utf-8")
    data = read_fhir_file(f)
    assert data.errors == [] and "p" in data.consents and not data.has_consent("p")
