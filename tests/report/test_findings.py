"""One definition of a finding and its counts (ehrgen.rules.findings), and the display labels."""

from __future__ import annotations

from ehrgen.rules.engine import default_ruleset
from ehrgen.rules.findings import (
    count_findings, drug_findings, known_population, population_label, strength_label,
)
from ehrgen.rules.model import Recommendation


def _rec(drug, source, alert, actionable=True, population="general", action="avoid", strength="Strong"):
    return Recommendation(patient="P", sample="S", drug=drug, source=source, genes=["CYP2C19"],
                          phenotypes={"CYP2C19": "Poor Metabolizer"}, action=action, strength=strength,
                          alert=alert, summary="", guideline_id="g", guideline_url="https://example.org",
                          rules_version="1", actionable=actionable, population=population)


def test_one_finding_per_drug_across_sources_and_populations():
    recs = [_rec("clopidogrel", "CPIC", "critical", population=p) for p in ("CVI ACS PCI", "NVI", "CVI non-ACS non-PCI")]
    recs += [_rec("clopidogrel", "DPWG", "critical", strength="N/A"), _rec("citalopram", "DPWG", "warning"),
             _rec("citalopram", "CPIC", "warning"), _rec("simvastatin", "CPIC", "info", actionable=False,
                                                         action="standard_dosing")]
    found = drug_findings(recs)
    assert [f.drug for f in found] == ["clopidogrel", "citalopram"]
    assert found[1].sources == ("CPIC", "DPWG")  # CPIC first whatever the input order
    c = count_findings(recs)
    assert (c.actionable, c.critical, c.warning, c.info, c.recommendations, c.drugs_checked) == (2, 1, 1, 0, 6, 3)
    assert c.headline() == "2 drugs with actionable findings (1 critical, 1 warning)"


def test_info_level_actionable_advice_is_counted_everywhere():
    """The P001 22-vs-21 defect: CPIC ivacaftor 'avoid' at alert info was counted by the report, not the terminal."""
    recs = [_rec("clopidogrel", "CPIC", "critical"), _rec("ivacaftor", "CPIC", "info")]
    c = count_findings(recs)
    assert (c.actionable, c.critical, c.info) == (2, 1, 1)
    assert "1 info" in c.headline()


def test_most_severe_alert_wins_and_unknown_levels_are_info():
    f = drug_findings([_rec("x", "CPIC", "warning"), _rec("x", "DPWG", "critical"), _rec("y", "CPIC", "weird")])
    assert [(d.drug, d.alert) for d in f] == [("x", "critical"), ("y", "info")]
    assert count_findings([]).headline() == "No actionable findings"


def test_strength_in_the_guidelines_terms_or_not_graded():
    assert strength_label("Strong") == "Strong" and strength_label("Optional") == "Optional"
    assert strength_label("N/A") == strength_label("") == strength_label(None) == "not graded"
    assert strength_label("No recommendation") == "No recommendation"


def test_every_population_in_the_rules_has_words():
    pops = {r.population for r in default_ruleset().rules}
    assert pops and all(known_population(p) for p in pops), sorted(p for p in pops if not known_population(p))
    assert population_label("general") == ""
    assert population_label("CVI ACS PCI").startswith("Cardiovascular use: acute coronary syndrome")
    assert population_label("child >40kg_adult") == "Adults and children over 40 kg"
    for p in pops:  # no raw code comes through
        label = population_label(p)
        assert label != p and ">" not in label and "_" not in label, (p, label)
