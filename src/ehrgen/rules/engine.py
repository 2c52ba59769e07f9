"""Rules engine: star-allele calls -> CPIC/DPWG recommendations. Pure functions; no I/O beyond loading tables.

How a guideline is evaluated for one drug (one rule group = source + guideline + drug + population):

1. Each gene the group's rules key on gets a state from the calls:
   - ok: candidate lookup values with a specificity (diplotype key 4 > allele status 3 > activity score 2 >
     phenotype / other 1). HLA allele-status keys ("*57:01 positive") are derived from the diplotype,
     for whatever alleles the rules name (data-driven).
   - indeterminate: phenotype "Indeterminate", status not_called, or tied candidates that disagree on
     the value a rule needs -> the group yields action "indeterminate" (alert info) with a reason.
   - missing: status no_data or gene absent -> looked up as "No Result" (guidelines that define advice
     without that gene use it); if nothing matches -> "not tested" record (action test_recommended).
2. A rule matches when every gene in its lookup key matches (multi-gene rules need all genes).
   Among matches the most specific wins, then the most severe action, then the rule id.
3. No match with all genes called -> no_recommendation (info), so silence never means "not checked".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Literal

from ehrgen import fastpath
from ehrgen.paths import rules_dir
from ehrgen.pgx.model import INDETERMINATE, GeneCall, SampleCalls
from ehrgen.rules.drugs import Drug, DrugTable, default_table
from ehrgen.rules.model import Recommendation
from ehrgen.rules.ruleset import Rule, RuleSet, alert_for, diplotype_key, load, normalise_score
from ehrgen.rules.summary import describe_value, summarise

SourceOpt = Literal["cpic", "dpwg", "both"]
Mode = Literal["preemptive", "reactive"]
NOT_ACTIONABLE = ("standard_dosing", "no_recommendation")
SEVERITY = ("avoid", "use_alternative", "reduce_dose", "increase_dose", "test_recommended", "monitor",
            "indeterminate", "standard_dosing", "no_recommendation")
ALERT_ORDER = {"critical": 0, "warning": 1, "info": 2}
NO_RESULT = "No Result"
INDETERMINATE_KEYS = (INDETERMINATE, "n/a")
PHENOTYPING = "Phenotyping"
_ALLELE_STATUS = re.compile(r"^\*(\d+:\d+) (positive|negative)$")
_HLA_NAME = re.compile(r"\*?(\d+):(\d+)")
_SCORE = re.compile(r"^≥?\d+(\.\d+)?$")


@dataclass
class GeneState:
    gene: str
    kind: Literal["ok", "indeterminate", "missing"]
    values: dict[str, int] = field(default_factory=dict)  # lookup value -> specificity
    allele_sets: list[set[str]] = field(default_factory=list)  # 2-field allele names per candidate diplotype
    activity_values: list[str | None] = field(default_factory=list)  # single diplotype's allele values
    phenotype: str | None = None
    reason: str = ""

    def match(self, value: str) -> int:
        """Specificity (>0) when this gene satisfies a rule's lookup value, else 0. -1: cannot tell."""
        if self.kind == "missing":
            return 1 if value == NO_RESULT else 0
        if self.kind != "ok":
            return 0
        if " & " in value:
            parts = [self.match(p) for p in value.split(" & ")]
            return -1 if -1 in parts else (sum(parts) if all(parts) else 0)
        if value.lower() in self.values:  # values are stored lower-case: outside calls vary in case
            return self.values[value.lower()]
        m = _ALLELE_STATUS.match(value)
        if m and self.allele_sets:
            verdicts = {(m.group(1) in alleles) == (m.group(2) == "positive") for alleles in self.allele_sets}
            if len(verdicts) > 1:
                return -1  # tied candidate diplotypes disagree on carrying this allele
            return 3 if verdicts.pop() else 0
        return 0


def _hla_alleles(names: Iterable[str | None]) -> set[str]:
    out = set()
    for n in names:
        m = _HLA_NAME.search(n or "")
        if m:
            out.add(f"{m.group(1)}:{m.group(2)}")
    return out


