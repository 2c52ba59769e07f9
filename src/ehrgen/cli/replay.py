"""`ehrgen replay`: run the whole scenario of a sample-data folder and check it against expected/*."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors


def replay_verdict(n: int, n_failed: int) -> str:
    if not n_failed:
        return f"all {n} sample(s) pass"
    return f"{n_failed} of {n} sample(s) FAIL"


def flow_caption(state_name: str, message: str | None, checks) -> str:
    expected = [c.sample for c in checks if c.expected == "input_error" and c.passed]
    caption = f"pipeline flow run: {state_name}" + (f" ({message})" if message else "")
    if expected:
        caption += f"; failing as the scenario expects (input error): {', '.join(expected)}"
    return caption

REPLAY_EXAMPLES = examples(
    "ehrgen replay sample_data/",
    "ehrgen replay sample_data/ --fhir http://127.0.0.1:8080/fhir",
)


def register(app: typer.Typer) -> None:
    @app.command("replay", epilog=REPLAY_EXAMPLES)
    @one_line_errors
    def replay(
        input_dir: Path = typer.Argument(Path("sample_data"), help="scenario folder with manifest.csv and expected/"),
        fhir: Optional[str] = typer.Option(None, "--fhir", help="also deliver to this FHIR R4 base URL"),
        mllp: Optional[str] = typer.Option(None, "--mllp", help="also deliver ORU^R01 to this HOST:PORT"),
        work: Path = typer.Option(Path("out/replay"), "--work", help="work folder (the run's stage files are redone)"),
        dask: Optional[str] = typer.Option(None, "--dask", help="Dask scheduler address, or 'local'"),
    ) -> None:
        """Run every sample of the scenario through the pipeline and compare calls and recommendations with
        expected/calls.tsv and expected/recommendations.tsv; exit 1 on any difference."""
        from rich.console import Console
        from rich.table import Table

        from ehrgen.cli.run import run_flow
        from ehrgen.errors import InputError
        from ehrgen.pgx.output import safe_name
        from ehrgen.pipeline.replay import compare
        from ehrgen.pipeline.workdir import RunDirs

        expected = input_dir / "expected"
        if not (expected / "calls.tsv").is_file():
            raise InputError(str(expected / "calls.tsv"), "expected table not found")
        name = input_dir.resolve().name
        dirs = RunDirs(work / safe_name(name))
        for d in (dirs.calls, dirs.recommendations, dirs.export):  # recompute every stage (the ledger stays)
            shutil.rmtree(d, ignore_errors=True)
        state, outcomes = run_flow(input_dir, work, work / "outbox", fhir, mllp, dask, run_name=name)
        checks = compare(expected, dirs, outcomes)
        failed = [c for c in checks if not c.passed]
        # the title is the replay's verdict; the flow's own state (Partially Failed whenever the scenario holds
        # a sample that must fail, like sample_data's malformed S017) goes in the caption, with why
        t = Table(title=f"ehrgen replay {input_dir}: " + replay_verdict(len(checks), len(failed)),
                  caption=flow_caption(state.name, state.message, checks))
        for col in ("sample", "expected", "status", "genes", "recs", "result", "first difference (expected -> got)"):
            t.add_column(col, overflow="fold")
        for c in checks:
            res = "[green]PASS[/green]" if c.passed else "[red]FAIL[/red]"
            t.add_row(c.sample, c.expected, c.status, str(c.genes_checked), str(c.recs_checked), res,
                      "; ".join(c.problems[:2]))
        Console().print(t)
        note = "" if (expected / "recommendations.tsv").is_file() else " (no expected/recommendations.tsv: calls only)"
        err_console.print(f"replay: {len(checks) - len(failed)} of {len(checks)} sample(s) pass{note}", highlight=False)
        if failed:
            raise typer.Exit(code=1)
