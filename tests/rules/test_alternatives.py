"""Alternatives never harm: reviewed table invariants, and the per-patient check at the moment of advice.

Family of defects these catch: a suggested alternative that is itself avoid / use-alternative / indeterminate /
dose-changed for the same gene result (capecitabine for a DPD-deficient patient), a drug the guideline calls "not an
alternative", a suggestion with no recommendation id, and a switch that is fine for the guideline's gene but not for
this patient's other genes.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ehrgen.cds.cards import drug_card
from ehrgen.cds.drugs import default_resolver
from ehrgen.cds.orders import DraftOrder
from ehrgen.fhir.bundle import PatientRef, ReportContext, build_bundle
from ehrgen.hl7.oru import build_oru
from ehrgen.paths import rules_dir
from ehrgen.rules.alternatives import SAFE_FOR_PATIENT, screen, violations
from ehrgen.rules.engine import interpret
from ehrgen.rules.model import Recommendation

from .conftest import gene, sample

FLUOROPYRIMIDINES = {"fluorouracil", "capecitabine", "tegafur"}
SSRI_TCA = {"citalopram", "escitalopram", "sertraline", "paroxetine", "fluvoxamine", "fluoxetine", "amitriptyline",
            "clomipramine", "desipramine", "doxepin", "imipramine", "nortriptyline", "trimipramine", "venlafaxine",
            "mirtazapine", "duloxetine"}


def _table_rows() -> list[dict[str, str]]:
    lines = [ln for ln in (rules_dir() / "alternatives.tsv").read_text(encoding="utf-8").splitlines()
             if ln and not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


# ------------------------------------------------------------------ build-time invariants, on the shipped rules

def test_shipped_rules_break_no_alternative_invariant(ruleset):
    assert violations(ruleset.rules) == []
    assert sum(len(r.alternatives) for r in ruleset.rules) > 100  # the table is in use, not empty


def test_the_old_heuristic_failure_is_caught(ruleset):
    """DPWG fluorouracil, DPYD activity 0: the heuristic offered capecitabine (itself 'avoid' for DPYD 0)."""
    (fu,) = [r for r in ruleset.rules if r.source == "DPWG" and r.drug == "fluorouracil"
             and r.lookup == {"DPYD": "0.0"}]
    assert fu.alternatives == () and {"capecitabine", "tegafur"} <= set(fu.not_alternatives)
    bad = replace(fu, alternatives=("capecitabine",))
    found = violations([bad, *ruleset.rules])
    assert any("capecitabine" in v and "not an alternative" in v for v in found)
    assert any("capecitabine" in v and "avoid for the same result" in v for v in found)
    # a drug with a dose rule for the result may be offered only with its condition (never a plain switch)
    (ator,) = [r for r in ruleset.rules if r.rule_id.startswith("PA166297249/")]
    assert ator.alternatives == ("rosuvastatin",) and ator.alternative_conditions["rosuvastatin"]
    plain = replace(ator, alternative_conditions={})
    assert any("plain switch" in v for v in violations([plain, *ruleset.rules]))


def test_every_row_cites_a_recommendation_of_that_drug(ruleset):
    rows = _table_rows()
    assert rows and all(r["recommendation_id"].startswith("PA") for r in rows)
    ids = {(r.recommendation_id, r.drug) for r in ruleset.rules}
    assert all((r["recommendation_id"], r["drug"]) in ids for r in rows)
    offered = {(r["recommendation_id"], r["drug"], r["alternative"]) for r in rows if r["kind"] == "offer"}
    by_id = {(r.recommendation_id, r.drug): r for r in ruleset.rules}
    assert all(alt in by_id[(rid, d)].alternatives for rid, d, alt in offered)
    for rule in ruleset.rules:  # and nothing is offered that the table does not list
        assert {(rule.recommendation_id, rule.drug, a) for a in rule.alternatives} <= offered


def test_named_examples_from_the_issue(ruleset):
    def alts(source, drug, **lookup):
        return {a for r in ruleset.rules if r.source == source and r.drug == drug
                and all(r.lookup.get(g.replace("_", "-")) == v for g, v in lookup.items()) for a in r.alternatives}

    assert not alts("DPWG", "tegafur", DPYD="0.0") & FLUOROPYRIMIDINES
    assert not alts("DPWG", "tegafur", DPYD="1.5") & FLUOROPYRIMIDINES
    assert not alts("DPWG", "thioguanine", NUDT15="Poor Metabolizer") & {"mercaptopurine", "azathioprine"}
    assert "oxcarbazepine" not in alts("DPWG", "carbamazepine", HLA_B="*15:02 positive")
    for nsaid in ("meloxicam", "piroxicam", "tenoxicam"):
        assert not alts("CPIC", nsaid, CYP2C9="0.0")
    assert "escitalopram" not in alts("CPIC", "citalopram", CYP2C19="Ultrarapid Metabolizer")
    assert "citalopram" not in alts("CPIC", "escitalopram", CYP2C19="Poor Metabolizer")
    assert "desipramine" not in alts("DPWG", "imipramine", CYP2D6="3.0")
    assert "paliperidone" not in alts("DPWG", "risperidone", CYP2D6="3.0")  # the active metabolite, not an option
    assert {"prasugrel", "ticagrelor"} <= alts("CPIC", "clopidogrel", CYP2C19="Poor Metabolizer")


def test_none_named_says_so(ruleset):
    (pm,) = [r for r in interpret(sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2")), "P1", ["citalopram"],
                                  source="cpic")]
    assert pm.alternatives == [] and "no drug named" in pm.alternatives_note.lower()
    (um,) = interpret(sample(gene("CYP2D6", "Ultrarapid Metabolizer", "3.0", dip="*1/*1x2", status="outside_call")),
                      "P1", ["codeine"], source="cpic")
    assert um.action == "avoid" and um.alternatives == [] and "non-tramadol opioid" in um.alternatives_note


# ------------------------------------------------------------------ the per-patient check

def _double_poor():
    return sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"),
                  gene("CYP2D6", "Poor Metabolizer", "0.0", dip="*4/*4", status="outside_call"),
                  gene("CYP2B6", "Normal Metabolizer", dip="*1/*1"))


def test_cyp2c19_and_cyp2d6_poor_gets_no_affected_ssri_or_tca_switch():
    calls = _double_poor()
    recs = interpret(calls, "P1")
    withheld = []
    for r in recs:
        for alt in r.alternatives:  # every switch still offered must be clean for THIS patient
            theirs = interpret(calls, "P1", [alt])
            assert all(t.action in SAFE_FOR_PATIENT for t in theirs), (r.drug, r.source, alt)
        withheld += [(r.drug, o["drug"], o["reason"]) for o in r.alternative_options if not o["offered"]]
    # the check did work: SSRI/TCA options the guideline names were withheld, with the reason
    assert {a for _, a, _ in withheld} & SSRI_TCA
    assert all(reason.startswith("not offered as a switch") for _, _, reason in withheld)
    offered_ssri_tca = {a for r in recs for a in r.alternatives} & SSRI_TCA
    for alt in offered_ssri_tca:
        assert all(t.action in SAFE_FOR_PATIENT for t in interpret(calls, "P1", [alt]))


def test_screen_withholds_and_explains():
    calls = _double_poor()
    (imi,) = [r for r in interpret(calls, "P1", ["imipramine"], source="dpwg", screen_alternatives=False)
              if r.population in (None, "general", "None") and r.genes == ["CYP2C19"]]
    assert "nortriptyline" in imi.alternatives
    out = screen(imi, calls)
    assert "nortriptyline" not in out.alternatives  # CYP2D6 poor: nortriptyline is itself affected
    (nor,) = [o for o in out.alternative_options if o["drug"] == "nortriptyline"]
    assert not nor["offered"] and "nortriptyline is itself affected" in nor["reason"] and "CYP2D6" in nor["reason"]
    assert screen(out, calls) == out  # idempotent


def test_a_legacy_record_is_checked_too():
    """Records written before the reviewed table carry bare names: they are screened the same way."""
    calls = sample(gene("DPYD", None, "0.0", dip="c.1905+1G>A/c.1905+1G>A"))
    legacy = Recommendation(patient="P1", sample="S1", drug="fluorouracil", source="DPWG", genes=["DPYD"],
                            phenotypes={"DPYD": "0.0"}, action="avoid", strength="N/A", alert="critical",
                            summary="Avoid fluorouracil.", guideline_id="x", guideline_url="https://x",
                            rules_version="old", alternatives=["capecitabine"], actionable=True)
    out = screen(legacy, calls)
    assert out.alternatives == [] and not out.alternative_options[0]["offered"]


# ------------------------------------------------------------------ sample patient P004: DPYD poor, fluorouracil

@pytest.fixture(scope="module")
def p004():
    from ehrgen.pgx.caller import call_vcf

    vcf = Path(__file__).resolve().parents[2] / "sample_data" / "vcf" / "S004.vcf"
    (calls,) = call_vcf(vcf)
    return calls, interpret(calls, "P004")


def _named(text: str) -> set[str]:
    low = text.lower()
    return {d for d in FLUOROPYRIMIDINES if d in low}


def test_p004_report_records_offer_no_fluoropyrimidine(p004):
    calls, recs = p004
    assert calls.genes["DPYD"].activity_score in ("0.0", "0")
    fu = [r for r in recs if r.drug in FLUOROPYRIMIDINES]
    assert fu and any(r.action == "avoid" for r in fu)
    for r in fu:
        assert not set(r.alternatives) & FLUOROPYRIMIDINES
        assert not {o["drug"] for o in r.alternative_options if o["offered"]} & FLUOROPYRIMIDINES
    assert not any(set(r.alternatives) & FLUOROPYRIMIDINES for r in recs)  # no other drug offers one either
    # what the report reads (the recommendation JSON) round-trips unchanged
    again = [Recommendation.from_dict(json.loads(json.dumps(r.to_dict()))) for r in fu]
    assert [r.alternatives for r in again] == [r.alternatives for r in fu]


def test_p004_fhir_task_and_oru_offer_no_fluoropyrimidine(p004):
    calls, recs = p004
    ctx = ReportContext(ehrgen_version="t", rules_version=recs[0].rules_version, input_sha256="0" * 64,
                        issued=datetime(2026, 1, 1, tzinfo=timezone.utc))
    patient = PatientRef("P004", "urn:test", "P004")
    bundle = build_bundle(calls, recs, patient, ctx)
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"
             and e["resource"]["description"].startswith(tuple(FLUOROPYRIMIDINES))]
    assert tasks
    for t in tasks:
        alt_inputs = [i["valueString"] for i in t["input"] if i["type"]["text"] == "Alternatives"]
        assert not any(_named(a) - {t["description"].split(":")[0]} for a in alt_inputs)
        assert any(i["type"]["text"] == "Recommendation id" for i in t["input"])  # links the exact recommendation
    oru = build_oru(calls, recs, patient, ctx)
    for seg in oru.split("\r"):
        if "Alternatives named" in seg:
            assert not _named(seg.split("Alternatives named", 1)[1])


def test_p004_fluorouracil_card_names_no_fluoropyrimidine(p004):
    calls, recs = p004
    order = DraftOrder(resource={"resourceType": "MedicationRequest", "id": "o1", "status": "draft",
                                 "intent": "order", "subject": {"reference": "Patient/p4"}},
                       ingredients=["fluorouracil"])
    card, meta = drug_card("fluorouracil", order, [r for r in recs if r.drug == "fluorouracil"], calls,
                           default_resolver(), "order-select")
    assert card["indicator"] == "critical"
    assert not card.get("suggestions")
    options = card["detail"].split("Options the guideline names", 1)
    assert len(options) == 1 or not _named(options[1].split("\n")[0])
    assert meta.rule_ids and any(link["label"].startswith(("CPIC recommendation", "DPWG recommendation"))
                                 for link in card["links"])


# ------------------------------------------------------------------ the memoised check gives what a fresh run gives

def _random_patients(n: int):
    import importlib.util

    tool = Path(__file__).resolve().parents[2] / "tools" / "oracle_reporter.py"
    spec = importlib.util.spec_from_file_location("oracle_reporter_sets", tool)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return [mod.ehrgen_calls(r, f"R{i}") for i, r in enumerate(mod.random_sets(n, 3))]


def test_memoised_screen_equals_a_fresh_engine_run(ruleset):
    from ehrgen.rules.alternatives import _MEMO

    patients = [_double_poor(), *_random_patients(120)]
    ruleset.cache.pop(_MEMO, None)
    checks = 0
    for calls in patients:
        plain = interpret(calls, calls.sample, ruleset=ruleset, screen_alternatives=False)
        checks += sum(len(r.alternative_options) for r in plain)
        fresh = [screen(r, calls, ruleset, memo=False) for r in plain]
        memo = [screen(r, calls, ruleset) for r in plain]
        assert memo == fresh, calls.sample
        assert interpret(calls, calls.sample, ruleset=ruleset) == sorted(
            memo, key=lambda r: (r.alert != "critical", r.alert != "warning", r.drug, r.source, r.guideline_id,
                                 r.population or ""))
    entries = len(ruleset.cache[_MEMO])
    assert 0 < entries < checks / 3  # the memo is used: most checks repeat an (alternative, result) pair


def test_memo_tells_results_apart(ruleset):
    """Same alternative, different result of the gene it depends on: different answers (the key is not too coarse)."""
    from ehrgen.rules.alternatives import affected_by

    poor = _double_poor()
    normal = sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"),
                    gene("CYP2D6", "Normal Metabolizer", "2.0", dip="*1/*1", status="outside_call"))
    assert affected_by("nortriptyline", poor, ruleset)  # CYP2D6 poor: affected
    assert affected_by("nortriptyline", normal, ruleset) == ()
    assert affected_by("nortriptyline", poor, ruleset) == affected_by("nortriptyline", poor, ruleset, memo=False)
    # an unrelated gene does not split the memo: CYP2C9 plays no part in nortriptyline's advice
    other = sample(*poor.genes.values(), gene("CYP2C9", "Poor Metabolizer", "0.0", dip="*3/*3"))
    from ehrgen.rules.alternatives import _genes_for, result_key

    genes = _genes_for("nortriptyline", ruleset)
    assert "CYP2C9" not in genes and result_key(poor, genes) == result_key(other, genes)


# ------------------------------------------------------------------ CYP2C19 poor + CYP2D6 poor: every output

OFFERED = "Alternatives named by the guideline:"
WITHHELD = "Not offered as a switch:"


def _offered_in(text: str) -> set[str]:
    """Drugs a text offers as options: the 'Alternatives named by the guideline: ...' sentence (the one text the
    report, the Task and the ORU share), up to the sentences that say what was withheld."""
    out: set[str] = set()
    for chunk in text.split(OFFERED)[1:]:
        part = chunk.split(WITHHELD, 1)[0].split("<", 1)[0]  # in the HTML the sentence ends with its cell
        part = re.sub(r"\([^)]*\)", "", part)  # an option's condition may name the ordered drug
        out |= {d for d in SSRI_TCA | {"mirtazapine", "duloxetine"} if d in part.lower()}
    return out


def _oru_texts(message: str) -> list[str]:
    out = []
    for seg in message.split("\r"):
        f = seg.split("|")
        if f[0] == "OBX" and len(f) > 5:
            out.append(" ".join(f[5].split("~")))
    return out


@pytest.fixture(scope="module")
def double_poor_outputs():
    calls = _double_poor()
    recs = interpret(calls, "P1")
    ctx = ReportContext(ehrgen_version="t", rules_version=recs[0].rules_version, input_sha256="0" * 64,
                        issued=datetime(2026, 1, 1, tzinfo=timezone.utc))
    patient = PatientRef("P1", "urn:test", "P1")
    return calls, recs, build_bundle(calls, recs, patient, ctx), build_oru(calls, recs, patient, ctx)


def _safe(calls, drug: str) -> bool:
    return all(t.action in SAFE_FOR_PATIENT for t in interpret(calls, "P1", [drug]))


def test_double_poor_no_output_offers_an_affected_ssri_or_tca(double_poor_outputs):
    from ehrgen.report.clinician import build_report_model, render_html

    calls, recs, bundle, oru = double_poor_outputs
    withheld = {o["drug"] for r in recs for o in r.alternative_options if not o["offered"]} & SSRI_TCA
    assert {"nortriptyline", "citalopram", "sertraline"} <= withheld  # the guideline names them; this patient: no
    assert not any(_safe(calls, d) for d in withheld)

    model = build_report_model("P1", [calls], recs, {"version": recs[0].rules_version})
    html = render_html(model)
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    task_texts = [i["valueString"] for t in tasks for i in t["input"] if i["type"]["text"] == "Alternatives"]
    outputs = {
        "report": [row["alternatives_text"] for b in model["all_findings"] for row in b["rows"]] + [html],
        "Task": task_texts,
        "ORU": _oru_texts(oru),
    }
    for where, texts in outputs.items():
        offered = set().union(*(_offered_in(t) for t in texts))
        assert offered, where  # the outputs do offer options (mirtazapine, duloxetine)
        assert not offered & withheld, (where, offered & withheld)
        assert all(_safe(calls, d) for d in offered), where
        said = " ".join(texts)
        for d in ("nortriptyline", "citalopram", "sertraline"):  # and each says why instead
            if where == "report":  # every drug has its own row there: the withheld option points at it
                assert re.search(rf"Not offered as a switch: [^.(]*\b{d}\b[^.]*itself affected for this patient",
                                 said), (where, d)
            else:
                assert f"{d} is itself affected for this patient" in said, (where, d)


def _poor_and_ultrarapid():
    return sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"),
                  gene("CYP2D6", "Ultrarapid Metabolizer", "3.0", dip="*1/*1x2", status="outside_call"))


def _poor_and_cyp2d6_untested():
    return sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"))


@pytest.mark.parametrize("patient, drug, withheld", [
    (_double_poor, None, set()),  # no swap card names an SSRI/TCA for this patient: every switch must be clean
    (_poor_and_ultrarapid, "paroxetine", {"citalopram", "sertraline"}),  # DPWG: avoid -> both need CYP2C19
    (_poor_and_cyp2d6_untested, "amitriptyline", {"desipramine", "nortriptyline"}),  # CPIC -> both need CYP2D6
])
def test_cards_offer_no_affected_ssri_or_tca(patient, drug, withheld):
    calls = patient()
    recs = interpret(calls, "P1")
    resolver = default_resolver()
    named = 0
    drugs = [drug] if drug else sorted({r.drug for r in recs if r.actionable})
    for d in drugs:
        order = DraftOrder(resource={"resourceType": "MedicationRequest", "id": "o1", "status": "draft",
                                     "intent": "order", "subject": {"reference": "Patient/p1"}}, ingredients=[d])
        got = drug_card(d, order, [r for r in recs if r.drug == d], calls, resolver, "order-select")
        if not got:
            continue
        card, _ = got
        switches = {a["resource"]["medicationCodeableConcept"]["text"] for s in card.get("suggestions", [])
                    for a in s["actions"] if a["type"] == "create"}
        line = next((ln for ln in card["detail"].split("\n") if ln.startswith("**Options the guideline names")), "")
        options = {x for x in SSRI_TCA | {"mirtazapine", "duloxetine"} if x in line.lower()}
        named += len(switches | options)
        for alt in switches | options:
            assert _safe(calls, alt), (d, alt)
        assert not (switches | options) & withheld
        for w in withheld:  # the card says why instead
            assert f"{w} is itself affected for this patient" in card["detail"], (d, w)
    assert named or withheld  # the check had something to act on


def test_p004_rendered_report_task_and_oru_name_no_fluoropyrimidine_option(p004):
    """What the clinician reads (the rendered report), the Task and the ORU text, parsed the same way."""
    from ehrgen.report.clinician import build_report_model, render_html

    calls, recs = p004
    model = build_report_model("P004", [calls], recs, {"version": recs[0].rules_version})
    rows = [row for b in model["all_findings"] for row in b["rows"]]
    assert {r["drug"] for r in rows} >= {"fluorouracil", "capecitabine"}
    html = render_html(model)
    ctx = ReportContext(ehrgen_version="t", rules_version=recs[0].rules_version, input_sha256="0" * 64,
                        issued=datetime(2026, 1, 1, tzinfo=timezone.utc))
    patient = PatientRef("P004", "urn:test", "P004")
    tasks = [e["resource"] for e in build_bundle(calls, recs, patient, ctx)["entry"]
             if e["resource"]["resourceType"] == "Task"]
    texts = [html, *(r["alternatives_text"] for r in rows),
             *(i["valueString"] for t in tasks for i in t["input"] if i["type"]["text"] == "Alternatives"),
             *_oru_texts(build_oru(calls, recs, patient, ctx))]
    for t in texts:
        for chunk in t.split(OFFERED)[1:]:
            part = re.sub(r"\([^)]*\)", "", chunk.split(WITHHELD, 1)[0].split("<", 1)[0])
            assert not _named(part), part
    # the fluoropyrimidine rows say what the guideline says instead of naming a switch
    fu = [r for r in rows if r["drug"] in FLUOROPYRIMIDINES and r["action"] == "avoid"]
    assert fu and all(OFFERED not in r["alternatives_text"] for r in fu)
