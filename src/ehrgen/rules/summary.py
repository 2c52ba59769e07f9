"""Short clinician-facing summaries in the project's own words, built from templates (never guideline prose)."""

from __future__ import annotations

import re

_SCORE = re.compile(r"^≥?\d+(\.\d+)?$")


def describe_value(gene: str, value: str) -> str:
    """'CYP2D6', '1.0' -> 'CYP2D6 activity score 1.0'; 'dip:*1/*3' -> 'CYP2C9 *1/*3'."""
    if value.startswith("dip:"):
        return f"{gene} {value[4:]}"
    if _SCORE.match(value):
        return f"{gene} activity score {value}"
    if value == "No Result":
        return f"{gene} not tested"
    return f"{gene} {value}"


def describe_key(lookup: dict[str, str]) -> str:
    return ", ".join(describe_value(g, v) for g, v in sorted(lookup.items())) or "any genotype"


_TEMPLATES = {
    "avoid": "Avoid {drug} ({key}).{alts}",
    "use_alternative": "Prefer a drug other than {drug} ({key}).{alts}",
    "reduce_dose": "Start {drug} at a lower dose{pct} ({key}); adjust to response and tolerance.",
    "increase_dose": "Start {drug} at a higher dose{pct} ({key}); adjust to levels and response.",
    "standard_dosing": "Usual {drug} dosing ({key}); the genotype does not change the dose.",
    "monitor": "{Drug} can be used with closer monitoring of effect and side effects ({key}).",
    "test_recommended": "Genotype alone does not settle {drug} dosing ({key}); a further test is advised first.",
    "no_recommendation": "No genotype-based advice for {drug} ({key}).",
    "indeterminate": "No confident advice for {drug}: the genotype result is indeterminate ({key}).",
}


def summarise(action: str, drug: str, lookup: dict[str, str], population: str | None = None,
              dose_percent: int | str | None = None, dose_note: str = "", alternatives: list[str] | None = None) -> str:
    pct = ""
    if dose_percent not in (None, ""):
        pct = f" (about {dose_percent}% of the usual dose)"
    elif dose_note:
        pct = f" ({dose_note} of the usual dose)"
    alts = f" Options named by the guideline: {', '.join(alternatives)}." if alternatives else ""
    text = _TEMPLATES.get(action, "{drug}: {key}.").format(
        drug=drug, Drug=drug[:1].upper() + drug[1:], key=describe_key(lookup), pct=pct, alts=alts)
    if population and population not in ("general", "None"):
        text += f" [Population: {population}]"
    return text
