"""Compare a run's calls and recommendations with a scenario's expected tables (sample_data/expected/).

expected/calls.tsv: sample, gene, diplotypes, status[, phenotype] (gene ALL + status input_error: the
sample must fail alone at the call stage). expected/recommendations.tsv (optional): RECOMMENDATION_COLUMNS;
rows are compared per sample as sets on the columns both sides have, ignoring rules_version/guideline_url.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ehrgen.pgx.output import read_sample_calls, safe_name
from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.workdir import RunDirs
from ehrgen.rules.model import Recommendation

IGNORED_REC_COLUMNS = {"rules_version", "guideline_url", "patient"}


@dataclass
class SampleCheck:
    sample: str
    expected: str = "ok"  # ok | input_error
    status: str = ""
    genes_checked: int = 0
    recs_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader((l for l in fh if not l.startswith("#")), delimiter="\t"))


KEY_COLUMNS = ("drug", "source")  # a recommendation is "the same one, changed" when these agree


def recommendation_differences(cols: list[str], missing: list[tuple[str, ...]], extra: list[tuple[str, ...]]
                               ) -> list[str]:
    """Problems for expected rows not produced (`missing`) and produced rows not expected (`extra`). A missing
    and an extra row for the same drug and source are one changed recommendation: it names each field that
    differs with both values (expected -> got). The rest are listed as missing or unexpected."""
    keys = [cols.index(k) for k in KEY_COLUMNS if k in cols]
    label = lambda row: " ".join(row[i] for i in keys) or " ".join(row[:4])  # noqa: E731
    left = list(extra)
    changed, missing_only = [], []
    for want in missing:
        same = [h for h in left if keys and all(h[i] == want[i] for i in keys)]
        if not same:
            missing_only.append(want)
            continue
        got = min(same, key=lambda h: sum(a != b for a, b in zip(want, h)))  # the closest one
        left.remove(got)
        fields = [f"{cols[i]} {want[i] or '-'} -> {got[i] or '-'}" for i in range(len(cols)) if want[i] != got[i]]
        changed.append(f"{label(want)} changed: " + ", ".join(fields))
    out = changed + ["missing recommendation " + " ".join(m[:4]) for m in missing_only]
    out = out[:3]
    if left:
        out.append(f"{len(left)} unexpected recommendation(s), e.g. {' '.join(left[0][:4])}")
    return out


def compare(expected_dir: Path, dirs: RunDirs, outcomes: list[SampleOutcome]) -> list[SampleCheck]:
    by_sample = {o.sample: o for o in outcomes}
    checks: dict[str, SampleCheck] = {}
    calls_cache: dict[str, dict] = {}

    def check(sample: str) -> SampleCheck:
        if sample not in checks:
            o = by_sample.get(sample)
            checks[sample] = SampleCheck(sample, status=o.status if o else "not run")
        return checks[sample]

    for row in _rows(expected_dir / "calls.tsv"):
        s, gene, status = row["sample"], row["gene"], row["status"]
        c = check(s)
        o = by_sample.get(s)
        if status == "input_error":
            c.expected = "input_error"
            if o is None or o.status != "failed" or o.stage != "call":
                c.problems.append(f"expected an input error at calling, got {o.status if o else 'no outcome'}")
            continue
        if o is None or o.status in ("failed", "delivery-failed", "not run"):
            if not any(p.startswith("sample ") for p in c.problems):
                c.problems.append(f"sample {o.status if o else 'not run'}: {o.reason if o else ''}".strip())
            continue
        if s not in calls_cache:
            calls_cache[s] = read_sample_calls(dirs.calls / f"{safe_name(s)}.calls.json").genes
        got = calls_cache[s].get(gene)
        c.genes_checked += 1
        want_dip, want_ph = row.get("diplotypes", ""), row.get("phenotype", "")
        if got is None:
            c.problems.append(f"{gene}: not in calls")
            continue
        if got.status != status:
            c.problems.append(f"{gene}: status {got.status}, expected {status}")
        if want_dip and got.diplotype_text != want_dip:
            c.problems.append(f"{gene}: {got.diplotype_text or '-'}, expected {want_dip}")
        if want_ph and want_ph not in ((got.phenotype or ""), *got.lookup.values()):
            c.problems.append(f"{gene}: phenotype {got.phenotype or '-'}, expected {want_ph}")

    rec_file = expected_dir / "recommendations.tsv"
    if rec_file.is_file():
        expected: dict[str, list[dict[str, str]]] = {}
        for row in _rows(rec_file):
            expected.setdefault(row["sample"], []).append(row)
        for s, rows in expected.items():
            c = check(s)
            path = dirs.recommendations / f"{safe_name(s)}.recommendations.json"
            if not path.is_file():
                c.problems.append("no recommendations written")
                continue
            got_rows = [Recommendation.from_dict(r).row() for r in json.loads(path.read_text())["recommendations"]]
            cols = [k for k in rows[0] if k not in IGNORED_REC_COLUMNS and got_rows and k in got_rows[0]]
            want = {tuple(r[k] for k in cols) for r in rows}
            have = {tuple(r[k] for k in cols) for r in got_rows}
            c.recs_checked += len(want)
            c.problems += recommendation_differences(cols, sorted(want - have), sorted(have - want))
    for o in outcomes:  # samples the manifest ran that no expected table mentions must at least not fail
        if o.sample not in checks and o.failed:
            check(o.sample).problems.append(f"{o.status} at {o.stage}: {o.reason}")
    return [checks[k] for k in sorted(checks)]
