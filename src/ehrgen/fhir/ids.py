"""Stable business identifiers and transaction fullUrls.

Scheme: identifier.system = https://ehrgen.org/fhir/id/<kind>, identifier.value = uuid5 of the kind and the
parts that define the resource's identity. The same uuid is the entry's fullUrl (urn:uuid:...), so references
inside a transaction resolve and two builds of the same result produce byte-identical identifiers.

Identity parts (why):
- specimen, report, genotype: patient + sample (+ gene). A re-run (new rules or mappings) updates the same
  resource, giving the EHR a new *version* rather than a copy.
- therapeutic-implication, task: patient + sample + drug + source + rules version. Advice is tied to the rules
  that produced it: a new rules version creates new resources; re-sending the same version updates in place.
- provenance: all of the above plus the input checksum and ehrgen version (one record per distinct build).
Values are hashes, so no patient identifier or genotype appears in identifiers or conditional-update URLs.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from ehrgen.fhir.codes import code_table

# fixed namespace so uuids are reproducible across machines and versions
EHRGEN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ehrgen.org/fhir/id")


def id_system(kind: str) -> str:
    return f"{code_table().system_url('ehrgen-id')}/{kind}"


def stable_uuid(kind: str, *parts: str) -> str:
    # \x1f (unit separator) cannot occur in ids, so ("a|b","c") and ("a","b|c") never collide
    return str(uuid.uuid5(EHRGEN_NAMESPACE, "\x1f".join((kind, *parts))))


def business_identifier(kind: str, *parts: str) -> dict[str, str]:
    return {"system": id_system(kind), "value": stable_uuid(kind, *parts)}


def full_url(identifier: dict[str, str]) -> str:
    return f"urn:uuid:{identifier['value']}"


def search_token(system: str, value: str) -> str:
    """`identifier=` search token, percent-encoding what would break a query string but keeping ':' '/'."""
    return f"{quote(system, safe=':/')}|{quote(value, safe=':/')}"


def conditional_url(resource_type: str, identifier: dict[str, str]) -> str:
    return f"{resource_type}?identifier={search_token(identifier['system'], identifier['value'])}"
