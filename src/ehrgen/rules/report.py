"""Clinician-facing per-patient PGx report: one model, rendered as self-contained HTML and as JSON.

`build_report_model` is pure (records in, plain JSON-ready dict out); `render_html` turns that dict
into one HTML document with inline CSS only (so the FHIR stage can embed it as a DiagnosticReport
presentedForm); `render_patient_report` is the I/O edge that writes both files.

Wording shown to clinicians lives in templates/report_text.json, layout in templates/report.html.j2.
All text reaches the page through Jinja2 autoescaping (markupsafe, same escaping as html.escape with
quotes), so identifiers or guideline text can never inject markup.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import jinja2

from ehrgen import __version__
from ehrgen.errors import InputError
from ehrgen.pgx.model import INDETERMINATE, GeneCall, SampleCalls
from ehrgen.rules.model import Recommendation

REPORT_SCHEMA = "ehrgen.report/1"
# Critical first, then warning; unknown levels sort last and render as info (never hide a row).
ALERT_ORDER = {"critical": 0, "warning": 1, "info": 2}
SOURCE_ORDER = {"CPIC": 0, "DPWG": 1}
# CYP2D6 structural variants cannot be read from a VCF: only an outside call counts as tested.
CYP2D6 = "CYP2D6"
# Patient ids become file names: keep them to a safe alphabet rather than trying to sanitise.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


@lru_cache(maxsize=1)
def report_text() -> dict[str, Any]:
    """The clinician-facing labels and explanations (templates/report_text.json)."""
    path = resources.files("ehrgen.rules").joinpath("templates/report_text.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _when(value: str) -> str:
    """ISO 8601 timestamp as `2026-11-25 18:50 UTC` for readers; anything else is shown as given."""
    try:
        dt = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if len(value) <= 10:  # a bare date carries no time to show
        return dt.date().isoformat()
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
        return dt.strftime("%Y-%m-%d %H:%M UTC")
    return dt.strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ehrgen.rules", "templates"),
        autoescape=True,  # every {{ }} is escaped; the template never uses |safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    # the patient id goes into a CSS string for the printed page footer: only the safe alphabet
    env.filters["css_ident"] = lambda v: v if _SAFE_ID.match(str(v)) else ""
    return env


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links become hrefs: escaping alone would not stop a `javascript:` URL."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return url.strip()
    return None


def _alert(level: str) -> str:
    return level if level in ALERT_ORDER else "info"


def _rec_view(rec: Recommendation, text: dict[str, Any]) -> dict[str, Any]:
    alert = _alert(rec.alert)
    return {
        "drug": rec.drug,
        "source": rec.source,
        "genes": list(rec.genes),
        "phenotypes": dict(rec.phenotypes),
        "phenotype_text": "; ".join(f"{g}: {p}" for g, p in rec.phenotypes.items()),
        "action": rec.action,
        "action_label": text["action_labels"].get(rec.action, rec.action),
        "strength": rec.strength,
        "alert": alert,
        "alert_label": text["alert_labels"][alert],
        "summary": rec.summary,
        "dose_percent": rec.dose_percent,
        "alternatives": list(rec.alternatives),
        "actionable": bool(rec.actionable),
        "reason": rec.reason,
        "guideline_id": rec.guideline_id,
        "guideline_url": _safe_url(rec.guideline_url),
        "rule_id": rec.rule_id,
        "sample": rec.sample,
        "rules_version": rec.rules_version,
    }


def _rec_key(view: dict[str, Any]) -> tuple:
    return (view["drug"].lower(), SOURCE_ORDER.get(view["source"], 9), view["source"])


def _gene_view(call: GeneCall, sample: str, text: dict[str, Any]) -> dict[str, Any]:
    candidates = [
        {"diplotype": d.name, "phenotype": d.phenotype, "activity_score": d.activity_score}
        for d in call.diplotypes
    ]
    return {
        "gene": call.gene,
        "sample": sample,
        "status": call.status,
        "status_label": text["status_labels"].get(call.status, call.status),
        "status_explanation": text["status_explanations"].get(call.status, ""),
        "candidates": candidates,
        "diplotype_text": call.diplotype_text,
        "phenotype": call.phenotype,
        "indeterminate": call.phenotype == INDETERMINATE,
        "activity_score": call.activity_score,
        "source": call.source,
        "phased": call.phased,
        "missing_positions": len(call.missing_positions),
        "warnings": list(call.warnings),
    }


def _not_tested(
    genes: list[dict[str, Any]], recs: list[dict[str, Any]], text: dict[str, Any]
) -> list[dict[str, Any]]:
    """Everything a reader might assume was covered but was not, with what would resolve it."""
    nt = text["not_tested"]
    items: list[dict[str, Any]] = []

    def add(kind: str, gene: str | None, sample: str | None, **fmt: Any) -> None:
        t = nt[kind]
        items.append({
            "kind": kind, "gene": gene, "sample": sample, "title": t["title"],
            "detail": t["detail"].format(**fmt), "resolve": t["resolve"],
        })

    cyp2d6 = [g for g in genes if g["gene"] == CYP2D6]
    if not any(g["status"] == "outside_call" or g["source"] == "outside" for g in cyp2d6):
        add("cyp2d6_no_outside", CYP2D6, None)
    for g in genes:
        if g["gene"] == CYP2D6 and g["status"] == "no_data":
            continue  # already explained by the CYP2D6 item above
        if g["status"] in ("no_data", "not_called"):
            add(g["status"], g["gene"], g["sample"])
        elif g["missing_positions"]:
            add("missing_positions", g["gene"], g["sample"], count=g["missing_positions"])
        if g["indeterminate"]:
            names = " or ".join(
                f"{c['diplotype']} ({c['phenotype'] or 'no phenotype'})" for c in g["candidates"]
            )
            add("indeterminate", g["gene"], g["sample"], candidates=names)
    called = {g["gene"] for g in genes}
    for gene in sorted({x for r in recs for x in r["genes"]} - called - {CYP2D6}):
        add("not_in_test", gene, None)
    for r in recs:
        if r["action"] == "indeterminate":
            add("indeterminate_recommendation", ", ".join(r["genes"]) or None, r["sample"] or None,
                drug=r["drug"], source=r["source"])
            if r["reason"]:
                items[-1]["resolve"] = r["reason"]
    return items


def _source_view(name: str, value: Any) -> dict[str, Any]:
    """ruleset_meta["sources"] values may be a version string, a URL, or {"version", "url"}."""
    if isinstance(value, dict):
        return {"source": name, "version": str(value.get("version", "")),
                "url": _safe_url(value.get("url"))}
    return {"source": name, "version": str(value), "url": _safe_url(str(value))}


def _guidelines(drugs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per guideline the report used, with the drugs it covered."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in drugs:
        key = (r["source"], r["guideline_id"] or r["guideline_url"] or r["drug"])
        row = seen.setdefault(key, {"source": r["source"], "guideline_id": r["guideline_id"],
                                    "url": r["guideline_url"], "drugs": []})
        if r["drug"] not in row["drugs"]:
            row["drugs"].append(r["drug"])
    return sorted(seen.values(), key=lambda g: (SOURCE_ORDER.get(g["source"], 9), g["drugs"]))


def build_report_model(
    patient: str,
    calls: Iterable[SampleCalls],
    recs: Iterable[Recommendation],
    ruleset_meta: dict[str, Any],
    report_date: str | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict; `report_date` (ISO 8601) defaults to now, UTC."""
    text = report_text()
    calls = list(calls)
    if report_date is None:
        report_date = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    samples = [
        {
            "sample": c.sample,
            "source_file": Path(c.source_file).name if c.source_file else "",
            "source_sha256": c.source_sha256,
            "ehrgen_version": c.ehrgen_version,
            "mappings_version": c.mappings_version,
            "warnings": list(c.warnings),
            **({"assumptions": list(c.assumptions)} if c.assumptions else {}),  # e.g. absent_is_reference
        }
        for c in calls
    ]
    genes = sorted(
        (_gene_view(g, c.sample, text) for c in calls for g in c.genes.values()),
        key=lambda g: (g["gene"], g["sample"]),
    )
    drugs = sorted((_rec_view(r, text) for r in recs), key=_rec_key)
    actionable = sorted(
        (r for r in drugs if r["actionable"]),
        key=lambda r: (ALERT_ORDER[r["alert"]],) + _rec_key(r),
    )
    sources = [_source_view(name, val) for name, val in (ruleset_meta.get("sources") or {}).items()]
    return {
        "schema": REPORT_SCHEMA,
        "title": text["title"],
        "patient": patient,
        "report_date": report_date,
        "disclaimer": text["disclaimer"],
        "versions": {
            "ehrgen": __version__,
            "rules": str(ruleset_meta.get("version", "")),
            "rules_generated": str(ruleset_meta.get("generated", "")),
            "mappings": sorted({c.mappings_version for c in calls if c.mappings_version}),
            "callers": sorted({c.ehrgen_version for c in calls if c.ehrgen_version}),
        },
        "sources": sources,
        "guidelines": _guidelines(drugs),
        "samples": samples,
        "counts": {
            "actionable": len(actionable),
            "critical": sum(r["alert"] == "critical" for r in actionable),
            "warning": sum(r["alert"] == "warning" for r in actionable),
            "drug_rows": len(drugs),
            "drugs": len({r["drug"] for r in drugs}),
            "genes": len({g["gene"] for g in genes}),
        },
        "actionable": actionable,
        "genes": genes,
        "drugs": drugs,
        "not_tested": _not_tested(genes, drugs, text),
        "alert_markers": text["alert_markers"],
    }


def render_html(model: dict[str, Any]) -> str:
    """One self-contained HTML document (inline CSS, no scripts, fonts or remote resources)."""
    # lstrip: the macro definitions above the doctype leave blank lines
    return _environment().get_template("report.html.j2").render(m=model).lstrip()


def render_json(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def render_patient_report(
    patient: str,
    calls: list[SampleCalls],
    recs: list[Recommendation],
    ruleset_meta: dict[str, Any],
    out_dir: Path,
) -> tuple[Path, Path]:
    """Write `<patient>.report.html` and `<patient>.report.json` into out_dir; return both paths."""
    if not _SAFE_ID.match(patient):
        # the id itself is not echoed: error messages may end up in logs
        raise InputError("report", "patient id must be 1-128 letters, digits, '.', '_' or '-' "
                         "(it names the report files)")
    model = build_report_model(patient, calls, recs, ruleset_meta)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{patient}.report.html"
    json_path = out_dir / f"{patient}.report.json"
    html_path.write_text(render_html(model), encoding="utf-8")
    json_path.write_text(render_json(model), encoding="utf-8")
    return html_path, json_path
