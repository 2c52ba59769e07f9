"""Every gene call on PharmCAT's own example VCFs agrees with PharmCAT's report.tsv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from ehrgen.pgx.outside import parse_outside_calls
from tests.reference_data import REFERENCE

EX = REFERENCE / "pharmcat-examples"


def _report(path: Path) -> dict[str, dict[str, str]]:
    lines = path.read_text().splitlines()[1:]  # first line is PharmCAT's version
    return {r["Gene"]: r for r in csv.DictReader(lines, delimiter="\t")}


@pytest.mark.parametrize("name,outside", [
    ("pharmcat.example", "pharmcat.example.outsideCall.tsv"),
    ("pharmcat.example2", None),
])
def test_gene_calls_match_pharmcat_report(name: str, outside: str | None) -> None:
    defs = load_definitions()
    oc = {"Sample_1": parse_outside_calls(EX / outside, defs)} if outside else None
    vcf = EX / f"{name}.vcf"
    from cyvcf2 import VCF
    sample = VCF(str(vcf)).samples[0]
    if oc:
        oc = {sample: oc["Sample_1"]}
    calls = call_vcf(vcf, outside=oc)[0]
    expected = _report(EX / f"{name}.report.tsv")
    assert set(expected) <= set(calls.genes)
    for gene, row in expected.items():
        got = calls.genes[gene]
        assert got.diplotype_text == row["Source Diplotype"], gene
        assert (got.phenotype or "").strip() == row["Phenotype"].strip(), gene
        assert (got.activity_score or "") == row["Activity Score"], gene
        assert got.status == ("outside_call" if row["Outside Call"] == "yes" else "called"), gene
        if row["Outside Call"] == "no":
            assert sum(d.score for d in got.diplotypes) == int(row["Match Score"]), gene
        assert (len(got.missing_positions) > 0) == (row["Missing positions"] != "no"), gene


def test_multisample_example_runs_every_sample() -> None:
    calls = call_vcf(EX / "multisample.vcf")
    assert [c.sample for c in calls] == ["Sample_1", "Sample_2"]
    for c in calls:
        assert all(g.status == "called" for name, g in c.genes.items()
                   if load_definitions().genes[name].call_mode != "outside_only")
