"""`ehrgen replay`'s comparison (ehrgen.pipeline.replay) and its title: a changed recommendation names each field
that differs with both values; the title is the replay's verdict, not the flow's Partially Failed state."""

from __future__ import annotations

import json
from pathlib import Path

from ehrgen.cli.replay import flow_caption, replay_verdict
from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.replay import compare, recommendation_differences
from ehrgen.pipeline.workdir import RunDirs
from ehrgen.rules.model import RECOMMENDATION_COLUMNS, Recommendation

COLS = ["sample", "drug", "source", "genes", "phenotypes", "action", "strength", "alert"]


def _row(drug="clopidogrel", source="CPIC", action="avoid", strength="Strong", alert="critical"):
    return ("S001", drug, source, "CYP2C19", "CYP2C19:Poor Metabolizer", action, strength, alert)


def test_changed_recommendation_names_the_fields_and_both_values():
    got = recommendation_differences(COLS, [_row()], [_row(action="standard_dosing", alert="info")])
    assert got == ["clopidogrel CPIC changed: action avoid -> standard_dosing, alert critical -> info"]


def test_unpaired_rows_are_missing_or_unexpected():
    got = recommendation_differences(COLS, [_row(drug="codeine")], [_row(drug="tramadol", source="DPWG")])
    assert got == ["missing recommendation S001 codeine CPIC CYP2C19",
                   "1 unexpected recommendation(s), e.g. S001 tramadol DPWG CYP2C19"]
    assert recommendation_differences(COLS, [], []) == []


def test_the_closest_produced_row_is_paired():
    # two rows for the same drug and source (two guideline populations): the one differing in fewer fields
    want = [_row(strength="Moderate")]
    have = [_row(action="standard_dosing", strength="Strong", alert="info"), _row(strength="Strong")]
    got = recommendation_differences(COLS, want, have)
    assert got[0] == "clopidogrel CPIC changed: strength Moderate -> Strong"
    assert got[1].startswith("1 unexpected")


def _rec(action: str) -> Recommendation:
    return Recommendation("P001", "S001", "clopidogrel", "CPIC", ["CYP2C19"], {"CYP2C19": "Poor Metabolizer"},
                          action, "Strong", "critical", "summary", "g", "https://cpicpgx.org/x", "v1")


def test_compare_reports_a_changed_action_from_the_files(tmp_path: Path):
    exp = tmp_path / "expected"
    exp.mkdir()
    (exp / "calls.tsv").write_text("sample\tgene\tdiplotypes\tstatus\nS017\tALL\t\tinput_error\n")
    row = _rec("use_alternative").row()
    (exp / "recommendations.tsv").write_text("\t".join(RECOMMENDATION_COLUMNS) + "\n"
                                             + "\t".join(row[k] for k in RECOMMENDATION_COLUMNS) + "\n")
    dirs = RunDirs(tmp_path / "run").make()
    (dirs.recommendations / "S001.recommendations.json").write_text(
        json.dumps({"sample": "S001", "recommendations": [_rec("avoid").to_dict()]}))
    outcomes = [SampleOutcome("S001", "P001", status="delivered", stage="deliver"),
                SampleOutcome("S017").fail("call", "bad VCF")]
    checks = {c.sample: c for c in compare(exp, dirs, outcomes)}
    assert checks["S017"].passed and checks["S017"].expected == "input_error"
    assert checks["S001"].problems == ["clopidogrel CPIC changed: action use_alternative -> avoid"]


def test_title_is_the_verdict_and_the_caption_explains_the_flow_state(tmp_path: Path):
    from ehrgen.pipeline.replay import SampleCheck

    checks = [SampleCheck("S001"), SampleCheck("S017", expected="input_error")]
    assert replay_verdict(24, 0) == "all 24 sample(s) pass"
    assert "Partially Failed" not in replay_verdict(24, 0)
    assert replay_verdict(24, 2) == "2 of 24 sample(s) FAIL"
    cap = flow_caption("Partially Failed", "partially failed: 1 of 24 sample(s) failed", checks)
    assert cap.startswith("pipeline flow run: Partially Failed") and cap.endswith("(input error): S017")
