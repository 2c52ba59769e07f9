"""load_clinical: read a folder or one file of clinical data (CSV, HL7 v2, FHIR JSON/NDJSON) into ClinicalData."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ehrgen.errors import InputError
from ehrgen.ingest.clinical.csv_source import SPECS, read_csv_file
from ehrgen.ingest.clinical.fhir_source import read_fhir_file
from ehrgen.ingest.clinical.hl7_source import read_hl7_file
from ehrgen.ingest.clinical.model import ClinicalData, ClinicalError

log = logging.getLogger(__name__)

READERS: dict[str, Callable[[Path], ClinicalData]] = {
    ".csv": read_csv_file,
    ".hl7": read_hl7_file,
    ".json": read_fhir_file,
    ".ndjson": read_fhir_file,
}
_CSV_ORDER = tuple(SPECS)  # patients, samples, consent, medications


def _sniff(path: Path) -> Callable[[Path], ClinicalData] | None:
    """A reader chosen from the first bytes of a file with an unknown suffix."""
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf\x0b \t\r\n")
    if head.startswith(b"MSH"):
        return read_hl7_file
    if head.startswith(b"{"):
        return read_fhir_file
    return None


def _sort_key(path: Path) -> tuple[int, int, str]:
    """Folder read order: CSVs (patients, samples, consent, medications), then HL7, JSON, NDJSON; by name within."""
    suffix = path.suffix.lower()
    kind_rank = list(READERS).index(suffix)
    stem = path.stem.lower()
    csv_rank = next((i for i, k in enumerate(_CSV_ORDER) if stem in SPECS[k].file_names), len(_CSV_ORDER))
    return kind_rank, csv_rank if suffix == ".csv" else 0, path.name


def clinical_files(folder: Path) -> list[Path]:
    """The files load_clinical reads from a folder (not recursive), in reading order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READERS]
    return sorted(files, key=_sort_key)


def read_clinical_file(path: Path) -> ClinicalData:
    """One file, by suffix (.csv, .hl7, .json, .ndjson) or, for other suffixes, by its first bytes."""
    reader = READERS.get(path.suffix.lower()) or _sniff(path)
    if reader is None:
        data = ClinicalData()
        data.errors.append(ClinicalError(str(path), "", "", "not recognised as CSV, HL7 v2 or FHIR JSON"))
        return data
    return reader(path)


def load_clinical(path: Path, check_references: bool = True) -> ClinicalData:
    """Read a folder (patients/samples/consent/medications .csv, *.hl7, *.json, *.ndjson) or one file.

    Later files update earlier ones (see ClinicalData.update). Bad records are in .errors; raises
    InputError only when the path cannot be read at all. `check_references`: links and orders that name
    no known patient are errors (off when the caller merges several folders and checks the result).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file or folder")
    files = clinical_files(path) if path.is_dir() else [path]
    data = ClinicalData()
    for file in files:
        try:
            data.update(read_clinical_file(file))
        except OSError as exc:
            data.errors.append(ClinicalError(str(file), "", "", f"cannot be read ({type(exc).__name__})"))
    if path.is_dir() and not files:
        data.errors.append(ClinicalError(str(path), "", "", "no clinical files (*.csv, *.hl7, *.json, *.ndjson) in folder"))
    if check_references:
        data.check_references()
    log.info("clinical data from %d file(s): %s", len(files), data.summary())
    return data
