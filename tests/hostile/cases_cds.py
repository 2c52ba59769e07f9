"""CDS Hooks service inputs: wrong JSON types anywhere the service reads are a 400 naming the field; an
oversized body is a 413; a body nested 100,000 levels deep is refused, never a 500 or a RecursionError."""

from __future__ import annotations

import atexit
import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.settings import CdsSettings
from tests.cds.helpers import RXNORM, gene_call, hook_request, med_request, prefetch_for
from tests.hostile.corpus import Case, Result

SELECT = "/cds-services/ehrgen-pgx-order-select"
VIEW = "/cds-services/ehrgen-pgx-patient-view"
_client: list[Any] = []


def client():
    """One in-process service for the whole corpus (its lifespan started once)."""
    if not _client:
        from fastapi.testclient import TestClient

        tmp = Path(tempfile.mkdtemp(prefix="ehrgen-cds-corpus-"))
        app = create_app(ServiceConfig(CdsSettings(insecure_no_auth=True), feedback_path=tmp / "feedback.jsonl"))
        c = TestClient(app)
        c.__enter__()
        atexit.register(c.__exit__, None, None, None)
        _client.append(c)
    return _client[0]


def select_body() -> dict[str, Any]:
    pm = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")
    return hook_request("order-select", [med_request("mr1", [{"system": RXNORM, "code": "32968"}])],
                        prefetch_for(pm))


