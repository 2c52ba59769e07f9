from __future__ import annotations

import shutil

import pytest

from ehrgen.errors import InputError
from ehrgen.ingest import load_clinical
from ehrgen.ingest.clinical.loader import clinical_files


def test_folder_of_csvs(data_dir):
    data = load_clinical(data_dir / "csv")
    assert data.errors == []
    assert len(data.patients) == 3 and len(data.links) == 3 and len(data.medications) == 3
    assert data.patient_for_sample("007-DNA").identifier_value == "00789"
    assert data.has_consent("P0001") and not data.has_consent("P0003")


def test_mixed_folder_reads_every_format_in_order(tmp_path, data_dir):
    for sub in ("csv", "hl7", "fhir"):
        for f in (data_dir / sub).iterdir():
            shutil.copy(f, tmp_path / f.name)
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    names = [p.name for p in clinical_files(tmp_path)]
    assert names[:4] == ["patients.csv", "samples.csv", "consent.csv", "medications.csv"]
    assert "notes.txt" not in names
    assert names.index("adt_a01.hl7") < names.index("adt_a08.hl7") < names.index("bundle_malformed.json")
    data = load_clinical(tmp_path)
    assert {"P0001", "004512", "0077810", "pt-8821", "pt-9001", "pt-7002"} <= set(data.patients)
    assert data.patients["004512"].family == "Quillfeather-Dunmore"  # A08 read after A01
    # mllp_batch (DC) is read after rde_o11_tq1 (NW): one order, stopped
    [clop] = [m for m in data.medications if m.order_id == "ORD-77001"]
    assert clop.status == "stopped"
    assert data.links["NA19785"] == "pt-8821"  # from the FHIR Specimen
    files_with_errors = {e.file.rsplit("/", 1)[-1] for e in data.errors}
    assert files_with_errors == {"malformed.hl7", "bundle_malformed.json", "invalid.json", "malformed.ndjson"}


def test_single_file_and_sniffing(tmp_path, data_dir):
    assert set(load_clinical(data_dir / "hl7" / "omp_o09.hl7").patients) == {"0077810"}
    odd = tmp_path / "feed.txt"
    odd.write_bytes((data_dir / "hl7" / "mllp_batch.hl7").read_bytes())
    assert len(load_clinical(odd).patients) == 2
    unknown = tmp_path / "x.dat"
    unknown.write_text("nothing useful", encoding="utf-8")
    assert "not recognised" in load_clinical(unknown).errors[0].message


def test_missing_path_raises_input_error(tmp_path):
    with pytest.raises(InputError):
        load_clinical(tmp_path / "nope")


def test_empty_folder_is_an_error_not_an_exception(tmp_path):
    data = load_clinical(tmp_path)
    assert len(data.errors) == 1 and data.patients == {}
