"""FHIR genotype / therapeutic-implication Observations -> SampleCalls (what the rules engine reads).

Written against what src/ehrgen/fhir/resources.py emits, and tolerant of other senders:

genotype Observation (code LOINC 84413-4):
  - gene: component gene-studied (LOINC 48018-6) valueCodeableConcept: HGNC coding (display = symbol, or the
    HGNC id mapped back through mappings/hgnc.tsv) or text;
  - diplotype(s): valueCodeableConcept.text (or a coding display), "*1/*2" or "*1/*2 OR *1/*3", an optional
    leading gene symbol is dropped;
  - phenotype / activity score: a phenotype component (LOINC 53040-2, or any component whose value codes a
    phenotype answer of mappings/fhir_codes.tsv), else the conclusion-string component ehrgen writes
    ("CYP2C19 *2/*2: Poor Metabolizer (activity score 0.0).");
  - dataAbsentReason -> status no_data / not_called.
therapeutic-implication Observation (code tbd|therapeutic-implication, or a medication-assessed 51963-7 component):
  - per gene, the phenotype in a therapeutic-implication / 53040-2 component ("CYP2C19: Poor Metabolizer");
    it fills a gene's phenotype only where no genotype Observation gave one.

A single reported diplotype without an activity score gets the CPIC table's score (and phenotype, when none
was reported) exactly as ehrgen's outside-call path does, but never against the lab's reported phenotype.
Only determinate values go into GeneCall.lookup (the rules key on them), mirroring ehrgen.pgx.matcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from ehrgen.fhir.codes import code_table, hgnc_table
from ehrgen.pgx.model import INDETERMINATE, Diplotype, GeneCall, SampleCalls
from ehrgen.rules.ruleset import normalise_score

LOINC = "http://loinc.org"
# LOINC 53040-2 "Genetic variation's effect on drug metabolism": a phenotype component some senders use;
# not in mappings/fhir_codes.tsv because ehrgen itself does not write it.
PHENOTYPE_COMPONENT = "53040-2"
_ACTIVITY = re.compile(r"\(activity score ([^)]+)\)", re.I)
# data-absent-reason codes ehrgen does not write itself (its own come from mappings/fhir_codes.tsv)
_OTHER_ABSENT_STATUS = {"asked-unknown": "no_data", "not-asked": "no_data", "error": "not_called"}


@dataclass(frozen=True)
class _Codes:
    genotype: tuple[str, str]
    gene_studied: tuple[str, str]
    implication: tuple[str, str]
    medication_assessed: tuple[str, str]
    conclusion: tuple[str, str]
    phenotype_answers: dict[str, str]  # LOINC answer code -> display
    absent_status: dict[str, str]  # data-absent-reason code -> call status


@lru_cache(maxsize=1)
def _codes() -> _Codes:
    ct = code_table()

    def pair(key: str) -> tuple[str, str]:
        c = ct.coding("element", key) or {}
        return c.get("system", ""), c.get("code", "")

    answers = {}
    for row in ct.rows("phenotype"):
        if row.code:
            answers.setdefault(row.code, row.display)
    absent = dict(_OTHER_ABSENT_STATUS)
    absent.update({row.code: row.key for row in ct.rows("data_absent") if row.code})
    return _Codes(pair("genotype-code"), pair("gene-studied"), pair("implication-code"),
                  pair("medication-assessed"), pair("conclusion-string"), answers, absent)


@lru_cache(maxsize=1)
def _canonical_terms() -> dict[str, str]:
    """lower-case phenotype term -> the spelling the rules use ('poor metabolizer' -> 'Poor Metabolizer')."""
    from ehrgen.cds.interpret import lookup_vocabulary

    return {v.lower(): v for v in lookup_vocabulary()}


def canonical_phenotype(text: str | None) -> str | None:
    if not text:
        return None
    t = re.sub(r"\s+", " ", text.strip().rstrip("."))
    if t.lower() in ("indeterminate", "indeterminate phenotype", "unknown", "uncertain"):
        return INDETERMINATE
    return _canonical_terms().get(t.lower(), t)


def _codes_of(concept: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system") or ""), str(c.get("code") or "")) for c in concept.get("coding") or []
            if isinstance(c, dict)]


def _has_code(concept: dict[str, Any] | None, pair: tuple[str, str]) -> bool:
    return any(code == pair[1] and (not system or not pair[0] or system == pair[0])
               for system, code in _codes_of(concept))


def _gene_of(concept: dict[str, Any] | None) -> str | None:
    if not isinstance(concept, dict):
        return None
    symbols = {v: k for k, v in hgnc_table().items()}
    known = set(hgnc_table())
    for c in concept.get("coding") or []:
        code, disp = str(c.get("code") or ""), str(c.get("display") or "")
        if code in symbols:
            return symbols[code]
        if disp.strip() in known or code.strip() in known:
            return disp.strip() if disp.strip() in known else code.strip()
        if disp.strip():
            return disp.strip()
    text = str(concept.get("text") or "").strip()
    return text.split()[0] if text else None


def _concept_text(concept: dict[str, Any] | None) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for c in concept.get("coding") or []:
        if c.get("display"):
            return str(c["display"])
    return ""


def _value_text(component: dict[str, Any]) -> str:
    if "valueString" in component:
        return str(component["valueString"])
    if "valueCodeableConcept" in component:
        return _concept_text(component["valueCodeableConcept"])
    if "valueQuantity" in component:
        return str(component["valueQuantity"].get("value", ""))
    return ""


def _phenotype_from_concept(concept: dict[str, Any] | None, gene: str | None) -> str | None:
    """A phenotype from a coded answer or text; strips a leading 'GENE:' and a trailing '(called phenotype)'."""
    if not isinstance(concept, dict):
        return None
    text = _concept_text(concept)
    if gene and text.upper().startswith(gene.upper() + ":"):
        text = text[len(gene) + 1:]
    text = text.strip()
    # ehrgen writes "CYP2D6: 1.0 (Normal Metabolizer)" when the rule keyed on an activity score
    m = re.match(r"^(.*?)\s*\(([^)]+)\)$", text)
    if m and m.group(2).lower().endswith(("metabolizer", "function")):
        return canonical_phenotype(m.group(2))
    if text:
        return canonical_phenotype(text)
    for _system, code in _codes_of(concept):
        if code in _codes().phenotype_answers:
            return canonical_phenotype(_codes().phenotype_answers[code])
    return None


@dataclass
class _GeneEvidence:
    gene: str
    diplotypes: list[str] = field(default_factory=list)
    phenotype: str | None = None
    activity_score: str | None = None
    absent: str | None = None  # status when the result is data-absent
    implication_phenotype: str | None = None


def _read_genotype(obs: dict[str, Any], ev: dict[str, _GeneEvidence]) -> None:
    comps = [c for c in obs.get("component") or [] if isinstance(c, dict)]
    gene = None
    for c in comps:
        if _has_code(c.get("code"), _codes().gene_studied):
            gene = _gene_of(c.get("valueCodeableConcept"))
    if gene is None:  # a sender that names the gene only in code.text ("CYP2C19 genotype")
        text = _concept_text(obs.get("code"))
        gene = text.split()[0] if text and text.split()[0] in hgnc_table() else None
    if gene is None:
        return
    e = ev.setdefault(gene, _GeneEvidence(gene))
    if obs.get("dataAbsentReason"):
        codes = [c for _s, c in _codes_of(obs["dataAbsentReason"])]
        # unknown reasons count as not_called (-> indeterminate), never as "not tested"
        e.absent = next((_codes().absent_status[c] for c in codes if c in _codes().absent_status), "not_called")
        return
    value = _concept_text(obs.get("valueCodeableConcept")) or str(obs.get("valueString") or "")
    if value and "no diplotype reported" not in value:
        names = [n.strip() for n in re.split(r"\s+OR\s+", value) if n.strip()]
        names = [n[len(gene):].strip() if n.upper().startswith(gene.upper() + " ") else n for n in names]
        e.diplotypes = [n for n in names if "/" in n or n.startswith("*")]
    conclusion = None
    for c in comps:
        code = c.get("code")
        if _has_code(code, (LOINC, PHENOTYPE_COMPONENT)) or _has_code(code, _codes().implication):
            e.phenotype = _phenotype_from_concept(c.get("valueCodeableConcept"), gene) or e.phenotype
        elif _has_code(code, _codes().conclusion):
            conclusion = _value_text(c)
        elif "activity score" in (_concept_text(code) or "").lower():
            e.activity_score = normalise_score(_value_text(c)) or None
        elif any(cd in _codes().phenotype_answers for _s, cd in _codes_of(c.get("valueCodeableConcept"))):
            e.phenotype = _phenotype_from_concept(c.get("valueCodeableConcept"), gene)
    if conclusion:
        _read_conclusion(conclusion, e)


def _read_conclusion(text: str, e: _GeneEvidence) -> None:
    """Phenotype/activity from ehrgen's conclusion string, only where no structured component gave them."""
    m = _ACTIVITY.search(text)
    if m and e.activity_score is None:
        e.activity_score = normalise_score(m.group(1))
    if e.phenotype:
        return
    stripped = _ACTIVITY.sub("", text).strip()
    m = re.search(r"phenotype ([^.;]+)", stripped)  # ambiguous: "...; phenotype Indeterminate."
    if m:
        e.phenotype = canonical_phenotype(m.group(1))
        return
    head, sep, tail = stripped.partition(":")
    if sep and head.split()[0] == e.gene:
        pheno = tail.strip().split(". ")[0].rstrip(".").strip()
        if pheno and pheno != "phenotype not assigned" and not pheno.startswith(("ambiguous", "not called", "no data")):
            e.phenotype = canonical_phenotype(pheno)