def gene_state(call: GeneCall | None, gene: str, source: str) -> GeneState:
    """What the rules of `source` may look up for this gene call."""
    if call is None or call.status == "no_data":
        return GeneState(gene, "missing", reason=f"{gene} was not tested (no data)")
    fallback = "fallback" in (call.lookup or {})
    if call.status == "not_called" and not fallback:
        miss = len(call.missing_positions)
        return GeneState(gene, "indeterminate", reason=(
            f"{gene} could not be called" + (f" ({miss} defining positions missing)" if miss else "")
            + "; re-genotype the missing positions or supply a validated outside call"))
    if (call.phenotype or "").lower() == INDETERMINATE.lower():
        if len(call.diplotypes) > 1:
            cands = "; ".join(f"{d.name}: {d.phenotype or 'no phenotype'}" for d in call.diplotypes)
            sets = [{a for a in (d.allele1, d.allele2) if a} for d in call.diplotypes]
            differing = sorted(set().union(*sets) - set.intersection(*sets))
            return GeneState(gene, "indeterminate", reason=(
                f"{gene} is indeterminate: tied candidate diplotypes imply different phenotypes ({cands}); "
                f"phased data or an orthogonal targeted test of {gene} " + " vs ".join(differing)
                + " would resolve it"))
        what = call.diplotype_text or "the diplotype"
        return GeneState(gene, "indeterminate", reason=(
            f"{gene} phenotype is indeterminate for {what} (an allele of uncertain or unknown function); "
            "an enzyme activity (phenotype) test or updated allele function data would resolve it"))
    st = GeneState(gene, "ok", phenotype=call.phenotype)

    def add(value: str | None, spec: int) -> None:
        if value:
            v = value.strip()
            v = (normalise_score(v) if _SCORE.match(v) else v).lower()
            st.values[v] = max(spec, st.values.get(v, 0))

    add(call.phenotype, 1)
    add(call.activity_score, 2)
    for key, value in (call.lookup or {}).items():
        k = key.lower()
        if k in ("cpic", "dpwg") or k.startswith(("cpic_", "dpwg_")):
            if not k.startswith(source.lower()):
                continue  # a source-specific key (e.g. DPWG's CYP2D6 activity score) for the other source
        if "diplotype" in k:
            continue
        add(value, 2 if _SCORE.match(str(value).strip()) else 1)
    if len(call.diplotypes) == 1:
        d = call.diplotypes[0]
        add(diplotype_key([a for a in (d.allele1, d.allele2) if a]), 4)
        st.activity_values = list(d.activity_values)
    st.allele_sets = [_hla_alleles([d.allele1, d.allele2]) for d in call.diplotypes]
    if not call.diplotypes and (call.lookup or {}).get("diplotype"):
        names = [n.strip() for n in call.lookup["diplotype"].split("/")]
        add(diplotype_key(names), 4)
        st.allele_sets = [_hla_alleles(names)]
    return st


def _phenotyping_applies(state: GeneState) -> bool | None:
    """DPWG splits some DPYD scores by how they arise: True when both alleles are partial-function
    (e.g. 0.5 + 0.5: 'Phenotyping' advice), False when a null or full allele is involved, None if unknown."""
    vals = []
    for v in state.activity_values:
        try:
            vals.append(float(v))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    if len(vals) != 2:
        return None
    return all(0.0 < v < 1.0 for v in vals)


@dataclass
class _Group:
    source: str
    guideline_id: str
    drug: str
    population: str
    rules: list[Rule]
    genes: list[str] = field(default_factory=list)

    @property
    def head(self) -> Rule:
        return self.rules[0]


@dataclass
class _Outcome:
    action: str
    rule: Rule | None
    values: dict[str, str]
    reason: str | None = None


def _select_qualified(matches: list[tuple[int, Rule]], states: dict[str, GeneState]) -> tuple[list[tuple[int, Rule]], str | None]:
    qualified_genes = {g for _, r in matches for g in r.key_qualifier}
    for gene in qualified_genes:
        quals = {r.key_qualifier.get(gene) for _, r in matches}
        if len(quals) < 2:
            continue
        ph = _phenotyping_applies(states[gene])
        if ph is None:
            return [], (f"{gene}: the guideline's advice for this activity score depends on which alleles make it "
                        "up, and the allele activity values are not known; an enzyme activity (phenotyping) test "
                        "or the full diplotype would resolve it")
        want = [(s, r) for s, r in matches if (r.key_qualifier.get(gene) == PHENOTYPING) == ph]
        matches = want or matches
    return matches, None


