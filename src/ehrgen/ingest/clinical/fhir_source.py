"""Read FHIR R4 JSON (one resource or a Bundle) and NDJSON into ClinicalData.

Read: Patient, MedicationRequest, MedicationStatement, Consent, Specimen (sample link) and Medication
(target of medicationReference). Each is validated on its own with the fhir.resources R4B model, so one
bad entry does not sink the Bundle; other resource types are passed over. Errors name the file, the
NDJSON line or Bundle entry index, and the resource type/id; pydantic's messages are stripped of the
offending value (it may be a name or a date of birth).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ehrgen.ingest.clinical import codes
from ehrgen.ingest.clinical.model import ClinicalData, ClinicalError, Consent, Medication, Patient, SampleLink

log = logging.getLogger(__name__)

READ_TYPES = ("Patient", "MedicationRequest", "MedicationStatement", "Consent", "Specimen", "Medication")
_PATIENT_REF = re.compile(r"(?:^|/)Patient/([^/]+)(?:/_history/[^/]+)?$")


class _ResourceError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class _Context:
    """What references in one file/Bundle can point at: fullUrl -> patient id, Medication by fullUrl or Medication/id."""

    patient_urls: dict[str, str] = field(default_factory=dict)
    medications: dict[str, Any] = field(default_factory=dict)


# --- small helpers -----------------------------------------------------------------------------------------


def _as_date(value: Any) -> date | None:
    """FHIR date/dateTime as a date; partial dates ("1980", "1980-05") give None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _last_updated(res: Any) -> str | None:
    """meta.lastUpdated as a sortable "YYYYMMDDHHMMSS" (UTC), to order updates of the same record."""
    updated = res.meta.lastUpdated if res.meta is not None else None
    return updated.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S") if isinstance(updated, datetime) else None


def _redacted(message: str, value: Any) -> str:
    if isinstance(value, str) and value:
        message = message.replace(value, "<value>")
    return message.splitlines()[0][:200]


def _validate(resource: dict[str, Any]) -> Any:
    """The R4B model for a resource dict; raises _ResourceError naming the first failing field (not its value)."""
    model = get_fhir_model_class(resource["resourceType"])
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(resource)"
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise _ResourceError(loc, f"does not fit the FHIR R4 {resource['resourceType']} structure: "
                                  f"{_redacted(first['msg'], first.get('input'))}{more}") from None


def _patient_id(reference: Any, ctx: _Context, field_name: str) -> str:
    ref = getattr(reference, "reference", None) if reference is not None else None
    if not ref:
        raise _ResourceError(field_name, "patient reference missing (expected Patient/<id>)")
    if ref in ctx.patient_urls:
        return ctx.patient_urls[ref]
    match = _PATIENT_REF.search(ref)
    if match is None:
        raise _ResourceError(field_name, "reference does not point at a Patient (expected Patient/<id> or a Bundle fullUrl)")
    return match.group(1)


def _codings(concept: Any) -> tuple[str | None, list[tuple[str, str]]]:
    """CodeableConcept -> (text, [(system, code)]); systems normalised (RxNorm, ATC), others kept as given."""
    if concept is None:
        return None, []
    found = [(codes.coding_system(c.system), c.code) for c in (concept.coding or []) if c.code]
    text = concept.text or next((c.display for c in (concept.coding or []) if c.display), None)
    return text, found


def _medication_concept(res: Any, ctx: _Context) -> Any:
    if res.medicationCodeableConcept is not None:
        return res.medicationCodeableConcept
    ref = res.medicationReference.reference if res.medicationReference is not None else None
    if ref and ref.startswith("#"):
        for contained in res.contained or []:
            if contained.get_resource_type() == "Medication" and contained.id == ref[1:]:
                return contained.code
    if ref and ref in ctx.medications:
        return ctx.medications[ref].code
    raise _ResourceError("medicationReference", "referenced Medication not found in this file or contained resources")


# --- one resource type each ----------------------------------------------------------------------------------


