#!/usr/bin/env python3
"""Real-cohort benchmark: the 3,202 people of the 1000 Genomes PGx extract, and replicates of it.

    python bench/bench_cohort.py [call] [run] [rerun] [stages] [scale] [--vcf PATH] [--out bench/out/cohort]
    python bench/bench_cohort.py replicate [call] [run] --n 20000   # generate (streamed) and measure

Measures whole processes (what a user waits for), each with its wall time, CPU time and peak RSS (from
wait4 on the child, so the figures are the process's own):
  call    `ehrgen call VCF --out DIR`: samples/s and peak RSS
  run     `ehrgen run BATCH` (manifest + consent for everyone, generated under --out) to an outbox, fresh
          work dir; and a one-sample run of the same layout (Prefect's start-up and a single sample):
          samples/s once running = (N - 1) / (T_N - T_1)
  rerun   the same `ehrgen run` again with nothing changed (every stage skipped by its fingerprint)
  scale   one process vs a local pool of 2 worker processes vs Dask (`--dask local`, 2 workers) on
          --scale-samples people (default 1,000)
  ahead   the calling stage of `run` alone: every chunk reading its own samples (pipeline.call_group 0) vs the
          call-ahead groups (one read of the file per 10,000 samples); wall, CPU and peak RSS of each
  stages  per-stage seconds of the same work in this process, without Prefect (ehrgen.pipeline.run.run_local
          with timers around call / interpret / report / FHIR / ORU / delivery); --stage-samples bounds it
Prints figures and `uptime` before and after; asserts nothing (never a timed test).

The replicate (bench/gen_replicate.py) copies every genotype column k times with new sample ids
(`<id>~r<k>`), streamed record by record into a gzip file, so disk use is the compressed output only.
The 200,000-person run: `python bench/bench_cohort.py replicate call run --n 200000` (not run by default).
Synthetic medications (a seeded ~25% on common PGx drugs) feed the cohort summary's "taking an affected drug"
share: they are NOT real prescriptions of the 1000 Genomes donors.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DENSE = ROOT.parent / "shared" / "data" / "1kgp-pgx" / "1kgp-pgx.dense.vcf.gz"
EHRGEN = Path(sys.executable).with_name("ehrgen")

# (drug, rxnorm, atc): drugs with CPIC/DPWG guidance, for synthetic medication lists
DRUGS = [("clopidogrel", "32968", "B01AC04"), ("simvastatin", "36567", "C10AA01"),
         ("omeprazole", "7646", "A02BC01"), ("citalopram", "2556", "N06AB04"),
         ("warfarin", "11289", "B01AA03"), ("atorvastatin", "83367", "C10AA05"),
         ("ondansetron", "26225", "A04AA01"), ("tacrolimus", "42316", "L04AD02")]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str], log: Path) -> dict:
    """Run `cmd`, return wall/CPU seconds and peak RSS (MB) of that process tree's largest member."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log.open("w") as fh:
        p = subprocess.Popen(["nice", "-n", "5", *cmd], stdout=fh, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024, "rc": rc,
            "log": str(log)}


def vcf_samples(vcf: Path) -> list[str]:
    from cyvcf2 import VCF

    v = VCF(str(vcf), lazy=True)
    try:
        return list(v.samples)
    finally:
        v.close()


