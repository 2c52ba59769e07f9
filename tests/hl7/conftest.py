"""Inputs for the ORU tests: the sample patients (called from sample_data as the report tests do) and the vendored
300-person slice of real 1000 Genomes genotypes, each with a PatientRef and ReportContext."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ehrgen.fhir.bundle import PatientRef, ReportContext

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = ROOT / "sample_data"
COHORT = Path(__file__).resolve().parents[1] / "data" / "1kgp-pgx"
ISSUED = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _patient(i: int, pid: str) -> PatientRef:
    """Identifier systems of both kinds, and now and then an identifier with every delimiter in it."""
    system = "urn:oid:2.16.840.1.113883.19.5" if i % 2 else "https://ehr.example/mrn"
    value = f"MRN-{i:04d}" if i % 7 else f"MRN|{i}^&~\\x{{0}}"
    return PatientRef(pid, system, value)


def _context(i: int, rules_version: str) -> ReportContext:
    issued = ISSUED + timedelta(minutes=i)
    if i % 5 == 0:
        issued = issued.replace(tzinfo=None)  # a naive time is sent as UTC
    return ReportContext(ehrgen_version="0.1.0", rules_version=rules_version, input_sha256="ab" * 32,
                         issued=issued)


@pytest.fixture(scope="session")
def sample_patients():
    """[(calls, recs, patient, context)] for every sample patient whose input is valid."""
    from tests.report.helpers import sample_inputs

    rows = [r for r in csv.DictReader(open(SAMPLE_DATA / "manifest.csv")) if r["expect"] == "ok"]
    out = []
    for i, row in enumerate(rows):
        calls, recs, ctx = sample_inputs(row["patient_id"])
        out.append((calls, recs, _patient(i, row["patient_id"]), _context(i, ctx.ruleset.version)))
    return out


@pytest.fixture(scope="session")
def real_patients():
    """[(calls, recs, patient, context)] for the 300 people of the vendored slice (default rule set)."""
    from ehrgen.ingest.vcf import read_genotypes
    from ehrgen.pgx.caller import call_batch
    from ehrgen.pgx.definitions import load_definitions
    from ehrgen.rules.engine import default_ruleset, interpret

    defs = load_definitions()
    vcf = next(COHORT.glob("*dense*.vcf.gz"))
    calls = call_batch(read_genotypes(vcf, defs), defs)
    rs = default_ruleset()
    return [(c, interpret(c, f"P{i:04d}", ruleset=rs), _patient(i, f"P{i:04d}"), _context(i, rs.version))
            for i, c in enumerate(calls)]
