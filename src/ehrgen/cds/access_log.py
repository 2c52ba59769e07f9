"""Audit of every read of a patient's PGx results by the CDS service, off the hook's critical path.

The hook handler only builds the AuditEvent and puts it on a queue (microseconds); one worker thread writes it
to the ledger (`access_events`) and, with a FHIR target, POSTs it to the server and records the answer.
On shutdown the queue is drained (bounded wait). Nothing here logs a patient identifier.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ehrgen.deliver.audit import build_access_event
from ehrgen.store.ledger import utc_now

log = logging.getLogger("ehrgen.cds.audit")



@dataclass
class Access:
    service: str
    hook: str
    hook_instance: str
    patient_id: str
    user: str | None
    client: str | None
    origin: str
    outcome: str  # AuditEvent.outcome
    outcome_desc: str
    cards: int
    # when the results were read (not when the queued event is written): the audit trail's time of access
    at: str = field(default_factory=utc_now)


def user_of(ctx: dict[str, Any], claims: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(user, calling client): the hook's context.userId, else the JWT's fhirUser, else its sub; the client is
    the JWT issuer (and sub when it differs from the user)."""
    claims = claims or {}
    user = ctx.get("userId") if isinstance(ctx.get("userId"), str) and ctx.get("userId") else None
    user = user or (claims.get("fhirUser") if isinstance(claims.get("fhirUser"), str) else None)
    sub = claims.get("sub") if isinstance(claims.get("sub"), str) else None
    user = user or sub
    iss = claims.get("iss") if isinstance(claims.get("iss"), str) else None
    client = " ".join(p for p in (iss, sub if sub and sub != user else None) if p) or None
    return (str(user)[:200] if user else None), (client[:300] if client else None)


class AccessLog:
    """Queue + one writer thread. `record` never blocks on I/O."""

    def __init__(self, ledger_path: Path | None, fhir_url: str | None = None, token: str | None = None,
                 verify_tls: bool = True, timeout_s: float = 10.0) -> None:
        self.ledger_path = ledger_path
        self.fhir_url = fhir_url.rstrip("/") if fhir_url else None
        self.token = token
        self.verify_tls = verify_tls
        self.timeout_s = timeout_s
        self._q: queue.Queue[Access | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.written = self.sent = self.errors = 0

    def start(self) -> None:
        if self._thread is None and (self.ledger_path or self.fhir_url):
            self._thread = threading.Thread(target=self._run, name="cds-audit", daemon=True)
            self._thread.start()

    def record(self, access: Access) -> None:
        if self._thread is not None:
            self._q.put(access)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown). True when drained."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._q.put(_Flush(done))  # type: ignore[arg-type]
        return done.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread is None:
            return
        self._q.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("audit writer did not drain within %.0f s: %d event(s) still queued", timeout_s,
                      self._q.qsize())
        self._thread = None

    # -- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        from ehrgen.store.ledger import Ledger

        led = Ledger(self.ledger_path) if self.ledger_path else None
        client = httpx.Client(timeout=self.timeout_s, verify=self.verify_tls) if self.fhir_url else None
        try:
            while True:
                item = self._q.get()
                if item is None:
                    return
                if isinstance(item, _Flush):
                    item.done.set()
                    continue
                try:
                    self._write(item, led, client)
                except Exception as exc:  # noqa: BLE001 -- keep the writer alive; class name only in the log
                    self.errors += 1
                    log.error("could not write a CDS access AuditEvent (%s)", exc.__class__.__name__)
        finally:
            if client is not None:
                client.close()
            if led is not None:
                led.close()

    def _write(self, a: Access, led: Any, client: httpx.Client | None) -> None:
        event = build_access_event(outcome=a.outcome, outcome_desc=a.outcome_desc,  # type: ignore[arg-type]
                                   service=a.service, hook=a.hook, hook_instance=a.hook_instance,
                                   patient_id=a.patient_id, user=a.user, client=a.client, origin=a.origin,
                                   recorded=a.at)
        rid = None
        if led is not None:
            rid = led.record_access(event, patient_id=a.patient_id, service=a.service, hook=a.hook, user=a.user,
                                    client=a.client, origin=a.origin, cards=a.cards)
            self.written += 1
        if client is None:
            return
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            r = client.post(f"{self.fhir_url}/AuditEvent", content=json.dumps(event).encode(), headers=headers)
            ok, summary = r.status_code in (200, 201), f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            ok, summary = False, f"not sent: {exc.__class__.__name__}"
        if ok:
            self.sent += 1
        else:
            log.warning("FHIR server did not take a CDS access AuditEvent (%s)", summary)
        if led is not None and rid is not None:
            led.mark_access_sent(rid, ok, summary)


@dataclass
class _Flush:
    done: threading.Event
