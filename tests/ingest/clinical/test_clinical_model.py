from __future__ import annotations

from datetime import date

from ehrgen.ingest.clinical.model import ClinicalData, Consent, Medication, Patient, SampleLink


def test_has_consent_is_false_without_a_record():
    data = ClinicalData()
    assert data.has_consent("P1") is False
    data.add_consent(Consent("P1", True, date(2025, 1, 1), "test"))
    assert data.has_consent("P1") is True
    assert data.has_consent("P2") is False


def test_later_consent_wins_and_a_refusal_wins_a_tie():
    data = ClinicalData()
    data.add_consent(Consent("P1", True, date(2025, 1, 1), "a"))
    data.add_consent(Consent("P1", False, date(2025, 2, 1), "b"))
    assert not data.has_consent("P1")
    data.add_consent(Consent("P1", True, date(2025, 3, 1), "c"))
    assert data.has_consent("P1")
    data.add_consent(Consent("P1", False, date(2025, 3, 1), "d"))  # same day: the refusal stands
    assert not data.has_consent("P1")
    data.add_consent(Consent("P1", True, None, "e"))  # undated never beats a dated record
    assert data.consents["P1"].source == "d"


def test_merge_updates_patients_field_by_field_and_keeps_both_inputs_unchanged():
    a = ClinicalData()
    a.add_patient(Patient("P1", "sys", "001", family="Old", given="G", birth_date=date(1970, 1, 1), sex="female"))
    a.add_medication(Medication("P1", "active", "x", [("s", "1")], order_id="O1"))
    b = ClinicalData()
    b.add_patient(Patient("P1", family="New"))
    b.add_medication(Medication("P1", "stopped", "x", [("s", "1")], order_id="O1"))
    b.add_medication(Medication("P1", "active", "y", [], order_id=None))
    merged = a.merge(b)
    p = merged.patients["P1"]
    assert (p.family, p.given, p.identifier_value, p.birth_date) == ("New", "G", "001", date(1970, 1, 1))
    assert [m.status for m in merged.medications] == ["stopped", "active"]
    assert a.patients["P1"].family == "Old" and a.medications[0].status == "active"
    assert len(b.medications) == 2


def test_conflicting_sample_link_is_an_error_and_first_link_kept():
    a = ClinicalData()
    a.add_link(SampleLink("S1", "P1"), "samples.csv", "line 2")
    b = ClinicalData()
    b.add_link(SampleLink("S1", "P2"), "b.json", "entry[3] (Specimen/s)")
    merged = a.merge(b)
    assert merged.links == {"S1": "P1"}
    [err] = merged.errors
    assert (err.file, err.location, err.field) == ("b.json", "entry[3] (Specimen/s)", "sample_id")
    assert "samples.csv:line 2" in err.message


def test_patient_repr_hides_personal_fields():
    p = Patient("P1", "sys", "001", family="Secretfamily", given="Secretgiven", birth_date=date(1970, 1, 2))
    assert "Secret" not in repr(p) and "1970" not in repr(p)


def test_an_older_patient_record_read_later_only_fills_gaps():
    data = ClinicalData()
    data.add_patient(Patient("P1", family="New", sex=None), as_of="20250112101500")
    data.add_patient(Patient("P1", family="Stale", sex="female"), as_of="20250111140000")
    assert (data.patients["P1"].family, data.patients["P1"].sex) == ("New", "female")
    data.add_patient(Patient("P1", family="Newest"), as_of="20250113000000")
    assert data.patients["P1"].family == "Newest"
    data.add_patient(Patient("P1", family="Undated"))  # no time: read order decides
    assert data.patients["P1"].family == "Undated"


def test_an_older_order_update_read_later_does_not_undo_a_newer_one():
    data = ClinicalData()
    data.add_medication(Medication("P1", "stopped", "x", order_id="O1"), as_of="20250115085500")
    data.add_medication(Medication("P1", "active", "x", order_id="O1"), as_of="20250111135500")
    assert [m.status for m in data.medications] == ["stopped"]
    other = ClinicalData()
    other.add_medication(Medication("P1", "active", "x", order_id="O1"), as_of="20250101000000")
    assert [m.status for m in data.merge(other).medications] == ["stopped"]
    assert [m.status for m in other.merge(data).medications] == ["stopped"]
