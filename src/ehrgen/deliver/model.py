"""Records for delivery: artefacts found in an export folder, targets, and per-target outcomes."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ArtefactKind = Literal["fhir-bundle", "oru", "report"]
ReportStatus = Literal["sent", "unchanged", "withheld", "rejected", "failed"]
FAILING: frozenset[str] = frozenset({"rejected", "failed"})
# the reason of every artefact not attempted because its target was found unreachable in this run
QUEUED = "target unreachable; queued for the next run"


@dataclass(frozen=True)
class Artefact:
    """One file from `ehrgen export` for one patient."""

    patient_id: str
    kind: ArtefactKind
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class OutboxTarget:
    """The embedded default: files in a folder that the EHR's interface engine picks up."""

    directory: Path
    kinds: tuple[str, ...] = ("fhir-bundle", "oru", "report")

    @property
    def key(self) -> str:
        return f"outbox:{self.directory.resolve()}"


@dataclass(frozen=True)
class FhirTarget:
    """A FHIR R4 server's base URL (e.g. http://127.0.0.1:8080/fhir); transaction bundles only."""

    base_url: str
    kinds: tuple[str, ...] = ("fhir-bundle",)

    @property
    def key(self) -> str:
        return f"fhir:{self.base_url.rstrip('/')}"


@dataclass(frozen=True)
class MllpTarget:
    """An HL7 v2 listener reached over MLLP; ORU^R01 messages only."""

    host: str
    port: int
    kinds: tuple[str, ...] = ("oru",)

    @property
    def key(self) -> str:
        return f"mllp:{self.host}:{self.port}"


Target = OutboxTarget | FhirTarget | MllpTarget


@dataclass(frozen=True)
class DeliveryOutcome:
    patient_id: str
    target: str  # Target.key
    kind: str
    status: ReportStatus
    reason: str = ""
    response: str = ""  # 'HTTP 200', 'ACK AA', ...
    sha256: str | None = None


@dataclass
class DeliveryReport:
    run_id: str
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    # problems with the export folder itself (unreadable file, unknown name): one per file
    input_errors: list[str] = field(default_factory=list)
    # one line per target found unreachable (the circuit breaker opened): what was left queued
    notices: list[str] = field(default_factory=list)

    def add(self, outcome: DeliveryOutcome) -> None:
        self.outcomes.append(outcome)

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.status for o in self.outcomes))

    @property
    def ok(self) -> bool:
        """False if anything was rejected or failed (the CLI exits non-zero)."""
        return not self.input_errors and not any(o.status in FAILING for o in self.outcomes)

    def for_patient(self, patient_id: str) -> list[DeliveryOutcome]:
        return [o for o in self.outcomes if o.patient_id == patient_id]
