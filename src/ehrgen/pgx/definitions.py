"""Gene definitions loaded from the project's tables (mappings/genes/*.json), compiled for fast matching.

Alleles at a position are encoded as small integer codes: 0 = the definition's REF, 1.. = its ALTs, in the
order of the definition. A named allele's requirement at a position is a bitmask of acceptable codes
(IUPAC ambiguity codes in the definitions accept several bases); an undefined cell accepts only the
reference allele's code but does not count towards the allele's score (PharmCAT semantics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ehrgen.paths import mappings_dir

IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}


def canonical(ref: str, alt: str) -> tuple[int, str, str]:
    """Trim shared suffix then shared prefix (keeping one anchor base) so equivalent representations of
    the same indel at the same start compare equal, e.g. CAT>CATAT and C>CAT."""
    r, a = ref.upper(), alt.upper()
    while len(r) > 1 and len(a) > 1 and r[-1] == a[-1]:
        r, a = r[:-1], a[:-1]
    off = 0
    while len(r) > 1 and len(a) > 1 and r[0] == a[0]:
        r, a, off = r[1:], a[1:], off + 1
    return off, r, a


@dataclass
class PositionDef:
    pos: int
    rsid: str | None
    ref: str
    alts: list[str]
    hgvs: str | None = None
    alleles: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.alleles = [self.ref, *self.alts]

    def code_of(self, vcf_ref: str, vcf_allele: str) -> int:
        """Definition code of a VCF allele at this position; -2 when the allele is not in the definition."""
        if vcf_allele == vcf_ref:
            return 0
        key = canonical(vcf_ref, vcf_allele)
        for i, alt in enumerate(self.alts, start=1):
            if canonical(self.ref, alt) == key:
                return i
        return -2


@dataclass
class NamedAllele:
    name: str
    reference: bool
    structural_variant: bool
    masks: np.ndarray  # uint16 per position: acceptable codes
    defined: np.ndarray  # bool per position: counts towards score
    function: str | None = None
    activity_value: str | None = None
    ignored_defined: int = 0  # exempted positions PharmCAT still counts in the score
    display_name: str = ""  # the name calls are reported (and looked up) by: a sub-allele's core allele
    ambiguous: np.ndarray | None = None  # bool per position: an IUPAC ambiguity code (scored per sample)

    def __post_init__(self) -> None:
        self.display_name = self.display_name or self.name
        if self.ambiguous is None:
            self.ambiguous = np.zeros(len(self.defined), dtype=bool)


@dataclass
class GeneDefinition:
    gene: str
    chromosome: str | None
    call_mode: str  # star | variant_list | outside_only
    positions: list[PositionDef]
    alleles: list[NamedAllele]
    undocumented_as_reference: bool
    activity_gene: bool
    haploid_capable: bool
    unphased_priorities: list[dict]
    phenotypes: dict[str, list]  # "a/b" (sorted) -> [phenotype, activity score]
    functions: dict[str, dict]
    phenotypes_dpwg: dict[str, list] = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    special: dict = field(default_factory=dict)
    required_positions: list[int] = field(default_factory=list)
    masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.uint16))
    defined: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    score_bonus: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ambiguous: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))

    @property
    def reference_allele(self) -> NamedAllele:
        return next(a for a in self.alleles if a.reference)

    def phenotype_of(self, names: list[str]) -> tuple[str | None, str | None]:
        key = "/".join(sorted(names))
        hit = self.phenotypes.get(key)
        if hit is None:
            return None, None
        return hit[0], hit[1]


def _mask_for(base: str | None, pdef: PositionDef, ref_base: str) -> tuple[int, bool, bool]:
    """(acceptable codes, defined cell, ambiguity-code cell)."""
    if base is None:
        base, defined = ref_base, False
    else:
        defined = True
    alleles = pdef.alleles
    mask = 0
    ambiguous = False
    if base in alleles:
        mask |= 1 << alleles.index(base)
    elif len(base) == 1 and base in IUPAC:
        for b in IUPAC[base]:
            if b in alleles:
                mask |= 1 << alleles.index(b)
        # PharmCAT scores an ambiguity-code cell only where the sample's base there is not the reference
        # (the matcher adds it per strand): it is kept apart from the plain defined cells
        defined, ambiguous = False, True
    return mask, defined, ambiguous


def compile_gene(data: dict) -> GeneDefinition:
    positions = [PositionDef(p["pos"], p.get("rsid"), p["ref"], list(p["alts"]), p.get("hgvs"))
                 for p in data.get("positions", [])]
    pheno = data.get("phenotypes") or {}
    functions = pheno.get("functions", {})
    raw_alleles = data.get("alleles", [])
    ref_raw = next((a for a in raw_alleles if a.get("reference")), None)
    alleles: list[NamedAllele] = []
    for a in raw_alleles:
        masks = np.zeros(len(positions), dtype=np.uint16)
        defined = np.zeros(len(positions), dtype=bool)
        ambiguous = np.zeros(len(positions), dtype=bool)
        for i, pdef in enumerate(positions):
            ref_base = ref_raw["bases"][i] if ref_raw else pdef.ref
            masks[i], defined[i], ambiguous[i] = _mask_for(a["bases"][i], pdef, ref_base)
        display = a.get("display_name") or a["name"]
        fn = functions.get(display, {})
        alleles.append(NamedAllele(a["name"], bool(a.get("reference")), bool(a.get("structural_variant")),
                                   masks, defined, fn.get("function"), fn.get("activity_value"),
                                   int(a.get("ignored_defined", 0)), display, ambiguous))
    gd = GeneDefinition(
        gene=data["gene"],
        chromosome=data.get("chromosome"),
        call_mode=data["call_mode"],
        positions=positions,
        alleles=alleles,
        undocumented_as_reference=bool(data.get("undocumented_as_reference")),
        activity_gene=bool(data.get("activity_gene")),
        haploid_capable=bool(data.get("haploid_capable")),
        unphased_priorities=data.get("unphased_priorities", []),
        phenotypes=pheno.get("diplotypes", {}),
        functions=functions,
        phenotypes_dpwg=(data.get("phenotypes_dpwg") or {}).get("diplotypes", {}),
        source=data.get("source", {}),
        special=data.get("special", {}),
        required_positions=list(data.get("required_positions", [])),
    )
    if alleles:
        gd.masks = np.stack([a.masks for a in alleles])
        gd.defined = np.stack([a.defined for a in alleles])
        gd.ambiguous = np.stack([a.ambiguous for a in alleles])
        gd.score_bonus = np.array([a.ignored_defined for a in alleles], dtype=np.int64)
    return gd


@dataclass
class Definitions:
    version: str
    genes: dict[str, GeneDefinition]

    @property
    def vcf_genes(self) -> list[str]:
        return [g for g, d in self.genes.items() if d.call_mode != "outside_only"]


@lru_cache(maxsize=4)
def load_definitions(directory: Path | None = None) -> Definitions:
    gdir = (directory or mappings_dir()) / "genes"
    meta = json.loads((gdir / "VERSION.json").read_text())
    genes = {}
    for gene in meta["genes"]:
        genes[gene] = compile_gene(json.loads((gdir / f"{gene}.json").read_text()))
    return Definitions(version=meta["mappings_version"], genes=genes)
