"""Per-sample outcome of a pipeline run: what happened, where it stopped, and why (no genotypes, no names)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

# final statuses; the run is "partially failed" when any sample ends in FAILED_STATUSES
FAILED_STATUSES = frozenset({"failed", "delivery-failed"})
# an input record (clinical data) that was refused: listed with the samples, counted apart from them
REJECTED = "rejected"
RECORD_STAGE = "clinical"


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

    @property
    def is_record(self) -> bool:
        """A rejected input record, not a sample."""
        return self.stage == RECORD_STAGE


def rejected_records(errors: list[Any]) -> list[SampleOutcome]:
    """Rejected clinical records as outcome rows (`sample` names the file and record; errors never quote values)."""
    out = []
    for e in errors:
        where = f"{e.file.rsplit('/', 1)[-1]}:{e.location}" if e.location else e.file.rsplit("/", 1)[-1]
        reason = f"{e.field}: {e.message}" if e.field else e.message
        out.append(SampleOutcome(f"<{where}>", status=REJECTED, stage=RECORD_STAGE, reason=reason))
    return out


def summarise(outcomes: list[SampleOutcome]) -> dict[str, Any]:
    """Counts for logs and artifacts (no identifiers). Rejected input records are counted apart from samples."""
    records = [o for o in outcomes if o.is_record]
    samples = [o for o in outcomes if not o.is_record]
    counts = Counter(o.status for o in samples)
    failed = sum(counts[s] for s in FAILED_STATUSES)
    state = "completed" if not failed else ("failed" if failed == len(samples) else "partially failed")
    if state == "completed" and records:
        state = "completed with rejected records"
    return {
        "samples": len(samples),
        "failed": failed,
        "rejected_records": len(records),
        "by_status": dict(sorted(counts.items())),
        "actionable": sum(o.actionable for o in samples),
        "consent_withdrawn": counts["consent-withdrawn"],
        "state": state,
    }


# `ehrgen run` exit codes (README "Exit codes"): 2 (unusable input or options, before the run) is the CLI's own
EXIT_OK, EXIT_FAILED, EXIT_PROBLEMS = 0, 1, 3


def exit_code(summary: dict[str, Any]) -> int:
    """0: every sample went through and no input record was rejected; 3: the run completed but some samples
    failed or input records were rejected (the rest was processed and delivered); 1: nothing went through."""
    if summary["samples"] and summary["failed"] == summary["samples"]:
        return EXIT_FAILED
    if summary["failed"] or summary.get("rejected_records"):
        return EXIT_PROBLEMS
    return EXIT_OK


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
