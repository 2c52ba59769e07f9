"""Builders for CDS Hooks tests: real FHIR Observations from ehrgen's own FHIR mapping, hook requests, servers."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import uvicorn

from ehrgen.fhir.resources import (genotype_key, genotype_template, implication_template, phenotype_parts,
                                   recommendation_key)
from ehrgen.pgx.model import Diplotype, GeneCall, SampleCalls
from ehrgen.rules.engine import interpret

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"


def gene_call(gene: str, diplotypes: list[str], phenotype: str | None, activity: str | None = None,
              status: str = "called") -> GeneCall:
    dips = [Diplotype(*d.split("/", 1)) for d in diplotypes]
    return GeneCall(gene=gene, status=status, diplotypes=dips, phenotype=phenotype,  # type: ignore[arg-type]
                    activity_score=activity)


def genotype_obs(call: GeneCall, patient: str = "p1") -> dict[str, Any]:
    """A genotype Observation exactly as ehrgen's FHIR mapping writes it, stamped for one patient."""
    return {**genotype_template(genotype_key(call)), "id": f"geno-{call.gene.lower()}-{uuid.uuid4().hex[:8]}",
            "subject": {"reference": f"Patient/{patient}"}}


def implication_obs(calls: SampleCalls, drug: str, patient: str = "p1") -> list[dict[str, Any]]:
    """Therapeutic-implication Observations for a drug, as ehrgen's FHIR mapping writes them."""
    out = []
    for rec in interpret(calls, patient, [drug]):
        key = recommendation_key(rec, phenotype_parts(rec, calls.genes))
        out.append({**implication_template(key), "id": f"imp-{uuid.uuid4().hex[:8]}",
                    "subject": {"reference": f"Patient/{patient}"}})
    return out


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources]}


def med_request(order_id: str, coding: list[dict[str, str]] | None = None, text: str | None = None,
                patient: str = "p1") -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if coding:
        concept["coding"] = coding
    if text:
        concept["text"] = text
    return {"resourceType": "MedicationRequest", "id": order_id, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{patient}"}, "medicationCodeableConcept": concept,
            "dosageInstruction": [{"text": "one tablet daily"}]}


def hook_request(hook: str, orders: list[dict[str, Any]] | None = None, prefetch: dict[str, Any] | None = None,
                 patient: str = "p1", selections: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"userId": "Practitioner/dr1", "patientId": patient}
    if hook in ("order-select", "order-sign"):
        ctx["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                              "entry": [{"resource": o} for o in orders or []]}
    if hook == "order-select":
        ctx["selections"] = selections if selections is not None else \
            [f"MedicationRequest/{o['id']}" for o in (orders or [])[:1]]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": ctx, **extra}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def prefetch_for(*calls: GeneCall, patient: str = "p1") -> dict[str, Any]:
    return {"patient": {"resourceType": "Patient", "id": patient},
            "genotypes": searchset([genotype_obs(c, patient) for c in calls]),
            "implications": searchset([])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1:<free port> in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class StubFhir:
    """A tiny FHIR server: answers Observation searches from an in-memory list; records what it was asked."""

    def __init__(self, observations: list[dict[str, Any]]) -> None:
        self.observations = observations
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs, urlparse
                u = urlparse(self.path)
                q = parse_qs(u.query)
                stub.requests.append({"path": u.path, "query": q, "auth": self.headers.get("Authorization")})
                if u.path != "/fhir/Observation":
                    self.send_response(404)
                    self.end_headers()
                    return
                wanted = {tuple(c.partition("|")[::2]) for c in q.get("code", [""])[0].split(",")}
                patient = q.get("patient", [""])[0]
                hits = [o for o in stub.observations
                        if o.get("subject", {}).get("reference") == f"Patient/{patient}"
                        and any((c.get("system"), c.get("code")) in wanted
                                for c in o.get("code", {}).get("coding", []))]
                total = len(hits)
                if q.get("_sort") == ["-_lastUpdated"]:  # the cache's validator check
                    hits = sorted(hits, key=lambda o: (o.get("meta") or {}).get("lastUpdated", ""), reverse=True)
                if "_count" in q:
                    hits = hits[:int(q["_count"][0])]
                doc = searchset(hits)
                if q.get("_total") == ["accurate"]:
                    doc["total"] = total
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 -- AuditEvents the service writes
                n = int(self.headers.get("Content-Length") or 0)
                doc = json.loads(self.rfile.read(n) or b"{}")
                stub.posted.append({"path": self.path, "resource": doc, "auth": self.headers.get("Authorization")})
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.posted: list[dict[str, Any]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"

    def __enter__(self) -> "StubFhir":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
