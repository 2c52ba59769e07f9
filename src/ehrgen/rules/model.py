"""Typed records the interpretation stage produces (written as `recommendations.tsv` and per-patient JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ehrgen import fastpath

Source = Literal["CPIC", "DPWG"]
Alert = Literal["critical", "warning", "info"]
# action classes, in the project's own vocabulary
ACTIONS: tuple[str, ...] = (
    "avoid",
    "use_alternative",
    "reduce_dose",
    "increase_dose",
    "standard_dosing",
    "monitor",
    "test_recommended",
    "no_recommendation",
    "indeterminate",
)

RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "patient", "sample", "drug", "source", "genes", "phenotypes", "action",
    "strength", "alert", "guideline_url", "rules_version",
)


@dataclass
class Recommendation:
    patient: str
    sample: str
    drug: str  # ingredient name, lower case as in mappings/drugs.tsv
    source: Source
    genes: list[str]
    phenotypes: dict[str, str]  # gene -> phenotype / activity score / allele status used for the lookup
    action: str  # one of ACTIONS
    strength: str  # guideline's own classification term (Strong, Moderate, Optional, No recommendation)
    alert: Alert
    summary: str  # project's own words
    guideline_id: str
    guideline_url: str
    rules_version: str
    rule_id: str = ""
    dose_percent: int | None = None  # for reduce_dose / increase_dose where the guideline gives one
    alternatives: list[str] = field(default_factory=list)
    actionable: bool = False
    reason: str | None = None  # e.g. why indeterminate, and what would resolve it
    rxnorm: str | None = None
    atc: str | None = None
    population: str | None = None  # guideline population the rule applies to ("general", "CVI ACS PCI", ...)
    # the exact guideline recommendation the advice comes from (PharmGKB id and the annotation page holding it)
    recommendation_id: str = ""
    recommendation_url: str = ""
    # False when the guideline grades no strength (DPWG "N/A", or no rule matched): show "not graded", not a grade
    strength_graded: bool = False
    # reviewed alternatives (rules/alternatives.tsv) after the per-patient check (ehrgen.rules.alternatives.screen):
    # [{"drug", "condition", "note", "offered", "reason"}]; `alternatives` lists only the offered ones
    alternative_options: list[dict[str, Any]] = field(default_factory=list)
    alternatives_note: str = ""  # e.g. "The guideline names no alternative drug for this result."
    alternatives_screened: bool = False
    # set when the guideline exists but is not in this rule set (newer than the pinned guideline data)
    not_in_ruleset: bool = False

    def __post_init__(self) -> None:
        # derived from the guideline's own term, so every producer (engine, hand-built, older JSON) agrees
        self.strength_graded = _graded(self.strength)

    def row(self) -> dict[str, str]:
        return {
            "patient": self.patient,
            "sample": self.sample,
            "drug": self.drug,
            "source": self.source,
            "genes": ";".join(self.genes),
            "phenotypes": ";".join(f"{g}:{p}" for g, p in self.phenotypes.items()),
            "action": self.action,
            "strength": self.strength,
            "alert": self.alert,
            "guideline_url": self.guideline_url,
            "rules_version": self.rules_version,
        }

    def to_dict(self) -> dict[str, Any]:
        if fastpath.enabled() and type(self) is Recommendation:
            # asdict's generic recursion (deepcopy per leaf) cost ~0.1 ms per record, 150 records per person;
            # the records hold only JSON-like values, copied here the same way (anything else: asdict)
            src, out = self.__dict__, {}
            try:
                for name in _FIELDS:
                    v = src[name]
                    out[name] = v if type(v) in _ATOMS else _copy(v)
                return out
            except (_Unusual, KeyError):
                pass
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Recommendation":
        if cls is Recommendation and fastpath.enabled():
            r = _from_full_dict(d)
            if r is not None:
                return r
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


def records_from_dicts(docs: list[dict[str, Any]]) -> list[Recommendation]:
    """[Recommendation.from_dict(d) for d in docs], asking `fastpath` once rather than per record."""
    if not fastpath.enabled():
        return [Recommendation.from_dict(d) for d in docs]
    return [_from_full_dict(d) or Recommendation.from_dict(d) for d in docs]


def _from_full_dict(d: Any) -> Recommendation | None:
    """What __init__ + __post_init__ store for a dict giving every field (what the pipeline writes): the same
    values in field order, without the generated __init__'s keyword matching. None for any other dict."""
    if type(d) is not dict:
        return None
    if list(d) == _FIELD_LIST:
        values = d.copy()
    elif _FIELD_SET <= d.keys():
        values = {name: d[name] for name in _FIELDS}
    else:
        return None
    r = object.__new__(Recommendation)
    r.__dict__ = values
    r.strength_graded = _graded(r.strength)
    return r


def _graded(strength: str | None) -> bool:
    return (strength or "").strip().lower() not in ("", "n/a", "na", "unspecified")


_FIELDS: tuple[str, ...] = tuple(Recommendation.__dataclass_fields__)
_FIELD_LIST: list[str] = list(_FIELDS)
_FIELD_SET = frozenset(_FIELDS)
_ATOMS = frozenset((str, int, float, bool, type(None)))


class _Unusual(Exception):
    """A value asdict would treat otherwise than a JSON-like copy (a dataclass, tuple, subclass, ...)."""


def _copy(v: Any) -> Any:
    """What dataclasses.asdict makes of a JSON-like value: new lists and dicts, the same atoms."""
    t = type(v)
    if t in _ATOMS:
        return v
    if t is list:
        return [_copy(x) for x in v]
    if t is dict:
        return {_copy(k): _copy(x) for k, x in v.items()}
    raise _Unusual
