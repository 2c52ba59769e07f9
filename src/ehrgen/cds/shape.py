"""Shape checks for what a CDS Hooks request carries: nesting depth, and the JSON types of the FHIR fields the
service reads (prefetch Observations, draft orders). A wrong type is a 400 that names the field by its path
(e.g. `prefetch.genotypes.entry[0].resource.component[1].code.coding`), never a 500 from deep inside.

Only types are checked, not FHIR profiles: the service reads a handful of fields and ignores the rest.
"""

from __future__ import annotations

from typing import Any


class ShapeError(ValueError):
    """A field of the wrong JSON type; the message names its path and what was expected (never its value)."""


# element kind -> field -> (expected, element kind of the value or of each list item)
_STR, _NUM, _BOOL, _OBJ, _LIST = "a string", "a number", "true or false", "an object", "a list"
_SCHEMA: dict[str, dict[str, tuple[str, str | None]]] = {
    "resource": {
        "resourceType": (_STR, None), "id": (_STR, None), "status": (_STR, None), "intent": (_STR, None),
        "code": (_OBJ, "CodeableConcept"), "valueCodeableConcept": (_OBJ, "CodeableConcept"),
        "valueString": (_STR, None), "valueQuantity": (_OBJ, "Quantity"),
        "dataAbsentReason": (_OBJ, "CodeableConcept"), "subject": (_OBJ, "Reference"),
        "patient": (_OBJ, "Reference"), "component": (_LIST, "component"), "category": (_LIST, "CodeableConcept"),
        "interpretation": (_LIST, "CodeableConcept"), "entry": (_LIST, "entry"), "contained": (_LIST, "resource"),
        "medicationCodeableConcept": (_OBJ, "CodeableConcept"), "medicationReference": (_OBJ, "Reference"),
        "derivedFrom": (_LIST, "Reference"), "focus": (_LIST, "Reference"), "extension": (_LIST, "any"),
        "identifier": (_LIST, "any"), "meta": (_OBJ, "any"), "effectiveDateTime": (_STR, None),
        "issued": (_STR, None), "authoredOn": (_STR, None), "total": (_NUM, None), "type": (_STR, None),
    },
    "component": {
        "code": (_OBJ, "CodeableConcept"), "valueCodeableConcept": (_OBJ, "CodeableConcept"),
        "valueString": (_STR, None), "valueQuantity": (_OBJ, "Quantity"),
        "dataAbsentReason": (_OBJ, "CodeableConcept"), "interpretation": (_LIST, "CodeableConcept"),
        "extension": (_LIST, "any"),
    },
    "CodeableConcept": {"coding": (_LIST, "Coding"), "text": (_STR, None)},
    "Coding": {"system": (_STR, None), "code": (_STR, None), "display": (_STR, None), "version": (_STR, None),
               "userSelected": (_BOOL, None)},
    "Reference": {"reference": (_STR, None), "display": (_STR, None), "type": (_STR, None)},
    "Quantity": {"value": (_NUM, None), "unit": (_STR, None), "system": (_STR, None), "code": (_STR, None)},
    "entry": {"resource": (_OBJ, "resource"), "fullUrl": (_STR, None)},
    "any": {},
}


def _is(value: Any, expected: str) -> bool:
    if expected == _STR:
        return isinstance(value, str)
    if expected == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == _BOOL:
        return isinstance(value, bool)
    if expected == _OBJ:
        return isinstance(value, dict)
    return isinstance(value, list)


def depth(doc: Any) -> int:
    """Nesting depth of parsed JSON (iterative: a hostile document must not exhaust the stack here either)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in node)
    return deepest


def check_fhir(doc: Any, path: str, kind: str = "resource") -> None:
    """Raise ShapeError for the first field under `path` whose JSON type cannot be what FHIR says it is."""
    stack: list[tuple[Any, str, str]] = [(doc, path, kind)]
    while stack:
        node, where, k = stack.pop()
        if not isinstance(node, dict):
            raise ShapeError(f"'{where}' must be an object")
        for field, (expected, inner) in _SCHEMA[k].items():
            if field not in node or node[field] is None:
                continue
            value, at = node[field], f"{where}.{field}"
            if not _is(value, expected):
                raise ShapeError(f"'{at}' must be {expected}")
            if inner is None or inner == "any":
                continue
            if expected == _LIST:
                stack.extend((item, f"{at}[{i}]", inner) for i, item in enumerate(value))
            else:
                stack.append((value, at, inner))
