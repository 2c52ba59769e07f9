"""I/O edge of `ehrgen export`: read `ehrgen interpret` output, write <patient>.bundle.json and <patient>.oru.hl7.

Input tolerance (the interpret JSON is owned by another module and may evolve): a per-patient file
`<patient>.recommendations.json` is either a list of Recommendation dicts or an object with
`recommendations` (list) and optionally `patient`, `sample(s)`, `calls` (one calls dict, a list, or a
{sample: calls} map, schema ehrgen.calls/1), `calls_file(s)`, `rules_version`, `generated`/`issued`.
Calls not embedded are read from `<sample>.calls.json` in the results folder or the --calls folder.
One patient's bad input is reported and skipped; the others are still exported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ehrgen import __version__
from ehrgen.errors import InputError
from ehrgen.fhir.bundle import BundleOptions, PatientRef, ReportContext, build_bundle, bundle_json
from ehrgen.hl7.oru import build_oru, parse_oru
from ehrgen.pgx.model import SampleCalls
from ehrgen.rules.model import Recommendation

REC_SUFFIX = ".recommendations.json"
DEFAULT_ID_SYSTEM = "urn:ehrgen:patient"


@dataclass
class PatientResults:
    patient: str
    calls: list[SampleCalls]
    recs: list[Recommendation]
    rules_version: str
    issued: datetime
    report_html: str | None = None
    source: Path | None = None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON ({exc.msg})", exc.lineno) from None
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None


def _calls_from(obj: Any, where: str) -> list[SampleCalls]:
    if obj is None:
        return []
    if isinstance(obj, list):
        return [c for o in obj for c in _calls_from(o, where)]
    if isinstance(obj, dict) and obj.get("schema") == "ehrgen.calls/1":
        try:
            return [SampleCalls.from_dict(obj)]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(where, f"embedded calls are not valid ehrgen.calls/1 ({exc.__class__.__name__}: {exc})") from None
    if isinstance(obj, dict):  # {sample: calls}
        return [c for o in obj.values() for c in _calls_from(o, where)]
    raise InputError(where, "`calls` must be a calls object, a list of them, or a map sample -> calls")


def _load_calls_file(name: str, dirs: list[Path], where: str) -> SampleCalls:
    for d in dirs:
        p = d / name
        if p.is_file():
            try:
                return SampleCalls.from_dict(_read_json(p))
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(str(p), f"not a valid ehrgen.calls/1 file ({exc})") from None
    raise InputError(where, f"calls file {name} not found in {', '.join(str(d) for d in dirs)} (use --calls DIR)")


def _sample_names(doc: dict[str, Any], recs: list[Recommendation]) -> list[str]:
    """Sample ids from `samples` (ids or interpret's per-sample summaries) / `sample`, else from the recs."""
    raw = doc.get("samples") or doc.get("sample") or []
    raw = raw if isinstance(raw, list) else [raw]
    names = []
    for s in raw:
        if isinstance(s, dict):
            s = s.get("sample")
        if s:
            names.append(str(s))
    return names or sorted({r.sample for r in recs if r.sample})


def _calls_stem(sample: str) -> str:
    try:  # the calling stage's own file naming, so the two always agree
        from ehrgen.pgx.output import safe_name
    except ImportError:  # pragma: no cover
        return sample
    return safe_name(sample)


def _issued(doc: dict[str, Any], path: Path) -> datetime:
    """The interpretation time: a timestamp in the document, else the file's modification time (so re-exporting
    unchanged results yields byte-identical output and delivery sees nothing new)."""
    for key in ("issued", "generated", "generated_at", "report_date", "created"):
        v = doc.get(key)
        if isinstance(v, str):
            try:
                dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
            return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(int(path.stat().st_mtime), tz=timezone.utc)


def load_patient_results(path: Path, calls_dirs: list[Path]) -> PatientResults:
    doc = _read_json(path)
    stem = path.name[: -len(REC_SUFFIX)]
    if isinstance(doc, list):
        doc = {"recommendations": doc}
    if not isinstance(doc, dict):
        raise InputError(str(path), "expected an object with `recommendations` or a list of recommendations")
    raw = doc.get("recommendations")
    if not isinstance(raw, list):
        raise InputError(str(path), "`recommendations` must be a list")
    # reactive alerts (for current medications) repeat pre-emptive advice; build_bundle keeps the first per drug
    if isinstance(doc.get("alerts"), list):
        raw = raw + doc["alerts"]
    recs: list[Recommendation] = []
    known = {f.name for f in fields(Recommendation)}
    for i, r in enumerate(raw, start=1):
        if not isinstance(r, dict):
            raise InputError(str(path), f"recommendation #{i}: expected an object")
        try:  # fields added by newer interpret versions are ignored, missing required ones are an error
            recs.append(Recommendation(**{k: v for k, v in r.items() if k in known}))
        except TypeError as exc:
            raise InputError(str(path), f"recommendation #{i}: {exc}") from None
    patient = str(doc.get("patient") or (recs[0].patient if recs else stem))

    calls = _calls_from(doc.get("calls"), str(path))
    if not calls:
        files = doc.get("calls_files") or doc.get("calls_file") or []
        files = [files] if isinstance(files, str) else list(files)
        if not files:
            files = [f"{_calls_stem(s)}.calls.json" for s in _sample_names(doc, recs)]
        if not files:
            raise InputError(str(path), "no calls embedded and no sample named: cannot find the calls")
        calls = [_load_calls_file(Path(f).name, calls_dirs, str(path)) for f in files]

    rules_meta = doc.get("rules") if isinstance(doc.get("rules"), dict) else {}
    rules_version = str(doc.get("rules_version") or rules_meta.get("rules_version") or rules_meta.get("version")
                        or (recs[0].rules_version if recs else ""))
    html_path = path.parent / f"{stem}.report.html"
    html = html_path.read_text(encoding="utf-8") if html_path.is_file() else None
    return PatientResults(patient=patient, calls=calls, recs=recs, rules_version=rules_version,
                          issued=_issued(doc, path), report_html=html, source=path)


def find_results(results_dir: Path) -> list[Path]:
    if not results_dir.is_dir():
        raise InputError(str(results_dir), "expected the folder written by `ehrgen interpret`")
    files = sorted(results_dir.glob(f"*{REC_SUFFIX}"))
    if not files:
        raise InputError(str(results_dir), f"no *{REC_SUFFIX} files (is this `ehrgen interpret` output?)")
    return files


def merge_bundles(bundles: list[dict[str, Any]]) -> dict[str, Any]:
    """One transaction for a patient with several samples: entries concatenated, shared ones (Patient) once."""
    if len(bundles) == 1:
        return bundles[0]
    seen: set[str] = set()
    entries = []
    for b in bundles:
        for e in b["entry"]:
            if e["fullUrl"] not in seen:
                seen.add(e["fullUrl"])
                entries.append(e)
    return {**bundles[0], "entry": entries}


def export_patient(res: PatientResults, out_dir: Path, patient_ref: PatientRef, orders: dict[str, str],
                   check: bool = True, options: BundleOptions | None = None) -> list[Path]:
    bundles, messages = [], []
    for calls in res.calls:
        recs = [r for r in res.recs if r.sample in ("", calls.sample)] if len(res.calls) > 1 else res.recs
        ctx = ReportContext(ehrgen_version=__version__, rules_version=res.rules_version,
                            input_sha256=calls.source_sha256 or "unknown", issued=res.issued,
                            report_html=res.report_html, medication_orders=orders,
                            options=options or BundleOptions())
        bundles.append(build_bundle(calls, recs, patient_ref, ctx))
        messages.append(build_oru(calls, recs, patient_ref, ctx))
    bundle = merge_bundles(bundles)
    where = str(res.source or res.patient)
    if check:
        problems = check_bundle(bundle)
        if problems:
            raise InputError(where, f"built bundle failed the R4B model check: {problems[0]}")
        for m in messages:
            try:
                parse_oru(m, strict=True).validate()
            except Exception as exc:  # hl7apy raises several unrelated types
                raise InputError(where, f"built ORU failed strict hl7apy validation: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    b_path = out_dir / f"{res.patient}.bundle.json"
    o_path = out_dir / f"{res.patient}.oru.hl7"
    b_path.write_text(bundle_json(bundle, indent=True), encoding="utf-8")
    # several samples: one message each, in one file (batch-less concatenation, each ends with \r)
    o_path.write_text("".join(messages), encoding="utf-8", newline="")
    return [b_path, o_path]


def check_bundle(bundle: dict[str, Any]) -> list[str]:
    """Parse every entry with the fhir.resources R4B model of its type; problems as one-liners."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    problems = []
    for i, e in enumerate(bundle.get("entry", [])):
        res = e.get("resource", {})
        try:
            get_fhir_model_class(res.get("resourceType", "")).model_validate(res)
        except (ValidationError, KeyError, ValueError) as exc:
            problems.append(f"entry {i} ({res.get('resourceType')}): {str(exc).splitlines()[0]}")
    return problems


def iter_export(results_dir: Path, out_dir: Path, calls_dir: Path | None = None, clinical: Any = None,
                identifier_system: str = DEFAULT_ID_SYSTEM, check: bool = True,
                options: BundleOptions | None = None) -> Iterator[tuple[str, list[Path] | str]]:
    """Export every patient; yields (patient file stem, written paths | one-line error)."""
    dirs = [results_dir] + ([calls_dir] if calls_dir else [])
    for path in find_results(results_dir):
        stem = path.name[: -len(REC_SUFFIX)]
        try:
            res = load_patient_results(path, dirs)
            patient_ref = _patient_ref(res.patient, clinical, identifier_system)
            orders = _orders(res, clinical)
            yield stem, export_patient(res, out_dir, patient_ref, orders, check=check, options=options)
        except (InputError, OSError) as exc:
            yield stem, str(exc).splitlines()[0]


def _patient_ref(patient: str, clinical: Any, identifier_system: str) -> PatientRef:
    p = clinical.patients.get(patient) if clinical is not None else None
    if p is not None and p.identifier_system and p.identifier_value:
        return PatientRef(id=patient, identifier_system=p.identifier_system, identifier_value=p.identifier_value)
    return PatientRef(id=patient, identifier_system=identifier_system, identifier_value=patient)


def _orders(res: PatientResults, clinical: Any) -> dict[str, str]:
    """drug -> MedicationRequest/<order id> for the patient's active or proposed orders of a recommended drug."""
    if clinical is None:
        return {}
    out: dict[str, str] = {}
    meds = [m for m in clinical.medications_for(res.patient) if m.order_id and m.status in ("active", "proposed")]
    for rec in res.recs:
        for m in meds:
            codes = {c for _, c in m.codes}
            text = (m.drug_text or "").lower()
            if (rec.rxnorm and rec.rxnorm in codes) or (rec.atc and rec.atc in codes) or (rec.drug and rec.drug in text):
                out.setdefault(rec.drug, m.order_id if "/" in m.order_id else f"MedicationRequest/{m.order_id}")
                break
    return out