def _read_implication(obs: dict[str, Any], ev: dict[str, _GeneEvidence]) -> None:
    for c in obs.get("component") or []:
        code = c.get("code")
        if not (_has_code(code, _codes().implication) or _has_code(code, (LOINC, PHENOTYPE_COMPONENT))):
            continue
        text = _concept_text(c.get("valueCodeableConcept"))
        gene = text.split(":", 1)[0].strip() if ":" in text else None
        if not gene or gene not in hgnc_table():
            continue
        pheno = _phenotype_from_concept(c.get("valueCodeableConcept"), gene)
        if pheno:
            ev.setdefault(gene, _GeneEvidence(gene)).implication_phenotype = pheno


def is_genotype(obs: dict[str, Any]) -> bool:
    return _has_code(obs.get("code"), _codes().genotype)


def is_implication(obs: dict[str, Any]) -> bool:
    if _has_code(obs.get("code"), _codes().implication):
        return True
    return any(_has_code(c.get("code"), _codes().medication_assessed) for c in obs.get("component") or [])


def observations_in(resources: Iterable[dict[str, Any]] | dict[str, Any] | None) -> list[dict[str, Any]]:
    """Observations from a list of resources and/or Bundles (searchset entries), in order."""
    out: list[dict[str, Any]] = []
    if resources is None:
        return out
    items = [resources] if isinstance(resources, dict) else list(resources)
    for r in items:
        if not isinstance(r, dict):
            continue
        if r.get("resourceType") == "Bundle":
            out += observations_in([e.get("resource") for e in r.get("entry") or [] if isinstance(e, dict)])
        elif r.get("resourceType") == "Observation":
            if r.get("status") in ("entered-in-error", "cancelled"):
                continue
            out.append(r)
    return out


