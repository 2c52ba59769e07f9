"""The EHR sandbox: a real HAPI FHIR JPA server with Genomics Reporting IG request validation.

Needs the server (fixture fhir_sandbox builds and starts it on demand: ~1 min cold).
"""

from __future__ import annotations

import copy
import json
import uuid

import httpx
import pytest

from ehrgen.fhir import sandbox
from tests.fhir.ig_examples import ig_example

pytestmark = pytest.mark.sandbox

GENOTYPE_PROFILE = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/genotype"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def genotype() -> dict:
    """IG example genotype Observation, made standalone: id, narrative and references removed."""
    obs = ig_example("Observation-GenotypeExamplePharmVar.json")
    assert GENOTYPE_PROFILE in obs["meta"]["profile"]
    for key in ("id", "text", "subject", "specimen", "derivedFrom", "performer"):
        obs.pop(key, None)
    return obs


@pytest.fixture(scope="module")
def client(fhir_sandbox: str):
    with httpx.Client(base_url=fhir_sandbox, headers=FHIR_JSON, timeout=60.0) as c:
        yield c


def count(client: httpx.Client, resource_type: str, identifier: str) -> int:
    r = client.get(f"/{resource_type}", params={"identifier": identifier, "_summary": "count"})
    assert r.status_code == 200, r.text[:500]
    return r.json()["total"]


def error_issues(outcome: dict) -> list[dict]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_base_url_form(fhir_sandbox):
    assert fhir_sandbox.startswith("http://127.0.0.1:") and fhir_sandbox.endswith("/fhir")


def test_metadata_answers_as_r4(client):
    r = client.get("/metadata")
    assert r.status_code == 200
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    types = {res["type"] for res in cs["rest"][0]["resource"]}
    assert {"Patient", "Observation", "DiagnosticReport", "Task", "Specimen", "Provenance", "AuditEvent"} <= types


def test_ig_genotype_example_is_accepted(client, genotype):
    obs = copy.deepcopy(genotype)
    obs["identifier"] = [{"system": "urn:ehrgen:test:obs", "value": str(uuid.uuid4())}]
    r = client.post("/Observation", json=obs)
    assert r.status_code == 201, r.text[:2000]
    stored = client.get(r.headers["Location"].split("/_history")[0].split("/fhir")[-1]).json()
    assert GENOTYPE_PROFILE in stored["meta"]["profile"]
    assert stored["code"]["coding"][0]["code"] == "84413-4"


def test_genotype_without_its_fixed_code_is_rejected_with_422(client, genotype):
    obs = copy.deepcopy(genotype)
    obs["code"] = {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]}  # a LOINC code, not 84413-4
    ident = str(uuid.uuid4())
    obs["identifier"] = [{"system": "urn:ehrgen:test:obs", "value": ident}]
    r = client.post("/Observation", json=obs)
    assert r.status_code == 422, r.text[:2000]
    errors = error_issues(r.json())
    assert errors, r.text[:2000]
    assert any("84413-4" in i.get("diagnostics", "") for i in errors)
    assert any(e.startswith("Observation.code") for i in errors for e in i.get("expression", []))
    assert count(client, "Observation", f"urn:ehrgen:test:obs|{ident}") == 0


def transaction(patient_mrn: str, obs_id: str, genotype: dict) -> dict:
    pat_url = f"urn:uuid:{uuid.uuid4()}"
    obs = copy.deepcopy(genotype)
    obs["identifier"] = [{"system": "urn:ehrgen:test:obs", "value": obs_id}]
    obs["subject"] = {"reference": pat_url}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": pat_url,
                "resource": {"resourceType": "Patient",
                             "identifier": [{"system": "urn:ehrgen:test:mrn", "value": patient_mrn}]},
                "request": {"method": "POST", "url": "Patient",
                            "ifNoneExist": f"identifier=urn:ehrgen:test:mrn|{patient_mrn}"},
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": obs,
                "request": {"method": "PUT", "url": f"Observation?identifier=urn:ehrgen:test:obs|{obs_id}"},
            },
        ],
    }


