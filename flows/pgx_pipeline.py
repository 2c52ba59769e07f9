"""pgx-pipeline: a folder laid out like sample_data/ -> calls, recommendations, exports -> delivery.

One task per chunk of samples (coarse on purpose: thousands of tiny tasks swamp the Prefect server),
and a delivery task with retries behind each chunk. Final state: Completed, Completed named "Partially Failed", or Failed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.plan import DEFAULT_CHUNK, Chunk, call_groups, mark_called_ahead, plan
from ehrgen.pipeline import progress
from ehrgen.pipeline.run import RunConfig, finish_run, note_consent, plan_errors
from flows.common import (api_shared_with_workers, call_ahead_group, deliver, final_state, process_chunk,
                          progress_start, progress_update, publish, publish_cohort)


def _crashed(ch: Chunk, exc: BaseException) -> list[SampleOutcome]:
    return [SampleOutcome(s.sample, s.patient or "", Path(job.vcf).name).fail(
        "call", f"chunk crashed: {exc.__class__.__name__}") for job in ch.jobs for s in (job.samples or [])]


def run_chunks(chunks: list[Chunk], cfg: RunConfig, title: str, do_deliver: bool = True) -> list[SampleOutcome]:
    """Submit every chunk, and a delivery task behind each chunk (so the first patients reach the EHR while
    later chunks are still being processed). A chunk that crashes fails its own samples only."""
    total = sum(ch.size for ch in chunks)
    started = time.monotonic()
    bar = progress_start(f"{title}: 0 of {total} sample(s) done")
    with api_shared_with_workers():
        _call_ahead(chunks, cfg)
        return _run_submitted(chunks, cfg, title, do_deliver, total, started, bar)


def _call_ahead(chunks: list[Chunk], cfg: RunConfig) -> None:
    """Big multi-sample VCFs are called in groups first (one read of the file per group, the groups in parallel);
    the chunks then find their samples' calls stored. A group that crashes costs only time: its chunks call
    their own samples, and report any failure."""
    groups = call_groups(chunks, cfg.settings.pipeline.call_group)
    if not groups:
        return
    log = get_run_logger()
    t0 = time.monotonic()
    futs = [call_ahead_group.submit(i, job, cfg) for i, job in enumerate(groups)]
    called: set[str] = set()
    for i, fut in enumerate(futs):
        try:
            called.update(fut.result())
        except Exception as exc:
            log.error("call-ahead group %d crashed (%s): its chunks call their own samples", i,
                      exc.__class__.__name__)
    mark_called_ahead(chunks, called)
    log.info("called %d sample(s) ahead in %d group(s) in %.1f s", len(called), len(groups), time.monotonic() - t0)


def _run_submitted(chunks: list[Chunk], cfg: RunConfig, title: str, do_deliver: bool, total: int, started: float,
                   bar: Any) -> list[SampleOutcome]:
    log = get_run_logger()
    # a window of chunks in flight, not all of them at once: worker processes take tasks first come, first served,
    # so a delivery submitted behind every chunk would wait for the whole batch; this way each chunk's patients
    # reach the EHR while later chunks are still being processed
    window = (os.cpu_count() or 2) + 1
    chunk_futs: list[Any] = [None] * len(chunks)
    deliver_futs: list[Any] = [None] * len(chunks)

    def submit(i: int) -> None:
        if i < len(chunks):
            chunk_futs[i] = process_chunk.submit(chunks[i], cfg)
            if do_deliver:
                deliver_futs[i] = deliver.submit(cfg, chunk_futs[i])

    for i in range(min(window, len(chunks))):
        submit(i)
    outcomes: list[SampleOutcome] = []

    def advance(ch: Chunk, n: int) -> None:
        """Per chunk: the Prefect progress artifact, a log line with rate and ETA, and the terminal bar."""
        progress.report(ch.index, ch.size)
        done = min(sum(c.size for c in chunks[:n]), total)
        rate = done / max(time.monotonic() - started, 1e-6)
        eta = (total - done) / rate if rate > 0 else 0.0
        progress_update(bar, done, total, f"{title}: {done} of {total} sample(s) done, {rate:.1f}/s, "
                                          f"about {eta:.0f} s left")
        log.info("progress: %d of %d sample(s) (%d of %d chunk(s)), %.1f samples/s, about %.0f s left", done,
                 total, n, len(chunks), rate, eta)

    for n, ch in enumerate(chunks, 1):
        cf, df = chunk_futs[n - 1], deliver_futs[n - 1]
        try:
            got = cf.result()
        except Exception as exc:
            log.error("chunk %d crashed (%s)", ch.index, exc.__class__.__name__)
            outcomes += _crashed(ch, exc)
            submit(n - 1 + window)
            advance(ch, n)
            continue
        submit(n - 1 + window)  # this chunk's slot is free
        if df is not None:
            try:
                got = df.result()
            except Exception as exc:  # retries exhausted on something unexpected: report, carry on
                log.error("delivery for chunk %d failed (%s)", ch.index, exc.__class__.__name__)
                for o in got:
                    if o.status == "exported":
                        o.status, o.stage, o.reason = "delivery-failed", "deliver", f"delivery task failed: " \
                                                                                    f"{exc.__class__.__name__}"
        outcomes += got
        advance(ch, n)
    return outcomes


def run_pipeline(input_dir: str, cfg: RunConfig, chunk_size: int = DEFAULT_CHUNK, do_deliver: bool = True,
                 title: str = "PGx pipeline run", key_prefix: str = "pgx-run"
                 ) -> tuple[list[SampleOutcome], dict[str, Any]]:
    """The flow body (drop-folder reuses it): plan, run and deliver chunks, write run files, publish artifacts."""
    log = get_run_logger()
    p = plan(input_dir, chunk_size, cfg.clinical)
    if cfg.clinical is None:
        cfg.clinical = p.clinical
    log.info("planned %d VCF job(s) in %d chunk(s)", p.n_files, len(p.chunks))
    note_consent(cfg)
    outcomes = run_chunks(p.chunks, cfg, title, do_deliver) + plan_errors(p)
    finish_run(cfg, outcomes, str(Path(input_dir).resolve()))
    summary = publish(outcomes, title, key_prefix)
    publish_cohort(cfg.dirs.root, key_prefix)
    log.info("run finished: %s", {k: summary[k] for k in ("samples", "failed", "by_status", "consent_withdrawn")})
    return outcomes, summary


@flow(name="pgx-pipeline", persist_result=False, log_prints=False)
def pgx_pipeline(input_dir: str, work_dir: str = "out", run_name: str | None = None, outbox: str | None = None,
                 fhir_url: str | None = None, mllp: str | None = None, rules_dir: str | None = None,
                 clinical: str | None = None, chunk_size: int = DEFAULT_CHUNK, deliver: bool = True,
                 absent_is_reference: bool = False, min_ref_gq: int | None = None):
    """Run a folder (manifest.csv + vcf/ + clinical/) through calling, interpretation, export and delivery."""
    from ehrgen.settings import load_settings

    cfg = RunConfig(work_dir=work_dir, run_name=run_name or Path(input_dir).resolve().name, clinical=clinical,
                    rules_dir=rules_dir, outbox=outbox, fhir_url=fhir_url, mllp=mllp, settings=load_settings())
    if absent_is_reference:  # --absent-is-reference (else the setting calling.absent_is_reference decides)
        cfg.settings.calling.absent_is_reference = True
    if min_ref_gq is not None:  # --min-ref-gq (else the setting calling.min_ref_gq decides)
        cfg.settings.calling.min_ref_gq = min_ref_gq
    _, summary = run_pipeline(input_dir, cfg, chunk_size, deliver)
    return final_state(summary)
