"""Cohort summary for a biobank or hospital: per gene the diplotype and phenotype frequencies, the share of
people with at least one actionable result, and (when medication data are present) the share currently taking
a drug for which their result is actionable.

Written as `cohort-summary.html` (inline CSS and SVG charts: no scripts, fonts or remote resources),
`cohort-summary.json` (the same numbers) and `cohort-summary.md` (the Prefect artifact) by `ehrgen run` for
batches of more than one sample and by `ehrgen cohort DIR`. Aggregate counts only: no sample or patient id,
no genotype of a person. "Actionable" is what the per-sample outcome counts: a recommendation flagged
actionable with a critical or warning alert (not the info-level "gene not tested" rows). "Taking" means an
active medication (status `active`) resolved to the drug of such a recommendation.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ehrgen import __version__
from ehrgen.rules.findings import drug_findings

SCHEMA = "ehrgen.cohort-summary/1"
FILES = ("cohort-summary.html", "cohort-summary.json", "cohort-summary.md")
TOP_DIPLOTYPES = 8
TOP_DRUGS = 25

# phenotype -> bar colour (colour-blind-safe families; text labels carry the meaning, colour only helps)
_COLOURS = [
    (("normal", "typical", "negative", "rs12979860 reference"), "#4e9a6b"),
    (("intermediate", "decreased", "possible decreased"), "#e0a030"),
    (("poor", "deficient", "positive", "malignant", "no function", "increased risk"), "#c8423b"),
    (("rapid", "ultrarapid", "increased"), "#3f78b5"),
    (("indeterminate", "uncertain", "variable"), "#8d7fb8"),
]
_GREY_NO_RESULT = "#c9c9c9"
_OTHER = "#9aa6ad"


def _colour(label: str) -> str:
    low = label.lower()
    if low in ("no data", "not called", "not tested", "no phenotype assigned"):
        return _GREY_NO_RESULT
    for words, colour in _COLOURS:
        if any(w in low for w in words):
            return colour
    return _OTHER


def _phenotype_label(call) -> str:
    if call.status == "no_data":
        return "Not tested" if call.source == "outside" else "No data"
    if call.status == "not_called":
        return "Not called"
    return call.phenotype or "No phenotype assigned"


def _diplotype_label(call) -> str:
    if call.status in ("no_data", "not_called"):
        return _phenotype_label(call)
    return call.diplotype_text or (call.phenotype or "-")


def active_drugs_by_patient(clinical) -> dict[str, set[str]] | None:
    """patient -> drug names of active medications (resolved through the drug table), or None without
    medication data. Grouped in one pass (a biobank has hundreds of thousands of people)."""
    if clinical is None or not getattr(clinical, "medications", None):
        return None
    from ehrgen.rules.drugs import resolve

    out: dict[str, set[str]] = defaultdict(set)
    for med in clinical.medications:
        if med.status != "active":
            continue
        drug = None
        for system, code in med.codes:
            drug = resolve(code, system) or resolve(code)
            if drug:
                break
        if drug is None and med.drug_text:
            drug = resolve(med.drug_text.strip())
        name = drug.name if drug else (med.drug_text or "").strip().lower()
        if name:
            out[med.patient_id].add(name)
    return dict(out)


def _pct(n: int, d: int) -> float:
    return round(100.0 * n / d, 1) if d else 0.0


def build_cohort_summary(calls: Iterable, recs: Iterable, patient_of: dict[str, str] | None = None,
                         medications: dict[str, set[str]] | None = None, title: str = "PGx cohort summary",
                         generated: str | None = None) -> dict[str, Any]:
    """The summary as a JSON-ready dict. `calls`: SampleCalls (one person each); `recs`: Recommendation;
    `patient_of`: sample -> patient (default: the recommendations' own patient field, else the sample)."""
    patient_of = dict(patient_of or {})
    phen: dict[str, Counter] = defaultdict(Counter)
    dip: dict[str, Counter] = defaultdict(Counter)
    people: set[str] = set()
    for c in calls:
        people.add(patient_of.get(c.sample, c.sample))
        for gene, gc in c.genes.items():
            phen[gene][_phenotype_label(gc)] += 1
            dip[gene][_diplotype_label(gc)] += 1
    n = len(people)
    actionable_people: set[str] = set()
    drug_people: dict[str, set[str]] = defaultdict(set)
    by_person: dict[str, list] = defaultdict(list)
    for r in recs:
        by_person[r.patient or patient_of.get(r.sample, r.sample)].append(r)
    for who, person_recs in by_person.items():
        # the same definition of "actionable finding" as the report, the terminal and the FHIR conclusion
        for f in drug_findings(person_recs):
            actionable_people.add(who)
            drug_people[f.drug].add(who)
    genes = []
    for gene in sorted(phen):
        total = sum(phen[gene].values())
        ph = [{"label": k, "count": v, "percent": _pct(v, total), "colour": _colour(k)}
              for k, v in sorted(phen[gene].items(), key=lambda kv: (-kv[1], kv[0]))]
        ranked = sorted(dip[gene].items(), key=lambda kv: (-kv[1], kv[0]))
        top = [{"label": k, "count": v, "percent": _pct(v, total)} for k, v in ranked[:TOP_DIPLOTYPES]]
        rest = sum(v for _, v in ranked[TOP_DIPLOTYPES:])
        if rest:
            top.append({"label": f"{len(ranked) - TOP_DIPLOTYPES} other diplotype(s)", "count": rest,
                        "percent": _pct(rest, total)})
        x = 0.0
        for seg in ph:  # stacked bar geometry (percent of the bar), drawn by the template
            seg["x"] = round(x, 3)
            seg["width"] = round(100.0 * seg["count"] / total, 3) if total else 0
            x += seg["width"]
        result = total - sum(phen[gene][k] for k in ("No data", "Not called", "Not tested"))
        genes.append({"gene": gene, "people": total, "with_result": result, "with_result_percent": _pct(result, total),
                      "distinct_diplotypes": len(ranked), "phenotypes": ph, "diplotypes": top})
    drugs = [{"drug": d, "people": len(p), "percent": _pct(len(p), n)}
             for d, p in sorted(drug_people.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    meds_block = None
    if medications is not None:
        on_any = [p for p in people if medications.get(p)]
        affected = [p for p in on_any if medications[p] & {d for d, ps in drug_people.items() if p in ps}]
        by_drug = Counter(d for p in affected for d in medications[p] if p in drug_people.get(d, ()))
        meds_block = {
            "people_with_active_medication": len(on_any),
            "taking_affected_drug": len(affected),
            "taking_affected_drug_percent": _pct(len(affected), n),
            "taking_affected_drug_percent_of_medicated": _pct(len(affected), len(on_any)),
            "by_drug": [{"drug": d, "people": v} for d, v in sorted(by_drug.items(), key=lambda kv: (-kv[1], kv[0]))],
        }
    return {
        "schema": SCHEMA, "title": title, "ehrgen_version": __version__,
        "generated": generated or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "people": n,
        "actionable": {"people": len(actionable_people), "percent": _pct(len(actionable_people), n)},
        "medications": meds_block,
        "genes": genes,
        "drugs": drugs[:TOP_DRUGS],
        "drugs_not_shown": max(0, len(drugs) - TOP_DRUGS),
    }


def render_markdown(model: dict[str, Any]) -> str:
    """Markdown for a Prefect artifact: headline figures and one table row per gene."""
    lines = [f"# {model['title']}", "",
             f"**{model['people']}** people; **{model['actionable']['percent']}%** "
             f"({model['actionable']['people']}) with at least one actionable result."]
    meds = model.get("medications")
    if meds:
        lines.append(f"**{meds['taking_affected_drug_percent']}%** ({meds['taking_affected_drug']}) currently take a "
                     f"drug for which their result is actionable ({meds['taking_affected_drug_percent_of_medicated']}% "
                     f"of the {meds['people_with_active_medication']} with an active medication).")
    lines += ["", "| gene | with result | most frequent phenotypes | most frequent diplotypes |", "|---|---|---|---|"]
    for g in model["genes"]:
        ph = ", ".join(f"{p['label']} {p['percent']}%" for p in g["phenotypes"][:4])
        dp = ", ".join(f"{d['label']} {d['percent']}%" for d in g["diplotypes"][:3])
        lines.append(f"| {g['gene']} | {g['with_result_percent']}% | {_md(ph)} | {_md(dp)} |")
    if model["drugs"]:
        lines += ["", "| drug | people with an actionable result | share |", "|---|---|---|"]
        lines += [f"| {d['drug']} | {d['people']} | {d['percent']}% |" for d in model["drugs"]]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_html(model: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("ehrgen.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("cohort_summary.html.j2").render(m=model)


def write_cohort_summary(out_dir: Path, calls: Iterable, recs: Iterable, clinical=None,
                         patient_of: dict[str, str] | None = None, title: str = "PGx cohort summary"
                         ) -> dict[str, Any]:
    """Write the three cohort-summary files into out_dir (atomically); return the model."""
    from ehrgen.pgx.output import atomic_write_text

    model = build_cohort_summary(calls, recs, patient_of, active_drugs_by_patient(clinical), title)
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / FILES[0], render_html(model))
    atomic_write_text(out_dir / FILES[1], json.dumps(model, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / FILES[2], render_markdown(model))
    return model
