"""`ehrgen validate FILE...`: profile validation with HAPI's validator and the Genomics Reporting IG."""

from __future__ import annotations

from pathlib import Path

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors

VALIDATE_EXAMPLES = examples(
    "ehrgen validate out/export/P001.bundle.json",
    "ehrgen validate out/export/*.bundle.json --warnings",
)


def register(app: typer.Typer) -> None:
    @app.command("validate", epilog=VALIDATE_EXAMPLES)
    @one_line_errors
    def validate(
        files: list[Path] = typer.Argument(..., help="FHIR resources or bundles (JSON or XML)"),
        warnings: bool = typer.Option(False, "--warnings", help="also print warnings"),
    ) -> None:
        """Validate against base R4 and declared profiles; prints each error with its FHIRPath.

        Exit 0 only when no file has an error.
        """
        from ehrgen.fhir.validate import validate_files

        issues = validate_files(files, min_severity="warning" if warnings else "error")
        for issue in issues:
            typer.echo(issue.format())
        errors = sum(1 for i in issues if i.is_error)
        bad_files = len({i.file for i in issues if i.is_error})
        err_console.print(f"{len(files)} file(s) validated: {errors} error(s) in {bad_files} file(s)",
                          highlight=False)
        if errors:
            raise typer.Exit(code=1)
