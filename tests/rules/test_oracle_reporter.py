"""ehrgen's matched recommendations equal PharmCAT 3.1.1's reporter for 2,000 random full result sets (tools/oracle_reporter.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "oracle_reporter.py"
spec = importlib.util.spec_from_file_location("oracle_reporter", TOOL)
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)  # type: ignore[union-attr]

pytestmark = [pytest.mark.oracle,
              pytest.mark.skipif(not oracle.available(), reason="PharmCAT oracle (../shared/oracles) or java absent")]


def test_matched_recommendations_equal_pharmcat_for_2000_random_result_sets():
    results = oracle.random_sets(2000, 1)
    theirs = oracle.pharmcat(results, 2)
    compared, diffs, _ = oracle.compare(results, theirs)
    assert compared > 100_000
    assert not diffs, "\n".join(diffs[:20])
    # the DPWG keys left out above: ehrgen's recommendation is the one PharmCAT's own gene results select
    checked, problems, reasons = oracle.check_left_out(results, theirs)
    assert checked > 10_000
    assert not problems, "\n".join(problems[:20])
    assert not [why for why in reasons if "not checked" in why]
