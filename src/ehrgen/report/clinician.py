"""Clinician-facing per-patient PGx report: one model, rendered as self-contained HTML, JSON and PDF.

`build_report_model` is pure (records in, plain JSON-ready dict out); `render_html` turns that dict into one
HTML document with inline CSS only (the FHIR stage embeds it as a DiagnosticReport presentedForm, next to the
PDF made from it); `render_patient_report` is the I/O edge that writes the files.

Reading order (what a prescriber needs in a minute): who and what was tested; the medicines the patient takes
or was just ordered, with what the result means for each; every other drug with actionable advice, one block
per drug with CPIC and DPWG side by side; the gene results; what was not tested and why; a glossary. The full
per-recommendation detail (rule ids, links, populations) follows as an appendix.

Wording shown to clinicians lives in templates/report_text.json, layout in templates/report.html.j2. All text
reaches the page through Jinja2 autoescaping, so identifiers or guideline text can never inject markup.

Speed (issue 14, `ehrgen.fastpath`): people share most recommendation and gene content, so on the fast path the
model stamps recommendation views, drug blocks, gene views and guideline rows from bounded per-content caches
(keyed on orjson bytes of every input field except whom it is about; the sample is stamped back in, every object
handed out is fresh), and render_html reuses a frag() macro's escaped output for equal arguments. With the fast
path off nothing is cached; tests/report/test_clinician_fastpath.py requires identical bytes from both.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import jinja2

from ehrgen import __version__, fastpath
from ehrgen.errors import InputError
from ehrgen.pgx import qc as qc_summary
from ehrgen.pgx.model import INDETERMINATE, GeneCall, SampleCalls
from ehrgen.rules.alternatives import alternatives_text
from ehrgen.rules.findings import (
    ALERT_ORDER, SOURCE_ORDER, DrugFinding, count_findings, drug_findings, population_label, rec_order,
    strength_label,
)
from ehrgen.rules.model import Recommendation

REPORT_SCHEMA = "ehrgen.report/2"
# CYP2D6 structural variants cannot be read from a VCF: only an outside call counts as tested.
CYP2D6 = "CYP2D6"
# Patient ids become file names: keep them to a safe alphabet rather than trying to sanitise.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_POPULATION_SUFFIX = re.compile(r"\s*\[Population: [^\]]*\]\s*$")
STATUSES = ("preliminary", "final")

try:  # the fast path keys its caches on orjson bytes; without orjson it is simply off
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


@dataclass(frozen=True)
class PatientInfo:
    """Who the report is about, as the clinical data gives it (shown on the report, never logged)."""

    id: str
    name: str = ""
    identifier_system: str = ""
    identifier_value: str = ""
    birth_date: str = ""  # ISO date
    sex: str = ""

    def __repr__(self) -> str:  # keep names and birth dates out of tracebacks
        return f"PatientInfo(id=<{len(self.id)} chars>)"

    @classmethod
    def from_clinical(cls, patient_id: str, p: Any | None) -> "PatientInfo":
        """From an ehrgen.ingest.clinical Patient (or None: only the key is known)."""
        if p is None:
            return cls(patient_id)
        name = " ".join(x for x in (getattr(p, "given", None), getattr(p, "family", None)) if x)
        bd = getattr(p, "birth_date", None)
        return cls(patient_id, name, getattr(p, "identifier_system", None) or "",
                   getattr(p, "identifier_value", None) or "",
                   bd.isoformat() if isinstance(bd, date) else (str(bd) if bd else ""),
                   getattr(p, "sex", None) or "")


@dataclass(frozen=True)
class MedicationInfo:
    """A medicine the patient takes (active) or was just ordered (proposed), resolved to a drug name."""

    drug: str  # ingredient name as in mappings/drugs.tsv; "" when it could not be resolved
    status: str = "active"
    text: str = ""  # as written in the order, for unresolved ones


@lru_cache(maxsize=1)
def report_text() -> dict[str, Any]:
    """The clinician-facing labels and explanations (templates/report_text.json)."""
    path = resources.files("ehrgen.report").joinpath("templates/report_text.json")
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
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ehrgen.report", "templates"),
        autoescape=True,  # every {{ }} is escaped; the templates never use |safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    # the patient id goes into a CSS string for the printed page footer: only the safe alphabet
    env.filters["css_ident"] = lambda v: v if _SAFE_ID.match(str(v)) else ""
    env.globals["frag"] = _call_macro  # the straightforward frag(): the macro, every time
    return env


def _call_macro(macro: Any, *args: Any) -> Any:
    return macro(*args)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links become hrefs: escaping alone would not stop a `javascript:` URL."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return url.strip()
    return None


def _alert(level: str) -> str:
    return level if level in ALERT_ORDER else "info"


def plain_summary(summary: str) -> str:
    """The rule summary without its trailing raw population tag (shown in words separately)."""
    return _POPULATION_SUFFIX.sub("", summary or "")


def _rec_view(rec: Recommendation, text: dict[str, Any]) -> dict[str, Any]:
    alert = _alert(rec.alert)
    url = safe_url(getattr(rec, "recommendation_url", None) or rec.guideline_url)
    return {
        "drug": rec.drug,
        "source": rec.source,
        "genes": list(rec.genes),
        "phenotypes": dict(rec.phenotypes),
        "phenotype_text": "; ".join(f"{g}: {p}" for g, p in rec.phenotypes.items()),
        "action": rec.action,
        "action_label": text["action_labels"].get(rec.action, rec.action),
        "strength": rec.strength,
        "strength_label": strength_label(rec.strength),
        "alert": alert,
        "alert_label": text["alert_labels"][alert],
        "summary": plain_summary(rec.summary),
        "dose_percent": rec.dose_percent,
        "alternatives": list(rec.alternatives),
        # what the FHIR Task and the ORU say (offered options with their condition, options withheld for this
        # patient, or that the guideline names none), with a withheld option pointing at its own row
        "alternatives_text": alternatives_text(rec, compact=True),
        "actionable": bool(rec.actionable),
        "reason": rec.reason,
        "guideline_id": rec.guideline_id,
        "guideline_url": safe_url(rec.guideline_url),
        "url": url,
        "rule_id": rec.rule_id,
        "recommendation_id": rec.rule_id.split("/", 1)[0] if rec.rule_id else "",
        "population": rec.population or "general",
        "population_label": population_label(rec.population),
        "sample": rec.sample,
        "rules_version": rec.rules_version,
    }


def _rec_key(view: dict[str, Any]) -> tuple:
    return (view["drug"].lower(), SOURCE_ORDER.get(view["source"], 9), view["source"], view["population"])


class _Memo(dict):
    """A dict bounded by clearing it when full: cheaper per hit than an LRU, and a cohort's distinct content
    refills it within a few people, so 200,000 people stream in bounded memory."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


