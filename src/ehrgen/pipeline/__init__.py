"""Batch pipeline library: plan a folder of VCFs, run chunks of samples through call -> interpret -> export,
deliver. Plain functions (no Prefect): flows/ wraps them in tasks; tests call them directly.

Work-dir layout (`<work>/<run>/`): calls/, recommendations/, export/ (each with a `.state/` folder of
stage fingerprints so an unchanged stage is skipped on a rerun), outcomes.json, calls.tsv,
recommendations.tsv. The delivery ledger lives at `<work>/ledger.sqlite` (shared by all runs).
"""

from ehrgen.pipeline.outcome import SampleOutcome, summarise
from ehrgen.pipeline.plan import Chunk, Plan, SampleJob, VcfJob, plan
from ehrgen.pipeline.run import RunConfig, deliver_run, finish_run, load_context, run_chunk

__all__ = [
    "Chunk", "Plan", "SampleJob", "VcfJob", "plan", "SampleOutcome", "summarise",
    "RunConfig", "load_context", "run_chunk", "deliver_run", "finish_run",
]
