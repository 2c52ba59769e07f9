"""Build one patient's FHIR R4 transaction Bundle (Genomics Reporting IG 3.0.0) from calls and recommendations.

Bundle layout (entry order):
  Patient (POST, ifNoneExist: never overwrites the EHR's patient), Specimen, one genotype Observation per gene,
  one therapeutic-implication Observation and one medication-recommendation Task per actionable
  recommendation, the genomic-report DiagnosticReport, a Provenance.
Every entry but Patient/Provenance is a conditional update (PUT Type?identifier=system|value), so re-sending
never duplicates; Provenance has no identifier element in R4 and is PUT to a deterministic id instead.
See ehrgen.fhir.ids for the identifier scheme.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Literal
from urllib.parse import quote

from ehrgen.fhir import resources as R
from ehrgen.fhir.codes import code_table
from ehrgen.fhir.ids import business_identifier, conditional_url, full_url, search_token, stable_uuid
from ehrgen.pgx.model import GeneCall, SampleCalls
from ehrgen.rules.alternatives import screen
from ehrgen.rules.findings import count_findings, drug_findings
from ehrgen.rules.model import Recommendation

try:  # orjson is already installed with prefect/fastapi; plain json is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


@dataclass(frozen=True)
class PatientRef:
    """The patient the results belong to: ehrgen's patient key plus the EHR identifier used to find them."""

    id: str
    identifier_system: str
    identifier_value: str


@dataclass(frozen=True)
class BundleOptions:
    """Site choices for the bundles (settings `fhir.*`, see docs/ehr-integration.md)."""

    performer_name: str = "Pharmacogenomics laboratory"
    performer_identifier: tuple[str, str] | None = None  # (system, value) of the lab
    references: Literal["conditional", "plain"] = "conditional"
    unknown_patient: Literal["create", "reject"] = "create"

    @classmethod
    def from_settings(cls, fhir: Any) -> "BundleOptions":
        ident = None
        if fhir.performer_identifier_system and fhir.performer_identifier_value:
            ident = (fhir.performer_identifier_system, fhir.performer_identifier_value)
        return cls(performer_name=fhir.performer_name, performer_identifier=ident, references=fhir.references,
                   unknown_patient=fhir.unknown_patient)

    def performer(self) -> dict[str, Any]:
        """The lab as a logical Organization reference (identifier + display; nothing to resolve)."""
        ref: dict[str, Any] = {"type": "Organization"}
        if self.performer_identifier:
            ref["identifier"] = {"system": self.performer_identifier[0], "value": self.performer_identifier[1]}
        ref["display"] = self.performer_name
        return ref


@dataclass
class ReportContext:
    ehrgen_version: str
    rules_version: str
    input_sha256: str
    issued: datetime
    report_html: str | None = None
    report_pdf: bytes | None = None  # the same report as PDF, when a PDF engine was available
    medication_orders: dict[str, str] = field(default_factory=dict)  # drug -> "id" | "MedicationRequest/id" | ...
    # "conditional": subject = Patient?identifier=...; "fullurl": subject = the Patient entry's urn:uuid
    patient_reference: Literal["conditional", "fullurl"] = "conditional"
    # set on re-interpretation: the advice this bundle replaces (for Provenance and the clinician's notice)
    supersedes: "Supersession | None" = None
    options: BundleOptions = field(default_factory=BundleOptions)


@dataclass
class Supersession:
    """Earlier actionable advice for the same patient/sample, made with another rules version."""

    previous_rules_version: str
    previous: list[tuple[str, str]]  # (drug, source) of each earlier implication/Task
    changed_drugs: list[str]  # drugs whose advice changed (added, removed or different)


def _instant(dt: datetime) -> str:
    if dt.tzinfo is None:  # an instant needs a zone; naive times are taken as UTC
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.isoformat(timespec="seconds")


def _put(resource: dict[str, Any], identifier: dict[str, str]) -> dict[str, Any]:
    return {"fullUrl": full_url(identifier), "resource": resource,
            "request": {"method": "PUT", "url": conditional_url(resource["resourceType"], identifier)}}


def _order_reference(order: str) -> tuple[str, str]:
    """('MedicationStatement'|'MedicationRequest'|..., 'Type/id') for a medication order id."""
    if "/" in order:
        rtype = order.split("/", 1)[0]
        return rtype, order
    return "MedicationRequest", f"MedicationRequest/{order}"


