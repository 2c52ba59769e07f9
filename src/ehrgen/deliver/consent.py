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