def evaluate_group(group: _Group, states: dict[str, GeneState]) -> _Outcome:
    genes = group.genes
    indeterminate = [states[g] for g in genes if states[g].kind == "indeterminate"]
    if indeterminate:
        reason = " ".join(s.reason for s in indeterminate)
        ind_rule = _indeterminate_rule(group, states)
        if ind_rule is not None:
            # the guideline's own "Indeterminate" recommendation is cited (id, strength), but the advice stays
            # "indeterminate": an uncertain result never gives a confident recommendation
            reason = reason.rstrip(".") + f". Guideline advice for an indeterminate result: {ind_rule.summary}"
        return _Outcome("indeterminate", ind_rule, {s.gene: INDETERMINATE for s in indeterminate}, reason)
    matches: list[tuple[int, Rule]] = []
    unsure: list[str] = []
    for rule in group.rules:
        total = 0
        for gene, value in rule.lookup.items():
            m = states[gene].match(value)
            if m == -1:
                unsure.append(gene)
            if m <= 0:
                total = 0
                break
            total += m
        if total:
            matches.append((total, rule))
    missing = [g for g in genes if states[g].kind == "missing"]
    if not matches and unsure:
        g = sorted(set(unsure))[0]
        return _Outcome("indeterminate", None, {g: INDETERMINATE},
                        f"{g}: the tied candidate diplotypes disagree on the allele this guideline keys on; "
                        "phased data or an orthogonal targeted (allele-specific) test would resolve it")
    matches, why = _select_qualified(matches, states)
    if why:
        return _Outcome("indeterminate", None, {}, why)
    if not matches:
        if missing:
            return _Outcome("test_recommended", None, {g: "not tested" for g in missing},
                            "not tested: " + ", ".join(missing) + " has no result; test before prescribing "
                            f"{group.drug} to apply this guideline")
        return _Outcome("no_recommendation", None, {},
                        "the guideline gives no recommendation for this genotype result")
    matches.sort(key=lambda sr: (-sr[0], SEVERITY.index(sr[1].action) if sr[1].action in SEVERITY else 99,
                                 sr[1].rule_id))
    rule = matches[0][1]
    reason = None
    if missing:
        reason = ("advice based on the tested genes only: " + ", ".join(missing)
                  + " not tested; testing it could refine this recommendation")
    values = {g: ("not tested" if v == NO_RESULT else v[4:] if v.startswith("dip:") else v)
              for g, v in rule.lookup.items()}
    return _Outcome(rule.action, rule, values, reason)


def _indeterminate_rule(group: _Group, states: dict[str, GeneState]) -> Rule | None:
    """The rule the guideline keys on 'Indeterminate' for the affected genes, if one fits. Activity-score genes
    spell an indeterminate result 'n/a' in the guideline files (no score can be given), others 'Indeterminate'."""
    for rule in group.rules:
        ok = True
        for gene, value in rule.lookup.items():
            st = states[gene]
            if st.kind == "indeterminate":
                ok = value in INDETERMINATE_KEYS
            else:
                ok = st.match(value) > 0
            if not ok:
                break
        if ok and any(v in INDETERMINATE_KEYS for v in rule.lookup.values()):
            return rule
    return None


def _groups(ruleset: RuleSet, drug: str, sources: list[str]) -> list[_Group]:
    ck = ("groups", drug, tuple(sources))
    if ck in ruleset.cache:
        return ruleset.cache[ck]
    groups: dict[tuple[str, str, str], _Group] = {}
    for r in ruleset.for_drug(drug):
        if r.source not in sources:
            continue
        key = (r.source, r.guideline_id, r.population)
        groups.setdefault(key, _Group(r.source, r.guideline_id, drug, r.population, [])).rules.append(r)
    out = [groups[k] for k in sorted(groups)]
    for g in out:
        g.genes = sorted({gene for r in g.rules for gene in r.lookup})
    ruleset.cache[ck] = out
    return out


@lru_cache(maxsize=4)
def _cached_ruleset(path: str) -> RuleSet:
    return load(path)


def default_ruleset() -> RuleSet:
    return _cached_ruleset(str(rules_dir()))


def _url(rule: Rule) -> str:
    return rule.cpic_guideline_url or rule.guideline_url if rule.source == "CPIC" else rule.guideline_url


