"""FHIR R4 AuditEvent for one release attempt (pure: builds a dict, sends nothing).

type rest / subtype transaction (the release is a transaction POST), action C (results are created in
the EHR), agent = the ehrgen delivery application, entity = the DiagnosticReport(s) released and the
patient they are about. Outcome codes follow the R4 audit-event-outcome value set.
"""

from __future__ import annotations

import re
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


CDS_AGENT_IDENTIFIER = {"system": "urn:ietf:rfc:3986", "value": "urn:ehrgen:cds"}
CDS_AGENT_NAME = "ehrgen CDS Hooks service"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_FHIR_REF = ("Practitioner/", "PractitionerRole/", "Patient/", "RelatedPerson/", "Device/", "Organization/")


def _who(user: str) -> dict[str, Any]:
    """A Reference for the user: a relative reference when it looks like one ('Practitioner/123' or a URL
    ending so), else an identifier (a JWT sub is an opaque string)."""
    tail = user.split("/fhir/")[-1] if "://" in user else user
    if tail.startswith(_FHIR_REF) and tail.count("/") == 1:
        return {"reference": tail, "display": user}
    return {"identifier": {"value": user}, "display": user}


def build_access_event(
    *,
    outcome: Outcome,
    outcome_desc: str,
    service: str,
    hook: str,
    hook_instance: str,
    patient_id: str,
    user: str | None,
    client: str | None,
    origin: str,
    recorded: str | None = None,
) -> dict[str, Any]:
    """An AuditEvent (R4 JSON dict) for one read of a patient's PGx results by the CDS Hooks service.

    type rest / subtype search-type, action R (the results were read to answer a hook), purpose TREAT; agents:
    the user the hook names (context.userId, else the JWT's fhirUser or sub) as requestor, and this service;
    entity: the patient, with the hook and where the results came from as details.
    """
    if outcome not in ("0", "4", "8", "12"):
        raise ValueError(f"AuditEvent.outcome must be 0, 4, 8 or 12, not {outcome!r}")
    agents: list[dict[str, Any]] = []
    if user:
        agents.append({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                            "code": "IRCP", "display": "information recipient"}]},
                       "who": _who(user), "requestor": True})
    service_agent: dict[str, Any] = {
        "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150",
                             "display": "Application"}]},
        "who": {"identifier": CDS_AGENT_IDENTIFIER, "display": CDS_AGENT_NAME},
        "name": CDS_AGENT_NAME, "requestor": not user,
    }
    agents.append(service_agent)
    if client:
        agents.append({"type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM",
                                            "code": "110153", "display": "Source Role ID"}]},
                       "who": {"identifier": {"value": client}, "display": client}, "requestor": False})
    detail = [{"type": "hook", "valueString": hook}, {"type": "hookInstance", "valueString": hook_instance},
              {"type": "origin", "valueString": origin}]
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "search-type",
                     "display": "search-type"}],
        "action": "R",
        "recorded": recorded or utc_now(),
        "outcome": outcome,
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                        "code": "TREAT", "display": "treatment"}]}],
        "agent": agents,
        "source": {
            "site": service,
            "observer": {"identifier": CDS_AGENT_IDENTIFIER, "display": CDS_AGENT_NAME},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                      "display": "Application Server"}],
        },
        "entity": [{
            "what": ({"reference": f"Patient/{patient_id}", "type": "Patient"} if _FHIR_ID.match(patient_id)
                     else {"identifier": {"value": patient_id}, "type": "Patient"}),
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                     "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                     "display": "Patient"},
            "detail": detail,
        }],
    }
    if outcome_desc.strip():
        event["outcomeDesc"] = outcome_desc.strip()[:1000]
    return event
