"""Signing the wallet card's QR payload: a compact JWS (EdDSA / Ed25519) that any JWT library can verify
offline with the issuer's public key.

Key handling: the configured private key (`report.card_signing_key`, PEM, PKCS#8) in production. Without one,
a demo key is generated once in the work folder (`<work>/keys/card-demo-ed25519.pem`) and every card it signs
says so (`demo: true` in the payload, a "DEMO KEY" band on the card): such a card proves nothing about its
issuer and is for trying the software only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ehrgen import fastpath
from ehrgen.errors import InputError

log = logging.getLogger(__name__)
PAYLOAD_TYPE = "ehrgen-pgx-card+jwt"
DEMO_KEY_NAME = "card-demo-ed25519.pem"
DEMO_WARNING = ("demo signing key in use: wallet cards are signed with a key generated in the work folder and "
                "prove nothing about their issuer; set report.card_signing_key for real cards")


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    demo: bool
    path: Path

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def kid(self) -> str:
        return key_id(self.public)

    def public_pem(self) -> str:
        return public_pem(self.public)


def public_pem(pub: Ed25519PublicKey) -> str:
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(pub: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key (printed on the card and in the README)."""
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _read_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(str(path), f"expected an unencrypted Ed25519 private key in PEM ({type(exc).__name__})")
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(str(path), "expected an Ed25519 private key (openssl genpkey -algorithm ed25519)")
    return key


def _private(path: Path) -> Ed25519PrivateKey:
    """The key in `path`; the fast path parses each key file once per process (keyed on the absolute path,
    the file's identity, size and change times, so a replaced or rewritten key file is read afresh)."""
    if not fastpath.enabled():
        return _read_private(path)
    try:
        st = path.stat()
    except OSError:
        return _read_private(path)  # its one-line error
    return _read_private_once(str(path.absolute()), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                                     st.st_ctime_ns))


@lru_cache(maxsize=8)
def _read_private_once(path: str, identity: tuple[int, ...]) -> Ed25519PrivateKey:
    return _read_private(Path(path))  # an error is raised, never cached


def load_signing_key(configured: Path | None, work_dir: Path) -> SigningKey:
    """The configured key, else the work folder's demo key (created on first use, with one warning)."""
    if configured is not None:
        return SigningKey(_private(Path(configured)), False, Path(configured))
    path = Path(work_dir) / "keys" / DEMO_KEY_NAME
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # O_EXCL: two processes creating it at once keep one key (the loser reads the winner's)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            path.with_suffix(".pub.pem").write_text(public_pem(key.public_key()), encoding="utf-8")
        except FileExistsError:
            pass
    if DEMO_WARNING not in _warned:
        _warned.add(DEMO_WARNING)
        log.warning(DEMO_WARNING)
    return SigningKey(_private(path), True, path)


_warned: set[str] = set()


def sign_card(claims: dict[str, Any], key: SigningKey) -> str:
    body = {**claims, **({"demo": True} if key.demo else {})}
    return jwt.encode(body, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": PAYLOAD_TYPE})


def read_public_key(path: Path) -> Ed25519PublicKey:
    """A public key PEM, or the public half of a private key PEM."""
    data = Path(path).read_bytes()
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        key = _read_private(Path(path)).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(str(path), "expected an Ed25519 public key in PEM")
    return key


def verify_card(token: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The payload's claims when the signature verifies, else InputError (one line, no payload echoed)."""
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, public_key, algorithms=["EdDSA"], options={"require": ["iss", "iat", "pgx"]})
    except jwt.InvalidTokenError as exc:
        raise InputError("card payload", f"signature or format does not verify ({type(exc).__name__})")
    if header.get("kid") and header["kid"] != key_id(public_key):
        raise InputError("card payload", "signed with a different key (kid does not match the public key)")
    return claims
