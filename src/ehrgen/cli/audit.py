"""`ehrgen audit PATIENT`: who saw what of one patient's PGx results, from the local delivery ledger.

Lists, oldest first: every read by the CDS Hooks service (hook, user, where the results came from, cards shown,
outcome, whether the AuditEvent reached the FHIR server), every release attempt (target, artefact, status) and
consent changes (withdrawn / granted again). The patient id is the one ehrgen uses (clinical patient_id, or the
CDS context.patientId).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from ehrgen.cli.common import examples, one_line_errors
from ehrgen.errors import InputError

OUTCOME_TEXT = {"0": "success", "4": "minor failure", "8": "serious failure", "12": "major failure"}


def audit_rows(ledger_path: Path, patient_id: str) -> list[dict[str, Any]]:
    """The patient's events as plain rows (time, event, who, what, outcome, detail), oldest first."""
    from ehrgen.store.ledger import Ledger

    if not ledger_path.is_file():
        raise InputError(str(ledger_path), "no delivery ledger here (use --ledger or --work)")
    rows: list[dict[str, Any]] = []
    with Ledger(ledger_path) as led:
        for a in led.access_events(patient_id):
            rows.append({"at": a.at, "event": "cds-read", "who": a.user or "(unknown user)",
                         "what": f"{a.hook} via {a.service}: results from {a.origin}, {a.cards} card(s)",
                         "outcome": OUTCOME_TEXT.get(a.outcome, a.outcome),
                         "detail": (f"client {a.client}; " if a.client else "")
                         + ("AuditEvent on server" if a.sent_to_server else f"AuditEvent local ({a.server_response or 'queued'})")})
        for d in led.history(patient_id=patient_id):
            rows.append({"at": d.at, "event": "release", "who": d.target, "what": d.kind,
                         "outcome": d.status, "detail": "; ".join(x for x in (d.response, d.reason) if x)})
        for c in led.consent_events(patient_id):
            rows.append({"at": c["at"], "event": f"consent-{c['status']}", "who": "", "what": "return of results",
                         "outcome": c["status"], "detail": c.get("reason") or ""})
    rows.sort(key=lambda r: r["at"])
    return rows

AUDIT_EXAMPLES = examples(
    "ehrgen audit P001 --work out",
    "ehrgen audit P001 --work out --reads-only --json",
)


def register(app: typer.Typer) -> None:
    @app.command("audit", epilog=AUDIT_EXAMPLES)
    @one_line_errors
    def audit(
        patient: str = typer.Argument(..., help="patient id (as in the clinical data / the CDS context.patientId)"),
        ledger: Optional[Path] = typer.Option(None, "--ledger", help="ledger file (default: <work>/ledger.sqlite)"),
        work: Path = typer.Option(Path("out"), "--work", help="work folder holding ledger.sqlite"),
        as_json: bool = typer.Option(False, "--json", help="print the events as JSON instead of a table"),
        reads_only: bool = typer.Option(False, "--reads-only", help="only reads by the CDS service"),
    ) -> None:
        """List who saw what of one patient's results: CDS Hooks reads, releases to the EHR, consent changes."""
        rows = audit_rows(ledger or work / "ledger.sqlite", patient)
        if reads_only:
            rows = [r for r in rows if r["event"] == "cds-read"]
        if as_json:
            typer.echo(json.dumps(rows, indent=1))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"ehrgen audit: {len(rows)} event(s)")
        for col in ("at", "event", "who", "what", "outcome", "detail"):
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(*(str(r[c]) for c in ("at", "event", "who", "what", "outcome", "detail")))
        if not rows:
            t.caption = "nothing recorded for this patient in this ledger"
        Console().print(t)
