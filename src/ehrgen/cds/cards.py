"""Recommendations -> CDS Hooks 2.0 cards (pure functions: no I/O, no logging).

One card per (draft order, ingredient), so a prescriber sees one decision per order:
- actionable advice (avoid / use alternative / dose change / monitor) -> card at the most severe alert of the
  matching guidelines (critical | warning | info), with suggestions to swap the order for a named alternative;
- indeterminate result -> info card that says no genotype-guided advice can be given and what would resolve it;
- no result for the gene of a CPIC level A drug -> optional info "pre-test" card;
- standard dosing / no recommendation -> no card (a normal metabolizer is not interrupted).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ehrgen.cds.drugs import RXNORM_SYSTEM, MedicationResolver, read_tsv
from ehrgen.cds.orders import DraftOrder
from ehrgen.pgx.model import SampleCalls
from ehrgen.rules.alternatives import screen
from ehrgen.rules.model import Recommendation

DATA = Path(__file__).with_name("data")
OVERRIDE_SYSTEM = "https://ehrgen.org/fhir/CodeSystem/cds-override-reason"
ALERTING = ("avoid", "use_alternative", "reduce_dose", "increase_dose", "monitor")
SWAP_ACTIONS = ("avoid", "use_alternative")
ALERT_RANK = {"critical": 0, "warning": 1, "info": 2}
ACTION_RANK = {a: i for i, a in enumerate(ALERTING + ("indeterminate", "test_recommended"))}
SUMMARY_MAX = 139  # the spec asks for < 140 characters


@lru_cache(maxsize=1)
def card_text() -> dict[str, Any]:
    return json.loads((DATA / "card_text.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def override_reasons() -> tuple[dict[str, str], ...]:
    return tuple({"code": r["code"], "system": OVERRIDE_SYSTEM, "display": r["display"]}
                 for _n, r in read_tsv(DATA / "override_reasons.tsv"))


@dataclass(frozen=True)
class CardMeta:
    """What feedback is joined to (never patient data): kept by the service per card uuid."""

    service: str
    drug: str
    indicator: str
    kind: str  # alert | indeterminate | pretest | summary
    sources: tuple[str, ...]
    rule_ids: tuple[str, ...]


def _cut(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fmt(template: str, **values: Any) -> str:
    return template.format(**values)


def _primary(recs: list[Recommendation]) -> Recommendation:
    """Most severe alert, then most severe action, CPIC before DPWG (stable tie-break)."""
    return sorted(recs, key=lambda r: (ALERT_RANK.get(r.alert, 9), ACTION_RANK.get(r.action, 99),
                                       0 if r.source == "CPIC" else 1))[0]


def _result_text(recs: list[Recommendation], calls: SampleCalls) -> str:
    """'CYP2C19 *2/*2: Poor Metabolizer' for every gene the advice used (what the prescriber needs to see)."""
    parts: list[str] = []
    seen: set[str] = set()
    for r in recs:
        for gene in r.genes:
            if gene in seen:
                continue
            seen.add(gene)
            call = calls.genes.get(gene)
            pheno = (call.phenotype if call and call.phenotype else None) or r.phenotypes.get(gene) or "not determined"
            bits = [gene]
            if call and call.diplotype_text:
                bits.append(call.diplotype_text)
            text = " ".join(bits) + f": {pheno}"
            if call and call.activity_score:
                text += f" (activity score {call.activity_score})"
            parts.append(text)
    return "; ".join(parts)


def _advice_lines(recs: list[Recommendation]) -> list[str]:
    lines = []
    for r in sorted(recs, key=lambda r: (r.source != "CPIC", r.population or "", r.action)):
        strength = r.strength if r.strength and r.strength.upper() != "N/A" else ""
        label = r.source + (f", {strength}" if strength else "")
        pops = card_text().get("populations", {})
        pop = f" — {pops.get(r.population, r.population)}" if r.population and r.population != "general" else ""
        summary = r.summary.split(" [Population:")[0].strip()
        rid = f" ([{r.recommendation_id}]({r.recommendation_url}))" if r.recommendation_id and r.recommendation_url else ""
        lines.append(f"- **{label}**{pop}: {summary}{rid}")
    return lines


def _gene_phrase(rec: Recommendation, calls: SampleCalls) -> tuple[str, str]:
    gene = rec.genes[0] if rec.genes else ""
    call = calls.genes.get(gene)
    pheno = (call.phenotype if call and call.phenotype else None) or rec.phenotypes.get(gene, "")
    if pheno and (pheno[0].isdigit() or pheno.startswith("≥")):
        pheno = f"activity score {pheno}"
    return gene, pheno


def _source(rec: Recommendation) -> dict[str, Any]:
    src: dict[str, Any] = {"label": rec.source}
    if rec.guideline_url:
        src["url"] = rec.guideline_url
    return src


def _links(recs: list[Recommendation]) -> list[dict[str, str]]:
    """The guideline page and, per recommendation, the exact recommendation (its id, on the annotation page)."""
    out, seen = [], set()
    for r in recs:
        if r.guideline_url and r.guideline_url not in seen:
            seen.add(r.guideline_url)
            out.append({"label": _fmt(card_text()["link"]["guideline"], label=r.source, drug=r.drug),
                        "url": r.guideline_url, "type": "absolute"})
    for r in recs:
        key = (r.recommendation_id, r.recommendation_url)
        if r.recommendation_id and r.recommendation_url and key not in seen:
            seen.add(key)
            out.append({"label": _fmt(card_text()["link"]["recommendation"], label=r.source,
                                      id=r.recommendation_id),
                        "url": r.recommendation_url, "type": "absolute"})
    return out


def _new_order(order: DraftOrder, alternative: str, rxcui: str) -> dict[str, Any]:
    """A draft MedicationRequest for the alternative: same patient/encounter/requester/intent, no dose
    (a dose belongs to the drug; copying the original's would be wrong)."""
    old = order.resource
    new: dict[str, Any] = {"resourceType": "MedicationRequest", "status": "draft",
                           "intent": old.get("intent", "order")}
    for key in ("subject", "encounter", "requester", "reasonCode", "reasonReference", "category", "priority"):
        if key in old:
            new[key] = old[key]
    new["medicationCodeableConcept"] = {"coding": [{"system": RXNORM_SYSTEM, "code": rxcui, "display": alternative}],
                                        "text": alternative}
    return new


def _suggestions(order: DraftOrder, drug: str, recs: list[Recommendation], calls: SampleCalls,
                 resolver: MedicationResolver) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Swap suggestions for avoid/use-alternative advice.

    Alternatives come only from the reviewed table (rules/alternatives.tsv, carried on the Recommendation) and only
    after the per-patient check (ehrgen.rules.alternatives.screen): a drug that is itself affected for this patient
    is never a one-click switch; the card says why instead. Returns (suggestions, option phrases, withheld reasons).
    """
    swap = [screen(r, calls) for r in recs if r.action in SWAP_ACTIONS]
    if not swap:
        return [], [], []
    names: list[str] = []
    conditions: dict[str, list[str]] = {}
    withheld: list[str] = []
    for r in sorted(swap, key=lambda r: r.source != "CPIC"):
        for o in r.alternative_options:
            alt = o["drug"]
            if alt == drug:
                continue
            if not o.get("offered", True):
                if o.get("reason") and o["reason"] not in withheld:
                    withheld.append(o["reason"])
                continue
            if alt not in names:
                names.append(alt)
            for c in (o.get("condition"), o.get("note")):
                if c and c not in conditions.setdefault(alt, []):
                    conditions[alt].append(c)
    # an option one guideline offers but the other rules out (or the patient check withheld) is not offered
    blocked = {o["drug"] for r in swap for o in r.alternative_options if not o.get("offered", True)}
    blocked |= {a for r in swap for a in _not_alternatives(r)}
    names = [n for n in names if n not in blocked]
    text = card_text()["suggestion"]
    out, phrases = [], []
    for alt in names:
        caution = "; ".join(conditions.get(alt, []))
        phrases.append(f"{alt} ({caution})" if caution else alt)
        rxcui = resolver.rxnorm_for(alt)
        if rxcui is None:  # cannot place a coded order for it: named in the detail only
            continue
        actions: list[dict[str, Any]] = [{
            "type": "create",
            "description": _fmt(text["create"], alternative=alt),
            "resource": _new_order(order, alt, rxcui),
        }]
        if order.reference:
            actions.append({"type": "delete", "description": _fmt(text["delete"], drug=drug),
                            "resourceId": order.reference})  # CDS Hooks 2.0: a string
        label = _fmt(text["replace"], drug=drug, alternative=alt)
        if caution:
            label = _cut(f"{label} — {caution}", 160)
        out.append({"label": label, "uuid": str(uuid.uuid4()), "isRecommended": False, "actions": actions})
    return out, phrases, withheld


def _not_alternatives(rec: Recommendation) -> list[str]:
    """Drugs the rule's guideline text declares not to be alternatives (from the rule table)."""
    from ehrgen.rules.engine import default_ruleset

    rule = default_ruleset().by_id_cached().get(rec.rule_id) if rec.rule_id else None
    return list(rule.not_alternatives) if rule else []


def order_cards(order: DraftOrder, recs: list[Recommendation], calls: SampleCalls, resolver: MedicationResolver,
                service: str, pretest: bool = True) -> list[tuple[dict[str, Any], CardMeta]]:
    """Cards for one draft order, given the recommendations for its ingredients."""
    out = []
    for drug in order.ingredients:
        card = drug_card(drug, order, [r for r in recs if r.drug == drug], calls, resolver, service, pretest)
        if card:
            out.append(card)
    return out


def drug_card(drug: str, order: DraftOrder, recs: list[Recommendation], calls: SampleCalls,
              resolver: MedicationResolver, service: str, pretest: bool = True
              ) -> tuple[dict[str, Any], CardMeta] | None:
    text = card_text()
    alerting = [r for r in recs if r.action in ALERTING]
    indeterminate = [r for r in recs if r.action == "indeterminate"]
    untested = [r for r in recs if r.action == "test_recommended"]
    if alerting:
        main = _primary(alerting)
        gene, pheno = _gene_phrase(main, calls)
        summary = _cut(_fmt(text["summary"][main.action], drug=drug, gene=gene, phenotype=pheno))
        detail = [_fmt(text["detail"]["patient_line"], results=_result_text(alerting, calls)), "",
                  text["detail"]["advice_heading"], *_advice_lines(alerting)]
        suggestions, alt_phrases, withheld = _suggestions(order, drug, alerting, calls, resolver)
        if alt_phrases:
            detail += ["", _fmt(text["detail"]["alternatives"], alternatives="; ".join(alt_phrases))]
        detail += [f"_{w[:1].upper() + w[1:]}._" for w in withheld]
        if not alt_phrases:
            none_named = sorted({r.alternatives_note for r in alerting if r.alternatives_note})
            detail += ["", *none_named] if none_named else []
        notes = sorted({r.reason for r in alerting if r.reason})
        detail += [f"_{n}_" for n in notes]
        detail += ["", _fmt(text["detail"]["footer"], label=main.source, url=main.guideline_url)]
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()), "summary": summary, "indicator": main.alert, "detail": "\n".join(detail),
            "source": _source(main), "overrideReasons": list(override_reasons()), "links": _links(alerting),
        }
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        kind, used = "alert", alerting
    elif indeterminate:
        main = indeterminate[0]
        gene = next((g for g, v in main.phenotypes.items() if v == "Indeterminate"), main.genes[0] if main.genes else "")
        summary = _cut(_fmt(text["summary"]["indeterminate"], drug=drug, gene=gene))
        reasons = sorted({r.reason for r in indeterminate if r.reason})
        detail = [_fmt(text["detail"]["indeterminate"], gene=gene, drug=drug), ""]
        detail += [_fmt(text["detail"]["resolve"], reason=r) for r in reasons]
        detail += ["", _fmt(text["detail"]["footer"], label=main.source, url=main.guideline_url)]
        card = {"uuid": str(uuid.uuid4()), "summary": summary, "indicator": "info", "detail": "\n".join(detail),
                "source": _source(main), "links": _links(indeterminate)}
        kind, used = "indeterminate", indeterminate
    elif (gap := _score_gap(drug, recs, calls)) is not None:
        gene, pheno, main = gap
        summary = _cut(_fmt(text["summary"]["needs_score"], drug=drug, gene=gene, phenotype=pheno))
        detail = [_fmt(text["detail"]["needs_score"], drug=drug, gene=gene, phenotype=pheno), "",
                  _fmt(text["detail"]["footer"], label=main.source, url=main.guideline_url)]
        card = {"uuid": str(uuid.uuid4()), "summary": summary, "indicator": "info", "detail": "\n".join(detail),
                "source": _source(main), "links": _links([main])}
        kind, used = "needs_score", [main]
    elif untested and pretest and resolver.cpic_level(drug) == "A":
        cpic = [r for r in untested if r.source == "CPIC"]
        if not cpic:
            return None
        main = cpic[0]
        genes = ", ".join(g for g, v in main.phenotypes.items() if v == "not tested") or ", ".join(main.genes)
        summary = _cut(_fmt(text["summary"]["test_recommended"], drug=drug, gene=genes))
        detail = [_fmt(text["detail"]["pretest"], drug=drug, gene=genes), "",
                  _fmt(text["detail"]["footer"], label=main.source, url=main.guideline_url)]
        card = {"uuid": str(uuid.uuid4()), "summary": summary, "indicator": "info", "detail": "\n".join(detail),
                "source": _source(main), "links": _links(cpic)}
        kind, used = "pretest", cpic
    else:
        return None
    meta = CardMeta(service=service, drug=drug, indicator=card["indicator"], kind=kind,
                    sources=tuple(sorted({r.source for r in used})), rule_ids=tuple(r.rule_id for r in used if r.rule_id))
    return card, meta


