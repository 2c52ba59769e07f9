"""Draft orders from a CDS Hooks order-select / order-sign context, resolved to ingredients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ehrgen.cds.drugs import MedicationResolver

MEDICATION_TYPES = ("MedicationRequest", "MedicationOrder", "MedicationStatement", "NutritionOrder")


@dataclass
class DraftOrder:
    resource: dict[str, Any]
    ingredients: list[str] = field(default_factory=list)
    matched_by: str = "none"  # code | name | none

    @property
    def id(self) -> str | None:
        rid = self.resource.get("id")
        return str(rid) if rid else None

    @property
    def reference(self) -> str | None:
        return f"{self.resource.get('resourceType', 'MedicationRequest')}/{self.id}" if self.id else None


def _concept(resource: dict[str, Any], contained: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if isinstance(resource.get("medicationCodeableConcept"), dict):
        return resource["medicationCodeableConcept"]
    ref = (resource.get("medicationReference") or {}).get("reference", "")
    if ref.startswith("#") and ref[1:] in contained:  # a contained Medication
        return contained[ref[1:]].get("code")
    return None


def draft_orders(context: dict[str, Any], resolver: MedicationResolver, hook: str) -> list[DraftOrder]:
    """Medication draft orders of the context; for order-select only the newly selected ones (context.selections)."""
    bundle = context.get("draftOrders") or {}
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    resources = [e.get("resource") for e in entries or [] if isinstance(e, dict)]
    resources = [r for r in resources if isinstance(r, dict) and r.get("resourceType") in MEDICATION_TYPES[:3]]
    if hook == "order-select":
        selections = {str(s) for s in context.get("selections") or []}
        if selections:
            resources = [r for r in resources if f"{r.get('resourceType')}/{r.get('id')}" in selections]
    out = []
    for r in resources:
        contained = {c.get("id"): c for c in r.get("contained") or [] if isinstance(c, dict) and c.get("id")}
        ingredients, how = resolver.resolve_concept(_concept(r, contained))
        out.append(DraftOrder(r, ingredients, how))
    return out
