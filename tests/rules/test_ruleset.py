"""Rule table: version and hash recorded, load errors, diff on a modified copy, generator spot checks."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from ehrgen.errors import InputError
from ehrgen.paths import rules_dir
from ehrgen.rules.ruleset import RULE_COLUMNS, affected_drugs, alert_for, diff, load, normalise_key_value


def test_version_and_content_hash_match_the_body(ruleset):
    assert ruleset.version.startswith("cpic-dpwg-2.12.0+ehrgen.")
    text = (rules_dir() / "rules.tsv").read_text(encoding="utf-8")
    body = "".join(ln + "\n" for ln in text.splitlines() if not ln.startswith("#"))
    assert hashlib.sha256(body.encode()).hexdigest() == ruleset.content_sha256


def test_one_rule_per_recommendation_and_drug(ruleset):
    ids = Counter(r.rule_id for r in ruleset.rules)
    assert max(ids.values()) == 1
    assert len(ruleset.rules) > 2500
    assert {r.source for r in ruleset.rules} == {"CPIC", "DPWG"}
    actions = Counter(r.action for r in ruleset.rules)
    assert set(actions) <= {"avoid", "use_alternative", "reduce_dose", "increase_dose", "standard_dosing",
                            "monitor", "test_recommended", "no_recommendation"}
    overridden = {(r.source, r.drug, json.dumps(r.lookup, sort_keys=True)) for r in ruleset.rules
                  if r.alert != alert_for(r.action, r.strength)}
    # only the reviewed overrides in rules/alert_overrides.tsv depart from the documented derivation
    assert overridden == {("CPIC", "ivacaftor", json.dumps({"CFTR": "ivacaftor non-responsive in CF patients"}))}
    for r in ruleset.rules:
        assert r.summary and r.drug in r.summary.lower()
        assert r.guideline_url.startswith("https://")


def test_summaries_are_not_guideline_text(ruleset):
    # the table must not carry the guideline prose: summaries come from short templates
    assert max(len(r.summary) for r in ruleset.rules) < 400


@pytest.mark.parametrize("raw,expected", [
    ("1", ("1.0", None)), ("1.0", ("1.0", None)), ("≥3.0", ("≥3.0", None)), ("0.25", ("0.25", None)),
    ("1.0 (Phenotyping)", ("1.0", "Phenotyping")), ("2.0 (Normal Metabolizer)", ("2.0", "Normal Metabolizer")),
    ({"*1": 1.0, "*3": 1.0}, ("dip:*1/*3", None)), ({"*3": 2.0}, ("dip:*3/*3", None)),
    ("1511 and 1502", ("*15:02 positive & *15:11 positive", None)), ("Poor Metabolizer", ("Poor Metabolizer", None)),
])
def test_key_normalisation(raw, expected):
    assert normalise_key_value(raw) == expected


def _modified_copy(tmp_path: Path) -> Path:
    src = (rules_dir() / "rules.tsv").read_text(encoding="utf-8").splitlines()
    cols = None
    out = []
    removed = changed = 0
    for ln in src:
        if ln.startswith("#") or not ln:
            out.append(ln.replace("+ehrgen.", "+ehrgen.test") if "rules_version" in ln else ln)
            continue
        if cols is None:
            cols = ln.split("\t")
            out.append(ln)
            continue
        f = dict(zip(cols, ln.split("\t")))
        if f["rule_id"] == "PA166297571/clopidogrel":
            f["strength"] = "Moderate"
            f["alert"] = "critical"
            changed += 1
        if f["rule_id"].startswith("PA166296758/"):  # abacavir *57:01 negative
            removed += 1
            continue
        out.append("\t".join(f[c] for c in cols))
    new = dict(f)
    new["rule_id"] = "NEW-1/clopidogrel"
    new["drug"] = "clopidogrel"
    out.append("\t".join(new[c] for c in cols))
    assert changed == 1 and removed == 1
    p = tmp_path / "rules.tsv"
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p


def test_diff_on_modified_copy(ruleset, tmp_path):
    new = load(_modified_copy(tmp_path))
    assert new.version != ruleset.version
    changes = diff(ruleset, new)
    kinds = {(c.kind, c.rule_id): c for c in changes}
    assert set(kinds) == {("changed", "PA166297571/clopidogrel"), ("removed", "PA166296758/abacavir"),
                          ("added", "NEW-1/clopidogrel")}
    ch = kinds[("changed", "PA166297571/clopidogrel")]
    assert ch.fields == ["strength"] and ch.to_dict()["old"] == {"strength": "Strong"}
    assert affected_drugs(changes) == {"clopidogrel", "abacavir"}
    assert diff(ruleset, ruleset) == []


def test_load_reports_file_and_line(tmp_path):
    p = tmp_path / "rules.tsv"
    p.write_text("# rules_version: x\n" + "\t".join(RULE_COLUMNS) + "\nonly\ttwo\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load(p)
    assert f"{p}:3" in str(exc.value) and "tab-separated" in str(exc.value)
    with pytest.raises(InputError):
        load(tmp_path / "missing")


# the generator's reproduction test: tests/tools/test_generators.py
