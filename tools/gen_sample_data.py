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
import os
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
DEFAULT_REFERENCE = Path(os.environ.get("EHRGEN_REFERENCE", REPO.parent / "shared" / "reference"))
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


# --------------------------------------------------------------------------------------------------------------
# clinical facts: CSV, HL7 v2.5.1, FHIR R4
# --------------------------------------------------------------------------------------------------------------


def load_drug_codes(reference: Path) -> dict[str, tuple[str, str]]:
    """drug -> (RxNorm ingredient code, first ATC code)."""
    codes: dict[str, tuple[str, str]] = {}
    with open(reference / DRUGS_REL, newline="") as fh:
        for row in csv.DictReader(fh):
            atc = row["ATC"].split(",")[0].strip()
            codes.setdefault(row["Drug"].strip().lower(), (row["RxNorm"].strip(), atc))
    return codes


@dataclass
class Person:
    patient: Patient
    mrn: str
    family: str
    given: str
    birth_date: dt.date
    consent_date: dt.date


@dataclass
class Order:
    patient: Patient
    order_id: str
    status: str
    drug: str
    rxnorm: str
    atc: str
    date: dt.date
    dose: str
    unit: str
    form: str
    route: str


def build_people(raw: dict, patients: list[Patient]) -> list[Person]:
    meta = raw["meta"]
    rng = random.Random(meta["seed"])
    base = dt.date.fromisoformat(meta["consent_base_date"])
    given, family = meta["given_names"], meta["family_names"]
    people = []
    for n, p in enumerate(patients):
        year = rng.randint(meta["birth_year_min"], meta["birth_year_max"])
        birth = dt.date(year, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
        people.append(Person(p, f"MRN{meta['mrn_start'] + n}", family[n % len(family)], given[n % len(given)],
                             birth, base + dt.timedelta(days=n)))
    return people


def build_orders(raw: dict, patients: list[Patient], codes: dict[str, tuple[str, str]]) -> list[Order]:
    base = dt.date.fromisoformat(raw["meta"]["order_base_date"])
    orders = []
    for p in patients:
        for m in p.medications:
            drug = m["drug"].lower()
            if drug not in codes:
                raise ScenarioError(f"{p.id}: drug {drug!r} not in {DRUGS_REL}")
            if m["status"] not in ("active", "proposed", "stopped"):
                raise ScenarioError(f"{p.id}: medication status must be active|proposed|stopped, got {m['status']!r}")
            dose = raw["drugs"].get(drug)
            if dose is None:
                raise ScenarioError(f"{p.id}: no [drugs.{drug}] dosing entry in the scenario file")
            n = len(orders) + 1
            orders.append(Order(p, f"ORD{n:04d}", m["status"], drug, *codes[drug], base + dt.timedelta(days=n),
                                dose["dose"], dose["unit"], dose["form"], dose["route"]))
    return orders


def csv_text(columns: tuple[str, ...], rows: list[dict[str, str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, delimiter=delimiter, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


PATIENT_COLUMNS = ("patient_id", "identifier_system", "identifier_value", "family", "given", "birth_date", "sex")
SAMPLE_COLUMNS = ("sample_id", "patient_id")
CONSENT_COLUMNS = ("patient_id", "return_results", "date")
MEDICATION_COLUMNS = ("patient_id", "status", "drug", "rxnorm", "atc", "order_id", "date")
MANIFEST_COLUMNS = ("sample_id", "patient_id", "vcf", "outside_calls", "expect")

HL7_SENDING = "SYNTH-EHR^SYNTH-HOSP"
HL7_RECEIVING = "EHRGEN^EHRGEN-PGX"
ROUTES = {"PO": "Oral", "IV": "Intravenous", "IH": "Inhalation"}
# order status -> (ORC-1 order control, ORC-5 order status); a proposal is sent as a new order held in
# "scheduled" state, a stopped one as a discontinue
ORC_CODES = {"active": ("NW", "IP"), "proposed": ("NW", "SC"), "stopped": ("DC", "DC")}


def _msh(meta: dict, msg_type: str, control_id: str) -> str:
    return "|".join(["MSH", "^~\\&", *HL7_SENDING.split("^"), *HL7_RECEIVING.split("^"), meta["message_time"], "",
                     msg_type, control_id, "P", "2.5.1"])


def _pid(meta: dict, person: Person) -> str:
    oid = meta["identifier_system"].removeprefix("urn:oid:")
    cx = f"{person.mrn}^^^{meta['assigning_authority']}&{oid}&ISO^MR"
    sex = {"female": "F", "male": "M"}[person.patient.sex]
    return "|".join(["PID", "1", "", cx, "", f"{person.family}^{person.given}^^^^^L", "",
                     person.birth_date.strftime("%Y%m%d"), sex])


def adt_a04(meta: dict, person: Person) -> str:
    segs = [
        _msh(meta, "ADT^A04^ADT_A01", f"ADT-{person.patient.id}"),
        f"EVN|A04|{meta['message_time']}",
        _pid(meta, person),
        "PV1|1|O",
    ]
    return "\r".join(segs) + "\r"


def rde_o11(meta: dict, person: Person, o: Order) -> str:
    control, status = ORC_CODES[o.status]
    when = o.date.strftime("%Y%m%d") + "0900"
    segs = [
        _msh(meta, "RDE^O11^RDE_O11", f"RDE-{o.order_id}"),
        _pid(meta, person),
        "PV1|1|O",
        "|".join(["ORC", control, f"{o.order_id}^SYNTH-EHR", "", "", status, "", "", "", when, "", "",
                  "9001^Prescriber^Test^^^^^^SYNTH-HOSP"]),
        "|".join(["RXE", f"^^^{o.date.strftime('%Y%m%d')}", f"{o.rxnorm}^{o.drug}^RXNORM", o.dose, "",
                  f"{o.unit}^{o.unit}^UCUM", o.form]),
        f"RXR|{o.route}^{ROUTES[o.route]}^HL70162",
    ]
    return "\r".join(segs) + "\r"


def _uuid(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'https://ehrgen.invalid/sample-data/{kind}/{key}')}"


def _number(text: str) -> int | float:
    f = float(text)
    return int(f) if f.is_integer() else f


SYNTHETIC_TAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
                 "display": "test health data"}


def fhir_bundle(meta: dict, people: list[Person], orders: list[Order]) -> dict:
    entries = []

    def add(resource: dict) -> None:
        rtype, rid = resource["resourceType"], resource["id"]
        entries.append({"fullUrl": _uuid(rtype, rid), "resource": resource,
                        "request": {"method": "PUT", "url": f"{rtype}/{rid}"}})

    for person in people:
        p = person.patient
        add({
            "resourceType": "Patient", "id": p.id, "meta": {"tag": [SYNTHETIC_TAG]},
            "identifier": [{
                "use": "usual",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": meta["identifier_system"], "value": person.mrn}],
            "name": [{"use": "official", "family": person.family, "given": [person.given]}],
            "gender": p.sex, "birthDate": person.birth_date.isoformat(),
        })
        add({
            "resourceType": "Consent", "id": f"consent-{p.id}", "meta": {"tag": [SYNTHETIC_TAG]},
            "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "treatment"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0",
                                      "display": "Patient Consent"}]}],
            "patient": {"reference": f"Patient/{p.id}"},
            "dateTime": person.consent_date.isoformat(),
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                       "code": "OPTIN" if p.consent else "OPTOUT"}]},
            "provision": {"type": "permit" if p.consent else "deny",
                          "code": [{"text": "Return of pharmacogenomic test results to the health record"}]},
        })
        # the sample -> patient link, so the bundle alone is enough to route VCF results to a patient
        add({
            "resourceType": "Specimen", "id": f"specimen-{p.sample}", "meta": {"tag": [SYNTHETIC_TAG]},
            "identifier": [{"system": f"{meta['identifier_system']}.3", "value": p.sample}],
            "status": "available",
            "type": {"coding": [{"system": "http://snomed.info/sct", "code": "119297000",
                                 "display": "Blood specimen"}]},
            "subject": {"reference": f"Patient/{p.id}"},
        })
    for o in orders:
        status, intent = {"active": ("active", "order"), "proposed": ("draft", "proposal"),
                          "stopped": ("stopped", "order")}[o.status]
        add({
            "resourceType": "MedicationRequest", "id": o.order_id, "meta": {"tag": [SYNTHETIC_TAG]},
            "identifier": [{"system": f"{meta['identifier_system']}.2", "value": o.order_id}],
            "status": status, "intent": intent,
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM_SYSTEM, "code": o.rxnorm, "display": o.drug},
                           {"system": ATC_SYSTEM, "code": o.atc}],
                "text": o.drug},
            "subject": {"reference": f"Patient/{o.patient.id}"},
            "authoredOn": o.date.isoformat(),
            "dosageInstruction": [{
                "text": f"{o.dose} {o.unit} {ROUTES[o.route].lower()}",
                "route": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0162", "code": o.route,
                                      "display": ROUTES[o.route]}]},
                "doseAndRate": [{"doseQuantity": {"value": _number(o.dose), "unit": o.unit,
                                                  "system": "http://unitsofmeasure.org", "code": o.unit}}]}],
        })
    return {"resourceType": "Bundle", "id": "ehrgen-sample-data", "meta": {"tag": [SYNTHETIC_TAG]},
            "type": "transaction", "entry": entries}


