"""pgx-drop-folder: sweep <root>/inbox for finished VCF and clinical files, process them as a batch with the
pgx-pipeline body, then move each VCF to processed/ or failed/. Restart-safe through the journal
(ehrgen.pipeline.dropfolder): unfinished batches from a crash are resumed before new files are claimed."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from ehrgen.pipeline.dropfolder import DropFolder, claim, ready_files, recover, settle
from ehrgen.pipeline.outcome import SampleOutcome, summarise
from ehrgen.pipeline.plan import DEFAULT_CHUNK, is_vcf
from ehrgen.pipeline.run import RunConfig
from flows.common import final_state
from flows.pgx_pipeline import run_pipeline


@task(name="claim-ready-files", cache_policy=NO_CACHE, persist_result=False)
def claim_ready(root: str, settle_seconds: float) -> str | None:
    df = DropFolder(Path(root)).make()
    return claim(df, ready_files(df.inbox, settle_seconds))


@task(name="settle-batch", task_run_name="settle-{batch}", cache_policy=NO_CACHE, persist_result=False)
def settle_batch(root: str, batch: str, outcomes: list[SampleOutcome]) -> dict[str, str]:
    return settle(DropFolder(Path(root)), batch, outcomes)


@flow(name="pgx-drop-folder", persist_result=False, log_prints=False)
def drop_folder(root: str = "dropbox", work_dir: str = "out", settle_seconds: float = 2.0,
                outbox: str | None = None, fhir_url: str | None = None, mllp: str | None = None,
                rules_dir: str | None = None, chunk_size: int = DEFAULT_CHUNK):
    """One sweep: resume unfinished batches, claim newly finished files, process, move to processed/failed."""
    from ehrgen.settings import load_settings

    df = DropFolder(Path(root)).make()
    with df.sweep_lock():
        return _sweep(df, root, work_dir, settle_seconds, outbox, fhir_url, mllp, rules_dir, chunk_size,
                      load_settings())


def _sweep(df: DropFolder, root: str, work_dir: str, settle_seconds: float, outbox, fhir_url, mllp, rules_dir,
           chunk_size: int, settings):
    log = get_run_logger()
    batches = recover(df)
    if batches:
        log.info("resuming %d unfinished batch(es) from an earlier sweep", len(batches))
    new = claim_ready(root, settle_seconds)
    if new:
        batches.append(new)
    if not batches:
        return Completed(message="inbox empty: nothing ready")
    cfg = RunConfig(work_dir=work_dir, run_name="dropfolder", clinical=str(df.clinical.resolve()),
                    clinical_merge=True, rules_dir=rules_dir, outbox=outbox, fhir_url=fhir_url, mllp=mllp,
                    settings=settings)
    everything: list[SampleOutcome] = []
    for batch in batches:
        bdir = df.batch_dir(batch)
        outcomes: list[SampleOutcome] = []
        if bdir.is_dir() and any(is_vcf(p) for p in bdir.iterdir()):
            outcomes, _ = run_pipeline(str(bdir), cfg, chunk_size, title=f"Drop-folder batch {batch}",
                                       key_prefix="pgx-drop-folder")
        placed = settle_batch(root, batch, outcomes)
        log.info("batch settled: %d file(s) processed, %d failed", sum(v == "processed" for v in placed.values()),
                 sum(v == "failed" for v in placed.values()))
        everything += outcomes
    if not everything:
        return Completed(message=f"{len(batches)} batch(es) with clinical files only")
    return final_state(summarise(everything))
