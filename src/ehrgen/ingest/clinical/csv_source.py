"""Read the four clinical CSV files (patients, samples, consent, medications) into ClinicalData.

Columns are documented in docs/clinical-data.md. Every cell is read as a string (identifiers keep
leading zeros). A missing required column gives one error for the file; a bad row gives one error naming
the line and field, and the rest of the file is read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

import pandas as pd

from ehrgen.ingest.clinical import codes
from ehrgen.ingest.clinical.model import (
    ATC_SYSTEM,
    RXNORM_SYSTEM,
    ClinicalData,
    ClinicalError,
    Consent,
    Medication,
    Patient,
    SampleLink,
)

log = logging.getLogger(__name__)

_BAD_LINE = "\x00bad-line"  # marks a row pandas could not split into the header's columns


@dataclass(frozen=True)
class CsvSpec:
    kind: str
    required: tuple[str, ...]  # columns that must be present (their values may still be optional)
    optional: tuple[str, ...] = ()
    file_names: tuple[str, ...] = ()  # file stems recognised by the loader


SPECS: dict[str, CsvSpec] = {
    "patients": CsvSpec(
        "patients",
        ("patient_id", "identifier_system", "identifier_value"),
        ("family", "given", "birth_date", "sex"),
        ("patients", "patient"),
    ),
    "samples": CsvSpec("samples", ("sample_id", "patient_id"), (), ("samples", "sample")),
    "consent": CsvSpec("consent", ("patient_id", "return_results", "date"), (), ("consent", "consents")),
    "medications": CsvSpec(
        "medications",
        ("patient_id", "status", "drug"),
        ("rxnorm", "atc", "order_id", "date"),
        ("medications", "medication"),
    ),
}


def csv_kind(path: Path) -> str | None:
    """Which clinical CSV a file is: by its name (patients.csv ...), else by its header; None if neither."""
    stem = path.stem.lower()
    for spec in SPECS.values():
        if stem in spec.file_names:
            return spec.kind
    try:
        header = {c.strip().lower() for c in pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8-sig").columns}
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    # most specific first: samples' columns are a subset of the others'
    for kind in ("medications", "consent", "patients", "samples"):
        if set(SPECS[kind].required) <= header:
            return kind
    return None


class _RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _value(row: dict[str, object], column: str) -> str:
    """The cell as given ('' when empty, missing or NaN)."""
    v = row.get(column)
    return v if isinstance(v, str) else ""


def _required(row: dict[str, object], column: str) -> str:
    v = _value(row, column)
    if not v.strip():
        raise _RowError(column, "required value is empty")
    return v


def _date(row: dict[str, object], column: str, required: bool = False) -> date | None:
    v = _value(row, column).strip()
    if not v:
        if required:
            raise _RowError(column, "required value is empty")
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(v).date()
    except ValueError:
        raise _RowError(column, "expected an ISO 8601 date (YYYY-MM-DD)") from None


def _enum(row: dict[str, object], column: str, table: str) -> str:
    v = _required(row, column)
    target = codes.lookup(table, v)
    if target is None:
        raise _RowError(column, f"expected one of {', '.join(codes.allowed(table))}")
    return target


# --- one function per kind: a row (dict) -> records added to `data` -------------------------------------


def _patient_row(row: dict[str, object], data: ClinicalData, file: str, where: str) -> None:
    patient_id = _required(row, "patient_id")
    system = _required(row, "identifier_system")
    value = _required(row, "identifier_value")
    if patient_id in data.patients:
        raise _RowError("patient_id", "duplicate patient_id; the first row is kept")
    # why: birth date and sex are not needed to return PGx results, so a bad one is reported and left
    # empty instead of dropping the patient (whose sample would then go unreported)
    birth = sex_code = None
    try:
        birth = _date(row, "birth_date")
    except _RowError as exc:
        data.errors.append(ClinicalError(file, where, exc.field, f"{exc.message}; left empty"))
    sex = _value(row, "sex").strip()
    if sex:
        sex_code = codes.lookup("sex", sex)
        if sex_code is None:
            data.errors.append(ClinicalError(file, where, "sex", f"expected one of {', '.join(codes.allowed('sex'))}; left empty"))
    data.add_patient(
        Patient(
            id=patient_id,
            identifier_system=system,
            identifier_value=value,
            family=_value(row, "family") or None,
            given=_value(row, "given") or None,
            birth_date=birth,
            sex=sex_code,
        )
    )


def _sample_row(row: dict[str, object], data: ClinicalData, file: str, where: str) -> None:
    data.add_link(SampleLink(_required(row, "sample_id"), _required(row, "patient_id")), file, where)


def _consent_row(row: dict[str, object], data: ClinicalData, file: str, where: str) -> None:
    patient_id = _required(row, "patient_id")
    permit = _enum(row, "return_results", "yes_no") == "true"
    data.add_consent(Consent(patient_id, permit, _date(row, "date"), source=f"{file}:{where}"))


def _medication_row(row: dict[str, object], data: ClinicalData, file: str, where: str) -> None:
    patient_id = _required(row, "patient_id")
    status = _enum(row, "status", "medication_status")
    drug = _value(row, "drug").strip()
    rxnorm = _value(row, "rxnorm").strip()
    atc = _value(row, "atc").strip()
    if not (drug or rxnorm or atc):
        raise _RowError("drug", "a medication needs a drug name, an RxNorm code or an ATC code")
    med_codes = [(RXNORM_SYSTEM, rxnorm)] if rxnorm else []
    med_codes += [(ATC_SYSTEM, atc)] if atc else []
    data.add_medication(
        Medication(
            patient_id=patient_id,
            status=status,  # type: ignore[arg-type]  # checked against the medication_status table
            drug_text=drug or None,
            codes=med_codes,
            order_id=_value(row, "order_id") or None,
            authored=_date(row, "date"),
            origin=(file, where),
        )
    )


_ROW_READERS: dict[str, Callable[[dict[str, object], ClinicalData, str, str], None]] = {
    "patients": _patient_row,
    "samples": _sample_row,
    "consent": _consent_row,
    "medications": _medication_row,
}


def read_csv_file(path: Path, kind: str | None = None) -> ClinicalData:
    """Read one clinical CSV (kind from the file name or header unless given). Never raises on bad content."""
    path = Path(path)
    file = str(path)
    data = ClinicalData()
    kind = kind or csv_kind(path)
    if kind not in SPECS:
        data.errors.append(
            ClinicalError(file, "", "", f"not a known clinical CSV: expected a file named or with the columns of {', '.join(SPECS)}")
        )
        return data
    spec = SPECS[kind]
    try:
        header = pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8-sig").columns
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,  # "NA", "null" ... are values, not missing
            skip_blank_lines=False,  # keeps DataFrame row i on file line i + 2
            encoding="utf-8-sig",
            engine="python",
            on_bad_lines=lambda _fields: [_BAD_LINE] + [""] * (len(header) - 1),
        )
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # why: the exception text may quote file content, so only its kind is reported
        data.errors.append(ClinicalError(file, "", "", f"cannot be read as UTF-8 CSV ({type(exc).__name__})"))
        return data
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        data.errors.append(
            ClinicalError(file, "line 1", ", ".join(missing), f"required column missing; a {kind} file needs {', '.join(spec.required)}")
        )
        return data
    reader = _ROW_READERS[kind]
    for i, row in enumerate(frame.to_dict("records")):
        where = f"line {i + 2}"
        first = row.get(frame.columns[0])
        if first == _BAD_LINE:
            data.errors.append(ClinicalError(file, where, "", f"expected {len(header)} comma-separated fields"))
            continue
        if all(not _value(row, c).strip() for c in frame.columns):
            continue  # blank line
        try:
            reader(row, data, file, where)
        except _RowError as exc:
            data.errors.append(ClinicalError(file, where, exc.field, exc.message))
    log.info("read %s (%s): %s", path.name, kind, data.summary())
    return data
