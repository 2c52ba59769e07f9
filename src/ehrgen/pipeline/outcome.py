"""Per-sample outcome of a pipeline run: what happened, where it stopped, and why (no genotypes, no names)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

# final statuses; the run is "partially failed" when any sample ends in FAILED_STATUSES
FAILED_STATUSES = frozenset({"failed", "delivery-failed"})


@dataclass
class SampleOutcome:
    sample: str
    patient: str = ""
    vcf: str = ""  # file name only
    status: str = "pending"  # pending | exported | delivered | unchanged | withheld | consent-withdrawn | failed
    #                           | delivery-failed
    stage: str = ""  # the last stage reached, or the one that failed: plan | call | interpret | export | deliver
    reason: str = ""
    actionable: int = 0
    recommendations: int = 0
    delivered: str = ""  # per-target summary, e.g. "outbox: sent"
    skipped: list[str] = field(default_factory=list)  # stages reused from an earlier run (unchanged inputs)

    def fail(self, stage: str, reason: str) -> "SampleOutcome":
        self.status, self.stage, self.reason = "failed", stage, reason
        return self

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SampleOutcome":
        return cls(**d)


def summarise(outcomes: list[SampleOutcome]) -> dict[str, Any]:
    """Counts for logs and artifacts (no identifiers)."""
    counts = Counter(o.status for o in outcomes)
    failed = sum(counts[s] for s in FAILED_STATUSES)
    return {
        "samples": len(outcomes),
        "failed": failed,
        "by_status": dict(sorted(counts.items())),
        "actionable": sum(o.actionable for o in outcomes),
        "consent_withdrawn": counts["consent-withdrawn"],
        "state": "completed" if not failed else ("failed" if failed == len(outcomes) else "partially failed"),
    }


# display order: what needs attention first (failures, then withheld/withdrawn), then the rest
_ORDER = {"failed": 0, "delivery-failed": 1, "consent-withdrawn": 2, "withheld": 3}


def attention_first(outcomes: list[SampleOutcome]) -> list[SampleOutcome]:
    """Outcomes with failures first (then withdrawn / withheld), each group in its original order."""
    return sorted(outcomes, key=lambda o: _ORDER.get(o.status, 9))


def withdrawn_note(summary: dict[str, Any]) -> str:
    n = summary.get("consent_withdrawn", 0)
    if not n:
        return ""
    return (f"{n} patient(s) withdrew consent after results were sent: nothing further delivered or "
            "re-interpreted for them, and the CDS service no longer uses their stored results.")