def _dedupe(recs: Iterable[Recommendation]) -> list[Recommendation]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in recs:
        k = (r.drug, r.source)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def build_bundle(calls: SampleCalls, recs: list[Recommendation], patient: PatientRef,
                 context: ReportContext) -> dict[str, Any]:
    """A JSON-ready transaction Bundle dict for one patient/sample.

    Only recommendations with `actionable` set become implication + Task pairs. For speed the returned dict
    shares nested sub-objects with cached templates: treat it as read-only (serialize it with bundle_json,
    or take an independent copy with json.loads(bundle_json(b)) before changing anything).
    """
    ct = code_table()
    pid, sample, rv = patient.id, calls.sample, context.rules_version
    issued = _instant(context.issued)

    opts = context.options
    performer = [opts.performer()]
    # patient: conditional create, referenced conditionally (or by fullUrl: fhir.references = "plain")
    p_ident = {"system": patient.identifier_system, "value": patient.identifier_value}
    p_token = search_token(patient.identifier_system, patient.identifier_value)
    p_full = f"urn:uuid:{stable_uuid('patient', patient.identifier_system, patient.identifier_value)}"
    conditional = context.patient_reference == "conditional" and opts.references == "conditional"
    subject = {"reference": f"Patient?identifier={p_token}" if conditional else p_full}
    entries: list[dict[str, Any]] = [{
        "fullUrl": p_full,
        "resource": {"resourceType": "Patient", "identifier": [p_ident]},
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={p_token}"},
    }]
    if opts.unknown_patient == "reject" and conditional:
        # no Patient entry: the server must resolve Patient?identifier= or fail the whole transaction, so an
        # unknown MRN never creates a bare Patient (the FHIR sender checks first and says so per patient)
        entries = []

    sp_ident = business_identifier("specimen", pid, sample)
    specimen_ref = {"reference": full_url(sp_ident)}
    entries.append(_put({"resourceType": "Specimen", "identifier": [sp_ident], "subject": subject}, sp_ident))

    # genotypes: every gene of the calls, plus any gene a recommendation names that the calls lack (as no data)
    # every offered alternative is checked against this patient's own results before a Task offers it
    actionable = [screen(r, calls) for r in _dedupe(r for r in recs if r.actionable)]
    genes: dict[str, GeneCall] = dict(calls.genes)
    for r in actionable:
        for g in r.genes:
            genes.setdefault(g, GeneCall(gene=g, status="no_data"))
    genotype_refs: dict[str, dict[str, str]] = {}
    result_refs: list[dict[str, str]] = []
    for gene, call in genes.items():
        ident = business_identifier("genotype", pid, sample, gene)
        tpl = R.genotype_template(R.genotype_key(call))
        res = {**tpl, "identifier": [ident], "subject": subject, "effectiveDateTime": issued, "issued": issued,
               "performer": performer, "specimen": specimen_ref}
        entries.append(_put(res, ident))
        ref = {"reference": full_url(ident)}
        genotype_refs[gene] = ref
        result_refs.append(ref)

    # implications and tasks
    actions: list[dict[str, Any]] = []
    task_entries: list[dict[str, Any]] = []
    for rec in actionable:
        pheno = R.phenotype_parts(rec, genes)
        key = R.recommendation_key(rec, pheno)
        i_ident = business_identifier("therapeutic-implication", pid, sample, rec.drug, rec.source, rv)
        derived = [genotype_refs[g] for g in rec.genes if g in genotype_refs]
        imp = {**R.implication_template(key), "identifier": [i_ident], "subject": subject,
               "effectiveDateTime": issued, "issued": issued, "performer": performer, "specimen": specimen_ref,
               "derivedFrom": derived}
        entries.append(_put(imp, i_ident))
        i_ref = {"reference": full_url(i_ident)}
        result_refs.append(i_ref)

        t_ident = business_identifier("task", pid, sample, rec.drug, rec.source, rv)
        pheno_text = "; ".join(p[2] for p in pheno)
        task = {**R.task_template(key), "identifier": [t_ident], "for": subject, "authoredOn": issued,
                "reasonReference": {**i_ref, "display": f"{rec.drug}, {pheno_text}"}}
        order = context.medication_orders.get(rec.drug)
        if order:
            rtype, oref = _order_reference(order)
            if rtype == "MedicationStatement":  # the profile restricts Task.focus to MedicationStatement
                task["focus"] = {"reference": oref}
            else:
                task["input"] = [*task["input"], {"type": {"text": "Medication order"},
                                                  "valueReference": {"reference": oref}}]
        task_entries.append(_put(task, t_ident))
        actions.append({"url": ct.url("profile", "ext-recommended-action"),
                        "valueReference": {"reference": full_url(t_ident),
                                           "display": f"{rec.drug}: {R.action_display(rec.action)}"}})
    entries.extend(task_entries)

    # report
    r_ident = business_identifier("report", pid, sample)
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "meta": {"profile": [ct.url("profile", "genomic-report")]},
    }
    if actions:
        report["extension"] = actions
    report.update({
        "identifier": [r_ident],
        "status": "final",
        "category": [{"coding": [ct.coding("element", "category-ge")]}],
        "code": {"coding": [ct.coding("element", "report-code")], "text": "Pharmacogenomic report"},
        "subject": subject,
        "effectiveDateTime": issued,
        "issued": issued,
        "performer": performer,
        "specimen": [specimen_ref],
        "result": result_refs,
        "conclusion": _conclusion(genes, recs),
    })
    forms = []
    if context.report_html:
        forms.append({"contentType": "text/html", "title": "Pharmacogenomic report",
                      "data": base64.b64encode(context.report_html.encode("utf-8")).decode("ascii")})
    if context.report_pdf:
        forms.append({"contentType": "application/pdf", "title": "Pharmacogenomic report (PDF)",
                      "data": base64.b64encode(context.report_pdf).decode("ascii")})
    if forms:
        report["presentedForm"] = forms
    entries.append(_put(report, r_ident))

    sup = context.supersedes
    if sup is not None:
        entries.append(_reinterpretation_notice(pid, sample, rv, sup, subject, issued, full_url(r_ident)))

    # provenance: which ehrgen, which rules, which input
    pv_uuid = stable_uuid("provenance", pid, sample, rv, context.input_sha256, context.ehrgen_version)
    pv_id = f"ehrgen-{pv_uuid}"
    provenance = {
        "resourceType": "Provenance",
        "id": pv_id,
        "target": [{"reference": e["fullUrl"]} for e in entries if e["resource"]["resourceType"] != "Patient"],
        "recorded": issued,
        "policy": [f"urn:ehrgen:rules:{quote(rv, safe='')}", f"urn:ehrgen:version:{quote(context.ehrgen_version, safe='')}"],
        "agent": [{"type": ct.concept("element", "provenance-author"),
                   "who": {"display": f"ehrgen {context.ehrgen_version} (rules {rv})"}}],
        "entity": [{"role": "source", "what": {
            "identifier": {"system": ct.system_url("ehrgen-input"), "value": context.input_sha256},
            "display": f"input file sha256:{context.input_sha256}"}}],
    }
    if sup is not None:  # this bundle revises the earlier advice: link the resources it replaces
        provenance["activity"] = {"text": f"re-interpretation: rules {sup.previous_rules_version} -> {rv}"}
        for drug, source in sup.previous:
            for kind in ("therapeutic-implication", "task"):
                provenance["entity"].append({"role": "revision", "what": {
                    "identifier": business_identifier(kind, pid, sample, drug, source, sup.previous_rules_version),
                    "display": f"{kind} {drug} ({source}), rules {sup.previous_rules_version}"}})
    entries.append({"fullUrl": f"urn:uuid:{pv_uuid}", "resource": provenance,
                    "request": {"method": "PUT", "url": f"Provenance/{pv_id}"}})

    return {
        "resourceType": "Bundle",
        "identifier": business_identifier("bundle", pid, sample, rv, context.input_sha256),
        "type": "transaction",
        "timestamp": issued,
        "entry": entries,
    }


