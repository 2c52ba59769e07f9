"""Cohort summary: frequencies, the actionable share (the same definition as the report), medications."""

from __future__ import annotations

from ehrgen.report.cohort import build_cohort_summary, render_markdown, write_cohort_summary
from ehrgen.rules.engine import interpret
from ehrgen.rules.findings import count_findings

from tests.rules.conftest import gene, sample


def _people():
    pm = sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"), gene("CYP3A5", "Poor Metabolizer", dip="*3/*3"))
    nm = sample(gene("CYP2C19", "Normal Metabolizer", dip="*1/*1"), gene("CYP3A5", "Poor Metabolizer", dip="*3/*3"))
    pm.sample, nm.sample = "S1", "S2"
    return [pm, nm]


def test_counts_share_and_frequencies_agree_with_the_report_definition():
    people = _people()
    recs = [r for i, c in enumerate(people) for r in interpret(c, f"P{i + 1}")]
    model = build_cohort_summary(people, recs, {"S1": "P1", "S2": "P2"})
    assert model["people"] == 2
    per_person = {p: count_findings([r for r in recs if r.patient == p]).actionable for p in ("P1", "P2")}
    assert model["actionable"]["people"] == sum(1 for v in per_person.values() if v)
    cyp2c19 = next(g for g in model["genes"] if g["gene"] == "CYP2C19")
    assert {p["label"]: p["count"] for p in cyp2c19["phenotypes"]} == {"Poor Metabolizer": 1,
                                                                      "Normal Metabolizer": 1}
    assert any(d["drug"] == "clopidogrel" and d["people"] == 1 for d in model["drugs"])


def test_medication_share_and_no_identifiers_in_the_aggregate(tmp_path):
    people = _people()
    recs = [r for i, c in enumerate(people) for r in interpret(c, f"P{i + 1}")]
    model = build_cohort_summary(people, recs, {"S1": "P1", "S2": "P2"},
                                 medications={"P1": {"clopidogrel"}, "P2": {"clopidogrel"}})
    assert model["medications"]["taking_affected_drug"] == 1  # only the poor metabolizer is affected
    md = render_markdown(model)
    assert "P1" not in md and "S1" not in md
    write_cohort_summary(tmp_path, people, recs, None, {"S1": "P1", "S2": "P2"})
    assert (tmp_path / "cohort-summary.html").read_text().count("<svg") >= 1
