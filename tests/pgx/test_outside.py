"""Outside calls (PharmCAT's TSV format) for CYP2D6, HLA and overrides."""

from __future__ import annotations

import pytest

from ehrgen.errors import InputError
from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from ehrgen.pgx.outside import outside_gene_call, parse_outside_calls
from tests.pgx.vcf_factory import gene_records, write_vcf


def _tsv(tmp_path, text):
    p = tmp_path / "oc.tsv"
    p.write_text(text)
    return p


def test_cyp2d6_diplotype_gets_cpic_phenotype_and_score(tmp_path):
    defs = load_definitions()
    oc = parse_outside_calls(_tsv(tmp_path, "# comment\nCYP2D6\t*1/*1x2\n"), defs)
    gc = outside_gene_call(oc["CYP2D6"], defs.genes["CYP2D6"])
    assert gc.status == "outside_call" and gc.source == "outside"
    assert gc.phenotype == "Ultrarapid Metabolizer" and gc.activity_score == "3.0"
    assert gc.lookup == {"phenotype": "Ultrarapid Metabolizer", "activity_score": "3.0", "diplotype": "*1/*1x2"}


def test_activity_score_only(tmp_path):
    defs = load_definitions()
    oc = parse_outside_calls(_tsv(tmp_path, "CYP2D6\t\t\t0\n"), defs)
    gc = outside_gene_call(oc["CYP2D6"], defs.genes["CYP2D6"])
    assert gc.activity_score == "0.0" and gc.phenotype == "Poor Metabolizer"


def test_hla_diplotype_kept_as_given(tmp_path):
    defs = load_definitions()
    oc = parse_outside_calls(_tsv(tmp_path, "HLA-B\t*15:02/*57:01\n"), defs)
    gc = outside_gene_call(oc["HLA-B"], defs.genes["HLA-B"])
    assert gc.diplotype_text == "*15:02/*57:01" and gc.lookup["diplotype"] == "*15:02/*57:01"


def test_outside_call_overrides_vcf_gene_with_a_warning(tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", ["S0"], gene_records("CYP2C19", [("*1", "*2")]))
    defs = load_definitions()
    oc = parse_outside_calls(_tsv(tmp_path, "CYP2C19\t*2/*2\n"), defs)
    got = call_vcf(vcf, outside={"S0": oc})[0].genes["CYP2C19"]
    assert got.status == "outside_call" and got.phenotype == "Poor Metabolizer"
    assert any("overrides the VCF call" in w for w in got.warnings)


@pytest.mark.parametrize("text,msg", [
    ("NOTAGENE\t*1/*1\n", "unknown gene"),
    ("CYP2D6\n", "expected a diplotype"),
])
def test_bad_outside_call_lines_name_the_line(tmp_path, text, msg):
    with pytest.raises(InputError, match=msg) as exc:
        parse_outside_calls(_tsv(tmp_path, text), load_definitions())
    assert "oc.tsv:" in str(exc.value)


def test_non_numeric_activity_score_is_an_error_of_that_gene_only(tmp_path):
    defs = load_definitions()
    oc = parse_outside_calls(_tsv(tmp_path, "CYP2D6\t\t\tlots\nHLA-B\t*15:02/*57:01\n"), defs)
    gc = outside_gene_call(oc["CYP2D6"], defs.genes["CYP2D6"])
    assert gc.status == "not_called" and "not a number" in gc.warnings[0] and "lots" not in gc.warnings[0]
    assert outside_gene_call(oc["HLA-B"], defs.genes["HLA-B"]).status == "outside_call"
