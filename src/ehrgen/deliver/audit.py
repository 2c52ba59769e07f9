"""FHIR R4 AuditEvent for one release attempt (pure: builds a dict, sends nothing).

type rest / subtype transaction (the release is a transaction POST), action C (results are created in
the EHR), agent = the ehrgen delivery application, entity = the DiagnosticReport(s) released and the
patient they are about. Outcome codes follow the R4 audit-event-outcome value set.
"""

from __future__ import annotations

from typing import Any, Literal

from ehrgen.store.ledger import utc_now

AGENT_IDENTIFIER = {"system": "urn:ietf:rfc:3986", "value": "urn:ehrgen:deliver"}
AGENT_NAME = "ehrgen deliver"

Outcome = Literal["0", "4", "8", "12"]
# status in the delivery report -> AuditEvent.outcome
OUTCOME_BY_STATUS: dict[str, Outcome] = {
    "sent": "0",
    "accepted": "0",
    "rejected": "4",  # the receiver refused this content: minor failure, action not done
    "dead-lettered": "4",
    "failed": "8",  # transport failure after retries: serious failure
    "withheld": "4",  # no consent: release deliberately not done
}


def build_audit_event(
    *,
    outcome: Outcome,
    outcome_desc: str,
    target: str,
    reports: list[dict[str, Any]],
    patient: dict[str, Any] | None,
    recorded: str | None = None,
    network_address: str | None = None,
    purpose: str | None = None,
    channel: Literal["fhir", "export"] = "fhir",
) -> dict[str, Any]:
    """An AuditEvent (R4 JSON dict).

    channel "fhir": a REST transaction (type rest, subtype transaction, action C). channel "export":
    files or HL7 v2 messages handed to another system (DICOM 110106 Export, action R), used for the
    outbox and MLLP targets and for withheld releases, which are kept locally only.

    reports: FHIR Reference dicts for the DiagnosticReports released ({"reference": ...} and/or
    {"identifier": {...}}). patient: a Reference dict for the patient, or None.
    """
    # fhir.resources does not check codes, so the value set is enforced here
    if outcome not in ("0", "4", "8", "12"):
        raise ValueError(f"AuditEvent.outcome must be 0, 4, 8 or 12, not {outcome!r}")
    agent: dict[str, Any] = {
        "type": {
            "coding": [{
                "system": "http://dicom.nema.org/resources/ontology/DCM",
                "code": "110153",
                "display": "Source Role ID",
            }]
        },
        "who": {"identifier": AGENT_IDENTIFIER, "display": AGENT_NAME},
        "name": AGENT_NAME,
        "requestor": True,
    }
    if network_address:
        # type 1 = machine name (host), 5 = URI
        agent["network"] = {"address": network_address, "type": "5" if "://" in network_address else "1"}
    entities: list[dict[str, Any]] = []
    for ref in reports:
        entities.append({
            "what": ref,
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                     "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "3",
                     "display": "Report"},
        })
    if patient:
        entities.append({
            "what": patient,
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                     "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                     "display": "Patient"},
        })
    event: dict[str, Any] = {"resourceType": "AuditEvent"}
    if channel == "fhir":
        event["type"] = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                         "display": "RESTful Operation"}
        event["subtype"] = [{"system": "http://hl7.org/fhir/restful-interaction", "code": "transaction",
                             "display": "transaction"}]
        event["action"] = "C"
    else:
        event["type"] = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106",
                         "display": "Export"}
        event["action"] = "R"
    event.update({
        "recorded": recorded or utc_now(),
        "outcome": outcome,
        "agent": [agent],
        "source": {
            "site": target,
            "observer": {"identifier": AGENT_IDENTIFIER, "display": AGENT_NAME},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                      "display": "Application Server"}],
        },
    })
    if outcome_desc.strip():  # FHIR strings may not be empty
        event["outcomeDesc"] = outcome_desc.strip()[:1000]
    if purpose:
        event["purposeOfEvent"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}]}]
    if entities:
        event["entity"] = entities
    return event


def released_refs(bundle: dict[str, Any], response: dict[str, Any] | None) -> tuple[
        list[dict[str, Any]], dict[str, Any] | None]:
    """(DiagnosticReport references, patient reference) for the AuditEvent, from the transaction
    bundle sent and (if any) the server's transaction-response.

    Response entries are in request order (FHIR transaction rules), so entry i's location is the
    server id of request entry i.
    """
    reqs = bundle.get("entry") or []
    resps = (response or {}).get("entry") or []
    reports: list[dict[str, Any]] = []
    patient: dict[str, Any] | None = None
    for i, entry in enumerate(reqs):
        res = entry.get("resource") or {}
        rtype = res.get("resourceType")
        if rtype not in ("DiagnosticReport", "Patient"):
            continue
        ref: dict[str, Any] = {}
        loc = ((resps[i] if i < len(resps) else {}).get("response") or {}).get("location")
        if loc:
            # 'DiagnosticReport/123/_history/1' -> 'DiagnosticReport/123'
            parts = loc.split("/")
            if rtype in parts:
                j = parts.index(rtype)
                if j + 1 < len(parts):
                    ref["reference"] = f"{rtype}/{parts[j + 1]}"
        ident = _first_identifier(res)
        if ident:
            ref["identifier"] = ident
        if not ref:
            continue
        ref["type"] = rtype
        if rtype == "DiagnosticReport":
            reports.append(ref)
        elif patient is None:
            patient = ref
    return reports, patient


def _first_identifier(res: dict[str, Any]) -> dict[str, Any] | None:
    for ident in res.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("value"):
            out = {"value": ident["value"]}
            if ident.get("system"):
                out["system"] = ident["system"]
            return out
    return None