def interpret(calls: SampleCalls, patient: str, drugs: list[str] | None = None, source: SourceOpt = "both",
              mode: Mode = "preemptive", ruleset: RuleSet | None = None,
              table: DrugTable | None = None, screen_alternatives: bool = True) -> list[Recommendation]:
    """Recommendations for one sample's calls.

    drugs: names or codes (RxNorm ingredient, ATC) to restrict to; None = every drug with rules.
    Unresolvable drug inputs are skipped here (use ehrgen.rules.drugs.resolve_medications to report them).
    mode 'reactive': only the given drugs and only actionable findings (alerts).
    screen_alternatives: run every offered alternative through this same patient's results
    (ehrgen.rules.alternatives.screen) so no record offers a switch to a drug that is itself affected.
    With ehrgen.fastpath on, the records come from ehrgen.rules.memo (each built once per distinct result of the
    genes it reads, per rule set and drug table); they equal this function's plain records field for field.
    """
    rs = ruleset or default_ruleset()
    tbl = table or default_table()
    if fastpath.enabled():  # the same records, built once per distinct (guideline, gene results)
        from ehrgen.rules import memo

        return memo.interpret(calls, patient, drugs, source, mode, rs, tbl, screen_alternatives)
    sources = {"cpic": ["CPIC"], "dpwg": ["DPWG"], "both": ["CPIC", "DPWG"]}[source]
    recs: list[Recommendation] = []
    state_cache: dict[tuple[str, str], GeneState] = {}
    for item in _wanted(rs, tbl, drugs):
        name = item.name if isinstance(item, Drug) else item
        drug = item if isinstance(item, Drug) else tbl.drugs.get(name)
        groups = _groups(rs, name, sources)
        missing_guidelines = [g for g in not_in_ruleset() if g.drug == name and g.source in sources]
        for g in missing_guidelines:  # a guideline newer than the pinned data: say so rather than stay silent
            recs.append(_not_in_ruleset(calls, patient, g, drug, rs))
        if not groups:
            if drugs is not None and not missing_guidelines:
                recs.append(_no_guideline(calls, patient, name, drug, sources[0], rs))
            continue
        for group in groups:
            states = {}
            for g in group.genes:
                key = (g, group.source)
                if key not in state_cache:
                    state_cache[key] = gene_state(calls.genes.get(g), g, group.source)
                states[g] = state_cache[key]
            recs.append(_recommendation(calls, patient, group, evaluate_group(group, states), drug, rs))
    if mode == "reactive":
        recs = [r for r in recs if r.actionable]
    else:
        # pre-emptively, a gene that was simply not tested is not a finding: it is listed under "what was not
        # tested" (and becomes an alert only when the patient takes or is proposed the drug, i.e. reactively)
        for r in recs:
            if r.action == "test_recommended" and not r.rule_id:
                r.actionable = False
    if screen_alternatives:
        from ehrgen.rules.alternatives import screen
        for i, r in enumerate(recs):
            if r.alternative_options or r.alternatives:
                recs[i] = screen(r, calls, rs)
            else:  # nothing to check (most records); these are this call's own fresh records
                r.alternatives_screened = True
    recs.sort(key=lambda r: (ALERT_ORDER.get(r.alert, 9), r.drug, r.source, r.guideline_id, r.population or ""))
    return recs


def _wanted(rs: RuleSet, tbl: DrugTable, drugs: list[str] | None) -> list[Drug | str]:
    """The drugs to evaluate, in order: resolved inputs (duplicates once), or every drug with rules."""
    if drugs is None:
        wanted: list[Drug | str] = list(rs.drugs())
        wanted += sorted({g.drug for g in not_in_ruleset()} - set(rs.drugs()))
        return wanted
    wanted = []
    for item in drugs:
        hits = tbl.resolve_all(item) or ([item.lower()] if item.lower() in rs.drugs()
                                         or item.lower() in {g.drug for g in not_in_ruleset()} else [])
        wanted += [h for h in hits if h not in wanted]
    return wanted


