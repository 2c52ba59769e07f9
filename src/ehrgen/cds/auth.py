"""CDS Hooks 2.0 client authentication: the EHR signs a short-lived JWT per request.

Checked here: signature (ES384 / RS384 only; keys from a configured JWKS file or URL, never from the token's
own `jku` header, which an attacker controls), `iss` on the allow-list, `aud` = this service (its base URL,
or the invoked endpoint URL), `exp` (required, small leeway for clock skew), `iat` and `jti` (required; a
`jti` seen before and not yet expired is refused as a replay).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from jwt import PyJWKClient, PyJWKSet

ALGORITHMS = ["ES384", "RS384"]
LEEWAY_S = 30
MAX_REPLAY_CACHE = 100_000


class AuthError(Exception):
    """Request refused: the message is safe to return (it never echoes the token)."""


@dataclass
class JwtVerifier:
    issuers: list[str]
    audience: str | None = None  # the service's public base URL; None = the URL the request arrived at
    jwks_file: Path | None = None
    jwks_url: str | None = None
    leeway_s: int = LEEWAY_S
    _seen: dict[str, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _file_keys: PyJWKSet | None = field(default=None, repr=False)
    _file_mtime: float = field(default=0.0, repr=False)
    _url_client: PyJWKClient | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.jwks_file and not self.jwks_url:
            raise ValueError("JWT checking needs a JWKS file or URL (cds.jwks_file / cds.jwks_url)")
        if not self.issuers:
            raise ValueError("JWT checking needs at least one allowed issuer (cds.allowed_issuers)")
        if self.jwks_url:
            self._url_client = PyJWKClient(self.jwks_url, cache_keys=True, lifespan=600)

    def _key(self, token: str, kid: str | None):
        if self.jwks_file:
            mtime = self.jwks_file.stat().st_mtime
            if self._file_keys is None or mtime != self._file_mtime:  # picks up key rotation without a restart
                self._file_keys = PyJWKSet.from_dict(json.loads(self.jwks_file.read_text(encoding="utf-8")))
                self._file_mtime = mtime
            keys = [k for k in self._file_keys.keys if kid is None or k.key_id == kid]
            if keys:
                return keys[0].key
            if not self._url_client:
                raise AuthError("unknown signing key (kid not in the configured JWKS)")
        assert self._url_client is not None
        try:
            return self._url_client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise AuthError(f"signing key not found in JWKS ({exc.__class__.__name__})") from None

    def audiences(self, request_url: str, base_url: str) -> list[str]:
        base = (self.audience or base_url).rstrip("/")
        path_url = request_url.split("?", 1)[0].rstrip("/")
        if self.audience:  # behind a proxy: the public base replaces the local one
            path_url = base + "/" + path_url[len(base_url.rstrip("/")):].lstrip("/")
        return sorted({base, base + "/cds-services", path_url})

    def verify(self, authorization: str | None, request_url: str, base_url: str) -> dict:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError("missing bearer token (Authorization: Bearer <JWT>)")
        token = authorization.split(None, 1)[1].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthError(f"JWT algorithm must be one of {', '.join(ALGORITHMS)}")
        key = self._key(token, header.get("kid"))
        try:
            claims = jwt.decode(token, key=key, algorithms=ALGORITHMS, audience=self.audiences(request_url, base_url),
                                leeway=self.leeway_s, options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("JWT expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("JWT audience is not this service") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"JWT lacks required claim {exc.claim!r}") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"JWT rejected ({exc.__class__.__name__})") from None
        if claims["iss"] not in self.issuers:
            raise AuthError("JWT issuer is not allowed")
        self._check_replay(str(claims["iss"]) + "|" + str(claims["jti"]), float(claims["exp"]))
        return claims

    def _check_replay(self, key: str, exp: float) -> None:
        now = time.time()
        with self._lock:
            if key in self._seen and self._seen[key] + self.leeway_s >= now:
                raise AuthError("JWT replayed (jti already used)")
            if len(self._seen) >= MAX_REPLAY_CACHE:
                self._seen = {k: v for k, v in self._seen.items() if v + self.leeway_s >= now}
                if len(self._seen) >= MAX_REPLAY_CACHE:
                    raise AuthError("too many live tokens; retry later")
            self._seen[key] = exp
