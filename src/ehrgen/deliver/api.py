"""deliver_dir: release an export folder to one or more targets, behind the consent gate, with a ledger.

Per patient and target: withheld (no consent: nothing leaves the machine), unchanged (the target
already holds this exact content), sent, rejected (dead-lettered) or failed (retry on a later run).

Circuit breaker: once a target could not be reached at all (no connection in any attempt), the rest of the
run sends nothing more to it; those artefacts are reported failed with the reason QUEUED (the ledger holds no
delivery for them, so the next run sends them) and the report carries one notice line for the target.
A bundle whose earlier answer was lost (timeout or reset after the request went out: the server may have
committed it) and that a retry then lands is reported sent, "confirmed on retry", never "unchanged".
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ehrgen import fastpath
from ehrgen.deliver.audit import OUTCOME_BY_STATUS, build_audit_event
from ehrgen.deliver.consent import ConsentGate, ConsentLike
from ehrgen.deliver.exportdir import check_content, scan_export_dir
from ehrgen.deliver.fhir_client import FhirClient, SmartBackendAuth
from ehrgen.deliver.mllp import MllpClient
from ehrgen.deliver.model import (
    Artefact,
    DeliveryOutcome,
    QUEUED,
    DeliveryReport,
    FhirTarget,
    MllpTarget,
    OutboxTarget,
    Target,
    sha256_hex,
)
from ehrgen.deliver.senders import Attempt, FhirSender, MllpSender, OutboxSender
from ehrgen.settings import Settings
from ehrgen.store.ledger import Ledger

log = logging.getLogger(__name__)

OUTBOX_BATCH = 200  # patients per ledger transaction when the outbox is the only target
# artefact kinds each target must receive; a missing one is an export problem and is reported
_REQUIRED = {OutboxTarget: ("fhir-bundle", "oru"), FhirTarget: ("fhir-bundle",), MllpTarget: ("oru",)}
_FILE_FOR = {"fhir-bundle": "{}.bundle.json", "oru": "{}.oru.hl7"}


def targets_from_settings(settings: Settings) -> list[Target]:
    """Configured targets: FHIR and/or MLLP if set, else the outbox (the embedded default)."""
    out: list[Target] = []
    if settings.fhir.base_url:
        out.append(FhirTarget(settings.fhir.base_url))
    if settings.mllp.host and settings.mllp.port:
        out.append(MllpTarget(settings.mllp.host, settings.mllp.port))
    return out or [OutboxTarget(settings.deliver.outbox)]


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def deliver_dir(
    export_dir: Path,
    targets: Iterable[Target] | None,
    settings: Settings | None = None,
    consent: ConsentLike = None,
    *,
    ledger: Ledger | None = None,
    smart: SmartBackendAuth | None = None,
    run_id: str | None = None,
) -> DeliveryReport:
    settings = settings or Settings()
    tlist = list(targets) if targets else targets_from_settings(settings)
    gate = ConsentGate(consent, required=settings.deliver.require_consent)
    if not settings.deliver.require_consent:
        log.warning("consent gate disabled by settings (deliver.require_consent = false)")
    report = DeliveryReport(run_id=run_id or new_run_id())
    patients = scan_export_dir(Path(export_dir))
    own_ledger = ledger is None
    led = ledger or Ledger(settings.deliver.ledger)
    senders: dict[str, OutboxSender | FhirSender | MllpSender] = {}
    unreachable: dict[str, str] = {}  # target key -> why (the open circuits)
    queued: dict[str, int] = {}
    # outbox only: the ledger rows of OUTBOX_BATCH patients are one transaction, committed after their files are
    # made durable (fewer fsyncs and commits); a FHIR/MLLP target never waits on a held ledger lock
    batched = fastpath.enabled() and all(isinstance(t, OutboxTarget) for t in tlist)
    try:
        for t in tlist:
            senders[t.key] = OutboxSender(t, defer_sync=True) if batched else _sender(t, settings, smart)  # type: ignore[arg-type]

        def flush() -> None:
            for s in senders.values():
                if isinstance(s, OutboxSender):
                    s.flush()

        def one(stem: str) -> None:
            arts = patients[stem]
            patient_id = gate.patient_for(stem)
            allowed, why = gate.allows(patient_id)
            for t in tlist:
                if not allowed:
                    _withhold(led, report, patient_id, t, arts, why)
                    continue
                have = {a.kind for a in arts}
                for kind in _REQUIRED[type(t)]:
                    if kind not in have:
                        report.add(DeliveryOutcome(patient_id, t.key, kind, "failed",
                                                   reason=f"{_FILE_FOR[kind].format(stem)} missing from export"))
                for art in arts:
                    if art.kind not in t.kinds:
                        continue
                    if t.key in unreachable:
                        queued[t.key] = queued.get(t.key, 0) + 1
                        report.add(DeliveryOutcome(patient_id, t.key, art.kind, "failed", reason=QUEUED))
                        continue
                    out, dead = _deliver_one(led, senders[t.key], t, patient_id, art, report.run_id)
                    if dead:
                        unreachable[t.key] = out.reason
                        queued[t.key] = queued.get(t.key, 0) + 1
                        out = DeliveryOutcome(out.patient_id, out.target, out.kind, "failed",
                                              reason=f"{QUEUED} ({out.reason})", response=out.response,
                                              sha256=out.sha256)
                    report.add(out)

        stems = sorted(patients)
        if batched:
            for i in range(0, len(stems), OUTBOX_BATCH):
                with led.batch(before_commit=flush):
                    for stem in stems[i:i + OUTBOX_BATCH]:
                        one(stem)
        else:
            for stem in stems:
                one(stem)
        for key, why in unreachable.items():
            note = (f"{key}: {why}; stopped sending to it: {queued.get(key, 0)} artefact(s) left queued for the "
                    "next run")
            report.notices.append(note)
            log.error("%s", note)  # the target and counts only
    finally:
        for s in senders.values():
            s.close()
        if own_ledger:
            led.close()
    log.info("delivery run %s: %s", report.run_id, report.counts())  # counts only: no identifiers
    return report


def _sender(t: Target, settings: Settings, smart: SmartBackendAuth | None):
    dl = settings.deliver.dead_letter
    if isinstance(t, OutboxTarget):
        return OutboxSender(t)
    if isinstance(t, FhirTarget):
        auth = smart or SmartBackendAuth.from_settings(settings.fhir)
        return FhirSender(t, FhirClient(t.base_url, settings=settings.fhir, smart=auth), dl,
                          reject_unknown_patient=settings.fhir.unknown_patient == "reject")
    if isinstance(t, MllpTarget):
        m = settings.mllp
        return MllpSender(t, MllpClient(t.host, t.port, timeout_s=m.timeout_s, max_retries=m.max_retries,
                                        backoff_s=settings.fhir.backoff_s), dl)
    raise TypeError(f"unknown target {t!r}")


def _withhold(led: Ledger, report: DeliveryReport, patient_id: str, t: Target, arts: list[Artefact],
              why: str) -> None:
    """Record the withheld release locally: no content read, nothing sent anywhere."""
    for art in arts:
        if art.kind not in t.kinds:
            continue
        did = led.record(run_id=report.run_id, patient_id=patient_id, kind=art.kind, target=t.key,
                         status="withheld", reason=why)
        event = build_audit_event(outcome=OUTCOME_BY_STATUS["withheld"], outcome_desc=f"release withheld: {why}",
                                  target=t.key, reports=[], patient={"identifier": {"value": patient_id}},
                                  channel="fhir" if isinstance(t, FhirTarget) else "export")
        led.record_audit(event, delivery_id=did, sent_to_server=False, server_response="local only")
        report.add(DeliveryOutcome(patient_id, t.key, art.kind, "withheld", reason=why))


def _earlier_answer_lost(led: Ledger, patient_id: str, kind: str, target: str, sha: str) -> bool:
    """The latest ledger row for this artefact is a failure of this same content whose answer was lost."""
    rows = led.history(patient_id=patient_id, kind=kind, target=target)
    last = rows[-1] if rows else None
    return last is not None and last.status == "failed" and last.sha256 == sha and \
        (last.response or "").startswith(LOST_ANSWER)


LOST_ANSWER = "no answer (may have been committed)"


def _deliver_one(led: Ledger, sender, t: Target, patient_id: str, art: Artefact,
                 run_id: str) -> tuple[DeliveryOutcome, bool]:
    """The outcome, and True when the target could not be reached at all (opens its circuit)."""
    try:
        data = art.read()
    except OSError as exc:
        reason = f"{art.path.name}: cannot read ({exc.strerror or exc.__class__.__name__})"
        return DeliveryOutcome(patient_id, t.key, art.kind, "failed", reason=reason), False
    bad = check_content(art, data)
    sha = sha256_hex(data)
    if bad:
        led.record(run_id=run_id, patient_id=patient_id, kind=art.kind, target=t.key, status="failed",
                   sha256=sha, reason=bad)
        return DeliveryOutcome(patient_id, t.key, art.kind, "failed", reason=bad, sha256=sha), False
    if led.already_delivered(patient_id, art.kind, t.key, sha):
        return DeliveryOutcome(patient_id, t.key, art.kind, "unchanged", sha256=sha), False
    try:
        att: Attempt = sender.send(art, data, sha)
    except Exception as exc:  # one patient's unexpected error must not sink the batch
        # class name only: exception text may quote patient data
        log.error("unexpected %s delivering one %s to %s", exc.__class__.__name__, art.kind, t.key)
        att = Attempt("failed", reason=f"internal error: {exc.__class__.__name__}")
    if att.ledger_status == "failed" and att.lost_answers:
        att.response = LOST_ANSWER  # a later success is then "confirmed on retry"
    elif att.ledger_status == "accepted" and (att.lost_answers or
                                              _earlier_answer_lost(led, patient_id, art.kind, t.key, sha)):
        att.response = f"{att.response} (confirmed on retry: an earlier attempt's answer was lost)"
    did = led.record(run_id=run_id, patient_id=patient_id, kind=art.kind, target=t.key,
                     status=att.ledger_status, sha256=sha, response=att.response or None,
                     reason=att.reason or None, location=att.location or None)
    if att.audit is not None:
        led.record_audit(att.audit, delivery_id=did, sent_to_server=att.audit_sent,
                         server_response=att.audit_response)
    else:
        # outbox/MLLP: no FHIR server to hold the AuditEvent, keep it locally
        event = build_audit_event(outcome=OUTCOME_BY_STATUS[att.ledger_status],
                                  outcome_desc=f"{art.kind} {att.ledger_status} ({att.response or att.reason})",
                                  target=t.key, reports=[], patient={"identifier": {"value": patient_id}},
                                  channel="export")
        led.record_audit(event, delivery_id=did, sent_to_server=False, server_response="local only")
    return DeliveryOutcome(patient_id, t.key, art.kind, att.report_status,  # type: ignore[arg-type]
                           reason=att.reason, response=att.response, sha256=sha), att.unreachable
