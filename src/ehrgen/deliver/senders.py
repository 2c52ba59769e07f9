"""One sender per target kind: turns (artefact, bytes) into an attempt result. No ledger, no consent
logic here (that is api.py); dead-lettering is here because only the sender has the receiver's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehrgen.deliver.audit import build_audit_event, released_refs
from ehrgen.deliver.deadletter import dead_letter
from ehrgen.deliver.files import atomic_write, sync_files
from ehrgen.deliver.fhir_client import FhirClient, FhirResponse
from ehrgen.deliver.mllp import MllpClient, MllpError, MllpUnreachable
from ehrgen.deliver.model import Artefact, FhirTarget, MllpTarget, OutboxTarget


@dataclass
class Attempt:
    ledger_status: str  # sent | accepted | dead-lettered | failed
    response: str = ""
    reason: str = ""
    location: str = ""
    # for FHIR: the AuditEvent built for this release, and how the server took it
    audit: dict[str, Any] | None = None
    audit_sent: bool = False
    audit_response: str = ""
    unreachable: bool = False  # no attempt reached the target: the run stops sending to it (api.py)
    lost_answers: int = 0  # FHIR: attempts sent whose answer was lost (the server may have committed)

    @property
    def report_status(self) -> str:
        return {"sent": "sent", "accepted": "sent", "dead-lettered": "rejected"}.get(self.ledger_status, "failed")


class OutboxSender:
    """defer_sync: files are renamed into place at once (a reader never sees half a file) but made durable by
    flush(), which deliver_dir calls before it commits the ledger rows about them (one fsync per folder per
    batch instead of one per file)."""

    def __init__(self, target: OutboxTarget, defer_sync: bool = False) -> None:
        self.target = target
        self.defer_sync = defer_sync
        self._pending: list[Path] = []

    def send(self, art: Artefact, data: bytes, sha256: str) -> Attempt:
        dest = self.target.directory / art.path.name
        try:
            atomic_write(dest, data, sync=not self.defer_sync)
        except OSError as exc:
            return Attempt("failed", reason=f"cannot write outbox file: {exc.strerror or exc.__class__.__name__}")
        if self.defer_sync:
            self._pending.append(dest)
        return Attempt("sent", response="written", location=str(dest))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        sync_files(pending)

    def close(self) -> None:
        self.flush()


class FhirSender:
    def __init__(self, target: FhirTarget, client: FhirClient, dead_letter_dir: Path, *,
                 reject_unknown_patient: bool = False) -> None:
        self.target = target
        self.client = client
        self.dead_letter_dir = dead_letter_dir
        self.reject_unknown_patient = reject_unknown_patient  # settings fhir.unknown_patient = "reject"

    def send(self, art: Artefact, data: bytes, sha256: str) -> Attempt:
        bundle = json.loads(data)
        if self.reject_unknown_patient:
            refused = self._unknown_patient(art, bundle, data, sha256)
            if refused is not None:
                return refused
        resp = self.client.post_transaction(data)
        if resp.ok:
            att = Attempt("accepted", response=resp.summary, location=_locations(resp), lost_answers=resp.lost_answers)
            outcome, desc = "0", f"transaction accepted ({resp.summary})"
        elif resp.status is not None and 400 <= resp.status < 500 and resp.status != 429:
            reason = _outcome_text(resp.body) or resp.summary
            folder = dead_letter(self.dead_letter_dir, art, data, sha256, target=self.target.key,
                                 reason=f"{resp.summary}: {reason}", response=resp.raw or None,
                                 response_name="operationoutcome.json")
            att = Attempt("dead-lettered", response=resp.summary, reason=reason, location=str(folder))
            outcome, desc = "4", f"transaction rejected ({resp.summary})"
        else:
            why = resp.error or resp.summary
            att = Attempt("failed", response=resp.summary, unreachable=resp.unreachable,
                          lost_answers=resp.lost_answers,
                          reason=(f"unreachable after {resp.attempts} attempts ({why})" if resp.unreachable else
                                  f"gave up after {resp.attempts} attempts ({why})"))
            outcome, desc = "8", f"transaction failed ({why})"
        reports, patient = released_refs(bundle, resp.body if resp.ok else None)
        att.audit = build_audit_event(outcome=outcome, outcome_desc=desc, target=self.target.key,
                                      reports=reports, patient=patient, network_address=self.client.base_url)
        if att.ledger_status == "failed":
            # the server did not answer the release; do not spend another retry cycle on the audit
            att.audit_response = "not sent: server unreachable"
        else:
            ar = self.client.post_resource("AuditEvent", json.dumps(att.audit).encode())
            att.audit_sent = ar.ok
            att.audit_response = ar.summary
        return att

    def _unknown_patient(self, art: Artefact, bundle: dict[str, Any], data: bytes, sha256: str) -> Attempt | None:
        """With unknown_patient = reject: the EHR must already know the patient's identifier, else nothing is sent
        (no bundle, no AuditEvent to the server) and the bundle is dead-lettered with the reason."""
        token = patient_identifier_token(bundle)
        if token is None:
            return None
        resp = self.client.search("Patient", {"identifier": token, "_summary": "count"})
        if resp.ok and isinstance(resp.body, dict) and isinstance(resp.body.get("total"), int):
            if resp.body["total"] >= 1:
                return None
            system = token.split("|", 1)[0]
            reason = (f"patient not found in the EHR: no Patient with an identifier of system {system} "
                      "(fhir.unknown_patient = reject); nothing was sent for this patient")
        else:
            reason = f"could not check that the EHR knows the patient ({resp.error or resp.summary}); nothing sent"
        folder = dead_letter(self.dead_letter_dir, art, data, sha256, target=self.target.key, reason=reason)
        return Attempt("dead-lettered", response=resp.summary, reason=reason, location=str(folder))

    def close(self) -> None:
        self.client.close()


def patient_identifier_token(bundle: dict[str, Any]) -> str | None:
    """`system|value` of the patient a bundle is for: its Patient entry, else a conditional subject reference."""
    for e in bundle.get("entry") or []:
        res = e.get("resource") or {}
        if res.get("resourceType") == "Patient":
            ident = (res.get("identifier") or [{}])[0]
            if ident.get("system") and ident.get("value"):
                return f"{ident['system']}|{ident['value']}"
    for e in bundle.get("entry") or []:
        ref = ((e.get("resource") or {}).get("subject") or {}).get("reference") or ""
        if ref.startswith("Patient?identifier="):
            from urllib.parse import unquote

            return unquote(ref.removeprefix("Patient?identifier="))
    return None


class MllpSender:
    def __init__(self, target: MllpTarget, client: MllpClient, dead_letter_dir: Path) -> None:
        self.target = target
        self.client = client
        self.dead_letter_dir = dead_letter_dir

    def send(self, art: Artefact, data: bytes, sha256: str) -> Attempt:
        try:
            ack = self.client.send(data.decode("utf-8"))
        except MllpUnreachable as exc:
            return Attempt("failed", reason=f"unreachable: {exc}", unreachable=True)
        except MllpError as exc:
            return Attempt("failed", reason=str(exc))
        if ack.accepted:
            return Attempt("accepted", response=f"ACK {ack.code}")
        reason = ack.text or f"receiver answered {ack.code}"
        folder = dead_letter(self.dead_letter_dir, art, data, sha256, target=self.target.key,
                             reason=f"ACK {ack.code}: {reason}", response=ack.raw.encode("utf-8"),
                             response_name="ack.hl7")
        return Attempt("dead-lettered", response=f"ACK {ack.code}", reason=reason, location=str(folder))

    def close(self) -> None:
        self.client.close()


def _outcome_text(body: dict[str, Any] | None) -> str:
    """The issues of an OperationOutcome as one line."""
    if not body or body.get("resourceType") != "OperationOutcome":
        return ""
    parts = []
    for issue in body.get("issue") or []:
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code") or ""
        parts.append(f"{issue.get('severity', '?')}: {text}")
    return "; ".join(parts)[:500]


def _locations(resp: FhirResponse) -> str:
    """Server references of DiagnosticReports created/updated, for the ledger."""
    locs = []
    for entry in (resp.body or {}).get("entry") or []:
        loc = (entry.get("response") or {}).get("location") or ""
        if loc.startswith("DiagnosticReport/"):
            locs.append("/".join(loc.split("/")[:2]))
    return ",".join(locs)
