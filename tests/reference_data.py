"""Where the tests' vendored reference files live (tests/data/reference, see its README.md).

Tests read this copy, never ../shared: a fresh clone must run its whole suite on its own. Only the oracle
tests (../shared/oracles, skipped when absent) look beside the checkout.
"""

from __future__ import annotations

from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "data" / "reference"

# The table generators in tools/ read the full pinned reference set beside the checkout (../shared/reference);
# their reproduction tests run where it is present (maintainers, CI) and skip in a user's clone.
from ehrgen.paths import reference_dir  # noqa: E402

import pytest  # noqa: E402

needs_shared_reference = pytest.mark.skipif(
    not (reference_dir() / "guidelines-2.12.0").is_dir(),
    reason="generator test: the pinned reference set (../shared/reference) is not beside this checkout")
