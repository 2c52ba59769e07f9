"""`ehrgen cohort DIR`: the cohort summary (HTML with charts, JSON, markdown) from a run's stored results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors


def _files(folder: Path, sub: str, suffix: str) -> list[Path]:
    for d in (folder / sub, folder):
        found = sorted(d.glob(f"*{suffix}")) if d.is_dir() else []
        if found:
            return found
    return []


def load_results(folder: Path):
    """(calls, recommendations, sample -> patient) from a run folder (calls/, recommendations/) or a folder
    holding *.calls.json and *.recommendations.json itself."""
    from ehrgen.errors import InputError
    from ehrgen.pgx.output import read_sample_calls
    from ehrgen.rules.model import Recommendation

    calls = [read_sample_calls(p) for p in _files(folder, "calls", ".calls.json")]
    recs, patient_of = [], {}
    for p in _files(folder, "recommendations", ".recommendations.json"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            got = [Recommendation.from_dict(r) for r in doc.get("recommendations", [])]
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise InputError(str(p), f"not an ehrgen recommendations file ({exc.__class__.__name__})") from None
        recs += got
        for r in got:
            patient_of.setdefault(r.sample, r.patient)
    if not calls:
        raise InputError(str(folder), "no <sample>.calls.json found (expected a run folder with calls/ and "
                                      "recommendations/, or a folder holding those files)")
    return calls, recs, patient_of

COHORT_EXAMPLES = examples(
    'ehrgen cohort out/sample_data',
    'ehrgen cohort out/biobank --out out/biobank-report --title "Biobank PGx"',
)


def register(app: typer.Typer) -> None:
    @app.command("cohort", epilog=COHORT_EXAMPLES)
    @one_line_errors
    def cohort(
        folder: Path = typer.Argument(..., help="run folder (<work>/<run>, with calls/ and recommendations/) "
                                                "or a folder of *.calls.json and *.recommendations.json"),
        clinical: Optional[Path] = typer.Option(None, "--clinical", help="clinical data (for medications; "
                                                "default: the run's own, from run.json)"),
        out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: FOLDER)"),
        title: str = typer.Option("PGx cohort summary", "--title"),
    ) -> None:
        """Cohort summary: per-gene diplotype and phenotype frequencies, share with an actionable result and
        share taking an affected drug (HTML with charts, JSON, markdown)."""
        from ehrgen.report.cohort import FILES, write_cohort_summary

        calls, recs, patient_of = load_results(folder)
        if clinical is None:
            try:
                meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
                clinical = Path(meta["clinical"]) if meta.get("clinical") else None
            except (OSError, ValueError, KeyError):
                clinical = None
        data = None
        if clinical is not None:
            from ehrgen.ingest import load_clinical

            data = load_clinical(clinical)
        target = out or folder
        m = write_cohort_summary(target, calls, recs, data, patient_of, title)
        line = f"{m['people']} people, {m['actionable']['percent']}% with an actionable result"
        if m["medications"]:
            line += f", {m['medications']['taking_affected_drug_percent']}% taking an affected drug"
        err_console.print(f"{line} -> {target / FILES[0]}", highlight=False, soft_wrap=True)
