"""fhir.unknown_patient = reject against the real HAPI sandbox: an MRN the EHR does not know gets a clear
per-patient error and nothing for that patient reaches the server; once the EHR knows the MRN it goes through.
Plain references (fhir.references = plain) are accepted too."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from ehrgen.deliver.api import deliver_dir
from ehrgen.deliver.model import FhirTarget
from ehrgen.fhir.bundle import BundleOptions, PatientRef, build_bundle, bundle_json
from ehrgen.fhir.samples import example_calls, example_context, example_recommendations
from ehrgen.settings import Settings

pytestmark = [pytest.mark.sandbox]

SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def _export(tmp_path, mrn: str, options: BundleOptions):
    """One patient's export folder; a fresh patient key too (business identifiers hash the key, and the
    sandbox keeps data between runs)."""
    ctx = example_context(orders={})
    ctx.options = options
    pid = f"P-{uuid.uuid4().hex[:12]}"
    b = build_bundle(example_calls(), example_recommendations(), PatientRef(pid, SYSTEM, mrn), ctx)
    folder = tmp_path / f"export-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / f"{pid}.bundle.json").write_text(bundle_json(b, indent=True))
    return folder, b, {pid: True}


def _settings(tmp_path, **fhir) -> Settings:
    s = Settings()
    s.deliver.ledger = tmp_path / "ledger.sqlite"
    s.deliver.dead_letter = tmp_path / "dead"
    for k, v in fhir.items():
        setattr(s.fhir, k, v)
    return s


def _count(base: str, rtype: str, identifier: str) -> int:
    r = httpx.get(f"{base}/{rtype}", params={"identifier": identifier, "_summary": "count"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    return r.json()["total"]


@pytest.mark.parametrize("references", ["conditional", "plain"])
def test_reject_unknown_mrn_sends_nothing_then_delivers_once_the_ehr_knows_it(fhir_sandbox, tmp_path, references):
    mrn = f"MRN-{uuid.uuid4()}"
    settings = _settings(tmp_path, unknown_patient="reject", references=references)
    folder, bundle, consent = _export(tmp_path, mrn, BundleOptions.from_settings(settings.fhir))
    report = deliver_dir(folder, [FhirTarget(fhir_sandbox)], settings, consent)
    [out] = report.outcomes
    assert out.status == "rejected"
    assert "patient not found in the EHR" in out.reason and "fhir.unknown_patient = reject" in out.reason
    assert mrn not in out.reason  # the identifier system is named, never the MRN
    assert _count(fhir_sandbox, "Patient", f"{SYSTEM}|{mrn}") == 0
    specimen = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Specimen")
    ident = specimen["identifier"][0]
    assert _count(fhir_sandbox, "Specimen", f"{ident['system']}|{ident['value']}") == 0
    assert list((tmp_path / "dead").rglob("*.bundle.json")), "the refused bundle is kept, not lost"

    # the EHR registers the patient: the same export now goes through, and no second Patient appears
    r = httpx.post(f"{fhir_sandbox}/Patient", json={"resourceType": "Patient", "identifier": [
        {"system": SYSTEM, "value": mrn}]}, headers={"Content-Type": "application/fhir+json"}, timeout=60)
    assert r.status_code == 201, r.text[:300]
    report = deliver_dir(folder, [FhirTarget(fhir_sandbox)], settings, consent)
    assert [o.status for o in report.outcomes] == ["sent"], [o.reason for o in report.outcomes]
    assert _count(fhir_sandbox, "Patient", f"{SYSTEM}|{mrn}") == 1
    assert _count(fhir_sandbox, "Specimen", f"{ident['system']}|{ident['value']}") == 1


def test_default_create_with_plain_references_is_accepted(fhir_sandbox, tmp_path):
    mrn = f"MRN-{uuid.uuid4()}"
    settings = _settings(tmp_path, references="plain")
    folder, bundle, consent = _export(tmp_path, mrn, BundleOptions.from_settings(settings.fhir))
    assert "Patient?identifier" not in json.dumps([e["resource"] for e in bundle["entry"]])
    report = deliver_dir(folder, [FhirTarget(fhir_sandbox)], settings, consent)
    assert [o.status for o in report.outcomes] == ["sent"], [o.reason for o in report.outcomes]
    assert _count(fhir_sandbox, "Patient", f"{SYSTEM}|{mrn}") == 1
