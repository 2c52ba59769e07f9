"""Read the code tables (mappings/fhir_codes.tsv, mappings/hgnc.tsv) that the FHIR and HL7 v2 builders use.

The tables, not this module, hold every code: this module only parses them and hands out ready-made
Coding / CodeableConcept dicts. Parsed once per process (the tables are tiny).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ehrgen.errors import InputError
from ehrgen.paths import mappings_dir

CODES_FILE = "fhir_codes.tsv"
HGNC_FILE = "hgnc.tsv"
_CODE_COLUMNS = ("group", "key", "system", "code", "display", "verified", "note")


@dataclass(frozen=True)
class CodeRow:
    group: str
    key: str
    system: str  # key of a "system" row ("" = text-only concept)
    code: str
    display: str
    verified: str
    note: str


def _read_tsv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a '#'-commented TSV with a header line, with their 1-based line numbers."""
    if not path.is_file():
        raise InputError(str(path), "code table not found")
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            cells = line.rstrip("\r\n").split("\t")
            if header is None:
                header = cells
                if tuple(header[: len(columns)]) != columns:
                    raise InputError(str(path), f"header must start with {', '.join(columns)}", lineno)
                continue
            if len(cells) < len(columns):
                cells += [""] * (len(columns) - len(cells))
            rows.append((lineno, dict(zip(columns, cells))))
    return rows


class CodeTable:
    """Lookup over mappings/fhir_codes.tsv."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: dict[tuple[str, str], CodeRow] = {}
        for lineno, r in _read_tsv(path, _CODE_COLUMNS):
            key = (r["group"], r["key"])
            if key in self._rows:
                raise InputError(str(path), f"duplicate entry {r['group']}/{r['key']}", lineno)
            self._rows[key] = CodeRow(**r)
        for (group, key), row in self._rows.items():
            if row.system and group not in ("system", "v2system") and ("system", row.system) not in self._rows \
                    and ("v2system", row.system) not in self._rows:
                raise InputError(str(path), f"{group}/{key}: unknown system key {row.system!r}")

    def rows(self, group: str | None = None) -> list[CodeRow]:
        return [r for (g, _), r in self._rows.items() if group is None or g == group]

    def get(self, group: str, key: str) -> CodeRow | None:
        return self._rows.get((group, key))

    def need(self, group: str, key: str) -> CodeRow:
        row = self._rows.get((group, key))
        if row is None:
            raise InputError(str(self.path), f"missing entry {group}/{key}")
        return row

    def system_url(self, key: str) -> str:
        return self.need("system", key).code

    def url(self, group: str, key: str) -> str:
        """The `code` column of a system/profile row (a URL)."""
        return self.need(group, key).code

    def coding(self, group: str, key: str) -> dict[str, str] | None:
        """FHIR Coding for a row, or None when the row is text-only."""
        row = self.need(group, key)
        if not row.system or not row.code:
            return None
        out = {"system": self.system_url(row.system), "code": row.code}
        if row.display:
            out["display"] = row.display
        return out

    def concept(self, group: str, key: str, text: str | None = None) -> dict[str, Any]:
        """FHIR CodeableConcept for a row (text-only when the row has no code)."""
        row = self.need(group, key)
        coding = self.coding(group, key)
        cc: dict[str, Any] = {}
        if coding:
            cc["coding"] = [coding]
        if text or not coding:
            cc["text"] = text or row.display
        return cc

    def phenotype_row(self, term: str | None) -> CodeRow | None:
        """Row for a CPIC phenotype term / lookup key (case-insensitive); HLA-style '<allele> positive' keys
        fall back to the generic 'positive'/'negative' rows."""
        if not term:
            return None
        t = term.strip().lower()
        row = self.get("phenotype", t)
        if row is None:
            last = t.rsplit(" ", 1)[-1]
            if last in ("positive", "negative") and t != last:
                row = self.get("phenotype", last)
        return row


@lru_cache(maxsize=4)
def code_table(path: Path | None = None) -> CodeTable:
    return CodeTable(path or mappings_dir() / CODES_FILE)


@lru_cache(maxsize=4)
def hgnc_table(path: Path | None = None) -> dict[str, str]:
    """Gene symbol -> HGNC ID ("HGNC:2621")."""
    p = path or mappings_dir() / HGNC_FILE
    out: dict[str, str] = {}
    for lineno, r in _read_tsv(p, ("symbol", "hgnc_id", "verified_in")):
        if not r["hgnc_id"].startswith("HGNC:"):
            raise InputError(str(p), f"hgnc_id must look like HGNC:<number>, got {r['hgnc_id']!r}", lineno)
        out[r["symbol"]] = r["hgnc_id"]
    return out


def gene_concept(gene: str) -> dict[str, Any]:
    """CodeableConcept for gene-studied: HGNC ID as code, symbol as display (IG rule); text-only if unknown."""
    hgnc_id = hgnc_table().get(gene)
    if hgnc_id is None:
        return {"text": gene}
    return {"coding": [{"system": code_table().system_url("hgnc"), "code": hgnc_id, "display": gene}]}
