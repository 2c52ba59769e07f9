"""Hand cases: each asserts action, alert and source for CPIC and DPWG where both have a guideline."""

from __future__ import annotations

from ehrgen.rules.engine import not_in_ruleset, interpret

from .conftest import by_source, gene, recs_for, sample


def _one(recs, source):
    got = by_source(recs, source)
    assert got, f"no {source} recommendation"
    return got


def test_clopidogrel_cyp2c19_poor_metabolizer_avoid_critical_both_sources():
    calls = sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"))
    recs = recs_for(calls, "clopidogrel")
    cpic = _one(recs, "CPIC")
    assert {r.population for r in cpic} == {"CVI ACS PCI", "CVI non-ACS non-PCI", "NVI"}
    for r in cpic:
        assert r.action in ("avoid", "use_alternative") and r.alert == "critical" and r.actionable
        assert r.guideline_url.startswith("https://cpicpgx.org/")
        assert r.rules_version.startswith("cpic-dpwg-2.12.0+ehrgen.")
    acs = next(r for r in cpic if r.population == "CVI ACS PCI")
    assert acs.strength == "Strong" and {"prasugrel", "ticagrelor"} <= set(acs.alternatives)
    (dpwg,) = _one(recs, "DPWG")
    assert dpwg.action == "avoid" and dpwg.alert == "critical" and dpwg.strength == "N/A"
    assert dpwg.phenotypes == {"CYP2C19": "Poor Metabolizer"}
    assert dpwg.rxnorm == "32968" and dpwg.atc and dpwg.atc.startswith("B01AC04")


def test_codeine_cyp2d6_ultrarapid_avoid():
    calls = sample(gene("CYP2D6", "Ultrarapid Metabolizer", "3.0", dip="*1/*1x2", status="outside_call"))
    recs = recs_for(calls, "codeine")
    (cpic,) = _one(recs, "CPIC")
    assert (cpic.action, cpic.alert, cpic.strength) == ("avoid", "critical", "Strong")
    assert cpic.phenotypes == {"CYP2D6": "3.0"}
    (dpwg,) = _one(recs, "DPWG")
    assert (dpwg.action, dpwg.alert) == ("avoid", "critical")


def test_activity_score_spelling_is_normalised():
    # "3" (integer spelling) must hit the guideline key "3.0"
    calls = sample(gene("CYP2D6", "Ultrarapid Metabolizer", "3", status="outside_call"))
    assert {r.action for r in recs_for(calls, "codeine")} == {"avoid"}


def test_simvastatin_slco1b1_poor_function():
    calls = sample(gene("SLCO1B1", "Poor Function", dip="*5/*5"))
    recs = recs_for(calls, "simvastatin")
    (cpic,) = _one(recs, "CPIC")
    assert (cpic.action, cpic.alert, cpic.strength) == ("use_alternative", "critical", "Strong")
    assert {"rosuvastatin", "pravastatin"} <= set(cpic.alternatives) or cpic.alternatives == []
    (dpwg,) = _one(recs, "DPWG")
    assert (dpwg.action, dpwg.alert) == ("use_alternative", "critical")


def _dpyd(score: str, values: list[str] | None, phenotype: str):
    return sample(gene("DPYD", phenotype, score, dip="c.1905+1G>A/Reference" if values else None,
                       activity_values=values))


def test_fluoropyrimidines_dpyd_activity_one_reduce_dose_50():
    calls = _dpyd("1.0", ["0.0", "1.0"], "Intermediate Metabolizer")
    for drug in ("capecitabine", "fluorouracil"):
        recs = recs_for(calls, drug)
        (cpic,) = _one(recs, "CPIC")
        assert (cpic.action, cpic.dose_percent, cpic.alert, cpic.strength) == ("reduce_dose", 50, "warning", "Strong")
        (dpwg,) = _one(recs, "DPWG")
        assert (dpwg.action, dpwg.dose_percent, dpwg.alert) == ("reduce_dose", 50, "warning")


def test_fluoropyrimidines_dpyd_activity_zero_avoid():
    calls = _dpyd("0.0", ["0.0", "0.0"], "Poor Metabolizer")
    for drug in ("capecitabine", "fluorouracil"):
        recs = recs_for(calls, drug)
        assert [(r.source, r.action, r.alert) for r in recs] == [("CPIC", "avoid", "critical"),
                                                                  ("DPWG", "avoid", "critical")]


