"""Memoised interpretation (ehrgen.rules.memo, the fast path of engine.interpret) gives exactly the records the
straightforward engine gives, in order, on the sample patients, the vendored 1000 Genomes slice and random result
sets: every source, both modes, with and without the alternatives screen, and across two rule sets in one process."""

from __future__ import annotations

import copy
import csv
from functools import lru_cache
from pathlib import Path

import pytest

from ehrgen import fastpath
from ehrgen.rules import memo
from ehrgen.rules.engine import default_ruleset, interpret
from ehrgen.paths import rules_dir
from ehrgen.rules.ruleset import load

ROOT = Path(__file__).resolve().parents[2]
SD = ROOT / "sample_data"
COHORT = ROOT / "tests" / "data" / "1kgp-pgx"
SOURCES = ("both", "cpic", "dpwg")
# what a medication list looks like: names, an RxNorm ingredient code, ATC codes (one shared by two ingredients),
# a drug without guideline rules, a guideline newer than the rule set, an unknown name, a repeat
DRUGS = ["clopidogrel", "32968", "R05DA04", "simvastatin", "N03AG01", "methadone", "rosuvastatin", "metoprolol",
         "warfarin", "fluorouracil", "abacavir", "nosuchdrug", "Clopidogrel", "siponimod", "tacrolimus"]


def _records(recs) -> list[dict]:
    return [dict(vars(r)) for r in recs]  # what the pipeline writes to recommendations.json


def _both(calls, patient: str, **kw) -> list[dict]:
    """The records from both paths (asserted equal, as dicts, in order)."""
    with fastpath.straightforward():
        plain = _records(interpret(calls, patient, **kw))
    fast = _records(interpret(calls, patient, **kw))
    assert fast == plain, (calls.sample, kw.get("source"), kw.get("mode"))
    return fast


def _all_settings(people, ruleset=None, rare_settings_for: int | None = None) -> int:
    """Every source in both modes for everyone; a drug list pre-emptively and no alternatives screen for the
    first `rare_settings_for` people (all by default): the straightforward engine is what makes this slow."""
    n = 0
    for i, (patient, calls) in enumerate(people):
        for source in SOURCES:
            n += len(_both(calls, patient, source=source, ruleset=ruleset))
            n += len(_both(calls, patient, drugs=DRUGS, source=source, mode="reactive", ruleset=ruleset))
        if rare_settings_for is None or i < rare_settings_for:
            n += len(_both(calls, patient, drugs=DRUGS, mode="preemptive", ruleset=ruleset))
            n += len(_both(calls, patient, ruleset=ruleset, screen_alternatives=False))
    return n


@lru_cache(maxsize=1)
def _sample_patients() -> tuple:
    from ehrgen.ingest.vcf import read_genotypes
    from ehrgen.pgx.caller import call_batch
    from ehrgen.pgx.definitions import load_definitions
    from ehrgen.pgx.outside import parse_outside_calls

    defs = load_definitions()
    out = []
    for row in csv.DictReader(open(SD / "manifest.csv", encoding="utf-8")):
        if row["expect"] != "ok":
            continue
        outside = {}
        if row.get("outside_calls"):
            outside[row["sample_id"]] = parse_outside_calls(SD / row["outside_calls"], defs)
        batch = read_genotypes(SD / row["vcf"], defs, samples=[row["sample_id"]])
        out.append((row["patient_id"], call_batch(batch, defs, outside, "0" * 64)[0]))
    return tuple(out)


@lru_cache(maxsize=1)
def _cohort() -> tuple:
    from ehrgen.ingest.vcf import read_genotypes
    from ehrgen.pgx.caller import call_batch
    from ehrgen.pgx.definitions import load_definitions

    defs = load_definitions()
    calls = call_batch(read_genotypes(next(COHORT.glob("*dense*.vcf.gz")), defs), defs)
    assert len(calls) == 300
    return tuple((f"P-{c.sample}", c) for c in calls)


def _random_patients(n: int) -> list:
    from tests.rules.test_alternatives import _random_patients as rnd

    return [(c.sample, c) for c in rnd(n)]


def _fresh_ruleset():
    """A rule set object of its own (its memo starts empty), so hit counts belong to this test."""
    return load(rules_dir())


