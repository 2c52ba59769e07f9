"""Differential tests against PharmCAT 3.1.1 (tools/pharmcat_diff.py); skipped when ../shared/oracles is absent.

They run in CI (where the oracle is present): 20,900 random gene calls, PharmCAT's examples, the 1000 Genomes
cohort (every distinct genotype pattern of its 3,202 people) and the fixed regression set. A cold run (no
~/.cache/ehrgen-oracle) costs about 15 minutes of PharmCAT on 2 cores; cached, under a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import pharmcat_diff as pd  # noqa: E402

pytestmark = pytest.mark.oracle
if not pd.oracle_available():
    # one skip for the module, not one per comparison: a clone without the oracle reports it once
    pytest.skip("PharmCAT oracle (../shared/oracles) not present", allow_module_level=True)


def _assert_no_unexplained(source: str, files: list[Path], oracle_input: dict | None = None) -> int:
    n, diffs = pd.diff_files(source, files, log=lambda *_: None, oracle_input=oracle_input)
    bad = [d.line() for d in diffs if not d.accepted]
    assert not bad, f"{len(bad)} unexplained difference(s) from PharmCAT:\n" + "\n".join(bad[:50])
    return n


def test_random_cases_match_pharmcat(tmp_path):
    n = _assert_no_unexplained("random", pd.generate_case_files(tmp_path, seed=1, n_samples=1100))
    assert n >= 20_000


def test_pharmcat_examples_match(tmp_path):
    _assert_no_unexplained("examples", pd.example_files())


def test_regression_set_matches_pharmcat(tmp_path):
    files = pd.regression_files()
    assert len(files) >= 50, "the regression set lost cases"
    _assert_no_unexplained("regressions", files, pd.preprocessed(files, tmp_path))


@pytest.mark.skipif(not pd.COHORT.is_file(), reason="1000 Genomes cohort (../shared/data/1kgp-pgx) not present")
def test_1kgp_cohort_matches_pharmcat(tmp_path):
    files, stands_for = pd.cohort_files(tmp_path)
    people = {p for genes in stands_for.values() for ps in genes.values() for p in ps}
    assert len(people) == 3202  # every person's genotype pattern of every gene is compared
    _assert_no_unexplained("1kgp", files, pd.preprocessed(files))