def _score_gap(drug: str, recs: list[Recommendation], calls: SampleCalls
               ) -> tuple[str, str, Recommendation] | None:
    """A gene reported with a non-normal phenotype but no activity score, for a drug whose rules key on the
    score only: the engine finds no rule, and silence would look like a normal result."""
    from ehrgen.cds.interpret import score_keyed_genes

    if not recs or any(r.action != "no_recommendation" for r in recs):
        return None
    for gene in sorted(score_keyed_genes(drug)):
        call = calls.genes.get(gene)
        if call and call.phenotype and not call.activity_score and call.phenotype not in (
                "Normal Metabolizer", "Indeterminate"):
            main = next((r for r in recs if gene in r.genes and r.source == "CPIC"), recs[0])
            return gene, call.phenotype, main
    return None


def patient_view_card(recs: list[Recommendation], calls: SampleCalls, service: str
                      ) -> tuple[dict[str, Any], CardMeta] | None:
    """One passive info card summarising the actionable PGx findings (none when the patient has no results)."""
    if not calls.genes:
        return None
    text = card_text()
    alerting = [r for r in recs if r.action in ALERTING]
    by_drug: dict[str, list[Recommendation]] = {}
    for r in alerting:
        by_drug.setdefault(r.drug, []).append(r)
    if by_drug:
        summary = _fmt(text["summary"]["patient_view"], count=len(by_drug))
        lines = [text["detail"]["patient_view_intro"], "", "| Drug | Gene result | Advice | Source |", "|---|---|---|---|"]
        for drug in sorted(by_drug, key=lambda d: (ALERT_RANK.get(_primary(by_drug[d]).alert, 9), d)):
            main = _primary(by_drug[drug])
            advice = main.summary.split(" [Population:")[0].replace("|", "/")
            srcs = ", ".join(sorted({r.source for r in by_drug[drug]}))
            lines.append(f"| {drug} | {_result_text([main], calls)} | {advice} | [{srcs}]({main.guideline_url}) |")
    else:
        summary = text["summary"]["patient_view_none"]
        lines = [text["detail"]["patient_view_none"]]
    card = {"uuid": str(uuid.uuid4()), "summary": _cut(summary), "indicator": "info", "detail": "\n".join(lines),
            "source": {"label": "ehrgen pharmacogenomics (CPIC/DPWG)"}}
    meta = CardMeta(service=service, drug="*", indicator="info", kind="summary",
                    sources=tuple(sorted({r.source for r in alerting})), rule_ids=())
    return card, meta
