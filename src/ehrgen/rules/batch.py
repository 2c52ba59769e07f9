"""Interpret a folder of <sample>.calls.json: pre-emptive table per patient, reactive alerts for medications.

I/O lives here (the engine stays pure). One unreadable calls file or failing patient is reported and the
rest of the batch still runs. Nothing here logs genotypes or patient identifiers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ehrgen.errors import InputError
from ehrgen.pgx.model import SampleCalls
from ehrgen.pgx.output import atomic_write_text
from ehrgen.rules.drugs import DrugTable, UnknownDrug, default_table, resolve_medications
from ehrgen.rules.engine import SourceOpt, default_ruleset, interpret
from ehrgen.rules.model import RECOMMENDATION_COLUMNS, Recommendation
from ehrgen.rules.ruleset import RuleSet, load

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC_SYSTEM = "http://www.whocc.no/atc"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class BatchResult:
    patients: int = 0
    samples: int = 0
    recommendations: int = 0
    alerts: int = 0
    reports: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def safe_file_stem(ident: str) -> str:
    return _UNSAFE.sub("_", ident)[:128] or "_"


RECOMMENDATIONS_TSV_HEADER = "\t".join(RECOMMENDATION_COLUMNS) + "\n"


def recommendation_rows(recs: list[Recommendation]) -> str:
    """recommendations.tsv's rows for these records, without the header (the pipeline's per-sample digests keep
    them, and a batch's table is the header plus each sample's rows)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    cols = list(RECOMMENDATION_COLUMNS)
    w.writerows([row[k] for k in cols] for row in (r.row() for r in recs))
    return buf.getvalue()


def recommendations_tsv(recs: list[Recommendation]) -> str:
    return RECOMMENDATIONS_TSV_HEADER + recommendation_rows(recs)


def read_calls_dir(calls_dir: Path) -> tuple[list[SampleCalls], list[str]]:
    """All <sample>.calls.json in calls_dir; bad files become error strings (file: what was expected)."""
    if not calls_dir.is_dir():
        raise InputError(str(calls_dir), "not a folder of <sample>.calls.json files")
    files = sorted(calls_dir.glob("*.calls.json"))
    if not files:
        raise InputError(str(calls_dir), "no *.calls.json files found")
    out, errors = [], []
    for f in files:
        try:
            out.append(SampleCalls.from_dict(json.loads(f.read_text(encoding="utf-8"))))
        except (ValueError, KeyError, TypeError) as exc:
            errors.append(f"{f}: not a valid ehrgen calls file ({type(exc).__name__}: {str(exc)[:120]})")
    return out, errors


def calls_summary(calls: SampleCalls) -> dict[str, Any]:
    return {
        "sample": calls.sample, "mappings_version": calls.mappings_version, "ehrgen_version": calls.ehrgen_version,
        "genes": {g: {"status": c.status, "diplotype": c.diplotype_text or None, "phenotype": c.phenotype,
                      "activity_score": c.activity_score, "source": c.source}
                  for g, c in sorted(calls.genes.items())},
        **({"assumptions": list(calls.assumptions)} if calls.assumptions else {}),  # e.g. absent_is_reference
    }


def _load_clinical(path: Path) -> Any:
    """ehrgen.ingest.load_clinical if built (another module's job); a clear error otherwise."""
    loader: Callable[[Path], Any] | None = None
    for mod in ("ehrgen.ingest", "ehrgen.ingest.clinical"):
        try:
            loader = getattr(__import__(mod, fromlist=["load_clinical"]), "load_clinical")
            break
        except (ImportError, AttributeError):
            continue
    if loader is None:
        raise InputError(str(path), "clinical data loader (ehrgen.ingest.load_clinical) is not available")
    return loader(path)


def _medication_inputs(med: Any) -> list[str | tuple[str, str]]:
    """The codes a medication carries, best first (RxNorm, ATC, other systems), then its text."""
    items: list[str | tuple[str, str]] = []
    codes = list(getattr(med, "codes", []) or [])
    for system, code in sorted(codes, key=lambda sc: (sc[0] != RXNORM_SYSTEM, sc[0] != ATC_SYSTEM)):
        if system in (RXNORM_SYSTEM, ATC_SYSTEM):
            items.append((system, code))
    text = getattr(med, "drug_text", None)
    if text:
        items.append(("name", text))
    return items