def _recommendation(calls: SampleCalls, patient: str, group: _Group, out: _Outcome, drug: Drug | None,
                    rs: RuleSet) -> Recommendation:
    head, rule = group.head, out.rule
    phenotypes = dict(out.values)
    for g in group.genes:  # show every gene the guideline uses, even when the matched key omits it
        if g not in phenotypes:
            call = calls.genes.get(g)
            phenotypes[g] = (call.phenotype or call.activity_score or call.diplotype_text or call.status) \
                if call and call.status != "no_data" else "not tested"
    if rule is not None and out.action == "indeterminate":
        strength, alert = rule.strength, "info"
        summary = summarise("indeterminate", group.drug, phenotypes, group.population)
    elif rule is not None:
        strength, alert, summary = rule.strength, rule.alert, rule.summary
        if out.reason:
            summary += " (Some genes were not tested.)"
    else:
        strength = ""
        alert = alert_for(out.action, None) if out.action != "test_recommended" else "info"
        summary = summarise(out.action, group.drug, phenotypes, group.population)
        if out.action == "test_recommended":
            summary = (f"{', '.join(out.values)} not tested: test before using {group.drug} "
                       "so this guideline can be applied.")
    from ehrgen.rules.alternatives import base_options
    alternatives, options, alt_note = base_options(rule if out.action != "indeterminate" else None)
    return Recommendation(
        patient=patient, sample=calls.sample, drug=group.drug, source=group.source,  # type: ignore[arg-type]
        genes=group.genes, phenotypes={g: phenotypes[g] for g in sorted(phenotypes)}, action=out.action,
        strength=strength, alert=alert, summary=summary,  # type: ignore[arg-type]
        guideline_id=group.guideline_id, guideline_url=_url(rule or head), rules_version=rs.version,
        rule_id=rule.rule_id if rule else "",
        dose_percent=rule.dose_percent if rule and out.action != "indeterminate" else None,
        alternatives=alternatives, alternative_options=options, alternatives_note=alt_note,
        actionable=out.action not in NOT_ACTIONABLE, reason=out.reason,
        rxnorm=drug.rxnorm if drug else None, atc=drug.primary_atc if drug else None,
        population=group.population,
        recommendation_id=rule.recommendation_id if rule else "",
        recommendation_url=rule.guideline_url if rule else "",
        strength_graded=is_graded(strength),
    )


def is_graded(strength: str | None) -> bool:
    """Whether the guideline grades this advice (DPWG gives no strength: 'N/A', which PharmCAT shows as
    'Unspecified'; a result no rule covers has none)."""
    return (strength or "").strip().lower() not in ("", "n/a", "na", "unspecified")


@dataclass(frozen=True)
class MissingGuideline:
    """A CPIC/DPWG guideline that exists but is not in this rule set (newer than the pinned guideline data)."""

    source: str
    drug: str
    guideline_id: str
    name: str
    url: str
    genes: tuple[str, ...]


@lru_cache(maxsize=1)
def not_in_ruleset() -> tuple[MissingGuideline, ...]:
    """rules/not_in_ruleset.tsv (reviewed list)."""
    p = rules_dir() / "not_in_ruleset.tsv"
    if not p.is_file():
        return ()
    out = []
    lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    cols = lines[0].split("\t")
    for ln in lines[1:]:
        row = dict(zip(cols, ln.split("\t")))
        out.append(MissingGuideline(row["source"], row["drug"], row["guideline_id"], row["name"], row["url"],
                                    tuple(g for g in row["genes"].split(";") if g)))
    return tuple(out)


def _not_in_ruleset(calls: SampleCalls, patient: str, g: MissingGuideline, drug: Drug | None,
                    rs: RuleSet) -> Recommendation:
    return Recommendation(
        patient=patient, sample=calls.sample, drug=g.drug, source=g.source,  # type: ignore[arg-type]
        genes=list(g.genes), phenotypes={}, action="no_recommendation", strength="", alert="info",
        summary=(f"{g.source} has a guideline for {g.drug} ({', '.join(g.genes)}) that is not in this rule set "
                 "(it is newer than the guideline data the rules were built from); read it at the link."),
        guideline_id=g.guideline_id, guideline_url=g.url, rules_version=rs.version, actionable=False,
        reason="guideline not in this rule set: it is newer than the pinned guideline data",
        rxnorm=drug.rxnorm if drug else None, atc=drug.primary_atc if drug else None,
        recommendation_url=g.url, not_in_ruleset=True,
    )


def _no_guideline(calls: SampleCalls, patient: str, name: str, drug: Drug | None, source: str,
                  rs: RuleSet) -> Recommendation:
    return Recommendation(
        patient=patient, sample=calls.sample, drug=name, source=source,  # type: ignore[arg-type]
        genes=[], phenotypes={}, action="no_recommendation", strength="", alert="info",
        summary=f"No {source} genotype-based rule for {name} in rules {rs.version}.",
        guideline_id="", guideline_url=(drug.cpic_guideline_url or "") if drug else "", rules_version=rs.version,
        actionable=False, reason="no machine-readable CPIC/DPWG recommendation for this drug",
        rxnorm=drug.rxnorm if drug else None, atc=drug.primary_atc if drug else None,
    )


def describe(rec: Recommendation) -> str:
    """One line for logs and CLI output: no genotypes or identifiers, only drug/source/action."""
    return f"{rec.drug} [{rec.source}] {rec.action} ({rec.alert})"


__all__ = ["interpret", "gene_state", "evaluate_group", "default_ruleset", "describe", "describe_value"]
