"""The check behind the DPWG keys the oracle cannot match (tools/oracle_reporter.expected_rules): given
PharmCAT's own gene results, it selects the guideline recommendation by the guideline's keys. Runs without the
oracle; these cases show it can disagree with ehrgen (and where it must not)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "oracle_reporter.py"
spec = importlib.util.spec_from_file_location("oracle_reporter_left_out", TOOL)
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)  # type: ignore[union-attr]


def _group(ruleset, drug: str, gid: str):
    return [r for r in ruleset.for_drug(drug) if r.guideline_id == gid]


def _pc(label: str, phenotype: str | None = None, score: str | None = None, values=(None, None)):
    return [{"label": label, "phenotypes": [phenotype] if phenotype else [], "activityScore": score,
             "lookupKey": [score or phenotype], "values": list(values)}]


@pytest.mark.parametrize("values, want", [(["0.5", "0.5"], "PA166301783"), (["1.0", "0.0"], "PA166299175")])
def test_dpyd_score_one_split_by_its_alleles(ruleset, values, want):
    group = _group(ruleset, "fluorouracil", "PA166104939")
    got = oracle.expected_rules(group, {"DPYD": _pc("a/b", "Intermediate Metabolizer", "1.0", values)})
    assert [r.recommendation_id for r in got] == [want]


def test_cyp2c9_diplotype_key_wins_over_the_phenotype(ruleset):
    group = _group(ruleset, "warfarin", "PA166182842")
    got = oracle.expected_rules(group, {"CYP2C9": _pc("*1/*2", "Intermediate Metabolizer", "1.5")})
    assert [r.recommendation_id for r in got] == ["PA166299068"]
    got = oracle.expected_rules(group, {"CYP2C9": _pc("*1/*9", "Normal Metabolizer", "2.0")})
    assert [r.recommendation_id for r in got] == ["PA166299075"]


def test_hla_b_both_alleles_key_wins(ruleset):
    group = _group(ruleset, "carbamazepine", "PA166265162")
    got = oracle.expected_rules(group, {"HLA-B": _pc("*15:02/*15:11")})
    assert [r.recommendation_id for r in got] == ["PA166299116"]
    got = oracle.expected_rules(group, {"HLA-B": _pc("*15:11/*57:01")})
    assert [r.recommendation_id for r in got] == ["PA166299113"]
    assert oracle.expected_rules(group, {"HLA-B": _pc("*57:01/*58:01")}) == []


def test_a_tied_pharmcat_result_is_not_checked(ruleset):
    group = _group(ruleset, "warfarin", "PA166182842")
    assert oracle.expected_rules(group, {"CYP2C9": _pc("*1/*2") + _pc("*1/*3")}) is None
