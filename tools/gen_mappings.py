#!/usr/bin/env python3
"""Generate ehrgen's allele and phenotype tables (mappings/genes/*.json) from PharmCAT's reference data.

Usage: python tools/gen_mappings.py [--reference ../shared/reference] [--out mappings]

Facts only (positions, alleles, functions, phenotype tables) are taken; the source files and their versions
are recorded in every generated file and in mappings/genes/VERSION.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

PHARMCAT_VERSION = "3.1.1"
VCF_GENES = [
    "ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP3A4", "CYP3A5", "CYP4F2", "DPYD",
    "G6PD", "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1", "VKORC1",
]
OUTSIDE_ONLY = ["CYP2D6", "HLA-A", "HLA-B", "MT-RNR1"]
# PharmCAT methods: these genes are called as per-strand variant lists with the lowest-function rule
VARIANT_LIST_GENES = {"DPYD", "RYR1"}
# PharmCAT methods: undocumented ALT alleles at defining positions are treated as reference for these genes
UNDOCUMENTED_AS_REFERENCE = {"CACNA1S", "DPYD", "G6PD", "NUDT15", "RYR1", "TPMT"}
# PharmCAT methods (Gene-Definition-Exceptions): per-gene calling rules, kept here as data for the caller
SPECIAL = {
    # HapB3 is called from the intronic SNP when present, else the exonic one (with a warning)
    "DPYD": {"rank_by": "activity_value",
             "prefer_position": {"allele_contains": "HapB3", "primary_rsid": "rs75017182",
                                 "secondary_rsid": "rs56038477"}},
    # Malignant Hyperthermia associated variants are used first
    "RYR1": {"rank_by": "function",
             "function_rank": {"Malignant Hyperthermia associated": 0, "Uncertain function": 1,
                               "Normal function": 2}},
    # no star-allele call: fall back to the c.521T>C genotype (rs4149056), as CPIC advises
    "SLCO1B1": {"fallback_rsid": "rs4149056"},
}
# genes whose CPIC phenotype is keyed by activity score
ACTIVITY_GENES = {"CYP2C9", "DPYD", "CYP2D6"}


def _phenotype_file(ref: Path, gene: str) -> Path | None:
    base = ref / f"pharmcat-{PHARMCAT_VERSION}"
    for cand in (
        base / "phenotype" / f"{gene.replace('-', '_')}.json",
        base / "phenotype-supplement" / "cpic-2.12.0" / f"{gene}.json",
        base / "phenotype-supplement" / "cpic-2.6.0" / f"{gene}.json",
    ):
        if cand.is_file():
            return cand
    return None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _phenotype_table(pheno: dict) -> dict:
    functions = {}
    for a in pheno.get("namedAlleles") or []:
        functions[a["name"]] = {"function": a.get("functionValue"), "activity_value": a.get("activityValue")}
    for name, fn in (pheno.get("haplotypes") or {}).items():
        functions.setdefault(name, {"function": None, "activity_value": None})
        if functions[name]["function"] is None and not _is_number(fn):
            functions[name]["function"] = fn
    for name, av in (pheno.get("activityValues") or {}).items():
        functions.setdefault(name, {"function": None, "activity_value": None})
        if functions[name]["activity_value"] is None and av not in (None, "n/a") and _is_number(av):
            functions[name]["activity_value"] = av
    diplotypes = {}
    for d in pheno["diplotypes"]:
        names: list[str] = []
        for allele, n in d["diplotypekey"].items():
            names += [allele] * n
        key = "/".join(sorted(names))
        diplotypes[key] = [d.get("phenotype") or d.get("generesult"), d.get("activityScore")]
    return {"functions": functions, "diplotypes": diplotypes}


def _is_number(x: object) -> bool:
    try:
        float(str(x).replace("≥", ""))
        return True
    except ValueError:
        return False


def _variant_key(v: dict) -> tuple:
    return (v["position"], v["ref"], tuple(v["alts"]))


def build_gene(ref: Path, gene: str, exemptions: dict) -> dict:
    base = ref / f"pharmcat-{PHARMCAT_VERSION}"
    out: dict = {"gene": gene, "build": "GRCh38"}
    sources = []
    tfile = base / "definition" / "alleles" / f"{gene}_translation.json"
    if tfile.is_file() and gene in VCF_GENES:
        t = json.loads(tfile.read_text())
        ex = exemptions.get(gene, {})
        # an exemption names one variant (position AND alleles): another variant at the same position stays
        # (G6PD 154532990: the exempted CGGT>C deletion shares its position with Chatham's C>T SNP)
        ignored = {_variant_key(p) for p in ex.get("ignoredPositions", [])}
        ignored_alleles = set(ex.get("ignoredAlleles", []))
        keep = [i for i, v in enumerate(t["variants"]) if _variant_key(v) not in ignored]
        out["chromosome"] = t["chromosome"]
        out["positions"] = [
            {
                "pos": t["variants"][i]["position"],
                "rsid": t["variants"][i].get("rsid"),
                "ref": t["variants"][i]["ref"],
                "alts": t["variants"][i]["alts"],
                "hgvs": t["variants"][i].get("chromosomeHgvsName"),
            }
            for i in keep
        ]
        alleles = []
        # PharmCAT reports a sub-allele (SLCO1B1 *45.001, *45.002) by its core allele's name (*45)
        sub = t.get("suballelesMap") or {}
        for a in t["namedAlleles"]:
            if a["name"] in ignored_alleles:
                continue
            alleles.append(
                {
                    "name": a["name"],
                    **({"display_name": sub[a["name"]]} if a["name"] in sub else {}),
                    "reference": bool(a.get("reference")),
                    "structural_variant": bool(a.get("structuralVariant")),
                    "bases": [a["alleles"][i] for i in keep],
                    # PharmCAT still counts exempted (ignored) positions in an allele's score
                    "ignored_defined": sum(1 for i in range(len(t["variants"]))
                                           if i not in set(keep) and a["alleles"][i] is not None),
                }
            )
        out["alleles"] = alleles
        out["extra_positions"] = [
            {"pos": p["position"], "rsid": p.get("rsid"), "ref": p["ref"], "alts": p["alts"]}
            for p in ex.get("extraPositions", [])
        ]
        out["unphased_priorities"] = [
            {"candidates": p["list"], "pick": p["pick"]} for p in ex.get("unphasedDiplotypePriorities", [])
        ]
        out["required_positions"] = [p["position"] for p in ex.get("requiredPositions", [])] if ex.get(
            "requiredPositions") and isinstance(ex["requiredPositions"][0], dict) else ex.get("requiredPositions", [])
        sources.append({"file": str(tfile.relative_to(ref)), "version": t.get("version"), "sha256_16": _sha(tfile)})
    out["call_mode"] = "outside_only" if gene in OUTSIDE_ONLY else (
        "variant_list" if gene in VARIANT_LIST_GENES else "star")
    out["undocumented_as_reference"] = gene in UNDOCUMENTED_AS_REFERENCE
    out["activity_gene"] = gene in ACTIVITY_GENES
    out["special"] = SPECIAL.get(gene, {})
    out["haploid_capable"] = out.get("chromosome") in ("chrX", "chrY", "chrM")
    pfile = _phenotype_file(ref, gene)
    if pfile:
        pheno = json.loads(pfile.read_text())
        out["phenotypes"] = _phenotype_table(pheno)
        sources.append({"file": str(pfile.relative_to(ref)), "version": pheno.get("version"), "sha256_16": _sha(pfile)})
        if gene == "CYP2D6":
            dfile = base / "phenotype-supplement" / "dpwg-2.12.0" / "CYP2D6.json"
            if dfile.is_file():
                out["phenotypes_dpwg"] = _phenotype_table(json.loads(dfile.read_text()))
                sources.append({"file": str(dfile.relative_to(ref)), "version": "dpwg-2.12.0", "sha256_16": _sha(dfile)})
    out["source"] = {"name": "PharmCAT", "version": PHARMCAT_VERSION, "files": sources,
                     "generator": "tools/gen_mappings.py"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--reference", type=Path, default=root.parent / "shared" / "reference")
    ap.add_argument("--out", type=Path, default=root / "mappings")
    args = ap.parse_args()
    ref: Path = args.reference
    ex_file = ref / f"pharmcat-{PHARMCAT_VERSION}" / "definition" / "alleles" / "exemptions.json"
    exemptions = json.loads(ex_file.read_text())
    outdir = args.out / "genes"
    outdir.mkdir(parents=True, exist_ok=True)
    index = {}
    for gene in VCF_GENES + OUTSIDE_ONLY:
        data = build_gene(ref, gene, exemptions)
        path = outdir / f"{gene}.json"
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
        index[gene] = {"file": f"genes/{gene}.json", "call_mode": data["call_mode"],
                       "positions": len(data.get("positions", []))}
    version = {
        "mappings_version": f"pharmcat-{PHARMCAT_VERSION}+ehrgen.1",
        "source": f"PharmCAT {PHARMCAT_VERSION} allele definitions, exemptions and phenotype tables "
                  "(CPIC CC0; ClinPGx CC BY-SA 4.0)",
        "exemptions_sha256_16": _sha(ex_file),
        "genes": index,
    }
    (outdir / "VERSION.json").write_text(json.dumps(version, indent=1) + "\n")
    print(f"wrote {len(index)} gene tables to {outdir}")


if __name__ == "__main__":
    main()
