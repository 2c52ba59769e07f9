"""Records for clinical data read from CSV, HL7 v2 and FHIR: patients, sample links, consent, medications.

Every source reader returns a ClinicalData; the loader merges them. Problems in the input become
ClinicalError records (one bad record never sinks a batch). Errors name the file, where in it, and the
field at fault, never the value: values may be names, dates of birth or identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Literal

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC_SYSTEM = "http://www.whocc.no/atc"

MedicationStatus = Literal["active", "proposed", "stopped"]
MEDICATION_STATUSES: tuple[str, ...] = ("active", "proposed", "stopped")


@dataclass
class Patient:
    """One patient. `id` is the key used by samples, consents and medications.

    Identifiers are kept exactly as given (leading zeros, case, spaces inside the value).
    """

    id: str
    identifier_system: str | None = None
    identifier_value: str | None = None
    family: str | None = None
    given: str | None = None  # given names joined by one space
    birth_date: date | None = None
    sex: str | None = None  # FHIR administrative gender: male | female | other | unknown

    def updated_with(self, other: Patient) -> Patient:
        """This patient with every field `other` knows (not None) taken from `other` (an A08 update)."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        return replace(self, **changes)

    def __repr__(self) -> str:  # why: keep names and birth dates out of tracebacks and debug logs
        return f"Patient(id=<{len(self.id)} chars>)"


@dataclass(frozen=True)
class SampleLink:
    sample_id: str
    patient_id: str


@dataclass
class Consent:
    """Whether results may be returned to the patient's record. `source` says where it was read."""

    patient_id: str
    return_results: bool
    date: date | None
    source: str


@dataclass
class Medication:
    patient_id: str
    status: MedicationStatus
    drug_text: str | None
    codes: list[tuple[str, str]] = field(default_factory=list)  # (system, code); RXNORM_SYSTEM, ATC_SYSTEM or as given
    order_id: str | None = None
    authored: date | None = None
    # where it was read (file, location): to name the record when it turns out to be unusable
    origin: tuple[str, str] = field(default=("", ""), compare=False, repr=False)

    def code(self, system: str) -> str | None:
        """The first code in `system`, if any."""
        return next((c for s, c in self.codes if s == system), None)


@dataclass(frozen=True)
class ClinicalError:
    """One problem in the input. `location`: "line 4", "message 2 PID", "entry 3 (Patient/p1)" ..."""

    file: str
    location: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.location}" if self.location else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def _later_consent(old: Consent, new: Consent) -> Consent:
    """The consent that stands when a patient has two: the later date; on a tie, a refusal wins (safe side)."""
    old_key = old.date or date.min
    new_key = new.date or date.min
    if new_key != old_key:
        return new if new_key > old_key else old
    if old.return_results != new.return_results:
        return old if not old.return_results else new
    return new


