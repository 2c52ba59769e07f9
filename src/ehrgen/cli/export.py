"""`ehrgen export`: interpret output -> FHIR R4 transaction bundles and HL7 v2.5.1 ORU^R01 messages."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors

EXPORT_EXAMPLES = examples(
    "ehrgen export out/results --out out/export",
    "ehrgen export out/results --calls out/calls --clinical sample_data/clinical --out out/export",
)


def register(app: typer.Typer) -> None:
    @app.command("export", epilog=EXPORT_EXAMPLES)
    @one_line_errors
    def export(
        results_dir: Path = typer.Argument(..., help="Folder written by `ehrgen interpret`"),
        out: Path = typer.Option(..., "--out", help="Output folder for <patient>.bundle.json and <patient>.oru.hl7"),
        calls: Optional[Path] = typer.Option(
            None, "--calls", help="Folder with <sample>.calls.json when the interpret output does not embed calls"),
        clinical: Optional[Path] = typer.Option(
            None, "--clinical",
            help="Clinical data (folder or file): EHR patient identifiers and medication orders for Task links"),
        identifier_system: str = typer.Option(
            "urn:ehrgen:patient", "--identifier-system",
            help="Patient identifier system when no clinical identifier is known (value = ehrgen patient id)"),
        check: bool = typer.Option(True, "--check/--no-check",
                                   help="Parse every bundle entry with the R4B models and the ORU strictly"),
    ) -> None:
        """Write one FHIR Genomics Reporting transaction bundle and one ORU^R01 per patient."""
        from ehrgen.cli import lineage
        from ehrgen.fhir.export import iter_export

        # the interpret stage recorded its calls folder and clinical data (B/inputs.json); flags override
        upstream = lineage.recorded(results_dir)
        calls = calls or upstream.get("calls_dir")
        clinical = clinical or upstream.get("clinical")
        clin = None
        if clinical is not None:
            from ehrgen.ingest.clinical.loader import load_clinical

            clin = load_clinical(clinical)
        n_ok = n_bad = 0
        from ehrgen.fhir.bundle import BundleOptions
        from ehrgen.settings import load_settings

        options = BundleOptions.from_settings(load_settings().fhir)  # performer, references, unknown_patient
        for stem, result in iter_export(results_dir, out, calls_dir=calls, clinical=clin,
                                        identifier_system=identifier_system, check=check, options=options):
            if isinstance(result, str):
                n_bad += 1
                err_console.print(f"error: {result}", markup=False, highlight=False)
            else:
                n_ok += 1
        lineage.record(out, "export", results_dir=results_dir, calls_dir=calls, clinical=clinical)
        err_console.print(f"exported {n_ok} patient(s) to {out}" + (f"; {n_bad} failed" if n_bad else ""),
                          markup=False, highlight=False)
        if n_bad:
            raise typer.Exit(code=1)
