"""Run a batch: chunks of samples through call -> interpret -> export, then one delivery pass.

`run_chunk` is what a flow task calls (and what runs on a Dask worker): it takes only small, picklable
arguments (a Chunk and a RunConfig) and returns per-sample outcomes; payloads stay in the work dir.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehrgen.deliver.model import FhirTarget, MllpTarget, OutboxTarget, Target
from ehrgen.pgx.output import atomic_write_text, read_json, read_sample_calls, safe_name, write_calls_tsv
from ehrgen import fastpath
from ehrgen.pipeline import progress
from ehrgen.pipeline.context import Context, load_context
from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.plan import Chunk, VcfJob, call_groups, mark_called_ahead
from ehrgen.errors import InputError
from ehrgen.pipeline.stages import (NeedsWork, _reason, bundle_options, call_job, export_sample,
                                    interpret_sample_signed, quick_skip, rec_counts)
from ehrgen.pipeline.workdir import RunDirs, fingerprint, read_state, state_path
from ehrgen.rules.batch import recommendations_tsv
from ehrgen.rules.model import Recommendation
from ehrgen.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """Everything a chunk needs besides its samples (picklable: it travels to Dask workers)."""

    work_dir: str = "out"
    run_name: str = "run"
    clinical: str | None = None
    clinical_merge: bool = False  # clinical is a folder of batch subfolders (drop folder)
    rules_dir: str | None = None
    source: str = "both"
    outbox: str | None = None  # None: the outbox is the target only when no FHIR/MLLP target is given
    fhir_url: str | None = None
    mllp: str | None = None  # host:port
    settings: Settings = field(default_factory=Settings)
    # patients whose consent was withdrawn after results were sent (set by note_consent before the chunks run):
    # not re-interpreted, re-exported or delivered
    withdrawn: frozenset[str] = frozenset()

    @property
    def dirs(self) -> RunDirs:
        return RunDirs(Path(self.work_dir) / safe_name(self.run_name))

    @property
    def ledger_path(self) -> Path:
        return Path(self.work_dir) / "ledger.sqlite"

    def delivery_settings(self) -> Settings:
        s = self.settings.model_copy(deep=True)
        s.deliver.ledger = self.ledger_path
        s.deliver.dead_letter = Path(self.work_dir) / "dead-letter"
        s.deliver.outbox = Path(self.outbox) if self.outbox else Path(self.work_dir) / "outbox"
        return s

    def targets(self) -> list[Target]:
        out: list[Target] = []
        if self.fhir_url:
            out.append(FhirTarget(self.fhir_url))
        if self.mllp:
            host, _, port = self.mllp.rpartition(":")
            if not host or not port.isdigit():
                from ehrgen.errors import InputError
                raise InputError("--mllp", f"expected HOST:PORT, got {self.mllp!r}")
            out.append(MllpTarget(host, int(port)))
        if self.outbox or not out:
            out.append(OutboxTarget(self.delivery_settings().deliver.outbox))
        return out


def _context(cfg: RunConfig) -> Context:
    return load_context(cfg.clinical, cfg.rules_dir, cfg.clinical_merge)


WITHDRAWN = "consent-withdrawn"
WITHDRAWN_REASON = "consent withdrawn after results were sent: not re-interpreted or delivered"


def note_consent(cfg: RunConfig, run_id: str | None = None) -> RunConfig:
    """Compare the run's consent data with the ledger (recording withdrawals and renewed consent there, which
    the CDS service reads) and set cfg.withdrawn. Call once per run, before the chunks."""
    from ehrgen.deliver.consent import consent_withdrawals

    cfg.withdrawn = frozenset(consent_withdrawals(_context(cfg).clinical, cfg.ledger_path, run_id=run_id))
    return cfg


def _withdrawn(o: SampleOutcome) -> SampleOutcome:
    o.status, o.reason = WITHDRAWN, WITHDRAWN_REASON
    return o


def process_sample(calls, patient: str, calls_fp: str, ctx: Context, dirs: RunDirs, outcome: SampleOutcome,
                   source: str = "both", options: Any = None) -> list[Recommendation] | None:
    """Interpret and export one called sample, capturing any failure in its outcome; the recommendations, or
    None when it failed."""
    try:
        recs, sig = interpret_sample_signed(calls, patient, calls_fp, ctx, dirs, outcome, source)
        counts = rec_counts(recs)
        outcome.recommendations, outcome.actionable = counts["n"], counts["actionable"]
        export_sample(calls, recs, patient, calls_fp, ctx, dirs, outcome, options, sig)
        outcome.status, outcome.reason = "exported", ""
        return recs
    except Exception as exc:  # one sample's failure never sinks the chunk
        outcome.fail(outcome.stage or "interpret", _reason(exc))
        log.warning("a sample failed at stage %s (%s)", outcome.stage, exc.__class__.__name__)
        return None


def write_people_outputs_for(calls, outcome: SampleOutcome, ctx: Context, cfg: RunConfig,
                             recs: list[Recommendation] | None = None) -> None:
    """Patient summary + wallet card (`<run>/patient/`) for a patient who consented to results being returned;
    a failure here is a warning, never a failed sample (the clinical results were exported)."""
    consent = ctx.clinical.consents.get(outcome.patient)
    if not cfg.settings.report.patient_outputs or consent is None or not consent.return_results:
        return
    try:
        from ehrgen.report.people import write_for_patient

        # the records just exported (interpret() returns fresh ones; nothing downstream mutates them), so the card
        # says what the report says without interpreting again; the straightforward path interprets again
        write_for_patient(calls, outcome.patient, ctx, cfg.dirs.root / "patient", cfg.settings, Path(cfg.work_dir),
                          cfg.source, recs=recs if fastpath.enabled() else None)
    except Exception as exc:
        log.warning("patient summary / wallet card not written for a sample (%s)", exc.__class__.__name__)


def call_ahead(job: VcfJob, cfg: RunConfig) -> list[str]:
    """Call and store one group of a big multi-sample VCF (one read of the file) before the chunks run; returns
    the samples called now. Nothing else is kept: the chunks find the stored calls, and a sample that failed here
    has none stored, so its chunk calls it again and reports the failure as usual."""
    called = call_job(job, _context(cfg), cfg.dirs.make(), cfg.settings.calling)
    return [c.outcome.sample for c in called if c.calls is not None]


def call_all_ahead(chunks: list[Chunk], cfg: RunConfig) -> None:
    """In this process: every call-ahead group of the batch (run_local; the flow submits them as tasks)."""
    called: set[str] = set()
    for job in call_groups(chunks, cfg.settings.pipeline.call_group):
        called.update(call_ahead(job, cfg))
    mark_called_ahead(chunks, called)


def run_chunk(chunk: Chunk, cfg: RunConfig, dry: bool = False) -> list[SampleOutcome]:
    """Call, interpret and export every sample in the chunk. Returns one outcome per sample.
    dry: compute and write nothing; raise stages.NeedsWork as soon as one sample is not up to date."""
    dirs = cfg.dirs if dry else cfg.dirs.make()
    ctx = _context(cfg)
    options = bundle_options()
    outcomes: list[SampleOutcome] = []
    for job in chunk.jobs:
        for c in call_job(job, ctx, dirs, cfg.settings.calling, dry=dry):
            o = c.outcome
            if o.sample in chunk.called_ahead and o.skipped[-1:] == ["call"]:
                o.skipped.pop()  # called in this run, by its call-ahead group
            outcomes.append(o)
            if not dry:
                progress.report(chunk.index, len(outcomes) - 1)  # the samples before this one are done
            if dry and (o.status == "failed" or c.stored is None):
                raise NeedsWork
            if o.status == "failed" or (c.calls is None and c.stored is None):
                continue
            if not o.patient:
                o.patient = ctx.clinical.links.get(o.sample, "")
            if not o.patient:
                o.fail("interpret", "no patient linked to the sample (manifest patient_id or clinical samples)")
                continue
            if o.patient in cfg.withdrawn:
                _withdrawn(o)
                continue
            if c.stored is not None and quick_skip(o.sample, o.patient, c.calls_fp, ctx, dirs, o, cfg.source,
                                                        options):
                continue  # nothing changed for this sample: not even its files are parsed
            if dry:
                raise NeedsWork
            try:
                calls = c.load()
            except (InputError, OSError) as exc:  # a damaged stored calls file: forget it so the next run calls afresh
                state_path(dirs.calls, o.sample).unlink(missing_ok=True)
                o.fail("call", f"stored calls unreadable, will be recomputed on the next run ({_reason(exc)})")
                continue
            recs = process_sample(calls, o.patient, c.calls_fp, ctx, dirs, o, cfg.source, options)
            if o.status == "exported":
                write_people_outputs_for(calls, o, ctx, cfg, recs)
    progress.report(chunk.index, len(outcomes))
    failed = sum(o.failed for o in outcomes)
    log.info("chunk %d: %d sample(s), %d failed", chunk.index, len(outcomes), failed)
    return outcomes


def _stage_for_delivery(cfg: RunConfig, outcomes: list[SampleOutcome]) -> Path:
    """A private folder holding links to just these patients' export files, so several delivery tasks (one
    per chunk) can run while other chunks are still being processed. Hard links (copies where the file
    system has none): the files keep their names, which is what delivery and the outbox go by."""
    import os
    import shutil
    import uuid

    from ehrgen.pipeline.stages import export_files

    stage = cfg.dirs.export / ".deliver" / uuid.uuid4().hex[:12]
    stage.mkdir(parents=True)
    for o in outcomes:
        if o.status != "exported":
            continue
        for f in export_files(o.patient, cfg.dirs).values():
            if f.is_file() and not (stage / f.name).exists():
                try:
                    os.link(f, stage / f.name)
                except OSError:
                    shutil.copy2(f, stage / f.name)
    return stage


def deliver_run(cfg: RunConfig, outcomes: list[SampleOutcome], run_id: str | None = None) -> list[SampleOutcome]:
    """Deliver these samples' exports (consent-gated, ledger-deduplicated) and fold results into outcomes."""
    import shutil

    from ehrgen.deliver.api import deliver_dir

    ctx = _context(cfg)
    settings = cfg.delivery_settings()
    held = _held_by_every_target(cfg, ctx, outcomes)
    for o in outcomes:
        if id(o) in held:
            o.stage, o.status, o.delivered = "deliver", "unchanged", held[id(o)]
    todo = [o for o in outcomes if o.status == "exported"]
    if not todo:
        return outcomes
    stage = _stage_for_delivery(cfg, todo)
    try:
        report = deliver_dir(stage, cfg.targets(), settings, consent=ctx.clinical, run_id=run_id)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for o in todo:
        if o.status != "exported":
            continue
        got = report.for_patient(o.patient)
        o.stage = "deliver"
        if not got:
            o.status, o.delivered = "delivery-failed", "nothing delivered"
            continue
        per_target: dict[str, set[str]] = {}
        for d in got:
            per_target.setdefault(d.target.split(":", 1)[0], set()).add(d.status)
        o.delivered = "; ".join(f"{t}: {'/'.join(sorted(s))}" for t, s in sorted(per_target.items()))
        statuses = {d.status for d in got}
        if statuses & {"failed", "rejected"}:
            o.status = "delivery-failed"
            o.reason = next(d.reason for d in got if d.status in ("failed", "rejected"))
        elif statuses == {"withheld"}:
            o.status, o.reason = "withheld", next(d.reason for d in got)
        elif "sent" in statuses:
            o.status = "delivered"
        else:
            o.status = "unchanged"
    return outcomes