@dataclass
class ClinicalData:
    patients: dict[str, Patient] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # sample_id -> patient_id
    consents: dict[str, Consent] = field(default_factory=dict)  # patient_id -> Consent
    medications: list[Medication] = field(default_factory=list)
    errors: list[ClinicalError] = field(default_factory=list)
    # (patient_id, order_id) -> index in medications, so repeated orders update in place
    _order_index: dict[tuple[str, str], int] = field(default_factory=dict, init=False, repr=False, compare=False)
    # patient_id -> timestamp of the newest record applied (see add_patient)
    _patient_as_of: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _order_as_of: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)
    # sample_id -> (file, location) the link was read from, to name both places when links conflict
    _link_source: dict[str, tuple[str, str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    # --- building -----------------------------------------------------------------------------------
    def add_patient(self, patient: Patient, as_of: str | None = None) -> None:
        """Add a patient, or update the known one field by field (e.g. ADT^A08).

        `as_of` is a sortable timestamp ("YYYYMMDDHHMMSS", e.g. MSH-7). When both the known and the new
        record carry one and the new is older (a stale PID in an order sent before the A08, read later),
        it only fills fields still empty; otherwise the record read last wins.
        """
        known = self.patients.get(patient.id)
        if known is None:
            self.patients[patient.id] = patient
        else:
            seen = self._patient_as_of.get(patient.id)
            if as_of is not None and seen is not None and as_of < seen:
                self.patients[patient.id] = patient.updated_with(known)
            else:
                self.patients[patient.id] = known.updated_with(patient)
        if as_of is not None:
            self._patient_as_of[patient.id] = max(as_of, self._patient_as_of.get(patient.id, as_of))

    def add_link(self, link: SampleLink, file: str = "", location: str = "") -> None:
        """Link a sample to a patient; a sample already linked to another patient is an error (first kept)."""
        known = self.links.get(link.sample_id)
        if known is not None and known != link.patient_id:
            src = self._link_source.get(link.sample_id)
            first = (f"{src[0]}:{src[1]}" if src[1] else src[0]) if src and src[0] else "an earlier record"
            self.errors.append(ClinicalError(
                file, location, "sample_id", f"sample is already linked to a different patient (at {first}); first link kept"
            ))
            return
        self.links[link.sample_id] = link.patient_id
        self._link_source.setdefault(link.sample_id, (file, location))

    def add_consent(self, consent: Consent) -> None:
        known = self.consents.get(consent.patient_id)
        self.consents[consent.patient_id] = _later_consent(known, consent) if known else consent

    def add_medication(self, med: Medication, as_of: str | None = None) -> None:
        """Add a medication; one with the same patient and order id replaces the earlier (a status update),
        unless both carry an `as_of` timestamp (see add_patient) and the new one is older."""
        if med.order_id is not None:
            key = (med.patient_id, med.order_id)
            seen = self._order_as_of.get(key)
            if as_of is not None:
                self._order_as_of[key] = max(as_of, seen or as_of)
            i = self._order_index.get(key)
            if i is not None and i < len(self.medications) and self._order_key(self.medications[i]) == key:
                if not (as_of is not None and seen is not None and as_of < seen):
                    self.medications[i] = med
                return
            self._order_index[key] = len(self.medications)
        self.medications.append(med)

    @staticmethod
    def _order_key(med: Medication) -> tuple[str, str] | None:
        return (med.patient_id, med.order_id) if med.order_id is not None else None

    def update(self, other: ClinicalData) -> None:
        """Read `other` into this one, as if read after it (its patient fields and order updates win)."""
        for patient in other.patients.values():
            self.add_patient(patient, other._patient_as_of.get(patient.id))
        for sample_id, patient_id in other.links.items():
            file, location = other._link_source.get(sample_id, ("", ""))
            self.add_link(SampleLink(sample_id, patient_id), file, location)
        for consent in other.consents.values():
            self.add_consent(consent)
        for med in other.medications:
            self.add_medication(med, other._order_as_of.get(self._order_key(med)) if med.order_id else None)
        self.errors.extend(other.errors)

    def merge(self, other: ClinicalData) -> ClinicalData:
        """A new ClinicalData: this one, then `other` read after it (see update)."""
        out = ClinicalData(errors=list(self.errors))
        out.patients = dict(self.patients)
        out._patient_as_of = dict(self._patient_as_of)
        out.links = dict(self.links)
        out._link_source = dict(self._link_source)
        out.consents = dict(self.consents)
        out.medications = list(self.medications)
        out._order_index = dict(self._order_index)
        out._order_as_of = dict(self._order_as_of)
        out.update(other)
        return out

    def check_references(self) -> int:
        """Referential integrity, once everything is read: a sample linked to a patient with no patient
        record, or an order for such a patient, is an error naming its record, and is left out (a sample
        linked to the wrong patient would lose that patient's alerts without a word). Returns the count."""
        if not self.patients and not self.links and not self.medications:
            return 0
        before = len(self.errors)
        for sample_id, patient_id in list(self.links.items()):
            if patient_id not in self.patients:
                file, location = self._link_source.get(sample_id, ("", ""))
                self.errors.append(ClinicalError(
                    file, location, "patient_id",
                    "sample is linked to a patient with no patient record (patients file, ADT PID or FHIR "
                    "Patient); link rejected"))
                del self.links[sample_id]
        kept: list[Medication] = []
        for med in self.medications:
            if med.patient_id in self.patients:
                kept.append(med)
                continue
            file, location = med.origin
            self.errors.append(ClinicalError(file, location, "patient_id",
                                             "medication order for a patient with no patient record; order rejected"))
        if len(kept) != len(self.medications):
            self.medications = kept
            self._order_index = {self._order_key(m): i for i, m in enumerate(kept) if m.order_id is not None}
        return len(self.errors) - before

    # --- queries ------------------------------------------------------------------------------------
    def has_consent(self, patient_id: str) -> bool:
        """True only for a consent record that permits returning results: no record means no release."""
        consent = self.consents.get(patient_id)
        return consent is not None and consent.return_results

    def patient_for_sample(self, sample_id: str) -> Patient | None:
        patient_id = self.links.get(sample_id)
        return self.patients.get(patient_id) if patient_id is not None else None

    def medications_for(self, patient_id: str) -> list[Medication]:
        return [m for m in self.medications if m.patient_id == patient_id]

    def summary(self) -> str:
        """Counts only (safe to log)."""
        return (
            f"{len(self.patients)} patients, {len(self.links)} sample links, {len(self.consents)} consents, "
            f"{len(self.medications)} medications, {len(self.errors)} errors"
        )
