"""FHIR R4 client for releasing transaction bundles and AuditEvents.

Retries timeouts, connection errors, 5xx and 429 with exponential backoff: the bundles use conditional
PUT / ifNoneExist on business identifiers, so a retried transaction that did land the first time
updates in place instead of duplicating results. Any other 4xx is final: the content itself is wrong
for this server and retrying cannot help.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx
import jwt

from ehrgen.settings import FhirSettings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class SmartAuthError(RuntimeError):
    """The token endpoint refused or could not be reached."""


@dataclass
class FhirResponse:
    status: int | None  # None: no HTTP answer (network failure after retries)
    body: dict[str, Any] | None
    raw: bytes
    attempts: int
    error: str = ""
    # no attempt reached the server (every one failed to connect): nothing can have been committed
    unreachable: bool = False
    # attempts whose request went out but whose answer was lost (timeout, reset): the server may have committed
    lost_answers: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def summary(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else f"no response ({self.error})"


class SmartBackendAuth:
    """SMART Backend Services: client-credentials grant with a JWT client assertion signed RS384.

    The access token is cached until shortly before it expires; `invalidate()` drops it (after a 401).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key_pem: bytes | str,
        scope: str = "system/*.write",
        *,
        kid: str | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.private_key_pem = private_key_pem
        self.scope = scope
        self.kid = kid
        self._http = http
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: FhirSettings, http: httpx.Client | None = None) -> "SmartBackendAuth | None":
        if not (s.smart_token_url and s.smart_client_id and s.smart_private_key):
            return None
        key = Path(s.smart_private_key).read_bytes()
        return cls(s.smart_token_url, s.smart_client_id, key, s.smart_scope, http=http)

    def client_assertion(self) -> str:
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "exp": now + 300,  # SMART: no more than five minutes in the future
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "JWT"}
        if self.kid:
            headers["kid"] = self.kid
        return jwt.encode(claims, self.private_key_pem, algorithm="RS384", headers=headers)

    def token(self) -> str:
        with self._lock:
            # renew 30 s early so a token never expires in flight
            if self._token and self._clock() < self._expires_at - 30:
                return self._token
            form = {
                "grant_type": "client_credentials",
                "scope": self.scope,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
            }
            http = self._http or httpx.Client(timeout=30.0)
            try:
                resp = http.post(self.token_url, data=form, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise SmartAuthError(f"token endpoint unreachable: {exc.__class__.__name__}") from None
            finally:
                if self._http is None:
                    http.close()
            if resp.status_code != 200:
                raise SmartAuthError(f"token endpoint answered HTTP {resp.status_code}")
            try:
                doc = resp.json()
                self._token = str(doc["access_token"])
            except (ValueError, KeyError):
                raise SmartAuthError("token endpoint answer has no access_token") from None
            self._expires_at = self._clock() + float(doc.get("expires_in", 300))
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._expires_at = 0.0


class FhirClient:
    """POSTs to one FHIR base URL (e.g. http://127.0.0.1:8080/fhir)."""

    def __init__(
        self,
        base_url: str,
        *,
        settings: FhirSettings | None = None,
        bearer_token: str | None = None,
        smart: SmartBackendAuth | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        s = settings or FhirSettings()
        self.base_url = base_url.rstrip("/")
        self.max_retries = s.max_retries
        self.connect_retries = min(s.connect_retries, s.max_retries)
        self.backoff_s = s.backoff_s
        self.bearer_token = bearer_token if bearer_token is not None else s.bearer_token
        self.smart = smart
        self._sleep = sleep
        timeout = httpx.Timeout(s.timeout_s, connect=min(s.timeout_s, s.connect_timeout_s))
        self._http = httpx.Client(timeout=timeout, verify=s.verify_tls, follow_redirects=False)
        if smart is not None and smart._http is None:
            smart._http = self._http

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "FhirClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        if self.smart is not None:
            h["Authorization"] = f"Bearer {self.smart.token()}"
        elif self.bearer_token:
            h["Authorization"] = f"Bearer {self.bearer_token}"
        return h

    def post_transaction(self, bundle_json: bytes) -> FhirResponse:
        """POST a transaction Bundle to the base URL."""
        return self._post(self.base_url, bundle_json)

    def post_resource(self, resource_type: str, resource_json: bytes) -> FhirResponse:
        return self._post(f"{self.base_url}/{resource_type}", resource_json)

    def search(self, resource_type: str, params: dict[str, str]) -> FhirResponse:
        """One GET search (no retries beyond the transport's: a pre-check, not a release)."""
        try:
            resp = self._http.get(f"{self.base_url}/{resource_type}", params=params, headers=self._headers())
        except (SmartAuthError, httpx.TimeoutException, httpx.TransportError) as exc:
            return FhirResponse(None, None, b"", 1, error=exc.__class__.__name__)
        return FhirResponse(resp.status_code, _json_or_none(resp.content), resp.content, 1)

    def _post(self, url: str, body: bytes) -> FhirResponse:
        attempt = 0
        refreshed = False
        last_error = ""
        connect_failures = lost = 0
        while True:
            attempt += 1
            try:
                resp = self._http.post(url, content=body, headers=self._headers())
            except SmartAuthError as exc:
                return FhirResponse(None, None, b"", attempt, error=str(exc), lost_answers=lost)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # the request never left: nothing was committed; a dead server gets few quick tries
                last_error = exc.__class__.__name__
                connect_failures += 1
                resp = None
                if connect_failures > self.connect_retries:
                    return FhirResponse(None, None, b"", attempt, error=last_error,
                                        unreachable=connect_failures == attempt, lost_answers=lost)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                # sent, but the answer was lost (timeout, reset, protocol error): the server may have committed
                last_error = exc.__class__.__name__
                lost += 1
                resp = None
            if resp is not None:
                code = resp.status_code
                if code == 401 and self.smart is not None and not refreshed:
                    # the cached token may have been revoked early: fetch a fresh one, once
                    self.smart.invalidate()
                    refreshed = True
                    attempt -= 1
                    continue
                if code < 500 and code != 429:
                    return FhirResponse(code, _json_or_none(resp.content), resp.content, attempt, lost_answers=lost)
                last_error = f"HTTP {code}"
            if attempt > self.max_retries:
                if resp is not None:
                    return FhirResponse(resp.status_code, _json_or_none(resp.content), resp.content, attempt,
                                        error=last_error, lost_answers=lost)
                return FhirResponse(None, None, b"", attempt, error=last_error,
                                    unreachable=connect_failures == attempt, lost_answers=lost)
            delay = self.backoff_s * (2 ** (attempt - 1))
            if resp is not None and resp.status_code == 429:
                delay = max(delay, _retry_after(resp))
            log.info("FHIR POST attempt %d failed (%s); retrying in %.2fs", attempt, last_error, delay)
            self._sleep(delay)


def _retry_after(resp: httpx.Response) -> float:
    try:
        return min(float(resp.headers.get("Retry-After", "0")), 60.0)
    except ValueError:
        return 0.0


def _json_or_none(raw: bytes) -> dict[str, Any] | None:
    import json

    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None
