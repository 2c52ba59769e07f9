"""Outside calls (PharmCAT's outside-call TSV: GENE, diplotype, phenotype, activity score) -> GeneCalls."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ehrgen.errors import InputError
from ehrgen.pgx.definitions import Definitions, GeneDefinition
from ehrgen.pgx.model import INDETERMINATE, Diplotype, GeneCall

log = logging.getLogger(__name__)


# HLA allele names: *57:01, *57:01:01, *57:01:01:02, optional expression suffix (N, L, S, C, A, Q)
HLA_ALLELE = re.compile(r"^\*\d{2,3}(:\d{2,3}){1,3}[NLSCAQ]?$")
HLA_STATUS = re.compile(r"^\*\d{2,3}:\d{2,3} (positive|negative)$", re.I)
_COPIES = re.compile(r"^(.*)x(\d+)$")


@dataclass
class OutsideCall:
    """One gene's outside call. Several rows for one gene are tied diplotypes (how outside callers report
    ambiguity): the first row here, the others in `ties`. `error` says why the call cannot be used (never
    quoting the genotype); outside_gene_call then makes the gene not_called, so its drugs are indeterminate."""

    gene: str
    diplotype: str | None
    phenotype: str | None
    activity_score: str | None
    line: int
    ties: list["OutsideCall"] = field(default_factory=list)
    error: str | None = None

    @property
    def rows(self) -> list["OutsideCall"]:
        return [self, *self.ties]


def parse_outside_calls(path: Path | str, definitions: Definitions) -> dict[str, OutsideCall]:
    """gene -> OutsideCall. A file that cannot be read, an unknown gene or an empty row is an InputError
    (names the line); a row whose content is invalid for its gene is an error of that gene only."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "outside-call file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text (expected PharmCAT's outside-call TSV)") from None
    calls: dict[str, OutsideCall] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        gene = cols[0].upper()
        if gene not in definitions.genes:
            raise InputError(str(path), f"unknown gene in column 1 (expected one of "
                                        f"{', '.join(sorted(definitions.genes))})", line=n)
        vals = (cols + ["", "", ""])[1:4]
        dip, pheno, score = (v or None for v in vals)
        if not (dip or pheno or score):
            raise InputError(str(path), "expected a diplotype, phenotype or activity score after the gene",
                             line=n)
        if len(cols) > 4 and any(cols[4:]):
            raise InputError(str(path), "more than 4 columns (gene, diplotype, phenotype, activity score)",
                             line=n)
        gd = definitions.genes[gene]
        error = None
        try:
            norm_score = _norm_score(score, path, n) if score else None
        except InputError:
            norm_score, error = None, "activity score is not a number"
        row = OutsideCall(gene, _canonical_diplotype(dip, gd) if dip else None,
                          _canonical_phenotype(pheno, gd) if pheno else None, norm_score, n)
        row.error = error or _row_problem(row, gd, raw_diplotype=dip, raw_phenotype=pheno)
        if row.error:
            row.error = f"{path.name} line {n}: {row.error}"
        if gene in calls:  # another row for the gene: a tied diplotype
            first = calls[gene]
            first.ties.append(row)
            if row.error and not first.error:
                first.error = row.error
        else:
            calls[gene] = row
    return calls


def _strip_gene(name: str, gene: str) -> str:
    """'CYP2D6*4' -> '*4', 'HLA-B*57:01' -> '*57:01' (outside callers often write the gene in front)."""
    n = name.strip()
    if n.upper().startswith(gene.upper()) and n[len(gene):len(gene) + 1] in ("*", " "):
        n = n[len(gene):].strip()
    return n


def _known_alleles(gd: GeneDefinition) -> set[str]:
    return set(gd.functions) | {a.name for a in gd.alleles}


def _canonical_allele(name: str, gd: GeneDefinition) -> str:
    n = _strip_gene(name, gd.gene)
    known = _known_alleles(gd)
    if n in known or not known or f"m.{n}" in known:  # MT-RNR1 '1555A>G' stays as written (table lookup adds m.)
        return n
    m = _COPIES.match(n)  # CYP2D6 '*1x3' is PharmCAT's '*1x≥3'
    if m and int(m.group(2)) >= 3 and f"{m.group(1)}x≥3" in known:
        return f"{m.group(1)}x≥3"
    return n


def _canonical_diplotype(dip: str, gd: GeneDefinition) -> str:
    parts = dip.split("/")
    if any(not p.strip() for p in parts):
        return dip  # left as given: the grammar check reports it
    return "/".join(_canonical_allele(p, gd) for p in parts)


def _phenotype_terms(gd: GeneDefinition) -> dict[str, str]:
    terms = {v[0] for v in gd.phenotypes.values() if v and v[0]}
    terms |= {v[0] for v in gd.phenotypes_dpwg.values() if v and v[0]}
    terms.add(INDETERMINATE)
    return {t.lower(): t for t in terms}


def _canonical_phenotype(pheno: str, gd: GeneDefinition) -> str:
    t = " ".join(pheno.split())
    hit = _phenotype_terms(gd).get(t.lower())
    return hit or t


def _row_problem(row: OutsideCall, gd: GeneDefinition, raw_diplotype: str | None,
                 raw_phenotype: str | None) -> str | None:
    """Why this row is not a valid outside call for the gene (no genotype quoted), or None."""
    gene = gd.gene
    is_hla = gene.startswith("HLA-")
    if row.diplotype:
        parts = row.diplotype.split("/")
        if len(parts) > 2 or any(not p.strip() for p in parts):
            return (f"{gene} diplotype is not 'allele/allele' (or one allele): "
                    f"{len(parts)} part(s), {sum(not p.strip() for p in parts)} empty")
        if any(c in row.diplotype for c in ",;|+") or any(" " in p.strip() and not is_hla and
                                                          p.strip() not in _known_alleles(gd) for p in parts):
            return f"{gene} diplotype has characters an allele name cannot have (expected 'allele/allele')"
        for k, p in enumerate(parts, 1):
            if is_hla:
                if not HLA_ALLELE.match(p):
                    return (f"{gene} allele {k} of the diplotype is not an HLA allele name "
                            "(expected *NN:NN, *NN:NN:NN or *NN:NN:NN:NN, optional N/L/S/C/A/Q suffix)")
            elif p not in _known_alleles(gd) and f"m.{p}" not in _known_alleles(gd):
                return f"{gene} allele {k} of the diplotype is not a {gene} allele in the definitions"
    if row.phenotype:
        if is_hla:
            if not HLA_STATUS.match(row.phenotype):
                return f"{gene} phenotype is not an allele status (expected '*NN:NN positive' or '*NN:NN negative')"
        elif row.phenotype not in _phenotype_terms(gd).values():
            allowed = sorted(_phenotype_terms(gd).values())
            shown = ", ".join(allowed[:12]) + (" ..." if len(allowed) > 12 else "")
            return f"{gene} phenotype is not a term of the {gene} phenotype table (expected one of: {shown})"
    if row.activity_score:
        scores = {v[1] for v in gd.phenotypes.values() if v and v[1]}
        if not gd.activity_gene or not scores:
            return f"{gene} has no activity score in the CPIC tables"
        if row.activity_score not in scores:
            return f"{gene} activity score is not a value of the CPIC {gene} table"
    return None


def _norm_score(value: str, path: Path, line: int) -> str:
    v = value.replace("≥", "")
    try:
        f = float(v)
    except ValueError:
        raise InputError(str(path), f"activity score {value!r} is not a number", line=line) from None
    return ("≥" if value.startswith("≥") else "") + f"{f:.1f}"


def _diplotype_names(dip: str) -> list[str]:
    return [p.strip() for p in dip.split("/")] if "/" in dip else [dip.strip()]


def _table_lookup(table: dict[str, list], names: list[str]) -> tuple[str | None, str | None]:
    for variant in (names, [n if n.startswith(("m.", "*")) or n == "Reference" else f"m.{n}" for n in names]):
        hit = table.get("/".join(sorted(variant)))
        if hit:
            return hit[0], hit[1]
    return None, None


def outside_gene_call(call: OutsideCall, gd: GeneDefinition) -> GeneCall:
    """The GeneCall for an outside call: one row as given; several rows as tied diplotypes (phenotype
    Indeterminate when they disagree); an invalid call as not_called with the reason."""
    if call.error:
        log.warning("outside call rejected: %s", call.error)  # the reason names no genotype
        return GeneCall(gene=gd.gene, status="not_called", source="outside",
                        warnings=[f"{gd.gene}: outside call rejected ({call.error}); the gene is not called"])
    if call.ties:
        return _tied_gene_call(call, gd)
    return _single_gene_call(call, gd)


def _tied_gene_call(call: OutsideCall, gd: GeneDefinition) -> GeneCall:
    singles = [_single_gene_call(r, gd) for r in call.rows]
    diplotypes: list[Diplotype] = []
    for r, gc in zip(call.rows, singles):
        if gc.diplotypes:
            d = gc.diplotypes[0]
            d.phenotype, d.activity_score = gc.phenotype, gc.activity_score
            if d.name not in {x.name for x in diplotypes}:
                diplotypes.append(d)
    phenos = {gc.phenotype for gc in singles}
    scores = {gc.activity_score for gc in singles}
    phenotype = phenos.pop() if len(phenos) == 1 else INDETERMINATE
    score = scores.pop() if len(scores) == 1 else None
    warnings = [w for gc in singles for w in gc.warnings]
    warnings.append(f"{gd.gene}: {len(call.rows)} outside-call rows: reported as tied diplotypes"
                    + ("" if phenotype != INDETERMINATE else " with different phenotypes (Indeterminate)"))
    gc = GeneCall(gene=gd.gene, status="outside_call", diplotypes=diplotypes, phenotype=phenotype,
                  activity_score=score, source="outside", warnings=warnings)
    lookup: dict[str, str] = {}
    if phenotype and phenotype != INDETERMINATE:
        lookup["phenotype"] = phenotype
        if score:
            lookup["activity_score"] = score
    gc.lookup = lookup
    return gc


def _single_gene_call(call: OutsideCall, gd: GeneDefinition) -> GeneCall:
    warnings: list[str] = []
    diplotypes: list[Diplotype] = []
    table_pheno = table_score = None
    if call.diplotype:
        names = _diplotype_names(call.diplotype)
        table_pheno, table_score = _table_lookup(gd.phenotypes, names)
        fns = [gd.functions.get(n, {}) for n in names]
        diplotypes.append(Diplotype(
            allele1=names[0], allele2=names[1] if len(names) > 1 else None,
            functions=[f.get("function") for f in fns], activity_values=[f.get("activity_value") for f in fns],
            phenotype=table_pheno, activity_score=table_score))
    phenotype = call.phenotype or table_pheno
    score = call.activity_score or table_score
    if call.activity_score and gd.activity_gene:
        by_score = {v[1]: v[0] for v in gd.phenotypes.values() if v[1]}
        score_pheno = by_score.get(call.activity_score)
        if score_pheno and call.phenotype and score_pheno.lower() != call.phenotype.lower():
            warnings.append(f"{gd.gene}: outside phenotype {call.phenotype!r} does not match activity score "
                            f"{call.activity_score} ({score_pheno}); the activity score is used")
        phenotype = score_pheno or phenotype
        if table_score and table_score != call.activity_score:
            warnings.append(f"{gd.gene}: outside activity score {call.activity_score} differs from the CPIC value "
                            f"{table_score} for {call.diplotype}")
    elif call.phenotype and table_pheno and call.phenotype.lower() != table_pheno.lower():
        warnings.append(f"{gd.gene}: outside phenotype {call.phenotype!r} differs from the CPIC phenotype "
                        f"{table_pheno!r} for {call.diplotype}; the outside phenotype is used")
    if call.diplotype and not table_pheno and gd.phenotypes and not call.phenotype:
        warnings.append(f"{gd.gene}: no CPIC phenotype for outside diplotype {call.diplotype}")
    gc = GeneCall(gene=gd.gene, status="outside_call", diplotypes=diplotypes, phenotype=phenotype,
                  activity_score=score, source="outside", warnings=warnings)
    lookup = {}
    if phenotype:
        lookup["phenotype"] = phenotype
    if score:
        lookup["activity_score"] = score
    if call.diplotype:
        lookup["diplotype"] = call.diplotype
    gc.lookup = lookup
    return gc
