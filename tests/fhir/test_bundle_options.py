"""Site options of the bundles: performer and effective time on every Observation, plain references, and
patients the EHR does not know (create | reject)."""

from __future__ import annotations

import json

from ehrgen.fhir.bundle import BundleOptions, build_bundle, bundle_json
from ehrgen.fhir.samples import example_calls, example_context, example_patient, example_recommendations
from ehrgen.settings import FhirSettings


def _bundle(options: BundleOptions | None = None) -> dict:
    ctx = example_context()
    if options is not None:
        ctx.options = options
    return json.loads(bundle_json(build_bundle(example_calls(), example_recommendations(), example_patient(), ctx)))


def _resources(b: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == rtype]


def _references(obj, acc: list[str]) -> list[str]:
    if isinstance(obj, dict):
        if isinstance(obj.get("reference"), str):
            acc.append(obj["reference"])
        for v in obj.values():
            _references(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _references(v, acc)
    return acc


def test_every_observation_has_an_effective_time_and_the_lab_as_performer():
    b = _bundle()
    obs = _resources(b, "Observation")
    assert len(obs) > 5
    for o in obs + _resources(b, "DiagnosticReport"):
        assert o["effectiveDateTime"] == o["issued"]
        assert o["performer"] == [{"type": "Organization", "display": "Pharmacogenomics laboratory"}]


def test_performer_name_and_identifier_come_from_settings():
    s = FhirSettings(performer_name="Tartu PGx Lab", performer_identifier_system="urn:oid:1.2.3",
                     performer_identifier_value="LAB-7")
    b = _bundle(BundleOptions.from_settings(s))
    for o in _resources(b, "Observation"):
        assert o["performer"] == [{"type": "Organization", "identifier": {"system": "urn:oid:1.2.3", "value": "LAB-7"},
                                   "display": "Tartu PGx Lab"}]


def test_plain_references_have_no_conditional_reference():
    b = _bundle(BundleOptions(references="plain"))
    refs = _references(b, [])
    assert refs and not [r for r in refs if "?" in r]
    patient = next(e for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
    assert {o["subject"]["reference"] for o in _resources(b, "Observation")} == {patient["fullUrl"]}
    # the default keeps the conditional reference
    assert any(r.startswith("Patient?identifier=") for r in _references(_bundle(), []))


def test_reject_never_creates_a_patient():
    b = _bundle(BundleOptions(unknown_patient="reject"))
    assert _resources(b, "Patient") == []
    assert all(e["request"]["method"] == "PUT" for e in b["entry"])
    assert {o["subject"]["reference"] for o in _resources(b, "Observation")} == {
        "Patient?identifier=urn:oid:2.16.840.1.113883.19.5|MRN-0001"}
    provenance = _resources(b, "Provenance")[0]
    assert len(provenance["target"]) == len(b["entry"]) - 1


def test_settings_accept_only_the_documented_values():
    import pydantic
    import pytest

    assert FhirSettings().unknown_patient == "create" and FhirSettings().references == "conditional"
    with pytest.raises(pydantic.ValidationError):
        FhirSettings(unknown_patient="ignore")
    with pytest.raises(pydantic.ValidationError):
        FhirSettings(references="literal")
