#!/usr/bin/env python3
"""Generate rules/rules.tsv: one decision-support rule per CPIC/DPWG guideline recommendation and drug.

Source: the pinned guideline annotations (guidelines-2.12.0/*.json, CPIC and DPWG via PharmGKB/ClinPGx),
the CPIC level A/B pairs (for the cpicpgx.org guideline page), rules/curated_rules.jsonl (hand-written
rules for guidelines whose annotation has no lookup table, e.g. CPIC warfarin's dosing algorithm) and
rules/alternatives.tsv (the reviewed alternatives, joined by recommendation id and drug; never mined from prose).

The build fails (exit 1) when a reviewed alternative breaks an invariant (ehrgen.rules.alternatives.violations:
an offered drug is itself avoid / use-alternative / test-first for the same result, or has a dose rule for it but
no condition, or the guideline says it is not an alternative), when a table row matches no recommendation, or when
the recommendation text rules a drug out ("X is not an alternative", "do not select X", "a non-X opioid") and the
table offers it or lacks the not_offered row.

The action class is text-mined from the recommendation html (first action phrase wins, see ACTION_PATTERNS)
and must be reviewed: the script prints counts per class and the hand spot-checks in SPOT_CHECKS, and
exits non-zero when a spot check fails. Summaries are generated from templates in the project's own
words; the guideline text itself is not copied into the table.

Usage: python tools/gen_rules.py [--reference DIR] [--out rules/rules.tsv] [--build N]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import itertools
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ehrgen.paths import reference_dir  # noqa: E402
from ehrgen.rules.alternatives import violations  # noqa: E402
from ehrgen.rules.ruleset import RULE_COLUMNS, Rule, alert_for, normalise_key_value  # noqa: E402
from ehrgen.rules.summary import summarise  # noqa: E402

GUIDELINES_DIR = "guidelines-2.12.0"
DATA_VERSION = "2.12.0"
BUILD = 3  # bump when the generator's logic or curated inputs change (3: reviewed alternatives table)

# (action, regex). For each recommendation the class whose pattern matches EARLIEST in the primary text
# wins, because guidelines lead with the main advice ("Avoid X ... if unavoidable, reduce dose").
ACTION_PATTERNS: list[tuple[str, str]] = [
    ("no_recommendation", r"^no recommendation|does not provide a recommendation|no recommendation is made|"
                          r"not a valid input|insufficient (evidence|data)|^n/a$"),
    ("standard_dosing", r"no (need|reason) to avoid|no action is (required|needed)|no action required|no indication to change|"
                        r"no adjustments? (is |are )?(needed|required|necessary)|label[- ]recommended\b|"
                        r"(use|initiate|start|prescribe)\b(?:(?!%|times|\d|lowest|lower|reduc|half|higher|fold)[^.]){0,60}"
                        r"\b(standard|normal|usual|recommended|desired) ([a-z]+ ){0,2}dos|"
                        r"at standard dose|standard dosing|per standard|no dose adjustment|"
                        r"(can|may) be (used|prescribed)|according to the (product )?label|^if considering [a-z ]+, use at standard"),
    ("avoid", r"\bavoid\b|contra-?indicated|should not be used|do not use|not recommended|"
              r"is not advised|refrain from"),
    ("use_alternative", r"(choose|select|use|prescribe|consider|recommend)( an?| the)? (alternative|different)|"
                        r"alternative (drug|medication|agent|therapy|treatment|p2y12)|"
                        r"alternative[^.]{0,40} (should|is) (be )?(considered|recommended)|"
                        r"consider [a-z ]{0,40}such as|(consider|select)( an?| the)? ([a-z]+ ){0,2}alternative|prefer(ably)? (an? )?(drug|agent) not"),
    ("reduce_dose", r"\breduc|\blower (starting |initial |daily |maintenance )?dose|decrease[d]? (the )?(starting |initial )?dose|"
                    r"\d+ ?% of (the )?(standard|normal|usual|recommended|starting|initial)|\d+-fold (lower|reduc)|"
                    r"reduce[a-z ]{0,30}by \d+-fold|lower than (normal|standard)|half (of )?the|\d+ ?% less than|"
                    r"start(ing)? (with|at) (a )?(very )?(low|reduced)|dose reduction|lowest (recommended |effective )?"
                    r"(starting )?dos|low(er)? doses?\b|no more than|do not (give|exceed) doses?|"
                    r"limit (the )?dose|prescribe ≤ ?\d|do not exceed"),
    ("increase_dose", r"increas\w* (the )?([a-z]+ ){0,3}dose|higher (starting |initial )?dose|\d+-fold higher|"
                      r"\d(\.\d+)? (to \d(\.\d+)? )?times (the )?(standard|normal|recommended|usual|initial)|"
                      r"double the dose|dose increase|higher than (normal|standard)"),
    ("test_recommended", r"determine the residual|phenotyp(e|ing) test|phenotyping|measure (the )?(residual )?"
                         r"(dpd|enzyme) activity|activity must be measured|consider evaluating [a-z ]{0,30}activity|"
                         r"genotype[^.]{0,40}(not possible|insufficient)"),
    ("monitor", r"\bmonitor|be alert|therapeutic drug monitoring|\btdm\b|check (the )?(plasma|serum|level)|"
                r"determine the (plasma|serum|level)|measure (the )?(plasma|serum|level)|watch for|"
                r"initiate with a dose of|cautiously consider"),
]
_COMPILED = [(a, re.compile(p, re.I | re.M)) for a, p in ACTION_PATTERNS]

# Spot checks reviewed by hand: (source, drug, lookup subset, expected action, expected dose_percent or None)
SPOT_CHECKS: list[tuple[str, str, dict[str, str], str, int | None]] = [
    ("CPIC", "clopidogrel", {"CYP2C19": "Poor Metabolizer"}, "avoid", None),
    ("DPWG", "clopidogrel", {"CYP2C19": "Poor Metabolizer"}, "avoid", None),
    ("CPIC", "codeine", {"CYP2D6": "3.0"}, "avoid", None),
    ("CPIC", "codeine", {"CYP2D6": "0.0"}, "avoid", None),
    ("DPWG", "codeine", {"CYP2D6": "3.0"}, "avoid", None),
    ("CPIC", "simvastatin", {"SLCO1B1": "Poor Function"}, "use_alternative", None),
    ("CPIC", "simvastatin", {"SLCO1B1": "Decreased Function"}, "use_alternative", None),
    ("DPWG", "simvastatin", {"SLCO1B1": "Poor Function"}, "use_alternative", None),
    ("CPIC", "capecitabine", {"DPYD": "1.0"}, "reduce_dose", 50),
    ("CPIC", "fluorouracil", {"DPYD": "1.0"}, "reduce_dose", 50),
    ("CPIC", "fluorouracil", {"DPYD": "0.0"}, "avoid", None),
    ("DPWG", "fluorouracil", {"DPYD": "0.0"}, "avoid", None),
    ("DPWG", "capecitabine", {"DPYD": "1.5"}, "reduce_dose", 50),
    ("CPIC", "abacavir", {"HLA-B": "*57:01 positive"}, "avoid", None),
    ("CPIC", "abacavir", {"HLA-B": "*57:01 negative"}, "standard_dosing", None),
    ("DPWG", "abacavir", {"HLA-B": "*57:01 positive"}, "avoid", None),
    ("CPIC", "tacrolimus", {"CYP3A5": "Normal Metabolizer"}, "increase_dose", None),
    ("DPWG", "tacrolimus", {"CYP3A5": "Normal Metabolizer"}, "increase_dose", None),
    ("CPIC", "azathioprine", {"TPMT": "Poor Metabolizer", "NUDT15": "Normal Metabolizer"}, "use_alternative", None),
    ("DPWG", "azathioprine", {"TPMT": "Poor Metabolizer"}, "use_alternative", None),
    ("CPIC", "azathioprine", {"TPMT": "Intermediate Metabolizer", "NUDT15": "Normal Metabolizer"}, "reduce_dose", None),
    ("DPWG", "azathioprine", {"TPMT": "Intermediate Metabolizer"}, "reduce_dose", 50),
    ("DPWG", "tacrolimus", {"CYP3A5": "Normal Metabolizer"}, "increase_dose", 250),
    ("CPIC", "codeine", {"CYP2D6": "1.0"}, "standard_dosing", None),
    ("DPWG", "omeprazole", {"CYP2C19": "Ultrarapid Metabolizer"}, "increase_dose", 300),
    ("DPWG", "brexpiprazole", {"CYP2D6": "0.0"}, "reduce_dose", 50),
    ("CPIC", "phenytoin", {"HLA-B": "*15:02 negative", "CYP2C9": "1.0"}, "reduce_dose", 75),
    ("CPIC", "dexlansoprazole", {"CYP2C19": "Ultrarapid Metabolizer"}, "increase_dose", 200),
    ("CPIC", "celecoxib", {"CYP2C9": "1.0"}, "reduce_dose", None),
    ("DPWG", "sertraline", {"CYP2C19": "Poor Metabolizer"}, "reduce_dose", None),
    ("CPIC", "tamoxifen", {"CYP2D6": "0.75"}, "use_alternative", None),
    ("CPIC", "atorvastatin", {"SLCO1B1": "Poor Function"}, "reduce_dose", None),
    ("CPIC", "venlafaxine", {"CYP2D6": "0.0"}, "use_alternative", None),
    ("CPIC", "atazanavir", {"UGT1A1": "Normal Metabolizer"}, "standard_dosing", None),
    ("CPIC", "dapsone", {"G6PD": "Normal"}, "standard_dosing", None),
    ("CPIC", "atazanavir", {"UGT1A1": "Poor Metabolizer"}, "use_alternative", None),
    ("DPWG", "citalopram", {"CYP2C19": "Poor Metabolizer"}, "reduce_dose", 50),
    ("CPIC", "ivacaftor", {"CFTR": "ivacaftor responsive in CF patients"}, "standard_dosing", None),
    ("CPIC", "citalopram", {"CYP2C19": "Poor Metabolizer"}, "reduce_dose", 50),
    ("DPWG", "warfarin", {"CYP2C9": "dip:*1/*3"}, "reduce_dose", 65),
    ("DPWG", "warfarin", {"VKORC1": "-1639 AA"}, "reduce_dose", 60),
    ("CPIC", "clopidogrel", {"CYP2C19": "Normal Metabolizer"}, "standard_dosing", None),
    ("CPIC", "allopurinol", {"HLA-B": "*58:01 positive"}, "avoid", None),
    ("CPIC", "carbamazepine", {"HLA-B": "*15:02 positive", "HLA-A": "*31:01 negative"}, "avoid", None),
]


def plain_text(fragment: str) -> str:
    """html -> text, keeping block breaks as newlines so '^' anchors work per paragraph."""
    t = re.sub(r"</?(p|li|ul|ol|h\d|br|tr|table|thead|tbody)[^>]*>", "\n", fragment or "", flags=re.I)
    t = re.sub(r"<[^>]+>", " ", t)
    t = html.unescape(t).replace("\xa0", " ")
    t = re.sub(r"[ \t]+", " ", t)
    return "\n".join(ln.strip() for ln in t.splitlines() if ln.strip())


def primary_text(fragment: str) -> str:
    """The recommendation itself, without the 'Other Considerations' section."""
    cut = re.split(r"<h4[^>]*>\s*Other Considerations", fragment or "", maxsplit=1, flags=re.I)[0]
    return plain_text(cut)


_CONDITION_NOISE = re.compile(r"reduced (kidney|renal|liver|hepatic) function", re.I)


def classify(text: str, strength: str | None) -> str:
    if strength == "No recommendation":
        return "no_recommendation"
    # risk-factor wording in condition headers ("... AND/OR reduced kidney function:") is not dosing advice
    text = _CONDITION_NOISE.sub("", text)
    best: tuple[int, int, str] | None = None
    for order, (action, rx) in enumerate(_COMPILED):
        m = rx.search(text)
        if m and (best is None or (m.start(), order) < best[:2]):
            best = (m.start(), order, action)
    return best[2] if best else "no_recommendation"


def dose_percent(text: str, action: str) -> tuple[int | None, str]:
    """Percent of the standard dose to give, when the text states one (None for ranges / not stated).

    Returns (percent, note) where note keeps a stated range such as '30-80%' for the summary.
    """
    if action not in ("reduce_dose", "increase_dose"):
        return None, ""
    t = text.lower()
    m = re.search(r"(\d+)\s*%?\s*(?:-|to|–)\s*(\d+)\s*% (lower|reduction|less)", t)
    if m:
        return None, f"{100 - int(m.group(2))}-{100 - int(m.group(1))}%"
    m = re.search(r"by (\d+)\s*%?\s*(?:-|to|–)\s*(\d+)\s*%", t)
    if m and action == "increase_dose":
        return None, f"{100 + int(m.group(1))}-{100 + int(m.group(2))}%"
    m = re.search(r"(\d+)\s*%?\s*(?:-|to|–)\s*(\d+)\s*% of", t)
    if m:
        return None, f"{m.group(1)}-{m.group(2)}%"
    m = re.search(r"(\d+(?:\.\d+)?)\s*% of (?:the )?(?:standard|normal|usual|recommended|initial|starting)", t)
    if m:
        return round(float(m.group(1))), ""
    m = re.search(r"(?:reduce|decrease|lower)[a-z ]{0,40}?by (\d+(?:\.\d+)?)\s*%|(\d+(?:\.\d+)?)\s*% (?:reduction|less than)", t)
    if m and action == "reduce_dose":
        return 100 - round(float(m.group(1) or m.group(2))), ""
    m = re.search(r"increas[a-z ]{0,40}?by (\d+(?:\.\d+)?)\s*%", t)
    if m and action == "increase_dose":
        return 100 + round(float(m.group(1))), ""
    m = re.search(r"(\d+)-fold", t)
    if m and action == "reduce_dose":
        return round(100 / int(m.group(1))), ""
    if m and action == "increase_dose":
        return 100 * int(m.group(1)), ""
    if re.search(r"half (of )?the", t) and action == "reduce_dose":
        return 50, ""
    m = re.search(r"(\d(?:\.\d+)?) (?:to (\d(?:\.\d+)?) )?times (?:the )?(?:standard|normal|recommended|usual|initial)", t)
    if m and action == "increase_dose":
        if m.group(2):
            return None, f"{round(float(m.group(1)) * 100)}-{round(float(m.group(2)) * 100)}%"
        return round(float(m.group(1)) * 100), ""
    if "double the dose" in t and action == "increase_dose":
        return 200, ""
    return None, ""


# Phrases by which a recommendation rules a drug OUT. Used only as a safety net over the reviewed table (a drug
# named this way must have a not_offered row and is never offered); never to offer anything.
_RULED_OUT = [
    re.compile(r"\b([a-z]+) is (?:therefore )?not an alternative", re.I),
    re.compile(r"\b([a-z]+) and ([a-z]+) are not (?:suitable )?alternatives", re.I),
    re.compile(r"\bdo not (?:select|choose) ([a-z]+)", re.I),
    re.compile(r"\bnon-([a-z]+)(?: (?:or|and) non-([a-z]+))? opioid", re.I),
]


def ruled_out(text: str, drugs: set[str]) -> set[str]:
    """Drug names the text says are not alternatives (only names of drugs that have rules)."""
    out: set[str] = set()
    for rx in _RULED_OUT:
        for m in rx.finditer(text):
            out |= {g.lower() for g in m.groups() if g and g.lower() in drugs}
    return out


ALT_COLUMNS = ("recommendation_id", "source", "drug", "lookup", "population", "kind", "alternative", "condition", "note")


def load_alternatives(path: Path) -> list[dict[str, str]]:
    """rules/alternatives.tsv rows (reviewed); bad rows stop the build with file:line."""
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    header_seen = False
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        values = line.split("\t")
        if not header_seen:
            if tuple(values) != ALT_COLUMNS:
                raise SystemExit(f"{path}:{n}: header must be {ALT_COLUMNS}")
            header_seen = True
            continue
        if len(values) != len(ALT_COLUMNS):
            raise SystemExit(f"{path}:{n}: expected {len(ALT_COLUMNS)} tab-separated fields, got {len(values)}")
        row = dict(zip(ALT_COLUMNS, values))
        if not row["recommendation_id"].startswith("PA"):
            raise SystemExit(f"{path}:{n}: every row must cite its recommendation id (PA...), got {row['recommendation_id']!r}")
        if row["kind"] not in ("offer", "not_offered", "none_named"):
            raise SystemExit(f"{path}:{n}: kind must be offer, not_offered or none_named")
        if row["kind"] != "none_named" and not row["alternative"]:
            raise SystemExit(f"{path}:{n}: {row['kind']} needs an alternative")
        row["_line"] = str(n)
        rows.append(row)
    return rows


def apply_alternatives(rules: list[dict[str, str]], rows: list[dict[str, str]], texts: dict[str, str],
                       path: Path) -> list[str]:
    """Join the reviewed rows into the rules; returns the problems found (the build fails on any)."""
    by_key = {(r["rule_id"].split("/")[0], r["drug"]): r for r in rules}
    problems: list[str] = []
    offers: dict[str, list[str]] = {}
    conditions: dict[str, dict[str, str]] = {}
    notes: dict[str, dict[str, str]] = {}
    none_note: dict[str, str] = {}
    not_alt: dict[str, list[str]] = {}
    for row in rows:
        where = f"{path.name}:{row['_line']}"
        rule = by_key.get((row["recommendation_id"], row["drug"]))
        if rule is None:
            problems.append(f"{where}: no rule for recommendation {row['recommendation_id']} and drug {row['drug']}")
            continue
        if rule["source"] != row["source"] or json.loads(rule["lookup"]) != {
                g: normalise_key_value(v)[0] for g, v in json.loads(row["lookup"]).items()}:
            problems.append(f"{where}: source/lookup differ from the recommendation ({rule['source']} {rule['lookup']})")
        rid = rule["rule_id"]
        if row["kind"] == "offer":
            offers.setdefault(rid, []).append(row["alternative"])
            if row["condition"]:
                conditions.setdefault(rid, {})[row["alternative"]] = row["condition"]
            if row["note"]:
                notes.setdefault(rid, {})[row["alternative"]] = row["note"]
        elif row["kind"] == "not_offered":
            not_alt.setdefault(rid, []).append(row["alternative"])
        else:
            note = row["note"]
            none_note[rid] = note[:1].upper() + note[1:]
    drugs = {r["drug"] for r in rules}
    for r in rules:
        rid = r["rule_id"]
        r["alternatives"] = ";".join(offers.get(rid, []))
        r["alternative_conditions"] = json.dumps(conditions[rid], ensure_ascii=False, sort_keys=True) if rid in conditions else ""
        r["alternative_notes"] = json.dumps(notes[rid], ensure_ascii=False, sort_keys=True) if rid in notes else ""
        r["alternatives_note"] = none_note.get(rid, "")
        r["not_alternatives"] = ";".join(sorted(set(not_alt.get(rid, []))))
        out = ruled_out(texts.get(rid, ""), drugs) - {r["drug"]}
        missing = out - set(not_alt.get(rid, []))
        if missing:
            problems.append(f"{rid}: the text rules out {sorted(missing)} but {path.name} has no not_offered row")
    return problems


def _cpic_pages(ref: Path) -> dict[str, str]:
    pages: dict[str, str] = {}
    with (ref / "cpic" / "cpic_level_A_B_pairs.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row.get("guideline_url"):
                pages.setdefault(row["drug"].strip().lower(), row["guideline_url"].strip())
    return pages


def _record(**kw) -> dict[str, str]:
    rec = {c: "" for c in RULE_COLUMNS}
    for k, v in kw.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v, ensure_ascii=False, sort_keys=isinstance(v, dict))
        rec[k] = "" if v is None else str(v)
    return rec


def rules_from_guidelines(ref: Path, texts: dict[str, str] | None = None) -> list[dict[str, str]]:
    pages = _cpic_pages(ref)
    out: list[dict[str, str]] = []
    for f in sorted((ref / GUIDELINES_DIR).glob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        g = data["guideline"]
        genes = [x["symbol"] for x in g.get("relatedGenes") or []]
        for rec in data.get("recommendations") or []:
            raw_key = rec.get("lookupKey") or {}
            lookup, qualifier = {}, {}
            for gene, value in raw_key.items():
                lookup[gene], q = normalise_key_value(value)
                if q:
                    qualifier[gene] = q
            strength = (rec.get("classification") or {}).get("term") or "N/A"
            text = primary_text((rec.get("text") or {}).get("html", ""))
            action = classify(text, strength)
            pct, pct_note = dose_percent(text, action)
            chems = [c["name"].strip().lower() for c in rec.get("relatedChemicals") or []] or \
                    [c["name"].strip().lower() for c in g.get("relatedChemicals") or []]
            for drug in chems:
                if texts is not None:
                    texts[f"{rec['id']}/{drug}"] = text
                population = rec.get("population") or "general"
                out.append(_record(
                    rule_id=f"{rec['id']}/{drug}",
                    source=g["source"],
                    guideline_id=g["id"],
                    guideline_version=g.get("version", ""),
                    guideline_name=g["name"],
                    guideline_url=g["url"],
                    cpic_guideline_url=pages.get(drug, "") if g["source"] == "CPIC" else "",
                    drug=drug,
                    genes=";".join(sorted(set(genes) | set(lookup))),
                    population=population,
                    lookup=lookup,
                    key_qualifier=qualifier or "",
                    action=action,
                    dose_percent=pct,
                    strength=strength,
                    alert=alert_for(action, strength),
                    alternatives="",
                    dosing_information=str(bool(rec.get("dosingInformation"))).lower(),
                    alternate_drug_available=str(bool(rec.get("alternateDrugAvailable"))).lower(),
                    summary=summarise(action, drug, lookup, population, pct, pct_note),
                    origin=f"{GUIDELINES_DIR}/{f.name}",
                ))
    return out


def rules_from_curated(path: Path, ref: Path) -> list[dict[str, str]]:
    """Hand-written rules; list-valued lookup entries expand into one rule per combination."""
    pages = _cpic_pages(ref)
    out: list[dict[str, str]] = []
    if not path.is_file():
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            c = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{n}: not valid JSON ({exc})") from None
        genes = sorted(c["lookup"])
        choices = [c["lookup"][gname] if isinstance(c["lookup"][gname], list) else [c["lookup"][gname]] for gname in genes]
        for combo in itertools.product(*choices):
            lookup = {gname: normalise_key_value(v)[0] for gname, v in zip(genes, combo)}
            suffix = "+".join(f"{k}={v}" for k, v in lookup.items())
            action = c["action"]
            out.append(_record(
                rule_id=f"{c['id']}[{suffix}]/{c['drug']}",
                source=c["source"], guideline_id=c["guideline_id"], guideline_version=c.get("guideline_version", ""),
                guideline_name=c["guideline_name"], guideline_url=c["guideline_url"],
                cpic_guideline_url=pages.get(c["drug"], "") if c["source"] == "CPIC" else "",
                drug=c["drug"], genes=";".join(sorted(set(genes) | set(c.get("genes", [])))),
                population=c.get("population", "general"), lookup=lookup, key_qualifier="",
                action=action, dose_percent=c.get("dose_percent"), strength=c.get("strength", "N/A"),
                alert=alert_for(action, c.get("strength", "N/A")), alternatives="",
                dosing_information="true", alternate_drug_available="false",
                summary=c.get("summary") or summarise(action, c["drug"], lookup, c.get("population", "general"),
                                                       c.get("dose_percent"), "", []),
                origin=f"rules/{path.name}:{n}",
            ))
    return out


def spot_check(rules: list[dict[str, str]]) -> list[str]:
    failures = []
    for source, drug, key, want, want_pct in SPOT_CHECKS:
        hits = [r for r in rules if r["source"] == source and r["drug"] == drug
                and all(json.loads(r["lookup"]).get(g) == v for g, v in key.items())]
        if not hits:
            failures.append(f"{source} {drug} {key}: no rule")
            continue
        got = {(r["action"], r["dose_percent"]) for r in hits}
        ok = any(a == want and (want_pct is None or p == str(want_pct)) for a, p in got)
        print(f"  {'ok ' if ok else 'BAD'} {source:4} {drug:13} {json.dumps(key)} -> {sorted(got)}")
        if not ok:
            failures.append(f"{source} {drug} {key}: got {sorted(got)}, want {want} {want_pct}")
    return failures


def write(rules: list[dict[str, str]], out: Path, build: int, ref: Path) -> tuple[str, str]:
    rules = sorted(rules, key=lambda r: (r["source"], r["drug"], r["guideline_id"], r["rule_id"]))
    body_lines = ["\t".join(RULE_COLUMNS)]
    for r in rules:
        for c in RULE_COLUMNS:
            if "\t" in r[c] or "\n" in r[c]:
                raise SystemExit(f"rule {r['rule_id']}: column {c} contains a tab/newline")
        body_lines.append("\t".join(r[c] for c in RULE_COLUMNS))
    body = "\n".join(body_lines) + "\n"
    content_hash = hashlib.sha256(body.encode()).hexdigest()
    version = f"cpic-dpwg-{DATA_VERSION}+ehrgen.{build}"
    files = sorted((ref / GUIDELINES_DIR).glob("*.json"))
    src_hash = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    header = [
        "# ehrgen decision-support rules, generated by tools/gen_rules.py -- do not edit by hand",
        f"# rules_version: {version}",
        f"# content_sha256: {content_hash}",
        f"# source: {GUIDELINES_DIR} ({len(files)} CPIC/DPWG guideline annotation files, sha256 of all {src_hash}); "
        "CPIC content CC0, DPWG via ClinPGx CC BY-SA 4.0",
        "# source: cpic/cpic_level_A_B_pairs.tsv (cpicpgx.org guideline pages); rules/curated_rules.jsonl; "
        "rules/alternatives.tsv (reviewed alternatives)",
        f"# rules: {len(rules)}; format: see rules/README.md",
    ]
    out.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    return version, content_hash


def _as_dict(value: object) -> dict:
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[arg-type]


def apply_alert_overrides(rules: list[dict[str, str]], path: Path) -> None:
    """Reviewed alert levels (rules/alert_overrides.tsv) where the default derivation would mislead."""
    if not path.is_file():
        return
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")]
    for row in csv.DictReader(lines, delimiter="\t"):
        hits = [r for r in rules if r["source"] == row["source"] and r["drug"] == row["drug"]
                and _as_dict(r["lookup"]).get(row["gene"]) == row["value"]]
        if not hits:
            raise SystemExit(f"{path.name}: override matches no rule: {row['source']} {row['drug']} "
                             f"{row['gene']}={row['value']}")
        for r in hits:
            r["alert"] = row["alert"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=reference_dir())
    ap.add_argument("--out", type=Path, default=ROOT / "rules" / "rules.tsv")
    ap.add_argument("--build", type=int, default=BUILD)
    args = ap.parse_args(argv)
    texts: dict[str, str] = {}
    rules = rules_from_guidelines(args.reference, texts)
    rules += rules_from_curated(ROOT / "rules" / "curated_rules.jsonl", args.reference)
    apply_alert_overrides(rules, ROOT / "rules" / "alert_overrides.tsv")
    alt_path = ROOT / "rules" / "alternatives.tsv"
    alt_rows = load_alternatives(alt_path)
    problems = apply_alternatives(rules, alt_rows, texts, alt_path)
    problems += violations(Rule.from_row(r, "rules.tsv", 0) for r in rules)
    if problems:
        for p in problems:
            print(f"ALTERNATIVES: {p}", file=sys.stderr)
        print(f"{len(problems)} alternative invariant violation(s): rules.tsv not written", file=sys.stderr)
        return 1
    kinds = Counter(r["kind"] for r in alt_rows)
    print(f"alternatives: {len(alt_rows)} reviewed rows ({dict(sorted(kinds.items()))}); invariant violations: 0")
    ids = Counter(r["rule_id"] for r in rules)
    dupes = [k for k, n in ids.items() if n > 1]
    if dupes:
        raise SystemExit(f"duplicate rule ids: {dupes[:5]}")
    version, content_hash = write(rules, args.out, args.build, args.reference)
    print(f"wrote {len(rules)} rules to {args.out} ({version}, sha256 {content_hash[:16]})")
    print("rules per action class (source: counts):")
    for src in ("CPIC", "DPWG"):
        c = Counter(r["action"] for r in rules if r["source"] == src)
        print(f"  {src}: " + ", ".join(f"{a}={n}" for a, n in sorted(c.items())))
    c = Counter(r["alert"] for r in rules)
    print("rules per alert: " + ", ".join(f"{a}={n}" for a, n in sorted(c.items())))
    print("spot checks:")
    failures = spot_check(rules)
    for f in failures:
        print(f"  FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