# Fast path (issue 14): a cohort shares most recommendation content, only the sample differs. One view per distinct
# record content (every field but patient and sample, as orjson bytes: exact, types included), stamped per patient.
_REC_VIEWS = _Memo(8192)
_BLOCKS = _Memo(4096)  # (drug, alert, record keys) -> (block without basis, row source indices, raw basis)
_GENE_VIEWS = _Memo(4096)  # orjson bytes of the GeneCall (every field, positions included) -> view
_GUIDELINES = _Memo(256)  # (source, guideline id, url, drug) of every view -> the guideline rows
_REC_VIEWS_TEXT: list[Any] = [None]  # the report_text() the cached views were made with


def _rec_content_key(rec: Recommendation) -> bytes | None:
    """Everything a record holds except whom it is about; None when it cannot be keyed (then no cache)."""
    try:
        d = rec.__dict__
        full = _orjson.dumps(d)
        # dataclass field order puts patient and sample first: cut them off the bytes rather than copy the dict
        head = b'{"patient":' + _orjson.dumps(d["patient"]) + b',"sample":' + _orjson.dumps(d["sample"]) + b","
        if full.startswith(head):
            return full[len(head):]
        d = dict(d)
        d.pop("patient", None)
        d.pop("sample", None)
        return _orjson.dumps(d)
    except (AttributeError, KeyError, TypeError):  # no __dict__, no patient/sample, or a value orjson cannot write
        return None


