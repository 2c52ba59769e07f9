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

import hashlib
import uuid
from urllib.parse import quote

from ehrgen import fastpath
from ehrgen.fhir.codes import code_table

# fixed namespace so uuids are reproducible across machines and versions
EHRGEN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ehrgen.org/fhir/id")


# fast path (issue 14): a bundle makes ~60 identifiers, each a uuid5 and a percent-encoded search token
_NS_SHA1 = hashlib.sha1(EHRGEN_NAMESPACE.bytes)
# characters urllib.parse.quote never encodes (always safe, plus the ':' '/' search_token keeps)
_QUOTE_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~:/"
_ID_SYSTEMS: dict[tuple[int, str], tuple[object, str]] = {}


def id_system(kind: str) -> str:
    if fastpath.enabled():
        table = code_table()
        hit = _ID_SYSTEMS.get((id(table), kind))
        if hit is not None and hit[0] is table:
            return hit[1]
        if len(_ID_SYSTEMS) > 256:  # bounded: a few kinds per code table
            _ID_SYSTEMS.clear()
        url = f"{table.system_url('ehrgen-id')}/{kind}"
        _ID_SYSTEMS[(id(table), kind)] = (table, url)
        return url
    return f"{code_table().system_url('ehrgen-id')}/{kind}"


def stable_uuid(kind: str, *parts: str) -> str:
    # \x1f (unit separator) cannot occur in ids, so ("a|b","c") and ("a","b|c") never collide
    name = "\x1f".join((kind, *parts))
    if fastpath.enabled():
        return _uuid5_text(name)
    return str(uuid.uuid5(EHRGEN_NAMESPACE, name))


def _uuid5_text(name: str) -> str:
    """str(uuid.uuid5(EHRGEN_NAMESPACE, name)) without building a UUID object (RFC 4122 section 4.3: SHA-1 of
    namespace + name, version 5 in the high nibble of byte 6, variant 10 in the top bits of byte 8)."""
    h = _NS_SHA1.copy()
    h.update(name.encode("utf-8"))
    b = bytearray(h.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def business_identifier(kind: str, *parts: str) -> dict[str, str]:
    return {"system": id_system(kind), "value": stable_uuid(kind, *parts)}


def full_url(identifier: dict[str, str]) -> str:
    return f"urn:uuid:{identifier['value']}"


def search_token(system: str, value: str) -> str:
    """`identifier=` search token, percent-encoding what would break a query string but keeping ':' '/'."""
    if fastpath.enabled():
        return f"{_quote_id(system)}|{_quote_id(value)}"
    return f"{quote(system, safe=':/')}|{quote(value, safe=':/')}"


def _quote_id(text: str) -> str:
    """quote(text, safe=':/'), skipping the work when nothing needs encoding (uuids, plain system URLs)."""
    if not text.strip(_QUOTE_SAFE):  # only characters quote() leaves alone
        return text
    return quote(text, safe=":/")


def conditional_url(resource_type: str, identifier: dict[str, str]) -> str:
    return f"{resource_type}?identifier={search_token(identifier['system'], identifier['value'])}"
