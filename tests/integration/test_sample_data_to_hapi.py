"""End to end through the public commands into the real HAPI FHIR sandbox (IG request validation on).

call -> interpret -> export -> validate -> deliver --fhir, then: every bundle accepted, a second send changes no
resource counts, genotype and implication Observations come back by search (code + subject), and the patient
without consent has nothing on the server.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SD = ROOT / "sample_data"
# S001 clopidogrel PM, S008 CYP2D6 outside call, S010-S015 (multi-sample VCF), S016 without consent
RUNS = [("vcf/S001.vcf", None), ("vcf/S008.vcf", "outside_calls/S008.tsv"), ("vcf/S016.vcf", None),
        ("vcf/multisample.vcf", None)]


def ehrgen(*args: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "ehrgen.cli.main", *args], capture_output=True, text=True,
                         cwd=ROOT)
    return res


def _identifiers() -> dict[str, tuple[str, str]]:
    with (SD / "clinical" / "patients.csv").open() as fh:
        return {r["patient_id"]: (r["identifier_system"], r["identifier_value"]) for r in csv.DictReader(fh)}


def _count(client: httpx.Client, resource: str, **params: str) -> int:
    r = client.get(resource, params={**params, "_summary": "count"})
    r.raise_for_status()
    return r.json()["total"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("e2e")
    calls, recs, export = base / "calls", base / "recs", base / "export"
    for vcf, oc in RUNS:
        args = ["call", str(SD / vcf), "--out", str(calls)]
        if oc:
            args += ["--outside-calls", str(SD / oc)]
        res = ehrgen(*args)
        assert res.returncode == 0, res.stderr
    res = ehrgen("interpret", str(calls), "--clinical", str(SD / "clinical"), "--out", str(recs))
    assert res.returncode == 0, res.stderr
    res = ehrgen("export", str(recs), "--calls", str(calls), "--clinical", str(SD / "clinical"),
                 "--out", str(export))
    assert res.returncode == 0, res.stderr
    return export


def test_every_exported_bundle_passes_the_ig_validator(exported):
    bundles = sorted(exported.glob("*.bundle.json"))
    assert len(bundles) == 9
    res = ehrgen("validate", *map(str, bundles))
    assert res.returncode == 0, res.stdout + res.stderr


def test_delivery_into_hapi_is_accepted_idempotent_and_searchable(exported, fhir_sandbox, tmp_path):
    ids = _identifiers()
    patients = ["P001", "P008", "P010", "P011", "P012", "P013", "P014", "P015"]
    res = ehrgen("deliver", str(exported), "--fhir", fhir_sandbox, "--clinical", str(SD / "clinical"),
                 "--ledger", str(tmp_path / "l1.sqlite"), "--dead-letter", str(tmp_path / "dead"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (tmp_path / "dead").exists() or not any((tmp_path / "dead").iterdir())

    with httpx.Client(base_url=fhir_sandbox, timeout=60) as client:
        def counts() -> dict[str, int]:
            out = {}
            for p in patients:
                system, value = ids[p]
                subj = client.get("Patient", params={"identifier": f"{system}|{value}"}).json()
                assert subj["total"] == 1, p  # conditional create: one Patient per identifier
                pid = subj["entry"][0]["resource"]["id"]
                subject = f"Patient/{pid}"
                out[f"{p}:genotype"] = _count(client, "Observation", subject=subject, code="http://loinc.org|84413-4")
                out[f"{p}:obs"] = _count(client, "Observation", subject=subject)
                out[f"{p}:report"] = _count(client, "DiagnosticReport", subject=subject)
                out[f"{p}:task"] = _count(client, "Task", patient=subject)
            return out

        first = counts()
        # a second release with a fresh ledger really re-sends every bundle: nothing may be duplicated
        res = ehrgen("deliver", str(exported), "--fhir", fhir_sandbox, "--clinical", str(SD / "clinical"),
                     "--ledger", str(tmp_path / "l2.sqlite"), "--dead-letter", str(tmp_path / "dead2"))
        assert res.returncode == 0, res.stdout + res.stderr
        assert counts() == first

        # genotype per VCF gene (+ outside calls), one report per patient, implications for P001's clopidogrel
        system, value = ids["P001"]
        pid = client.get("Patient", params={"identifier": f"{system}|{value}"}).json()["entry"][0]["resource"]["id"]
        assert first["P001:genotype"] >= 19 and first["P001:report"] == 1
        bundle = client.get("Observation", params={"subject": f"Patient/{pid}", "code": "http://loinc.org|84413-4",
                                                    "_count": 100}).json()
        texts = [e["resource"].get("valueCodeableConcept", {}).get("text", "") for e in bundle.get("entry", [])]
        assert "*2/*2" in texts
        impl = client.get("Observation", params={
            "subject": f"Patient/{pid}", "_count": 200,
            "code": "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs|therapeutic-implication"}).json()
        assessed = json.dumps(impl)
        assert len(impl.get("entry", [])) >= 1 and "clopidogrel" in assessed.lower()

        # no consent: nothing about P016 on the server
        system, value = ids["P016"]
        assert client.get("Patient", params={"identifier": f"{system}|{value}"}).json()["total"] == 0
