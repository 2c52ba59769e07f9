#!/usr/bin/env python3
"""Flow benchmark: end-to-end samples/s and Prefect overhead per sample for a synthetic multi-sample batch.

    python bench/bench_flows.py [--samples 1000] [--chunk 250] [--out bench/out/flows] [--skip-dask]

Builds a 1,000-sample VCF (genotypes drawn from the allele definitions with tests/pgx/vcf_factory.py helpers,
via bench_calling.make_cohort), a manifest and clinical CSVs (patients, sample links, consent), then times
the same batch (call -> interpret -> export -> deliver to an outbox) three ways, each in a fresh work dir:
  library  ehrgen.pipeline.run.run_local, no Prefect (the work itself)
  threads  pgx-pipeline flow, ThreadPoolTaskRunner (Prefect's temporary server already started)
  dask     pgx-pipeline flow, DaskTaskRunner on a LocalCluster (2 worker processes; cluster start included)
Flow overhead per sample = (flow time - library time) / samples. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_batch(folder: Path, n: int) -> Path:
    from bench.bench_calling import make_cohort

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vcf").mkdir(exist_ok=True)
    (folder / "clinical").mkdir(exist_ok=True)
    vcf = folder / "vcf" / "cohort.vcf"
    if not vcf.is_file():
        make_cohort(vcf, n)
    samples = [f"S{i:06d}" for i in range(n)]
    with (folder / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "patient_id", "vcf", "outside_calls"])
        for i, s in enumerate(samples):
            w.writerow([s, f"BP{i:06d}", "vcf/cohort.vcf", ""])
    tables = {
        "patients.csv": (["patient_id", "identifier_system", "identifier_value", "family", "given", "birth_date", "sex"],
                         [[f"BP{i:06d}", "urn:oid:2.16.840.1.113883.19.5", f"MRN{500000 + i}", "Benchperson", "Test",
                           "1970-01-01", "female"] for i in range(n)]),
        "samples.csv": (["sample_id", "patient_id"], [[s, f"BP{i:06d}"] for i, s in enumerate(samples)]),
        "consent.csv": (["patient_id", "return_results", "date"],
                        [[f"BP{i:06d}", "true", "2025-12-01"] for i in range(n)]),
    }
    for name, (head, rows) in tables.items():
        with (folder / "clinical" / name).open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(head)
            w.writerows(rows)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "flows")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    out = args.out.resolve()
    batch = make_batch(out / f"batch{args.samples}", args.samples)

    from ehrgen.pipeline.prefect_env import configure

    configure(out)  # PREFECT_HOME under the bench output, offline settings
    results: dict[str, float] = {}

    def fresh(name: str) -> Path:
        w = out / f"work-{name}"
        shutil.rmtree(w, ignore_errors=True)
        return w

    from ehrgen.pipeline.run import RunConfig, run_local

    t = time.perf_counter()
    outs = run_local(batch, RunConfig(work_dir=str(fresh("library")), run_name="b"), chunk_size=args.chunk)
    results["library"] = time.perf_counter() - t
    assert sum(o.status == "delivered" for o in outs) == args.samples, "library run did not deliver every sample"

    from flows.common import task_runner
    from flows.pgx_pipeline import pgx_pipeline

    t = time.perf_counter()
    pgx_pipeline(input_dir=str(ROOT / "sample_data"), work_dir=str(fresh("warmup")), return_state=True)
    results["server start + sample_data flow"] = time.perf_counter() - t
    runners = [("threads", None)] + ([] if args.skip_dask else [("dask", "local")])
    for name, spec in runners:
        t = time.perf_counter()
        st = pgx_pipeline.with_options(task_runner=task_runner(spec))(
            input_dir=str(batch), work_dir=str(fresh(name)), run_name="b", chunk_size=args.chunk, return_state=True)
        results[name] = time.perf_counter() - t
        print(f"{name}: {st.name} {st.message}", file=sys.stderr)

    n = args.samples
    print(f"\n# bench_flows: {n} samples, chunk {args.chunk}, {os.cpu_count()} CPU(s)")
    print(f"{'run':34s} {'seconds':>8s} {'samples/s':>10s} {'overhead ms/sample':>19s}")
    for k, v in results.items():
        if k.startswith("server"):
            print(f"{k:34s} {v:8.1f}")
            continue
        over = "" if k == "library" else f"{1000 * (v - results['library']) / n:19.1f}"
        print(f"{k:34s} {v:8.1f} {n / v:10.1f} {over}")


if __name__ == "__main__":
    main()
