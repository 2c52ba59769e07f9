#!/usr/bin/env python3
"""ehrgen's matched recommendations against PharmCAT's two published example reports, per (source, drug).

    python tools/pharmcat_examples.py [--examples DIR] [--show N]

Input: PharmCAT's example VCFs, the outside-call file of example 1, and PharmCAT's report.json for each
(`../shared/reference/pharmcat-examples`; a vendored copy is in tests/data/reference/pharmcat-examples). ehrgen
runs end to end on the same inputs (its own calling of the VCF, the same outside calls, the rules engine with
the per-patient alternatives check), and for every (source, drug) PharmCAT lists under its CPIC or DPWG
guideline annotations the two sets of matched recommendations must be equal:

- guideline id and population;
- lookup key, gene by gene: equal, or the same gene result spelled the other way (PharmCAT's 2025-11 data keys
  some results on the activity score where the pinned guidelines-2.12.0 keys them on the phenotype; the annotation
  gives both, so "CYP2C9 2.0" and "CYP2C9 Normal Metabolizer" are one result);
- classification as shown to a clinician: CPIC's term, DPWG "Unspecified" shown as "not graded",
  "No recommendation" entries present on both sides;
- the recommendation id (guidelines-2.12.0) of every match;
- a guideline PharmCAT's newer data has and the pinned data lacks: ehrgen must say "guideline not in this rule
  set" under the same guideline id (never stay silent).

A (source, drug) PharmCAT lists with no matched annotation must get no matched recommendation from ehrgen either.

Explained differences (README, "Decision support") are listed in EXPLAINED with the reason; anything else is
printed and makes the exit code 1. PharmCAT's published reports were made with PharmCAT's own newer data, so
this compares the *structure* of the advice, not the pinned data's version (tools/oracle_reporter.py compares
against PharmCAT's reporter over the pinned data itself).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ehrgen.paths import reference_dir  # noqa: E402
from ehrgen.pgx.caller import call_vcf  # noqa: E402
from ehrgen.pgx.definitions import load_definitions  # noqa: E402
from ehrgen.pgx.outside import parse_outside_calls  # noqa: E402
from ehrgen.rules.engine import default_ruleset, interpret  # noqa: E402
from ehrgen.rules.findings import NOT_GRADED, strength_label  # noqa: E402
from ehrgen.rules.model import Recommendation  # noqa: E402
from ehrgen.rules.ruleset import normalise_key_value  # noqa: E402

SHARED_EXAMPLES = reference_dir() / "pharmcat-examples"
SECTIONS = {"CPIC Guideline Annotation": "CPIC", "DPWG Guideline Annotation": "DPWG"}
# (report, VCF sample, outside-call file or None)
EXAMPLES = (("pharmcat.example", "Sample_1", "pharmcat.example.outsideCall.tsv"),
            ("pharmcat.example2", "Sample_2", None))
AMINOGLYCOSIDES = ("amikacin", "gentamicin", "kanamycin", "paromomycin", "plazomicin", "streptomycin", "tobramycin")
# (example, source, drug) -> why the difference is not a defect; each is explained in README "Decision support"
EXPLAINED: dict[tuple[str, str, str], str] = {
    **{(ex, "CPIC", "warfarin"): "CPIC warfarin: PharmCAT gives no classification (the guideline is a dosing "
       "algorithm); ehrgen's curated rules say whether a lower dose is expected" for ex, _, _ in EXAMPLES},
    **{("pharmcat.example", "CPIC", d): "MT-RNR1 '1555A>G' in the outside-call file: PharmCAT calls it an "
       "undocumented variant (phenotype n/a) and matches nothing; ehrgen reads it as m.1555A>G, the allele CPIC's "
       "table names (increased risk of aminoglycoside-induced hearing loss)" for d in AMINOGLYCOSIDES},
}


@dataclass(frozen=True)
class Match:
    """One matched recommendation, as compared."""

    guideline_id: str
    population: str
    key: tuple[tuple[str, tuple[str, ...]], ...]  # gene -> every spelling of the same result (lower case)
    classification: str  # as shown: CPIC term, "not graded", "no recommendation", "not in this rule set"
    recommendation_id: str = ""

    def show(self) -> str:
        key = ", ".join(f"{g}={'|'.join(v)}" for g, v in self.key) or "-"
        rid = f" {self.recommendation_id}" if self.recommendation_id else ""
        pop = "" if self.population == "general" else f" [{self.population}]"
        return f"{self.guideline_id}{rid}{pop} {{{key}}} {self.classification}"


@dataclass
class PairResult:
    example: str
    source: str
    drug: str
    verdict: str  # equal | not_in_ruleset | silent | explained | differ
    theirs: list[Match] = field(default_factory=list)
    ours: list[Match] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        t = "; ".join(m.show() for m in self.theirs) or "none"
        o = "; ".join(m.show() for m in self.ours) or "none"
        return f"{self.example} {self.source} {self.drug}: PharmCAT [{t}] ehrgen [{o}]" + (
            f" -- {self.note}" if self.note else "")


# ------------------------------------------------------------------ shared normalisation

def _value(v: Any) -> str:
    return normalise_key_value(v)[0].lower()


def _population(p: str | None) -> str:
    return "general" if p in (None, "", "None") else p


def _pharmcat_label(classification: str | None) -> str:
    """PharmCAT's classification in ehrgen's display vocabulary (DPWG's ungraded advice: 'Unspecified')."""
    c = (classification or "").strip()
    return NOT_GRADED if c.lower() in ("unspecified", "n/a", "") else c.lower()


def recommendation_ids() -> dict[tuple, str]:
    """(guideline id, drug, population, ((gene, value), ...)) -> recommendation id, from guidelines-2.12.0."""
    out: dict[tuple, str] = {}
    folder = reference_dir() / "guidelines-2.12.0"  # absent in a user's clone: ids are then not cross-checked
    for f in sorted(folder.glob("*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        g = d["guideline"]
        for rec in d.get("recommendations") or []:
            chems = [c["name"].lower() for c in rec.get("relatedChemicals") or g.get("relatedChemicals") or []]
            key = tuple(sorted((gene, _value(v)) for gene, v in (rec.get("lookupKey") or {}).items()))
            for drug in chems:
                out[(g["id"], drug, _population(rec.get("population")), key)] = rec["id"]
    return out


# ------------------------------------------------------------------ PharmCAT side

def pharmcat_guidelines(report: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(source, drug) -> the guideline ids PharmCAT lists for it, matched or not."""
    return {(source, drug): {gl["id"] for gl in dd.get("guidelines") or []}
            for section, source in SECTIONS.items()
            for drug, dd in (report.get("drugs", {}).get(section) or {}).items()}


def pharmcat_matches(report: dict[str, Any], ids: dict[tuple, str]) -> dict[tuple[str, str], list[Match]]:
    """Every (source, drug) PharmCAT lists under a CPIC/DPWG guideline, with its matched annotations."""
    out: dict[tuple[str, str], list[Match]] = {}
    for section, source in SECTIONS.items():
        for drug, dd in (report.get("drugs", {}).get(section) or {}).items():
            matches = out.setdefault((source, drug), [])
            for gl in dd.get("guidelines") or []:
                for a in gl.get("annotations") or []:
                    pop = _population(a.get("population"))
                    phen = a.get("phenotypes") or {}
                    score = a.get("activityScore") or {}
                    for lk in a.get("lookupKey") or [{}]:
                        key = []
                        for gene, v in sorted(lk.items()):
                            spell = {_value(v)}
                            for other in (phen.get(gene), score.get(gene)):
                                if other and other != "n/a":  # the same result spelled the other way
                                    spell.add(_value(other))
                            key.append((gene, tuple(sorted(spell))))
                        rid = next((ids[k] for k in _id_keys(gl["id"], drug, pop, key) if k in ids), "")
                        matches.append(Match(gl["id"], pop, tuple(key), _pharmcat_label(a.get("classification")),
                                             rid))
    return out


def _id_keys(gid: str, drug: str, pop: str, key: list[tuple[str, tuple[str, ...]]]) -> list[tuple]:
    combos: list[tuple] = [()]
    for gene, spellings in key:
        combos = [c + ((gene, s),) for c in combos for s in spellings]
    return [(gid, drug, pop, tuple(sorted(c))) for c in combos]


# ------------------------------------------------------------------ ehrgen side

def ehrgen_recommendations(examples_dir: Path, name: str, sample: str, outside: str | None) -> list[Recommendation]:
    """ehrgen end to end on one example: its own calls from the VCF (+ outside calls), then the rules engine."""
    defs = load_definitions()
    oc = {sample: parse_outside_calls(examples_dir / outside, defs)} if outside else None
    (calls,) = call_vcf(examples_dir / f"{name}.vcf", outside=oc, definitions=defs)
    return interpret(calls, sample)


def ehrgen_matches(recs: list[Recommendation]) -> dict[tuple[str, str], list[Match]]:
    """ehrgen's matched recommendations per (source, drug): a record citing a rule, or 'not in this rule set'."""
    by_id = default_ruleset().by_id_cached()
    out: dict[tuple[str, str], list[Match]] = {}
    for r in recs:
        if r.not_in_ruleset:
            out.setdefault((r.source, r.drug), []).append(Match(r.guideline_id, "general", (), "not in this rule set"))
            continue
        rule = by_id.get(r.rule_id) if r.rule_id else None
        if rule is None:
            continue  # no guideline recommendation matched (no_recommendation / not tested rows): nothing to compare
        key = tuple(sorted((g, (_value(v),)) for g, v in rule.lookup.items()))
        out.setdefault((r.source, r.drug), []).append(
            Match(r.guideline_id, _population(r.population), key, strength_label(r.strength).lower(),
                  r.recommendation_id))  # the strength as every output shows it (DPWG's ungraded: "not graded")
    return out


# ------------------------------------------------------------------ comparison

def _same(a: Match, b: Match) -> bool:
    """Same recommendation: ids, population, the same result for every gene, the same shown classification."""
    if (a.guideline_id, a.population, a.classification) != (b.guideline_id, b.population, b.classification):
        return False
    if a.recommendation_id and b.recommendation_id and a.recommendation_id != b.recommendation_id:
        return False
    ka, kb = dict(a.key), dict(b.key)
    return set(ka) == set(kb) and all(set(ka[g]) & set(kb[g]) for g in ka)


def _equal_sets(theirs: list[Match], ours: list[Match]) -> bool:
    left = list(ours)
    for t in theirs:
        hit = next((o for o in left if _same(t, o)), None)
        if hit is None:
            return False
        left.remove(hit)
    return not left


def compare_example(name: str, theirs: dict[tuple[str, str], list[Match]],
                    ours: dict[tuple[str, str], list[Match]], not_in_ruleset: set[str],
                    listed: dict[tuple[str, str], set[str]] | None = None) -> list[PairResult]:
    """One verdict per (source, drug) either side names. `listed`: the guideline ids PharmCAT lists per pair."""
    out = []
    listed = listed or {}
    for source, drug in sorted(set(theirs) | set(ours)):
        t, o = theirs.get((source, drug), []), ours.get((source, drug), [])
        res = PairResult(name, source, drug, "differ", t, o)
        gids_t = {m.guideline_id for m in t}
        gids_o = {m.guideline_id for m in o}
        only_missing = bool(o) and all(m.classification == "not in this rule set" for m in o) \
            and gids_o <= not_in_ruleset
        if not t and not o:
            res.verdict = "silent"
        elif not t and only_missing and gids_o <= listed.get((source, drug), set()):
            # PharmCAT lists the guideline and matches nothing (e.g. its gene was not tested); ehrgen matches
            # nothing either and names the same guideline as missing from its rule set
            res.verdict = "silent"
        elif t and gids_t <= not_in_ruleset and only_missing and gids_o == gids_t:
            res.verdict = "not_in_ruleset"
        elif _equal_sets(t, o):
            res.verdict = "equal"
        elif (name, source, drug) in EXPLAINED:
            res.verdict, res.note = "explained", EXPLAINED[(name, source, drug)]
        out.append(res)
    return out


def run(examples_dir: Path = SHARED_EXAMPLES, ids: dict[tuple, str] | None = None) -> list[PairResult]:
    """Every (example, source, drug) verdict. ids: recommendation ids by key (default: from guidelines-2.12.0,
    when present; without them PharmCAT's matches carry no id and only ehrgen's are shown)."""
    from ehrgen.rules.engine import not_in_ruleset

    ids = recommendation_ids() if ids is None else ids
    missing = {g.guideline_id for g in not_in_ruleset()}
    results: list[PairResult] = []
    for name, sample, outside in EXAMPLES:
        report = json.loads((examples_dir / f"{name}.report.json").read_text(encoding="utf-8"))
        recs = ehrgen_recommendations(examples_dir, name, sample, outside)
        results += compare_example(name, pharmcat_matches(report, ids), ehrgen_matches(recs), missing,
                                   pharmcat_guidelines(report))
    return results


def summary(results: list[PairResult]) -> dict[str, int]:
    """Counts. 'agree' / 'compared': the pairs PharmCAT annotates, those in EXPLAINED aside."""
    annotated = [r for r in results if r.theirs]
    compared = [r for r in annotated if r.verdict != "explained"]
    return {
        "pairs PharmCAT annotates": len(annotated),
        "compared": len(compared),
        "agree": sum(r.verdict in ("equal", "not_in_ruleset") for r in compared),
        "equal": sum(r.verdict == "equal" for r in compared),
        "guideline not in this rule set (same guideline id)": sum(r.verdict == "not_in_ruleset" for r in compared),
        "explained (README)": sum(r.verdict == "explained" for r in results),
        "pairs PharmCAT lists without a match, ehrgen none either": sum(r.verdict == "silent" for r in results),
        "differ": sum(r.verdict == "differ" for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=Path, default=SHARED_EXAMPLES,
                    help="folder with PharmCAT's example VCFs, outside calls and report.json files")
    ap.add_argument("--show", type=int, default=50, help="difference lines to print")
    ap.add_argument("--explained", action="store_true", help="also print the explained differences")
    args = ap.parse_args(argv)
    if not (args.examples / "pharmcat.example.report.json").is_file():
        print(f"{args.examples}: PharmCAT's example reports not found (pharmcat.example.report.json)",
              file=sys.stderr)
        return 2
    results = run(args.examples)
    for k, v in summary(results).items():
        print(f"{k}: {v}")
    if args.explained:
        for r in results:
            if r.verdict == "explained":
                print("  explained: " + r.line())
    diffs = [r for r in results if r.verdict == "differ"]
    for r in diffs[: args.show]:
        print("  " + r.line())
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
