#!/usr/bin/env python3
"""Figures for rules/README.md "Alternatives": the reviewed table's size by kind, and what changed against the
alternatives an older rules.tsv offered (the prose heuristic of rules build 2).

    python tools/alternatives_summary.py
    git show c29fe65^:rules/rules.tsv > /tmp/rules-build2.tsv
    python tools/alternatives_summary.py --old-rules /tmp/rules-build2.tsv
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ehrgen.paths import rules_dir  # noqa: E402
from ehrgen.rules.alternatives import violations  # noqa: E402
from ehrgen.rules.engine import default_ruleset  # noqa: E402
from ehrgen.rules.ruleset import RuleSet, load  # noqa: E402


def table_rows() -> list[dict[str, str]]:
    lines = [ln for ln in (rules_dir() / "alternatives.tsv").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def _load_file(path: Path) -> RuleSet:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, Path(tmp) / "rules.tsv")
        return load(tmp)


def compare(old: RuleSet, new: RuleSet) -> dict[str, int]:
    """(rule, offered drug) pairs: removed (by why), added, kept; the old pairs that break an invariant."""
    old_pairs = {(r.rule_id, a) for r in old.rules for a in r.alternatives}
    new_pairs = {(r.rule_id, a) for r in new.rules for a in r.alternatives}
    ruled_out = {(r.rule_id, a) for r in new.rules for a in r.not_alternatives}
    broken = set()
    for line in violations(old.rules):  # "<rule_id> (<source> <drug> <lookup>) offers <alt>: <why>"
        broken.add((line.split(" ", 1)[0], line.split(" offers ", 1)[1].split(":", 1)[0]))
    removed = old_pairs - new_pairs
    why = Counter("the guideline says it is not an alternative" if p in ruled_out
                  else "itself avoid / alternative / dose-changed for the same result" if p in broken
                  else "not named as an option by the text" for p in removed)
    return {"old offers": len(old_pairs), "old offers breaking an invariant": len(broken),
            "old rules breaking one": len({r for r, _ in broken}),
            "removed": len(removed), **{f"removed: {k}": v for k, v in sorted(why.items())},
            "kept": len(old_pairs & new_pairs),
            "kept with a dose condition (were plain switches)": len(broken & new_pairs),
            "added (named by the text, missed by the heuristic)": len(new_pairs - old_pairs),
            "new offers": len(new_pairs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-rules", type=Path, help="an older rules.tsv to compare the offered alternatives with")
    args = ap.parse_args(argv)
    rows = table_rows()
    rs = default_ruleset()
    kinds = Counter(r["kind"] for r in rows)
    print(f"alternatives.tsv: {len(rows)} rows ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
          f"{len({r['recommendation_id'] for r in rows})} recommendation ids, "
          f"{len({r['drug'] for r in rows})} drugs")
    offered = [(r, a) for r in rs.rules for a in r.alternatives]
    print(f"rules.tsv: {len(offered)} offers on {len({r.rule_id for r, _ in offered})} rules, "
          f"{sum(1 for r, a in offered if r.alternative_conditions.get(a))} with a condition; "
          f"{sum(1 for r in rs.rules if r.alternatives_note)} rules say what kind of drug without naming one; "
          f"violations: {len(violations(rs.rules))}")
    if args.old_rules:
        for k, v in compare(_load_file(args.old_rules), rs).items():
            print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
