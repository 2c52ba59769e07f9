"""Build small VCFs from the project's allele definitions, for tests."""

from __future__ import annotations

from pathlib import Path

from ehrgen.pgx.definitions import IUPAC, GeneDefinition, load_definitions

GRCH38 = {"chr1": 248956422, "chr2": 242193529, "chr4": 190214555, "chr6": 170805979, "chr7": 159345973,
          "chr8": 145138636, "chr10": 133797422, "chr12": 133275309, "chr13": 114364328, "chr16": 90338345,
          "chr19": 58617616, "chr22": 50818468, "chrX": 156040895}


def allele_bases(gd: GeneDefinition, name: str) -> list[str]:
    """Concrete VCF allele per position for a named allele (undefined cells = the reference allele)."""
    ref = gd.reference_allele
    target = next(a for a in gd.alleles if a.name == name)
    out = []
    for i, pdef in enumerate(gd.positions):
        mask = int(target.masks[i])
        code = (mask & -mask).bit_length() - 1  # lowest acceptable code
        out.append(pdef.alleles[code])
    return out


def header(samples: list[str], chr_prefix: bool = True, extra: list[str] | None = None,
           lengths: dict[str, int] | None = None) -> str:
    lines = ["##fileformat=VCFv4.2", "##reference=GRCh38"]
    for c, n in (lengths or GRCH38).items():
        cid = c if chr_prefix else c[3:]
        lines.append(f"##contig=<ID={cid},length={n}>")
    lines += [
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End of block">',
        '##FILTER=<ID=LowQual,Description="Low quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">',
    ]
    lines += extra or []
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples))
    return "\n".join(lines) + "\n"


def gene_records(gene: str, genotypes: list[tuple[str, str | None]], phased: bool = False,
                 chr_prefix: bool = True, drop: set[int] | None = None,
                 override: dict[int, list[str]] | None = None) -> list[str]:
    """One record per definition position; genotypes = per sample (allele1, allele2|None for haploid).

    `override` gives raw GT strings per position for each sample; `drop` omits positions."""
    gd = load_definitions().genes[gene]
    bases = {}
    for a1, a2 in genotypes:
        for n in (a1, a2):
            if n is not None and n not in bases:
                bases[n] = allele_bases(gd, n)
    chrom = gd.chromosome if chr_prefix else gd.chromosome[3:]
    recs = []
    for i, pdef in enumerate(gd.positions):
        if drop and pdef.pos in drop:
            continue
        alleles = pdef.alleles
        gts = []
        for j, (a1, a2) in enumerate(genotypes):
            if override and pdef.pos in override:
                gts.append(override[pdef.pos][j])
                continue
            c1 = alleles.index(bases[a1][i])
            if a2 is None:
                gts.append(str(c1))
            else:
                c2 = alleles.index(bases[a2][i])
                gts.append(f"{c1}{'|' if phased else '/'}{c2}")
        fmt = "GT:PS" if phased else "GT"
        if phased:
            gts = [f"{g}:{gd.positions[0].pos}" if "|" in g else f"{g}:." for g in gts]
        recs.append("\t".join([chrom, str(pdef.pos), pdef.rsid or ".", pdef.ref, ",".join(pdef.alts), ".", "PASS",
                               ".", fmt, *gts]))
    return recs


def write_vcf(path: Path, samples: list[str], records: list[str], **kw) -> Path:
    def key(r: str):
        c, p = r.split("\t")[:2]
        c = c[3:] if c.startswith("chr") else c
        return (int(c) if c.isdigit() else 100, int(p))
    path.write_text(header(samples, **kw) + "\n".join(sorted(records, key=key)) + "\n")
    return path
