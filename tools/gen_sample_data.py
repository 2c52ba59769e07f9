#!/usr/bin/env python3
"""Generate ehrgen's synthetic sample data (sample_data/) from sample_data/scenarios.toml.

Source of truth:
  * alleles: PharmCAT 3.1.1 allele definitions (<reference>/pharmcat-3.1.1/definition/alleles/<GENE>_translation.json);
  * drug codes: <reference>/cpic/cpic_pairs_from_pypgx0.27.0.csv (RxNorm ingredient, ATC);
  * patients, engineered diplotypes, medications, consent: sample_data/scenarios.toml.

Every VCF record is written exactly as PharmCAT's pharmcat_positions.vcf writes that position (chr-prefixed contig,
REF/ALT from the definitions, which is the normalisation the callers expect). Genes a scenario does not engineer
are written as the reference allele on both copies. Everything is deterministic: the only randomness (birth
dates) comes from a seeded generator, timestamps are fixed in the scenario file.

Before anything is written, an independent brute-force allele matcher (PharmCAT scoring: a named allele scores
the number of positions it defines; the reference allele defines all) re-derives every gene's diplotype(s)
from the genotypes it is about to write, and the run fails if an engineered gene would not come out as
engineered. This keeps sample_data/expected/calls.tsv honest without needing the project's own caller.

Usage:
  python tools/gen_sample_data.py                      # regenerate sample_data/ in place
  python tools/gen_sample_data.py --out /tmp/sd        # write elsewhere (tests use this)
  python tools/gen_sample_data.py --refresh-expected   # also run `ehrgen call`/`ehrgen interpret` (if present)
                                                       # and report where they disagree with expected/
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import random
import shutil
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "sample_data" / "scenarios.toml"
DEFAULT_REFERENCE = REPO.parent / "shared" / "reference"
DEFINITIONS_REL = "pharmcat-3.1.1/definition/alleles"
DRUGS_REL = "cpic/cpic_pairs_from_pypgx0.27.0.csv"
SOURCE_NOTE = "PharmCAT 3.1.1 allele definitions; drug codes from cpic_pairs_from_pypgx0.27.0.csv"

GENES: tuple[str, ...] = (
    "ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP3A4", "CYP3A5", "CYP4F2", "DPYD",
    "G6PD", "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1", "VKORC1",
)

# GRCh38 primary assembly lengths of the contigs the 19 genes sit on (for ##contig lines).
CONTIG_LENGTHS: dict[str, int] = {
    "chr1": 248956422, "chr2": 242193529, "chr4": 190214555, "chr6": 170805979, "chr7": 159345973,
    "chr8": 145138636, "chr10": 133797422, "chr12": 133275309, "chr13": 114364328, "chr16": 90338345,
    "chr19": 58617616, "chrX": 156040895,
}
CONTIG_ORDER = list(CONTIG_LENGTHS)

IUPAC: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC_SYSTEM = "http://www.whocc.no/atc"


class ScenarioError(Exception):
    """The scenario file asks for something the definitions cannot produce."""


# --------------------------------------------------------------------------------------------------------------
# allele definitions
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Variant:
    chrom: str
    pos: int
    rsid: str | None
    ref: str
    alts: list[str]
    poi: bool = False  # position of interest outside any allele definition (written, never matched)

    @property
    def alleles(self) -> list[str]:
        return [self.ref, *self.alts]


@dataclass
class Allele:
    name: str
    index: int  # order in the definition file
    reference: bool
    cells: list[str | None]  # definition cell per position (None = same as the reference allele)

    def accepts(self, i: int, base: str, ref_cells: list[str]) -> bool:
        cell = self.cells[i] if self.cells[i] is not None else ref_cells[i]
        if cell == base:
            return True
        return len(cell) == 1 and base in IUPAC.get(cell, "") and len(base) == 1

    def score(self, used: list[int]) -> int:
        if self.reference:
            return len(used)
        return sum(1 for i in used if self.cells[i] is not None)


@dataclass
class GeneDef:
    gene: str
    chrom: str
    variants: list[Variant]
    alleles: list[Allele]
    ignored_positions: set[int] = field(default_factory=set)
    ignored_alleles: set[str] = field(default_factory=set)
    extra: list[Variant] = field(default_factory=list)

    @property
    def reference(self) -> Allele:
        return next(a for a in self.alleles if a.reference)

    def allele(self, name: str) -> Allele:
        for a in self.alleles:
            if a.name == name:
                return a
        raise ScenarioError(f"{self.gene}: no allele named {name!r} in the definitions")

    def ref_cells(self) -> list[str]:
        return [c for c in self.reference.cells]  # the reference row defines every position

    def concrete_bases(self, name: str) -> list[str]:
        """The VCF allele this named allele carries at each position (IUPAC cells resolved deterministically:
        the first of REF, ALT1, ALT2... that the code allows, so an ambiguous cell never invents a new allele)."""
        a = self.allele(name)
        ref_cells = self.ref_cells()
        out = []
        for i, v in enumerate(self.variants):
            cell = a.cells[i] if a.cells[i] is not None else ref_cells[i]
            if cell in v.alleles:
                out.append(cell)
                continue
            allowed = IUPAC.get(cell)
            pick = next((b for b in v.alleles if allowed and b in allowed), None)
            if pick is None:
                raise ScenarioError(f"{self.gene} {name}: cell {cell!r} at {v.pos} matches none of {v.alleles}")
            out.append(pick)
        return out


def load_gene(reference: Path, gene: str) -> GeneDef:
    d = json.loads((reference / DEFINITIONS_REL / f"{gene}_translation.json").read_text())
    variants = [Variant(v["chromosome"], v["position"], v["rsid"], v["ref"], list(v["alts"])) for v in d["variants"]]
    alleles = [
        Allele(a["name"], i, bool(a.get("reference")), list(a["alleles"])) for i, a in enumerate(d["namedAlleles"])
    ]
    ex = json.loads((reference / DEFINITIONS_REL / "exemptions.json").read_text()).get(gene, {})
    extra = [
        Variant(v["chromosome"], v["position"], v["rsid"], v["ref"], list(v["alts"]), poi=True)
        for v in ex.get("extraPositions", [])
    ]
    return GeneDef(
        gene=gene,
        chrom=d["chromosome"],
        variants=variants,
        alleles=alleles,
        ignored_positions={p["position"] for p in ex.get("ignoredPositions", [])},
        ignored_alleles=set(ex.get("ignoredAlleles", [])),
        extra=extra,
    )


# --------------------------------------------------------------------------------------------------------------
# an independent reference matcher (used only to check the engineered genotypes)
# --------------------------------------------------------------------------------------------------------------


def allele_sort_key(gdef: GeneDef, name: str) -> tuple:
    """Lower-numbered star allele first (*1 < *2 < *3A < *17 < *38); the reference first for named variants
    (DPYD 'Reference', G6PD 'B (reference)'); otherwise definition-file order."""
    a = gdef.allele(name)
    if name.startswith("*"):
        num = "".join(itertools.takewhile(str.isdigit, name[1:]))
        if num:
            return (1, int(num), name[1 + len(num):], a.index)
    return (0 if a.reference else 2, 0, "", a.index)


def diplotype_name(gdef: GeneDef, names: tuple[str, ...]) -> str:
    return "/".join(sorted(names, key=lambda n: allele_sort_key(gdef, n)))


def match(gdef: GeneDef, genotype: list[tuple[str, ...]], phased: bool = False) -> list[str]:
    """Top-scoring diplotypes (or haplotypes, when every genotype is haploid) for per-position genotypes
    given as tuples of VCF alleles in the order written. Positions the definitions ignore are skipped."""
    used = [i for i, v in enumerate(gdef.variants) if v.pos not in gdef.ignored_positions]
    ref_cells = gdef.ref_cells()
    candidates = [a for a in gdef.alleles if a.name not in gdef.ignored_alleles]
    ploidy = {len(g) for g in genotype}
    if ploidy == {1}:
        hits = [a for a in candidates if all(a.accepts(i, genotype[i][0], ref_cells) for i in used)]
        return _best(gdef, [((a.name,), a.score(used)) for a in hits])
    if ploidy != {2}:
        raise ScenarioError(f"{gdef.gene}: mixed ploidy")
    if phased:
        strands = []
        for s in (0, 1):
            hits = [a for a in candidates if all(a.accepts(i, genotype[i][s], ref_cells) for i in used)]
            top = max((a.score(used) for a in hits), default=None)
            strands.append([a for a in hits if a.score(used) == top])
        pairs = [((x.name, y.name), x.score(used) + y.score(used)) for x in strands[0] for y in strands[1]]
        return _best(gdef, pairs)
    # unphased: an allele can take part only if it accepts one of the two observed bases everywhere
    pool = [a for a in candidates if all(any(a.accepts(i, b, ref_cells) for b in genotype[i]) for i in used)]
    pairs = []
    for x, y in itertools.combinations_with_replacement(pool, 2):
        ok = all(
            (x.accepts(i, genotype[i][0], ref_cells) and y.accepts(i, genotype[i][1], ref_cells))
            or (x.accepts(i, genotype[i][1], ref_cells) and y.accepts(i, genotype[i][0], ref_cells))
            for i in used
        )
        if ok:
            pairs.append(((x.name, y.name), x.score(used) + y.score(used)))
    return _best(gdef, pairs)


def _best(gdef: GeneDef, scored: list[tuple[tuple[str, ...], int]]) -> list[str]:
    if not scored:
        return []
    top = max(s for _, s in scored)
    names = {diplotype_name(gdef, n) for n, s in scored if s == top}
    return sorted(names, key=lambda d: [allele_sort_key(gdef, n) for n in d.split("/")])


# --------------------------------------------------------------------------------------------------------------
# scenarios -> genotypes
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Patient:
    id: str
    sample: str
    sex: str
    vcf: str
    note: str
    diplotypes: dict[str, list[str]]
    expected: dict[str, str]
    medications: list[dict]
    outside_calls: list[list[str]]
    consent: bool = True
    phased: bool = False
    malformed: bool = False

    def haploid(self, chrom: str) -> bool:
        return chrom == "chrX" and self.sex == "male"


def load_scenarios(path: Path) -> tuple[dict, list[Patient]]:
    raw = tomllib.loads(path.read_text())
    patients = []
    for i, p in enumerate(raw["patient"]):
        try:
            patients.append(Patient(
                id=p["id"], sample=p["sample"], sex=p["sex"], vcf=p["vcf"], note=" ".join(p.get("note", "").split()),
                diplotypes={g: list(v) for g, v in p.get("diplotypes", {}).items()},
                expected=dict(p.get("expected", {})), medications=list(p.get("medications", [])),
                outside_calls=[list(r) for r in p.get("outside_calls", [])], consent=bool(p.get("consent", True)),
                phased=bool(p.get("phased", False)), malformed=bool(p.get("malformed", False)),
            ))
        except KeyError as exc:
            raise ScenarioError(f"{path}: patient #{i + 1} lacks required key {exc}") from None
    for p in patients:
        if p.sex not in ("female", "male"):
            raise ScenarioError(f"{path}: {p.id}: sex must be female or male, got {p.sex!r}")
        for g in p.diplotypes:
            if g not in GENES:
                raise ScenarioError(f"{path}: {p.id}: gene {g!r} is not one of the VCF genes")
    return raw, patients


def haplotypes(gdef: GeneDef, p: Patient) -> list[list[str]]:
    """Per copy of the gene, the VCF allele at each definition position (one copy for male chrX)."""
    names = p.diplotypes.get(gdef.gene)
    copies = 1 if p.haploid(gdef.chrom) else 2
    if names is None:
        names = [gdef.reference.name] * copies
    if len(names) != copies:
        raise ScenarioError(f"{p.id} {gdef.gene}: {copies} allele(s) expected for a {p.sex} on {gdef.chrom}, "
                            f"got {names}")
    return [gdef.concrete_bases(n) for n in names]


def genotype_at(gdef: GeneDef, haps: list[list[str]], i: int, phased: bool) -> tuple[str, ...]:
    bases = tuple(h[i] for h in haps)
    if phased or len(bases) == 1:
        return bases
    order = gdef.variants[i].alleles
    return tuple(sorted(bases, key=order.index))


def gt_string(v: Variant, bases: tuple[str, ...], phased: bool) -> str:
    idx = [str(v.alleles.index(b)) for b in bases]
    return ("|" if phased else "/").join(idx)


# --------------------------------------------------------------------------------------------------------------
# expected calls (engineered diplotypes checked against the matcher)
# --------------------------------------------------------------------------------------------------------------

EXPECTED_COLUMNS = ("sample", "gene", "diplotypes", "status", "source", "phenotype", "note")


def expected_rows(gdefs: dict[str, GeneDef], patients: list[Patient]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for p in patients:
        if p.malformed:
            rows.append(dict(sample=p.sample, gene="ALL", diplotypes="", status="input_error", source="engineered",
                             phenotype="", note="malformed VCF: expected to fail alone with a clear error"))
            continue
        for gene in GENES:
            g = gdefs[gene]
            haps = haplotypes(g, p)
            geno = [genotype_at(g, haps, i, p.phased) for i in range(len(g.variants))]
            found = match(g, geno, phased=p.phased)
            found_text = " OR ".join(found)
            if gene in p.diplotypes:
                engineered = diplotype_name(g, tuple(p.diplotypes[gene]))
                want = p.expected.get(gene, engineered)
                if found_text != want or engineered not in found:
                    raise ScenarioError(f"{p.id} {gene}: engineered {engineered!r} (expected {want!r}) but the "
                                        f"genotypes written would call {found_text!r}")
                source = "engineered"
            else:
                if p.expected.get(gene) and p.expected[gene] != found_text:
                    raise ScenarioError(f"{p.id} {gene}: expected {p.expected[gene]!r}, matcher says {found_text!r}")
                ref = g.reference.name
                want = ref if p.haploid(g.chrom) else f"{ref}/{ref}"
                if found_text != want:
                    raise ScenarioError(f"{p.id} {gene}: background should call {want!r}, got {found_text!r}")
                source = "background"
            rows.append(dict(sample=p.sample, gene=gene, diplotypes=found_text,
                             status="called" if len(found) == 1 else "ambiguous", source=source, phenotype="",
                             note=p.note if source == "engineered" else ""))
        for gene, dip, pheno, score in p.outside_calls:
            rows.append(dict(sample=p.sample, gene=gene, diplotypes=dip, status="outside_call", source="outside_call",
                             phenotype=pheno or score, note=p.note))
    return rows


# --------------------------------------------------------------------------------------------------------------
# VCF
# --------------------------------------------------------------------------------------------------------------


def vcf_text(gdefs: dict[str, GeneDef], patients: list[Patient], file_date: str) -> str:
    phased = any(p.phased for p in patients)
    if phased and len(patients) != 1:
        raise ScenarioError("a phased VCF holds one sample in these scenarios")
    records = []  # (contig order, pos, line prefix, per-sample GT)
    for gene in GENES:
        g = gdefs[gene]
        haps = {p.sample: haplotypes(g, p) for p in patients}
        first = g.variants[0].pos
        for i, v in enumerate(g.variants):
            gts = []
            for p in patients:
                gt = gt_string(v, genotype_at(g, haps[p.sample], i, p.phased), p.phased)
                gts.append(f"{gt}:{first}" if p.phased else gt)
            records.append((CONTIG_ORDER.index(v.chrom), v.pos, v, f"PX={gene}", gts))
        for v in g.extra:  # e.g. CYP2C9's rs12777823: read by callers for warfarin, not part of any allele
            gts = []
            for p in patients:
                gt = "|".join(["0"] * 2) if p.phased else "0/0"
                gts.append(f"{gt}:{first}" if p.phased else gt)
            records.append((CONTIG_ORDER.index(v.chrom), v.pos, v, "POI", gts))
    records.sort(key=lambda r: (r[0], r[1]))
    used = sorted({r[0] for r in records})
    out = io.StringIO()
    out.write("##fileformat=VCFv4.2\n")
    out.write(f"##fileDate={file_date}\n")
    out.write("##source=ehrgen tools/gen_sample_data.py (synthetic data; PharmCAT 3.1.1 allele definitions)\n")
    out.write("##reference=GRCh38\n")
    for ci in used:
        c = CONTIG_ORDER[ci]
        out.write(f"##contig=<ID={c},length={CONTIG_LENGTHS[c]},assembly=GRCh38>\n")
    out.write('##FILTER=<ID=PASS,Description="All filters passed">\n')
    out.write('##INFO=<ID=PX,Number=.,Type=String,Description="Gene">\n')
    out.write('##INFO=<ID=POI,Number=0,Type=Flag,Description="Position of Interest but not part of an allele '
              'definition">\n')
    out.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    if phased:
        out.write('##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">\n')
    out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(p.sample for p in patients) + "\n")
    fmt = "GT:PS" if phased else "GT"
    for _, _, v, info, gts in records:
        out.write("\t".join([v.chrom, str(v.pos), v.rsid or ".", v.ref, ",".join(v.alts), ".", "PASS", info, fmt, *gts])
                  + "\n")
    return out.getvalue()


def malformed(text: str) -> str:
    """Drop the #CHROM header line and cut the body off in the middle of a record."""
    lines = [ln for ln in text.splitlines(keepends=True) if not ln.startswith("#CHROM")]
    body = "".join(lines)
    cut = len(body) * 3 // 5
    return body[:cut].rstrip("\n")[:-3]  # mid-record, no final newline


def bgzip_and_index(plain: Path, gz: Path) -> bool:
    """bgzip + tabix with pysam (or htslib's command-line tools); False when neither is installed."""
    try:
        import pysam  # type: ignore[import-not-found]

        pysam.tabix_compress(str(plain), str(gz), force=True)
        pysam.tabix_index(str(gz), preset="vcf", force=True)
        return True
    except ImportError:
        pass
    if shutil.which("bgzip") and shutil.which("tabix"):
        with open(gz, "wb") as fh:
            subprocess.run(["bgzip", "-c", str(plain)], stdout=fh, check=True)
        subprocess.run(["tabix", "-f", "-p", "vcf", str(gz)], check=True)
        return True
    return False
