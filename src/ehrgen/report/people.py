"""The I/O edge shared by `ehrgen run` and `ehrgen card`: interpret one sample and write the patient's
summary and wallet card (ehrgen.report.patient) with the configured (or demo) signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ehrgen.pgx.model import SampleCalls
from ehrgen.report.clinician import PatientInfo
from ehrgen.report.patient import write_people_outputs
from ehrgen.report.signing import load_signing_key
from ehrgen.rules.model import Recommendation
from ehrgen.settings import Settings


def write_for_patient(calls: SampleCalls, patient: str, ctx: Any, out_dir: Path, settings: Settings,
                      work_dir: Path, source: str = "both",
                      recs: list[Recommendation] | None = None) -> dict[str, Path]:
    """ctx: an ehrgen.pipeline.context.Context (rule set and clinical data). recs: this sample's
    recommendations when the caller has just made them (ehrgen.rules.engine.interpret with the same calls,
    patient, source and ctx.ruleset); None interprets here, so the card never depends on which stage files an
    earlier run left behind."""
    if recs is None:
        from ehrgen.rules.engine import interpret

        recs = interpret(calls, patient, source=source, ruleset=ctx.ruleset)  # type: ignore[arg-type]
    key = load_signing_key(settings.report.card_signing_key, work_dir)
    info = PatientInfo.from_clinical(patient, ctx.clinical.patients.get(patient))
    return write_people_outputs(patient, info, [calls], recs, out_dir, key, settings.report.card_issuer,
                                pdf_engine=None if settings.report.pdf_engine == "auto" else settings.report.pdf_engine,
                                png=settings.report.card_png)
