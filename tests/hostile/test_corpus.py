"""Runs the hostile-input corpus (tests/hostile/cases_*.py): every case must give the expected error or
warning-plus-correct-result. The per-family counts are printed (pytest -s) and checked to cover every family."""

from __future__ import annotations

import pytest

from tests.hostile import cases_cds, cases_clinical, cases_manifest, cases_outside, cases_vcf
from tests.hostile.corpus import Case, counts

CASES: list[Case] = (cases_vcf.cases() + cases_outside.cases() + cases_clinical.cases() + cases_manifest.cases()
                     + cases_cds.cases())


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}:{c.id}" for c in CASES])
def test_hostile_case(case: Case, tmp_path):
    case.verify(case.run(tmp_path))


FAMILIES = {"vcf-genotype", "vcf-index", "vcf-build", "outside-call", "clinical-csv", "clinical-hl7",
            "clinical-fhir", "manifest", "cds-input"}


def test_counts_per_family(capsys):
    got = counts(CASES)
    with capsys.disabled():
        print("\nhostile corpus:", ", ".join(f"{f} {n}" for f, n in got.items()), f"(total {len(CASES)})")
    assert set(got) == FAMILIES and min(got.values()) >= 10 and len(CASES) >= 100
