from __future__ import annotations

import json
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.R4B.auditevent import AuditEvent

from ehrgen.deliver import FhirTarget, deliver_dir
from ehrgen.deliver.fhir_client import CLIENT_ASSERTION_TYPE, FhirClient, SmartBackendAuth
from ehrgen.store.ledger import Ledger
from tests.net import closed_port

from .conftest import PATIENTS, default_script, transaction_response

CONSENT = {p: True for p in PATIENTS}


def test_retries_5xx_then_succeeds_and_posts_audit_event(export_dir, settings, fake_fhir):
    def script(req, n):
        if req.path == "/fhir" and n <= 2:
            return 500, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}, 0
        return default_script(req, n)

    srv = fake_fhir(script)
    rep = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, {"P001": True})
    [sent, withheld] = rep.outcomes
    assert (sent.patient_id, sent.status, sent.response) == ("P001", "sent", "HTTP 200")
    assert withheld.status == "withheld"
    assert len(srv.posts("/fhir")) == 3  # 500, 500, 200
    assert json.loads(srv.posts("/fhir")[0].body) == json.loads((export_dir / "P001.bundle.json").read_bytes())
    assert srv.posts("/fhir")[0].headers["content-type"] == "application/fhir+json"

    [ae_req] = srv.posts("/fhir/AuditEvent")
    ae = json.loads(ae_req.body)
    AuditEvent.model_validate(ae)  # valid R4
    assert ae["outcome"] == "0" and ae["type"]["code"] == "rest" and ae["subtype"][0]["code"] == "transaction"
    report_entity = ae["entity"][0]["what"]
    assert report_entity["reference"] == "DiagnosticReport/101"
    assert report_entity["identifier"] == {"system": "urn:ehrgen:report", "value": "P001-pgx"}
    assert ae["agent"][0]["requestor"] is True

    led = Ledger(settings.deliver.ledger)
    [row] = led.history(patient_id="P001")
    assert row.status == "accepted" and row.response == "HTTP 200" and row.location == "DiagnosticReport/101"
    [audit] = led.audit_events(delivery_id=row.id)
    assert audit.sent_to_server and audit.server_response == "HTTP 201"
    # the withheld patient produced a local audit only, and no request at all
    assert all(b"P002" not in r.body for r in srv.requests)

    # rerun: the server already holds this content, nothing is sent
    n = len(srv.requests)
    rep2 = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, {"P001": True})
    assert [o.status for o in rep2.outcomes] == ["unchanged", "withheld"]
    assert len(srv.requests) == n


def test_422_is_dead_lettered_without_retry(export_dir, settings, fake_fhir):
    oo = {"resourceType": "OperationOutcome",
          "issue": [{"severity": "error", "code": "processing", "diagnostics": "Unknown code 'XYZ'"}]}

    def script(req, n):
        if req.path == "/fhir":
            return 422, oo, 0
        return default_script(req, n)

    srv = fake_fhir(script)
    rep = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, CONSENT)
    assert [o.status for o in rep.outcomes] == ["rejected", "rejected"] and not rep.ok
    assert "Unknown code 'XYZ'" in rep.outcomes[0].reason
    assert len(srv.posts("/fhir")) == 2  # one per patient: no retry on 4xx
    folder = next(settings.deliver.dead_letter.glob("P001.fhir-bundle.*"))
    assert (folder / "P001.bundle.json").read_bytes() == (export_dir / "P001.bundle.json").read_bytes()
    assert json.loads((folder / "operationoutcome.json").read_text()) == oo
    assert "HTTP 422" in (folder / "reason.txt").read_text()
    aes = [json.loads(r.body) for r in srv.posts("/fhir/AuditEvent")]
    assert [a["outcome"] for a in aes] == ["4", "4"]
    for a in aes:
        AuditEvent.model_validate(a)
    led = Ledger(settings.deliver.ledger)
    assert {r.status for r in led.history()} == {"dead-lettered"}
    # a rejected artefact is not "delivered": the next run tries again
    rep2 = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, CONSENT)
    assert [o.status for o in rep2.outcomes] == ["rejected", "rejected"]


def test_timeout_is_retried(export_dir, settings, fake_fhir):
    settings.fhir.timeout_s = 0.3

    def script(req, n):
        if req.path == "/fhir" and n == 1:
            return 200, transaction_response(json.loads(req.body)), 1.0  # too slow
        return default_script(req, n)

    srv = fake_fhir(script)
    rep = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, {"P001": True})
    assert rep.outcomes[0].status == "sent"
    assert len(srv.posts("/fhir")) == 2


def test_persistent_timeouts_fail_after_max_retries(export_dir, settings, fake_fhir):
    settings.fhir.timeout_s = 0.2
    settings.fhir.max_retries = 2

    def script(req, n):
        return 200, None, 0.6

    srv = fake_fhir(script)
    rep = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, {"P001": True})
    o = rep.outcomes[0]
    assert o.status == "failed" and "3 attempts" in o.reason and "Timeout" in o.reason
    assert len(srv.posts("/fhir")) == 3
    assert srv.posts("/fhir/AuditEvent") == []  # no audit to a server that does not answer
    led = Ledger(settings.deliver.ledger)
    [row] = led.history(patient_id="P001")
    assert row.status == "failed"
    [audit] = led.audit_events(delivery_id=row.id)
    assert audit.resource["outcome"] == "8" and not audit.sent_to_server
    AuditEvent.model_validate(audit.resource)


