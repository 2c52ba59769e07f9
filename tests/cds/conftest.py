"""Fixtures: the CDS service on a real port (with and without JWT checking), signing keys and a JWKS file."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.settings import CdsSettings
from tests.cds.helpers import serve

ISSUER = "https://ehr.example.test"


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    return {"ec": ec.generate_private_key(ec.SECP384R1()), "rsa": rsa.generate_private_key(65537, 2048),
            "stranger": ec.generate_private_key(ec.SECP384R1())}


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any]) -> Path:
    ec_jwk = json.loads(ECAlgorithm.to_jwk(keys["ec"].public_key()))
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(keys["rsa"].public_key()))
    ec_jwk.update(kid="ec-1", alg="ES384", use="sig")
    rsa_jwk.update(kid="rsa-1", alg="RS384", use="sig")
    p = tmp_path_factory.mktemp("jwks") / "jwks.json"
    p.write_text(json.dumps({"keys": [ec_jwk, rsa_jwk]}))
    return p


class Signer:
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys

    def token(self, aud: str, *, key: str = "ec", kid: str | None = None, alg: str | None = None,
              iss: str = ISSUER, exp_in: int = 300, jti: str | None = None, drop: tuple[str, ...] = ()) -> str:
        now = int(time.time())
        claims = {"iss": iss, "sub": "ehr-client", "aud": aud, "iat": now, "exp": now + exp_in,
                  "jti": jti or str(uuid.uuid4())}
        for k in drop:
            claims.pop(k, None)
        alg = alg or ("RS384" if key == "rsa" else "ES384")
        kid = kid or {"ec": "ec-1", "rsa": "rsa-1", "stranger": "ec-1"}[key]
        return jwt.encode(claims, self.keys[key], algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="session")
def signer(keys: dict[str, Any]) -> Signer:
    return Signer(keys)


@pytest.fixture(scope="module")
def feedback_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fb") / "cds-feedback.jsonl"


@pytest.fixture(scope="module")
def insecure_url(feedback_path: Path) -> Iterator[str]:
    app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True), feedback_path=feedback_path))
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def secure_url(jwks_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = CdsSettings(allowed_issuers=[ISSUER], jwks_file=jwks_file)
    app = create_app(ServiceConfig(settings=settings,
                                   feedback_path=tmp_path_factory.mktemp("fbs") / "fb.jsonl"))
    with serve(app) as url:
        yield url
