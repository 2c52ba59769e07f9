"""Alternatives a recommendation may offer: the reviewed table's invariants and the per-patient check.

Alternatives come only from `rules/alternatives.tsv` (reviewed against the guideline text, joined into
`rules/rules.tsv` by tools/gen_rules.py), never from reading prose. Two layers keep a suggestion from harming:

1. `violations(rules)` (build time and tests): an offered drug never has an avoid / use-alternative / test-first /
   indeterminate rule for the same gene result in CPIC or DPWG; one with a dose-change rule for that result is
   offered only with a stated condition; a drug the guideline declares "not an alternative" is never offered.
2. `screen(rec, calls)` (at the moment of advice): every offered drug is run through the engine with this
   patient's whole result set; one that is actionable, indeterminate or untested for them is not offered as a
   switch, and the record says why.

Pure functions; no I/O.
"""

from __future__ import annotations

from typing import Any, Iterable

from ehrgen import fastpath
from ehrgen.rules.model import Recommendation
from ehrgen.rules.ruleset import Rule, RuleSet

# an offered alternative's own rule with one of these actions for the same result makes the offer unsafe
BLOCKING = ("avoid", "use_alternative", "test_recommended", "indeterminate")
DOSE_CHANGE = ("reduce_dose", "increase_dose")
# values that stand for a missing or unusable result of another gene (resolved per patient by `screen`)
_NOT_A_RESULT = {"indeterminate", "no result", "n/a"}
# what the per-patient check accepts as "safe to switch to"
SAFE_FOR_PATIENT = ("standard_dosing", "no_recommendation")
NO_DRUG_NAMED = "The guideline names no alternative drug for this result."


def _same_result(orig: Rule, other: Rule) -> bool:
    """True when `other` applies to the gene result `orig` is keyed on: equal values for every shared gene
    (genes only `other` keys on may take any real value)."""
    shared = set(orig.lookup) & set(other.lookup)
    if not shared:
        return False
    if any(orig.lookup[g].lower() != other.lookup[g].lower() for g in shared):
        return False
    return not any(other.lookup[g].lower() in _NOT_A_RESULT for g in set(other.lookup) - shared)


def violations(rules: Iterable[Rule]) -> list[str]:
    """Every broken alternative invariant in a rule set (empty list = the table is safe)."""
    rules = list(rules)
    by_drug: dict[str, list[Rule]] = {}
    for r in rules:
        by_drug.setdefault(r.drug, []).append(r)
    out: list[str] = []
    for rule in rules:
        for alt in rule.alternatives:
            where = f"{rule.rule_id} ({rule.source} {rule.drug} {rule.lookup}) offers {alt}"
            if alt == rule.drug:
                out.append(f"{where}: the drug itself")
            if alt in rule.not_alternatives:
                out.append(f"{where}: the guideline says it is not an alternative")
            if not rule.rule_id.split("/")[0]:
                out.append(f"{where}: no recommendation id")
            for other in by_drug.get(alt, []):
                if not _same_result(rule, other):
                    continue
                if other.action in BLOCKING:
                    out.append(f"{where}: {other.source} {other.rule_id} says {other.action} for the same result")
                elif other.action in DOSE_CHANGE and not rule.alternative_conditions.get(alt):
                    out.append(f"{where}: {other.source} {other.rule_id} changes its dose for the same result, "
                               "but it is offered as a plain switch (no condition)")
    return out


def _options_from_rule(rule: Rule) -> list[dict[str, Any]]:
    return [{"drug": alt, "condition": rule.alternative_conditions.get(alt, ""),
             "note": rule.alternative_notes.get(alt, ""), "offered": True, "reason": ""}
            for alt in rule.alternatives]


def base_options(rule: Rule | None) -> tuple[list[str], list[dict[str, Any]], str]:
    """(alternatives, options, note) a rule offers before the per-patient check."""
    if rule is None:
        return [], [], ""
    note = rule.alternatives_note
    if not rule.alternatives and not note and (rule.action in ("avoid", "use_alternative")
                                                or rule.alternate_drug_available):
        note = NO_DRUG_NAMED
    return list(rule.alternatives), _options_from_rule(rule), note


def _why(alt: str, affected: tuple[tuple[str, str | None, str, str], ...]) -> str:
    bits = []
    for source, population, summary, rule_id in affected:
        what = summary.split(" [Population:")[0].strip()
        pop = f", {population}" if population and population != "general" else ""
        rid = f" [{rule_id.split('/')[0]}]" if rule_id else ""
        bits.append(f"{source}{pop}: {what}{rid}")
    return f"not offered as a switch: {alt} is itself affected for this patient (" + "; ".join(bits) + ")"


# screen() asks the engine about every alternative for every patient: at biobank scale the same (alternative,
# gene results) pair comes up again and again, so the answer is memoised per rule set (in RuleSet.cache). The key
# holds every field of the relevant gene calls the engine reads, so a hit gives exactly what a fresh run gives;
# the value holds no patient or sample identifier. Never read with the fast path off (ehrgen.fastpath).
_MEMO = "alternatives.screen"
_MEMO_MAX = 100_000  # entries per rule set; cleared when full (a cohort has far fewer distinct result patterns)


def _table(rs: RuleSet) -> Any:
    """The drug table, looked up once per rule set (finding it walks the file system)."""
    if _MEMO + ".table" not in rs.cache:
        from ehrgen.rules.drugs import default_table

        rs.cache[_MEMO + ".table"] = default_table()
    return rs.cache[_MEMO + ".table"]


