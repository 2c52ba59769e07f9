"""pgx-reinterpret: when the rules change, re-interpret stored calls (no VCF is read), re-export only the
patients whose advice changed, and deliver; the ledger (last sent content per patient and target) makes
sure unchanged results are not sent again."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed

from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.plan import DEFAULT_CHUNK
from ehrgen.pipeline.reinterpret import outdated_in_ehr, rules_diff
from ehrgen.pipeline.run import RunConfig, finish_run, note_consent, read_run_meta, stored_samples
from flows.common import deliver, final_state, progress_start, progress_update, publish, reinterpret_chunk


@flow(name="pgx-reinterpret", persist_result=False, log_prints=False)
def reinterpret(work_dir: str = "out", run_name: str = "sample_data", rules_dir: str | None = None,
                outbox: str | None = None, fhir_url: str | None = None, mllp: str | None = None,
                force: bool = False, chunk_size: int = DEFAULT_CHUNK, deliver_changes: bool = True):
    """Re-interpret the stored calls of run `run_name` in `work_dir` if the rule set changed (or `force`)."""
    from ehrgen.settings import load_settings

    log = get_run_logger()
    probe = RunConfig(work_dir=work_dir, run_name=run_name)
    meta = read_run_meta(probe)
    cfg = RunConfig(work_dir=work_dir, run_name=run_name, clinical=meta.get("clinical"),
                    clinical_merge=bool(meta.get("clinical_merge")), rules_dir=rules_dir or meta.get("rules_dir"),
                    source=meta.get("source", "both"), outbox=outbox, fhir_url=fhir_url, mllp=mllp,
                    settings=load_settings())
    if rules_dir:
        cfg.rules_dir = rules_dir
    note_consent(cfg)  # withdrawn patients are not re-interpreted
    rd = rules_diff(cfg)
    log.info("rules %s -> %s: %d rule change(s), %d drug(s) affected", rd.old_version, rd.new_version,
             len(rd.changes), len(rd.drugs))
    samples = stored_samples(cfg)
    if not samples or (not rd.changed and not force):
        publish([], "Re-interpretation", "pgx-reinterpret", rd.markdown())
        return Completed(message=f"nothing to do: {rd.markdown()} {len(samples)} stored sample(s)")
    chunks = [samples[i:i + chunk_size] for i in range(0, len(samples), chunk_size)]
    bar = progress_start(f"Re-interpretation: 0 of {len(samples)} sample(s) done")
    futures = [reinterpret_chunk.submit(n, ch, cfg) for n, ch in enumerate(chunks)]
    outcomes: list[SampleOutcome] = []
    for n, fut in enumerate(futures, 1):
        outcomes += fut.result()
        progress_update(bar, len(outcomes), len(samples),
                        f"Re-interpretation: {len(outcomes)} of {len(samples)} sample(s) done")
    changed = [o for o in outcomes if o.status == "exported" and "export" not in o.skipped]
    stale = outdated_in_ehr(cfg, outcomes)  # what the ledger says the targets hold differs from the new export
    log.info("advice changed for %d sample(s); %d target copy(ies) out of date", len(changed), len(stale))
    if deliver_changes and stale:
        # the ledger compares each export with what was last sent: only changed advice leaves the machine
        outcomes = deliver(cfg, outcomes)
    finish_run(cfg, outcomes)
    extra = (rd.markdown() + f"\n\nAdvice changed (re-exported) for {len(changed)} of {len(outcomes)} sample(s); "
             f"{len(stale)} sample(s) had an out-of-date copy at a delivery target (per the ledger).")
    summary = publish(outcomes, "Re-interpretation", "pgx-reinterpret", extra)
    summary["changed"], summary["outdated"] = len(changed), len(stale)
    return final_state(summary)
