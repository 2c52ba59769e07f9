"""Resource templates for the Genomics Reporting IG 3.0.0 profiles (pure functions, no I/O).

Across a cohort most content repeats (the same gene/diplotype, the same drug/rule), only identifiers and
references differ. So each template is built and validated through the fhir.resources R4B model once per
distinct content key (lru_cache) and then stamped per patient with a shallow dict merge. Templates are
shared between bundles: never mutate them, always stamp into a new dict.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.task import Task

from ehrgen.fhir.codes import code_table, gene_concept
from ehrgen.pgx.model import GeneCall
from ehrgen.rules.model import Recommendation

_TEMPLATE_CACHE = 8192

METHOD_TEXT = {
    "vcf": "Star-allele matching of GRCh38 VCF genotypes against PharmCAT allele definitions (ehrgen)",
    "outside": "Outside call: supplied to ehrgen from another test, not derived from the submitted VCF",
}
NOT_TESTED = "none"  # genotype source of a gene with no data: no method was applied, so none is stated


def _categories() -> list[dict[str, Any]]:
    ct = code_table()
    return [{"coding": [ct.coding("element", "category-lab")]}, {"coding": [ct.coding("element", "category-ge")]}]


def _component(key: str, **value: Any) -> dict[str, Any]:
    return {"code": {"coding": [code_table().coding("element", key)]}, **value}


def _validated(model: type, data: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through the R4B model: catches shape errors once, at template time."""
    return model.model_validate(data).model_dump(mode="json")


# ---------------------------------------------------------------- genotype

def genotype_key(call: GeneCall) -> tuple:
    """Everything the genotype template depends on (hashable). A gene with no data (e.g. CYP2D6 or HLA without an
    outside call) has no source: it was not tested, and is never described as an outside call."""
    source = NOT_TESTED if call.status == "no_data" else call.source
    return (
        call.gene, call.status, tuple(d.name for d in call.diplotypes), call.phenotype, call.activity_score,
        source, tuple(call.warnings), len(call.missing_positions),
    )


def _genotype_conclusion(gene: str, status: str, names: tuple[str, ...], phenotype: str | None,
                         activity: str | None, source: str) -> str:
    pheno = phenotype or "phenotype not assigned"
    if activity:
        pheno += f" (activity score {activity})"
    joined = " OR ".join(names)
    if status == "ambiguous":
        text = (f"{gene}: ambiguous call, {len(names)} equally supported diplotypes ({joined}); "
                f"phenotype {pheno}. Confirm with an orthogonal test before relying on it.")
    elif status == "not_called":
        text = f"{gene}: not called; the data did not support any diplotype."
    elif status == "no_data":
        text = f"{gene}: not tested; no data for this gene (no positions read and no outside call)."
    else:
        text = f"{gene} {joined}: {pheno}." if names else f"{gene}: {pheno}."
    if source == "outside":
        text += " Outside call, not derived from the submitted VCF."
    return text


@lru_cache(maxsize=256)
def _genotype_skeleton(gene: str, source: str, absent_status: str | None) -> dict[str, Any]:
    """The structural part of a genotype Observation, validated through the R4B model once per
    (gene, source, absence); per-call text (value, notes, conclusion) is filled in by genotype_template."""
    ct = code_table()
    obs: dict[str, Any] = {"resourceType": "Observation"}
    if absent_status is None:
        # the genotype profile requires a value; a data-absent result (dataAbsentReason, no value: obs-6)
        # cannot conform, so it is sent as a plain Observation with the same code rather than dropped
        obs["meta"] = {"profile": [ct.url("profile", "genotype")]}
    obs.update({
        "status": "final",
        "category": _categories(),
        "code": {"coding": [ct.coding("element", "genotype-code")], "text": f"{gene} genotype"},
    })
    if source != NOT_TESTED:
        obs["method"] = {"text": METHOD_TEXT.get(source, METHOD_TEXT["vcf"])}
    if absent_status is not None:
        obs["dataAbsentReason"] = ct.concept("data_absent", absent_status,
                                             text="Not called" if absent_status == "not_called" else "No data")
    else:
        obs["valueCodeableConcept"] = {"text": "placeholder"}
    components = [_component("gene-studied", valueCodeableConcept=gene_concept(gene))]
    if source == "vcf" and absent_status is None:
        components.append(_component("ref-assembly",
                                     valueCodeableConcept={"coding": [ct.coding("element", "grch38")]}))
    components.append(_component("conclusion-string", valueString="placeholder"))  # always last
    obs["component"] = components
    obs["note"] = [{"text": "placeholder"}]
    out = _validated(Observation, obs)
    del out["note"]
    return out


