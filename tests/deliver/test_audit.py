from __future__ import annotations

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from ehrgen.deliver.audit import build_audit_event, released_refs

from .conftest import make_bundle, transaction_response


@pytest.mark.parametrize("channel", ["fhir", "export"])
@pytest.mark.parametrize("outcome", ["0", "4", "8", "12"])
def test_audit_event_is_valid_r4(channel, outcome):
    bundle = make_bundle("P001")
    reports, patient = released_refs(bundle, transaction_response(bundle))
    ev = build_audit_event(outcome=outcome, outcome_desc="x" * 2000, target="fhir:http://h/fhir",
                           reports=reports, patient=patient, network_address="http://h/fhir", purpose="TREAT",
                           channel=channel)
    model = AuditEvent.model_validate(ev)
    assert model.outcome == outcome and len(ev["outcomeDesc"]) == 1000
    assert ev["type"]["code"] == ("rest" if channel == "fhir" else "110106")
    roles = [e["role"]["code"] for e in ev["entity"]]
    assert roles == ["3", "1"]  # the report, then the patient


def test_released_refs_without_server_response_uses_identifiers():
    reports, patient = released_refs(make_bundle("P7"), None)
    assert reports == [{"identifier": {"system": "urn:ehrgen:report", "value": "P7-pgx"}, "type": "DiagnosticReport"}]
    assert patient["identifier"]["value"] == "P7" and "reference" not in patient


def test_outcome_outside_value_set_refused_and_empty_description_dropped():
    with pytest.raises(ValueError, match="0, 4, 8 or 12"):
        build_audit_event(outcome="3", outcome_desc="x", target="t", reports=[], patient=None)  # type: ignore[arg-type]
    ev = build_audit_event(outcome="0", outcome_desc="  ", target="t", reports=[], patient=None)
    assert "outcomeDesc" not in ev and "entity" not in ev
    AuditEvent.model_validate(ev)  # an empty string would fail the R4 string pattern