def _patient(res: Any, data: ClinicalData) -> None:
    identifiers = [i for i in (res.identifier or []) if i.value]
    chosen = next(
        (i for i in identifiers if i.type and any(c.code == "MR" for c in (i.type.coding or []))),
        identifiers[0] if identifiers else None,
    )
    patient_id = res.id or (chosen.value if chosen else None)
    if not patient_id:
        raise _ResourceError("id", "Patient has neither an id nor an identifier")
    names = res.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    sex = None
    if res.gender:
        sex = codes.lookup("sex", res.gender)
        if sex is None:
            raise _ResourceError("gender", "expected male, female, other or unknown")
    data.add_patient(
        Patient(
            id=patient_id,
            identifier_system=chosen.system if chosen else None,
            identifier_value=chosen.value if chosen else None,
            family=name.family if name else None,
            given=" ".join(name.given) if name and name.given else None,
            birth_date=_as_date(res.birthDate),
            sex=sex,
        ),
        _last_updated(res),
    )


def _status(table: str, status: str | None) -> str | None:
    """The Medication status for a FHIR status; None = skip the resource (entered-in-error)."""
    mapped = codes.lookup(table, status)
    if mapped is None:
        raise _ResourceError("status", f"expected one of {', '.join(codes.allowed(table))}")
    return None if mapped == "skip" else mapped


def _medication_request(res: Any, data: ClinicalData, ctx: _Context) -> None:
    status = _status("fhir_medicationrequest_status", res.status)
    if status is None:
        return
    if status == "active" and codes.lookup("fhir_medicationrequest_intent_proposed", res.intent):
        status = "proposed"  # why: a proposal or plan is not yet an order the patient is taking
    patient_id = _patient_id(res.subject, ctx, "subject")
    text, found = _codings(_medication_concept(res, ctx))
    if not found and not text:
        raise _ResourceError("medication[x]", "medication has neither a coding nor text")
    order_id = next((i.value for i in (res.identifier or []) if i.value), None) or res.id
    data.add_medication(Medication(patient_id, status, text, found, order_id, _as_date(res.authoredOn)), _last_updated(res))  # type: ignore[arg-type]


def _medication_statement(res: Any, data: ClinicalData, ctx: _Context) -> None:
    status = _status("fhir_medicationstatement_status", res.status)
    if status is None:
        return
    patient_id = _patient_id(res.subject, ctx, "subject")
    text, found = _codings(_medication_concept(res, ctx))
    if not found and not text:
        raise _ResourceError("medication[x]", "medication has neither a coding nor text")
    when = res.effectiveDateTime or (res.effectivePeriod.start if res.effectivePeriod else None) or res.dateAsserted
    order_id = next((i.value for i in (res.identifier or []) if i.value), None) or res.id
    data.add_medication(Medication(patient_id, status, text, found, order_id, _as_date(when)), _last_updated(res))  # type: ignore[arg-type]


def _consent(res: Any, data: ClinicalData, ctx: _Context, source: str) -> None:
    action = codes.lookup("fhir_consent_status", res.status)
    if action is None:
        raise _ResourceError("status", f"expected one of {', '.join(codes.allowed('fhir_consent_status'))}")
    if action == "skip":
        return
    patient_id = _patient_id(res.patient, ctx, "patient")
    if action == "deny":  # inactive / rejected: withdrawn or refused
        permit = False
    else:
        kind = res.provision.type if res.provision is not None else None
        if kind not in ("permit", "deny"):
            raise _ResourceError("provision.type", "an active Consent needs provision.type permit or deny")
        permit = kind == "permit"
    data.add_consent(Consent(patient_id, permit, _as_date(res.dateTime), source))


def _specimen(res: Any, data: ClinicalData, ctx: _Context, file: str, where: str) -> None:
    sample_id = next((i.value for i in (res.identifier or []) if i.value), None)
    if sample_id is None and res.accessionIdentifier is not None:
        sample_id = res.accessionIdentifier.value
    if not sample_id:
        raise _ResourceError("identifier", "Specimen needs an identifier (the sample id in the VCF)")
    data.add_link(SampleLink(sample_id, _patient_id(res.subject, ctx, "subject")), file, where)


# --- walking a file -------------------------------------------------------------------------------------------


