from __future__ import annotations

from datetime import date

from ehrgen.ingest.clinical.hl7_source import decode, read_hl7_file, split_messages
from ehrgen.ingest.clinical.model import ATC_SYSTEM, RXNORM_SYSTEM


def test_adt_a01_patient(data_dir):
    data = read_hl7_file(data_dir / "hl7" / "adt_a01.hl7")  # \n line endings
    assert data.errors == []
    p = data.patients["004512"]  # MR chosen over the SSN repetition, leading zeros kept
    assert p.identifier_system == "urn:oid:2.16.840.1.113883.19.5" and p.identifier_value == "004512"
    assert (p.family, p.given, p.birth_date, p.sex) == ("Quillfeather", "Amaranth J", date(1972, 3, 15), "female")


def test_a08_updates_the_a01_patient(data_dir):
    a01 = read_hl7_file(data_dir / "hl7" / "adt_a01.hl7")
    a08 = read_hl7_file(data_dir / "hl7" / "adt_a08.hl7")  # \r\n line endings
    merged = a01.merge(a08)
    assert list(merged.patients) == ["004512"]
    assert merged.patients["004512"].family == "Quillfeather-Dunmore"
    assert merged.patients["004512"].birth_date == date(1972, 3, 15)


def test_rde_o11_with_tq1_after_rxe(data_dir):
    data = read_hl7_file(data_dir / "hl7" / "rde_o11_tq1.hl7")
    assert data.errors == []
    [med] = data.medications
    assert med.patient_id == "004512" and med.status == "active" and med.order_id == "ORD-77001"
    assert med.drug_text == "clopidogrel 75 mg tablet"
    assert med.codes == [(RXNORM_SYSTEM, "32968"), (ATC_SYSTEM, "B01AC04")]
    assert med.authored == date(2025, 1, 11)


def test_omp_o09_two_orders_proposed_local_code_kept(data_dir):
    data = read_hl7_file(data_dir / "hl7" / "omp_o09.hl7")
    assert data.errors == []
    assert [(m.order_id, m.status) for m in data.medications] == [("ORD-88001", "proposed"), ("ORD-88002", "proposed")]
    assert data.medications[0].codes == [(RXNORM_SYSTEM, "2670")]
    assert data.medications[1].codes == [("LOCALFORM", "LOC-4471")]
    assert data.patients["0077810"].sex == "male"


def test_mllp_framed_file_with_two_messages_and_a_discontinue(data_dir):
    raw = (data_dir / "hl7" / "mllp_batch.hl7").read_bytes()
    assert raw.startswith(b"\x0b") and b"\x1c\r" in raw
    messages, stray = split_messages(decode(raw))
    assert len(messages) == 2 and not stray
    rde = read_hl7_file(data_dir / "hl7" / "rde_o11_tq1.hl7")
    batch = read_hl7_file(data_dir / "hl7" / "mllp_batch.hl7")
    assert batch.errors == []
    assert set(batch.patients) == {"0090021", "004512"}
    merged = rde.merge(batch)
    [med] = merged.medications  # ORC-1 DC on the same placer order number stops it
    assert med.status == "stopped" and med.order_id == "ORD-77001"


def test_malformed_messages_give_errors_and_good_records_survive(data_dir):
    data = read_hl7_file(data_dir / "hl7" / "malformed.hl7")
    errors = [(e.location, e.field) for e in data.errors]
    assert ("message 1 (BAD0001) PID", "PID-3") in errors  # missing patient identifier
    assert ("message 2 (BAD0002) segment 4", "") in errors  # a line that is not a segment
    assert ("message 3 (BAD0003) PID", "PID-8") in errors  # unknown sex code: patient kept, sex empty
    assert ("message 4 (BAD0004) RXE segment 4", "RXE-2") in errors  # order without a drug
    assert len(errors) == 4
    assert all(e.file.endswith("malformed.hl7") for e in data.errors)
    assert set(data.patients) == {"0055502"}
    assert data.patients["0055502"].sex == "female"  # message 4's PID updates message 3's
    assert [m.order_id for m in data.medications] == ["ORD-99002"]


def test_unsupported_message_type_and_missing_pid(tmp_path):
    f = tmp_path / "x.hl7"
    f.write_text(
        "MSH|^~\\&|A|B|C|D|20250101||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||1^^^H^MR\r"
        "MSH|^~\\&|A|B|C|D|20250101||RDE^O11^RDE_O11|M2|P|2.5.1\rORC|NW|O1\rRXE||1^a^RXNORM\r",
        encoding="utf-8",
    )
    data = read_hl7_file(f)
    assert [(e.location, e.field) for e in data.errors] == [("message 1 (M1) MSH", "MSH-9"), ("message 2 (M2) PID", "PID")]
    assert data.medications == []


def test_not_hl7_at_all(tmp_path):
    f = tmp_path / "empty.hl7"
    f.write_text("hello\n", encoding="utf-8")
    data = read_hl7_file(f)
    assert {e.field for e in data.errors} == {"", "MSH"}


def test_other_versions_latin1_nulls_and_escapes(tmp_path):
    f = tmp_path / "mixed.hl7"
    messages = [
        "MSH|^~\\&|A|B|C|D|20250101||ADT^A01|M1|P|2.3\rEVN|A01\rPID|1||0012^^^H^MR||Do\xe9^Zo\xeb||19800101|F\r",
        "MSH|^~\\&|A|B|C|D|20250102||RDE^O11^RDE_O11|M2|P|2.7\rPID|1||0012^^^H^MR\rORC|NW|O\\T\\1\r"
        "RXE|^^^20250101|11289^warfarin\\S\\oral^RXNORM|5||mg\r",
        "MSH|^~\\&|A|B|C|D|20250103||ADT^A08|M3|P|2.9\rPID|1||0013^^^H^MR\r",
        "MSH|^~\\&|A|B|C|D|20250104||ADT^A08|M4|P|2.5.1\rPID|1||\"\"^^^H^MR\r",
    ]
    f.write_bytes("".join(messages).encode("latin-1"))  # not UTF-8: read as Latin-1
    data = read_hl7_file(f)
    assert data.patients["0012"].family == "Do\xe9" and data.patients["0012"].given == "Zo\xeb"
    [med] = data.medications
    assert med.drug_text == "warfarin^oral" and med.order_id == "O&1"  # escapes decoded
    assert [(e.location, e.field) for e in data.errors] == [("message 3 (M3) MSH", "MSH-12"), ("message 4 (M4) PID", "PID-3")]
