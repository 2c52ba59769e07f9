"""`ehrgen interpret`: calls.json -> CPIC/DPWG recommendations (pre-emptive table + reactive alerts)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors

INTERPRET_EXAMPLES = examples(
    "ehrgen interpret out/calls --clinical sample_data/clinical --out out/results",
    "ehrgen interpret out/calls --source cpic --no-report --out out/results-cpic",
)


def register(app: typer.Typer) -> None:
    @app.command("interpret", epilog=INTERPRET_EXAMPLES)
    @one_line_errors
    def interpret(
        calls_dir: Path = typer.Argument(..., help="folder of <sample>.calls.json (from `ehrgen call`)"),
        out: Path = typer.Option(..., "--out", help="output folder: recommendations.tsv, <patient>.recommendations.json"),
        clinical: Optional[Path] = typer.Option(
            None, "--clinical", help="clinical data (folder or file): sample->patient links and medications; "
                                     "adds reactive alerts (alerts.tsv) for each patient's medications"),
        source: str = typer.Option("both", "--source", help="cpic | dpwg | both"),
        rules: Optional[Path] = typer.Option(None, "--rules", help="rules folder or rules.tsv (default: project rules/)"),
        no_report: bool = typer.Option(False, "--no-report", help="skip the per-patient HTML/JSON report"),
    ) -> None:
        """Interpret PGx calls with the CPIC/DPWG rules (pre-emptive for every sample; reactive with --clinical)."""
        from ehrgen.errors import InputError
        from ehrgen.rules.batch import interpret_dir

        if source not in ("cpic", "dpwg", "both"):
            raise InputError("--source", f"expected cpic, dpwg or both, got {source!r}")
        res = interpret_dir(calls_dir, out, clinical=clinical, source=source,  # type: ignore[arg-type]
                            rules_path=rules, render_reports=not no_report)
        from ehrgen.cli import lineage

        lineage.record(out, "interpret", calls_dir=calls_dir, clinical=clinical, rules=rules)
        for w in res.warnings:
            err_console.print(f"warning: {w}", markup=False, highlight=False)
        for e in res.errors:
            err_console.print(f"error: {e}", markup=False, highlight=False)
        err_console.print(
            f"interpreted {res.samples} sample(s) for {res.patients} patient(s): {res.recommendations} "
            f"recommendation(s), {res.alerts} medication alert(s), {res.reports} report(s) -> {out}",
            markup=False, highlight=False)
        if res.errors:
            raise typer.Exit(code=1)
