"""The per-sample stages: call (per VCF), interpret, export. Each writes its stage file plus a fingerprint
and is skipped when the fingerprint of its inputs is unchanged. Errors are captured per sample/file."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ehrgen import __version__
from ehrgen.errors import InputError
from ehrgen.pgx.caller import call_batch, file_sha256
from ehrgen.pgx.model import SampleCalls
from ehrgen.pgx.output import atomic_write_text, json_text, read_json, read_sample_calls, safe_name, write_sample_calls
from ehrgen.pipeline.context import Context
from ehrgen.pipeline.digest import digest_path, write_digest
from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.plan import SampleJob, VcfJob
from ehrgen.pipeline.workdir import RunDirs, fingerprint, read_state, write_state
from ehrgen.rules.model import Recommendation

log = logging.getLogger(__name__)
EXPORT_FORMAT = "ehrgen.export/2"  # bump when the exported files change shape: forces a re-export
RECS_SCHEMA = "ehrgen.recommendations/1"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (InputError, OSError)):
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return f"internal error: {exc.__class__.__name__}"  # text of unexpected errors may quote data


def _vcf_reason(vcf: str, exc: BaseException) -> str:
    """cyvcf2/htslib raise bare Exceptions with short fixed texts ("cannot parse VCF header"): keep that text."""
    msg = (str(exc).splitlines() or [""])[0][:120]
    return f"{Path(vcf).name}: cannot be read as VCF ({msg or exc.__class__.__name__})"


# -- calling ------------------------------------------------------------------------------------------

@dataclass
class Called:
    job: SampleJob
    outcome: SampleOutcome
    calls: SampleCalls | None = None
    calls_fp: str = ""
    stored: Path | None = None  # calls unchanged since the last run: the file, read only when needed

    def load(self) -> SampleCalls | None:
        """The calls (reading the stored file on first use); None when the sample has none."""
        if self.calls is None and self.stored is not None:
            self.calls = read_sample_calls(self.stored)
        return self.calls


def _vcf_samples(path: str) -> list[str]:
    from cyvcf2 import VCF

    v = VCF(path, lazy=True)
    try:
        return list(v.samples)
    finally:
        v.close()


class NeedsWork(Exception):
    """Raised by the dry (check-only) paths as soon as one sample would have to be computed."""


def call_job(job: VcfJob, ctx: Context, dirs: RunDirs, calling=None, dry: bool = False) -> list[Called]:
    """Call every sample of one VCF job (one read of the file); per-sample failures stay per sample.
    `calling`: settings.CallingSettings (absent-is-reference, imputation thresholds); defaults when None.
    dry: compute nothing; raise NeedsWork if any sample's stored calls are missing or out of date."""
    vcf_name = Path(job.vcf).name
    try:
        vcf_sha = file_sha256(job.vcf)
        if job.samples is None:
            job = VcfJob(job.vcf, [SampleJob(s) for s in _vcf_samples(job.vcf)])
    except Exception as exc:  # the file cannot be read at all: every sample of it fails, nothing else
        if dry:
            raise NeedsWork from None
        reason = _reason(exc) if isinstance(exc, (InputError, OSError)) else _vcf_reason(job.vcf, exc)
        return [Called(s, SampleOutcome(s.sample, s.patient or "", vcf_name).fail("call", reason))
                for s in (job.samples or [SampleJob(f"<{vcf_name}>")])]
    results: dict[str, Called] = {}
    outside: dict[str, dict] = {}
    todo: list[SampleJob] = []
    for s in job.samples:
        c = results[s.sample] = Called(s, SampleOutcome(s.sample, s.patient or "", vcf_name, stage="call"))
        out_sha = ""
        if s.outside_calls:
            try:
                from ehrgen.pgx.outside import parse_outside_calls

                out_sha = file_sha256(s.outside_calls)
                outside[s.sample] = parse_outside_calls(s.outside_calls, ctx.definitions)
            except Exception as exc:
                if dry:
                    raise NeedsWork from None
                c.outcome.fail("call", _reason(exc))
                continue
        c.calls_fp = fingerprint("calls", vcf_sha, out_sha, ctx.definitions.version, __version__,
                                 *([calling.model_dump(mode="json")] if calling is not None else []))
        st = read_state(dirs.calls, s.sample)
        calls_file = dirs.calls / f"{safe_name(s.sample)}.calls.json"
        if st and st.get("fingerprint") == c.calls_fp and calls_file.is_file():
            c.stored = calls_file  # read later, and only if interpretation or export must be redone
            c.outcome.skipped.append("call")
            continue
        todo.append(s)
    if todo and dry:
        raise NeedsWork
    if todo:
        _call_todo(job.vcf, todo, results, outside, vcf_sha, ctx, dirs, calling)
    return [results[s.sample] for s in job.samples]


