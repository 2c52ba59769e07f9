"""Consent withdrawn after results reached the EHR, end to end with the real HAPI FHIR sandbox: the first run
puts the patient's report on the server; after the withdrawal a rerun and a re-interpretation send nothing more
(the server's DiagnosticReport keeps its version), the run summary counts the withdrawal, and the other patient
is untouched."""

from __future__ import annotations

import csv
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from ehrgen.pipeline.outcome import summarise
from ehrgen.pipeline.run import RunConfig, note_consent, reinterpret_samples, run_local, stored_samples

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SD = ROOT / "sample_data"
SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def _batch(tmp: Path, mrns: dict[str, str]) -> Path:
    """S001 and S002 of sample_data with fresh MRNs (the sandbox keeps data between sessions)."""
    b = tmp / "batch"
    (b / "vcf").mkdir(parents=True)
    for s in ("S001", "S002"):
        shutil.copy2(SD / "vcf" / f"{s}.vcf", b / "vcf" / f"{s}.vcf")
    (b / "manifest.csv").write_text("sample_id,patient_id,vcf,outside_calls,expect\n"
                                    "S001,P001,vcf/S001.vcf,,ok\nS002,P002,vcf/S002.vcf,,ok\n")
    shutil.copytree(SD / "clinical", b / "clinical")
    with (SD / "clinical" / "patients.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["patient_id"] in mrns]
    with (b / "clinical" / "patients.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "identifier_value": mrns[r["patient_id"]]})
    for name in ("samples.csv", "medications.csv", "consent.csv"):
        p = b / "clinical" / name
        with p.open() as fh:
            keep = [r for r in csv.DictReader(fh) if r.get("patient_id") in mrns]
            fields = list(csv.DictReader((b / "clinical" / name).open()).fieldnames or [])
        with p.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(keep)
    for extra in ("fhir", "hl7"):  # other patients' records in other formats: not needed here
        shutil.rmtree(b / "clinical" / extra, ignore_errors=True)
    return b


def _reports(client: httpx.Client, mrn: str) -> list[dict]:
    r = client.get("DiagnosticReport", params={"subject:Patient.identifier": f"{SYSTEM}|{mrn}"})
    r.raise_for_status()
    return [e["resource"] for e in r.json().get("entry", [])]


def test_withdrawal_stops_every_later_delivery_to_the_ehr(fhir_sandbox, tmp_path):
    mrns = {"P001": f"MRN-{uuid.uuid4()}", "P002": f"MRN-{uuid.uuid4()}"}
    batch = _batch(tmp_path, mrns)
    work = tmp_path / "work"
    cfg = lambda: RunConfig(work_dir=str(work), run_name="w", fhir_url=fhir_sandbox)  # noqa: E731

    first = {o.sample: o for o in run_local(batch, cfg())}
    assert first["S001"].status == "delivered" and first["S002"].status == "delivered", first
    with httpx.Client(base_url=fhir_sandbox, timeout=60) as client:
        [report] = _reports(client, mrns["P001"])
        version = report["meta"]["versionId"]
        assert _reports(client, mrns["P002"])

        with (batch / "clinical" / "consent.csv").open("a") as fh:
            fh.write("P001,false,2026-01-15\n")  # the patient withdraws consent
        second = {o.sample: o for o in run_local(batch, cfg())}
        assert second["S001"].status == "consent-withdrawn", second["S001"]
        assert summarise(list(second.values()))["consent_withdrawn"] == 1

        # a re-interpretation (new guideline data) does not reach the patient either
        rc = note_consent(RunConfig(work_dir=str(work), run_name="w", clinical=str(batch / "clinical"),
                                    fhir_url=fhir_sandbox))
        again = {o.sample: o for o in reinterpret_samples(rc, stored_samples(rc))}
        assert again["S001"].status == "consent-withdrawn"

        [after] = _reports(client, mrns["P001"])
        assert after["meta"]["versionId"] == version  # nothing more was sent for the patient
        assert _reports(client, mrns["P002"])
