"""Build the sample patients' report inputs straight from sample_data (calls made here, no pipeline)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tests.report.conftest import SAMPLE_DATA


@lru_cache(maxsize=32)
def sample_inputs(patient: str):
    """(calls, recs, ctx) for one sample patient, called from its VCF (and outside calls)."""
    import csv

    from ehrgen.pgx.caller import call_batch
    from ehrgen.ingest.vcf import read_genotypes
    from ehrgen.pgx.outside import parse_outside_calls
    from ehrgen.pipeline.context import load_context
    from ehrgen.rules.engine import interpret

    ctx = load_context(str(SAMPLE_DATA / "clinical"), None)
    row = next(r for r in csv.DictReader(open(SAMPLE_DATA / "manifest.csv")) if r["patient_id"] == patient)
    vcf = str(SAMPLE_DATA / row["vcf"])
    outside = {}
    if row.get("outside_calls"):
        outside[row["sample_id"]] = parse_outside_calls(str(SAMPLE_DATA / row["outside_calls"]), ctx.definitions)
    batch = read_genotypes(vcf, ctx.definitions, samples=[row["sample_id"]])
    calls = call_batch(batch, ctx.definitions, outside, "0" * 64)[0]
    recs = interpret(calls, patient, ruleset=ctx.ruleset)
    return calls, recs, ctx


def report_html(patient: str, report_date: str = "2026-12-01T09:00:00+00:00") -> tuple[str, dict]:
    from ehrgen.report.clinician import PatientInfo, build_report_model, medications_from_clinical, render_html

    calls, recs, ctx = sample_inputs(patient)
    model = build_report_model(patient, [calls], recs, ctx.ruleset_meta, report_date=report_date,
                               patient_info=PatientInfo.from_clinical(patient, ctx.clinical.patients.get(patient)),
                               medications=medications_from_clinical(ctx.clinical.medications_for(patient)))
    return render_html(model), model


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path