def _reinterpretation_notice(pid: str, sample: str, rv: str, sup: Supersession, subject: dict[str, str],
                             issued: str, report_url: str) -> dict[str, Any]:
    """A Communication telling the clinician that the patient's PGx advice changed with new guideline rules."""
    ident = business_identifier("reinterpretation-notice", pid, sample, sup.previous_rules_version, rv)
    drugs = ", ".join(sup.changed_drugs[:20]) + (f" and {len(sup.changed_drugs) - 20} more"
                                                 if len(sup.changed_drugs) > 20 else "")
    text = (f"Pharmacogenomic advice for this patient was re-interpreted with updated guideline rules "
            f"({sup.previous_rules_version} -> {rv}). Advice changed for: {drugs or 'no drug (wording only)'}. "
            "Please review the updated pharmacogenomic report; the earlier recommendations are superseded.")
    res = {
        "resourceType": "Communication",
        "identifier": [ident],
        "status": "completed",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/communication-category",
                                  "code": "notification"}]}],
        "priority": "routine",
        "subject": subject,
        "about": [{"reference": report_url}],
        "sent": issued,
        "payload": [{"contentString": text}],
    }
    return _put(res, ident)


def _conclusion(genes: dict[str, GeneCall], recs: list[Recommendation]) -> str:
    # the same counts as the report and the terminal table (ehrgen.rules.findings)
    counts = count_findings(recs)
    parts = [counts.headline() + (": " + ", ".join(sorted(f.drug for f in drug_findings(recs)))
                                  if counts.actionable else "") + "."]
    amb = sorted(g for g, c in genes.items() if c.status == "ambiguous")
    absent = sorted(g for g, c in genes.items() if c.status in ("not_called", "no_data"))
    if amb:
        parts.append("Ambiguous (several candidate diplotypes): " + ", ".join(amb) + ".")
    if absent:
        parts.append("Not called / no data: " + ", ".join(absent) + ".")
    return " ".join(parts)


def bundle_json(bundle: dict[str, Any], indent: bool = False) -> str:
    """Serialize a bundle (fast path: orjson)."""
    if _orjson is not None:
        opt = _orjson.OPT_INDENT_2 if indent else 0
        return _orjson.dumps(bundle, option=opt).decode("utf-8")
    return json.dumps(bundle, indent=2 if indent else None, ensure_ascii=False)
