"""Shared fixtures: a small export folder and local receivers (HTTP and MLLP) on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from ehrgen.settings import Settings

PATIENTS = ("P001", "P002")


def make_bundle(patient: str, report_text: str = "CYP2C19 *1/*2") -> dict:
    """A small transaction bundle shaped like the exporter's (conditional PUT on business identifiers)."""
    sys_p = "urn:oid:1.2.3.4.patient"
    sys_r = "urn:ehrgen:report"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
                "resource": {"resourceType": "Patient", "identifier": [{"system": sys_p, "value": patient}]},
                "request": {"method": "PUT", "url": f"Patient?identifier={sys_p}|{patient}"},
            },
            {
                "fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222",
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "identifier": [{"system": sys_r, "value": f"{patient}-pgx"}],
                    "status": "final",
                    "code": {"text": "PGx"},
                    "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
                    "conclusion": report_text,
                },
                "request": {"method": "PUT", "url": f"DiagnosticReport?identifier={sys_r}|{patient}-pgx"},
            },
        ],
    }


def make_oru(patient: str, control_id: str | None = None, text: str = "CYP2C19 *1/*2") -> str:
    cid = control_id or f"MSG-{patient}"
    segs = [
        f"MSH|^~\\&|EHRGEN|PGXLAB|EHR|HOSP|20261125120000||ORU^R01^ORU_R01|{cid}|P|2.5.1",
        f"PID|1||{patient}^^^HOSP^MR",
        f"OBR|1||{patient}-pgx|51969-4^Genetic analysis report^LN|||20261125",
        f"OBX|1|TX|51969-4^Genetic analysis report^LN||{text}||||||F",
    ]
    return "\r".join(segs) + "\r"


def write_export(folder: Path, patients=PATIENTS, text: str = "CYP2C19 *1/*2") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for p in patients:
        (folder / f"{p}.bundle.json").write_text(json.dumps(make_bundle(p, text), indent=1))
        (folder / f"{p}.oru.hl7").write_bytes(make_oru(p, text=text).encode())
    return folder


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return write_export(tmp_path / "export")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings()
    s.deliver.outbox = tmp_path / "outbox"
    s.deliver.dead_letter = tmp_path / "dead-letter"
    s.deliver.ledger = tmp_path / "ledger.sqlite"
    s.fhir.backoff_s = 0.01
    s.fhir.timeout_s = 2.0
    s.fhir.max_retries = 3
    s.mllp.timeout_s = 2.0
    s.mllp.max_retries = 2
    return s


# -- a scripted FHIR server ---------------------------------------------------------------------
@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeFhir:
    """Answers POSTs from a script: a callable (request, n-th POST to that path) -> (status, body, delay)."""

    script: Callable[[Recorded, int], tuple[int, dict | None, float]]
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    server: object = None

    def wrap(self, ssl_context) -> None:
        """Serve HTTPS from now on (the listening socket is wrapped in place)."""
        srv = self.server
        srv.socket = ssl_context.wrap_socket(srv.socket, server_side=True)  # type: ignore[attr-defined]

    def posts(self, path_suffix: str = "/fhir") -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path_suffix]


def default_script(req: Recorded, n: int) -> tuple[int, dict | None, float]:
    if req.path == "/fhir":
        return 200, transaction_response(json.loads(req.body)), 0.0
    if req.path == "/fhir/AuditEvent":
        return 201, {**json.loads(req.body), "id": f"ae{n}"}, 0.0
    return 404, None, 0.0


def transaction_response(bundle: dict) -> dict:
    entries = []
    for i, e in enumerate(bundle.get("entry", [])):
        rtype = e["resource"]["resourceType"]
        entries.append({"response": {"status": "200 OK", "location": f"{rtype}/{100 + i}/_history/1"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


@pytest.fixture
def fake_fhir():
    servers: list[ThreadingHTTPServer] = []

    def start(script=default_script) -> FakeFhir:
        fake = FakeFhir(script)
        counts: dict[str, int] = {}
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                rec = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with lock:
                    fake.requests.append(rec)
                    counts[self.path] = counts.get(self.path, 0) + 1
                    n = counts[self.path]
                status, doc, delay = fake.script(rec, n)
                if delay:
                    time.sleep(delay)
                raw = json.dumps(doc).encode() if doc is not None else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # client timed out and left
                    pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        fake.port = srv.server_address[1]
        fake.server = srv
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return fake

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()