def _call_todo(vcf: str, todo: list[SampleJob], results: dict[str, Called], outside: dict, vcf_sha: str,
               ctx: Context, dirs: RunDirs, calling=None) -> None:
    from ehrgen.ingest.vcf import read_genotypes

    names = [s.sample for s in todo]
    try:
        try:
            batch = read_genotypes(vcf, ctx.definitions, samples=names, calling=calling)
        except InputError as exc:
            if "sample(s) not found" not in str(exc):
                raise
            present = set(_vcf_samples(vcf))
            for s in todo:
                if s.sample not in present:
                    results[s.sample].outcome.fail("call", f"{Path(vcf).name}: sample not found in the VCF")
            names = [n for n in names if n in present]
            if not names:
                return
            batch = read_genotypes(vcf, ctx.definitions, samples=names, calling=calling)
        calls = call_batch(batch, ctx.definitions, {k: v for k, v in outside.items() if k in names}, vcf_sha)
    except Exception as exc:  # the whole file is bad: its samples fail, other files carry on
        reason = _reason(exc) if isinstance(exc, (InputError, OSError)) else _vcf_reason(vcf, exc)
        for n in names:
            results[n].outcome.fail("call", reason)
        return
    memo: dict[int, dict] = {}
    for sc in calls:
        c = results[sc.sample]
        try:
            write_sample_calls(sc, dirs.calls, memo)  # the same file `ehrgen call` writes
            write_state(dirs.calls, sc.sample, {"fingerprint": c.calls_fp, "patient": c.outcome.patient})
            c.calls = sc
        except Exception as exc:
            c.outcome.fail("call", _reason(exc))


# -- interpretation -----------------------------------------------------------------------------------

_SIGNED = ("drug", "source", "population", "genes", "phenotypes", "action", "strength", "alert", "summary",
           "dose_percent", "alternatives", "actionable", "reason", "guideline_url")
_SIG_ENCODER = json.JSONEncoder(sort_keys=True)  # json.dumps(x, sort_keys=True) without a new encoder per row


def signature(recs: list[Recommendation]) -> str:
    """What a clinician would see change: advice fields, not the rules version or internal rule ids."""
    enc = _SIG_ENCODER.encode
    rows = sorted(enc({k: getattr(r, k) for k in _SIGNED}) for r in recs)
    return fingerprint("recs", rows)


def interpret_sample_signed(calls: SampleCalls, patient: str, calls_fp: str, ctx: Context, dirs: RunDirs,
                            outcome: SampleOutcome, source: str = "both") -> tuple[list[Recommendation], str | None]:
    """The records and, when they were computed afresh, their signature (so export need not compute it again;
    None when they were read back)."""
    from ehrgen.rules.engine import interpret

    outcome.stage = "interpret"
    fp = interpret_fingerprint(calls_fp, patient, ctx, source)
    path = dirs.recommendations / f"{safe_name(calls.sample)}.recommendations.json"
    st = read_state(dirs.recommendations, calls.sample)
    if st and st.get("fingerprint") == fp and path.is_file():
        try:
            doc = read_json(path)
            outcome.skipped.append("interpret")
            recs = [Recommendation.from_dict(r) for r in doc["recommendations"]]
            if "n" not in st:  # a state written by an older ehrgen: add what the quick path needs
                write_state(dirs.recommendations, calls.sample, {**st, **rec_counts(recs)})
            dg = digest_path(dirs.recommendations, safe_name(calls.sample))
            if not dg.is_file():  # a run folder from an older ehrgen
                write_digest(dg, calls, recs, patient)
            return recs, None
        except (OSError, ValueError, KeyError, TypeError):
            pass
    recs = interpret(calls, patient, source=source, ruleset=ctx.ruleset)  # type: ignore[arg-type]
    doc = {"schema": RECS_SCHEMA, "sample": calls.sample, "patient": patient,
           "rules_version": ctx.ruleset.version, "rules_sha256": ctx.rules_fp,
           **({"assumptions": list(calls.assumptions)} if calls.assumptions else {}),  # e.g. absent_is_reference
           "recommendations": [dict(vars(r)) for r in recs]}  # flat dataclass: no deep asdict copy needed
    atomic_write_text(path, json_text(doc))
    write_digest(digest_path(dirs.recommendations, safe_name(calls.sample)), calls, recs, patient)
    sig = signature(recs)
    write_state(dirs.recommendations, calls.sample, {"fingerprint": fp, "signature": sig, **rec_counts(recs)})
    return recs, sig


