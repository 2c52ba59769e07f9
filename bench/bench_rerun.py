#!/usr/bin/env python3
"""Rerun benchmark: a batch run once, then run again with nothing changed (every stage fingerprint matches).

    python bench/bench_rerun.py [--samples 2000] [--chunk 500] [--profile] [--flow]
    python bench/bench_rerun.py --cohort ../shared/data/1kgp-pgx/1kgp-pgx.dense.vcf.gz   # the real cohort

Synthetic batch: bench_flows.make_batch (one multi-sample VCF, manifest, patients/samples/consent CSVs).
--cohort VCF: a manifest and clinical CSVs (patient, link, consent for everyone) are generated under
bench/out/rerun/ for every sample in that VCF. The first run is the real work; the rerun should only check
fingerprints. --flow times the rerun through the pgx-pipeline Prefect flow (what `ehrgen run` does) instead of
the library's run_local; --profile prints the top of a cProfile of the rerun. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cohort_batch(vcf: Path, folder: Path) -> Path:
    """manifest.csv + clinical/ for every sample of a multi-sample VCF (the VCF is referenced, not copied)."""
    from cyvcf2 import VCF

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clinical").mkdir(exist_ok=True)
    v = VCF(str(vcf), lazy=True)
    samples = list(v.samples)
    v.close()
    with (folder / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "patient_id", "vcf", "outside_calls"])
        for i, s in enumerate(samples):
            w.writerow([s, f"KG{i:06d}", str(vcf.resolve()), ""])
    tables = {
        "patients.csv": (["patient_id", "identifier_system", "identifier_value", "family", "given", "birth_date",
                          "sex"], [[f"KG{i:06d}", "urn:oid:2.16.840.1.113883.19.5", f"MRN{700000 + i}", "Cohort",
                                    "Test", "1970-01-01", "female"] for i in range(len(samples))]),
        "samples.csv": (["sample_id", "patient_id"], [[s, f"KG{i:06d}"] for i, s in enumerate(samples)]),
        "consent.csv": (["patient_id", "return_results", "date"],
                        [[f"KG{i:06d}", "true", "2025-12-01"] for i in range(len(samples))]),
    }
    for name, (head, rows) in tables.items():
        with (folder / "clinical" / name).open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(head)
            w.writerows(rows)
    return folder


def load() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--cohort", type=Path, default=None, help="a real multi-sample VCF instead of synthetic data")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "rerun")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--flow", action="store_true", help="time the rerun through the Prefect flow")
    ap.add_argument("--keep", action="store_true", help="reuse the work dir of an earlier first run")
    args = ap.parse_args()
    out = args.out.resolve()
    if args.cohort:
        batch = cohort_batch(args.cohort, out / "cohort")
    else:
        from bench.bench_flows import make_batch

        batch = make_batch(out / f"batch{args.samples}", args.samples)
    from ehrgen.pipeline.prefect_env import configure

    configure(out)
    from ehrgen.pipeline.outcome import summarise
    from ehrgen.pipeline.run import RunConfig, run_local

    work = out / ("work-cohort" if args.cohort else f"work-{args.samples}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)

    def cfg() -> RunConfig:
        return RunConfig(work_dir=str(work), run_name="batch")

    if not args.keep or not (work / "batch" / "outcomes.json").is_file():
        print(f"first run ({load()}) ...", flush=True)
        t = time.perf_counter()
        first = run_local(batch, cfg(), chunk_size=args.chunk)
        print(f"first run: {len(first)} samples in {time.perf_counter() - t:.1f} s: {summarise(first)['by_status']}")

    print(f"rerun, nothing changed ({load()}) ...", flush=True)
    prof = cProfile.Profile() if args.profile else None
    t = time.perf_counter()
    if prof:
        prof.enable()
    if args.flow:
        from ehrgen.cli.run import run_flow

        _state, again = run_flow(batch, work, None, None, None, None, chunk_size=args.chunk, run_name="batch")
    else:
        again = run_local(batch, cfg(), chunk_size=args.chunk)
    if prof:
        prof.disable()
    dt = time.perf_counter() - t
    print(f"rerun: {len(again)} samples in {dt:.2f} s ({len(again) / dt:.0f} samples/s): "
          f"{summarise(again)['by_status']}; stages skipped: "
          f"{sum('call' in o.skipped for o in again)} call, {sum('interpret' in o.skipped for o in again)} interpret, "
          f"{sum('export' in o.skipped for o in again)} export")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
