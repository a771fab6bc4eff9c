"""API keys: random secrets shown once, stored as SHA-256 hashes, looked up by a short public prefix."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

__all__ = [
    "MAX_KEY_LIFETIME",
    "PREFIX_PATTERN",
    "SCOPES",
    "generate_api_key",
    "hash_secret",
    "parse_duration",
    "split_api_key",
    "verify_secret",
]

#: What a key may do: ``award`` (create awards), ``revoke`` (revoke kudos), ``admin`` (kinds, the directory, and
#: API keys: list, create with scopes the key holds itself, revoke).
SCOPES = ("award", "revoke", "admin")

#: A key's public lookup prefix, as ``kudos keys list`` and ``GET /v1/keys`` show it.
PREFIX_PATTERN = r"^[0-9a-f]{12}$"

#: The longest lifetime ``--expires-in`` and ``expires_in`` take (a key that should never expire has no expiry).
MAX_KEY_LIFETIME = timedelta(days=3650)

_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

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


def parse_duration(text: str) -> timedelta:
    """A lifetime such as ``30d``: a whole number and a unit, ``m`` (minutes), ``h``, ``d`` or ``w`` (weeks), at
    most :data:`MAX_KEY_LIFETIME`.

    >>> parse_duration("12h")
    datetime.timedelta(seconds=43200)
    >>> parse_duration("1y")
    Traceback (most recent call last):
    ...
    ValueError: a lifetime is a whole number and a unit, m, h, d or w (minutes, hours, days, weeks): 30d, 12h
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            "a lifetime is a whole number and a unit, m, h, d or w (minutes, hours, days, weeks): 30d, 12h"
        )
    lifetime = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if lifetime > MAX_KEY_LIFETIME:
        raise ValueError(f"a lifetime is at most {MAX_KEY_LIFETIME.days} days; a key without expiry has none")
    return lifetime


def hash_secret(key: str) -> bytes:
    """The stored form of a key. Keys are 256-bit random secrets, so one SHA-256 suffices (no password KDF)."""
    return hashlib.sha256(key.encode()).digest()


def verify_secret(key: str, stored: bytes) -> bool:
    """True when ``key`` hashes to ``stored`` (compared in constant time)."""
    return hmac.compare_digest(hash_secret(key), stored)