def _genes_for(alt: str, rs: RuleSet) -> frozenset[str]:
    """Every gene any rule of the drug(s) `alt` names keys on (what its advice can depend on)."""
    memo = rs.cache.setdefault(_MEMO + ".genes", {})
    if alt not in memo:
        names = {d.name for d in _table(rs).resolve_all(alt)} | {alt.lower()}
        memo[alt] = frozenset(g for n in names for r in rs.for_drug(n) for g in r.lookup)
    return memo[alt]


def result_key(calls: Any, genes: Iterable[str]) -> tuple:
    """The part of a patient's results the engine reads for these genes (hashable)."""
    out = []
    for g in sorted(genes):
        c = calls.genes.get(g)
        if c is None:
            out.append((g,))
            continue
        out.append((g, c.status, c.phenotype, c.activity_score, tuple(sorted((c.lookup or {}).items())),
                    tuple((d.allele1, d.allele2, tuple(d.activity_values), d.phenotype, d.activity_score)
                          for d in c.diplotypes), len(c.missing_positions)))
    return tuple(out)


def affected_by(alt: str, calls: Any, ruleset: RuleSet | None = None, memo: bool = True
                ) -> tuple[tuple[str, str | None, str, str], ...]:
    """(source, population, summary, rule id) of every CPIC/DPWG recommendation for `alt` that is not standard
    dosing / no recommendation for this patient's results; () when the drug is safe to switch to."""
    from ehrgen.rules.engine import default_ruleset, interpret  # late: the engine calls this module

    rs = ruleset or default_ruleset()
    key = (alt, result_key(calls, _genes_for(alt, rs))) if memo and fastpath.enabled() else None
    cache = rs.cache.setdefault(_MEMO, {}) if key is not None else {}
    if key is not None and key in cache:
        return cache[key]
    theirs = interpret(calls, "", [alt], source="both", ruleset=rs, table=_table(rs), screen_alternatives=False)
    hit = tuple((r.source, r.population, r.summary, r.rule_id) for r in theirs if r.action not in SAFE_FOR_PATIENT)
    if key is not None:
        if len(cache) >= _MEMO_MAX:
            cache.clear()
        cache[key] = hit
    return hit


def screen(rec: Recommendation, calls: Any, ruleset: RuleSet | None = None, memo: bool = True) -> Recommendation:
    """`rec` with its offered alternatives checked against this patient's whole result set.

    An alternative whose own CPIC/DPWG advice for this patient is anything but standard dosing / no
    recommendation (a dose change, avoid, indeterminate, not tested) is kept in `alternative_options` with
    offered=False and the reason, and removed from `alternatives` (what cards, Tasks and reports may offer).
    Idempotent; returns a new record. memo=False asks the engine afresh (the memoised answer is the same).
    """
    if rec.alternatives_screened:
        return rec
    start = rec.alternative_options or [  # a record from before the reviewed table: check its names the same way
        {"drug": a, "condition": "", "note": "", "offered": True, "reason": ""} for a in rec.alternatives]
    if not start:
        return _with(rec, alternatives_screened=True)
    options, offered = [], []
    for opt in start:
        opt = dict(opt)
        if opt.get("offered", True):
            affected = affected_by(opt["drug"], calls, ruleset, memo)
            if affected:
                opt["offered"], opt["reason"] = False, _why(opt["drug"], affected)
            else:
                offered.append(opt["drug"])
        options.append(opt)
    return _with(rec, alternatives=offered, alternative_options=options, alternatives_screened=True)


def _with(rec: Recommendation, **changes: Any) -> Recommendation:
    """A shallow copy of `rec` with `changes`, as dataclasses.replace makes, without re-running __init__ (that cost
    more than the whole check for a patient's ~150 records; none of these fields feeds __post_init__)."""
    out = object.__new__(type(rec))
    out.__dict__.update(rec.__dict__, **changes)
    return out


def option_phrases(rec: Recommendation, offered: bool = True) -> list[str]:
    """'prasugrel (at standard dose if no contraindication)' for each offered (or withheld) option."""
    out = []
    for o in rec.alternative_options:
        if bool(o.get("offered", True)) != offered:
            continue
        if offered:
            out.append(o["drug"] + (f" ({o['condition']})" if o.get("condition") else ""))
        else:
            out.append(o.get("reason") or f"{o['drug']}: not offered")
    return out


def alternatives_text(rec: Recommendation, compact: bool = False) -> str:
    """One sentence for FHIR / HL7 / reports: what may be offered, what was withheld and why, or that none is named.

    `compact` (the clinician report, which gives every drug its own row): a withheld option is named with a
    pointer to its own row instead of repeating that row's advice."""
    parts = []
    offered = option_phrases(rec, True) if rec.alternative_options else list(rec.alternatives)
    if offered:
        parts.append("Alternatives named by the guideline: " + "; ".join(offered) + ".")
    if compact:
        names = [o["drug"] for o in rec.alternative_options if not bool(o.get("offered", True))]
        if names:
            parts.append(f"Not offered as a switch: {', '.join(names)} (each is itself affected for this patient: "
                         "see its own row).")
        withheld = []
    else:
        withheld = option_phrases(rec, False)
    if withheld:
        parts.append(" ".join(w[:1].upper() + w[1:] + "." for w in withheld))
    if rec.alternatives_note and not offered:
        parts.append(rec.alternatives_note.rstrip(".") + ".")
    return " ".join(parts)
