"""FHIR Observations -> SampleCalls, round-tripped through ehrgen's own FHIR mapping; drug resolution."""

from __future__ import annotations

import pytest

from ehrgen.cds.drugs import default_resolver
from ehrgen.cds.observations import calls_from_observations
from ehrgen.pgx.model import SampleCalls
from tests.cds.helpers import RXNORM, gene_call, genotype_obs, implication_obs, searchset


@pytest.mark.parametrize("call, lookup", [
    (gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer"),
     {"phenotype": "Poor Metabolizer", "diplotype": "*2/*2"}),
    (gene_call("CYP2D6", ["*1/*1x2"], "Ultrarapid Metabolizer", activity="3.0"),
     {"phenotype": "Ultrarapid Metabolizer", "activity_score": "3.0", "diplotype": "*1/*1x2"}),
    (gene_call("CYP2C9", ["*1/*3"], "Intermediate Metabolizer", activity="1.0"),
     {"phenotype": "Intermediate Metabolizer", "activity_score": "1.0", "diplotype": "*1/*3"}),
])
def test_genotype_round_trip(call, lookup) -> None:
    calls = calls_from_observations(searchset([genotype_obs(call)]))
    got = calls.genes[call.gene]
    assert got.lookup == lookup
    assert got.status == "called" and got.phenotype == call.phenotype


def test_ambiguous_and_indeterminate() -> None:
    same = gene_call("CYP2C19", ["*1/*2", "*1/*3"], "Intermediate Metabolizer", status="ambiguous")
    ind = gene_call("CYP2B6", ["*1/*6", "*4/*9"], "Indeterminate", status="ambiguous")
    calls = calls_from_observations([genotype_obs(same), genotype_obs(ind)])
    assert calls.genes["CYP2C19"].status == "ambiguous"
    assert calls.genes["CYP2C19"].lookup == {"phenotype": "Intermediate Metabolizer"}  # agreed phenotype is usable
    assert calls.genes["CYP2B6"].phenotype == "Indeterminate" and calls.genes["CYP2B6"].lookup == {}


@pytest.mark.parametrize("status", ["no_data", "not_called"])
def test_data_absent_genotype_keeps_its_status(status: str) -> None:
    obs = genotype_obs(gene_call("CYP2C19", [], None, status=status))
    assert "dataAbsentReason" in obs
    got = calls_from_observations([obs]).genes["CYP2C19"]
    assert got.status == status and got.lookup == {}


def test_entered_in_error_is_ignored_and_untested_genes_are_absent() -> None:
    obs = {**genotype_obs(gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")), "status": "entered-in-error"}
    assert calls_from_observations([obs]).genes == {}


def test_implication_gives_phenotype_when_genotype_missing() -> None:
    pm = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")
    imps = implication_obs(SampleCalls("s", {"CYP2C19": pm}), "clopidogrel")
    got = calls_from_observations(imps).genes["CYP2C19"]
    assert got.lookup == {"phenotype": "Poor Metabolizer"}


@pytest.mark.parametrize("concept, expected", [
    ({"coding": [{"system": RXNORM, "code": "309362"}]}, ["clopidogrel"]),
    ({"coding": [{"system": RXNORM, "code": "32968"}]}, ["clopidogrel"]),
    ({"coding": [{"system": "http://www.whocc.no/atc", "code": "B01AC04"}]}, ["clopidogrel"]),
    ({"coding": [{"system": RXNORM, "code": "993781"}]}, ["codeine"]),
    ({"text": "Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet"}, ["codeine"]),
    ({"coding": [{"system": RXNORM, "code": "99999999", "display": "Plavix (clopidogrel) 75 mg"}]}, ["clopidogrel"]),
    ({"text": "paracetamol 500 mg"}, []),
])
def test_medication_resolution(concept, expected) -> None:
    assert default_resolver().resolve_concept(concept)[0] == expected


def test_product_table_ingredients_agree_with_drug_table() -> None:
    r = default_resolver()
    for p in r.products.values():
        d = r.table.drugs.get(p.ingredient)
        if d is not None:
            assert d.rxnorm == p.ingredient_rxcui, p


def test_score_filled_from_cpic_table_for_single_diplotype() -> None:
    """A lab that reports CYP2D6 *1/*1x2 as Ultrarapid without a score still gets the score CPIC codeine needs."""
    no_score = genotype_obs(gene_call("CYP2D6", ["*1/*1x2"], "Ultrarapid Metabolizer"))
    got = calls_from_observations([no_score]).genes["CYP2D6"]
    assert got.lookup["activity_score"] == "3.0"


def test_table_never_overrides_the_labs_phenotype() -> None:
    odd = genotype_obs(gene_call("CYP2D6", ["*1/*1x2"], "Normal Metabolizer"))
    got = calls_from_observations([odd]).genes["CYP2D6"]
    assert "activity_score" not in got.lookup and got.phenotype == "Normal Metabolizer"
