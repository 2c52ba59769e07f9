"""Referential integrity and bad records in clinical data: CSV, HL7 v2 (ADT, RDE/OMP), FHIR JSON/NDJSON.

Each bad record is reported with its file and line / message+segment / entry, and (for links and orders that
name no patient) left out, never applied to a wrong or invented patient; the good records still load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ehrgen.ingest.clinical.loader import load_clinical
from tests.hostile.corpus import Case, Result

PATIENTS = ("patient_id,identifier_system,identifier_value,family,given,birth_date,sex\n"
            "P1,urn:oid:1.2.3,MRN0001,Alpha,Ann,1970-01-02,female\n"
            "P2,urn:oid:1.2.3,MRN0002,Beta,Bob,1980-03-04,male\n")
SAMPLES = "sample_id,patient_id\nS1,P1\nS2,P2\n"
CONSENT = "patient_id,return_results,date\nP1,true,2025-01-01\nP2,true,2025-01-01\n"
MEDS = "patient_id,status,drug,rxnorm,atc,order_id,date\nP1,active,clopidogrel,32968,B01AC04,O1,2025-01-05\n"

MSH = "MSH|^~\\&|EHR|HOSP|EHRGEN|PGX|20260115083000||{type}|{ctl}|P|2.5.1"
PID = "PID|1||{mrn}^^^HOSP&1.2.3&ISO^MR||Gamma^Gina||19900101|F"
ORC = "ORC|NW|{order}^EHR|||IP||||202512160900"
RXE = "RXE|^^^20251216|32968^clopidogrel^RXNORM|75||mg^mg^UCUM|TAB"


def adt(mrn: str = "MRN0003", ctl: str = "ADT-1") -> str:
    return "\r".join([MSH.format(type="ADT^A04^ADT_A01", ctl=ctl), "EVN|A04|20260115083000",
                      PID.format(mrn=mrn), "PV1|1|O"]) + "\r"


def rde(mrn: str = "MRN0003", order: str = "O9", ctl: str = "RDE-1") -> str:
    return "\r".join([MSH.format(type="RDE^O11^RDE_O11", ctl=ctl), PID.format(mrn=mrn), "PV1|1|O",
                      ORC.format(order=order), RXE]) + "\r"


def _folder(tmp: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp / "clinical"
    folder.mkdir()
    base: dict[str, str | bytes] = {"patients.csv": PATIENTS, "samples.csv": SAMPLES, "consent.csv": CONSENT}
    base.update(files)
    for name, content in base.items():
        if content is None:
            continue
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def _load(files: dict[str, str | bytes]) -> Callable[[Path], Result]:
    def run(tmp: Path) -> Result:
        data = load_clinical(_folder(tmp, files))
        return Result("error" if data.errors else "ok", [str(e) for e in data.errors], data)
    return run


def _keeps_good(got: Result) -> None:
    data = got.value
    assert data.links.get("S1") == "P1" and "P1" in data.patients, "a bad record took good ones with it"


def case(cid: str, family: str, files: dict[str, str | bytes], must: tuple[str, ...],
         check: Callable[[Result], None] | None = _keeps_good, must_not: tuple[str, ...] = ()) -> Case:
    return Case(cid, family, _load(files), "error", must=must, must_not=must_not, check=check)


def _link_dropped(sample: str) -> Callable[[Result], None]:
    def check(got: Result) -> None:
        _keeps_good(got)
        assert sample not in got.value.links, f"{sample} still linked to a patient with no record"
    return check


def _no_med_for(patient: str) -> Callable[[Result], None]:
    def check(got: Result) -> None:
        _keeps_good(got)
        assert not got.value.medications_for(patient)
    return check


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


def csv_cases() -> list[Case]:
    f = "clinical-csv"
    return [
        case("sample-linked-to-unknown-patient", f, {"samples.csv": SAMPLES + "S3,P404\n"},
             ("samples.csv:line 4", "patient_id", "no patient record"), _link_dropped("S3")),
        case("order-for-unknown-patient", f, {"medications.csv": MEDS + "P404,active,clopidogrel,32968,,O2,\n"},
             ("medications.csv:line 3", "patient_id", "no patient record"), _no_med_for("P404")),
        case("sample-linked-twice", f, {"samples.csv": SAMPLES + "S1,P2\n"},
             ("samples.csv:line 4", "sample_id", "already linked")),
        case("patients-missing-column", f, {"patients.csv": "patient_id,identifier_system\nP1,urn:oid:1\n",
                                            "samples.csv": None},
             ("patients.csv", "identifier_value"), check=None),
        case("patient-empty-identifier", f, {"patients.csv": PATIENTS + "P3,urn:oid:1.2.3,,X,Y,,\n"},
             ("patients.csv:line 4", "identifier_value", "empty")),
        case("patient-duplicate-id", f, {"patients.csv": PATIENTS + "P1,urn:oid:1.2.3,MRN9,X,Y,,\n"},
             ("patients.csv:line 4", "patient_id", "duplicate")),
        case("patient-bad-birth-date", f, {"patients.csv": PATIENTS + "P3,urn:oid:1.2.3,MRN3,X,Y,31/12/1999,\n"},
             ("patients.csv:line 4", "birth_date", "ISO 8601"), must_not=("31/12/1999",)),
        case("patient-bad-sex", f, {"patients.csv": PATIENTS + "P3,urn:oid:1.2.3,MRN3,X,Y,,banana\n"},
             ("patients.csv:line 4", "sex", "expected one of")),
        case("consent-bad-value", f, {"consent.csv": CONSENT + "P1,perhaps,2025-02-01\n"},
             ("consent.csv:line 4", "return_results", "expected one of")),
        case("consent-bad-date", f, {"consent.csv": CONSENT + "P2,true,yesterday\n"},
             ("consent.csv:line 4", "date")),
        case("medication-bad-status", f, {"medications.csv": MEDS + "P1,maybe,warfarin,11289,,O3,\n"},
             ("medications.csv:line 3", "status", "expected one of")),
        case("medication-no-drug", f, {"medications.csv": MEDS + "P1,active,,,,O4,\n"},
             ("medications.csv:line 3", "drug")),
        case("ragged-row", f, {"samples.csv": SAMPLES + "S4,P1,extra,cells\n"}, ("samples.csv:line 4",)),
        case("medications-not-utf8", f, {"medications.csv": b"patient_id,status,drug\nP1,active,\xff\xfe\n"},
             ("medications.csv",)),
        case("unknown-file-kind", f, {"misc.csv": "a,b\n1,2\n"}, ("misc.csv",)),
    ]


def hl7_cases() -> list[Case]:
    f = "clinical-hl7"
    cut = adt()[:-1]
    cut_mrn = cut.replace("PID|1||MRN0003^^^HOSP&1.2.3&ISO^MR||Gamma^Gina||19900101|F\rPV1|1|O", "PID|1||MRN00")
    return [
        case("adt-truncated-inside-mrn", f, {"adt.hl7": cut_mrn}, ("adt.hl7:message 1", "truncated"),
             must_not=("MRN00",)),
        case("adt-no-segment-terminator", f, {"adt.hl7": cut}, ("adt.hl7:message 1", "truncated")),
        case("adt-mllp-frame-not-closed", f, {"adt.hl7": "\x0b" + adt()}, ("adt.hl7:message 1", "MLLP frame")),
        case("adt-missing-pid", f, {"adt.hl7": adt().replace(PID.format(mrn="MRN0003") + "\r", "")},
             ("adt.hl7:message 1", "PID", "missing")),
        case("adt-bad-segment-name", f, {"adt.hl7": adt().replace("PV1|1|O", "P!1|1|O")},
             ("adt.hl7:message 1", "segment 4")),
        case("adt-unsupported-version", f, {"adt.hl7": adt().replace("|P|2.5.1", "|P|9.9")},
             ("adt.hl7:message 1", "MSH-12")),
        case("unknown-message-type", f, {"x.hl7": adt().replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01")},
             ("x.hl7:message 1", "MSH-9")),
        case("no-msh", f, {"x.hl7": "PID|1||MRN5\r"}, ("x.hl7", "MSH")),
        case("rde-without-rxe", f, {"rde.hl7": rde().replace(RXE + "\r", "")}, ("rde.hl7:message 1", "RXE")),
        case("rde-truncated-second-message", f, {"rde.hl7": rde() + rde(ctl="RDE-2", order="O10")[:-30]},
             ("rde.hl7:message 2", "truncated")),
        case("second-message-bad-first-good", f, {"adt.hl7": adt() + adt(ctl="ADT-2").replace("|P|2.5.1", "|P|")},
             ("adt.hl7:message 2",)),
        case("text-before-msh", f, {"adt.hl7": "garbage line\r" + adt()}, ("adt.hl7:before message 1",)),
        case("adt-empty-mrn", f, {"adt.hl7": adt(mrn="")}, ("adt.hl7:message 1", "PID")),
    ]


def fhir_cases() -> list[Case]:
    f = "clinical-fhir"
    pat = {"resourceType": "Patient", "id": "F1", "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN7"}]}

    def bundle(*resources) -> str:
        return json.dumps({"resourceType": "Bundle", "type": "collection",
                           "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)]})

    mr_unknown = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
                  "subject": {"reference": "Patient/F404"},
                  "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                             "code": "32968"}]}}
    spec_unknown = {"resourceType": "Specimen", "id": "sp1", "identifier": [{"value": "S9"}],
                    "subject": {"reference": "Patient/F404"}}
    return [
        case("unknown-resource-type", f, {"b.json": bundle(pat, {"resourceType": "Patinet", "id": "x"})},
             ("b.json:entry[1]", "resourceType", "not a FHIR R4 resource type")),
        case("resource-type-not-string", f, {"b.json": bundle(pat, {"resourceType": 7})},
             ("b.json:entry[1]", "resourceType")),
        case("entry-without-resource", f, {"b.json": json.dumps({"resourceType": "Bundle", "type": "collection",
                                                                "entry": [{"fullUrl": "urn:uuid:1"}]})},
             ("b.json:entry[0]", "resourceType")),
        case("medication-request-unknown-patient", f, {"b.json": bundle(pat, mr_unknown)},
             ("b.json", "patient_id", "no patient record"), _no_med_for("F404")),
        case("specimen-unknown-patient", f, {"b.json": bundle(pat, spec_unknown)},
             ("b.json", "no patient record"), _link_dropped("S9")),
        case("invalid-json", f, {"b.json": '{"resourceType": "Patient", "id": '}, ("b.json:line 1", "not valid JSON")),
        case("patient-wrong-field-type", f, {"b.json": bundle({"resourceType": "Patient", "id": "F2",
                                                                "birthDate": 19900101})},
             ("b.json:entry[0]",), must_not=("19900101",)),
        case("ndjson-bad-line", f, {"r.ndjson": json.dumps(pat) + "\n{not json\n"}, ("r.ndjson:line 2", "JSON")),
        case("ndjson-unknown-type", f, {"r.ndjson": json.dumps(pat) + "\n" + json.dumps({"resourceType": "Nope"})},
             ("r.ndjson:line 2", "resourceType")),
        case("json-nested-100000", f, {"deep.json": _nest(100_000)}, ("deep.json",)),
        case("json-array-top-level", f, {"arr.json": "[1, 2, 3]"}, ("arr.json", "resourceType")),
        case("medication-request-no-medication", f, {"b.json": bundle(pat, {**mr_unknown, "subject":
                                                                             {"reference": "Patient/F1"},
                                                                             "medicationCodeableConcept": None})},
             ("b.json:entry[1]", "medication")),
    ]


def cases() -> list[Case]:
    return csv_cases() + hl7_cases() + fhir_cases()
