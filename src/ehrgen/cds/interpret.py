"""The CDS service's only door into the rules engine (one place to adapt if the engine's API moves)."""

from __future__ import annotations

from functools import lru_cache

from ehrgen.pgx.model import SampleCalls
from ehrgen.rules.engine import default_ruleset, interpret
from ehrgen.rules.model import Recommendation


def recommend(calls: SampleCalls, drugs: list[str] | None, source: str = "both") -> list[Recommendation]:
    """Recommendations for the given ingredients (None = all drugs with rules).

    The patient field is left empty on purpose: cards never need it, and it keeps identifiers out of
    anything that might be logged or cached.
    """
    return interpret(calls, patient="", drugs=drugs, source=source, mode="preemptive")  # type: ignore[arg-type]


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
    default_ruleset()
    lookup_vocabulary()