def test_dpwg_dpyd_score_from_two_partial_alleles_needs_phenotyping():
    # DPWG keys score 1.0 twice: "(Intermediate Metabolizer)" and "(Phenotyping)" (0.5 + 0.5)
    calls = sample(gene("DPYD", "Intermediate Metabolizer", "1.0", dip="c.2846A>T/c.2846A>T",
                        activity_values=["0.5", "0.5"]))
    recs = recs_for(calls, "capecitabine")
    assert by_source(recs, "CPIC")[0].action == "reduce_dose"
    assert by_source(recs, "DPWG")[0].action == "test_recommended"
    unknown = sample(gene("DPYD", "Intermediate Metabolizer", "1.0"))  # allele values unknown
    (dpwg,) = by_source(recs_for(unknown, "capecitabine"), "DPWG")
    assert dpwg.action == "indeterminate" and dpwg.alert == "info" and "phenotyping" in dpwg.reason


def test_azathioprine_tpmt_poor():
    calls = sample(gene("TPMT", "Poor Metabolizer", dip="*3A/*3A"), gene("NUDT15", "Normal Metabolizer", dip="*1/*1"))
    recs = recs_for(calls, "azathioprine")
    (cpic,) = _one(recs, "CPIC")
    assert cpic.genes == ["NUDT15", "TPMT"]
    assert (cpic.action, cpic.alert, cpic.strength) == ("use_alternative", "critical", "Strong")
    dpwg = {r.guideline_id: r for r in _one(recs, "DPWG")}
    tpmt = next(r for r in dpwg.values() if r.genes == ["TPMT"])
    assert (tpmt.action, tpmt.alert) == ("use_alternative", "critical")
    nudt = next(r for r in dpwg.values() if r.genes == ["NUDT15"])
    assert not nudt.actionable and nudt.alert == "info"


def test_multigene_rule_needs_all_genes_and_uses_no_result_keys():
    # TPMT poor, NUDT15 untested: CPIC defines advice with NUDT15 "No Result" -> still confident, with a reason
    calls = sample(gene("TPMT", "Poor Metabolizer", dip="*3A/*3A"), gene("NUDT15", status="no_data"))
    (cpic,) = by_source(recs_for(calls, "azathioprine"), "CPIC")
    assert cpic.action == "use_alternative" and cpic.phenotypes["NUDT15"] == "not tested"
    assert "NUDT15" in cpic.reason


def test_warfarin_cyp2c9_star3_vkorc1_variant_dose_guidance():
    calls = sample(gene("CYP2C9", "Intermediate Metabolizer", "1.0", dip="*1/*3"),
                   gene("VKORC1", "-1639 AG", dip="rs9923231 reference (C)/rs9923231 variant (T)"))
    recs = recs_for(calls, "warfarin")
    (cpic,) = _one(recs, "CPIC")
    assert (cpic.action, cpic.alert) == ("reduce_dose", "warning")
    assert set(cpic.genes) >= {"CYP2C9", "VKORC1"}
    dpwg = _one(recs, "DPWG")
    c9 = next(r for r in dpwg if r.genes == ["CYP2C9"])
    # the diplotype-specific DPWG key (*1/*3) wins over the generic Intermediate Metabolizer key
    assert (c9.action, c9.dose_percent, c9.alert) == ("reduce_dose", 65, "warning")
    assert c9.phenotypes == {"CYP2C9": "*1/*3"}
    vk = next(r for r in dpwg if r.genes == ["VKORC1"])
    assert vk.action == "standard_dosing" and vk.alert == "info"


def test_warfarin_without_vkorc1_is_not_tested_for_cpic():
    calls = sample(gene("CYP2C9", "Intermediate Metabolizer", "1.0", dip="*1/*3"))
    (cpic,) = by_source(recs_for(calls, "warfarin"), "CPIC")
    assert cpic.action == "test_recommended" and "VKORC1" in cpic.reason


def test_abacavir_hla_b_5701_from_outside_diplotype():
    pos = sample(gene("HLA-B", dip="*57:01/*08:01", status="outside_call"))
    recs = recs_for(pos, "abacavir")
    assert [(r.source, r.action, r.alert) for r in recs] == [("CPIC", "avoid", "critical"), ("DPWG", "avoid", "critical")]
    assert recs[0].phenotypes == {"HLA-B": "*57:01 positive"}
    neg = sample(gene("HLA-B", dip="*44:02/*08:01", status="outside_call"))
    recs = recs_for(neg, "abacavir")
    assert [(r.source, r.action, r.alert) for r in recs] == [("CPIC", "standard_dosing", "info"),
                                                              ("DPWG", "no_recommendation", "info")]