def resolve_patient_medications(meds: list[Any], table: DrugTable) -> tuple[list[str], list[UnknownDrug]]:
    """Drug names for active/proposed medications; a medication is unknown only if none of its codes or text resolve."""
    names: list[str] = []
    unknown: list[UnknownDrug] = []
    for med in meds:
        if getattr(med, "status", "active") == "stopped":
            continue
        inputs = _medication_inputs(med)
        found: list[str] = []
        misses: list[UnknownDrug] = []
        for item in inputs:
            drugs, bad = resolve_medications([item], table)
            if drugs:
                found = [d.name for d in drugs]
                break
            misses += bad
        if found:
            names += [n for n in found if n not in names]
        elif misses:
            unknown.append(misses[0])
        else:
            unknown.append(UnknownDrug("", None, "medication has no RxNorm/ATC code or text"))
    return names, unknown


def interpret_dir(calls_dir: Path, out_dir: Path, clinical: Path | None = None, source: SourceOpt = "both",
                  ruleset: RuleSet | None = None, rules_path: Path | None = None,
                  render_reports: bool = True) -> BatchResult:
    rs = ruleset or (load(rules_path) if rules_path else default_ruleset())
    table = default_table()
    res = BatchResult()
    all_calls, res.errors = read_calls_dir(calls_dir)
    links: dict[str, str] = {}
    meds_by_patient: dict[str, list[Any]] = {}
    patients: dict[str, Any] = {}
    if clinical is not None:
        data = _load_clinical(clinical)
        links = dict(getattr(data, "links", {}) or {})
        patients = dict(getattr(data, "patients", {}) or {})
        for med in getattr(data, "medications", []) or []:
            meds_by_patient.setdefault(med.patient_id, []).append(med)
        for e in getattr(data, "errors", []) or []:
            res.warnings.append(f"clinical input: {e}")
    by_patient: dict[str, list[SampleCalls]] = {}
    for c in all_calls:
        patient = links.get(c.sample, c.sample)
        if clinical is not None and c.sample not in links:
            res.warnings.append(f"a sample ({safe_file_stem(c.sample)}.calls.json) is not linked to a patient; "
                                "its sample id is used as the patient id")
        by_patient.setdefault(patient, []).append(c)
    renderer = _report_renderer() if render_reports else None
    table_rows: list[Recommendation] = []
    alert_rows: list[Recommendation] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for patient, samples in sorted(by_patient.items()):
        try:
            recs: list[Recommendation] = []
            alerts: list[Recommendation] = []
            meds, unknown = resolve_patient_medications(meds_by_patient.get(patient, []), table)
            for calls in samples:
                recs += interpret(calls, patient, None, source, "preemptive", rs, table)
                if meds:
                    alerts += interpret(calls, patient, meds, source, "reactive", rs, table)
            doc = {
                "schema": "ehrgen.recommendations/1", "patient": patient,
                "rules": rs.meta(), "samples": [calls_summary(c) for c in samples],
                "medications_checked": meds, "unknown_medications": [u.to_dict() for u in unknown],
                "recommendations": [r.to_dict() for r in recs], "alerts": [a.to_dict() for a in alerts],
            }
            path = out_dir / f"{safe_file_stem(patient)}.recommendations.json"
            atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
            res.files.append(path)
            if renderer is not None:
                from ehrgen.report.clinician import PatientInfo, medications_from_clinical

                # without clinical data the patient's identity is unconfirmed: the report is preliminary
                renderer(patient, samples, recs, rs.meta(), out_dir,
                         patient_info=PatientInfo.from_clinical(patient, patients.get(patient)),
                         medications=medications_from_clinical(meds_by_patient.get(patient, [])),
                         status="final" if clinical is not None and patient in patients else "preliminary")
                res.reports += 1
            table_rows += recs
            alert_rows += alerts
            res.patients += 1
            res.samples += len(samples)
        except Exception as exc:  # one failing patient must not sink the batch; no identifiers in the message
            res.errors.append(f"patient #{res.patients + len(res.errors) + 1}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
    atomic_write_text(out_dir / "recommendations.tsv", recommendations_tsv(table_rows))
    res.files.append(out_dir / "recommendations.tsv")
    if clinical is not None:
        atomic_write_text(out_dir / "alerts.tsv", recommendations_tsv(alert_rows))
        res.files.append(out_dir / "alerts.tsv")
    res.recommendations, res.alerts = len(table_rows), len(alert_rows)
    return res


def _report_renderer() -> Callable[..., Any] | None:
    from ehrgen.report.clinician import render_patient_report

    return render_patient_report