def _set(doc: Any, path: tuple, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


def _post(raw: bytes, url: str = SELECT) -> Result:
    r = client().post(url, content=raw, headers={"content-type": "application/json"})
    msg = f"HTTP {r.status_code}: " + (r.json().get("error", "") if r.headers.get("content-type", "").startswith(
        "application/json") and isinstance(r.json(), dict) else r.text[:200])
    kind = "ok" if r.status_code == 200 else "error"
    return Result(kind, [msg], r)


def field(cid: str, path: tuple, value: Any, name: str, status: int = 400) -> Case:
    """`path` of a valid order-select request set to `value`: `status` naming `name`."""
    def run(tmp: Path) -> Result:
        return _post(json.dumps(_set(select_body(), path, value)).encode())
    return Case(cid, "cds-input", run, "error", must=(f"HTTP {status}", name))


def raw(cid: str, make, must: tuple[str, ...], url: str = SELECT) -> Case:
    return Case(cid, "cds-input", lambda tmp: _post(make(), url), "error", must=must)


GENO = ("prefetch", "genotypes", "entry", 0, "resource")
ORDER = ("context", "draftOrders", "entry", 0, "resource")


def cases() -> list[Case]:
    deep = b"[" * 100_000 + b"]" * 100_000
    c = [
        field("hook-number", ("hook",), 7, "'hook'"),
        field("hook-instance-list", ("hookInstance",), ["x"], "'hookInstance'"),
        field("context-string", ("context",), "p1", "'context'"),
        field("patient-id-number", ("context", "patientId"), 42, "context.patientId"),
        field("user-id-object", ("context", "userId"), {"a": 1}, "context.userId"),
        field("draft-orders-list", ("context", "draftOrders"), [], "context.draftOrders"),
        field("draft-orders-entry-number", ("context", "draftOrders", "entry"), 1, "context.draftOrders.entry"),
        field("selections-string", ("context", "selections"), "MedicationRequest/mr1", "context.selections"),
        field("selections-items-numbers", ("context", "selections"), [1, 2], "context.selections"),
        field("order-coding-string", ORDER + ("medicationCodeableConcept", "coding"), "32968",
              "medicationCodeableConcept.coding"),
        field("order-coding-code-number", ORDER + ("medicationCodeableConcept", "coding", 0, "code"), 32968,
              "coding[0].code"),
        field("order-subject-string", ORDER + ("subject",), "Patient/p1", "resource.subject"),
        field("prefetch-list", ("prefetch",), [], "'prefetch'"),
        field("prefetch-bundle-string", ("prefetch", "genotypes"), "Bundle", "prefetch.genotypes"),
        field("prefetch-entry-object", ("prefetch", "genotypes", "entry"), {"resource": {}}, "genotypes.entry"),
        field("prefetch-entry-item-number", ("prefetch", "genotypes", "entry", 0), 5, "genotypes.entry[0]"),
        field("observation-code-string", GENO + ("code",), "84413-4", "resource.code"),
        field("observation-coding-number", GENO + ("code", "coding"), 1, "resource.code.coding"),
        field("observation-component-object", GENO + ("component",), {"code": {}}, "resource.component"),
        field("observation-component-item-string", GENO + ("component", 0), "x", "component[0]"),
        field("observation-component-code-list", GENO + ("component", 0, "code"), [], "component[0].code"),
        field("observation-component-coding-null-item", GENO + ("component", 0, "code", "coding", 0), None,
              "component[0].code.coding[0]"),
        field("observation-value-cc-string", GENO + ("component", 1, "valueCodeableConcept"), "*2/*2",
              "valueCodeableConcept"),
        field("observation-value-text-number", GENO + ("component", 1, "valueCodeableConcept", "text"), 2,
              "valueCodeableConcept.text"),
        field("observation-status-bool", GENO + ("status",), True, "resource.status"),
        field("observation-subject-reference-number", GENO + ("subject", "reference"), 1, "subject.reference"),
        field("observation-value-quantity-string", GENO + ("valueQuantity",), "3", "resource.valueQuantity"),
        field("prefetch-patient-list", ("prefetch", "patient"), [1], "prefetch.patient"),
        field("fhir-server-number", ("fhirServer",), 8080, "'fhirServer'"),
        field("fhir-server-ftp", ("fhirServer",), "ftp://ehr", "'fhirServer'"),
        field("fhir-authorization-string", ("fhirAuthorization",), "Bearer x", "'fhirAuthorization'"),
        field("fhir-authorization-token-number", ("fhirAuthorization",), {"access_token": 5},
              "fhirAuthorization.access_token"),
        raw("not-json", lambda: b"{not json", ("HTTP 400", "not valid JSON")),
        raw("top-level-array", lambda: b"[1, 2]", ("HTTP 400", "JSON object")),
        raw("body-not-utf8", lambda: b"\xff\xfe{}", ("HTTP 400",)),
        raw("nested-100000-arrays", lambda: deep, ("HTTP 400", "nested deeper")),
        raw("nested-100000-objects", lambda: b'{"a":' * 100_000 + b"1" + b"}" * 100_000, ("HTTP 400", "nested")),
        raw("nested-200-in-prefetch", lambda: json.dumps(_set(select_body(), ("prefetch", "extra"),
                                                              _nested(200))).encode(), ("HTTP 400", "nested")),
        raw("body-10-mb", lambda: json.dumps(_set(select_body(), ("context", "pad"), "x" * 10_000_000)).encode(),
            ("HTTP 413", "max_body_bytes")),
        raw("body-just-over-1-mb", lambda: json.dumps(_set(select_body(), ("context", "pad"),
                                                           "x" * 1_000_001)).encode(), ("HTTP 413",)),
        raw("feedback-10-mb", lambda: b'{"feedback": "' + b"x" * 10_000_000 + b'"}', ("HTTP 413",),
            url="/cds-services/ehrgen-pgx-order-select/feedback"),
        raw("feedback-deep", lambda: deep, ("HTTP 400",), url="/cds-services/ehrgen-pgx-order-select/feedback"),
        raw("unknown-service", lambda: json.dumps(select_body()).encode(), ("HTTP 404",), url="/cds-services/nope"),
        raw("patient-view-wrong-hook", lambda: json.dumps(select_body()).encode(), ("HTTP 400", "hook"), url=VIEW),
    ]

    def control(tmp: Path) -> Result:
        return _post(json.dumps(select_body()).encode())

    def critical(got: Result) -> None:
        assert any(card["indicator"] == "critical" for card in got.value.json()["cards"])

    c.append(Case("control-clopidogrel-poor-metabolizer", "cds-input", control, "ok", check=critical))
    return c


def _nested(n: int) -> Any:
    doc: Any = 1
    for _ in range(n):
        doc = {"a": doc}
    return doc