def rec_counts(recs: list[Recommendation]) -> dict[str, int]:
    """What a sample's outcome reports about its advice (kept in the interpret state for the quick path)."""
    from ehrgen.rules.findings import count_findings

    # the same count as the report, the FHIR conclusion and the terminal (one function computes it)
    return {"n": len(recs), "actionable": count_findings(recs).actionable}


def interpret_fingerprint(calls_fp: str, patient: str, ctx: Context, source: str) -> str:
    return fingerprint("interpret", calls_fp, patient, ctx.rules_fp, ctx.ruleset.version, source)


# -- export -------------------------------------------------------------------------------------------

def _medication_orders(ctx: Context, patient: str) -> dict[str, str]:
    from ehrgen.rules.drugs import resolve

    orders: dict[str, str] = {}
    for med in ctx.clinical.medications_for(patient):
        if not med.order_id:
            continue
        drug = None
        for _system, code in med.codes:
            drug = resolve(code)
            if drug:
                break
        name = drug.name if drug else (med.drug_text or "").strip().lower()
        if name:
            orders.setdefault(name, med.order_id)
    return orders


def export_files(patient: str, dirs: RunDirs) -> dict[str, Path]:
    stem = safe_name(patient)
    return {"fhir-bundle": dirs.export / f"{stem}.bundle.json", "oru": dirs.export / f"{stem}.oru.hl7",
            "report": dirs.export / f"{stem}.report.html", "report-pdf": dirs.export / f"{stem}.report.pdf"}


OPTIONAL_EXPORTS = frozenset({"report-pdf"})  # written only when a PDF engine is configured


def present_exports(files: dict[str, Path]) -> dict[str, Path]:
    """Every required export file (whether it exists or not) and the optional ones that exist."""
    return {k: f for k, f in files.items() if k not in OPTIONAL_EXPORTS or f.is_file()}


def exports_complete(files: dict[str, Path]) -> bool:
    return all(f.is_file() for k, f in files.items() if k not in OPTIONAL_EXPORTS)


def _patient_ref(ctx: Context, patient: str):
    from ehrgen.fhir.bundle import PatientRef

    p = ctx.clinical.patients.get(patient)
    if p is None or not p.identifier_value:
        raise InputError("clinical", "no patient record with an identifier for the sample's patient")
    return PatientRef(patient, p.identifier_system or "urn:ehrgen:patient", p.identifier_value)


def bundle_options() -> Any:
    """The FHIR bundle options from the settings (read once per chunk by the caller, not once per sample)."""
    from ehrgen.fhir.bundle import BundleOptions
    from ehrgen.settings import load_settings

    return BundleOptions.from_settings(load_settings().fhir)


def export_fingerprint(sig: str, calls_fp: str, sample: str, ref: Any, orders: dict[str, str],
                       options: Any = None) -> str:
    # the bundle options (reference style, performer, unknown-patient policy) change the bytes: part of the key
    options = bundle_options() if options is None else options
    return fingerprint("export", EXPORT_FORMAT, __version__, sig, calls_fp, sample,
                       [ref.id, ref.identifier_system, ref.identifier_value], orders, repr(options))


def file_stamps(files: dict[str, Path]) -> dict[str, list]:
    """kind -> [sha256, size, mtime_ns] of each export file as written (lets a rerun's delivery skip reading
    files the ledger says every target already holds)."""
    from ehrgen.deliver.model import sha256_hex

    out = {}
    for kind, f in present_exports(files).items():
        st = f.stat()
        out[kind] = [sha256_hex(f.read_bytes()), st.st_size, st.st_mtime_ns]
    return out


def stamps_current(stamps: dict[str, list] | None, files: dict[str, Path]) -> bool:
    files = present_exports(files)
    if not stamps or set(stamps) != set(files):
        return False
    for kind, f in files.items():
        try:
            st = f.stat()
        except OSError:
            return False
        if [st.st_size, st.st_mtime_ns] != stamps[kind][1:]:
            return False
    return True


def quick_skip(sample: str, patient: str, calls_fp: str, ctx: Context, dirs: RunDirs, outcome: SampleOutcome,
               source: str = "both", options: Any = None) -> bool:
    """True (and the outcome filled in) when interpretation and export are both up to date, judged from the
    stage state files alone: nothing is parsed or recomputed (what makes a rerun with nothing changed fast).
    False means: take the normal path (which re-checks and redoes whatever changed)."""
    rst = read_state(dirs.recommendations, sample)
    if not rst or "n" not in rst or rst.get("fingerprint") != interpret_fingerprint(calls_fp, patient, ctx, source):
        return False
    if not (dirs.recommendations / f"{safe_name(sample)}.recommendations.json").is_file():
        return False
    try:
        ref = _patient_ref(ctx, patient)
    except InputError:
        return False
    est = read_state(dirs.export, patient)
    files = export_files(patient, dirs)
    fp = export_fingerprint(rst["signature"], calls_fp, sample, ref, _medication_orders(ctx, patient), options)
    if not est or est.get("fingerprint") != fp or not exports_complete(files):
        return False
    outcome.recommendations, outcome.actionable = int(rst["n"]), int(rst["actionable"])
    outcome.skipped += ["interpret", "export"]
    outcome.stage, outcome.status, outcome.reason = "export", "exported", ""
    return True


