"""Typed records the interpretation stage produces (written as `recommendations.tsv` and per-patient JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
        self.strength_graded = (self.strength or "").strip().lower() not in ("", "n/a", "na", "unspecified")

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
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Recommendation":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})
