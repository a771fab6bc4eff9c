"""Claim links: the secret in ``/claim/{token}``, made from 256 random bits and kept only as its hash.

The service stores :func:`token_hash` of a link, never the link: someone who reads the database (or a backup)
cannot claim with what they read. A link is looked up by its hash, which is compared in full by the database's
unique index; the token is 43 URL-safe characters, so it survives mail clients that break long lines and
punctuation.

    >>> token, digest = new_claim_token()
    >>> len(token), len(digest), token_hash(token) == digest
    (43, 32, True)
    >>> is_well_formed(token), is_well_formed("x" * 43 + "!"), is_well_formed("short")
    (True, False, False)
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["TOKEN_BYTES", "is_well_formed", "new_claim_token", "redact_links", "token_hash"]

#: The random bytes of a claim token (256 bits, twice the 128 the issue requires at least).
TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_IN_PATH = re.compile(r"(/claims?/)[A-Za-z0-9_-]{43}")


def new_claim_token() -> tuple[str, bytes]:
    """A new claim token for a link, and the hash to store."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    """The SHA-256 of a claim token: what the database keeps. A fast hash is right here: the token has 256 random
    bits, so there is nothing to guess that a slow hash would protect."""
    return hashlib.sha256(token.encode()).digest()


def is_well_formed(token: str) -> bool:
    """Whether ``token`` could be a claim token at all: checked before any database read, so that anything else
    in the path is refused at once (the same answer as an unknown token)."""
    return _TOKEN.fullmatch(token) is not None


def redact_links(text: str) -> str:
    """``text`` with the token of every claim link or claim API path cut out: for logs, and for an email once it
    is sent (the link then lives only in the person's mailbox).

    >>> redact_links("GET /claim/" + "a" * 43 + " and /v1/claims/" + "b" * 43 + "/message")
    'GET /claim/… and /v1/claims/…/message'
    """
    return _IN_PATH.sub(r"\1…", text)