def export_sample(calls: SampleCalls, recs: list[Recommendation], patient: str, calls_fp: str, ctx: Context,
                  dirs: RunDirs, outcome: SampleOutcome, options: Any = None, sig: str | None = None) -> bool:
    """Write <patient>.bundle.json, .oru.hl7, .report.html. Returns True when files were (re)written.

    Skipped when neither the advice (signature), the calls, the patient record nor the orders changed:
    the files then keep their bytes (and issued time), so delivery finds them unchanged.
    """
    from ehrgen.fhir.bundle import ReportContext, Supersession, bundle_json, build_bundle
    from ehrgen.hl7.oru import build_oru
    from ehrgen.report.clinician import PatientInfo, build_report_model, medications_from_clinical, render_html
    from ehrgen.report.files import atomic_write_bytes
    from ehrgen.report.pdf import html_to_pdf

    outcome.stage = "export"
    ref = _patient_ref(ctx, patient)
    orders = _medication_orders(ctx, patient)
    options = bundle_options() if options is None else options
    sig = signature(recs) if sig is None else sig  # the caller's: computed by interpretation just now
    fp = export_fingerprint(sig, calls_fp, calls.sample, ref, orders, options)
    files = export_files(patient, dirs)
    st = read_state(dirs.export, patient)
    if st and st.get("fingerprint") == fp and exports_complete(files):
        outcome.skipped.append("export")
        if "files" not in st:  # a state written by an older ehrgen: add what the quick path needs
            write_state(dirs.export, patient, {**st, "files": file_stamps(files)})
        return False
    issued = datetime.now(timezone.utc).replace(microsecond=0)
    context = ReportContext(ehrgen_version=__version__, rules_version=ctx.ruleset.version,
                            input_sha256=calls.source_sha256, issued=issued, medication_orders=orders,
                            options=options)
    advice = _advice(recs)
    if st and st.get("rules_version") and st["rules_version"] != ctx.ruleset.version \
            and st.get("signature") != sig and st.get("sample") == calls.sample:
        before = {tuple(k.split("\x1f")): v for k, v in (st.get("advice") or {}).items()}
        now = {tuple(k.split("\x1f")): v for k, v in advice.items()}
        changed = sorted({k[0] for k in set(before) | set(now) if before.get(k) != now.get(k)})
        context.supersedes = Supersession(st["rules_version"], sorted(before), changed)
    model = build_report_model(patient, [calls], recs, ctx.ruleset_meta, report_date=issued.isoformat(),
                               patient_info=PatientInfo.from_clinical(patient, ctx.clinical.patients.get(patient)),
                               medications=medications_from_clinical(ctx.clinical.medications_for(patient)))
    html = render_html(model)
    context.report_html = html
    context.report_pdf = html_to_pdf(html)  # None (one warning) when no engine is installed
    bundle = build_bundle(calls, recs, ref, context)
    oru = build_oru(calls, recs, ref, context)
    atomic_write_text(files["report"], html)
    if context.report_pdf is not None:
        atomic_write_bytes(files["report-pdf"], context.report_pdf)
    else:
        files["report-pdf"].unlink(missing_ok=True)  # never leave a PDF of older advice next to new HTML
    atomic_write_text(files["oru"], oru)
    atomic_write_text(files["fhir-bundle"], bundle_json(bundle, indent=True))
    write_state(dirs.export, patient, {"fingerprint": fp, "issued": issued.isoformat(), "sample": calls.sample,
                                       "signature": sig, "rules_version": ctx.ruleset.version,
                                       "advice": advice, "files": file_stamps(files)})
    return True


def _advice(recs: list[Recommendation]) -> dict[str, str]:
    """(drug, source) -> what the clinician is told, for the actionable advice a bundle carries."""
    out: dict[str, str] = {}
    for r in recs:
        if r.actionable:
            key = f"{r.drug}\x1f{r.source}"
            parts = {*out.get(key, "").split("|"), f"{r.action}:{r.alert}:{r.dose_percent}:{r.strength}:{r.summary}"} - {""}
            out[key] = "|".join(sorted(parts))
    return out
