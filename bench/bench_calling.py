#!/usr/bin/env python3
"""Calling benchmark: samples/s on a synthetic multi-sample VCF, and one sample's all-gene call time.

    python bench/bench_calling.py [--samples 10000] [--gvcf-records 1000000] [--out bench/out]

Genotypes are drawn from the definitions' named alleles (mostly the reference allele, as in real cohorts), so most
samples share genotype patterns per gene, which the caller computes once. Prints figures; asserts nothing.
Targets (issue 2): >= 5,000 samples/s from the multi-sample file on 2 cores; < 0.1 s in-process for one sample.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ehrgen.ingest.vcf import read_genotypes  # noqa: E402
from ehrgen.pgx.caller import call_batch, call_vcf  # noqa: E402
from ehrgen.pgx.definitions import load_definitions  # noqa: E402
from tests.pgx.vcf_factory import GRCH38, allele_bases, header  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_cohort(path: Path, n: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    defs = load_definitions()
    samples = [f"S{i:06d}" for i in range(n)]
    rows = []
    for gene in defs.vcf_genes:
        gd = defs.genes[gene]
        names = [a.name for a in gd.alleles if not a.structural_variant]
        ref = gd.reference_allele.name
        # 80% reference allele, the rest spread over the first few named alleles
        pool = [ref] + [x for x in names if x != ref][:6]
        weights = np.array([0.8] + [0.2 / (len(pool) - 1)] * (len(pool) - 1)) if len(pool) > 1 else np.array([1.0])
        picks = rng.choice(len(pool), size=(n, 2), p=weights)
        bases = [allele_bases(gd, a) for a in pool]
        for i, pdef in enumerate(gd.positions):
            codes = np.array([pdef.alleles.index(b[i]) for b in bases])
            g = codes[picks]
            gt = np.char.add(np.char.add(g[:, 0].astype(str), "/"), g[:, 1].astype(str))
            rows.append((int(gd.chromosome[3:]) if gd.chromosome[3:].isdigit() else 100, pdef.pos,
                         f"{gd.chromosome}\t{pdef.pos}\t{pdef.rsid or '.'}\t{pdef.ref}\t{','.join(pdef.alts)}\t.\tPASS\t.\tGT\t"
                         + "\t".join(gt.tolist())))
    rows.sort()
    with path.open("w") as fh:
        fh.write(header(samples))
        for _, _, line in rows:
            fh.write(line + "\n")


def make_gvcf(path: Path, n_records: int) -> None:
    """A 30x-like single-sample gVCF: mostly reference blocks, some variants, across the PGx chromosomes."""
    defs = load_definitions()
    rng = np.random.default_rng(3)
    pgx = sorted({(gd.chromosome, p.pos) for g in defs.vcf_genes for gd in [defs.genes[g]] for p in gd.positions})
    chroms = sorted({c for c, _ in pgx}, key=lambda c: int(c[3:]) if c[3:].isdigit() else 100)
    per_chrom = n_records // len(chroms)
    with path.open("w") as fh:
        fh.write(header(["GVCF1"]))
        for c in chroms:
            length = GRCH38[c]
            starts = np.sort(rng.choice(np.arange(2, length - 1000, 97), size=per_chrom - 1, replace=False))
            starts = np.concatenate([[1], starts])
            for k, s in enumerate(starts):
                end = starts[k + 1] - 1 if k + 1 < len(starts) else s + 10
                if k % 50 == 0:  # a variant, then a reference block for the rest of the interval
                    fh.write(f"{c}\t{s}\t.\tA\tG,<NON_REF>\t50\tPASS\t.\tGT\t0/1\n")
                    s += 1
                if s <= end:
                    fh.write(f"{c}\t{s}\t.\tN\t<NON_REF>\t.\tPASS\tEND={end}\tGT\t0/0\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--gvcf-records", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    defs = load_definitions()

    cohort = args.out / f"cohort_{args.samples}.vcf"
    if not cohort.exists():
        t = time.perf_counter()
        make_cohort(cohort, args.samples)
        print(f"generated {cohort.name} ({cohort.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    t0 = time.perf_counter()
    batch = read_genotypes(cohort, defs)
    t1 = time.perf_counter()
    calls = call_batch(batch, defs)
    t2 = time.perf_counter()
    n = len(calls)
    print(f"multi-sample: {n} samples x {len(defs.vcf_genes)} genes: read {t1 - t0:.2f} s, call {t2 - t1:.2f} s, "
          f"total {t2 - t0:.2f} s = {n / (t2 - t0):,.0f} samples/s (calling only {n / (t2 - t1):,.0f}/s); "
          f"peak RSS {peak_mb():.0f} MB")

    single = args.out / "single.vcf"
    import subprocess
    subprocess.run(["bash", "-c", f"cut -f1-10 {cohort} > {single}"], check=True)
    call_vcf(single, definitions=defs)  # warm
    times = []
    for _ in range(5):
        t = time.perf_counter()
        call_vcf(single, definitions=defs)
        times.append(time.perf_counter() - t)
    print(f"one sample, all genes, in-process (read + call): median {sorted(times)[2] * 1000:.1f} ms")
    one = read_genotypes(single, defs)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        call_batch(one, defs)
        times.append(time.perf_counter() - t)
    print(f"one sample, all genes, calling only (genotypes in memory): median {sorted(times)[2] * 1000:.1f} ms")

    gvcf = args.out / f"gvcf_{args.gvcf_records}.vcf"
    if not gvcf.exists():
        make_gvcf(gvcf, args.gvcf_records)
    t = time.perf_counter()
    res = call_vcf(gvcf, definitions=defs)[0]
    dt = time.perf_counter() - t
    statuses = {}
    for c in res.genes.values():
        statuses[c.status] = statuses.get(c.status, 0) + 1
    print(f"gVCF plain, {args.gvcf_records:,} records streamed: {dt:.2f} s ({args.gvcf_records / dt:,.0f} records/s); "
          f"statuses {statuses}; peak RSS {peak_mb():.0f} MB")
    try:
        import pysam
        gz = Path(str(gvcf) + ".gz")
        if not gz.exists():
            pysam.tabix_compress(str(gvcf), str(gz), force=True)
            pysam.tabix_index(str(gz), preset="vcf", force=True)
        t = time.perf_counter()
        call_vcf(gz, definitions=defs)
        print(f"gVCF bgzipped + tabix index (region queries): {time.perf_counter() - t:.2f} s")
    except ImportError:
        print("pysam not installed: skipped the indexed gVCF figure")


if __name__ == "__main__":
    main()
