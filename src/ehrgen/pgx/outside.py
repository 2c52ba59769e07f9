"""Outside calls (PharmCAT's outside-call TSV: GENE, diplotype, phenotype, activity score) -> GeneCalls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ehrgen.errors import InputError
from ehrgen.pgx.definitions import Definitions, GeneDefinition
from ehrgen.pgx.model import Diplotype, GeneCall


@dataclass
class OutsideCall:
    gene: str
    diplotype: str | None
    phenotype: str | None
    activity_score: str | None
    line: int


def parse_outside_calls(path: Path | str, definitions: Definitions) -> dict[str, OutsideCall]:
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "outside-call file not found")
    calls: dict[str, OutsideCall] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        gene = cols[0].upper()
        if gene not in definitions.genes:
            raise InputError(str(path), f"unknown gene {cols[0]!r} (expected one of "
                                        f"{', '.join(sorted(definitions.genes))})", line=n)
        vals = (cols + ["", "", ""])[1:4]
        dip, pheno, score = (v or None for v in vals)
        if not (dip or pheno or score):
            raise InputError(str(path), "expected a diplotype, phenotype or activity score after the gene",
                             line=n)
        if gene in calls:
            raise InputError(str(path), f"gene {gene} given twice", line=n)
        calls[gene] = OutsideCall(gene, dip, pheno, _norm_score(score, path, n) if score else None, n)
    return calls


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
