"""`ehrgen deliver`: release an export folder to the EHR (outbox, FHIR server or MLLP listener)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ehrgen.cli.common import examples, err_console, one_line_errors
from ehrgen.errors import InputError

console = Console()

_STYLE = {"sent": "green", "unchanged": "dim", "withheld": "yellow", "rejected": "red", "failed": "red"}


def _parse_mllp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError("--mllp", f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def _read_consent_json(path: Path) -> dict[str, bool]:
    import json

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(path), f"not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, bool) for v in doc.values()):
        raise InputError(str(path), 'expected a JSON object {"<patient id>": true|false}')
    return {str(k): v for k, v in doc.items()}


def deliver(
    export_dir: Path = typer.Argument(..., help="Folder written by `ehrgen export`."),
    fhir: Optional[str] = typer.Option(None, "--fhir", help="FHIR R4 base URL, e.g. https://ehr.example/fhir"),
    mllp: Optional[str] = typer.Option(None, "--mllp", help="HL7 v2 MLLP listener HOST:PORT"),
    outbox: Optional[Path] = typer.Option(None, "--outbox", help="Write files to this outbox folder"),
    clinical: Optional[Path] = typer.Option(
        None, "--clinical", help="Clinical data with consent records (no consent record = nothing released)"),
    consent_json: Optional[Path] = typer.Option(
        None, "--consent", help='JSON object {"<patient id>": true|false}, instead of --clinical'),
    token: Optional[str] = typer.Option(
        None, "--token", help="Bearer token for the FHIR server (prefer EHRGEN_FHIR__BEARER_TOKEN: "
                              "command lines are visible to other users)"),
    ledger: Optional[Path] = typer.Option(None, "--ledger", help="Ledger file (default from settings)"),
    dead_letter: Optional[Path] = typer.Option(None, "--dead-letter", help="Dead-letter folder"),
    config: Optional[Path] = typer.Option(None, "--config", help="ehrgen.toml settings file"),
) -> None:
    """Deliver results; each patient is released only with consent, and only new or changed content is sent."""
    from ehrgen.deliver.api import deliver_dir, targets_from_settings
    from ehrgen.deliver.consent import load_consent_source
    from ehrgen.deliver.model import FhirTarget, MllpTarget, OutboxTarget
    from ehrgen.settings import load_settings

    settings = load_settings(config)
    if token:
        settings.fhir.bearer_token = token
    if ledger:
        settings.deliver.ledger = ledger
    if dead_letter:
        settings.deliver.dead_letter = dead_letter
    targets = []
    if outbox:
        targets.append(OutboxTarget(outbox))
    if fhir:
        targets.append(FhirTarget(fhir))
    if mllp:
        targets.append(MllpTarget(*_parse_mllp(mllp)))
    if not targets:
        targets = targets_from_settings(settings)
    if clinical and consent_json:
        raise InputError("--consent", "give either --clinical or --consent, not both")
    consent_from = "--clinical" if clinical else "--consent" if consent_json else None
    if consent_from is None:
        # `ehrgen export` recorded the clinical data it (or interpret) used: its consent records apply
        from ehrgen.cli import lineage

        clinical = lineage.recorded(export_dir).get("clinical")
        if clinical is not None:
            consent_from = f"{clinical} (recorded in {export_dir / lineage.FILE})"
            err_console.print(f"consent: from {consent_from}", markup=False, highlight=False)
    consent = load_consent_source(clinical) if clinical else _read_consent_json(consent_json) if consent_json else None

    report = deliver_dir(export_dir, targets, settings, consent)

    table = Table(title=f"Delivery {report.run_id}")
    for col in ("Patient", "Target", "Artefact", "Status", "Response", "Reason"):
        table.add_column(col, overflow="fold")
    for o in report.outcomes:
        style = _STYLE.get(o.status, "")
        table.add_row(o.patient_id, o.target, o.kind, f"[{style}]{o.status}[/]" if style else o.status,
                      o.response, o.reason)
    console.print(table)
    counts = report.counts()
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to deliver")
    for err in report.input_errors:
        console.print(f"[red]input error:[/] {err}", highlight=False)
    _explain_withheld(report, consent_from)
    if not report.ok:
        raise typer.Exit(code=1)


def _explain_withheld(report, consent_from: str | None) -> None:
    """Say why nothing (or not everything) was released and how to give consent data: silence looks like success."""
    withheld = sorted({o.patient_id for o in report.outcomes if o.status == "withheld"})
    if not withheld:
        return
    # "nothing was released" only when consent withheld everyone: patients queued for an unreachable target
    # were released, just not delivered yet (their own rows and the target's notice say so)
    others = {o.patient_id for o in report.outcomes if o.status != "withheld"}
    head = "nothing was released" if not others else f"{len(withheld)} patient(s) withheld"
    if consent_from is None:
        err_console.print(
            f"note: {head}: no consent data was given, and no consent means no release. Give the clinical data "
            "with consent records (--clinical DIR_OR_FILE: consent.csv, HL7 v2 or FHIR Consent; see "
            "docs/clinical-data.md) or a JSON object {\"<patient id>\": true|false} (--consent FILE), or run "
            "`ehrgen interpret`/`ehrgen export` with --clinical so that it is recorded for this folder.",
            markup=False, highlight=False)
    else:
        err_console.print(
            f"note: {head}: the consent data ({consent_from}) has no consent to return results for them "
            "(see the Reason column).", markup=False, highlight=False)

DELIVER_EXAMPLES = examples(
    "ehrgen deliver out/export --outbox out/outbox",
    "ehrgen deliver out/export --fhir http://127.0.0.1:8080/fhir --clinical sample_data/clinical",
    "ehrgen deliver out/export --mllp 10.0.0.5:2575 --clinical sample_data/clinical",
)


def register(app: typer.Typer) -> None:
    app.command("deliver", epilog=DELIVER_EXAMPLES)(one_line_errors(deliver))