def test_connection_refused_fails_cleanly(export_dir, settings):
    port = closed_port()
    settings.fhir.max_retries = 1
    rep = deliver_dir(export_dir, [FhirTarget(f"http://127.0.0.1:{port}/fhir")], settings, CONSENT)
    assert [o.status for o in rep.outcomes] == ["failed", "failed"]
    assert "ConnectError" in rep.outcomes[0].reason


def test_bearer_token_is_sent(export_dir, settings, fake_fhir):
    srv = fake_fhir()
    settings.fhir.bearer_token = "tok-123"
    deliver_dir(export_dir, [FhirTarget(srv.base)], settings, {"P001": True})
    assert srv.requests and all(r.headers.get("authorization") == "Bearer tok-123" for r in srv.requests)


def test_no_authorization_header_without_token(export_dir, settings, fake_fhir):
    srv = fake_fhir()
    deliver_dir(export_dir, [FhirTarget(srv.base)], settings, {"P001": True})
    assert srv.requests and all("authorization" not in r.headers for r in srv.requests)


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, key.public_key()


def test_smart_backend_services_token(tmp_path, export_dir, settings, fake_fhir, rsa_key):
    pem, public = rsa_key
    issued = []

    def script(req, n):
        if req.path == "/auth/token":
            issued.append(req)
            return 200, {"access_token": f"smart-{n}", "token_type": "bearer", "expires_in": 300}, 0
        return default_script(req, n)

    srv = fake_fhir(script)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    token_url = f"http://127.0.0.1:{srv.port}/auth/token"
    settings.fhir.smart_token_url = token_url
    settings.fhir.smart_client_id = "ehrgen-client"
    settings.fhir.smart_private_key = key_file
    settings.fhir.smart_scope = "system/DiagnosticReport.write system/AuditEvent.write"

    rep = deliver_dir(export_dir, [FhirTarget(srv.base)], settings, CONSENT)
    assert rep.ok
    assert len(issued) == 1  # cached across both patients and the AuditEvents
    form = dict(urllib.parse.parse_qsl(issued[0].body.decode()))
    assert issued[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert form["scope"] == "system/DiagnosticReport.write system/AuditEvent.write"
    claims = jwt.decode(form["client_assertion"], public, algorithms=["RS384"], audience=token_url)
    assert claims["iss"] == claims["sub"] == "ehrgen-client"
    assert claims["exp"] - claims["iat"] <= 300 and claims["jti"]
    assert jwt.get_unverified_header(form["client_assertion"])["alg"] == "RS384"
    fhir_reqs = [r for r in srv.requests if r.path.startswith("/fhir")]
    assert fhir_reqs and all(r.headers["authorization"] == "Bearer smart-1" for r in fhir_reqs)


def test_smart_token_renewed_after_expiry_and_on_401(fake_fhir, rsa_key):
    pem, _ = rsa_key
    now = [1_000_000.0]
    issued = []
    rejected_once = []

    def script(req, n):
        if req.path == "/token":
            issued.append(n)
            return 200, {"access_token": f"t{n}", "expires_in": 120}, 0
        if req.path == "/fhir" and req.headers.get("authorization") == "Bearer t2" and not rejected_once:
            rejected_once.append(1)
            return 401, None, 0
        return default_script(req, n)

    srv = fake_fhir(script)
    auth = SmartBackendAuth(f"http://127.0.0.1:{srv.port}/token", "c", pem, clock=lambda: now[0])
    with FhirClient(srv.base, smart=auth) as client:
        bundle = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": []}).encode()
        assert client.post_transaction(bundle).ok
        assert client.post_transaction(bundle).ok
        assert issued == [1]
        now[0] += 100  # within 30 s of expiry: renewed before use
        r = client.post_transaction(bundle)  # t2 is refused once -> invalidated -> t3
        assert r.ok and issued == [1, 2, 3]
    assert srv.posts("/fhir")[-1].headers["authorization"] == "Bearer t3"


def test_client_works_against_a_base_url_with_trailing_slash(fake_fhir):
    srv = fake_fhir()
    with FhirClient(srv.base + "/") as client:
        r = client.post_resource("AuditEvent", b'{"resourceType": "AuditEvent"}')
    assert r.status == 201 and srv.requests[0].path == "/fhir/AuditEvent"


def _self_signed(tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from cryptography.hazmat.primitives import hashes

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_is_verified_by_default(tmp_path, export_dir, settings, fake_fhir):
    import ssl

    srv = fake_fhir()
    cert_file, key_file = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    srv.wrap(ctx)
    url = f"https://127.0.0.1:{srv.port}/fhir"
    settings.fhir.max_retries = 0
    assert settings.fhir.verify_tls is True
    rep = deliver_dir(export_dir, [FhirTarget(url)], settings, {"P001": True})
    assert rep.outcomes[0].status == "failed" and "ConnectError" in rep.outcomes[0].reason
    assert srv.requests == []  # the untrusted server never saw the bundle
    settings.fhir.verify_tls = False  # explicit opt-out (e.g. a test sandbox)
    rep = deliver_dir(export_dir, [FhirTarget(url)], settings, {"P001": True})
    assert rep.outcomes[0].status == "sent" and len(srv.posts("/fhir")) == 1
