"""`ehrgen run`: the pgx-pipeline Prefect flow on a folder laid out like sample_data/, with a summary table."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors


def import_flows():
    """flows/ sits at the project root (next to src/), outside the installed package."""
    from ehrgen.paths import project_root

    root = str(project_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    import flows.pgx_pipeline  # noqa: F401

    return flows


def run_flow(input_dir: Path, work: Path, outbox: Optional[Path], fhir: Optional[str], mllp: Optional[str],
             dask: Optional[str], rules_dir: Optional[Path] = None, chunk_size: int = 500,
             run_name: Optional[str] = None, show_progress: bool = True, absent_is_reference: bool = False,
             min_ref_gq: Optional[int] = None):
    """Configure Prefect for offline use, run the flow in this process, return (state, outcomes)."""
    from ehrgen.pipeline.prefect_env import configure

    from ehrgen.pgx.output import safe_name
    from ehrgen.pipeline.plan import plan

    from ehrgen.pipeline.run import RunConfig

    # fail fast (exit 2) on an unusable folder or target, before Prefect's start-up
    planned = plan(input_dir, chunk_size)
    RunConfig(work_dir=str(work), mllp=mllp, fhir_url=fhir).targets()
    name = run_name or input_dir.resolve().name
    outcomes_file = work / safe_name(name) / "outcomes.json"
    outcomes_file.unlink(missing_ok=True)  # never report a previous run's outcomes
    settled = _settled_without_flow(planned, input_dir, work, name, outbox, fhir, mllp, rules_dir,
                                    absent_is_reference, min_ref_gq)
    if settled is not None:
        return settled
    configure(work)  # before the first prefect import
    import_flows()
    from flows.common import task_runner
    from flows.pgx_pipeline import pgx_pipeline

    with progress_bar(sum(ch.size for ch in planned.chunks), show=show_progress):
        state = pgx_pipeline.with_options(task_runner=task_runner(dask, len(planned.chunks)))(
            input_dir=str(input_dir), work_dir=str(work), run_name=name, outbox=str(outbox) if outbox else None,
            fhir_url=fhir, mllp=mllp, rules_dir=str(rules_dir) if rules_dir else None, chunk_size=chunk_size,
            absent_is_reference=absent_is_reference, min_ref_gq=min_ref_gq, return_state=True)
    from ehrgen.pipeline.outcome import SampleOutcome

    outcomes = []
    if outcomes_file.is_file():
        outcomes = [SampleOutcome.from_dict(d) for d in json.loads(outcomes_file.read_text(encoding="utf-8"))]
    return state, outcomes


@dataclass
class _NoFlowState:
    name: str
    message: str


def _settled_without_flow(planned, input_dir: Path, work: Path, name: str, outbox, fhir, mllp, rules_dir,
                          absent_is_reference: bool, min_ref_gq):
    """(state, outcomes) when nothing at all changed since the last run (every stage up to date, every target
    holding every export): the answer is known from the stage state files and the ledger, so Prefect's
    temporary server is not started (README "Reruns"). None otherwise, or when the work folder is new."""
    from ehrgen.pipeline.run import RunConfig, unchanged_run
    from ehrgen.settings import load_settings

    if not (work / "ledger.sqlite").is_file():
        return None
    cfg = RunConfig(work_dir=str(work), run_name=name, clinical=planned.clinical,
                    rules_dir=str(rules_dir) if rules_dir else None, outbox=str(outbox) if outbox else None,
                    fhir_url=fhir, mllp=mllp, settings=load_settings())
    if absent_is_reference:
        cfg.settings.calling.absent_is_reference = True
    if min_ref_gq is not None:
        cfg.settings.calling.min_ref_gq = min_ref_gq
    outcomes = unchanged_run(planned, cfg, str(input_dir.resolve()))
    if outcomes is None:
        return None
    return _NoFlowState("Completed", f"nothing changed: {len(outcomes)} sample(s) up to date and held by every "
                                     f"target, so no flow run was started"), outcomes


@contextmanager
def progress_bar(total: int, show: bool = True) -> Iterator[None]:
    """A rich progress bar on stderr (samples done / total, rate, ETA) fed by ehrgen.pipeline.progress; on a
    terminal only (logs and pipes get the flow's per-chunk progress log lines instead)."""
    if not show or not err_console.is_terminal or total <= 0:
        yield
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    from ehrgen.pipeline import progress

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} samples/s" if task.speed else "", style="progress.data.speed")

    tally = progress.Tally()
    bar = Progress(TextColumn("samples"), BarColumn(), MofNCompleteColumn(), Rate(), TextColumn("ETA"),
                   TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(), console=err_console,
                   transient=False)
    task = bar.add_task("samples", total=total)

    def on_progress(chunk_index: int, done: int) -> None:
        bar.update(task, completed=min(tally.update(chunk_index, done), total))

    progress.add_listener(on_progress)
    try:
        with bar:
            yield
    finally:
        progress.remove_listener(on_progress)