class _Views:
    """Recommendation views for one report: straightforward (`_rec_view` each time) or, on the fast path, stamped
    from the per-content cache. Every view handed out is a fresh dict with fresh lists: callers may change it."""

    def __init__(self, text: dict[str, Any], fast: bool) -> None:
        self.text = text
        self.fast = fast and _orjson is not None
        self._keys: dict[int, tuple[Recommendation, bytes | None]] = {}
        if self.fast and _REC_VIEWS_TEXT[0] is not text:  # other wording: the cached views are stale
            _REC_VIEWS.clear()
            _BLOCKS.clear()
            _GENE_VIEWS.clear()
            _REC_VIEWS_TEXT[0] = text

    def _key(self, rec: Recommendation) -> bytes | None:
        hit = self._keys.get(id(rec))  # the same record is viewed up to three times per report
        if hit is not None and hit[0] is rec:
            return hit[1]
        key = _rec_content_key(rec)
        self._keys[id(rec)] = (rec, key)
        return key

    def block(self, drug: str, recs: list[Recommendation], alert: str,
              calls: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        """_block(...), on the fast path stamped from the block made for the same records' content: each row gets
        the sample of the record it comes from, the basis is worked out from this report's gene results."""
        if not self.fast:
            return _block(drug, recs, alert, self.text, calls, self)
        keys = tuple(self._key(r) for r in recs)
        if None in keys:
            return _block(drug, recs, alert, self.text, calls, self)
        key = (drug, alert, keys)
        hit = _BLOCKS.get(key)
        if hit is None:
            sources: list[int] = []
            b = _block(drug, recs, alert, self.text, {}, self, sources)
            raw: dict[str, str] = {}
            for r in recs:  # as _block: each gene's first phenotype among the records
                for g, p in r.phenotypes.items():
                    raw.setdefault(g, p)
            hit = _BLOCKS.put(key, (b, sources, [(g, raw[g]) for g in b["genes"] if g in raw]))
        tpl, sources, basis = hit
        rows = []
        for row, i in zip(tpl["rows"], sources):
            v = row.copy()
            v["sample"] = recs[i].sample
            v["genes"] = list(row["genes"])
            v["phenotypes"] = dict(row["phenotypes"])
            v["alternatives"] = list(row["alternatives"])
            v["populations"] = list(row["populations"])
            v["refs"] = [x.copy() for x in row["refs"]]
            rows.append(v)
        out = tpl.copy()
        out["genes"] = list(tpl["genes"])
        out["basis"] = [{"gene": g, "value": _basis_text(g, value, calls or {})} for g, value in basis]
        out["sources"] = list(tpl["sources"])
        out["rows"] = rows
        return out

    def gene(self, call: GeneCall, sample: str) -> dict[str, Any]:
        """_gene_view(...), on the fast path stamped from the view of an equal call (people share most)."""
        if not self.fast or type(call) is not GeneCall:
            return _gene_view(call, sample, self.text, self.fast)
        try:
            key = _orjson.dumps(call)
        except TypeError:
            return _gene_view(call, sample, self.text, True)
        tpl = _GENE_VIEWS.get(key)
        if tpl is None:
            tpl = _GENE_VIEWS.put(key, _gene_view(call, sample, self.text, True))
        v = tpl.copy()
        v["sample"] = sample
        v["candidates"] = [c.copy() for c in tpl["candidates"]]
        v["warnings"] = list(tpl["warnings"])
        if tpl["qc"] is not None:
            v["qc"] = {**tpl["qc"], "missing_by_reason": dict(tpl["qc"]["missing_by_reason"])}
        v["missing_detail"] = [{**d, "positions": list(d["positions"])} for d in tpl["missing_detail"]]
        return v

    def guidelines(self, drugs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.fast:
            return _guidelines(drugs)
        key = tuple((r["source"], r["guideline_id"], r["guideline_url"], r["drug"]) for r in drugs)
        rows = _GUIDELINES.get(key)
        if rows is None:
            rows = _GUIDELINES.put(key, _guidelines(drugs))
        return [{**g, "drugs": list(g["drugs"])} for g in rows]

    def view(self, rec: Recommendation) -> dict[str, Any]:
        return self.view_and_order(rec)[0]

    def view_and_order(self, rec: Recommendation) -> tuple[dict[str, Any], tuple]:
        if not self.fast:
            v = _rec_view(rec, self.text)
            return v, _rec_key(v)
        key = self._key(rec)
        if key is None:
            v = _rec_view(rec, self.text)
            return v, _rec_key(v)
        hit = _REC_VIEWS.get(key)
        if hit is None:
            tpl = _rec_view(rec, self.text)
            tpl["sample"] = None  # per patient: stamped below (the placeholder keeps the key order)
            hit = _REC_VIEWS.put(key, (tpl, _rec_key(tpl)))
        tpl, order = hit
        v = tpl.copy()
        v["sample"] = rec.sample
        v["genes"] = list(tpl["genes"])
        v["phenotypes"] = dict(tpl["phenotypes"])
        v["alternatives"] = list(tpl["alternatives"])
        return v, order


def _basis_text(gene: str, value: str, calls: dict[str, dict[str, Any]]) -> str:
    """'CYP2D6 Ultrarapid Metabolizer (activity score 3.0)' from the gene result; the rule's value otherwise."""
    g = calls.get(gene)
    if g and g["phenotype"] and g["phenotype"] != value:
        score = f" (activity score {g['activity_score']})" if g["activity_score"] else ""
        return f"{g['phenotype']}{score}"
    return value


def _split_undetermined(blocks: list[dict[str, Any]], by_gene: dict[str, dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Drugs whose every recommendation is 'indeterminate' are listed together per undetermined gene result
    (one line each, not a block per drug repeating why): what would resolve it is said once under "What was not
    tested", and every row is in full in Appendix A."""
    keep, groups = [], {}
    for b in blocks:
        rows = [r for r in b["rows"] if r.get("actionable")]
        if not rows or any(r["action"] != "indeterminate" for r in rows):
            keep.append(b)
            continue
        genes = [x["gene"] for x in b["basis"]]
        open_ = [g for g in genes if (by_gene.get(g) or {}).get("indeterminate")
                 or not (by_gene.get(g) or {}).get("phenotype")]
        key = tuple(sorted(open_ or genes))
        grp = groups.setdefault(key, {"genes": [{"gene": g, "phenotype": (by_gene.get(g) or {}).get("phenotype")
                                                 or "not determined"} for g in key],
                                      "drugs": [], "refs": []})
        grp["drugs"].append(b["drug"])
        for r in b["rows"]:
            grp["refs"].extend(x for x in r["refs"] if x not in grp["refs"])
    return keep, list(groups.values())


def _block(drug: str, recs: list[Recommendation], alert: str, text: dict[str, Any],
           calls: dict[str, dict[str, Any]] | None = None, views: _Views | None = None,
           row_sources: list[int] | None = None) -> dict[str, Any]:
    """One drug: its recommendations (CPIC then DPWG), rows with the same advice merged across populations.
    `row_sources`, when given, receives the index in `recs` of the record each row was made from."""
    views = views or _Views(text, False)
    rows: list[dict[str, Any]] = []
    for i in sorted(range(len(recs)), key=lambda i: rec_order(recs[i])):  # = sorted(recs, key=rec_order)
        r = recs[i]
        v = views.view(r)
        key = (v["source"], v["action"], v["summary"], v["strength_label"], v["dose_percent"], v["reason"],
               v["alternatives_text"])
        same = next((x for x in rows if x["_key"] == key), None)
        if same is not None:
            if v["population_label"] and v["population_label"] not in same["populations"]:
                same["populations"].append(v["population_label"])
            same["refs"].append({"id": v["recommendation_id"] or v["rule_id"], "url": v["url"]})
            continue
        v["_key"] = key
        v["populations"] = [v["population_label"]] if v["population_label"] else []
        v["refs"] = [{"id": v["recommendation_id"] or v["rule_id"], "url": v["url"]}]
        rows.append(v)
        if row_sources is not None:
            row_sources.append(i)
    for v in rows:
        v.pop("_key")
    genes = list(dict.fromkeys(g for r in recs for g in r.genes))
    basis: dict[str, str] = {}
    for r in recs:
        for g, p in r.phenotypes.items():
            basis.setdefault(g, p)
    alert = _alert(alert)
    return {"drug": drug, "alert": alert, "alert_label": text["alert_labels"][alert],
            "actionable": any(r.actionable for r in recs), "genes": genes,
            "basis": [{"gene": g, "value": _basis_text(g, basis[g], calls or {})} for g in genes if g in basis],
            "sources": list(dict.fromkeys(r.source for r in recs)), "rows": rows}


def _gene_view(call: GeneCall, sample: str, text: dict[str, Any], fast: bool = False) -> dict[str, Any]:
    candidates = [
        {"diplotype": d.name, "phenotype": d.phenotype, "activity_score": d.activity_score}
        for d in call.diplotypes
    ]
    outside_tested = call.status == "outside_call"  # source "outside" with no data means NOT tested
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
        "outside_result": outside_tested,
        "needs_outside_test": call.source == "outside" and call.status == "no_data",
        "phased": call.phased,
        "missing_positions": len(call.missing_positions),
        "warnings": [w for w in call.warnings if not w.endswith("(needs an outside call)")],
        "qc": _qc_fast(call) if fast else _qc(call),
        "missing_detail": _missing_detail(call, text),
    }


def _qc(call: GeneCall) -> dict[str, Any] | None:
    """The gene's QC summary (ehrgen.pgx.qc, as in calls.json); None for a result without positions (outside
    calls, hand-built records), where only `missing_positions` can say anything."""
    qc = call.qc
    return qc if qc.get("positions") else None


_QC_FIELDS = tuple(f.name for f in dataclasses.fields(qc_summary.GeneQc))


def _qc_fast(call: GeneCall) -> dict[str, Any] | None:
    """`_qc` without dataclasses.asdict's deep copy (a third of a gene view): the same dict, field for field."""
    if type(call) is not GeneCall:  # a subclass may compute its qc otherwise
        return _qc(call)
    q = qc_summary.gene_qc(call.positions)
    if type(q) is not qc_summary.GeneQc or not q.positions:
        return _qc(call)
    d = {name: getattr(q, name) for name in _QC_FIELDS}
    d["missing_by_reason"] = dict(sorted(q.missing_by_reason.items()))
    return d


def reason_label(reason: str, text: dict[str, Any]) -> str:
    """A missing-position reason code from calls.json in words ("filter:LowQual" -> "filtered (LowQual)")."""
    labels = text["missing_reasons"]
    if reason.startswith("filter:"):
        return labels["filter"].format(filter=reason.split(":", 1)[1])
    return labels.get(reason, reason)


def _missing_detail(call: GeneCall, text: dict[str, Any]) -> list[dict[str, Any]]:
    """The missing positions grouped by reason, for the appendix (position and rsID each)."""
    groups: dict[str, list[str]] = {}
    for p in call.positions:
        if not p.alleles:
            label = f"{p.position} ({p.rsid})" if p.rsid else str(p.position)
            groups.setdefault(p.missing_reason or "no-call", []).append(label)
    return [{"reason": r, "label": reason_label(r, text), "count": len(v), "positions": v}
            for r, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def _coverage(genes: list[dict[str, Any]], text: dict[str, Any], multi: bool = False) -> dict[str, Any]:
    """Genes and positions not covered: per gene with missing positions, how many of N were read and why
    (header line), with the per-position detail for the appendix. From the calls' QC summary."""
    gaps = []
    for g in genes:
        if g["needs_outside_test"]:
            continue  # not read from the VCF at all: listed as "not assessed without an outside test"
        qc = g["qc"]
        who = f" ({g['sample']})" if multi else ""
        if qc and qc["missing"]:
            why = ", ".join(f"{d['label']} {d['count']}" if len(g["missing_detail"]) > 1 else d["label"]
                            for d in g["missing_detail"])
            detail = g["missing_detail"]
            text_ = f"{qc['read']} of {qc['positions']} positions read; missing: {why}"
            if not qc["read"]:  # nothing read: the appendix need not list every position of the gene
                text_ = f"no data ({text_})"
                detail = [{**d, "positions": [text["all_positions"]]} for d in detail]
            gaps.append({"gene": g["gene"] + who, "sample": g["sample"], "read": qc["read"],
                         "positions": qc["positions"], "missing": qc["missing"], "why": why,
                         "low_quality_ref_blocks": qc["low_quality_ref_blocks"], "detail": detail, "text": text_})
        elif g["status"] == "no_data":
            gaps.append({"gene": g["gene"] + who, "sample": g["sample"], "detail": [], "text": "no data"})
        elif g["missing_positions"]:
            gaps.append({"gene": g["gene"] + who, "sample": g["sample"], "detail": [],
                         "text": f"{g['missing_positions']} positions missing"})
    # the header line: one entry per partly read gene, the genes with nothing read named together
    empty = [x for x in gaps if x["text"].startswith("no data")]
    header = [f"{x['gene']}: {x['text']}" for x in gaps if x not in empty]
    if empty:
        header.append(f"no data for {', '.join(x['gene'] for x in empty)}")
    qcs = [g["qc"] for g in genes if g["qc"]]
    totals = {"positions": sum(q["positions"] for q in qcs), "read": sum(q["read"] for q in qcs),
              "missing": sum(q["missing"] for q in qcs),
              "low_quality_ref_blocks": sum(q["low_quality_ref_blocks"] for q in qcs)}
    return {"gaps": gaps, "header": header, "has_detail": any(x["detail"] for x in gaps), **totals}


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

    if not any(g["gene"] == CYP2D6 and g["outside_result"] for g in genes):
        add("cyp2d6_no_outside", CYP2D6, None)
    for g in genes:
        if g["gene"] == CYP2D6 and not g["outside_result"]:
            continue  # already explained by the CYP2D6 item above
        if g["needs_outside_test"]:
            add("outside_only", g["gene"], g["sample"])
        elif g["status"] in ("no_data", "not_called"):
            add(g["status"], g["gene"], g["sample"])
        elif g["missing_positions"]:
            add("missing_positions", g["gene"], g["sample"], count=g["missing_positions"])
            if g["missing_detail"]:  # why, in words (the appendix lists the positions)
                items[-1]["detail"] += " " + nt["missing_positions"]["why"].format(
                    why=", ".join(f"{d['label']} {d['count']}" for d in g["missing_detail"]))
        if g["indeterminate"]:
            names = " or ".join(
                f"{c['diplotype']} ({c['phenotype'] or 'no phenotype'})" for c in g["candidates"]
            )
            add("indeterminate", g["gene"], g["sample"], candidates=names)
    called = {g["gene"] for g in genes}
    for gene in sorted({x for r in recs for x in r["genes"]} - called - {CYP2D6}):
        add("not_in_test", gene, None)
    seen: set[tuple[str, str]] = set()
    for r in recs:
        if r["action"] == "indeterminate" and (r["drug"], r["source"]) not in seen:
            seen.add((r["drug"], r["source"]))
            add("indeterminate_recommendation", ", ".join(r["genes"]) or None, r["sample"] or None,
                drug=r["drug"], source=r["source"])
            if r["reason"]:
                items[-1]["resolve"] = r["reason"]
    return items


def _source_view(name: str, value: Any) -> dict[str, Any]:
    """ruleset_meta["sources"] values may be a version string, a URL, or {"version", "url"}."""
    if isinstance(value, dict):
        return {"source": name, "version": str(value.get("version", "")),
                "url": safe_url(value.get("url"))}
    return {"source": name, "version": str(value), "url": safe_url(str(value))}


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


def _medication_blocks(meds: list[MedicationInfo], recs: list[Recommendation], findings: list[DrugFinding],
                       text: dict[str, Any], calls: dict[str, dict[str, Any]], views: _Views | None = None
                       ) -> list[dict[str, Any]]:
    """Each medicine the patient takes or was ordered, with what the result means for it (also when nothing)."""
    views = views or _Views(text, False)
    by_finding = {f.drug: f for f in findings}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for m in meds:
        if m.drug and m.drug in seen:
            continue
        seen.add(m.drug)
        status_label = text["medication_status"].get(m.status, m.status)
        if not m.drug:
            out.append({"drug": m.text or "unnamed medicine", "status": m.status, "status_label": status_label,
                        "kind": "unknown", "message": text["medication_messages"]["unknown"], "block": None})
            continue
        f = by_finding.get(m.drug)
        if f is not None:
            out.append({"drug": m.drug, "status": m.status, "status_label": status_label, "kind": "finding",
                        "message": "", "block": views.block(f.drug, list(f.recs), f.alert, calls)})
            continue
        mine = [r for r in recs if r.drug == m.drug]
        if not mine:
            out.append({"drug": m.drug, "status": m.status, "status_label": status_label, "kind": "no_guideline",
                        "message": text["medication_messages"]["no_guideline"], "block": None})
            continue
        block = views.block(m.drug, mine, min((_alert(r.alert) for r in mine), key=ALERT_ORDER.__getitem__), calls)
        kind = "not_tested" if any(r.action == "test_recommended" for r in mine) else "no_change"
        out.append({"drug": m.drug, "status": m.status, "status_label": status_label, "kind": kind,
                    "message": text["medication_messages"][kind], "block": block})
    return out


def _glossary(text: dict[str, Any], used: set[str]) -> list[dict[str, str]]:
    return [{"term": t["term"], "text": t["text"]} for t in text["glossary"]
            if not t.get("when") or t["when"] in used]


def build_report_model(
    patient: str,
    calls: Iterable[SampleCalls],
    recs: Iterable[Recommendation],
    ruleset_meta: dict[str, Any],
    report_date: str | None = None,
    patient_info: PatientInfo | None = None,
    medications: Iterable[MedicationInfo] = (),
    status: str = "final",
) -> dict[str, Any]:
    """The report as a JSON-ready dict; `report_date` (ISO 8601) defaults to now, UTC."""
    text = report_text()
    calls = list(calls)
    recs = list(recs)
    info = patient_info or PatientInfo(patient)
    if status not in STATUSES:
        raise ValueError(f"report status must be one of {STATUSES}")
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
        }
        for c in calls
    ]
    fast = fastpath.enabled()
    views = _Views(text, fast)
    genes = sorted(
        (views.gene(g, c.sample) for c in calls for g in c.genes.values()),
        key=lambda g: (g["gene"], g["sample"]),
    )
    if views.fast:  # the same order as sorting the views by _rec_key (stable sort, equal keys keep input order)
        pairs = [views.view_and_order(r) for r in recs]
        drugs = [pairs[i][0] for i in sorted(range(len(pairs)), key=lambda i: pairs[i][1])]
    else:
        drugs = sorted((_rec_view(r, text) for r in recs), key=_rec_key)
    findings = drug_findings(recs)
    counts = count_findings(recs)
    by_gene = {g["gene"]: g for g in genes}  # several samples: the first one's result describes the basis
    meds = _medication_blocks(list(medications), recs, findings, text, by_gene, views)
    med_drugs = {m["drug"] for m in meds}
    blocks = [views.block(f.drug, list(f.recs), f.alert, by_gene) for f in findings if f.drug not in med_drugs]
    blocks, undetermined = _split_undetermined(blocks, by_gene)
    # appendix: every actionable recommendation in full, then the drugs checked with no change, by action
    no_change: dict[str, list[str]] = {}
    finding_drugs = {f.drug for f in findings}
    for r in drugs:
        if r["drug"] in finding_drugs:
            continue
        lst = no_change.setdefault(r["action_label"], [])
        if r["drug"] not in lst:
            lst.append(r["drug"])
    sources = [_source_view(name, val) for name, val in (ruleset_meta.get("sources") or {}).items()]
    vcf_genes = sorted({g["gene"] for g in genes if g["source"] == "vcf"})
    outside = sorted({g["gene"] for g in genes if g["outside_result"]})
    not_tested = _not_tested(genes, drugs, text)
    coverage = _coverage(genes, text, multi=len(samples) > 1)
    used = {"activity_score"} if any(g["activity_score"] for g in genes) else set()
    used |= {g["status"] for g in genes} | {r["action"] for r in drugs if r["actionable"]}
    used |= {"not_graded"} if any(r["strength_label"] == "not graded" for r in drugs if r["actionable"]) else set()
    used |= {"not_covered"} if coverage["gaps"] else set()
    return {
        "schema": REPORT_SCHEMA,
        "title": text["title"],
        "status": status,
        "status_label": text["report_status"][status],
        "patient": patient,
        "patient_info": {"id": info.id, "name": info.name, "identifier_system": info.identifier_system,
                         "identifier_value": info.identifier_value, "birth_date": info.birth_date,
                         "sex": info.sex},
        "report_date": report_date,
        "disclaimer": text["disclaimer"],
        "versions": {
            "ehrgen": __version__,
            "rules": str(ruleset_meta.get("version", "")),
            "rules_generated": str(ruleset_meta.get("generated", "")),
            "mappings": sorted({c.mappings_version for c in calls if c.mappings_version}),
            "callers": sorted({c.ehrgen_version for c in calls if c.ehrgen_version}),
        },
        "method": {"vcf_genes": vcf_genes, "outside_genes": outside,
                   "outside_source": text["outside_source"] if outside else ""},
        "coverage": coverage,
        "sources": sources,
        "guidelines": views.guidelines(drugs),
        "samples": samples,
        "counts": {**counts.to_dict(), "drug_rows": len(drugs), "drugs": counts.drugs_checked,
                   "genes": len({g["gene"] for g in genes})},
        "headline": counts.headline(),
        "medications": meds,
        "findings": blocks,
        "undetermined": undetermined,
        "all_findings": [views.block(f.drug, list(f.recs), f.alert, by_gene) for f in findings],
        "genes": genes,
        "drugs": drugs,
        "no_change": [{"label": k, "drugs": v} for k, v in no_change.items()],
        "not_tested": not_tested,
        "glossary": _glossary(text, used),
        "alert_markers": text["alert_markers"],
    }


def _no_sample(d: dict[str, Any]) -> dict[str, Any]:
    d = d.copy()  # a C-level copy and one delete: a third of a filtering comprehension
    d.pop("sample", None)
    return d


def _block_key(b: dict[str, Any]) -> dict[str, Any]:
    # a row carries its sample for the JSON model; the macros never show it (one report, or the gene table's column)
    return {**b, "rows": [_no_sample(r) for r in b["rows"]]}


# what each frag() macro's output depends on, beyond the context key (m.alert_markers, multi): its arguments,
# minus the per-sample fields it does not show (a macro that starts showing one fails the both-paths tests)
_FRAGMENT_KEYS: dict[str, Any] = {
    "drug_rows": lambda multi, b, head_note="": (_block_key(b), head_note),
    "appendix_rows": lambda multi, b: _block_key(b),
    "gene_cells": lambda multi, g: g if multi else _no_sample(g),
}
_FRAGMENTS = _Memo(4096)
_FRAGMENTS_TEMPLATE: list[Any] = [None]  # the template the cached fragments came from


class _Fragments:
    """frag() on the fast path: a macro's output (Markup, already escaped) reused for equal arguments across
    reports. Keyed on the macro name, the context the macros read and the orjson bytes of the arguments."""

    def __init__(self, template: jinja2.Template, model: dict[str, Any]) -> None:
        if _FRAGMENTS_TEMPLATE[0] is not template:  # a reloaded template: its fragments may differ
            _FRAGMENTS.clear()
            _FRAGMENTS_TEMPLATE[0] = template
        self.multi = len(model["samples"]) > 1
        self.context = _orjson.dumps([model.get("alert_markers"), self.multi])

    def __call__(self, macro: Any, *args: Any) -> Any:
        name = macro.name
        proj = _FRAGMENT_KEYS.get(name)
        try:
            arg_key = _orjson.dumps(proj(self.multi, *args) if proj else args)
        except TypeError:  # not JSON data: no cache
            return macro(*args)
        key = (name, self.context, arg_key)
        out = _FRAGMENTS.get(key)
        if out is None:
            out = _FRAGMENTS.put(key, macro(*args))
        return out


def render_html(model: dict[str, Any]) -> str:
    """One self-contained HTML document (inline CSS, no scripts, fonts or remote resources)."""
    template = environment().get_template("report.html.j2")
    if fastpath.enabled() and _orjson is not None:
        return template.render(m=model, frag=_Fragments(template, model)).lstrip()
    # lstrip: the macro definitions above the doctype leave blank lines
    return template.render(m=model).lstrip()


def render_json(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def check_patient_id(patient: str) -> None:
    if not _SAFE_ID.match(patient):
        # the id itself is not echoed: error messages may end up in logs
        raise InputError("report", "patient id must be 1-128 letters, digits, '.', '_' or '-' "
                         "(it names the report files)")


def render_patient_report(
    patient: str,
    calls: list[SampleCalls],
    recs: list[Recommendation],
    ruleset_meta: dict[str, Any],
    out_dir: Path,
    patient_info: PatientInfo | None = None,
    medications: Iterable[MedicationInfo] = (),
    status: str = "final",
) -> tuple[Path, Path]:
    """Write `<patient>.report.html` and `<patient>.report.json` into out_dir; return both paths."""
    check_patient_id(patient)
    model = build_report_model(patient, calls, recs, ruleset_meta, patient_info=patient_info,
                               medications=medications, status=status)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{patient}.report.html"
    json_path = out_dir / f"{patient}.report.json"
    html_path.write_text(render_html(model), encoding="utf-8")
    json_path.write_text(render_json(model), encoding="utf-8")
    return html_path, json_path


def medications_from_clinical(meds: Iterable[Any]) -> list[MedicationInfo]:
    """Active and proposed medications (ehrgen.ingest.clinical Medication records) resolved to drug names;
    one that resolves to nothing is kept with its text so the report can say it was not checked."""
    from ehrgen.rules.batch import resolve_patient_medications
    from ehrgen.rules.drugs import default_table

    table = default_table()
    out: list[MedicationInfo] = []
    for med in meds:
        status = getattr(med, "status", "active")
        if status == "stopped":
            continue
        names, _unknown = resolve_patient_medications([med], table)
        if names:
            out += [MedicationInfo(n, status) for n in names]
        else:
            out.append(MedicationInfo("", status, (getattr(med, "drug_text", None) or "").strip()))
    # proposed orders first (the decision being made now), then what the patient already takes
    return sorted(out, key=lambda m: (m.status != "proposed", m.drug or "~"))
