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


def vcf_with_gaps(src: Path, dst: Path, drop: dict[str, int], filtered: dict[str, int],
                  no_call: dict[str, int]) -> Path:
    """A copy of a sample VCF with, per gene (the PX= tag), the first N records dropped / LowQual / './.'."""
    seen: dict[str, int] = {}
    out = []
    for line in src.read_text().splitlines():
        if line.startswith("#"):
            out.append(line)
            continue
        f = line.split("\t")
        gene = next((x[3:] for x in f[7].split(";") if x.startswith("PX=")), "")
        k = seen[gene] = seen.get(gene, 0) + 1
        if k <= drop.get(gene, 0):
            continue
        k -= drop.get(gene, 0)
        if k <= filtered.get(gene, 0):
            f[6] = "LowQual"
        elif k <= filtered.get(gene, 0) + no_call.get(gene, 0):
            f[9] = "./."
        out.append("\t".join(f))
    if not any(l.startswith("##FILTER=<ID=LowQual") for l in out):
        out.insert(1, '##FILTER=<ID=LowQual,Description="Low quality">')
    return write(dst, "\n".join(out) + "\n")


def report_with_gaps(patient: str, tmp: Path, report_date: str = "2026-12-01T09:00:00+00:00"):
    """(html, model) for a sample patient whose VCF lost positions in three genes (calls made here)."""
    import csv

    from ehrgen.pgx.caller import call_vcf
    from ehrgen.pipeline.context import load_context
    from ehrgen.pgx.outside import parse_outside_calls
    from ehrgen.report.clinician import PatientInfo, build_report_model, medications_from_clinical, render_html
    from ehrgen.rules.engine import interpret

    ctx = load_context(str(SAMPLE_DATA / "clinical"), None)
    row = next(r for r in csv.DictReader(open(SAMPLE_DATA / "manifest.csv")) if r["patient_id"] == patient)
    vcf = vcf_with_gaps(SAMPLE_DATA / row["vcf"], tmp / "gaps.vcf", drop={"CYP2C19": 3}, filtered={"CYP2C19": 1},
                        no_call={"DPYD": 12, "CYP2B6": 2})
    outside = {}
    if row.get("outside_calls"):
        outside[row["sample_id"]] = parse_outside_calls(str(SAMPLE_DATA / row["outside_calls"]), ctx.definitions)
    calls = call_vcf(vcf, samples=[row["sample_id"]], outside=outside, definitions=ctx.definitions)[0]
    recs = interpret(calls, patient, ruleset=ctx.ruleset)
    model = build_report_model(patient, [calls], recs, ctx.ruleset_meta, report_date=report_date,
                               patient_info=PatientInfo.from_clinical(patient, ctx.clinical.patients.get(patient)),
                               medications=medications_from_clinical(ctx.clinical.medications_for(patient)))
    return render_html(model), model, calls


COHORT = SAMPLE_DATA.parent / "tests" / "data" / "1kgp-pgx"


@lru_cache(maxsize=1)
def cohort_inputs():
    """[(calls, recs)] for every person of the vendored 300-person 1000 Genomes slice (real genotypes), called and
    interpreted as the pipeline does; shared by the report and FHIR both-paths tests (one load per session)."""
    from ehrgen.ingest.vcf import read_genotypes
    from ehrgen.pgx.caller import call_batch
    from ehrgen.pipeline.context import load_context
    from ehrgen.rules.engine import interpret

    ctx = load_context(str(SAMPLE_DATA / "clinical"), None)
    vcf = next(COHORT.glob("*dense*.vcf.gz"))
    calls = call_batch(read_genotypes(str(vcf), ctx.definitions), ctx.definitions, {}, "0" * 64)
    return [(c, interpret(c, f"K{i:03d}", ruleset=ctx.ruleset)) for i, c in enumerate(calls)], ctx


def manifest_patients() -> list[str]:
    """The sample patients whose data is expected to load (the malformed VCF's patient is not)."""
    import csv

    with open(SAMPLE_DATA / "manifest.csv", newline="") as fh:
        return [r["patient_id"] for r in csv.DictReader(fh) if r["expect"] == "ok"]