def test_sample_patients_every_setting():
    people = _sample_patients()
    assert len(people) == 23
    assert _all_settings(people) > 23 * 150


def test_real_genotypes_every_setting():
    rs = _fresh_ruleset()
    assert _all_settings(_cohort(), rs, rare_settings_for=60) > 300 * 150
    s = memo.stats(rs)
    assert s["hits"] > 20 * s["misses"]  # the memo is used: people share per-gene results


def test_random_result_sets():
    """Outside calls, indeterminate and tied candidates, untested genes: what the cohort rarely has."""
    _all_settings(_random_patients(30))


def test_two_rule_sets_in_one_process_do_not_share_results(tmp_path):
    """A re-interpretation with edited rules (new version) interleaved with the current rules: each gives what
    the straightforward engine gives with its own rules."""
    from tests.rules.test_ruleset import _modified_copy

    old = default_ruleset()
    new = load(_modified_copy(tmp_path))
    assert new.version != old.version
    people = list(_cohort()[:60]) + list(_sample_patients())
    differ = 0
    for patient, calls in people:
        a = _both(calls, patient, ruleset=old)
        b = _both(calls, patient, ruleset=new)
        a2 = _both(calls, patient, ruleset=old)
        assert a2 == a
        differ += a != b
    assert differ  # the edit (clopidogrel strength, abacavir rule removed) shows: a leak would have hidden it


def test_same_rules_loaded_again_is_a_new_memo():
    one, two = _fresh_ruleset(), _fresh_ruleset()
    patient, calls = _cohort()[0]
    assert _records(interpret(calls, patient, ruleset=one)) == _records(interpret(calls, patient, ruleset=two))
    assert memo.stats(one)["misses"] and memo.stats(two)["misses"]


def test_a_mutated_record_does_not_change_the_next_result():
    rs = _fresh_ruleset()
    patient, calls = next((p, c) for p, c in _sample_patients() if p == "P001")  # alternatives, some withheld
    first = interpret(calls, patient, ruleset=rs)
    want = copy.deepcopy(_records(first))
    assert any(r.alternative_options for r in first)
    for r in first:  # what a caller might do to its records
        r.actionable = not r.actionable
        r.summary = "changed"
        r.patient = "someone else"
        r.genes.append("XYZ")
        r.phenotypes["XYZ"] = "changed"
        r.alternatives.append("aspirin")
        for o in r.alternative_options:
            o["offered"] = not o["offered"]
        r.alternative_options.append({"drug": "aspirin"})
    again = interpret(calls, patient, ruleset=rs)
    assert _records(again) == want
    assert not any(a is b for a, b in zip(first, again))
    # another patient with the same results gets the same advice under its own identifiers
    other = interpret(calls, "P999", ruleset=rs)
    assert [r["patient"] for r in _records(other)] == ["P999"] * len(want)
    assert [{**r, "patient": patient} for r in _records(other)] == want


def test_a_full_memo_is_replaced_and_results_stay_the_same(monkeypatch):
    """Bounded: with a tiny bound the memo is replaced again and again, also in the middle of a call (the
    alternatives screen's nested interpretations), and every result is still the straightforward one."""
    monkeypatch.setattr(memo, "MAX_ENTRIES", 40)
    rs = _fresh_ruleset()
    for patient, calls in _cohort()[:25]:
        _both(calls, patient, ruleset=rs)
        _both(calls, patient, drugs=DRUGS, mode="reactive", ruleset=rs)
    assert all(m.size() < 40 + 400 for m in rs.cache[memo._KEY].values())


def test_off_with_the_fast_path():
    rs = _fresh_ruleset()
    patient, calls = _cohort()[1]
    with fastpath.straightforward():
        interpret(calls, patient, ruleset=rs)
    assert memo._KEY not in rs.cache and "alternatives.screen" not in rs.cache
    interpret(calls, patient, ruleset=rs)
    assert memo.stats(rs)["misses"] > 0


