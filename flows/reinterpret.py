"""pgx-reinterpret: when the rules change, re-interpret the stored calls of every run in the work folder (the
drop-folder sweeps and every on-demand `ehrgen run` alike; no VCF is read), re-export only the patients whose
advice changed, and deliver; the ledger (last sent content per patient and target) makes sure unchanged
results are not sent again."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from prefect import flow, get_run_logger
from prefect.states import Completed

from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.plan import DEFAULT_CHUNK
from ehrgen.pipeline.reinterpret import RulesDiff, outdated_in_ehr, rules_diff, run_config, stored_runs
from ehrgen.pipeline.run import RunConfig, finish_run, note_consent, stored_samples
from flows.common import deliver, final_state, progress_start, progress_update, publish, reinterpret_chunk


@dataclass
class _Run:
    cfg: RunConfig
    diff: RulesDiff
    samples: list[tuple[str, str]]
    outcomes: list[SampleOutcome] = field(default_factory=list)
    changed: int = 0
    stale: int = 0

    @property
    def name(self) -> str:
        return self.cfg.run_name


@flow(name="pgx-reinterpret", persist_result=False, log_prints=False)
def reinterpret(work_dir: str = "out", run_name: str | None = None, rules_dir: str | None = None,
                outbox: str | None = None, fhir_url: str | None = None, mllp: str | None = None,
                force: bool = False, chunk_size: int = DEFAULT_CHUNK, deliver_changes: bool = True):
    """Re-interpret the stored calls of every run in `work_dir` (or only run `run_name`) whose rule set
    changed (or all of them with `force`)."""
    from ehrgen.settings import load_settings

    log = get_run_logger()
    settings = load_settings()
    names = [run_name] if run_name else stored_runs(work_dir)
    runs = []
    for name in names:
        cfg = run_config(work_dir, name, rules_dir, outbox, fhir_url, mllp, settings)
        note_consent(cfg)  # withdrawn patients are not re-interpreted
        rd = rules_diff(cfg)
        runs.append(_Run(cfg, rd, stored_samples(cfg)))
        log.info("run %d of %d: rules %s -> %s, %d rule change(s), %d drug(s) affected, %d stored sample(s)",
                 len(runs), len(names), rd.old_version, rd.new_version, len(rd.changes), len(rd.drugs),
                 len(runs[-1].samples))
    todo = [r for r in runs if r.samples and (r.diff.changed or force)]
    overview = _overview(runs, work_dir)
    if not todo:
        publish([], "Re-interpretation", "pgx-reinterpret", overview)
        return Completed(message=f"nothing to do: {overview}")

    total = sum(len(r.samples) for r in todo)
    bar = progress_start(f"Re-interpretation: 0 of {total} sample(s) done")
    done = 0
    for r in todo:
        chunks = [r.samples[i:i + chunk_size] for i in range(0, len(r.samples), chunk_size)]
        futures = [reinterpret_chunk.submit(n, ch, r.cfg) for n, ch in enumerate(chunks)]
        for fut in futures:
            got = fut.result()
            r.outcomes += got
            done += len(got)
            progress_update(bar, done, total, f"Re-interpretation: {done} of {total} sample(s) done")
        r.changed = sum(o.status == "exported" and "export" not in o.skipped for o in r.outcomes)
        stale = outdated_in_ehr(r.cfg, r.outcomes)  # the ledger's copy at a target differs from the new export
        r.stale = len(stale)
        if deliver_changes and stale:
            # the ledger compares each export with what was last sent: only changed advice leaves the machine
            r.outcomes = deliver(r.cfg, r.outcomes)
        finish_run(r.cfg, r.outcomes)
        log.info("run %s: advice changed for %d sample(s); %d target copy(ies) out of date", r.name, r.changed,
                 r.stale)

    # one artifact for the whole sweep; sample ids carry their run when several runs were re-checked
    many = len(todo) > 1
    shown = [replace(o, sample=f"{r.name}/{o.sample}") if many and not o.is_record else o
             for r in todo for o in r.outcomes]
    changed, stale = sum(r.changed for r in todo), sum(r.stale for r in todo)
    extra = (overview + f"\n\nAdvice changed (re-exported) for {changed} of {total} sample(s); {stale} sample(s) "
             "had an out-of-date copy at a delivery target (per the ledger).")
    summary = publish(shown, "Re-interpretation", "pgx-reinterpret", extra)
    summary["changed"], summary["outdated"], summary["runs"] = changed, stale, [r.name for r in todo]
    return final_state(summary)


def _overview(runs: list[_Run], work_dir: str) -> str:
    """What each stored run's rules comparison found (markdown; counts and versions only)."""
    if not runs:
        return f"No stored run in {work_dir}."
    lines = [f"{len(runs)} stored run(s) in {work_dir}:", ""]
    lines += [f"- `{r.name}` ({len(r.samples)} sample(s)): {r.diff.markdown().replace(chr(10) * 2, ' ')}"
              for r in runs]
    return "\n".join(lines)
