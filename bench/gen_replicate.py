#!/usr/bin/env python3
"""Generate an N-person cohort VCF by replicating the real cohort's genotype columns with new sample ids.

    python bench/gen_replicate.py --n 200000 --out bench/out/replicate-200000/replicate-200000.vcf.gz

Streamed: the source is read one record at a time and each output line is written as it is built, so memory
holds one record and disk holds only the gzip output (level 1; the 1000 Genomes extract replicated to
200,000 people is ~1,100 records of ~800 kB text each, which compress well). Column j of copy k is source
column j with id `<id>~r<k>` (copy 0 keeps the original ids); the last copy is cut short to reach exactly N.
Not indexed (plain gzip, not BGZF): the reader streams it once, as for any unindexed file.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DENSE = ROOT.parent / "shared" / "data" / "1kgp-pgx" / "1kgp-pgx.dense.vcf.gz"


def replicate(src: Path, dst: Path, n: int) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    with gzip.open(src, "rt", encoding="utf-8") as fin, gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as fout:
        for line in fin:
            if line.startswith("##"):
                fout.write(line)
                continue
            fields = line.rstrip("\n").split("\t")
            fixed, cols = fields[:9], fields[9:]
            m = len(cols)
            if m == 0:
                raise SystemExit(f"{src}: no sample columns")
            full, rest = divmod(n, m)
            if line.startswith("#CHROM"):
                ids = [c if k == 0 else f"{c}~r{k}" for k in range(full) for c in cols]
                ids += [f"{c}~r{full}" if full else c for c in cols[:rest]]
                fout.write("\t".join(fixed + ids) + "\n")
                continue
            body = "\t".join(cols)
            parts = [body] * full + ([("\t".join(cols[:rest]))] if rest else [])
            fout.write("\t".join(fixed) + "\t" + "\t".join(parts) + "\n")
    tmp.replace(dst)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=DENSE)
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    out = a.out or ROOT / "bench" / "out" / f"replicate-{a.n}" / f"replicate-{a.n}.vcf.gz"
    replicate(a.src, out, a.n)
    print(f"{out}: {a.n} samples, {out.stat().st_size / 1e6:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
