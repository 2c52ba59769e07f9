"""Consent gate: results are released only for patients with a recorded consent to return results.

No consent source, no record for the patient, or anything but an explicit True all mean "withhold".
Accepts either a plain mapping patient_id -> bool or a ClinicalData-like object from
`ehrgen.ingest.load_clinical` (duck-typed: `.has_consent(patient_id)` and optionally `.links`, a
sample -> patient mapping for exports named by sample id).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ehrgen.errors import InputError


@runtime_checkable
class ConsentSource(Protocol):
    def has_consent(self, patient_id: str) -> bool: ...


ConsentLike = Mapping[str, bool] | ConsentSource | None


class ConsentGate:
    def __init__(self, source: ConsentLike, *, required: bool = True) -> None:
        self.source = source
        self.required = required
        links = getattr(source, "links", None)
        self.links: Mapping[str, str] = links if isinstance(links, Mapping) else {}

    def patient_for(self, export_name: str) -> str:
        """The patient id for an export file stem (a sample id is mapped through the clinical links)."""
        return str(self.links.get(export_name, export_name))

    def allows(self, patient_id: str) -> tuple[bool, str]:
        """(release?, reason when not)."""
        if not self.required:
            return True, ""
        src = self.source
        if src is None:
            return False, "no consent source given"
        if isinstance(src, Mapping):
            val = src.get(patient_id)
            if val is None:
                return False, "no consent record"
            return (True, "") if val is True else (False, "consent to return results not given")
        try:
            granted = src.has_consent(patient_id)
        except KeyError:
            return False, "no consent record"
        return (True, "") if granted is True else (False, "no consent to return results")


def load_consent_source(path: Path) -> Any:
    """Load the clinical data file via ehrgen.ingest (built separately; guarded import)."""
    load_clinical = None
    for module in ("ehrgen.ingest", "ehrgen.ingest.clinical", "ehrgen.ingest.clinical.loader"):
        try:
            load_clinical = getattr(importlib.import_module(module), "load_clinical", None)
        except ImportError:
            continue
        if load_clinical is not None:
            break
    if load_clinical is None:
        raise InputError(str(path), "cannot read clinical data: ehrgen.ingest.load_clinical is not available "
                                    "in this installation")
    return load_clinical(path)


def consent_withdrawals(clinical: Any, ledger_path: Path, *, run_id: str | None = None) -> set[str]:
    """Patients whose consent is withdrawn after results were sent, kept in the ledger (the CDS service reads it).

    A patient counts as withdrawn when the clinical data now refuses the return of results (an explicit
    consent record that does not permit it) and a target already holds results for them, or when the ledger
    already says withdrawn and the clinical data gives no consent again. A consent that permits return again
    is recorded as 'granted' (the patient is then treated as any other). Refusals before anything was sent
    are ordinary withheld releases, not withdrawals. Returns the withdrawn set; logs a count only.
    """
    import logging

    from ehrgen.store.ledger import Ledger

    consents = getattr(clinical, "consents", None) or {}
    refused = {pid for pid, c in consents.items() if getattr(c, "return_results", None) is not True}
    granted = {pid for pid, c in consents.items() if getattr(c, "return_results", None) is True}
    if not Path(ledger_path).is_file():
        return set()  # nothing was ever delivered from this work dir
    with Ledger(ledger_path) as led:
        before = led.withdrawn()
        newly = led.ever_delivered(sorted(refused)) - before
        for pid in sorted(newly):
            led.record_consent(pid, "withdrawn", run_id=run_id, reason="consent to return results withdrawn")
        for pid in sorted(before & granted):
            led.record_consent(pid, "granted", run_id=run_id, reason="consent to return results given again")
        withdrawn = (before - granted) | newly
    if newly:
        logging.getLogger(__name__).warning("%d patient(s) withdrew consent after results were sent", len(newly))
    return withdrawn