def calls_from_observations(observations: Iterable[dict[str, Any]] | dict[str, Any] | None,
                            sample: str = "fhir") -> SampleCalls:
    """Build SampleCalls from genotype and therapeutic-implication Observations (or Bundles of them).

    Genes with no Observation are absent from the result (that is "no result", which the pre-test card uses);
    a data-absent genotype gives a GeneCall with status no_data / not_called and no lookup keys.
    """
    ev: dict[str, _GeneEvidence] = {}
    for obs in observations_in(observations):
        if is_genotype(obs):
            _read_genotype(obs, ev)
        elif is_implication(obs):
            _read_implication(obs, ev)
    genes: dict[str, GeneCall] = {}
    for gene, e in ev.items():
        genes[gene] = _gene_call(e)
    return SampleCalls(sample=sample, genes=genes, source_file="fhir")


@lru_cache(maxsize=1)
def _definitions():
    from ehrgen.pgx.definitions import load_definitions

    return load_definitions()


def _table_values(gene: str, diplotype: str) -> tuple[str | None, str | None]:
    """CPIC (phenotype, activity score) for a diplotype, from the project's gene tables (as for outside calls)."""
    from ehrgen.pgx.outside import _diplotype_names, _table_lookup

    gd = _definitions().genes.get(gene)
    if gd is None or not gd.phenotypes:
        return None, None
    return _table_lookup(gd.phenotypes, _diplotype_names(diplotype))


def _complete_from_tables(e: _GeneEvidence) -> None:
    """Fill a missing activity score / phenotype from the CPIC tables when one diplotype is reported.

    Why: many rules (CPIC codeine, CYP2D6) key on the activity score only, and labs often report just the
    diplotype and phenotype; without the score such a result would match no rule and stay silent. The
    score is taken only when the table's phenotype agrees with the reported one (never overrides the lab).
    """
    if len(e.diplotypes) != 1 or (e.activity_score and e.phenotype):
        return
    pheno, score = _table_values(e.gene, e.diplotypes[0])
    reported = e.phenotype or e.implication_phenotype
    if reported and pheno and reported.lower() != pheno.lower():
        return
    if score and not e.activity_score and _definitions().genes[e.gene].activity_gene:
        e.activity_score = normalise_score(score)
    if pheno and not reported:
        e.phenotype = canonical_phenotype(pheno)


def warm() -> None:
    """Load code and gene tables before the first request."""
    _codes()
    _canonical_terms()
    _definitions()


def _gene_call(e: _GeneEvidence) -> GeneCall:
    if e.absent and not e.implication_phenotype:
        return GeneCall(gene=e.gene, status=e.absent, source="outside")  # type: ignore[arg-type]
    _complete_from_tables(e)
    phenotype = e.phenotype or e.implication_phenotype
    dips = [Diplotype(*(n.split("/", 1) if "/" in n else (n, None))) for n in e.diplotypes]
    if phenotype == INDETERMINATE or len(dips) > 1:
        status = "ambiguous"
    elif phenotype or dips:
        status = "called"
    else:
        status = "not_called"
    call = GeneCall(gene=e.gene, status=status, diplotypes=dips, phenotype=phenotype,  # type: ignore[arg-type]
                    activity_score=e.activity_score, source="outside")
    lookup: dict[str, str] = {}
    if phenotype and phenotype != INDETERMINATE:
        lookup["phenotype"] = phenotype
    if e.activity_score:
        lookup["activity_score"] = e.activity_score
    if len(dips) == 1:
        lookup["diplotype"] = dips[0].name
    call.lookup = lookup
    return call
