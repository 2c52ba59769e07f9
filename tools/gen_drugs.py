#!/usr/bin/env python3
"""Generate mappings/drugs.tsv: one row per drug that a CPIC level A/B pair or a CPIC/DPWG guideline names.

Sources (pinned copies under the shared reference folder):
  - guidelines-2.12.0/*.json            drug names, PharmGKB ids, guideline ids
  - cpic/cpic_level_A_B_pairs.tsv        the CPIC level A/B drug list and CPIC guideline pages
  - cpic/cpic_pairs_from_pypgx0.27.0.csv RxNorm ingredient and ATC codes
  - mappings/drug_codes_curated.tsv      hand-curated codes/synonyms where the above lack them

Usage: python tools/gen_drugs.py [--reference DIR] [--out mappings/drugs.tsv]
Prints drugs that still lack an RxNorm or ATC code, so the gap is visible rather than silent.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ehrgen.paths import reference_dir  # noqa: E402

COLUMNS = ("name", "rxnorm", "atc", "pharmgkb_id", "sources", "guideline_ids", "cpic_level", "cpic_guideline_url", "synonyms")
GUIDELINES_DIR = "guidelines-2.12.0"


def _split_codes(text: str) -> list[str]:
    return [c.strip() for c in text.replace(";", ",").split(",") if c.strip()]


def _read_curated(path: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    for row in csv.DictReader(lines, delimiter="\t"):
        out[row["name"].strip().lower()] = row
    return out


def build(ref: Path, curated_path: Path) -> tuple[list[dict[str, str]], list[str]]:
    drugs: dict[str, dict] = defaultdict(lambda: {"pharmgkb_id": "", "sources": set(), "guideline_ids": set(),
                                                   "cpic_level": set(), "cpic_guideline_url": set(), "rxnorm": "",
                                                   "atc": [], "synonyms": set()})
    gfiles = sorted((ref / GUIDELINES_DIR).glob("*.json"))
    for f in gfiles:
        data = json.loads(f.read_text(encoding="utf-8"))
        g = data["guideline"]
        chems = list(g.get("relatedChemicals") or [])
        for rec in data.get("recommendations") or []:
            chems += rec.get("relatedChemicals") or []
        for chem in chems:
            d = drugs[chem["name"].strip().lower()]
            d["pharmgkb_id"] = d["pharmgkb_id"] or chem.get("id") or ""
            d["sources"].add(g["source"])
            d["guideline_ids"].add(g["id"])

    pairs = ref / "cpic" / "cpic_level_A_B_pairs.tsv"
    with pairs.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            d = drugs[row["drug"].strip().lower()]
            d["cpic_level"].add(row["cpic_level"])
            if row.get("guideline_url"):
                d["cpic_guideline_url"].add(row["guideline_url"].strip())

    codes = ref / "cpic" / "cpic_pairs_from_pypgx0.27.0.csv"
    with codes.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["Drug"].strip().lower()
            if name not in drugs:
                continue  # only drugs the rules or level A/B pairs need
            d = drugs[name]
            d["rxnorm"] = d["rxnorm"] or row["RxNorm"].strip()
            for c in _split_codes(row["ATC"]):
                if c not in d["atc"]:
                    d["atc"].append(c)

    curated = _read_curated(curated_path)
    for name, row in curated.items():
        if name not in drugs:
            continue
        d = drugs[name]
        if not d["rxnorm"] and row.get("rxnorm", "").strip():
            d["rxnorm"] = row["rxnorm"].strip()
        if not d["atc"]:
            d["atc"] = _split_codes(row.get("atc", ""))
        d["synonyms"].update(s.strip().lower() for s in (row.get("synonyms") or "").split(";") if s.strip())

    rows, gaps = [], []
    for name in sorted(drugs):
        d = drugs[name]
        rows.append({
            "name": name,
            "rxnorm": d["rxnorm"],
            "atc": ";".join(d["atc"]),
            "pharmgkb_id": d["pharmgkb_id"],
            "sources": ";".join(sorted(d["sources"])),
            "guideline_ids": ";".join(sorted(d["guideline_ids"])),
            "cpic_level": ";".join(sorted(d["cpic_level"])),
            "cpic_guideline_url": ";".join(sorted(d["cpic_guideline_url"])),
            "synonyms": ";".join(sorted(d["synonyms"])),
        })
        missing = [k for k in ("rxnorm", "atc") if not rows[-1][k]]
        if missing:
            gaps.append(f"{name}: no {' or '.join(missing)}")
    return rows, gaps


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def write(rows: list[dict[str, str]], out: Path, ref: Path, curated_path: Path) -> None:
    body = "\t".join(COLUMNS) + "\n" + "".join("\t".join(r[c] for c in COLUMNS) + "\n" for r in rows)
    content_hash = hashlib.sha256(body.encode()).hexdigest()[:16]
    header = [
        "# ehrgen drug table, generated by tools/gen_drugs.py -- do not edit by hand",
        f"# source: {GUIDELINES_DIR} (CPIC/DPWG guideline annotations via PharmGKB/ClinPGx, 118 files)",
        f"# source: cpic/cpic_level_A_B_pairs.tsv sha256:{_sha256(ref / 'cpic' / 'cpic_level_A_B_pairs.tsv')}",
        f"# source: cpic/cpic_pairs_from_pypgx0.27.0.csv (pypgx 0.27.0) sha256:{_sha256(ref / 'cpic' / 'cpic_pairs_from_pypgx0.27.0.csv')}",
        f"# source: mappings/{curated_path.name} sha256:{_sha256(curated_path)}",
        f"# rows: {len(rows)}  content_sha256: {content_hash}",
        "# columns: name=lower-case ingredient; rxnorm=RxNorm ingredient RxCUI; atc=';'-separated ATC codes "
        "(incl. combination products); lists are ';'-separated",
    ]
    out.write_text("\n".join(header) + "\n" + body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=reference_dir())
    ap.add_argument("--out", type=Path, default=ROOT / "mappings" / "drugs.tsv")
    ap.add_argument("--curated", type=Path, default=ROOT / "mappings" / "drug_codes_curated.tsv")
    args = ap.parse_args(argv)
    rows, gaps = build(args.reference, args.curated)
    write(rows, args.out, args.reference, args.curated)
    print(f"wrote {len(rows)} drugs to {args.out}")
    for g in gaps:
        print(f"  missing code: {g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