def test_conditional_create_and_update_in_a_transaction_posted_twice_leave_one_of_each(client, genotype):
    mrn, obs_id = f"MRN-{uuid.uuid4()}", f"OBS-{uuid.uuid4()}"
    first = client.post("", json=transaction(mrn, obs_id, genotype))
    assert first.status_code == 200, first.text[:2000]
    assert [e["response"]["status"][:3] for e in first.json()["entry"]] == ["201", "201"]
    second = client.post("", json=transaction(mrn, obs_id, genotype))
    assert second.status_code == 200, second.text[:2000]
    assert [e["response"]["status"][:3] for e in second.json()["entry"]] == ["200", "200"]
    assert count(client, "Patient", f"urn:ehrgen:test:mrn|{mrn}") == 1
    assert count(client, "Observation", f"urn:ehrgen:test:obs|{obs_id}") == 1
    # the Observation points at the one Patient (urn:uuid resolved to the existing id)
    pat_id = client.get("/Patient", params={"identifier": f"urn:ehrgen:test:mrn|{mrn}"}).json()["entry"][0]["resource"]["id"]
    obs = client.get("/Observation", params={"identifier": f"urn:ehrgen:test:obs|{obs_id}"}).json()["entry"][0]["resource"]
    assert obs["subject"]["reference"] == f"Patient/{pat_id}"


def test_transaction_with_a_broken_profiled_entry_is_rejected_whole(client, genotype):
    mrn, obs_id = f"MRN-{uuid.uuid4()}", f"OBS-{uuid.uuid4()}"
    bundle = transaction(mrn, obs_id, genotype)
    bundle["entry"][1]["resource"]["category"] = bundle["entry"][1]["resource"]["category"][:1]  # drop GE slice
    r = client.post("", json=bundle)
    assert r.status_code == 422, r.text[:2000]
    assert any("geCategory" in i.get("diagnostics", "") for i in error_issues(r.json()))
    assert count(client, "Patient", f"urn:ehrgen:test:mrn|{mrn}") == 0


def test_changed_content_updates_the_same_resource(client, genotype):
    mrn, obs_id = f"MRN-{uuid.uuid4()}", f"OBS-{uuid.uuid4()}"
    assert client.post("", json=transaction(mrn, obs_id, genotype)).status_code == 200
    changed = transaction(mrn, obs_id, genotype)
    changed["entry"][1]["resource"]["valueCodeableConcept"] = {"text": "CYP2D6*1 / CYP2D6*4"}
    r = client.post("", json=changed)
    assert r.status_code == 200, r.text[:2000]
    assert r.json()["entry"][1]["response"]["location"].endswith("/_history/2")
    assert count(client, "Observation", f"urn:ehrgen:test:obs|{obs_id}") == 1


def test_concurrent_identical_transactions_with_retry_header_leave_one_of_each(fhir_sandbox, genotype):
    import concurrent.futures as cf

    mrn, obs_id = f"MRN-{uuid.uuid4()}", f"OBS-{uuid.uuid4()}"
    headers = {**FHIR_JSON, "X-Retry-On-Version-Conflict": "retry; max-retries=5"}

    def post(_: int) -> int:
        return httpx.post(fhir_sandbox, json=transaction(mrn, obs_id, genotype), headers=headers, timeout=120).status_code

    with cf.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(post, range(4)))
    assert codes == [200] * 4
    with httpx.Client(base_url=fhir_sandbox, headers=FHIR_JSON, timeout=60.0) as c:
        assert count(c, "Patient", f"urn:ehrgen:test:mrn|{mrn}") == 1
        assert count(c, "Observation", f"urn:ehrgen:test:obs|{obs_id}") == 1


def test_task_diagnosticreport_specimen_accept_conditional_update_by_identifier(client):
    for rtype, body in {
        "Specimen": {"resourceType": "Specimen", "status": "available"},
        "Task": {"resourceType": "Task", "status": "requested", "intent": "proposal"},
        "DiagnosticReport": {"resourceType": "DiagnosticReport", "status": "final",
                             "code": {"coding": [{"system": "http://loinc.org", "code": "51969-4"}]}},
    }.items():
        ident = str(uuid.uuid4())
        body = {**body, "identifier": [{"system": "urn:ehrgen:test:id", "value": ident}]}
        for expected in (201, 200):
            r = client.put(f"/{rtype}", params={"identifier": f"urn:ehrgen:test:id|{ident}"}, json=body)
            assert r.status_code == expected, (rtype, r.text[:1000])
        assert count(client, rtype, f"urn:ehrgen:test:id|{ident}") == 1