def test_result_content_holds_every_field_the_engine_reads():
    """Two calls that differ in any field the engine reads get different keys; fields it never reads do not
    split the memo."""
    from dataclasses import replace

    from ehrgen.pgx.model import Diplotype, GeneCall

    base = GeneCall("CYP2C19", "called", [Diplotype("*1", "*2", activity_values=["1.0", "0.0"], phenotype="IM")],
                    phenotype="Intermediate Metabolizer", activity_score=None, lookup={"phenotype": "x"},
                    missing_positions=[1])
    k = memo.result_content(base)
    variants = [
        replace(base, status="ambiguous"), replace(base, phenotype="Poor Metabolizer"),
        replace(base, activity_score="1.0"), replace(base, lookup={"phenotype": "y"}),
        replace(base, lookup={"phenotype": "x", "fallback": "1"}), replace(base, missing_positions=[1, 2]),
        replace(base, diplotypes=[Diplotype("*1", "*3", activity_values=["1.0", "0.0"], phenotype="IM")]),
        replace(base, diplotypes=[Diplotype("*1", "*2", activity_values=["1.0", "0.5"], phenotype="IM")]),
        replace(base, diplotypes=[Diplotype("*1", "*2", activity_values=["1.0", "0.0"], phenotype="PM")]),
        replace(base, diplotypes=base.diplotypes * 2),
    ]
    assert len({k, *(memo.result_content(v) for v in variants)}) == len(variants) + 1
    unread = replace(base, warnings=["w"], phased=True, source="outside", missing_positions=[7])
    assert memo.result_content(unread) == k
    assert memo.result_content(None) is None


# ------------------------------------------------------------------ the recommendations.json round trip

def _roundtrip(recs) -> None:
    import json
    from dataclasses import asdict

    from ehrgen.pgx.output import json_text
    from ehrgen.rules.model import Recommendation

    written = json.loads(json_text({"recommendations": [dict(vars(r)) for r in recs]}))["recommendations"]
    for r, d in zip(recs, written):
        fast = r.to_dict()
        assert fast == asdict(r) and json.dumps(fast) == json.dumps(asdict(r))
        assert fast["genes"] is not r.genes and fast["phenotypes"] is not r.phenotypes
        assert all(a is not b for a, b in zip(fast["alternative_options"], r.alternative_options))
        with fastpath.straightforward():
            plain = Recommendation.from_dict(d)
            assert r.to_dict() == fast
        back = Recommendation.from_dict(d)
        assert type(back) is Recommendation and list(vars(back).items()) == list(vars(plain).items())
        assert back == r
        shuffled = dict(reversed(list(d.items())))  # every field, another order: still field order on the record
        assert list(vars(Recommendation.from_dict(shuffled)).items()) == list(vars(plain).items())
        # older files lack later fields, newer ones may hold unknown keys: both paths agree there too
        older = {k: v for k, v in d.items() if k not in ("not_in_ruleset", "alternatives_screened")}
        newer = {**d, "from_a_later_version": 1, "strength_graded": not d["strength_graded"]}
        for doc in (older, newer):
            with fastpath.straightforward():
                want = vars(Recommendation.from_dict(doc))
            assert vars(Recommendation.from_dict(doc)) == want


def test_recommendation_dicts_round_trip_the_same_on_both_paths():
    from ehrgen.rules.model import records_from_dicts

    for patient, calls in list(_sample_patients()) + list(_cohort()[:20]):
        recs = interpret(calls, patient)
        _roundtrip(recs)
        docs = [dict(vars(r)) for r in recs] + [{"patient": "P", "sample": "S"}]  # the last one is incomplete
        with pytest.raises(TypeError):
            records_from_dicts(docs)
        with fastpath.straightforward():
            plain = [vars(r) for r in records_from_dicts(docs[:-1])]
        assert [vars(r) for r in records_from_dicts(docs[:-1])] == plain == [vars(r) for r in recs]


def test_to_dict_falls_back_for_values_asdict_treats_otherwise():
    from dataclasses import asdict

    patient, calls = _sample_patients()[0]
    r = interpret(calls, patient)[0]
    r.alternative_options = [{"drug": "x", "codes": ("a", "b")}]  # a tuple stays a tuple in asdict
    assert r.to_dict() == asdict(r) and type(r.to_dict()["alternative_options"][0]["codes"]) is tuple