def _held_by_every_target(cfg: RunConfig, ctx: Context, outcomes: list[SampleOutcome]) -> dict[int, str]:
    """Outcomes (by id) whose export was reused unchanged and whose files every target already holds, per the
    ledger and the sha256 recorded when the files were written (their size and mtime unchanged since):
    these need no delivery pass, so a rerun does not read, parse and hash every export again.
    Only patients the consent gate releases qualify; everyone else goes through deliver_dir as before."""
    from ehrgen.deliver.consent import ConsentGate
    from ehrgen.pipeline.stages import export_files, stamps_current
    from ehrgen.store.ledger import Ledger

    cands = [o for o in outcomes if o.status == "exported" and "export" in o.skipped]
    settings = cfg.delivery_settings()
    if not cands or not settings.deliver.ledger.is_file():
        return {}
    gate = ConsentGate(ctx.clinical, required=settings.deliver.require_consent)
    targets = [(t.key, t.kinds) for t in cfg.targets()]  # an outbox key resolves its path: once, not per file
    label = "; ".join(f"{k}: unchanged" for k in sorted({key.split(":", 1)[0] for key, _k in targets}))
    with Ledger(settings.deliver.ledger) as led:
        sent = led.latest_sent()
    out: dict[int, str] = {}
    for o in cands:
        pid = gate.patient_for(safe_name(o.patient))
        if not gate.allows(pid)[0]:
            continue
        files = export_files(o.patient, cfg.dirs)
        stamps = (read_state(cfg.dirs.export, o.patient) or {}).get("files")
        if not stamps_current(stamps, files):
            continue
        if all(sent.get((pid, kind, key)) == stamps[kind][0] for key, kinds in targets for kind in kinds
               if kind in files):
            out[id(o)] = label
    return out


