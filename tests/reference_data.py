"""Where the tests' vendored reference files live (tests/data/reference, see its README.md).

Tests read this copy, never ../shared: a fresh clone must run its whole suite on its own. Only the oracle
tests (../shared/oracles, skipped when absent) look beside the checkout.
"""

from __future__ import annotations

from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "data" / "reference"
