"""Benchmark: FHIR bundles (and ORU messages) built + serialized per second over a synthetic cohort.

Usage: .venv/bin/python bench/bench_fhir.py [--patients 1000] [--seed 1] [--oru]
Every patient has all 23 reported genes (diplotypes drawn from a small realistic pool, some ambiguous /
not called) and 3-6 actionable recommendations, so most content repeats across the cohort as in real use.
Prints resources/s (bundle entries built and serialized to JSON text).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timezone

from ehrgen.fhir.bundle import PatientRef, ReportContext, build_bundle, bundle_json
from ehrgen.fhir.codes import hgnc_table
from ehrgen.pgx.model import Diplotype, GeneCall, SampleCalls
from ehrgen.rules.model import Recommendation

PHENO = ["Normal Metabolizer", "Intermediate Metabolizer", "Poor Metabolizer", "Rapid Metabolizer",
         "Ultrarapid Metabolizer", "Likely Intermediate Metabolizer"]
DRUGS = [("clopidogrel", "CYP2C19", "32968", "B01AC04"), ("codeine", "CYP2D6", "2670", "R05DA04"),
         ("simvastatin", "SLCO1B1", "36567", "C10AA01"), ("warfarin", "CYP2C9", "11289", "B01AA03"),
         ("fluorouracil", "DPYD", "4492", "L01BC02"), ("azathioprine", "TPMT", "1256", "L04AX01"),
         ("tacrolimus", "CYP3A5", "42316", "L04AD02"), ("efavirenz", "CYP2B6", "195085", "J05AG03")]
ACTIONS = ["avoid", "use_alternative", "reduce_dose", "increase_dose", "monitor"]


def cohort(n: int, seed: int):
    rnd = random.Random(seed)
    genes = list(hgnc_table())
    out = []
    for i in range(n):
        pid, sid = f"P{i:05d}", f"S{i:05d}"
        calls = {}
        for g in genes:
            r = rnd.random()
            if r < 0.03:
                calls[g] = GeneCall(g, "not_called", warnings=["too many missing positions"])
                continue
            a = f"*{rnd.choice([1, 1, 1, 2, 3, 4, 17])}"
            b = f"*{rnd.choice([1, 1, 2, 3, 4, 17])}"
            # as in real data, the phenotype follows from the gene and diplotype
            ph = PHENO[(len(g) + 7 * int(a[1:]) + int(b[1:])) % len(PHENO)]
            dips = [Diplotype(a, b, phenotype=ph)]
            status = "called"
            if r < 0.08:
                dips.append(Diplotype(a, "*35", phenotype=ph))
                status = "ambiguous"
            calls[g] = GeneCall(g, status, diplotypes=dips, phenotype=ph)
        recs = []
        for drug, gene, rx, atc in rnd.sample(DRUGS, rnd.randint(3, 6)):
            recs.append(Recommendation(
                patient=pid, sample=sid, drug=drug, source="CPIC", genes=[gene],
                phenotypes={gene: calls[gene].phenotype or "Indeterminate"}, action=rnd.choice(ACTIONS),
                strength="Strong", alert="critical", summary=f"Project wording for {drug}.",
                guideline_id="PA0", guideline_url=f"https://cpicpgx.org/guidelines/{drug}/", rules_version="r1",
                actionable=True, rxnorm=rx, atc=atc))
        out.append((SampleCalls(sid, calls, source_sha256=f"{i:064x}"), recs,
                    PatientRef(pid, "urn:oid:1.2.3", f"MRN{i}")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--oru", action="store_true", help="also time ORU^R01 building")
    args = ap.parse_args()
    data = cohort(args.patients, args.seed)
    ctx = ReportContext("0.1.0", "r1", "0" * 64, datetime(2026, 11, 25, tzinfo=timezone.utc),
                        report_html="<html><body>report</body></html>")
    t0 = time.perf_counter()
    n_res = n_bytes = 0
    for calls, recs, pat in data:
        b = build_bundle(calls, recs, pat, ctx)
        n_bytes += len(bundle_json(b))
        n_res += len(b["entry"])
    dt = time.perf_counter() - t0
    print(f"patients={args.patients} resources={n_res} seconds={dt:.2f} "
          f"resources/s={n_res / dt:,.0f} bundles/s={args.patients / dt:,.1f} MB={n_bytes / 1e6:.1f}")
    if args.oru:
        from ehrgen.hl7.oru import build_oru
        t0 = time.perf_counter()
        for calls, recs, pat in data:
            build_oru(calls, recs, pat, ctx)
        dt = time.perf_counter() - t0
        print(f"oru messages/s={args.patients / dt:,.1f}")


if __name__ == "__main__":
    main()