def finish_run(cfg: RunConfig, outcomes: list[SampleOutcome], input_dir: str | None = None) -> Path:
    """Write outcomes.json, calls.tsv, recommendations.tsv, run.json (how to redo it) and a snapshot of the
    rules used (what re-interpretation diffs against)."""
    dirs = cfg.dirs
    dirs.root.mkdir(parents=True, exist_ok=True)
    ctx = _context(cfg)
    rs = ctx.ruleset
    if not any(o.is_record for o in outcomes):  # in place: the caller's summary and artifact list them too
        from ehrgen.pipeline.outcome import rejected_records

        outcomes.extend(rejected_records(ctx.clinical.errors))
    if rs.path is not None:
        atomic_write_text(dirs.root / RULES_SNAPSHOT, Path(rs.path).read_text(encoding="utf-8"))
    # absolute paths: the weekly re-interpretation reads them back from another working directory
    meta = {"input_dir": input_dir, "clinical": _absolute(cfg.clinical), "clinical_merge": cfg.clinical_merge,
            "rules_dir": _absolute(cfg.rules_dir), "rules_version": rs.version, "source": cfg.source}
    old = read_run_meta(cfg)
    if input_dir is None and old.get("input_dir"):
        meta["input_dir"] = old["input_dir"]
    atomic_write_text(dirs.root / "run.json", json.dumps(meta, indent=1) + "\n")
    atomic_write_text(dirs.outcomes, json.dumps([o.to_dict() for o in outcomes], indent=1) + "\n")
    ok = [o for o in outcomes if o.stage in ("export", "deliver") and not o.status == "failed"]
    # the batch tables are rebuilt from every sample's files: skip that when no sample's calls or advice changed
    key = fingerprint("tables", sorted((o.sample, o.patient) for o in ok), rs.version, cfg.source)
    tables = dirs.root / ".tables.json"
    reused = all("call" in o.skipped and "interpret" in o.skipped for o in ok)
    if reused and (dirs.root / "calls.tsv").is_file() and (dirs.root / "recommendations.tsv").is_file():
        try:
            if json.loads(tables.read_text(encoding="utf-8")).get("key") == key:
                return dirs.outcomes
        except (OSError, ValueError, AttributeError):
            pass
    tables.unlink(missing_ok=True)
    if fastpath.enabled():
        _write_tables_from_digests(dirs, ok, ctx)
    else:
        _write_tables_from_stage_files(dirs, ok, ctx)
    atomic_write_text(tables, json.dumps({"key": key}) + "\n")
    return dirs.outcomes


