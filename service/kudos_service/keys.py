"""API keys as an operator manages them: create (the key shown once), list, revoke.

``kudos keys ...`` (on this machine's database) and ``/v1/keys`` (with an ``admin`` key) both call these, so the
rules are the same on either path. A key is ``kudos_<prefix>_<secret>``; only the SHA-256 of the whole key is
stored, and nothing here returns, logs or puts the key in an error, except :func:`create_key`'s answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_service.core.security import MAX_KEY_LIFETIME, SCOPES, generate_api_key, hash_secret, parse_duration
from kudos_service.errors import ForbiddenError, InvalidRequestError, NotFoundError
from kudos_service.models import ApiKey, as_utc, utcnow
from kudos_service.schemas import KeyOut

__all__ = ["check_grant", "create_key", "expiry", "find_key", "key_view", "list_keys", "revoke_key"]


def expiry(*, expires_in: str | None, expires_at: datetime | None, now: datetime | None = None) -> datetime | None:
    """When a new key stops working: ``expires_in`` (``30d``) from ``now``, or ``expires_at`` (UTC when it has no
    zone), or never (None).

    :raises InvalidRequestError: ``invalid_request`` for both, a lifetime that does not parse, an instant that is
        not in the future or more than :data:`MAX_KEY_LIFETIME` ahead.
    """
    now = now or utcnow()
    if expires_in is not None and expires_at is not None:
        raise _invalid("expires", "give an expiry as a lifetime or as a date, not both")
    if expires_in is not None:
        try:
            return now + parse_duration(expires_in)
        except ValueError as exc:
            raise _invalid("expires_in", str(exc)) from None
    if expires_at is None:
        return None
    try:
        moment = as_utc(expires_at).astimezone(UTC)  # stored in UTC: SQLite keeps no zone
    except OverflowError:  # 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise _invalid("expires_at", "the expiry is out of range") from None
    if moment <= now:
        raise _invalid("expires_at", "the expiry is not in the future")
    if moment - now > MAX_KEY_LIFETIME:
        raise _invalid("expires_at", f"the expiry is more than {MAX_KEY_LIFETIME.days} days ahead")
    return moment


def _invalid(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError("invalid_request", message, [{"field": field, "message": message}])


def check_grant(caller: ApiKey, scopes: Iterable[str], expires_at: datetime | None) -> None:
    """Refuse a key that would hold more than ``caller``: a scope it lacks, or a life past its own expiry.

    :raises ForbiddenError: ``key_escalation``, each problem in ``details``.
    """
    details = [
        {"field": "scopes", "message": f"the calling key lacks the {scope!r} scope"}
        for scope in sorted(set(scopes) - caller.scope_set)
    ]
    if caller.expires_at is not None:
        limit = as_utc(caller.expires_at)
        if expires_at is None or as_utc(expires_at) > limit:
            details.append(
                {"field": "expires_at", "message": f"the calling key expires at {limit.isoformat()}: so must this"}
            )
    if details:
        raise ForbiddenError(
            "key_escalation",
            "a key can only create keys with scopes it holds, expiring no later than itself",
            details,
        )


def create_key(
    session: Session, *, scopes: Iterable[str], name: str | None = None, expires_at: datetime | None = None
) -> tuple[str, ApiKey]:
    """A new key, stored as its hash: ``(the key, its row)``. The key is in this answer only.

    :raises InvalidRequestError: ``invalid_request`` for no scope or an unknown one.
    """
    chosen = sorted(set(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        message = f"unknown scope {', '.join(unknown)}" if unknown else "a key needs at least one scope"
        raise _invalid("scopes", f"{message}: choose from {', '.join(SCOPES)}")
    if expires_at is not None:
        expires_at = as_utc(expires_at).astimezone(UTC)  # stored in UTC: SQLite keeps no zone
    key, prefix = generate_api_key()
    row = ApiKey(
        prefix=prefix,
        secret_hash=hash_secret(key),
        scopes=",".join(chosen),
        name=name,
        expires_at=expires_at,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return key, row


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, revoked and expired ones included, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def find_key(session: Session, prefix: str) -> ApiKey:
    """The key of ``prefix``.

    :raises NotFoundError: ``key_not_found``.
    """
    found = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if found is None:
        raise NotFoundError("key_not_found", f"no API key has the prefix {prefix!r}")
    return found


def revoke_key(session: Session, prefix: str, *, now: datetime | None = None) -> tuple[ApiKey, bool]:
    """Revoke the key of ``prefix`` for good: ``(its row, True)``, or ``(its row, False)`` when it was revoked
    already (its ``revoked_at`` is kept).

    A service that read the key less than its cache time ago (``KUDOS_API_KEY_CACHE_S``) may take it until then.

    :raises NotFoundError: ``key_not_found``.
    """
    found = find_key(session, prefix)
    if found.revoked:
        return found, False
    found.revoked = True
    found.revoked_at = now or utcnow()
    session.flush()
    return found, True


def key_view(key: ApiKey, now: datetime | None = None) -> KeyOut:
    """What the listing shows of ``key``: never its secret or its hash."""
    return KeyOut(
        prefix=key.prefix,
        name=key.name,
        scopes=sorted(key.scope_set),
        status=key.status(now).value,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
