"""Agreement with PharmCAT's published example reports.

The patient's calls are rebuilt from the report.json genes section; every drug PharmCAT annotates from a
CPIC or DPWG guideline must get a recommendation from us with the same classification (strength), per
guideline and population. PharmCAT's data (2025-11) is newer than our pinned 2.12.0 guideline files, so
guidelines absent from our files are listed explicitly (and must stay few).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehrgen.pgx.model import Diplotype, GeneCall, SampleCalls
from ehrgen.rules.engine import interpret
from tests.reference_data import REFERENCE

EXAMPLES = REFERENCE / "pharmcat-examples"
SECTIONS = {"CPIC Guideline Annotation": "CPIC", "DPWG Guideline Annotation": "DPWG"}
# guideline ids PharmCAT's newer data has and guidelines-2.12.0 lacks (NAT2/hydralazine, CPIC metoprolol,
# DPWG mavacamten/atazanavir/rosuvastatin, extra aminoglycosides)
NOT_IN_PINNED_DATA = {"PA166416341", "PA166341321", "PA166418081", "PA166411701", "PA166363221"}


def calls_from_report(report: dict) -> SampleCalls:
    genes: dict[str, GeneCall] = {}
    for symbol, g in report["genes"].items():
        dips = g.get("recommendationDiplotypes") or []
        if g.get("callSource") == "NONE" or not dips:
            genes[symbol] = GeneCall(symbol, "no_data")
            continue
        d = dips[0]
        a1 = (d.get("allele1") or {}).get("name")
        a2 = (d.get("allele2") or {}).get("name")
        phenos = [p for p in d.get("phenotypes") or [] if p and p != "n/a"]
        score = d.get("activityScore")
        score = score if score not in (None, "n/a", "No Result") else None
        diplotype = Diplotype(a1, a2, activity_values=[(d.get(k) or {}).get("activityValue") for k in ("allele1", "allele2")])
        is_hla = symbol.startswith("HLA-")
        genes[symbol] = GeneCall(
            symbol, "outside_call" if g.get("callSource") == "OUTSIDE" else "called", [diplotype],
            phenotype=None if is_hla or len(phenos) != 1 else phenos[0], activity_score=score,
            lookup={"diplotype": diplotype.name})
    return SampleCalls(sample=report["title"], genes=genes)


def pharmcat_annotations(report: dict):
    for section, source in SECTIONS.items():
        for drug, dd in report["drugs"].get(section, {}).items():
            for gl in dd.get("guidelines") or []:
                for a in gl.get("annotations") or []:
                    yield source, drug, gl["id"], a.get("population") or "general", a.get("classification")


def _ours(strength: str) -> str:
    # PharmCAT shows DPWG's unclassified advice as "Unspecified" (the annotation says "N/A"), and a phenotype
    # DPWG gives no advice for as "No recommendation"
    return {"N/A": "Unspecified", "": "No recommendation"}.get(strength, strength)


@pytest.mark.parametrize("name", ["pharmcat.example.report.json", "pharmcat.example2.report.json"])
def test_same_classification_as_pharmcat(name: str):
    report = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    calls = calls_from_report(report)
    recs = interpret(calls, "P1")
    index: dict[tuple, list] = {}
    for r in recs:
        index.setdefault((r.source, r.drug, r.guideline_id, r.population or "general"), []).append(r)
    compared, skipped, mismatches = 0, set(), []
    for source, drug, gid, population, classification in pharmcat_annotations(report):
        if gid in NOT_IN_PINNED_DATA or classification is None:
            skipped.add((source, drug))
            continue
        if population == "None":
            population = "general"
        got = index.get((source, drug, gid, population))
        if not got:
            mismatches.append(f"{source} {drug} {gid} [{population}]: no recommendation from us")
            continue
        strengths = {_ours(r.strength) for r in got}
        if classification not in strengths:
            mismatches.append(f"{source} {drug} [{population}]: PharmCAT {classification!r}, ours {sorted(strengths)} "
                              f"({got[0].action}, {got[0].phenotypes})")
        compared += 1
    assert not mismatches, "\n".join(mismatches)
    assert compared >= 60, compared
    assert {d for _, d in skipped} <= {"hydralazine", "metoprolol", "mavacamten", "atazanavir", "rosuvastatin",
                                       "warfarin"}


def test_example_hla_b_statuses_derived_like_pharmcat():
    report = json.loads((EXAMPLES / "pharmcat.example.report.json").read_text(encoding="utf-8"))
    calls = calls_from_report(report)
    recs = interpret(calls, "P1", ["abacavir", "allopurinol", "oxcarbazepine"], source="cpic")
    got = {r.drug: r.phenotypes["HLA-B"] for r in recs if r.population in ("general", "OXC naive")}
    assert got == {"abacavir": "*57:01 positive", "allopurinol": "*58:01 negative", "oxcarbazepine": "*15:02 positive"}