# --------------------------------------------------------------------------------------------------------------
# write everything
# --------------------------------------------------------------------------------------------------------------

GENERATED_DIRS = ("vcf", "outside_calls", "clinical")


def generate(out: Path, reference: Path = DEFAULT_REFERENCE, scenarios: Path = SCENARIOS) -> list[str]:
    """Write the sample data set into `out`; returns the relative paths written (sorted)."""
    raw, patients = load_scenarios(scenarios)
    meta = raw["meta"]
    gdefs = {g: load_gene(reference, g) for g in GENES}
    rows = expected_rows(gdefs, patients)  # fails before anything is written if a scenario is inconsistent
    codes = load_drug_codes(reference)
    people = build_people(raw, patients)
    orders = build_orders(raw, patients, codes)

    out.mkdir(parents=True, exist_ok=True)
    for d in GENERATED_DIRS:
        if (out / d).exists():
            shutil.rmtree(out / d)
    written: list[str] = []

    def write(rel: str, text: str) -> Path:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        written.append(rel)
        return path

    # VCFs, grouped by file in scenario order
    by_file: dict[str, list[Patient]] = {}
    for p in patients:
        by_file.setdefault(p.vcf, []).append(p)
    notes: list[str] = []
    for name, group in by_file.items():
        text = vcf_text(gdefs, group, meta["file_date"])
        if any(p.malformed for p in group):
            write(f"vcf/{name}", malformed(text))
        elif name.endswith(".vcf.gz"):
            tmp = out / "vcf" / name.removesuffix(".gz")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text)
            if bgzip_and_index(tmp, out / "vcf" / name):
                written += [f"vcf/{name}", f"vcf/{name}.tbi"]
            else:
                notes.append(f"vcf/{name}: neither pysam nor bgzip/tabix installed; not written")
            tmp.unlink()
        else:
            write(f"vcf/{name}", text)

    for p in patients:
        if p.outside_calls:
            lines = ["# outside calls (PharmCAT format: gene, diplotype, phenotype, activity score); synthetic"]
            lines += ["\t".join(r).rstrip("\t") for r in p.outside_calls]
            write(f"outside_calls/{p.sample}.tsv", "\n".join(lines) + "\n")

    write("manifest.csv", csv_text(MANIFEST_COLUMNS, [
        dict(sample_id=p.sample, patient_id=p.id, vcf=f"vcf/{p.vcf}",
             outside_calls=f"outside_calls/{p.sample}.tsv" if p.outside_calls else "",
             expect="input_error" if p.malformed else "ok")
        for p in patients]))

    write("clinical/patients.csv", csv_text(PATIENT_COLUMNS, [
        dict(patient_id=x.patient.id, identifier_system=meta["identifier_system"], identifier_value=x.mrn,
             family=x.family, given=x.given, birth_date=x.birth_date.isoformat(), sex=x.patient.sex)
        for x in people]))
    write("clinical/samples.csv", csv_text(SAMPLE_COLUMNS, [dict(sample_id=p.sample, patient_id=p.id)
                                                           for p in patients]))
    write("clinical/consent.csv", csv_text(CONSENT_COLUMNS, [
        dict(patient_id=x.patient.id, return_results="true" if x.patient.consent else "false",
             date=x.consent_date.isoformat()) for x in people]))
    write("clinical/medications.csv", csv_text(MEDICATION_COLUMNS, [
        dict(patient_id=o.patient.id, status=o.status, drug=o.drug, rxnorm=o.rxnorm, atc=o.atc, order_id=o.order_id,
             date=o.date.isoformat()) for o in orders]))
    person_of = {x.patient.id: x for x in people}
    for x in people:
        write(f"clinical/hl7/adt_{x.patient.id}.hl7", adt_a04(meta, x))
    for o in orders:
        write(f"clinical/hl7/rde_{o.order_id}.hl7", rde_o11(meta, person_of[o.patient.id], o))
    write("clinical/fhir/bundle.json", json.dumps(fhir_bundle(meta, people, orders), indent=2) + "\n")

    write("expected/calls.tsv", csv_text(EXPECTED_COLUMNS, rows, delimiter="\t"))

    write("README.md", readme_text(patients, orders, rows))

    written.sort()
    write("GENERATED.json", json.dumps({
        "generator": "tools/gen_sample_data.py",
        "scenarios": "sample_data/scenarios.toml",
        "scenarios_sha256": hashlib.sha256(scenarios.read_bytes()).hexdigest(),
        "sources": SOURCE_NOTE,
        "allele_definitions": {g: _definition_version(reference, g) for g in GENES},
        "seed": meta["seed"],
        "files": written,
    }, indent=2) + "\n")
    for n in notes:
        print(f"warning: {n}", file=sys.stderr)
    return sorted(written)