def make_batch(folder: Path, vcf: Path, samples: list[str], seed: int = 14) -> Path:
    """A batch folder like sample_data/: manifest, vcf/ (a link to the cohort file), clinical CSVs."""
    (folder / "vcf").mkdir(parents=True, exist_ok=True)
    (folder / "clinical").mkdir(exist_ok=True)
    for suffix in ("", ".tbi", ".csi"):
        src = Path(str(vcf) + suffix)
        dst = folder / "vcf" / (vcf.name + suffix)
        if src.is_file() and not dst.exists():
            os.symlink(src.resolve(), dst)
    rel = f"vcf/{vcf.name}"
    pid = [f"BP{i:06d}" for i in range(len(samples))]
    rng = random.Random(seed)
    with (folder / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "patient_id", "vcf", "outside_calls"])
        w.writerows([s, p, rel, ""] for s, p in zip(samples, pid))
    with (folder / "clinical" / "patients.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "identifier_system", "identifier_value", "family", "given", "birth_date", "sex"])
        w.writerows([p, "urn:oid:2.16.840.1.113883.19.5", f"MRN{700000 + i}", "Cohortperson", "Test",
                     "1970-01-01", "unknown"] for i, p in enumerate(pid))
    with (folder / "clinical" / "samples.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "patient_id"])
        w.writerows(zip(samples, pid))
    with (folder / "clinical" / "consent.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "return_results", "date"])
        w.writerows([p, "true", "2026-12-01"] for p in pid)
    with (folder / "clinical" / "medications.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "status", "drug", "rxnorm", "atc", "order_id", "date"])
        n = 0
        for p in pid:
            if rng.random() < 0.25:  # synthetic: about a quarter on one PGx drug
                d, rx, atc = rng.choice(DRUGS)
                n += 1
                w.writerow([p, "active", d, rx, atc, f"ORD{n:07d}", "2026-11-01"])
    return folder


def fmt(name: str, r: dict, n: int | None = None) -> str:
    s = f"{name:<28} wall {r['wall_s']:8.1f} s  cpu {r['cpu_s']:8.1f} s  peak RSS {r['rss_mb']:7.0f} MB"
    if n:
        s += f"  {n / r['wall_s']:9.1f} samples/s"
    if r.get("rc"):
        s += f"  (exit {r['rc']}, see {r['log']})"
    return s


def bench_call(vcf: Path, out: Path, n: int) -> dict:
    d = out / "call"
    shutil.rmtree(d, ignore_errors=True)
    r = timed([str(EHRGEN), "call", str(vcf), "--out", str(d)], out / "logs" / "call.log")
    print(fmt(f"call ({n} samples)", r, n), flush=True)
    return r


def bench_run(batch: Path, one: Path, out: Path, n: int, rerun: bool, do_run: bool = True) -> dict:
    res: dict = {}
    work, work1 = out / "work", out / "work-one"
    if do_run:
        shutil.rmtree(work1, ignore_errors=True)
        r1 = timed([str(EHRGEN), "run", str(one), "--work", str(work1)], out / "logs" / "run-one.log")
        print(fmt("run (1 sample)", r1), flush=True)
        shutil.rmtree(work, ignore_errors=True)
        rn = timed([str(EHRGEN), "run", str(batch), "--work", str(work)], out / "logs" / "run.log")
        print(fmt(f"run ({n} samples)", rn, n), flush=True)
        res.update(one=r1, run=rn)
        if rn["wall_s"] > r1["wall_s"]:
            rate = (n - 1) / (rn["wall_s"] - r1["wall_s"])
            res["running_samples_per_s"] = rate
            print(f"{'  once running':<28} {rate:.1f} samples/s  ((N-1)/(T_N - T_1))", flush=True)
    if rerun:
        rr = timed([str(EHRGEN), "run", str(batch), "--work", str(work)], out / "logs" / "rerun.log")
        print(fmt("rerun, nothing changed", rr), flush=True)
        res["rerun"] = rr
    return res


def bench_scale(batch: Path, one: Path, out: Path, n: int) -> dict:
    """The same batch three ways, each in a fresh work dir: one process (pipeline.workers = 1: chunks on threads in
    the flow's process), a local process pool of 2 workers (the default on this 2-core host) and Dask
    (`--dask local`: a LocalCluster of 2 worker processes, cluster start included). Rates once running subtract
    a one-sample run made the same way (Prefect's and the workers' start-up)."""
    res: dict = {}
    ways = {"1 process": (["--chunk-size", "250"], {"EHRGEN_PIPELINE__WORKERS": "1"}),
            "process pool, 2 workers": (["--chunk-size", "250"], {"EHRGEN_PIPELINE__WORKERS": "2"}),
            "dask local, 2 workers": (["--chunk-size", "250", "--dask", "local"], {})}
    for name, (extra, env) in ways.items():
        key = name.split(",")[0].replace(" ", "-")
        os.environ.update(env)
        try:
            w1, wn = out / f"scale-{key}-one", out / f"scale-{key}"
            shutil.rmtree(w1, ignore_errors=True)
            shutil.rmtree(wn, ignore_errors=True)
            r1 = timed([str(EHRGEN), "run", str(one), "--work", str(w1), *extra], out / "logs" / f"scale-{key}-one.log")
            rn = timed([str(EHRGEN), "run", str(batch), "--work", str(wn), *extra], out / "logs" / f"scale-{key}.log")
        finally:
            for k in env:
                os.environ.pop(k, None)
        rate = (n - 1) / (rn["wall_s"] - r1["wall_s"]) if rn["wall_s"] > r1["wall_s"] else float("nan")
        print(fmt(f"{name} (1 sample)", r1), flush=True)
        print(fmt(f"{name} ({n})", rn, n) + f"  once running {rate:.1f} samples/s", flush=True)
        res[name] = {"one": r1, "run": rn, "running_samples_per_s": rate}
    return res


def bench_stages(batch: Path, out: Path, limit: int | None) -> dict:
    """The batch's work in this process with timers around each stage (no Prefect)."""
    import ehrgen.deliver.api as deliver_api
    import ehrgen.fhir.bundle as fb
    import ehrgen.hl7.oru as oru
    import ehrgen.pipeline.run as run
    import ehrgen.report.clinician as report
    import ehrgen.report.people as people

    if limit:
        sub = out / f"batch-{limit}"
        if not (sub / "manifest.csv").is_file():
            rows = list(csv.reader((batch / "manifest.csv").open()))[1: limit + 1]
            vcf = (batch / rows[0][2]).resolve()
            make_batch(sub, vcf, [r[0] for r in rows])
        batch = sub
    totals: dict[str, float] = {}

    def wrap(mod, name, label):
        fn = getattr(mod, name)

        def inner(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t
        setattr(mod, name, inner)

    wrap(run, "call_job", "call (read VCF, match, write calls.json)")
    wrap(report, "build_report_model", "report model")
    wrap(report, "render_html", "report HTML")
    wrap(fb, "build_bundle", "FHIR bundle build")
    wrap(fb, "bundle_json", "FHIR bundle JSON")
    wrap(oru, "build_oru", "HL7 ORU^R01")
    wrap(deliver_api, "deliver_dir", "deliver (outbox, ledger)")
    wrap(run, "finish_run", "run files (tsv, summaries)")
    wrap(people, "write_for_patient", "patient summary + wallet card")
    wrap(run, "interpret_sample_signed", "interpret stage (rules + recommendations.json)")
    wrap(run, "export_sample", "export stage (all of the export files)")
    import ehrgen.rules.engine as engine
    wrap(engine, "interpret", "interpret (rules)")
    work = out / "work-stages"
    shutil.rmtree(work, ignore_errors=True)
    cfg = run.RunConfig(work_dir=str(work), run_name="stages")
    t0 = time.perf_counter()
    outcomes = run.run_local(batch, cfg)
    total = time.perf_counter() - t0
    n = len(outcomes)
    print(f"stages in-process, {n} samples, {total:.1f} s ({n / total:.1f} samples/s):")
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<44} {v:8.1f} s  {1000 * v / max(n, 1):7.2f} ms/sample  {100 * v / total:5.1f} %")
    return {"samples": n, "total_s": total, "stages": totals}


def bench_ahead(batch: Path, out: Path, group: int | None = None) -> dict:
    """The calling stage of a batch run alone (plan, then every chunk's call_job), with each chunk reading its own
    samples (call_group 0) and with the call-ahead groups (the default): each in a child process, for its RSS."""
    if group is None:
        res = {}
        for g in (0, 10000):
            cmd = [sys.executable, __file__, "ahead", "--out", str(out), "--ahead-group", str(g)]
            if (out / "batch" / "manifest.csv").is_file():
                r = timed(cmd, out / "logs" / f"ahead-{g}.log")
                r["printed"] = [ln for ln in Path(r["log"]).read_text().splitlines() if " samples called in " in ln]
                print(f"call stage, call_group {g}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                      f"peak RSS {r['rss_mb']:.0f} MB  {r['printed']}", flush=True)
                res[str(g)] = r
        return res
    from ehrgen.pipeline import run
    from ehrgen.pipeline.plan import plan
    from ehrgen.pipeline.stages import call_job

    work = out / f"work-ahead-{group}"
    shutil.rmtree(work, ignore_errors=True)
    cfg = run.RunConfig(work_dir=str(work), run_name="ahead")
    cfg.settings.pipeline.call_group = group
    p = plan(batch, 500, None)
    cfg.clinical = p.clinical
    t0 = time.perf_counter()
    run.call_all_ahead(p.chunks, cfg)
    t1 = time.perf_counter()
    ctx, dirs, n = run._context(cfg), cfg.dirs.make(), 0
    for ch in p.chunks:
        for job in ch.jobs:
            n += sum(c.calls is not None or c.stored is not None for c in call_job(job, ctx, dirs, cfg.settings.calling))
    t2 = time.perf_counter()
    print(f"{n} samples called in {len(p.chunks)} chunks: ahead {t1 - t0:.1f} s, chunks {t2 - t1:.1f} s")
    shutil.rmtree(work, ignore_errors=True)
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="*", default=["call", "run", "rerun", "stages"],
                    help="call run rerun stages scale ahead replicate")
    ap.add_argument("--vcf", type=Path, default=DENSE)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "cohort")
    ap.add_argument("--n", type=int, default=20000, help="people in the replicate")
    ap.add_argument("--stage-samples", type=int, default=None, help="bound the in-process stage timing")
    ap.add_argument("--scale-samples", type=int, default=1000, help="people in the `scale` comparison")
    ap.add_argument("--ahead-group", type=int, default=None, help=argparse.SUPPRESS)  # `ahead`'s child process
    ap.add_argument("--with-pdf", action="store_true",
                    help="keep the configured PDF engine and the card PNG (headless Chromium: about a second per "
                         "document, so a biobank run renders them on demand instead); default: both off for the "
                         "one-sample and the batch runs alike")
    args = ap.parse_args()
    what = set(args.what)
    if not args.with_pdf:
        os.environ["EHRGEN_REPORT__PDF_ENGINE"] = "none"
        os.environ["EHRGEN_REPORT__CARD_PNG"] = "false"
    if not args.vcf.is_file():
        sys.exit(f"{args.vcf}: not found (the real cohort lives in ../shared/data/1kgp-pgx)")
    out = args.out.resolve()
    vcf = args.vcf.resolve()
    if "replicate" in what:
        from bench.gen_replicate import replicate

        out = out.parent / f"replicate-{args.n}"
        rvcf = out / f"replicate-{args.n}.vcf.gz"
        if not rvcf.is_file():
            t = time.perf_counter()
            replicate(vcf, rvcf, args.n)
            print(f"generated {rvcf} ({rvcf.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
        vcf = rvcf
        what.discard("replicate")
    out.mkdir(parents=True, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {vcf.name}")
    print(f"# before: {uptime()}", flush=True)
    print(f"# PDF and card PNG: {'as configured' if args.with_pdf else 'off (--with-pdf to keep them)'}", flush=True)
    samples = vcf_samples(vcf)
    n = len(samples)
    figures: dict = {"vcf": str(vcf), "samples": n, "load_before": uptime()}
    if "call" in what:
        figures["call"] = bench_call(vcf, out, n)
    if what & {"run", "rerun", "stages", "scale"}:
        batch = out / "batch"
        if not (batch / "manifest.csv").is_file():
            make_batch(batch, vcf, samples)
        one = out / "batch-one"
        if not (one / "manifest.csv").is_file():
            make_batch(one, vcf, samples[:1])
        if what & {"run", "rerun"}:
            figures.update(bench_run(batch, one, out, n, "rerun" in what, "run" in what))
        if "scale" in what:
            sub = out / f"batch-{args.scale_samples}"
            if not (sub / "manifest.csv").is_file():
                make_batch(sub, vcf, samples[: args.scale_samples])
            figures["scale"] = bench_scale(sub, one, out, min(args.scale_samples, n))
        if "stages" in what:
            figures["stages"] = bench_stages(batch, out, args.stage_samples)
    if "ahead" in what:
        batch = out / "batch"
        if not (batch / "manifest.csv").is_file():
            make_batch(batch, vcf, samples)
        figures["ahead"] = bench_ahead(batch, out, args.ahead_group)
    figures["load_after"] = uptime()
    print(f"# after: {figures['load_after']}")
    (out / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