@lru_cache(maxsize=_TEMPLATE_CACHE)
def genotype_template(key: tuple) -> dict[str, Any]:
    gene, status, names, phenotype, activity, source, warnings, n_missing = key
    absent_status = None
    if status in ("not_called", "no_data"):
        absent_status = status
    elif not names and not phenotype:
        absent_status = "not_called"
    obs = dict(_genotype_skeleton(gene, source, absent_status))
    if absent_status is None:
        text = " OR ".join(names) if names else f"{phenotype} (no diplotype reported)"
        obs["valueCodeableConcept"] = {"text": text}
    notes = []
    if status == "ambiguous":
        notes.append(f"Ambiguous: {len(names)} candidate diplotypes fit the data equally well: {' OR '.join(names)}.")
    if n_missing:
        notes.append(f"{n_missing} definition position(s) were missing from the input; alleles defined by them "
                     "could not be tested.")
    notes.extend(w for w in warnings if w)
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    comps = list(obs["component"])
    comps[-1] = {**comps[-1], "valueString": _genotype_conclusion(gene, status, names, phenotype, activity, source)}
    obs["component"] = comps
    return obs


# ---------------------------------------------------------------- therapeutic implication + task

def phenotype_parts(rec: Recommendation, calls_by_gene: dict[str, GeneCall]) -> tuple[tuple[str, str, str], ...]:
    """(gene, coding term, display text) per gene of a recommendation.

    The rule's own lookup value is preferred for the code (it is what the advice is based on); the call's CPIC
    phenotype is the fallback and is added to the text when it says something the lookup value does not.
    """
    out = []
    ct = code_table()
    for gene in rec.genes:
        used = rec.phenotypes.get(gene, "")
        call = calls_by_gene.get(gene)
        called = call.phenotype if call else None
        # the code comes from the rule's own value when it has an IG answer, else from the call's phenotype
        # (an activity score's CPIC phenotype); implication_template codes whatever is left locally
        term = used if ct.phenotype_row(used) else (called if ct.phenotype_row(called) else (used or called or ""))
        text = f"{gene}: {used}" if used else f"{gene}: {called or 'not determined'}"
        if called and used and called.lower() != used.lower():
            text += f" ({called})"
        out.append((gene, term, text))
    return tuple(out)


def recommendation_key(rec: Recommendation, pheno: tuple[tuple[str, str, str], ...]) -> tuple:
    from ehrgen.rules.alternatives import alternatives_text

    return (
        rec.drug, rec.source, rec.guideline_id, rec.guideline_url, rec.rule_id, rec.action, rec.strength,
        rec.alert, rec.summary, rec.rules_version, rec.rxnorm, rec.atc, alternatives_text(rec), rec.dose_percent,
        rec.reason, pheno, rec.recommendation_id, rec.recommendation_url, rec.strength_graded,
    )


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() or ch in ".≥" else " " for ch in text.lower()).split())