def test_hla_candidates_disagreeing_on_the_keyed_allele_are_indeterminate():
    amb = sample(gene("HLA-B", candidates=[("*57:01/*08:01", None), ("*57:03/*08:01", None)], status="ambiguous"))
    (cpic,) = by_source(recs_for(amb, "abacavir"), "CPIC")
    assert cpic.action == "indeterminate" and cpic.alert == "info" and not cpic.strength


def test_tacrolimus_cyp3a5_expresser_increase_dose():
    calls = sample(gene("CYP3A5", "Normal Metabolizer", dip="*1/*1"))
    recs = recs_for(calls, "tacrolimus")
    (cpic,) = _one(recs, "CPIC")
    assert (cpic.action, cpic.alert, cpic.strength) == ("increase_dose", "warning", "Strong")
    (dpwg,) = _one(recs, "DPWG")
    assert (dpwg.action, dpwg.alert, dpwg.dose_percent) == ("increase_dose", "warning", 250)


def test_indeterminate_phenotype_gives_indeterminate_info_with_reason():
    calls = sample(gene("CYP2C19", "Indeterminate", candidates=[("*1/*2", "Intermediate Metabolizer"),
                                                               ("*1/*35", "Normal Metabolizer")], status="ambiguous"))
    recs = recs_for(calls, "clopidogrel")
    assert recs and all(r.action == "indeterminate" and r.alert == "info" for r in recs)
    assert {r.source for r in recs} == {"CPIC", "DPWG"}
    r = recs[0]
    # the guideline's own "Indeterminate" recommendation is cited (id, strength) but the advice stays indeterminate
    assert r.actionable and r.strength in ("", "No recommendation") and r.phenotypes == {"CYP2C19": "Indeterminate"}
    assert "phased data" in r.reason and "*2" in r.reason and "*35" in r.reason


def test_not_called_gene_is_indeterminate_not_standard():
    calls = sample(GeneCallNotCalled := gene("CYP2C19", status="not_called"))
    assert GeneCallNotCalled.status == "not_called"
    assert {r.action for r in recs_for(calls, "clopidogrel")} == {"indeterminate"}


def test_gene_without_data_gives_not_tested_record():
    calls = sample(gene("CYP2D6", status="no_data"))
    recs = recs_for(calls, "codeine")
    assert [(r.source, r.action, r.alert) for r in recs] == [("CPIC", "test_recommended", "info"),
                                                              ("DPWG", "test_recommended", "info")]
    assert recs[0].phenotypes == {"CYP2D6": "not tested"} and "CYP2D6" in recs[0].summary
    # absent from the calls entirely: same
    assert {r.action for r in recs_for(sample(), "codeine")} == {"test_recommended"}


def test_amitriptyline_needs_both_genes_for_confident_match():
    calls = sample(gene("CYP2C19", "Normal Metabolizer", dip="*1/*1"), gene("CYP2D6", "Poor Metabolizer", "0.0",
                                                                          status="outside_call"))
    (cpic,) = by_source(recs_for(calls, "amitriptyline"), "CPIC")
    assert cpic.action == "avoid" and cpic.phenotypes == {"CYP2C19": "Normal Metabolizer", "CYP2D6": "0.0"}


def test_sertraline_and_phenytoin_and_siponimod_multigene():
    calls = sample(gene("CYP2B6", "Poor Metabolizer", dip="*6/*6"), gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"),
                   gene("CYP2C9", "Poor Metabolizer", "0.0", dip="*3/*3"),
                   gene("HLA-B", dip="*15:02/*08:01", status="outside_call"))
    (sert,) = by_source(recs_for(calls, "sertraline"), "CPIC")
    assert sert.action == "use_alternative" and set(sert.phenotypes) == {"CYP2B6", "CYP2C19"}
    phen = by_source(recs_for(calls, "phenytoin"), "CPIC")
    naive = next(r for r in phen if r.population == "PHT naive")
    assert naive.action == "avoid" and naive.alert == "critical"
    (sip,) = by_source(recs_for(calls, "siponimod"), "DPWG")
    assert (sip.action, sip.alert) == ("avoid", "critical")


