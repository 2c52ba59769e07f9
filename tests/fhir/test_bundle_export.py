"""`ehrgen export`: interpret output folder -> <patient>.bundle.json + <patient>.oru.hl7."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrgen.cli.main import app
from ehrgen.fhir.export import check_bundle
from ehrgen.fhir.samples import example_calls, example_recommendations
from ehrgen.hl7.oru import parse_oru
from ehrgen.paths import project_root

runner = CliRunner()


def interpret_like(tmp: Path, patient="P001", sample="S001", embed=False, as_list=False) -> Path:
    """A results folder shaped like `ehrgen interpret` output (calls in a separate folder unless embedded)."""
    res = tmp / "results"
    calls_dir = tmp / "calls"
    res.mkdir(exist_ok=True)
    calls_dir.mkdir(exist_ok=True)
    calls = example_calls(sample)
    recs = [dict(r.to_dict(), population="general") for r in example_recommendations(patient, sample)]
    doc: dict | list = {
        "schema": "ehrgen.recommendations/1", "patient": patient,
        "rules": {"version": "cpic-dpwg-2.12.0+ehrgen.1", "rules_version": "cpic-dpwg-2.12.0+ehrgen.1"},
        "samples": [{"sample": sample, "genes": {}}],
        "recommendations": recs, "alerts": recs[:1],
    }
    if embed:
        doc["calls"] = calls.to_dict()
    else:
        (calls_dir / f"{sample}.calls.json").write_text(json.dumps(calls.to_dict()))
    if as_list:
        doc = recs
    (res / f"{patient}.recommendations.json").write_text(json.dumps(doc))
    (res / f"{patient}.report.html").write_text("<html><body>report for the EHR</body></html>")
    (res / "recommendations.tsv").write_text("patient\n")
    return res


def test_export_writes_bundle_and_oru(tmp_path):
    res = interpret_like(tmp_path)
    out = tmp_path / "out"
    r = runner.invoke(app, ["export", str(res), "--out", str(out), "--calls", str(tmp_path / "calls")])
    assert r.exit_code == 0, r.output
    bundle = json.loads((out / "P001.bundle.json").read_text())
    assert bundle["type"] == "transaction" and check_bundle(bundle) == []
    report = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"][0]
    assert report["presentedForm"][0]["contentType"] == "text/html"
    tasks = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    assert len(tasks) == 2  # the alert repeating clopidogrel is not a second Task
    assert "cpic-dpwg-2.12.0%2Behrgen.1" in json.dumps(bundle)  # rules version from the interpret metadata
    oru = (out / "P001.oru.hl7").read_bytes().decode()
    assert "\n" not in oru
    assert parse_oru(oru).validate() is True


def test_export_is_byte_identical_when_repeated(tmp_path):
    res = interpret_like(tmp_path)
    args = ["export", str(res), "--calls", str(tmp_path / "calls")]
    assert runner.invoke(app, args + ["--out", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(app, args + ["--out", str(tmp_path / "b")]).exit_code == 0
    for name in ("P001.bundle.json", "P001.oru.hl7"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("variant", [{"embed": True}, {"as_list": True}])
def test_embedded_calls_and_bare_list(tmp_path, variant):
    res = interpret_like(tmp_path, **variant)
    extra = [] if variant.get("embed") else ["--calls", str(tmp_path / "calls")]
    r = runner.invoke(app, ["export", str(res), "--out", str(tmp_path / "out"), *extra])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "P001.bundle.json").is_file()


def test_one_bad_patient_does_not_sink_the_batch(tmp_path):
    res = interpret_like(tmp_path)
    interpret_like(tmp_path, patient="P002", sample="S002")
    os.remove(tmp_path / "calls" / "S002.calls.json")
    (res / "P003.recommendations.json").write_text("{not json")
    r = runner.invoke(app, ["export", str(res), "--out", str(tmp_path / "out"), "--calls", str(tmp_path / "calls")])
    assert r.exit_code == 1
    text = r.output.replace("\n", "")  # rich wraps long lines
    assert "S002.calls.json not found" in text and "P003.recommendations.json:1: not valid JSON" in text
    assert "exported 1 patient(s)" in text
    assert (tmp_path / "out" / "P001.bundle.json").is_file()
    assert not (tmp_path / "out" / "P002.bundle.json").exists()


def test_not_an_interpret_folder(tmp_path):
    r = runner.invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "no *.recommendations.json" in r.output.replace("\n", "")


SAMPLE = project_root() / "sample_data"


@pytest.mark.skipif(not (SAMPLE / "vcf" / "S001.vcf").is_file(), reason="sample_data not present")
def test_end_to_end_with_clinical_identifiers_and_orders(tmp_path):
    """call -> interpret -> export on the project's synthetic sample S001 (patient P001 takes clopidogrel)."""
    calls, res, out = tmp_path / "calls", tmp_path / "res", tmp_path / "out"
    clinical = SAMPLE / "clinical"
    assert runner.invoke(app, ["call", str(SAMPLE / "vcf" / "S001.vcf"), "--out", str(calls)]).exit_code == 0
    r = runner.invoke(app, ["interpret", str(calls), "--out", str(res), "--clinical", str(clinical)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["export", str(res), "--out", str(out), "--calls", str(calls), "--clinical", str(clinical)])
    assert r.exit_code == 0, r.output
    bundle = json.loads((out / "P001.bundle.json").read_text())
    patient = bundle["entry"][0]
    assert patient["request"]["ifNoneExist"].startswith("identifier=urn:oid:")  # the EHR's MRN, not ehrgen's id
    orders = [i["valueReference"]["reference"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"
              for i in e["resource"]["input"] if "valueReference" in i]
    assert "MedicationRequest/ORD0001" in orders
    assert check_bundle(bundle) == []
    assert parse_oru((out / "P001.oru.hl7").read_text()).validate() is True
