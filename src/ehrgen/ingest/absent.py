"""`--absent-is-reference` (setting `calling.absent_is_reference`, off by default).

A joint-called cohort VCF lists only the sites where someone in the cohort carries a variant; a PGx position
absent from such a file is homozygous reference for everyone (the sparse 1000 Genomes extract has 224 of
1,202 positions). PharmCAT's preprocessor has the same opt-in (`--absent-to-ref`, "DANGEROUS!"): it is only
right when absent means "called reference", never when it means "not covered". So, when the flag is set:
- only positions with no record at all in the file ("not in file") change; a filtered record, a no-call, a
  low-quality imputed genotype, or a position overlapped by a record that does not start there stay missing;
- a gVCF is never changed: there an absent position is one the sequencer did not cover (its reference calls
  come as blocks); the calls say so in a warning;
- a gene without a single record at any of its positions is left alone: that looks like a region the file
  does not cover (the 1000 Genomes extract has no DPYD records at all), not a region where nobody varies;
- ploidy: autosomes diploid (`0/0`); on chrX each sample's own calls at the other chrX positions in the file
  decide (haploid `0` for a sample called haploid there, `0/0` for diploid); a sample with no chrX call to go
  by, or with both kinds, keeps the positions missing;
- the assumption is recorded (`GenotypeBatch.assumptions` -> every calls.json, recommendations and report
  metadata, and a note on the FHIR genotype Observation), and each affected gene gets a warning naming how
  many positions were assumed reference.
"""

from __future__ import annotations

import numpy as np

from ehrgen.pgx.genotype_codes import NOT_IN_FILE
ASSUMPTION = "absent_is_reference"


def assumption_text(n_positions: int) -> str:
    return (f"{ASSUMPTION}: {n_positions} PGx position(s) absent from the joint-called VCF were assumed "
            "homozygous reference for every sample (--absent-is-reference)")


def _ploidy(batch, definitions, chrom: str, missing: int, absent: int) -> np.ndarray:
    """Per sample: 1 haploid, 2 diploid, 0 unknown, from the calls read on `chrom` (file positions only)."""
    from ehrgen.ingest.vcf import norm_chrom

    n = len(batch.samples)
    hap = np.zeros(n, dtype=bool)
    dip = np.zeros(n, dtype=bool)
    for gene, gg in batch.genes.items():
        if norm_chrom(definitions.genes[gene].chromosome or "") != chrom:
            continue
        read = [i for i in range(gg.a1.shape[1]) if i not in gg.file_missing]
        if not read:
            continue
        a2 = gg.a2[:, read]
        hap |= (a2 == absent).any(axis=1)
        dip |= ((a2 != absent) & (a2 != missing)).any(axis=1)
    return np.where(hap & ~dip, 1, np.where(dip & ~hap, 2, 0))


def apply_absent_is_reference(batch, definitions) -> None:
    """Turn positions absent from a (non-g)VCF into reference calls, in place; records the assumption."""
    from ehrgen.ingest.vcf import norm_chrom
    from ehrgen.pgx.genotype_codes import ABSENT, MISSING

    if batch.gvcf:
        batch.warnings.append("--absent-is-reference was not applied: the file is a gVCF (its absent positions "
                              "were not covered, not called reference)")
        return
    total = 0
    for gene, gg in batch.genes.items():
        gd = definitions.genes[gene]
        flagged = {w.split(":", 1)[0] for w in gg.warnings if w.startswith("position ")}
        idx = [i for i, r in sorted(gg.file_missing.items())
               if r == NOT_IN_FILE and f"position {gd.positions[i].pos}" not in flagged]
        if not idx:
            continue
        if all(gg.file_missing.get(i) == NOT_IN_FILE for i in range(len(gd.positions))):
            # not one record at any of the gene's positions: the region may not have been called at all
            gg.warnings.append(f"{gene}: no record in the file at any of its positions: --absent-is-reference "
                               "not applied to it (the region may not have been called)")
            continue
        chrom = norm_chrom(gd.chromosome or "")
        if chrom == "X":
            ploidy = _ploidy(batch, definitions, chrom, MISSING, ABSENT)
        else:
            ploidy = np.full(len(batch.samples), 2)
        for i in idx:
            gg.a1[:, i] = np.where(ploidy > 0, 0, MISSING)
            gg.a2[:, i] = np.where(ploidy == 2, 0, np.where(ploidy == 1, ABSENT, MISSING))
            gg.phased[:, i] = False
            gg.ps[:, i] = 0
            if (ploidy == 0).all():
                gg.file_missing[i] = "not in file (ploidy unknown for --absent-is-reference)"
            else:
                del gg.file_missing[i]
        unknown = int((ploidy == 0).sum())
        note = f"; {unknown} sample(s) without a chrX call to take the ploidy from keep them missing" if unknown else ""
        gg.warnings.append(f"{gene}: {len(idx)} position(s) absent from the file assumed homozygous reference "
                           f"(--absent-is-reference){note}")
        total += len(idx)
    batch.assumptions.append(assumption_text(total))