def test_preemptive_covers_every_rule_drug_and_reactive_only_alerts(ruleset):
    calls = sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"), gene("CYP2D6", "Normal Metabolizer", "2.0",
                                                                        status="outside_call"))
    recs = interpret(calls, "P1")
    # every drug with rules, plus the drugs whose guideline is newer than the pinned data (said, not silent)
    assert {r.drug for r in recs} == set(ruleset.drugs()) | {g.drug for g in not_in_ruleset()}
    assert all(r.patient == "P1" and r.sample == "S1" for r in recs)
    not_tested = {"test_recommended"}  # pre-emptively a gene not tested is listed, not a finding
    assert all(r.actionable == (r.action not in ("standard_dosing", "no_recommendation")
                                and not (r.action in not_tested and not r.rule_id)) for r in recs)
    assert any(r.action == "test_recommended" and not r.rule_id for r in recs)
    react = interpret(calls, "P1", ["clopidogrel", "codeine", "B01AC04"], mode="reactive")
    assert react and {r.drug for r in react} == {"clopidogrel"} and all(r.actionable for r in react)
    assert interpret(calls, "P1", ["codeine"], mode="reactive") == []  # normal metabolizer: nothing to alert
    # a proposed drug whose gene was not tested is an alert (test first) in reactive mode
    untested = interpret(sample(gene("CYP2C19", "Normal Metabolizer", dip="*1/*1")), "P1", ["codeine"],
                         mode="reactive")
    assert untested and all(r.action == "test_recommended" and r.actionable for r in untested)
    only_cpic = interpret(calls, "P1", ["clopidogrel"], source="cpic")
    assert {r.source for r in only_cpic} == {"CPIC"}


def test_requested_drug_without_rules_still_gets_a_record():
    recs = interpret(sample(), "P1", ["hydralazine"])
    assert len(recs) == 1 and recs[0].action == "no_recommendation" and recs[0].alert == "info"
    assert recs[0].reason


def test_dpwg_source_specific_lookup_key():
    # DPWG scores some CYP2D6 alleles differently; a caller may pass "dpwg_activity_score"
    g = gene("CYP2D6", "Intermediate Metabolizer", "1.0", status="outside_call")
    g.lookup = {"cpic_activity_score": "1.0", "dpwg_activity_score": "3.0"}
    g.activity_score = None
    recs = recs_for(sample(g), "codeine")
    assert by_source(recs, "DPWG")[0].action == "avoid"
    assert by_source(recs, "CPIC")[0].phenotypes == {"CYP2D6": "1.0"}


def test_phenotype_case_from_outside_calls_does_not_matter():
    calls = sample(gene("CYP2C19", "poor metabolizer", dip="*2/*2", status="outside_call"))
    assert {r.action for r in recs_for(calls, "clopidogrel")} == {"avoid"}


def test_unknown_function_allele_indeterminate_names_the_resolution():
    calls = sample(gene("TPMT", "Indeterminate", dip="*1/*29"), gene("NUDT15", "Normal Metabolizer", dip="*1/*1"))
    (cpic,) = by_source(recs_for(calls, "azathioprine"), "CPIC")
    assert cpic.action == "indeterminate" and cpic.alert == "info"
    assert "activity" in cpic.reason and "TPMT" in cpic.reason


def test_advice_text_never_depends_on_the_rules_version(tmp_path):
    """Re-interpretation delivers only patients whose advice changed: a new rules version alone (no rule
    edited) must give byte-identical advice, or every patient would be re-sent (found with the
    "not in this rule set" notes, which once quoted the version)."""
    import shutil
    from pathlib import Path

    from ehrgen.pipeline.stages import signature
    from ehrgen.rules import ruleset as rs
    from ehrgen.rules.engine import rules_dir

    src = Path(rules_dir())
    shutil.copytree(src, tmp_path / "rules")
    tsv = tmp_path / "rules" / "rules.tsv"
    tsv.write_text("\n".join(ln + "-bumped" if ln.startswith("# rules_version:") else ln
                             for ln in tsv.read_text().splitlines()) + "\n")
    bumped = rs.load(tsv)
    calls = sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"), gene("DPYD", score="1.0"),
                   gene("UGT1A1", "Normal Metabolizer", dip="*1/*1"))
    old = interpret(calls, "P1", ruleset=rs.load(src / "rules.tsv"))
    new = interpret(calls, "P1", ruleset=bumped)
    assert bumped.version != old[0].rules_version
    assert signature(old) == signature(new)
