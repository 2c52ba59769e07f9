"""Resolve a draft order's medication to the project's drug ingredients (and alternatives back to codes).

Order of evidence, per coding of medicationCodeableConcept: RxNorm ingredient (drug table), RxNorm clinical
product (mappings/rxnorm_products.tsv -> ingredient), ATC (drug table, combination codes give several
ingredients); only when no coding resolves, the names in the codings' display / the concept's text. Names are
the last resort because free text is where mistakes hide (a display can be stale or local).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ehrgen.errors import InputError
from ehrgen.paths import mappings_dir
from ehrgen.rules.drugs import DrugTable, default_table

PRODUCTS_FILE = "rxnorm_products.tsv"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_WORD = re.compile(r"[a-z][a-z0-9\-]*")


def read_tsv(path: Path) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise InputError(str(path), "table not found")
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for n, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            cells = line.rstrip("\r\n").split("\t")
            if header is None:
                header = cells
                continue
            if len(cells) != len(header):
                raise InputError(str(path), f"expected {len(header)} tab-separated fields, got {len(cells)}", n)
            rows.append((n, dict(zip(header, cells))))
    return rows


@dataclass(frozen=True)
class Product:
    rxcui: str
    tty: str
    name: str
    ingredient_rxcui: str
    ingredient: str
    verified: str


@dataclass
class MedicationResolver:
    """Drug table + product table, with the lookups the CDS service needs (alternatives come with the
    recommendations, from rules/alternatives.tsv)."""

    table: DrugTable
    products: dict[str, Product]
    _names: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (lower-case name, ingredient)

    def __post_init__(self) -> None:
        names = {}
        for d in self.table.drugs.values():
            for n in (d.name, *d.synonyms):
                names[n.lower()] = d.name
        # longest first so "codeine phosphate" style multi-word synonyms win over a shorter overlap
        self._names = sorted(names.items(), key=lambda kv: -len(kv[0]))

    # ---------------------------------------------------------------- order -> ingredients

    def resolve_coding(self, coding: dict[str, Any]) -> list[str]:
        system = str(coding.get("system") or "")
        code = str(coding.get("code") or "").strip()
        if not code:
            return []
        low = system.lower()
        if "rxnorm" in low:
            hits = self.table.resolve_all(code, "rxnorm")
            if hits:
                return [d.name for d in hits]
            prod = self.products.get(code)
            return [prod.ingredient] if prod and prod.ingredient in self.table.drugs else []
        if low.endswith("/atc") or low in ("atc", "whoatc"):
            return [d.name for d in self.table.resolve_all(code.upper(), "atc")]
        return []

    def names_in_text(self, text: str) -> list[str]:
        """Ingredients named as whole words in free text ('Acetaminophen 300 MG / Codeine ...' -> ['codeine'])."""
        low = " " + " ".join(_WORD.findall(text.lower())) + " "
        found: list[str] = []
        for name, ingredient in self._names:
            if f" {name} " in low and ingredient not in found:
                found.append(ingredient)
        return found

    def resolve_concept(self, concept: dict[str, Any] | None) -> tuple[list[str], str]:
        """Ingredients for a medicationCodeableConcept, and how they were found ('code', 'name' or 'none')."""
        if not concept:
            return [], "none"
        codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
        found: list[str] = []
        for c in codings:
            for name in self.resolve_coding(c):
                if name not in found:
                    found.append(name)
        if found:
            return found, "code"
        texts = [str(concept.get("text") or "")] + [str(c.get("display") or "") for c in codings]
        for t in texts:
            for name in self.names_in_text(t):
                if name not in found:
                    found.append(name)
        return found, ("name" if found else "none")

    # ---------------------------------------------------------------- ingredient -> codes

    def rxnorm_for(self, ingredient: str) -> str | None:
        d = self.table.drugs.get(ingredient)
        if d and d.rxnorm:
            return d.rxnorm
        for p in self.products.values():
            if p.tty == "IN" and p.ingredient == ingredient:
                return p.rxcui
        return None

    def cpic_level(self, drug: str) -> str | None:
        d = self.table.drugs.get(drug)
        return d.cpic_level if d else None


def load_products(path: Path | None = None) -> dict[str, Product]:
    p = path or mappings_dir() / PRODUCTS_FILE
    out: dict[str, Product] = {}
    for n, r in read_tsv(p):
        try:
            prod = Product(**{k: r[k] for k in Product.__dataclass_fields__})
        except KeyError as exc:
            raise InputError(str(p), f"missing column {exc}", n) from None
        if not prod.rxcui.isdigit() or not prod.ingredient_rxcui.isdigit():
            raise InputError(str(p), f"rxcui and ingredient_rxcui must be numeric, got {prod.rxcui!r}", n)
        out[prod.rxcui] = prod
    return out


@lru_cache(maxsize=1)
def default_resolver() -> MedicationResolver:
    return MedicationResolver(default_table(), load_products())