def _read_stage_files(dirs: RunDirs, sample: str) -> tuple[Any, list[Recommendation]] | None:
    """A sample's stored calls and recommendations for a digest, or None when either cannot be read (a digest
    needs both)."""
    stem = safe_name(sample)
    try:
        calls = read_sample_calls(dirs.calls / f"{stem}.calls.json")
        doc = read_json(dirs.recommendations / f"{stem}.recommendations.json")
        return calls, [Recommendation.from_dict(r) for r in doc["recommendations"]]
    except (OSError, ValueError, KeyError):
        return None


def _write_tables_from_stage_files(dirs: RunDirs, ok: list[SampleOutcome], ctx: Context) -> None:
    """The straightforward path: parse every sample's calls.json and recommendations.json again."""
    calls = []
    recs: list[Recommendation] = []
    for o in ok:
        try:
            calls.append(read_sample_calls(dirs.calls / f"{safe_name(o.sample)}.calls.json"))
            doc = read_json(dirs.recommendations / f"{safe_name(o.sample)}.recommendations.json")
            recs += [Recommendation.from_dict(r) for r in doc["recommendations"]]
        except (OSError, ValueError, KeyError):
            continue
    write_calls_tsv(calls, dirs.root / "calls.tsv")
    atomic_write_text(dirs.root / "recommendations.tsv", recommendations_tsv(recs))
    if len(calls) > 1:  # a batch: the cohort summary (counts only) beside the run files
        from ehrgen.report.cohort import write_cohort_summary

        write_cohort_summary(dirs.root, calls, recs, ctx.clinical, {o.sample: o.patient for o in ok})


