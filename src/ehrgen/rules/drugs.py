"""The drug table (mappings/drugs.tsv): load it and resolve a medication code or name to a drug.

Resolution accepts an RxNorm ingredient RxCUI, an ATC code (including combination-product codes such as
J05AR02, which map to each of our ingredients they contain) or a name/synonym (case-insensitive).
Unresolved inputs are reported as UnknownDrug so that an unmatched medication is visible, never silent.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from ehrgen import fastpath
from ehrgen.errors import InputError
from ehrgen.paths import mappings_dir

System = Literal["rxnorm", "atc", "name"]
RXNORM_URIS = ("http://www.nlm.nih.gov/research/umls/rxnorm", "rxnorm", "rxcui", "rxn", "rxnorm_ingredient")
ATC_URIS = ("http://www.whocc.no/atc", "atc", "whoatc")
_ATC = re.compile(r"^[A-Z]\d{2}[A-Z]{2}\d{2}$")
_RXCUI = re.compile(r"^\d{1,8}$")


@dataclass(frozen=True)
class Drug:
    name: str
    rxnorm: str | None
    atc: tuple[str, ...]
    pharmgkb_id: str | None
    sources: tuple[str, ...]
    guideline_ids: tuple[str, ...]
    cpic_level: str | None
    cpic_guideline_url: str | None
    synonyms: tuple[str, ...] = ()

    @property
    def primary_atc(self) -> str | None:
        return self.atc[0] if self.atc else None


@dataclass(frozen=True)
class UnknownDrug:
    """A medication input that matched no drug in the table (reported, never dropped silently)."""

    value: str
    system: str | None
    reason: str

    def to_dict(self) -> dict[str, str | None]:
        return {"value": self.value, "system": self.system, "reason": self.reason}


def _norm_system(system: str | None) -> System | None:
    if system is None:
        return None
    s = system.strip().lower()
    if s in RXNORM_URIS or "rxnorm" in s:
        return "rxnorm"
    if s in ATC_URIS or s.endswith("/atc"):
        return "atc"
    if s in ("name", "text", "display"):
        return "name"
    raise ValueError(f"unknown coding system {system!r} (expected RxNorm, ATC or name)")


@dataclass
class DrugTable:
    drugs: dict[str, Drug]
    version: str = ""
    path: Path | None = None
    _by_rxnorm: dict[str, Drug] = field(default_factory=dict, repr=False)
    _by_atc: dict[str, list[Drug]] = field(default_factory=dict, repr=False)
    _by_name: dict[str, Drug] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for d in self.drugs.values():
            if d.rxnorm:
                self._by_rxnorm[d.rxnorm] = d
            for code in d.atc:
                self._by_atc.setdefault(code, []).append(d)
            for n in (d.name, *d.synonyms):
                self._by_name[n.lower()] = d

    def resolve_all(self, value: str, system: str | None = None) -> list[Drug]:
        """Every drug the input denotes (several for a combination ATC code); [] when unknown."""
        v = (value or "").strip()
        if not v:
            return []
        sys_ = _norm_system(system)
        if sys_ in (None, "rxnorm") and _RXCUI.match(v) and v in self._by_rxnorm:
            return [self._by_rxnorm[v]]
        if sys_ in (None, "atc") and _ATC.match(v.upper()):
            return list(self._by_atc.get(v.upper(), []))
        if sys_ in (None, "name"):
            hit = self._by_name.get(re.sub(r"\s+", " ", v.lower()))
            return [hit] if hit else []
        return []

    def resolve(self, value: str, system: str | None = None) -> Drug | None:
        """One drug for an RxNorm ingredient code, ATC code or name; None when unknown or ambiguous."""
        hits = self.resolve_all(value, system)
        return hits[0] if len(hits) == 1 else None

    def resolve_or_report(self, value: str, system: str | None = None) -> list[Drug] | UnknownDrug:
        try:
            hits = self.resolve_all(value, system)
        except ValueError as exc:
            return UnknownDrug(value, system, str(exc))
        if hits:
            return hits
        kind = _norm_system(system) if system else None
        if kind == "rxnorm" or (kind is None and _RXCUI.match((value or "").strip())):
            reason = "RxNorm code is not an ingredient in the drug table (product-level codes need mapping to ingredients)"
        elif kind == "atc" or (kind is None and _ATC.match((value or "").strip().upper())):
            reason = "ATC code is not in the drug table"
        else:
            reason = "name is not in the drug table"
        return UnknownDrug(value, system, f"{reason} (no CPIC/DPWG guideline drug)")


def _split(v: str) -> tuple[str, ...]:
    return tuple(x for x in (v or "").split(";") if x)


def load_table(path: Path | str | None = None) -> DrugTable:
    """Load mappings/drugs.tsv. Raises InputError naming file:line on malformed rows."""
    f = Path(path) if path else mappings_dir() / "drugs.tsv"
    if not f.is_file():
        raise InputError(str(f), "drug table not found (generate it with tools/gen_drugs.py)")
    version = ""
    rows: list[tuple[int, str]] = []
    for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#"):
            m = re.search(r"content_sha256: (\w+)", line)
            version = m.group(1) if m else version
        elif line.strip():
            rows.append((n, line))
    if not rows:
        raise InputError(str(f), "empty drug table")
    header = rows[0][1].split("\t")
    drugs: dict[str, Drug] = {}
    for n, line in rows[1:]:
        values = line.split("\t")
        if len(values) != len(header):
            raise InputError(str(f), f"expected {len(header)} tab-separated fields, got {len(values)}", n)
        r = dict(zip(header, values))
        if not r.get("name"):
            raise InputError(str(f), "empty drug name", n)
        drugs[r["name"]] = Drug(
            name=r["name"], rxnorm=r.get("rxnorm") or None, atc=_split(r.get("atc", "")),
            pharmgkb_id=r.get("pharmgkb_id") or None, sources=_split(r.get("sources", "")),
            guideline_ids=_split(r.get("guideline_ids", "")), cpic_level=r.get("cpic_level") or None,
            cpic_guideline_url=r.get("cpic_guideline_url") or None, synonyms=_split(r.get("synonyms", "")))
    return DrugTable(drugs=drugs, version=version, path=f)


@lru_cache(maxsize=4)
def _cached(path: str) -> DrugTable:
    return load_table(path)


_default_paths: dict[tuple[str | None, str | None, str], str] = {}


def default_table() -> DrugTable:
    if fastpath.enabled():
        # finding mappings/ walks the file system (~0.1 ms, once per interpreted sample); where it is found
        # depends only on these settings and the working directory (the package does not move)
        try:
            key = (os.environ.get("EHRGEN_MAPPINGS"), os.environ.get("EHRGEN_HOME"), os.getcwd())
        except OSError:  # the working directory is gone: let the plain lookup say what it finds
            return _cached(str(mappings_dir() / "drugs.tsv"))
        path = _default_paths.get(key)
        if path is None:
            if len(_default_paths) > 64:
                _default_paths.clear()
            path = _default_paths[key] = str(mappings_dir() / "drugs.tsv")
        return _cached(path)
    return _cached(str(mappings_dir() / "drugs.tsv"))


def resolve(code_or_name: str, system: str | None = None, table: DrugTable | None = None) -> Drug | None:
    """Resolve by RxNorm ingredient code, ATC code or name (case-insensitive, synonyms); None if unknown."""
    return (table or default_table()).resolve(code_or_name, system)


def resolve_medications(items: list[str | tuple[str, str]], table: DrugTable | None = None
                        ) -> tuple[list[Drug], list[UnknownDrug]]:
    """Resolve a medication list (plain strings or (system, code) pairs) to drugs plus UnknownDrug reports."""
    t = table or default_table()
    found: list[Drug] = []
    unknown: list[UnknownDrug] = []
    for item in items:
        system, value = (item if isinstance(item, tuple) else (None, item))
        res = t.resolve_or_report(value, system)
        if isinstance(res, UnknownDrug):
            unknown.append(res)
        else:
            found += [d for d in res if d not in found]
    return found, unknown
