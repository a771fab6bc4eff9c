"""API keys: random secrets shown once, stored as SHA-256 hashes, looked up by a short public prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["SCOPES", "generate_api_key", "hash_secret", "split_api_key", "verify_secret"]

#: What a key may do: ``award`` (create awards), ``revoke`` (revoke kudos), ``admin`` (kinds, directory).
SCOPES = ("award", "revoke", "admin")

_PREFIX = "kudos_"


def generate_api_key() -> tuple[str, str]:
    """A new key: ``(full key, lookup prefix)``. The full key is ``kudos_<prefix>_<secret>``."""
    prefix = secrets.token_hex(6)
    return f"{_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def split_api_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    if not key.startswith(_PREFIX):
        return None
    prefix, _, secret = key[len(_PREFIX) :].partition("_")
    if len(prefix) != 12 or not secret:
        return None
    return prefix


def hash_secret(key: str) -> bytes:
    """The stored form of a key. Keys are 256-bit random secrets, so one SHA-256 suffices (no password KDF)."""
    return hashlib.sha256(key.encode()).digest()


def verify_secret(key: str, stored: bytes) -> bool:
    """True when ``key`` hashes to ``stored`` (compared in constant time)."""
    return hmac.compare_digest(hash_secret(key), stored)
