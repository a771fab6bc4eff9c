"""Dependencies shared by the routes: the app's state, a database session, authentication with scopes.

The dependencies that do no I/O are ``async``, so FastAPI runs them on the event loop instead of handing each to
a thread. API keys are cached for :data:`API_KEY_CACHE_SECONDS` (see :class:`ApiKeyCache`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from kudos_chain import Chain
from kudos_service.api.errors import ApiError
from kudos_service.awards import AcceptQueue, Catalog
from kudos_service.chain import ChainHolder, describe_error
from kudos_service.core.config import Settings
from kudos_service.core.db import Database
from kudos_service.core.security import split_api_key, verify_secret
from kudos_service.delivery import Worker
from kudos_service.metrics import Metrics
from kudos_service.models import ApiKey
from kudos_service.recipient_check import RecipientCheck

__all__ = [
    "API_KEY_CACHE_SECONDS",
    "ApiKeyCache",
    "AppState",
    "SessionDep",
    "StateDep",
    "require_json",
    "require_scope",
]

#: How long a looked-up API key is trusted without reading the database again: a key revoked (or deleted) in the
#: database is refused at most this many seconds later.
API_KEY_CACHE_SECONDS = 5.0


class ApiKeyCache:
    """API keys by prefix, each read from the database at most once per ``ttl`` seconds.

    An entry is the detached :class:`ApiKey` row (or None: no such prefix) and when it was read; the secret is
    still checked against the stored hash on every request. Thread-safe.
    """

    def __init__(self, db: Database, ttl: float = API_KEY_CACHE_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def cached(self, prefix: str) -> tuple[bool, ApiKey | None]:
        """``(True, key or None)`` when the entry of ``prefix`` is fresh, else ``(False, None)``."""
        entry = self._entries.get(prefix)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return False, None
        return True, entry[1]

    def load(self, prefix: str) -> ApiKey | None:
        """Read the key of ``prefix`` from the database and cache it."""
        read_at = time.monotonic()
        with self.db.session() as session:
            found = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
            if found is not None:
                session.expunge(found)
        with self._lock:
            if len(self._entries) > 10_000:  # unknown prefixes must not grow it without bound
                self._entries.clear()
            self._entries[prefix] = (read_at, found)
        return found

    def clear(self) -> None:
        """Forget every key (the next request of each reads the database)."""
        with self._lock:
            self._entries.clear()


@dataclass
class AppState:
    """What the routes share: settings, database, chain, worker, metrics."""

    settings: Settings
    db: Database
    chain: ChainHolder
    worker: Worker
    metrics: Metrics
    api_keys: ApiKeyCache = field(init=False)
    catalog: Catalog = field(init=False)
    accepts: AcceptQueue = field(init=False)
    recipient_check: RecipientCheck = field(init=False)

    def __post_init__(self) -> None:
        self.api_keys = ApiKeyCache(self.db)
        self.catalog = Catalog()
        self.accepts = AcceptQueue(self.db, self.settings, self.catalog)
        self.recipient_check = RecipientCheck(self._open_chain, describe=self._describe)

    def _open_chain(self) -> Chain | None:
        context = self.chain.peek()  # never connects: a request does not wait for a node that is down
        return None if context is None else context.chain

    def _describe(self, exc: BaseException) -> str:
        return describe_error(exc, self.settings)


async def get_state(request: Request) -> AppState:
    """The app's state."""
    state: AppState = request.app.state.kudos
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A database session for one request, committed when the route returns."""
    with state.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def require_json(content_type: Annotated[str | None, Header()] = None) -> None:
    """Refuse a body that is not declared as JSON."""
    if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")


@cache
def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, ApiKey]]:
    """A dependency that needs an API key with ``scope`` in ``Authorization: Bearer``.

    One callable per scope, so that FastAPI runs it once per request however often a route names it. The key's
    row comes from :class:`ApiKeyCache` (read in a thread when it is not fresh); the returned :class:`ApiKey` is
    detached and shared: read it, never change it.
    """

    async def check(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
        challenge = {"WWW-Authenticate": "Bearer"}
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "unauthorized", "an API key is needed: Authorization: Bearer <key>", headers=challenge)
        key = authorization[7:].strip()
        prefix = split_api_key(key)
        found = None
        if prefix is not None:
            fresh, found = state.api_keys.cached(prefix)
            if not fresh:
                found = await run_in_threadpool(state.api_keys.load, prefix)
        if found is None or found.revoked or not verify_secret(key, found.secret_hash):
            raise ApiError(401, "unauthorized", "the API key is not valid", headers=challenge)
        if scope not in found.scope_set:
            raise ApiError(403, "forbidden", f"this API key lacks the {scope!r} scope")
        return found

    return check
