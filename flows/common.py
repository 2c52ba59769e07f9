"""Shared flow pieces: task runners, coarse tasks over ehrgen.pipeline, artifacts, the final state.

PHI rule: tasks return per-sample outcomes (ids and statuses) in memory only; every task and flow here
has persist_result=False so nothing lands in $PREFECT_HOME/storage. Payloads (calls, bundles) live in
the run's work dir and only paths/counts cross task boundaries.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, State

from ehrgen.deliver.model import QUEUED
from ehrgen.pipeline.outcome import SampleOutcome, attention_first, summarise, withdrawn_note
from ehrgen.pipeline.plan import Chunk, VcfJob
from ehrgen.pipeline.run import RunConfig, call_ahead, deliver_run, reinterpret_samples, run_chunk

DELIVERY_RETRIES = 2
PARTIAL = "Partially Failed"  # the state name the UI shows for a completed run with failed samples


class TransientDeliveryError(RuntimeError):
    """Some deliveries failed in a way a later attempt may fix (timeouts, 5xx): lets Prefect retry."""


@task(name="process-chunk", task_run_name="chunk-{chunk.index}", cache_policy=NO_CACHE, persist_result=False)
def process_chunk(chunk: Chunk, cfg: RunConfig) -> list[SampleOutcome]:
    """Call -> interpret -> export for one chunk of samples (a chunk reads each of its VCFs once)."""
    return run_chunk(chunk, cfg)


@task(name="call-ahead", task_run_name="call-ahead-{index}", cache_policy=NO_CACHE, persist_result=False)
def call_ahead_group(index: int, job: VcfJob, cfg: RunConfig) -> list[str]:
    """Call one group of a big multi-sample VCF (one read of the file) before the chunks run."""
    return call_ahead(job, cfg)


@task(name="reinterpret-chunk", task_run_name="reinterpret-{index}", cache_policy=NO_CACHE, persist_result=False)
def reinterpret_chunk(index: int, samples: list[tuple[str, str]], cfg: RunConfig) -> list[SampleOutcome]:
    return reinterpret_samples(cfg, samples)


@task(name="deliver", task_run_name="deliver", retries=DELIVERY_RETRIES, retry_delay_seconds=5, cache_policy=NO_CACHE, persist_result=False)
def deliver(cfg: RunConfig, outcomes: list[SampleOutcome], run_id: str | None = None) -> list[SampleOutcome]:
    """Consent-gated, ledger-deduplicated delivery of the run's exports; retried while failures look transient.

    Retrying is safe: the ledger skips whatever a target already holds, so only the failures are resent.
    """
    from prefect.runtime import task_run

    fresh = [SampleOutcome.from_dict(o.to_dict()) for o in outcomes]  # a retry starts from the same input
    done = deliver_run(cfg, fresh, run_id)
    failed = [o for o in done if o.status == "delivery-failed"]
    attempt = task_run.run_count or 1
    # a target found unreachable (circuit open, reason QUEUED) is not retried now: its samples wait for the next run
    transient = [o for o in failed if "reject" not in o.delivered and not (o.reason or "").startswith(QUEUED)]
    if transient and attempt <= DELIVERY_RETRIES:
        raise TransientDeliveryError(f"{len(failed)} sample(s) not delivered (attempt {attempt})")
    return done


def progress_start(description: str, key: str | None = None) -> Any:
    """A Prefect progress artifact (0-100 %), updated per chunk by progress_update."""
    try:
        return create_progress_artifact(progress=0.0, key=key, description=description)
    except Exception:  # artifacts are a convenience: never fail a run over one
        return None


def progress_update(artifact_id: Any, done: int, total: int, description: str | None = None) -> None:
    if artifact_id is None:
        return
    try:
        update_progress_artifact(artifact_id=artifact_id, progress=round(100.0 * done / max(total, 1), 1),
                                 description=description)
    except Exception:
        pass


def publish(outcomes: list[SampleOutcome], title: str, key_prefix: str, extra: str = "") -> dict[str, Any]:
    """Table + markdown artifacts. Sample ids and statuses only: no patient ids, names or genotypes."""
    s = summarise(outcomes)
    # failed samples first: partial failure is what the operator must see without scrolling
    rows = [{"sample": o.sample, "status": o.status, "stage": o.stage, "actionable": o.actionable,
             "delivered": o.delivered, "reason": o.reason} for o in attention_first(outcomes)]
    lines = [f"# {title}", "", f"**{s['state']}**: {s['samples']} sample(s), {s['failed']} failed, "
             f"{s['actionable']} actionable finding(s), {s.get('rejected_records', 0)} input record(s) rejected.",
             "", "| status | samples |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["by_status"].items(), key=lambda kv: _status_rank(kv[0]))]
    failed = [o for o in outcomes if o.failed]
    if failed:
        lines += ["", "## Failed", ""] + [f"- `{o.sample}` at {o.stage}: {o.reason}" for o in failed]
    rejected = [o for o in outcomes if o.is_record]
    if rejected:
        lines += ["", "## Rejected input records", ""] + [f"- `{o.sample}`: {o.reason}" for o in rejected]
    if withdrawn_note(s):
        lines += ["", withdrawn_note(s)]
    if extra:
        lines += ["", extra]
    try:
        create_table_artifact(table=rows, key=f"{key_prefix}-samples", description=title)
        create_markdown_artifact(markdown="\n".join(lines), key=f"{key_prefix}-summary", description=title)
    except Exception as exc:
        get_run_logger().warning("could not create artifacts (%s)", exc.__class__.__name__)
    return s


def _status_rank(status: str) -> tuple[int, str]:
    return (0 if status in ("failed", "delivery-failed") else 1, status)


def publish_cohort(run_root: Path, key_prefix: str) -> None:
    """The cohort summary (written by finish_run for batches) as a markdown artifact: counts only."""
    md = Path(run_root) / "cohort-summary.md"
    if not md.is_file():
        return
    try:
        create_markdown_artifact(markdown=md.read_text(encoding="utf-8"), key=f"{key_prefix}-cohort",
                                 description="PGx cohort summary (aggregate counts)")
    except Exception as exc:
        get_run_logger().warning("could not create the cohort artifact (%s)", exc.__class__.__name__)


def final_state(summary: dict[str, Any]) -> State:
    """Completed when every sample went through; Completed named 'Partially Failed' when some failed (the
    flow still finished and delivered the rest); Failed when every sample failed."""
    msg = f"{summary['failed']} of {summary['samples']} sample(s) failed"
    if summary.get("rejected_records"):
        msg += f", {summary['rejected_records']} input record(s) rejected"
    if summary["failed"] == 0:
        rejected = f"; {summary['rejected_records']} input record(s) rejected" if summary.get("rejected_records") else ""
        return Completed(message=f"{summary['samples']} sample(s) processed{rejected}", data=summary)
    if summary["failed"] < summary["samples"]:
        return Completed(name=PARTIAL, message=f"partially failed: {msg}", data=summary)
    return Failed(message=msg, data=summary)


@contextmanager
def api_shared_with_workers() -> Iterator[None]:
    """Within a flow run on Prefect's temporary (ephemeral) server: let worker processes spawned meanwhile (the
    process pool) report to that same server through PREFECT_API_URL. Without it each worker starts a temporary
    server of its own (about 10 s and a core each). Restored afterwards: that server stops with the flow."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    url = None
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            url = str(client.api_url).rstrip("/")
    except Exception:  # no server to share: workers fall back to their own
        pass
    if url:
        os.environ["PREFECT_API_URL"] = url
    try:
        yield
    finally:
        if url:
            os.environ.pop("PREFECT_API_URL", None)


def _importable_root() -> None:
    """Worker processes (Dask, process pool) import the task's module (flows.*) and ehrgen: make the project root
    importable there."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    if root not in sys.path:
        sys.path.insert(0, root)


def task_runner(dask: str | None, chunks: int = 1, workers: int | None = None):
    """DaskTaskRunner for `dask` = scheduler address, or 'local'. Otherwise: a ProcessPoolTaskRunner when the batch
    has more than one chunk and more than one worker is configured (settings pipeline.workers, 0 = one per CPU),
    since chunk work is CPU-bound Python and threads share one core; else a ThreadPoolTaskRunner."""
    if not dask:
        cpus = os.cpu_count() or 2
        if workers is None:
            from ehrgen.settings import load_settings

            workers = load_settings().pipeline.workers
        n = min(workers or cpus, chunks)
        if n > 1:
            from prefect.task_runners import ProcessPoolTaskRunner

            _importable_root()
            return ProcessPoolTaskRunner(max_workers=n)
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=min(4, cpus))
    from prefect_dask import DaskTaskRunner

    _importable_root()
    if dask == "local":
        return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return DaskTaskRunner(address=dask)