def readme_text(patients: list[Patient], orders: list[Order], rows: list[dict[str, str]]) -> str:
    """sample_data/README.md: the layout and the patient table, generated so it never drifts from the data."""
    calls: dict[str, list[str]] = {}
    for r in rows:
        if r["source"] in ("engineered", "outside_call"):
            label = r["diplotypes"] or r["phenotype"]
            suffix = " (ambiguous)" if r["status"] == "ambiguous" else " (outside call)" \
                if r["status"] == "outside_call" else ""
            calls.setdefault(r["sample"], []).append(
                "input error" if r["gene"] == "ALL" else f"{r['gene']} {label}{suffix}")
    meds: dict[str, list[str]] = {}
    for o in orders:
        meds.setdefault(o.patient.id, []).append(f"{o.drug} ({o.status})")
    lines = [
        "# Synthetic sample data",
        "",
        "Generated by `tools/gen_sample_data.py` from `scenarios.toml` (do not edit generated files by hand;",
        "change the scenarios and re-run the generator). Every person here is invented. Details, conventions",
        "and how to add a patient: [docs/sample-data.md](../docs/sample-data.md).",
        "",
        "```",
        "sample_data/",
        "  scenarios.toml              source of truth: patients, engineered diplotypes, medications, consent",
        "  manifest.csv                sample_id, patient_id, vcf, outside_calls, expect (ok | input_error)",
        "  vcf/*.vcf                   one sample per file (GRCh38, chr-prefixed, PharmCAT positions)",
        "  vcf/multisample.vcf         several samples in one file",
        "  vcf/*.vcf.gz + .tbi         bgzipped and tabix-indexed",
        "  outside_calls/<sample>.tsv  PharmCAT outside-call format (CYP2D6, HLA-B)",
        "  clinical/*.csv              patients, samples, consent, medications",
        "  clinical/hl7/               adt_<patient>.hl7 (ADT^A04), rde_<order>.hl7 (RDE^O11), v2.5.1, \\r",
        "  clinical/fhir/bundle.json   R4 transaction Bundle: Patient, Consent, Specimen, MedicationRequest",
        "  expected/calls.tsv          engineered diplotypes per sample and gene (the test oracle)",
        "  GENERATED.json              generator, sources, definition versions, seed, file list",
        "```",
        "",
        "| patient | sample | VCF | engineered calls | medications | consent |",
        "|---|---|---|---|---|---|",
    ]
    for p in patients:
        lines.append(f"| {p.id} | {p.sample} | {p.vcf} | {'; '.join(calls.get(p.sample, [])) or 'all reference'} | "
                     f"{', '.join(meds.get(p.id, [])) or '-'} | {'yes' if p.consent else 'NO'} |")
    lines += ["", "Notes per patient:", ""]
    lines += [f"- {p.id}: {p.note}" for p in patients]
    head = lines.index("| patient | sample | VCF | engineered calls | medications | consent |")
    # star-allele names would turn into emphasis in the Markdown table and notes
    lines[head:] = [ln.replace("*", "\\*") for ln in lines[head:]]
    return "\n".join(lines) + "\n"