def _write_tables_from_digests(dirs: RunDirs, ok: list[SampleOutcome], ctx: Context) -> None:
    """The same three outputs from each sample's small digest (ehrgen.pipeline.digest), streamed: each digest is
    read once, its rows go straight to the tables and its labels straight into the cohort counts, so memory does
    not grow with a biobank's people beyond what the counts hold. A sample without a digest (a run folder from an
    older ehrgen) is read the straightforward way."""
    import os

    from ehrgen.pgx.output import CALLS_TSV_HEADER
    from ehrgen.pipeline.digest import build_digest, cohort_inputs, digest_path, read_digest
    from ehrgen.rules.batch import RECOMMENDATIONS_TSV_HEADER

    actionable: list = []  # filled while the people are walked; the summary reads it only after them
    ct, rt = dirs.root / "calls.tsv.tmp", dirs.root / "recommendations.tsv.tmp"
    walked = 0
    with ct.open("w", encoding="utf-8", newline="") as cf, rt.open("w", encoding="utf-8", newline="") as rf:
        cf.write(CALLS_TSV_HEADER)
        rf.write(RECOMMENDATIONS_TSV_HEADER)

        def people():
            nonlocal walked
            for o in ok:
                doc = read_digest(digest_path(dirs.recommendations, safe_name(o.sample)))
                if doc is None:
                    got = _read_stage_files(dirs, o.sample)
                    if got is None:
                        continue
                    doc = build_digest(*got, o.patient)
                cf.write(doc["calls_tsv"])
                rf.write(doc["recommendations_tsv"])
                c, a = cohort_inputs(doc)
                actionable.extend(a)
                walked += 1
                yield c

        summary = len(ok) > 1  # a batch: the cohort summary (counts only) beside the run files
        if summary:
            from ehrgen.report.cohort import FILES, write_cohort_summary

            write_cohort_summary(dirs.root, people(), actionable, ctx.clinical, {o.sample: o.patient for o in ok})
        else:
            for _ in people():
                pass
    os.replace(ct, dirs.root / "calls.tsv")
    os.replace(rt, dirs.root / "recommendations.tsv")
    if summary and walked <= 1:  # as the straightforward path: no summary unless two people could be read
        for name in FILES:
            (dirs.root / name).unlink(missing_ok=True)


