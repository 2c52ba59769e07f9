from __future__ import annotations

from datetime import date

from ehrgen.ingest.clinical.csv_source import csv_kind, read_csv_file
from ehrgen.ingest.clinical.model import ATC_SYSTEM, RXNORM_SYSTEM


def test_patients_keep_identifiers_exactly(data_dir):
    data = read_csv_file(data_dir / "csv" / "patients.csv")
    assert data.errors == []
    assert set(data.patients) == {"P0001", "P0002", "P0003"}
    p1 = data.patients["P0001"]
    assert (p1.identifier_system, p1.identifier_value) == ("urn:oid:2.16.840.1.113883.19.5", "000123")
    assert p1.birth_date == date(1958, 4, 17) and p1.sex == "female"
    assert data.patients["P0002"].given == "Tadeo Ramon" and data.patients["P0002"].sex == "male"
    assert data.patients["P0003"].identifier_value == "00789"
    assert data.patients["P0003"].birth_date is None and data.patients["P0003"].sex is None


def test_samples_consent_medications(data_dir):
    samples = read_csv_file(data_dir / "csv" / "samples.csv")
    assert samples.links == {"NA12878": "P0001", "HG00096": "P0002", "007-DNA": "P0003"}
    consent = read_csv_file(data_dir / "csv" / "consent.csv")
    assert consent.has_consent("P0001") and not consent.has_consent("P0002") and not consent.has_consent("P0003")
    assert consent.consents["P0002"].date == date(2025, 1, 6)
    meds = read_csv_file(data_dir / "csv" / "medications.csv")
    assert meds.errors == []
    clop = meds.medications[0]
    assert clop.status == "active" and clop.order_id == "ORD-1" and clop.authored == date(2025, 1, 7)
    assert clop.codes == [(RXNORM_SYSTEM, "32968"), (ATC_SYSTEM, "B01AC04")]
    assert [m.status for m in meds.medications] == ["active", "proposed", "stopped"]


def test_bad_rows_are_reported_by_line_and_field_and_the_rest_is_read(data_dir):
    data = read_csv_file(data_dir / "csv_bad" / "patients.csv")
    where = {(e.location, e.field) for e in data.errors}
    assert where == {("line 2", "birth_date"), ("line 3", "identifier_value"), ("line 4", "sex"), ("line 5", "")}
    # a bad birth date or sex is reported but the patient is kept; an empty identifier or bad line drops the row
    assert set(data.patients) == {"Q0001", "Q0003", "Q0005"}
    assert data.patients["Q0001"].birth_date is None and data.patients["Q0003"].sex is None
    assert all(e.file.endswith("patients.csv") for e in data.errors)


def test_missing_column_is_one_error_for_the_file(data_dir):
    data = read_csv_file(data_dir / "csv_bad" / "samples.csv")
    assert len(data.errors) == 1
    assert data.errors[0].field == "sample_id, patient_id" and "required column missing" in data.errors[0].message
    assert data.links == {}


def test_bad_consent_and_medication_rows(data_dir):
    consent = read_csv_file(data_dir / "csv_bad" / "consent.csv")
    assert {(e.location, e.field) for e in consent.errors} == {("line 2", "return_results"), ("line 3", "date")}
    assert list(consent.consents) == ["Q0003"]
    meds = read_csv_file(data_dir / "csv_bad" / "medications.csv")
    assert {(e.location, e.field) for e in meds.errors} == {("line 2", "status"), ("line 3", "drug"), ("line 4", "patient_id")}
    assert [m.order_id for m in meds.medications] == ["ORD-9"]


def test_kind_from_header_when_name_is_unknown(tmp_path):
    f = tmp_path / "export_2025.csv"
    f.write_text("sample_id,patient_id\n0042,P9\n", encoding="utf-8")
    assert csv_kind(f) == "samples"
    assert read_csv_file(f).links == {"0042": "P9"}
    other = tmp_path / "random.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    data = read_csv_file(other)
    assert len(data.errors) == 1 and "not a known clinical CSV" in data.errors[0].message


def test_na_and_bom_and_blank_lines(tmp_path):
    f = tmp_path / "samples.csv"
    f.write_bytes("\ufeffsample_id,patient_id\n\nNA,NULL\n".encode("utf-8"))
    data = read_csv_file(f)
    assert data.errors == [] and data.links == {"NA": "NULL"}
