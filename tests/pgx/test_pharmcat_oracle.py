"""Differential tests against PharmCAT 3.1.1 (tools/pharmcat_diff.py); skipped when ../shared/oracles is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import pharmcat_diff as pd  # noqa: E402

pytestmark = pytest.mark.oracle
if not pd.oracle_available():
    # one skip for the module, not one per comparison: a clone without the oracle reports it once
    pytest.skip("PharmCAT oracle (../shared/oracles) not present", allow_module_level=True)


def _assert_no_unexplained(source: str, files: list[Path]) -> int:
    n, diffs = pd.diff_files(source, files, log=lambda *_: None)
    bad = [d.line() for d in diffs if not d.accepted]
    assert not bad, "\n".join(bad[:50])
    return n


# The random and cohort comparisons take 30+ minutes on 2 cores and are not yet verified at 0 unexplained
# differences (issue 9 is open): they run on request, `EHRGEN_ORACLE_FULL=1`, until they are.
full = pytest.mark.skipif(os.environ.get("EHRGEN_ORACLE_FULL") != "1",
                          reason="long oracle comparison: set EHRGEN_ORACLE_FULL=1 (issue 9: not yet at 0 differences)")


@full
def test_random_cases_match_pharmcat(tmp_path):
    n = _assert_no_unexplained("random", pd.generate_case_files(tmp_path, seed=1, n_samples=1100))
    assert n >= 20_000


def test_pharmcat_examples_match(tmp_path):
    _assert_no_unexplained("examples", pd.example_files())


@full
def test_1kgp_cohort_matches_pharmcat(tmp_path):
    files, _ = pd.cohort_files(tmp_path)
    _assert_no_unexplained("1kgp", files)