def local_concept(system_key: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept in one of ehrgen's own code systems (for values no IG/LOINC answer list covers;
    the bindings there are example/extensible, so a local code is allowed and more honest than a guess)."""
    cc: dict[str, Any] = {"coding": [{"system": code_table().system_url(system_key), "code": code, "display": display}]}
    if text:
        cc["text"] = text
    return cc


def medication_concept(drug: str, rxnorm: str | None, atc: str | None) -> dict[str, Any]:
    ct = code_table()
    coding = []
    if rxnorm:
        coding.append({"system": ct.system_url("rxnorm"), "code": str(rxnorm), "display": drug})
    for code in (atc or "").split(";"):
        if code.strip():
            coding.append({"system": ct.system_url("atc"), "code": code.strip(), "display": drug})
    cc: dict[str, Any] = {"text": drug}
    if coding:
        cc["coding"] = coding
    return cc


def conclusion_text(rec: Recommendation) -> str:
    from ehrgen.rules.alternatives import alternatives_text

    text = rec.summary.strip()
    alts = alternatives_text(rec)
    if alts:
        text += " " + alts
    if rec.recommendation_id:
        text += f" Recommendation {rec.recommendation_id}."
    if rec.guideline_url:
        text += f" Guideline: {rec.guideline_url}"
    return text


@lru_cache(maxsize=_TEMPLATE_CACHE)
def implication_template(key: tuple) -> dict[str, Any]:
    (drug, source, guideline_id, guideline_url, _rule, action, strength, alert, summary, rules_version,
     rxnorm, atc, alternatives, _dose, _reason, pheno, rec_id, rec_url, graded) = key
    ct = code_table()
    components = []
    for gene, term, text in pheno:
        row = ct.phenotype_row(term)
        cc: dict[str, Any] = {"text": text}
        if row is not None and row.code:
            cc["coding"] = [ct.coding("phenotype", row.key)]
        else:  # no IG answer fits (activity score, "likely"/"possible", G6PD, MHS): ehrgen's own code, never rounded
            cc = local_concept("ehrgen-phenotype", f"{gene}:{_slug(term or 'not determined')}",
                               f"{gene} {term or 'not determined'}", text)
        components.append(_component("implication-code", valueCodeableConcept=cc))
    components.append(_component("medication-assessed", valueCodeableConcept=medication_concept(drug, rxnorm, atc)))
    grade = strength.strip() if graded and strength else "not graded"
    components.append(_component("evidence-level", valueCodeableConcept=local_concept(
        "ehrgen-strength", _slug(grade), f"{source} strength of recommendation: {grade}",
        f"{source} strength of recommendation: {grade}")))
    sig = ct.get("significance", alert)
    if sig:
        components.append(_component("clinical-significance", valueCodeableConcept=local_concept(
            "ehrgen-significance", alert, sig.display)))
    rec_text = summary.strip()
    if alternatives:
        rec_text += " " + alternatives
    if rec_id:
        rec_text += f" Recommendation {rec_id}."
    components.append(_component("conclusion-string", valueString=rec_text))
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": {"profile": [ct.url("profile", "therapeutic-implication")]},
        "status": "final",
        "category": _categories(),
        "code": {"coding": [ct.coding("element", "implication-code")],
                 "text": f"{drug}: {source} pharmacogenomic implication"},
        "component": components,
        # placeholder so the model sees a complete shape; replaced per patient
        "derivedFrom": [{"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}],
    }
    extensions = []
    if guideline_url:
        artifact = {"type": "citation", "url": guideline_url, "display": f"{source} guideline ({rules_version})"}
        if guideline_id:
            artifact["label"] = guideline_id
        extensions.append({"url": ct.url("profile", "ext-related-artifact"), "valueRelatedArtifact": artifact})
    if rec_id and rec_url:  # the exact recommendation the advice comes from
        extensions.append({"url": ct.url("profile", "ext-related-artifact"), "valueRelatedArtifact": {
            "type": "citation", "label": rec_id, "url": rec_url,
            "display": f"{source} recommendation {rec_id}"}})
    if extensions:
        obs["extension"] = extensions
    out = _validated(Observation, obs)
    del out["derivedFrom"]
    return out


@lru_cache(maxsize=_TEMPLATE_CACHE)
def task_template(key: tuple) -> dict[str, Any]:
    (drug, source, _gid, guideline_url, _rule, action, _strength, _alert, summary, _rv, _rx, _atc,
     alternatives, _dose, _reason, _pheno, rec_id, rec_url, _graded) = key
    ct = code_table()
    inputs: list[dict[str, Any]] = [{"type": {"text": "Recommendation"}, "valueString": summary.strip()}]
    if alternatives:
        inputs.append({"type": {"text": "Alternatives"}, "valueString": alternatives})
    if rec_id:
        inputs.append({"type": {"text": "Recommendation id"}, "valueString": rec_id})
    if rec_url:
        inputs.append({"type": {"text": "Recommendation"}, "valueUrl": rec_url})
    if guideline_url:
        inputs.append({"type": {"text": "Guideline"}, "valueUrl": guideline_url})
    row = ct.get("action", action)
    coding = ct.coding("action", action) if row else None
    # Medication changes carry their LL4049-4 code (a required binding). Advice no verified LL4049-4 answer covers
    # (monitor, test first, indeterminate) is a follow-up recommendation, whose LL1037-2 binding is extensible:
    # it gets ehrgen's own action code rather than a guessed LOINC answer, and always has a code.
    profile = "medication-recommendation" if coding else "followup-recommendation"
    if not coding:
        coding = {"system": ct.system_url("ehrgen-action"), "code": action,
                  "display": row.display if row else action.replace("_", " ")}
    task: dict[str, Any] = {
        "resourceType": "Task",
        "meta": {"profile": [ct.url("profile", profile)]},
        "status": "requested",  # fixed by the profile
        "intent": "proposal",
        "code": {"coding": [coding], "text": coding["display"]},
        "description": f"{drug}: {summary.strip()}",
        "input": inputs,
    }
    return _validated(Task, task)


def action_display(action: str) -> str:
    row = code_table().get("action", action)
    return row.display if row else action.replace("_", " ")