RULES_SNAPSHOT = "rules.snapshot.tsv"


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def read_run_meta(cfg: RunConfig) -> dict[str, Any]:
    try:
        return json.loads((cfg.dirs.root / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def stored_samples(cfg: RunConfig) -> list[tuple[str, str]]:
    """(sample, patient) for every calls file kept in the run's work dir (what re-interpretation revisits)."""
    out = []
    for f in sorted(cfg.dirs.calls.glob("*.calls.json")):
        sample = f.name[: -len(".calls.json")]
        st = read_state(cfg.dirs.calls, sample) or {}
        out.append((sample, st.get("patient", "")))
    return out


def reinterpret_samples(cfg: RunConfig, samples: list[tuple[str, str]]) -> list[SampleOutcome]:
    """Re-run interpretation (and export where the advice changed) on stored calls; no VCF is read."""
    dirs = cfg.dirs.make()
    ctx = _context(cfg)
    options = bundle_options()
    outcomes = []
    for sample, patient in samples:
        o = SampleOutcome(sample, patient or ctx.clinical.links.get(sample, ""), stage="interpret")
        outcomes.append(o)
        if o.patient and o.patient in cfg.withdrawn:
            _withdrawn(o)
            continue
        st = read_state(dirs.calls, sample) or {}
        try:
            calls = read_sample_calls(dirs.calls / f"{sample}.calls.json")
        except Exception as exc:
            o.fail("interpret", _reason(exc))
            continue
        o.vcf = Path(calls.source_file).name
        if not o.patient:
            o.fail("interpret", "no patient linked to the sample")
            continue
        process_sample(calls, o.patient, st.get("fingerprint", ""), ctx, dirs, o, cfg.source, options)
    return outcomes


def unchanged_run(p: Any, cfg: RunConfig, input_dir: str) -> list[SampleOutcome] | None:
    """A rerun with nothing to do, settled without Prefect: when every sample's calls, advice and exports are up
    to date (judged from the stage state files, as the chunks would) and every target already holds every export
    (per the ledger), record the run's files as the flow would and return its outcomes, every one "unchanged".
    None as soon as anything needs work (a changed input, a failed sample to retry, a withdrawal, a delivery
    still owed): then the flow runs as usual. Nothing is computed, written or delivered before that answer."""
    if p.errors or not p.chunks:
        return None
    note_consent(cfg)  # what the flow does first (idempotent): a withdrawn patient then makes this None below
    try:
        outcomes = [o for ch in p.chunks for o in run_chunk(ch, cfg, dry=True)]
    except NeedsWork:
        return None
    held = _held_by_every_target(cfg, _context(cfg), outcomes)
    if len(held) != len(outcomes) or any(o.patient in cfg.withdrawn for o in outcomes):
        return None
    for o in outcomes:
        o.stage, o.status, o.delivered = "deliver", "unchanged", held[id(o)]
    finish_run(cfg, outcomes, input_dir)
    return outcomes


def run_local(input_dir: str | Path, cfg: RunConfig, chunk_size: int = 500, deliver: bool = True
              ) -> list[SampleOutcome]:
    """The whole batch in this process, without Prefect (tests, benchmarks, debugging)."""
    from ehrgen.pipeline.plan import plan as make_plan

    p = make_plan(input_dir, chunk_size, cfg.clinical)
    if cfg.clinical is None:
        cfg.clinical = p.clinical
    note_consent(cfg)
    call_all_ahead(p.chunks, cfg)
    outcomes = [o for ch in p.chunks for o in run_chunk(ch, cfg)]
    outcomes += plan_errors(p)
    if deliver:
        deliver_run(cfg, outcomes)
    finish_run(cfg, outcomes, str(input_dir))
    return outcomes


def plan_errors(p: Any) -> list[SampleOutcome]:
    return [SampleOutcome(f"<manifest row {i + 1}>").fail("plan", e) for i, e in enumerate(p.errors)]
