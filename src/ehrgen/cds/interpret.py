"""The CDS service's only door into the rules engine (one place to adapt if the engine's API moves)."""

from __future__ import annotations

from functools import lru_cache

from ehrgen.pgx.model import SampleCalls
from ehrgen.rules.drugs import DrugTable, default_table
from ehrgen.rules.engine import default_ruleset, interpret
from ehrgen.rules.model import Recommendation
from ehrgen.rules.ruleset import RuleSet

_TABLES: dict[str, RuleSet | DrugTable] = {}


def recommend(calls: SampleCalls, drugs: list[str] | None, source: str = "both") -> list[Recommendation]:
    """Recommendations for the given ingredients (None = all drugs with rules).

    The patient field is left empty on purpose: cards never need it, and it keeps identifiers out of
    anything that might be logged or cached.
    """
    if not _TABLES:
        warm()
    return interpret(calls, patient="", drugs=drugs, source=source, mode="preemptive",  # type: ignore[arg-type]
                     ruleset=_TABLES["rules"], table=_TABLES["drugs"])  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def lookup_vocabulary() -> tuple[str, ...]:
    """Every non-numeric lookup value the rules use (phenotype terms in the rules' own spelling)."""
    values: set[str] = set()
    for rule in default_ruleset().rules:
        for v in rule.lookup.values():
            if v and not v[0].isdigit() and not v.startswith(("≥", "dip:")):
                values.add(v)
    return tuple(sorted(values))


def warm() -> None:
    """Load the rule and drug tables before the first request (the first hook call must not pay for it)."""
    # held here so each request skips the engine's path resolution (measurable at 100 requests/s)
    _TABLES["rules"] = default_ruleset()
    _TABLES["drugs"] = default_table()
    lookup_vocabulary()


@lru_cache(maxsize=512)
def score_keyed_genes(drug: str) -> frozenset[str]:
    """Genes whose rules for this drug use activity scores and no phenotype term (so a phenotype alone
    cannot match them). Phenotype terms are those of mappings/fhir_codes.tsv."""
    from ehrgen.fhir.codes import code_table

    ct = code_table()
    scores: set[str] = set()
    phenotypes: set[str] = set()
    for rule in default_ruleset().for_drug(drug):
        for gene, value in rule.lookup.items():
            if value and (value[0].isdigit() or value.startswith("≥")):
                scores.add(gene)
            elif ct.phenotype_row(value) is not None:
                phenotypes.add(gene)
    return frozenset(scores - phenotypes)
