"""Per-sample table digest: what the run's batch files need from one sample, written beside its
recommendations (`recommendations/.digest/<sample>.json`, hidden beside `.state/` so that globs over the
stage's documented files never see it) whenever they are (re)computed.

finish_run builds calls.tsv, recommendations.tsv and the cohort summary from these small files instead of
parsing every sample's full calls.json (positions and all) and recommendations.json again: at biobank scale
that re-read cost more than interpreting. The rows are the exact text the batch tables hold, so the tables are
the same bytes either way (tests/flows/test_fastpath_identity.py runs both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehrgen.pgx.model import SampleCalls
from ehrgen.pgx.output import atomic_write_text, calls_tsv_rows, json_text, read_json
from ehrgen.rules.batch import recommendation_rows
from ehrgen.rules.model import Recommendation

SCHEMA = "ehrgen.digest/1"


def build_digest(calls: SampleCalls, recs: list[Recommendation], patient: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "sample": calls.sample, "patient": patient,
        "calls_tsv": calls_tsv_rows(calls), "recommendations_tsv": recommendation_rows(recs),
        # what the cohort summary counts: per gene the labels' inputs, and the actionable records
        "genes": {g: [c.status, c.source, c.phenotype, c.diplotype_text] for g, c in calls.genes.items()},
        "actionable": [[r.drug, r.alert, r.source, r.population, r.rule_id, r.patient, r.sample]
                       for r in recs if r.actionable],
    }


def digest_path(rec_dir: Path, stem: str) -> Path:
    return rec_dir / ".digest" / f"{stem}.json"


def write_digest(path: Path, calls: SampleCalls, recs: list[Recommendation], patient: str) -> None:
    atomic_write_text(path, json_text(build_digest(calls, recs, patient)))


def read_digest(path: Path) -> dict[str, Any] | None:
    try:
        doc = read_json(path)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == SCHEMA else None


# light stand-ins with just the fields the cohort summary reads (ehrgen.report.cohort)

@dataclass(slots=True)
class GeneLabels:
    status: str
    source: str
    phenotype: str | None
    diplotype_text: str


@dataclass(slots=True)
class CallsLabels:
    sample: str
    genes: dict[str, GeneLabels] = field(default_factory=dict)


@dataclass(slots=True)
class ActionableRec:
    drug: str
    alert: str
    source: str
    population: str | None
    rule_id: str
    patient: str
    sample: str
    actionable: bool = True


def cohort_inputs(doc: dict[str, Any]) -> tuple[CallsLabels, list[ActionableRec]]:
    calls = CallsLabels(doc["sample"], {g: GeneLabels(*v) for g, v in doc["genes"].items()})
    return calls, [ActionableRec(*row) for row in doc["actionable"]]
