"""Write the tests' slice of the 1000 Genomes PGx cohort (tests/data/1kgp-pgx/) from the full one beside the
checkout (../shared/data/1kgp-pgx): the first N people of both the sparse (as released) and the dense file,
every record kept as it is (only the sample columns are cut), bgzipped and tabix-indexed.

    python tools/gen_cohort_slice.py [--samples 300] [--src ../shared/data/1kgp-pgx] [--out tests/data/1kgp-pgx]

tests/ingest/test_absent_is_reference.py compares the two files on this slice, so a clone without ../shared
runs those tests too. SHA256SUMS in the output folder pins what was written.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT.parent / "shared" / "data" / "1kgp-pgx"
OUT = ROOT / "tests" / "data" / "1kgp-pgx"
NAMES = ("dense", "sparse")


def write_slice(src: Path, dst: Path, n: int) -> None:
    import pysam

    with pysam.VariantFile(str(src)) as vf:
        keep = list(vf.header.samples)[:n]
        vf.subset_samples(keep)
        with pysam.VariantFile(str(dst), "wz", header=vf.header) as out:
            for rec in vf:
                out.write(rec)
    pysam.tabix_index(str(dst), preset="vcf", force=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--src", type=Path, default=SRC)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sums = []
    for name in NAMES:
        dst = args.out / f"1kgp-pgx.{name}.vcf.gz"
        write_slice(args.src / f"1kgp-pgx.{name}.vcf.gz", dst, args.samples)
        for f in (dst, Path(str(dst) + ".tbi")):
            sums.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}")
            print(f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}: {f.stat().st_size} bytes")
    (args.out / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
