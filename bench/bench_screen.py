#!/usr/bin/env python3
"""Cost of the per-patient alternatives check (ehrgen.rules.alternatives.screen), memoised vs not.

    python bench/bench_screen.py [--n 2000] [--vcf PATH]

Interprets N result sets three ways: without the check, with it asking the engine afresh for every
alternative (memo=False), and with the memo (the default). The records must be identical (it says so, or
exits 1). Result sets: random full sets (every gene, the phenotype drawn first, as tools/oracle_reporter.py
does: many distinct patterns, the memo's worst case), or the first N samples of a VCF (--vcf, e.g. the
1000 Genomes extract in ../shared/data/1kgp-pgx). Prints figures; never a timed test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from ehrgen.rules.alternatives import _MEMO, screen  # noqa: E402
from ehrgen.rules.engine import default_ruleset, interpret  # noqa: E402


def result_sets(n: int, vcf: Path | None):
    if vcf:
        from ehrgen.pgx.caller import call_vcf

        return call_vcf(vcf)[:n]
    import oracle_reporter

    return [oracle_reporter.ehrgen_calls(r, f"R{i}") for i, r in enumerate(oracle_reporter.random_sets(n, 7))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--vcf", type=Path)
    args = ap.parse_args(argv)
    sets = result_sets(args.n, args.vcf)
    rs = default_ruleset()
    interpret(sets[0], "warm", ruleset=rs, screen_alternatives=False)  # tables loaded outside the timings

    def check(recs, calls, memo: bool):  # what the engine does: records without options need no check
        return [screen(r, calls, rs, memo=memo) if (r.alternative_options or r.alternatives) else r for r in recs]

    t0 = time.perf_counter()
    plain = [interpret(c, c.sample, ruleset=rs, screen_alternatives=False) for c in sets]
    t1 = time.perf_counter()
    fresh = [check(recs, c, False) for c, recs in zip(sets, plain)]
    t2 = time.perf_counter()
    rs.cache.pop(_MEMO, None)
    memo = [check(recs, c, True) for c, recs in zip(sets, plain)]
    t3 = time.perf_counter()
    same = fresh == memo
    n = len(sets)
    entries = len(rs.cache.get(_MEMO, {}))
    checks = sum(1 for recs in plain for r in recs for o in r.alternative_options if o.get("offered", True))
    print(f"{n} result sets ({'VCF ' + str(args.vcf) if args.vcf else 'random'}), {checks} alternative checks")
    print(f"  interpret without the check: {1000 * (t1 - t0) / n:.2f} ms/sample")
    print(f"  check, engine asked afresh:  {1000 * (t2 - t1) / n:.2f} ms/sample")
    print(f"  check, memoised:             {1000 * (t3 - t2) / n:.2f} ms/sample "
          f"({entries} distinct (alternative, result) entries, {checks - entries} answered from the memo)")
    print(f"  records identical: {same} ({sum(map(len, memo))} records)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