def _definition_version(reference: Path, gene: str) -> str:
    d = json.loads((reference / DEFINITIONS_REL / f"{gene}_translation.json").read_text())
    return f"{d.get('source')} {d.get('version')}"


# --------------------------------------------------------------------------------------------------------------
# --refresh-expected: compare with the project's own caller / rules engine, never overwrite silently
# --------------------------------------------------------------------------------------------------------------


def _ehrgen() -> str | None:
    local = Path(sys.executable).parent / "ehrgen"
    return str(local) if local.exists() else shutil.which("ehrgen")


def _command_help(exe: str, name: str) -> str | None:
    r = subprocess.run([exe, name, "--help"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def _has_command(exe: str, name: str) -> bool:
    return _command_help(exe, name) is not None


def refresh_expected(data: Path) -> int:
    """Run `ehrgen call` (and `ehrgen interpret` when present) on the sample data, write the engine's view to
    expected/calls.caller.tsv and expected/recommendations.tsv, and list every disagreement with the engineered
    expected/calls.tsv in expected/refresh_report.md. Returns the number of disagreements."""
    import tempfile

    exe = _ehrgen()
    if exe is None or not _has_command(exe, "call"):
        print("refresh: no `ehrgen call` command yet; expected/calls.tsv left as engineered", file=sys.stderr)
        return 0
    with open(data / "manifest.csv", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    with open(data / "expected" / "calls.tsv", newline="") as fh:
        expected = {(r["sample"], r["gene"]): r for r in csv.DictReader(fh, delimiter="\t")}
    report: list[str] = []
    caller_rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        calls_dir = Path(tmp) / "calls"
        for vcf in sorted({r["vcf"] for r in manifest}):
            rows = [r for r in manifest if r["vcf"] == vcf]
            cmd = [exe, "call", str(data / vcf), "--out", str(calls_dir), "--outside-calls", str(data / "outside_calls")]
            res = subprocess.run(cmd, capture_output=True, text=True)
            should_fail = all(r["expect"] == "input_error" for r in rows)
            if (res.returncode != 0) != should_fail:
                report.append(f"- `{vcf}`: exit {res.returncode}, expected "
                              f"{'failure' if should_fail else 'success'}: {res.stderr.strip()[-300:]}")
        for r in manifest:
            f = calls_dir / f"{r['sample_id']}.calls.json"
            if not f.exists():
                continue
            genes = json.loads(f.read_text())["genes"]
            for gene, c in genes.items():
                text = " OR ".join(
                    d["allele1"] if d.get("allele2") is None else f"{d['allele1']}/{d['allele2']}"
                    for d in c.get("diplotypes", []))
                caller_rows.append(dict(sample=r["sample_id"], gene=gene, diplotypes=text, status=c.get("status", ""),
                                        phenotype=c.get("phenotype") or "", activity_score=c.get("activity_score") or ""))
                want = expected.get((r["sample_id"], gene))
                if want and (want["diplotypes"] != text or want["status"] != c.get("status")):
                    report.append(f"- {r['sample_id']} {gene}: expected `{want['diplotypes']}` ({want['status']}), "
                                  f"caller `{text}` ({c.get('status')})")
        for (sample, gene), want in expected.items():
            if gene != "ALL" and not any(x["sample"] == sample and x["gene"] == gene for x in caller_rows) \
                    and (calls_dir / f"{sample}.calls.json").exists():
                report.append(f"- {sample} {gene}: expected `{want['diplotypes']}`, caller reported nothing")
        (data / "expected" / "calls.caller.tsv").write_text(csv_text(
            ("sample", "gene", "diplotypes", "status", "phenotype", "activity_score"), caller_rows, delimiter="\t"))
        interpret_help = _command_help(exe, "interpret")
        if interpret_help is not None:
            rec_dir = Path(tmp) / "recs"
            cmd = [exe, "interpret", str(calls_dir), "--out", str(rec_dir)]
            if "--clinical" in interpret_help:  # reactive alerts for each patient's medications
                cmd += ["--clinical", str(data / "clinical")]
            res = subprocess.run(cmd, capture_output=True, text=True)
            produced = rec_dir / "recommendations.tsv"
            if res.returncode == 0 and produced.exists():
                for name in ("recommendations.tsv", "alerts.tsv"):
                    if not (rec_dir / name).exists():
                        continue
                    target = data / "expected" / name
                    if target.exists() and target.read_text() != (rec_dir / name).read_text():
                        report.append(f"- expected/{name} changed (review with git diff)")
                    shutil.copyfile(rec_dir / name, target)
            else:
                report.append(f"- `ehrgen interpret` failed (exit {res.returncode}): {res.stderr.strip()[-300:]}")
        else:
            report.append("- no `ehrgen interpret` command yet: expected/recommendations.tsv not written")
    body = "# Refresh report\n\nEngineered expectations (expected/calls.tsv) versus `ehrgen call`. " \
           "Nothing in calls.tsv was changed.\n\n" + ("\n".join(report) if report else "No differences.") + "\n"
    (data / "expected" / "refresh_report.md").write_text(body)
    print(body)
    return sum(1 for line in report if line.startswith("- "))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "sample_data", help="output folder (default: sample_data/)")
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="shared/reference folder")
    ap.add_argument("--scenarios", type=Path, default=SCENARIOS)
    ap.add_argument("--refresh-expected", action="store_true",
                    help="after generating, run ehrgen call/interpret and report differences")
    args = ap.parse_args(argv)
    try:
        files = generate(args.out, args.reference, args.scenarios)
    except (ScenarioError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files to {args.out}", file=sys.stderr)
    if args.refresh_expected:
        diffs = refresh_expected(args.out)
        print(f"refresh: {diffs} difference(s); see {args.out / 'expected' / 'refresh_report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
