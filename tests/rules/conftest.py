"""Helpers to build SampleCalls directly (no VCF needed)."""

from __future__ import annotations

import pytest

from ehrgen.pgx.model import Diplotype, GeneCall, SampleCalls
from ehrgen.rules.drugs import default_table
from ehrgen.rules.engine import default_ruleset, interpret


def gene(name: str, phenotype: str | None = None, score: str | None = None, dip: str | None = None,
         status: str = "called", activity_values: list[str | None] | None = None,
         candidates: list[tuple[str, str | None]] | None = None) -> GeneCall:
    """A GeneCall as the caller would write it. `candidates`: tied (diplotype, phenotype) pairs."""
    dips: list[Diplotype] = []
    if dip:
        a1, _, a2 = dip.partition("/")
        dips.append(Diplotype(a1, a2 or None, activity_values=activity_values or [], phenotype=phenotype,
                              activity_score=score))
    for name_, ph in candidates or []:
        a1, _, a2 = name_.partition("/")
        dips.append(Diplotype(a1, a2 or None, phenotype=ph))
    lookup = {}
    if phenotype and phenotype != "Indeterminate":
        lookup["phenotype"] = phenotype
    if score:
        lookup["activity_score"] = score
    if len(dips) == 1:
        lookup["diplotype"] = dips[0].name
    return GeneCall(gene=name, status=status, diplotypes=dips, phenotype=phenotype, activity_score=score,  # type: ignore[arg-type]
                    source="outside" if status == "outside_call" else "vcf", lookup=lookup)


def sample(*genes: GeneCall, name: str = "S1") -> SampleCalls:
    return SampleCalls(sample=name, genes={g.gene: g for g in genes})


@pytest.fixture(scope="session")
def ruleset():
    return default_ruleset()


@pytest.fixture(scope="session")
def table():
    return default_table()


def recs_for(calls: SampleCalls, drug: str, source: str = "both", mode: str = "preemptive"):
    return interpret(calls, "P1", [drug], source=source, mode=mode)  # type: ignore[arg-type]


def by_source(recs, source: str):
    return [r for r in recs if r.source == source]
