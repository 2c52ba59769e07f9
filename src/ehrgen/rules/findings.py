"""What counts as a finding and how many there are: ONE definition for the terminal table, the clinician
report, the FHIR DiagnosticReport and the CDS patient-view card (pure functions, no I/O).

A finding is a drug with at least one actionable recommendation (`Recommendation.actionable`, set by the
engine). CPIC and DPWG advice for the same drug, and the guideline's sub-populations (clopidogrel's
cardiovascular / neurovascular indications, voriconazole adults / children), are one finding: a prescriber
decides once per drug. Its level is the most severe alert among those recommendations.

Why one function: counting rows in one place and drugs in another, or leaving out info-level actionable
advice in one place only (CPIC ivacaftor for the reference CFTR sequence is "avoid" at alert level info),
made the report say 22 while the terminal said 21 for the same patient.

Also here: the display labels every output uses for a recommendation's strength and population, so the
guideline's own terms (or "not graded") and populations in words read the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ehrgen.rules.model import Recommendation

ALERT_ORDER = {"critical": 0, "warning": 1, "info": 2}
SOURCE_ORDER = {"CPIC": 0, "DPWG": 1}
NOT_GRADED = "not graded"


def _alert(level: str) -> str:
    return level if level in ALERT_ORDER else "info"  # unknown levels never hide a row


@dataclass(frozen=True)
class DrugFinding:
    """One drug's actionable advice, every source and population together (CPIC first)."""

    drug: str
    alert: str  # most severe alert of `recs`
    recs: tuple[Recommendation, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.source for r in self.recs))

    @property
    def genes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g for r in self.recs for g in r.genes))


@dataclass(frozen=True)
class FindingCounts:
    actionable: int  # drugs with actionable advice (= findings)
    critical: int  # findings whose most severe alert is critical
    warning: int
    info: int
    recommendations: int  # actionable recommendation rows behind them (guideline x source x population)
    drugs_checked: int  # distinct drugs evaluated

    def headline(self) -> str:
        """'12 drugs with actionable findings (3 critical, 8 warning, 1 info)' / 'No actionable findings'."""
        if not self.actionable:
            return "No actionable findings"
        noun = "drug" if self.actionable == 1 else "drugs"
        parts = [f"{n} {lvl}" for lvl, n in (("critical", self.critical), ("warning", self.warning),
                                             ("info", self.info)) if n]
        return f"{self.actionable} {noun} with actionable findings ({', '.join(parts)})"

    def to_dict(self) -> dict[str, int]:
        return {"actionable": self.actionable, "critical": self.critical, "warning": self.warning,
                "info": self.info, "recommendations": self.recommendations, "drugs_checked": self.drugs_checked}


def rec_order(r: Recommendation) -> tuple:
    return (SOURCE_ORDER.get(r.source, 9), r.source, ALERT_ORDER[_alert(r.alert)], r.population or "", r.rule_id)


def drug_findings(recs: Iterable[Recommendation]) -> list[DrugFinding]:
    """Findings, most severe first, then by drug name."""
    by_drug: dict[str, list[Recommendation]] = {}
    for r in recs:
        if r.actionable:
            by_drug.setdefault(r.drug, []).append(r)
    out = [DrugFinding(drug, min((_alert(r.alert) for r in rs), key=ALERT_ORDER.__getitem__),
                       tuple(sorted(rs, key=rec_order)))
           for drug, rs in by_drug.items()]
    return sorted(out, key=lambda f: (ALERT_ORDER[f.alert], f.drug.lower()))


def count_findings(recs: Iterable[Recommendation]) -> FindingCounts:
    recs = list(recs)
    found = drug_findings(recs)
    return FindingCounts(
        actionable=len(found),
        critical=sum(f.alert == "critical" for f in found),
        warning=sum(f.alert == "warning" for f in found),
        info=sum(f.alert == "info" for f in found),
        recommendations=sum(len(f.recs) for f in found),
        drugs_checked=len({r.drug for r in recs}),
    )


# -- display labels -------------------------------------------------------------------------------------

def strength_label(strength: str | None) -> str:
    """The guideline's own strength term (CPIC: Strong, Moderate, Optional, No recommendation); 'not graded'
    when the source gives none (DPWG recommendations carry no strength in the guideline data: 'N/A')."""
    s = (strength or "").strip()
    if not s or s.upper() in ("N/A", "NA", "NONE"):
        return NOT_GRADED
    return s


# The guideline data's population codes, in words (CPIC clopidogrel, voriconazole, atomoxetine; DPWG
# phenytoin, carbamazepine, oxcarbazepine, ...). An unknown code is shown as given rather than hidden.
_POPULATIONS = {
    "general": "",
    "adults": "Adults",
    "pediatrics": "Children",
    "child >40kg_adult": "Adults and children over 40 kg",
    "CVI ACS PCI": "Cardiovascular use: acute coronary syndrome or percutaneous coronary intervention",
    "CVI non-ACS non-PCI": "Cardiovascular use other than acute coronary syndrome or coronary intervention",
    "NVI": "Neurovascular use (stroke or transient ischaemic attack)",
    "PHT naive": "Not yet taking phenytoin",
    "PHT use >3mos": "Taking phenytoin for more than 3 months",
    "CBZ naive": "Not yet taking carbamazepine",
    "CBZ use >3mos": "Taking carbamazepine for more than 3 months",
    "CBZ-no alternatives": "Carbamazepine when no alternative is available",
    "OXC naive": "Not yet taking oxcarbazepine",
    "OXC use >3 mos": "Taking oxcarbazepine for more than 3 months",
}


def population_label(population: str | None) -> str:
    """Population in words; '' for the general population (no qualifier to show)."""
    p = (population or "").strip()
    if p in ("", "None"):
        return ""
    return _POPULATIONS.get(p, p)


def known_population(population: str | None) -> bool:
    return (population or "").strip() in _POPULATIONS or (population or "").strip() in ("", "None")