def _items(obj: Any, where: str) -> list[tuple[str, dict[str, Any], str | None]]:
    """(location, resource dict, fullUrl) for a resource or every entry of a Bundle."""
    if isinstance(obj, dict) and obj.get("resourceType") == "Bundle":
        out = []
        for i, entry in enumerate(obj.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            out.append((f"{where}entry[{i}]", resource, entry.get("fullUrl") if isinstance(entry, dict) else None))
        return out
    return [(where.rstrip(" "), obj, None)]


def _collect_context(items: list[tuple[str, Any, str | None]]) -> _Context:
    """First pass: where Patient and Medication resources can be referenced from (fullUrl, Type/id)."""
    ctx = _Context()
    for _, res, full_url in items:
        if not isinstance(res, dict):
            continue
        kind, rid = res.get("resourceType"), res.get("id")
        if kind == "Patient":
            pid = rid or next((i.get("value") for i in res.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
            if full_url and pid:
                ctx.patient_urls[full_url] = pid
        elif kind == "Medication":
            try:
                med = _validate(res)
            except _ResourceError:
                continue  # reported when the entry itself is read
            for key in (full_url, f"Medication/{rid}" if rid else None):
                if key:
                    ctx.medications[key] = med
    return ctx


def _is_fhir_type(kind: str) -> bool:
    try:
        get_fhir_model_class(kind)
    except (KeyError, ValueError, AttributeError, ImportError):
        return False
    return True


def _read_items(items: list[tuple[str, Any, str | None]], data: ClinicalData, file: str) -> None:
    ctx = _collect_context(items)
    for where, res, _ in items:
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            data.errors.append(ClinicalError(file, where, "resourceType", "expected a FHIR resource (JSON object with resourceType)"))
            continue
        kind = res["resourceType"]
        if kind not in READ_TYPES:
            if not _is_fhir_type(kind):  # a typo ('Patinet') must not make a patient disappear unnoticed
                data.errors.append(ClinicalError(file, where, "resourceType",
                                                 "not a FHIR R4 resource type; entry skipped"))
            continue
        ident = f"({kind}/{res['id']})" if isinstance(res.get("id"), str) else f"({kind})"
        label = f"{where} {ident}" if where else ident
        try:
            if kind in ("MedicationRequest", "MedicationStatement") and not any(k.startswith("medication") for k in res):
                raise _ResourceError("medication[x]", f"a {kind} needs medicationCodeableConcept or medicationReference")
            model = _validate(res)
            if kind == "Patient":
                _patient(model, data)
            elif kind in ("MedicationRequest", "MedicationStatement"):
                n_before = len(data.medications)
                (_medication_request if kind == "MedicationRequest" else _medication_statement)(model, data, ctx)
                for med in data.medications[n_before:]:
                    med.origin = (file, label)
            elif kind == "Consent":
                _consent(model, data, ctx, f"{file}:{label}")
            elif kind == "Specimen":
                _specimen(model, data, ctx, file, label)
        except _ResourceError as exc:
            data.errors.append(ClinicalError(file, label, exc.field, exc.message))


TOO_DEEP = "JSON nested too deeply to be a FHIR resource; file skipped"


def read_fhir_file(path: Path) -> ClinicalData:
    """Read a FHIR R4 JSON file (resource or Bundle) or NDJSON file (*.ndjson: one resource per line)."""
    path = Path(path)
    file = str(path)
    data = ClinicalData()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        data.errors.append(ClinicalError(file, "", "", "not UTF-8 text (FHIR JSON must be UTF-8)"))
        return data
    if path.suffix.lower() == ".ndjson":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                data.errors.append(ClinicalError(file, f"line {n}", "", f"not valid JSON (column {exc.colno})"))
                continue
            except RecursionError:
                data.errors.append(ClinicalError(file, f"line {n}", "", TOO_DEEP))
                continue
            _read_items(_items(obj, f"line {n} "), data, file)
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            data.errors.append(ClinicalError(file, f"line {exc.lineno}", "", f"not valid JSON (column {exc.colno})"))
            return data
        except RecursionError:  # the stdlib parser recurses per nesting level: a hostile file must not crash us
            data.errors.append(ClinicalError(file, "", "", TOO_DEEP))
            return data
        _read_items(_items(obj, ""), data, file)
    log.info("read %s: %s", path.name, data.summary())
    return data
