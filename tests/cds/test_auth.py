"""CDS Hooks JWT checking on a real port: ES384/RS384 accepted; bad, expired, foreign, replayed tokens refused."""

from __future__ import annotations

import httpx
import pytest

from tests.cds.conftest import Signer
from tests.cds.helpers import RXNORM, gene_call, hook_request, med_request, prefetch_for

SELECT = "/cds-services/ehrgen-pgx-order-select"
PM = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")


def body() -> dict:
    return hook_request("order-select", [med_request("mr1", [{"system": RXNORM, "code": "309362"}])], prefetch_for(PM))


def call(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + SELECT, json=body(), headers=headers, timeout=10)


@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_valid_token_is_accepted(secure_url: str, signer: Signer, key: str) -> None:
    r = call(secure_url, signer.token(secure_url + SELECT, key=key))
    assert r.status_code == 200 and r.json()["cards"][0]["indicator"] == "critical"


def test_audience_may_be_the_service_base(secure_url: str, signer: Signer) -> None:
    assert call(secure_url, signer.token(secure_url)).status_code == 200


@pytest.mark.parametrize("case, kwargs, message", [
    ("expired", {"exp_in": -120}, "expired"),
    ("wrong audience", {"aud": "https://elsewhere.test/cds-services/x"}, "audience"),
    ("unknown issuer", {"iss": "https://rogue.test"}, "issuer"),
    ("no jti", {"drop": ("jti",)}, "jti"),
    ("no exp", {"drop": ("exp",)}, "exp"),
    ("signed by a stranger's key", {"key": "stranger"}, "rejected"),
    ("unknown kid", {"kid": "nope"}, "unknown signing key"),
])
def test_bad_tokens_are_refused(secure_url: str, signer: Signer, case: str, kwargs: dict, message: str) -> None:
    aud = kwargs.pop("aud", secure_url + SELECT)
    r = call(secure_url, signer.token(aud, **kwargs))
    assert r.status_code == 401, case
    assert message in r.json()["error"], (case, r.json())
    assert r.headers.get("www-authenticate") == "Bearer"


def test_missing_and_garbage_tokens_are_refused(secure_url: str) -> None:
    assert call(secure_url, None).status_code == 401
    assert call(secure_url, "not.a.jwt").status_code == 401


def test_symmetric_algorithm_is_refused(secure_url: str) -> None:
    import jwt
    token = jwt.encode({"iss": "https://ehr.example.test", "aud": secure_url, "exp": 4102444800, "iat": 0,
                        "jti": "h"}, "a-shared-secret-of-some-length-0123456789", algorithm="HS256")
    r = call(secure_url, token)
    assert r.status_code == 401 and "ES384" in r.json()["error"]


def test_replayed_jti_is_refused(secure_url: str, signer: Signer) -> None:
    token = signer.token(secure_url + SELECT, jti="once-only")
    assert call(secure_url, token).status_code == 200
    r = call(secure_url, token)
    assert r.status_code == 401 and "replayed" in r.json()["error"]


def test_discovery_needs_no_token_but_feedback_does(secure_url: str, signer: Signer) -> None:
    assert httpx.get(secure_url + "/cds-services").status_code == 200
    fb = {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}]}
    assert httpx.post(secure_url + SELECT + "/feedback", json=fb).status_code == 401
    ok = httpx.post(secure_url + SELECT + "/feedback", json=fb,
                    headers={"Authorization": "Bearer " + signer.token(secure_url + SELECT + "/feedback")})
    assert ok.status_code == 200


def test_audience_behind_a_proxy(jwks_file) -> None:
    from ehrgen.cds.auth import JwtVerifier

    v = JwtVerifier(issuers=["x"], audience="https://cds.example.org/pgx", jwks_file=jwks_file)
    auds = v.audiences("http://127.0.0.1:8090/cds-services/a?x=1", "http://127.0.0.1:8090/")
    assert auds == ["https://cds.example.org/pgx", "https://cds.example.org/pgx/cds-services",
                    "https://cds.example.org/pgx/cds-services/a"]


def test_keys_from_a_jwks_url(jwks_file, signer: Signer, tmp_path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ehrgen.cds.service import ServiceConfig, create_app
    from ehrgen.settings import CdsSettings
    from tests.cds.conftest import ISSUER
    from tests.cds.helpers import serve

    data = jwks_file.read_bytes()

    class H(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        settings = CdsSettings(allowed_issuers=[ISSUER],
                               jwks_url=f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json")
        with serve(create_app(ServiceConfig(settings=settings, feedback_path=tmp_path / "fb.jsonl"))) as url:
            assert call(url, signer.token(url + SELECT, key="rsa")).status_code == 200
            assert call(url, signer.token(url + SELECT, key="stranger")).status_code == 401
    finally:
        httpd.shutdown()
        httpd.server_close()
