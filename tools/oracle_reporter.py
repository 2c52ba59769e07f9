#!/usr/bin/env python3
"""Differential test of ehrgen's recommendation matching against PharmCAT 3.1.1's reporter (the oracle).

For N random full result sets (every gene; CYP2D6 / HLA-A / HLA-B sometimes absent, as without an outside call),
the same outside-call file drives both sides: PharmCAT (BatchPharmCAT, phenotyper + reporter) and ehrgen (outside
calls -> rules engine). Per (source, drug) the set of matched recommendations must be equal: guideline id,
population, lookup key (phenotype / activity score / allele status per gene), classification, and the
recommendation id the key selects in guidelines-2.12.0.

The oracle's guideline container was rebuilt from the same guidelines-2.12.0 annotations (../shared/oracles/README.md),
so any difference is ours to explain. Accepted, documented differences (README "Decision support"):
- CPIC warfarin: PharmCAT matches no annotation (dosing algorithm); ehrgen has curated "lower dose expected" rules.
- DPWG keys the oracle does not match as written (oracle_cannot_match) are left out of the comparison on both sides
  and checked instead against PharmCAT's own gene results (check_left_out): ehrgen's recommendation must be the one
  those results select by the guideline's keys.

PharmCAT outputs are cached by the sha256 of the outside-call text under ~/.cache/ehrgen-oracle/reporter-v2 (override
with EHRGEN_ORACLE_CACHE); a cold run works without it. Needs Java 17 and ../shared/oracles.

Usage: python tools/oracle_reporter.py [--n 2000] [--seed 1] [--jobs 2] [--show 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ehrgen.paths import reference_dir  # noqa: E402
from ehrgen.pgx.definitions import load_definitions  # noqa: E402
from ehrgen.pgx.model import GeneCall, SampleCalls  # noqa: E402
from ehrgen.pgx.outside import OutsideCall, outside_gene_call  # noqa: E402
from ehrgen.rules.engine import default_ruleset, interpret  # noqa: E402
from ehrgen.rules.ruleset import diplotype_key, normalise_key_value, normalise_score  # noqa: E402

ORACLE = Path(os.environ.get("EHRGEN_ORACLES", reference_dir().parent / "oracles")) / "pharmcat-3.1.1"
# its own folder per cache format: other checkouts (older formats) may share ~/.cache/ehrgen-oracle
CACHE = Path(os.environ.get("EHRGEN_ORACLE_CACHE", Path.home() / ".cache" / "ehrgen-oracle")) / "reporter-v2"
SECTIONS = {"CPIC Guideline Annotation": "CPIC", "DPWG Guideline Annotation": "DPWG"}
ACCEPTED = {("CPIC", "warfarin")}  # see the module docstring
_SCORE_CHARS = set("0123456789.≥")
_SCORE_RE = re.compile(r"^≥?\d+(\.\d+)?$")


def oracle_cannot_match(source: str, key: dict[str, str], qualified: bool) -> bool:
    """True for a DPWG guideline key the oracle's reporter does not match the way the key is written: PharmCAT's
    phenotyper gives DPYD and CYP2C9 an activity score as the gene result, while the pinned DPWG annotations key
    DPYD on a qualified score ('1.5 (Intermediate Metabolizer)') and CYP2C9 on a phenotype or a diplotype (PharmCAT's
    own newer data keys them on plain scores, see the example reports), so it matches none of them. Likewise DPWG's
    diplotype-specific recommendations (matched by ehrgen first: more specific, and for CYP2C9 they differ from the
    phenotype advice, e.g. warfarin *1/*2 'no action' vs IM '65%') and DPWG HLA-B*15:11 keys: there PharmCAT matches
    the less specific recommendation (the UGT1A1 / CYP2C9 phenotype one, HLA-B*15:02 alone) or none. Every match
    left out is checked another way (check_left_out: PharmCAT's own gene results must select it)."""
    if source != "DPWG":
        return False
    if "DPYD" in key and qualified:
        return True
    if any(v.startswith("dip:") for v in key.values()):
        return True  # DPWG diplotype-specific keys ({'*1': 1, '*28': 1}): the oracle matches only the phenotype rec
    if "*15:11" in key.get("HLA-B", ""):
        return True  # the oracle derives no HLA-B*15:11 status (it never matches DPWG's *15:11 recommendations)
    return "CYP2C9" in key and not set(key["CYP2C9"]) <= _SCORE_CHARS
HLA_ALLELES = ["*57:01", "*58:01", "*15:02", "*15:11", "*31:01", "*07:02", "*08:01", "*44:02", "*35:01", "*02:01",
               "*01:01", "*24:02", "*13:02"]
SOMETIMES_ABSENT = {"CYP2D6": 0.15, "HLA-A": 0.15, "HLA-B": 0.15}


def available() -> bool:
    return (ORACLE / "setup.sh").is_file() and shutil.which("java") is not None


# ------------------------------------------------------------------ random result sets

def random_sets(n: int, seed: int) -> list[dict[str, str]]:
    """n outside-call result sets {gene: diplotype}; the phenotype of each gene is drawn first (so rare
    actionable phenotypes are as frequent as common ones), then a diplotype with that phenotype."""
    defs = load_definitions()
    rng = random.Random(seed)
    by_pheno: dict[str, dict[str, list[str]]] = {}
    for gene, gd in sorted(defs.genes.items()):
        groups: dict[str, list[str]] = {}
        slashed = [a for a in gd.functions if "/" in a]  # e.g. G6PD "Telti/Kobe": cannot be written as an outside call
        for dip, (pheno, score) in sorted(gd.phenotypes.items()):
            if any(a in dip for a in slashed):
                continue
            groups.setdefault(f"{pheno}|{score}", []).append(dip)
        if not groups and gd.functions:  # no phenotype table (IFNL3): any pair of named alleles
            names = sorted(gd.functions)
            groups = {"-": [f"{a}/{b}" for a in names for b in names if a <= b]}
        by_pheno[gene] = groups
    out = []
    for _ in range(n):
        s: dict[str, str] = {}
        for gene, groups in by_pheno.items():
            if rng.random() < SOMETIMES_ABSENT.get(gene, 0.0):
                continue
            if gene in ("HLA-A", "HLA-B"):
                a, b = sorted(rng.sample(HLA_ALLELES, 2) if rng.random() < 0.8 else [rng.choice(HLA_ALLELES)] * 2)
                s[gene] = f"{a}/{b}"
            elif groups:
                s[gene] = rng.choice(groups[rng.choice(sorted(groups))])
        out.append(s)
    return out


def outside_tsv(result: dict[str, str]) -> str:
    return "".join(f"{g}\t{d}\n" for g, d in sorted(result.items()))


# ------------------------------------------------------------------ PharmCAT side

def _classpath() -> str:
    home = subprocess.run([str(ORACLE / "setup.sh")], capture_output=True, text=True, check=True).stdout.strip()
    home = home.splitlines()[-1]
    return f"{home}/pharmcat-3.1.1.jar:{home}/lib/*"


CACHE_FORMAT = 2  # 2: PharmCAT's own gene results are kept too ("_genes"), for the left-out DPWG keys


def _gene_results(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """PharmCAT's phenotyper result per gene (what its reporter looks recommendations up with)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for gene, g in (report.get("genes") or {}).items():
        out[gene] = [{"label": d.get("label"), "phenotypes": d.get("phenotypes") or [],
                      "activityScore": d.get("activityScore"), "lookupKey": d.get("lookupKey") or [],
                      "values": [(d.get(k) or {}).get("activityValue") for k in ("allele1", "allele2")]}
                     for d in g.get("recommendationDiplotypes") or []]
    return out


def _extract(report: dict[str, Any]) -> dict[str, Any]:
    """The matched guideline annotations per (source, drug): what is compared (and cached); under "_genes"
    PharmCAT's gene results, and "_format"."""
    out: dict[str, Any] = {"_format": CACHE_FORMAT, "_genes": _gene_results(report)}
    for section, source in SECTIONS.items():
        for drug, dd in (report.get("drugs", {}).get(section) or {}).items():
            anns = []
            for gl in dd.get("guidelines") or []:
                for a in gl.get("annotations") or []:
                    for key in a.get("lookupKey") or [{}]:
                        anns.append([gl["id"], a.get("population") or "general", key, a.get("classification")])
            out[f"{source}|{drug}"] = anns
    return out


def _cached(path: Path) -> bool:
    """A usable cache entry: this format, or PharmCAT's refusal of the input."""
    if not path.is_file():
        return False
    d = json.loads(path.read_text(encoding="utf-8"))
    return "_error" in d or d.get("_format") == CACHE_FORMAT


def pharmcat(results: list[dict[str, str]], jobs: int = 2) -> list[dict[str, Any]]:
    """PharmCAT's matched annotations for each result set (cached by the sha256 of its outside-call text)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    texts = [outside_tsv(r) for r in results]
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    todo = {k: t for k, t in zip(keys, texts) if not _cached(CACHE / f"{k}.json")}
    if todo:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in", Path(tmp) / "out"
            src.mkdir()
            for k, t in todo.items():
                (src / f"{k}.outside.tsv").write_text(t, encoding="utf-8")
            cmd = ["nice", "java", "-Xmx1g", "-cp", _classpath(), "org.pharmgkb.pharmcat.BatchPharmCAT",
                   "-i", str(src), "-o", str(dst), "-phenotyper", "-reporter", "-reporterJson", "-cp", str(jobs)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"BatchPharmCAT failed (exit {res.returncode}): {res.stderr[-500:]}")
            for k in todo:
                f = dst / f"{k}.report.json"
                if not f.is_file():  # PharmCAT refused this input: recorded, and the set is left out of the comparison
                    err = next(iter(sorted(dst.glob(f"{k}*ERROR*")) + sorted(src.glob(f"{k}*ERROR*"))), None)
                    msg = err.read_text(encoding="utf-8", errors="replace")[-400:] if err else res.stdout[-300:]
                    (CACHE / f"{k}.json").write_text(json.dumps({"_error": msg}), encoding="utf-8")
                    continue
                extract = _extract(json.loads(f.read_text(encoding="utf-8")))
                (CACHE / f"{k}.json").write_text(json.dumps(extract, sort_keys=True), encoding="utf-8")
    return [json.loads((CACHE / f"{k}.json").read_text(encoding="utf-8")) for k in keys]


# ------------------------------------------------------------------ ehrgen side

def ehrgen_calls(result: dict[str, str], name: str = "R") -> SampleCalls:
    defs = load_definitions()
    genes: dict[str, GeneCall] = {}
    for gene, gd in defs.genes.items():
        if gene in result:
            genes[gene] = outside_gene_call(OutsideCall(gene, result[gene], None, None, 0), gd)
        else:
            genes[gene] = GeneCall(gene=gene, status="no_data")
    return SampleCalls(sample=name, genes=genes)


def _classification(strength: str) -> str:
    s = (strength or "").strip()
    return {"N/A": "Unspecified", "": "No recommendation"}.get(s, s)


def ehrgen_matches(result: dict[str, str]) -> dict[str, list]:
    rs = default_ruleset()
    by_id = rs.by_id_cached()
    out: dict[str, list] = {}
    for r in interpret(ehrgen_calls(result), "R", screen_alternatives=False):
        if r.not_in_ruleset:
            continue
        anns = out.setdefault(f"{r.source}|{r.drug}", [])
        rule = by_id.get(r.rule_id) if r.rule_id else None
        if rule is not None:
            anns.append([r.guideline_id, r.population or "general", dict(rule.lookup), _classification(rule.strength),
                         oracle_cannot_match(r.source, rule.lookup, bool(rule.key_qualifier)), rule.rule_id])
    return out


# ------------------------------------------------------------------ comparison

def _norm_key(key: dict[str, Any]) -> tuple:
    return tuple(sorted((g, normalise_key_value(v)[0].lower()) for g, v in key.items()))


def _norm(anns: Iterable[list]) -> set[tuple]:
    return {(gid, "general" if pop in (None, "None") else pop, _norm_key(key), (cls or "").lower())
            for gid, pop, key, cls, *_ in anns}


def recommendation_ids() -> dict[tuple, str]:
    """(guideline id, drug, population, normalised lookup) -> recommendation id, from guidelines-2.12.0."""
    out = {}
    for f in sorted((reference_dir() / "guidelines-2.12.0").glob("*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        g = d["guideline"]
        for rec in d.get("recommendations") or []:
            chems = [c["name"].lower() for c in rec.get("relatedChemicals") or g.get("relatedChemicals") or []]
            for drug in chems:
                out[(g["id"], drug, rec.get("population") or "general", _norm_key(rec.get("lookupKey") or {}))] = rec["id"]
    return out


def compare(results: list[dict[str, str]], theirs: list[dict[str, list]]) -> tuple[int, list[str], Counter]:
    """(pairs compared, difference lines, counts per (source, drug) with a difference). Pairs where PharmCAT
    matched nothing and every ehrgen match is a key the oracle cannot match are counted under 'explained'."""
    ids = recommendation_ids()
    diffs: list[str] = []
    per_drug: Counter = Counter()
    compared = 0
    explained = Counter()
    for n, (result, pc) in enumerate(zip(results, theirs)):
        if "_error" in pc:
            per_drug["refused by PharmCAT"] += 1
            diffs.append(f"set {n}: PharmCAT refused the input ({pc['_error'].strip().splitlines()[-1][:200]}) "
                         f"input {json.dumps(result)}")
            continue
        ours = ehrgen_matches(result)
        for sd in sorted((set(pc) | set(ours)) - {"_genes", "_format"}):
            source, drug = sd.split("|", 1)
            if (source, drug) in ACCEPTED:
                continue
            # a guideline where every ehrgen match is a key the oracle cannot match is left out on both sides
            flagged = {m[0] for m in ours.get(sd, []) if m[4]} - {m[0] for m in ours.get(sd, []) if not m[4]}
            mine = [m for m in ours.get(sd, []) if m[0] not in flagged]
            theirs_sd = [t for t in pc.get(sd, []) if t[0] not in flagged]
            if flagged:
                explained[sd] += 1
            if not mine and not theirs_sd:
                continue
            compared += 1
            a, b = _norm(theirs_sd), _norm(mine)
            if a != b:
                per_drug[sd] += 1
                def show(x: set[tuple]) -> str:
                    return "; ".join(f"{ids.get((g, drug, p, k), '?')} {dict(k)} {c}" for g, p, k, c in sorted(x)) or "none"
                diffs.append(f"set {n} {source} {drug}: PharmCAT [{show(a - b)}] ehrgen [{show(b - a)}] "
                             f"input {json.dumps({g: result.get(g) for g in sorted(result)})}")
    per_drug["explained"] = sum(explained.values())
    return compared, diffs, per_drug


# ------------------------------------------------------------------ the DPWG keys the oracle cannot match

_HLA_STATUS = re.compile(r"^\*(\d+:\d+) (positive|negative)$")
_HLA_2FIELD = re.compile(r"\*?(\d+):(\d+)")


def _why_left_out(key: dict[str, str], qualified: bool) -> str:
    if "DPYD" in key and qualified:
        return "DPYD qualified score"
    if any(v.startswith("dip:") for v in key.values()):
        return "diplotype key"
    if "*15:11" in key.get("HLA-B", ""):
        return "HLA-B*15:11"
    return "CYP2C9 phenotype key"


def _fits(gene: str, value: str, pc: list[dict[str, Any]]) -> bool | None:
    """Whether a guideline key value is what PharmCAT's OWN result for the gene gives (its phenotyper: phenotype,
    activity score, diplotype label, HLA alleles). None: PharmCAT has tied results for the gene (cannot tell)."""
    if not pc:
        return value == "No Result"
    if len(pc) != 1:
        return None
    d = pc[0]
    if " & " in value:
        parts = [_fits(gene, v, pc) for v in value.split(" & ")]
        return None if None in parts else all(parts)
    if value.startswith("dip:"):
        return diplotype_key([a.strip() for a in (d.get("label") or "").split("/")]) == value
    m = _HLA_STATUS.match(value)
    if m and gene.startswith("HLA-"):
        alleles = {f"{a}:{b}" for a, b in _HLA_2FIELD.findall(d.get("label") or "")}
        return (m.group(1) in alleles) == (m.group(2) == "positive")
    if _SCORE_RE.match(value):
        return d.get("activityScore") not in (None, "n/a") and normalise_score(value) == normalise_score(
            str(d["activityScore"]))
    return value.lower() in {str(x).lower() for x in [*d.get("phenotypes", []), *d.get("lookupKey", [])]}


def _partial(values: list[Any]) -> bool | None:
    try:
        vals = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return len(vals) == 2 and all(0.0 < v < 1.0 for v in vals)


def expected_rules(rules: list[Any], genes: dict[str, list[dict[str, Any]]]) -> list[Any] | None:
    """The recommendations of one guideline group that PharmCAT's own gene results select, by the guideline's
    keys: every gene's key value fits PharmCAT's result; a diplotype-specific key wins over the phenotype key
    of the same result, and DPWG's "*15:02 and *15:11" key over either allele alone; DPWG's split of one DPYD score by its make-up ('1.0 (Phenotyping)' vs '1.0 (Intermediate
    Metabolizer)') is read from PharmCAT's allele activity values (Phenotyping: both alleles partial function).
    None when PharmCAT's result is tied for a gene the group uses."""
    fit = []
    for rule in rules:
        verdicts = [_fits(g, v, genes.get(g) or []) for g, v in rule.lookup.items()]
        if None in verdicts:
            return None
        if all(verdicts):
            fit.append(rule)
    for gene in {g for r in fit for g in r.key_qualifier}:
        quals = {r.key_qualifier.get(gene) for r in fit}
        if len(quals) > 1:
            ph = _partial(((genes.get(gene) or [{}])[0]).get("values") or [])
            fit = [r for r in fit if (r.key_qualifier.get(gene) == "Phenotyping") == bool(ph)]
    if fit:  # the most specific key wins: a diplotype over a phenotype, both HLA alleles over one of them
        def spec(r: Any) -> int:
            return sum(4 if v.startswith("dip:") else len(v.split(" & ")) for v in r.lookup.values())
        top = max(spec(r) for r in fit)
        fit = [r for r in fit if spec(r) == top]
    return fit


def check_left_out(results: list[dict[str, str]], theirs: list[dict[str, Any]]) -> tuple[int, list[str], Counter]:
    """The (drug, source) pairs compare() leaves out, checked another way: ehrgen's recommendation must be the one
    PharmCAT's own gene results select by the guideline's keys (expected_rules), and PharmCAT's reporter must have
    matched nothing for that guideline (the reason for leaving it out), or else its match is counted apart as
    'PharmCAT matched the less specific recommendation'. Returns (matches checked, problems, counts by reason)."""
    rs = default_ruleset()
    by_id = rs.by_id_cached()
    checked, problems, counts = 0, [], Counter()
    for n, (result, pc) in enumerate(zip(results, theirs)):
        if "_error" in pc:
            continue
        genes = pc.get("_genes")
        if genes is None:
            raise RuntimeError("oracle cache without PharmCAT's gene results: delete it and rerun")
        for sd, anns in ehrgen_matches(result).items():
            source, drug = sd.split("|", 1)
            for gid, pop, key, _cls, flagged, rule_id in anns:
                if not flagged:
                    continue
                rule = by_id[rule_id]
                why = _why_left_out(key, bool(rule.key_qualifier))
                group = [r for r in rs.for_drug(drug) if r.source == source and r.guideline_id == gid
                         and (r.population or "general") == pop]
                want = expected_rules(group, genes)
                checked += 1
                theirs_gl = [t for t in pc.get(sd, []) if t[0] == gid]
                if want is None:
                    counts[f"{why}: PharmCAT result tied, not checked"] += 1
                    continue
                if [r.rule_id for r in want] != [rule_id]:
                    problems.append(f"set {n} {source} {drug}: ehrgen {rule.recommendation_id} {key}, PharmCAT's "
                                    f"gene results select {[r.recommendation_id for r in want] or 'none'} "
                                    f"input {json.dumps({g: result.get(g) for g in sorted(key)})}")
                    continue
                if theirs_gl:
                    counts[f"{why}: PharmCAT matched the less specific recommendation"] += 1
                else:
                    counts[f"{why}: PharmCAT matched none"] += 1
    return checked, problems, counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--show", type=int, default=20)
    args = ap.parse_args(argv)
    if not available():
        print(f"oracle not available ({ORACLE}, java)", file=sys.stderr)
        return 2
    t0 = time.time()
    results = random_sets(args.n, args.seed)
    theirs = pharmcat(results, args.jobs)
    t1 = time.time()
    compared, diffs, per_drug = compare(results, theirs)
    t2 = time.time()
    explained = per_drug.pop("explained", 0)
    print(f"{args.n} random result sets, {compared} (drug, source) pairs compared, {len(diffs)} differ; "
          f"{explained} pairs with a DPWG key the oracle cannot match, left out (see oracle_cannot_match) "
          f"(PharmCAT {t1 - t0:.0f} s incl. cache, ehrgen + compare {t2 - t1:.0f} s)")
    for sd, k in per_drug.most_common(30):
        print(f"  {sd}: {k}")
    for d in diffs[: args.show]:
        print("  " + d)
    checked, problems, reasons = check_left_out(results, theirs)
    print(f"left-out DPWG matches checked against PharmCAT's own gene results: {checked}, {len(problems)} differ")
    for why, k in sorted(reasons.items()):
        print(f"  {why}: {k}")
    for p in problems[: args.show]:
        print("  " + p)
    return 1 if diffs or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