def print_table(outcomes, title: str, strip_prefix: str = "", max_rows: int = 200,
                outcomes_file: Optional[Path] = None) -> None:
    from rich.console import Console
    from rich.table import Table

    colour = {"delivered": "green", "unchanged": "green", "exported": "green", "withheld": "yellow",
              "failed": "red", "delivery-failed": "red"}
    t = Table(title=title, show_lines=False)
    for col in ("sample", "patient", "status", "actionable", "delivered", "reason"):
        t.add_column(col, justify="right" if col == "actionable" else "left", overflow="fold")
    from ehrgen.pipeline.outcome import attention_first

    shown = attention_first(outcomes)  # failures first, then withdrawn / withheld
    if len(outcomes) > max_rows:  # big batches: list what needs attention, count the rest
        shown = [o for o in shown if o.status not in ("delivered", "unchanged", "exported")][:max_rows]
        t.caption = (f"{len(outcomes) - len(shown)} more sample(s) not listed; all outcomes: "
                     f"{outcomes_file or 'outcomes.json in the run folder'}")
    for o in shown:
        c = colour.get(o.status, "white")
        reason = o.reason.replace(strip_prefix, "") if strip_prefix else o.reason
        t.add_row(o.sample, o.patient, f"[{c}]{o.status}[/{c}]", str(o.actionable), o.delivered, reason)
    Console().print(t)

RUN_EXAMPLES = examples(
    "ehrgen run sample_data/",
    "ehrgen run /data/batch42 --fhir http://127.0.0.1:8080/fhir --mllp 10.0.0.5:2575",
    "ehrgen run /data/biobank --absent-is-reference --dask local --run-name biobank-2026",
)


def register(app: typer.Typer) -> None:
    @app.command("run", epilog=RUN_EXAMPLES)
    @one_line_errors
    def run(
        input_dir: Path = typer.Argument(..., help="folder laid out like sample_data/ (manifest.csv, vcf/, clinical/)"),
        outbox: Optional[Path] = typer.Option(None, "--outbox", help="outbox folder (default <work>/outbox; "
                                              "used when no --fhir/--mllp target is given)"),
        fhir: Optional[str] = typer.Option(None, "--fhir", help="FHIR R4 base URL to POST transaction bundles to"),
        mllp: Optional[str] = typer.Option(None, "--mllp", help="HOST:PORT of an HL7 v2 MLLP listener"),
        dask: Optional[str] = typer.Option(None, "--dask", help="Dask scheduler address, or 'local' for a LocalCluster"),
        work: Path = typer.Option(Path("out"), "--work", help="work folder (run stage files, ledger, Prefect home)"),
        rules: Optional[Path] = typer.Option(None, "--rules", help="rules folder (default: the project's rules/)"),
        chunk_size: int = typer.Option(500, "--chunk-size", help="samples per task"),
        run_name: Optional[str] = typer.Option(None, "--run-name", help="name of the run folder (default: input folder name)"),
        absent_is_reference: bool = typer.Option(
            False, "--absent-is-reference",
            help="joint-called cohort VCFs: a PGx position absent from the file is homozygous reference (recorded "
                 "as an assumption; never applied to gVCFs). Setting calling.absent_is_reference"),
        min_ref_gq: Optional[int] = typer.Option(
            None, "--min-ref-gq", min=0,
            help="gVCF: a reference block (or a 0/0 call) with FORMAT GQ below this counts as missing (reason "
                 "low_ref_gq), never as reference; 0 = PharmCAT's behaviour. Setting calling.min_ref_gq"),
    ) -> None:
        """Run the pgx-pipeline flow: call, interpret, export (FHIR, HL7, HTML report) and deliver every sample."""
        state, outcomes = run_flow(input_dir, work, outbox, fhir, mllp, dask, rules, chunk_size, run_name,
                                   absent_is_reference=absent_is_reference, min_ref_gq=min_ref_gq)
        if not outcomes:
            err_console.print(f"error: the run did not complete ({state.name}: {state.message})", highlight=False)
            raise typer.Exit(code=1)
        from ehrgen.pgx.output import safe_name
        from ehrgen.pipeline.outcome import summarise, withdrawn_note

        run_dir = (work / safe_name(run_name or input_dir.resolve().name)).resolve()
        print_table(outcomes, f"ehrgen run: {state.name}", str(input_dir.resolve()) + os.sep,
                    outcomes_file=run_dir / "outcomes.json")
        box = outbox or (work / "outbox" if not (fhir or mllp) else None)
        summary = summarise(outcomes)
        failed = [o for o in outcomes if o.failed]
        if failed:  # partial failure must be visible in the last lines, not only in the table
            err_console.print(f"{len(failed)} sample(s) failed: " + ", ".join(o.sample for o in failed[:20])
                              + (f" (+{len(failed) - 20} more)" if len(failed) > 20 else ""),
                              markup=False, highlight=False)
        if withdrawn_note(summary):
            err_console.print(withdrawn_note(summary), markup=False, highlight=False)
        err_console.print(f"{state.name}: {state.message}. Run folder {run_dir} (outcomes.json, calls.tsv, "
                          f"recommendations.tsv), ledger {(work / 'ledger.sqlite').resolve()}"
                          + (f", outbox {box.resolve()}" if box else ""), markup=False, highlight=False)
        from ehrgen.pipeline.outcome import exit_code

        # exit codes (README "Exit codes"): 0 all went through; 3 completed with failed samples or rejected
        # input records; 1 nothing went through; 2 unusable input before the run (one_line_errors)
        code = exit_code(summary)
        if code:
            raise typer.Exit(code=code)
