"""Lookups in code_maps.tsv (the code tables for clinical ingestion live in that data file, not in code)."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

_TABLE_FILE = "code_maps.tsv"


@lru_cache(maxsize=1)
def _tables() -> dict[str, dict[str, str]]:
    text = resources.files(__package__).joinpath(_TABLE_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader((line for line in text.splitlines() if not line.startswith("#")), delimiter="\t")
    tables: dict[str, dict[str, str]] = {}
    for row in rows:
        tables.setdefault(row["table"], {})[row["source"].strip().lower()] = row["target"].strip()
    return tables


def lookup(table: str, value: str | None) -> str | None:
    """The target for `value` in `table` (case-insensitive), or None when the value is not listed."""
    if value is None:
        return None
    return _tables()[table].get(value.strip().lower())


def allowed(table: str) -> list[str]:
    """The source values a table accepts (for error messages)."""
    return sorted(_tables()[table])


def coding_system(name: str | None) -> str:
    """The URI for an HL7 v2 coding system name or FHIR system; unknown (local) systems are kept as given."""
    if not name:
        return ""
    return lookup("coding_system", name) or name
